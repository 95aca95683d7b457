// Limits like Redis's own, against a real group: maxclients, idle timeout, client output buffer
// (backpressure first, then a disconnect past the hard limit), query buffer, bulk length.
import fs from 'node:fs';
import t from 'tap';
import { withGroup, waitFor, redisCall, type HasTeardown } from '../helpers/group.js';
import { withProxy, type TestProxy } from '../helpers/proxy.js';
import { rawClient, encode, type RawClient } from '../helpers/raw.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function logLines(p: TestProxy): Record<string, unknown>[] {
  return fs
    .readFileSync(p.logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function open(t: HasTeardown, port: number): Promise<RawClient> {
  return rawClient(port).then((c) => {
    t.teardown(() => c.close());
    return c;
  });
}

t.test('limits', async (t) => {
  const group = await withGroup(t, { replicas: 0 });

  t.test('maxClients: -ERR max number of clients reached, as Redis words it', async (t) => {
    const p = await withProxy(t, group, { limits: { maxClients: 2 } });
    const a = await open(t, p.port);
    const b = await open(t, p.port);
    t.equal(await a.cmd('PING'), '+PONG\r\n');
    t.equal(await b.cmd('PING'), '+PONG\r\n');
    const c = await open(t, p.port);
    t.equal(await c.closed(), '-ERR max number of clients reached\r\n', 'refused with the Redis error, then closed');
    a.close();
    // A slot frees up once the session of `a` is gone.
    const d = await waitFor(
      async () => {
        const x = await rawClient(p.port);
        const r = await x.read(1, 500).catch(() => undefined); // refused clients get a reply at once
        if (r === undefined && !x.socket.destroyed) return x;
        x.close();
        return undefined;
      },
      { what: 'a free slot' },
    );
    t.teardown(() => d.close());
    t.equal(await d.cmd('PING'), '+PONG\r\n');
  });

  t.test('idle timeout: idle clients are closed, subscribed and busy ones are not', async (t) => {
    // Not too short: an event loop starved for longer than this (a loaded CI machine) runs the
    // socket's timer before its pending reads, and a busy client would look idle.
    const idleMs = 1500;
    const p = await withProxy(t, group, { limits: { idleTimeoutMs: idleMs } });
    const idle = await open(t, p.port);
    const sub = await open(t, p.port);
    const busy = await open(t, p.port);
    t.equal(await idle.cmd('PING'), '+PONG\r\n');
    const t0 = Date.now(); // the idle client's last activity
    t.match(await sub.cmd('SUBSCRIBE', 'ch'), /subscribe/);
    let stop = false;
    let pongs = 0;
    let wrong = 0;
    const pinger = (async () => {
      while (!stop) {
        const r = await busy.cmd('PING').catch(() => undefined);
        if (r === '+PONG\r\n') pongs++;
        else {
          wrong++;
          return;
        }
        await new Promise((r) => setTimeout(r, 20)); // a client that is busy, not saturating
      }
    })();
    await idle.closed(5000);
    t.ok(Date.now() - t0 >= idleMs - 100, `not before the timeout (${Date.now() - t0} ms)`);
    stop = true;
    await pinger;
    t.ok(pongs > 5 && wrong === 0, `the busy client was answered throughout (${pongs} PONGs)`);
    t.equal(sub.socket.destroyed, false, 'the subscribed client stays');
    t.equal(await busy.cmd('PING'), '+PONG\r\n', 'the busy client stays');
    t.ok(logLines(p).some((l) => l.msg === 'idle timeout'), 'logged');
  });

  // With a link per session the proxy pauses it at the soft limit. On the shared link it buffers
  // the replies of what the client already had in flight there (at most links.maxPipeline), then
  // moves the client to a link of its own, which it pauses.
  for (const shared of [false, true]) {
    t.test(`client output buffer (links.shared ${shared}): backpressure first, memory bounded, nothing lost`, async (t) => {
      const soft = 256 * KiB;
      const maxPipeline = 8;
      const p = await withProxy(t, group, { links: { shared, maxPipeline }, limits: { outputBufferSoftBytes: soft, outputBufferHardBytes: 64 * MiB } });
      const setup = await open(t, p.port);
      const value = Buffer.alloc(256 * KiB, 'v');
      t.equal(await setup.cmd('SET', 'big', value), '+OK\r\n');
      const n = 200; // 50 MB of replies
      const slow = await open(t, p.port);
      slow.socket.pause(); // the client stops reading
      slow.send(Buffer.concat(Array.from({ length: n }, () => encode('GET', 'big'))));
      const session = await waitFor(() => [...p.proxy.groups[0].sessions].find((s) => s.client.remotePort === slow.socket.localPort), { what: 'session' });
      // Redis holds what the proxy no longer reads: the proxy's link to it is paused.
      const omem = await waitFor(
        async () => {
          const list = String(await redisCall(group.nodes[0].port, ['CLIENT', 'LIST']));
          const max = Math.max(...[...list.matchAll(/omem=(\d+)/g)].map((m) => Number(m[1])));
          return max > 10 * MiB ? max : undefined;
        },
        { what: 'replies piling up in Redis, not in the proxy', timeoutMs: 15_000 },
      );
      t.ok(omem > 10 * MiB, `Redis buffers ${(omem / MiB).toFixed(1)} MB`);
      const bound = soft + 128 * KiB + (shared ? maxPipeline * (value.length + 12) : 0);
      t.ok(session.client.writableLength <= bound, `proxy buffers ${session.client.writableLength} bytes for the client (bound ${bound})`);
      t.equal(slow.socket.destroyed, false, 'not disconnected below the hard limit');
      // The client reads again: every reply arrives, whole and in order.
      slow.socket.resume();
      const replies = await slow.read(n, 30_000);
      t.equal(replies.length, n);
      t.ok(
        replies.every((r) => r.length === value.length + `$${value.length}\r\n\r\n`.length),
        'every reply whole',
      );
    });
  }

  t.test('client output buffer: past the hard limit the client is disconnected, with a log line', async (t) => {
    const p = await withProxy(t, group, { limits: { outputBufferSoftBytes: 1 * KiB, outputBufferHardBytes: 4 * KiB } });
    const setup = await open(t, p.port);
    t.equal(await setup.cmd('SET', 'big', Buffer.alloc(1 * MiB, 'v')), '+OK\r\n');
    const slow = await open(t, p.port);
    slow.socket.pause();
    slow.send(Buffer.concat(Array.from({ length: 50 }, () => encode('GET', 'big'))));
    await waitFor(() => logLines(p).find((l) => l.msg === 'client output buffer hard limit reached, closing'), { what: 'hard-limit log line', timeoutMs: 15_000 });
    slow.socket.resume();
    await slow.closed(10_000);
    t.pass('disconnected');
    t.equal(await setup.cmd('PING'), '+PONG\r\n', 'other clients unaffected');
  });

  t.test('query buffer: a client sending a bulk beyond queryBufferBytes is closed', async (t) => {
    const p = await withProxy(t, group, { limits: { queryBufferBytes: 1 * MiB } });
    const other = await open(t, p.port);
    const c = await open(t, p.port);
    c.send('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10000000\r\n');
    const chunk = Buffer.alloc(64 * KiB, 'q');
    for (let i = 0; i < 32 && !c.socket.destroyed; i++) {
      await new Promise<void>((resolve) => c.socket.write(chunk, () => resolve()));
    }
    const got = await c.closed(10_000);
    t.equal(got, '', 'closed without a reply, as Redis does');
    t.ok(logLines(p).some((l) => l.msg === 'query buffer limit reached, closing'), 'logged');
    t.equal(await other.cmd('PING'), '+PONG\r\n', 'other clients unaffected');
  });

  t.test('maxBulkBytes: an oversized bulk length is a protocol error before anything is read', async (t) => {
    const p = await withProxy(t, group, { limits: { maxBulkBytes: 1 * MiB } });
    const c = await open(t, p.port);
    c.send(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${2 * MiB}\r\n`);
    t.equal(await c.closed(), '-ERR Protocol error: invalid bulk length\r\n');
  });
});
