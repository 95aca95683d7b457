// The proxy's garbage collections, read from its own /metrics (prom-client's
// nodejs_gc_duration_seconds histogram, by kind: minor, major, incremental, weakcb), so that a
// run's GC work can be shown beside its CPU time.
export interface GcTotals {
  /** Collections so far, by kind. */
  count: Record<string, number>;
  /** Main-thread pause seconds so far, all kinds (concurrent marking on helper threads is not in it). */
  seconds: number;
}

const LINE = /^nodejs_gc_duration_seconds_(count|sum)\{kind="([a-z]+)"\} ([0-9.eE+-]+)$/;

/** Parses the Prometheus text exposition; undefined when it holds no GC series. */
export function parseGcTotals(text: string): GcTotals | undefined {
  const count: Record<string, number> = {};
  let seconds = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    seen = true;
    if (m[1] === 'count') count[m[2]] = Number(m[3]);
    else seconds += Number(m[3]);
  }
  return seen ? { count, seconds } : undefined;
}

export async function gcTotals(adminPort: number): Promise<GcTotals | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(3000) });
    return r.ok ? parseGcTotals(await r.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** What happened between two readings: major collections and pause seconds. */
export interface GcDelta {
  major: number;
  seconds: number;
}

export function gcDelta(a: GcTotals | undefined, b: GcTotals | undefined): GcDelta | undefined {
  if (!a || !b) return undefined;
  return { major: (b.count.major ?? 0) - (a.count.major ?? 0), seconds: b.seconds - a.seconds };
}
