// links.shared: stateless one-at-a-time sessions share one pipelined link per group.
import t from 'tap';
import { Redis } from 'ioredis';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { startIncrLoad, errorCount } from '../helpers/load.js';
import { encode, rawClient } from '../helpers/raw.js';

async function clientCount(port: number): Promise<number> {
  const c = new Redis({ port, maxRetriesPerRequest: 0 });
  try {
    return String(await c.client('LIST')).trim().split('\n').length - 1; // minus this one
  } finally {
    c.disconnect();
  }
}

t.test('stateless sessions share one link; state or pipelining moves a session to its own', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { links: { shared: true } });
  const master = group.nodes[0];
  const before = await clientCount(master.port);
  const clients = await Promise.all(Array.from({ length: 20 }, () => rawClient(p.port)));
  for (const [i, c] of clients.entries()) t.equal(await c.cmd('SET', `s${i}`, String(i)), '+OK\r\n') || i;
  const shared = (await clientCount(master.port)) - before;
  t.ok(shared <= 2, `20 one-at-a-time sessions use ${shared} connection(s) to the master`);
  // SELECT gives a session state: it gets a link of its own, and db 0 stays right for the others.
  t.equal(await clients[0].cmd('SELECT', '3'), '+OK\r\n');
  t.equal(await clients[0].cmd('GET', 's0'), '$-1\r\n');
  t.equal(await clients[1].cmd('GET', 's1'), '$1\r\n1\r\n');
  // A pipelining client moves too, replies in order.
  const pipe = clients[2];
  pipe.send(Buffer.concat(Array.from({ length: 100 }, (_, i) => encode('INCR', 'pipe'))));
  const replies = await pipe.read(100);
  t.same(replies, Array.from({ length: 100 }, (_, i) => `:${i + 1}\r\n`));
  // Protocol errors still come after the replies of what preceded them.
  const bad = await rawClient(p.port);
  bad.send('PING\r\nPING\r\n*1\r\nx\r\n');
  t.equal(await bad.closed(), "+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n");
  for (const c of clients) c.close();
});

t.test('planned failover and kill -9 with shared links: no lost writes, held commands move', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { links: { shared: true } });
  const load = startIncrLoad(p.port, 8);
  await waitFor(() => load.stats.ops > 2000, { what: 'load running' });
  const newMaster = await group.failover();
  let mark = load.stats.ops;
  await waitFor(() => load.stats.ops > mark + 2000, { timeoutMs: 20_000, what: 'load after the failover' });
  t.equal(errorCount(load.stats), 0, `no client-visible error in a planned failover: ${JSON.stringify([...load.stats.errors])}`);
  await group.waitForReplicasInSync();
  await group.node(newMaster)!.kill('SIGKILL');
  await group.waitForMaster({ notAddr: newMaster, timeoutMs: 20_000 });
  mark = load.stats.ops;
  await waitFor(() => load.stats.ops > mark + 2000, { timeoutMs: 20_000, what: 'load after the kill' });
  await load.stop();
  t.equal(load.stats.disconnects, 0, 'no disconnects');
  t.ok(errorCount(load.stats) <= 8, `errors only for commands in flight to the dead master: ${JSON.stringify([...load.stats.errors])}`);
  const final = await group.currentMaster();
  const [host, port] = final.split(':');
  const c = new Redis({ host, port: Number(port) });
  t.teardown(() => c.disconnect());
  let lost = 0;
  for (const [k, v] of load.stats.acked) lost += Math.max(0, v - Number((await c.get(k)) ?? 0));
  t.equal(lost, 0, 'no acknowledged write lost');
});
