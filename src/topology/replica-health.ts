// Replica health (issue 16; DESIGN.md "Reads"): one measurement of a replica, judged against
// `reads.maxLagMs`, and the hysteresis that turns measurements into pool membership. Pure: the
// watcher (./watcher.ts) supplies the observations and the clock.
//
// Why each source:
// - The master's INFO replication lists each replica's offset as of its last `REPLCONF ACK`, which
//   a replica sends once a second: under writes that view is up to ~1 s old, and its `lag=`
//   (whole seconds since that ACK) reads 1 half of the time. Used alone it put healthy replicas at
//   1000-1050 ms, just over the default maxLagMs, every few hundred ms.
// - The replica's own INFO replication (`slave_repl_offset`, `master_link_status`), read in the
//   same refresh, is current. Its offset, against the master's offset history, gives the lag.
// - Sentinel's flags say a replica is down (after its own down-after window).
import { estimateLagMs } from './decide.js';
import type { Addr } from './types.js';

/** One replica as seen in one refresh. */
export interface ReplicaObservation {
  addr: Addr;
  /** Sentinel's flags for it (`s_down`, `o_down`, `disconnected`, ...). */
  flags: readonly string[];
  /** Sentinel's `master-link-status` is `ok` (used when the master's INFO is not at hand). */
  sentinelLinkOk: boolean;
  /** Its `slaveN:` line in the master's INFO replication, read in this refresh. */
  masterLine?: { state: string; offset: number; lagS: number };
  /** The master's INFO was read in this refresh (so a missing line means "not attached"). */
  masterInfoRead: boolean;
  /** Its own INFO replication, when it answered in this refresh. */
  own?: { role: string; linkUp: boolean; offset: number };
  /** When it last answered its own probe (ms epoch), if ever. */
  lastAnswerAt?: number;
  /** It is the verified master itself. */
  isMaster: boolean;
  /** It has not answered for topology.livenessTimeoutMs and a fresh TCP connection to it failed
   * (a partition between the proxy and it), and it has not answered since. */
  unreachable?: boolean;
}

export interface ReplicaJudgement {
  /** Fit for reads by this measurement alone. */
  ok: boolean;
  /** Unfit beyond doubt (down, detached, promoted): leaves the pool without confirmation. */
  definite: boolean;
  reason?: string;
  lagMs?: number;
  linkUp: boolean;
  offset: number;
}

const DOWN_FLAGS = ['s_down', 'o_down'];
export const UNREACHABLE_REASON = 'unreachable: no answer and no TCP handshake';

/**
 * Judges one observation. Lag: the replica's best known offset (its own answer, or the master's
 * view of it, whichever is further) against the master's offset history (`estimateLagMs`): 0 at or
 * past the master's offset. A replica that has not answered for longer than `maxLagMs` cannot be
 * shown to be within it (frozen, or cut off from the proxy).
 */
export function judgeReplica(
  o: ReplicaObservation,
  history: ReadonlyArray<{ t: number; offset: number }>,
  now: number,
  maxLagMs: number,
): ReplicaJudgement {
  const line = o.masterLine;
  const online = line?.state === 'online';
  const linkUp = o.masterInfoRead ? online && (o.own?.linkUp ?? true) : (o.own?.linkUp ?? o.sentinelLinkOk);
  const offset = Math.max(o.own?.offset ?? 0, line?.offset ?? 0);
  const out = (ok: boolean, definite: boolean, reason?: string, lagMs?: number): ReplicaJudgement => {
    const j: ReplicaJudgement = { ok, definite, linkUp, offset };
    if (reason !== undefined) j.reason = reason;
    if (lagMs !== undefined) j.lagMs = lagMs;
    return j;
  };
  if (o.isMaster) return out(false, true, 'is the master');
  // Whatever lag bound applies: reads sent to it would wait for TCP's retransmissions.
  if (o.unreachable) return out(false, true, UNREACHABLE_REASON);
  if (o.flags.some((f) => DOWN_FLAGS.includes(f))) return out(false, true, 'down (sentinel)');
  // `disconnected` is that sentinel's own link to the replica (transient after a failover); the
  // master reporting the replica online wins over it.
  if (o.flags.includes('disconnected') && !online) return out(false, true, 'disconnected (sentinel)');
  if (o.own && o.own.role !== 'slave') return out(false, true, `answers role ${o.own.role}`);
  if (o.own && !o.own.linkUp) return out(false, true, 'link to the master down');
  if (o.masterInfoRead && !online) return out(false, true, line ? `master reports it ${line.state}` : 'not attached to the master');
  if (!o.masterInfoRead) return out(false, false, 'master not measured');
  const lagMs = estimateLagMs(history, offset, (line?.lagS ?? 0) * 1000, now);
  if (lagMs === undefined) return out(false, false, 'no offset history');
  if (!o.own && (o.lastAnswerAt === undefined || now - o.lastAnswerAt > maxLagMs)) return out(false, false, 'not answering', lagMs);
  if (lagMs > maxLagMs) return out(false, false, 'lagging', lagMs);
  return out(true, false, undefined, lagMs);
}

/** The hysteresis windows: derived from the poll interval, so no option is needed. */
export interface HealthWindows {
  /** An unfit measurement that is not definite must still be unfit this long after (a second
   * measurement, which the watcher schedules) before the replica leaves. */
  confirmMs: number;
  /** Out of the pool, a replica comes back after measuring fit continuously this long. */
  rejoinMs: number;
}

export function healthWindows(pollIntervalMs: number): HealthWindows {
  return { confirmMs: Math.min(250, Math.max(50, Math.round(pollIntervalMs / 4))), rejoinMs: Math.max(2000, 3 * pollIntervalMs) };
}

export type Membership = 'unknown' | 'in' | 'out';

/**
 * Pool membership of one replica. `unknown` (never judged, or a new master) counts as not
 * healthy; a fit measurement takes it in at once, so reads use replicas from the first refresh.
 * In the pool, it leaves on a definite reason at once, otherwise when unfit measurements span
 * `confirmMs`; out of it, it comes back after fit measurements span `rejoinMs`.
 */
export class HealthGate {
  state: Membership = 'unknown';
  private unfitSince: number | undefined;
  private fitSince: number | undefined;

  /** Applies a judgement; returns whether a confirmation measurement is wanted (and when). */
  apply(j: ReplicaJudgement, now: number, w: HealthWindows): { recheckAt?: number } {
    if (j.ok) {
      this.unfitSince = undefined;
      this.fitSince ??= now;
      if (this.state === 'unknown') this.state = 'in';
      else if (this.state === 'out') {
        if (now - this.fitSince >= w.rejoinMs) this.state = 'in';
        else return { recheckAt: this.fitSince + w.rejoinMs };
      }
      return {};
    }
    this.fitSince = undefined;
    if (this.state === 'out') return {};
    this.unfitSince ??= now;
    if (j.definite || now - this.unfitSince >= w.confirmMs) {
      this.state = 'out';
      this.unfitSince = undefined;
      return {};
    }
    return { recheckAt: this.unfitSince + w.confirmMs };
  }

  /** A new master: what was measured against the old one no longer counts. */
  reset(): void {
    this.state = 'unknown';
    this.unfitSince = undefined;
    this.fitSince = undefined;
  }
}
