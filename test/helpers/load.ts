// Plain clients doing INCR on their own counters through the proxy, no client-side retries: the
// failover tests and the drill count errors, disconnects, stalls and lost acknowledged writes.
import net from 'node:net';
import { ReplyFramer } from '../../src/resp/reply.js';

export interface LoadStats {
  ops: number;
  errors: Map<string, number>;
  disconnects: number;
  longestStallMs: number;
  /** Highest acknowledged value per counter key. */
  acked: Map<string, number>;
  /** Replies not above the previous one of the same counter: out of order, or a lost write. */
  nonMonotonic: number;
}

export interface Load {
  stats: LoadStats;
  /** Stops issuing commands; resolves when every client got its last reply (or was closed). */
  stop(): Promise<void>;
}

/**
 * `clients` connections, each sending `INCR <prefix>:<i>` over a raw socket (the simplest possible
 * client: it never retries and never reconnects): one at a time, or `pipeline` at once and then
 * waiting for all their replies.
 */
export function startIncrLoad(port: number, clients: number, prefix = 'ctr', pipeline = 1): Load {
  const stats: LoadStats = { ops: 0, errors: new Map(), disconnects: 0, longestStallMs: 0, acked: new Map(), nonMonotonic: 0 };
  let stopping = false;
  const done: Promise<void>[] = [];
  const socks: net.Socket[] = [];
  for (let i = 0; i < clients; i++) {
    const key = `${prefix}:${i}`;
    const cmd = Buffer.from(`*2\r\n$4\r\nINCR\r\n$${key.length}\r\n${key}\r\n`.repeat(pipeline));
    let owed = 0;
    done.push(
      new Promise<void>((resolve) => {
        const sock = net.connect({ port, host: '127.0.0.1' });
        socks.push(sock);
        const framer = new ReplyFramer();
        let sentAt = 0;
        let buf = '';
        const send = () => {
          if (stopping) {
            sock.end();
            return;
          }
          sentAt = Date.now();
          owed = pipeline;
          sock.write(cmd);
        };
        sock.on('connect', send);
        sock.on('data', (chunk: Buffer) => {
          buf += chunk.toString('latin1');
          framer.push(chunk, () => {});
          // Every reply is one line (an integer or an error).
          let nl: number;
          while ((nl = buf.indexOf('\r\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 2);
            const stall = Date.now() - sentAt;
            if (stall > stats.longestStallMs) stats.longestStallMs = stall;
            if (line[0] === ':') {
              stats.ops++;
              const v = Number(line.slice(1));
              if (v > (stats.acked.get(key) ?? 0)) stats.acked.set(key, v);
              else stats.nonMonotonic++;
            } else {
              const kind = line.slice(1).split(' ')[0];
              stats.errors.set(kind, (stats.errors.get(kind) ?? 0) + 1);
            }
            if (--owed === 0) send();
          }
        });
        sock.on('error', () => {});
        sock.on('close', () => {
          if (!stopping) stats.disconnects++;
          resolve();
        });
      }),
    );
  }
  return {
    stats,
    async stop() {
      stopping = true;
      // A client whose last command never gets a reply would wait forever: cut it after 15 s.
      const cut = setTimeout(() => socks.forEach((s) => s.destroy()), 15_000);
      await Promise.all(done);
      clearTimeout(cut);
    },
  };
}

export function errorCount(s: LoadStats): number {
  let n = 0;
  for (const v of s.errors.values()) n += v;
  return n;
}

export interface PacedReads {
  /** Replies (of any kind) each reader got, by reader index. */
  replies: number[];
  /** Error replies and socket errors, with their text. */
  errors: string[];
  /** Stops sending; resolves when every reader got its last reply (or was closed) and closed. */
  stop(): Promise<void>;
}

/**
 * `clients` raw connections to `port`, each sending `GET <key>` at a fixed pace (open loop): one
 * every `intervalMs`, the next only after the reply, so never more than one in flight. Unlike a
 * closed-loop benchmark, what each node serves then follows where the sessions were placed, not
 * how much CPU each node process got.
 */
export function startPacedGets(port: number, clients: number, intervalMs: number, key = 'rk'): PacedReads {
  const replies = Array.from({ length: clients }, () => 0);
  const errors: string[] = [];
  const cmd = Buffer.from(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`);
  let stopping = false;
  const socks: net.Socket[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const waiting = Array.from({ length: clients }, () => false);
  const done = Array.from(
    { length: clients },
    (_, i) =>
      new Promise<void>((resolve) => {
        const sock = net.connect({ port, host: '127.0.0.1' });
        socks.push(sock);
        const framer = new ReplyFramer();
        let chunks: Buffer[] = [];
        let nextAt = 0;
        const send = () => {
          if (stopping) return void sock.end();
          nextAt = Math.max(Date.now(), nextAt) + intervalMs;
          waiting[i] = true;
          sock.write(cmd);
        };
        sock.on('connect', () => {
          // Spread the readers' phases over one interval.
          nextAt = Date.now() + (i * intervalMs) / clients;
          const timer = setTimeout(() => (timers.delete(timer), send()), (i * intervalMs) / clients);
          timers.add(timer);
        });
        sock.on('data', (chunk: Buffer) => {
          let start = 0;
          framer.push(chunk, (end) => {
            chunks.push(chunk.subarray(start, end));
            const reply = Buffer.concat(chunks).toString('latin1');
            chunks = [];
            start = end;
            replies[i]!++;
            waiting[i] = false;
            if (reply[0] === '-') errors.push(reply.slice(1).trimEnd());
            if (stopping) return void sock.end();
            const timer = setTimeout(() => (timers.delete(timer), send()), Math.max(0, nextAt - Date.now()));
            timers.add(timer);
          });
          if (start < chunk.length) chunks.push(chunk.subarray(start));
        });
        sock.on('error', (err) => errors.push(err.message));
        sock.on('close', () => {
          if (!stopping) errors.push(`reader ${i}: connection closed`);
          resolve();
        });
      }),
  );
  return {
    replies,
    errors,
    async stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      // A reader waiting for a reply ends when it comes; idle readers end now.
      socks.forEach((s, i) => !waiting[i] && s.end());
      const cut = setTimeout(() => socks.forEach((s) => s.destroy()), 15_000);
      await Promise.all(done);
      clearTimeout(cut);
    },
  };
}
