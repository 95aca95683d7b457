// What the rest of the proxy sees of a Sentinel group. The watcher (./watcher.ts) produces it; the
// failover logic, listeners and admin server consume it. Addresses are `host:port` strings so they
// compare with `===`.

export type Addr = string; // "host:port"

export interface ReplicaState {
  addr: Addr;
  /** Sentinel's flags for it, e.g. ["slave"], ["slave","s_down"], ["slave","disconnected"]. */
  flags: string[];
  /** Sentinel's `master-link-status` is "ok". */
  linkUp: boolean;
  /** Best known replication offset: its own `slave_repl_offset` or the master's view of it
   * (Sentinel's `slave-repl-offset` when neither answered). */
  offset: number;
  /** Estimated lag behind the master in ms, from offsets and INFO; undefined when unknown. */
  lagMs?: number;
  /** In the read pool: not down, attached to the master, within maxLagMs — with hysteresis
   * (topology/replica-health.ts), so one late measurement changes nothing. */
  healthy: boolean;
}

export interface SentinelState {
  addr: Addr;
  /** Configured in the file, or discovered through SENTINEL SENTINELS / +sentinel. */
  source: 'config' | 'discovered';
  reachable: boolean;
  /** In TILT mode (its clock jumped): its answers are ignored while it lasts. */
  tilt: boolean;
  /** What it last named as master, and the config epoch it reported. */
  master?: Addr;
  configEpoch?: number;
  lastError?: string;
}

export interface TopologySnapshot {
  group: string;
  /** The verified master: named by Sentinel (newest epoch, majority of reachable sentinels) and
   * answering `ROLE` as master. Kept when every sentinel is unreachable. */
  master?: Addr;
  /** Increments each time `master` changes. Sessions compare it to know they must re-home. */
  masterEpoch: number;
  /** Sentinel config epoch behind the current master, when known. */
  configEpoch?: number;
  /** A failover of this group is under way (or the master is objectively down): new commands
   * must be held, not sent to `master`. */
  fenced: boolean;
  fenceReason?: string;
  /** During the current fence a replica was already promoted (`+promoted-slave`,
   * `+switch-master`, or a poll showing another master): replies the old master sends from now on
   * may be discarded by its resync, so links to it with commands in flight must be cut. */
  promoted: boolean;
  replicas: ReplicaState[];
  sentinels: SentinelState[];
  /** Sentinels reachable / known. */
  reachableSentinels: number;
  knownSentinels: number;
  /** True when a verified master exists (and, with requireSentinelMajority, a majority of sentinels
   * is reachable). */
  ready: boolean;
  notReadyReason?: string;
  /** Why writes must be held although a master is verified (topology.writeSafety: safe): the
   * master's replicas stopped acknowledging, or not all of them acknowledge and no majority of
   * sentinels confirmed the master recently. Undefined when writes may go. */
  writeHold?: string;
  /** The verified master fails its own checks (e.g. stopped answering ROLE as master), whatever
   * the sentinels say; `notReadyReason` shows it only while a sentinel majority is reachable. */
  masterProblem?: string;
  /** Replica health has been measured against a verified master (every listed replica judged):
   * until then a read listener does not know where reads may go (/readyz says not ready). */
  replicasMeasured: boolean;
}

/** Events, in the order they happen. Every event carries the snapshot after it. */
export type TopologyEvent =
  | { type: 'fence'; reason: string; snapshot: TopologySnapshot }
  | { type: 'unfence'; reason: string; snapshot: TopologySnapshot }
  | { type: 'promoted'; snapshot: TopologySnapshot }
  | { type: 'master'; previous?: Addr; snapshot: TopologySnapshot }
  | { type: 'replicas'; snapshot: TopologySnapshot }
  | { type: 'sentinels'; snapshot: TopologySnapshot }
  /** `writeHold` changed. */
  | { type: 'lease'; snapshot: TopologySnapshot }
  /** A node (the master, or a replica of it) stopped answering and a fresh TCP connection to it
   * failed: links to it are dead (a partition), whatever TCP says. A replica's snapshot already
   * has it out of the read pool. */
  | { type: 'unreachable'; addr: Addr; snapshot: TopologySnapshot };

/** A session whose output waits for its writes to be confirmed on a replica. */
export interface ConfirmWaiter {
  /** The round this waiter waits for first (its earliest ticket not yet confirmed). */
  readonly confirmTicket: number;
  /** Round `round`, at least its `confirmTicket`, was confirmed (a waiter with later tickets calls
   * `wait` again). */
  confirmed(round: number): void;
  /** No round will confirm it: the master changed, or the wait exceeded failover.holdTimeoutMs. */
  unconfirmed(reason: string): void;
}

/** Write confirmation on one master (topology.writeSafety: safe; ./write-confirm.ts). */
export interface WriteConfirmations {
  readonly addr: Addr;
  /** Must a write's reply wait? Not when no replica Sentinel could promote streams from the master. */
  readonly active: boolean;
  /** The round that will confirm a reply received now; a round with that number will be sent. */
  ticket(): number;
  /** Calls `w.confirmed()` once round `w.confirmTicket` (or a later one) is confirmed. */
  wait(w: ConfirmWaiter): void;
  forget(w: ConfirmWaiter): void;
}

export interface TopologySource {
  readonly group: string;
  snapshot(): TopologySnapshot;
  /** The write confirmations of `addr` while it is the verified master (writeSafety: safe). */
  writeConfirmer?(addr: Addr): WriteConfirmations | undefined;
  on(event: 'event', listener: (ev: TopologyEvent) => void): this;
  off(event: 'event', listener: (ev: TopologyEvent) => void): this;
  /** Ask for an immediate refresh (e.g. after a `-READONLY` from the supposed master). Refreshes
   * never overlap: a request during one schedules exactly one more. */
  refresh(reason: string): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
