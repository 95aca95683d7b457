// Per-command latency histograms of one group, as the client sees it: from the arrival of the
// command's bytes at the proxy to the last byte of its reply, so time spent held during a failover
// is included (issue 18).
//
// Observed once per command on the hot path, so nothing here allocates: the counts live in one
// Float64Array, a command's row is found by its name (a Map over the packaged table's names, whose
// strings keep their hash), and the bucket by a short linear scan. prom-client's Histogram would
// build a label key string per observation; the registry reads these arrays only when /metrics is
// scraped (./metrics.ts).
//
// The label set is bounded: the top-level commands of the packaged table, everything else (module
// commands, unknown names) `other`. Subcommands count under their container (`client`).
import { CommandTable, type CommandSpec } from '../commands/table.js';

/** Upper bounds of the buckets, in seconds (Prometheus `le`), from 100 µs to 10 s. */
export const LATENCY_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const BUCKETS_MS = LATENCY_BUCKETS_S.map((s) => s * 1000);
const NB = BUCKETS_MS.length;
/** Per row: NB bucket counts, then +Inf (the total count), then the sum in seconds. */
const STRIDE = NB + 2;

export const OTHER_COMMAND = 'other';

let packagedNames: readonly string[] | undefined;
let packagedRows: ReadonlyMap<string, number> | undefined;

/** The label values: the packaged table's top-level command names, then `other`. */
export function latencyCommandNames(): readonly string[] {
  if (packagedNames === undefined) {
    const names: string[] = [];
    for (const s of CommandTable.packaged().all()) if (s.parent === undefined && !names.includes(s.name)) names.push(s.name);
    names.push(OTHER_COMMAND);
    packagedNames = names;
    packagedRows = new Map(names.map((n, i) => [n, i]));
  }
  return packagedNames;
}

function rows(): ReadonlyMap<string, number> {
  latencyCommandNames();
  return packagedRows!;
}

export interface LatencyRow {
  command: string;
  /** Cumulative counts per bucket of LATENCY_BUCKETS_S. */
  buckets: number[];
  count: number;
  sumSeconds: number;
}

export class CommandLatency {
  private readonly names = latencyCommandNames();
  private readonly rowOf = rows();
  private readonly otherRow = this.names.length - 1;
  private readonly data = new Float64Array(this.names.length * STRIDE);

  /** One command took `ms` from arrival to the last byte of its reply. */
  observe(spec: CommandSpec | undefined, ms: number): void {
    const top = spec === undefined ? undefined : (spec.parent ?? spec);
    const row = top === undefined ? this.otherRow : (this.rowOf.get(top.name) ?? this.otherRow);
    const base = row * STRIDE;
    let i = 0;
    while (i < NB && ms > BUCKETS_MS[i]) i++;
    const d = this.data;
    if (i < NB) d[base + i]++;
    d[base + NB]++;
    d[base + NB + 1] += ms / 1000;
  }

  /** The commands seen so far (count > 0), buckets made cumulative. */
  rows(): LatencyRow[] {
    const out: LatencyRow[] = [];
    const d = this.data;
    for (let r = 0; r < this.names.length; r++) {
      const base = r * STRIDE;
      const count = d[base + NB];
      if (count === 0) continue;
      const buckets: number[] = [];
      let acc = 0;
      for (let i = 0; i < NB; i++) buckets.push((acc += d[base + i]));
      out.push({ command: this.names[r], buckets, count, sumSeconds: d[base + NB + 1] });
    }
    return out;
  }
}

/** A quantile (0..1) of a cumulative histogram row, interpolated inside its bucket as PromQL's
 * histogram_quantile does; in seconds. Undefined for an empty row; the last finite bound when the
 * quantile falls in +Inf. */
export function quantileOf(row: LatencyRow, q: number): number | undefined {
  if (row.count === 0) return undefined;
  const rank = q * row.count;
  let prevCount = 0;
  let prevBound = 0;
  for (let i = 0; i < NB; i++) {
    const c = row.buckets[i];
    if (c >= rank) {
      const inBucket = c - prevCount;
      const bound = LATENCY_BUCKETS_S[i];
      return inBucket === 0 ? bound : prevBound + (bound - prevBound) * ((rank - prevCount) / inBucket);
    }
    prevCount = c;
    prevBound = LATENCY_BUCKETS_S[i];
  }
  return LATENCY_BUCKETS_S[NB - 1];
}
