// Partition drill (`npm run bench:partitions`, issue 19): every scenario of
// test/helpers/netns-run.ts through the proxy (default settings, and any --option given) and
// through the HAProxy `role:master` recipe, each in a fresh lab (network namespaces: needs root,
// iproute2 and iptables), with 8 INCR clients, the partition from t=3 s for 8 s, then healed.
// Prints one row per scenario and front: errors, longest stall, wait beyond the heal, lost
// acknowledged writes; then the same as a Markdown table (docs/partitions.md holds one).
// proxy-replica (the proxy cut off from one replica) adds as many GET clients on the read-only
// listener and reports what they saw (errors, longest wait after the cut, when the replica left
// the read pool); the HAProxy recipe has no read path and is not run there.
//
//   npm run bench:partitions -- [--scenario a,b] [--front proxy,haproxy] [--clients 8]
//       [--cut-at 3000] [--cut 8000] [--after 5000] [--set topology.writeSafety=available]
//       [--json FILE] [--log-dir DIR]
//
// The exit code is 0 when every run completed (it is a measurement), 2 when the lab cannot be
// made here, 1 when a run failed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { netnsUnavailable } from '../test/helpers/netns.js';
import { runScenario, SCENARIOS, SCENARIO_TEXT, type ScenarioName, type ScenarioResult } from '../test/helpers/netns-run.js';
import type { GroupConfigInput } from '../src/config/defaults.js';

const HELP = `Usage: node dist/bench/partition-drill.js [options]
  --scenario LIST   ${SCENARIOS.join(', ')} (default: all)
  --front LIST      proxy, proxy-lease, proxy-available, haproxy (default: all four;
                    proxy-lease / proxy-available are the proxy with topology.writeSafety: lease /
                    available; haproxy is skipped when not installed)
  --clients N       INCR clients (default 8)
  --cut-at MS       partition starts this long after the clients (default 3000)
  --cut MS          partition length (default 8000; flapping: cut/heal 1 s each over this long)
  --after MS        clients keep going this long after the heal (default 5000)
  --set K=V         a proxy group option, e.g. topology.writeSafety=available (repeatable)
  --json FILE       write the results to FILE
  --log-dir DIR     where the fronts' logs go (default: a new directory under $TMPDIR)
  -h, --help`;

function parseSet(values: string[]): Partial<GroupConfigInput> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const kv of values) {
    const m = /^(\w+)\.(\w+)=(.*)$/.exec(kv);
    if (!m) throw new Error(`--set ${kv}: expected section.key=value`);
    const v = m[3]!;
    (out[m[1]!] ??= {})[m[2]!] = v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v;
  }
  return out as Partial<GroupConfigInput>;
}

type Front = 'proxy' | 'proxy-lease' | 'proxy-available' | 'haproxy';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string' },
      front: { type: 'string' },
      clients: { type: 'string' },
      'cut-at': { type: 'string' },
      cut: { type: 'string' },
      after: { type: 'string' },
      set: { type: 'string', multiple: true },
      json: { type: 'string' },
      'log-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const why = netnsUnavailable();
  if (why) {
    console.error(`partition drill: cannot run here: ${why}`);
    return 2;
  }
  const scenarios = (values.scenario?.split(',') ?? [...SCENARIOS]) as ScenarioName[];
  for (const s of scenarios) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}\n${HELP}`);
  let fronts = (values.front?.split(',') ?? ['proxy', 'proxy-lease', 'proxy-available', 'haproxy']) as Front[];
  for (const f of fronts) if (!['proxy', 'proxy-lease', 'proxy-available', 'haproxy'].includes(f)) throw new Error(`unknown front ${f}\n${HELP}`);
  if (fronts.includes('haproxy') && !['/usr/sbin/haproxy', '/usr/bin/haproxy'].some((p) => fs.existsSync(p))) {
    console.error('haproxy is not installed (bash scripts/ensure-deps.sh --peers): measuring the proxy only');
    fronts = fronts.filter((f) => f !== 'haproxy');
  }
  const group = parseSet(values.set ?? []);
  const logDir = values['log-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rspt-drill-'));
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
  const common = {
    clients: num(values.clients, 8),
    cutAtMs: num(values['cut-at'], 3000),
    cutMs: num(values.cut, 8000),
    afterMs: num(values.after, 5000),
    logDir,
  };
  const setText = (values.set ?? []).join(' ') || 'defaults';
  console.log(`partition drill: ${common.clients} INCR clients, cut at ${common.cutAtMs} ms for ${common.cutMs} ms, ${common.afterMs} ms after; proxy: ${setText}; logs in ${logDir}`);
  let failed = false;
  const results: Array<ScenarioResult & { label: string }> = [];
  const labelOf = (f: Front) =>
    f === 'proxy' ? `proxy (${setText})` : f === 'proxy-lease' ? 'proxy (writeSafety: lease)' : f === 'proxy-available' ? 'proxy (writeSafety: available)' : 'HAProxy recipe';
  for (const scenario of scenarios) {
    for (const front of fronts) {
      const reads = scenario === 'proxy-replica';
      if (reads && front === 'haproxy') continue;
      try {
        const opts =
          front === 'haproxy'
            ? { front }
            : {
                front: 'proxy' as const,
                group: front === 'proxy' ? group : { ...group, topology: { ...group.topology, writeSafety: front === 'proxy-lease' ? ('lease' as const) : ('available' as const) } },
              };
        const r = {
          ...(await runScenario({ scenario, ...common, ...opts, ...(reads ? { reads: { clients: common.clients, listener: 'read' as const } } : {}) })),
          label: labelOf(front),
        };
        results.push(r);
        if (r.reads) {
          const x = r.reads;
          console.log(
            `${scenario.padEnd(16)} ${front.padEnd(16)} GETs ${String(x.ops).padStart(7)}  errors ${String(x.errors).padStart(6)}  longest wait after the cut ${(x.waitAfterCutMs / 1000).toFixed(1)} s  replica left the read pool ${x.leftPoolMs === undefined ? 'never' : `${(x.leftPoolMs / 1000).toFixed(1)} s`} after the cut`,
          );
        }
        console.log(
          `${scenario.padEnd(16)} ${front.padEnd(16)} ops ${String(r.ops).padStart(7)}  errors ${String(r.errors).padStart(6)}  longest stall ${(r.longestStallMs / 1000).toFixed(1)} s  beyond heal ${(r.stallBeyondHealMs / 1000).toFixed(1)} s  lost ${r.lost}  (failover: ${r.failedOver ? `yes, to ${r.finalMaster}` : 'no'}; errors ${JSON.stringify(r.errorsByCode)})`,
        );
      } catch (err) {
        failed = true;
        console.error(`${scenario} ${front}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  console.log(`\n| scenario | front | errors | longest stall | wait beyond heal | lost acknowledged writes | failover |`);
  console.log(`|---|---|---|---|---|---|---|`);
  for (const r of results) {
    console.log(
      `| ${SCENARIO_TEXT[r.scenario]} | ${r.label} | ${r.errors} | ${(r.longestStallMs / 1000).toFixed(1)} s | ${(r.stallBeyondHealMs / 1000).toFixed(1)} s | ${r.lost} | ${r.failedOver ? 'yes' : 'no'} |`,
    );
  }
  const withReads = results.filter((r) => r.reads);
  if (withReads.length > 0) {
    console.log(`\n| scenario | front | GET errors | longest GET wait after the cut | replica left the read pool |`);
    console.log(`|---|---|---|---|---|`);
    for (const r of withReads) {
      const x = r.reads!;
      console.log(
        `| ${SCENARIO_TEXT[r.scenario]} | ${r.label} | ${x.errors} | ${(x.waitAfterCutMs / 1000).toFixed(1)} s | ${x.leftPoolMs === undefined ? 'never' : `${(x.leftPoolMs / 1000).toFixed(1)} s after the cut`} |`,
      );
    }
  }
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ options: { ...common, set: values.set ?? [] }, results }, null, 2));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
