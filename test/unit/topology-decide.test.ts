import t from 'tap';
import { ACK_STALE_MS, decideMaster, estimateLagMs, majorityOf, type SentinelAnswer } from '../../src/topology/decide.js';

const A = '10.0.0.1:6379';
const B = '10.0.0.2:6379';
const C = '10.0.0.3:6379';

function s(i: number, master?: string, configEpoch?: number, extra: Partial<SentinelAnswer> = {}): SentinelAnswer {
  const a: SentinelAnswer = { sentinel: `10.0.1.${i}:26379`, reachable: true, tilt: false, ...extra };
  if (master !== undefined) a.master = master;
  if (configEpoch !== undefined) a.configEpoch = configEpoch;
  return a;
}

t.test('decideMaster table', async (t) => {
  const table: Array<{ name: string; answers: SentinelAnswer[]; current?: string; master?: string; epoch?: number; reason?: string }> = [
    { name: 'all agree', answers: [s(1, A, 0), s(2, A, 0), s(3, A, 0)], master: A, epoch: 0 },
    { name: 'newest epoch wins even in minority', answers: [s(1, A, 1), s(2, A, 1), s(3, B, 2)], current: A, master: B, epoch: 2 },
    { name: 'newest epoch wins over current', answers: [s(1, B, 3), s(2, A, 2)], current: A, master: B, epoch: 3 },
    { name: 'majority at the same epoch', answers: [s(1, A, 2), s(2, B, 2), s(3, B, 2)], current: A, master: B, epoch: 2 },
    { name: 'tie keeps current', answers: [s(1, A, 2), s(2, B, 2)], current: A, master: A, epoch: 2 },
    { name: 'tie keeps current (other order)', answers: [s(1, A, 2), s(2, B, 2)], current: B, master: B, epoch: 2 },
    { name: 'tie without current chooses nothing', answers: [s(1, A, 2), s(2, B, 2)], reason: 'tie' },
    { name: 'tie, current not among the tied', answers: [s(1, A, 2), s(2, B, 2)], current: C, reason: 'tie' },
    {
      name: 'unreachable sentinels do not vote',
      answers: [s(1, A, 5, { reachable: false }), s(2, B, 4), s(3, B, 4)],
      master: B,
      epoch: 4,
    },
    {
      name: 'TILT sentinels do not vote',
      answers: [s(1, C, 9, { tilt: true }), s(2, A, 1), s(3, A, 1)],
      master: A,
      epoch: 1,
    },
    { name: 'none reachable', answers: [s(1, A, 1, { reachable: false }), s(2, A, 1, { reachable: false })], current: A, reason: 'no-sentinel-reachable' },
    { name: 'no sentinels at all', answers: [], reason: 'no-sentinel-reachable' },
    { name: 'all reachable in TILT', answers: [s(1, A, 1, { tilt: true }), s(2, A, 1, { reachable: false })], reason: 'all-sentinels-tilt' },
    { name: 'nobody knows the group', answers: [s(1), s(2)], reason: 'no-answer' },
    { name: 'one knows the group', answers: [s(1), s(2, B, 0)], master: B, epoch: 0 },
    { name: 'missing epoch loses to any epoch', answers: [s(1, A), s(2, A), s(3, B, 0)], master: B, epoch: 0 },
    { name: 'all epochs missing: majority', answers: [s(1, A), s(2, B), s(3, B)], master: B, epoch: undefined },
  ];
  for (const c of table) {
    const d = decideMaster(c.answers, c.current);
    t.equal(d.master, c.master, `${c.name}: master`);
    if (c.master !== undefined) t.equal(d.configEpoch, c.epoch, `${c.name}: epoch`);
    t.equal(d.reason, c.reason, `${c.name}: reason`);
  }
});

t.test('decision details', async (t) => {
  const d = decideMaster([s(1, A, 2), s(2, B, 2), s(3, B, 2), s(4, C, 1)]);
  t.equal(d.voters, 4);
  t.equal(d.votes, 2);
  t.same(d.candidates, [
    { addr: B, votes: 2 },
    { addr: A, votes: 1 },
  ]);
});

t.test('majorityOf', async (t) => {
  t.same([1, 2, 3, 4, 5].map(majorityOf), [1, 2, 2, 3, 3]);
  t.equal(majorityOf(0), 1);
});

t.test('estimateLagMs', async (t) => {
  const h = [
    { t: 1000, offset: 100 },
    { t: 2000, offset: 200 },
    { t: 3000, offset: 300 },
  ];
  t.equal(estimateLagMs([], 0, 0, 3000), undefined, 'no history: unknown');
  t.equal(estimateLagMs(h, 300, 0, 3000), 0, 'caught up');
  t.equal(estimateLagMs(h, 350, 5000, 3000), 0, 'ahead of the sample (acked after it)');
  t.equal(estimateLagMs(h, 250, 0, 3000), 500, 'interpolated between samples');
  t.equal(estimateLagMs(h, 200, 0, 3000), 1000, 'exactly a sample');
  t.equal(estimateLagMs(h, 50, 0, 3000), 2000, 'older than history: at least its age');
  t.equal(estimateLagMs(h, 250, 6000, 3000), 6000, 'a stale ack (replica stopped acknowledging) is a lower bound when behind');
  t.equal(estimateLagMs([{ t: 5, offset: 10 }], 9, 0, 5), undefined, 'behind the only sample: unknown');
  t.equal(estimateLagMs([{ t: 5, offset: 10 }], 10, 0, 5), 0, 'at the only sample: caught up');
});

// Issue 16: INFO's `lag=` is whole seconds since the replica's last REPLCONF ACK (sent once a
// second), so it reads 1 half of the time; taken as a floor it put healthy replicas at 1000+ ms,
// just over the default maxLagMs of 1000, and reads flapped between replicas and the master.
t.test('estimateLagMs: the ACK period is not lag', async (t) => {
  const h = [
    { t: 1000, offset: 100 },
    { t: 2000, offset: 200 },
  ];
  t.equal(estimateLagMs(h, 200, 1000, 2000), 0, "at the master's offset: 0 whatever the ACK age");
  t.equal(estimateLagMs(h, 260, 9000, 2000), 0, "past the master's offset: 0 whatever the ACK age");
  t.equal(estimateLagMs(h, 190, 1000, 2000), 100, 'a little behind: the interpolated time, not the 1 s ACK age');
  t.equal(estimateLagMs(h, 190, ACK_STALE_MS - 1000, 2000), 100, 'an ACK age under ACK_STALE_MS does not count');
  t.equal(estimateLagMs(h, 190, ACK_STALE_MS, 2000), ACK_STALE_MS, 'from ACK_STALE_MS on it does');
  t.ok(ACK_STALE_MS >= 3000, 'several seconds');
});
