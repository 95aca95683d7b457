// The proxy's slow log (issue 18), like Redis's SLOWLOG but end to end: a command's time runs from
// the arrival of its bytes at the proxy to the last byte of its reply, so what it spent held
// during a failover counts. Never arguments: the command name, how long, where (group, node) and
// which client session.
//
// Redis's defaults: commands slower than 10 ms (slowlog-log-slower-than 10000), the last 128 kept
// (slowlog-max-len). Recording costs one comparison for a fast command; an entry is only made for a
// slow one. /slowlog (./server.ts) shows them slowest first, with a higher threshold on request.

export const SLOWLOG_THRESHOLD_MS = 10;
export const SLOWLOG_MAX_LEN = 128;

export interface SlowEntry {
  /** Increases with every entry of the process (as Redis's slowlog id). */
  id: number;
  /** When the command completed (Unix ms). */
  at: number;
  durationMs: number;
  /** Lowercase; a subcommand as `client|setname`; `unknown` for a name the table does not know. */
  command: string;
  group: string;
  /** The node that answered (`host:port`). */
  node: string | undefined;
  session: number;
}

let nextId = 1;

export class Slowlog {
  private readonly ring: (SlowEntry | undefined)[];
  private next = 0;

  constructor(
    readonly group: string,
    readonly thresholdMs = SLOWLOG_THRESHOLD_MS,
    readonly maxLen = SLOWLOG_MAX_LEN,
  ) {
    this.ring = new Array<SlowEntry | undefined>(maxLen).fill(undefined);
  }

  /** Keeps the entry when the command was slow (the caller checked `durationMs >= thresholdMs`). */
  record(command: string, durationMs: number, node: string | undefined, session: number): void {
    this.ring[this.next] = { id: nextId++, at: Date.now(), durationMs, command, group: this.group, node, session };
    this.next = (this.next + 1) % this.maxLen;
  }

  /** The entries kept, newest first. */
  entries(): SlowEntry[] {
    const out: SlowEntry[] = [];
    for (let i = 1; i <= this.maxLen; i++) {
      const e = this.ring[(this.next - i + this.maxLen) % this.maxLen];
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  reset(): void {
    this.ring.fill(undefined);
    this.next = 0;
  }
}

/** What /slowlog answers: entries of every group at or above `thresholdMs`, slowest first (ties:
 * newest first), at most `limit`. */
export function slowest(logs: Iterable<Slowlog>, thresholdMs: number, limit: number): SlowEntry[] {
  const all: SlowEntry[] = [];
  for (const l of logs) for (const e of l.entries()) if (e.durationMs >= thresholdMs) all.push(e);
  all.sort((a, b) => b.durationMs - a.durationMs || b.id - a.id);
  return all.slice(0, limit);
}
