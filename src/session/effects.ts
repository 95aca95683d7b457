// What a command sent to the node changes in the session's connection state, and how many
// replies it brings (DESIGN.md "Sessions": the state a new link must be told again). Applied as the
// command is sent; what depends on the node's answer (SELECT, AUTH, HELLO, CLIENT SETNAME, MONITOR,
// a refused (un)subscribe) is applied by the entry's `done` when the reply arrives.
import type { Command } from '../resp/request.js';
import { commandArgs } from '../resp/request.js';
import { type CommandSpec, isBlockingCall } from '../commands/table.js';
import type { ReplayState } from './state.js';
import type { Transaction } from './transaction.js';
import type { Entry } from './reply-queue.js';
import { SUBSCRIPTION_COMMANDS } from './subscriptions.js';

/** What Redis runs in RESP2's pub/sub context; it refuses everything else. */
const SUBSCRIBED_CONTEXT: ReadonlySet<string> = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'ping', 'quit', 'reset']);

type Cmd = Command<CommandSpec>;

/** What the effects need of their session. */
export interface EffectsOwner {
  readonly state: ReplayState;
  readonly tx: Transaction;
  /** CLIENT REPLY: 'off' and 'skip' (the next command) expect no reply. */
  replyMode: 'on' | 'off' | 'skip';
  /** MONITOR or CLIENT TRACKING on: the session cannot move to a new master. */
  unmovable: 'no' | 'monitor' | 'tracking';
  /** The spare link's replayed state is out of date. */
  dropSpare(): void;
  /** The protocol or the subscriptions changed: how RESP2 arrays are inspected. */
  updateInspect(): void;
}

/** Does Redis refuse `kind` because the connection is in RESP2's pub/sub context? */
export function refusedWhileSubscribed(st: ReplayState, kind: string): boolean {
  return st.sentProtocol === 2 && st.subscribed && !SUBSCRIBED_CONTEXT.has(kind);
}

/** Sets reply expectations and the state a command changes (called as it is sent). */
export function prepare(o: EffectsOwner, e: Entry, cmd: Cmd, kind: string, spec: CommandSpec | undefined): void {
  const st = o.state;
  if (o.replyMode === 'skip') {
    o.replyMode = 'on';
    e.expect = 0;
  } else if (o.replyMode === 'off') {
    e.expect = 0;
  }
  if (refusedWhileSubscribed(st, kind)) {
    // RESP2's pub/sub context: Redis refuses the command (one error, or none with replies off);
    // it changes nothing, not even the transaction.
    return;
  }
  const wasMulti = o.tx.inMulti;
  const queued = wasMulti && kind !== 'exec' && kind !== 'discard' && kind !== 'multi' && kind !== 'watch' && kind !== 'quit' && kind !== 'reset';
  o.tx.sent(kind);
  if (queued) {
    // One +QUEUED (or error) reply, no effect until EXEC runs it.
    const effect = queuedEffect(o, cmd, kind);
    if (effect !== undefined) (o.tx.queuedEffects ??= []).push(effect);
    return;
  }
  switch (kind) {
    case 'multi':
      // Refused (nested: no change; or by the node): no transaction was opened.
      if (!wasMulti) {
        e.done = (ok) => {
          if (!ok) o.tx.multiRefused();
        };
      }
      return;
    case 'exec': {
      const effects = wasMulti ? o.tx.takeQueued() : undefined;
      if (effects !== undefined) {
        // Not when it failed, nor when it ran nothing (a null reply: a WATCHed key changed).
        e.done = (ok, info) => {
          if (ok && !info.nil) for (const f of effects) f();
        };
      }
      return;
    }
    case 'discard':
    case 'watch':
    case 'unwatch':
      return;
    case 'select': {
      const db = Number(commandArgs(cmd)[1]?.toString('latin1'));
      e.done = (ok) => {
        if (ok && Number.isInteger(db)) {
          st.db = db;
          o.dropSpare();
        }
      };
      return;
    }
    case 'auth': {
      const a = commandArgs(cmd);
      const user = a.length >= 3 ? a[1].toString('utf8') : undefined;
      const pass = a.length >= 3 ? a[2].toString('utf8') : a[1]?.toString('utf8');
      e.done = (ok) => {
        if (!ok) return;
        st.authed = true;
        st.username = user;
        st.password = pass;
        o.dropSpare();
      };
      return;
    }
    case 'hello': {
      const apply = helloEffect(o, cmd);
      const proto = commandArgs(cmd)[1]?.toString('latin1');
      if (proto === '2' || proto === '3') st.sentProtocol = proto === '2' ? 2 : 3;
      e.done = (ok) => {
        if (ok) apply();
        else st.sentProtocol = st.protocol; // refused: the node's protocol did not change
      };
      return;
    }
    case 'client':
      prepareClient(o, e, cmd, spec);
      return;
    case 'subscribe':
    case 'psubscribe':
    case 'ssubscribe':
    case 'unsubscribe':
    case 'punsubscribe':
    case 'sunsubscribe':
      prepareSubscription(o, e, cmd, kind);
      return;
    case 'monitor':
      e.done = (ok) => {
        if (ok) o.unmovable = 'monitor';
      };
      return;
    case 'reset':
      o.replyMode = 'on';
      e.expect = 1;
      e.done = (ok) => {
        // Not when it goes again (its link never connected: hold-queue.ts undoes with ok false).
        if (!ok) return;
        st.reset();
        o.dropSpare();
        o.unmovable = 'no';
        o.updateInspect();
      };
      return;
    default:
      if (isBlockingCall(spec, spec?.name === 'xread' || spec?.name === 'xreadgroup' ? commandArgs(cmd).slice(1) : undefined)) {
        e.blocking = true;
        e.buffered = true;
      }
  }
}

/** What a HELLO that succeeds changes: protocol, credentials, name. */
function helloEffect(o: EffectsOwner, cmd: Cmd): () => void {
  const st = o.state;
  const a = commandArgs(cmd);
  const proto = a[1] !== undefined ? Number(a[1].toString('latin1')) : undefined;
  let user: string | undefined;
  let pass: string | undefined;
  let name: string | undefined;
  for (let i = 2; i < a.length; i++) {
    const opt = a[i].toString('latin1').toLowerCase();
    if (opt === 'auth' && i + 2 < a.length) {
      user = a[i + 1].toString('utf8');
      pass = a[i + 2].toString('utf8');
      i += 2;
    } else if (opt === 'setname' && i + 1 < a.length) {
      name = a[i + 1].toString('utf8');
      i += 1;
    }
  }
  return () => {
    if (proto === 2 || proto === 3) st.protocol = st.sentProtocol = proto;
    if (pass !== undefined) {
      st.authed = true;
      st.username = user;
      st.password = pass;
    }
    if (name !== undefined) st.name = name === '' ? undefined : name;
    o.dropSpare();
    o.updateInspect();
  };
}

/** The connection-state effect of a command queued in MULTI, run when EXEC succeeds. */
function queuedEffect(o: EffectsOwner, cmd: Cmd, kind: string): (() => void) | undefined {
  const st = o.state;
  switch (kind) {
    case 'select': {
      const db = Number(commandArgs(cmd)[1]?.toString('latin1'));
      if (!Number.isInteger(db) || db < 0) return undefined;
      return () => {
        st.db = db;
        o.dropSpare();
      };
    }
    case 'hello':
      return helloEffect(o, cmd);
    case 'client': {
      if (cmd.arg1?.toString('latin1').toLowerCase() !== 'setname') return undefined;
      const name = commandArgs(cmd)[2]?.toString('utf8');
      if (name === undefined) return undefined;
      return () => {
        st.name = name === '' ? undefined : name;
        o.dropSpare();
      };
    }
    case 'subscribe':
    case 'psubscribe':
    case 'ssubscribe':
    case 'unsubscribe':
    case 'punsubscribe':
    case 'sunsubscribe': {
      const args = cmd.argc > 1 ? commandArgs(cmd).slice(1).map((b) => b.toString('latin1')) : [];
      // Redis 7.0 refuses SSUBSCRIBE inside MULTI (DENY BLOCKING), and a subscribe without
      // arguments (arity).
      if (kind === 'ssubscribe' || (args.length === 0 && SUBSCRIPTION_COMMANDS[kind]!.subscribe)) return undefined;
      return () => {
        st.subs.apply(kind, args);
        o.dropSpare();
        o.updateInspect();
      };
    }
  }
  return undefined;
}

function prepareClient(o: EffectsOwner, e: Entry, cmd: Cmd, spec: CommandSpec | undefined): void {
  const sub = cmd.arg1?.toString('latin1').toLowerCase();
  void spec;
  if (sub === 'setname') {
    const name = commandArgs(cmd)[2]?.toString('utf8');
    e.done = (ok) => {
      if (ok && name !== undefined) {
        o.state.name = name === '' ? undefined : name;
        o.dropSpare();
      }
    };
  } else if (sub === 'reply') {
    const mode = commandArgs(cmd)[2]?.toString('latin1').toLowerCase();
    if (mode === 'on') {
      o.replyMode = 'on';
      e.expect = 1; // +OK even though replies were off
    } else if (mode === 'off') {
      o.replyMode = 'off';
      e.expect = 0;
    } else if (mode === 'skip') {
      if (o.replyMode !== 'off') o.replyMode = 'skip';
      e.expect = 0;
    }
  } else if (sub === 'tracking') {
    const on = commandArgs(cmd)[2]?.toString('latin1').toLowerCase() === 'on';
    e.done = (ok) => {
      if (ok && o.unmovable !== 'monitor') o.unmovable = on ? 'tracking' : 'no';
    };
  }
}

function prepareSubscription(o: EffectsOwner, e: Entry, cmd: Cmd, kind: string): void {
  const subs = o.state.subs;
  const args = cmd.argc > 1 ? commandArgs(cmd).slice(1).map((b) => b.toString('latin1')) : [];
  const silent = e.expect === 0;
  const { replies, change } = subs.apply(kind, args);
  e.sub = true;
  // Confirmations come even with CLIENT REPLY OFF/SKIP (Redis 7); the arity error of a
  // subscribe without arguments does not.
  e.expect = silent && args.length === 0 && SUBSCRIPTION_COMMANDS[kind]?.subscribe === true ? 0 : replies;
  e.done = (ok) => {
    // Refused (arity, ACL): the node changed nothing.
    if (!ok) {
      subs.undo(change);
      o.updateInspect();
    }
  };
  o.updateInspect();
}

