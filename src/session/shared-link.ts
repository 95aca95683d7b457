// A backend connection shared by many stateless sessions (issue 7; twemproxy and predixy do the
// same). A session whose connection state is Redis's default (db 0, RESP2, no name, no client
// AUTH, no subscriptions, no transaction, nothing blocking) has nothing a node needs to remember
// between its commands, so its commands can be pipelined with other sessions' on one link: every
// session's commands of one event-loop iteration leave in one write, and the node answers them all
// in one read, instead of a read and a write per session on each side.
//
// Replies come back in the order the commands were written, so a FIFO of runs tells whose each
// is: a run is a session's consecutive commands (one client chunk's worth, typically), and the
// bytes of its replies are handed to the session as they arrive — one slice per run and node
// chunk, not one per reply. A session leaves for a link of its own (at a command boundary) before
// its first command that would give it state, and when it has more than `links.maxPipeline`
// commands in flight (bulk loaders: backpressure then applies to it alone).
import type net from 'node:net';
import type { Credentials, TlsClientOptions } from '../config/types.js';
import { ReplyFramer, ReplyProtocolError, type ReplyInfo } from '../resp/reply.js';
import { encodeCommand, PING } from '../resp/encode.js';
import { Deque } from './deque.js';
import { connectNode } from './connect.js';

/** Writes on the link not yet answered before the next may leave (see scheduleFlush). */
const MAX_WRITES_IN_FLIGHT = 1;
/** How long `end()` waits for the replies still owed (a shared link carries only plain commands,
 * answered at once by a node that works) before it cuts the link. */
const END_DEADLINE_MS = 5000;

/** What a session hands the shared link with its commands: told about replies, or their loss. */
export interface SharedWaiter {
  /**
   * Bytes of the node's replies to `token`'s commands, in order, as they arrive: `complete`
   * replies end within them, and the last bytes may begin a reply that continues in the next call.
   */
  onSharedData(token: unknown, bytes: Buffer, complete: number): void;
  /**
   * The link died with `left` of `token`'s commands unanswered. `sent` is false when they were never
   * written (they waited for a flush, or for the node's answer to the link's opening PING);
   * `midReply` when part of a reply to `token` was already handed over (the client's stream cannot
   * be completed).
   */
  onSharedLost(token: unknown, left: number, sent: boolean, midReply: boolean): void;
}

/** One waiter's consecutive commands on the link. */
interface Run {
  waiter: SharedWaiter | undefined; // undefined: the link's own AUTH
  token: unknown;
  /** Replies still to come. */
  left: number;
  /** Order of sending: runs up to `flushedSeq` were given to the socket. */
  seq: number;
}

export class SharedLink {
  readonly socket: net.Socket;
  private readonly framer = new ReplyFramer();
  private readonly pending = new Deque<Run>();
  /** The last run sent since the last flush, not yet written (a next command of the same waiter
   * and token joins it); undefined when nothing waits for a flush. The socket is corked while it
   * is set. */
  private tail: Run | undefined;
  /** A flush is scheduled (setImmediate). */
  private flushing = false;
  /** The last run of each write not yet fully answered: at most MAX_WRITES_IN_FLIGHT. */
  private readonly writeEnds = new Deque<Run>();
  private seq = 0;
  private flushedSeq = 0;
  /** The node answered the link's opening PING: commands go out from then on. */
  ready = false;
  private readonly gate: Run = { waiter: undefined, token: undefined, left: 1, seq: 0 };
  closed = false;

  // Reply delivery over one node chunk.
  private cur: Buffer | undefined;
  private from = 0;
  private complete = 0;

  constructor(
    readonly addr: string,
    readonly masterEpoch: number,
    opts: { tls?: TlsClientOptions; auth: Credentials; connectTimeoutMs: number },
    private readonly onGone: (link: SharedLink, err: Error | undefined) => void,
    private readonly onReadonly: () => void,
  ) {
    this.socket = connectNode(addr, opts.tls, opts.connectTimeoutMs, (chunk) => this.onData(chunk));
    // Nothing is sent before the node answers a PING. A TCP handshake alone proves little: when a
    // master is killed while a forked child of it (an RDB save, a full sync) lives on, the child
    // holds the listening socket and the kernel completes connections nobody will ever read.
    // Commands written into one would come back as "lost in flight" (maybe executed) although they
    // never ran; held until the PONG, they go to the new master instead when the link dies. The
    // PING counts as the write in flight, so commands wait for its answer (scheduleFlush).
    // (AUTH and PING leave in one write: the socket is corked as soon as commands are staged, and
    // a second write made before the connection is up would wait for the uncork, after the PONG.)
    let opening = PING;
    if (opts.auth.password !== undefined) {
      const a = opts.auth;
      opening = Buffer.concat([encodeCommand(a.username !== undefined ? ['AUTH', a.username, a.password!] : ['AUTH', a.password!]), PING]);
      this.pending.push({ waiter: undefined, token: undefined, left: 1, seq: 0 });
    }
    this.socket.write(opening);
    this.pending.push(this.gate);
    this.writeEnds.push(this.gate);
    let closeErr: Error | undefined;
    this.socket.on('error', (e) => (closeErr ??= e));
    this.socket.on('close', () => {
      this.closed = true;
      this.tail = undefined;
      let midReply = !this.framer.atBoundary;
      let r: Run | undefined;
      while ((r = this.pending.shift()) !== undefined) {
        // Commands still waiting for their write never reached the node: they may go again. (No
        // flush happens before the PONG, so a written run was written to a node that reads.)
        r.waiter?.onSharedLost(r.token, r.left, r.seq <= this.flushedSeq, midReply);
        midReply = false; // only the head run had bytes handed over
      }
      this.onGone(this, closeErr);
    });
  }

  /** Runs sent and not fully answered. */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Is `token` the waiter's run still open to more commands (not yet written)? */
  isOpenRun(waiter: SharedWaiter, token: unknown): boolean {
    const t = this.tail;
    return t !== undefined && t.waiter === waiter && t.token === token;
  }

  /** Sends `count` whole commands (`data`) for `waiter`; the writes of one event-loop iteration
   * leave together. */
  send(waiter: SharedWaiter, token: unknown, data: Buffer | Buffer[], count: number): void {
    if (this.closed || this.socket.destroyed) {
      // Raced with the link's end: nothing was written.
      waiter.onSharedLost(token, count, false, false);
      return;
    }
    const tail = this.tail;
    if (tail === undefined) this.socket.cork();
    if (tail !== undefined && tail.waiter === waiter && tail.token === token) tail.left += count;
    else {
      const run: Run = { waiter, token, left: count, seq: ++this.seq };
      this.pending.push(run);
      this.tail = run;
    }
    this.scheduleFlush();
    // Corked: the writes of every session leave in one writev at the flush.
    if (Array.isArray(data)) for (const d of data) this.socket.write(d);
    else this.socket.write(data);
  }

  private scheduleFlush(): void {
    // setImmediate, not nextTick: the check phase comes after every socket read of this loop
    // iteration, so all sessions' commands read in it leave in one write. While a write is still
    // unanswered, later commands wait for its replies (as Nagle's algorithm waits for an ACK): under
    // load each write then carries more commands, for the same latency, since the node answers a
    // batch faster than the proxy can read the next one from its clients.
    if (this.flushing || this.tail === undefined || this.writeEnds.length >= MAX_WRITES_IN_FLIGHT) return;
    this.flushing = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushing = false;
    const tail = this.tail;
    if (this.closed || tail === undefined) return;
    this.flushedSeq = this.seq;
    this.socket.uncork();
    // Later commands start a new run: this one's end marks the write as answered.
    this.writeEnds.push(tail);
    this.tail = undefined;
  };

  private onData(chunk: Buffer): void {
    // Two passes: find whose replies the chunk holds first, then hand them over — so that when
    // this chunk answers the write in flight, the commands staged meanwhile leave before the
    // proxy spends its time writing replies to clients, and the node works in the meantime.
    this.cur = chunk;
    this.from = 0;
    this.complete = 0;
    this.nDeliveries = 0;
    this.answered = false;
    let failed: Error | undefined;
    try {
      this.framer.push(chunk, this.onReply);
    } catch (err) {
      failed = err as Error;
    }
    this.cur = undefined;
    if (failed === undefined && this.from < chunk.length) {
      // The rest begins a reply (or continues one) of the head run: it is that run's too.
      const head = this.pending.peek();
      if (head === undefined) failed = new ReplyProtocolError('a reply nobody asked for');
      else this.deliver(head, this.from, chunk.length, this.complete);
    }
    if (this.answered && failed === undefined) this.flush();
    const n = this.nDeliveries;
    this.nDeliveries = 0;
    for (let i = 0; i < n; i++) {
      const run = this.dRun[i];
      this.dRun[i] = undefined;
      const from = this.dFrom[i];
      const end = this.dEnd[i];
      run!.waiter!.onSharedData(run!.token, from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end), this.dCount[i]);
    }
    if (failed !== undefined) this.socket.destroy(failed);
  }

  // Pass one's findings: run, byte range of the chunk, replies completed in it.
  private dRun: (Run | undefined)[] = [];
  private dFrom: number[] = [];
  private dEnd: number[] = [];
  private dCount: number[] = [];
  private nDeliveries = 0;
  /** The chunk completed the write in flight. */
  private answered = false;

  private deliver(run: Run, from: number, end: number, count: number): void {
    if (run.waiter === undefined) return; // the link's own AUTH
    const i = this.nDeliveries++;
    this.dRun[i] = run;
    this.dFrom[i] = from;
    this.dEnd[i] = end;
    this.dCount[i] = count;
  }

  private readonly onReply = (end: number, info: ReplyInfo): void => {
    const head = this.pending.peek();
    if (head === undefined) throw new ReplyProtocolError('a reply nobody asked for');
    if (info.type === 0x2d /* - */) {
      if (head.waiter === undefined && head !== this.gate) {
        // The link's own AUTH failed: nothing sent on it can succeed. (An error to the PING, such
        // as NOAUTH, still shows a node that reads: commands go, and their replies say why.)
        throw new Error(`AUTH on shared link refused (${info.errorCode})`);
      }
      if (info.errorCode === 'READONLY') this.onReadonly();
    }
    this.complete++;
    if (--head.left > 0) return;
    // The run is answered: its bytes go to its waiter in one piece.
    this.pending.shift();
    if (this.writeEnds.peek() === head) {
      this.writeEnds.shift();
      this.answered = true;
      if (head === this.gate) this.ready = true;
    }
    const from = this.from;
    this.from = end;
    const n = this.complete;
    this.complete = 0;
    this.deliver(head, from, end, n);
  };

  /** Close once every command written has its reply; a node that has not answered them all
   * within `END_DEADLINE_MS` is cut (its waiters are told the commands were lost). */
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    const deadline = Date.now() + END_DEADLINE_MS;
    const check = () => {
      if (this.closed) return;
      if (this.pending.length === 0) this.socket.end();
      else if (Date.now() >= deadline) this.socket.destroy(new Error('replies still owed at the end deadline'));
      else setTimeout(check, 50).unref();
    };
    check();
  }
  private ending = false;

  destroy(): void {
    if (!this.closed) this.socket.destroy();
  }
}
