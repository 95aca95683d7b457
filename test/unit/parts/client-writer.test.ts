// The client writer alone (src/session/client-writer.ts), on a stub client socket and fake links:
// the pause reasons as one bit set, what is paused when the client falls behind and what 'drain'
// resumes, and output held for write confirmation (topology.writeSafety: safe).
import t from 'tap';
import { ClientWriter, PAUSE_BACKEND, PAUSE_CLOSING, PAUSE_HOLD, PAUSE_OUTPUT, type FeedingLinks } from '../../../src/session/client-writer.js';
import type { BackendLink } from '../../../src/session/backend-link.js';
import { ErrorReplies } from '../../../src/errors.js';
import { StubClient, TestConfirmer, fakeLink, silentLog, testHost, type TestHost } from '../../helpers/fake-owners.js';

function writerOn(links: Partial<{ link: BackendLink; spare: BackendLink }> = {}, host: TestHost = testHost()) {
  const client = new StubClient();
  const feeding: FeedingLinks = {
    get link() {
      return links.link;
    },
    get spare() {
      return links.spare;
    },
  };
  let finishes = 0;
  const owner = { log: silentLog, group: host, maybeFinish: () => void finishes++ };
  const writer = new ClientWriter(owner, client.asSocket(), feeding);
  // As the session wires it.
  client.on('drain', () => writer.onDrain());
  return { client, writer, host, links, finishes: () => finishes };
}

t.test('pause reasons: the client is read only when no reason is left, and the socket is paused or resumed once per change', async (t) => {
  const P = { B: PAUSE_BACKEND, H: PAUSE_HOLD, C: PAUSE_CLOSING, O: PAUSE_OUTPUT } as const;
  // [operations, paused after, socket.pause() calls, socket.resume() calls]
  const rows: [string, boolean, number, number][] = [
    ['', false, 0, 0],
    ['+H', true, 1, 0],
    ['+H +B', true, 1, 0],
    ['+H +H', true, 1, 0],
    ['+H +B -H', true, 1, 0],
    ['+H +B -H -B', false, 1, 1],
    ['+H -H', false, 1, 1],
    ['-H', false, 0, 0], // a reason not set: nothing to resume
    ['+H -B', true, 1, 0],
    ['+O -O +O -O', false, 2, 2],
    ['+C +H -H', true, 1, 0], // closing stays
    ['+H close -H', true, 1, 0], // closed: never read again
  ];
  for (const [ops, paused, pauses, resumes] of rows) {
    const { client, writer } = writerOn();
    for (const op of ops.split(' ').filter(Boolean)) {
      if (op === 'close') writer.close();
      else if (op[0] === '+') writer.pause(P[op[1] as keyof typeof P]);
      else writer.resume(P[op[1] as keyof typeof P]);
    }
    t.equal(client.paused, paused, `${ops || '(nothing)'}: paused`);
    t.equal(client.pauses, pauses, `${ops || '(nothing)'}: socket.pause() calls`);
    t.equal(client.resumes, resumes, `${ops || '(nothing)'}: socket.resume() calls`);
  }
});

t.test('a client that falls behind pauses its own link (backpressure reaches the node); drain resumes it and the spare', async (t) => {
  const link = fakeLink().link;
  const spare = fakeLink({ addr: '10.0.0.2:6379' }).link;
  const { client, writer } = writerOn({ link, spare });
  client.slow = true;
  client.highWaterMark = 10;
  writer.write(Buffer.from('+OK\r\n'));
  t.notOk(link.socket.isPaused(), 'below the socket high-water mark: nothing paused');
  writer.write(Buffer.from('$5\r\nhello\r\n'));
  t.ok(link.socket.isPaused(), 'write() returned false: the link that feeds the client is paused');
  t.notOk(client.paused, 'the client itself is still read (its requests are not the problem)');
  spare.socket.pause(); // paused for this client before the links swapped (issue 15, defect 4)
  client.drain();
  t.notOk(link.socket.isPaused(), "'drain': the link is resumed");
  t.notOk(spare.socket.isPaused(), "'drain': the spare too");
  t.equal(client.text, '+OK\r\n$5\r\nhello\r\n', 'bytes written in order');
});

t.test('a client behind on the shared link (no own link) stops being read (PAUSE_OUTPUT) until drain; other reasons stay', async (t) => {
  const { client, writer } = writerOn();
  client.slow = true;
  client.highWaterMark = 4;
  writer.pause(PAUSE_HOLD);
  writer.write(Buffer.from('+OK\r\n'));
  t.ok(client.paused);
  writer.resume(PAUSE_HOLD);
  t.ok(client.paused, 'still behind: PAUSE_OUTPUT holds it');
  client.drain();
  t.notOk(client.paused, 'drained: read again');
});

t.test('write() returning false with nothing left buffered (the kernel took it) pauses nothing', async (t) => {
  const link = fakeLink().link;
  const { client, writer } = writerOn({ link });
  client.highWaterMark = 0; // write() always returns false, but nothing stays buffered
  writer.write(Buffer.from('+OK\r\n'));
  t.notOk(link.socket.isPaused());
  t.notOk(client.paused);
});

t.test('after close nothing is written', async (t) => {
  const { client, writer } = writerOn();
  writer.write(Buffer.from('+A\r\n'));
  writer.close();
  writer.write(Buffer.from('+B\r\n'));
  writer.toClient(Buffer.from('+C\r\n'));
  t.equal(client.text, '+A\r\n');
});

t.test('write confirmation: output after a write reply waits for its round, in order, then is passed on as it was', async (t) => {
  const host = testHost();
  const c = new TestConfirmer();
  host.confirmer = c;
  const { client, writer, finishes } = writerOn({}, host);
  writer.write(Buffer.from('+before\r\n'));
  writer.awaitConfirm('10.0.0.1:6379');
  writer.gate.tag = 1;
  writer.write(Buffer.from(':1\r\n'));
  writer.gate.tag = -1;
  writer.write(Buffer.from('+after\r\n'));
  t.equal(client.text, '+before\r\n', 'the write reply and what follows wait');
  t.equal(writer.behind, 4 + 8, 'behind counts the held output');
  t.equal(c.waiters.length, 1, 'the gate waits on the confirmer');
  c.confirm(1);
  t.equal(client.text, '+before\r\n:1\r\n+after\r\n', 'confirmed: passed on unchanged, in order');
  t.equal(writer.behind, 0);
  t.equal(finishes(), 1, 'a draining session may close now (maybeFinish)');
});

t.test('write confirmation: no confirmer (undefined) or an inactive one holds nothing; awaitConfirm(undefined) neither', async (t) => {
  const host = testHost();
  const { client, writer } = writerOn({}, host);
  writer.awaitConfirm('10.0.0.1:6379');
  writer.write(Buffer.from('+a\r\n'));
  const c = new TestConfirmer();
  c.active = false;
  host.confirmer = c;
  writer.awaitConfirm('10.0.0.1:6379');
  writer.write(Buffer.from('+b\r\n'));
  host.confirmer = new TestConfirmer();
  writer.awaitConfirm(undefined);
  writer.write(Buffer.from('+c\r\n'));
  t.equal(client.text, '+a\r\n+b\r\n+c\r\n');
  t.notOk(writer.gate.holding);
});

t.test('write confirmation: replies from a node that is no longer the master (null) are answered with the in-flight error, counted', async (t) => {
  const host = testHost();
  host.confirmer = null;
  const { client, writer } = writerOn({}, host);
  writer.awaitConfirm('10.0.0.9:6379');
  writer.gate.tag = 2; // two write replies in these bytes
  writer.write(Buffer.from('+OK\r\n:5\r\n'));
  writer.gate.tag = -1;
  writer.write(Buffer.from('$1\r\nx\r\n')); // a read's reply
  t.equal(client.text, '', 'held until the gate hears');
  await new Promise((r) => queueMicrotask(() => r(undefined)));
  t.equal(client.text, ErrorReplies.LINK_LOST.toString('latin1').repeat(2) + '$1\r\nx\r\n', 'each write reply replaced, the read passed on');
  t.equal(host.metrics.unconfirmed.value, 2);
  t.equal(host.metrics.linkLost.value, 2);
});

t.test('write confirmation: held output released into an empty socket resumes what was paused for the client', async (t) => {
  const host = testHost();
  const c = new TestConfirmer();
  host.confirmer = c;
  const link = fakeLink().link;
  const { client, writer } = writerOn({ link }, host);
  writer.awaitConfirm(link.addr);
  writer.write(Buffer.from('+OK\r\n'));
  link.socket.pause(); // the splicer paused it: behind > outputBufferSoftBytes counting held output
  writer.pause(PAUSE_OUTPUT);
  c.confirm(1);
  t.equal(client.text, '+OK\r\n');
  t.notOk(link.socket.isPaused(), 'the link is resumed');
  t.notOk(client.paused, 'the client is read again');
});

t.test('write confirmation: held output released into a slow client below its high-water mark left the link paused for good (no drain comes); now resumed', async (t) => {
  const host = testHost();
  const c = new TestConfirmer();
  host.confirmer = c;
  const link = fakeLink().link;
  const { client, writer } = writerOn({ link }, host);
  client.slow = true;
  writer.awaitConfirm(link.addr);
  writer.write(Buffer.from('+OK\r\n'));
  link.socket.pause(); // the splicer paused it: behind > outputBufferSoftBytes counting held output
  c.confirm(1);
  t.equal(client.writableLength, 5, 'the released bytes wait in the socket (write() returned true)');
  client.drain();
  t.notOk(link.socket.isPaused(), 'the link reads again');
});

t.test('close forgets the held output and leaves the confirmer', async (t) => {
  const host = testHost();
  const c = new TestConfirmer();
  host.confirmer = c;
  const { client, writer } = writerOn({}, host);
  writer.awaitConfirm('10.0.0.1:6379');
  writer.write(Buffer.from('+OK\r\n'));
  writer.close();
  t.equal(c.waiters.length, 0, 'no longer waiting');
  t.equal(writer.behind, 0);
  c.confirm(5);
  t.equal(client.text, '');
});
