// Per-command read split on the master listener (reads.routeReads: replica): read-only commands
// go to a replica, everything else to the master, replies in request order.
import t from 'tap';
import { Redis } from 'ioredis';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';

async function gets(port: number): Promise<number> {
  const c = new Redis({ port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    return Number(/cmdstat_get:calls=(\d+)/.exec(await c.info('commandstats'))?.[1] ?? 0);
  } finally {
    c.disconnect();
  }
}

t.test('reads to replicas, writes to the master, replies in order', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { reads: { routeReads: 'replica', maxLagMs: 5000, fallback: 'master', readYourWritesMs: 0 } });
  await waitFor(() => p.proxy.groups[0].replicas.healthyCount === 2, { timeoutMs: 15_000, what: 'replicas healthy' });
  const c = p.client();
  const setup = c.pipeline();
  for (let i = 0; i < 1000; i++) setup.set(`k${i}`, String(i));
  await setup.exec();
  t.equal(await c.call('WAIT', 2, 5000), 2, 'replicated');
  const [m, r1, r2] = group.nodes;
  const before = await Promise.all([m, r1, r2].map((n) => gets(n.port)));

  // Request/response: each GET goes to a replica.
  let wrong = 0;
  for (let i = 0; i < 200; i++) if ((await c.get(`k${i}`)) !== String(i)) wrong++;
  t.equal(wrong, 0, 'every request/response read right');
  const mid = await Promise.all([m, r1, r2].map((n) => gets(n.port)));
  t.equal(mid[0] - before[0], 0, 'the master served none of the request/response reads');
  t.equal(mid[1] - before[1] + mid[2] - before[2], 200, 'the replicas served them all');

  // A deep mixed pipeline: every reply matches its own request.
  const pipe = c.pipeline();
  const expect: unknown[] = [];
  let ctr = 0;
  for (let i = 0; i < 5000; i++) {
    const r = i % 7;
    if (r === 0) {
      pipe.incr('ctr');
      expect.push(++ctr);
    } else if (r === 3) {
      pipe.set(`w${i}`, 'x');
      expect.push('OK');
    } else {
      const k = (i * 31) % 1000;
      pipe.get(`k${k}`);
      expect.push(String(k));
    }
  }
  const res = await pipe.exec();
  t.same(res!.map(([e, v]) => e ?? v), expect, 'a 5,000-command mixed pipeline keeps request order');

  // Transactions and WATCH stay on the master; a read inside MULTI sees the transaction's writes.
  const tx = await c.multi().set('txk', 'a').get('txk').exec();
  t.same(tx, [[null, 'OK'], [null, 'a']]);
  await c.watch('k1');
  t.equal(await c.get('k1'), '1');
  t.same(await c.multi().get('k1').exec(), [[null, '1']]);
  t.ok(p.proxy.groups[0].metrics.splitReads.value >= 200);
});

t.test('read-your-writes window keeps reads on the master after a write', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { reads: { routeReads: 'replica', maxLagMs: 5000, fallback: 'master', readYourWritesMs: 60_000 } });
  await waitFor(() => p.proxy.groups[0].replicas.healthyCount === 1, { timeoutMs: 15_000, what: 'replica healthy' });
  const c = p.client();
  const [m, r] = group.nodes;
  t.equal(await c.get('before-any-write'), null);
  const b = await Promise.all([gets(m.port), gets(r.port)]);
  await c.set('ryw', '1');
  let stale = 0;
  for (let i = 0; i < 50; i++) if ((await c.get('ryw')) !== '1') stale++;
  t.equal(stale, 0, 'every read saw the write');
  const a = await Promise.all([gets(m.port), gets(r.port)]);
  t.equal(a[0] - b[0], 50, 'reads after the write went to the master');
  t.equal(a[1] - b[1], 0);
  // Another session has not written: its reads go to the replica.
  const other = p.client();
  await other.get('ryw');
  t.equal((await gets(r.port)) - a[1], 1);
});

t.test('SELECT moves with the session to both links', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { reads: { routeReads: 'replica', maxLagMs: 5000, fallback: 'master', readYourWritesMs: 0 } });
  await waitFor(() => p.proxy.groups[0].replicas.healthyCount === 1, { timeoutMs: 15_000, what: 'replica healthy' });
  const c = p.client();
  await c.get('warm-up-replica-link');
  await c.select(4);
  await c.set('in4', 'yes');
  await c.call('WAIT', 1, 5000);
  t.equal(await c.get('in4'), 'yes', 'read on the replica, in db 4');
  await c.select(0);
  t.equal(await c.get('in4'), null);
});
