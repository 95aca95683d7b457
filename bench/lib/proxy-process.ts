// The proxy under test in its own process (`node dist/src/cli.js ...`), so its CPU time and RSS can
// be read from /proc without the benchmark's own work mixed in.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/sandbox/ports.js';
import { track } from './cleanup.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench/lib → dist/src/cli.js */
export const CLI_PATH = path.resolve(HERE, '../../src/cli.js');

export interface ProxyProcess {
  pid: number;
  port: number;
  adminPort: number;
  proc: ChildProcess;
  /** The command line, for the report. */
  argv: string[];
  /** Last lines the proxy printed. */
  tail(): string;
  readonly exited: boolean;
  /** SIGTERM (graceful: drain, and --cpu-prof writes its profile), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartProxyOptions {
  sentinels: string[];
  masterName: string;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[];
  logLevel?: string;
  readyTimeoutMs?: number;
  /** A config file for everything the flags do not set (e.g. `topology: { writeSafety: lease }`). */
  configFile?: string;
}

const PING = Buffer.from('*1\r\n$4\r\nPING\r\n');

/** One PING over a fresh raw connection; resolves true on +PONG within `timeoutMs`. */
export function rawPing(port: number, timeoutMs = 1000, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    let got = '';
    let done = false;
    const sock = net.connect({ port, host });
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', () => sock.write(PING));
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) finish(got.startsWith('+PONG'));
    });
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
  });
}

export async function startProxyProcess(o: StartProxyOptions): Promise<ProxyProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const argv = [
    ...(o.nodeArgs ?? []),
    CLI_PATH,
    ...(o.configFile !== undefined ? ['--config', o.configFile] : []),
    ...o.sentinels.flatMap((s) => ['--sentinel', s]),
    '--master-name',
    o.masterName,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin',
    `127.0.0.1:${adminPort}`,
    '--log-level',
    o.logLevel ?? 'warn',
  ];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  const lines: string[] = [];
  const keep = (d: string) => {
    for (const l of d.split('\n')) if (l.trim()) lines.push(l.length > 600 ? l.slice(0, 600) + '…' : l);
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  proc.stdout.setEncoding('utf8').on('data', keep);
  proc.stderr.setEncoding('utf8').on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      exited = true;
      resolve();
    });
    proc.once('error', (e) => {
      lines.push(`spawn error: ${e.message}`);
      exited = true;
      resolve();
    });
  });
  const tail = () => lines.slice(-30).join('\n');

  const pp: ProxyProcess = {
    pid: proc.pid ?? -1,
    port,
    adminPort,
    proc,
    argv: [process.execPath, ...argv],
    tail,
    get exited() {
      return exited;
    },
    async stop(graceMs = 10_000) {
      if (exited) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(t);
    },
  };

  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) throw new Error(`the proxy exited during startup (code ${String(proc.exitCode)}, signal ${String(proc.signalCode)}):\n${tail()}`);
    if (await rawPing(port, 500)) return pp;
    if (Date.now() > deadline) {
      await pp.stop(1000);
      throw new Error(`the proxy did not answer PING on 127.0.0.1:${port} within ${(o.readyTimeoutMs ?? 30_000) / 1000} s:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
