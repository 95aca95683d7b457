// Choosing the master from the sentinels' answers (pure; no I/O). The chosen address still has to
// be verified (`ROLE` says master) by the watcher before it is used.
import type { Addr } from './types.js';

export interface SentinelAnswer {
  /** The sentinel's own address (for reporting). */
  sentinel: Addr;
  reachable: boolean;
  tilt: boolean;
  /** The master address it reports for the group (`SENTINEL MASTER`), if it knows the group. */
  master?: Addr;
  configEpoch?: number;
}

export interface MasterDecision {
  /** The address to verify, or undefined when no usable answer exists (or answers tie). */
  master?: Addr;
  configEpoch?: number;
  /** Sentinels whose answers were counted (reachable, not in TILT, naming a master). */
  voters: number;
  /** Sentinels naming `master` at `configEpoch`. */
  votes: number;
  /** Why no master was chosen. */
  reason?: 'no-sentinel-reachable' | 'all-sentinels-tilt' | 'no-answer' | 'tie';
  /** Every address named at the winning epoch, with its number of votes (for logs). */
  candidates: Array<{ addr: Addr; votes: number }>;
}

/**
 * Among reachable, non-TILT sentinels: the address reported with the highest config epoch; when
 * answers conflict at that epoch, the address named by the most sentinels; a tie keeps `current`
 * when it is one of the tied addresses, and otherwise chooses nothing.
 * (A missing config epoch counts as lower than any reported one.)
 */
export function decideMaster(answers: readonly SentinelAnswer[], current?: Addr): MasterDecision {
  const reachable = answers.filter((a) => a.reachable);
  if (reachable.length === 0) return { voters: 0, votes: 0, reason: 'no-sentinel-reachable', candidates: [] };
  const trusted = reachable.filter((a) => !a.tilt);
  if (trusted.length === 0) return { voters: 0, votes: 0, reason: 'all-sentinels-tilt', candidates: [] };
  const voting = trusted.filter((a): a is SentinelAnswer & { master: Addr } => typeof a.master === 'string' && a.master.length > 0);
  if (voting.length === 0) return { voters: 0, votes: 0, reason: 'no-answer', candidates: [] };

  const epochOf = (a: SentinelAnswer) => (typeof a.configEpoch === 'number' && Number.isFinite(a.configEpoch) ? a.configEpoch : -1);
  const maxEpoch = Math.max(...voting.map(epochOf));
  const counts = new Map<Addr, number>();
  for (const a of voting) {
    if (epochOf(a) === maxEpoch) counts.set(a.master, (counts.get(a.master) ?? 0) + 1);
  }
  const candidates = [...counts.entries()]
    .map(([addr, votes]) => ({ addr, votes }))
    .sort((x, y) => y.votes - x.votes || (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : 0));
  const best = candidates[0]!.votes;
  const top = candidates.filter((c) => c.votes === best);
  const configEpoch = maxEpoch >= 0 ? maxEpoch : undefined;
  if (top.length === 1) {
    return { master: top[0]!.addr, configEpoch, voters: voting.length, votes: best, candidates };
  }
  if (current !== undefined && top.some((c) => c.addr === current)) {
    return { master: current, configEpoch, voters: voting.length, votes: best, candidates };
  }
  return { configEpoch, voters: voting.length, votes: best, reason: 'tie', candidates };
}

/** Majority of `known` (strictly more than half). */
export function majorityOf(known: number): number {
  return Math.floor(known / 2) + 1;
}

/** INFO replication's `lag=` (seconds since the replica's last `REPLCONF ACK`, sent once a
 * second) counts only from this age on: it then says the replica stopped acknowledging, as
 * `min-replicas-max-lag` reads it. Below it, it is the ACK period, not lag (issue 16). */
export const ACK_STALE_MS = 5000;

/**
 * Replica lag estimate (DESIGN.md "Reads", issue 16).
 *
 * `history` holds samples of the master's `master_repl_offset` with the time they were taken
 * (ascending time, ascending offset), the last one being the newest. A replica at or past the
 * newest sampled offset holds everything the master had: lag 0, whatever the age of its last ACK.
 * A replica behind, at `replicaOffset`, holds everything the master had written by the moment the
 * master's offset reached `replicaOffset`; its lag is the time since that moment, found by linear
 * interpolation between the two samples around it (at least the age of the oldest sample when it
 * is older than every sample; unknown when there is only one). `ackLagMs` (INFO's `lag=`, in ms) raises that only when it is
 * `ACK_STALE_MS` or more.
 */
export function estimateLagMs(
  history: ReadonlyArray<{ t: number; offset: number }>,
  replicaOffset: number,
  ackLagMs: number,
  now: number,
): number | undefined {
  if (history.length === 0) return undefined;
  const last = history[history.length - 1]!;
  if (replicaOffset >= last.offset) return 0;
  let reachedAt: number | undefined;
  for (let i = history.length - 1; i >= 0; i--) {
    const s = history[i]!;
    if (s.offset <= replicaOffset) {
      const next = history[i + 1]!; // exists: replicaOffset < last.offset
      const span = next.offset - s.offset;
      const frac = span > 0 ? (replicaOffset - s.offset) / span : 1;
      reachedAt = s.t + frac * (next.t - s.t);
      break;
    }
  }
  // Older than the only sample: when the master was there is not known yet.
  if (reachedAt === undefined && history.length === 1) return undefined;
  const sinceReached = reachedAt === undefined ? now - history[0]!.t : now - reachedAt;
  const ack = ackLagMs >= ACK_STALE_MS ? ackLagMs : 0;
  return Math.max(0, Math.round(Math.max(sinceReached, ack)));
}
