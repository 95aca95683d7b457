// Fakes for testing one session part alone (test/unit/parts/*.test.ts): no sockets, no Session.
// Each part is driven through the small owner interface it defines (docs/session.md); these are
// the pieces those owners are made of:
// - `testHost`: the group as a session sees it (SessionHost; fake-host.ts's, with the reports a
//   part makes recorded);
// - `StubClient`: the client socket as the client writer uses it (write's return value, the bytes
//   the client has not read, pause/resume, 'drain');
// - `fakeLink`: a real BackendLink over a stream.Duplex instead of a TCP connection (`fakeConn`,
//   LinkOptions.connect) — what the proxy writes is captured, what the node "sends" is handed to
//   the link as if read; `FakeConnector` for a part that opens links itself (Links.connect);
// - `commands`: commands framed by the real request framer from the packaged command table;
// - `entry`: a reply-queue entry.
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { pino } from 'pino';
import type { Logger } from '../../src/logger.js';
import { CommandTable, type CommandSpec } from '../../src/commands/table.js';
import { type Command, RequestFramer } from '../../src/resp/request.js';
import { encodeCommand } from '../../src/resp/encode.js';
import { BackendLink, type LinkHandlers } from '../../src/session/backend-link.js';
import { type Entry, type EntryKind, newEntry } from '../../src/session/reply-queue.js';
import type { GroupConfigInput } from '../../src/config/defaults.js';
import type { WriteConfirmations } from '../../src/topology/types.js';
import type { SessionHost } from '../../src/session/host.js';
import { fakeHost, type FakeHost } from './fake-host.js';

export type Cmd = Command<CommandSpec>;

export const table = CommandTable.packaged();
export const silentLog: Logger = pino({ level: 'silent' }) as unknown as Logger;

/** The group as a part sees it, with what the part reported. */
export type TestHost = FakeHost &
  SessionHost & {
    /** onReadonly reports (the node's address). */
    readonly readonlys: (string | undefined)[];
    /** onLinkLost reports. */
    readonly linksLost: string[];
    /** What `confirmations(addr)` returns (write confirmation; undefined: none needed). */
    confirmer: WriteConfirmations | null | undefined;
  };

export function testHost(master: string | undefined = '10.0.0.1:6379', over: Partial<GroupConfigInput> = {}): TestHost {
  const h = fakeHost(master, over) as unknown as TestHost & Record<string, unknown>;
  const readonlys: (string | undefined)[] = [];
  const linksLost: string[] = [];
  Object.assign(h, {
    readonlys,
    linksLost,
    confirmer: undefined,
    onReadonly: (addr: string | undefined) => readonlys.push(addr),
    onLinkLost: (addr: string) => linksLost.push(addr),
    confirmations: () => h.confirmer,
  });
  return h;
}

/** The group's settings, changed in place (a part reads them at the moment of use). */
export function setLimits(h: FakeHost, limits: Partial<FakeHost['config']['limits']>, failover: Partial<FakeHost['config']['failover']> = {}): void {
  (h as { config: unknown }).config = {
    ...h.config,
    limits: { ...h.config.limits, ...limits },
    failover: { ...h.config.failover, ...failover },
  };
}

/**
 * The client socket, as the client writer uses it. Bytes written are recorded; with `slow`, they
 * stay in the output buffer (`writableLength`) until `drain()`, and write() returns false once
 * `highWaterMark` bytes are buffered, as a socket's does.
 */
export class StubClient extends EventEmitter {
  readonly chunks: Buffer[] = [];
  writableLength = 0;
  highWaterMark = 16 * 1024;
  /** The client does not read: written bytes stay buffered. */
  slow = false;
  paused = false;
  pauses = 0;
  resumes = 0;
  corks = 0;
  destroyed = false;

  /** A write returned false: 'drain' will be emitted once the buffer empties (as Node's
   * writable.writableNeedDrain; no 'drain' otherwise). */
  writableNeedDrain = false;

  write(buf: Buffer): boolean {
    this.chunks.push(buf);
    if (this.slow) this.writableLength += buf.length;
    const ok = this.writableLength < this.highWaterMark;
    if (!ok) this.writableNeedDrain = true;
    return ok;
  }

  /** The client read everything buffered: 'drain' if a write had returned false. */
  drain(): void {
    this.writableLength = 0;
    if (!this.writableNeedDrain) return;
    this.writableNeedDrain = false;
    this.emit('drain');
  }

  pause(): this {
    this.paused = true;
    this.pauses++;
    return this;
  }

  resume(): this {
    this.paused = false;
    this.resumes++;
    return this;
  }

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    this.corks--;
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** Everything written, as one string (latin1). */
  get text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  asSocket(): net.Socket {
    return this as unknown as net.Socket;
  }
}

export interface FakeNode {
  readonly link: BackendLink;
  readonly socket: Duplex;
  /** What the proxy wrote to the node (after the opening PING), one Buffer per write. */
  readonly writes: Buffer[];
  /** The node sends `bytes` (handed to the link as read from the socket). */
  send(bytes: string | Buffer): void;
  /** Everything written, as one string. */
  readonly text: string;
}

/** A node's end of a connection with no network: a stream.Duplex whose writes are captured. */
export interface FakeConn {
  readonly socket: Duplex;
  /** What the proxy wrote, one Buffer per write. */
  readonly writes: Buffer[];
  /** The node sends `bytes` (handed to the owner as read from the socket). */
  send(bytes: string | Buffer): void;
  /** Everything written, as one string. */
  readonly text: string;
}

/** A connection for LinkOptions.connect: `highWaterMark` is its write buffer; with `stall`,
 * writes are never taken (write() returns false once it is full). */
export function fakeConn(opts: { highWaterMark?: number; stall?: boolean } = {}): FakeConn & { connect: (onChunk: (b: Buffer) => void) => net.Socket } {
  const writes: Buffer[] = [];
  let onChunk: ((b: Buffer) => void) | undefined;
  const socket = new Duplex({
    highWaterMark: opts.highWaterMark ?? 16 * 1024,
    read() {},
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk);
      if (!opts.stall) cb();
    },
    writev(chunks, cb) {
      for (const c of chunks) writes.push(c.chunk as Buffer);
      if (!opts.stall) cb();
    },
  });
  // The proxy ends the link (FIN): the node closes its side too, as Redis does.
  socket.on('finish', () => socket.destroy());
  return {
    socket,
    writes,
    send: (bytes) => onChunk!(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes),
    get text() {
      return Buffer.concat(writes).toString('latin1');
    },
    connect: (cb) => {
      onChunk = cb;
      return socket as unknown as net.Socket;
    },
  };
}

/** LinkOptions.connect for a part that opens links itself (links.ts): each connection opened is
 * kept, in order. */
export class FakeConnector {
  readonly opened: FakeConn[] = [];
  readonly connect = (onChunk: (b: Buffer) => void): net.Socket => {
    const c = fakeConn();
    this.opened.push(c);
    return c.connect(onChunk);
  };
}

export interface FakeNode extends FakeConn {
  readonly link: BackendLink;
}

/**
 * A BackendLink with no network (fakeConn). `connected` (default true): the node has answered the
 * opening PING.
 */
export function fakeLink(opts: { addr?: string; masterEpoch?: number; connected?: boolean; highWaterMark?: number; stall?: boolean; handlers?: Partial<LinkHandlers> } = {}): FakeNode {
  const conn = fakeConn(opts);
  const handlers: LinkHandlers = {
    onData: opts.handlers?.onData ?? (() => {}),
    onDrain: opts.handlers?.onDrain ?? (() => {}),
    onClose: opts.handlers?.onClose ?? (() => {}),
  };
  const link = new BackendLink({ addr: opts.addr ?? '10.0.0.1:6379', masterEpoch: opts.masterEpoch ?? 1, connectTimeoutMs: 1000, connect: conn.connect }, handlers);
  if (opts.connected ?? true) {
    conn.send('+PONG\r\n');
    conn.writes.length = 0; // the opening PING
  }
  return {
    link,
    socket: conn.socket,
    writes: conn.writes,
    send: conn.send,
    get text() {
      return conn.text;
    },
  };
}

/** Frames `cmds` (each a list of words) as one client chunk, with the packaged command table. */
export function commands(...cmds: (string | Buffer | number)[][]): Cmd[] {
  return framed(Buffer.concat(cmds.map((c) => encodeCommand(c))));
}

/** One command. */
export function command(...words: (string | Buffer | number)[]): Cmd {
  return commands(words)[0];
}

/** The commands framed from `chunk` (one chunk: their `src` is `chunk`). */
export function framed(chunk: Buffer): Cmd[] {
  const out: Cmd[] = [];
  const err = newFramer().push(chunk, (c) => out.push(c));
  if (err) throw err;
  return out;
}

export function newFramer(): RequestFramer<CommandSpec> {
  return new RequestFramer<CommandSpec>({ lookup: (b, s, e) => table.lookup(b, s, e) }, { maxBulkBytes: 512 * 1024 * 1024, maxMultibulkLength: 1 << 30 }, (spec) => spec.subcommands !== undefined);
}

/** A reply-queue entry (`newEntry`'s shape) with fields set. */
export function entry(kind: EntryKind, cmd: Cmd | undefined, over: Partial<Entry> = {}): Entry {
  return Object.assign(newEntry(kind, cmd, undefined, Date.now(), performance.now()), over);
}

/** Waits until `cond()` holds (polling each turn of the event loop), at most `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A write confirmer driven by the test: `round` is the next ticket; waiters are kept. */
export class TestConfirmer implements WriteConfirmations {
  readonly waiters: { confirmTicket: number; confirmed(r: number): void; unconfirmed(reason: string): void }[] = [];
  round = 1;
  active = true;
  forgotten = 0;
  constructor(readonly addr = '10.0.0.1:6379') {}
  ticket(): number {
    return this.round;
  }
  wait(w: TestConfirmer['waiters'][number]): void {
    this.waiters.push(w);
  }
  forget(w: TestConfirmer['waiters'][number]): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    this.forgotten++;
  }
  /** Round `r` confirmed: waiters whose ticket it covers are told (and leave). */
  confirm(r: number): void {
    const due = this.waiters.filter((w) => w.confirmTicket <= r);
    for (const w of due) this.waiters.splice(this.waiters.indexOf(w), 1);
    for (const w of due) w.confirmed(r);
  }
  /** No round will confirm the waiters. */
  fail(reason: string): void {
    const all = this.waiters.splice(0);
    for (const w of all) w.unconfirmed(reason);
  }
}
