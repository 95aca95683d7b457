// A throw-away Redis Sentinel group on loopback: 1 master, N replicas, M sentinels, each process in
// its own directory under one mkdtemp directory. Used by `redis-sentinel-proxy sandbox`, the tests
// and the benchmarks. Contract: ./types.ts.
//
// No process is ever left behind:
//  - stop() SIGKILLs every child and removes the directory;
//  - a process 'exit' handler and SIGINT/SIGTERM handlers (installed once) do the same;
//  - a tiny detached watchdog (`sh`) per process notices when this process is gone for any reason
//    (SIGKILL from a test runner's timeout included) and kills the pids listed in a registry file.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import type { SandboxGroup, SandboxGroupOptions, SandboxNode, SandboxTlsOptions } from './types.js';
import { parseInfo, withTimeout } from '../topology/sentinel-link.js';

export type { SandboxGroup, SandboxGroupOptions, SandboxNode, SandboxTlsOptions } from './types.js';

const HOST = '127.0.0.1';
const DEFAULT_WAIT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error: "timed out after 5000 ms waiting for <what>". */
  what?: string;
}

/** Polls `cond` until it returns a truthy value (which is returned). A throwing `cond` counts as
 * false; its last error is quoted in the timeout error. */
export async function waitFor<T>(cond: () => Promise<T> | T, opts: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const what = opts.what ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      const why = lastErr ? ` (last error: ${errMsg(lastErr)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

/** Resolves true when `p` settles within `ms`, false otherwise; leaves no timer behind. */
function raceTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}


/** Quote a value for a redis.conf line. */
function confQuote(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

/**
 * One command over a fresh, short-lived connection. Never hangs: connect is bounded by ~1 s, the
 * command by `timeoutMs`, and the connection is always closed.
 */
export async function redisCall(
  port: number,
  args: (string | number)[],
  opts: { password?: string; timeoutMs?: number; host?: string; tls?: ConnectionOptions } = {},
): Promise<unknown> {
  if (args.length === 0) throw new Error('redisCall: no command');
  const timeoutMs = opts.timeoutMs ?? 5000;
  const client = new Redis({
    host: opts.host ?? HOST,
    port,
    password: opts.password,
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    enableReadyCheck: false,
    enableOfflineQueue: true,
    autoResubscribe: false,
    disableClientInfo: true,
    tls: opts.tls,
  });
  client.on('error', () => {
    /* reported through the command's promise */
  });
  try {
    await withTimeout(client.connect(), 1500, `connect 127.0.0.1:${port}`);
    const [cmd, ...rest] = args;
    return await withTimeout(client.call(String(cmd), rest), timeoutMs + 500, `${String(cmd)} on 127.0.0.1:${port}`);
  } finally {
    client.disconnect();
  }
}

/** INFO output as a key → value map (the topology watcher's parser). */
export { parseInfo };

/** A flat [k, v, k, v] reply (SENTINEL MASTER / REPLICAS entries) as a map. */
function flatToMap(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

function whichBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Process-level cleanup (registered once per process)

const liveProcs = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let handlersInstalled = false;
let signalsLeftToCaller = false;
let watchdog: ChildProcess | undefined;
let registryFile: string | undefined;

/**
 * By default a SIGINT/SIGTERM kills every sandbox process at once and then lets the signal take its
 * normal course. A caller with its own graceful shutdown (the interactive sandbox: proxy first, then
 * the group) calls this and stops the groups itself; the 'exit' handler and the watchdog remain.
 */
export function leaveSignalsToCaller(on = true): void {
  signalsLeftToCaller = on;
}

/** SIGKILL every sandbox process of this process and remove every sandbox directory, synchronously. */
export function killAllSandboxProcesses(): void {
  for (const p of liveProcs) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveProcs.clear();
  for (const d of liveDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  liveDirs.clear();
  if (registryFile) {
    try {
      rmSync(registryFile, { force: true });
    } catch {
      /* best effort */
    }
  }
  if (watchdog) {
    try {
      watchdog.kill('SIGKILL');
    } catch {
      /* gone */
    }
    watchdog = undefined;
  }
}

function installProcessHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSandboxProcesses);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      if (signalsLeftToCaller) return;
      killAllSandboxProcesses();
      // Step aside and re-raise: other listeners (e.g. signal-exit in a test runner) see the signal
      // again without us; with none left the default action terminates the process.
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

const WATCHDOG_SCRIPT = `
parent="$1"; reg="$2"
trap '' INT TERM HUP
while kill -0 "$parent" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$parent/status"; do sleep 0.5; done
if [ -f "$reg" ]; then
  while read -r kind val; do [ "$kind" = pid ] && kill -9 "$val" 2>/dev/null; done < "$reg"
  while read -r kind val; do [ "$kind" = dir ] && [ -n "$val" ] && rm -rf "$val"; done < "$reg"
  rm -f "$reg"
fi
`;

function writeRegistry(): void {
  if (!registryFile) return;
  const lines: string[] = [];
  for (const p of liveProcs) if (p.pid) lines.push(`pid ${p.pid}`);
  for (const d of liveDirs) lines.push(`dir ${d}`);
  try {
    writeFileSync(registryFile, lines.join('\n') + '\n');
  } catch {
    /* best effort */
  }
}

function ensureWatchdog(): void {
  if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) return;
  registryFile = path.join(os.tmpdir(), `rsp-sandbox-registry-${process.pid}.txt`);
  writeRegistry();
  try {
    const wd = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'rsp-sandbox-watchdog', String(process.pid), registryFile], {
      detached: true,
      stdio: 'ignore',
    });
    wd.on('error', () => {
      /* no watchdog: the exit/signal handlers remain */
    });
    wd.unref();
    watchdog = wd;
  } catch {
    watchdog = undefined;
  }
}

function track(proc: ChildProcess): void {
  liveProcs.add(proc);
  writeRegistry();
}

function untrack(proc: ChildProcess): void {
  if (liveProcs.delete(proc)) writeRegistry();
}

// ---------------------------------------------------------------------------------------------
// Nodes

class StartError extends Error {
  constructor(
    message: string,
    readonly addrInUse: boolean,
  ) {
    super(message);
  }
}

interface NodeInit {
  group: Group;
  kind: 'redis' | 'sentinel';
  label: string;
  port: number;
  dir: string;
  /** Writes the initial config for this port. */
  config: (port: number) => string;
}

class Node implements SandboxNode {
  readonly kind: 'redis' | 'sentinel';
  readonly host = HOST;
  port: number;
  readonly dir: string;
  proc?: ChildProcess;
  pid?: number;
  readonly label: string;
  private readonly group: Group;
  private readonly initialConfig: (port: number) => string;
  private readonly logTail: string[] = [];
  private exitPromise?: Promise<void>;

  constructor(init: NodeInit) {
    this.group = init.group;
    this.kind = init.kind;
    this.label = init.label;
    this.port = init.port;
    this.dir = init.dir;
    this.initialConfig = init.config;
  }

  get addr(): string {
    return `${HOST}:${this.port}`;
  }

  get confPath(): string {
    return path.join(this.dir, this.kind === 'redis' ? 'redis.conf' : 'sentinel.conf');
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** The last lines this process printed (for error messages). */
  tail(n = 20): string {
    return this.logTail.slice(-n).join('\n');
  }

  /** First start: write the config; on "address already in use" pick another port and retry. */
  async firstStart(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (let attempt = 0; ; attempt++) {
      await writeFile(this.confPath, this.initialConfig(this.port));
      try {
        await this.spawnAndWait();
        return;
      } catch (err) {
        if (err instanceof StartError && err.addrInUse && attempt < 5) {
          this.port = await freePort();
          continue;
        }
        throw err;
      }
    }
  }

  private spawnProcess(): ChildProcess {
    let bin: string;
    let args: string[];
    if (this.kind === 'redis') {
      bin = 'redis-server';
      args = [this.confPath, ...(this.group.opts.redisArgs ?? [])];
    } else if (whichBinary('redis-sentinel')) {
      bin = 'redis-sentinel';
      args = [this.confPath];
    } else {
      bin = 'redis-server';
      args = [this.confPath, '--sentinel'];
    }
    // Own process group (detached): a Ctrl-C in the terminal reaches us, not the nodes directly, so
    // the interactive sandbox can drain the proxy before the nodes go away.
    const proc = spawn(bin, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) {
        if (!line) continue;
        this.logTail.push(line);
        if (this.group.opts.verbose) process.stderr.write(`[${this.label} ${this.port}] ${line}\n`);
      }
      if (this.logTail.length > 200) this.logTail.splice(0, this.logTail.length - 200);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    // A forgotten group must not keep the process alive; the exit handler kills it.
    proc.unref();
    (proc.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (proc.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    return proc;
  }

  private async spawnAndWait(): Promise<void> {
    const proc = this.spawnProcess();
    let spawnError: Error | undefined;
    let exited = false;
    this.exitPromise = new Promise<void>((resolve) => {
      proc.once('error', (err) => {
        spawnError = err;
        exited = true;
        untrack(proc);
        if (this.proc === proc) {
          this.proc = undefined;
          this.pid = undefined;
        }
        resolve();
      });
      proc.once('exit', () => {
        exited = true;
        untrack(proc);
        if (this.proc === proc) {
          this.proc = undefined;
          this.pid = undefined;
        }
        resolve();
      });
    });
    if (proc.pid !== undefined) {
      this.proc = proc;
      this.pid = proc.pid;
      track(proc);
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited) {
        // Let the last output arrive.
        await sleep(50);
        if (spawnError) {
          const code = (spawnError as NodeJS.ErrnoException).code;
          const hint = code === 'ENOENT' ? ' (is Redis installed? run `bash scripts/ensure-deps.sh`)' : '';
          throw new StartError(`${this.label}: could not start ${this.kind === 'redis' ? 'redis-server' : 'redis-sentinel'}: ${spawnError.message}${hint}`, false);
        }
        const tail = this.tail();
        throw new StartError(
          `${this.label} on port ${this.port} exited during startup (code ${String(proc.exitCode)}, signal ${String(proc.signalCode)}):\n${tail}`,
          /Address already in use/i.test(tail),
        );
      }
      try {
        const pong = await this.quickCall(['PING'], 1000);
        if (pong === 'PONG') return;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new StartError(`${this.label} on port ${this.port} did not answer PING within 20 s:\n${this.tail()}`, false);
      }
      await sleep(25);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const exit = this.exitPromise ?? Promise.resolve();
    try {
      proc.kill(signal);
    } catch {
      /* gone */
    }
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    const done = await raceTimeout(exit, signal === 'SIGKILL' ? 10_000 : 5000);
    if (!done) {
      // A stopped process ignores SIGTERM until continued; SIGKILL always works.
      try {
        proc.kill('SIGKILL');
      } catch {
        /* gone */
      }
      await raceTimeout(exit, 10_000);
    }
    untrack(proc);
    if (this.proc === proc) {
      this.proc = undefined;
      this.pid = undefined;
    }
  }

  sigstop(): void {
    if (this.pid !== undefined) process.kill(this.pid, 'SIGSTOP');
  }

  sigcont(): void {
    if (this.pid !== undefined) process.kill(this.pid, 'SIGCONT');
  }

  async restart(opts: { asMaster?: boolean } = {}): Promise<void> {
    if (this.group.stopped) throw new Error(`${this.label}: the group was stopped`);
    if (this.proc) await this.kill('SIGKILL');
    if (opts.asMaster && this.kind === 'redis') {
      const conf = await readFile(this.confPath, 'utf8');
      const stripped = conf
        .split('\n')
        .filter((line) => !/^\s*(replicaof|slaveof)\s/i.test(line))
        .join('\n');
      await writeFile(this.confPath, stripped);
    }
    // Same port: retry briefly if something else holds it for a moment.
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await this.spawnAndWait();
        return;
      } catch (err) {
        if (err instanceof StartError && err.addrInUse && Date.now() < deadline) {
          await sleep(200);
          continue;
        }
        throw err;
      }
    }
  }

  call(...args: (string | number)[]): Promise<unknown> {
    return this.quickCall(args, 5000);
  }

  quickCall(args: (string | number)[], timeoutMs: number): Promise<unknown> {
    return redisCall(this.port, args, {
      password: this.kind === 'redis' ? this.group.opts.password : this.group.opts.sentinelPassword,
      timeoutMs,
      tls: this.group.tlsClient,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The group

class Group implements SandboxGroup {
  readonly masterName: string;
  readonly nodes: Node[] = [];
  readonly sentinels: Node[] = [];
  readonly dir: string;
  readonly opts: SandboxGroupOptions;
  stopped = false;
  /** TLS options of the group's own client connections (call(), checks) in a TLS-only group. */
  readonly tlsClient?: ConnectionOptions;
  private stopping?: Promise<void>;

  constructor(dir: string, opts: SandboxGroupOptions) {
    this.dir = dir;
    this.opts = opts;
    this.masterName = opts.masterName ?? 'mymaster';
    if (opts.tls) this.tlsClient = tlsClientOptions(opts.tls);
  }

  get sentinelAddrs(): string[] {
    return this.sentinels.map((s) => s.addr);
  }

  node(addr: string): SandboxNode | undefined {
    return [...this.nodes, ...this.sentinels].find((n) => n.addr === addr);
  }

  /** Answers of every running sentinel that answered (address strings); unreachable ones omitted. */
  private async sentinelAnswers(): Promise<string[]> {
    const replies = await Promise.all(
      this.sentinels
        .filter((s) => s.running)
        .map((s) => s.quickCall(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName], 1000).catch(() => undefined)),
    );
    const out: string[] = [];
    for (const r of replies) {
      if (Array.isArray(r) && r.length === 2) out.push(`${String(r[0])}:${String(r[1])}`);
    }
    return out;
  }

  async currentMaster(): Promise<string> {
    const answers = await this.sentinelAnswers();
    if (answers.length === 0) throw new Error(`${this.masterName}: no sentinel reachable`);
    const counts = new Map<string, number>();
    for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
    let best = answers[0]!;
    for (const [a, c] of counts) if (c > (counts.get(best) ?? 0)) best = a;
    return best;
  }

  private async roleOf(addr: string): Promise<string | undefined> {
    const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
    try {
      const role = await redisCall(port, ['ROLE'], { password: this.opts.password, timeoutMs: 1000, tls: this.tlsClient });
      return Array.isArray(role) ? String(role[0]) : undefined;
    } catch {
      return undefined;
    }
  }

  async waitForMaster(opts: { notAddr?: string; timeoutMs?: number } = {}): Promise<string> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    let last = '';
    try {
      return await waitFor(
        async () => {
          const answers = await this.sentinelAnswers();
          last = answers.length ? answers.join(', ') : 'no sentinel reachable';
          if (answers.length === 0) return undefined;
          const first = answers[0]!;
          if (answers.some((a) => a !== first)) return undefined;
          if (opts.notAddr !== undefined && first === opts.notAddr) return undefined;
          const role = await this.roleOf(first);
          last += ` (ROLE of ${first}: ${role ?? 'unreachable'})`;
          return role === 'master' ? first : undefined;
        },
        { timeoutMs, intervalMs: 100, what: `a verified master of ${this.masterName}${opts.notAddr ? ` other than ${opts.notAddr}` : ''}` },
      );
    } catch (err) {
      throw new Error(`${errMsg(err)}; sentinels said: ${last}`);
    }
  }

  async failover(opts: { timeoutMs?: number } = {}): Promise<string> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    const deadline = Date.now() + timeoutMs;
    const old = await this.currentMaster().catch(() => undefined);
    let lastErr = 'no sentinel running';
    for (;;) {
      let retry = false;
      let issued = false;
      for (const s of this.sentinels.filter((x) => x.running)) {
        try {
          await s.quickCall(['SENTINEL', 'FAILOVER', this.masterName], 2000);
          issued = true;
          break;
        } catch (err) {
          lastErr = `${s.addr}: ${errMsg(err)}`;
          if (/NOGOODSLAVE|NOGOODREPLICA|INPROG/i.test(errMsg(err))) {
            retry = true;
            break;
          }
          // Unreachable or stopped sentinel: try the next one.
        }
      }
      if (issued) break;
      if (!retry && !this.sentinels.some((x) => x.running)) throw new Error(`failover: ${lastErr}`);
      if (Date.now() >= deadline) throw new Error(`failover: SENTINEL FAILOVER not accepted within ${timeoutMs} ms (last: ${lastErr})`);
      await sleep(200);
    }
    return this.waitForMaster({ notAddr: old, timeoutMs: Math.max(1000, deadline - Date.now()) });
  }

  async waitForReplicasInSync(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const master = await this.waitForMaster({ timeoutMs });
    await this.waitForReplicasOf(master, Math.max(1000, deadline - Date.now()));
  }

  /** Every running redis node other than `master` reports master_link_status:up to it. */
  async waitForReplicasOf(master: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const masterPort = master.slice(master.lastIndexOf(':') + 1);
    let pending = '';
    await waitFor(
      async () => {
        const waiting: string[] = [];
        for (const n of this.nodes) {
          if (!n.running || n.addr === master) continue;
          try {
            const info = parseInfo(String(await n.quickCall(['INFO', 'replication'], 1000)));
            if (info.role !== 'slave' || info.master_port !== masterPort || info.master_link_status !== 'up') {
              waiting.push(`${n.addr} (role ${info.role}, master ${info.master_host}:${info.master_port}, link ${info.master_link_status})`);
            }
          } catch (err) {
            waiting.push(`${n.addr} (${errMsg(err)})`);
          }
        }
        pending = waiting.join(', ');
        return waiting.length === 0;
      },
      { timeoutMs, intervalMs: 100, what: `replicas in sync with ${master}` },
    ).catch((err: unknown) => {
      throw new Error(`${errMsg(err)}; still waiting for ${pending}`);
    });
  }

  /** Every sentinel knows the master, every replica (healthy) and every other sentinel. */
  async waitForSentinelsReady(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const replicas = this.nodes.length - 1;
    const others = this.sentinels.length - 1;
    let state = '';
    await waitFor(
      async () => {
        const notes: string[] = [];
        for (const s of this.sentinels) {
          try {
            const m = flatToMap(await s.quickCall(['SENTINEL', 'MASTER', this.masterName], 1000));
            const reps = (await s.quickCall(['SENTINEL', 'REPLICAS', this.masterName], 1000)) as unknown[];
            const sens = (await s.quickCall(['SENTINEL', 'SENTINELS', this.masterName], 1000)) as unknown[];
            const goodReps = reps.map(flatToMap).filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok').length;
            const goodSens = sens.map(flatToMap).filter((r) => r.flags === 'sentinel').length;
            if (m.flags !== 'master' || goodReps < replicas || goodSens < others) {
              notes.push(`${s.addr}: master ${m.flags}, replicas ${goodReps}/${replicas}, sentinels ${goodSens}/${others}`);
            }
          } catch (err) {
            notes.push(`${s.addr}: ${errMsg(err)}`);
          }
        }
        state = notes.join('; ');
        return notes.length === 0;
      },
      { timeoutMs, intervalMs: 100, what: 'sentinels to discover the group' },
    ).catch((err: unknown) => {
      throw new Error(`${errMsg(err)}: ${state}`);
    });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      await Promise.all([...this.sentinels, ...this.nodes].map((n) => n.kill('SIGKILL')));
      await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
      liveDirs.delete(this.dir);
      writeRegistry();
    })();
    return this.stopping;
  }
}

// ---------------------------------------------------------------------------------------------

/** Client side of a TLS-only sandbox group: its own certificate as client certificate, the chain
 * verified, the host name not (the node certificate need not name 127.0.0.1). */
function tlsClientOptions(t: SandboxTlsOptions): ConnectionOptions {
  return {
    ca: readFileSync(t.caFile, 'utf8'),
    cert: readFileSync(t.certFile, 'utf8'),
    key: readFileSync(t.keyFile, 'utf8'),
    checkServerIdentity: () => undefined,
  };
}

/** `port` lines: plain, or TLS only (`port 0`, `tls-port`, certificates, TLS replication). */
function portLines(g: Group, port: number): string[] {
  const t = g.opts.tls;
  if (!t) return [`port ${port}`];
  return [
    'port 0',
    `tls-port ${port}`,
    `tls-cert-file ${confQuote(t.certFile)}`,
    `tls-key-file ${confQuote(t.keyFile)}`,
    `tls-ca-cert-file ${confQuote(t.caFile)}`,
    'tls-replication yes',
  ];
}

function redisConfig(g: Group, port: number, dir: string, masterPort?: number): string {
  const lines = [
    ...portLines(g, port),
    `bind ${HOST}`,
    'protected-mode no',
    'daemonize no',
    'logfile ""',
    `dir ${confQuote(dir)}`,
    'save ""',
    'appendonly no',
    // Full syncs start at once instead of after the default 5 s diskless delay.
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
  ];
  if (g.opts.password !== undefined) {
    lines.push(`requirepass ${confQuote(g.opts.password)}`, `masterauth ${confQuote(g.opts.password)}`);
  }
  if (masterPort !== undefined) lines.push(`replicaof ${HOST} ${masterPort}`);
  return lines.join('\n') + '\n';
}

function sentinelConfig(g: Group, port: number, dir: string, masterPort: number): string {
  const name = g.masterName;
  const sentinels = g.opts.sentinels ?? 3;
  const quorum = Math.max(1, Math.min(g.opts.quorum ?? 2, sentinels));
  const lines = [
    ...portLines(g, port),
    `bind ${HOST}`,
    'protected-mode no',
    'daemonize no',
    'logfile ""',
    `dir ${confQuote(dir)}`,
    'sentinel resolve-hostnames no',
    `sentinel announce-ip ${HOST}`,
    `sentinel monitor ${name} ${HOST} ${masterPort} ${quorum}`,
    `sentinel down-after-milliseconds ${name} ${g.opts.downAfterMs ?? 1000}`,
    `sentinel failover-timeout ${name} ${g.opts.failoverTimeoutMs ?? 10_000}`,
    `sentinel parallel-syncs ${name} 1`,
  ];
  if (g.opts.password !== undefined) lines.push(`sentinel auth-pass ${name} ${confQuote(g.opts.password)}`);
  if (g.opts.sentinelPassword !== undefined) {
    lines.push(`requirepass ${confQuote(g.opts.sentinelPassword)}`, `sentinel sentinel-pass ${confQuote(g.opts.sentinelPassword)}`);
  }
  return lines.join('\n') + '\n';
}

export async function startGroup(opts: SandboxGroupOptions = {}): Promise<SandboxGroup> {
  const masterName = opts.masterName ?? 'mymaster';
  if (!/^[A-Za-z0-9._-]+$/.test(masterName)) throw new Error(`startGroup: invalid master name ${JSON.stringify(masterName)}`);
  const replicas = opts.replicas ?? 2;
  const sentinels = opts.sentinels ?? 3;
  if (replicas < 0 || sentinels < 1) throw new Error('startGroup: need replicas >= 0 and sentinels >= 1');

  installProcessHandlers();
  const base = opts.baseDir ?? os.tmpdir();
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(path.join(base, 'rsp-sandbox-'));
  liveDirs.add(dir);
  ensureWatchdog();
  writeRegistry();

  const g = new Group(dir, { ...opts, masterName });
  try {
    const masterDir = path.join(dir, 'redis-0');
    const master = new Node({
      group: g,
      kind: 'redis',
      label: 'redis-0',
      port: await freePort(),
      dir: masterDir,
      config: (port) => redisConfig(g, port, masterDir),
    });
    g.nodes.push(master);
    await master.firstStart();

    for (let i = 1; i <= replicas; i++) {
      const d = path.join(dir, `redis-${i}`);
      g.nodes.push(
        new Node({ group: g, kind: 'redis', label: `redis-${i}`, port: await freePort(), dir: d, config: (port) => redisConfig(g, port, d, master.port) }),
      );
    }
    await Promise.all(g.nodes.slice(1).map((n) => n.firstStart()));
    // Sentinels discover replicas from the master's INFO: have them connected first.
    await g.waitForReplicasOf(master.addr);

    for (let i = 0; i < sentinels; i++) {
      const d = path.join(dir, `sentinel-${i}`);
      g.sentinels.push(
        new Node({ group: g, kind: 'sentinel', label: `sentinel-${i}`, port: await freePort(), dir: d, config: (port) => sentinelConfig(g, port, d, master.port) }),
      );
    }
    await Promise.all(g.sentinels.map((s) => s.firstStart()));
    await g.waitForSentinelsReady();
    return g;
  } catch (err) {
    await g.stop();
    throw err;
  }
}
