// A real Prometheus (Debian's `prometheus`, issue 18) scraping a real proxy process every second,
// with the shipped alert rules (deploy/prometheus/alerts.yml) evaluated every second: through a
// planned SENTINEL FAILOVER the fence shows in the query API, every rule evaluates without error,
// every expression of the Grafana dashboard runs, and an invalid configuration on SIGHUP fires
// RSPConfigReloadFailed. The proxy runs as the CLI does in production (src/cli.ts, loaded with the
// TypeScript loader tap uses), so the reload goes through the CLI's own path.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { withGroup, waitFor, freePorts } from '../helpers/group.js';
import { startIncrLoad, errorCount } from '../helpers/load.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const RULES = path.join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'redis-sentinel-proxy.json');
const TS_LOADER = pathToFileURL(path.join(ROOT, 'node_modules', '@tapjs', 'typescript', 'dist', 'esm', 'import.mjs')).href;
// scripts/ensure-deps.sh installs Debian's prometheus when apt can run.
const noPrometheus = spawnSync('prometheus', ['--version']).status === 0 ? false : 'prometheus not installed (bash scripts/ensure-deps.sh installs Debian\'s prometheus)';

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

function started(child: ChildProcess, what: string, t: { teardown(fn: () => unknown): void }): { output: () => string } {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  );
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) out += `\n[${what} exited with ${code}]`;
  });
  return { output: () => out };
}

t.test('Prometheus scrapes the proxy through a planned failover; the rules evaluate', { skip: noPrometheus }, async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const [listenPort, adminPort, promPort] = await freePorts(3);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rsp-prometheus-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // The proxy, as `redis-sentinel-proxy --config proxy.yaml`.
  const config = path.join(dir, 'proxy.yaml');
  const yaml = [
    'logLevel: info',
    `admin: { listen: "127.0.0.1:${adminPort}" }`,
    'groups:',
    `  - name: ${group.masterName}`,
    `    listen: "127.0.0.1:${listenPort}"`,
    `    sentinels: [${group.sentinelAddrs.map((s) => `"${s}"`).join(', ')}]`,
    '    topology: { pollIntervalMs: 500 }',
    '',
  ].join('\n');
  writeFileSync(config, yaml);
  const proxyProc = spawn(process.execPath, [`--import=${TS_LOADER}`, path.join(ROOT, 'src', 'cli.ts'), '--config', config], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proxyOut = started(proxyProc, 'proxy', t);
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitFor(async () => (await fetch(`${admin}/readyz`).catch(() => undefined))?.status === 200, {
    what: `the proxy ready\n${proxyOut.output()}`,
    timeoutMs: 90_000,
  });

  // Prometheus: scrape every second, evaluate the shipped rules every second.
  const promConfig = path.join(dir, 'prometheus.yml');
  writeFileSync(
    promConfig,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }',
      `rule_files: ["${RULES}"]`,
      'scrape_configs:',
      '  - job_name: redis-sentinel-proxy',
      `    static_configs: [{ targets: ["127.0.0.1:${adminPort}"] }]`,
      '',
    ].join('\n'),
  );
  const promProc = spawn(
    'prometheus',
    [`--config.file=${promConfig}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn', '--web.enable-lifecycle'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const promOut = started(promProc, 'prometheus', t);
  const api = `http://127.0.0.1:${promPort}`;
  await waitFor(async () => (await fetch(`${api}/-/ready`).catch(() => undefined))?.status === 200, { what: `Prometheus ready\n${promOut.output()}`, timeoutMs: 60_000 });

  const query = async (q: string): Promise<Sample[]> => {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as any;
    if (body.status !== 'success') throw new Error(`${q}: ${body.error ?? res.status}`);
    return body.data.result as Sample[];
  };
  const value = async (q: string): Promise<number | undefined> => {
    const r = await query(q);
    return r.length ? Number(r[0].value[1]) : undefined;
  };
  const g = `group="${group.masterName}"`;

  await waitFor(async () => (await value('up{job="redis-sentinel-proxy"}')) === 1, { what: 'the proxy scraped', timeoutMs: 30_000 });
  t.equal(await value(`rsp_master_verified{${g}}`), 1);
  t.equal(await value(`rsp_fences_total{${g}}`), 0);
  t.ok((await query('rsp_build_info')).some((s) => s.metric.version === JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version), 'build info');

  // Traffic, then a planned failover under it.
  const load = startIncrLoad(listenPort, 4);
  t.teardown(() => load.stop());
  await waitFor(() => load.stats.ops >= 500, { what: '500 INCRs through the proxy' });
  const oldEpoch = await value(`rsp_master_epoch{${g}}`);
  const newMaster = await group.failover();
  await waitFor(async () => (await value(`rsp_fences_total{${g}}`)) === 1 && (await value(`rsp_master_epoch{${g}}`)) !== oldEpoch, {
    what: 'the fence and the new master in the query API',
    timeoutMs: 30_000,
  });
  await waitFor(() => load.stats.ops >= 1500, { what: 'INCRs after the failover' });
  await load.stop();
  t.equal(errorCount(load.stats), 0, 'no client error');
  t.comment(`new master ${newMaster}`);

  // The fence as Prometheus saw it.
  await waitFor(async () => (await value(`rsp_fence_duration_seconds_count{${g}}`)) === 1, { what: 'the fence duration observed' });
  const fenceSeconds = await value(`rsp_fence_duration_seconds_sum{${g}}`);
  t.ok(fenceSeconds! > 0 && fenceSeconds! < 30, `fence held commands for ${fenceSeconds} s`);
  t.ok((await value(`increase(rsp_fences_total{${g}}[5m])`))! > 0, 'increase(rsp_fences_total) > 0');
  t.ok((await value(`rsp_commands_held_total{${g}}`))! >= 0);
  t.ok((await query(`changes(rsp_master_epoch{${g}}[5m]) > 0`)).length === 1, "the dashboard's failover annotation query finds it");
  t.ok((await value(`histogram_quantile(0.99, sum by (le) (rate(rsp_command_duration_seconds_bucket{${g},command="incr"}[1m])))`))! > 0, 'INCR p99 from the latency histogram');

  // Every rule evaluated, without error; the quiet ones quiet.
  const rules = await waitFor(
    async () => {
      const body = (await (await fetch(`${api}/api/v1/rules`)).json()) as any;
      const all = body.data.groups.flatMap((x: any) => x.rules) as any[];
      return all.length > 0 && all.every((r) => r.lastEvaluation && !r.lastEvaluation.startsWith('0001')) ? all : undefined;
    },
    { what: 'every rule evaluated' },
  );
  t.ok(rules.length >= 9, `${rules.length} rules loaded`);
  for (const r of rules) t.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? 'evaluates'}`);
  const firing = (await query('ALERTS{alertstate="firing"}')).map((s) => s.metric.alertname);
  for (const quiet of ['RSPNoVerifiedMaster', 'RSPProxyDown', 'RSPConfigReloadFailed', 'RSPSentinelMajorityLost', 'RSPHoldTimeouts', 'RSPCommandsLostInFlight']) {
    t.notOk(firing.includes(quiet), `${quiet} quiet through a planned failover`);
  }

  // Every dashboard expression runs against the real data.
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const exprs: string[] = [];
  const walk = (ps: any[]) => {
    for (const p of ps ?? []) {
      for (const tg of p.targets ?? []) exprs.push(tg.expr);
      walk(p.panels);
    }
  };
  walk(d.panels);
  for (const a of d.annotations.list) if (a.expr) exprs.push(a.expr);
  let withData = 0;
  for (const e of exprs) {
    const q = e.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replace(/\$(instance|group|job)\b/g, '.+');
    const r = await query(q);
    if (r.length > 0) withData++;
  }
  t.ok(withData >= exprs.length - 6, `${withData} of ${exprs.length} dashboard expressions return data`);

  // An invalid configuration on SIGHUP: kept running, and the alert fires.
  writeFileSync(config, yaml.replace('listen:', 'lisen:'));
  proxyProc.kill('SIGHUP');
  await waitFor(async () => (await value('rsp_config_reloads_total{result="invalid"}')) === 1, { what: 'the invalid reload counted' });
  t.equal(await value('rsp_config_last_reload_successful'), 0);
  await waitFor(async () => (await query('ALERTS{alertname="RSPConfigReloadFailed",alertstate="firing"}')).length === 1, { what: 'RSPConfigReloadFailed firing' });
  t.equal(await value(`rsp_master_verified{${g}}`), 1, 'still serving');
  // Fixed: the alert resolves.
  writeFileSync(config, yaml);
  proxyProc.kill('SIGHUP');
  await waitFor(async () => (await value('rsp_config_last_reload_successful')) === 1, { what: 'a good reload' });
  await waitFor(async () => (await query('ALERTS{alertname="RSPConfigReloadFailed"}')).length === 0, { what: 'RSPConfigReloadFailed resolved' });
});
