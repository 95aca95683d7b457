// The client writer: every byte the session sends its client goes through `write`, and every reason
// to stop reading the client is one bit of `paused` (STYLE.md "Sockets and flow": honour write()'s
// return, pause the producer, resume on 'drain'). When the client falls behind, what feeds it is
// paused: its own link (backpressure reaches the node), or, on the shared link that other sessions
// use, its own requests.
import type net from 'node:net';
import type { BackendLink } from './backend-link.js';

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

export class ClientWriter {
  /** Why the client is not read: PAUSE_* bits; 0 = reading. */
  private paused = 0;
  /** The session is torn down: nothing more is written or resumed. */
  private closed = false;

  constructor(
    readonly socket: net.Socket,
    private readonly links: FeedingLinks,
  ) {}

  /** Bytes written but not yet taken by the kernel (the client output buffer). */
  get pending(): number {
    return this.socket.writableLength;
  }

  write(buf: Buffer): void {
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
  }
}
