// Session defects of issue 15 that need a fault real Redis cannot produce on demand (a link that
// never connects, a node that never answers an UNBLOCK, a link dropped between two confirmations),
// shown on a session of a fake host (test/helpers/fake-host.ts) with fake nodes.
import t, { type Test } from 'tap';
import { fakeServer } from '../helpers/fake-resp.js';
import { fakeHost, sessionOn, closedAddr } from '../helpers/fake-host.js';
import { encode } from '../helpers/raw.js';
import { waitFor, sleep } from '../helpers/group.js';

const addrOf = (f: { port: number }) => `127.0.0.1:${f.port}`;

/** Fake nodes `a` (the master) and `c`, and a session on a fake host whose master is `a`. */
async function twoNodes(t: Test) {
  const a = await fakeServer();
  const c = await fakeServer();
  t.teardown(() => a.close());
  t.teardown(() => c.close());
  const host = fakeHost(addrOf(a));
  return { a, c, host, ...(await sessionOn(t, host)) };
}

/**
 * A session on fake node `a` that ran each command of `ran` (answered with its reply there), then
 * was told the master moved to a port that refuses connections: what it sends next goes to a link
 * that never connects (and is retried) until `moveToC()` names node `c` the master.
 */
async function strandedSession(t: Test, ran: [string[], string][]) {
  const { a, c, host, session, client } = await twoNodes(t);
  for (const [cmd, reply] of ran) {
    client.send(encode(...cmd));
    await a.waitReceived(cmd[0]);
    a.write(reply);
    t.equal((await client.read(1))[0], reply);
  }
  host.setMaster(await closedAddr());
  session.onTopologyChange();
  return {
    c,
    session,
    client,
    moveToC() {
      host.setMaster(addrOf(c));
      session.onTopologyChange();
    },
  };
}

t.test('a transaction answered locally as broken is not re-sent without its WATCH when the new link never connects (defect 3)', async (t) => {
  // The master changes to a node whose port refuses connections: the WATCH cannot move.
  const { c, client, moveToC } = await strandedSession(t, [[['WATCH', 'k'], '+OK\r\n']]);
  client.send(Buffer.concat([encode('GET', 'x'), encode('MULTI'), encode('SET', 'k', 'v'), encode('EXEC')]));
  await sleep(300); // the link to the closed port fails (and is retried) meanwhile
  moveToC();
  await c.waitReceived('GET');
  c.write('$-1\r\n');
  // The transaction is decided once the GET is answered (it could have gone again, in front of
  // it); its end unwatches on the new link what may have been WATCHed there since, as Redis would.
  await waitFor(() => c.received().includes('UNWATCH'), { timeoutMs: 3000, what: 'the UNWATCH' }).then(
    () => c.write('+OK\r\n'),
    () => t.fail('no UNWATCH on the new link'),
  );
  const replies = await client.read(4, 3000).catch((e: Error) => [e.message]);
  t.same(replies, ['$-1\r\n', '+OK\r\n', '+QUEUED\r\n', '*-1\r\n'], 'the transaction fails as Redis fails a WATCHed one');
  await sleep(200);
  t.notMatch(c.received(), /EXEC/, 'the EXEC never reached the new master');
  t.notMatch(c.received(), /MULTI/, 'nor its MULTI');
});

t.test('GET then RESET on a link that never connects: the GET goes again in the db it was sent in (putting RESET back reset the session first)', async (t) => {
  const { c, client, moveToC } = await strandedSession(t, [[['SELECT', '2'], '+OK\r\n']]);
  client.send(Buffer.concat([encode('GET', 'x'), encode('RESET')]));
  await sleep(300); // the link to the closed port fails (and is retried) meanwhile
  moveToC();
  await c.waitReceived('RESET');
  const got = c.received();
  t.match(got, /SELECT\r\n\$1\r\n2\r\n[^]*GET\r\n[^]*RESET/, 'the new link is in db 2 before the GET, reset after it');
});

t.test('a protocol error behind held commands is still answered after a failed connection (defect 3)', async (t) => {
  const c = await fakeServer();
  t.teardown(() => c.close());
  const host = fakeHost(await closedAddr());
  const { session, client } = await sessionOn(t, host);
  // GET goes to a link that never connects; the protocol error waits its turn behind it.
  client.send(Buffer.concat([encode('GET', 'x'), Buffer.from('*1\r\nfoo\r\n')]));
  await sleep(300);
  host.setMaster(addrOf(c));
  session.onTopologyChange();
  await c.waitReceived('GET');
  c.write('$-1\r\n');
  const all = await client.closed(3000).catch((e: Error) => e.message);
  t.match(all, /^\$-1\r\n-ERR Protocol error: expected '\$', got 'f'\r\n$/, 'GET answered, then the protocol error, then closed');
});

t.test('a command waiting for a command boundary is not given the failover hold timeout (defect 5)', async (t) => {
  const m = await fakeServer();
  const r = await fakeServer();
  t.teardown(() => m.close());
  t.teardown(() => r.close());
  const host = fakeHost(addrOf(m), { failover: { holdTimeoutMs: 300 }, reads: { routeReads: 'replica', readYourWritesMs: 0 } });
  host.setReplicas([addrOf(r)]);
  const { client } = await sessionOn(t, host);
  // A read in flight on the replica (slow to answer); the write behind it waits for it, whatever
  // the failover hold timeout, since the master is healthy.
  client.send(Buffer.concat([encode('GET', 'a'), encode('SET', 'b', '1')]));
  await r.waitReceived('GET');
  await sleep(900);
  r.write('$1\r\nA\r\n');
  t.equal((await client.read(1, 3000))[0], '$1\r\nA\r\n');
  await waitFor(() => m.received().includes('SET'), { timeoutMs: 3000, what: 'the SET sent to the master' });
  m.write('+OK\r\n');
  t.equal((await client.read(1, 3000))[0], '+OK\r\n');
});

t.test('the read-your-writes window counts from when the write was sent, not from its arrival (defect 6)', async (t) => {
  const m = await fakeServer();
  const r = await fakeServer();
  t.teardown(() => m.close());
  t.teardown(() => r.close());
  const host = fakeHost(undefined, { reads: { routeReads: 'replica', readYourWritesMs: 500 } });
  host.setReplicas([addrOf(r)]);
  const { session, client } = await sessionOn(t, host);
  client.send(encode('SET', 'k', 'v')); // held: no master yet
  await sleep(800);
  host.setMaster(addrOf(m));
  session.onTopologyChange();
  await m.waitReceived('SET');
  m.write('+OK\r\n');
  t.equal((await client.read(1))[0], '+OK\r\n');
  client.send(encode('GET', 'k'));
  await waitFor(() => m.received().includes('GET') || r.received().includes('GET'), { timeoutMs: 3000, what: 'the GET sent' });
  t.match(m.received(), /GET/, 'the read right after the write goes to the master');
  t.notMatch(r.received(), /GET/, 'not to the replica');
});

t.test('a blocked command whose UNBLOCK went unanswered is cut once the master changes, however late (defect 8: cut timer re-armed)', async (t) => {
  const a = await fakeServer();
  t.teardown(() => a.close());
  const host = fakeHost(addrOf(a));
  const { session, client } = await sessionOn(t, host);
  client.send(encode('BLPOP', 'k', '0'));
  await a.waitReceived('BLPOP');
  t.match(a.received(), /CLIENT\r\n\$2\r\nID/, 'the session asked for its CLIENT ID');
  a.write(':7\r\n');
  await sleep(100);
  // A replica was promoted; the new master is not verified yet when the first cut check runs.
  session.onPromoted();
  t.same(host.unblocks, [[addrOf(a), 7]], 'asked the old master to unblock it');
  await sleep(1500);
  host.setMaster(await closedAddr());
  session.onTopologyChange();
  await waitFor(() => session.describe().node !== addrOf(a), { timeoutMs: 5000, what: 'the link to the old master cut' });
  const reply = (await client.read(1, 3000))[0];
  t.match(reply, /^-ERR connection to the master was lost/, 'the client is told, not left waiting');
});

t.test('a link lost with several confirmations owed answers each of them (defect 8)', async (t) => {
  const a = await fakeServer();
  t.teardown(() => a.close());
  const host = fakeHost(addrOf(a));
  const { client } = await sessionOn(t, host);
  client.send(encode('SUBSCRIBE', 'a', 'b', 'c'));
  await a.waitReceived('SUBSCRIBE');
  a.write('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n');
  t.equal((await client.read(1))[0], '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n');
  a.drop();
  const rest = await client.read(2, 3000).catch((e: Error) => [e.message]);
  t.equal(rest.length, 2, `two more replies: ${JSON.stringify(rest)}`);
  for (const x of rest) t.match(x, /^-ERR connection to the master was lost/);
});

t.test('a replica link paused for a slow client is resumed when the session switches back to it (defect 4)', async (t) => {
  const m = await fakeServer();
  const r = await fakeServer();
  t.teardown(() => m.close());
  t.teardown(() => r.close());
  const host = fakeHost(addrOf(m), { reads: { routeReads: 'replica', readYourWritesMs: 0 } });
  host.setReplicas([addrOf(r)]);
  const { session, client } = await sessionOn(t, host);
  client.send(encode('GET', 'a'));
  await r.waitReceived('GET');
  r.write('$1\r\nA\r\n');
  t.equal((await client.read(1))[0], '$1\r\nA\r\n');
  // As the session does when the client is behind (output buffer past the soft limit): the link
  // feeding it is paused, to be resumed when the client drains. The client drains while the
  // session uses its master link, not this one.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (session as any).links.link.socket.pause();
  client.send(encode('SET', 'b', '1'));
  await waitFor(() => m.received().includes('SET'), { timeoutMs: 3000, what: 'the SET on the master' });
  m.write('+OK\r\n');
  t.equal((await client.read(1))[0], '+OK\r\n');
  session.client.emit('drain');
  client.send(encode('GET', 'c'));
  await waitFor(() => (r.received().match(/GET/g) ?? []).length === 2, { timeoutMs: 3000, what: 'the second GET on the replica' });
  r.write('$1\r\nC\r\n');
  const got = await client.read(1, 3000).catch((e: Error) => [e.message]);
  t.same(got, ['$1\r\nC\r\n'], 'the replica link reads again');
});

t.test('a PSUBSCRIBE then MULTI sent on a link that never connects, with a broken WATCH: PSUBSCRIBE goes again and is confirmed, not answered +QUEUED (issue 15, seed 20261205)', async (t) => {
  // The master dies (kill -9): the session leaves it (the WATCH is broken) and its next link goes
  // to a port that refuses connections, carrying the PSUBSCRIBE; the MULTI behind it is the broken
  // transaction's to answer.
  const { c, session, client, moveToC } = await strandedSession(t, [
    [['HELLO', '3'], '%1\r\n$5\r\nproto\r\n:3\r\n'],
    [['WATCH', 'k'], '+OK\r\n'],
  ]);
  client.send(Buffer.concat([encode('PSUBSCRIBE', 'q?', 'c*', 'c*'), encode('MULTI')]));
  await sleep(300); // the link to the closed port fails (and is retried) meanwhile
  moveToC();
  const confirm = (p: string, n: number) => `>3\r\n$10\r\npsubscribe\r\n$${p.length}\r\n${p}\r\n:${n}\r\n`;
  const sent = await waitFor(() => c.received().includes('PSUBSCRIBE'), { timeoutMs: 3000, what: 'the PSUBSCRIBE sent' }).then(
    () => true,
    () => false,
  );
  t.ok(sent, 'the PSUBSCRIBE reached the new master');
  // The new link is told HELLO 3 first (the session's protocol), then gets the PSUBSCRIBE.
  if (sent) c.write('%1\r\n$5\r\nproto\r\n:3\r\n' + confirm('q?', 1) + confirm('c*', 2) + confirm('c*', 2));
  const replies = await client.read(4, 3000).catch((e: Error) => [e.message]);
  t.same(replies, [confirm('q?', 1), confirm('c*', 2), confirm('c*', 2), '+OK\r\n'], 'three confirmations, then MULTI answered +OK');
  t.same([...session.state.subs.patterns], ['q?', 'c*'], 'the patterns the session replays on its next link');
  t.notMatch(c.received(), /MULTI/, 'the MULTI of the broken transaction did not reach the new master');
});

t.test('a GET then SSUBSCRIBE in flight when the master dies: the GET goes again before the subscription, which goes again too (issue 15, seed 10009: the replayed SSUBSCRIBE put the new link in the RESP2 pub/sub context and the GET was refused)', async (t) => {
  const { a, c, host, session, client } = await twoNodes(t);
  client.send(Buffer.concat([encode('GET', 'k'), encode('SSUBSCRIBE', 's1')]));
  await a.waitReceived('SSUBSCRIBE');
  // The master dies with both in flight (nothing answered); the new master is C.
  host.setMaster(addrOf(c));
  a.drop();
  await waitFor(() => c.received().includes('GET'), { timeoutMs: 3000, what: 'the GET sent again' }).catch(() => undefined);
  const got = c.received();
  t.match(got, /GET/, 'the GET goes again');
  t.ok(!/SSUBSCRIBE/.test(got.slice(0, Math.max(0, got.indexOf('GET')))), `nothing puts the new link in the pub/sub context before the GET: ${JSON.stringify(got)}`);
  c.write('$1\r\nv\r\n');
  await waitFor(() => c.received().includes('SSUBSCRIBE'), { timeoutMs: 3000, what: 'the SSUBSCRIBE sent again' }).catch(() => undefined);
  c.write('*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n');
  const replies = await client.read(2, 3000).catch((e: Error) => [e.message]);
  t.same(replies, ['$1\r\nv\r\n', '*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n'], 'the GET answered, then the SSUBSCRIBE confirmed (it has no side effect: it goes again like a read)');
  t.same([...session.state.subs.shardChannels], ['s1'], 'subscribed once');
});
