// Cutting a byte string into chunks, for tests that feed input split at chosen places.

/** Splits `buf` at the given offsets (duplicates and offsets outside 1..length-1 are ignored). */
export function splitAtOffsets(buf: Buffer, offsets: number[]): Buffer[] {
  const ps = [...new Set(offsets)].filter((p) => p > 0 && p < buf.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of ps) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  out.push(buf.subarray(last));
  return out;
}
