// The shared lane alone (src/session/shared-lane.ts): one session's side of the group's shared link,
// on a fake shared link (runs recorded, no socket), the real request writer and client writer on a
// stub client, and a fake loss handler. Covers which commands fit, runs per client chunk, waiting
// for the old link's replies, replies handed over in pieces, output limits, and losses.
import t from 'tap';
import { SharedLane, type LaneLoss, type LaneOwner } from '../../../src/session/shared-lane.js';
import { ClientWriter } from '../../../src/session/client-writer.js';
import { RequestWriter } from '../../../src/session/request-writer.js';
import { Deque } from '../../../src/session/deque.js';
import type { Entry } from '../../../src/session/reply-queue.js';
import type { SharedLink, SharedWaiter } from '../../../src/session/shared-link.js';
import { encodeCommand } from '../../../src/resp/encode.js';
import { ErrorReplies } from '../../../src/errors.js';
import { StubClient, command, framed, setLimits, silentLog, testHost, type Cmd } from '../../helpers/fake-owners.js';

function fakeShared(addr = '10.0.0.1:6379') {
  const runs: { token: Entry; count: number }[] = [];
  return {
    addr,
    runs,
    isOpenRun: () => false,
    send(_w: SharedWaiter, token: unknown, _data: Buffer | Buffer[], count: number) {
      runs.push({ token: token as Entry, count });
    },
  };
}

function laneOn(maxPipeline = 64) {
  const host = testHost();
  let shared: ReturnType<typeof fakeShared> | undefined = fakeShared();
  (host as { sharedLink: () => SharedLink | undefined }).sharedLink = () => shared as unknown as SharedLink | undefined;
  const client = new StubClient();
  const writer = new ClientWriter({ log: silentLog, group: host, maybeFinish: () => {} }, client.asSocket(), { link: undefined, spare: undefined });
  const writes = new RequestWriter(writer);
  const queue = new Deque<Entry>();
  const owner = {
    id: 1,
    log: silentLog,
    group: host,
    closed: false,
    left: 0,
    pops: 0,
    relinks: 0,
    teardowns: [] as string[],
    leaveLane() {
      owner.left++;
    },
    afterPop() {
      owner.pops++;
    },
    teardown(why: string) {
      owner.teardowns.push(why);
    },
    relink() {
      owner.relinks++;
    },
  } satisfies LaneOwner & Record<string, unknown>;
  const loss = {
    unsent: [] as Entry[],
    lost: [] as Entry[],
  };
  const lossSide: LaneLoss = { unsent: (e) => void loss.unsent.push(e), lost: (e) => void loss.lost.push(e) };
  const clock = { now: Date.now(), arrivedAt: Date.now(), arrived: performance.now() };
  const lane = new SharedLane(owner, queue, writer, maxPipeline, writes, lossSide, clock);
  writes.waiter = lane;
  /** One client chunk of commands, dispatched as the session does (false: the first that waited). */
  const chunk = (...cmds: string[][]): boolean[] => {
    const buf = Buffer.concat(cmds.map((c) => encodeCommand(c)));
    const out: boolean[] = [];
    writes.begin(buf);
    for (const c of framed(buf)) out.push(lane.fits(c) && lane.dispatch(c));
    writes.end();
    return out;
  };
  return {
    host,
    client,
    queue,
    owner,
    loss,
    lane,
    chunk,
    shared: () => shared!,
    setShared: (s: ReturnType<typeof fakeShared> | undefined) => (shared = s),
  };
}

t.test('fits: plain commands only (no state, one reply), within the session’s share, not too large', async (t) => {
  const s = laneOn(2);
  const rows: [Cmd, boolean][] = [
    [command('GET', 'k'), true],
    [command('SET', 'k', 'v'), true],
    [command('SELECT', '1'), false],
    [command('MULTI'), false],
    [command('SUBSCRIBE', 'c'), false],
    [command('BLPOP', 'q', '0'), false],
    [command('CLIENT', 'SETNAME', 'x'), false],
    [command('NOSUCHCMD'), false],
    [command('SET', 'k', 'v'.repeat(300 * 1024)), false],
  ];
  for (const [cmd, want] of rows) t.equal(s.lane.fits(cmd), want, `${cmd.spec?.name ?? 'unknown'} (${cmd.size} bytes)`);
  s.chunk(['GET', 'a'], ['GET', 'b']);
  t.notOk(s.lane.fits(command('GET', 'c')), 'links.maxPipeline in flight: no more');
});

t.test('one client chunk is one run (one entry, one hand-over); the next chunk a new run', async (t) => {
  const s = laneOn();
  t.same(s.chunk(['GET', 'a'], ['SET', 'b', '1'], ['GET', 'c']), [true, true, true]);
  s.chunk(['GET', 'd']);
  t.equal(s.queue.length, 2);
  t.equal(s.queue.peek()!.expect, 3);
  t.same(s.shared().runs.map((r) => r.count), [3, 1]);
  t.equal(s.lane.inFlight, 4);
});

t.test('no shared link: the command waits (and the session links again unless the group holds)', async (t) => {
  const s = laneOn();
  s.setShared(undefined);
  t.same(s.chunk(['GET', 'a']), [false]);
  t.equal(s.owner.relinks, 1);
  s.host.blocked = true;
  t.same(s.chunk(['GET', 'a']), [false]);
  t.equal(s.owner.relinks, 1, 'not while the group holds');
});

t.test('a new shared link: commands wait until the old link has answered (replies of two links could overtake)', async (t) => {
  const s = laneOn();
  s.chunk(['GET', 'a']);
  const e = s.queue.peek()!;
  s.setShared(fakeShared('10.0.0.2:6379'));
  t.same(s.chunk(['GET', 'b']), [false]);
  s.lane.onSharedData(e, Buffer.from('$1\r\nx\r\n'), 1);
  t.same(s.chunk(['GET', 'b']), [true], 'answered: the new link');
});

t.test('replies handed over in pieces: written as they come, the entry completes with its last reply', async (t) => {
  const s = laneOn();
  s.chunk(['GET', 'a'], ['GET', 'b']);
  const e = s.queue.peek()!;
  s.lane.onSharedData(e, Buffer.from('$1\r\nx\r\n$1'), 1);
  t.equal(s.owner.pops, 0);
  t.equal(s.lane.inFlight, 1);
  s.lane.onSharedData(e, Buffer.from('\r\ny\r\n'), 1);
  t.equal(s.owner.pops, 1);
  t.equal(s.queue.length, 0);
  t.equal(s.client.text, '$1\r\nx\r\n$1\r\ny\r\n');
});

t.test('output: a client behind leaves the lane for a link of its own; beyond the hard limit it is closed', async (t) => {
  {
    const s = laneOn();
    setLimits(s.host, { outputBufferSoftBytes: 100, outputBufferHardBytes: 10_000 });
    s.client.slow = true;
    s.chunk(['GET', 'a'], ['GET', 'b']);
    s.lane.onSharedData(s.queue.peek()!, Buffer.from(`$200\r\n${'x'.repeat(200)}\r\n`), 1);
    t.equal(s.owner.left, 1, 'leaves the lane');
    t.same(s.owner.teardowns, []);
  }
  {
    const s = laneOn();
    setLimits(s.host, { outputBufferSoftBytes: 100, outputBufferHardBytes: 150 });
    s.client.slow = true;
    s.chunk(['GET', 'a']);
    s.lane.onSharedData(s.queue.peek()!, Buffer.from(`$200\r\n${'x'.repeat(200)}\r\n`), 1);
    t.same(s.owner.teardowns, ['output buffer limit']);
  }
});

t.test('losses: unsent runs go again; a run of writes that reached the node gets one LINK_LOST per command; reads are marked to go again', async (t) => {
  {
    const s = laneOn();
    s.chunk(['GET', 'a']);
    const e = s.queue.peek()!;
    s.lane.onSharedLost(e, 1, false, false);
    t.same(s.loss.unsent, [e]);
    t.equal(s.lane.inFlight, 0);
  }
  {
    const s = laneOn();
    s.chunk(['SET', 'a', '1'], ['INCR', 'n'], ['GET', 'x']);
    s.chunk(['GET', 'b']);
    const [w, r] = [s.queue.at(0)!, s.queue.at(1)!];
    s.lane.onSharedLost(w, 3, true, false);
    t.equal(w.kind, 'local');
    t.equal(w.local?.toString(), ErrorReplies.LINK_LOST.toString().repeat(3), 'three commands, three errors');
    t.equal(s.host.metrics.linkLost.value, 3);
    t.same(s.loss.lost, [], 'not before every loss is reported');
    s.lane.onSharedLost(r, 1, true, false);
    t.ok(r.replayable, 'the read goes again');
    t.same(s.loss.lost, [r], 'all reported: handled in one place');
  }
  {
    const s = laneOn();
    s.chunk(['GET', 'a']);
    s.lane.onSharedLost(s.queue.peek()!, 1, true, true);
    t.same(s.owner.teardowns, ['link lost mid-reply']);
  }
});
