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
