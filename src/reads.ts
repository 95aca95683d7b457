// Which replica a read session uses (DESIGN.md "Reads"): a healthy one (not down, linked to the
// current master, within maxLagMs — the topology watcher decides `healthy`), balanced by the
// number of sessions on each. A session keeps its replica while that stays healthy.
import type { ReplicaState } from './topology/types.js';

export class ReplicaBalancer {
  private healthy: string[] = [];
  private readonly load = new Map<string, number>();

  /** New replica states from the topology. */
  update(replicas: readonly ReplicaState[]): void {
    this.healthy = replicas.filter((r) => r.healthy).map((r) => r.addr);
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
