#!/usr/bin/env node
// Writes dist/src/build-info.json: the git commit the build was made from (when built in a git
// checkout) and the build time. `redis-sentinel-proxy --version` prints them. Run after `tsc`
// (npm run build does); without it, --version falls back to package.json's gitHead (set by npm
// when packing from git), then to "commit unknown".
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = process.argv[2] ?? join(root, 'dist', 'src');
const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};
const commit = git('rev-parse', 'HEAD');
const dirty = commit !== undefined && git('status', '--porcelain', '--untracked-files=no') !== '';
const info = { commit: commit ?? null, dirty, builtAt: new Date().toISOString() };
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'build-info.json'), JSON.stringify(info, null, 2) + '\n');
