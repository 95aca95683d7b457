// One connection from a session to a Redis node. It knows nothing of sessions: it frames replies
// and reports bytes, drain and close to its owner, tagged with the master epoch it was opened for,
// so callbacks from a link the session has since replaced are recognised and dropped.
import type net from 'node:net';
import type { TlsClientOptions } from '../config/types.js';
import { ReplyFramer } from '../resp/reply.js';
import { connectNode } from './connect.js';

export interface LinkHandlers {
  onData(link: BackendLink, chunk: Buffer): void;
  onDrain(link: BackendLink): void;
  onClose(link: BackendLink, err: Error | undefined): void;
}

export interface LinkOptions {
  addr: string;
  masterEpoch: number;
  tls?: TlsClientOptions;
  connectTimeoutMs: number;
}

let nextLinkId = 1;

export class BackendLink {
  readonly id = nextLinkId++;
  readonly addr: string;
  readonly masterEpoch: number;
  readonly socket: net.Socket;
  readonly framer = new ReplyFramer();
  /** The TCP (and TLS) handshake completed: bytes written from here on may have reached the node. */
  connected = false;
  closed = false;
  /** `CLIENT ID` of this connection on the node, when the session asked for it (CLIENT UNBLOCK). */
  clientId: number | undefined;
  clientIdRequested = false;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(opts: LinkOptions, private readonly handlers: LinkHandlers) {
    this.addr = opts.addr;
    this.masterEpoch = opts.masterEpoch;
    this.socket = connectNode(opts.addr, opts.tls, opts.connectTimeoutMs, () => (this.connected = true), (chunk) => this.handlers.onData(this, chunk));
    this.socket.on('drain', () => this.handlers.onDrain(this));
    this.socket.on('error', () => {
      /* reported through 'close' */
    });
    let closeErr: Error | undefined;
    this.socket.once('error', (e) => (closeErr = e));
    this.socket.on('close', () => {
      this.closed = true;
      if (this.endTimer) clearTimeout(this.endTimer);
      this.handlers.onClose(this, closeErr);
    });
  }


  write(data: Buffer | Buffer[]): boolean {
    if (Array.isArray(data)) {
      let ok = true;
      for (const d of data) ok = this.socket.write(d);
      return ok;
    }
    return this.socket.write(data);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Graceful close: FIN after pending writes, destroyed if the node does not close in time. */
  end(): void {
    if (this.closed) return;
    this.socket.end();
    this.endTimer ??= setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Cut at once (the node is suspect). Safe to call twice. */
  destroy(): void {
    if (!this.closed) this.socket.destroy();
  }
}
