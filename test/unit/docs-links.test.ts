// The documentation holds together: every relative link in README.md, CONTRIBUTING.md and docs/
// resolves to a file of the repository (and its #anchor to a heading there, with GitHub's anchor
// rules); no link leaves the repository (no URL, no path above the root); every page of docs/ is
// reachable from the README; and the README stays the short production page (about 12 KB).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const README_MAX_BYTES = 12 * 1024;

/** Pages other branches add, linked before they land. Once a page exists it must leave this list
 * (a test below says so), so the list cannot hide a broken link for long. */
const PENDING = new Set<string>([
]);

function mdFiles(): string[] {
  const docs = fs.existsSync(path.join(ROOT, 'docs'))
    ? fs
        .readdirSync(path.join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.posix.join('docs', f.split(path.sep).join('/')))
    : [];
  return ['README.md', 'CONTRIBUTING.md', ...docs.sort()];
}

/** Markdown with fenced code blocks blanked (line numbers kept) and inline code replaced. */
function prose(md: string): string[] {
  let fence: string | undefined;
  return md.split('\n').map((line) => {
    const f = /^\s*(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (fence === undefined) fence = f[1]![0]!;
      else if (f[1]![0] === fence) fence = undefined;
      return '';
    }
    if (fence !== undefined) return '';
    return line.replace(/(`+)(?:(?!\1).)+\1/g, 'code');
  });
}

interface Link {
  file: string;
  line: number;
  target: string;
}

function links(file: string): Link[] {
  const out: Link[] = [];
  prose(fs.readFileSync(path.join(ROOT, file), 'utf8')).forEach((l, i) => {
    for (const m of l.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ file, line: i + 1, target: m[1]! });
    // Reference-style definitions: [name]: target
    const ref = /^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(\s|$)/.exec(l);
    if (ref) out.push({ file, line: i + 1, target: ref[1]! });
  });
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1/-2 for repeats. */
export function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fence: string | undefined;
  for (const line of md.split('\n')) {
    const f = /^\s*(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (fence === undefined) fence = f[1]![0]!;
      else if (f[1]![0] === fence) fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(m[1]!);
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const text = h[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`/g, '')
      .replace(/<[^>]+>/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

t.test('GitHub anchor rules, as implemented here', async (t) => {
  const a = anchors('# Failover: what clients can rely on\n## `/readyz` and /healthz\n## Limits\n## Limits\n```\n# not a heading\n```\n');
  t.same([...a].sort(), ['failover-what-clients-can-rely-on', 'limits', 'limits-1', 'readyz-and-healthz'].sort());
});

t.test('every relative link resolves, with its anchor; none leaves the repository', async (t) => {
  const files = mdFiles();
  t.ok(files.length >= 10, `${files.length} pages checked`);
  let count = 0;
  for (const file of files) {
    for (const l of links(file)) {
      count++;
      const where = `${l.file}:${l.line} → ${l.target}`;
      if (/^[a-z][a-z0-9+.-]*:/i.test(l.target) || l.target.startsWith('//')) {
        t.fail(`${where}: a link outside the repository (keep what readers need in docs/ instead)`);
        continue;
      }
      const [rawPath, anchor] = l.target.split('#') as [string, string | undefined];
      const decoded = decodeURIComponent(rawPath);
      if (decoded.startsWith('/')) {
        t.fail(`${where}: an absolute path (use a path relative to ${l.file})`);
        continue;
      }
      const target = decoded === '' ? l.file : path.posix.normalize(path.posix.join(path.posix.dirname(l.file), decoded));
      if (target === '..' || target.startsWith('../')) {
        t.fail(`${where}: leaves the repository`);
        continue;
      }
      const abs = path.join(ROOT, target.replace(/\/$/, ''));
      if (!fs.existsSync(abs)) {
        if (PENDING.has(target) && anchor === undefined) continue;
        t.fail(`${where}: ${target} does not exist`);
        continue;
      }
      if (anchor !== undefined && anchor !== '') {
        if (!target.endsWith('.md')) {
          t.fail(`${where}: an anchor into a file that is not Markdown`);
          continue;
        }
        const known = anchors(fs.readFileSync(abs, 'utf8'));
        t.ok(known.has(decodeURIComponent(anchor)), `${where}: #${anchor} is a heading of ${target}`);
      } else t.pass(where);
    }
  }
  t.ok(count > 50, `${count} links`);
});

t.test('pending pages leave the list once they exist', async (t) => {
  for (const p of PENDING) t.notOk(fs.existsSync(path.join(ROOT, p)), `${p} exists now: remove it from PENDING in test/unit/docs-links.test.ts`);
});

t.test('no text points outside the repository', async (t) => {
  for (const file of mdFiles()) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    t.notMatch(text, /\.\.\/shared\//, `${file}: no ../shared/ reference`);
  }
});

t.test('every page of docs/ is reachable from the README', async (t) => {
  const seen = new Set<string>(['README.md']);
  const queue = ['README.md'];
  while (queue.length) {
    const file = queue.shift()!;
    for (const l of links(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(l.target)) continue;
      const p = decodeURIComponent(l.target.split('#')[0]!);
      if (!p.endsWith('.md')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), p));
      if (seen.has(target) || !fs.existsSync(path.join(ROOT, target))) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  for (const f of mdFiles()) t.ok(seen.has(f), `${f} is linked from the README (directly or through other pages)`);
});

t.test('the README is the short production page', async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const bytes = Buffer.byteLength(readme);
  t.ok(bytes <= README_MAX_BYTES, `README.md is ${bytes} bytes (at most ${README_MAX_BYTES})`);
  // Production order: install and run before trying and testing.
  const order = ['## Install', '## Run it', '## Check, reload, stop', '## Ports and endpoints', '## Try it and test it'].map((h) => readme.indexOf(h));
  t.ok(order.every((i) => i > 0), 'the production sections are there');
  t.same([...order].sort((a, b) => a - b), order, 'in production order');
  // The two commands of a fresh clone, exactly as package.json runs them.
  t.match(readme, /^npm run sandbox\s/m, '`npm run sandbox` is documented');
  t.match(readme, /^npm test\s/m, '`npm test` is documented');
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.match(pkg.scripts.sandbox, /ensure-deps\.sh/, 'npm run sandbox installs what it needs');
  t.match(pkg.scripts.test, /ensure-deps\.sh/, 'npm test installs what it needs');
  t.match(fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8'), /^npm test$/m, '.ci/run runs npm test');
});

t.test("the README's minimal configuration validates", async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /## A minimal configuration\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  t.ok(block, 'a YAML block under "A minimal configuration"');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-readme-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'proxy.yaml'), block ?? '');
  const r = loadConfig({ file: path.join(dir, 'proxy.yaml'), argv: {}, env: {} });
  t.ok(r.ok, r.ok ? 'valid' : r.problems.join('\n'));
});
