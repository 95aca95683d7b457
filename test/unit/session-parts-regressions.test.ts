// Defects found by the parts' unit tests (test/unit/parts/reply-splicer.test.ts, holding.test.ts),
// shown here through a whole session on a fake host with a fake node (loopback), as a client meets
// them.
import t from 'tap';
import { fakeServer } from '../helpers/fake-resp.js';
import { fakeHost, sessionOn } from '../helpers/fake-host.js';
import { encode } from '../helpers/raw.js';
import { waitFor } from '../helpers/group.js';
import { ErrorReplies } from '../../src/errors.js';
import type { ConfirmWaiter, WriteConfirmations } from '../../src/topology/types.js';
import { SharedLink } from '../../src/session/shared-link.js';

const addrOf = (f: { port: number }) => `127.0.0.1:${f.port}`;

t.test('CLIENT UNBLOCK from another client, then a command sent after it: its reply reached the client before the unblocked BLPOP’s (a reply out of order)', async (t) => {
  const m = await fakeServer();
  t.teardown(() => m.close());
  const host = fakeHost(addrOf(m));
  const { client } = await sessionOn(t, host);
  client.send(Buffer.concat([encode('BLPOP', 'q', '0'), encode('GET', 'k')]));
  await m.waitReceived('GET');
  // The proxy's CLIENT ID probe, then an operator's `CLIENT UNBLOCK <id> ERROR`: BLPOP did not run.
  m.write(':5\r\n-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n');
  // The client, still waiting for BLPOP, pipelines a write.
  client.send(encode('SET', 'a', 'b'));
  await m.waitReceived('SET');
  m.write('$1\r\nv\r\n+OK\r\n'); // GET's reply (it ran after the unblock), then SET's
  const replies = await client.read(3, 3000).catch((e: Error) => [e.message]);
  t.same(replies, ['-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n', '$1\r\nv\r\n', '+OK\r\n'], 'BLPOP, GET, SET answered in order');
});

t.test('CLIENT UNBLOCK, then a command the proxy answers itself: its reply came first and the unblocked BLPOP was never answered (the client hung)', async (t) => {
  const m = await fakeServer();
  t.teardown(() => m.close());
  const host = fakeHost(addrOf(m));
  const { session, client } = await sessionOn(t, host);
  client.send(Buffer.concat([encode('BLPOP', 'q', '0'), encode('GET', 'k')]));
  await m.waitReceived('GET');
  m.write(':5\r\n-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n');
  const splicer = (session as unknown as { splicer: { reissuing: boolean } }).splicer;
  await waitFor(() => splicer.reissuing, { timeoutMs: 3000, what: 'the unblocked BLPOP waiting to run again' });
  client.send(encode('SYNC')); // refused by the proxy: a reply decided behind BLPOP
  await waitFor(() => session.describe().inFlight === 2, { timeoutMs: 3000, what: 'the refusal queued behind GET' });
  m.write('$1\r\nv\r\n');
  const replies = await client.read(3, 3000).catch((e: Error) => [e.message]);
  t.same(replies, ['-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n', '$1\r\nv\r\n', ErrorReplies.REFUSED_TOPOLOGY.toString('latin1')], 'BLPOP, GET, SYNC answered, in order');
});

class FailingConfirmer implements WriteConfirmations {
  readonly waiters = new Set<ConfirmWaiter>();
  active = true;
  constructor(readonly addr: string) {}
  ticket(): number {
    return 1;
  }
  wait(w: ConfirmWaiter): void {
    this.waiters.add(w);
  }
  forget(w: ConfirmWaiter): void {
    this.waiters.delete(w);
  }
  fail(reason: string): void {
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w.unconfirmed(reason);
    }
  }
}

t.test('writeSafety safe: an unconfirmed write whose reply came in two pieces was answered with two errors (one reply too many)', async (t) => {
  const m = await fakeServer();
  t.teardown(() => m.close());
  const host = fakeHost(addrOf(m));
  const c = new FailingConfirmer(addrOf(m));
  (host as unknown as { confirmations: (a: string) => unknown }).confirmations = (a: string) => (a === c.addr ? c : null);
  const { session, client } = await sessionOn(t, host);
  client.send(encode('SET', 'k', 'v'));
  await m.waitReceived('SET');
  m.write('+O');
  // The proxy has read the first piece (its link's reply framer is inside a reply).
  const link = () => (session as unknown as { links: { link?: { framer: { atBoundary: boolean } } } }).links.link;
  await waitFor(() => link()?.framer.atBoundary === false, { timeoutMs: 3000, what: 'the first piece read' });
  m.write('K\r\n');
  await waitFor(() => c.waiters.size > 0 && link()?.framer.atBoundary === true, { timeoutMs: 3000, what: 'the reply held for confirmation' });
  c.fail('the master changed');
  client.send(encode('GET', 'k'));
  await m.waitReceived('GET');
  m.write('$1\r\nx\r\n');
  const replies = await client.read(2, 3000).catch((e: Error) => [e.message]);
  t.same(replies, [ErrorReplies.LINK_LOST.toString('latin1'), '$1\r\nx\r\n'], 'one error for the SET, then the GET’s reply');
});

t.test('shared link lost with two runs of writes in flight (a refusal between them): no reply was ever written (the client hung)', async (t) => {
  const m = await fakeServer();
  t.teardown(() => m.close());
  const host = fakeHost(addrOf(m), { links: { shared: true } });
  const shared = new SharedLink(addrOf(m), host.masterEpoch, { auth: {}, connectTimeoutMs: 1000 }, () => {}, () => {});
  t.teardown(() => shared.destroy());
  (host as unknown as { sharedLink: () => SharedLink | undefined }).sharedLink = () => (shared.closed ? undefined : shared);
  const { client } = await sessionOn(t, host);
  // One chunk: a write, a command the proxy refuses, a write — two runs on the shared link.
  client.send(Buffer.concat([encode('SET', 'a', '1'), encode('SYNC'), encode('SET', 'b', '2')]));
  await m.waitReceived('$1\r\nb\r\n');
  m.drop(); // the node dies before answering
  const lost = ErrorReplies.LINK_LOST.toString('latin1');
  const replies = await client.read(3, 3000).catch((e: Error) => [e.message]);
  t.same(replies, [lost, ErrorReplies.REFUSED_TOPOLOGY.toString('latin1'), lost], 'each answered, in order');
});

t.test('shared link lost with one run of writes sent and the next not yet written: neither was answered (the client hung)', async (t) => {
  const m = await fakeServer();
  const m2 = await fakeServer();
  t.teardown(() => m.close());
  t.teardown(() => m2.close());
  const host = fakeHost(addrOf(m), { links: { shared: true } });
  const first = new SharedLink(addrOf(m), host.masterEpoch, { auth: {}, connectTimeoutMs: 1000 }, () => {}, () => {});
  let second: SharedLink | undefined;
  t.teardown(() => first.destroy());
  t.teardown(() => second?.destroy());
  (host as unknown as { sharedLink: () => SharedLink | undefined }).sharedLink = () => {
    if (!first.closed) return first;
    second ??= new SharedLink(addrOf(m2), host.masterEpoch + 1, { auth: {}, connectTimeoutMs: 1000 }, () => {}, () => {});
    return second;
  };
  const { client } = await sessionOn(t, host);
  client.send(encode('SET', 'a', '1'));
  await m.waitReceived('SET');
  client.send(encode('SET', 'b', '2')); // waits on the link for the first write's replies
  await waitFor(() => first.inFlight === 2, { timeoutMs: 3000, what: 'the second run staged' });
  m.drop();
  const resent = await m2.waitReceived('SET', 3000).then(
    () => true,
    () => false,
  );
  if (resent) m2.write('+OK\r\n');
  const replies = await client.read(2, 1000).catch((e: Error) => [e.message]);
  t.same(replies, [ErrorReplies.LINK_LOST.toString('latin1'), '+OK\r\n'], 'the sent write: lost in flight; the unsent one: sent again');
});
