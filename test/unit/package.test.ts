// The npm package ships the compiled proxy: `npm pack` builds first (prepack) and the tarball holds
// dist/src/cli.js (the `bin`), the config examples, LICENSE and README, and nothing of the tests,
// sources or source maps. The file list is read with `npm pack --dry-run --json --ignore-scripts`
// (no build here: other tests run the compiled files meanwhile); the build itself is the prepack
// script, checked by name.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  license: string;
  bin: Record<string, string>;
  engines: { node: string };
  repository?: { type: string; url: string };
  scripts: Record<string, string>;
};

t.test('package.json: licence, repository, engines, scripts', async (t) => {
  t.equal(pkg.license, 'MIT');
  const licence = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  t.match(licence, /^MIT License/, 'LICENSE is the MIT licence');
  t.match(licence, /Copyright \(c\) 2026 redis-sentinel-proxy contributors/);
  t.match(pkg.repository?.url, /^git\+https:\/\/.+\.git$/, 'repository url');
  t.equal(pkg.engines.node, '>=20', 'runs on Node.js 20 and newer');
  t.equal(pkg.bin['redis-sentinel-proxy'], 'dist/src/cli.js');
  t.match(pkg.scripts.prepack, /prepack\.sh/, 'prepack builds');
  t.match(fs.readFileSync(path.join(ROOT, 'scripts', 'prepack.sh'), 'utf8'), /tsc -p \./, 'prepack.sh compiles');
  t.equal(pkg.scripts.start, 'node dist/src/cli.js', 'npm start runs the proxy');
});

t.test('npm pack ships the compiled proxy and only what it needs', { skip: fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli.js')) ? false : 'not built (npm run build)' }, async (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  const [info] = JSON.parse(out) as { files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  for (const f of ['dist/src/cli.js', 'dist/src/proxy.js', 'config/proxy.example.yaml', 'config/proxy.yaml', 'LICENSE', 'README.md', 'package.json']) {
    t.ok(files.includes(f), `ships ${f}`);
  }
  for (const f of files) {
    t.notMatch(f, /^(src|test|bench|dist\/test|dist\/bench|deploy|docs|scripts)\//, `${f}: nothing but the runtime`);
    t.notMatch(f, /\.(map|ts)$/, `${f}: no sources or source maps`);
  }
});
