// Issue 18 against a real Sentinel group: the status page and the JSON behind it (/status,
// /events, /slowlog), build info and per-command latency in /metrics, and the failover timeline of
// a real planned failover under load.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { startIncrLoad, errorCount } from '../helpers/load.js';
import { encode, rawClient } from '../helpers/raw.js';
import { ADMIN_ENDPOINTS } from '../../src/admin/server.js';
import { get, sample } from '../helpers/admin-http.js';

const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };

t.test('status page, /status, /slowlog and per-command latency', async (t) => {
  const group = await withGroup(t, { replicas: 1, redisArgs: ['--enable-debug-command', 'local'] });
  const p = await withProxy(t, group, { admin: true });
  const admin = p.adminPort!;
  for (const e of ['/', '/events', '/slowlog', '/status']) t.ok((ADMIN_ENDPOINTS as readonly string[]).includes(e), `${e} listed`);

  const page = await get(admin, '/');
  t.equal(page.status, 200);
  t.match(page.type, /^text\/html/);
  t.match(page.text, /<title>redis-sentinel-proxy status<\/title>/);
  t.notMatch(page.text, /<script[^>]+src=|<link[^>]+href="http/, 'nothing loaded from elsewhere');

  const m0 = (await get(admin, '/metrics')).text;
  t.equal(sample(m0, 'rsp_build_info', { version: pkg.version, node: process.version }), 1, 'build info');
  t.equal(sample(m0, 'rsp_config_last_reload_successful'), 1);
  t.ok(sample(m0, 'rsp_config_last_reload_success_timestamp_seconds')! > Date.now() / 1000 - 600);
  t.equal(sample(m0, 'rsp_config_reloads_total', { result: 'invalid' }), 0);

  // Traffic: shared-link commands (SET, GET), an own-link session (SELECT), an unknown command.
  const c = p.client();
  for (let i = 0; i < 20; i++) await c.set(`k${i}`, 'v');
  for (let i = 0; i < 30; i++) await c.get(`k${i}`);
  const r = await rawClient(p.port);
  t.equal(await r.cmd('SELECT', '2'), '+OK\r\n');
  t.equal(await r.cmd('INCR', 'n'), ':1\r\n');
  t.match(await r.cmd('NOSUCH.COMMAND', 'x'), /^-ERR unknown command/);
  // A slow one: 60 ms in the node.
  t.equal(await r.cmd('DEBUG', 'SLEEP', '0.06'), '+OK\r\n');

  const g = { group: group.masterName };
  const m = await waitFor(
    async () => {
      const text = (await get(admin, '/metrics')).text;
      return (sample(text, 'rsp_command_duration_seconds_count', { ...g, command: 'get' }) ?? 0) >= 30 ? text : undefined;
    },
    { what: 'GET latencies in /metrics' },
  );
  t.equal(sample(m, 'rsp_command_duration_seconds_count', { ...g, command: 'set' }), 20);
  t.equal(sample(m, 'rsp_command_duration_seconds_count', { ...g, command: 'select' }), 1);
  t.equal(sample(m, 'rsp_command_duration_seconds_count', { ...g, command: 'other' }), 1, 'an unknown command counts as other');
  t.equal(sample(m, 'rsp_command_duration_seconds_bucket', { ...g, command: 'get', le: '+Inf' }), 30);
  t.equal(sample(m, 'rsp_command_duration_seconds_bucket', { ...g, command: 'debug', le: '0.05' }), 0, 'DEBUG SLEEP 0.06 is above 50 ms');
  t.equal(sample(m, 'rsp_command_duration_seconds_bucket', { ...g, command: 'debug', le: '0.1' }), 1);
  t.ok(sample(m, 'rsp_command_duration_seconds_sum', { ...g, command: 'debug' })! >= 0.06);
  t.equal(sample(m, 'rsp_command_duration_seconds_count', { ...g, command: 'hgetall' }), undefined, 'no series for commands never seen');

  const slow = (await get(admin, '/slowlog')).json();
  t.equal(slow.recordedFromMs, 10);
  // (On a busy machine a session's first command, which waits for its link to connect, may be
  // slower than 10 ms too.)
  const durations = slow.entries.map((x: any) => x.durationMs);
  t.ok(durations.every((d: number) => d >= 10), 'only commands of 10 ms or more');
  t.same(durations, [...durations].sort((a, b) => b - a), 'slowest first');
  const e = slow.entries.find((x: any) => x.command === 'debug');
  t.ok(e, 'DEBUG SLEEP 0.06 is there');
  t.ok(e.durationMs >= 60, `${e.durationMs} ms`);
  t.equal(e.group, group.masterName);
  t.equal(e.node, await group.currentMaster());
  t.type(e.session, 'number');
  t.notMatch((await get(admin, '/slowlog')).text, /0\.06/, 'never arguments');
  const above = (await get(admin, `/slowlog?threshold=${e.durationMs}`)).json().entries;
  t.ok(above.length >= 1 && above.every((x: any) => x.durationMs >= e.durationMs), 'a higher threshold');
  t.equal((await get(admin, '/slowlog?limit=1')).json().entries.length, 1);
  t.equal((await get(admin, `/slowlog?group=nosuch`)).json().entries.length, 0);

  const st = (await get(admin, '/status')).json();
  t.equal(st.build.version, pkg.version);
  t.equal(st.groups.length, 1);
  const sg = st.groups[0];
  t.equal(sg.group, group.masterName);
  t.equal(sg.master, await group.currentMaster());
  t.type(sg.masterSince, 'number');
  t.ok(sg.counters.commands >= 55);
  t.ok(sg.latency.some((l: any) => l.command === 'get' && l.count === 30 && l.p50Ms > 0 && l.p99Ms >= l.p50Ms));
  t.ok(st.slowlog.some((x: any) => x.command === 'debug'));
  t.same(sg.failovers, []);
  t.ok(st.events.some((ev: any) => ev.type === 'master' && ev.source === 'proxy'), 'the first master verified is an event');
  r.close();
});

t.test('the failover timeline of a planned failover under load', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { admin: true });
  const admin = p.adminPort!;
  const oldMaster = group.nodes[0].addr;
  // A blocked client: its BLPOP is unblocked on the old master and re-issued on the new one.
  const blocked = await rawClient(p.port);
  blocked.send(encode('BLPOP', 'observe-jobs', '0'));
  const load = startIncrLoad(p.port, 8);
  await waitFor(() => load.stats.ops >= 1000, { what: '1000 INCRs' });
  const seqBefore = Math.max(0, ...(await get(admin, '/events')).json().events.map((e: any) => e.seq));

  const newMaster = await group.failover();
  const fo = await waitFor(
    async () => {
      const [f] = (await get(admin, '/events')).json().failovers;
      return f !== undefined && f.state === 'switched' && f.steps.some((s: any) => s.step === 'sessions re-homed') ? f : undefined;
    },
    { what: 'a switched failover in /events', timeoutMs: 20_000 },
  );
  await waitFor(() => load.stats.ops >= 3000, { what: 'INCRs after the failover' });
  await load.stop();
  t.equal(errorCount(load.stats), 0, 'no client error');

  t.equal(fo.group, group.masterName);
  t.equal(fo.from, oldMaster);
  t.equal(fo.to, newMaster);
  const step = (name: string) => fo.steps.find((s: any) => s.step === name);
  t.equal(step('fence').atMs, 0, 'times are relative to the fence');
  t.ok(step('master verified').atMs > 0);
  t.ok(step('sessions re-homed').atMs >= step('master verified').atMs);
  t.equal(fo.durationMs, step('master verified').atMs);
  t.ok(fo.steps.some((s: any) => s.step.startsWith('+')), `Sentinel's steps too: ${fo.steps.map((s: any) => s.step).join(', ')}`);
  const times = fo.steps.filter((s: any) => !s.step.startsWith('+sdown')).map((s: any) => s.atMs);
  t.same(times, [...times].sort((a, b) => a - b), 'steps in order');
  t.ok(fo.counts.held > 0, `commands held during the fence: ${fo.counts.held}`);
  t.equal(fo.counts.holdTimeouts, 0);
  t.equal(fo.counts.lostInFlight, 0);

  // The blocked BLPOP moved: served by the new master, and counted as re-issued.
  await p.client().rpush('observe-jobs', 'j1');
  t.equal((await blocked.read(1))[0], '*2\r\n$12\r\nobserve-jobs\r\n$2\r\nj1\r\n');
  const after = await waitFor(
    async () => {
      const [f] = (await get(admin, '/events')).json().failovers;
      return f.counts.reissued >= 1 ? f : undefined;
    },
    { what: 're-issued BLPOP counted' },
  );
  t.equal(after.id, fo.id);

  // The raw events: the proxy's and each sentinel's, placed relative to the fence.
  const ev = (await get(admin, `/events?since=${seqBefore}`)).json().events as any[];
  t.ok(ev.every((e) => e.seq > seqBefore), '?since');
  const fence = ev.find((e) => e.type === 'fence');
  t.equal(fence.source, 'proxy');
  t.equal(fence.failover, fo.id);
  t.equal(fence.sinceFenceMs, 0);
  const sw = ev.filter((e) => e.type === '+switch-master');
  t.ok(sw.length >= 1, 'each sentinel publishes +switch-master');
  t.match(sw[0].detail, `${oldMaster} -> ${newMaster}`);
  t.type(sw[0].sentinel, 'string');
  t.ok(ev.some((e) => e.type === 'master' && e.detail.includes(newMaster)));
  t.equal((await get(admin, `/events?limit=2`)).json().events.length, 2);

  const st = (await get(admin, '/status')).json();
  t.equal(st.groups[0].master, newMaster);
  t.equal(st.groups[0].failovers[0].id, fo.id);
  const m = (await get(admin, '/metrics')).text;
  t.ok(sample(m, 'rsp_command_duration_seconds_count', { group: group.masterName, command: 'incr' })! >= 3000);
  t.ok(sample(m, 'rsp_command_duration_seconds_count', { group: group.masterName, command: 'blpop' })! >= 1, 'BLPOP observed once, when answered');
  blocked.close();
});
