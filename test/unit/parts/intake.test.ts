// Intake alone (src/session/intake.ts): a fake owner whose dispatch the test decides (send, or must
// wait), a real Holding and request writer on a stub client. Covers framing at every split into
// dispatch calls in order, holding behind a held command, pump, Redis's request limits and protocol
// errors (reported after the commands before them), and the query-buffer limit.
import t from 'tap';
import { Intake, type IntakeOwner } from '../../../src/session/intake.js';
import { Holding, type HoldingOwner } from '../../../src/session/holding.js';
import { RequestWriter } from '../../../src/session/request-writer.js';
import { ClientWriter } from '../../../src/session/client-writer.js';
import { Deque } from '../../../src/session/deque.js';
import type { Entry } from '../../../src/session/reply-queue.js';
import { Transaction } from '../../../src/session/transaction.js';
import { encodeCommand } from '../../../src/resp/encode.js';
import { splitAtOffsets } from '../../helpers/split.js';
import { StubClient, setLimits, silentLog, testHost, type Cmd } from '../../helpers/fake-owners.js';

interface TestOwner extends IntakeOwner {
  life: IntakeOwner['life'];
  /** What dispatch answers (true: sent). */
  accept: (cmd: Cmd) => boolean;
  dispatched: { name: string; again: boolean; arrivedAt: number }[];
  answers: string[];
  protocolErrors: string[];
  teardowns: string[];
}

function intakeOn(limits: Partial<ReturnType<typeof testHost>['config']['limits']> = {}) {
  const host = testHost();
  setLimits(host, limits);
  const client = new StubClient();
  const writer = new ClientWriter({ log: silentLog, group: host, maybeFinish: () => {} }, client.asSocket(), { link: undefined, spare: undefined });
  const queue = new Deque<Entry>();
  const holdingOwner = {
    log: silentLog,
    group: host,
    closed: false,
    kind: 'master',
    tx: new Transaction(),
    unmovable: 'no',
    enqueueLocal: () => {},
    writeClient: () => {},
    teardown: () => {},
    afterPop: () => {},
    maybeFinish: () => {},
    relink: () => {},
    unconnectedSilent: () => [],
  } satisfies HoldingOwner;
  const holding = new Holding(holdingOwner, queue, writer, { reset: () => true, takeReissue: () => [], updateMode: () => {} });
  t.teardown(() => holding.close());
  let intake!: Intake;
  const owner: TestOwner = {
    log: silentLog,
    group: host,
    life: 'open',
    accept: () => true,
    dispatched: [],
    answers: [],
    protocolErrors: [],
    teardowns: [],
    dispatch(cmd, again = false) {
      const ok = owner.accept(cmd);
      if (ok) owner.dispatched.push({ name: cmd.spec?.name ?? (cmd.inline ? 'inline' : '?'), again, arrivedAt: intake.arrivedAt });
      return ok;
    },
    enqueueLocal(reply) {
      owner.answers.push(reply.toString('latin1'));
    },
    protocolError(reason) {
      owner.protocolErrors.push(reason);
    },
    teardown(why) {
      owner.teardowns.push(why);
    },
  };
  intake = new Intake(owner, holding, new RequestWriter(writer));
  const feed = (bytes: string | Buffer, cuts: number[] = []) => {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    for (const c of splitAtOffsets(buf, cuts)) intake.onClientData(c);
  };
  return { host, holding, intake, owner, feed };
}

const names = (o: TestOwner) => o.dispatched.map((d) => d.name);

t.test('a pipeline split at every byte is dispatched command by command, in order (inline commands too)', async (t) => {
  const input = Buffer.concat([encodeCommand(['SET', 'a', '1']), Buffer.from('PING\r\n'), encodeCommand(['GET', 'a']), Buffer.from('\r\n'), encodeCommand(['CLIENT', 'SETNAME', 'x'])]).toString('latin1');
  const want = ['set', 'ping', 'get', 'client'];
  for (let i = 0; i <= input.length; i++) {
    const s = intakeOn();
    const cuts = i === input.length ? Array.from({ length: input.length }, (_, k) => k + 1) : [i];
    s.feed(input, cuts);
    if (names(s.owner).join() !== want.join()) {
      t.same(names(s.owner), want, `cut at ${i === input.length ? 'every byte' : i}`);
      return;
    }
    t.equal(s.host.metrics.commands.value, 4);
  }
});

t.test('a command that must wait is held, and every later one behind it without being offered to dispatch', async (t) => {
  const s = intakeOn();
  let open = false;
  s.owner.accept = (c) => open || c.spec?.name !== 'set';
  s.feed(Buffer.concat([encodeCommand(['GET', 'a']), encodeCommand(['SET', 'a', '1']), encodeCommand(['GET', 'b'])]));
  t.same(names(s.owner), ['get'], 'GET b waits behind SET');
  t.equal(s.holding.held.length, 2);
  t.equal(s.intake.queryBuffered, s.holding.held.bytes, 'held bytes count as query buffer');
  open = true;
  t.ok(s.intake.pump(), 'pump sends everything');
  t.same(names(s.owner), ['get', 'set', 'get']);
  t.equal(s.holding.held.length, 0);
});

t.test('pump: in order, held replies answered in their places, `again` passed on, each with its own arrival; stops at the first that must wait', async (t) => {
  const s = intakeOn();
  const t0 = Date.now() - 5000;
  s.holding.held.push({ type: 'command', cmd: framedOne('GET', 'a'), at: t0, t0: 0, again: true });
  s.holding.held.push({ type: 'reply', reply: Buffer.from('-ERR x\r\n'), at: t0, t0: 0 });
  s.holding.held.push({ type: 'command', cmd: framedOne('SET', 'a', '1'), at: t0 + 1, t0: 0 });
  s.holding.held.push({ type: 'command', cmd: framedOne('BLPOP', 'q', '0'), at: t0 + 2, t0: 0 });
  s.holding.held.push({ type: 'command', cmd: framedOne('GET', 'b'), at: t0 + 3, t0: 0 });
  s.owner.accept = (c) => c.spec?.name !== 'blpop';
  t.notOk(s.intake.pump(), 'BLPOP must wait');
  t.same(s.owner.dispatched, [
    { name: 'get', again: true, arrivedAt: t0 },
    { name: 'set', again: false, arrivedAt: t0 + 1 },
  ]);
  t.same(s.owner.answers, ['-ERR x\r\n']);
  t.equal(s.holding.held.length, 2, 'BLPOP and GET b stay held');
  t.ok(s.intake.arrivedAt >= t0 + 5000 - 50, 'arrivedAt back to now after pump');
});

t.test('protocol errors, worded as Redis (PROTOCOL.md), reported after the commands before them', async (t) => {
  const rows: [string, string, Partial<ReturnType<typeof testHost>['config']['limits']>?][] = [
    ['*3000000000\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*1\r\nfoo\r\n', "ERR Protocol error: expected '$', got 'f'"],
    ['*1\r\n$-5\r\n', 'ERR Protocol error: invalid bulk length'],
    ['set "a b\r\n', 'ERR Protocol error: unbalanced quotes in request'],
    ['x'.repeat(70 * 1024), 'ERR Protocol error: too big inline request'],
    ['*2\r\n$3\r\nGET\r\n$11\r\n', 'ERR Protocol error: invalid bulk length', { maxBulkBytes: 10 }],
    ['*4\r\n', 'ERR Protocol error: invalid multibulk length', { maxMultibulkLength: 3 }],
  ];
  for (const [bad, reply, limits] of rows) {
    const s = intakeOn(limits);
    s.feed(Buffer.concat([encodeCommand(['PING']), Buffer.from('GET a\r\n'), Buffer.from(bad, 'latin1'), encodeCommand(['SET', 'after', '1'])]));
    const label = JSON.stringify(bad.slice(0, 24));
    t.same(names(s.owner), ['ping', 'get'], `${label}: the commands before it are dispatched, none after`);
    t.same(s.owner.protocolErrors, [reply], label);
  }
});

t.test('before authentication, Redis’s tighter limits (a proxy that authenticates clients)', async (t) => {
  const s = intakeOn();
  s.intake.framer.unauthenticated = true;
  s.feed('*11\r\n');
  t.same(s.owner.protocolErrors, ['ERR Protocol error: unauthenticated multibulk length']);
  const s2 = intakeOn();
  s2.intake.framer.unauthenticated = true;
  s2.feed(`*2\r\n$4\r\nAUTH\r\n$${16 * 1024 + 1}\r\n`);
  t.same(s2.owner.protocolErrors, ['ERR Protocol error: unauthenticated bulk length']);
});

t.test('query buffer limit: an incomplete command, or held commands, beyond limits.queryBufferBytes close the session', async (t) => {
  {
    const s = intakeOn({ queryBufferBytes: 100 });
    s.feed(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500\r\n${'v'.repeat(90)}`);
    t.same(s.owner.teardowns, ['query buffer limit'], 'framed but incomplete');
    t.same(s.owner.protocolErrors, [], 'without a reply, as Redis');
  }
  {
    const s = intakeOn({ queryBufferBytes: 100 });
    s.owner.accept = () => false;
    s.feed(encodeCommand(['SET', 'k', 'v'.repeat(40)]));
    t.same(s.owner.teardowns, [], 'one held command within the limit');
    s.feed(encodeCommand(['SET', 'k', 'v'.repeat(40)]));
    t.same(s.owner.teardowns, ['query buffer limit'], 'held commands count');
  }
});

t.test('once draining (QUIT, a protocol error) nothing more is dispatched; once closing nothing is framed', async (t) => {
  const s = intakeOn();
  s.owner.life = 'draining';
  s.feed(encodeCommand(['GET', 'a']));
  t.same(names(s.owner), []);
  t.equal(s.host.metrics.commands.value, 0);
  s.owner.life = 'closing';
  s.feed('*1\r\nfoo\r\n');
  t.same(s.owner.protocolErrors, [], 'not even framed');
});

function framedOne(...words: string[]): Cmd {
  // A command from an earlier chunk (as held ones are): framed alone.
  const s = intakeOn();
  let got: Cmd | undefined;
  s.owner.accept = (c) => {
    got = c;
    return true;
  };
  s.feed(encodeCommand(words));
  return got!;
}
