// Which replica a read session uses (DESIGN.md "Reads"): a healthy one (not down, linked to the
// current master, within maxLagMs — the topology watcher decides `healthy`, with hysteresis),
// balanced by the number of sessions on each. A session keeps its replica while that stays
// healthy; a new session goes to the replica with the fewest, so when a replica comes back new
// sessions fill it until the balance is restored (sessions already elsewhere stay there).
import type { ReplicaState } from './topology/types.js';

/** Times a replica entered and left the read pool (first sight not counted). */
export interface PoolTransitions {
  healthy: number;
  unhealthy: number;
}

export class ReplicaBalancer {
  private healthy: string[] = [];
  private readonly load = new Map<string, number>();
  private readonly last = new Map<string, boolean>();
  private readonly moves = new Map<string, PoolTransitions>();

  /** New replica states from the topology. */
  update(replicas: readonly ReplicaState[]): void {
    this.healthy = replicas.filter((r) => r.healthy).map((r) => r.addr);
    for (const r of replicas) {
      const was = this.last.get(r.addr);
      this.last.set(r.addr, r.healthy);
      if (was === undefined || was === r.healthy) continue;
      const m = this.moves.get(r.addr) ?? { healthy: 0, unhealthy: 0 };
      if (r.healthy) m.healthy++;
      else m.unhealthy++;
      this.moves.set(r.addr, m);
    }
  }

  /** Pool transitions per replica since start (rsp_replica_health_transitions_total). */
  transitions(): ReadonlyMap<string, Readonly<PoolTransitions>> {
    return this.moves;
  }

  isHealthy(addr: string): boolean {
    return this.healthy.includes(addr);
  }

  get healthyCount(): number {
    return this.healthy.length;
  }

  /** The replica for a session now on `current` (or none): `current` while healthy, else the
   * least-loaded healthy replica (ties: the first listed); undefined when none is healthy. The
   * caller records the move with `take`/`release`. */
  choose(current: string | undefined): string | undefined {
    if (current !== undefined && this.healthy.includes(current)) return current;
    let best: string | undefined;
    let bestLoad = Infinity;
    for (const a of this.healthy) {
      const l = this.load.get(a) ?? 0;
      if (l < bestLoad) {
        best = a;
        bestLoad = l;
      }
    }
    return best;
  }

  take(addr: string): void {
    this.load.set(addr, (this.load.get(addr) ?? 0) + 1);
  }

  release(addr: string): void {
    const l = (this.load.get(addr) ?? 0) - 1;
    if (l <= 0) this.load.delete(addr);
    else this.load.set(addr, l);
  }

  /** Sessions per replica, for /topology. */
  sessions(): Record<string, number> {
    return Object.fromEntries(this.load);
  }
}
