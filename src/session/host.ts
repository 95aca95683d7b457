// What a session sees of its group, and what the group sees of a session: two small interfaces
// owned here, so that the session never imports the group (no import cycle; src/group.ts
// implements SessionHost and keeps SessionHandles).
import type net from 'node:net';
import type { GroupConfig } from '../config/types.js';
import type { CommandSpec } from '../commands/table.js';
import type { SharedLink } from './shared-link.js';
import type { WriteConfirmations } from '../topology/types.js';

/** A counter cheap enough for the per-command path. */
export interface Counter {
  inc(n?: number): void;
}

/** The group's counters a session adds to. */
export interface SessionCounters {
  readonly commands: Counter;
  readonly held: Counter;
  readonly holdTimeouts: Counter;
  readonly linkLost: Counter;
  readonly reissued: Counter;
  readonly splitReads: Counter;
  readonly rehomed: Counter;
  readonly backendConnects: Counter;
  readonly backendConnectErrors: Counter;
  readonly protocolErrors: Counter;
  /** Sessions closed because a write could not be confirmed on a replica (writeSafety: safe). */
  readonly unconfirmed: Counter;
  /** Read-listener commands sent to the master because no replica was healthy. */
  readonly readsOnMaster: Counter;
}

/** Where a session reports each command's end-to-end latency (src/admin/group-observer.ts): the
 * command, performance.now() at its arrival and at its last reply byte, the node, the session. */
export interface CommandObserver {
  command(spec: CommandSpec | undefined, t0: number, t1: number, node: string | undefined, session: number): void;
}

/** The healthy replicas, leased to read sessions (src/reads.ts ReplicaBalancer). */
export interface ReplicaLeases {
  choose(current: string | undefined): string | undefined;
  take(addr: string): void;
  release(addr: string): void;
  isHealthy(addr: string): boolean;
  readonly healthyCount: number;
}

/** Command names to their specs, following the master's COMMAND table. */
export interface CommandLookup {
  lookup(buf: Buffer, start: number, end: number): CommandSpec | undefined;
}

export interface SessionHost {
  /** The group's settings, replaced as a whole on reload: read at the moment of use for what
   * applies to new commands; what applies to new sessions is read once when a session opens
   * (docs/session.md, "Reload"). */
  readonly config: GroupConfig;
  readonly lookup: CommandLookup;
  // The route view: the verified master and its epoch, and whether commands must be held.
  readonly master: string | undefined;
  readonly masterEpoch: number;
  readonly blocked: boolean;
  readonly blockedReason: 'fence' | 'no-master' | 'majority' | 'lease' | undefined;
  readonly replicas: ReplicaLeases;
  /** Replica health measured once for the current master (read sessions hold until then). */
  readonly replicasMeasured: boolean;
  readonly metrics: SessionCounters;
  readonly observe: CommandObserver;
  /** Write confirmation for replies from `addr` (writeSafety: safe; src/topology/write-confirm.ts):
   * undefined when they need none, null when `addr` is no longer the master whose replicas could
   * confirm them. */
  confirmations(addr: string): WriteConfirmations | null | undefined;
  /** The shared link to the current master; undefined while commands must be held. */
  sharedLink(): SharedLink | undefined;
  /** A session's link to `addr` died (the one report of link loss). */
  onLinkLost(addr: string): void;
  /** A node the session took for the master answered -READONLY. */
  onReadonly(addr: string | undefined): void;
  /** `CLIENT UNBLOCK id ERROR` on a node, over the group's own connection to it. */
  unblock(addr: string, clientId: number): void;
  removeSession(s: SessionHandle): void;
}

/** What the group needs of a session: failover reactions, drain, teardown, a description. */
export interface SessionHandle {
  readonly kind: 'master' | 'read';
  /** The client's socket (tests and /topology look at its buffers). */
  readonly client: net.Socket;
  /** On the group's shared link (moves with it). */
  readonly onSharedLink: boolean;
  /** A failover started: ask the old master to unblock blocked commands so they can move. */
  onFence(): void;
  /** A replica was promoted: links to the old master with commands in flight are cut. */
  onPromoted(): void;
  /** The verified master changed, or the fence lifted, or replica health changed. */
  onTopologyChange(): void;
  /** Shutdown: answer what is held, close once every reply is written. */
  drain(): void;
  teardown(why: string): void;
  describe(): SessionDescription;
}

export interface SessionDescription {
  id: number;
  node: string | undefined;
  inFlight: number;
  held: number;
  subscribed: boolean;
  /** Bytes waiting in the proxy: to the client, to the node, framed-but-incomplete from the client. */
  clientBuffered: number;
  backendBuffered: number;
  queryBuffered: number;
}
