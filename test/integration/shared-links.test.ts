// links.shared: stateless sessions share one pipelined link per group, pipelining included (up to
// links.maxPipeline commands in flight per session).
import t from 'tap';
import { Redis } from 'ioredis';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { startIncrLoad, errorCount } from '../helpers/load.js';
import { encode, rawClient } from '../helpers/raw.js';
import { ProxyErrors } from '../../src/errors.js';

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
  const p = await withProxy(t, group, { links: { shared: true, maxPipeline: 32 } });
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
  // Pipelines within links.maxPipeline stay on the shared link, each session's replies in order
  // although the link carries every session's commands.
  const rounds = await Promise.all(
    clients.slice(1).map(async (c, i) => {
      const got: string[] = [];
      for (let r = 0; r < 5; r++) {
        c.send(Buffer.concat([...Array.from({ length: 16 }, () => encode('INCR', `p${i}`)), encode('GET', `p${i}`)]));
        got.push(...(await c.read(17)));
      }
      return got;
    }),
  );
  for (const [i, got] of rounds.entries()) {
    const want: string[] = [];
    for (let r = 0; r < 5; r++) {
      for (let k = 1; k <= 16; k++) want.push(`:${r * 16 + k}\r\n`);
      want.push(`$${String((r + 1) * 16).length}\r\n${(r + 1) * 16}\r\n`);
    }
    t.same(got, want, `session ${i + 1}: 85 pipelined replies in order`);
  }
  // (A session with a link of its own names its node in describe().)
  const sessionOf = (c: { socket: { localPort?: number } }) => [...p.proxy.groups[0].sessions].find((s) => s.client.remotePort === c.socket.localPort)!;
  t.same(clients.slice(1).map((c) => sessionOf(c).describe().node), clients.slice(1).map(() => undefined), 'pipelining sessions stayed on the shared link');
  t.equal(sessionOf(clients[0]).describe().node, master.addr, 'the SELECT session has a link of its own');
  // A pipeline deeper than links.maxPipeline moves its session to a link of its own, in order.
  const pipe = clients[2];
  pipe.send(Buffer.concat(Array.from({ length: 1000 }, () => encode('INCR', 'pipe'))));
  const replies = await pipe.read(1000);
  t.same(replies, Array.from({ length: 1000 }, (_, i) => `:${i + 1}\r\n`));
  t.equal(sessionOf(pipe).describe().node, master.addr, 'the deep pipeline got a link of its own');
  // The proxy's own replies keep their place among the shared link's.
  const mixed = clients[3];
  mixed.send(Buffer.concat([encode('PING'), encode('SYNC'), encode('INCR', 'mx'), encode('REPLICAOF', 'no', 'one'), encode('GET', 'mx'), encode('PING')]));
  const refused = `-${ProxyErrors.REFUSED_TOPOLOGY.reply}\r\n`;
  t.same(await mixed.read(6), ['+PONG\r\n', refused, ':1\r\n', refused, '$1\r\n1\r\n', '+PONG\r\n']);
  // Protocol errors still come after the replies of what preceded them.
  const bad = await rawClient(p.port);
  bad.send('PING\r\nPING\r\n*1\r\nx\r\n');
  t.equal(await bad.closed(), "+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n");
  for (const c of clients) c.close();
});

t.test('a client that stops reading does not hold up the others on the shared link', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { links: { shared: true, maxPipeline: 32 } });
  // Values that differ byte by byte: the link reads into a reused buffer, so a reply that waits
  // for a slow client must not be overwritten by later reads.
  const value = (k: number, len: number) => Buffer.from(Array.from({ length: len }, (_, i) => 97 + ((i * 7 + k) % 26)));
  const MB = 1024 * 1024;
  const c = p.client();
  for (let k = 0; k < 20; k++) await c.set(`big${k}`, value(k, MB));
  for (let k = 0; k < 50; k++) await c.set(`small${k}`, value(k, 100 + k));
  const slow = await rawClient(p.port);
  slow.socket.pause();
  slow.send(Buffer.concat(Array.from({ length: 20 }, (_, k) => encode('GET', `big${k}`))));
  const slowSmall = await rawClient(p.port);
  slowSmall.socket.pause();
  slowSmall.send(Buffer.concat(Array.from({ length: 30 }, (_, k) => encode('GET', `small${k}`))));
  const other = await rawClient(p.port);
  const got: string[] = [];
  for (let i = 0; i < 200; i++) got.push(await other.cmd('INCR', 'fast'));
  t.same(got, Array.from({ length: 200 }, (_, i) => `:${i + 1}\r\n`), 'another client is served meanwhile (200 round trips)');
  for (let i = 0; i < 100; i++) t.equal(await other.cmd('GET', `small${49 - (i % 20)}`), `$${149 - (i % 20)}\r\n${value(49 - (i % 20), 149 - (i % 20)).toString('latin1')}\r\n`) || i;
  slow.socket.resume();
  slowSmall.socket.resume();
  const big = await slow.read(20, 30_000);
  t.ok(
    big.length === 20 && big.every((r, k) => r === `$${MB}\r\n${value(k, MB).toString('latin1')}\r\n`),
    "the slow client's replies arrive whole and intact once it reads",
  );
  t.same(await slowSmall.read(30), Array.from({ length: 30 }, (_, k) => `$${100 + k}\r\n${value(k, 100 + k).toString('latin1')}\r\n`), 'and so do small ones that waited');
  slowSmall.close();
  slow.close();
  other.close();
});

for (const pipeline of [1, 8]) {
  t.test(`planned failover and kill -9 with shared links, ${pipeline === 1 ? 'one command at a time' : `pipelines of ${pipeline}`}: no lost writes, held commands move`, async (t) => {
    const group = await withGroup(t, { replicas: 2 });
    const p = await withProxy(t, group, { links: { shared: true } });
    const load = startIncrLoad(p.port, 8, 'ctr', pipeline);
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
    t.ok(errorCount(load.stats) <= 8 * pipeline, `errors only for commands in flight to the dead master: ${JSON.stringify([...load.stats.errors])}`);
    t.same([...load.stats.errors.keys()].filter((k) => k !== 'ERR'), [], 'only LINK_LOST errors');
    t.equal(load.stats.nonMonotonic, 0, 'every counter went up reply after reply (replies in order, nothing lost)');
    const final = await group.currentMaster();
    const [host, port] = final.split(':');
    const c = new Redis({ host, port: Number(port) });
    t.teardown(() => c.disconnect());
    let lost = 0;
    for (const [k, v] of load.stats.acked) lost += Math.max(0, v - Number((await c.get(k)) ?? 0));
    t.equal(lost, 0, 'no acknowledged write lost');
  });
}
