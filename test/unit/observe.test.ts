// The admin side's recorders (issue 18), without sockets: per-command latency histograms, the slow
// log, and the event log with its failover timeline fed with synthetic topology events.
import t from 'tap';
import { CommandTable } from '../../src/commands/table.js';
import { CommandLatency, LATENCY_BUCKETS_S, latencyCommandNames, quantileOf } from '../../src/admin/latency.js';
import { Slowlog, SLOWLOG_MAX_LEN, slowest } from '../../src/admin/slowlog.js';
import { EventLog, EVENTS_KEPT, FAILOVERS_KEPT } from '../../src/admin/events.js';
import { GroupObserver } from '../../src/admin/group-observer.js';
import { Count } from '../../src/group.js';
import type { TopologyEvent, TopologySnapshot } from '../../src/topology/types.js';

const table = CommandTable.packaged();
const spec = (name: string) => table.lookupName(name)!;

t.test('latency: buckets as Prometheus counts them (value <= le), subcommands under their command, unknown as other', async (t) => {
  const l = new CommandLatency();
  l.observe(spec('get'), 0.1); // exactly 100 µs: in le=0.0001
  l.observe(spec('get'), 0.2);
  l.observe(spec('get'), 20_000); // beyond 10 s: +Inf only
  l.observe(spec('client|setname'), 1);
  l.observe(undefined, 3);
  const rows = new Map(l.rows().map((r) => [r.command, r]));
  t.same([...rows.keys()].sort(), ['client', 'get', 'other']);
  const get = rows.get('get')!;
  t.equal(get.count, 3);
  t.equal(get.buckets[0], 1, 'le=0.0001');
  t.equal(get.buckets[1], 2, 'le=0.00025 (cumulative)');
  t.equal(get.buckets[LATENCY_BUCKETS_S.length - 1], 2, 'le=10: the 20 s one is only in +Inf');
  t.ok(Math.abs(get.sumSeconds - 20.0003) < 1e-9);
  t.equal(rows.get('client')!.count, 1);
  t.equal(rows.get('other')!.count, 1);
  // Bounded labels: the packaged table's commands and `other`.
  const names = latencyCommandNames();
  t.equal(names[names.length - 1], 'other');
  t.ok(names.length > 200 && names.length < 300, `${names.length} label values`);
  t.notOk(names.some((n) => n.includes('|')), 'no subcommand labels');
});

t.test('latency: quantiles interpolated inside the bucket, as histogram_quantile', async (t) => {
  const l = new CommandLatency();
  for (let i = 0; i < 100; i++) l.observe(spec('set'), i < 50 ? 0.3 : 3); // le=0.0005 and le=0.005
  const [row] = l.rows();
  t.equal(quantileOf(row, 0.5), 0.0005, 'p50 at the top of the first bucket');
  const p99 = quantileOf(row, 0.99)!;
  t.ok(p99 > 0.0025 && p99 <= 0.005, `p99 ${p99} in (2.5 ms, 5 ms]`);
  t.equal(quantileOf({ command: 'x', buckets: row.buckets.map(() => 0), count: 0, sumSeconds: 0 }, 0.5), undefined);
});

t.test('the observer: one call per command; slow ones in the slow log, never waiting commands', async (t) => {
  const o = new GroupObserver('g', { held: new Count(), holdTimeouts: new Count(), linkLost: new Count(), reissued: new Count(), rehomed: new Count() });
  const now = performance.now();
  o.command(spec('get'), now - 1, now, 'n:1', 7);
  o.command(spec('set'), now - 50, now, 'n:1', 8);
  o.command(spec('blpop'), now - 5000, now, 'n:1', 9);
  o.command(spec('wait'), now - 5000, now, 'n:1', 9);
  o.command(undefined, now - 30, now, 'n:2', 10);
  const e = o.slowlog.entries();
  t.same(
    e.map((x) => x.command),
    ['unknown', 'set'],
    'newest first; BLPOP and WAIT wait on purpose',
  );
  t.equal(e[1].session, 8);
  t.equal(e[1].node, 'n:1');
  t.ok(e[1].durationMs >= 50);
  t.equal(o.latency.rows().find((r) => r.command === 'blpop')?.count, 1, 'their latency is still observed');
});

t.test('slow log: the last 128 kept; /slowlog sorts the slowest first, threshold and limit', async (t) => {
  const a = new Slowlog('a');
  const b = new Slowlog('b');
  for (let i = 0; i < SLOWLOG_MAX_LEN + 10; i++) a.record('get', 10 + i, 'n', 1);
  b.record('set', 500, 'm', 2);
  t.equal(a.entries().length, SLOWLOG_MAX_LEN);
  t.equal(a.entries()[0].durationMs, 10 + SLOWLOG_MAX_LEN + 9, 'newest first');
  t.notOk(a.entries().some((e) => e.durationMs < 20), 'the oldest dropped');
  const top = slowest([a, b], 0, 3);
  t.same(
    top.map((e) => [e.group, e.durationMs]),
    [
      ['b', 500],
      ['a', 147],
      ['a', 146],
    ],
  );
  t.equal(slowest([a, b], 140, 100).length, 9, '140..147 and 500');
  a.reset();
  t.same(a.entries(), []);
});

function snap(over: Partial<TopologySnapshot> = {}): TopologySnapshot {
  return { group: 'g', masterEpoch: 1, fenced: false, promoted: false, replicas: [], replicasMeasured: true, sentinels: [], reachableSentinels: 3, knownSentinels: 3, ready: true, master: 'a:1', ...over };
}

function counters() {
  return { held: new Count(), holdTimeouts: new Count(), linkLost: new Count(), reissued: new Count(), rehomed: new Count() };
}

t.test('failover timeline: steps relative to the fence, counts from the fence until settled', async (t) => {
  const c = counters();
  c.held.inc(100); // before the failover: not counted
  const log = new EventLog('g', c, 50);
  const master: TopologyEvent = { type: 'master', snapshot: snap() };
  log.topology(master);
  t.type(log.masterSince, 'number');
  log.topology({ type: 'fence', reason: '+try-failover', snapshot: snap({ fenced: true }) });
  log.sentinel('+try-failover', 's:1', { channel: '+try-failover', action: 'fence', instanceType: 'master', addr: 'a:1', masterName: 'g' });
  log.sentinel('+try-failover', 's:2', { channel: '+try-failover', action: 'fence', instanceType: 'master', addr: 'a:1', masterName: 'g' });
  c.held.inc(5);
  c.holdTimeouts.inc(1);
  log.topology({ type: 'promoted', snapshot: snap({ fenced: true, promoted: true }) });
  const sw: TopologyEvent = { type: 'master', previous: 'a:1', snapshot: snap({ master: 'b:2', masterEpoch: 2 }) };
  log.topology(sw);
  c.rehomed.inc(3);
  log.applied(sw);
  let [f] = log.failoverRecords();
  t.equal(f.state, 'switched');
  t.equal(f.from, 'a:1');
  t.equal(f.to, 'b:2');
  t.same(
    f.steps.map((s) => s.step),
    ['fence', '+try-failover', 'promoted', 'master verified', 'sessions re-homed'],
    'each sentinel step once',
  );
  t.equal(f.steps[0].atMs, 0);
  t.equal(f.durationMs, f.steps[3].atMs);
  t.same(f.counts, { held: 5, holdTimeouts: 1, lostInFlight: 0, reissued: 0, rehomed: 3 });
  t.equal(f.settled, false);
  c.rehomed.inc(1); // a session re-homes at its next boundary
  t.equal(log.failoverRecords()[0].counts.rehomed, 4, 'still counting');
  await new Promise((r) => setTimeout(r, 60));
  c.rehomed.inc(10); // after it settled: not this failover's
  [f] = log.failoverRecords();
  t.equal(f.settled, true);
  t.equal(f.counts.rehomed, 4, 'frozen once settled');

  const ev = log.events();
  t.same(
    ev.map((e) => [e.source, e.type]),
    [
      ['proxy', 'master'],
      ['proxy', 'fence'],
      ['sentinel', '+try-failover'],
      ['sentinel', '+try-failover'],
      ['proxy', 'promoted'],
      ['proxy', 'master'],
    ],
  );
  t.equal(ev[0].failover, undefined, 'the first master is no failover');
  t.equal(ev[1].sinceFenceMs, 0);
  t.equal(ev[3].sentinel, 's:2');
  t.equal(log.events(ev[3].seq).length, 2, '?since');
});

t.test('failover timeline: an aborted failover, a new master without a fence, bounded rings', async (t) => {
  const c = counters();
  const log = new EventLog('g', c);
  log.topology({ type: 'fence', reason: '+odown', snapshot: snap({ fenced: true }) });
  log.topology({ type: 'unfence', reason: '-failover-abort-no-good-slave', snapshot: snap() });
  let [f] = log.failoverRecords();
  t.equal(f.state, 'aborted');
  t.equal(f.to, 'a:1');
  t.same(
    f.steps.map((s) => s.step),
    ['fence', 'fence lifted'],
  );
  log.topology({ type: 'master', previous: 'a:1', snapshot: snap({ master: 'c:3', masterEpoch: 2 }) });
  [f] = log.failoverRecords();
  t.equal(f.reason, 'new master found without a fence');
  t.equal(f.to, 'c:3');
  t.equal(log.failoverRecords()[1].settled, true, 'a new failover closes the previous one');
  for (let i = 0; i < FAILOVERS_KEPT + 5; i++) {
    log.topology({ type: 'fence', reason: 'x', snapshot: snap({ fenced: true }) });
    log.topology({ type: 'unfence', reason: 'y', snapshot: snap() });
  }
  t.equal(log.failoverRecords().length, FAILOVERS_KEPT);
  for (let i = 0; i < EVENTS_KEPT; i++) log.topology({ type: 'sentinels', snapshot: snap({ reachableSentinels: i % 3 }) });
  const ev = log.events();
  t.equal(ev.length, EVENTS_KEPT);
  t.ok(ev.every((e, i) => i === 0 || e.seq > ev[i - 1].seq), 'oldest first');
  t.match(ev[ev.length - 1].detail, /^sentinels: \d of 3 reachable/);
});

t.test('event log: a node found unreachable is an event of its own, naming the replica leaving the pool', async (t) => {
  // The unreachable event was not recorded, and its snapshot (the replica already out) hid the
  // change from the `replicas` event after it.
  const log = new EventLog('g', counters());
  const r = (addr: string, healthy: boolean) => ({ addr, flags: ['slave'], linkUp: true, offset: 0, healthy });
  log.topology({ type: 'replicas', snapshot: snap({ replicas: [r('b:2', true), r('c:3', true)] }) });
  log.topology({ type: 'unreachable', addr: 'b:2', snapshot: snap({ replicas: [r('b:2', false), r('c:3', true)] }) });
  log.topology({ type: 'unreachable', addr: 'a:1', snapshot: snap({ replicas: [r('b:2', false), r('c:3', true)] }) });
  const ev = log.events().slice(-2);
  t.same(
    ev.map((e) => [e.type, e.detail]),
    [
      ['unreachable', 'node b:2 unreachable (no answer, no TCP handshake): links to it cut; replicas: 1 of 2 healthy; b:2 unhealthy'],
      ['unreachable', 'master a:1 unreachable (no answer, no TCP handshake): links to it cut'],
    ],
  );
});
