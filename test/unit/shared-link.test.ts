// The shared link against a scriptable fake RESP server on loopback: faults real Redis cannot
// produce on demand (replies cut at any byte, a connection dropped between two writes or in the
// middle of a reply, a reply nobody asked for).
import t, { type Test } from 'tap';
import { fakeServer, type Fake } from '../helpers/fake-resp.js';
import { SharedLink, type SharedWaiter } from '../../src/session/shared-link.js';

class Recorder implements SharedWaiter {
  data = new Map<unknown, string>();
  complete = new Map<unknown, number>();
  lost: { token: unknown; left: number; sent: boolean; midReply: boolean }[] = [];
  private wake: (() => void)[] = [];
  onSharedData(token: unknown, bytes: Buffer, complete: number): void {
    this.data.set(token, (this.data.get(token) ?? '') + bytes.toString('latin1'));
    this.complete.set(token, (this.complete.get(token) ?? 0) + complete);
    for (const w of this.wake.splice(0)) w();
  }
  onSharedLost(token: unknown, left: number, sent: boolean, midReply: boolean): void {
    this.lost.push({ token, left, sent, midReply });
    for (const w of this.wake.splice(0)) w();
  }
  until(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (cond() ? resolve() : this.wake.push(check));
      check();
    });
  }
}

/** A fake node and a shared link to it, both closed on teardown. */
async function setup(t: Test, password?: string, autoPong = password === undefined) {
  const fake = await fakeServer(autoPong);
  t.teardown(() => fake.close());
  const gone: (Error | undefined)[] = [];
  let readonly = 0;
  const link = new SharedLink(
    `127.0.0.1:${fake.port}`,
    1,
    { auth: password === undefined ? {} : { password }, connectTimeoutMs: 1000 },
    (_l, err) => gone.push(err),
    () => readonly++,
  );
  t.teardown(() => link.destroy());
  return { fake, link, gone, readonly: () => readonly };
}

/** Sends one command for `w` as run `token` and waits until the node has it. */
async function sendOne(fake: Fake, link: SharedLink, w: SharedWaiter, token: string, n = 1): Promise<void> {
  link.send(w, token, Buffer.from(CMD(n)), 1);
  await fake.waitReceived(CMD(n));
}

const turn = () => new Promise<void>((r) => setImmediate(r));
/** Waits for a condition that no recorder event announces (checked every event-loop turn). */
const poll = (cond: () => boolean) =>
  new Promise<void>((resolve) => {
    const check = () => (cond() ? resolve() : setImmediate(check));
    check();
  });
/** The TCP handshake is done. */
const connected = (link: SharedLink) => poll(() => !link.socket.connecting);

const CMD = (n: number) => `*2\r\n$4\r\nINCR\r\n$1\r\n${n}\r\n`;

t.test('runs of several waiters: each gets its replies, in order, however the node splits them', async (t) => {
  const replies = ':1\r\n:2\r\n:3\r\n$1\r\nb\r\n*2\r\n$2\r\nbb\r\n:7\r\n+OK\r\n-ERR x\r\n';
  for (const cut of [0, 1, 5, 13, 20, replies.length - 1]) {
    const { fake, link } = await setup(t);
    const a = new Recorder();
    const b = new Recorder();
    // A: 3 commands (one run), B: 2 commands, A again: 2 commands (a run of its own).
    link.send(a, 'a1', Buffer.from(CMD(1) + CMD(2) + CMD(3)), 3);
    link.send(b, 'b1', Buffer.from(CMD(4)), 1);
    link.send(b, 'b1', Buffer.from(CMD(5)), 1);
    link.send(a, 'a2', Buffer.from(CMD(6) + CMD(7)), 2);
    await fake.waitReceived(CMD(7));
    t.equal(fake.received(), [1, 2, 3, 4, 5, 6, 7].map(CMD).join(''), 'one write, in order');
    if (cut > 0) {
      fake.write(replies.slice(0, cut));
      await turn();
    }
    fake.write(replies.slice(cut));
    await a.until(() => a.complete.get('a2') === 2);
    await b.until(() => b.complete.get('b1') === 2);
    t.equal(a.data.get('a1'), ':1\r\n:2\r\n:3\r\n', `cut at ${cut}: a's first run`);
    t.equal(b.data.get('b1'), '$1\r\nb\r\n*2\r\n$2\r\nbb\r\n:7\r\n', `cut at ${cut}: b's run`);
    t.equal(a.data.get('a2'), '+OK\r\n-ERR x\r\n', `cut at ${cut}: a's second run`);
    t.equal(a.complete.get('a1'), 3);
    t.equal(link.inFlight, 0);
  }
});

t.test('one write in flight: commands sent meanwhile leave when it is answered', async (t) => {
  const { fake, link } = await setup(t);
  const a = new Recorder();
  await sendOne(fake, link, a, 'r1');
  link.send(a, 'r2', Buffer.from(CMD(2)), 1);
  link.send(a, 'r3', Buffer.from(CMD(3)), 1);
  for (let i = 0; i < 5; i++) await turn();
  t.equal(fake.received(), CMD(1), 'nothing more while the first write is unanswered');
  fake.write(':1\r\n');
  await fake.waitReceived(CMD(3));
  t.equal(fake.received(), CMD(1) + CMD(2) + CMD(3), 'the next ones leave together once it is answered');
  fake.write(':2\r\n:3\r\n');
  await a.until(() => a.complete.get('r3') === 1);
  t.same([a.data.get('r1'), a.data.get('r2'), a.data.get('r3')], [':1\r\n', ':2\r\n', ':3\r\n']);
});

t.test('a dropped link: written commands are lost (sent), unwritten ones were never sent', async (t) => {
  const { fake, link, gone } = await setup(t);
  const a = new Recorder();
  const b = new Recorder();
  link.send(a, 'a1', Buffer.from(CMD(1) + CMD(2)), 2);
  await fake.waitReceived(CMD(2));
  fake.write(':1\r\n'); // one of the two answered
  await a.until(() => a.complete.get('a1') === 1);
  link.send(b, 'b1', Buffer.from(CMD(3)), 1); // waits for the write in flight
  fake.drop();
  await b.until(() => b.lost.length === 1);
  t.same(a.lost, [{ token: 'a1', left: 1, sent: true, midReply: false }], 'the unanswered written command: sent, no reply');
  t.same(b.lost, [{ token: 'b1', left: 1, sent: false, midReply: false }], 'the staged command: never sent');
  t.equal(gone.length, 1, 'the link reports its end once');
  // After its end, a send is refused at once as not sent.
  const c = new Recorder();
  link.send(c, 'c1', Buffer.from(CMD(4)), 1);
  t.same(c.lost, [{ token: 'c1', left: 1, sent: false, midReply: false }]);
});

t.test('a link lost in the middle of a reply: only the waiter whose reply was cut hears midReply', async (t) => {
  const { fake, link } = await setup(t);
  const a = new Recorder();
  const b = new Recorder();
  link.send(a, 'a1', Buffer.from(CMD(1)), 1);
  link.send(b, 'b1', Buffer.from(CMD(2)), 1);
  await fake.waitReceived(CMD(2));
  fake.write('$10\r\nabc');
  await a.until(() => a.data.get('a1') === '$10\r\nabc');
  t.equal(a.complete.get('a1'), 0, 'bytes of an unfinished reply are handed over at once');
  fake.drop();
  await b.until(() => b.lost.length === 1);
  t.same(a.lost, [{ token: 'a1', left: 1, sent: true, midReply: true }]);
  t.same(b.lost, [{ token: 'b1', left: 1, sent: true, midReply: false }]);
});

t.test('protocol faults cut the link: a reply nobody asked for, bytes that are not RESP', async (t) => {
  for (const bad of [':1\r\n:2\r\n', '?what\r\n']) {
    const { fake, link, gone } = await setup(t);
    const a = new Recorder();
    await sendOne(fake, link, a, 'a1');
    fake.write(bad);
    await poll(() => gone.length === 1);
    t.ok(a.lost.length + (a.complete.get('a1') ?? 0) === 1, 'the command was answered or reported lost');
    t.ok(gone[0] instanceof Error, `${JSON.stringify(bad)}: the link ends with an error (${gone[0]?.message})`);
  }
});

t.test("the link's own AUTH: refused means nothing sent on it can succeed", async (t) => {
  const { fake, link, gone } = await setup(t, 'not-the-password');
  await connected(link);
  const a = new Recorder();
  link.send(a, 'a1', Buffer.from(CMD(1)), 1);
  await fake.waitReceived('AUTH');
  fake.write('-WRONGPASS invalid username-password pair\r\n');
  await poll(() => a.lost.length === 1 && gone.length === 1);
  t.match(gone[0]?.message, /AUTH on shared link refused \(WRONGPASS\)/);
  t.equal(a.data.size, 0, 'no reply was handed over');
});

t.test('READONLY from the node is reported (the topology is checked at once)', async (t) => {
  const { fake, link, readonly } = await setup(t);
  const a = new Recorder();
  await sendOne(fake, link, a, 'a1');
  fake.write("-READONLY You can't write against a read only replica.\r\n");
  await a.until(() => a.complete.get('a1') === 1);
  t.equal(readonly(), 1);
  t.equal(a.data.get('a1'), "-READONLY You can't write against a read only replica.\r\n", 'the error still reaches the client');
});

t.test('nothing is written before the node answers the PING; a node that never does gets nothing', async (t) => {
  // As a killed master's forked child holding its listening socket: the connection is made, and
  // nobody reads it.
  const { fake, link, gone } = await setup(t, undefined, false);
  const a = new Recorder();
  link.send(a, 'a1', Buffer.from(CMD(1)), 1);
  await poll(() => fake.pinged());
  for (let i = 0; i < 5; i++) await turn();
  t.equal(fake.received(), '', 'the command waits for the PONG');
  t.equal(link.ready, false);
  fake.drop();
  await poll(() => a.lost.length === 1 && gone.length === 1);
  t.same(a.lost, [{ token: 'a1', left: 1, sent: false, midReply: false }], 'never sent: the session may send it again elsewhere');

  const b = await setup(t, undefined, false);
  const w = new Recorder();
  b.link.send(w, 'w1', Buffer.from(CMD(2)), 1);
  await poll(() => b.fake.pinged());
  b.fake.write('+PONG\r\n');
  await b.fake.waitReceived(CMD(2));
  t.equal(b.link.ready, true, 'ready once the PONG came');
  b.fake.write(':2\r\n');
  await w.until(() => w.complete.get('w1') === 1);
  t.equal(w.data.get('w1'), ':2\r\n', 'the PONG is the link\'s own: the first reply handed over is the command\'s');
});

t.test("with the link's own AUTH, commands staged before the connection go after AUTH and PING are answered", async (t) => {
  const { fake, link } = await setup(t, 'pw');
  const a = new Recorder();
  link.send(a, 'a1', Buffer.from(CMD(1)), 1); // before the connection is up: the socket gets corked
  await poll(() => fake.pinged());
  t.match(fake.received(), /^\*2\r\n\$4\r\nAUTH\r\n\$2\r\npw\r\n$/, 'AUTH, then the PING (taken out), nothing else yet');
  fake.write('+OK\r\n+PONG\r\n');
  await fake.waitReceived(CMD(1));
  fake.write(':1\r\n');
  await a.until(() => a.complete.get('a1') === 1);
  t.equal(a.data.get('a1'), ':1\r\n');
});

t.test('end() waits for the replies in flight, but not forever: a node that never answers is cut after the deadline (issue 15 defect 8)', async (t) => {
  const { fake, link, gone } = await setup(t);
  const w = new Recorder();
  await sendOne(fake, link, w, 'r1');
  const start = Date.now();
  link.end();
  // The node never answers: the link is destroyed after its end deadline, and the waiter is told.
  await w.until(() => w.lost.length === 1);
  t.ok(Date.now() - start < 15_000, `cut after ${Date.now() - start} ms`);
  t.same(w.lost[0], { token: 'r1', left: 1, sent: true, midReply: false });
  t.equal(gone.length, 1);
});
