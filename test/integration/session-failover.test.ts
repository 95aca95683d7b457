// Session state combined with a real failover (issue 15): subscriptions, pipelined blocking
// commands and reload of session options, through the proxy in front of a real Sentinel group.
import net from 'node:net';
import t from 'tap';
import { Redis } from 'ioredis';
import { ReplyFramer } from '../../src/resp/reply.js';
import { withGroup, waitFor, sleep } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { encode, rawClient, type RawClient } from '../helpers/raw.js';

const msg = (ch: string, m: string) => `*3\r\n$7\r\nmessage\r\n$${ch.length}\r\n${ch}\r\n$${m.length}\r\n${m}\r\n`;

/** Publishes on the current master until `sub` receives something (or `ms` pass); returns what it got. */
async function probe(sub: RawClient, pub: Redis, kind: 'PUBLISH' | 'SPUBLISH', channel: string, payload: string, ms: number): Promise<string[]> {
  const got: string[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && got.length === 0) {
    await pub.call(kind, channel, payload);
    got.push(...(await sub.read(1, 200).catch(() => [])));
  }
  return got;
}

t.test('subscriptions come back as the client left them after a planned failover (defect 1)', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const sub = await rawClient(p.port);
  t.teardown(() => sub.close());
  sub.send(encode('SUBSCRIBE', 'ch1'));
  sub.send(encode('PSUBSCRIBE', 'p*'));
  sub.send(encode('SSUBSCRIBE', 's1'));
  t.equal((await sub.read(3)).length, 3);
  sub.send(encode('PUNSUBSCRIBE'));
  t.equal((await sub.read(1))[0], '*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:1\r\n');
  sub.send(encode('SUNSUBSCRIBE'));
  t.equal((await sub.read(1))[0], '*3\r\n$12\r\nsunsubscribe\r\n$2\r\ns1\r\n:0\r\n');
  // One more form: no argument and nothing of that kind subscribed answers once.
  sub.send(encode('PUNSUBSCRIBE'));
  t.equal((await sub.read(1))[0], '*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:1\r\n');
  await group.failover();
  const pub = p.client();
  t.same(await probe(sub, pub, 'PUBLISH', 'ch1', 'after', 10_000), [msg('ch1', 'after')], 'still subscribed to ch1');
  await pub.publish('px', 'no');
  await pub.call('SPUBLISH', 's1', 'no');
  await pub.publish('ch1', 'last');
  t.same(await sub.read(1, 3000), [msg('ch1', 'last')], 'nothing for p* or s1, which it had left');
});

t.test('a RESP2 reply that looks like a message is a reply once the session has left pub/sub; the session still moves (defect 1)', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const c = await rawClient(p.port);
  t.teardown(() => c.close());
  c.send(encode('PSUBSCRIBE', 'p*'));
  await c.read(1);
  c.send(encode('PUNSUBSCRIBE'));
  await c.read(1);
  t.equal(await c.cmd('RPUSH', 'l', 'message', 'x', 'y'), ':3\r\n');
  t.equal(await c.cmd('LRANGE', 'l', '0', '-1'), '*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n');
  t.equal(await c.cmd('PING'), '+PONG\r\n');
  await group.failover();
  t.equal(await c.cmd('SET', 'after', '1'), '+OK\r\n', 'the write goes to the new master');
});

t.test('40 sessions with random (un)subscribe mixes have the right subscriptions after a failover (defect 1)', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const pub = p.client();
  // mulberry32: a small PRNG with a fixed seed, so a failure is reproducible.
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296) * n | 0;
  };
  const names = { c: ['c0', 'c1', 'c2'], p: ['p0*', 'p1*'], s: ['s0', 's1'] };
  const sessions: { c: RawClient; chans: Set<string>; pats: Set<string>; shards: Set<string> }[] = [];
  for (let i = 0; i < 40; i++) {
    const c = await rawClient(p.port);
    t.teardown(() => c.close());
    const s = { c, chans: new Set<string>(), pats: new Set<string>(), shards: new Set<string>() };
    for (let k = 0; k < 6; k++) {
      const form = rnd(6);
      const kind = form % 3 === 0 ? 'c' : form % 3 === 1 ? 'p' : 's';
      const set = kind === 'c' ? s.chans : kind === 'p' ? s.pats : s.shards;
      const verb = ({ c: ['SUBSCRIBE', 'UNSUBSCRIBE'], p: ['PSUBSCRIBE', 'PUNSUBSCRIBE'], s: ['SSUBSCRIBE', 'SUNSUBSCRIBE'] } as const)[kind];
      const pool = names[kind];
      if (form < 3) {
        const a = pool[rnd(pool.length)];
        c.send(encode(verb[0], a));
        set.add(a);
        await c.read(1);
      } else if (rnd(2) === 0) {
        const a = pool[rnd(pool.length)];
        c.send(encode(verb[1], a));
        set.delete(a);
        await c.read(1);
      } else {
        const n = Math.max(1, set.size);
        c.send(encode(verb[1]));
        set.clear();
        await c.read(n);
      }
    }
    sessions.push(s);
  }
  const oldMaster = group.nodes[0].addr;
  const newMaster = await group.failover();
  // The proxy follows, and every session leaves the old master (which would still relay what the
  // new one publishes, as its replica).
  const g = p.proxy.groups[0];
  await waitFor(() => g.master === newMaster, { timeoutMs: 15_000, what: 'the proxy on the new master' });
  await waitFor(() => [...g.sessions].every((x) => x.describe().node !== oldMaster), { timeoutMs: 15_000, what: 'sessions off the old master' });
  await sleep(500);
  let wrong = 0;
  for (const ch of names.c) await pub.publish(ch, 'm');
  for (const pt of names.p) await pub.publish(pt.replace('*', 'x'), 'm');
  for (const sh of names.s) await pub.call('SPUBLISH', sh, 'm');
  await pub.publish('end', 'm');
  for (const s of sessions) {
    // What it should get: one message per subscribed channel, pattern and shard channel.
    const n = s.chans.size + s.pats.size + s.shards.size;
    const got = n === 0 ? [] : await s.c.read(n, 3000).catch(() => ['timeout']);
    const extra = await s.c.read(1, 100).catch(() => []);
    const kinds = got.map((g) => (g.includes('pmessage') ? 'p' : g.includes('smessage') ? 's' : g.includes('message') ? 'c' : '?'));
    const ok =
      extra.length === 0 &&
      kinds.filter((k) => k === 'c').length === s.chans.size &&
      kinds.filter((k) => k === 'p').length === s.pats.size &&
      kinds.filter((k) => k === 's').length === s.shards.size;
    if (!ok) wrong++;
    if (process.env.DEBUG_SUBS) t.comment(JSON.stringify({ c: [...s.chans], p: [...s.pats], s: [...s.shards], kinds, extra }));
  }
  t.equal(wrong, 0, 'every session has the subscriptions it asked for');
});

t.test('pipelined blocking commands all move through a planned failover (defect 8: every blocked entry unblocked)', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const c = await rawClient(p.port);
  t.teardown(() => c.close());
  c.send(Buffer.concat([encode('BLPOP', 'k1', '0'), encode('BLPOP', 'k2', '0')]));
  await sleep(300);
  await group.failover();
  const pub = p.client();
  await pub.rpush('k1', 'a');
  t.equal((await c.read(1, 10_000))[0], '*2\r\n$2\r\nk1\r\n$1\r\na\r\n', 'the first BLPOP is served by the new master');
  await pub.rpush('k2', 'b');
  t.equal((await c.read(1, 10_000))[0], '*2\r\n$2\r\nk2\r\n$1\r\nb\r\n', 'so is the second');
});

/** Clients sending only `GET` (pipelines of `depth`) over raw sockets, never retrying; half of them
 * first `SELECT 0`, so that they have links of their own, the other half on the shared link. */
function startGetLoad(port: number, clients: number, depth: number) {
  const stats = { ops: 0, errors: new Map<string, number>(), disconnects: 0 };
  let stopping = false;
  const socks: net.Socket[] = [];
  const done: Promise<void>[] = [];
  for (let i = 0; i < clients; i++) {
    done.push(
      new Promise<void>((resolve) => {
        const sock = net.connect({ port, host: '127.0.0.1' });
        socks.push(sock);
        const framer = new ReplyFramer();
        let owed = 0;
        let start = 0;
        let acc: Buffer[] = [];
        const send = () => {
          if (stopping) return void sock.end();
          owed = depth;
          sock.write(Buffer.concat(Array.from({ length: depth }, () => encode('GET', `rk${i}`))));
        };
        sock.on('connect', () => {
          if (i % 2 === 0) {
            owed = 1;
            sock.write(encode('SELECT', '0'));
          } else send();
        });
        sock.on('data', (chunk: Buffer) => {
          start = 0;
          framer.push(chunk, (end) => {
            acc.push(chunk.subarray(start, end));
            const reply = Buffer.concat(acc).toString('latin1');
            acc = [];
            start = end;
            if (reply[0] === '-') {
              const kind = reply.slice(1).split(' ')[0];
              stats.errors.set(kind, (stats.errors.get(kind) ?? 0) + 1);
            } else stats.ops++;
            if (--owed === 0) send();
          });
          if (start < chunk.length) acc.push(chunk.subarray(start));
        });
        sock.on('error', () => {});
        sock.on('close', () => {
          if (!stopping) stats.disconnects++;
          resolve();
        });
      }),
    );
  }
  return {
    stats,
    async stop() {
      stopping = true;
      const cut = setTimeout(() => socks.forEach((s) => s.destroy()), 15_000);
      await Promise.all(done);
      clearTimeout(cut);
    },
  };
}

t.test('readers see no error when the master is killed with kill -9: reads in flight go to the new master', async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { failover: { holdTimeoutMs: 20_000 } });
  const load = startGetLoad(p.port, 8, 4);
  await waitFor(() => load.stats.ops >= 2000, { timeoutMs: 15_000, what: '2000 GETs' });
  await group.waitForReplicasInSync();
  await group.nodes[0].kill('SIGKILL');
  await group.waitForMaster({ notAddr: group.nodes[0].addr, timeoutMs: 30_000 });
  const target = load.stats.ops + 2000;
  await waitFor(() => load.stats.ops >= target, { timeoutMs: 30_000, what: '2000 more GETs after the failover' });
  await load.stop();
  t.comment(`kill -9 readers: ops=${load.stats.ops} errors=${JSON.stringify([...load.stats.errors])} disconnects=${load.stats.disconnects}`);
  t.equal(load.stats.errors.size, 0, `no errors: ${JSON.stringify([...load.stats.errors])}`);
  t.equal(load.stats.disconnects, 0, 'no disconnects');
});
