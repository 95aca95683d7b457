#!/usr/bin/env bash
# `npm pack` / `npm publish` run this first (package.json "prepack"): the tarball ships dist/src,
# so build it here, from a clean dist/ (no stale files from removed modules), installing the
# dev dependencies (TypeScript) first when this is a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/tsc ]; then
  printf 'prepack: installing dependencies (npm ci) to build\n' >&2
  # (not a dry run even under `npm pack --dry-run`, which would install nothing)
  npm_config_dry_run=false npm ci --no-audit --no-fund >&2
fi
rm -rf dist
node_modules/.bin/tsc -p .
node scripts/build-info.mjs  # the commit, for --version
test -f dist/src/cli.js
