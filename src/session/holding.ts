// Holding: what waits its turn before it can be sent (DESIGN.md "Failover: fence, drain, re-home"),
// bounded by `failover.holdBytes` (the client is not read beyond it) and `failover.holdTimeoutMs`
// (then a retryable error, in order); and how what a lost link owed comes back to wait here — link
// loss is decided in one place (`lostInFlight`, `requeueAll`, `requeueFrom`), whichever link it was.
// Sending what is held is intake's (`Intake.pump`, through the session's dispatch, which knows
// where a command goes).
import type { Logger } from '../logger.js';
import type { Command } from '../resp/request.js';
import type { CommandSpec } from '../commands/table.js';
import { ErrorReplies } from '../errors.js';
import type { BackendLink } from './backend-link.js';
import type { Deque } from './deque.js';
import { type Entry, lostReplies } from './reply-queue.js';
import { type Held, HoldQueue, type SilentSent, UNSENT, requeued } from './hold-queue.js';
import type { SessionHost } from './host.js';
import { type ClientWriter, PAUSE_BACKEND, PAUSE_HOLD } from './client-writer.js';
import type { Transaction } from './transaction.js';

type Cmd = Command<CommandSpec>;

/** What holding needs of its session. */
export interface HoldingOwner {
  readonly log: Logger;
  readonly group: SessionHost;
  readonly closed: boolean;
  /** Answers `cmd` with `reply` in its turn. */
  enqueueLocal(reply: Buffer, cmd: Cmd | undefined): void;
  /** Writes a reply of the proxy's own now, after the streamed bytes before it. */
  writeClient(reply: Buffer): void;
  readonly kind: 'master' | 'read';
  readonly tx: Transaction;
  /** MONITOR or CLIENT TRACKING on: such a session is closed when its link is lost. */
  readonly unmovable: 'no' | 'monitor' | 'tracking';
  teardown(why: string): void;
  /** An entry left the reply queue. */
  afterPop(): void;
  /** Closes a draining session once nothing is owed. */
  maybeFinish(): void;
  /** Links again soon (links.ts, with backoff). */
  relink(): void;
  /** The own link never connected: the commands sent on it with replies off (they have no entry),
   * the reply mode back to what the link opened with. */
  unconnectedSilent(): SilentSent[];
}

/** The reply splicer's side of a lost link (reply-splicer.ts). */
export interface LossReader {
  /** Drops a half-collected reply; returns whether it was streaming. */
  reset(): boolean;
  /** The unblocked commands waiting to run again. */
  takeReissue(): Held[];
  /** The queue's head changed: stream or collect the next reply. */
  updateMode(): void;
}

export class Holding {
  readonly held = new HoldQueue();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: HoldingOwner,
    private readonly queue: Deque<Entry>,
    private readonly writer: ClientWriter,
    private readonly reader: LossReader,
  ) {}

  /** Holds `cmd` (arrived at `at`, performance.now() `t0`) behind what is held already. */
  hold(cmd: Cmd, at: number, t0: number): void {
    const held = this.held;
    held.push({ type: 'command', cmd, at, t0 });
    const g = this.owner.group;
    g.metrics.held.inc();
    if (held.bytes > g.config.failover.holdBytes) this.writer.pause(PAUSE_HOLD);
    if (!this.timer) this.armTimer();
  }

  /** What is held was sent as far as the group allows: read the client again within the budget,
   * and stop the clock when nothing is left. */
  released(): void {
    if (this.held.bytes <= this.owner.group.config.failover.holdBytes) this.writer.resume(PAUSE_HOLD);
    if (this.timer && this.held.length === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private armTimer(): void {
    const first = this.held.peek();
    if (!first) return;
    const wait = Math.max(0, first.at + this.owner.group.config.failover.holdTimeoutMs - Date.now());
    this.timer = setTimeout(() => this.expire(), wait);
    this.timer.unref();
  }

  /** Commands held past holdTimeoutMs get a retryable error, in order. The hold timeout is the
   * failover's: commands that only wait for the replies in flight before them (the group is not
   * blocked) are not timed out — their clock starts again. */
  private expire(): void {
    this.timer = undefined;
    const o = this.owner;
    if (o.closed) return;
    const g = o.group;
    const now = Date.now();
    if (this.queue.length > 0 && !g.blocked) {
      for (const h of this.held) h.at = now;
      this.armTimer();
      return;
    }
    const deadline = now - g.config.failover.holdTimeoutMs;
    let h: Held | undefined;
    let n = 0;
    while ((h = this.held.peek()) !== undefined && h.at <= deadline) {
      this.held.shift();
      if (h.type === 'reply') {
        o.enqueueLocal(h.reply, undefined);
        continue;
      }
      o.enqueueLocal(g.blockedReason === 'majority' ? ErrorReplies.NO_SENTINEL_MAJORITY : ErrorReplies.HOLD_TIMEOUT, h.cmd);
      n++;
    }
    if (n > 0) {
      g.metrics.holdTimeouts.inc(n);
      o.log.warn({ commands: n }, 'held commands timed out');
    }
    if (this.held.bytes <= g.config.failover.holdBytes) this.writer.resume(PAUSE_HOLD);
    if (this.held.length > 0) this.armTimer();
  }

  /** Puts `back` in front of what is held, in order; returns how many commands it holds. */
  unshift(back: Held[]): number {
    let n = 0;
    for (let i = back.length - 1; i >= 0; i--) {
      const h = back[i];
      this.held.unshift(h);
      if (h.type === 'command') n++;
    }
    if (this.held.length > 0 && !this.timer) this.armTimer();
    return n;
  }

  /** Replies due before any held command are written now. */
  private writeDueReplies(): void {
    let h: Held | undefined;
    while ((h = this.held.peek()) !== undefined && h.type === 'reply') {
      this.held.shift();
      this.owner.writeClient(h.reply);
    }
  }

  // Link loss: the session's own link (`linkClosed`) or the shared link (`unsent`, `lost`).

  /** The session's own link died (links.ts has let go of it). */
  linkClosed(link: BackendLink, err: Error | undefined): void {
    const wasStreaming = this.reader.reset();
    const o = this.owner;
    if (o.closed) return;
    const neverConnected = !link.connected;
    o.log.info({ node: link.addr, err: err?.message, neverConnected }, 'backend link closed');
    const g = o.group;
    g.onLinkLost(link.addr);
    if (neverConnected) {
      // Nothing reached the node: every command on it can go again, in order — with the commands
      // sent with replies off, in their places; the reply mode goes back to what the link was
      // opened with (the CLIENT REPLY commands among them go again too).
      g.metrics.backendConnectErrors.inc();
      this.unshift(requeued(this.queue, undefined, o.unconnectedSilent()));
    } else if (!link.framer.atBoundary && wasStreaming) {
      // Part of a reply was already passed on: the client's stream cannot be completed.
      o.log.warn({ node: link.addr }, 'link lost in the middle of a reply; closing the session');
      o.teardown('link lost mid-reply');
      return;
    } else if (o.kind === 'read' && o.tx.idle) {
      // The read listener sends only commands without side effects: they can simply run again on
      // another replica.
      g.metrics.reissued.inc(this.requeueAll());
    } else {
      // Replies owed for commands that reached the node are lost. A write is never re-sent (say
      // so, one error per reply owed); a read without side effects goes again, in order.
      o.tx.leftLink();
      const reissued = this.lostInFlight(this.reader.takeReissue());
      if (reissued > 0) g.metrics.reissued.inc(reissued);
      if (o.unmovable !== 'no') {
        o.teardown('session failed');
        return;
      }
    }
    this.writer.resume(PAUSE_BACKEND);
    o.relink();
    o.maybeFinish();
  }

  /** The shared link lost `e` and every later entry before writing them: back in front of the
   * held commands, to go again; earlier ones keep their place. */
  unsent(e: Entry): void {
    this.requeueFrom(e);
    this.reader.updateMode();
    // The runs before it on that link were reported lost already (in order): settle them now, as
    // the last loss would have — no later report will.
    const last = this.queue.last();
    if (last === undefined) this.owner.relink();
    else this.lost(last);
  }

  /** Every loss of the shared link is reported (`e` the last): reads marked replayable go again,
   * in order; the writes were turned into their LINK_LOST errors (shared-lane.ts). */
  lost(e: Entry): void {
    let replay = false;
    for (const q of this.queue) if (q.kind === 'forward' && q.replayable) replay = true;
    if (!replay) {
      // The writes were turned into their errors: the session writes what is due from the head
      // (an earlier run, or a reply of its own, may be there before `e`).
      if (this.queue.peek()?.kind === 'local') this.owner.afterPop();
      return;
    }
    this.owner.group.metrics.reissued.inc(this.requeueAll());
    this.writeDueReplies();
    this.reader.updateMode();
    this.owner.relink();
  }

  /** The link died with the queue's commands sent: each owed reply of a write becomes a LINK_LOST
   * error, reads without side effects (`replayable`) go again, all in order, through the hold
   * queue, after the unblocked commands waiting to run again (`reissue`). Returns how many reads
   * go again. */
  private lostInFlight(reissue: Held[]): number {
    const back: Held[] = [];
    // What the (un)subscribes going again changed in the session's state is undone, last first:
    // the new link is told the state before them, and they apply again in their turn.
    const undo: NonNullable<Entry['done']>[] = [];
    let n = 0;
    let e: Entry | undefined;
    while ((e = this.queue.shift()) !== undefined) {
      e.cancelled = true;
      if (e.kind === 'internal') continue;
      if (e.kind === 'local') {
        if (e.local !== undefined) back.push({ type: 'reply', reply: e.local, at: e.at, t0: e.t0 });
      } else if (e.replayable && e.cmd !== undefined) {
        if (e.sub && e.done !== undefined) undo.push(e.done);
        e.done = undefined;
        back.push({ type: 'command', cmd: e.cmd, at: e.at, t0: e.t0, again: true });
        n++;
      } else {
        this.owner.group.metrics.linkLost.inc();
        back.push({ type: 'reply', reply: lostReplies(e.expect), at: e.at, t0: e.t0 });
      }
    }
    for (let i = undo.length - 1; i >= 0; i--) undo[i](false, UNSENT);
    back.unshift(...reissue);
    this.unshift(back);
    this.writeDueReplies();
    return n;
  }

  /** Puts what the queue owes back in front of the held commands, in order, keeping its age:
   * commands that were sent (their link never connected, or they have no side effect) go again;
   * replies the proxy had already decided (a refusal, a protocol error) stay decided and keep their
   * place — never sent to a node. A command of a broken transaction answered here goes again too,
   * to be answered anew once the commands before it have gone: its answer changed the transaction,
   * which is undone to what it was (still broken: an EXEC is still failed here, never sent without
   * the WATCH that guarded it). The proxy's own replay commands are dropped (a new link replays
   * again). Returns how many commands go again. */
  private requeueAll(): number {
    return this.unshift(requeued(this.queue, undefined));
  }

  /** Puts `e` and every entry after it back in front of the held commands, in order (the shared
   * link lost them before writing them). Replies or losses still reported for them are ignored. */
  private requeueFrom(e: Entry): void {
    this.unshift(requeued(this.queue, e));
  }

  /** Shutdown: every held command is answered SHUTTING_DOWN, in order. */
  answerAll(): void {
    let h: Held | undefined;
    while ((h = this.held.shift()) !== undefined) this.owner.enqueueLocal(h.type === 'reply' ? h.reply : ErrorReplies.SHUTTING_DOWN, h.type === 'command' ? h.cmd : undefined);
  }

  /** The session is torn down. */
  close(): void {
    clearTimeout(this.timer);
    this.held.clear();
  }
}
