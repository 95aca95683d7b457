// The hold queue's items: what waits its turn before anything more can be sent to a node
// (DESIGN.md "Failover: fence, drain, re-home"), and how the reply queue's entries come back to it
// when their link failed.
import type { Command } from '../resp/request.js';
import type { CommandSpec } from '../commands/table.js';
import { Deque } from './deque.js';
import type { Entry } from './reply-queue.js';
import type { ReplyInfo } from '../resp/reply.js';

type Cmd = Command<CommandSpec>;

/** The `info` given to an entry's `done` when it goes again instead of being answered. */
const UNSENT: ReplyInfo = { type: 0x2d, errorCode: undefined, head: undefined, nil: false };

/** Something waiting its turn before anything can be sent: a command not yet sent, or a reply of
 * the proxy's own that must follow the commands before it (a protocol error, or a reply already
 * decided for a command whose link never connected). `at`: when the hold clock started; `t0`: performance.now() at the command's arrival, the start of
 * its latency (src/admin/latency.ts: held time is included). */
export type Held = { type: 'command'; cmd: Cmd; at: number; t0: number } | { type: 'reply'; reply: Buffer; at: number; t0: number };


/** What `queue` owes from `from` (or from its start) on, as held items in order, the entries
 * removed (and marked cancelled): commands go again, decided replies stay decided. */
export function requeued(queue: Deque<Entry>, from: Entry | undefined): Held[] {
  const back: Held[] = [];
  const take = (q: Entry) => {
    q.cancelled = true;
    if (q.kind === 'internal') return;
    if (q.kind === 'local') {
      if (q.local !== undefined) back.push({ type: 'reply', reply: q.local, at: q.at, t0: q.t0 });
      return;
    }
    if (q.cmd === undefined) return;
    // It goes again: what it changed in the session's state when sent (a subscription, a MULTI)
    // is undone until then, as for a command the node refused (the replay must not include it).
    const done = q.done;
    q.done = undefined;
    done?.(false, UNSENT);
    if (q.more === undefined) {
      back.push({ type: 'command', cmd: q.cmd, at: q.at, t0: q.t0 });
      return;
    }
    // A shared run: only its commands not answered yet (the last `expect` of them).
    const all = [q.cmd, ...q.more];
    for (let i = all.length - q.expect; i < all.length; i++) back.push({ type: 'command', cmd: all[i], at: q.at, t0: q.t0 });
  };
  if (from === undefined) {
    for (const q of queue) take(q);
    queue.clear();
    return back;
  }
  const tail: Entry[] = [];
  let q: Entry | undefined;
  while ((q = queue.pop()) !== undefined) {
    tail.push(q);
    if (q === from) break;
  }
  for (let i = tail.length - 1; i >= 0; i--) take(tail[i]);
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
