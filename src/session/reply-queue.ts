// The reply queue's entries: what the client is owed, in order. An entry is one of three kinds
// (`kind`, the discriminant): 'forward' (sent to the node; its replies go to the client), 'local'
// (answered by the proxy: `local` holds the reply), 'internal' (sent by the proxy — replay,
// CLIENT ID, DISCARD — its replies are swallowed). Every entry has the same fields, so the hot path
// sees one object shape.
import type { Command } from '../resp/request.js';
import type { ReplyInfo } from '../resp/reply.js';
import { CmdFlag, type CommandSpec, isReadOnly } from '../commands/table.js';
import { ErrorReplies } from '../errors.js';
import type { BackendLink } from './backend-link.js';

type Cmd = Command<CommandSpec>;

export type EntryKind = 'forward' | 'local' | 'internal';

export interface Entry {
  kind: EntryKind;
  /** Replies still expected from the node. */
  expect: number;
  cmd: Cmd | undefined;
  local: Buffer | undefined;
  /** Counts (p|s)(un)subscribe confirmations rather than ordinary replies. */
  sub: boolean;
  /** The reply is collected and decided on once complete instead of streamed. */
  buffered: boolean;
  blocking: boolean;
  /** The proxy asked the node to unblock it (CLIENT UNBLOCK ... ERROR) because of a fence. */
  unblockRequested: boolean;
  link: BackendLink | undefined;
  /** When the client sent it (ms): a command put back after a failed connection keeps its age. */
  at: number;
  /** performance.now() when its bytes arrived: the start of its latency (group.observe). */
  t0: number;
  /** The proxy's own CLIENT ID on a new link: its integer reply is kept on the link. */
  clientIdProbe: boolean;
  /** Sent on the group's shared link: a run of `expect` consecutive commands (`cmd`, then `more`). */
  shared: boolean;
  /** A shared run's commands after the first, kept until answered (re-sent only if the link never
   * connected). */
  more: Cmd[] | undefined;
  /** Put back to be sent again (its link never connected): replies or losses for it are ignored. */
  cancelled: boolean;
  /** A read without side effects outside a transaction: if its link dies before the reply, it
   * can go again (DESIGN.md: a client that only reads sees no error when the master is killed).
   * Also an (un)subscribe outside MULTI (`sub`) not yet partly answered: it changes only the
   * connection's state; it goes again with its state change undone. */
  replayable: boolean;
  /** Going again as it was first sent, outside a transaction broken since (Held `again`). */
  again: boolean;
  /** Its replies answer a write on the master: they wait for a replica to hold it
   * (topology.writeSafety: safe). */
  ack: boolean;
  /** Runs when the last reply arrives; `ok` is false for an error reply. Put back to go again
   * (hold-queue.ts `requeued`), it is called with `ok` false to undo what the command changed when
   * sent; on a `local` entry it undoes the proxy's decision (a broken transaction's state). */
  done: ((ok: boolean, info: ReplyInfo) => void) | undefined;
  /** State changes of commands sent after this one with replies off (CLIENT REPLY OFF/SKIP: they
   * have no entry), run after `done`, in order: `SELECT 1 | CLIENT REPLY SKIP | SELECT 0` leaves
   * db 0. Dropped with the entry when its link is lost (their outcome is unknown) or they go
   * again. */
  after: (() => void)[] | undefined;
}


/** `n` LINK_LOST errors (one per reply owed). */
export function lostReplies(n: number): Buffer {
  return n <= 1 ? ErrorReplies.LINK_LOST : Buffer.concat(Array.from({ length: n }, () => ErrorReplies.LINK_LOST));
}


/** Are all the (unanswered) commands of a shared run reads without side effects? */
export function sharedRunReadsOnly(e: Entry): boolean {
  if (e.cmd === undefined) return false;
  const all = e.more === undefined ? [e.cmd] : [e.cmd, ...e.more];
  for (let i = all.length - e.expect; i < all.length; i++) {
    const spec = all[i].spec;
    if (!isReadOnly(spec) || (spec!.flags & CmdFlag.Blocking) !== 0) return false;
  }
  return true;
}

/**
 * A blocked command at the head of `queue` was unblocked (`-UNBLOCKED`: it did not run). Can it go
 * again on the new master with what follows it keeping its order? Redis runs nothing pipelined
 * behind a blocked command until it is answered, so what follows ran (or runs) on the old node only
 * after the unblocking: blocked commands (unblocked in turn) and reads without side effects
 * (`replayable`: their old replies are dropped, they go again) can move; anything else — a write, a
 * reply the proxy decided — ran there or is decided, and the unblocked command must be answered
 * with its error before it. Returns the reads up to the next blocked command (they move with this
 * one), or undefined when it cannot move.
 */
export function movableBehindUnblocked(queue: Iterable<Entry>): Entry[] | undefined {
  const reads: Entry[] = [];
  let beforeNextBlocked = true;
  for (const q of queue) {
    if (q.kind === 'internal') continue;
    if (q.kind === 'local' || (!q.blocking && (!q.replayable || q.sub))) return undefined;
    if (q.blocking) beforeNextBlocked = false;
    else if (beforeNextBlocked) reads.push(q);
  }
  return reads;
}

/** The session's clocks (intake.ts), read once per client chunk. */
export interface ArrivalClock {
  /** Now, as of the chunk being framed (or of sending held commands). */
  readonly now: number;
  /** Arrival (ms) and performance.now() at arrival of the command being dispatched. */
  readonly arrivedAt: number;
  readonly arrived: number;
}

/** A new entry of `kind` (one object shape for all three). `at`, `t0`: the command's arrival. */
export function newEntry(kind: EntryKind, cmd: Cmd | undefined, link: BackendLink | undefined, at: number, t0: number): Entry {
  return {
    kind,
    expect: 1,
    cmd,
    local: undefined,
    sub: false,
    buffered: kind === 'internal',
    blocking: false,
    unblockRequested: false,
    link,
    at,
    t0,
    clientIdProbe: false,
    shared: false,
    more: undefined,
    cancelled: false,
    replayable: false,
    again: false,
    ack: false,
    done: undefined,
    after: undefined,
  };
}
