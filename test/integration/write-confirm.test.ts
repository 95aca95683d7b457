// Write confirmation through the proxy on a real Sentinel group (topology.writeSafety: safe, the
// default; issue 19): a write's reply reaches the client only once a replica holds the write. The
// replica is made to stop acknowledging for a moment with SIGSTOP (for less than Sentinel's
// down-after-milliseconds, so it stays promotable).
import t from 'tap';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { encode, rawClient } from '../helpers/raw.js';


t.test('writeSafety safe: replies to writes wait for a replica, reads do not', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  await group.waitForReplicasInSync();
  const replica = group.nodes[1];
  const c = await rawClient(p.port);
  t.teardown(() => c.close());
  // Ready: a write goes through (and the master's probe has seen its replica).
  await waitFor(async () => (await c.cmd('SET', 'wc:k', '0')) === '+OK\r\n', { timeoutMs: 15_000 });

  await t.test('a SET answered while the replica is stopped is passed on only after it acknowledges', async (t) => {
    replica.sigstop();
    t.teardown(() => replica.sigcont());
    c.send(Buffer.concat([encode('SET', 'wc:k', '1'), encode('GET', 'wc:k')]));
    const early = await c.read(1, 300).catch(() => 'nothing');
    t.equal(early, 'nothing', 'no reply while the replica is stopped');
    replica.sigcont();
    t.same(await c.read(2, 10_000), ['+OK\r\n', '$1\r\n1\r\n'], 'both replies, in order, once it acknowledges');
  });

  // Differential seed 10003: a replica still resyncing can be promoted by Sentinel (it skips only
  // one whose link has been down for 10 × down-after-milliseconds); a write confirmed while the
  // master streamed to none was lost when the planned failover that followed promoted it.
  await t.test('a SET while the only replica resyncs is passed on only once the replica holds it', async (t) => {
    const master = group.nodes[0]!;
    // A full sync that waits 2 s before it starts: the replica's link stays down meanwhile.
    await master.call('CONFIG', 'SET', 'repl-diskless-sync-delay', '2');
    t.teardown(() => master.call('CONFIG', 'SET', 'repl-diskless-sync-delay', '0'));
    // Turned master and back: its new replication ID is unknown to the master, so a full sync.
    await replica.call('REPLICAOF', 'NO', 'ONE');
    await replica.call('REPLICAOF', '127.0.0.1', String(master.port));
    await waitFor(async () => /master_link_status:down/.test(String(await replica.call('INFO', 'replication'))));
    c.send(encode('SET', 'wc:r', '3'));
    const early = await c.read(1, 300).catch(() => 'nothing');
    t.equal(early, 'nothing', 'no reply while the replica resyncs');
    t.same(await c.read(1, 10_000), ['+OK\r\n'], 'answered once it has synced');
    t.equal(await replica.call('GET', 'wc:r'), '3', 'the replica holds the write');
  });

  await t.test('a GET while the replica is stopped is answered at once', async (t) => {
    replica.sigstop();
    t.teardown(() => replica.sigcont());
    t.equal(await c.cmd('GET', 'wc:k'), '$1\r\n1\r\n', 'answered while the replica is stopped');
    replica.sigcont();
  });

  await t.test('a stateless client on the shared link is held the same way', async (t) => {
    const s = await rawClient(p.port);
    t.teardown(() => s.close());
    replica.sigstop();
    t.teardown(() => replica.sigcont());
    s.send(encode('INCR', 'wc:n'));
    const early = await s.read(1, 300).catch(() => 'nothing');
    t.equal(early, 'nothing', 'no reply while the replica is stopped');
    replica.sigcont();
    t.same(await s.read(1, 10_000), [':1\r\n']);
  });
});

t.test('writeSafety lease: replies to writes do not wait for a replica', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { topology: { writeSafety: 'lease' } });
  await group.waitForReplicasInSync();
  const c = await rawClient(p.port);
  t.teardown(() => c.close());
  await waitFor(async () => (await c.cmd('SET', 'wc:k', '0')) === '+OK\r\n', { timeoutMs: 15_000 });
  const replica = group.nodes[1];
  replica.sigstop();
  t.teardown(() => replica.sigcont());
  t.equal(await c.cmd('SET', 'wc:k', '2'), '+OK\r\n', 'answered while the replica is stopped');
  replica.sigcont();
});
