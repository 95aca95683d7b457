// Issue 16: /readyz says not ready while a read listener has no measured replica yet (reads would
// have nowhere to go but the master).
import t from 'tap';
import { readiness } from '../../src/admin/metrics.js';
import type { GroupRuntime } from '../../src/group.js';
import type { TopologySnapshot } from '../../src/topology/types.js';

function runtime(replicasMeasured: boolean, readListen: boolean): GroupRuntime {
  const snap: TopologySnapshot = {
    group: 'g',
    master: '127.0.0.1:6379',
    masterEpoch: 1,
    fenced: false,
    promoted: false,
    replicas: [],
    sentinels: [],
    reachableSentinels: 3,
    knownSentinels: 3,
    ready: true,
    replicasMeasured,
  };
  const config = readListen ? { readListen: { host: '127.0.0.1', port: 6380 } } : {};
  return { master: snap.master, blocked: false, blockedReason: undefined, config, topology: { snapshot: () => snap } } as unknown as GroupRuntime;
}

t.test('a read listener makes readiness wait for replica health', async (t) => {
  t.same(readiness(runtime(false, true)), { ready: false, reason: 'read listener: replica health not measured yet' });
  t.same(readiness(runtime(true, true)), { ready: true });
  t.same(readiness(runtime(false, false)), { ready: true }, 'no read listener: not a concern');
});
