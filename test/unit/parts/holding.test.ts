// Holding alone (src/session/holding.ts): a fake owner that answers as the session does (a local
// reply is written at once when nothing is owed before it, else queued), a real reply queue and
// hold queue, the client writer on a stub client, and a fake splicer side (LossReader). Covers the
// hold budget (failover.holdBytes), the hold timeout (failover.holdTimeoutMs, and only while the
// group holds), and link loss: what a lost link owed comes back in order — commands to go again,
// decided replies kept, one LINK_LOST per reply owed (SUBSCRIBE a b c owes 3).
import t from 'tap';
import { Holding, type HoldingOwner, type LossReader } from '../../../src/session/holding.js';
import { ClientWriter } from '../../../src/session/client-writer.js';
import { Deque } from '../../../src/session/deque.js';
import type { Entry } from '../../../src/session/reply-queue.js';
import { describeOwed, type Held, type SilentSent } from '../../../src/session/hold-queue.js';
import { Transaction } from '../../../src/session/transaction.js';
import { ErrorReplies } from '../../../src/errors.js';
import { StubClient, command, entry, fakeLink, setLimits, silentLog, testHost, until, type Cmd } from '../../helpers/fake-owners.js';

const LOST = ErrorReplies.LINK_LOST.toString('latin1');
const TIMEOUT = ErrorReplies.HOLD_TIMEOUT.toString('latin1');

interface TestOwner extends HoldingOwner {
  closed: boolean;
  unmovable: HoldingOwner['unmovable'];
  silent: SilentSent[];
  teardowns: string[];
  relinks: number;
  pops: number;
  finishes: number;
  /** [reply, the command it answers] in the order answered. */
  answers: [string, Cmd | undefined][];
}

function holdingOn(opts: { kind?: 'master' | 'read'; holdBytes?: number; holdTimeoutMs?: number } = {}) {
  const host = testHost();
  setLimits(host, {}, { holdBytes: opts.holdBytes ?? 1 << 20, holdTimeoutMs: opts.holdTimeoutMs ?? 60_000 });
  const client = new StubClient();
  const queue = new Deque<Entry>();
  const writer = new ClientWriter({ log: silentLog, group: host, maybeFinish: () => {} }, client.asSocket(), { link: undefined, spare: undefined });
  const reader: LossReader & { streaming: boolean; reissue: Held[]; modes: number } = {
    streaming: true,
    reissue: [] as Held[],
    modes: 0,
    reset() {
      return reader.streaming;
    },
    takeReissue() {
      const r = reader.reissue;
      reader.reissue = [];
      return r;
    },
    updateMode() {
      reader.modes++;
    },
  };
  const owner: TestOwner = {
    log: silentLog,
    group: host,
    closed: false,
    kind: opts.kind ?? 'master',
    tx: new Transaction(),
    unmovable: 'no',
    silent: [],
    teardowns: [],
    relinks: 0,
    pops: 0,
    finishes: 0,
    answers: [],
    enqueueLocal(reply: Buffer, cmd: Cmd | undefined) {
      owner.answers.push([reply.toString('latin1'), cmd]);
      if (queue.length === 0) client.write(reply);
      else queue.push(entry('local', cmd, { local: reply, expect: 0 }));
    },
    writeClient(reply: Buffer) {
      client.write(reply);
    },
    teardown(why: string) {
      owner.teardowns.push(why);
    },
    afterPop() {
      owner.pops++;
    },
    maybeFinish() {
      owner.finishes++;
    },
    relink() {
      owner.relinks++;
    },
    unconnectedSilent() {
      const s = owner.silent;
      owner.silent = [];
      return s;
    },
  };
  const holding = new Holding(owner, queue, writer, reader);
  t.teardown(() => holding.close());
  return { host, client, queue, writer, reader, owner, holding };
}

/** The held items, readable: commands by name (+ "again"), replies as text. */
function heldOf(holding: Holding): string[] {
  return [...holding.held].map((h) => (h.type === 'command' ? `${h.cmd.spec?.name ?? '?'}${h.again ? ' again' : ''}` : `reply ${h.reply.toString('latin1').trim()}`));
}

t.test('holdBytes: the client is not read beyond the budget; released under it, read again', async (t) => {
  const s = holdingOn({ holdBytes: 60 });
  const now = Date.now();
  for (const c of [command('SET', 'a', '1'), command('SET', 'b', '2')]) s.holding.hold(c, now, 0);
  t.notOk(s.client.paused, `${s.holding.held.bytes} bytes held: within the budget`);
  s.holding.hold(command('SET', 'c', 'x'.repeat(40)), now, 0);
  t.ok(s.client.paused, `${s.holding.held.bytes} bytes held: over the budget, the client is not read`);
  t.equal(s.host.metrics.held.value, 3);
  s.holding.held.shift();
  s.holding.held.shift();
  s.holding.released();
  t.ok(s.client.paused, 'still over the budget');
  s.holding.held.shift();
  s.holding.released();
  t.notOk(s.client.paused, 'under it: read again');
});

t.test('hold timeout while the group holds: each held command gets the retryable error, in order, held replies in their places', async (t) => {
  for (const [reason, want] of [
    ['fence', TIMEOUT],
    ['majority', ErrorReplies.NO_SENTINEL_MAJORITY.toString('latin1')],
  ] as const) {
    const s = holdingOn({ holdTimeoutMs: 30 });
    s.host.blocked = true;
    s.host.blockedReason = reason;
    const now = Date.now();
    s.holding.hold(command('SET', 'a', '1'), now, 0);
    s.holding.held.push({ type: 'reply', reply: Buffer.from('-ERR Protocol error: x\r\n'), at: now, t0: 0 });
    s.holding.hold(command('GET', 'a'), now, 0);
    await until(() => s.holding.held.length === 0);
    t.equal(s.client.text, want + '-ERR Protocol error: x\r\n' + want, `${reason}: in order`);
    t.same(s.owner.answers.map(([, c]) => c?.spec?.name), ['set', undefined, 'get'], `${reason}: each answers its command`);
    t.equal(s.host.metrics.holdTimeouts.value, 2, `${reason}: counted`);
  }
});

t.test('hold timeout: commands that only wait for the replies before them (the group does not hold) are not timed out (issue 15, defect 5)', async (t) => {
  const s = holdingOn({ holdTimeoutMs: 20 });
  s.host.blocked = false;
  s.queue.push(entry('forward', command('BLPOP', 'q', '0'), { blocking: true })); // in flight, for as long as it blocks
  s.holding.hold(command('GET', 'k'), Date.now(), 0);
  await new Promise((r) => setTimeout(r, 80));
  t.same(heldOf(s.holding), ['get'], 'still held after 4 hold timeouts');
  t.same(s.owner.answers, []);
  // Now a failover holds it: the clock (restarted) runs out.
  s.host.blocked = true;
  s.host.blockedReason = 'fence';
  s.queue.clear();
  await until(() => s.holding.held.length === 0);
  t.equal(s.client.text, TIMEOUT);
});

t.test('a link that never connected: everything on it goes again in order; decided replies keep their places; the commands sent with replies off too', async (t) => {
  const s = holdingOn();
  const node = fakeLink({ connected: false });
  s.holding.hold(command('INCR', 'held'), Date.now(), 0); // held behind them
  const get = entry('forward', command('GET', 'a'), { link: node.link });
  s.queue.push(get);
  s.queue.push(entry('local', command('EXEC'), { local: Buffer.from('-EXECABORT x\r\n'), expect: 0 }));
  s.queue.push(entry('internal', undefined, { link: node.link })); // replay: a new link replays again
  s.queue.push(entry('forward', command('SET', 'b', '1'), { link: node.link }));
  s.owner.silent = [{ after: get, cmd: command('DEL', 'z'), at: 0, t0: 0 }];
  s.writer.pause(2 /* any */);
  s.holding.linkClosed(node.link, undefined);
  t.same(heldOf(s.holding), ['get', 'del', 'reply -EXECABORT x', 'set', 'incr'], 'in order, before what was held');
  t.equal(s.queue.length, 0);
  t.equal(s.host.metrics.backendConnectErrors.value, 1);
  t.same(s.host.linksLost, [node.link.addr], 'reported to the group');
  t.equal(s.owner.relinks, 1, 'links again');
  t.equal(s.client.text, '', 'nothing answered');
});

t.test('a link lost with commands sent: one LINK_LOST per reply owed, reads go again, decided replies kept, all in order', async (t) => {
  const s = holdingOn();
  const node = fakeLink();
  // SUBSCRIBE a b c owes 3; one confirmation came: 2 owed.
  s.queue.push(entry('forward', command('SUBSCRIBE', 'a', 'b', 'c'), { link: node.link, sub: true, expect: 2 }));
  s.queue.push(entry('forward', command('GET', 'k'), { link: node.link, replayable: true }));
  s.queue.push(entry('local', command('FOO'), { local: Buffer.from("-ERR unknown command 'FOO'\r\n"), expect: 0 }));
  s.queue.push(entry('internal', undefined, { link: node.link }));
  s.queue.push(entry('forward', command('MGET', 'a', 'b'), { link: node.link, replayable: true }));
  s.queue.push(entry('forward', command('INCR', 'n'), { link: node.link }));
  s.holding.linkClosed(node.link, new Error('ECONNRESET'));
  t.equal(s.client.text, LOST + LOST, 'the two replies SUBSCRIBE still owed, at once');
  t.same(heldOf(s.holding), ['get again', "reply -ERR unknown command 'FOO'", 'mget again', `reply ${LOST.trim()}`], 'then in order, behind the read that goes again');
  t.equal(s.host.metrics.linkLost.value, 2, 'commands lost in flight (SUBSCRIBE, INCR)');
  t.equal(s.owner.relinks, 1);
  t.equal(s.queue.length, 0);
});

t.test('link loss: a transaction begun on the link is broken; unblocked commands waiting to go again go first', async (t) => {
  const s = holdingOn();
  const node = fakeLink();
  s.owner.tx.sent('watch');
  s.reader.reissue = [{ type: 'command', cmd: command('BLPOP', 'q', '0'), at: 0, t0: 0, again: true }];
  s.queue.push(entry('forward', command('GET', 'k'), { link: node.link, replayable: true }));
  s.holding.linkClosed(node.link, undefined);
  t.ok(s.owner.tx.broken, 'WATCH broken');
  t.same(heldOf(s.holding), ['blpop again', 'get again']);
  t.equal(s.host.metrics.reissued.value, 1, 'the read counted as re-issued');
});

t.test('link loss in the middle of a streamed reply closes the session (its stream cannot be completed); MONITOR too', async (t) => {
  {
    const s = holdingOn();
    const node = fakeLink();
    node.link.framer.push(Buffer.from('$10\r\nhal'), () => {});
    s.queue.push(entry('forward', command('GET', 'k'), { link: node.link }));
    s.holding.linkClosed(node.link, undefined);
    t.same(s.owner.teardowns, ['link lost mid-reply']);
  }
  {
    const s = holdingOn();
    const node = fakeLink();
    s.owner.unmovable = 'monitor';
    s.holding.linkClosed(node.link, undefined);
    t.same(s.owner.teardowns, ['session failed']);
  }
});

t.test('the read listener: a lost replica link puts every command back (they have no side effects)', async (t) => {
  const s = holdingOn({ kind: 'read' });
  const node = fakeLink();
  s.queue.push(entry('forward', command('GET', 'a'), { link: node.link }));
  s.queue.push(entry('forward', command('HGETALL', 'h'), { link: node.link }));
  s.holding.linkClosed(node.link, undefined);
  t.same(heldOf(s.holding), ['get', 'hgetall']);
  t.equal(s.client.text, '');
  t.equal(s.host.metrics.reissued.value, 2);
});

t.test('shared link: unsent entries go back in front of what is held; losses with replayable reads put the queue back', async (t) => {
  {
    const s = holdingOn();
    const a = entry('forward', command('GET', 'a'), { shared: true });
    const b = entry('forward', command('GET', 'b'), { shared: true, expect: 2, more: [command('GET', 'c')] });
    s.queue.push(a);
    s.queue.push(b);
    s.holding.hold(command('SET', 'x', '1'), Date.now(), 0);
    s.holding.unsent(b);
    t.same(heldOf(s.holding), ['get', 'get', 'set'], "b's two commands back in front of SET; a keeps its place");
    t.equal(s.queue.length, 1);
    t.ok(b.cancelled);
  }
  {
    const s = holdingOn();
    const read = entry('forward', command('GET', 'a'), { shared: true, replayable: true });
    const lost = entry('local', command('SET', 'k', 'v'), { local: ErrorReplies.LINK_LOST, expect: 0 });
    s.queue.push(read);
    s.queue.push(lost);
    s.holding.lost(lost);
    t.same(heldOf(s.holding), ['get', `reply ${LOST.trim()}`]);
    t.equal(s.owner.relinks, 1);
  }
});

t.test('shared link: every loss reported, writes only, the queue headed by an earlier run or a local reply — its answers were never written (the client hung); now they are', async (t) => {
  const s = holdingOn();
  const w1 = entry('local', command('SET', 'a', '1'), { shared: true, local: ErrorReplies.LINK_LOST, expect: 0 });
  const refused = entry('local', command('SYNC'), { local: Buffer.from('-ERR refused\r\n'), expect: 0 });
  const w2 = entry('local', command('SET', 'b', '2'), { shared: true, local: ErrorReplies.LINK_LOST, expect: 0 });
  s.queue.push(w1);
  s.queue.push(refused);
  s.queue.push(w2);
  s.holding.lost(w2);
  t.equal(s.owner.pops, 1, 'the session is told (afterPop writes the local replies at the head, in order)');
});

t.test('shared link: the first unsent run reported after runs lost in flight — they were never settled (the client hung); now they are, as the last loss would be', async (t) => {
  {
    const s = holdingOn();
    s.queue.push(entry('local', command('SET', 'a', '1'), { shared: true, local: ErrorReplies.LINK_LOST, expect: 0 }));
    const w2 = entry('forward', command('SET', 'b', '2'), { shared: true });
    s.queue.push(w2);
    s.holding.unsent(w2);
    t.same(heldOf(s.holding), ['set'], 'SET b goes again');
    t.equal(s.owner.pops, 1, "SET a's error is written (afterPop), then what is held is sent");
  }
  {
    const s = holdingOn();
    s.queue.push(entry('forward', command('GET', 'a'), { shared: true, replayable: true }));
    const w2 = entry('forward', command('SET', 'b', '2'), { shared: true });
    s.queue.push(w2);
    s.holding.unsent(w2);
    t.same(heldOf(s.holding), ['get', 'set'], 'the read lost in flight goes again, before SET b');
    t.equal(s.owner.relinks, 1);
  }
});

t.test('shutdown: every held command is answered SHUTTING_DOWN, held replies as they are, in order', async (t) => {
  const s = holdingOn();
  const now = Date.now();
  s.holding.hold(command('GET', 'a'), now, 0);
  s.holding.held.push({ type: 'reply', reply: Buffer.from('-ERR x\r\n'), at: now, t0: 0 });
  s.holding.hold(command('GET', 'b'), now, 0);
  s.holding.answerAll();
  const down = ErrorReplies.SHUTTING_DOWN.toString('latin1');
  t.equal(s.client.text, down + '-ERR x\r\n' + down);
  t.equal(s.holding.held.length, 0);
});

t.test('describeOwed: what a closing session owes, by command name and where (the log of a session closed with replies owed)', async (t) => {
  const cur = fakeLink({ connected: false });
  const old = fakeLink();
  const q = [entry('forward', command('GET', 'secret-key'), { link: old.link, expect: 1 }), entry('forward', command('SUBSCRIBE', 'a', 'b'), { link: cur.link, expect: 2 }), entry('local', command('MULTI'), { expect: 0 })];
  const held: Held[] = [
    { type: 'command', cmd: command('INCR', 'n'), at: 0, t0: 0, again: true },
    { type: 'reply', reply: Buffer.from('+OK\r\n'), at: 0, t0: 0 },
  ];
  const d = describeOwed(q, held, cur.link) as { inFlight: string[]; held: string[]; link: { connected: boolean } };
  t.same(d.inFlight, ['forward:get:1@old-link', 'forward:subscribe:2@unconnected', 'local:multi:0']);
  t.same(d.held, ['incr:again', 'reply']);
  t.equal(d.link.connected, false);
  t.notMatch(JSON.stringify(d), /secret-key/, 'no arguments');
});
