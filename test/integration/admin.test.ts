// The admin endpoints against real groups: values move with traffic and with real failovers
// (planned, then kill -9 of the master), and several groups in one process stay isolated.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { withGroup, waitFor, freePorts, type SandboxGroup } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { startIncrLoad, errorCount } from '../helpers/load.js';
import { startProxy } from '../../src/proxy.js';
import { defaultProxyConfig } from '../../src/config/defaults.js';
import { get, sample } from '../helpers/admin-http.js';

function client(port: number): Redis {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  return c;
}

t.test('endpoints follow traffic and a planned failover; /readyz is 503 while the master is gone', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { admin: true, failover: { holdTimeoutMs: 15_000 } });
  const admin = p.adminPort!;
  const g = { group: group.masterName };
  const gl = { ...g, listener: 'master' };

  t.equal((await get(admin, '/healthz')).status, 200);
  t.same((await get(admin, '/healthz')).json(), { status: 'ok' });
  await waitFor(async () => (await get(admin, '/readyz')).status === 200, { what: '/readyz 200' });
  t.equal((await get(admin, '/nope')).status, 404);

  const master = await group.currentMaster();
  const topo = await waitFor(
    async () => {
      const [x] = (await get(admin, '/topology')).json<any[]>(); // eslint-disable-line @typescript-eslint/no-explicit-any
      return x.replicas.length === 1 && x.replicas[0].healthy && x.sentinels.reachable === 3 ? x : undefined;
    },
    { what: 'a healthy replica and 3 reachable sentinels in /topology', timeoutMs: 15_000 },
  );
  t.equal(topo.group, group.masterName);
  t.equal(topo.master, master);
  t.equal(topo.ready, true);
  t.equal(topo.state, 'serving');
  t.equal(topo.sentinels.known, 3);
  t.equal(topo.sentinels.list.length, 3);
  t.type(topo.replicas[0].lagMs, 'number');
  t.equal(topo.replicas[0].addr, group.nodes[1].addr);

  // Traffic moves the counters.
  const before = (await get(admin, '/metrics')).text;
  const a = p.client();
  const b = p.client();
  for (let i = 0; i < 50; i++) await a.set(`k${i}`, 'x'.repeat(100));
  t.equal(await b.get('k1'), 'x'.repeat(100));
  const m = await get(admin, '/metrics');
  t.match(m.type, /text\/plain/);
  t.equal(sample(m.text, 'rsp_sessions_open', gl), 2, 'two sessions open');
  t.ok(sample(m.text, 'rsp_sessions_total', gl)! >= 2);
  t.ok(sample(m.text, 'rsp_commands_total', g)! - (sample(before, 'rsp_commands_total', g) ?? 0) >= 51, 'commands counted');
  t.ok(sample(m.text, 'rsp_client_received_bytes_total', gl)! > 50 * 100, 'bytes in');
  t.ok(sample(m.text, 'rsp_client_sent_bytes_total', gl)! > 100, 'bytes out');
  t.ok(sample(m.text, 'rsp_backend_connects_total', g)! >= 2);
  t.equal(sample(m.text, 'rsp_sentinels_reachable', g), 3);
  t.equal(sample(m.text, 'rsp_sentinels_known', g), 3);
  t.equal(sample(m.text, 'rsp_master_verified', g), 1);
  t.equal(sample(m.text, 'rsp_ready', g), 1);
  t.equal(sample(m.text, 'rsp_replicas_healthy', g), 1);
  t.equal(sample(m.text, 'rsp_fences_total', g), 0);
  t.equal(sample(m.text, 'rsp_fence_duration_seconds_count', g), 0);
  t.ok(sample(m.text, 'rsp_topology_refresh_duration_seconds_count', g)! > 0, 'topology refreshes timed');
  t.ok(sample(m.text, 'process_cpu_user_seconds_total') !== undefined, 'default process metrics');
  t.ok(sample(m.text, 'nodejs_eventloop_lag_seconds') !== undefined, 'default node metrics');
  t.equal((await get(admin, '/topology')).json()[0].listeners[0].sessions, 2, 'sessions per listener in /topology');
  // Every metric of ours is documented: README.md or a page of docs/ (docs/operations.md, "Metrics").
  const root = path.join(import.meta.dirname, '..', '..');
  const docsDir = path.join(root, 'docs');
  const doc = [path.join(root, 'README.md'), ...fs.readdirSync(docsDir).filter((f) => f.endsWith('.md')).map((f) => path.join(docsDir, f))]
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');
  const names = [...m.text.matchAll(/^# HELP (rsp_\w+)/gm)].map((x) => x[1]);
  t.ok(names.length >= 25, `${names.length} rsp_ metrics`);
  for (const n of names) t.ok(doc.includes(`\`${n}\``), `${n} documented in README.md or docs/`);

  // A planned failover under load: fence, re-home and failover counters move.
  const load = startIncrLoad(p.port, 4);
  await waitFor(() => load.stats.ops > 200, { what: 'load running' });
  const next = await group.failover({ timeoutMs: 30_000 });
  await waitFor(async () => (await get(admin, '/topology')).json()[0].master === next, { what: 'proxy on the new master', timeoutMs: 15_000 });
  const opsAt = load.stats.ops;
  await waitFor(() => load.stats.ops > opsAt + 100, { what: 'load running on the new master' });
  await load.stop();
  t.equal(errorCount(load.stats), 0, 'no client errors during the planned failover');
  const f = (await get(admin, '/metrics')).text;
  t.ok(sample(f, 'rsp_fences_total', g)! >= 1, 'fence counted');
  t.ok(sample(f, 'rsp_master_changes_total', g)! >= 2, 'master change counted');
  t.ok(sample(f, 'rsp_sessions_rehomed_total', g)! >= 4, 'sessions re-homed');
  t.ok(sample(f, 'rsp_commands_held_total', g)! >= 1, 'commands held during the fence');
  t.ok(sample(f, 'rsp_fence_duration_seconds_count', g)! >= 1, 'fence duration observed');
  t.ok(sample(f, 'rsp_fence_duration_seconds_sum', g)! > 0);
  t.ok(sample(f, 'rsp_master_epoch', g)! >= 2);

  // kill -9 of the master: not ready (with the reason) until Sentinel's new master is verified.
  await waitFor(async () => (await get(admin, '/readyz')).status === 200, { what: 'ready after the planned failover' });
  await group.waitForReplicasInSync(20_000);
  const victim = group.node(next)!;
  await victim.kill('SIGKILL');
  const down = await waitFor(
    async () => {
      const r = await get(admin, '/readyz');
      return r.status === 503 ? r : undefined;
    },
    { what: '/readyz 503 after kill -9 of the master', timeoutMs: 15_000 },
  );
  const body = down.json();
  t.equal(body.status, 'not ready');
  t.equal(body.problems[0].group, group.masterName);
  t.type(body.problems[0].reason, 'string');
  t.equal(sample((await get(admin, '/metrics')).text, 'rsp_ready', g), 0);
  const third = await group.waitForMaster({ notAddr: next, timeoutMs: 30_000 });
  await waitFor(async () => (await get(admin, '/readyz')).status === 200, { what: '/readyz 200 after the failover', timeoutMs: 20_000 });
  t.equal((await get(admin, '/topology')).json()[0].master, third);
  t.ok(sample((await get(admin, '/metrics')).text, 'rsp_master_changes_total', g)! >= 3);
});

t.test('several groups in one process are isolated from each other', async (t) => {
  const [alpha, beta] = await Promise.all([withGroup(t, { masterName: 'alpha', replicas: 1 }), withGroup(t, { masterName: 'beta', replicas: 0 })]);
  const deadSentinels = await freePorts(2);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-log-'));
  t.teardown(() => fs.rmSync(logDir, { recursive: true, force: true }));
  const logFile = path.join(logDir, 'proxy.log');
  const logger = pino({ level: 'info' }, pino.destination({ dest: logFile, sync: true }));
  const grp = (s: SandboxGroup) => ({
    name: s.masterName,
    listen: { host: '127.0.0.1', port: 0 },
    sentinels: s.sentinelAddrs,
    topology: { pollIntervalMs: 300, connectTimeoutMs: 500 },
    failover: { holdTimeoutMs: 1500 },
  });
  const config = defaultProxyConfig({
    logLevel: 'info',
    admin: { listen: { host: '127.0.0.1', port: 0 } },
    shutdown: { timeoutMs: 2000 },
    groups: [
      grp(alpha),
      grp(beta),
      // Every sentinel unreachable from the start.
      { ...grp(alpha), name: 'gamma', sentinels: deadSentinels.map((port) => ({ host: '127.0.0.1', port })) },
    ],
  });
  const t0 = Date.now();
  const proxy = await startProxy(config, logger);
  t.teardown(() => proxy.close());
  t.ok(Date.now() - t0 < 5000, 'an unreachable group does not hold up the start');
  const port = (name: string) => proxy.listeners.find((l) => l.group === name)!.port;
  const admin = proxy.admin!.port;
  const [pa, pb, pc] = [port('alpha'), port('beta'), port('gamma')];
  t.equal(new Set([pa, pb, pc]).size, 3, 'each group has its own listener');

  const ca = client(pa);
  const cb = client(pb);
  const cc = client(pc);
  t.teardown(() => [ca, cb, cc].forEach((c) => c.disconnect()));
  await ca.set('where', 'alpha');
  await cb.set('where', 'beta');
  t.equal(await ca.get('where'), 'alpha', 'alpha clients reach alpha');
  t.equal(await cb.get('where'), 'beta', 'beta clients reach beta');
  await t.rejects(cc.ping(), { message: /MASTERDOWN/ }, 'gamma: held, then a retryable error');

  const r = await get(admin, '/readyz');
  t.equal(r.status, 503);
  t.same(
    r.json().problems.map((x: { group: string }) => x.group),
    ['gamma'],
    'only the group without sentinels is not ready',
  );
  const m = (await get(admin, '/metrics')).text;
  t.equal(sample(m, 'rsp_sentinels_reachable', { group: 'gamma' }), 0);
  t.equal(sample(m, 'rsp_sentinels_reachable', { group: 'alpha' }), 3);
  t.ok(sample(m, 'rsp_hold_timeouts_total', { group: 'gamma' })! >= 1, 'gamma hold timeouts counted');
  t.equal(sample(m, 'rsp_hold_timeouts_total', { group: 'alpha' }), 0);
  const topo = (await get(admin, '/topology')).json<{ group: string; master: string | null }[]>();
  t.same(
    topo.map((x) => [x.group, x.master]),
    [
      ['alpha', alpha.nodes[0].addr],
      ['beta', beta.nodes[0].addr],
      ['gamma', null],
    ],
  );

  // beta loses every sentinel and its master: alpha's clients do not notice.
  const load = startIncrLoad(pa, 4);
  await waitFor(() => load.stats.ops > 100, { what: 'load on alpha' });
  await Promise.all([...beta.sentinels.map((s) => s.kill('SIGKILL')), beta.nodes[0].kill('SIGKILL')]);
  await t.rejects(cb.get('where'), { message: /ERR|MASTERDOWN|Connection/ }, 'beta clients get an error');
  await waitFor(async () => sample((await get(admin, '/metrics')).text, 'rsp_sentinels_reachable', { group: 'beta' }) === 0, {
    what: 'beta sentinel links down',
  });
  const opsAt = load.stats.ops;
  await waitFor(() => load.stats.ops > opsAt + 200, { what: 'alpha still serving' });
  await load.stop();
  t.equal(errorCount(load.stats), 0, 'no errors on alpha');
  t.equal(load.stats.disconnects, 0, 'no disconnects on alpha');
  t.equal(await ca.get('where'), 'alpha');
  const after = (await get(admin, '/readyz')).json();
  t.notOk(after.problems.some((x: { group: string }) => x.group === 'alpha'), 'alpha still ready');
});
