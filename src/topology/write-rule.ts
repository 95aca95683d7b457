// Pure: the write lease and the write-confirmation count (issue 19; docs/partitions.md). The
// watcher (./watcher.ts) gathers what it knows — the master's probe (./master-probe.ts: which
// replicas it streams to and which acknowledge), Sentinel's replica list and flags, when each
// replica last answered, how many sentinels vouched for the master recently — and asks two
// questions:
// - `writeHold`: must writes wait at all (the master may be on the minority side)?
// - `replicasNeeded`: how many replicas must hold a write before its reply goes (writeSafety:
//   safe, ./write-confirm.ts)?
import { majorityOf } from './decide.js';
import type { Addr } from './types.js';

/** A node Sentinel flags so is down: a master it flags so is not confirmed, a replica it flags so
 * cannot be promoted (the write lease). */
export const SENTINEL_DOWN_FLAGS = ['s_down', 'o_down'];
/** Sentinel selects for promotion only replicas whose INFO it refreshed within this (3 INFO
 * periods of 1 s while the master is down: sentinel.c, sentinelSelectSlave). */
export const SENTINEL_INFO_VALIDITY_MS = 3000;
/** Writes go while the master's probe found a replica acknowledging this recently (a few probes:
 * one late answer holds nothing). */
export const ACK_LEASE_MS = 400;

/** What the master's probe has seen (MasterProbe has these fields). */
export interface ProbeView {
  readonly addr: Addr;
  /** When the probe was last answered (0: never). */
  readonly answeredAt: number;
  /** A probe sent and not answered since then. */
  readonly pendingSince: number | undefined;
  /** The node answers ROLE as a replica. */
  readonly notMaster: boolean;
  /** Replicas the master streams to (INFO replication, state=online). */
  readonly onlineAddrs: readonly Addr[];
  /** Replicas that acknowledged the last probe's write. */
  readonly acked: number;
  /** When a replica last acknowledged; when all of them did. */
  readonly ackedAt: number;
  readonly allAckedAt: number;
}

export interface WriteRuleInput {
  now: number;
  writeSafety: 'safe' | 'lease' | 'available';
  /** The master in use (undefined: none verified). */
  master: Addr | undefined;
  /** A failover is under way. */
  fenced: boolean;
  probe: ProbeView | undefined;
  /** Sentinel's replicas of the master, with their flags. */
  replicas: readonly { readonly addr: Addr; readonly flags: readonly string[] }[];
  /** When each replica last answered the proxy's own probe of it. */
  lastAnswer: ReadonlyMap<Addr, number>;
  /** The master each replica said it replicates from in that answer (role slave only). */
  following: ReadonlyMap<Addr, Addr>;
  /** Sentinels whose confirmation of the master is younger than its down-after-milliseconds. */
  freshSentinels: number;
  /** Sentinels known. */
  sentinels: number;
}

const downFlagged = (r: { readonly flags: readonly string[] }) => r.flags.some((f) => SENTINEL_DOWN_FLAGS.includes(f));

/** Replicas the master streams to that Sentinel could promote: not flagged down, and not silent
 * for longer than Sentinel trusts a replica's INFO (a frozen or cut-off replica cannot be
 * selected, so its silence stalls writes no longer). */
export function promotableOnline(i: WriteRuleInput): number {
  const p = i.probe;
  if (p === undefined || p.addr !== i.master) return 0;
  let n = 0;
  for (const a of p.onlineAddrs) {
    const r = i.replicas.find((x) => x.addr === a);
    if (r !== undefined && downFlagged(r)) continue;
    const answered = i.lastAnswer.get(a);
    if (answered !== undefined && i.now - answered > SENTINEL_INFO_VALIDITY_MS) continue;
    n++;
  }
  return n;
}

/** Replicas Sentinel lists, not flagged down, that answered the proxy's own probe within the time
 * Sentinel trusts a replica's INFO and said they replicate from this master, though it does not
 * stream to them yet: (re)syncing. Sentinel may promote one (it skips only a replica whose link
 * has been down for 10 × down-after-milliseconds, sentinel.c sentinelSelectSlave), and it will
 * acknowledge once synced. */
export function promotableSyncing(i: WriteRuleInput): number {
  let n = 0;
  for (const r of i.replicas) {
    if (r.addr === i.master || downFlagged(r) || i.following.get(r.addr) !== i.master) continue;
    const answered = i.lastAnswer.get(r.addr);
    if (answered !== undefined && i.now - answered <= SENTINEL_INFO_VALIDITY_MS) n++;
  }
  return n;
}

/**
 * How many replicas must hold a write before its reply goes (write confirmation):
 * - a failover under way: every replica Sentinel could promote (the one it selected has stopped
 *   replicating from this master already: it cannot acknowledge, and the write fails rather than
 *   being acknowledged by another replica that will resync from it);
 * - otherwise every replica it streams to that Sentinel could promote (it promotes the one its
 *   INFO, up to a second old, shows most up to date: one acknowledgement is not enough, a kill -9
 *   lost a write only one replica had acknowledged);
 * - when it streams to none but a replica Sentinel could promote replicates from it, still
 *   (re)syncing after a failover or a dropped link: one — the write waits until a replica has
 *   synced past it (a planned failover right after a kill -9 promoted the resyncing replica and
 *   lost a write confirmed with none: differential seed 10003);
 * - otherwise (no replica follows it yet: an old master Sentinel has not converted, up to ~10 s
 *   after a failover): none while a majority of sentinels vouches for the master (as the write
 *   lease allows writes then), else at least one. Waiting for a node that does not replicate from
 *   it would stall every write of a two-node group that long after each planned failover.
 */
export function replicasNeeded(i: WriteRuleInput): number {
  const known = i.replicas.filter((r) => !downFlagged(r)).length;
  const online = promotableOnline(i);
  if (i.fenced) return Math.max(known, online);
  if (online > 0) return online;
  if (promotableSyncing(i) > 0) return 1;
  const vouched = i.freshSentinels >= majorityOf(i.sentinels);
  return vouched ? 0 : Math.min(1, known);
}

/**
 * Why writes must wait, or undefined. Writes acknowledged by a master that has lost its replicas
 * are discarded by the failover that follows: so a master with replicas takes writes only while
 * one of them acknowledges (probe: PUBLISH + WAIT). A replica the proxy cannot see may have been
 * promoted only if it stopped acknowledging: when not all of them do, a majority of sentinels must
 * also have confirmed the master within down-after-milliseconds (the soonest a failover can
 * start). Sentinels restarting while every replica acknowledges stop nothing.
 */
export function writeHold(i: WriteRuleInput): string | undefined {
  if (i.writeSafety === 'available' || i.master === undefined) return undefined;
  const p = i.probe;
  const now = i.now;
  if (p === undefined || p.addr !== i.master || p.answeredAt === 0) return 'master not probed yet';
  // (WAIT itself may take ACK_WAIT_MS.)
  if (p.pendingSince !== undefined && now - p.pendingSince > ACK_LEASE_MS) return `master not answering its probe for ${now - p.pendingSince} ms`;
  if (p.notMaster) return 'the master answers as a replica';
  const fresh = i.freshSentinels;
  const sentinelsConfirm = fresh >= majorityOf(i.sentinels);
  // Replicas Sentinel flags down cannot be promoted (a frozen replica, say): their silence risks
  // nothing.
  const down = new Set(i.replicas.filter(downFlagged).map((r) => r.addr));
  const needed = p.onlineAddrs.filter((a) => !down.has(a)).length;
  if (needed === 0) {
    // No replica that could be promoted streams from it: fine when Sentinel knows none it could
    // promote either (none, or all down). Otherwise they are on the other side of a partition
    // (maybe promoted already): an old master whose replicas left it looks just like this once the
    // partition heals.
    const promotable = i.replicas.filter((r) => !down.has(r.addr)).length;
    if (promotable === 0 || sentinelsConfirm) return undefined;
    return `the master streams to none of its ${promotable} replicas and only ${fresh} of ${i.sentinels} sentinels confirmed it within down-after-milliseconds`;
  }
  if (p.answeredAt > p.ackedAt && now - p.ackedAt > ACK_LEASE_MS) return `no replica of the master acknowledged its writes for ${now - p.ackedAt} ms`;
  // (One slow acknowledgement is not a partition: every replica acknowledged recently is enough.)
  if (p.acked >= needed || now - p.allAckedAt <= ACK_LEASE_MS || sentinelsConfirm) return undefined;
  return `${p.acked} of ${needed} replicas acknowledge and only ${fresh} of ${i.sentinels} sentinels confirmed the master within down-after-milliseconds`;
}
