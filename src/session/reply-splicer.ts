// The reply splicer: the node's bytes on the session's own link, back to the client. The link's
// reply framer marks where each reply ends; the splicer matches it with the head of the reply
// queue and either streams it (the bytes of one chunk go out as one slice, however many replies it
// holds: STYLE.md "Forward bytes, don't rebuild them") or collects it to decide on it once complete
// (the proxy's own replay commands, blocking commands that may come back -UNBLOCKED). Pub/sub
// messages, pushes and MONITOR output answer no entry and pass through in order.
import type { Logger } from '../logger.js';
import { ReplyProtocolError, type ReplyInfo } from '../resp/reply.js';
import type { Command } from '../resp/request.js';
import type { CommandSpec } from '../commands/table.js';
import type { BackendLink } from './backend-link.js';
import type { Deque } from './deque.js';
import { type Entry, movableBehindUnblocked } from './reply-queue.js';
import type { Held } from './hold-queue.js';
import type { ReplayState } from './state.js';
import type { SessionHost } from './host.js';
import type { ClientWriter, FeedingLinks } from './client-writer.js';

const SUB_CONFIRM = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const SUB_MESSAGE = new Set(['message', 'pmessage', 'smessage']);

/** What the splicer needs of its session. */
export interface SplicerOwner {
  readonly id: number;
  readonly log: Logger;
  readonly group: SessionHost;
  readonly state: ReplayState;
  /** MONITOR output answers no entry. */
  readonly unmovable: 'no' | 'monitor' | 'tracking';
  /** An entry left the reply queue (the one place a command's reply completes). */
  afterPop(): void;
  teardown(why: string): void;
}

export class ReplySplicer {
  /** The link chunk being framed, and where in it the reply being framed starts. */
  private cur: Buffer | undefined;
  private segStart = 0;
  /** Start of the streamed bytes of `cur` not yet written to the client; -1 while buffering. */
  private fwdFrom = 0;
  /** Stream the current reply (true) or collect it in `pend` (false). */
  private streaming = true;
  private pend: Buffer[] = [];
  /** performance.now() when the node's chunk being framed arrived: the end of a command's latency
   * (issue 18; one clock read per chunk, not per reply). */
  private replyAt = 0;
  /** Blocked commands unblocked on the old master (they did not run there), in order, waiting for
   * the rest of the pipeline to be unblocked too before they go to the new one. */
  private reissue: { cmd: Command<CommandSpec>; error: Buffer; t0: number; read?: Entry }[] = [];
  /** Entries in the queue whose replies answer writes to confirm (topology.writeSafety: safe; an
   * over-count only delays): counted by the own lane, reset when the queue empties. */
  ackOwed = 0;

  constructor(
    private readonly owner: SplicerOwner,
    private readonly queue: Deque<Entry>,
    private readonly writer: ClientWriter,
    private readonly links: FeedingLinks,
  ) {}

  /** A chunk from the session's current link (links.ts checked it is current). */
  onLinkData(link: BackendLink, chunk: Buffer): void {
    this.replyAt = performance.now();
    this.cur = chunk;
    this.segStart = 0;
    this.fwdFrom = this.streaming ? 0 : -1;
    // Replies in this chunk answer commands the node has executed: writes among them wait for a
    // replica (and everything after them, to keep the order).
    if (this.ackOwed > 0) this.writer.awaitConfirm(link.addr);
    const client = this.writer.socket;
    client.cork();
    try {
      link.framer.push(chunk, this.onReplyEnd);
    } catch (err) {
      if (!(err instanceof ReplyProtocolError)) throw err;
      this.owner.log.error({ node: link.addr, err: err.message }, 'node sent bytes that are not RESP; cutting the link');
      this.flushStream();
      this.cur = undefined;
      client.uncork();
      link.destroy();
      return;
    }
    if (this.links.link === link) {
      if (this.streaming) this.flushStreamTo(chunk.length);
      else if (this.segStart < chunk.length) this.pend.push(chunk.subarray(this.segStart));
    }
    this.cur = undefined;
    client.uncork();
    const lim = this.owner.group.config.limits;
    if (this.writer.behind > lim.outputBufferSoftBytes) {
      if (client.writableLength > lim.outputBufferHardBytes) {
        this.owner.log.warn({ bytes: client.writableLength }, 'client output buffer hard limit reached, closing');
        this.owner.teardown('output buffer limit');
        return;
      }
      // Resumed on the client's 'drain' or when held output is released (client-writer.ts): only
      // when one of them will come (no 'drain' follows a write() that returned true, so a soft
      // limit below the socket's high-water mark acts at the high-water mark).
      if (client.writableNeedDrain || this.writer.gate.holding) link.socket.pause();
    }
  }

  private readonly onReplyEnd = (end: number, info: ReplyInfo): void => {
    const chunk = this.cur!;
    const start = this.segStart;
    this.segStart = end;
    if (!this.streaming) this.pend.push(chunk.subarray(start, end));

    const head = this.queue.peek();
    let mine = head !== undefined && this.owner.unmovable !== 'monitor';
    if (mine) {
      if (info.type === 0x3e /* > */) {
        mine = head!.sub && info.head !== undefined && SUB_CONFIRM.has(info.head);
      } else if (head!.sub) {
        // Confirmations (or an error) answer a subscribe-family command; RESP2 messages do not.
        mine = !(info.type === 0x2a && info.head !== undefined && SUB_MESSAGE.has(info.head));
      } else if (info.type === 0x2a && info.head !== undefined && SUB_MESSAGE.has(info.head) && this.owner.state.protocol === 2) {
        mine = false;
      }
    }
    if (!mine) {
      // Out of band: a pub/sub message, a push, MONITOR output.
      if (!this.streaming) this.deliverPend();
      this.updateMode();
      return;
    }
    const e = head!;
    const ok = info.type !== 0x2d && info.type !== 0x21;
    if (e.sub && !ok) e.expect = 1; // a refused (un)subscribe answers once
    if (--e.expect > 0) {
      // More confirmations to come: pass this one on (or swallow it, for the proxy's own replay).
      // Part of it reached the client: it can no longer go again whole.
      e.replayable = false;
      if (!this.streaming) {
        if (e.kind === 'forward') this.deliverPend();
        else this.pend = [];
      }
      return;
    }
    this.queue.shift();
    if (e.ack) this.ackOwed--;
    const g = this.owner.group;
    let moving: Entry[] | undefined;
    if (e.kind === 'internal') {
      // A read moving with an unblocked command: its reply from the old node is kept only in case
      // the move is given up (giveUpReissue).
      if (this.reissue.length > 0) for (const r of this.reissue) if (r.read === e) r.error = Buffer.concat(this.pend);
      if (e.clientIdProbe && e.link) {
        const txt = Buffer.concat(this.pend).toString('latin1');
        e.link.clientId = Number(txt.slice(1, txt.indexOf('\r')));
      }
      this.pend = [];
    } else if (e.blocking && info.errorCode === 'UNBLOCKED' && (moving = movableBehindUnblocked(this.queue)) !== undefined) {
      // Unblocked by the fence (CLIENT UNBLOCK) or by the node turning replica: it did not run
      // there. It runs again on the new master, after those unblocked with it, and so do the
      // reads behind it (their replies from the old node are dropped); its error is kept in case
      // a command behind it completes there after all (then order wins: it is answered).
      this.reissue.push({ cmd: e.cmd!, error: Buffer.concat(this.pend), t0: e.t0 });
      for (const r of moving) {
        r.kind = 'internal';
        r.buffered = true;
        this.reissue.push({ cmd: r.cmd!, error: Buffer.alloc(0), t0: r.t0, read: r });
      }
      this.pend = [];
      g.metrics.reissued.inc(1 + moving.length);
      // The next blocking command of the pipeline runs on the old node now: unblock it too.
      let next: Entry | undefined;
      for (const q of this.queue) {
        if (q.kind === 'internal') continue;
        next = q;
        break;
      }
      const link = e.link;
      if (next !== undefined && next.blocking && link !== undefined && link.clientId !== undefined && !next.unblockRequested) {
        next.unblockRequested = true;
        g.unblock(link.addr, link.clientId);
      }
    } else {
      if (this.reissue.length > 0 && e.kind === 'forward') this.giveUpReissue();
      if (!this.streaming) {
        // (A write's reply is collected whole while writes are to be confirmed: updateMode.) It
        // may be in pieces of several chunks: the last piece counts the reply, the others are its
        // first part (tag 0), so that an unconfirmed one becomes one error, not one per piece.
        const gate = this.writer.gate;
        if (e.ack) {
          const p = this.pend;
          this.pend = [];
          for (let i = 0; i < p.length; i++) {
            gate.tag = i === p.length - 1 ? 1 : 0;
            this.writer.write(p[i]);
          }
        } else this.deliverPend();
        gate.tag = -1;
      }
      // Latency (issue 18): the last byte of a forwarded command's reply is passed on.
      if (e.kind === 'forward') g.observe.command(e.cmd?.spec, e.t0, this.replyAt, e.link?.addr, this.owner.id);
    }
    if (info.type === 0x2d && info.errorCode === 'READONLY') {
      // The supposed master is a replica now: have the topology checked at once.
      g.onReadonly(e.link?.addr);
    }
    e.done?.(ok, info);
    if (e.after !== undefined) for (const f of e.after) f();
    this.owner.afterPop();
  };

  /** A command behind the unblocked ones completed on the old node: they are answered with their
   * error after all (in order), not run again. */
  private giveUpReissue(): void {
    const r = this.reissue;
    this.reissue = [];
    for (const x of r) this.writer.write(x.error);
  }

  /** Are unblocked commands waiting to run again? */
  get reissuing(): boolean {
    return this.reissue.length > 0;
  }

  /** The unblocked commands, to go again (held, in order); they are no longer the splicer's. */
  takeReissue(): Held[] {
    const back = this.reissue.map((r): Held => ({ type: 'command', cmd: r.cmd, at: Date.now(), t0: r.t0, again: true }));
    this.reissue = [];
    return back;
  }

  /** The link changed or was lost: nothing half-collected is kept, the next reply streams. Returns
   * whether it was streaming. */
  reset(): boolean {
    const was = this.streaming;
    this.pend = [];
    this.streaming = true;
    return was;
  }

  /** Stream the next reply straight through, or collect it (replay, blocking commands)? Only
   * changed at a reply boundary. */
  updateMode(): void {
    const next = this.queue.peek();
    // While writes await confirmation each reply is collected whole, so that one answering a write
    // can be replaced if the write is not confirmed; and while unblocked commands wait to run
    // again, so that their errors can still go before the next reply (giveUpReissue).
    const stream = (next === undefined || !next.buffered) && this.ackOwed === 0 && this.reissue.length === 0;
    if (stream === this.streaming) return;
    if (stream) this.fwdFrom = this.segStart;
    else {
      this.flushStream();
      this.fwdFrom = -1;
    }
    this.streaming = stream;
  }

  private deliverPend(): void {
    const p = this.pend;
    this.pend = [];
    for (const b of p) this.writer.write(b);
  }

  /** Writes streamed bytes of the current chunk up to the reply boundary reached so far. */
  private flushStream(): void {
    if (this.cur && this.fwdFrom >= 0) this.flushStreamTo(this.segStart);
  }

  private flushStreamTo(end: number): void {
    const from = this.fwdFrom;
    if (from >= 0 && end > from) {
      this.writer.write(from === 0 && end === this.cur!.length ? this.cur! : this.cur!.subarray(from, end));
      this.fwdFrom = end;
    }
  }

  /** Writes a reply of the proxy's own, after any streamed bytes that precede it. A reply the
   * proxy decided behind unblocked commands waiting to run again keeps the order as a completed
   * command does: they are answered with their error first (giveUpReissue). */
  writeClient(buf: Buffer): void {
    this.flushStream();
    if (this.reissue.length > 0) this.giveUpReissue();
    this.writer.write(buf);
  }
}
