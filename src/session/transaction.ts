// The session's transaction as a pure state machine (no sockets): where MULTI / WATCH leave the
// connection, and what happens when the session moves to a new master mid-transaction (DESIGN.md:
// a transaction cannot move; its EXEC fails as Redis would fail it, and the session goes on).
//
// States:
// - 'none': no transaction, nothing watched;
// - 'watching': WATCH on the current link; 'multi': MULTI queued; 'watching-multi': both;
// - 'broken-watching' / 'broken-multi' / 'broken-watching-multi': the same, begun on a link the
//   session has left: what follows is answered by the proxy (see `brokenAnswer`, `brokenReply`).
import { type Command, commandArgs } from '../resp/request.js';
import { type CommandSpec, subcommandOf } from '../commands/table.js';
import { NULL_ARRAY_RESP2, NULL_RESP3, OK, QUEUED } from '../resp/encode.js';
import { ErrorReplies, errorReply } from '../errors.js';

export type TxState = 'none' | 'watching' | 'multi' | 'watching-multi' | 'broken-watching' | 'broken-multi' | 'broken-watching-multi';

/** What the proxy answers for a command of a broken transaction. */
export type BrokenAnswer =
  /** Not part of the transaction: goes to the node as usual. */
  | 'forward'
  /** +OK (MULTI after a broken WATCH, DISCARD). */
  | 'ok'
  | 'queued'
  | 'nested-multi'
  /** EXEC of a WATCHed transaction: a null reply, what Redis gives when a watched key changed. */
  | 'exec-null'
  /** EXEC without WATCH: EXECABORT (the master changed). */
  | 'exec-abort';

export class Transaction {
  state: TxState = 'none';
  /** Connection-state effects of commands queued in the open MULTI (SELECT, CLIENT SETNAME,
   * (un)subscribe): they take effect when EXEC runs them. */
  queuedEffects: (() => void)[] | undefined = undefined;

  get inMulti(): boolean {
    const s = this.state;
    return s === 'multi' || s === 'watching-multi' || s === 'broken-multi' || s === 'broken-watching-multi';
  }

  get watching(): boolean {
    const s = this.state;
    return s === 'watching' || s === 'watching-multi' || s === 'broken-watching' || s === 'broken-watching-multi';
  }

  get broken(): boolean {
    return this.state.startsWith('broken');
  }

  /** Outside any transaction (a read may go to a replica, or be re-sent). */
  get idle(): boolean {
    return this.state === 'none';
  }

  /** A command sent to the node (not broken): its effect on the transaction. Commands queued
   * inside MULTI have none until EXEC. */
  sent(kind: string): void {
    const multi = this.inMulti;
    if (multi && kind !== 'exec' && kind !== 'discard' && kind !== 'multi' && kind !== 'watch' && kind !== 'reset') return;
    switch (kind) {
      case 'multi':
        // A nested MULTI is an error: the open transaction and what it queued stay.
        if (multi) return;
        this.queuedEffects = undefined;
        this.state = this.watching ? 'watching-multi' : 'multi';
        return;
      case 'exec':
      case 'discard':
        // Without MULTI: an error from Redis, and what was WATCHed stays watched.
        if (multi) this.state = 'none';
        if (kind === 'discard') this.queuedEffects = undefined;
        return;
      case 'reset':
        this.queuedEffects = undefined;
        this.state = 'none';
        return;
      case 'watch':
        // A broken WATCH stays broken: the keys watched on the old master cannot be checked.
        if (!multi && !this.broken) this.state = 'watching';
        return;
      case 'unwatch':
        this.state = 'none';
    }
  }

  /** The session leaves the link the transaction began on. */
  leftLink(): void {
    const s = this.state;
    if (s === 'watching') this.state = 'broken-watching';
    else if (s === 'multi') this.state = 'broken-multi';
    else if (s === 'watching-multi') this.state = 'broken-watching-multi';
  }

  /** A command while broken: what to answer, and the state after it. */
  brokenAnswer(kind: string): BrokenAnswer {
    const multi = this.inMulti;
    const watched = this.watching;
    if (kind === 'reset' || kind === 'quit') {
      // Run at once even inside MULTI, as in Redis.
      if (kind === 'reset') {
        this.queuedEffects = undefined;
        this.state = 'none';
      }
      return 'forward';
    }
    if (!multi && (kind === 'exec' || kind === 'discard')) {
      // EXEC / DISCARD without MULTI: the node answers its error; the WATCH stays (broken).
      return 'forward';
    }
    if (kind === 'exec') {
      this.queuedEffects = undefined;
      this.state = 'none';
      return watched ? 'exec-null' : 'exec-abort';
    }
    if (kind === 'discard') {
      this.queuedEffects = undefined;
      this.state = 'none';
      return 'ok';
    }
    if (multi) return kind === 'multi' ? 'nested-multi' : 'queued';
    if (kind === 'multi') {
      // WATCH was on the old master: the transaction runs here and its EXEC fails.
      this.state = 'broken-watching-multi';
      return 'ok';
    }
    if (kind === 'unwatch') this.state = 'none';
    return 'forward';
  }

  /** Does the proxy answer `kind` itself while the transaction is broken (`brokenReply`), changing
   * the state? Pure: what `brokenAnswer` and `brokenReply` will decide, asked before they do. */
  decides(kind: string): boolean {
    return this.broken && kind !== 'reset' && kind !== 'quit' && (this.inMulti || kind === 'multi');
  }

  /** The node refused a MULTI (e.g. in RESP2's pub/sub context): no transaction was opened. */
  multiRefused(): void {
    const s = this.state;
    if (s === 'multi') this.state = 'none';
    else if (s === 'watching-multi') this.state = 'watching';
  }

  /** Takes the effects queued for EXEC (undefined when none). */
  takeQueued(): (() => void)[] | undefined {
    const q = this.queuedEffects;
    this.queuedEffects = undefined;
    return q;
  }

  /** The proxy refused a command of the transaction, or closes it itself (EXECABORT). */
  end(): void {
    this.queuedEffects = undefined;
    this.state = 'none';
  }
}

/**
 * What Redis refuses when a command is queued in MULTI, before queuing it (Redis 7.0
 * `processCommand` → `rejectCommandFormat`, which also flags the transaction so EXEC aborts): an
 * unknown command, an unknown subcommand of a container, a wrong number of arguments. The error
 * line without `-` and CRLF, or undefined when Redis would queue it. `args`: the command's words,
 * the name first (latin1 strings keep the client's bytes).
 */
export function queueTimeError(args: readonly string[], spec: CommandSpec | undefined): string | undefined {
  const name = args[0] ?? '';
  let line: string | undefined;
  if (spec === undefined) {
    let rest = '';
    for (let i = 1; i < args.length && rest.length < 128; i++) rest += `'${args[i].slice(0, 128 - rest.length)}' `;
    line = `ERR unknown command '${name.slice(0, 128)}', with args beginning with: ${rest}`;
  } else {
    const sub = subcommandOf(spec, args.length > 1 ? Buffer.from(args[1].toLowerCase(), 'latin1') : undefined, args.length);
    if (sub === undefined) {
      line = `ERR unknown subcommand '${args[1].slice(0, 128)}'. Try ${name.toUpperCase()} HELP.`;
    } else if (sub.arity > 0 ? args.length !== sub.arity : args.length < -sub.arity) {
      line = `ERR wrong number of arguments for '${sub.name}' command`;
    }
  }
  // Redis maps CR and LF to spaces: the arguments come from the client.
  return line?.replace(/[\r\n]/g, ' ');
}

/** A command of a broken transaction answered by the proxy: the reply, and whether the keys the
 * session WATCHed on its new link since must be unwatched there (the EXEC or DISCARD that would
 * have done it does not reach the node). */
export interface BrokenReply {
  reply: Buffer;
  unwatch: boolean;
  /** Puts the transaction back as it was before this answer: the command goes again after the
   * commands before it (their link never connected: hold-queue.ts `requeued`), to be answered
   * anew in its turn — a MULTI answered here must not make the commands before it +QUEUED
   * (seeds 10001, 10006). */
  undo: () => void;
}

/**
 * What the proxy answers for `cmd` (`kind`) while the transaction is broken (begun on a link the
 * session has left), as Redis would fail it; undefined: the command goes to the node as usual.
 * What Redis refuses at queue time (WATCH inside MULTI, an unknown command or subcommand, a wrong
 * number of arguments: queueTimeError) is refused here too; but for WATCH, the EXEC then fails with EXECABORT, as it does anyway.
 */
export function brokenReply(tx: Transaction, cmd: Command<CommandSpec>, kind: string, spec: CommandSpec | undefined, protocol: 2 | 3): BrokenReply | undefined {
  const state = tx.state;
  const queued = tx.queuedEffects;
  const undo = () => {
    tx.state = state;
    tx.queuedEffects = queued;
  };
  if (tx.inMulti && kind !== 'exec' && kind !== 'discard' && kind !== 'multi' && kind !== 'reset' && kind !== 'quit') {
    if (kind === 'watch') return { reply: WATCH_INSIDE_MULTI, unwatch: false, undo };
    const refused = queueTimeError(commandArgs(cmd).map((b) => b.toString('latin1')), spec);
    if (refused !== undefined) return { reply: errorReply(refused), unwatch: false, undo };
  }
  switch (tx.brokenAnswer(kind)) {
    case 'forward':
      return undefined;
    case 'ok':
      return { reply: OK, unwatch: kind === 'discard', undo };
    case 'queued':
      return { reply: QUEUED, unwatch: false, undo };
    case 'nested-multi':
      return { reply: NESTED_MULTI, unwatch: false, undo };
    case 'exec-null':
      // A null reply is what Redis gives when a watched key changed: clients retry.
      return { reply: protocol === 3 ? NULL_RESP3 : NULL_ARRAY_RESP2, unwatch: true, undo };
    case 'exec-abort':
      return { reply: ErrorReplies.EXEC_ABORTED_FAILOVER, unwatch: true, undo };
  }
}

const NESTED_MULTI = errorReply('ERR MULTI calls can not be nested');
const WATCH_INSIDE_MULTI = errorReply('ERR WATCH inside MULTI is not allowed');
