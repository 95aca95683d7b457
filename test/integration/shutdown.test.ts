// Graceful shutdown (DESIGN.md: stop accepting, finish in-flight replies, close sessions at reply
// boundaries, exit within shutdown.timeoutMs).
import t from 'tap';
import net from 'node:net';
import { withGroup } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { encode, rawClient } from '../helpers/raw.js';

t.test('shutdown drains: in-flight replies are delivered, then sessions close', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { shutdownMs: 5000 });
  const idle = await rawClient(p.port);
  t.equal(await idle.cmd('PING'), '+PONG\r\n');
  const busy = await rawClient(p.port);
  // A command that takes a while: its reply must still arrive.
  busy.send(encode('BLPOP', 'never', '1'));
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  const closing = p.proxy.close();
  t.equal((await busy.read(1, 5000))[0], '*-1\r\n', 'the in-flight BLPOP got its (timeout) reply');
  t.equal(await busy.closed(5000), '*-1\r\n', 'then the session was closed');
  t.equal(await idle.closed(5000), '+PONG\r\n', 'idle sessions are closed at once');
  await closing;
  t.ok(Date.now() - started < 5000, 'within shutdown.timeoutMs');
  // The listener no longer accepts.
  await t.rejects(
    new Promise((resolve, reject) => {
      const s = net.connect({ port: p.port, host: '127.0.0.1' }, () => resolve(s));
      s.on('error', reject);
    }),
  );
});

t.test('shutdown timeout: a session that never reaches a boundary is cut', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { shutdownMs: 800 });
  const blocked = await rawClient(p.port);
  blocked.send(encode('BLPOP', 'never', '0'));
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await p.proxy.close();
  t.ok(Date.now() - started < 3000, `closed after ${Date.now() - started} ms`);
  await blocked.closed(3000);
});
