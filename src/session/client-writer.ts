// The client writer: every byte the session sends its client goes through `write`, and every reason
// to stop reading the client is one bit of `paused` (STYLE.md "Sockets and flow": honour write()'s
// return, pause the producer, resume on 'drain'). When the client falls behind, what feeds it is
// paused: its own link (backpressure reaches the node), or, on the shared link that other sessions
// use, its own requests. With write confirmation (topology.writeSafety: safe), output that answers
// writes not yet held by a replica waits in the confirmation gate (./confirm-gate.ts), and
// everything after it, in order.
import type net from 'node:net';
import type { Logger } from '../logger.js';
import type { BackendLink } from './backend-link.js';
import type { SessionHost } from './host.js';
import { ConfirmGate, type ConfirmGateOwner, NO_CONFIRMER } from './confirm-gate.js';

/** A link's write buffer is full. */
export const PAUSE_BACKEND = 1;
/** Too many bytes held during a fence. */
export const PAUSE_HOLD = 2;
/** The session is closing: read nothing more. */
export const PAUSE_CLOSING = 4;
/** On the shared link, the client is not reading its replies fast enough. */
export const PAUSE_OUTPUT = 8;

/** The session's links (links.ts), which feed the client. */
export interface FeedingLinks {
  readonly link: BackendLink | undefined;
  readonly spare: BackendLink | undefined;
}

/** What the writer needs of its session. */
export interface WriterOwner {
  readonly log: Logger;
  readonly group: SessionHost;
  /** Closes a draining session once nothing is owed (held output included). */
  maybeFinish(): void;
}

export class ClientWriter implements ConfirmGateOwner {
  /** Why the client is not read: PAUSE_* bits; 0 = reading. */
  private paused = 0;
  /** The session is torn down: nothing more is written or resumed. */
  closed = false;
  /** Client output held until the writes it answers are confirmed; the splicer and the shared
   * lane set `gate.tag` around a write's reply. */
  readonly gate = new ConfirmGate(this);

  constructor(
    private readonly owner: WriterOwner,
    readonly socket: net.Socket,
    private readonly links: FeedingLinks,
  ) {}

  /** Bytes written but not yet taken by the kernel (the client output buffer). */
  get pending(): number {
    return this.socket.writableLength;
  }

  /** What the client has not read yet: the output buffer and the output held for confirmation. */
  get behind(): number {
    return this.socket.writableLength + this.gate.bytes;
  }

  write(buf: Buffer): void {
    if (this.closed) return;
    if (this.gate.holding) {
      this.gate.hold(buf);
      return;
    }
    this.toClient(buf);
  }

  /** ConfirmGateOwner: writes to the client past the confirmation gate. */
  toClient(buf: Buffer): void {
    if (this.closed) return;
    // (A write the kernel took at once leaves nothing buffered, even when it returned false.)
    if (!this.socket.write(buf) && this.socket.writableLength > 0) {
      // The client is behind: stop what feeds it — its own link, or (on the shared link, which
      // other sessions use) its requests.
      const link = this.links.link;
      if (link) link.socket.pause();
      else this.pause(PAUSE_OUTPUT);
    }
  }

  /** Replies about to be passed on answer commands the master at `addr` executed: while writes
   * among them are to be confirmed, what is passed on from now waits for its next round. */
  awaitConfirm(addr: string | undefined): void {
    if (addr === undefined) return;
    const c = this.owner.group.confirmations(addr);
    if (c === undefined) return;
    if (c === null) this.gate.await(NO_CONFIRMER);
    else if (c.active) this.gate.await(c);
  }

  /** ConfirmGateOwner: all held output was passed on. */
  afterRelease(): void {
    // No 'drain' will come unless a write() returned false: resume now what was paused for it.
    if (!this.socket.writableNeedDrain) this.onDrain();
    this.owner.maybeFinish();
  }

  /** ConfirmGateOwner. */
  unconfirmedWrites(n: number, reason: string): void {
    const o = this.owner;
    o.group.metrics.unconfirmed.inc(n);
    o.group.metrics.linkLost.inc(n);
    o.log.warn({ replies: n, reason }, 'writes the master answered were not confirmed by a replica: answered with the in-flight error');
  }

  /** The client read what was buffered: resume what was paused for it. */
  onDrain(): void {
    // The spare too: it may have been paused for this client before the links swapped.
    this.links.link?.socket.resume();
    this.links.spare?.socket.resume();
    this.resume(PAUSE_OUTPUT);
  }

  pause(bit: number): void {
    if (this.paused === 0) this.socket.pause();
    this.paused |= bit;
  }

  resume(bit: number): void {
    if ((this.paused & bit) === 0) return;
    this.paused &= ~bit;
    if (this.paused === 0 && !this.closed) this.socket.resume();
  }

  /** The session is torn down. */
  close(): void {
    this.closed = true;
    this.gate.forget();
  }
}
