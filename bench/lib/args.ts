// Command-line options of the small benchmarks (the main one parses its own with node:util).

/** `--name N` from argv as a positive integer, `dflt` when absent; throws on anything else. */
export function intArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}
