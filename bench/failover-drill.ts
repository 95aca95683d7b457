// Failover drill (`npm run bench:failover`): plain INCR clients through the proxy while Sentinel
// moves the master, in four scenarios, each in a fresh sandbox group (1 master, 2 replicas,
// 3 sentinels, down-after 1000 ms):
//
//   planned  SENTINEL FAILOVER
//   kill     kill -9 of the master
//   zombie   SIGSTOP of the master for 4 s, then SIGCONT: Sentinel fails over meanwhile and demotes
//            the old master when it wakes up; it must get no write from the proxy
//   restart  kill -9 of the master, then the old one restarted as a bare master (no replicaof):
//            it claims to be master until Sentinel demotes it; it must get no write from the proxy
//
// Per scenario: acknowledged INCRs, client-visible errors by code word, disconnects, the longest
// stall (send → reply) and lost acknowledged writes (highest value a client was acknowledged minus
// the counter's final value on the master Sentinel names at the end), next to the targets (PASS /
// FAIL), then a summary table. A missed target prints the timeline of the scenario (fault, sentinel
// events, what the proxy did, what the clients saw). The exit code is 0 even when a target is
// missed (it is a measurement); 2 when a scenario could not be run at all.
//
//   npm run bench:failover -- [--scenario planned|kill|zombie|restart] [--clients 8] [--runs 1]
//                             [--json FILE] [--timeline] [--log-dir DIR]
//
// The proxy runs in-process with the default configuration (defaultProxyConfig), logging at debug
// level to one file per scenario (the path is printed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startGroup, waitFor, sleep, redisCall, parseInfo, leaveSignalsToCaller, killAllSandboxProcesses } from '../src/sandbox/group.js';
import type { SandboxGroup, SandboxNode } from '../src/sandbox/types.js';
import { startProxy, type RunningProxy } from '../src/proxy.js';
import { defaultProxyConfig } from '../src/config/defaults.js';
import { createLogger } from '../src/logger.js';
import { startIncrLoad, errorCount, maxErrorsPerClient, type Load, type LoadStats } from './lib/incr-load.js';

const SCENARIOS = ['planned', 'kill', 'zombie', 'restart'] as const;
type Scenario = (typeof SCENARIOS)[number];

const HELP = `Usage: node dist/bench/failover-drill.js [options]
  --scenario NAME   planned | kill | zombie | restart (default: all four, each in a fresh group)
  --clients N       concurrent INCR clients (default 8)
  --runs N          repeat the whole drill N times (default 1)
  --json FILE       write every result (figures, targets, timelines) to FILE
  --timeline        print each scenario's timeline (always printed when a target is missed)
  --after-ops N     acknowledged INCRs to wait for after the new master is verified (default 3000)
  --after-ms N      and at least this long (default 3000)
  --log-dir DIR     where the proxy's debug logs go (default: a new directory under $TMPDIR)
  --log-level L     debug (default) or trace (adds every topology refresh)
  -h, --help`;

interface Opts {
  scenarios: Scenario[];
  clients: number;
  runs: number;
  json?: string;
  timeline: boolean;
  afterOps: number;
  afterMs: number;
  logDir: string;
  logLevel: 'debug' | 'trace';
}

function parseOpts(): Opts {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string' },
      clients: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'string' },
      timeline: { type: 'boolean' },
      'after-ops': { type: 'string' },
      'after-ms': { type: 'string' },
      'log-dir': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (v: string | undefined, name: string, def: number, min: number): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}\n\n${HELP}`);
      process.exit(64);
    }
    return n;
  };
  let scenarios: Scenario[] = [...SCENARIOS];
  if (values.scenario !== undefined) {
    const wanted = values.scenario.split(',').map((s) => s.trim());
    for (const w of wanted) {
      if (!(SCENARIOS as readonly string[]).includes(w)) {
        console.error(`--scenario: unknown scenario ${JSON.stringify(w)} (one of ${SCENARIOS.join(', ')})\n\n${HELP}`);
        process.exit(64);
      }
    }
    scenarios = wanted as Scenario[];
  }
  const logDir = values['log-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-drill-'));
  fs.mkdirSync(logDir, { recursive: true });
  return {
    scenarios,
    clients: int(values.clients, 'clients', 8, 1),
    runs: int(values.runs, 'runs', 1, 1),
    json: values.json,
    timeline: values.timeline ?? false,
    afterOps: int(values['after-ops'], 'after-ops', 3000, 0),
    afterMs: int(values['after-ms'], 'after-ms', 3000, 0),
    logDir,
    logLevel: values['log-level'] === 'trace' ? 'trace' : 'debug',
  };
}

// ---------------------------------------------------------------------------------------------
// Cleanup: everything a scenario starts is registered here and closed in reverse order, also on
// Ctrl-C / SIGTERM (the sandbox's own exit handler and watchdog remain as a last resort).

type Closer = () => Promise<unknown> | unknown;
const closers: Closer[] = [];

async function runCloser(fn: Closer): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([Promise.resolve().then(fn), new Promise((r) => (timer = setTimeout(r, 5000)))]);
  } catch {
    /* best effort */
  } finally {
    clearTimeout(timer);
  }
}

/** Registers `fn`; the returned function unregisters and runs it (once). */
function onCleanup(fn: Closer): () => Promise<void> {
  closers.push(fn);
  return async () => {
    const i = closers.indexOf(fn);
    if (i < 0) return;
    closers.splice(i, 1);
    await runCloser(fn);
  };
}

async function cleanupAll(): Promise<void> {
  while (closers.length > 0) await runCloser(closers.pop()!);
}

let interrupted = false;
function installSignalHandlers(): void {
  leaveSignalsToCaller(true);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (interrupted) {
        killAllSandboxProcesses();
        process.exit(130);
      }
      interrupted = true;
      console.error(`\n${sig}: stopping the load, the proxy and the sandbox group...`);
      void cleanupAll().finally(() => {
        killAllSandboxProcesses();
        process.exit(130);
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Timeline

interface TimelineEntry {
  t: number; // Date.now()
  src: 'drill' | 'sentinel' | 'proxy' | 'clients' | 'node';
  what: string;
}

/** Subscribes to every sentinel's event channels (the hello channel excepted). */
function watchSentinels(group: SandboxGroup, out: TimelineEntry[]): () => void {
  const subs: Redis[] = [];
  group.sentinels.forEach((s, i) => {
    const r = new Redis({ host: s.host, port: s.port, maxRetriesPerRequest: 0, lazyConnect: false, retryStrategy: () => 200 });
    r.on('error', () => {});
    r.on('pmessage', (_p: string, channel: string, message: string) => {
      if (channel.startsWith('__sentinel__')) return;
      out.push({ t: Date.now(), src: 'sentinel', what: `s${i} ${channel} ${message}` });
    });
    void r.psubscribe('*').catch(() => undefined);
    subs.push(r);
  });
  return () => {
    for (const r of subs) r.disconnect();
  };
}

/** The interesting lines of the proxy's log (pino JSON), as timeline entries. */
function proxyLogTimeline(file: string, from: number): TimelineEntry[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: TimelineEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const t = Number(j.time);
    if (!(t >= from)) continue;
    const msg = String(j.msg ?? '');
    const level = Number(j.level ?? 30);
    const f = (k: string) => (j[k] === undefined ? '' : String(j[k]));
    let what: string | undefined;
    if (msg.startsWith('fenced:')) what = `fenced (${f('reason')}) master=${f('master')}`;
    else if (msg.startsWith('a replica was promoted') && j.event === 'promoted') what = 'promoted: links with commands in flight to the old master get cut';
    else if (msg === 'master verified' && j.event === 'master') what = `master verified ${f('master')} (previous ${f('previous') || '-'})`;
    else if (msg.startsWith('unfenced')) what = `unfenced (${f('reason')}) master=${f('master')}`;
    else if (msg.startsWith('cutting link')) what = `session cuts link to ${f('node')} (commands in flight)`;
    else if (msg === 'backend link closed') what = `backend link to ${f('node')} closed${j.neverConnected ? ' (never connected)' : ''}: ${f('err') || 'EOF'}`;
    else if (msg === 'leaving link') what = `session leaves link to ${f('node')} (${f('why')})`;
    else if (msg === 'held commands timed out') what = 'held commands timed out (MASTERDOWN)';
    else if (msg.startsWith('master answered READONLY')) what = `READONLY from ${f('node')}: refresh`;
    else if (msg === 'topology refresh failed') what = `topology refresh failed: ${f('err')}`;
    else if (msg === 'named master not verified yet') what = `named master ${f('candidate')} not verified yet (ROLE ${f('role')})`;
    else if (msg === 'sentinel event' && (f('event') === '+switch-master' || f('event') === '+odown' || f('event') === '+try-failover'))
      what = `got ${f('event')} from ${f('sentinel')}`;
    else if (level >= 40) what = `${level >= 50 ? 'ERROR' : 'WARN'} ${msg}`;
    if (what !== undefined) out.push({ t, src: 'proxy', what });
  }
  return out;
}

function clientTimeline(stats: LoadStats, from: number): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (const e of stats.events) {
    if (e.t < from) continue;
    if (e.kind === 'error') out.push({ t: e.t, src: 'clients', what: `error ${e.line} (sent ${e.t - (e.sentAt ?? e.t)} ms before)` });
    else if (e.kind === 'disconnect') out.push({ t: e.t, src: 'clients', what: 'disconnected by the proxy' });
    else if (e.kind === 'connect') out.push({ t: e.t, src: 'clients', what: 'reconnected' });
    else if (e.kind === 'stall') out.push({ t: e.t, src: 'clients', what: `reply after ${e.stallMs} ms` });
  }
  return out;
}

/** Sorted, with identical consecutive lines within 200 ms folded into "×N" and stalls summarised. */
function foldTimeline(entries: TimelineEntry[]): TimelineEntry[] {
  const sorted = [...entries].sort((a, b) => a.t - b.t);
  const out: (TimelineEntry & { n: number; last: number; maxStall?: number; minStall?: number })[] = [];
  for (const e of sorted) {
    const stall = /^reply after (\d+) ms$/.exec(e.what);
    const key = stall ? 'reply after' : e.what.replace(/\(sent \d+ ms before\)/, '');
    const prev = [...out].reverse().find((p) => p.src === e.src && (p.what.startsWith('reply after') ? 'reply after' : p.what.replace(/\(sent \d+ ms before\)/, '')) === key);
    if (prev && e.t - prev.last <= 200) {
      prev.n++;
      prev.last = e.t;
      if (stall) {
        const ms = Number(stall[1]);
        prev.maxStall = Math.max(prev.maxStall ?? 0, ms);
        prev.minStall = Math.min(prev.minStall ?? Infinity, ms);
      }
      continue;
    }
    const ms = stall ? Number(stall[1]) : undefined;
    out.push({ ...e, n: 1, last: e.t, maxStall: ms, minStall: ms });
  }
  return out.map((e) => {
    let what = e.what;
    if (e.maxStall !== undefined) what = e.n > 1 ? `${e.n} replies after ${e.minStall}–${e.maxStall} ms` : `reply after ${e.maxStall} ms`;
    else if (e.n > 1) what = `${e.n}× ${what}${e.last > e.t ? ` (over ${e.last - e.t} ms)` : ''}`;
    return { t: e.t, src: e.src, what };
  });
}

// ---------------------------------------------------------------------------------------------
// Watching the old master: which INCRs did it execute, from whom?

interface MonitorEntry {
  ts: number; // server time, ms
  addr: string;
  cmd: string;
  key?: string;
}

/** A MONITOR connection to one node that reconnects when killed (Sentinel's CLIENT KILL TYPE
 * normal at demotion kills it) until stopped. Records INCRs and every client address seen. */
class NodeMonitor {
  readonly incrs: MonitorEntry[] = [];
  /** Address → server time of its first command seen. */
  readonly addrsSeen = new Map<string, number>();
  /** Intervals with no MONITOR attached (reconnects). */
  readonly gaps: { from: number; to?: number }[] = [];
  attachedAt?: number;
  private sock?: net.Socket;
  private stopped = false;

  constructor(readonly node: SandboxNode) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.connect(resolve, reject);
    });
  }

  private connect(onOk?: () => void, onFail?: (e: Error) => void): void {
    const s = net.connect({ host: this.node.host, port: this.node.port });
    this.sock = s;
    let buf = '';
    let ok = false;
    s.on('connect', () => s.write('MONITOR\r\n'));
    s.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (!ok) {
          if (line === '+OK') {
            ok = true;
            this.attachedAt ??= Date.now();
            const g = this.gaps[this.gaps.length - 1];
            if (g && g.to === undefined) g.to = Date.now();
            onOk?.();
          }
          continue;
        }
        const m = /^\+(\d+)\.(\d+) \[\d+ ([^\]]+)\] "([^"]*)"(?: "((?:[^"\\]|\\.)*)")?/.exec(line);
        if (!m) continue;
        const ts = Number(m[1]) * 1000 + Math.floor(Number(m[2]) / 1000);
        const addr = m[3]!;
        if (!this.addrsSeen.has(addr)) this.addrsSeen.set(addr, ts);
        const cmd = m[4]!.toUpperCase();
        if (cmd === 'INCR') this.incrs.push({ ts, addr, cmd, key: m[5] });
      }
    });
    s.on('error', (err) => {
      if (!ok) onFail?.(err);
    });
    s.on('close', () => {
      if (this.sock !== s || this.stopped) return;
      if (ok) this.gaps.push({ from: Date.now() });
      // Reconnect (also while the node restarts or is frozen: the attempt then just waits).
      setTimeout(() => {
        if (!this.stopped) this.connect();
      }, ok ? 0 : 100);
    });
  }

  stop(): void {
    this.stopped = true;
    this.sock?.destroy();
  }
}

interface RoleSample {
  t: number;
  role: string;
  incrCalls: number;
}

async function roleAndIncr(node: SandboxNode): Promise<RoleSample> {
  const text = String(await redisCall(node.port, ['INFO', 'replication', 'commandstats'], { timeoutMs: 1000 }));
  const info = parseInfo(text);
  const m = /(?:^|;)?calls=(\d+)/.exec(info['cmdstat_incr'] ?? '');
  return { t: Date.now(), role: info['role'] ?? '?', incrCalls: m ? Number(m[1]) : 0 };
}

/** Polls ROLE (+ commandstats) of `node` every 50 ms until it says slave. Returns the last sample
 * that still said master and the first that said slave. */
async function waitDemoted(node: SandboxNode, timeoutMs: number): Promise<{ lastMaster?: RoleSample; demoted?: RoleSample }> {
  const deadline = Date.now() + timeoutMs;
  let lastMaster: RoleSample | undefined;
  while (Date.now() < deadline && !interrupted) {
    try {
      const s = await roleAndIncr(node);
      if (s.role === 'master') lastMaster = s;
      else if (s.role === 'slave') return { lastMaster, demoted: s };
    } catch {
      /* not answering yet */
    }
    await sleep(50);
  }
  return { lastMaster };
}

// ---------------------------------------------------------------------------------------------
// One scenario

interface OldNodeCheck {
  node: string;
  /** INFO commandstats cmdstat_incr calls, as the issue asks: right after SIGCONT / right after the
   * restart, while it still said ROLE master (last poll before the demotion), and at the end. */
  incrCallsAtWake?: number;
  incrCallsLastAsMaster?: number;
  incrCallsAtEnd?: number;
  /** INCRs the node executed after it woke / restarted, by origin (from MONITOR): */
  monitor: {
    /** From its master link after the demotion (the new master's writes, replicated). */
    replicated: number;
    /** INCRs the proxy forwarded before it fenced (Sentinel still named the node master), left in
     * the frozen node's socket buffer and executed when it woke; their clients got an error reply
     * (link cut at the promotion), never an acknowledgement. At most one per client. */
    sentBeforeFence: number;
    /** Anything else: a write the proxy sent to a node Sentinel did not name master. */
    fromProxyAfterFault: number;
    examples: string[];
    gapsMs: number;
  };
  /** How long the node claimed ROLE master after waking / restarting (until Sentinel demoted it). */
  masterClaimMs?: number;
  demoted: boolean;
  /** Fault → the proxy fenced (zombie). */
  proxyFencedAfterMs?: number;
  violations: number;
}

interface Target {
  name: string;
  pass: boolean;
  value: string;
}

interface Result {
  run: number;
  scenario: Scenario;
  clients: number;
  oldMaster: string;
  newMaster?: string;
  finalMaster?: string;
  /** Fault → first +switch-master published by a sentinel. */
  switchMs?: number;
  /** Fault → the proxy verified the new master (its log). */
  proxySwitchMs?: number;
  ops: number;
  opsAfterFailover: number;
  errors: Record<string, number>;
  errorSamples: Record<string, string>;
  maxErrorsPerClient: number;
  disconnects: number;
  longestStallMs: number;
  /** Longest stall's command was sent this long after the fault (negative: before). */
  longestStallSentAfterFaultMs: number;
  lost: number;
  lostByKey: Record<string, number>;
  unansweredAtStop: number;
  oldNode?: OldNodeCheck;
  targets: Target[];
  pass: boolean;
  error?: string;
  logFile: string;
  timeline: { ms: number; src: string; what: string }[];
}

function evaluate(r: Result): Target[] {
  const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const t: Target[] = [];
  const add = (name: string, pass: boolean, value: string | number) => t.push({ name, pass, value: String(value) });
  switch (r.scenario) {
    case 'planned':
      add('errors = 0', errs === 0, errs);
      add('disconnects = 0', r.disconnects === 0, r.disconnects);
      add('lost = 0', r.lost === 0, r.lost);
      add('stall ≤ 1500 ms', r.longestStallMs <= 1500, `${r.longestStallMs} ms`);
      break;
    case 'kill':
      add('disconnects = 0', r.disconnects === 0, r.disconnects);
      add('errors ≤ 1 per client', r.maxErrorsPerClient <= 1, `max ${r.maxErrorsPerClient} (total ${errs})`);
      add('stall ≤ 3000 ms', r.longestStallMs <= 3000, `${r.longestStallMs} ms`);
      add('lost = 0', r.lost === 0, r.lost);
      break;
    case 'zombie':
    case 'restart':
      add('lost = 0', r.lost === 0, r.lost);
      add('writes to old node = 0', r.oldNode !== undefined && r.oldNode.violations === 0, r.oldNode ? r.oldNode.violations : 'not measured');
      break;
  }
  if (r.error) add('ran to the end', false, r.error);
  if (r.ops === 0 || r.opsAfterFailover === 0) add('load progressed after the failover', false, r.opsAfterFailover);
  return t;
}

async function getCounters(masterAddr: string, keys: string[]): Promise<Map<string, number>> {
  const port = Number(masterAddr.slice(masterAddr.lastIndexOf(':') + 1));
  const out = new Map<string, number>();
  if (keys.length === 0) return out;
  const vals = (await redisCall(port, ['MGET', ...keys], { timeoutMs: 5000 })) as (string | null)[];
  keys.forEach((k, i) => out.set(k, Number(vals[i] ?? 0)));
  return out;
}

async function runScenario(scenario: Scenario, run: number, opts: Opts): Promise<Result> {
  const logFile = path.join(opts.logDir, `${scenario}-run${run}.log`);
  const timeline: TimelineEntry[] = [];
  const mark = (what: string) => timeline.push({ t: Date.now(), src: 'drill', what });
  const r: Result = {
    run,
    scenario,
    clients: opts.clients,
    oldMaster: '',
    ops: 0,
    opsAfterFailover: 0,
    errors: {},
    errorSamples: {},
    maxErrorsPerClient: 0,
    disconnects: 0,
    longestStallMs: 0,
    longestStallSentAfterFaultMs: 0,
    lost: 0,
    lostByKey: {},
    unansweredAtStop: 0,
    targets: [],
    pass: false,
    logFile,
    timeline: [],
  };
  const local: (() => Promise<void>)[] = [];
  /** The proxy's topology events, as its group runtime received them. */
  const topo: { t: number; type: string; master?: string }[] = [];
  let load: Load | undefined;
  let faultAt = 0;
  let group: SandboxGroup | undefined;
  let proxy: RunningProxy | undefined;
  try {
    group = await startGroup({ replicas: 2, downAfterMs: 1000 });
    const g = group;
    local.push(onCleanup(() => g.stop()));
    local.push(onCleanup(watchSentinels(g, timeline)));

    const config = defaultProxyConfig({
      logLevel: opts.logLevel,
      admin: {}, // no admin port: 9121 may be taken (another drill, a sandbox)
      shutdown: { timeoutMs: 3000 },
      groups: [{ name: g.masterName, listen: { host: '127.0.0.1', port: 0 }, sentinels: g.sentinelAddrs }],
    });
    const dest = fs.createWriteStream(logFile);
    const logger = createLogger(opts.logLevel, 'json', dest);
    proxy = await startProxy(config, logger);
    const p = proxy;
    local.push(
      onCleanup(async () => {
        await p.close();
        await new Promise<void>((res) => dest.end(res));
      }),
    );
    const port = p.listeners.find((l) => l.kind === 'master')!.port;
    const rt = p.groups[0]!;
    rt.topology.on('event', (ev) => {
      if (ev.type === 'replicas' || ev.type === 'sentinels') return;
      topo.push({ t: Date.now(), type: ev.type, master: ev.snapshot.master });
    });
    await waitFor(() => rt.master !== undefined && !rt.blocked, { timeoutMs: 15_000, what: 'the proxy to verify the master' });

    const old = g.nodes[0]!;
    r.oldMaster = old.addr;
    load = startIncrLoad(port, opts.clients, { prefix: `drill:${scenario}` });
    const l = load;
    local.push(onCleanup(() => l.stop(2000)));
    if (!(await l.waitOps(2000, 20_000))) throw new Error(`warm-up: only ${l.stats.ops} INCRs acknowledged in 20 s`);
    await g.waitForReplicasInSync();

    let monitor: NodeMonitor | undefined;
    let oldCheck: OldNodeCheck | undefined;
    let wokeAt = 0;

    faultAt = Date.now();
    switch (scenario) {
      case 'planned': {
        mark('SENTINEL FAILOVER');
        r.newMaster = await g.failover({ timeoutMs: 30_000 });
        break;
      }
      case 'kill': {
        mark(`kill -9 master ${old.addr}`);
        await old.kill('SIGKILL');
        r.newMaster = await g.waitForMaster({ notAddr: old.addr, timeoutMs: 30_000 });
        break;
      }
      case 'zombie': {
        monitor = new NodeMonitor(old);
        await monitor.start();
        const mon = monitor;
        local.push(onCleanup(() => mon.stop()));
        faultAt = Date.now();
        mark(`SIGSTOP master ${old.addr} for 4000 ms`);
        old.sigstop();
        local.push(onCleanup(() => old.sigcont()));
        await sleep(4000); // deliberate: longer than down-after-milliseconds
        old.sigcont();
        wokeAt = Date.now();
        mark('SIGCONT');
        oldCheck = {
          node: old.addr,
          monitor: { replicated: 0, sentBeforeFence: 0, fromProxyAfterFault: 0, examples: [], gapsMs: 0 },
          demoted: false,
          violations: 0,
        };
        oldCheck.incrCallsAtWake = (await roleAndIncr(old)).incrCalls;
        r.newMaster = await g.waitForMaster({ notAddr: old.addr, timeoutMs: 30_000 });
        break;
      }
      case 'restart': {
        mark(`kill -9 master ${old.addr}`);
        await old.kill('SIGKILL');
        r.newMaster = await g.waitForMaster({ notAddr: old.addr, timeoutMs: 30_000 });
        mark(`new master ${r.newMaster} verified; restarting ${old.addr} as a bare master`);
        await old.restart({ asMaster: true });
        wokeAt = Date.now();
        monitor = new NodeMonitor(old);
        await monitor.start();
        const mon = monitor;
        local.push(onCleanup(() => mon.stop()));
        mark('old master restarted (ROLE master, empty), MONITOR attached');
        oldCheck = {
          node: old.addr,
          monitor: { replicated: 0, sentBeforeFence: 0, fromProxyAfterFault: 0, examples: [], gapsMs: 0 },
          demoted: false,
          violations: 0,
        };
        oldCheck.incrCallsAtWake = (await roleAndIncr(old)).incrCalls;
        break;
      }
    }
    const verifiedAt = Date.now();
    if (scenario !== 'restart') mark(`new master ${r.newMaster} verified (Sentinel names it, ROLE master)`);
    const opsAtVerified = l.stats.ops;

    let keepFrom = verifiedAt;
    if (oldCheck) {
      const { lastMaster, demoted } = await waitDemoted(old, 60_000);
      oldCheck.demoted = demoted !== undefined;
      oldCheck.incrCallsLastAsMaster = lastMaster?.incrCalls;
      if (demoted) {
        oldCheck.masterClaimMs = demoted.t - wokeAt;
        mark(`old master ${old.addr} says ROLE slave (demoted by Sentinel)`);
      } else {
        mark(`old master ${old.addr} still not demoted after 60 s`);
      }
      keepFrom = Date.now();
    }

    // Keep the load running after the new master is verified (and the old one demoted).
    const okOps = await l.waitOps(opts.afterOps, 30_000);
    const rest = opts.afterMs - (Date.now() - keepFrom);
    if (rest > 0) await sleep(rest);
    if (!okOps) mark(`load stalled: fewer than ${opts.afterOps} INCRs acknowledged in 30 s after the new master`);
    mark('stopping the load');
    await l.stop(15_000);
    r.opsAfterFailover = l.stats.ops - opsAtVerified;

    const finalMaster = await g.waitForMaster({ timeoutMs: 30_000 });
    r.finalMaster = finalMaster;
    const keys = [...l.stats.acked.keys()];
    const finals = await getCounters(finalMaster, keys);
    for (const k of keys) {
      const lost = (l.stats.acked.get(k) ?? 0) - (finals.get(k) ?? 0);
      if (lost > 0) {
        r.lost += lost;
        r.lostByKey[k] = lost;
      }
    }

    if (oldCheck && monitor) {
      oldCheck.incrCallsAtEnd = (await roleAndIncr(old).catch(() => undefined))?.incrCalls;
      monitor.stop();
      const nodeAddrs = new Set(g.nodes.map((n) => n.addr));
      // The proxy may forward commands to the frozen node until it fences (it cannot know before
      // Sentinel says anything): such a command sits in the node's socket buffer and runs when the
      // node wakes; its client got an error reply (the proxy cut the link at the promotion). One
      // per such client is legitimate; anything else is a write the proxy sent after the fence.
      const fenceAt = topo.find((e) => e.type === 'fence' && e.t >= faultAt)?.t ?? faultAt;
      oldCheck.proxyFencedAfterMs = fenceAt - faultAt;
      const sentBeforeFence = new Map<number, number>(); // client → commands that may sit there
      for (const e of l.stats.events) {
        if ((e.kind === 'error' || e.kind === 'disconnect') && e.sentAt !== undefined && e.sentAt >= faultAt - 1000 && e.sentAt <= fenceAt) {
          sentBeforeFence.set(e.client, (sentBeforeFence.get(e.client) ?? 0) + 1);
        }
      }
      const keyOfClient = (k: string | undefined) => (k === undefined ? -1 : Number(k.slice(k.lastIndexOf(':') + 1)));
      const examples: string[] = [];
      for (const e of monitor.incrs) {
        // Executed before the fault took effect: it was the master then. For the zombie that is
        // anything before the SIGCONT: a stopped process runs nothing, and `faultAt` is read just
        // before the signal is sent, so a batch executed in the sub-millisecond before the stop
        // lands would otherwise be mistaken for one run on waking (its clients were acknowledged).
        if (e.ts < (scenario === 'zombie' ? wokeAt - 100 : faultAt)) continue;
        if (nodeAddrs.has(e.addr)) {
          oldCheck.monitor.replicated++;
          continue;
        }
        const c = keyOfClient(e.key);
        const left = sentBeforeFence.get(c) ?? 0;
        if (scenario === 'zombie' && left > 0) {
          sentBeforeFence.set(c, left - 1);
          oldCheck.monitor.sentBeforeFence++;
          continue;
        }
        oldCheck.monitor.fromProxyAfterFault++;
        if (examples.length < 5) examples.push(`INCR ${e.key} from ${e.addr} at +${e.ts - faultAt} ms`);
      }
      oldCheck.monitor.examples = examples;
      oldCheck.monitor.gapsMs = monitor.gaps.reduce((a, gp) => a + ((gp.to ?? Date.now()) - gp.from), 0);
      // A restarted node starts with zero stats: every INCR it counted before the demotion came
      // from a client (MONITOR may have been attached a moment after the restart).
      const beforeMonitor = scenario === 'restart' ? (oldCheck.incrCallsAtWake ?? 0) : 0;
      oldCheck.violations = oldCheck.monitor.fromProxyAfterFault + beforeMonitor;
      if (scenario === 'restart' && oldCheck.incrCallsLastAsMaster !== undefined) {
        oldCheck.violations = Math.max(oldCheck.violations, oldCheck.incrCallsLastAsMaster);
      }
      r.oldNode = oldCheck;
    }
  } catch (err) {
    r.error = err instanceof Error ? err.message : String(err);
    mark(`drill error: ${r.error}`);
  } finally {
    if (load) {
      await load.stop(2000).catch(() => undefined);
      const s = load.stats;
      r.ops = s.ops;
      r.errors = Object.fromEntries(s.errors);
      r.errorSamples = Object.fromEntries(s.errorSamples);
      r.maxErrorsPerClient = maxErrorsPerClient(s);
      r.disconnects = s.disconnects;
      r.longestStallMs = s.longestStallMs;
      r.longestStallSentAfterFaultMs = faultAt ? s.longestStallSentAt - faultAt : 0;
      r.unansweredAtStop = s.unansweredAtStop;
    }
    // Close in reverse order of start: load, monitor, proxy, sentinel watchers, group.
    while (local.length > 0) await local.pop()!();
  }
  const origin = faultAt || Date.now();
  const all = [...timeline];
  all.push(...proxyLogTimeline(logFile, origin - 1000));
  if (load) all.push(...clientTimeline(load.stats, origin - 1000));
  r.timeline = foldTimeline(all.filter((e) => e.t >= origin - 1000)).map((e) => ({ ms: e.t - origin, src: e.src, what: e.what }));
  r.switchMs = r.timeline.find((e) => e.ms >= 0 && e.src === 'sentinel' && e.what.includes('+switch-master'))?.ms;
  r.proxySwitchMs = r.timeline.find((e) => e.ms >= 0 && e.src === 'proxy' && e.what.startsWith('master verified') && !e.what.endsWith('(previous -)'))?.ms;
  r.targets = evaluate(r);
  r.pass = r.targets.every((t) => t.pass);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Output

function fmtErrors(e: Record<string, number>): string {
  const parts = Object.entries(e).map(([k, v]) => `${k}×${v}`);
  return parts.length ? parts.join(' ') : '0';
}

function printResult(r: Result, showTimeline: boolean): void {
  const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
  console.log(`\n== ${r.scenario} (run ${r.run}, ${r.clients} clients) ==`);
  console.log(
    `  master ${r.oldMaster || '?'} → ${r.newMaster ?? '?'}${r.switchMs !== undefined ? ` (+switch-master at +${r.switchMs} ms, proxy switched at +${r.proxySwitchMs ?? '?'} ms)` : ''}; final master ${r.finalMaster ?? '?'}`,
  );
  console.log(
    `  ops ${r.ops} (${r.opsAfterFailover} after the new master) | errors ${errs}${errs ? ` [${fmtErrors(r.errors)}]` : ''} | disconnects ${r.disconnects} | longest stall ${r.longestStallMs} ms (sent at ${r.longestStallSentAfterFaultMs >= 0 ? '+' : ''}${r.longestStallSentAfterFaultMs} ms) | lost acknowledged writes ${r.lost}`,
  );
  for (const [k, v] of Object.entries(r.errorSamples)) console.log(`  error ${k}: "${v}"`);
  if (r.lost > 0) console.log(`  lost per counter: ${JSON.stringify(r.lostByKey)}`);
  if (r.unansweredAtStop > 0) console.log(`  ${r.unansweredAtStop} commands still unanswered 15 s after the load stopped`);
  if (r.oldNode) {
    const o = r.oldNode;
    console.log(
      `  old node ${o.node}: ${o.demoted ? `demoted by Sentinel ${o.masterClaimMs} ms after it ${r.scenario === 'zombie' ? 'woke' : 'restarted'}` : 'NOT demoted'}; ` +
        `INFO commandstats incr calls: at ${r.scenario === 'zombie' ? 'SIGCONT' : 'restart'} ${o.incrCallsAtWake ?? '?'}, last poll as master ${o.incrCallsLastAsMaster ?? '?'}, at the end ${o.incrCallsAtEnd ?? '?'} (includes INCRs replicated from the new master once it is a replica)`,
    );
    console.log(
      `  INCRs it executed after the fault (MONITOR): ${o.monitor.fromProxyAfterFault} from the proxy after the fault, ` +
        `${o.monitor.sentBeforeFence} forwarded before the proxy fenced (+${o.proxyFencedAfterMs ?? '?'} ms) and executed on wake (their clients got errors), ${o.monitor.replicated} replicated from the new master` +
        (o.monitor.gapsMs ? `; MONITOR detached ${o.monitor.gapsMs} ms in all (Sentinel kills normal clients at demotion)` : ''),
    );
    for (const ex of o.monitor.examples) console.log(`    ${ex}`);
  }
  if (r.error) console.log(`  DRILL ERROR: ${r.error}`);
  console.log(`  ${'target'.padEnd(28)} ${'value'.padEnd(24)} result`);
  for (const t of r.targets) console.log(`  ${t.name.padEnd(28)} ${t.value.padEnd(24)} ${t.pass ? 'PASS' : 'FAIL'}`);
  console.log(`  proxy log: ${r.logFile}`);
  if (showTimeline || !r.pass) {
    console.log('  timeline (ms from the fault):');
    for (const e of r.timeline) console.log(`    ${String(e.ms).padStart(7)}  ${e.src.padEnd(8)} ${e.what}`);
  }
}

function printSummary(results: Result[]): void {
  const rows = results.map((r) => {
    const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
    return [
      String(r.run),
      r.scenario,
      String(r.ops),
      errs ? `${errs} (${fmtErrors(r.errors)})` : '0',
      String(r.disconnects),
      String(r.longestStallMs),
      String(r.lost),
      r.oldNode ? String(r.oldNode.violations) : '-',
      r.switchMs !== undefined ? `${r.switchMs} / ${r.proxySwitchMs ?? '?'}` : '-',
      r.pass ? 'PASS' : `FAIL: ${r.targets.filter((t) => !t.pass).map((t) => t.name).join(', ')}`,
    ];
  });
  const head = ['run', 'scenario', 'ops', 'errors', 'disc', 'stall ms', 'lost', 'old-node writes', 'switch ms (sentinel / proxy)', 'targets'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log('\n== summary ==');
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const row of rows) console.log(line(row));
  console.log(
    '\nTargets: planned 0 errors, 0 disconnects, 0 lost, stall ≤ 1500 ms; kill 0 disconnects, ≤ 1 error per client, stall ≤ 3000 ms, 0 lost; zombie and restart 0 lost, 0 writes to the old node.',
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOpts();
  installSignalHandlers();
  console.log(
    `failover drill: ${opts.scenarios.join(', ')} × ${opts.runs} run(s), ${opts.clients} clients, ` +
      `load kept ${opts.afterOps} INCRs / ${opts.afterMs} ms after the new master; proxy logs in ${opts.logDir}`,
  );
  const results: Result[] = [];
  let broken = false;
  for (let run = 1; run <= opts.runs && !interrupted; run++) {
    for (const sc of opts.scenarios) {
      if (interrupted) break;
      const r = await runScenario(sc, run, opts);
      if (interrupted) break;
      if (r.error) broken = true;
      results.push(r);
      printResult(r, opts.timeline);
      if (opts.json) writeJson(opts.json, results);
    }
  }
  if (interrupted) return;
  printSummary(results);
  if (opts.json) {
    writeJson(opts.json, results);
    console.log(`results written to ${opts.json}`);
  }
  await cleanupAll();
  process.exitCode = broken ? 2 : 0;
}

function writeJson(file: string, results: Result[]): void {
  fs.writeFileSync(file, JSON.stringify({ when: new Date().toISOString(), node: process.version, results }, null, 2) + '\n');
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  await cleanupAll();
  process.exitCode = 2;
});
