// The reply splicer alone (src/session/reply-splicer.ts): a fake owner, a real reply queue, the
// client writer on a stub client, and a BackendLink over a stream (no socket). The node's bytes are
// handed to `onLinkData` split at every byte; what the client gets must be the node's replies byte
// for byte (the proxy's own replies swallowed), each entry completed once, in order, with pushes
// and pub/sub messages passed through between them.
import t from 'tap';
import { ReplySplicer, type SplicerOwner } from '../../../src/session/reply-splicer.js';
import { ClientWriter } from '../../../src/session/client-writer.js';
import { Deque } from '../../../src/session/deque.js';
import type { Entry } from '../../../src/session/reply-queue.js';
import { ReplayState } from '../../../src/session/state.js';
import { splitAtOffsets } from '../../helpers/split.js';
import { StubClient, TestConfirmer, command, entry, fakeLink, setLimits, silentLog, testHost, type FakeNode } from '../../helpers/fake-owners.js';
import { ErrorReplies } from '../../../src/errors.js';

function splicerOn(opts: { protocol?: 2 | 3; monitor?: boolean } = {}) {
  const host = testHost();
  const client = new StubClient();
  const node: FakeNode = fakeLink();
  const links = { link: node.link as typeof node.link | undefined, spare: undefined };
  const queue = new Deque<Entry>();
  const state = new ReplayState();
  state.protocol = state.sentProtocol = opts.protocol ?? 2;
  let splicer!: ReplySplicer;
  const owner = {
    id: 1,
    log: silentLog,
    group: host,
    state,
    unmovable: (opts.monitor ? 'monitor' : 'no') as SplicerOwner['unmovable'],
    pops: 0,
    teardowns: [] as string[],
    // As Session.afterPop: the mode of the next reply is chosen at this boundary.
    afterPop() {
      owner.pops++;
      splicer.updateMode();
    },
    teardown(why: string) {
      owner.teardowns.push(why);
    },
  };
  const writer = new ClientWriter({ log: silentLog, group: host, maybeFinish: () => {} }, client.asSocket(), links);
  client.on('drain', () => writer.onDrain());
  splicer = new ReplySplicer(owner, queue, writer, links);
  const done: boolean[] = [];
  /** Queues entries as the own lane does (the mode of the first applies from the next byte). */
  const push = (...es: Entry[]) => {
    for (const e of es) {
      e.link ??= node.link;
      const inner = e.done;
      e.done = (ok, info) => {
        done.push(ok);
        inner?.(ok, info);
      };
      queue.push(e);
    }
    splicer.updateMode();
  };
  const feed = (bytes: string | Buffer, cuts: number[] = []) => {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    for (const c of splitAtOffsets(buf, cuts)) splicer.onLinkData(node.link, c);
  };
  return { host, client, node, links, queue, state, owner, writer, splicer, push, feed, done };
}

/** Every way of cutting `s` in two, and the cut at every byte. */
function cutsOf(s: string): number[][] {
  const out: number[][] = [[]];
  for (let i = 1; i < s.length; i++) out.push([i]);
  out.push(Array.from({ length: s.length }, (_, i) => i + 1));
  return out;
}

const fwd = (...words: string[]) => entry('forward', command(...words));

t.test('streamed: replies forwarded byte for byte, split at every byte; each chunk is written as one slice', async (t) => {
  const replies = '+OK\r\n$5\r\nhello\r\n*2\r\n:1\r\n$-1\r\n-ERR no\r\n%1\r\n+k\r\n+v\r\n_\r\n|1\r\n+a\r\n+b\r\n:7\r\n';
  for (const cuts of cutsOf(replies)) {
    const s = splicerOn({ protocol: 3 });
    s.push(fwd('SET', 'k', 'v'), fwd('GET', 'k'), fwd('MGET', 'a', 'b'), fwd('FOO'), fwd('HGETALL', 'h'), fwd('GET', 'x'), fwd('INCR', 'n'));
    s.feed(replies, cuts);
    const label = `cut at ${cuts.length > 3 ? 'every byte' : cuts.join(',') || 'nothing'}`;
    if (s.client.text !== replies) {
      t.equal(s.client.text, replies, label);
      return;
    }
    t.equal(s.owner.pops, 7, `${label}: 7 entries completed (the attribute is not a reply)`);
    t.same(s.done, [true, true, true, false, true, true, true], `${label}: errors reported as such`);
    t.ok(s.client.chunks.length <= cuts.length + 1, `${label}: at most one write per chunk`);
    t.equal(s.queue.length, 0);
  }
});

t.test("collected: the proxy's own replay replies are swallowed, the client's forwarded, at every split", async (t) => {
  // Replay of a RESP2 session: AUTH, SELECT, SUBSCRIBE a b (2 confirmations); then the client's PING.
  const replies = '+OK\r\n+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n';
  const client = '*2\r\n$4\r\npong\r\n$0\r\n\r\n';
  for (const cuts of cutsOf(replies)) {
    const s = splicerOn();
    s.state.subs.apply('subscribe', ['a', 'b']);
    s.node.link.framer.inspectArrays = true;
    s.push(entry('internal', undefined), entry('internal', undefined), entry('internal', undefined, { expect: 2, sub: true }), fwd('PING'));
    s.feed(replies, cuts);
    if (s.client.text !== client) {
      t.equal(s.client.text, client, `cut at ${cuts.join(',')}`);
      return;
    }
    t.equal(s.owner.pops, 4);
  }
  t.pass('every split');
});

t.test('a blocking command’s reply is collected whole, then delivered; what follows streams again', async (t) => {
  const replies = '*2\r\n$1\r\nq\r\n$3\r\nabc\r\n+OK\r\n';
  for (const cuts of cutsOf(replies)) {
    const s = splicerOn();
    s.push(entry('forward', command('BLPOP', 'q', '0'), { blocking: true, buffered: true }), fwd('SET', 'a', 'b'));
    s.feed(replies, cuts);
    if (s.client.text !== replies || s.owner.pops !== 2) {
      t.equal(s.client.text, replies, `cut at ${cuts.join(',')}`);
      t.equal(s.owner.pops, 2);
      return;
    }
  }
  t.pass('every split');
});

t.test('RESP2 subscribed: messages pass through between confirmations and count for nothing; SUBSCRIBE b c owes 2', async (t) => {
  const msg = (ch: string, m: string) => `*3\r\n$7\r\nmessage\r\n$${ch.length}\r\n${ch}\r\n$${m.length}\r\n${m}\r\n`;
  const conf = (ch: string, n: number) => `*3\r\n$9\r\nsubscribe\r\n$${ch.length}\r\n${ch}\r\n:${n}\r\n`;
  const pmsg = '*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$1\r\nm\r\n';
  const pong = '*2\r\n$4\r\npong\r\n$0\r\n\r\n';
  const replies = msg('a', 'm1') + conf('b', 2) + msg('a', 'm2') + pmsg + conf('c', 3) + msg('b', 'm3') + pong + msg('c', 'm4');
  for (const cuts of cutsOf(replies)) {
    const s = splicerOn();
    s.state.subs.apply('subscribe', ['a']);
    s.node.link.framer.inspectArrays = true;
    s.push(entry('forward', command('SUBSCRIBE', 'b', 'c'), { expect: 2, sub: true }), fwd('PING'));
    s.feed(replies, cuts);
    const label = `cut at ${cuts.length > 3 ? 'every byte' : cuts.join(',')}`;
    if (s.client.text !== replies || s.owner.pops !== 2 || s.done.length !== 2) {
      t.equal(s.client.text, replies, label);
      t.equal(s.owner.pops, 2, `${label}: SUBSCRIBE b c and PING completed`);
      t.same(s.done, [true, true], `${label}: each done once`);
      return;
    }
  }
  t.pass('every split');
});

t.test('RESP2: a message reaching an ordinary command at the head is not its reply (a subscribed session)', async (t) => {
  const s = splicerOn();
  s.state.subs.apply('subscribe', ['a']);
  s.node.link.framer.inspectArrays = true;
  s.push(fwd('PING'));
  s.feed('*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n');
  t.equal(s.owner.pops, 0, 'the message answered nothing');
  s.feed('*2\r\n$4\r\npong\r\n$0\r\n\r\n');
  t.equal(s.owner.pops, 1);
});

t.test('RESP3: pushes pass through out of band; a subscribe confirmation push counts for a subscribe entry only', async (t) => {
  const push = (kind: string, ch: string, x: string) => `>3\r\n$${kind.length}\r\n${kind}\r\n$${ch.length}\r\n${ch}\r\n${x}`;
  const replies = push('message', 'a', '$1\r\nm\r\n') + '$1\r\nv\r\n' + push('subscribe', 'b', ':2\r\n') + push('message', 'b', '$1\r\nn\r\n') + push('subscribe', 'c', ':3\r\n') + ':1\r\n';
  for (const cuts of cutsOf(replies)) {
    const s = splicerOn({ protocol: 3 });
    s.push(fwd('GET', 'k'), entry('forward', command('SUBSCRIBE', 'b', 'c'), { expect: 2, sub: true }), fwd('INCR', 'n'));
    s.feed(replies, cuts);
    if (s.client.text !== replies || s.owner.pops !== 3) {
      t.equal(s.client.text, replies, `cut at ${cuts.join(',')}`);
      t.equal(s.owner.pops, 3);
      return;
    }
  }
  t.pass('every split');
});

t.test('a refused (un)subscribe answers once: SUBSCRIBE a b c refused with one error completes', async (t) => {
  const s = splicerOn();
  s.push(entry('forward', command('SUBSCRIBE', 'a', 'b', 'c'), { expect: 3, sub: true }), fwd('GET', 'k'));
  s.feed("-NOPERM this user has no permissions to access one of the channels used as arguments\r\n$-1\r\n");
  t.equal(s.owner.pops, 2);
  t.same(s.done, [false, true]);
});

t.test('MONITOR output answers no entry', async (t) => {
  const s = splicerOn({ monitor: true });
  s.push(fwd('PING'));
  s.feed('+1700000000.1 [0 127.0.0.1:1] "get" "k"\r\n+1700000000.2 [0 127.0.0.1:1] "ping"\r\n');
  t.equal(s.owner.pops, 0);
  t.equal(s.client.text, '+1700000000.1 [0 127.0.0.1:1] "get" "k"\r\n+1700000000.2 [0 127.0.0.1:1] "ping"\r\n');
});

t.test('-READONLY from the supposed master is reported to the group (a topology refresh at once)', async (t) => {
  const s = splicerOn();
  s.push(fwd('SET', 'k', 'v'));
  s.feed("-READONLY You can't write against a read only replica.\r\n");
  t.same(s.host.readonlys, [s.node.link.addr]);
  t.same(s.done, [false]);
});

t.test('the CLIENT ID probe: its integer reply is kept on the link, not passed on', async (t) => {
  const s = splicerOn();
  s.push(entry('internal', undefined, { clientIdProbe: true }), entry('forward', command('BLPOP', 'q', '0'), { blocking: true, buffered: true }));
  s.feed(':42\r\n*-1\r\n');
  t.equal(s.node.link.clientId, 42);
  t.equal(s.client.text, '*-1\r\n');
});

t.test('-UNBLOCKED: the blocked command and the reads behind it go again; the next blocked one is unblocked in turn', async (t) => {
  const s = splicerOn();
  s.node.link.clientId = 7;
  const blpop = entry('forward', command('BLPOP', 'q', '0'), { blocking: true, buffered: true });
  const get = entry('forward', command('GET', 'k'), { replayable: true });
  const brpop = entry('forward', command('BRPOP', 'r', '0'), { blocking: true, buffered: true });
  s.push(blpop, get, brpop);
  s.feed('-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n');
  t.ok(s.splicer.reissuing);
  t.equal(s.client.text, '', 'nothing passed on');
  t.same(s.host.unblocks, [[s.node.link.addr, 7]], 'BRPOP, next in the pipeline, unblocked too');
  t.equal(get.kind, 'internal', "the read's reply from the old node will be dropped");
  s.feed('$1\r\nv\r\n-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n');
  t.equal(s.client.text, '', 'the old reply of the read dropped');
  const back = s.splicer.takeReissue();
  t.same(back.map((h) => (h.type === 'command' ? [h.cmd.spec?.name, h.again] : h.type)), [['blpop', true], ['get', true], ['brpop', true]], 'all three go again, in order');
  t.notOk(s.splicer.reissuing);
});

t.test('-UNBLOCKED with a write behind it: the write ran on the old node, so the error is passed on (order wins)', async (t) => {
  const s = splicerOn();
  s.push(entry('forward', command('BLPOP', 'q', '0'), { blocking: true, buffered: true }), fwd('SET', 'k', 'v'));
  s.feed('-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n+OK\r\n');
  t.notOk(s.splicer.reissuing);
  t.equal(s.client.text, '-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n+OK\r\n');
});

t.test('-UNBLOCKED, then a command sent after it completes on the old node: its reply was streamed ahead of the unblocked command’s error (order broken); now the error comes first', async (t) => {
  const s = splicerOn();
  s.push(entry('forward', command('BLPOP', 'q', '0'), { blocking: true, buffered: true }), entry('forward', command('GET', 'k'), { replayable: true }));
  s.feed('-UNBLOCKED x\r\n');
  t.ok(s.splicer.reissuing, 'BLPOP and GET would move');
  s.push(fwd('SET', 'a', 'b'));
  s.feed('$1\r\nv\r\n+OK\r\n');
  t.notOk(s.splicer.reissuing, 'given up: SET ran there');
  t.equal(s.client.text, '-UNBLOCKED x\r\n$1\r\nv\r\n+OK\r\n', "BLPOP's error and GET's reply from the old node, then SET's");
  // The same at every split of the node's bytes: no byte of SET's reply before the errors.
  const rest = '$1\r\nv\r\n+OK\r\n';
  for (const cuts of cutsOf(rest)) {
    const s = splicerOn();
    s.push(entry('forward', command('BLPOP', 'q', '0'), { blocking: true, buffered: true }), entry('forward', command('GET', 'k'), { replayable: true }));
    s.feed('-UNBLOCKED x\r\n');
    s.push(fwd('SET', 'a', 'b'));
    s.feed(rest, cuts);
    if (s.client.text !== '-UNBLOCKED x\r\n' + rest) {
      t.equal(s.client.text, '-UNBLOCKED x\r\n' + rest, `cut at ${cuts.join(',')}`);
      return;
    }
  }
});

t.test('-UNBLOCKED, then a reply the proxy decided for a command sent after it: written first, and the unblocked command never answered (it hung); now answered with its error, in order', async (t) => {
  const s = splicerOn();
  s.push(entry('forward', command('BLPOP', 'q', '0'), { blocking: true, buffered: true }), entry('forward', command('GET', 'k'), { replayable: true }));
  s.feed('-UNBLOCKED x\r\n$1\r\nv\r\n');
  t.ok(s.splicer.reissuing, 'BLPOP and GET would move');
  // The session writes a local answer that has reached the head of the queue (Session.afterPop),
  // e.g. SYNC refused, or a `read` user's write refused, sent after BLPOP.
  s.splicer.writeClient(Buffer.from('-ERR refused\r\n'));
  t.equal(s.client.text, '-UNBLOCKED x\r\n$1\r\nv\r\n-ERR refused\r\n', 'BLPOP and GET answered first, from the old node');
  t.notOk(s.splicer.reissuing, 'nothing left waiting to run again');
});

t.test('bytes that are not RESP cut the link; what was streamed before them was passed on', async (t) => {
  const s = splicerOn();
  s.push(fwd('GET', 'a'), fwd('GET', 'b'));
  s.feed('$1\r\nx\r\n?garbage\r\n');
  t.equal(s.client.text, '$1\r\nx\r\n');
  t.ok(s.node.socket.destroyed, 'link destroyed');
});

t.test('output limits: above outputBufferSoftBytes the link is paused; above outputBufferHardBytes the session is closed', async (t) => {
  const big = `$3000\r\n${'x'.repeat(3000)}\r\n`;
  {
    // The client keeps up, but replies wait for write confirmation: held output counts.
    const s = splicerOn();
    setLimits(s.host, { outputBufferSoftBytes: 1000, outputBufferHardBytes: 100_000 });
    const c = new TestConfirmer(s.node.link.addr);
    s.host.confirmer = c;
    s.splicer.ackOwed = 1;
    s.push(fwd('SET', 'k', 'v'), fwd('GET', 'a'), fwd('GET', 'b'));
    s.queue.peek()!.ack = true;
    s.feed('+OK\r\n' + big);
    t.equal(s.client.text, '', 'held for confirmation');
    t.ok(s.node.socket.isPaused(), 'soft: the link is paused');
    t.same(s.owner.teardowns, []);
    c.confirm(1);
    t.equal(s.client.text, '+OK\r\n' + big);
    t.notOk(s.node.socket.isPaused(), 'released: the link reads again');
  }
  {
    // A slow client: write() returned false, the link is paused until 'drain'.
    const s = splicerOn();
    setLimits(s.host, { outputBufferSoftBytes: 1000, outputBufferHardBytes: 100_000 });
    s.client.slow = true;
    s.client.highWaterMark = 2000;
    s.push(fwd('GET', 'a'), fwd('GET', 'b'));
    s.feed(big);
    t.ok(s.node.socket.isPaused(), 'the link is paused');
    s.client.drain();
    t.notOk(s.node.socket.isPaused(), 'drained: resumed');
  }
  {
    const s = splicerOn();
    setLimits(s.host, { outputBufferSoftBytes: 1000, outputBufferHardBytes: 2000 });
    s.client.slow = true;
    s.push(fwd('GET', 'a'));
    s.feed(big);
    t.same(s.owner.teardowns, ['output buffer limit'], 'hard: closed');
  }
  {
    const s = splicerOn();
    setLimits(s.host, { outputBufferSoftBytes: 1000, outputBufferHardBytes: 100_000 });
    s.push(fwd('GET', 'a'), fwd('GET', 'b'));
    s.feed(big);
    t.notOk(s.node.socket.isPaused(), 'a client that keeps up: nothing paused');
  }
});

t.test('outputBufferSoftBytes below the socket high-water mark: the link paused for a slow client was never resumed (no drain comes); now it reads again once the client has read', async (t) => {
  const s = splicerOn();
  setLimits(s.host, { outputBufferSoftBytes: 1000, outputBufferHardBytes: 100_000 });
  s.client.slow = true; // high-water mark 16 KB: write() returns true, no 'drain' will follow
  s.push(fwd('GET', 'a'), fwd('GET', 'b'));
  s.feed(`$3000\r\n${'x'.repeat(3000)}\r\n`);
  s.client.drain(); // the client read it all
  t.notOk(s.node.socket.isPaused(), 'the link reads the next reply');
});

t.test('write confirmation: an unconfirmed write reply split across two node chunks became two errors (one reply too many); now exactly one', async (t) => {
  const replies = '$5\r\nhello\r\n+OK\r\n$1\r\nz\r\n';
  for (const cuts of cutsOf(replies)) {
    const s = splicerOn();
    const c = new TestConfirmer(s.node.link.addr);
    s.host.confirmer = c;
    s.splicer.ackOwed = 1; // counted by the own lane as it sent the SET
    s.push(fwd('GET', 'a'), fwd('SET', 'k', 'v'), fwd('GET', 'b'));
    s.queue.at(1)!.ack = true;
    s.feed(replies, cuts);
    c.fail('master changed');
    const want = '$5\r\nhello\r\n' + ErrorReplies.LINK_LOST.toString('latin1') + '$1\r\nz\r\n';
    if (s.client.text !== want) {
      t.equal(s.client.text, want, `cut at ${cuts.join(',')}`);
      return;
    }
  }
  t.pass('every split');
});
