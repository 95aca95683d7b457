import t from 'tap';
import { ReplicaBalancer } from '../../src/reads.js';
import type { ReplicaState } from '../../src/topology/types.js';

const r = (addr: string, healthy = true): ReplicaState => ({ addr, flags: ['slave'], linkUp: healthy, offset: 0, healthy });

t.test('balances by sessions, keeps a healthy current replica, skips unhealthy ones', async (t) => {
  const b = new ReplicaBalancer();
  b.update([r('a'), r('b'), r('c', false)]);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 20; i++) {
    const x = b.choose(undefined)!;
    b.take(x);
    counts[x] = (counts[x] ?? 0) + 1;
  }
  t.same(counts, { a: 10, b: 10 });
  t.equal(b.choose('b'), 'b', 'a healthy current replica is kept');
  b.update([r('a'), r('b', false)]);
  t.equal(b.choose('b'), 'a', 'an unhealthy one is left');
  b.update([]);
  t.equal(b.choose('a'), undefined, 'none healthy');
  b.release('a');
  t.same(b.sessions(), { a: 9, b: 10 });
});

t.test('counts pool transitions per replica (first sight not counted)', async (t) => {
  const b = new ReplicaBalancer();
  b.update([r('a'), r('b', false)]);
  t.same([...b.transitions()], []);
  b.update([r('a', false), r('b', false)]);
  b.update([r('a'), r('b')]);
  t.same(Object.fromEntries(b.transitions()), { a: { healthy: 1, unhealthy: 1 }, b: { healthy: 1, unhealthy: 0 } });
});

t.test('a replica that comes back takes new sessions until the balance is restored', async (t) => {
  const b = new ReplicaBalancer();
  b.update([r('a'), r('b', false)]);
  for (let i = 0; i < 10; i++) b.take(b.choose(undefined)!);
  b.update([r('a'), r('b')]);
  t.equal(b.choose('a'), 'a', 'existing sessions stay');
  const fresh = Array.from({ length: 12 }, () => {
    const x = b.choose(undefined)!;
    b.take(x);
    return x;
  });
  t.same(fresh.slice(0, 10), Array(10).fill('b'), 'new sessions go to the replica that came back');
  t.same(b.sessions(), { a: 11, b: 11 });
});
