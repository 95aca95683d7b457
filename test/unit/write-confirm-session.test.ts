// Write confirmation in the session (topology.writeSafety: safe; issue 19), on a fake host whose
// confirmer the test drives: a write's reply (and everything after it) reaches the client only
// once the round its ticket names is confirmed; reads alone are not held; a write that cannot be
// confirmed closes the connection instead of being acknowledged.
import t from 'tap';
import { fakeServer } from '../helpers/fake-resp.js';
import { fakeHost, sessionOn } from '../helpers/fake-host.js';
import { encode } from '../helpers/raw.js';
import { waitFor, sleep } from '../helpers/group.js';
import type { ConfirmWaiter, WriteConfirmations } from '../../src/topology/types.js';
import { ErrorReplies } from '../../src/errors.js';

const addrOf = (f: { port: number }) => `127.0.0.1:${f.port}`;

/** A confirmer the test confirms by hand. */
class ScriptedConfirmer implements WriteConfirmations {
  sent = 0;
  readonly waiters = new Set<ConfirmWaiter>();
  active = true;
  constructor(readonly addr: string) {}
  ticket(): number {
    return this.sent + 1;
  }
  /** The round of the tickets given so far is sent; returns its number. */
  send(): number {
    return ++this.sent;
  }
  wait(w: ConfirmWaiter): void {
    this.waiters.add(w);
  }
  forget(w: ConfirmWaiter): void {
    this.waiters.delete(w);
  }
  confirm(n: number): void {
    for (const w of [...this.waiters]) {
      if (w.confirmTicket <= n) {
        this.waiters.delete(w);
        w.confirmed(n);
      }
    }
  }
  fail(reason: string): void {
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w.unconfirmed(reason);
    }
  }
}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const m = await fakeServer();
  t.teardown(() => m.close());
  const host = fakeHost(addrOf(m));
  const c = new ScriptedConfirmer(addrOf(m));
  (host as unknown as { confirmations: (a: string) => unknown }).confirmations = (a: string) => (a === c.addr ? c : null);
  const { session, client } = await sessionOn(t, host);
  return { m, host, c, session, client };
}

t.test('a write\'s reply waits for its round; the read behind it waits too (order)', async (t) => {
  const { m, c, client } = await setup(t);
  client.send(Buffer.concat([encode('SET', 'k', 'v'), encode('GET', 'k')]));
  await m.waitReceived('GET');
  m.write('+OK\r\n$1\r\nv\r\n');
  await waitFor(() => c.waiters.size === 1, { timeoutMs: 3000 });
  await sleep(100);
  const early = await client.read(1, 50).catch(() => 'nothing');
  t.equal(early, 'nothing', 'no reply before the round is confirmed');
  const round = c.send();
  c.confirm(round);
  t.same(await client.read(2, 3000), ['+OK\r\n', '$1\r\nv\r\n'], 'both replies, in order, once confirmed');
});

t.test('a confirmation of an earlier round does not release a later write', async (t) => {
  const { m, c, client } = await setup(t);
  client.send(encode('SET', 'a', '1'));
  await m.waitReceived('SET');
  const before = c.send(); // a round sent before the reply arrived cannot confirm it
  m.write('+OK\r\n');
  await waitFor(() => c.waiters.size === 1, { timeoutMs: 3000 });
  c.confirm(before);
  const early = await client.read(1, 150).catch(() => 'nothing');
  t.equal(early, 'nothing', 'still held after an older round');
  c.confirm(c.send());
  t.same(await client.read(1, 3000), ['+OK\r\n']);
});

t.test('reads alone are not held', async (t) => {
  const { m, c, client } = await setup(t);
  client.send(encode('GET', 'k'));
  await m.waitReceived('GET');
  m.write('$-1\r\n');
  t.same(await client.read(1, 3000), ['$-1\r\n']);
  t.equal(c.waiters.size, 0, 'no wait for a read');
});

t.test('with no replica to wait for (inactive), writes are not held', async (t) => {
  const { m, c, client } = await setup(t);
  c.active = false;
  client.send(encode('INCR', 'n'));
  await m.waitReceived('INCR');
  m.write(':1\r\n');
  t.same(await client.read(1, 3000), [':1\r\n']);
});

t.test('a write that cannot be confirmed gets the in-flight error; the read after it keeps its reply', async (t) => {
  const { m, host, c, client } = await setup(t);
  client.send(Buffer.concat([encode('INCR', 'n'), encode('GET', 'n')]));
  await m.waitReceived('GET');
  m.write(':1\r\n$1\r\n1\r\n');
  await waitFor(() => c.waiters.size === 1, { timeoutMs: 3000 });
  c.fail('the master changed before the write was confirmed');
  t.same(await client.read(2, 3000), [ErrorReplies.LINK_LOST.toString('latin1'), '$1\r\n1\r\n'], 'the INCR may or may not have been executed; the GET is answered');
  t.equal(host.metrics.unconfirmed.value, 1, 'counted');
  t.notOk(client.socket.destroyed, 'the connection stays open');
});

t.test('a reply from a node that is no longer the master cannot be confirmed', async (t) => {
  const { m, host, client } = await setup(t);
  client.send(encode('SET', 'k', 'v'));
  await m.waitReceived('SET');
  // The master changes while the SET's reply is on its way.
  (host as unknown as { confirmations: (a: string) => unknown }).confirmations = () => null;
  m.write('+OK\r\n');
  t.same(await client.read(1, 3000), [ErrorReplies.LINK_LOST.toString('latin1')]);
});
