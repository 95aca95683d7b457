// What `--version` prints: the package version, the commit it was built from and the Node.js it
// runs on. The commit comes from build-info.json beside this file (scripts/build-info.mjs, run by
// `npm run build`), else from package.json's `gitHead` (npm records it when packing from git).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  commit?: string;
  dirty?: boolean;
  builtAt?: string;
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function buildInfo(here = dirname(fileURLToPath(import.meta.url))): BuildInfo {
  let pkg: Record<string, unknown> | undefined;
  let dir = here;
  for (let i = 0; i < 5 && !pkg; i++) {
    const p = readJson(join(dir, 'package.json'));
    if (p?.name === 'redis-sentinel-proxy') pkg = p;
    dir = dirname(dir);
  }
  const built = readJson(join(here, 'build-info.json'));
  const info: BuildInfo = { version: str(pkg?.version) ?? 'unknown' };
  const commit = str(built?.commit) ?? str(pkg?.gitHead);
  if (commit) info.commit = commit;
  if (built?.dirty === true) info.dirty = true;
  const at = str(built?.builtAt);
  if (at) info.builtAt = at;
  return info;
}

/** "0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-04T23:00:00Z, node v20.19.5, linux x64)". */
export function versionLine(info = buildInfo()): string {
  const details = [
    info.commit ? `commit ${info.commit.slice(0, 12)}${info.dirty ? '+modified' : ''}` : 'commit unknown',
    ...(info.builtAt ? [`built ${info.builtAt.replace(/\.\d+Z$/, 'Z')}`] : []),
    `node ${process.version}`,
    `${process.platform} ${process.arch}`,
  ];
  return `${info.version} (${details.join(', ')})`;
}
