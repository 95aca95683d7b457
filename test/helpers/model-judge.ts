// Every way the proxied run may differ from the reference Redis in the differential test, in one
// place, each with its reason (DESIGN.md "Failover: fence, drain, re-home", README "Failover: what
// clients can rely on" and "Errors the proxy answers"). Anything else that differs is a failure.
import { ProxyErrors } from '../../src/errors.js';
import { subForm, type Cmd } from './model.js';

export type AllowedId = 'hello-connection-id' | 'unsubscribe-order' | 'exec-aborted-by-failover' | 'link-lost-on-kill' | 'silent-write-at-failover' | 'hold-timeout' | 'probe-during-failover';

export const ALLOWED_DIVERGENCES: Readonly<Record<AllowedId, string>> = {
  'hello-connection-id':
    "HELLO's reply carries the connection id, which is the id of the proxy's backend connection, not the reference's: the `id` field is compared as a number, not by value.",
  'unsubscribe-order':
    "A no-argument UNSUBSCRIBE/PUNSUBSCRIBE/SUNSUBSCRIBE answers in the order of Redis's internal dict, which depends on the process's random hash seed and the dict's history (two plain redis-servers already differ; the proxy re-subscribes on a new master in its own order): the names may come as a permutation, with the counts and everything else identical.",
  'exec-aborted-by-failover':
    'DESIGN "Inside MULTI or with WATCHed keys: the transaction cannot move": when a failover window overlaps a transaction (from its first WATCH/MULTI to the EXEC reply), EXEC may answer -EXECABORT ... master changed (failover) ..., or a null reply as for a touched WATCHed key; the reference then runs DISCARD instead of EXEC (nothing of the transaction ran on either side). For the same reason, at the final CLIENT INFO a WATCH that overlapped a failover may leave the dirty-CAS flag `d` on the connection of the reference only.',
  'link-lost-on-kill':
    'DESIGN "Never re-send a write that already went to a backend and got no reply": a command that may have a side effect (anything but a read-only command outside MULTI), in flight while the master is killed with kill -9, may get RSP_LINK_LOST. Its outcome is unknown to the client too, so the session stops comparing there (keeping its final state checks when the command could not change connection state and was the last of its batch). Commands sent with CLIENT REPLY OFF/SKIP while a kill -9 window is open are in flight until the next reply: their outcome is unknown and no error can say so; the session stops comparing at that reply.',
  'silent-write-at-failover':
    'docs/partitions.md "Writes sent with CLIENT REPLY OFF have no reply to hold": a write sent with replies off is acknowledged to nobody, so write confirmation has nothing to hold; it is on the replicas only once a later write reply of the session has been confirmed (the replication stream is ordered). When a failover window, planned or kill -9, opens between a write sent with replies off and such a reply, the new master may lack it (Sentinel does not wait for the promoted replica to catch up): its outcome is unknown and the session stops comparing at the first reply after the window (keeping its final state checks when that reply ends its batch and changes no connection state: a lost write changes data, not the connection).',
  'hold-timeout':
    'DESIGN "Give up": a command held longer than failover.holdTimeoutMs gets RSP_HOLD_TIMEOUT (not executed). Only inside a failover window; the session stops comparing there.',
  'probe-during-failover':
    'DESIGN "Subscribed sessions are re-subscribed on the new master ..., messages published during the switch excepted": when a failover window (injected, or one Sentinel started by itself) touches the final probe publishes, their receivers and messages may differ; the probes are made again once the session has re-homed (at most three times).',
};

export const LINK_LOST = `-${ProxyErrors.LINK_LOST.reply}\r\n`;
export const HOLD_TIMEOUT = `-${ProxyErrors.HOLD_TIMEOUT.reply}\r\n`;
export const EXEC_ABORTED_FAILOVER = `-${ProxyErrors.EXEC_ABORTED_FAILOVER.reply}\r\n`;

/** Redis's null reply for an aborted EXEC, in the connection's protocol. */
export function nullArray(resp: 2 | 3): string {
  return resp === 3 ? '_\r\n' : '*-1\r\n';
}

/** Read-only commands (Redis's `readonly` flag) the programs use: DESIGN says they are re-sent, not
 * failed, when the master dies under them outside MULTI. */
const READ_ONLY = new Set(['GET', 'LRANGE']);
/** Commands of the programs that write (their confirmed reply covers the writes sent before them
 * on the same master). */
export const WRITES = new Set(['SET', 'INCR', 'RPUSH', 'DEL', 'EVAL', 'BLPOP', 'EXEC']);
/** Commands that change the connection's state: after an unknown outcome the state is unknown. */
const STATE = new Set(['SELECT', 'HELLO', 'CLIENT', 'MULTI', 'EXEC', 'DISCARD', 'WATCH']);

/** After an unknown outcome at `ctx`'s command: can the session's final state checks still run
 * (the command changes no connection state and ends its batch, so both sides stop at the same
 * connection state)? */
export function stateKnownAfter(ctx: CmdContext): boolean {
  const name = ctx.cmd[0].toUpperCase();
  return !STATE.has(name) && !subForm(ctx.cmd) && !ctx.inMulti && ctx.lastInBatch;
}

export interface CmdContext {
  cmd: Cmd;
  /** The session's protocol and transaction state before the command. */
  resp: 2 | 3;
  inMulti: boolean;
  lastInBatch: boolean;
  /** A failover window overlapped the transaction this EXEC closes. */
  txOverlapsFailover: boolean;
  /** A failover window (any kind / a kill -9) overlapped this command (sent before it closed,
   * answered after it opened). */
  overlapsFailover: boolean;
  overlapsKill: boolean;
}

/** What the proxy's frames for one command mean, decided before the reference runs it. */
export type Verdict =
  | { kind: 'compare' }
  | { kind: 'substitute'; cmd: Cmd; allowed: AllowedId }
  | { kind: 'end'; allowed: AllowedId; finalChecks: boolean }
  | { kind: 'diverged'; why: string };

export function judgeProxyFrames(ctx: CmdContext, frames: string[]): Verdict {
  const name = ctx.cmd[0].toUpperCase();
  if (frames.includes(LINK_LOST)) {
    if (!ctx.overlapsKill) {
      return { kind: 'diverged', why: `RSP_LINK_LOST ${ctx.overlapsFailover ? 'in a planned failover (DESIGN: no client-visible error)' : 'outside any failover window'}` };
    }
    if (READ_ONLY.has(name) && !ctx.inMulti) {
      return { kind: 'diverged', why: 'RSP_LINK_LOST for a read-only command outside MULTI: DESIGN says it is re-sent to the new master' };
    }
    return { kind: 'end', allowed: 'link-lost-on-kill', finalChecks: stateKnownAfter(ctx) && frames.length === 1 };
  }
  if (frames.includes(HOLD_TIMEOUT)) {
    if (!ctx.overlapsFailover) return { kind: 'diverged', why: 'RSP_HOLD_TIMEOUT outside a failover window' };
    return { kind: 'end', allowed: 'hold-timeout', finalChecks: false };
  }
  if (name === 'EXEC' && ctx.inMulti && frames.length === 1 && ctx.txOverlapsFailover) {
    if (frames[0] === EXEC_ABORTED_FAILOVER || frames[0] === nullArray(ctx.resp)) {
      return { kind: 'substitute', cmd: ['DISCARD'], allowed: 'exec-aborted-by-failover' };
    }
  }
  return { kind: 'compare' };
}

export type Comparison = { ok: true; allowed?: AllowedId } | { ok: false };

/** The reference's frames against the proxy's for one command, after the proxy's verdict was
 * 'compare'. */
export function compareFrames(cmd: Cmd, ref: string[], got: string[]): Comparison {
  if (same(ref, got)) return { ok: true };
  const name = cmd[0].toUpperCase();
  if (name === 'HELLO' || name === 'EXEC') {
    if (same(ref.map(maskHelloId), got.map(maskHelloId))) return { ok: true, allowed: 'hello-connection-id' };
  }
  const form = subForm(cmd);
  if (form && !form.add && cmd.length === 1 && ref.length === got.length) {
    const a = ref.map(splitUnsub);
    const b = got.map(splitUnsub);
    if (a.every((x) => x) && b.every((x) => x)) {
      const namesA = a.map((x) => x!.name).sort();
      const namesB = b.map((x) => x!.name).sort();
      const rest = (xs: typeof a) => xs.map((x) => `${x!.head}|${x!.tail}`).join('\n');
      if (namesA.join('\n') === namesB.join('\n') && rest(a) === rest(b)) return { ok: true, allowed: 'unsubscribe-order' };
    }
  }
  return { ok: false };
}

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** HELLO's map/array carries `id` then `:<n>`: mask the number (also inside an EXEC reply). */
function maskHelloId(frame: string): string {
  return frame.replace(/\$2\r\nid\r\n:\d+\r\n/g, '$2\r\nid\r\n:<id>\r\n');
}

/** An (un)subscribe confirmation split as head (`*3 $11 unsubscribe`), name, tail (`:count`). */
function splitUnsub(frame: string): { head: string; name: string; tail: string } | undefined {
  const m = /^([*>]3\r\n\$\d+\r\n[a-z]+\r\n)(\$-1\r\n|\$\d+\r\n[^\r]*\r\n)(:\d+\r\n)$/.exec(frame);
  return m ? { head: m[1], name: m[2], tail: m[3] } : undefined;
}

/** `CLIENT INFO` fields compared at the end (the rest — id, addr, age, buffers — is per connection). */
export const CLIENT_INFO_FIELDS = ['db', 'name', 'resp', 'sub', 'psub', 'ssub', 'multi', 'flags'] as const;

export function parseClientInfo(frame: string): Record<string, string> | undefined {
  const m = /^(?:\$\d+\r\n|=\d+\r\ntxt:)([^\r]*)\r\n$/.exec(frame.replace(/\n\r\n$/, '\r\n'));
  if (!m) return undefined;
  const out: Record<string, string> = {};
  for (const kv of m[1].trim().split(' ')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}
