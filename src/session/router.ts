// Where one command goes, as a pure function of what the session and its group know (no sockets):
// DESIGN.md "Reads" (the read-only listener, the per-command split) and "Failover" (hold while no
// master may be written to).
//
// - The read-only listener: held until replica health is measured; then the session's healthy replica; without one, the master if
//   `reads.fallback` is `master` (held while the group is blocked), else refused.
// - The master listener with the per-command split: a read-only, non-blocking command outside
//   transactions and subscriptions, past the read-your-writes window, goes to a healthy replica
//   when the session is at a command boundary or already reading from that replica (so replies
//   stay in order on one link). Everything else: the master, or held while the group is blocked.

export type Route = 'master' | 'replica' | 'hold' | 'refuse';

export interface RouteInput {
  listener: 'master' | 'read';
  /** reads.routeReads is `replica` (master listener only). */
  split: boolean;
  readOnly: boolean;
  blocking: boolean;
  /** No transaction open or watched (Transaction.idle). */
  txIdle: boolean;
  subscribed: boolean;
  /** ms since the session's last write was sent, and the read-your-writes window. */
  sinceWriteMs: number;
  readYourWritesMs: number;
  /** The healthy replica the session would use (undefined: none healthy). */
  replica: string | undefined;
  /** Nothing in flight. */
  atBoundary: boolean;
  /** The session's current link goes to that replica. */
  onReplicaLink: boolean;
  /** A verified master may be written to (not fenced, not lacking a sentinel majority). */
  masterUsable: boolean;
  fallback: 'master' | 'error';
  /** Replica health has been measured once for the current master: until then a read-listener
   * command is held, never sent to the master by default (issue 16). */
  replicasMeasured: boolean;
}

export function route(i: RouteInput): Route {
  if (i.listener === 'read') {
    if (!i.replicasMeasured) return 'hold';
    if (i.replica !== undefined) return 'replica';
    if (i.fallback !== 'master') return 'refuse';
    return i.masterUsable ? 'master' : 'hold';
  }
  if (
    i.split &&
    i.readOnly &&
    !i.blocking &&
    i.txIdle &&
    !i.subscribed &&
    i.sinceWriteMs >= i.readYourWritesMs &&
    i.replica !== undefined &&
    (i.atBoundary || i.onReplicaLink)
  ) {
    return 'replica';
  }
  return i.masterUsable ? 'master' : 'hold';
}
