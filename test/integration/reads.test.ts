// The read-only listener (DESIGN.md "Reads"): replicas only, balanced, writes refused by the
// proxy, sessions moved off a replica that dies.
import t from 'tap';
import { Redis } from 'ioredis';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { rawClient } from '../helpers/raw.js';
import type { SandboxGroup } from '../../src/sandbox/types.js';
import { CommandTable } from '../../src/commands/table.js';

async function calls(addr: string): Promise<Record<string, number>> {
  const [host, port] = addr.split(':');
  const c = new Redis({ host, port: Number(port), maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    const info = await c.info('commandstats');
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
    return out;
  } catch {
    return {};
  } finally {
    c.disconnect();
  }
}

async function allCalls(group: SandboxGroup): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const n of group.nodes) out[n.addr] = await calls(n.addr);
  return out;
}

async function readyReplicas(p: { proxy: { groups: { replicas: { healthyCount: number } }[] } }, n: number) {
  await waitFor(() => p.proxy.groups[0].replicas.healthyCount >= n, { timeoutMs: 15_000, what: `${n} healthy replicas known to the proxy` });
}

/** `n` clients on the read-only listener, each looping GET rk (expecting "v") until stopped. */
function startReaders(p: Awaited<ReturnType<typeof withProxy>>, n: number, commandTimeout: number) {
  const state = { ok: 0, errors: [] as string[], stop: false };
  const clients = Array.from({ length: n }, () => p.client({ port: p.readPort, commandTimeout }));
  const loops = clients.map(async (c) => {
    while (!state.stop) {
      try {
        if ((await c.get('rk')) === 'v') state.ok++;
      } catch (err) {
        state.errors.push((err as Error).message);
      }
    }
  });
  return {
    get ok() {
      return state.ok;
    },
    async stop() {
      state.stop = true;
      await Promise.all(loops);
      return { errors: state.errors, clients };
    },
  };
}

t.test('read-only listener: balanced over replicas, master untouched, writes refused', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { readListen: { host: '127.0.0.1', port: 0 }, reads: { routeReads: 'master', maxLagMs: 30_000, fallback: 'master', readYourWritesMs: 0 } });
  t.ok(p.readPort, 'read listener bound');
  const w = p.client();
  await w.set('rk', 'v');
  await group.waitForReplicasInSync();
  await readyReplicas(p, 2);
  const before = await allCalls(group);
  const clients = Array.from({ length: 20 }, () => p.client({ port: p.readPort }));
  const N = 100;
  let wrong = 0;
  await Promise.all(clients.map(async (c) => {
    for (let i = 0; i < N; i++) if ((await c.get('rk')) !== 'v') wrong++;
  }));
  t.equal(wrong, 0, 'every read saw the replicated value');
  const after = await allCalls(group);
  const gets = (a: string) => (after[a].get ?? 0) - (before[a].get ?? 0);
  const [m, r1, r2] = group.nodes.map((n) => n.addr);
  t.equal(gets(m), 0, 'the master served no read');
  const share = gets(r1) / (gets(r1) + gets(r2));
  t.ok(share >= 0.35 && share <= 0.65, `replica shares: ${gets(r1)} / ${gets(r2)}`);
  t.equal(gets(r1) + gets(r2), 20 * N);

  // Writes never reach a node.
  const r = await rawClient(p.readPort!);
  t.equal(await r.cmd('SET', 'x', '1'), "-READONLY You can't write against a read only replica.\r\n");
  t.equal(await r.cmd('EVAL', 'return 1', '0'), "-READONLY You can't write against a read only replica.\r\n");
  t.equal(await r.cmd('NOSUCHCMD'), "-READONLY You can't write against a read only replica.\r\n", 'unknown commands count as writes');
  t.equal(await r.cmd('EVAL_RO', "return redis.call('GET', KEYS[1])", '1', 'rk'), '$1\r\nv\r\n');
  t.equal(await r.cmd('MULTI'), '+OK\r\n');
  t.equal(await r.cmd('GET', 'rk'), '+QUEUED\r\n');
  t.equal(await r.cmd('INCR', 'rk'), "-READONLY You can't write against a read only replica.\r\n");
  t.equal(await r.cmd('EXEC'), '-EXECABORT Transaction discarded because of previous errors.\r\n');
  t.equal(await r.cmd('MULTI'), '+OK\r\n');
  t.equal(await r.cmd('GET', 'rk'), '+QUEUED\r\n');
  t.equal(await r.cmd('EXEC'), '*1\r\n$1\r\nv\r\n', 'a read-only transaction runs');
  t.equal(await r.cmd('SELECT', '2'), '+OK\r\n');
  t.equal(await r.cmd('GET', 'rk'), '$-1\r\n');
  r.close();
  const end = await allCalls(group);
  for (const [addr, c] of Object.entries(end)) {
    for (const cmd of ['set', 'incr', 'eval']) t.equal(c[cmd] ?? 0, addr === m && cmd === 'set' ? (before[m].set ?? 0) : (before[addr][cmd] ?? 0), `${cmd} on ${addr}`);
  }
});

t.test('a replica killed under 20 readers: reads continue on the other, no errors', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { readListen: { host: '127.0.0.1', port: 0 }, reads: { routeReads: 'master', maxLagMs: 30_000, fallback: 'master', readYourWritesMs: 0 } });
  await p.client().set('rk', 'v');
  await group.waitForReplicasInSync();
  await readyReplicas(p, 2);
  const readers = startReaders(p, 20, 20_000);
  await waitFor(() => readers.ok > 2000, { what: 'reads flowing' });
  await group.nodes[1].kill('SIGKILL');
  const killedAt = readers.ok;
  await waitFor(() => readers.ok > killedAt + 4000, { timeoutMs: 30_000, what: 'reads continuing after the kill' });
  const { errors, clients } = await readers.stop();
  t.same(errors, [], 'no client saw an error');
  const survivor = await calls(group.nodes[2].addr);
  t.ok((survivor.get ?? 0) > 2000, 'the other replica serves the reads');
  t.equal(clients.filter((c) => c.status !== 'ready').length, 0, 'no client was disconnected');
});

t.test('no healthy replica: fallback to the master, or an error', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { readListen: { host: '127.0.0.1', port: 0 }, reads: { fallback: 'error' } as never });
  await readyReplicas(p, 1);
  await group.nodes[1].kill('SIGKILL');
  await waitFor(() => p.proxy.groups[0].replicas.healthyCount === 0, { timeoutMs: 15_000, what: 'replica seen down' });
  const r = await rawClient(p.readPort!);
  t.match(await r.cmd('GET', 'x'), /^-TRYAGAIN no healthy replica/);
  r.close();
  const p2 = await withProxy(t, group, { readListen: { host: '127.0.0.1', port: 0 }, reads: { fallback: 'master' } as never });
  await p2.client().set('fb', '1');
  const r2 = await rawClient(p2.readPort!);
  t.equal(await r2.cmd('GET', 'fb'), '$1\r\n1\r\n', 'served by the master');
  t.match(await r2.cmd('SET', 'fb', '2'), /^-READONLY/, 'still no writes');
  r2.close();
});

t.test("command flags come from the master's own COMMAND reply", async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  // The packaged table is replaced by one built from the live reply (module commands included
  // when the server has modules; tested with synthetic replies in test/unit/commands.test.ts).
  await waitFor(() => p.proxy.groups[0].commands !== CommandTable.packaged(), { what: "the master's COMMAND reply read" });
  t.ok(p.proxy.groups[0].commands.lookupName('get'));
  const old = p.proxy.groups[0].commands;
  await group.failover();
  await waitFor(() => p.proxy.groups[0].commands !== old, { timeoutMs: 15_000, what: 'read again from the new master' });
  const c = p.client();
  t.equal(await c.set('k', 'v'), 'OK');
});

t.test('a frozen replica and a failover while 20 clients read: no errors, reads move', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { readListen: { host: '127.0.0.1', port: 0 }, reads: { routeReads: 'master', maxLagMs: 2000, fallback: 'master', readYourWritesMs: 0 } });
  await p.client().set('rk', 'v');
  await group.waitForReplicasInSync();
  await readyReplicas(p, 2);
  const readers = startReaders(p, 20, 30_000);
  await waitFor(() => readers.ok > 2000, { what: 'reads flowing' });
  // Freeze one replica: Sentinel and the lag estimate mark it unhealthy; its readers move.
  const frozen = group.nodes[1];
  frozen.sigstop();
  t.teardown(() => frozen.sigcont());
  await waitFor(() => !p.proxy.groups[0].replicas.isHealthy(frozen.addr), { timeoutMs: 15_000, what: 'the frozen replica marked unhealthy' });
  let mark = readers.ok;
  await waitFor(() => readers.ok > mark + 2000, { timeoutMs: 20_000, what: 'reads continuing on the other replica' });
  frozen.sigcont();
  // A planned failover promotes a replica: readers on it move to a replica.
  await group.failover();
  mark = readers.ok;
  await waitFor(() => readers.ok > mark + 2000, { timeoutMs: 30_000, what: 'reads continuing after the failover' });
  const { errors, clients } = await readers.stop();
  t.same(errors, [], 'no reader saw an error');
  t.equal(clients.filter((c) => c.status !== 'ready').length, 0, 'no reader was disconnected');
});

t.test('split reads in flight on a replica that freezes move to the other replica (routeReads: replica)', async (t) => {
  // Only the read-only listener's sessions moved the reads they had in flight when their replica
  // left the pool; a split session's GET waited on the frozen replica until it woke up.
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { reads: { routeReads: 'replica', maxLagMs: 2000, fallback: 'master', readYourWritesMs: 0 } });
  await p.client().set('rk', 'v');
  await group.waitForReplicasInSync();
  await readyReplicas(p, 2);
  const state = { stop: false, errors: [] as string[] };
  t.teardown(() => {
    state.stop = true;
  });
  const counts = Array.from({ length: 10 }, () => 0);
  const clients = counts.map(() => p.client({ commandTimeout: 30_000 }));
  const loops = clients.map(async (c, i) => {
    while (!state.stop) {
      try {
        if ((await c.get('rk')) === 'v') counts[i]!++;
      } catch (err) {
        state.errors.push((err as Error).message);
      }
    }
  });
  await waitFor(() => counts.every((n) => n > 50), { what: 'every reader reading' });
  const frozen = group.nodes[1]!;
  frozen.sigstop();
  t.teardown(() => frozen.sigcont());
  await waitFor(() => !p.proxy.groups[0]!.replicas.isHealthy(frozen.addr), { timeoutMs: 15_000, what: 'the frozen replica marked unhealthy' });
  const mark = [...counts];
  await waitFor(() => counts.every((n, i) => n > mark[i]! + 20), { timeoutMs: 10_000, what: 'every reader reading again (none waiting on the frozen replica)' });
  frozen.sigcont();
  state.stop = true;
  await Promise.all(loops);
  t.same(state.errors, [], 'no reader saw an error');
  t.equal(clients.filter((c) => c.status !== 'ready').length, 0, 'no reader was disconnected');
});
