// Reading the proxy's admin server in tests: one GET, and one sample of the Prometheus text format.

export interface Http {
  status: number;
  type: string;
  text: string;
  json: <T = any>() => T; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** GET `p` from the admin server on 127.0.0.1:`port` (5 s timeout). */
export async function get(port: number, p: string): Promise<Http> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) };
}

/** The value of one sample of the Prometheus text format; undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const kv of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) have[kv[1]] = kv[2];
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
