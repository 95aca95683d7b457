// Write confirmation across a master change (src/topology/write-confirm.ts, handOver): replies
// still waiting when the master changes are judged against the promoted replica's view of the old
// history (INFO replication: master_replid2, second_repl_offset), with fake nodes scripting what
// real Redis does at a planned failover — the replica Sentinel promotes stops acknowledging the old
// master (REPLICAOF NO ONE) while the old master's last writes had already reached it.
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { fakeServer, type Fake } from '../helpers/fake-resp.js';
import { waitFor } from '../helpers/group.js';
import { defaultGroupConfig } from '../../src/config/defaults.js';
import { WriteConfirmer } from '../../src/topology/write-confirm.js';
import type { ConfirmWaiter } from '../../src/topology/types.js';

const addrOf = (f: { port: number }) => `127.0.0.1:${f.port}`;
const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const info = (fields: Record<string, string | number>) => bulk(`# Replication\r\n${Object.entries(fields).map(([k, v]) => `${k}:${v}`).join('\r\n')}\r\n`);
const OLD_ID = 'a'.repeat(40);

class Waiter implements ConfirmWaiter {
  outcome: string | undefined;
  constructor(readonly confirmTicket: number) {}
  confirmed(round: number): void {
    this.outcome = `confirmed ${round}`;
  }
  unconfirmed(reason: string): void {
    this.outcome = `unconfirmed: ${reason}`;
  }
}

/**
 * A confirmer on fake old master `old` whose first round is sent and marked at offset 1000 of
 * OLD_ID (ROLE answered), its WAIT never answered (the replica was detached); one waiter on it.
 */
async function roundInFlight(t: Test) {
  const old = await fakeServer();
  t.teardown(() => old.close());
  const cfg = defaultGroupConfig({ name: 'm', listen: '127.0.0.1:0', sentinels: ['127.0.0.1:1'], topology: { connectTimeoutMs: 500 } });
  const c = new WriteConfirmer(addrOf(old), () => cfg, pino({ level: 'silent' }), () => 1);
  t.teardown(() => c.stop());
  const w = new Waiter(c.ticket());
  c.wait(w);
  await old.waitReceived('INFO');
  old.write(info({ role: 'master', master_replid: OLD_ID, master_repl_offset: 990 }));
  await old.waitReceived('WAIT');
  old.write(':0\r\n*3\r\n$6\r\nmaster\r\n:1000\r\n*0\r\n');
  await new Promise((r) => setTimeout(r, 20));
  t.equal(w.outcome, undefined, 'the write waits for its round');
  return { c, w };
}

async function promote(t: Test, c: WriteConfirmer, reply: ((next: Fake) => void) | undefined) {
  const next = await fakeServer();
  t.teardown(() => next.close());
  c.handOver(addrOf(next));
  await next.waitReceived('INFO');
  reply?.(next);
}

t.test('the promoted replica holds the round: the write is confirmed, not answered with the in-flight error', async (t) => {
  const { c, w } = await roundInFlight(t);
  await promote(t, c, (n) => n.write(info({ role: 'master', master_replid: 'b'.repeat(40), master_replid2: OLD_ID, second_repl_offset: 1001 })));
  await waitFor(() => w.outcome !== undefined, { what: 'the outcome' });
  t.equal(w.outcome, 'confirmed 1');
  const later = new Waiter(1);
  c.wait(later);
  await waitFor(() => later.outcome !== undefined, { what: 'a waiter that registers after the decision' });
  t.equal(later.outcome, 'confirmed 1', 'a segment registering afterwards with a ticket up to it is confirmed too');
  const after = new Waiter(2);
  c.wait(after);
  t.match(after.outcome, /^unconfirmed/, 'a later ticket (a write answered after that round was sent) is not');
});

t.test('the promoted replica left the old history before the round: not confirmed', async (t) => {
  const { c, w } = await roundInFlight(t);
  await promote(t, c, (n) => n.write(info({ role: 'master', master_replid2: OLD_ID, second_repl_offset: 1000 })));
  await waitFor(() => w.outcome !== undefined, { what: 'the outcome' });
  t.match(w.outcome, /^unconfirmed: the master changed/);
});

t.test('the new master has another history (not the replica that was promoted from it): not confirmed', async (t) => {
  const { c, w } = await roundInFlight(t);
  await promote(t, c, (n) => n.write(info({ role: 'master', master_replid2: 'c'.repeat(40), second_repl_offset: 5000 })));
  await waitFor(() => w.outcome !== undefined, { what: 'the outcome' });
  t.match(w.outcome, /^unconfirmed/);
});

t.test('the new master does not answer: not confirmed, within connectTimeoutMs', async (t) => {
  const { c, w } = await roundInFlight(t);
  const start = Date.now();
  await promote(t, c, undefined);
  await waitFor(() => w.outcome !== undefined, { what: 'the outcome', timeoutMs: 5000 });
  t.match(w.outcome, /^unconfirmed/);
  t.ok(Date.now() - start < 3000, 'decided after the connect timeout, not the hold timeout');
});
