// V8 heap tuning for a proxy process.
//
// Every socket read hands V8 new memory (a Buffer per read, a new ArrayBuffer for large ones).
// Under load that is hundreds of MB/s of short-lived memory on a small (~15 MB) heap, and V8's
// default limits then started a full mark-compact every 50–100 ms: measured 20–30 % of the proxy's
// CPU at `-P 16` (52 major GCs in 1.5 M pipelined GETs; see docs/benchmarks.md). With the old
// generation allowed to grow to five times its live size before the next full collection, the
// same run does one. Young collections (cheap, ~1 ms) are unaffected, so memory under load stays
// flat.
//
// The flag is one V8 reads each time it recomputes its limits, so setting it at start-up works.
// An operator's own `--heap-growing-percent` wins (`node --heap-growing-percent=N .../cli.js`;
// Node does not accept it in NODE_OPTIONS).
import v8 from 'node:v8';

export const HEAP_GROWING_FLAG = '--heap-growing-percent';
export const HEAP_GROWING_PERCENT = 400;

export type HeapTuning = { applied: true; flag: string } | { applied: false; reason: string };

/** What tuneHeap() would do, given the process's node flags (pure). */
export function planHeapTuning(execArgv: readonly string[]): HeapTuning {
  const given = (s: string) => s === HEAP_GROWING_FLAG || s.startsWith(`${HEAP_GROWING_FLAG}=`) || s.startsWith('--heap_growing_percent');
  if (execArgv.some(given)) {
    return { applied: false, reason: `${HEAP_GROWING_FLAG} given by the operator` };
  }
  return { applied: true, flag: `${HEAP_GROWING_FLAG}=${HEAP_GROWING_PERCENT}` };
}

/** Applies the plan to this process (once, at start-up). */
export function tuneHeap(): HeapTuning {
  const plan = planHeapTuning(process.execArgv);
  if (plan.applied) v8.setFlagsFromString(plan.flag);
  return plan;
}
