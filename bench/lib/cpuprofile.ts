// Summary of a V8 .cpuprofile (as written by `node --cpu-prof`): self time per function.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  function: string;
  where: string;
  selfMs: number;
  /** Percent of the non-idle sampled time. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  /** Only samples inside this window (µs, CLOCK_MONOTONIC like process.hrtime) were counted. */
  window?: { fromUs: number; toUs: number; samples: number };
  totalMs: number;
  idleMs: number;
  busyMs: number;
  top: ProfileEntry[];
  /** Self time grouped: GC, program (native/VM), node internals, node_modules, the proxy's code. */
  byCategory: Record<string, { ms: number; pct: number }>;
}

function shortUrl(url: string, root: string): string {
  if (!url) return '';
  let u = url.startsWith('file://') ? url.slice(7) : url;
  if (u.startsWith(root + path.sep)) u = u.slice(root.length + 1);
  return u;
}

function category(fn: string, url: string): string {
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)') return 'program (VM, native, syscalls)';
  if (fn === '(idle)') return 'idle';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/node_modules/')) return 'node_modules';
  if (url.includes('/dist/src/')) return 'proxy (dist/src)';
  if (!url) return 'native / builtins';
  return 'other';
}

/**
 * Self time per function. With `window` (µs on the monotonic clock: process.hrtime.bigint() / 1000,
 * which V8's profile timestamps share on Linux), only the samples taken inside it count; when none
 * fall inside (another clock), every sample counts and `window` is left out of the result.
 */
export function summariseProfile(file: string, root: string, topN = 20, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of prof.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  const samples = prof.samples ?? [];
  const deltas = prof.timeDeltas ?? [];
  // timeDeltas[i] is the time before sample i; attribute the interval after sample i to it.
  const stamps: number[] = [];
  let t = prof.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    stamps.push(t);
  }
  let inWindow = 0;
  if (window) for (const ts of stamps) if (ts >= window.fromUs && ts <= window.toUs) inWindow++;
  const useWindow = window !== undefined && inWindow > 0;
  for (let i = 0; i < samples.length; i++) {
    if (useWindow && (stamps[i]! < window.fromUs || stamps[i]! > window.toUs)) continue;
    const dt = deltas[i + 1] ?? 0;
    const id = samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const agg = new Map<string, { fn: string; where: string; us: number; cat: string }>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    totalUs += us;
    const fn = n.callFrame.functionName || '(anonymous)';
    const url = shortUrl(n.callFrame.url, root);
    if (fn === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = url ? `${url}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${fn}\u0000${where}`;
    const e = agg.get(key) ?? { fn, where, us: 0, cat: category(fn, n.callFrame.url) };
    e.us += us;
    agg.set(key, e);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number) => (busyUs > 0 ? (100 * us) / busyUs : 0);
  const sorted = [...agg.values()].sort((a, b) => b.us - a.us);
  const cats: Record<string, { ms: number; pct: number }> = {};
  for (const e of sorted) {
    const c = (cats[e.cat] ??= { ms: 0, pct: 0 });
    c.ms += e.us / 1000;
    c.pct += pct(e.us);
  }
  return {
    file,
    ...(useWindow ? { window: { fromUs: window.fromUs, toUs: window.toUs, samples: inWindow } } : {}),
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    top: sorted.slice(0, topN).map((e) => ({ function: e.fn, where: e.where, selfMs: e.us / 1000, pct: pct(e.us) })),
    byCategory: cats,
  };
}
