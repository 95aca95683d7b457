// The write-confirmation gate alone (src/session/confirm-gate.ts), on a fake owner and test
// confirmers: segments per confirmer and round, release in order, and what a failed confirmation
// turns each held buffer into (by its tag).
import t from 'tap';
import { ConfirmGate, type ConfirmGateOwner } from '../../../src/session/confirm-gate.js';
import { ErrorReplies } from '../../../src/errors.js';
import { TestConfirmer } from '../../helpers/fake-owners.js';

const LOST = ErrorReplies.LINK_LOST.toString('latin1');

function gateOn() {
  const out: string[] = [];
  const owner = {
    closed: false as boolean,
    releases: 0,
    unconfirmed: [] as [number, string][],
    toClient: (b: Buffer) => void out.push(b.toString('latin1')),
    afterRelease() {
      owner.releases++;
    },
    unconfirmedWrites(n: number, reason: string) {
      owner.unconfirmed.push([n, reason]);
    },
  } satisfies ConfirmGateOwner & Record<string, unknown>;
  const gate = new ConfirmGate(owner);
  const hold = (s: string, tag = -1) => {
    gate.tag = tag;
    gate.hold(Buffer.from(s, 'latin1'));
    gate.tag = -1;
  };
  return { gate, owner, out, hold, text: () => out.join('') };
}

t.test('one segment per confirmer round: a round releases its segments and the gate waits for the next', async (t) => {
  const { gate, owner, hold, text } = gateOn();
  const c = new TestConfirmer();
  gate.await(c);
  hold('+a\r\n', 1);
  gate.await(c); // same round: same segment
  hold('+b\r\n', 1);
  c.round = 2;
  gate.await(c);
  hold('+c\r\n', 1);
  t.equal(gate.bytes, 12);
  t.equal(gate.confirmTicket, 1);
  c.confirm(1);
  t.equal(text(), '+a\r\n+b\r\n', 'round 1 released');
  t.equal(gate.bytes, 4);
  t.ok(gate.holding);
  t.equal(c.waiters.length, 1, 'waiting again, for round 2');
  t.equal(gate.confirmTicket, 2);
  t.equal(owner.releases, 0, 'not everything released yet');
  c.confirm(2);
  t.equal(text(), '+a\r\n+b\r\n+c\r\n');
  t.notOk(gate.holding);
  t.equal(gate.bytes, 0);
  t.equal(owner.releases, 1);
});

t.test('segments of two confirmers (the master changed) are released in order: the second waits behind the first', async (t) => {
  const { gate, hold, text } = gateOn();
  const c1 = new TestConfirmer('10.0.0.1:6379');
  const c2 = new TestConfirmer('10.0.0.2:6379');
  gate.await(c1);
  hold('+one\r\n', 1);
  gate.await(c2);
  hold('+two\r\n', 1);
  t.equal(c2.waiters.length, 0, 'only the first segment waits');
  c1.confirm(1);
  t.equal(text(), '+one\r\n');
  t.equal(c2.waiters.length, 1, 'then the second');
  c2.confirm(1);
  t.equal(text(), '+one\r\n+two\r\n');
});

t.test('unconfirmed: each held buffer by its tag — as it is (-1), dropped (0: first part of a write reply), n errors (n write replies)', async (t) => {
  // [buffers held with their tags] → what the client gets, write replies counted
  const rows: [[string, number][], string, number][] = [
    [[['+OK\r\n', 1]], LOST, 1],
    [[['$1\r\nx\r\n', -1]], '$1\r\nx\r\n', 0],
    [[['+OK\r\n:1\r\n', 2], ['>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n', -1]], LOST + LOST + '>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n', 2],
    // a write reply split over two buffers: one error, not two, and no half reply
    [[['$5\r\nhe', 0], ['llo\r\n', 1]], LOST, 1],
    [[['$1\r\na\r\n', -1], ['+OK\r\n', 1], ['$1\r\nb\r\n', -1]], '$1\r\na\r\n' + LOST + '$1\r\nb\r\n', 1],
  ];
  for (const [held, want, writes] of rows) {
    const { gate, owner, hold, text } = gateOn();
    const c = new TestConfirmer();
    gate.await(c);
    for (const [s, tag] of held) hold(s, tag);
    c.fail('master changed');
    const label = JSON.stringify(held);
    t.equal(text(), want, label);
    t.same(owner.unconfirmed, writes > 0 ? [[writes, 'master changed']] : [], `${label}: counted`);
    t.equal(owner.releases, 1, `${label}: released`);
  }
});

t.test('unconfirmed on the first confirmer releases its segments only; the next confirmer is waited on', async (t) => {
  const { gate, hold, text } = gateOn();
  const c1 = new TestConfirmer('10.0.0.1:6379');
  const c2 = new TestConfirmer('10.0.0.2:6379');
  gate.await(c1);
  hold('+one\r\n', 1);
  c1.round = 2;
  gate.await(c1);
  hold('+two\r\n', 1);
  gate.await(c2);
  hold('+three\r\n', 1);
  c1.fail('gone');
  t.equal(text(), LOST + LOST, 'both rounds of the first confirmer');
  t.ok(gate.holding);
  t.equal(c2.waiters.length, 1);
  c2.confirm(1);
  t.equal(text(), LOST + LOST + '+three\r\n');
});

t.test('a closed owner gets nothing; forget leaves the confirmer and drops what is held', async (t) => {
  const { gate, owner, hold, text } = gateOn();
  const c = new TestConfirmer();
  gate.await(c);
  hold('+OK\r\n', 1);
  owner.closed = true;
  c.confirm(1);
  t.equal(text(), '');
  const g2 = gateOn();
  g2.gate.await(c);
  g2.hold('+OK\r\n', 1);
  g2.gate.forget();
  t.equal(c.waiters.length, 0);
  t.notOk(g2.gate.holding);
  t.equal(g2.gate.bytes, 0);
});
