// Replica health (issue 16): one measurement judged against maxLagMs, and the hysteresis that
// turns measurements into pool membership (src/topology/replica-health.ts).
import t from 'tap';
import { HealthGate, healthWindows, judgeReplica, type ReplicaJudgement, type ReplicaObservation } from '../../src/topology/replica-health.js';

const history = [
  { t: 0, offset: 1000 },
  { t: 1000, offset: 2000 },
];
const NOW = 1000;
const obs = (o: Partial<ReplicaObservation> = {}): ReplicaObservation => ({
  addr: 'r:1',
  flags: ['slave'],
  sentinelLinkOk: true,
  masterInfoRead: true,
  masterLine: { state: 'online', offset: 1500, lagS: 1 },
  own: { role: 'slave', linkUp: true, offset: 2000 },
  lastAnswerAt: NOW,
  isMaster: false,
  ...o,
});

t.test('judgeReplica', async (t) => {
  const j = judgeReplica(obs(), history, NOW, 1000);
  t.match(j, { ok: true, lagMs: 0, offset: 2000, linkUp: true }, "its own offset (current) beats the master's view (last ACK)");
  // The master's view alone: offset 1500 acked up to 1 s ago reads 500 ms behind; lag=1 is not lag.
  t.match(judgeReplica(obs({ own: undefined, lastAnswerAt: NOW - 500 }), history, NOW, 1000), { ok: true, lagMs: 500 });
  t.match(judgeReplica(obs({ own: undefined, lastAnswerAt: NOW - 1500 }), history, NOW, 1000), { ok: false, definite: false, reason: 'not answering' });
  t.match(judgeReplica(obs({ own: { role: 'slave', linkUp: true, offset: 1100 }, masterLine: { state: 'online', offset: 1100, lagS: 0 } }), history, NOW, 500), {
    ok: false,
    definite: false,
    reason: 'lagging',
    lagMs: 900,
  });
  t.match(judgeReplica(obs({ flags: ['slave', 's_down'] }), history, NOW, 1000), { ok: false, definite: true });
  t.match(judgeReplica(obs({ flags: ['slave', 'disconnected'] }), history, NOW, 1000), { ok: true }, "the master's online wins over a sentinel's disconnected");
  t.match(judgeReplica(obs({ flags: ['slave', 'disconnected'], masterLine: undefined }), history, NOW, 1000), { ok: false, definite: true });
  t.match(judgeReplica(obs({ own: { role: 'master', linkUp: false, offset: 0 } }), history, NOW, 1000), { ok: false, definite: true, reason: 'answers role master' });
  t.match(judgeReplica(obs({ own: { role: 'slave', linkUp: false, offset: 2000 } }), history, NOW, 1000), { ok: false, definite: true, linkUp: false });
  t.match(judgeReplica(obs({ masterLine: { state: 'wait_bgsave', offset: 0, lagS: 0 } }), history, NOW, 1000), { ok: false, definite: true });
  t.match(judgeReplica(obs({ masterLine: undefined }), history, NOW, 1000), { ok: false, definite: true, reason: 'not attached to the master' });
  t.match(judgeReplica(obs({ masterInfoRead: false, masterLine: undefined }), history, NOW, 1000), { ok: false, definite: false });
  t.match(judgeReplica(obs({ isMaster: true }), history, NOW, 1000), { ok: false, definite: true });
});

t.test('judgeReplica: a replica found unreachable is out at once, whatever its lag bound', async (t) => {
  // Issue 19: no answer for livenessTimeoutMs and no TCP handshake. Its last answer may still be
  // within maxLagMs (a lag bound above the liveness timeout): reads sent to it would wait for TCP.
  t.match(judgeReplica(obs({ own: undefined, lastAnswerAt: NOW - 1200, unreachable: true }), history, NOW, 10_000), {
    ok: false,
    definite: true,
    reason: 'unreachable: no answer and no TCP handshake',
  });
  t.match(judgeReplica(obs({ own: undefined, lastAnswerAt: NOW - 1200 }), history, NOW, 10_000), { ok: true }, 'without the finding: still in');
  const g = new HealthGate();
  const w = healthWindows(1000);
  g.apply(judgeReplica(obs(), history, NOW, 10_000), 0, w);
  g.apply(judgeReplica(obs({ own: undefined, unreachable: true }), history, NOW, 10_000), 100, w);
  t.equal(g.state, 'out', 'leaves without a confirmation measurement');
  g.apply(judgeReplica(obs(), history, NOW, 10_000), 200, w);
  t.equal(g.state, 'out', 'answering again: back only through the rejoin window');
  g.apply(judgeReplica(obs(), history, NOW, 10_000), 200 + w.rejoinMs, w);
  t.equal(g.state, 'in');
});

t.test('HealthGate: in at the first fit measurement, out when clearly unfit, back after a while', async (t) => {
  const w = healthWindows(1000);
  t.same(w, { confirmMs: 250, rejoinMs: 3000 });
  const fit: ReplicaJudgement = { ok: true, definite: false, linkUp: true, offset: 0 };
  const late: ReplicaJudgement = { ok: false, definite: false, reason: 'lagging', linkUp: true, offset: 0 };
  const down: ReplicaJudgement = { ok: false, definite: true, reason: 'down', linkUp: false, offset: 0 };

  const g = new HealthGate();
  t.equal(g.state, 'unknown');
  g.apply(fit, 0, w);
  t.equal(g.state, 'in', 'first fit measurement: in at once');
  t.same(g.apply(late, 1000, w), { recheckAt: 1250 }, 'one late sample: a confirmation is asked for');
  t.equal(g.state, 'in', 'one late sample moves nobody');
  g.apply(fit, 1250, w);
  t.equal(g.state, 'in');
  g.apply(late, 2000, w);
  g.apply(late, 2250, w);
  t.equal(g.state, 'out', 'unfit over the confirmation window: out');
  t.same(g.apply(fit, 3000, w), { recheckAt: 6000 });
  g.apply(fit, 4000, w);
  g.apply(late, 5000, w);
  g.apply(fit, 6000, w);
  t.equal(g.state, 'out', 'an unfit sample restarts the rejoin window');
  g.apply(fit, 8000, w);
  g.apply(fit, 9000, w);
  t.equal(g.state, 'in', 'fit for rejoinMs: back in');
  g.apply(down, 9100, w);
  t.equal(g.state, 'out', 'a definite reason: out at once');

  const u = new HealthGate();
  t.same(u.apply(late, 0, w), { recheckAt: 250 });
  t.equal(u.state, 'unknown', 'not yet judged: a quick second look');
  u.apply(fit, 250, w);
  t.equal(u.state, 'in');
  u.reset();
  t.equal(u.state, 'unknown', 'a new master: judged afresh');
  u.apply(late, 0, w);
  u.apply(late, 300, w);
  t.equal(u.state, 'out');
});
