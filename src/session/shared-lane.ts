// The shared lane: a stateless session's plain commands, pipelined with other sessions' commands on
// the group's shared link (issue 7; shared-link.ts is the link, this is one session's side of it).
// Consecutive commands of one client chunk form one run (one queue entry); the link hands each
// run's replies back in one piece. A session leaves the lane for a link of its own, for good, on
// the first command that gives it state, a pipeline deeper than `links.maxPipeline`, a large
// command, or when its client reads too slowly.
import type { Logger } from '../logger.js';
import type { Command } from '../resp/request.js';
import { type CommandSpec, isWrite } from '../commands/table.js';
import type { Deque } from './deque.js';
import { type ArrivalClock, type Entry, lostReplies, newEntry, sharedRunReadsOnly } from './reply-queue.js';
import type { SharedLink, SharedWaiter } from './shared-link.js';
import type { SessionHost } from './host.js';
import type { ClientWriter } from './client-writer.js';

type Cmd = Command<CommandSpec>;

/** Replies waiting for a client on the shared link beyond which it gets a link of its own. */
const SHARED_BEHIND_BYTES = 256 * 1024;
/** A larger command moves its session to a link of its own: what the shared link holds for one
 * session stays bounded (maxPipeline × this) when the node stops reading, and one large value does
 * not hold up the other sessions' commands on the link. */
const SHARED_MAX_COMMAND_BYTES = 256 * 1024;

/** The session's command writer (request-writer.ts). */
export interface LaneWrites {
  /** The run whose commands it is joining (not yet handed to the link). */
  readonly token: Entry | undefined;
  /** Writes `cmd` to the shared link as part of the run `e` (joined with adjacent ones). */
  send(link: SharedLink, cmd: Cmd, e: Entry): void;
}

/** Where link loss is handled (holding.ts). */
export interface LaneLoss {
  /** `e` and everything after it never reached the node. */
  unsent(e: Entry): void;
  /** Every loss of the link is reported (`e` the last); reads marked `replayable` go again. */
  lost(e: Entry): void;
}

/** What the lane needs of its session. */
export interface LaneOwner {
  readonly id: number;
  readonly log: Logger;
  readonly group: SessionHost;
  readonly closed: boolean;
  /** The client does not keep up: the session takes a link of its own once the lane is empty. */
  leaveLane(): void;
  /** An entry left the reply queue. */
  afterPop(): void;
  teardown(why: string): void;
  /** No link to send to: try again soon. */
  relink(): void;
}

export class SharedLane implements SharedWaiter {
  /** This session's commands on the shared link not yet answered in full. */
  inFlight = 0;
  /** The shared link this session's in-flight commands are on: a next one may follow them only on
   * the same link (replies of two links could overtake each other). */
  private on: SharedLink | undefined;

  constructor(
    private readonly owner: LaneOwner,
    private readonly queue: Deque<Entry>,
    private readonly writer: ClientWriter,
    /** Commands a session may have in flight on the shared link (links.maxPipeline). */
    private readonly maxPipeline: number,
    private readonly writes: LaneWrites,
    private readonly loss: LaneLoss,
    private readonly clock: ArrivalClock,
  ) {}

  /** May this (stateless) session send `cmd` over the shared link? A plain command (it leaves
   * Redis's per-connection state as it was and answers once), not too large, within the session's
   * share of the link. */
  fits(cmd: Cmd): boolean {
    const spec = cmd.spec;
    return spec !== undefined && spec.plain && this.inFlight < this.maxPipeline && cmd.size <= SHARED_MAX_COMMAND_BYTES;
  }

  /** Sends `cmd` on the shared link; false when it must wait (the caller holds it). */
  dispatch(cmd: Cmd): boolean {
    const shared = this.owner.group.sharedLink();
    if (shared === undefined) {
      if (!this.owner.group.blocked) this.owner.relink();
      return false;
    }
    if (this.inFlight > 0 && shared !== this.on) return false; // after the old link's replies
    this.on = shared;
    const tail = this.queue.last();
    let e: Entry;
    if (tail !== undefined && tail.shared && tail.kind === 'forward' && !tail.cancelled && (this.writes.token === tail || shared.isOpenRun(this, tail))) {
      // Joins the run of commands before it (not yet written: an entry is one write's commands,
      // so all of them reached the node, or none did).
      e = tail;
      e.expect++;
      (e.more ??= []).push(cmd);
    } else {
      e = newEntry('forward', cmd, undefined, this.clock.arrivedAt, this.clock.arrived);
      e.shared = true;
      this.queue.push(e);
    }
    if (!e.ack && isWrite(cmd.spec)) e.ack = this.owner.group.confirmations(shared.addr)?.active === true;
    this.inFlight++;
    this.writes.send(shared, cmd, e);
    return true;
  }

  // SharedWaiter: replies and losses from the group's shared link.

  onSharedData(token: unknown, bytes: Buffer, complete: number): void {
    const e = token as Entry;
    this.inFlight -= complete;
    const o = this.owner;
    if (o.closed || e.cancelled) return;
    if (this.queue.peek() !== e) {
      // Cannot happen: a session's commands on the shared link are answered in order.
      o.log.error('shared link reply out of order; closing the session');
      o.teardown('shared reply out of order');
      return;
    }
    const writer = this.writer;
    if (e.ack) {
      // (Replaced by `complete` errors if the writes among them cannot be confirmed.)
      writer.awaitConfirm(this.on?.addr);
      writer.gate.tag = complete;
      writer.write(bytes);
      writer.gate.tag = -1;
    } else writer.write(bytes);
    const pending = writer.behind;
    if (pending > 0) {
      const lim = o.group.config.limits;
      if (pending > lim.outputBufferHardBytes) {
        o.log.warn({ bytes: pending }, 'client output buffer hard limit reached, closing');
        o.teardown('output buffer limit');
        return;
      }
      // The client does not keep up with its replies: the shared link cannot wait for it, so it
      // moves to a link of its own — where backpressure reaches the node — once what it has in
      // flight is answered.
      if (pending >= Math.min(SHARED_BEHIND_BYTES, lim.outputBufferSoftBytes)) o.leaveLane();
    }
    if (complete > 0) this.observe(e, complete);
    if (complete === 0 || (e.expect -= complete) > 0) return;
    this.queue.shift();
    o.afterPop();
  }

  /** Latency (issue 18) on the shared link: `complete` commands of the run `e` (`cmd`, then
   * `more`) were answered in full; they follow the `total - e.expect` answered before. */
  private observe(e: Entry, complete: number): void {
    const first = 1 + (e.more?.length ?? 0) - e.expect;
    const g = this.owner.group;
    const node = g.sharedLink()?.addr;
    const t1 = performance.now();
    for (let i = first; i < first + complete; i++) {
      const cmd = i === 0 ? e.cmd : e.more![i - 1];
      g.observe.command(cmd?.spec, e.t0, t1, node, this.owner.id);
    }
  }

  onSharedLost(token: unknown, left: number, sent: boolean, midReply: boolean): void {
    const e = token as Entry;
    this.inFlight -= left;
    const o = this.owner;
    if (o.closed || e.cancelled) return;
    if (midReply) {
      // Part of a reply was already passed on: the client's stream cannot be completed.
      o.log.warn({ node: this.on?.addr }, 'shared link lost in the middle of a reply; closing the session');
      o.teardown('link lost mid-reply');
      return;
    }
    if (!sent) {
      // These commands (and every later one) never reached the node: they go again.
      this.loss.unsent(e);
      return;
    }
    if (e.kind === 'local') return; // already turned into its error replies
    if (e.replayable || sharedRunReadsOnly(e)) {
      // Reads without side effects: they go again once every loss of this link is reported.
      e.replayable = true;
    } else {
      // Writes reached the node and got no answer: say so (never re-send), in order.
      o.group.metrics.linkLost.inc(e.expect);
      e.kind = 'local';
      e.local = lostReplies(e.expect);
    }
    if (this.inFlight > 0) return;
    this.loss.lost(e);
  }
}
