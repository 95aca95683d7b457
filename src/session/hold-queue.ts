// The hold queue's items: what waits its turn before anything more can be sent to a node
// (DESIGN.md "Failover: fence, drain, re-home"), and how the reply queue's entries come back to it
// when their link failed.
import type { Command } from '../resp/request.js';
import type { CommandSpec } from '../commands/table.js';
import { Deque } from './deque.js';
import type { Entry } from './reply-queue.js';
import type { BackendLink } from './backend-link.js';
import type { ReplyInfo } from '../resp/reply.js';

type Cmd = Command<CommandSpec>;

/** The `info` given to an entry's `done` when it goes again instead of being answered. */
export const UNSENT: ReplyInfo = { type: 0x2d, errorCode: undefined, head: undefined, nil: false };

/** Something waiting its turn before anything can be sent: a command not yet sent, or a reply of
 * the proxy's own that must follow the commands before it (a protocol error, or a reply already
 * decided for a command whose link never connected). `at`: when the hold clock started; `t0`: performance.now() at the command's arrival, the start of
 * its latency (src/admin/latency.ts: held time is included). */
export type Held =
  /** `again`: sent before and going again as it was sent, outside any transaction (a read from a
   * lost link, an unblocked command): not answered as part of a transaction broken since. */
  | { type: 'command'; cmd: Cmd; at: number; t0: number; again?: true }
  | { type: 'reply'; reply: Buffer; at: number; t0: number };


/** A command sent with replies off (CLIENT REPLY OFF/SKIP) on a link not yet connected: it has no
 * entry in the reply queue, so it is remembered with the entry it followed (its place). */
export interface SilentSent {
  after: Entry | undefined;
  cmd: Cmd;
  at: number;
  t0: number;
}

/** What `queue` owes from `from` (or from its start) on, as held items in order, the entries
 * removed (and marked cancelled): commands go again, decided replies stay decided. `silent`: the
 * commands sent with replies off on the same link (it never connected), each put back after the
 * entry it followed. */
export function requeued(queue: Deque<Entry>, from: Entry | undefined, silent: readonly SilentSent[] = []): Held[] {
  const back: Held[] = [];
  // Undone last first: `SUBSCRIBE a` then `UNSUBSCRIBE` undone in sending order would leave `a`.
  const undo: NonNullable<Entry['done']>[] = [];
  const undoAll = () => {
    for (let i = undo.length - 1; i >= 0; i--) undo[i](false, UNSENT);
  };
  const taken = new Set<Entry>();
  const silentAfter = (q: Entry | undefined) => {
    for (const s of silent) {
      if (s.after === q || (q === undefined && (s.after === undefined || !taken.has(s.after)))) {
        back.push({ type: 'command', cmd: s.cmd, at: s.at, t0: s.t0 });
      }
    }
  };
  const take = (q: Entry) => {
    q.cancelled = true;
    if (q.kind === 'internal') return;
    if (q.kind === 'local') {
      if (q.done !== undefined && q.cmd !== undefined) {
        // A decision that changed the session's state (a broken transaction's answer) is made
        // again in its turn, in the state undone to what it was.
        undo.push(q.done);
        q.done = undefined;
        back.push({ type: 'command', cmd: q.cmd, at: q.at, t0: q.t0 });
      } else if (q.local !== undefined) back.push({ type: 'reply', reply: q.local, at: q.at, t0: q.t0 });
      return;
    }
    if (q.cmd === undefined) return;
    // It goes again: what it changed in the session's state when sent (a subscription, a MULTI)
    // is undone until then, as for a command the node refused (the replay must not include it).
    if (q.done !== undefined) undo.push(q.done);
    q.done = undefined;
    if (q.more === undefined) {
      back.push(q.again ? { type: 'command', cmd: q.cmd, at: q.at, t0: q.t0, again: true } : { type: 'command', cmd: q.cmd, at: q.at, t0: q.t0 });
      return;
    }
    // A shared run: only its commands not answered yet (the last `expect` of them).
    const all = [q.cmd, ...q.more];
    for (let i = all.length - q.expect; i < all.length; i++) back.push({ type: 'command', cmd: all[i], at: q.at, t0: q.t0 });
  };
  if (from === undefined) {
    if (silent.length > 0) {
      for (const q of queue) taken.add(q);
      // Those that followed no entry of this queue (an entry answered before) come first.
      silentAfter(undefined);
    }
    for (const q of queue) {
      take(q);
      if (silent.length > 0) silentAfter(q);
    }
    queue.clear();
    undoAll();
    return back;
  }
  const tail: Entry[] = [];
  let q: Entry | undefined;
  while ((q = queue.pop()) !== undefined) {
    tail.push(q);
    if (q === from) break;
  }
  for (let i = tail.length - 1; i >= 0; i--) take(tail[i]);
  undoAll();
  return back;
}


/** The held items in order, with the bytes of the commands among them (the query-buffer limit
 * and `failover.holdBytes` count them). */
export class HoldQueue implements Iterable<Held> {
  private readonly q = new Deque<Held>();
  bytes = 0;

  get length(): number {
    return this.q.length;
  }

  peek(): Held | undefined {
    return this.q.peek();
  }

  push(h: Held): void {
    this.q.push(h);
    if (h.type === 'command') this.bytes += h.cmd.size;
  }

  unshift(h: Held): void {
    this.q.unshift(h);
    if (h.type === 'command') this.bytes += h.cmd.size;
  }

  shift(): Held | undefined {
    const h = this.q.shift();
    if (h !== undefined && h.type === 'command') this.bytes -= h.cmd.size;
    return h;
  }

  clear(): void {
    this.q.clear();
    this.bytes = 0;
  }

  [Symbol.iterator](): Iterator<Held> {
    return this.q[Symbol.iterator]();
  }
}

/** What a session owes, by command name (no arguments), and where: for the log when it closes with
 * replies owed. */
export function describeOwed(queue: Iterable<Entry>, held: Iterable<Held>, link: BackendLink | undefined): object {
  const where = (e: Entry) => (e.link === undefined ? '' : e.link !== link ? '@old-link' : e.link.connected ? '' : '@unconnected');
  return {
    inFlight: [...queue].map((e) => `${e.kind}:${e.cmd?.spec?.name ?? '-'}:${e.expect}${where(e)}`),
    held: [...held].map((h) => (h.type === 'reply' ? 'reply' : `${h.cmd.spec?.name ?? '?'}${h.again === true ? ':again' : ''}`)),
    link: link === undefined ? undefined : { node: link.addr, connected: link.connected, closed: link.closed, epoch: link.masterEpoch },
  };
}
