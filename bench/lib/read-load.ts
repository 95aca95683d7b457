// Plain clients doing GET through the proxy (the partition lab's read scenarios, issue 19): raw
// sockets, one GET in flight per client, never retried. Records what an application would see:
// replies, error replies by code word, disconnects, and how long each GET waited for its reply.
// The keys need not exist (`$-1` is a reply like any other): what is measured is the wait.
import net from 'node:net';

export interface ReadLoadStats {
  /** GETs answered with a bulk string or a null. */
  ops: number;
  errors: Map<string, number>;
  /** The first full line seen per code word. */
  errorSamples: Map<string, string>;
  disconnects: number;
  longestStallMs: number;
  /** GETs that waited at least `stallEventMs` (at most 5000 kept): when sent, when answered (or
   * their connection ended). */
  stalls: Array<{ sentAt: number; t: number }>;
  /** GETs still unanswered when stop() gave up waiting. */
  unansweredAtStop: number;
}

export interface ReadLoad {
  stats: ReadLoadStats;
  /** Resolves true once `stats.ops` has grown by `more` (false after `timeoutMs`). */
  waitOps(more: number, timeoutMs: number): Promise<boolean>;
  /** Stops issuing GETs; resolves when every client got its last reply or was closed. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ReadLoadOptions {
  host?: string;
  /** Keys are `${prefix}:${i}`. */
  prefix?: string;
  stallEventMs?: number;
  reconnectDelayMs?: number;
}

const MAX_STALLS = 5000;

/** Length of the first complete RESP2 reply of a GET in `buf` (a line, or a bulk string), or -1
 * when it is not all there yet. */
function replyLength(buf: Buffer): number {
  const nl = buf.indexOf('\r\n');
  if (nl < 0) return -1;
  if (buf[0] !== 0x24 /* $ */) return nl + 2;
  const n = Number(buf.toString('latin1', 1, nl));
  if (n < 0) return nl + 2;
  const end = nl + 2 + n + 2;
  return buf.length >= end ? end : -1;
}

export function startReadLoad(port: number, clients: number, opts: ReadLoadOptions = {}): ReadLoad {
  const host = opts.host ?? '127.0.0.1';
  const prefix = opts.prefix ?? 'rd';
  const stallEventMs = opts.stallEventMs ?? 200;
  const reconnectDelayMs = opts.reconnectDelayMs ?? 100;
  const stats: ReadLoadStats = { ops: 0, errors: new Map(), errorSamples: new Map(), disconnects: 0, longestStallMs: 0, stalls: [], unansweredAtStop: 0 };
  let stopping = false;
  const waiters = new Set<() => void>();
  const workers: Array<{ done: Promise<void>; kill: () => void; inFlight: () => boolean }> = [];

  const noteWait = (sentAt: number, t: number) => {
    const ms = t - sentAt;
    if (ms > stats.longestStallMs) stats.longestStallMs = ms;
    if (ms >= stallEventMs && stats.stalls.length < MAX_STALLS) stats.stalls.push({ sentAt, t });
  };

  for (let i = 0; i < clients; i++) {
    const key = `${prefix}:${i}`;
    const cmd = Buffer.from(`*2\r\n$3\r\nGET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`, 'latin1');
    let sock: net.Socket | undefined;
    let sentAt = 0;
    let inFlight = false;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));

    const connect = (): void => {
      const s = net.connect({ port, host });
      sock = s;
      s.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      const send = (): void => {
        if (stopping) {
          s.end();
          return;
        }
        sentAt = Date.now();
        inFlight = true;
        s.write(cmd);
      };
      s.on('connect', send);
      s.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        let len: number;
        while (buf.length > 0 && (len = replyLength(buf)) > 0) {
          const reply = buf.subarray(0, len);
          buf = buf.subarray(len);
          inFlight = false;
          noteWait(sentAt, Date.now());
          if (reply[0] === 0x2d /* - */) {
            const line = reply.toString('latin1', 1, reply.length - 2);
            const code = line.split(' ')[0] ?? '';
            stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
            if (!stats.errorSamples.has(code)) stats.errorSamples.set(code, line);
          } else if (reply[0] === 0x24 /* $ */) {
            stats.ops++;
          } else {
            const code = `UNEXPECTED(${JSON.stringify(reply.toString('latin1', 0, Math.min(20, reply.length)))})`;
            stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
          }
          send();
        }
        for (const w of waiters) w();
      });
      s.on('error', () => {
        /* 'close' follows */
      });
      s.on('close', () => {
        if (sock !== s) return;
        if (inFlight) {
          noteWait(sentAt, Date.now());
          inFlight = false;
        }
        if (stopping) {
          resolveDone();
          return;
        }
        stats.disconnects++;
        setTimeout(() => (stopping ? resolveDone() : connect()), reconnectDelayMs);
      });
    };
    connect();
    workers.push({
      done,
      kill: () => {
        if (sock && !sock.destroyed) sock.destroy();
        resolveDone();
      },
      inFlight: () => inFlight,
    });
  }

  return {
    stats,
    waitOps(more: number, timeoutMs: number): Promise<boolean> {
      const target = stats.ops + more;
      return new Promise((resolve) => {
        const check = () => {
          if (stats.ops < target) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          resolve(false);
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop(timeoutMs = 15_000): Promise<void> {
      stopping = true;
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.all(workers.map((w) => w.done));
      const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
      clearTimeout(timer);
      if (timedOut) {
        for (const w of workers) {
          if (w.inFlight()) stats.unansweredAtStop++;
          w.kill();
        }
        await all;
      }
    },
  };
}
