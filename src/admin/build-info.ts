// What rsp_build_info and the status page say about this build: the package version (read from
// the package.json this file ships in, as the CLI's --version does) and the Node.js version.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'redis-sentinel-proxy' && pkg.version) return (cached = pkg.version);
    } catch {
      // keep looking upward (src/admin → repo root, or dist/src/admin → repo root)
    }
    dir = dirname(dir);
  }
  return (cached = 'unknown');
}

export interface BuildInfo {
  version: string;
  node: string;
  platform: string;
}

export function buildInfo(): BuildInfo {
  return { version: packageVersion(), node: process.version, platform: `${process.platform}/${process.arch}` };
}
