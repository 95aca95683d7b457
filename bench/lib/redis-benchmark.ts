// Runs `redis-benchmark --csv` and parses its rows (Redis 7.0: test, rps, avg/min/p50/p95/p99/max
// latency in ms).
import { spawn } from 'node:child_process';
import { track } from './cleanup.js';

export interface BenchRow {
  test: string;
  rps: number;
  avgMs: number;
  minMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface BenchRun {
  rows: BenchRow[];
  /** Wall time of the redis-benchmark process, seconds. */
  wallS: number;
  args: string[];
}

export interface BenchOptions {
  port: number;
  host?: string;
  clients: number;
  pipeline: number;
  tests: string[];
  dataSize?: number;
  requests: number;
  /** Kill redis-benchmark after this long (default 120 s). */
  timeoutMs?: number;
  /** Extra arguments (e.g. ["-r", "100000"]). */
  extra?: string[];
  /** Called with the pid once started (e.g. to sample the proxy while it runs). */
  onStart?: (pid: number) => void;
}

export function benchArgs(o: BenchOptions): string[] {
  const args = ['-h', o.host ?? '127.0.0.1', '-p', String(o.port), '-c', String(o.clients), '-P', String(o.pipeline), '-t', o.tests.join(','), '-n', String(o.requests)];
  if (o.dataSize !== undefined) args.push('-d', String(o.dataSize));
  args.push(...(o.extra ?? []), '--csv');
  return args;
}

export function parseCsv(text: string): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cells = line.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
    if (cells.length < 2 || cells[0] === 'test' || cells[0] === '') continue;
    const num = (i: number) => (cells[i] === undefined ? NaN : Number(cells[i]));
    const rps = num(1);
    if (!Number.isFinite(rps)) continue;
    rows.push({ test: cells[0]!, rps, avgMs: num(2), minMs: num(3), p50Ms: num(4), p95Ms: num(5), p99Ms: num(6), maxMs: num(7) });
  }
  return rows;
}

export function runBenchmark(o: BenchOptions): Promise<BenchRun> {
  const args = benchArgs(o);
  const timeoutMs = o.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('spawn', () => {
      if (child.pid !== undefined) o.onStart?.(child.pid);
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`redis-benchmark: ${e.message}${(e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (is Redis installed? run `bash scripts/ensure-deps.sh`)' : ''}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      const rows = parseCsv(out);
      const cmd = `redis-benchmark ${args.join(' ')}`;
      if (timedOut) return reject(new Error(`${cmd}: no result after ${timeoutMs / 1000} s (killed); stderr: ${err.trim().slice(-500)}`));
      if (code !== 0 || rows.length < o.tests.length) {
        return reject(new Error(`${cmd}: exit ${String(code)}${signal ? ` (${signal})` : ''}, ${rows.length} result rows; stdout: ${out.trim().slice(-300)}; stderr: ${err.trim().slice(-500)}`));
      }
      resolve({ rows, wallS, args });
    });
  });
}
