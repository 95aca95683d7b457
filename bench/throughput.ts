// `npm run bench`: the proxy against the master it fronts, on a throw-away Sentinel group
// (1 master, 1 replica, 3 sentinels) on loopback. The proxy runs in its own process
// (`node dist/src/cli.js`) so its CPU time and RSS come from /proc/PID.
//
//  1. throughput: redis-benchmark -c 50 -t set,get, -P 1 and -P 16, -d 3 and -d 1024, direct and
//     through the proxy interleaved over --rounds rounds; medians and proxy/direct ratios;
//  2. added latency at -P 1: redis-benchmark -c 1 (one connection, ping-pong) p50/p99, proxy minus
//     direct (and the -c 50 figures of step 1);
//  3. proxy CPU seconds per 100,000 commands, from utime+stime around every proxy run of step 1;
//  4. RSS per idle client session: 5,000 raw connections, silent, then after one PING each;
//  5. RSS under a long -P 16 flood of 1 KB SETs, sampled every 200 ms: start / peak / end;
//  6. optional (--compare): HAProxy (TCP, role:master check) and twemproxy in the same rounds of
//     step 1, ratios side by side (bench/lib/peers.ts; `bash scripts/ensure-deps.sh --peers`);
//  7. optional (--profile): a CPU profile of the proxy during a -P 16 GET run, top self-time
//     functions.
// Results: bench/results/<timestamp>.json and bench/results/latest.json.
//
//   npm run bench [-- --quick] [-- --rounds 5 --seconds 3 --sessions 5000 --flood-seconds 20 --compare --profile]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startGroup, redisCall, parseInfo } from '../src/sandbox/group.js';
import type { SandboxGroup } from '../src/sandbox/types.js';
import { installCleanup, onInterrupt } from './lib/cleanup.js';
import { summariseProfile, type ProfileSummary } from './lib/cpuprofile.js';
import { closeAll, openIdle, pingAll, settledRss } from './lib/idle-sessions.js';
import { gcDelta, gcTotals, type GcDelta } from './lib/gc-metrics.js';
import { childrenCpuSeconds, cpuSeconds, cpuSnapshot, cpuTimesOf, loadAvg, machineBusy, openFileLimits, otherCpu, rssKb } from './lib/procfs.js';
import { startProxyProcess, type ProxyProcess } from './lib/proxy-process.js';
import { PEER_NAMES, peerBinary, startPeer, type PeerName, type PeerProcess } from './lib/peers.js';
import { runBenchmark, type BenchRow } from './lib/redis-benchmark.js';
import { fmt, fmtInt, median, round, table, verdict } from './lib/stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..'); // dist/bench → repo root
const RESULTS = path.join(ROOT, 'bench', 'results');

const TARGETS = { ratioP1: 0.9, ratioP16: 0.75, addedP50Ms: 0.1, idleKbPerSession: 40 };
const REFERENCE =
  'reference (same kind of machine): HAProxy 2.6 TCP 0.53-0.68 at -P 1, 0.40-0.71 at -P 16; twemproxy 0.65-0.90 at -P 1, 0.28-0.49 at -P 16';

// ---------------------------------------------------------------------------------------------
// Options

const HELP = `Usage: npm run bench [-- options]   (or: node dist/bench/throughput.js [options])

  --rounds N           interleaved direct/proxy rounds (default 3; --quick: 1)
  --seconds S          target duration of each redis-benchmark test, direct (default 2.5; --quick: 0.7)
  --quick              1 round, short runs, 1,000 idle sessions, 4 s flood: a fast check
  --sessions N         idle client sessions for the RSS figure (default 5000)
  --flood-seconds S    duration of the -P 16 1 KB SET flood (default 20; --quick: 4)
  --flood-bound-mb M   "flat" when the flood's peak RSS stays within start + M MB (default 64)
  --latency-requests N requests per test of the one-connection latency runs (default 40000)
  --compare            also run HAProxy (TCP mode, role:master check) and twemproxy in front of the
                       master in the same throughput rounds, when installed
                       (bash scripts/ensure-deps.sh --peers installs them)
  --proxy-config FILE  start the proxy with --config FILE as well (settings the flags do not
                       set, e.g. topology.writeSafety: lease)
  --profile            also run a CPU profile of the proxy during a -P 16 GET run (--cpu-prof)
  --profile-pipeline N the profiled run's -P (default 16)
  --profile-size B     the profiled run's value size in bytes (-d, default 3)
  --skip LIST          comma-separated phases to skip: idle,throughput,latency,flood
  --max-interference C repeat a direct/proxy pair when other processes used more than C cores
                       during it (default 0.25)
  --retries N          at most N repeats per pair (default 2; 0 disables)
  --wait-quiet S       first wait up to S seconds for the machine to be quiet (< 25 % CPU busy)
  -h, --help`;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    sessions: { type: 'string' },
    'flood-seconds': { type: 'string' },
    'flood-bound-mb': { type: 'string' },
    'latency-requests': { type: 'string' },
    profile: { type: 'boolean', default: false },
    compare: { type: 'boolean', default: false },
    'proxy-config': { type: 'string' },
    'profile-pipeline': { type: 'string' },
    'profile-size': { type: 'string' },
    skip: { type: 'string' },
    'wait-quiet': { type: 'string' },
    'max-interference': { type: 'string' },
    retries: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (args.help) {
  console.log(HELP);
  process.exit(0);
}

function numOpt(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    console.error(`bench: --${name} must be a number >= ${min} (got ${JSON.stringify(v)})`);
    process.exit(2);
  }
  return n;
}

const quick = args.quick === true;
const OPT = {
  quick,
  rounds: Math.floor(numOpt('rounds', args.rounds, quick ? 1 : 3, 1)),
  seconds: numOpt('seconds', args.seconds, quick ? 0.7 : 2.5, 0.1),
  sessions: Math.floor(numOpt('sessions', args.sessions, quick ? 1000 : 5000, 1)),
  floodSeconds: numOpt('flood-seconds', args['flood-seconds'], quick ? 4 : 20, 1),
  floodBoundMb: numOpt('flood-bound-mb', args['flood-bound-mb'], 64, 1),
  latencyRequests: Math.floor(numOpt('latency-requests', args['latency-requests'], quick ? 10_000 : 40_000, 100)),
  compare: args.compare === true,
  profile: args.profile === true || args['profile-pipeline'] !== undefined || args['profile-size'] !== undefined,
  profilePipeline: Math.floor(numOpt('profile-pipeline', args['profile-pipeline'], 16, 1)),
  profileSize: Math.floor(numOpt('profile-size', args['profile-size'], 3, 1)),
  maxInterference: numOpt('max-interference', args['max-interference'], 0.25, 0),
  retries: Math.floor(numOpt('retries', args.retries, 2, 0)),
  waitQuietS: numOpt('wait-quiet', args['wait-quiet'], 0, 0),
  skip: new Set((args.skip ?? '').split(',').map((s) => s.trim()).filter(Boolean)),
};
for (const s of OPT.skip) {
  if (!['idle', 'throughput', 'latency', 'flood'].includes(s)) {
    console.error(`bench: --skip: unknown phase ${JSON.stringify(s)} (idle, throughput, latency, flood)`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

const log = (s = '') => process.stdout.write(s + '\n');
const note = (s: string) => process.stderr.write(`  … ${s}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e));

function sh(cmd: string, argv: string[]): string | undefined {
  try {
    return execFileSync(cmd, argv, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

const timestamp = new Date().toISOString().replace(/[:.]/g, '-');
const result: Record<string, unknown> = {
  version: 1,
  startedAt: new Date().toISOString(),
  command: ['node', ...process.argv.slice(1).map((a) => path.relative(ROOT, a) || a)].join(' '),
  options: { ...OPT, skip: [...OPT.skip] },
  targets: TARGETS,
  reference: REFERENCE,
  env: {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    platform: `${os.type()} ${os.release()}`,
    loadAvgStart: loadAvg(),
    redisBenchmark: sh('redis-benchmark', ['--version']),
    redisServer: sh('redis-server', ['--version']),
    gitCommit: sh('git', ['rev-parse', '--short', 'HEAD']),
    gitDirtySrc: (sh('git', ['status', '--porcelain', '--', 'src']) ?? '') !== '',
  },
};
const warnings: string[] = [];
function warn(s: string): void {
  warnings.push(s);
  log(`WARNING: ${s}`);
}

function writeResults(): string {
  result.finishedAt = new Date().toISOString();
  (result.env as Record<string, unknown>).loadAvgEnd = loadAvg();
  result.warnings = warnings;
  mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `${timestamp}.json`);
  const text = JSON.stringify(result, null, 2) + '\n';
  writeFileSync(file, text);
  writeFileSync(path.join(RESULTS, 'latest.json'), text);
  return file;
}

// ---------------------------------------------------------------------------------------------
// The group and the proxy

let group: SandboxGroup;
let proxy: ProxyProcess | undefined;
let masterPort = 0;

async function freshProxy(nodeArgs: string[] = []): Promise<ProxyProcess> {
  if (proxy && !proxy.exited) await proxy.stop(5000);
  proxy = await startProxyProcess({ sentinels: group.sentinelAddrs, masterName: group.masterName, nodeArgs, ...(args['proxy-config'] !== undefined ? { configFile: path.resolve(String(args['proxy-config'])) } : {}) });
  return proxy;
}

/** The running proxy; restarted (with a warning) when it died. */
async function liveProxy(): Promise<ProxyProcess> {
  if (proxy && !proxy.exited) return proxy;
  if (proxy) warn(`the proxy (pid ${proxy.pid}) exited (code ${String(proxy.proc.exitCode)}, signal ${String(proxy.proc.signalCode)}); restarting it. Last output:\n${proxy.tail()}`);
  return freshProxy();
}

// ---------------------------------------------------------------------------------------------
// Phase: RSS per idle session

async function idlePhase(): Promise<Record<string, unknown>> {
  const n = OPT.sessions;
  const p = await freshProxy();
  // The proxy needs a descriptor per client and, once a command ran, one per backend link.
  const proxyLim = openFileLimits(p.pid);
  const selfLim = openFileLimits('self');
  let count = n;
  const needProxy = 2 * n + 64;
  const needSelf = n + 64;
  if (proxyLim.soft < needProxy || selfLim.soft < needSelf) {
    const fit = Math.max(0, Math.min(Math.floor((proxyLim.soft - 64) / 2), selfLim.soft - 64));
    warn(
      `open-file limit too low for ${n} idle sessions (proxy soft limit ${proxyLim.soft}, needs ${needProxy}; ` +
        `benchmark soft limit ${selfLim.soft}, needs ${needSelf}). Using ${fit} sessions; raise it with \`ulimit -n ${needProxy}\` (Node raises the soft limit to the hard one at start, so the hard limit is what counts).`,
    );
    count = fit;
  }
  if (count < 10) throw new Error('not enough file descriptors for the idle-session measurement');

  note(`idle sessions: settling the fresh proxy's RSS (pid ${p.pid})`);
  const base = await settledRss(p.pid, { minWaitMs: 2000 });
  note(`idle sessions: opening ${count} connections`);
  const t0 = Date.now();
  const clients = await openIdle(p.port, count);
  const openMs = Date.now() - t0;
  if (clients.failures) warn(`${clients.failures} of ${count} idle connections failed (${clients.lastError ?? '?'})`);
  const silent = await settledRss(p.pid);
  note(`idle sessions: one PING on each`);
  const t1 = Date.now();
  const ping = await pingAll(clients);
  const pingMs = Date.now() - t1;
  if (ping.failures) warn(`${ping.failures} of ${clients.sockets.length} idle sessions got no +PONG (${ping.lastError ?? '?'})`);
  const pinged = await settledRss(p.pid);
  let masterClients: number | undefined;
  try {
    masterClients = Number(parseInfo(String(await redisCall(masterPort, ['INFO', 'clients']))).connected_clients);
  } catch {
    /* informational */
  }
  const open = clients.sockets.length;
  await closeAll(clients);
  const after = await settledRss(p.pid, { timeoutMs: 10_000 });
  const okSessions = open - ping.failures;
  const kbSilent = (silent.kb - base.kb) / Math.max(1, open);
  const kbPinged = (pinged.kb - base.kb) / Math.max(1, okSessions);
  const out = {
    sessions: open,
    requested: n,
    rssKb: { baseline: base.kb, silent: silent.kb, afterPing: pinged.kb, afterClose: after.kb },
    settled: { baseline: base.settled, silent: silent.settled, afterPing: pinged.settled, afterClose: after.settled },
    kbPerSessionSilent: round(kbSilent, 2),
    kbPerSessionAfterPing: round(kbPinged, 2),
    connectMs: openMs,
    pingMs,
    pingFailures: ping.failures,
    masterConnectedClients: masterClients,
    target: TARGETS.idleKbPerSession,
    ok: kbPinged <= TARGETS.idleKbPerSession,
  };
  await p.stop(10_000);
  proxy = undefined;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Phase: throughput (+ CPU per 100k commands, + -c 50 latency)

interface Column {
  pipeline: number;
  dataSize: number;
  label: string;
  n: number;
}

type Target = 'direct' | 'proxy' | PeerName;

interface RunRecord {
  round: number;
  target: Target;
  rows: BenchRow[];
  wallS: number;
  proxyCpuS?: number;
  /** User-space part of proxyCpuS. */
  proxyCpuUserS?: number;
  /** A peer's CPU seconds (--compare runs), and their user-space part. */
  peerCpuS?: number;
  peerCpuUserS?: number;
  /** CPU seconds of redis-benchmark and of the master during the run (direct and proxy runs). */
  benchCpuS?: number;
  redisCpuS?: number;
  /** The proxy's major collections and GC pause seconds during the run (from its /metrics). */
  proxyGc?: GcDelta;
  commands: number;
  /** CPU used meanwhile by processes other than ours, in cores. */
  otherCores?: number;
  /** Repeated because other processes used too much CPU meanwhile; left out of the medians. */
  discarded?: boolean;
  error?: string;
}

interface RunResult {
  rows: BenchRow[];
  wallS: number;
  cpuS: number;
  /** The user-space part of cpuS (the rest is the kernel's). */
  cpuUserS: number;
  benchCpuS: number;
  redisCpuS: number;
  otherCores: number;
  gc?: GcDelta;
}

/** Our long-lived processes besides this one: the proxy, the --compare peers and every Redis node
 * of the group. */
function ourPids(): number[] {
  const pids = [...group.nodes, ...group.sentinels].map((n) => n.pid).filter((p): p is number => p !== undefined);
  if (proxy && !proxy.exited) pids.push(proxy.pid);
  for (const p of peers.values()) if (!p.exited) pids.push(p.pid);
  return pids;
}

async function measured(port: number, col: { pipeline: number; dataSize: number }, n: number, tests: string[], clients: number, of?: ProxyProcess | PeerProcess): Promise<RunResult> {
  const admin = of && 'adminPort' in of ? of.adminPort : undefined;
  const g0 = admin !== undefined ? await gcTotals(admin) : undefined;
  const s0 = cpuSnapshot(ourPids());
  const c0 = of ? cpuTimesOf(of.pid) : { user: 0, system: 0 };
  const b0 = childrenCpuSeconds();
  const m0 = masterCpuSeconds();
  const r = await runBenchmark({ port, clients, pipeline: col.pipeline, tests, dataSize: col.dataSize, requests: n, timeoutMs: timeoutFor(n, tests.length) });
  const c1 = of ? cpuTimesOf(of.pid) : { user: 0, system: 0 };
  const s1 = cpuSnapshot(ourPids());
  const benchCpuS = childrenCpuSeconds() - b0;
  const redisCpuS = masterCpuSeconds() - m0;
  const gc = admin !== undefined ? gcDelta(g0, await gcTotals(admin)) : undefined;
  return { rows: r.rows, wallS: r.wallS, cpuS: c1.user + c1.system - c0.user - c0.system, cpuUserS: c1.user - c0.user, benchCpuS, redisCpuS, otherCores: otherCpu(s0, s1), ...(gc ? { gc } : {}) };
}

async function proxyRun(col: { pipeline: number; dataSize: number }, n: number, tests: string[], clients = 50): Promise<RunResult> {
  const p = await liveProxy();
  return measured(p.port, col, n, tests, clients, p);
}

/** The master's CPU seconds so far (NaN when it cannot be read). */
function masterCpuSeconds(): number {
  const pid = group.nodes[0]?.pid;
  try {
    return pid === undefined ? NaN : cpuSeconds(pid);
  } catch {
    return NaN;
  }
}

/** The peers that started: those of --compare, and the latency phase's Node.js pipe relay while it runs. */
const peers = new Map<PeerName, PeerProcess>();

async function peerRun(name: PeerName, col: { pipeline: number; dataSize: number }, n: number, tests: string[], clients = 50): Promise<RunResult> {
  let p = peers.get(name);
  if (p === undefined || p.exited) {
    if (p) warn(`${name} (pid ${p.pid}) exited; restarting it. Last output:\n${p.tail()}`);
    p = await startPeer(name, masterPort);
    peers.set(name, p);
  }
  return measured(p.port, col, n, tests, clients, p);
}

function directRun(col: { pipeline: number; dataSize: number }, n: number, tests: string[], clients = 50): Promise<RunResult> {
  return measured(masterPort, col, n, tests, clients);
}

/** Generous: 20 s per test at 5,000 commands/s plus a minute. */
function timeoutFor(n: number, tests: number): number {
  return 60_000 + (tests * n * 1000) / 5000;
}

const rowOf = (rows: BenchRow[], test: string) => rows.find((r) => r.test.toUpperCase() === test);

/**
 * One direct run then one proxy run. When other processes used more than --max-interference cores
 * during either, the pair is recorded as discarded and repeated (at most --retries times).
 */
async function pair(
  label: string,
  round: number,
  run: (target: Target) => Promise<RunResult>,
  commands: number,
  list: RunRecord[],
  targets: readonly Target[] = ['direct', 'proxy'],
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const got: RunRecord[] = [];
    for (const target of targets) {
      try {
        const r = await run(target);
        got.push({ round, target, rows: r.rows, wallS: r.wallS, commands, benchCpuS: r.benchCpuS, redisCpuS: r.redisCpuS, otherCores: round3(r.otherCores), ...(target === 'proxy' ? { proxyCpuS: r.cpuS, proxyCpuUserS: r.cpuUserS, ...(r.gc ? { proxyGc: r.gc } : {}) } : target !== 'direct' ? { peerCpuS: r.cpuS, peerCpuUserS: r.cpuUserS } : {}) });
      } catch (e) {
        warn(`${target} ${label} round ${round}: ${errMsg(e)}`);
        got.push({ round, target, rows: [], wallS: NaN, commands: 0, error: errMsg(e) });
      }
    }
    const worst = Math.max(...got.map((g) => g.otherCores ?? 0));
    if (worst > OPT.maxInterference && attempt < OPT.retries && !interference.gaveUp) {
      note(`${label} round ${round}: other processes used ${fmt(worst, 2)} cores meanwhile; repeating the pair`);
      for (const g of got) list.push({ ...g, discarded: true });
      interference.repeated++;
      continue;
    }
    if (worst > OPT.maxInterference) {
      interference.kept++;
      // The machine stays busy: repeating only makes the benchmark longer.
      if (++interference.keptInARow >= 3 && !interference.gaveUp) {
        interference.gaveUp = true;
        warn(`other processes keep using more than ${OPT.maxInterference} cores: no more repeats; the figures are less reliable`);
      }
    } else interference.keptInARow = 0;
    list.push(...got);
    return;
  }
}

const round3 = (x: number) => round(x, 3);
/** Pairs repeated, and pairs kept although noisy (retries exhausted). */
const interference = { repeated: 0, kept: 0, keptInARow: 0, gaveUp: false };

async function throughputPhase(): Promise<{ columns: Column[]; runs: Map<string, RunRecord[]>; summary: Record<string, unknown>[] }> {
  const tests = ['set', 'get'];
  const columns: Column[] = [
    { pipeline: 1, dataSize: 3, label: 'P1 3B', n: 0 },
    { pipeline: 1, dataSize: 1024, label: 'P1 1KB', n: 0 },
    { pipeline: 16, dataSize: 3, label: 'P16 3B', n: 0 },
    { pipeline: 16, dataSize: 1024, label: 'P16 1KB', n: 0 },
  ];
  await freshProxy();
  const targets: Target[] = ['direct', 'proxy'];
  if (OPT.compare) {
    for (const name of PEER_NAMES) {
      if (peerBinary(name) === undefined) {
        warn(`--compare: ${name} is not installed (bash scripts/ensure-deps.sh --peers); left out`);
        continue;
      }
      try {
        const p = await startPeer(name, masterPort);
        peers.set(name, p);
        targets.push(name);
        note(`compare: ${name} on 127.0.0.1:${p.port} (${p.version}; ${p.setup})`);
      } catch (e) {
        warn(`--compare: ${errMsg(e)}`);
      }
    }
  }
  // Calibration (also the warm-up of both paths): a short run each way; n is sized so a direct test
  // takes about --seconds; the proxy run uses the same n.
  for (const col of columns) {
    const calN = col.pipeline === 1 ? 20_000 : 200_000;
    note(`throughput: calibrating ${col.label} (direct and proxy, n=${calN})`);
    const d = await directRun(col, calN, tests);
    await proxyRun(col, calN, tests).catch((e: unknown) => warn(`proxy warm-up ${col.label}: ${errMsg(e)}`));
    for (const name of peers.keys()) await peerRun(name, col, calN, tests).catch((e: unknown) => warn(`${name} warm-up ${col.label}: ${errMsg(e)}`));
    const rps = median(d.rows.map((r) => r.rps));
    col.n = Math.max(col.pipeline * 50 * 20, Math.round((rps * OPT.seconds) / 1000) * 1000);
  }
  const runs = new Map<string, RunRecord[]>(columns.map((c) => [c.label, []]));
  for (let round = 1; round <= OPT.rounds; round++) {
    for (const col of columns) {
      note(`throughput: round ${round}/${OPT.rounds} ${col.label} n=${fmtInt(col.n)} ${targets.join(', then ')}`);
      const run = (t: Target) => (t === 'direct' ? directRun(col, col.n, tests) : t === 'proxy' ? proxyRun(col, col.n, tests) : peerRun(t, col, col.n, tests));
      await pair(col.label, round, run, col.n * tests.length, runs.get(col.label)!, targets);
    }
  }
  const summary: Record<string, unknown>[] = [];
  for (const col of columns) {
    const list = runs.get(col.label)!;
    const direct = list.filter((r) => r.target === 'direct' && !r.error && !r.discarded);
    const prox = list.filter((r) => r.target === 'proxy' && !r.error && !r.discarded);
    /** Median over the proxy runs of a per-run amount, per 100,000 commands. */
    const per100kOf = (rs: RunRecord[], amount: (r: RunRecord) => number | undefined) => median(rs.map((r) => ((amount(r) ?? NaN) / r.commands) * 1e5));
    const per100k = (amount: (r: RunRecord) => number | undefined) => per100kOf(prox, amount);
    // Where the machine's CPU goes, per 100,000 commands: with two cores shared by the benchmark,
    // Redis and the proxy, throughput cannot beat (direct total / proxied total) of direct once
    // every core is busy.
    const cpu = {
      direct: { bench: per100kOf(direct, (r) => r.benchCpuS), redis: per100kOf(direct, (r) => r.redisCpuS) },
      proxy: { bench: per100k((r) => r.benchCpuS), redis: per100k((r) => r.redisCpuS), proxy: per100k((r) => r.proxyCpuS) },
    };
    const directTotal = cpu.direct.bench + cpu.direct.redis;
    const proxiedTotal = cpu.proxy.bench + cpu.proxy.redis + cpu.proxy.proxy;
    const cpuPer100k = per100k((r) => r.proxyCpuS);
    const cpuUtil = median(prox.map((r) => (r.proxyCpuS ?? NaN) / r.wallS));
    const gcMsPer100k = per100k((r) => (r.proxyGc ? r.proxyGc.seconds * 1000 : undefined));
    const majorPer100k = per100k((r) => r.proxyGc?.major);
    for (const test of ['SET', 'GET']) {
      const pick = (rs: RunRecord[], f: (b: BenchRow) => number) => median(rs.map((r) => rowOf(r.rows, test)).filter((b): b is BenchRow => !!b).map(f));
      const dRps = pick(direct, (b) => b.rps);
      const pRps = pick(prox, (b) => b.rps);
      const ratio = pRps / dRps;
      const target = col.pipeline === 1 ? TARGETS.ratioP1 : TARGETS.ratioP16;
      summary.push({
        test,
        pipeline: col.pipeline,
        dataSize: col.dataSize,
        clients: 50,
        requests: col.n,
        rounds: direct.length,
        directRps: round(dRps, 0),
        proxyRps: round(pRps, 0),
        directRpsAll: direct.map((r) => rowOf(r.rows, test)?.rps),
        proxyRpsAll: prox.map((r) => rowOf(r.rows, test)?.rps),
        ratio: round(ratio, 3),
        target,
        ok: Number.isFinite(ratio) ? ratio >= target : undefined,
        latencyC50: {
          directP50Ms: pick(direct, (b) => b.p50Ms),
          proxyP50Ms: pick(prox, (b) => b.p50Ms),
          directP99Ms: pick(direct, (b) => b.p99Ms),
          proxyP99Ms: pick(prox, (b) => b.p99Ms),
        },
        // The CPU figures cover the SET and the GET test of the same redis-benchmark run.
        proxyCpuSecondsPer100k: round(cpuPer100k, 4),
        proxyCpuUserSecondsPer100k: round(per100k((r) => r.proxyCpuUserS), 4),
        proxyCpuUtilisation: round(cpuUtil, 3),
        cpuSecondsPer100k: {
          direct: { bench: round(cpu.direct.bench, 4), redis: round(cpu.direct.redis, 4), total: round(directTotal, 4) },
          proxy: { bench: round(cpu.proxy.bench, 4), redis: round(cpu.proxy.redis, 4), proxy: round(cpu.proxy.proxy, 4), total: round(proxiedTotal, 4) },
        },
        cpuBoundRatio: round(directTotal / proxiedTotal, 3),
        proxyGcPauseMsPer100k: round(gcMsPer100k, 2),
        proxyMajorGcsPer100k: round(majorPer100k, 2),
        otherCoresMax: round(Math.max(0, ...[...direct, ...prox].map((r) => r.otherCores ?? 0)), 3),
        ...(peers.size > 0
          ? {
              peers: Object.fromEntries(
                [...peers.keys()].map((name) => {
                  const rs = list.filter((r) => r.target === name && !r.error && !r.discarded);
                  const rps = pick(rs, (b) => b.rps);
                  return [name, { rps: round(rps, 0), ratio: round(rps / dRps, 3), rpsAll: rs.map((r) => rowOf(r.rows, test)?.rps), cpuSecondsPer100k: round(per100kOf(rs, (r) => r.peerCpuS), 4), cpuUserSecondsPer100k: round(per100kOf(rs, (r) => r.peerCpuUserS), 4), p50Ms: pick(rs, (b) => b.p50Ms) }];
                }),
              ),
            }
          : {}),
      });
    }
  }
  return { columns, runs, summary };
}

// ---------------------------------------------------------------------------------------------
// Phase: one-connection latency

const latencyRuns: RunRecord[] = [];

/** The pipe relay's p50/p99 and what it adds to direct's. */
function relayFigures(p50: number, p99: number, directP50: number, directP99: number) {
  return { relayP50Ms: p50, relayAddedP50Ms: round(p50 - directP50, 3), relayP99Ms: p99, relayAddedP99Ms: round(p99 - directP99, 3) };
}

async function latencyPhase(): Promise<Record<string, unknown>> {
  const n = OPT.latencyRequests;
  const tests = ['set', 'get'];
  type LatTarget = 'direct' | 'proxy' | 'node-relay';
  const per: Record<string, Record<LatTarget, BenchRow[]>> = {
    SET: { direct: [], proxy: [], 'node-relay': [] },
    GET: { direct: [], proxy: [], 'node-relay': [] },
  };
  // A bare Node.js pipe() relay in the same rounds: the latency any Node.js data path adds here.
  let relay: PeerProcess | undefined;
  try {
    relay = await startPeer('node-relay', masterPort);
    peers.set('node-relay', relay);
  } catch (e) {
    warn(`latency: the Node.js pipe relay did not start, left out: ${errMsg(e)}`);
  }
  const targets: LatTarget[] = relay ? ['direct', 'node-relay', 'proxy'] : ['direct', 'proxy'];
  const col = { pipeline: 1, dataSize: 3 };
  const run = (t: Target, count: number) => (t === 'direct' ? directRun(col, count, tests, 1) : t === 'proxy' ? proxyRun(col, count, tests, 1) : peerRun(t, col, count, tests, 1));
  // Warm-up every path.
  for (const t of targets) await run(t, Math.min(n, 5000));
  for (let round = 1; round <= OPT.rounds; round++) {
    note(`latency: round ${round}/${OPT.rounds}: redis-benchmark -c 1 -P 1 -d 3 -n ${n}, ${targets.join(', then ')}`);
    const list: RunRecord[] = [];
    await pair('latency', round, (t) => run(t, n), n * tests.length, list, targets);
    latencyRuns.push(...list);
    for (const r of list) {
      if (r.discarded || r.error) continue;
      for (const t of ['SET', 'GET']) {
        const row = rowOf(r.rows, t);
        if (row && (targets as Target[]).includes(r.target)) per[t]![r.target as LatTarget].push(row);
      }
    }
  }
  if (relay) {
    peers.delete('node-relay');
    await relay.stop();
  }
  const out: Record<string, unknown> = { clients: 1, pipeline: 1, dataSize: 3, requests: n, rounds: OPT.rounds, runs: latencyRuns };
  for (const t of ['SET', 'GET']) {
    const m = (rs: BenchRow[], f: (b: BenchRow) => number) => median(rs.map(f));
    const x = per[t]!;
    const dP50 = m(x.direct, (b) => b.p50Ms);
    const pP50 = m(x.proxy, (b) => b.p50Ms);
    const dP99 = m(x.direct, (b) => b.p99Ms);
    const pP99 = m(x.proxy, (b) => b.p99Ms);
    out[t] = {
      directP50Ms: dP50,
      proxyP50Ms: pP50,
      addedP50Ms: round(pP50 - dP50, 3),
      directP99Ms: dP99,
      proxyP99Ms: pP99,
      addedP99Ms: round(pP99 - dP99, 3),
      directAvgMs: m(x.direct, (b) => b.avgMs),
      proxyAvgMs: m(x.proxy, (b) => b.avgMs),
      directRps: round(m(x.direct, (b) => b.rps), 0),
      proxyRps: round(m(x.proxy, (b) => b.rps), 0),
      ...(relay ? relayFigures(m(x['node-relay'], (b) => b.p50Ms), m(x['node-relay'], (b) => b.p99Ms), dP50, dP99) : {}),
      target: TARGETS.addedP50Ms,
      ok: pP50 - dP50 <= TARGETS.addedP50Ms,
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Phase: memory under a -P 16 flood of 1 KB SETs

async function floodPhase(proxyRpsHint: number | undefined): Promise<Record<string, unknown>> {
  const col = { pipeline: 16, dataSize: 1024 };
  let rps = proxyRpsHint;
  if (!rps || !Number.isFinite(rps)) {
    note('flood: calibrating (proxy, n=200000)');
    const c = await proxyRun(col, 200_000, ['set']);
    rps = rowOf(c.rows, 'SET')?.rps ?? 100_000;
  }
  const n = Math.max(100_000, Math.round((rps * OPT.floodSeconds) / 1000) * 1000);
  const p = await liveProxy();
  note(`flood: redis-benchmark -c 50 -P 16 -t set -d 1024 -n ${fmtInt(n)} (~${OPT.floodSeconds} s), proxy RSS every 200 ms`);
  const start = rssKb(p.pid);
  const samples: { t: number; kb: number }[] = [{ t: 0, kb: start }];
  const t0 = Date.now();
  const timer = setInterval(() => {
    try {
      samples.push({ t: Date.now() - t0, kb: rssKb(p.pid) });
    } catch {
      /* the proxy is gone: the run fails below */
    }
  }, 200);
  const c0 = cpuSeconds(p.pid);
  const s0 = cpuSnapshot(ourPids());
  let run;
  try {
    run = await runBenchmark({ port: p.port, clients: 50, pipeline: 16, tests: ['set'], dataSize: 1024, requests: n, timeoutMs: timeoutFor(n, 1) });
  } finally {
    clearInterval(timer);
  }
  const c1 = cpuSeconds(p.pid);
  const others = otherCpu(s0, cpuSnapshot(ourPids()));
  const endRun = samples[samples.length - 1]!.kb;
  await sleep(2000);
  const afterIdle = rssKb(p.pid);
  const peak = Math.max(...samples.map((s) => s.kb));
  // Trend over the second half of the run: a leak shows as steady growth, heap warm-up does not.
  const half = samples.filter((s) => s.t >= samples[samples.length - 1]!.t / 2);
  let slope = NaN;
  if (half.length >= 3) {
    const mt = half.reduce((a, s) => a + s.t, 0) / half.length;
    const mk = half.reduce((a, s) => a + s.kb, 0) / half.length;
    const num = half.reduce((a, s) => a + (s.t - mt) * (s.kb - mk), 0);
    const den = half.reduce((a, s) => a + (s.t - mt) ** 2, 0);
    slope = den > 0 ? (num / den) * 1000 : NaN; // kB per second
  }
  const boundKb = OPT.floodBoundMb * 1024;
  const row = rowOf(run.rows, 'SET');
  return {
    requests: n,
    seconds: round(run.wallS, 2),
    rps: row?.rps,
    proxyCpuSecondsPer100k: round(((c1 - c0) / n) * 1e5, 4),
    otherCores: round(others, 3),
    rssKb: { start, peak, endOfRun: endRun, twoSecondsAfter: afterIdle },
    growthSecondHalfKbPerS: round(slope, 1),
    boundMb: OPT.floodBoundMb,
    flat: peak - start <= boundKb,
    samples: samples.map((s) => [s.t, s.kb]),
  };
}

// ---------------------------------------------------------------------------------------------
// Phase: CPU profile during a -P 16 GET run

async function profilePhase(rpsHint: number | undefined): Promise<ProfileSummary & { pipeline: number; requests: number; rps?: number; copy: string; proxyCpuSecondsPer100k: number }> {
  const dir = path.join(os.tmpdir(), `rsp-bench-prof-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  if (proxy && !proxy.exited) await proxy.stop(10_000);
  proxy = undefined;
  const p = await startProxyProcess({ sentinels: group.sentinelAddrs, masterName: group.masterName, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  proxy = p;
  const col = { pipeline: OPT.profilePipeline, dataSize: OPT.profileSize };
  // Warm up (JIT; the SET stores a value of the profiled size for the GETs), then the profiled run
  // proper (only its samples are counted).
  await runBenchmark({ port: p.port, clients: 50, pipeline: col.pipeline, tests: ['set', 'get'], dataSize: col.dataSize, requests: col.pipeline > 1 ? 100_000 : 20_000 });
  const hint = rpsHint && Number.isFinite(rpsHint) && col.pipeline === 16 ? rpsHint : col.pipeline === 16 ? 150_000 : 15_000;
  const n = Math.max(col.pipeline > 1 ? 200_000 : 20_000, Math.round((hint * Math.max(3, OPT.seconds * 2)) / 1000) * 1000);
  note(`profile: redis-benchmark -c 50 -P ${col.pipeline} -t get -d ${col.dataSize} -n ${fmtInt(n)} against node --cpu-prof (pid ${p.pid})`);
  const cpu0 = cpuSeconds(p.pid);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await runBenchmark({ port: p.port, clients: 50, pipeline: col.pipeline, tests: ['get'], dataSize: col.dataSize, requests: n, timeoutMs: timeoutFor(n, 1) });
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpuS = cpuSeconds(p.pid) - cpu0;
  await p.stop(15_000); // SIGTERM: the profile is written at exit
  proxy = undefined;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile written in ${dir} (proxy exit code ${String(p.proc.exitCode)}, signal ${String(p.proc.signalCode)})`);
  const file = path.join(dir, files[0]!);
  mkdirSync(RESULTS, { recursive: true });
  const copy = path.join(RESULTS, `${timestamp}-get-p${col.pipeline}-d${col.dataSize}.cpuprofile`);
  copyFileSync(file, copy);
  const s = summariseProfile(file, ROOT, 25, { fromUs, toUs });
  if (!s.window) warn('profile: could not restrict the profile to the measured run (clock mismatch); it includes start-up and warm-up');
  return { ...s, file, copy: path.relative(ROOT, copy), pipeline: col.pipeline, requests: n, rps: rowOf(r.rows, 'GET')?.rps, proxyCpuSecondsPer100k: round((cpuS / n) * 1e5, 4) };
}

// ---------------------------------------------------------------------------------------------
// Report

function printThroughput(summary: Record<string, unknown>[]): void {
  const rows: string[][] = [['column', 'direct ops/s', 'proxy ops/s', 'ratio', 'target', '', 'p50 c50 d/p ms', 'p99 c50 d/p ms', 'proxy CPU s/100k', 'proxy CPU %', 'GC ms/100k', 'major GC/100k', 'others (cores)']];
  for (const s of summary as Array<Record<string, any>>) {
    rows.push([
      `${s.test} P${s.pipeline} ${s.dataSize === 3 ? '3B' : '1KB'}`,
      fmtInt(s.directRps),
      fmtInt(s.proxyRps),
      fmt(s.ratio, 3),
      `>= ${fmt(s.target, 2)}`,
      verdict(s.ok),
      `${fmt(s.latencyC50.directP50Ms, 3)} / ${fmt(s.latencyC50.proxyP50Ms, 3)}`,
      `${fmt(s.latencyC50.directP99Ms, 3)} / ${fmt(s.latencyC50.proxyP99Ms, 3)}`,
      fmt(s.proxyCpuSecondsPer100k, 3),
      `${fmt(100 * s.proxyCpuUtilisation, 0)} %`,
      fmt(s.proxyGcPauseMsPer100k, 1),
      fmt(s.proxyMajorGcsPer100k, 2),
      fmt(s.otherCoresMax, 2),
    ]);
  }
  log(table(rows));
  log('(CPU s/100k, CPU % and the GC figures cover the SET and GET tests of one redis-benchmark run, so they repeat on both lines;');
  log(' GC ms: the proxy\'s main-thread GC pauses, from its /metrics; concurrent marking on helper threads is CPU time, not pause;');
  log(' "others": the most CPU that processes other than the benchmark, Redis and the proxy used during a kept run)');
  log(REFERENCE);
  log('');
  log('=== Where the CPU goes: CPU seconds per 100,000 commands (medians; SET and GET of one run together) ===');
  const cpuRows: string[][] = [['column', 'direct: bench', 'redis', 'total', 'proxied: bench', 'redis', 'proxy', 'total', 'CPU-bound ratio', 'measured ratio']];
  for (const s of summary as Array<Record<string, any>>) {
    if (s.test !== 'SET') continue;
    const c = s.cpuSecondsPer100k;
    const get = (summary as Array<Record<string, any>>).find((g) => g.test === 'GET' && g.pipeline === s.pipeline && g.dataSize === s.dataSize);
    cpuRows.push([
      `P${s.pipeline} ${s.dataSize === 3 ? '3B' : '1KB'}`,
      fmt(c.direct.bench, 3),
      fmt(c.direct.redis, 3),
      fmt(c.direct.total, 3),
      fmt(c.proxy.bench, 3),
      fmt(c.proxy.redis, 3),
      fmt(c.proxy.proxy, 3),
      fmt(c.proxy.total, 3),
      fmt(s.cpuBoundRatio, 2),
      `${fmt(s.ratio, 2)} / ${fmt(get?.ratio, 2)}`,
    ]);
  }
  log(table(cpuRows));
  log('(CPU-bound ratio = direct total / proxied total: the proxy/direct ratio to expect when both runs keep both cores busy.');
  log(' The proxy saves Redis CPU (a shared link brings it many sessions\' commands per read) but costs more than it saves.)');
}

async function stopPeers(): Promise<void> {
  for (const p of peers.values()) await p.stop().catch(() => undefined);
}

function printPeers(summary: Record<string, unknown>[]): void {
  log('');
  log('=== The alternatives in the same rounds: ratio to direct (median ops/s) ===');
  for (const p of peers.values()) log(`${p.name}: ${p.version} (${p.setup})`);
  const names = [...peers.keys()];
  const rows: string[][] = [['column', 'redis-sentinel-proxy', ...names, 'ahead of all', ...names.map((n) => `${n} CPU s/100k (user)`), 'proxy CPU s/100k (user)']];
  for (const s of summary as Array<Record<string, any>>) {
    const ratios = names.map((n) => s.peers?.[n]?.ratio as number | undefined);
    const ahead = ratios.every((r) => r === undefined || !Number.isFinite(r) || s.ratio > r);
    rows.push([
      `${s.test} P${s.pipeline} ${s.dataSize === 3 ? '3B' : '1KB'}`,
      `${fmt(s.ratio, 3)}  (${fmtInt(s.proxyRps)})`,
      ...names.map((n, i) => `${fmt(ratios[i] ?? NaN, 3)}  (${fmtInt(s.peers?.[n]?.rps)})`),
      ahead ? 'yes' : 'NO',
      ...names.map((n) => `${fmt(s.peers?.[n]?.cpuSecondsPer100k, 3)} (${fmt(s.peers?.[n]?.cpuUserSecondsPer100k, 3)})`),
      `${fmt(s.proxyCpuSecondsPer100k, 3)} (${fmt(s.proxyCpuUserSecondsPer100k, 3)})`,
    ]);
  }
  log(table(rows));
  log('(CPU s/100k: SET and GET of one run together; in brackets the user-space part, the rest is kernel time)');
}

async function main(): Promise<void> {
  installCleanup();
  onInterrupt(() => {
    try {
      const f = writeResults();
      process.stderr.write(`partial results written to ${path.relative(ROOT, f)}\n`);
    } catch {
      /* best effort */
    }
  });
  if (process.platform !== 'linux') {
    console.error('bench: needs Linux (/proc for the proxy CPU and RSS)');
    process.exit(2);
  }
  if (!result.env || !(result.env as Record<string, unknown>).redisBenchmark) {
    console.error('bench: redis-benchmark not found on PATH (run `bash scripts/ensure-deps.sh`)');
    process.exit(2);
  }
  const env = result.env as Record<string, any>;
  if (OPT.waitQuietS > 0) {
    const until = Date.now() + OPT.waitQuietS * 1000;
    // Quiet = two 3-second samples in a row under 25 % busy.
    let busy = await machineBusy(3000);
    let quietInARow = busy < 0.25 ? 1 : 0;
    while (quietInARow < 2 && Date.now() < until) {
      if (busy >= 0.25) note(`waiting for a quiet machine: ${fmt(100 * busy, 0)} % CPU busy`);
      busy = await machineBusy(3000);
      quietInARow = busy < 0.25 ? quietInARow + 1 : 0;
    }
    if (busy >= 0.25) warn(`the machine is still ${fmt(100 * busy, 0)} % busy after waiting ${OPT.waitQuietS} s; running anyway`);
  }
  env.machineBusyAtStart = round(await machineBusy(2000), 3);
  log(`redis-sentinel-proxy benchmark  ${new Date().toISOString()}  commit ${env.gitCommit ?? '?'}${env.gitDirtySrc ? ' (src/ has uncommitted changes)' : ''}`);
  log(`node ${env.node}, ${env.cpus} CPUs (${env.cpuModel ?? '?'}), ${env.redisBenchmark}; load average ${env.loadAvgStart.join(' ')}, CPU busy before start ${fmt(100 * env.machineBusyAtStart, 0)} %`);
  log(`options: rounds ${OPT.rounds}, ~${OPT.seconds} s per direct test, ${OPT.sessions} idle sessions, ${OPT.floodSeconds} s flood${OPT.quick ? ' (--quick)' : ''}`);
  if (env.cpus <= 2) log(`note: ${env.cpus} cores shared by redis-benchmark, redis-server and the proxy: the proxy competes with the load generator for CPU.`);
  if (env.machineBusyAtStart > 0.25) warn(`the machine was ${fmt(100 * env.machineBusyAtStart, 0)} % CPU busy before the start (load average ${env.loadAvgStart[0]} on ${env.cpus} CPUs): other work will make the figures noisy`);
  log();

  note('starting the sandbox group (1 master, 1 replica, 3 sentinels)');
  group = await startGroup({ replicas: 1 });
  masterPort = group.nodes[0]!.port;
  const master = await group.waitForMaster();
  if (master !== group.nodes[0]!.addr) throw new Error(`unexpected master ${master}`);
  result.group = { master, replicas: group.nodes.slice(1).map((n) => n.addr), sentinels: group.sentinelAddrs };

  // 4. RSS per idle session (first, on a fresh proxy process).
  if (!OPT.skip.has('idle')) {
    try {
      result.idle = await idlePhase();
    } catch (e) {
      warn(`idle sessions: ${errMsg(e)}`);
      result.idle = { error: errMsg(e) };
    }
  }

  // 1 + 3. Throughput and CPU.
  let p16SetRps: number | undefined;
  let p16GetRps: number | undefined;
  if (!OPT.skip.has('throughput')) {
    try {
      const t = await throughputPhase().finally(stopPeers);
      result.throughput = {
        command: `redis-benchmark -h 127.0.0.1 -p <master|proxy> -c 50 -P <1|16> -t set,get -d <3|1024> -n <N> --csv`,
        columns: t.columns.map((c) => ({ label: c.label, pipeline: c.pipeline, dataSize: c.dataSize, requests: c.n })),
        summary: t.summary,
        runs: Object.fromEntries(t.runs),
        proxyArgv: proxy?.argv.map((a) => (a.startsWith(ROOT) ? path.relative(ROOT, a) : a)).join(' '),
        ...(peers.size > 0 ? { peers: [...peers.values()].map((p) => ({ name: p.name, version: p.version, setup: p.setup })) } : {}),
      };
      const s = t.summary as Array<Record<string, any>>;
      p16SetRps = s.find((x) => x.test === 'SET' && x.pipeline === 16 && x.dataSize === 1024)?.proxyRps;
      p16GetRps = s.find((x) => x.test === 'GET' && x.pipeline === 16 && x.dataSize === 3)?.proxyRps;
    } catch (e) {
      warn(`throughput: ${errMsg(e)}`);
      result.throughput = { error: errMsg(e) };
    }
  }

  // 2. Latency.
  if (!OPT.skip.has('latency')) {
    try {
      result.latency = await latencyPhase();
    } catch (e) {
      warn(`latency: ${errMsg(e)}`);
      result.latency = { error: errMsg(e) };
    }
  }

  // 5. Flood.
  if (!OPT.skip.has('flood')) {
    try {
      result.flood = await floodPhase(p16SetRps);
    } catch (e) {
      warn(`flood: ${errMsg(e)}`);
      result.flood = { error: errMsg(e) };
    }
  }

  // 6. Profile.
  if (OPT.profile) {
    try {
      result.profile = await profilePhase(p16GetRps);
    } catch (e) {
      warn(`profile: ${errMsg(e)}`);
      result.profile = { error: errMsg(e) };
    }
  }

  if (proxy && !proxy.exited) await proxy.stop(10_000);
  await group.stop();

  // ------------------------------------------------------------------ report
  log();
  log('=== Throughput: redis-benchmark -c 50 -t set,get --csv, medians of ' + OPT.rounds + ' interleaved round(s) ===');
  const thr = result.throughput as Record<string, any> | undefined;
  if (thr?.summary) {
    printThroughput(thr.summary);
    if (peers.size > 0) printPeers(thr.summary);
  }
  else if (thr?.error) log(`failed: ${thr.error}`);
  else log('skipped');

  log();
  log('=== Added latency at -P 1, one connection: redis-benchmark -c 1 -P 1 -d 3 (ms) ===');
  const lat = result.latency as Record<string, any> | undefined;
  if (lat && !lat.error) {
    const relay = lat.SET?.relayP50Ms !== undefined;
    const rows = [['test', 'direct p50', 'proxy p50', 'added p50', 'target', '', 'direct p99', 'proxy p99', 'added p99', 'direct ops/s', 'proxy ops/s', ...(relay ? ['node relay added p50 / p99'] : [])]];
    for (const t of ['SET', 'GET']) {
      const x = lat[t];
      rows.push([t, fmt(x.directP50Ms, 3), fmt(x.proxyP50Ms, 3), fmt(x.addedP50Ms, 3), `<= ${TARGETS.addedP50Ms}`, verdict(x.ok), fmt(x.directP99Ms, 3), fmt(x.proxyP99Ms, 3), fmt(x.addedP99Ms, 3), fmtInt(x.directRps), fmtInt(x.proxyRps), ...(relay ? [`${fmt(x.relayAddedP50Ms, 3)} / ${fmt(x.relayAddedP99Ms, 3)}`] : [])]);
    }
    log(table(rows));
    log('(redis-benchmark reports latency with 1 µs resolution; the -c 50 p50/p99 are in the throughput table)');
    if (relay) log('(node relay: a bare Node.js pipe() relay, bench/lib/pipe-relay.ts, in the same rounds: what any Node.js data path adds here)');
  } else log(lat?.error ? `failed: ${lat.error}` : 'skipped');

  log();
  log('=== RSS per idle client session ===');
  const idle = result.idle as Record<string, any> | undefined;
  if (idle && !idle.error) {
    log(
      table([
        ['state', 'proxy RSS', 'KB per session', 'target', ''],
        ['fresh proxy', `${fmtInt(idle.rssKb.baseline)} kB`, '', '', ''],
        [`${idle.sessions} connected, silent`, `${fmtInt(idle.rssKb.silent)} kB`, fmt(idle.kbPerSessionSilent, 1), '', ''],
        [`after one PING each`, `${fmtInt(idle.rssKb.afterPing)} kB`, fmt(idle.kbPerSessionAfterPing, 1), `<= ${TARGETS.idleKbPerSession}`, verdict(idle.ok)],
        [`all closed`, `${fmtInt(idle.rssKb.afterClose)} kB`, '', '', ''],
      ]),
    );
    log(`(connect ${idle.connectMs} ms, PINGs ${idle.pingMs} ms; master connected_clients with the sessions open: ${idle.masterConnectedClients ?? '?'})`);
  } else log(idle?.error ? `failed: ${idle.error}` : 'skipped');

  log();
  log(`=== Proxy RSS under a -P 16 flood of 1 KB SETs (redis-benchmark -c 50 -P 16 -t set -d 1024, ~${OPT.floodSeconds} s) ===`);
  const fl = result.flood as Record<string, any> | undefined;
  if (fl && !fl.error) {
    log(
      `start ${fmtInt(fl.rssKb.start)} kB, peak ${fmtInt(fl.rssKb.peak)} kB (+${fmt((fl.rssKb.peak - fl.rssKb.start) / 1024, 1)} MB), end of run ${fmtInt(fl.rssKb.endOfRun)} kB, 2 s later ${fmtInt(fl.rssKb.twoSecondsAfter)} kB; ` +
        `growth over the 2nd half ${fmt(fl.growthSecondHalfKbPerS, 0)} kB/s; ${fmtInt(fl.rps)} SET/s, ${fl.requests.toLocaleString('en-US')} in ${fl.seconds} s`,
    );
    log(`flat (peak within start + ${fl.boundMb} MB): ${fl.flat ? 'yes' : 'NO'}; proxy CPU ${fmt(fl.proxyCpuSecondsPer100k, 3)} s/100k SETs`);
  } else log(fl?.error ? `failed: ${fl.error}` : 'skipped');

  const prof = result.profile as Record<string, any> | undefined;
  if (prof) {
    log();
    log(`=== CPU profile of the proxy: -c 50 -P ${OPT.profilePipeline} -t get -d ${OPT.profileSize}, top self time ===`);
    if (prof.error) log(`failed: ${prof.error}`);
    else {
      log(`${fmtInt(prof.rps)} GET/s while profiled, proxy CPU ${fmt(prof.proxyCpuSecondsPer100k, 3)} s/100k; busy ${fmt(prof.busyMs, 0)} ms of ${fmt(prof.totalMs, 0)} ms sampled; profile: ${prof.copy}`);
      log(table([['self %', 'self ms', 'function', 'where'], ...(prof.top as Array<Record<string, any>>).slice(0, 20).map((e) => [`${fmt(e.pct, 1)} %`, fmt(e.selfMs, 0), e.function, e.where])]));
      log('by category: ' + Object.entries(prof.byCategory as Record<string, { pct: number }>).sort((a, b) => b[1].pct - a[1].pct).map(([k, v]) => `${k} ${fmt(v.pct, 1)} %`).join(', '));
    }
  }

  result.interference = { maxCores: OPT.maxInterference, retries: OPT.retries, pairsRepeated: interference.repeated, noisyPairsKept: interference.kept, gaveUp: interference.gaveUp };
  log();
  log(
    `interference: ${interference.repeated} direct/proxy pair(s) repeated because other processes used > ${OPT.maxInterference} cores meanwhile` +
      (interference.kept ? `; ${interference.kept} noisy pair(s) kept (repeats used up${interference.gaveUp ? ' or given up on' : ''}): the figures are less reliable` : ''),
  );
  const file = writeResults();
  if (warnings.length) log(`${warnings.length} warning(s), see above and in the JSON`);
  log(`results: ${path.relative(ROOT, file)} (and bench/results/latest.json)`);
}

main()
  .then(() => process.exit(0))
  .catch((e: unknown) => {
    console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    if (proxy) console.error(`proxy output:\n${proxy.tail()}`);
    try {
      result.error = errMsg(e);
      writeResults();
    } catch {
      /* best effort */
    }
    process.exit(1);
  });
