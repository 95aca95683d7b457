// The links alone (src/session/links.ts): a fake owner, the group as a test host, links opened over
// fake connections (Links.connect, no network), the client writer on a stub client, fake reader and
// loss sides. Covers where a command goes and when a link is opened, switched or left (only at a
// command boundary), the read split's spare, stale callbacks, the relink backoff, and the failover
// reactions (onFence, onPromoted, onTopologyChange).
import t from 'tap';
import { Links, type LinksOwner } from '../../../src/session/links.js';
import { ClientWriter } from '../../../src/session/client-writer.js';
import { Deque } from '../../../src/session/deque.js';
import type { Entry } from '../../../src/session/reply-queue.js';
import type { BackendLink } from '../../../src/session/backend-link.js';
import { ReplayState } from '../../../src/session/state.js';
import { Transaction } from '../../../src/session/transaction.js';
import { FakeConnector, StubClient, command, entry, silentLog, testHost, until } from '../../helpers/fake-owners.js';

const M1 = '10.0.0.1:6379';
const M2 = '10.0.0.2:6379';
const R1 = '10.0.0.11:6379';

function linksOn(opts: { kind?: 'master' | 'read'; split?: boolean } = {}) {
  const host = testHost(M1, { reads: { routeReads: opts.split ? 'replica' : 'master' } });
  const client = new StubClient();
  const queue = new Deque<Entry>();
  let links!: Links;
  const writer = new ClientWriter({ log: silentLog, group: host, maybeFinish: () => {} }, client.asSocket(), {
    get link() {
      return links.link;
    },
    get spare() {
      return links.spare;
    },
  });
  const owner = {
    log: silentLog,
    group: host,
    kind: opts.kind ?? 'master',
    closed: false,
    tx: new Transaction(),
    state: new ReplayState(),
    unmovable: 'no' as LinksOwner['unmovable'],
    replayed: [] as BackendLink[],
    pumps: 0,
    teardowns: [] as string[],
    flushWrites() {},
    replay(link: BackendLink) {
      owner.replayed.push(link);
    },
    updateInspect() {},
    pump() {
      owner.pumps++;
    },
    teardown(why: string) {
      owner.teardowns.push(why);
    },
  } satisfies LinksOwner & Record<string, unknown>;
  const data: [BackendLink, string][] = [];
  const closed: BackendLink[] = [];
  const reader = { onLinkData: (l: BackendLink, c: Buffer) => void data.push([l, c.toString('latin1')]), reset: () => true };
  const loss = { linkClosed: (l: BackendLink) => void closed.push(l) };
  const clock = { now: Date.now(), arrivedAt: Date.now(), arrived: 0 };
  links = new Links(owner, queue, reader, writer, loss, clock, opts.split ?? false);
  const nodes = new FakeConnector();
  links.connect = nodes.connect;
  t.teardown(() => links.close());
  /** Where `words` would go now, and whether it can be written (opening/switching as needed). */
  const go = (...words: string[]): string => {
    const tgt = links.targetFor(command(...words).spec);
    if (tgt === undefined) return 'hold';
    return `${links.canSendTo(tgt) ? 'send' : 'wait'} ${tgt.addr}${tgt.epoch === -1 ? ' (replica)' : ''}`;
  };
  return { host, client, queue, owner, links, nodes, data, closed, clock, go };
}

t.test('the first command opens a link to the master and replays the state on it; commands are held while the group holds', async (t) => {
  const s = linksOn();
  s.host.blocked = true;
  t.equal(s.go('GET', 'k'), 'hold');
  s.host.blocked = false;
  t.equal(s.go('GET', 'k'), `send ${M1}`);
  t.equal(s.nodes.opened.length, 1);
  t.same(s.owner.replayed, [s.links.link]);
  t.equal(s.host.metrics.backendConnects.value, 1);
  t.equal(s.go('SET', 'k', 'v'), `send ${M1}`, 'the same link');
  t.equal(s.nodes.opened.length, 1);
});

t.test('a new master: the session moves only at a command boundary; its transaction cannot move (broken)', async (t) => {
  const s = linksOn();
  s.go('GET', 'k');
  const first = s.links.link!;
  s.owner.tx.sent('watch');
  s.queue.push(entry('forward', command('GET', 'k'), { link: first }));
  s.host.setMaster(M2);
  t.equal(s.go('GET', 'k'), `wait ${M2}`, 'replies in flight on the old link: wait');
  t.equal(s.links.link, first);
  s.queue.clear();
  t.equal(s.go('GET', 'k'), `send ${M2}`);
  t.not(s.links.link, first);
  t.ok(s.owner.tx.broken, 'the WATCH was on the old master');
  await until(() => first.closed);
  t.same(s.closed, [], 'a link left on purpose is not reported as lost');
});

t.test('callbacks of a link the session has left are dropped; the current link’s data and loss are passed on', async (t) => {
  const s = linksOn();
  s.go('GET', 'k');
  const [c1] = s.nodes.opened;
  c1.send('+PONG\r\n$1\r\nx\r\n');
  t.same(s.data.map(([, d]) => d), ['$1\r\nx\r\n']);
  s.host.setMaster(M2);
  s.go('GET', 'k');
  const c2 = s.nodes.opened[1];
  c1.send('$1\r\nlate\r\n');
  t.same(s.data.length, 1, 'the old link’s bytes are dropped');
  c2.socket.destroy();
  await until(() => s.closed.length === 1);
  t.equal(s.links.link, undefined);
});

t.test('read split: reads to a replica, writes to the master; the other link kept as the spare and swapped back', async (t) => {
  const s = linksOn({ split: true });
  s.host.setReplicas([R1]);
  t.equal(s.go('GET', 'k'), `send ${R1} (replica)`);
  const replica = s.links.link!;
  t.equal(s.go('SET', 'k', 'v'), `send ${M1}`);
  const master = s.links.link!;
  t.equal(s.links.spare, replica, 'the replica link waits as the spare');
  replica.socket.pause(); // paused for this client before
  t.equal(s.go('GET', 'k'), `send ${R1} (replica)`);
  t.equal(s.links.link, replica, 'swapped back, no new link');
  t.equal(s.links.spare, master);
  t.notOk(replica.socket.isPaused(), 'resumed: the client is not behind (issue 15, defect 4)');
  t.equal(s.nodes.opened.length, 2);
  t.equal(s.host.metrics.splitReads.value, 2);
  s.owner.tx.sent('multi');
  t.equal(s.go('GET', 'k'), `send ${M1}`, 'inside MULTI reads go to the master');
});

t.test('the read listener: a replica, leased and given back on close; no healthy replica: the master (fallback)', async (t) => {
  const s = linksOn({ kind: 'read' });
  t.equal(s.go('GET', 'k'), `send ${M1}`, 'no replica: fallback master');
  s.host.setReplicas([R1]);
  s.links.end();
  t.equal(s.go('GET', 'k'), `send ${R1} (replica)`);
  t.same(s.host.replicas.sessions(), { [R1]: 1 }, 'leased');
  t.equal(s.go('GET', 'k'), `send ${R1} (replica)`);
  t.same(s.host.replicas.sessions(), { [R1]: 1 }, 'once per session');
  s.links.close();
  t.equal(s.links.link, undefined);
  t.same(s.host.replicas.sessions(), {}, 'given back');
});

t.test('relink backoff: 50 ms, doubling; a topology change stops it', async (t) => {
  const s = linksOn();
  s.links.scheduleRelink();
  t.ok(s.links.backingOff);
  await until(() => s.owner.pumps === 1);
  t.notOk(s.links.backingOff);
  s.links.scheduleRelink();
  t.ok(s.links.backingOff, 'backing off again (100 ms)');
  t.ok(s.links.onTopologyChange());
  t.notOk(s.links.backingOff, 'a new master is worth trying at once');
});

t.test('onFence: the first blocked command on the link is asked to unblock, once', async (t) => {
  const s = linksOn();
  s.go('BLPOP', 'q', '0');
  const link = s.links.link!;
  link.clientId = 42;
  s.queue.push(entry('forward', command('BLPOP', 'q', '0'), { link, blocking: true }));
  s.queue.push(entry('forward', command('BLPOP', 'r', '0'), { link, blocking: true }));
  s.links.onFence();
  t.same(s.host.unblocks, [[M1, 42]], 'the first only (Redis runs the next after it; the splicer asks for that one when the first comes back -UNBLOCKED)');
  t.notOk(s.queue.at(1)!.unblockRequested);
  s.links.onFence();
  t.same(s.host.unblocks, [[M1, 42], [M1, 42]], 'a second fence call: the next');
  t.ok(s.queue.at(0)!.unblockRequested && s.queue.at(1)!.unblockRequested);
  const none = linksOn();
  none.go('BLPOP', 'q', '0');
  none.queue.push(entry('forward', command('BLPOP', 'q', '0'), { link: none.links.link, blocking: true }));
  none.links.onFence();
  t.same(none.host.unblocks, [], 'no CLIENT ID known: nothing to ask');
});

t.test('onPromoted: a link to the old master with ordinary commands in flight is cut; with only blocked ones they are unblocked first', async (t) => {
  const s = linksOn();
  s.go('GET', 'k');
  const link = s.links.link!;
  s.queue.push(entry('forward', command('SET', 'k', 'v'), { link }));
  s.links.onPromoted();
  await until(() => link.closed);
  t.same(s.closed, [link], 'cut: its commands get LINK_LOST (holding)');
  const b = linksOn();
  b.go('BLPOP', 'q', '0');
  const bl = b.links.link!;
  bl.clientId = 9;
  b.queue.push(entry('forward', command('BLPOP', 'q', '0'), { link: bl, blocking: true }));
  b.links.onPromoted();
  t.notOk(bl.closed, 'not cut at once');
  t.same(b.host.unblocks, [[M1, 9]]);
});

t.test('onTopologyChange: at a boundary a session leaves a stale master link (re-homed); MONITOR closes it; reads on an unhealthy replica are moved', async (t) => {
  {
    const s = linksOn();
    s.go('GET', 'k');
    s.host.setMaster(M2);
    t.ok(s.links.onTopologyChange());
    t.equal(s.links.link, undefined, 'left');
    t.equal(s.host.metrics.rehomed.value, 1);
  }
  {
    const s = linksOn();
    s.go('GET', 'k');
    s.queue.push(entry('forward', command('GET', 'k'), { link: s.links.link }));
    s.host.setMaster(M2);
    t.ok(s.links.onTopologyChange());
    t.ok(s.links.link, 'replies in flight: stays until they are answered');
  }
  {
    const s = linksOn();
    s.go('MONITOR');
    s.owner.unmovable = 'monitor';
    s.host.setMaster(M2);
    t.notOk(s.links.onTopologyChange());
    t.same(s.owner.teardowns, ['unmovable session']);
  }
  {
    const s = linksOn({ kind: 'read' });
    s.host.setReplicas([R1]);
    s.go('GET', 'k');
    const link = s.links.link!;
    s.queue.push(entry('forward', command('GET', 'k'), { link }));
    s.host.setReplicas([]);
    t.notOk(s.links.onTopologyChange(), 'the in-flight reads move');
    await until(() => s.closed.length === 1);
  }
});
