// One connection from a session to a Redis node. It knows nothing of sessions: it frames replies
// and reports bytes, drain and close to its owner, tagged with the master epoch it was opened for,
// so callbacks from a link the session has since replaced are recognised and dropped.
//
// Nothing the session writes leaves before the node answers a PING (the shared link does the same,
// see shared-link.ts): a completed TCP handshake proves little when a killed master's forked child
// (an RDB save, a full sync) still holds the listening socket, or the master is frozen — the kernel
// accepts connections nobody reads. Commands written into one would come back as "lost in flight
// (maybe executed)" although they never ran; held until the PONG, they go to the new master
// instead when the link is cut.
import type net from 'node:net';
import type { TlsClientOptions } from '../config/types.js';
import { ReplyFramer } from '../resp/reply.js';
import { PING } from '../resp/encode.js';
import { connectNode } from './connect.js';
import type { OnChunk } from './socket-reads.js';

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
  /** Opens the connection instead of connectNode (unit tests: a stream with no network behind
   * it, test/helpers/fake-owners.ts); `onChunk` gets the node's bytes. */
  connect?: (onChunk: OnChunk) => net.Socket;
}

/** Longest answer to the opening PING awaited: Redis's are one short line (+PONG, -NOAUTH ...). */
const MAX_PING_ANSWER = 64 * 1024;

let nextLinkId = 1;

/** Every open link, so a node found unreachable (topology/master-probe.ts) can have all of its
 * links cut at once, whoever owns them. */
const openLinks = new Set<BackendLink>();

/** Cuts every open link to `addr` (a partition: TCP would otherwise retransmit for many seconds
 * before its owner hears of it). Returns how many. */
export function destroyLinksTo(addr: string): number {
  let n = 0;
  for (const l of openLinks) {
    if (l.addr === addr) {
      l.destroy();
      n++;
    }
  }
  return n;
}

export class BackendLink {
  readonly id = nextLinkId++;
  readonly addr: string;
  readonly masterEpoch: number;
  readonly socket: net.Socket;
  readonly framer = new ReplyFramer();
  /** The node answered the link's opening PING: what the session wrote (held until then) went to
   * a node that reads. While false, nothing but the PING has left. */
  connected = false;
  /** Bytes of the PING's answer (one line) read so far, until its '\n' comes. */
  private answered = 0;
  closed = false;
  /** `CLIENT ID` of this connection on the node, when the session asked for it (CLIENT UNBLOCK). */
  clientId: number | undefined;
  clientIdRequested = false;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(opts: LinkOptions, private readonly handlers: LinkHandlers) {
    this.addr = opts.addr;
    this.masterEpoch = opts.masterEpoch;
    const onChunk = (chunk: Buffer) => this.onChunk(chunk);
    this.socket = opts.connect ? opts.connect(onChunk) : connectNode(opts.addr, opts.tls, opts.connectTimeoutMs, onChunk);
    // The PING goes first, alone (queued until the connection is up); everything after it waits
    // in the corked socket for its answer.
    this.socket.write(PING);
    this.socket.cork();
    this.socket.on('drain', () => this.handlers.onDrain(this));
    this.socket.on('error', () => {
      /* reported through 'close' */
    });
    let closeErr: Error | undefined;
    this.socket.once('error', (e) => (closeErr = e));
    openLinks.add(this);
    this.socket.on('close', () => {
      openLinks.delete(this);
      this.closed = true;
      if (this.endTimer) clearTimeout(this.endTimer);
      this.handlers.onClose(this, closeErr);
    });
  }

  private onChunk(chunk: Buffer): void {
    if (!this.connected) {
      // The answer to PING is one line: +PONG, or an error (-NOAUTH before the session's AUTH,
      // -LOADING ...) that still shows a node that reads; the replies after it are the session's.
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        // A PING answer is a short line: a node sending more without a line end is not Redis.
        this.answered += chunk.length;
        if (this.answered > MAX_PING_ANSWER) this.socket.destroy(new Error(`the node answered PING with no line end in ${this.answered} bytes`));
        return;
      }
      this.connected = true;
      this.socket.uncork();
      if (nl + 1 === chunk.length) return;
      chunk = chunk.subarray(nl + 1);
    }
    this.handlers.onData(this, chunk);
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
