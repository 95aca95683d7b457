// The topology watcher against real redis-server / redis-sentinel processes.
import t from 'tap';
import type { GroupConfig } from '../../src/config/types.js';
import { Writable } from 'node:stream';
import { createLogger, silentLogger, type Logger } from '../../src/logger.js';
import type { TopologyEvent } from '../../src/topology/types.js';
import { TopologyWatcher } from '../../src/topology/watcher.js';
import { waitFor, withGroup, type HasTeardown, type SandboxGroup } from '../helpers/group.js';

function groupConfig(g: SandboxGroup, over: { sentinels?: string[]; requireSentinelMajority?: boolean; pollIntervalMs?: number } = {}): GroupConfig {
  const sentinels = (over.sentinels ?? g.sentinelAddrs).map((a) => {
    const i = a.lastIndexOf(':');
    return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  });
  return {
    name: g.masterName,
    listen: { host: '127.0.0.1', port: 0 },
    sentinels,
    sentinelAuth: {},
    auth: {},
    tls: {},
    topology: { pollIntervalMs: over.pollIntervalMs ?? 250, connectTimeoutMs: 500, requireSentinelMajority: over.requireSentinelMajority ?? false, writeSafety: 'safe', livenessTimeoutMs: 1000 },
    failover: { holdTimeoutMs: 5000, holdBytes: 1 << 20 },
    reads: { routeReads: 'master', maxLagMs: 5000, fallback: 'master', readYourWritesMs: 0 },
    limits: {
      maxClients: 100,
      idleTimeoutMs: 0,
      maxBulkBytes: 512 << 20,
      maxMultibulkLength: 1 << 20,
      queryBufferBytes: 1 << 30,
      outputBufferSoftBytes: 1 << 20,
      outputBufferHardBytes: 1 << 24,
    },
  };
}

interface Started {
  w: TopologyWatcher;
  events: TopologyEvent[];
}

async function watch(t: HasTeardown, cfg: GroupConfig, logger: Logger = silentLogger()): Promise<Started> {
  const w = new TopologyWatcher(cfg, logger);
  const events: TopologyEvent[] = [];
  w.on('event', (ev) => events.push(ev));
  t.teardown(() => w.stop());
  await w.start();
  return { w, events };
}

const types = (evs: TopologyEvent[]) => evs.filter((e) => e.type !== 'sentinels' && e.type !== 'replicas').map((e) => e.type);

t.test('topology watcher (group A)', async (t) => {
  const g = await withGroup(t, { downAfterMs: 1000 });
  const { w, events } = await watch(t, groupConfig(g));

  await t.test('initial master verified, replicas healthy', async (t) => {
    await waitFor(() => w.snapshot().ready, { what: 'ready', timeoutMs: 5000 });
    const s = w.snapshot();
    t.equal(s.master, g.nodes[0]!.addr);
    t.equal(s.masterEpoch, 1);
    t.equal(s.fenced, false);
    t.equal(s.knownSentinels, 3);
    t.equal(s.reachableSentinels, 3);
    t.equal(s.notReadyReason, undefined);
    const first = events.find((e) => e.type === 'master');
    t.ok(first, 'master event');
    t.equal(first?.type === 'master' ? first.previous : 'x', undefined, 'no previous master');
    await waitFor(() => w.snapshot().replicas.filter((r) => r.healthy).length === 2, { what: 'two healthy replicas', timeoutMs: 5000 });
    for (const r of w.snapshot().replicas) {
      t.ok(r.linkUp, `${r.addr} link up`);
      t.type(r.lagMs, 'number', `${r.addr} lag known`);
    }
    t.same(w.snapshot().replicas.map((r) => r.addr).sort(), [g.nodes[1]!.addr, g.nodes[2]!.addr].sort());
  });

  await t.test('discovers sentinels not in the config', async (t) => {
    const { w: w2 } = await watch(t, groupConfig(g, { sentinels: [g.sentinelAddrs[0]!] }));
    await waitFor(() => w2.snapshot().reachableSentinels === 3, { what: 'three reachable sentinels', timeoutMs: 5000 });
    const s = w2.snapshot();
    t.equal(s.knownSentinels, 3);
    t.same(s.sentinels.map((x) => x.addr).sort(), [...g.sentinelAddrs].sort());
    t.same(s.sentinels.filter((x) => x.source === 'discovered').map((x) => x.addr).sort(), g.sentinelAddrs.slice(1).sort());
    t.equal(s.master, g.nodes[0]!.addr);
    await w2.stop();
  });

  await t.test('requireSentinelMajority', async (t) => {
    const { w: w2 } = await watch(t, groupConfig(g, { requireSentinelMajority: true }));
    await waitFor(() => w2.snapshot().ready, { what: 'ready', timeoutMs: 5000 });
    await Promise.all([g.sentinels[0]!.kill(), g.sentinels[1]!.kill()]);
    await waitFor(() => w2.snapshot().reachableSentinels === 1, { what: 'one reachable sentinel', timeoutMs: 5000 });
    let s = w2.snapshot();
    t.equal(s.ready, false, 'not ready on the minority side');
    t.match(s.notReadyReason, /1 of 3/);
    t.equal(s.master, g.nodes[0]!.addr, 'master kept');
    t.equal(w.snapshot().ready, true, 'the watcher without the option stays ready');
    await Promise.all([g.sentinels[0]!.restart(), g.sentinels[1]!.restart()]);
    await waitFor(() => w2.snapshot().ready && w2.snapshot().reachableSentinels === 3, { what: 'ready again', timeoutMs: 8000 });
    s = w2.snapshot();
    t.equal(s.notReadyReason, undefined);
    await w2.stop();
  });

  await t.test('every sentinel down: the last master is kept', async (t) => {
    const before = events.length;
    await Promise.all(g.sentinels.map((s) => s.kill()));
    await waitFor(() => w.snapshot().reachableSentinels === 0, { what: 'no reachable sentinel', timeoutMs: 5000 });
    const s = w.snapshot();
    t.equal(s.master, g.nodes[0]!.addr);
    t.equal(s.ready, true);
    t.equal(s.fenced, false);
    t.match(s.notReadyReason, /no sentinel reachable/);
    await Promise.all(g.sentinels.map((x) => x.restart()));
    await waitFor(() => w.snapshot().reachableSentinels === 3 && w.snapshot().notReadyReason === undefined, {
      what: 'sentinels back',
      timeoutMs: 8000,
    });
    t.equal(w.snapshot().master, g.nodes[0]!.addr);
    // (The write lease may pause writes for a probe answered late on this busy machine: 'lease'.
    // It does not depend on the sentinels while every replica acknowledges.)
    t.same(
      types(events.slice(before)).filter((e) => e !== 'lease'),
      [],
      'no fence or master change',
    );
    await waitFor(() => w.snapshot().writeHold === undefined, { what: 'writes not held', timeoutMs: 5000 });
    // The event links re-subscribed on every restarted sentinel.
    for (const s of g.sentinels) {
      await waitFor(
        async () => String(await s.call('CLIENT', 'LIST')).split('\n').some((l) => /name=sentinel-proxy-events /.test(l) && /psub=1 /.test(l)),
        { what: `PSUBSCRIBE on ${s.addr}`, timeoutMs: 5000 },
      );
    }
  });

  await t.test('SENTINEL FAILOVER: fence before master', async (t) => {
    const old = w.snapshot().master!;
    const start = events.length;
    const epoch = w.snapshot().masterEpoch;
    const newMaster = await g.failover({ timeoutMs: 20_000 });
    await waitFor(() => w.snapshot().master === newMaster, { what: `watcher on ${newMaster}`, timeoutMs: 10_000 });
    const seq = events.slice(start);
    const fenceAt = seq.findIndex((e) => e.type === 'fence');
    const masterAt = seq.findIndex((e) => e.type === 'master');
    t.ok(fenceAt >= 0, 'fenced');
    t.ok(masterAt > fenceAt, `fence (${fenceAt}) before master (${masterAt}): ${types(seq).join(',')}`);
    const promotedAt = seq.findIndex((e) => e.type === 'promoted');
    t.ok(promotedAt > fenceAt && promotedAt < masterAt, 'promoted between fence and master');
    t.equal(seq.filter((e) => e.type === 'fence').length, 1, 'one fence');
    const m = seq[masterAt]!;
    t.equal(m.type === 'master' ? m.previous : undefined, old);
    t.equal(m.snapshot.fenced, false);
    t.equal(m.snapshot.promoted, false);
    t.equal(m.snapshot.masterEpoch, epoch + 1);
    t.ok(seq[fenceAt]!.snapshot.fenced);
    // The other replica is re-pointed during the failover; the old master only when Sentinel
    // converts it (~10 s later): until then it must not count as healthy.
    await waitFor(() => w.snapshot().replicas.some((r) => r.healthy), { what: 'a healthy replica', timeoutMs: 10_000 });
    for (const r of w.snapshot().replicas.filter((x) => x.healthy)) {
      const info = String(await g.node(r.addr)!.call('INFO', 'replication'));
      t.match(info, new RegExp(`master_port:${newMaster.split(':')[1]}\\r?\\n`), `${r.addr} replicates from the new master`);
      t.match(info, /master_link_status:up/, `${r.addr} link up`);
    }
    t.notOk(w.snapshot().replicas.some((r) => r.addr === newMaster));
    // No stray fence after the switch (slower sentinels publish +switch-master later).
    await waitFor(() => !w.snapshot().fenced, { timeoutMs: 1000 });
  });

  await t.test('a SIGSTOPped sentinel does not stall the watcher', async (t) => {
    const stopped = g.sentinels[0]!;
    stopped.sigstop();
    t.teardown(() => stopped.sigcont());
    await waitFor(() => w.snapshot().reachableSentinels === 2, { what: 'stopped sentinel unreachable', timeoutMs: 5000 });
    const old = w.snapshot().master!;
    const start = events.length;
    // Fail over through a live sentinel while one is stopped.
    await waitFor(
      async () => {
        try {
          await g.sentinels[1]!.call('SENTINEL', 'FAILOVER', g.masterName);
          return true;
        } catch (err) {
          if (/NOGOODSLAVE|INPROG/.test(String(err))) return false;
          throw err;
        }
      },
      { what: 'SENTINEL FAILOVER accepted', timeoutMs: 15_000, intervalMs: 200 },
    );
    const t0 = Date.now();
    await waitFor(() => w.snapshot().master !== old, { what: 'new master while a sentinel is stopped', timeoutMs: 15_000 });
    t.ok(Date.now() - t0 < 10_000, 'in time');
    const seq = types(events.slice(start));
    t.ok(seq.indexOf('fence') >= 0 && seq.indexOf('fence') < seq.indexOf('master'), seq.join(','));
    t.equal(w.snapshot().master, await g.waitForMaster({ notAddr: old, timeoutMs: 10_000 }));
    stopped.sigcont();
    await waitFor(() => w.snapshot().reachableSentinels === 3, { what: 'sentinel back after SIGCONT', timeoutMs: 8000 });
  });
});

t.test('topology watcher (group B): master killed', async (t) => {
  const g = await withGroup(t, { downAfterMs: 1000 });
  const blogs: string[] = [];
  const bsink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      blogs.push(chunk.toString());
      cb();
    },
  });
  const { w, events } = await watch(t, groupConfig(g), createLogger('debug', 'json', bsink));
  await waitFor(() => w.snapshot().ready, { what: 'ready', timeoutMs: 5000 });
  const old = g.nodes[0]!;
  t.equal(w.snapshot().master, old.addr);

  await t.test('kill -9 master: fence, then new master', async (t) => {
    const start = events.length;
    await old.kill('SIGKILL');
    const newMaster = await waitFor(() => (w.snapshot().master !== old.addr ? w.snapshot().master : undefined), {
      what: 'new master',
      timeoutMs: 20_000,
    });
    const seq = types(events.slice(start));
    t.ok(seq.indexOf('fence') >= 0, `fenced: ${seq.join(',')}`);
    t.ok(seq.indexOf('fence') < seq.indexOf('master'), 'fence before master');
    t.equal(newMaster, await g.waitForMaster({ notAddr: old.addr, timeoutMs: 10_000 }));
    t.not(newMaster, old.addr);
  });

  await t.test('a restarted old master claiming master is never chosen', async (t) => {
    const current = w.snapshot().master!;
    const epoch = w.snapshot().masterEpoch;
    const wrong: TopologyEvent[] = [];
    const onEv = (ev: TopologyEvent) => {
      if (ev.snapshot.master === old.addr) wrong.push(ev);
    };
    w.on('event', onEv);
    t.teardown(() => w.off('event', onEv));
    await old.restart({ asMaster: true });
    // It claims master until Sentinel converts it.
    const role = (await old.call('ROLE')) as unknown[];
    t.equal(String(role[0]), 'master', 'restarted node claims master');
    w.refresh('test');
    await waitFor(
      async () => {
        const r = (await old.call('ROLE')) as unknown[];
        return String(r[0]) === 'slave';
      },
      { what: 'old master demoted by Sentinel', timeoutMs: 20_000, intervalMs: 200 },
    );
    // (Under heavy load Sentinel may even fail over again meanwhile: following it is right, naming
    // the old node is not.)
    const consensus = await g.waitForMaster({ notAddr: old.addr, timeoutMs: 10_000 });
    await waitFor(() => w.snapshot().master === consensus, { what: `watcher on ${consensus}`, timeoutMs: 5000 });
    if (consensus === current) t.equal(w.snapshot().masterEpoch, epoch, 'no master change');
    else {
      t.comment(`Sentinel failed over again: ${current} -> ${consensus}`);
      const t0 = blogs.length ? JSON.parse(blogs[0]!).time : 0;
      for (const l of blogs) {
        const j = JSON.parse(l);
        if (/sentinel event|master verified|fenced|unfenced|promoted/.test(j.msg)) t.comment(`${j.time - t0} ${j.msg} ${j.event ?? ''} ${j.sentinel ?? ''} ${j.addr ?? ''} ${j.master ?? ''} ${j.from ?? ''} ${j.to ?? ''} ${j.reason ?? ''}`);
      }
    }
    t.same(wrong, [], 'never named the old master');
    await waitFor(() => w.snapshot().replicas.some((r) => r.addr === old.addr && r.healthy), {
      what: 'old master healthy as a replica',
      timeoutMs: 10_000,
    });
  });

  await t.test('refresh after -READONLY: a master that turned replica is fenced', async (t) => {
    const current = w.snapshot().master!;
    const node = g.node(current)!;
    const start = events.length;
    await node.call('REPLICAOF', '127.0.0.1', '1'); // nothing listens there: role slave, link down
    t.teardown(() => node.call('REPLICAOF', 'NO', 'ONE').catch(() => undefined));
    w.refresh('READONLY from master');
    await waitFor(() => w.snapshot().fenced, { what: 'fence', timeoutMs: 3000 });
    t.equal(w.snapshot().fenceReason, 'master-not-master');
    t.equal(w.snapshot().master, current, 'no other master chosen');
    await node.call('REPLICAOF', 'NO', 'ONE');
    w.refresh('test');
    await waitFor(() => !w.snapshot().fenced, { what: 'unfence', timeoutMs: 3000 });
    // (Its probe also finds a replica where the master was: writes are held meanwhile, 'lease'.)
    t.same(
      types(events.slice(start)).filter((e) => e !== 'lease'),
      ['fence', 'unfence'],
    );
    await waitFor(() => w.snapshot().writeHold === undefined, { what: 'writes released', timeoutMs: 5000 });
    t.equal(w.snapshot().master, current);
  });
});

t.test('topology watcher (group C): backend password', async (t) => {
  const g = await withGroup(t, { downAfterMs: 1000, replicas: 1, sentinels: 1, quorum: 1, password: 'sekret pass' });
  const good = groupConfig(g);
  good.auth = { password: 'sekret pass' };
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const { w } = await watch(t, good, createLogger('debug', 'json', sink));
  await waitFor(() => w.snapshot().ready, { what: 'ready with the password', timeoutMs: 5000 });
  t.equal(w.snapshot().master, g.nodes[0]!.addr);
  await waitFor(() => w.snapshot().replicas.some((r) => r.healthy), { what: 'healthy replica', timeoutMs: 5000 });
  const all = logs.join('');
  t.match(all, /"msg":"master verified"/, 'master change logged');
  t.notMatch(all, /sekret/, 'no password in the logs');

  const { w: bad } = await watch(t, groupConfig(g));
  t.equal(bad.snapshot().ready, false, 'not ready without the password');
  t.equal(bad.snapshot().master, undefined);
  t.match(bad.snapshot().notReadyReason, /NOAUTH/);

  const wrongCfg = groupConfig(g);
  wrongCfg.auth = { password: 'wrong' };
  const { w: wrong } = await watch(t, wrongCfg);
  t.equal(wrong.snapshot().ready, false, 'not ready with a wrong password');
  t.match(wrong.snapshot().notReadyReason, /WRONGPASS|invalid password/i);
  t.notMatch(JSON.stringify(wrong.snapshot()), /wrong"/, 'the password is not in the snapshot');
});
