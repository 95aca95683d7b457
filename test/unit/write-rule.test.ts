// The write lease and the write-confirmation count (src/topology/write-rule.ts) as tables: what
// the watcher knows → must writes wait, and how many replicas must hold a write.
import t from 'tap';
import { ACK_LEASE_MS, SENTINEL_INFO_VALIDITY_MS, replicasNeeded, writeHold, type ProbeView, type WriteRuleInput } from '../../src/topology/write-rule.js';

const NOW = 1_000_000;
const M = '10.0.0.1:6379';
const R1 = '10.0.0.2:6379';
const R2 = '10.0.0.3:6379';

/** A master streaming to both replicas, both acknowledging, sentinels vouching. */
function healthy(): WriteRuleInput {
  const probe: ProbeView = {
    addr: M,
    answeredAt: NOW - 10,
    pendingSince: undefined,
    notMaster: false,
    onlineAddrs: [R1, R2],
    acked: 2,
    ackedAt: NOW - 10,
    allAckedAt: NOW - 10,
  };
  return {
    now: NOW,
    writeSafety: 'safe',
    master: M,
    fenced: false,
    probe,
    replicas: [
      { addr: R1, flags: ['slave'] },
      { addr: R2, flags: ['slave'] },
    ],
    lastAnswer: new Map([
      [R1, NOW - 100],
      [R2, NOW - 100],
    ]),
    following: new Map([
      [R1, M],
      [R2, M],
    ]),
    freshSentinels: 3,
    sentinels: 3,
  };
}

type Change = (i: WriteRuleInput) => WriteRuleInput;
const probe = (p: Partial<ProbeView>): Change => (i) => ({ ...i, probe: { ...i.probe!, ...p } });
const set = (p: Partial<WriteRuleInput>): Change => (i) => ({ ...i, ...p });
const all = (...cs: Change[]): Change => (i) => cs.reduce((acc, c) => c(acc), i);
const r2Down = set({ replicas: [{ addr: R1, flags: ['slave'] }, { addr: R2, flags: ['slave', 's_down'] }] });

t.test('writeHold: must writes wait, and why', async (t) => {
  const rows: [string, Change, RegExp | undefined][] = [
    ['healthy: every replica acknowledges', (i) => i, undefined],
    ['writeSafety available: never', all(set({ writeSafety: 'available' }), probe({ notMaster: true })), undefined],
    ['no verified master: nothing to hold', set({ master: undefined }), undefined],
    ['the master not probed yet', probe({ answeredAt: 0 }), /not probed yet/],
    ['the probe is of the old master', probe({ addr: R1 }), /not probed yet/],
    ['no probe at all', set({ probe: undefined }), /not probed yet/],
    ['a probe unanswered past the lease', probe({ pendingSince: NOW - ACK_LEASE_MS - 1 }), /not answering its probe for 401 ms/],
    ['a probe unanswered within the lease', probe({ pendingSince: NOW - ACK_LEASE_MS }), undefined],
    ['the master answers as a replica', probe({ notMaster: true }), /answers as a replica/],
    ['streams to none, replicas known, sentinels vouch', probe({ onlineAddrs: [], acked: 0 }), undefined],
    ['streams to none, replicas known, sentinels do not vouch (minority side)', all(probe({ onlineAddrs: [], acked: 0 }), set({ freshSentinels: 1 })), /streams to none of its 2 replicas and only 1 of 3 sentinels/],
    ['streams to none, no replica known', all(probe({ onlineAddrs: [], acked: 0 }), set({ replicas: [], freshSentinels: 0 })), undefined],
    ['streams to none, every replica flagged down', all(probe({ onlineAddrs: [], acked: 0 }), set({ replicas: [{ addr: R1, flags: ['o_down'] }], freshSentinels: 0 })), undefined],
    ['no replica acknowledged for longer than the lease', probe({ acked: 0, ackedAt: NOW - ACK_LEASE_MS - 5, allAckedAt: NOW - ACK_LEASE_MS - 5 }), /no replica of the master acknowledged its writes for 405 ms/],
    ['one of two acknowledges, all did recently', probe({ acked: 1, allAckedAt: NOW - ACK_LEASE_MS }), undefined],
    ['one of two acknowledges, sentinels vouch', probe({ acked: 1, allAckedAt: NOW - 5000 }), undefined],
    ['one of two acknowledges, sentinels do not vouch', all(probe({ acked: 1, allAckedAt: NOW - 5000 }), set({ freshSentinels: 1 })), /1 of 2 replicas acknowledge and only 1 of 3 sentinels/],
    ['one of two acknowledges, the other is flagged down', all(probe({ acked: 1, allAckedAt: NOW - 5000 }), set({ freshSentinels: 0 }), r2Down), undefined],
    ['sentinels: 2 of 3 is a majority', all(probe({ acked: 1, allAckedAt: NOW - 5000 }), set({ freshSentinels: 2 })), undefined],
    ['sentinels: 2 of 4 is not', all(probe({ acked: 1, allAckedAt: NOW - 5000 }), set({ freshSentinels: 2, sentinels: 4 })), /only 2 of 4 sentinels/],
    ['lease mode answers the same question', all(set({ writeSafety: 'lease' }), probe({ notMaster: true })), /answers as a replica/],
  ];
  for (const [what, change, want] of rows) {
    const got = writeHold(change(healthy()));
    if (want === undefined) t.equal(got, undefined, what);
    else t.match(got ?? '(no hold)', want, what);
  }
});

t.test('replicasNeeded: how many replicas must hold a write before its reply goes', async (t) => {
  const silent = (a: string) => (i: WriteRuleInput) => ({ ...i, lastAnswer: new Map([...i.lastAnswer, [a, NOW - SENTINEL_INFO_VALIDITY_MS - 1]]) });
  const rows: [string, Change, number][] = [
    ['every replica it streams to', (i) => i, 2],
    ['one streams, the other resyncs: the one', probe({ onlineAddrs: [R1] }), 1],
    ['a replica flagged down does not count', r2Down, 1],
    ['a replica silent longer than Sentinel trusts its INFO does not count', silent(R2), 1],
    ['a replica silent just within it still counts', (i) => ({ ...i, lastAnswer: new Map([[R1, NOW], [R2, NOW - SENTINEL_INFO_VALIDITY_MS]]) }), 2],
    ['a streaming replica Sentinel does not list yet still counts', probe({ onlineAddrs: [R1, R2, '10.0.0.4:6379'] }), 3],
    ['streams to none, replicas that follow it answer (resyncing): one', probe({ onlineAddrs: [] }), 1],
    ['streams to none, one resyncing answers, the other silent: one', all(probe({ onlineAddrs: [] }), silent(R2)), 1],
    ['streams to none, the answering one flagged down, the other silent, sentinels vouch: none', all(probe({ onlineAddrs: [] }), r2Down, silent(R1)), 0],
    ['streams to none, both silent past Sentinel\'s INFO validity, sentinels vouch: none', all(probe({ onlineAddrs: [] }), silent(R1), silent(R2)), 0],
    ['streams to none, none ever answered the proxy, sentinels vouch: none', all(probe({ onlineAddrs: [] }), set({ lastAnswer: new Map() })), 0],
    ['streams to none, both answer as masters (not converted yet), sentinels vouch: none', all(probe({ onlineAddrs: [] }), set({ following: new Map() })), 0],
    ['streams to none, one follows another master, sentinels vouch: none', all(probe({ onlineAddrs: [] }), set({ following: new Map([[R1, '10.0.0.9:6379']]) })), 0],
    ['streams to none, one follows it, the other is a master: one', all(probe({ onlineAddrs: [] }), set({ following: new Map([[R2, M]]) })), 1],
    ['streams to none, none answering, sentinels do not vouch: at least one', all(probe({ onlineAddrs: [] }), silent(R1), silent(R2), set({ freshSentinels: 1 })), 1],
    ['streams to none, no replica known: none', all(probe({ onlineAddrs: [] }), set({ replicas: [], freshSentinels: 0 })), 0],
    ['a failover under way: every replica Sentinel could promote', all(probe({ onlineAddrs: [R1] }), set({ fenced: true })), 2],
    ['a failover under way, one flagged down', all(probe({ onlineAddrs: [] }), set({ fenced: true }), r2Down), 1],
    ['a failover under way, sentinels vouching changes nothing', all(probe({ onlineAddrs: [] }), set({ fenced: true, freshSentinels: 3 })), 2],
    ['the probe is of another node: it streams to none known', all(probe({ addr: R1 }), set({ freshSentinels: 0 })), 1],
  ];
  for (const [what, change, want] of rows) t.equal(replicasNeeded(change(healthy())), want, what);
});
