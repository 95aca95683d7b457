// Divergences the differential test (test/integration/differential.test.ts) found, each reduced to
// a few commands and checked against what Redis itself answers: the same commands run on a plain
// reference redis-server in each test, so the expectation is Redis's, not ours.
import t from 'tap';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { encode, rawClient, type RawClient } from '../helpers/raw.js';
import { startReference } from '../helpers/model-run.js';

/** Sends `args` on both connections; resolves with each side's next `n` frames. */
async function both(ref: RawClient, prx: RawClient, n: number, ...args: string[]): Promise<[string[], string[]]> {
  ref.send(encode(...args));
  prx.send(encode(...args));
  if (n === 0) return [[], []];
  return Promise.all([ref.read(n), prx.read(n, 15_000).catch((err: Error) => [`(no reply: ${err.message})`])]);
}

/** A raw client on the reference server and one on the proxy, closed on teardown. */
async function clientPair(t: { teardown(fn: () => void): void }, refPort: number, proxyPort: number): Promise<[RawClient, RawClient]> {
  const r = await rawClient(refPort);
  const x = await rawClient(proxyPort);
  t.teardown(() => {
    r.close();
    x.close();
  });
  return [r, x];
}

t.test('proxy and reference', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const refServer = await startReference();
  t.teardown(() => refServer.stop());
  const pair = () => clientPair(t, refServer.port, p.port);

  await t.test('CLIENT REPLY ON after a BLPOP sent with replies off is answered (the proxy hung)', async (t) => {
    const [r, x] = await pair();
    await both(r, x, 0, 'CLIENT', 'REPLY', 'OFF');
    await both(r, x, 0, 'BLPOP', 'rg:l', '0.05');
    const [a, b] = await both(r, x, 1, 'CLIENT', 'REPLY', 'ON');
    t.same(b, a);
    const [c, d] = await both(r, x, 1, 'PING', 'after');
    t.same(d, c);
  });

  // The failover cases (one session each, one failover for all) start once the test above is done.
  const [selR, selX] = await pair();
  const [ctxR, ctxX] = await pair();
  const [wR, wX] = await pair();
  const [offR, offX] = await pair();
  const [txR, txX] = await pair();
  const [blR, blX] = await pair();
  const [, hX] = await pair();
  const [psR, psX] = await pair();
  const [pushR, pushX] = await pair();
  const [dbR, dbX] = await pair();
  // SELECT inside a transaction: the db after EXEC is the one SELECTed there.
  await both(selR, selX, 1, 'MULTI');
  await both(selR, selX, 1, 'SELECT', '3');
  const same = (x: [string[], string[]], what: string) => t.same(x[1], x[0], what);
  same(await both(selR, selX, 1, 'EXEC'), 'EXEC with SELECT 3 inside');
  // MULTI refused in the RESP2 pub/sub context: no transaction is open.
  await both(ctxR, ctxX, 1, 'SUBSCRIBE', 'rg:c');
  same(await both(ctxR, ctxX, 1, 'MULTI'), 'MULTI refused while subscribed');
  // WATCH without MULTI.
  same(await both(wR, wX, 1, 'WATCH', 'rg:w'), 'WATCH');
  // SELECT sent while replies are off: Redis runs it all the same.
  await both(offR, offX, 0, 'CLIENT', 'REPLY', 'OFF');
  await both(offR, offX, 0, 'SELECT', '2');
  same(await both(offR, offX, 1, 'CLIENT', 'REPLY', 'ON'), 'CLIENT REPLY ON');
  same(await both(psR, psX, 1, 'WATCH', 'rg:ps'), 'WATCH (crosses the failover)');
  // A WATCH across the failover in RESP3.
  await hX.cmd('HELLO', '3');
  t.equal(await hX.cmd('WATCH', 'rg:h'), '+OK\r\n');
  // SELECT 1, then SELECT 0 sent with replies skipped, in one write: SELECT 0 runs after SELECT 1.
  await both(dbR, dbX, 1, 'SELECT', '2');
  dbR.send(Buffer.concat([encode('SELECT', '1'), encode('CLIENT', 'REPLY', 'SKIP'), encode('SELECT', '0')]));
  dbX.send(Buffer.concat([encode('SELECT', '1'), encode('CLIENT', 'REPLY', 'SKIP'), encode('SELECT', '0')]));
  same(await Promise.all([dbR.read(1), dbX.read(1)]), 'SELECT 1 (then SELECT 0, unanswered)');
  same(await both(dbR, dbX, 1, 'SET', 'rg:db', 'in-db-0'), 'SET in db 0');
  // A transaction open across the failover (broken: it cannot move).
  same(await both(txR, txX, 1, 'MULTI'), 'MULTI');

  // BLPOP blocked at the fence with a read pipelined behind it (Redis runs the read only once the
  // BLPOP is answered).
  blR.send(Buffer.concat([encode('BLPOP', 'rg:bl', '0'), encode('GET', 'rg:g')]));
  blX.send(Buffer.concat([encode('BLPOP', 'rg:bl', '0'), encode('GET', 'rg:g')]));
  await waitFor(() => [...p.proxy.groups[0].sessions].some((s) => s.describe().inFlight >= 2), { what: 'BLPOP and GET in flight' });

  const old = group.nodes[0].addr;
  await group.failover();
  await waitFor(() => p.proxy.groups[0].master !== old, { what: 'the proxy switched' });

  await t.test('a BLPOP blocked at the fence with a GET pipelined behind it moves with it: not -UNBLOCKED', async (t) => {
    await both(pushR, pushX, 1, 'RPUSH', 'rg:bl', 'v');
    const [a, b] = await Promise.all([blR.read(2), blX.read(2, 15_000).catch((err: Error) => [`(no reply: ${err.message})`])]);
    t.same(b, a);
  });

  await t.test('the EXEC of a broken WATCH pipelined after HELLO 2 answers a RESP2 null (it was a RESP3 null)', async (t) => {
    hX.send(Buffer.concat([encode('HELLO', '2'), encode('MULTI'), encode('EXEC')]));
    const got = await hX.read(3, 15_000);
    t.match(got[0], /^\*14\r\n/, 'HELLO 2');
    t.equal(got[1], '+OK\r\n', 'MULTI');
    t.equal(got[2], '*-1\r\n', 'EXEC: a null reply (a WATCHed key may have changed), in RESP2');
  });

  await t.test('MULTI pipelined after HELLO 3 and SUBSCRIBE opens a transaction (the proxy judged it refused in the RESP2 pub/sub context)', async (t) => {
    const pipeline = Buffer.concat([encode('HELLO', '3'), encode('SUBSCRIBE', 'rg:ps'), encode('MULTI')]);
    psR.send(pipeline);
    psX.send(pipeline);
    const [a, b] = await Promise.all([psR.read(3), psX.read(3, 15_000)]);
    t.same(b.slice(1), a.slice(1), 'SUBSCRIBE and MULTI after HELLO 3');
    const [c, d] = await both(psR, psX, 1, 'MULTI');
    t.same(d, c, 'a second MULTI is nested');
  });

  await t.test('SELECT inside MULTI/EXEC is the db replayed after a failover', async (t) => {
    const [a, b] = await both(selR, selX, 1, 'CLIENT', 'INFO');
    t.equal(/ db=(\d+)/.exec(b[0])?.[1], / db=(\d+)/.exec(a[0])?.[1], `db: Redis ${/ db=(\d+)/.exec(a[0])?.[1]}`);
  });

  await t.test('a SELECT sent with CLIENT REPLY OFF is the db replayed after a failover', async (t) => {
    const [a, b] = await both(offR, offX, 1, 'CLIENT', 'INFO');
    t.equal(/ db=(\d+)/.exec(b[0])?.[1], / db=(\d+)/.exec(a[0])?.[1], `db: Redis ${/ db=(\d+)/.exec(a[0])?.[1]}`);
  });

  await t.test('SELECT 1 | CLIENT REPLY SKIP | SELECT 0 in one write: db 0 is replayed after a failover, not db 1 (seed 10011: BLPOP answered null)', async (t) => {
    const [a, b] = await both(dbR, dbX, 1, 'GET', 'rg:db');
    t.same(b, a, 'GET in db 0');
    const [c, d] = await both(dbR, dbX, 1, 'CLIENT', 'INFO');
    t.equal(/ db=(\d+)/.exec(d[0])?.[1], / db=(\d+)/.exec(c[0])?.[1], `db: Redis ${/ db=(\d+)/.exec(c[0])?.[1]}`);
  });

  await t.test('a MULTI Redis refused opens no transaction: after a failover PING is answered, not +QUEUED', async (t) => {
    const [a, b] = await both(ctxR, ctxX, 1, 'PING');
    t.same(b, a);
  });

  await t.test('EXEC without MULTI after a WATCH crossed a failover is -ERR EXEC without MULTI, not a null reply', async (t) => {
    const [a, b] = await both(wR, wX, 1, 'EXEC');
    t.same(b, a);
  });

  await t.test('an unknown command in a transaction broken by a failover is refused as Redis refuses it, not +QUEUED', async (t) => {
    const [a, b] = await both(txR, txX, 1, 'NOSUCHCMD', 'a', 'b');
    t.same(b, a);
    const [c, d] = await both(txR, txX, 1, 'CLIENT', 'NOSUCHSUB');
    t.same(d, c);
    // Redis aborts the transaction at EXEC (queue-time error); the proxy aborts it too.
    const [e, f] = await both(txR, txX, 1, 'EXEC');
    t.match(e[0], /^-EXECABORT /);
    t.match(f[0], /^-EXECABORT /);
  });
});

t.test('proxy and reference, kill -9 of the master', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group, { failover: { holdTimeoutMs: 30_000 } });
  const refServer = await startReference();
  t.teardown(() => refServer.stop());
  const pair = () => clientPair(t, refServer.port, p.port);
  const old = group.nodes[0];
  const sessions = () => [...p.proxy.groups[0].sessions].map((s) => s.describe());

  // The master stops answering: a session's new link connects (the kernel accepts) but its PING
  // is never answered, so what the session writes stays in the proxy; then the master is killed,
  // so the link never connected and everything it carried must go again on the new master.
  const [offR, offX] = await pair();
  const [wR, wX] = await pair();
  await both(wR, wX, 1, 'WATCH', 'rg:w');
  const [ssR, ssX] = await pair();
  await both(ssR, ssX, 1, 'SUBSCRIBE', 'rg:c');
  await both(ssR, ssX, 1, 'SSUBSCRIBE', 'rg:s');
  const [s2R, s2X] = await pair();
  await both(s2R, s2X, 1, 'SUBSCRIBE', 'rg:c2');
  await both(s2R, s2X, 1, 'SSUBSCRIBE', 'rg:s2');
  const [gmR, gmX] = await pair();
  await both(gmR, gmX, 1, 'CLIENT', 'SETNAME', 'rg-gm'); // a link of its own
  // A WATCH broken by the loss of its link (the master cut it, nothing in flight): what the
  // session sends next goes on a new link, to the stopped master.
  const [kwR, kwX] = await pair();
  await both(kwR, kwX, 1, 'WATCH', 'rg:kw');
  const kwSession = Math.max(...sessions().map((d) => d.id));
  const kwLink = /^:(\d+)/.exec(await kwX.cmd('CLIENT', 'ID'))![1];
  await kwR.cmd('CLIENT', 'ID');
  await old.call('CLIENT', 'KILL', 'ID', kwLink);
  await waitFor(() => sessions().some((d) => d.id === kwSession && d.node === undefined), { what: 'the WATCHing session without a link' });
  old.sigstop();
  // A command sent on the new link (it never connects) and a MULTI answered by the proxy (the
  // WATCH is broken) behind it.
  kwR.send(Buffer.concat([encode('CLIENT', 'SETNAME', 'rg-kw'), encode('MULTI')]));
  kwX.send(Buffer.concat([encode('CLIENT', 'SETNAME', 'rg-kw'), encode('MULTI')]));
  // A PING in flight in the RESP2 pub/sub context of a session with a shard channel.
  await both(s2R, s2X, 0, 'PING');
  // A read then MULTI in flight: the read goes again, the MULTI's outcome is unknown.
  gmR.send(Buffer.concat([encode('GET', 'rg:k'), encode('MULTI')]));
  gmX.send(Buffer.concat([encode('GET', 'rg:k'), encode('MULTI')]));
  // A read in flight on a connected link when the master dies, in a session that WATCHes a key.
  await both(wR, wX, 0, 'GET', 'rg:k');
  await both(offR, offX, 0, 'SELECT', '2');
  offR.send(encode('CLIENT', 'REPLY', 'OFF'));
  offR.send(encode('INCR', 'rg:n'));
  offX.send(Buffer.concat([encode('CLIENT', 'REPLY', 'OFF'), encode('INCR', 'rg:n')]));
  await waitFor(() => sessions().filter((d) => d.node === old.addr && d.inFlight >= 1).length >= 5, { what: 'the commands written to the stopped master' });
  await old.kill('SIGKILL');
  await waitFor(() => p.proxy.groups[0].master !== old.addr && p.proxy.groups[0].master !== undefined, { timeoutMs: 60_000, what: 'the proxy switched' });

  await t.test('a GET in flight when the master is killed, with a key WATCHed (not MULTI), is re-sent, not RSP_LINK_LOST', async (t) => {
    const [a, b] = await Promise.all([wR.read(1), wX.read(1, 30_000).catch((err: Error) => [`(no reply: ${err.message})`])]);
    t.same(b, a);
  });

  await t.test('a GET then MULTI in flight when the master is killed: the GET goes again and is answered, not +QUEUED', async (t) => {
    const [a, b] = await Promise.all([gmR.read(2), gmX.read(2, 30_000).catch((err: Error) => [`(no reply: ${err.message})`])]);
    t.equal(b[0], a[0], 'GET');
    t.match(b[1], /^(\+OK|-ERR connection to the master was lost)/, 'MULTI: OK, or its outcome is unknown (RSP_LINK_LOST)');
  });

  await t.test('CLIENT SETNAME then MULTI (answered by the proxy: the WATCH was broken) on a link that never connected: SETNAME is answered +OK, not +QUEUED (seeds 10001, 10006)', async (t) => {
    const [a, b] = await Promise.all([kwR.read(2), kwX.read(2, 30_000).catch((err: Error) => [`(no reply: ${err.message})`])]);
    t.same(b, a, 'CLIENT SETNAME, MULTI');
    const [c, d] = await both(kwR, kwX, 1, 'CLIENT', 'SETNAME', 'rg-kw2');
    t.same(d, c, 'a command in the transaction is queued');
  });

  await t.test('a session subscribed to a channel and a shard channel, idle at a kill -9, gets both back', async (t) => {
    const [, pub] = await pair();
    await waitFor(async () => (await pub.cmd('PUBLISH', 'rg:c', 'm')) === ':1\r\n', { timeoutMs: 30_000, what: 'the channel subscription back' });
    t.equal(await pub.cmd('SPUBLISH', 'rg:s', 'm'), ':1\r\n', 'SPUBLISH finds the shard subscription');
  });

  await t.test('a session subscribed to a channel and a shard channel with a PING in flight at a kill -9 gets both back', async (t) => {
    const [got] = await s2X.read(1, 30_000);
    t.match(got, /^(\*2\r\n\$4\r\npong|-ERR connection to the master was lost)/, 'PING: pong, or its outcome is unknown');
    const [, pub] = await pair();
    await waitFor(async () => (await pub.cmd('PUBLISH', 'rg:c2', 'm')) === ':1\r\n', { timeoutMs: 30_000, what: 'the channel subscription back' });
    t.equal(await pub.cmd('SPUBLISH', 'rg:s2', 'm'), ':1\r\n', 'SPUBLISH finds the shard subscription');
  });

  await t.test('SELECT then INCR with CLIENT REPLY OFF on a link that never connected: SELECT is answered, INCR runs (the session hung)', async (t) => {
    const [a, b] = await Promise.all([offR.read(1), offX.read(1, 30_000).catch((err: Error) => [`(no reply: ${err.message})`])]);
    t.same(b, a, 'SELECT 2');
    const [c, d] = await both(offR, offX, 1, 'CLIENT', 'REPLY', 'ON');
    t.same(d, c, 'CLIENT REPLY ON');
    const [e, f] = await both(offR, offX, 1, 'GET', 'rg:n');
    t.same(f, e, 'the INCR sent with replies off ran once, in db 2');
  });
});
