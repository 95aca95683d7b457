// The session's side of write confirmation (topology.writeSafety: safe; the rounds are in
// src/topology/write-confirm.ts). While a write the master answered is not yet held by a replica,
// the client's output waits here, in order, in segments: each segment waits for one round of one
// master's confirmer. A confirmed segment is passed on as it is. A segment that cannot be
// confirmed (the master changed, or failover.holdTimeoutMs passed) is passed on with each reply
// that answered writes replaced by the in-flight error — the write may or may not survive, exactly
// as for a command whose link died — and every other byte (replies to reads, pub/sub messages)
// unchanged.
import type { ConfirmWaiter, WriteConfirmations } from '../topology/types.js';
import { lostReplies } from './reply-queue.js';

/** What the gate needs of its session. */
export interface ConfirmGateOwner {
  readonly closed: boolean;
  /** Writes released output to the client (past the gate). */
  toClient(buf: Buffer): void;
  /** Everything held was passed on. */
  afterRelease(): void;
  /** `n` replies to writes were replaced by errors (counted and logged by the session). */
  unconfirmedWrites(n: number, reason: string): void;
}

interface Segment {
  c: WriteConfirmations;
  ticket: number;
  bufs: Buffer[];
  /** Per buffer: -1 for bytes passed on as they are; n >= 0: the bytes are n whole replies
   * answering writes (n = 0: the first part of one, completed by a later buffer). */
  tags: number[];
}

/** A confirmer for replies from a node that is no longer the master: nothing can confirm them. */
export const NO_CONFIRMER: WriteConfirmations = {
  addr: '',
  active: true,
  ticket: () => 1,
  wait: (w) => queueMicrotask(() => w.unconfirmed('the node that answered is no longer the master')),
  forget: () => undefined,
};

export class ConfirmGate implements ConfirmWaiter {
  private segs: Segment[] = [];
  /** Bytes held. */
  bytes = 0;
  /** How the next bytes held are tagged (see Segment.tags); the session sets it around a write's
   * reply. */
  tag = -1;
  /** The confirmer the first segment waits on. */
  private on: WriteConfirmations | undefined;

  constructor(private readonly owner: ConfirmGateOwner) {}

  /** Is output being held (so that later output must queue behind it)? */
  get holding(): boolean {
    return this.segs.length > 0;
  }

  /** Output from now on waits for the next round of `c`. */
  await(c: WriteConfirmations): void {
    const ticket = c.ticket();
    const last = this.segs[this.segs.length - 1];
    if (last === undefined || last.c !== c || last.ticket !== ticket) this.segs.push({ c, ticket, bufs: [], tags: [] });
    if (this.on === undefined) this.register();
  }

  hold(buf: Buffer): void {
    const s = this.segs[this.segs.length - 1];
    s.bufs.push(buf);
    s.tags.push(this.tag);
    this.bytes += buf.length;
  }

  /** ConfirmWaiter: the round the first segment waits for. */
  get confirmTicket(): number {
    return this.segs.length > 0 ? this.segs[0].ticket : 0;
  }

  /** ConfirmWaiter. */
  confirmed(round: number): void {
    const c = this.on;
    this.on = undefined;
    if (this.owner.closed) return;
    this.pass(c, (s) => s.ticket <= round, undefined);
  }

  /** ConfirmWaiter. */
  unconfirmed(reason: string): void {
    const c = this.on;
    this.on = undefined;
    if (this.owner.closed) return;
    this.pass(c, () => true, reason);
  }

  /** Passes on the leading segments of confirmer `c` that `due` accepts — as they are, or, with a
   * `lost` reason, with their write replies replaced — then waits for the next segment. */
  private pass(c: WriteConfirmations | undefined, due: (s: Segment) => boolean, lost: string | undefined): void {
    let n = 0;
    while (n < this.segs.length && this.segs[n].c === c && due(this.segs[n])) n++;
    const out = this.segs.splice(0, n);
    let writes = 0;
    for (const s of out) {
      for (let i = 0; i < s.bufs.length; i++) {
        this.bytes -= s.bufs[i].length;
        const tag = s.tags[i];
        if (lost === undefined || tag < 0) this.owner.toClient(s.bufs[i]);
        else if (tag > 0) {
          writes += tag;
          this.owner.toClient(lostReplies(tag));
        }
      }
    }
    if (writes > 0) this.owner.unconfirmedWrites(writes, lost!);
    if (this.segs.length > 0) this.register();
    else {
      this.bytes = 0;
      this.owner.afterRelease();
    }
  }

  private register(): void {
    this.on = this.segs[0].c;
    this.on.wait(this);
  }

  /** The session closes: nothing more is passed on. */
  forget(): void {
    this.on?.forget(this);
    this.on = undefined;
    this.segs = [];
    this.bytes = 0;
  }
}
