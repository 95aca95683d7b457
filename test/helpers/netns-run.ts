// One partition scenario, end to end (issue 19): a Sentinel group in a fresh lab, a front (the
// proxy or the HAProxy recipe) with INCR clients in the proxy's namespace, a partition from
// `cutAtMs` for `cutMs` (or a flapping link), healed, then the clients keep going for `afterMs`
// and the group settles. Used by test/integration/partitions.test.ts and bench/partition-drill.ts.
//
// Lost acknowledged writes = writes a client saw acknowledged that the final master does not
// hold: stretches a later reply proved discarded (a counter going backwards, see incr-load.ts)
// plus, per counter, the last acknowledged value minus the final master's value.
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LabGroup, MASTER_NAME, DATA_NODES, SENTINELS } from './netns-group.js';
import type { AgentArgs, AgentStats } from './netns-agent.js';
import type { GroupConfigInput } from '../../src/config/defaults.js';

export const SCENARIOS = ['master-isolated', 'minority', 'proxy-master', 'proxy-sentinels', 'one-sentinel', 'flapping', 'proxy-replica'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const SCENARIO_TEXT: Record<ScenarioName, string> = {
  'master-isolated': 'master cut off from sentinels and replicas, the proxy reaches all',
  minority: 'proxy + master on the minority side',
  'proxy-master': 'proxy cut off from the master only',
  'proxy-sentinels': 'proxy cut off from every sentinel',
  'one-sentinel': 'one sentinel cut off',
  flapping: 'master link flapping (cut 1 s / healed 1 s, 5 times)',
  'proxy-replica': 'proxy cut off from one replica (r1)',
};

export interface ScenarioOptions {
  scenario: ScenarioName;
  front: 'proxy' | 'haproxy';
  clients?: number;
  cutAtMs?: number;
  cutMs?: number;
  /** flapping: how many times the master's link is cut for 1 s then healed for 1 s (default 5;
   * cutMs is not used). */
  flaps?: number;
  afterMs?: number;
  downAfterMs?: number;
  /** Proxy group options over the defaults. */
  group?: Partial<GroupConfigInput>;
  /** Where the front's log goes (a directory; default a temporary one). */
  logDir?: string;
  /** GET clients beside the INCR clients (proxy only): on the read-only listener, or on the
   * master listener (give reads.routeReads: replica in `group`). */
  reads?: { clients: number; listener: 'read' | 'master' };
}

/** What the GET clients saw. */
export interface ReadResult {
  ops: number;
  errors: number;
  errorsByCode: Record<string, number>;
  errorSamples: Record<string, string>;
  disconnects: number;
  longestStallMs: number;
  /** Longest any GET waited counting from the moment the cut was in place (for one sent before
   * it) or from when it was sent (after it). */
  waitAfterCutMs: number;
  /** From the moment the cut was in place to the cut replica (r1) leaving the proxy's read pool;
   * undefined when it stayed in. */
  leftPoolMs: number | undefined;
  /** How long the lab took to put the cut in place (iptables in each namespace; up to ~1 s on a
   * busy machine). */
  cutApplyMs: number;
  unansweredAtStop: number;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  front: 'proxy' | 'haproxy';
  ops: number;
  errors: number;
  errorsByCode: Record<string, number>;
  errorSamples: Record<string, string>;
  disconnects: number;
  longestStallMs: number;
  /** Longest wait beyond the heal, of commands sent before it (0 when none waited past it). */
  stallBeyondHealMs: number;
  lost: number;
  lostDiscarded: number;
  lostAtEnd: number;
  finalMaster: string;
  /** From the first cut to the last heal, as applied. */
  cutMs: number;
  failedOver: boolean;
  logFile: string;
  unansweredAtStop: number;
  reads?: ReadResult;
}

const ext = path.extname(fileURLToPath(import.meta.url));
const AGENT = fileURLToPath(new URL(`./netns-agent${ext}`, import.meta.url));

class Agent {
  private readonly lines: AsyncIterator<string>;
  constructor(readonly child: ChildProcess) {
    this.lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }
  async next(timeoutMs: number): Promise<Record<string, unknown>> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.lines.next(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`agent silent for ${timeoutMs} ms`)), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (r.done) throw new Error('agent exited');
    const msg = JSON.parse(r.value) as Record<string, unknown>;
    if (msg['error']) throw new Error(`agent: ${String(msg['error'])}`);
    return msg;
  }
  send(o: unknown): void {
    this.child.stdin!.write(JSON.stringify(o) + '\n');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const cutAtMs = o.cutAtMs ?? 3000;
  const cutMs = o.cutMs ?? 8000;
  const afterMs = o.afterMs ?? 5000;
  const g = new LabGroup({ downAfterMs: o.downAfterMs ?? 1000 });
  const logDir = o.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rspt-log-'));
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${o.scenario}-${o.front}.log`);
  let agent: Agent | undefined;
  try {
    await g.start();
    const args: AgentArgs = {
      front: o.front,
      sentinels: g.sentinelAddrs,
      nodes: DATA_NODES.map((n) => g.addr(n)),
      masterName: MASTER_NAME,
      clients: o.clients ?? 8,
      logFile,
    };
    if (o.group) args.group = o.group;
    if (o.reads && o.front === 'proxy') args.reads = o.reads;
    const child = g.lab.spawn('p', process.execPath, [...process.execArgv, AGENT, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
    agent = new Agent(child);
    await agent.next(120_000); // ready (the agent may be compiled on the fly: slow on a busy machine)
    agent.send({ cmd: 'start' });
    await agent.next(5000);
    await sleep(cutAtMs);

    const cutAt = Date.now();
    const others = (...not: string[]) => ['p', ...DATA_NODES, ...SENTINELS].filter((n) => !not.includes(n));
    let healAt: number;
    let cutMsDone = 0;
    switch (o.scenario) {
      case 'master-isolated':
        await g.lab.cut(['m'], others('m', 'p'));
        break;
      case 'minority':
        await g.lab.cut(['p', 'm'], others('p', 'm'));
        break;
      case 'proxy-master':
        await g.lab.cut(['p'], ['m']);
        break;
      case 'proxy-sentinels':
        await g.lab.cut(['p'], [...SENTINELS]);
        break;
      case 'one-sentinel':
        await g.lab.isolate('s1');
        break;
      case 'proxy-replica':
        await g.lab.cut(['p'], ['r1']);
        break;
      case 'flapping':
        break;
    }
    // (The rules land in each namespace within this; until then packets still flow.)
    const cutInPlaceAt = Date.now();
    if (o.scenario === 'flapping') {
      const flaps = o.flaps ?? 5;
      for (let i = 0; i < flaps; i++) {
        await g.lab.isolate('m');
        await sleep(1000);
        await g.lab.heal();
        await sleep(1000);
      }
      healAt = Date.now() - 1000;
      cutMsDone = healAt - cutAt;
    } else {
      await sleep(cutMs);
      await g.lab.heal();
      healAt = Date.now();
      cutMsDone = healAt - cutAt;
    }
    await sleep(afterMs);
    agent.send({ cmd: 'stop' });
    const stats = (await agent.next(60_000))['stats'] as AgentStats;
    const finalMaster = await g.settle();
    const finals = g.values(
      finalMaster,
      stats.counters.map((c) => c.key),
    );
    let lostAtEnd = 0;
    stats.counters.forEach((c, i) => (lostAtEnd += Math.max(0, c.last - finals[i]!)));
    let stallBeyondHealMs = 0;
    for (const s of stats.stalls) if (s.sentAt < healAt) stallBeyondHealMs = Math.max(stallBeyondHealMs, s.t - healAt);
    let errors = 0;
    for (const v of Object.values(stats.errors)) errors += v;
    let reads: ReadResult | undefined;
    if (stats.reads) {
      const r = stats.reads;
      let waitAfterCutMs = 0;
      for (const st of r.stalls) if (st.t > cutInPlaceAt) waitAfterCutMs = Math.max(waitAfterCutMs, st.t - Math.max(st.sentAt, cutInPlaceAt));
      const left = r.leftPoolAt[g.addr('r1')];
      reads = {
        ops: r.ops,
        errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
        errorsByCode: r.errors,
        errorSamples: r.errorSamples,
        disconnects: r.disconnects,
        longestStallMs: r.longestStallMs,
        waitAfterCutMs,
        leftPoolMs: left === undefined || left < cutAt ? undefined : Math.max(0, left - cutInPlaceAt),
        cutApplyMs: cutInPlaceAt - cutAt,
        unansweredAtStop: r.unansweredAtStop,
      };
    }
    return {
      scenario: o.scenario,
      front: o.front,
      ops: stats.ops,
      errors,
      errorsByCode: stats.errors,
      errorSamples: stats.errorSamples,
      disconnects: stats.disconnects,
      longestStallMs: stats.longestStallMs,
      stallBeyondHealMs,
      lost: stats.discarded + lostAtEnd,
      lostDiscarded: stats.discarded,
      lostAtEnd,
      finalMaster,
      cutMs: cutMsDone,
      failedOver: finalMaster !== 'm',
      logFile,
      unansweredAtStop: stats.unansweredAtStop,
      ...(reads ? { reads } : {}),
    };
  } finally {
    if (agent) {
      agent.child.stdin?.end();
      await Promise.race([new Promise((r) => agent!.child.once('exit', r)), sleep(5000)]);
    }
    g.stop();
  }
}
