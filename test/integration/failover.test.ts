// Real failovers under load through the proxy (DESIGN.md "Failover: fence, drain, re-home").
import t from 'tap';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { startIncrLoad, errorCount } from '../helpers/load.js';
import { encode, rawClient } from '../helpers/raw.js';
import { Redis } from 'ioredis';

async function waitOps(load: { stats: { ops: number } }, more: number): Promise<void> {
  const target = load.stats.ops + more;
  await waitFor(() => load.stats.ops >= target, { timeoutMs: 15_000, what: `${more} more acknowledged INCRs` });
}

/** Lost acknowledged writes: a counter on the (new) master below what a client was told. */
async function lostWrites(masterAddr: string, acked: Map<string, number>): Promise<number> {
  const [host, port] = masterAddr.split(':');
  const c = new Redis({ host, port: Number(port), maxRetriesPerRequest: 0 });
  try {
    let lost = 0;
    for (const [k, v] of acked) {
      const now = Number((await c.get(k)) ?? 0);
      if (now < v) lost += v - now;
    }
    return lost;
  } finally {
    c.disconnect();
  }
}

t.test('planned SENTINEL FAILOVER: no errors, no disconnects, no lost writes', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group);
  const oldMaster = group.nodes[0].addr;

  // A subscriber, a blocked client and a session with state, all through the proxy.
  const sub = await rawClient(p.port);
  sub.send(encode('SUBSCRIBE', 'events'));
  await sub.read(1);
  const blocked = await rawClient(p.port);
  blocked.send(encode('BLPOP', 'jobs', '0'));
  const stateful = await rawClient(p.port);
  t.equal(await stateful.cmd('SELECT', '5'), '+OK\r\n');
  t.equal(await stateful.cmd('CLIENT', 'SETNAME', 'keeper'), '+OK\r\n');
  t.equal(await stateful.cmd('SET', 'in5', 'yes'), '+OK\r\n');

  const load = startIncrLoad(p.port, 8);
  await waitOps(load, 2000);
  const newMaster = await group.failover();
  t.not(newMaster, oldMaster);
  await waitOps(load, 2000);
  await load.stop();
  t.comment(`planned failover: ops=${load.stats.ops} errors=${errorCount(load.stats)} disconnects=${load.stats.disconnects} longest stall=${load.stats.longestStallMs} ms`);

  t.equal(errorCount(load.stats), 0, `client-visible errors: ${JSON.stringify([...load.stats.errors])}`);
  t.equal(load.stats.disconnects, 0, 'no disconnects');
  t.ok(load.stats.longestStallMs <= 3000, `longest stall ${load.stats.longestStallMs} ms`);
  t.equal(await lostWrites(newMaster, load.stats.acked), 0, 'no acknowledged write lost');

  // Session state moved with it.
  t.equal(await stateful.cmd('GET', 'in5'), '$3\r\nyes\r\n', 'still on db 5, on the new master');
  t.equal(await stateful.cmd('CLIENT', 'GETNAME'), '$6\r\nkeeper\r\n');
  // The subscriber receives messages published after the switch without re-subscribing.
  const pub = p.client();
  await waitFor(async () => (await pub.publish('events', 'after')) >= 1, { timeoutMs: 10_000, what: 'subscriber re-subscribed on the new master' });
  t.equal((await sub.read(1))[0], '*3\r\n$7\r\nmessage\r\n$6\r\nevents\r\n$5\r\nafter\r\n');
  // The blocked BLPOP moved too and is served by the new master.
  await pub.rpush('jobs', 'job1');
  t.equal((await blocked.read(1))[0], '*2\r\n$4\r\njobs\r\n$4\r\njob1\r\n');
  sub.close();
  blocked.close();
  stateful.close();
});

t.test('kill -9 of the master: held commands complete on the new master', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group);
  const old = group.nodes[0];
  const load = startIncrLoad(p.port, 8);
  await waitOps(load, 2000);
  await group.waitForReplicasInSync();
  const killedAt = Date.now();
  await old.kill('SIGKILL');
  // A new client's SET succeeds within down-after + 3 s.
  const c = p.client({ commandTimeout: 10_000 });
  t.equal(await c.set('after-kill', '1'), 'OK');
  const took = Date.now() - killedAt;
  t.ok(took <= 1000 + 3000, `new client's SET succeeded ${took} ms after the kill`);
  await waitOps(load, 2000);
  await load.stop();
  t.comment(`kill -9: ops=${load.stats.ops} errors=${JSON.stringify([...load.stats.errors])} disconnects=${load.stats.disconnects} longest stall=${load.stats.longestStallMs} ms; new client SET after ${took} ms`);
  t.equal(load.stats.disconnects, 0, 'no disconnects');
  t.ok(errorCount(load.stats) <= 8, `at most one error per client (in flight to the dead master): ${JSON.stringify([...load.stats.errors])}`);
  const newMaster = await group.currentMaster();
  t.equal(await lostWrites(newMaster, load.stats.acked), 0, 'no acknowledged write lost');

  // The old master comes back claiming to be master: it must get nothing from the proxy.
  await old.restart({ asMaster: true });
  const before = await commandCalls(old.addr);
  const c2 = p.client();
  for (let i = 0; i < 100; i++) await c2.incr('after-restart');
  await waitFor(async () => ((await old.call('ROLE')) as string[])[0] === 'slave', { timeoutMs: 60_000, what: 'Sentinel demotes the restarted old master' });
  const after = await commandCalls(old.addr);
  t.equal(after.incr ?? 0, before.incr ?? 0, 'the restarted old master saw no INCR');
  t.equal(after.set ?? 0, before.set ?? 0, 'nor any SET');
});

/** INFO commandstats of a node: calls per command. */
async function commandCalls(addr: string): Promise<Record<string, number>> {
  const [host, port] = addr.split(':');
  const c = new Redis({ host, port: Number(port), maxRetriesPerRequest: 0 });
  try {
    const info = await c.info('commandstats');
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
    return out;
  } finally {
    c.disconnect();
  }
}

t.test('a transaction open across a failover: EXEC fails as Redis would, the session goes on', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const r = await rawClient(p.port);
  t.equal(await r.cmd('MULTI'), '+OK\r\n');
  t.equal(await r.cmd('INCR', 'txc'), '+QUEUED\r\n');
  await group.failover();
  await waitFor(() => p.proxy.groups[0].master !== group.nodes[0].addr, { what: 'proxy switched' });
  t.equal(await r.cmd('INCR', 'txc'), '+QUEUED\r\n');
  t.match(await r.cmd('EXEC'), /^-EXECABORT/);
  t.equal(await r.cmd('GET', 'txc'), '$-1\r\n', 'nothing of the transaction ran');
  t.equal(await r.cmd('WATCH', 'w'), '+OK\r\n');
  await group.failover();
  await waitFor(() => p.proxy.groups[0].master === group.nodes[0].addr, { what: 'proxy switched back' });
  t.equal(await r.cmd('MULTI'), '+OK\r\n');
  t.equal(await r.cmd('SET', 'w', '1'), '+QUEUED\r\n');
  t.equal(await r.cmd('EXEC'), '*-1\r\n', 'a WATCH that could not move fails EXEC like a touched key');
  t.equal(await r.cmd('PING'), '+PONG\r\n');
  r.close();
});

t.test('hold timeout: a clear retryable error, nothing hangs', async (t) => {
  const group = await withGroup(t, { replicas: 1, downAfterMs: 60_000 });
  const p = await withProxy(t, group, { failover: { holdTimeoutMs: 800, holdBytes: 1 << 20 } });
  const c = await rawClient(p.port);
  t.equal(await c.cmd('SET', 'a', '1'), '+OK\r\n');
  // Freeze the master; Sentinel will not notice for a minute, so the link just stalls...
  await group.nodes[0].kill('SIGKILL');
  // ...a command in flight to a dead node gets an error, and held ones time out.
  const started = Date.now();
  c.send(encode('SET', 'b', '2'));
  const [reply] = await c.read(1, 10_000);
  t.match(reply, /^-(MASTERDOWN|ERR connection to the master was lost)/);
  c.send(encode('SET', 'c', '3'));
  const [reply2] = await c.read(1, 10_000);
  t.match(reply2, /^-MASTERDOWN no verified master/);
  t.ok(Date.now() - started < 5000);
  c.close();
});

t.test('zombie master (SIGSTOP beyond down-after, then SIGCONT): no lost writes, no writes to it', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group);
  const old = group.nodes[0];
  const load = startIncrLoad(p.port, 8);
  await waitOps(load, 2000);
  await group.waitForReplicasInSync();
  old.sigstop();
  const newMaster = await group.waitForMaster({ notAddr: old.addr, timeoutMs: 20_000 });
  await waitFor(() => p.proxy.groups[0].master === newMaster, { what: 'proxy switched to the new master' });
  await waitOps(load, 1000);
  old.sigcont();
  // Client commands the woken node executes while it still believes it is master. Sampled until
  // Sentinel demotes it, before its replication link is up (after that, the new master's stream
  // of INCRs is counted too).
  const probe = new Redis({ host: old.host, port: old.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  t.teardown(() => probe.disconnect());
  let first: number | undefined;
  let last = 0;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    // Sentinel's reconfiguration kills every normal client, this probe included: demoted.
    const info = await probe.info().catch(() => 'role:slave');
    const incr = Number(/cmdstat_incr:calls=(\d+)/.exec(info)?.[1] ?? 0);
    first ??= incr;
    if (/role:slave/.test(info)) break;
    last = incr;
  }
  await waitOps(load, 1000);
  await load.stop();
  t.comment(`zombie: ops=${load.stats.ops} errors=${JSON.stringify([...load.stats.errors])} disconnects=${load.stats.disconnects} longest stall=${load.stats.longestStallMs} ms`);
  t.equal(load.stats.disconnects, 0, 'no disconnects');
  t.equal(await lostWrites(await group.currentMaster(), load.stats.acked), 0, 'no acknowledged write lost');
  // Only the INCRs already in flight when it froze (at most one per client) may run after it wakes:
  // their clients got an error, not an acknowledgement.
  t.ok(last - (first ?? 0) <= 8, `INCRs executed on the woken node before its demotion: ${last - (first ?? 0)}`);
  t.ok(errorCount(load.stats) <= 8, 'errors only for commands in flight when it froze');
});

t.test('an aborted failover releases held commands to the old master', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { failover: { holdTimeoutMs: 30_000, holdBytes: 1 << 20 } });
  const [master, replica] = group.nodes;
  const c = await rawClient(p.port);
  t.equal(await c.cmd('SET', 'ab', '0'), '+OK\r\n');
  // With its only replica frozen there is no good replica: Sentinel will abort the failover.
  replica.sigstop();
  t.teardown(() => replica.sigcont());
  await waitFor(async () => /s_down/.test(String(await group.sentinels[0].call('SENTINEL', 'REPLICAS', group.masterName))), { timeoutMs: 10_000, what: 'replica marked down' });
  master.sigstop();
  await waitFor(() => p.proxy.groups[0].blocked, { timeoutMs: 10_000, what: 'proxy fenced' });
  c.send(encode('INCR', 'ab'));
  // Wake the master: the failover cannot proceed and the fence lifts.
  await waitFor(async () => {
    const r = String(await group.sentinels[0].call('SENTINEL', 'MASTER', group.masterName));
    return /o_down/.test(r) || /failover/.test(r);
  }, { timeoutMs: 10_000, what: 'sentinels see the master objectively down' });
  master.sigcont();
  t.equal((await c.read(1, 20_000))[0], ':1\r\n', 'the held INCR ran on the old master');
  t.equal(p.proxy.groups[0].master, master.addr);
  c.close();
});

t.test('sessions that cannot move (MONITOR, CLIENT TRACKING) are closed at a reply boundary', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const tracking = await rawClient(p.port);
  t.match(await tracking.cmd('HELLO', '3'), /^%7/);
  t.equal(await tracking.cmd('CLIENT', 'TRACKING', 'ON'), '+OK\r\n');
  const monitor = await rawClient(p.port);
  t.equal(await monitor.cmd('MONITOR'), '+OK\r\n');
  const normal = await rawClient(p.port);
  t.equal(await normal.cmd('SELECT', '1'), '+OK\r\n');
  await group.failover();
  await tracking.closed(20_000);
  await monitor.closed(20_000);
  t.pass('both closed after the switch');
  t.equal(await normal.cmd('PING'), '+PONG\r\n', 'an ordinary session moved');
  normal.close();
});
