// Plain clients doing INCR on their own counters through the proxy (started from
// test/helpers/load.ts, extended for the failover drill): raw sockets, one INCR in flight per
// client, no command is ever retried. Records what an application would see: acknowledged values,
// error replies by code word, disconnects, and how long each command waited for its reply, each
// with a timestamp so the drill can line them up with the topology events.
import net from 'node:net';

export interface LoadEvent {
  /** Date.now() of the event (for a stall: when the reply finally came). */
  t: number;
  client: number;
  kind: 'error' | 'disconnect' | 'stall' | 'connect';
  /** Error code word (ERR, MASTERDOWN, TRYAGAIN, READONLY, ...). */
  code?: string;
  /** The whole error line, for errors. */
  line?: string;
  /** When the command was sent (errors, stalls, disconnects with a command in flight). */
  sentAt?: number;
  stallMs?: number;
}

export interface ClientStats {
  key: string;
  ops: number;
  errors: number;
  disconnects: number;
  /** Highest acknowledged value of this client's counter. */
  acked: number;
  longestStallMs: number;
  /** The last acknowledged value (after a discarded stretch, below `acked`). */
  last: number;
  /** Acknowledged writes a later reply proved discarded: a reply v at or below the value
   * acknowledged just before (p) means the writes that had produced v..p are gone (p - v + 1). */
  discarded: number;
}

export interface LoadStats {
  /** Acknowledged INCRs (integer replies). */
  ops: number;
  /** Error replies by code word. */
  errors: Map<string, number>;
  /** The first full line seen per code word. */
  errorSamples: Map<string, string>;
  /** Connections closed by the other side (or failed) while the load was running. */
  disconnects: number;
  /** Longest wait between sending a command and its reply (or its connection's end). */
  longestStallMs: number;
  /** When that command was sent (Date.now()). */
  longestStallSentAt: number;
  /** Highest acknowledged value per counter key. */
  acked: Map<string, number>;
  perClient: ClientStats[];
  /** Errors, disconnects, reconnects, and commands that waited at least `stallEventMs`. */
  events: LoadEvent[];
  /** Commands still unanswered when stop() gave up waiting. */
  unansweredAtStop: number;
  /** Sum of the clients' `discarded`: acknowledged writes lost while the load ran (a counter that
   * went backwards). The final check (highest acknowledged minus the final value) misses these
   * once the counter has grown past its old high again. */
  discarded: number;
}

export interface IncrLoadOptions {
  host?: string;
  /** Counter keys are `${prefix}:${i}`. */
  prefix?: string;
  /** After a disconnect, open a new connection (the command that was in flight is NOT retried).
   * Default true: keeps every counter moving so later phases are still measured. */
  reconnect?: boolean;
  reconnectDelayMs?: number;
  /** Replies slower than this are recorded as 'stall' events (default 200 ms). */
  stallEventMs?: number;
}

export interface Load {
  stats: LoadStats;
  readonly clients: number;
  /** Resolves true once `stats.ops` has grown by `more` (false after `timeoutMs`). */
  waitOps(more: number, timeoutMs: number): Promise<boolean>;
  /** Stops issuing commands; resolves when every client got its last reply or was closed. After
   * `timeoutMs` the remaining sockets are destroyed (and counted in `unansweredAtStop`). */
  stop(timeoutMs?: number): Promise<void>;
}

const CRLF = '\r\n';

export function startIncrLoad(port: number, clients: number, opts: IncrLoadOptions = {}): Load {
  const host = opts.host ?? '127.0.0.1';
  const prefix = opts.prefix ?? 'ctr';
  const reconnect = opts.reconnect ?? true;
  const reconnectDelayMs = opts.reconnectDelayMs ?? 100;
  const stallEventMs = opts.stallEventMs ?? 200;
  const stats: LoadStats = {
    ops: 0,
    errors: new Map(),
    errorSamples: new Map(),
    disconnects: 0,
    longestStallMs: 0,
    longestStallSentAt: 0,
    acked: new Map(),
    perClient: [],
    events: [],
    unansweredAtStop: 0,
    discarded: 0,
  };
  let stopping = false;
  const opWaiters = new Set<() => void>();
  const notifyOps = () => {
    for (const w of opWaiters) w();
  };

  const workers: { done: Promise<void>; kill: () => void; inFlight: () => boolean }[] = [];

  for (let i = 0; i < clients; i++) {
    const key = `${prefix}:${i}`;
    const cs: ClientStats = { key, ops: 0, errors: 0, disconnects: 0, acked: 0, longestStallMs: 0, last: 0, discarded: 0 };
    stats.perClient.push(cs);
    const cmd = Buffer.from(`*2\r\n$4\r\nINCR\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`, 'latin1');
    let sock: net.Socket | undefined;
    let sentAt = 0;
    let inFlight = false;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));

    const noteStall = (ms: number, at: number) => {
      if (ms > cs.longestStallMs) cs.longestStallMs = ms;
      if (ms > stats.longestStallMs) {
        stats.longestStallMs = ms;
        stats.longestStallSentAt = at;
      }
    };

    const connect = (): void => {
      const s = net.connect({ port, host });
      sock = s;
      s.setNoDelay(true);
      let buf = '';
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
        buf += chunk.toString('latin1');
        // One command in flight at a time and INCR's replies are one line each.
        let nl: number;
        while ((nl = buf.indexOf(CRLF)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          const now = Date.now();
          const stall = now - sentAt;
          inFlight = false;
          noteStall(stall, sentAt);
          if (stall >= stallEventMs) stats.events.push({ t: now, client: i, kind: 'stall', sentAt, stallMs: stall });
          if (line[0] === ':') {
            stats.ops++;
            cs.ops++;
            const v = Number(line.slice(1));
            if (v <= cs.last) {
              cs.discarded += cs.last - v + 1;
              stats.discarded += cs.last - v + 1;
            }
            cs.last = v;
            if (v > cs.acked) cs.acked = v;
            if (v > (stats.acked.get(key) ?? 0)) stats.acked.set(key, v);
          } else {
            const code = line[0] === '-' ? (line.slice(1).split(' ')[0] ?? '') : `UNEXPECTED(${JSON.stringify(line.slice(0, 20))})`;
            stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
            if (!stats.errorSamples.has(code)) stats.errorSamples.set(code, line.slice(1));
            cs.errors++;
            stats.events.push({ t: now, client: i, kind: 'error', code, line: line.slice(1), sentAt, stallMs: stall });
          }
          send();
        }
        notifyOps();
      });
      s.on('error', () => {
        /* 'close' follows */
      });
      s.on('close', () => {
        if (sock !== s) return;
        const now = Date.now();
        if (inFlight) {
          noteStall(now - sentAt, sentAt);
          inFlight = false;
        }
        if (stopping) {
          resolveDone();
          return;
        }
        stats.disconnects++;
        cs.disconnects++;
        stats.events.push({ t: now, client: i, kind: 'disconnect', sentAt });
        if (!reconnect) {
          resolveDone();
          return;
        }
        setTimeout(() => {
          if (stopping) {
            resolveDone();
            return;
          }
          stats.events.push({ t: Date.now(), client: i, kind: 'connect' });
          connect();
        }, reconnectDelayMs);
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
    clients,
    waitOps(more: number, timeoutMs: number): Promise<boolean> {
      const target = stats.ops + more;
      if (stats.ops >= target) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          opWaiters.delete(check);
          resolve(false);
        }, timeoutMs);
        const check = () => {
          if (stats.ops >= target) {
            clearTimeout(timer);
            opWaiters.delete(check);
            resolve(true);
          }
        };
        opWaiters.add(check);
      });
    },
    async stop(timeoutMs = 15_000): Promise<void> {
      stopping = true;
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.all(workers.map((w) => w.done));
      const timedOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
      ]);
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

export function errorCount(s: LoadStats): number {
  let n = 0;
  for (const v of s.errors.values()) n += v;
  return n;
}

/** The most errors any one client saw. */
export function maxErrorsPerClient(s: LoadStats): number {
  let m = 0;
  for (const c of s.perClient) if (c.errors > m) m = c.errors;
  return m;
}
