// Many idle client connections to the proxy, opened in batches (the listener's accept backlog is
// finite), optionally each doing one PING/+PONG so its session is fully set up (the proxy opens a
// session's backend link on its first command).
import net from 'node:net';
import { rssKb } from './procfs.js';

const PING = Buffer.from('*1\r\n$4\r\nPING\r\n');

export interface IdleClients {
  sockets: net.Socket[];
  /** Sockets that failed to connect or were closed by the proxy. */
  failures: number;
  lastError?: string;
}

function connectOne(port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.on('error', () => {
        /* counted at ping time */
      });
      resolve(sock);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    });
  });
}

/** Opens `n` connections, `batch` at a time. */
export async function openIdle(port: number, n: number, batch = 200): Promise<IdleClients> {
  const out: IdleClients = { sockets: [], failures: 0 };
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    const res = await Promise.allSettled(Array.from({ length: k }, () => connectOne(port, 10_000)));
    for (const r of res) {
      if (r.status === 'fulfilled') out.sockets.push(r.value);
      else {
        out.failures++;
        out.lastError = r.reason instanceof Error ? r.reason.message : String(r.reason);
      }
    }
  }
  return out;
}

function pingOne(sock: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => done(new Error('no +PONG in time')), timeoutMs);
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) done(got.startsWith('+PONG') ? undefined : new Error(`unexpected reply ${JSON.stringify(got.slice(0, 80))}`));
    };
    const onClose = () => done(new Error('closed by the proxy'));
    const done = (err?: Error) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(PING);
  });
}

/** One PING on every socket, `batch` at a time; returns how many failed. */
export async function pingAll(clients: IdleClients, batch = 250): Promise<{ failures: number; lastError?: string }> {
  let failures = 0;
  let lastError: string | undefined;
  const s = clients.sockets;
  for (let i = 0; i < s.length; i += batch) {
    const res = await Promise.allSettled(s.slice(i, i + batch).map((x) => pingOne(x, 15_000)));
    for (const r of res) {
      if (r.status === 'rejected') {
        failures++;
        lastError = r.reason instanceof Error ? r.reason.message : String(r.reason);
      }
    }
  }
  return { failures, lastError };
}

export async function closeAll(clients: IdleClients): Promise<void> {
  await Promise.all(
    clients.sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  );
  clients.sockets = [];
}

/**
 * Waits until a process's RSS stops moving: sampled every `intervalMs`, stable when the last
 * `windowMs` of samples lie within max(`tolKb`, 0.5 %). Returns the last sample (kB) and whether
 * it settled before `timeoutMs`.
 */
export async function settledRss(pid: number, o: { intervalMs?: number; windowMs?: number; tolKb?: number; timeoutMs?: number; minWaitMs?: number } = {}): Promise<{ kb: number; settled: boolean; waitedMs: number }> {
  const intervalMs = o.intervalMs ?? 250;
  const windowN = Math.max(2, Math.round((o.windowMs ?? 2000) / intervalMs));
  const tolKb = o.tolKb ?? 256;
  const timeoutMs = o.timeoutMs ?? 20_000;
  const minWaitMs = o.minWaitMs ?? 1000;
  const t0 = Date.now();
  const samples: number[] = [];
  for (;;) {
    samples.push(rssKb(pid));
    const waited = Date.now() - t0;
    if (samples.length >= windowN && waited >= minWaitMs) {
      const w = samples.slice(-windowN);
      const lo = Math.min(...w);
      const hi = Math.max(...w);
      if (hi - lo <= Math.max(tolKb, hi * 0.005)) return { kb: samples[samples.length - 1]!, settled: true, waitedMs: waited };
    }
    if (waited >= timeoutMs) return { kb: samples[samples.length - 1]!, settled: false, waitedMs: waited };
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
