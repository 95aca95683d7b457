// The request writer alone (src/session/request-writer.ts): commands of one client chunk going to
// the same link are joined into one write of a slice of the chunk (never a copy); anything else
// flushes what was joined first, so every link sees its commands in order. Links are BackendLinks
// over streams (no socket) and a fake shared link.
import t from 'tap';
import { RequestWriter } from '../../../src/session/request-writer.js';
import { ClientWriter } from '../../../src/session/client-writer.js';
import type { SharedLink, SharedWaiter } from '../../../src/session/shared-link.js';
import type { Entry } from '../../../src/session/reply-queue.js';
import { encodeCommand } from '../../../src/resp/encode.js';
import { StubClient, entry, fakeLink, framed, newFramer, silentLog, testHost, until, type Cmd } from '../../helpers/fake-owners.js';

function writerOn() {
  const client = new StubClient();
  const writer = new ClientWriter({ log: silentLog, group: testHost(), maybeFinish: () => {} }, client.asSocket(), { link: undefined, spare: undefined });
  const rw = new RequestWriter(writer);
  const runs: { token: Entry | undefined; bytes: string; count: number }[] = [];
  const shared = {
    send(_w: SharedWaiter, token: Entry | undefined, bytes: Buffer | Buffer[], count: number) {
      runs.push({ token, bytes: Buffer.concat(Array.isArray(bytes) ? bytes : [bytes]).toString('latin1'), count });
    },
  } as unknown as SharedLink;
  rw.waiter = {} as SharedWaiter;
  return { client, rw, shared, runs };
}

const enc = (...w: string[]) => encodeCommand(w).toString('latin1');

t.test('a pipeline to one link is one write: the client chunk itself, not a copy', async (t) => {
  const s = writerOn();
  const a = fakeLink();
  const chunk = Buffer.concat([encodeCommand(['SET', 'a', '1']), encodeCommand(['GET', 'a']), encodeCommand(['INCR', 'n'])]);
  const cmds = framed(chunk);
  s.rw.begin(chunk);
  for (const c of cmds) s.rw.send(a.link, c);
  t.equal(a.writes.length, 0, 'nothing written before the chunk is framed');
  s.rw.end();
  t.equal(a.writes.length, 1, 'one write');
  t.equal(a.writes[0], chunk, 'the chunk itself');
});

t.test('commands to different links: each link gets its commands in order, joined where adjacent', async (t) => {
  const s = writerOn();
  const a = fakeLink();
  const b = fakeLink({ addr: '10.0.0.2:6379' });
  const chunk = Buffer.concat(['GET 1', 'GET 2', 'SET 3', 'GET 4', 'GET 5'].map((c) => encodeCommand(c.split(' '))));
  const cmds = framed(chunk);
  s.rw.begin(chunk);
  const to = [a, a, b, a, a];
  const order: string[] = [];
  for (let i = 0; i < cmds.length; i++) {
    s.rw.send(to[i].link, cmds[i]);
    order.push(`${a.writes.length}/${b.writes.length}`);
  }
  s.rw.end();
  t.same(a.writes.map((w) => w.toString('latin1')), [enc('GET', '1') + enc('GET', '2'), enc('GET', '4') + enc('GET', '5')]);
  t.same(b.writes.map((w) => w.toString('latin1')), [enc('SET', '3')]);
  t.same(order, ['0/0', '0/0', '1/0', '1/1', '1/1'], "a link's joined commands are written before another link gets one");
});

t.test('a gap (a command answered by the proxy in between) splits the write; a command from another chunk is written alone, after what was joined', async (t) => {
  const s = writerOn();
  const a = fakeLink();
  const chunk = Buffer.concat(['GET 1', 'FOO', 'GET 2'].map((c) => encodeCommand(c.split(' '))));
  const cmds = framed(chunk);
  const held = framed(encodeCommand(['SET', 'held', '1']))[0]; // from an earlier chunk
  s.rw.begin(chunk);
  s.rw.send(a.link, cmds[0]);
  // cmds[1] answered locally: not sent
  s.rw.send(a.link, cmds[2]);
  s.rw.send(a.link, held);
  s.rw.end();
  t.same(a.writes.map((w) => w.toString('latin1')), [enc('GET', '1'), enc('GET', '2'), enc('SET', 'held', '1')]);
});

t.test('a command in pieces of several chunks is written as it came, after what was joined', async (t) => {
  const s = writerOn();
  const a = fakeLink();
  const framer = newFramer();
  const bytes = Buffer.concat([encodeCommand(['GET', 'x']), encodeCommand(['SET', 'k', 'v'.repeat(20)])]);
  const c1 = bytes.subarray(0, 30);
  const c2 = bytes.subarray(30);
  const got: Cmd[] = [];
  s.rw.begin(c1);
  framer.push(c1, (c) => {
    got.push(c);
    s.rw.send(a.link, c);
  });
  s.rw.end();
  s.rw.begin(c2);
  framer.push(c2, (c) => {
    got.push(c);
    s.rw.send(a.link, c);
  });
  s.rw.end();
  t.equal(got.length, 2);
  t.equal(got[1].src, undefined, 'the SET spans chunks');
  t.equal(a.text, bytes.toString('latin1'));
});

t.test('a link whose write buffer is full pauses the client (PAUSE_BACKEND)', async (t) => {
  const s = writerOn();
  const a = fakeLink({ stall: true, highWaterMark: 16 });
  const chunk = encodeCommand(['SET', 'k', 'v'.repeat(40)]);
  s.rw.begin(chunk);
  s.rw.send(a.link, framed(chunk)[0]);
  t.notOk(s.client.paused);
  s.rw.end();
  t.ok(s.client.paused, 'not read until the link drains');
});

t.test('a closed link gets nothing more', async (t) => {
  const s = writerOn();
  const a = fakeLink();
  a.link.destroy();
  await until(() => a.link.closed);
  const chunk = encodeCommand(['GET', 'k']);
  s.rw.begin(chunk);
  s.rw.send(a.link, framed(chunk)[0]);
  s.rw.end();
  t.equal(a.writes.length, 0);
  t.notOk(s.client.paused, 'and the client is not paused for it (a dead link never drains)');
});

t.test('the shared link: adjacent commands of one run are handed over as one run with their count; a new run flushes the last', async (t) => {
  const s = writerOn();
  const r1 = entry('forward', undefined);
  const r2 = entry('forward', undefined);
  const chunk = Buffer.concat(['GET 1', 'GET 2', 'GET 3', 'GET 4'].map((c) => encodeCommand(c.split(' '))));
  const cmds = framed(chunk);
  s.rw.begin(chunk);
  s.rw.send(s.shared, cmds[0], r1);
  s.rw.send(s.shared, cmds[1], r1);
  s.rw.send(s.shared, cmds[2], r1);
  s.rw.send(s.shared, cmds[3], r2);
  s.rw.end();
  t.same(
    s.runs.map((r) => [r.token === r1 ? 'r1' : r.token === r2 ? 'r2' : '?', r.count, r.bytes]),
    [
      ['r1', 3, enc('GET', '1') + enc('GET', '2') + enc('GET', '3')],
      ['r2', 1, enc('GET', '4')],
    ],
  );
  t.equal(s.rw.token, undefined, 'no run left open');
});
