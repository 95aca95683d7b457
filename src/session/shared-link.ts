// A backend connection shared by many stateless sessions (issue 7; twemproxy and predixy do the
// same). A session whose connection state is Redis's default (db 0, RESP2, no name, no client
// AUTH, no subscriptions, no transaction, nothing blocking) and that sends one command at a time
// has nothing a node needs to remember between its commands, so its commands can be pipelined with
// other sessions' on one link: every session's writes of one event-loop iteration leave in one
// write, and the node answers them all in one read — half the system calls of a link per session.
// Replies come back in the order the commands were written, so a FIFO tells whose each is. A
// session leaves for a link of its own (at a command boundary) before its first command that would
// give it state, and as soon as it pipelines (so backpressure applies to it alone).
import type net from 'node:net';
import type { Credentials, TlsClientOptions } from '../config/types.js';
import { ReplyFramer, ReplyProtocolError, type ReplyInfo } from '../resp/reply.js';
import { encodeCommand } from '../resp/encode.js';
import { Deque } from './deque.js';
import { connectNode } from './connect.js';

/** What a session hands the shared link with each command: told about its reply, or its loss. */
export interface SharedWaiter {
  onSharedReply(token: unknown, bytes: Buffer[], info: ReplyInfo): void;
  /** The link died with this command sent and unanswered (`sent`), or before it was written. */
  onSharedLost(token: unknown, sent: boolean): void;
}

interface Pending {
  waiter: SharedWaiter | undefined; // undefined: the link's own AUTH
  token: unknown;
}

export class SharedLink {
  readonly socket: net.Socket;
  private readonly framer = new ReplyFramer();
  private readonly pending = new Deque<Pending>();
  private partial: Buffer[] = [];
  private corked = false;
  connected = false;
  closed = false;

  constructor(
    readonly addr: string,
    readonly masterEpoch: number,
    opts: { tls?: TlsClientOptions; auth: Credentials; connectTimeoutMs: number },
    private readonly onGone: (link: SharedLink, err: Error | undefined) => void,
    private readonly onReadonly: () => void,
  ) {
    this.socket = connectNode(addr, opts.tls, opts.connectTimeoutMs, () => (this.connected = true));
    if (opts.auth.password !== undefined) {
      const a = opts.auth;
      this.socket.write(encodeCommand(a.username !== undefined ? ['AUTH', a.username, a.password!] : ['AUTH', a.password!]));
      this.pending.push({ waiter: undefined, token: undefined });
    }
    let closeErr: Error | undefined;
    this.socket.on('error', (e) => (closeErr ??= e));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('close', () => {
      this.closed = true;
      const wasConnected = this.connected;
      let p: Pending | undefined;
      while ((p = this.pending.shift()) !== undefined) p.waiter?.onSharedLost(p.token, wasConnected);
      this.onGone(this, closeErr);
    });
  }


  get inFlight(): number {
    return this.pending.length;
  }

  /** Sends one command for `waiter`; the writes of one event-loop iteration leave together. */
  send(waiter: SharedWaiter, token: unknown, data: Buffer | Buffer[]): void {
    if (this.closed || this.socket.destroyed) {
      // Raced with the link's end: nothing was written.
      waiter.onSharedLost(token, false);
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      // setImmediate, not nextTick: the check phase comes after every socket read of this loop
      // iteration, so all sessions' commands read in it leave in one write.
      setImmediate(this.uncork);
    }
    if (Array.isArray(data)) for (const d of data) this.socket.write(d);
    else this.socket.write(data);
    this.pending.push({ waiter, token });
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private onData(chunk: Buffer): void {
    let start = 0;
    try {
      this.framer.push(chunk, (end, info) => {
        const p = this.pending.shift();
        let bytes: Buffer[];
        if (this.partial.length > 0) {
          bytes = this.partial;
          bytes.push(chunk.subarray(0, end));
          this.partial = [];
        } else {
          bytes = [chunk.subarray(start, end)];
        }
        start = end;
        if (p === undefined) throw new ReplyProtocolError('a reply nobody asked for');
        if (p.waiter === undefined) {
          if (info.type === 0x2d) {
            // The link's own AUTH failed: nothing sent on it can succeed.
            this.socket.destroy(new Error(`AUTH on shared link refused (${info.errorCode})`));
          }
          return;
        }
        if (info.type === 0x2d && info.errorCode === 'READONLY') this.onReadonly();
        p.waiter.onSharedReply(p.token, bytes, info);
      });
    } catch (err) {
      this.socket.destroy(err as Error);
      return;
    }
    if (start < chunk.length) this.partial.push(start === 0 ? chunk : chunk.subarray(start));
  }

  /** Close once every command written has its reply. */
  end(): void {
    if (this.closed) return;
    if (this.pending.length === 0) this.socket.end();
    else this.endWhenIdle = true;
  }

  private set endWhenIdle(v: boolean) {
    if (!v) return;
    const check = () => {
      if (this.closed) return;
      if (this.pending.length === 0) this.socket.end();
      else setTimeout(check, 50).unref();
    };
    check();
  }

  destroy(): void {
    if (!this.closed) this.socket.destroy();
  }
}
