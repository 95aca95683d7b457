// The own lane alone (src/session/own-lane.ts): commands on the session's own link, on a fake owner
// (the connection state, the transaction), a BackendLink over a stream, the real request writer,
// a fake splicer mode switch. Covers each command's queue entry (replayable, ack, blocking with its
// CLIENT ID probe), the proxy's own commands (AUTH after RESET, DISCARD, UNWATCH), commands with
// replies off, and the state replayed on a new link.
import t from 'tap';
import { OwnLane, type OwnLaneOwner } from '../../../src/session/own-lane.js';
import type { Links } from '../../../src/session/links.js';
import { RequestWriter } from '../../../src/session/request-writer.js';
import { ClientWriter } from '../../../src/session/client-writer.js';
import { Deque } from '../../../src/session/deque.js';
import type { Entry } from '../../../src/session/reply-queue.js';
import { ReplayState } from '../../../src/session/state.js';
import { Transaction } from '../../../src/session/transaction.js';
import { encodeCommand } from '../../../src/resp/encode.js';
import { ErrorReplies } from '../../../src/errors.js';
import { StubClient, TestConfirmer, command, fakeLink, silentLog, testHost, type FakeNode } from '../../helpers/fake-owners.js';

function laneOn(opts: { split?: boolean; kind?: 'master' | 'read'; masterEpoch?: number; connected?: boolean; auth?: { username?: string; password?: string } } = {}) {
  const host = testHost();
  if (opts.auth) (host as { config: unknown }).config = { ...host.config, auth: opts.auth };
  const node: FakeNode = fakeLink({ masterEpoch: opts.masterEpoch ?? 1, connected: opts.connected ?? true });
  const links = { link: node.link, lastWriteAt: 0 };
  const client = new StubClient();
  const writer = new ClientWriter({ log: silentLog, group: host, maybeFinish: () => {} }, client.asSocket(), { link: undefined, spare: undefined });
  const queue = new Deque<Entry>();
  const splicer = { ackOwed: 0, modes: 0, updateMode: () => void splicer.modes++ };
  const clock = { now: 1234, arrivedAt: 1000, arrived: 0 };
  const owner = {
    kind: opts.kind ?? 'master',
    log: silentLog,
    group: host,
    state: new ReplayState(),
    tx: new Transaction(),
    replyMode: 'on' as OwnLaneOwner['replyMode'],
    unmovable: 'no' as OwnLaneOwner['unmovable'],
    failed: [] as (string | undefined)[],
    dropSpare() {},
    updateInspect() {},
    failSession(reply: Buffer | undefined) {
      owner.failed.push(reply?.toString());
    },
    locals: [] as string[],
    enqueueLocal(reply: Buffer) {
      owner.locals.push(reply.toString());
    },
  } satisfies OwnLaneOwner & Record<string, unknown>;
  const lane = new OwnLane(owner, queue, links as unknown as Links, new RequestWriter(writer), splicer, clock, opts.split ?? false);
  const send = (...words: string[]) => {
    const cmd = command(...words);
    lane.send(cmd, cmd.spec?.kind ?? 'other', cmd.spec);
  };
  const kinds = () => [...queue].map((e) => (e.kind === 'internal' ? (e.clientIdProbe ? 'probe' : 'internal') : e.cmd?.spec?.name));
  return { host, node, links, queue, splicer, owner, lane, send, kinds };
}

const enc = (...w: (string | number)[]) => encodeCommand(w).toString('latin1');

t.test('each command: its bytes on the link, an entry that says whether it may go again if the link dies', async (t) => {
  const s = laneOn();
  s.send('GET', 'k');
  s.send('SUBSCRIBE', 'c');
  s.send('UNSUBSCRIBE');
  s.send('MULTI');
  s.send('GET', 'k');
  s.send('EXEC');
  t.equal(s.node.text, enc('GET', 'k') + enc('SUBSCRIBE', 'c') + enc('UNSUBSCRIBE') + enc('MULTI') + enc('GET', 'k') + enc('EXEC'));
  t.same([...s.queue].map((e) => [e.cmd?.spec?.name, e.replayable]), [
    ['get', true],
    // (Un)subscribes go again in their place, their state change undone first (seed 10009).
    ['subscribe', true],
    ['unsubscribe', true],
    ['multi', false],
    ['get', false], // inside MULTI
    ['exec', false],
  ]);
  t.same([...s.queue].map((e) => e.at), [1000, 1000, 1000, 1000, 1000, 1000], 'arrival from the clock');
  t.ok(s.splicer.modes >= 1, 'the first entry picks the splicer mode');
});

t.test('a blocking command: CLIENT ID asked first (once per link), so that the fence can unblock it; not with replies off', async (t) => {
  const s = laneOn();
  s.send('BLPOP', 'q', '0');
  s.send('BRPOP', 'q', '0');
  t.same(s.kinds(), ['probe', 'blpop', 'brpop']);
  t.equal(s.node.text, enc('CLIENT', 'ID') + enc('BLPOP', 'q', '0') + enc('BRPOP', 'q', '0'));
  t.notOk(s.queue.at(1)!.replayable, 'a blocking command does not go again as a read');
  const off = laneOn();
  off.send('CLIENT', 'REPLY', 'OFF');
  off.send('BLPOP', 'q', '0');
  t.same(off.kinds(), [], 'no entries, and no probe the node would not answer');
});

t.test('writes: their replies wait for a replica when write confirmation is active; the read split starts the read-your-writes window', async (t) => {
  const s = laneOn({ split: true });
  s.host.confirmer = new TestConfirmer(s.node.link.addr);
  s.send('SET', 'k', 'v');
  s.send('GET', 'k');
  s.send('MULTI');
  s.send('EXEC');
  t.same([...s.queue].map((e) => [e.cmd?.spec?.name, e.ack]), [
    ['set', true],
    ['get', false],
    ['multi', false],
    ['exec', true],
  ]);
  t.equal(s.splicer.ackOwed, 2);
  t.equal(s.links.lastWriteAt, 1234, 'when the write left');
  const replica = laneOn({ masterEpoch: -1, split: true });
  replica.host.confirmer = new TestConfirmer(replica.node.link.addr);
  replica.send('GET', 'k');
  t.equal(replica.splicer.ackOwed, 0);
});

t.test('RESET deauthenticates the link: the backend credentials are sent again after it, reply swallowed', async (t) => {
  const s = laneOn({ auth: { username: 'proxy', password: 'pw' } });
  s.send('RESET');
  t.equal(s.node.text, enc('RESET') + enc('AUTH', 'proxy', 'pw'));
  t.same(s.kinds(), ['reset', 'internal']);
  const none = laneOn();
  none.send('RESET');
  t.same(none.kinds(), ['reset'], 'no backend password: nothing to send');
});

t.test('replies off: no entry; on a link not yet connected such commands are remembered in their places, to go again if it never connects', async (t) => {
  const s = laneOn({ connected: false });
  s.send('GET', 'a');
  s.send('CLIENT', 'REPLY', 'OFF');
  s.send('SET', 'k', 'v');
  s.send('CLIENT', 'REPLY', 'ON');
  t.same(s.kinds(), ['get', 'client']);
  const silent = s.lane.takeSilent();
  t.same(silent.map((x) => [x.cmd.spec?.name, x.after?.cmd?.spec?.name]), [
    ['client', 'get'],
    ['set', 'get'],
  ]);
  t.same(s.lane.takeSilent(), [], 'taken once');
  const c = laneOn();
  c.send('CLIENT', 'REPLY', 'OFF');
  c.send('SET', 'k', 'v');
  t.same(c.lane.takeSilent(), [], 'a connected link: nothing to remember');
});

t.test('replay on a new link: the state in order, replies swallowed, subscriptions last and counted per channel', async (t) => {
  const s = laneOn({ auth: { password: 'pw' } });
  const st = s.owner.state;
  st.protocol = st.sentProtocol = 3;
  st.name = 'app';
  st.db = 2;
  st.subs.apply('subscribe', ['a', 'b']);
  st.subs.apply('psubscribe', ['p*']);
  s.lane.replay(s.node.link);
  t.equal(s.node.text, enc('HELLO', '3', 'AUTH', 'default', 'pw', 'SETNAME', 'app') + enc('SELECT', 2) + enc('SUBSCRIBE', 'a', 'b') + enc('PSUBSCRIBE', 'p*'));
  t.same([...s.queue].map((e) => [e.kind, e.expect, e.sub]), [
    ['internal', 1, false],
    ['internal', 1, false],
    ['internal', 2, true],
    ['internal', 1, true],
  ]);
  // The node refuses a step: the session cannot be what the client expects.
  s.queue.at(1)!.done!(false, { type: 0x2d, errorCode: 'ERR', head: undefined, nil: false });
  t.same(s.owner.failed, [ErrorReplies.REPLAY_FAILED.toString()]);
});

t.test('replay with replies off: CLIENT REPLY OFF sent after what answers, no entry for it', async (t) => {
  const s = laneOn();
  s.owner.state.db = 1;
  s.owner.replyMode = 'off';
  s.lane.replay(s.node.link);
  t.equal(s.node.text, enc('SELECT', 1) + enc('CLIENT', 'REPLY', 'OFF'));
  t.equal(s.queue.length, 1);
  t.equal(s.lane.replyModeAtOpen, 'off');
});

t.test("the proxy's DISCARD and UNWATCH: swallowed; no UNWATCH with replies off or in RESP2's pub/sub context", async (t) => {
  const s = laneOn();
  s.lane.discardOnNode();
  s.lane.unwatchOnNode();
  t.equal(s.node.text, enc('DISCARD') + enc('UNWATCH'));
  t.same(s.kinds(), ['internal', 'internal']);
  const off = laneOn();
  off.owner.replyMode = 'off';
  off.lane.unwatchOnNode();
  const sub = laneOn();
  sub.owner.state.subs.apply('subscribe', ['c']);
  sub.lane.unwatchOnNode();
  t.equal(off.node.text + sub.node.text, '');
});

t.test("the proxy's DISCARD with replies off waits for no reply; with a SKIP pending too; a command answered here uses up the node's SKIP with a PING", async (t) => {
  const off = laneOn();
  off.owner.replyMode = 'off';
  off.lane.discardOnNode();
  t.equal(off.node.text, enc('DISCARD'));
  t.same(off.kinds(), [], 'no entry: Redis sends no reply');
  const skip = laneOn();
  skip.owner.replyMode = 'skip';
  skip.lane.discardOnNode();
  t.equal(skip.node.text, enc('DISCARD') + enc('CLIENT', 'REPLY', 'SKIP'), "the DISCARD's reply is the skipped one; the SKIP is set again for the client's next command");
  t.same(skip.kinds(), []);
  const used = laneOn();
  used.lane.useUpSkip();
  t.equal(used.node.text, enc('PING'));
  t.same(used.kinds(), [], 'the PING a command answered here sends is the skipped one');
});

t.test('a broken transaction: EXEC answered here (null), after a pipelined HELLO is answered', async (t) => {
  const s = laneOn();
  s.owner.tx.sent('watch');
  s.owner.tx.sent('multi');
  s.owner.tx.leftLink();
  s.send('HELLO', '3');
  const exec = command('EXEC');
  t.equal(s.lane.brokenTx(exec, 'exec', exec.spec), false, 'waits for the HELLO');
  s.queue.shift();
  t.equal(s.lane.brokenTx(exec, 'exec', exec.spec), true, 'answered');
  t.equal(s.owner.locals.length, 1);
  const get = command('GET', 'k');
  t.equal(s.lane.brokenTx(get, 'get', get.spec), undefined, 'not a command the broken transaction decides');
});

t.test('the read listener: a command sent to the master (no healthy replica) is counted', async (t) => {
  const s = laneOn({ kind: 'read', masterEpoch: 3 });
  s.send('GET', 'k');
  const r = laneOn({ kind: 'read', masterEpoch: -1 });
  r.send('GET', 'k');
  t.equal(s.host.metrics.readsOnMaster.value + r.host.metrics.readsOnMaster.value, 1);
});
