// No Docker engine runs on the build machines, so this test runs the Dockerfile's own steps: it
// reads the Dockerfile, copies the build context as .dockerignore filters it, runs every stage's
// WORKDIR/COPY/RUN/ENV in a directory standing for that stage's filesystem (independent stages in
// parallel, as BuildKit does), then starts the runtime stage's ENTRYPOINT + CMD with a config
// "mounted" at the documented path, runs the HEALTHCHECK command, and sends a PING through the
// proxy. The base image is not emulated: the host's node stands in for it. An instruction this
// runner does not know fails the test, so the Dockerfile cannot grow steps that go untested.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { withGroup, waitFor, freePorts } from '../helpers/group.js';
import { rawClient } from '../helpers/raw.js';

// Two npm installs and a TypeScript build: give it more than the suite's default timeout (the
// runner reads the `# timeout=` comment and extends its own timer for this file).
t.setTimeout(480_000);
t.comment('timeout=480000');

const ROOT = path.join(import.meta.dirname, '..', '..');
const CONFIG_PATH = '/etc/redis-sentinel-proxy/proxy.yaml';

interface Instr {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instr[] {
  const out: Instr[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i].trim();
    if (l === '' || l.startsWith('#')) continue;
    const start = i + 1;
    while (l.endsWith('\\') && i + 1 < lines.length) {
      l = l.slice(0, -1) + ' ' + lines[++i].trim();
    }
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    out.push({ op: m[1].toUpperCase(), args: m[2], line: start });
  }
  return out;
}

/** `.dockerignore` as a predicate on context-relative paths (last matching pattern wins). */
function dockerignore(text: string): (rel: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((p) => {
      const neg = p.startsWith('!');
      const pat = (neg ? p.slice(1) : p).replace(/^\/+/, '').replace(/\/+$/, '');
      const re = pat
        .split('/')
        .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { neg, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
  return (rel) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(rel)) ignored = !r.neg;
    return ignored;
  };
}

/** Splits shell-ish words (no quotes needed in our COPY/ENV lines). */
const words = (s: string) => s.split(/\s+/).filter(Boolean);

function execForm(args: string, what: string): string[] {
  const v = JSON.parse(args) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${what}: expected the exec (JSON array) form`);
  return v as string[];
}

interface Stage {
  name: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  expose: string[];
  labels: Record<string, string>;
  healthcheck?: string[];
  entrypoint?: string[];
  cmd?: string[];
  done: Promise<void>;
}

/** A container path inside a stage's root. */
const inRoot = (st: Stage, p: string) => path.join(st.root, path.isAbsolute(p) ? p : path.join(st.workdir, p));

function copyInto(src: string, dest: string, destIsDir: boolean, filter?: (abs: string) => boolean): void {
  const stat = fs.statSync(src);
  if (stat.isDirectory()) {
    // COPY dir dest: the directory's contents go into dest.
    fs.mkdirSync(dest, { recursive: true });
    fs.cpSync(src, dest, { recursive: true, verbatimSymlinks: true, filter: filter ? (s) => filter(s) : undefined });
  } else {
    const target = destIsDir ? path.join(dest, path.basename(src)) : dest;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(src, target);
  }
}

function run(cmd: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`RUN ${cmd} (in ${cwd}) exited ${code}:\n${out.slice(-4000)}`))));
  });
}

/** How long each RUN took (printed as test comments). */
const timings: string[] = [];

/** Runs every stage; resolves with them, by name, once all are built. */
async function build(dockerfile: string, work: string): Promise<Map<string, Stage>> {
  const ignored = dockerignore(fs.existsSync(path.join(ROOT, '.dockerignore')) ? fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8') : '');
  const ctxFilter = (abs: string) => !ignored(path.relative(ROOT, abs).split(path.sep).join('/'));
  const args: Record<string, string> = {};
  const stages = new Map<string, Stage>();
  const hostEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('RSP_') && !k.startsWith('TAP')) hostEnv[k] = v;
  // Only a speed-up: npm may use its local cache first (the image build downloads the same files).
  hostEnv.npm_config_prefer_offline = 'true';
  hostEnv.npm_config_update_notifier = 'false';

  let current: Stage | undefined;
  let steps: (() => Promise<void>)[] = [];
  const finish = () => {
    if (!current) return;
    const st = current;
    const todo = steps;
    st.done = (async () => {
      for (const s of todo) await s();
    })();
    st.done.catch(() => undefined);
  };
  const subst = (s: string) => s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, k: string) => args[k] ?? current?.env[k] ?? m);

  for (const ins of parseDockerfile(dockerfile)) {
    const where = `Dockerfile:${ins.line} ${ins.op}`;
    if (ins.op === 'ARG') {
      // `ARG NAME` inside a stage re-declares a global ARG and keeps its value (as Docker does).
      const i = ins.args.indexOf('=');
      if (i < 0) args[ins.args.trim()] ??= '';
      else args[ins.args.slice(0, i).trim()] = ins.args.slice(i + 1).trim();
      continue;
    }
    if (ins.op === 'FROM') {
      finish();
      const w = words(subst(ins.args));
      const name = w[1]?.toUpperCase() === 'AS' ? w[2] : `stage${stages.size}`;
      if (stages.has(w[0])) throw new Error(`${where}: FROM another stage is not supported by this runner`);
      current = { name, root: path.join(work, name), workdir: '/', env: {}, expose: [], labels: {}, done: Promise.resolve() };
      fs.mkdirSync(current.root, { recursive: true });
      stages.set(name, current);
      steps = [];
      continue;
    }
    if (!current) throw new Error(`${where}: before FROM`);
    const st = current;
    switch (ins.op) {
      case 'WORKDIR': {
        const wd = path.posix.resolve(st.workdir, subst(ins.args));
        steps.push(async () => {
          st.workdir = wd;
          fs.mkdirSync(inRoot(st, '.'), { recursive: true });
        });
        st.workdir = wd; // for later instructions' paths
        break;
      }
      case 'ENV': {
        for (const kv of words(subst(ins.args))) {
          const i = kv.indexOf('=');
          st.env[kv.slice(0, i)] = kv.slice(i + 1);
        }
        break;
      }
      case 'COPY': {
        const w = words(subst(ins.args));
        let from: string | undefined;
        while (w[0]?.startsWith('--')) {
          const flag = w.shift()!;
          if (flag.startsWith('--from=')) from = flag.slice(7);
          else if (!flag.startsWith('--chown=') && !flag.startsWith('--chmod=')) throw new Error(`${where}: unsupported flag ${flag}`);
        }
        const dest = w.pop()!;
        const srcs = w;
        const wd = st.workdir;
        steps.push(async () => {
          const destAbs = path.join(st.root, path.isAbsolute(dest) ? dest : path.join(wd, dest));
          const destIsDir = dest.endsWith('/') || srcs.length > 1;
          for (const src of srcs) {
            if (from !== undefined) {
              const other = stages.get(from);
              if (!other) throw new Error(`${where}: no stage ${from}`);
              await other.done;
              copyInto(path.join(other.root, src), destAbs, destIsDir);
            } else {
              const abs = path.join(ROOT, src);
              if (!ctxFilter(abs)) throw new Error(`${where}: ${src} is excluded by .dockerignore`);
              copyInto(abs, destAbs, destIsDir, ctxFilter);
            }
          }
        });
        break;
      }
      case 'RUN': {
        const cmd = subst(ins.args);
        // The step runs on this machine: a container-absolute path would touch the host.
        if (/(^|[\s=])\/(?!dev\/null)/.test(cmd)) throw new Error(`${where}: RUN steps must use paths relative to WORKDIR`);
        const wd = st.workdir;
        steps.push(async () => {
          const t0 = Date.now();
          await run(cmd, path.join(st.root, wd), { ...hostEnv, ...st.env });
          timings.push(`${st.name}: RUN ${cmd}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        });
        break;
      }
      case 'USER':
        st.user = ins.args.trim();
        break;
      case 'EXPOSE':
        st.expose.push(...words(ins.args));
        break;
      case 'STOPSIGNAL':
        break;
      case 'LABEL': {
        // key=value pairs; values may be double-quoted (with \" escapes) and use ARGs.
        const re = /([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g;
        let n = 0;
        for (const m of ins.args.matchAll(re)) {
          const raw = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
          st.labels[m[1]] = subst(raw);
          n++;
        }
        if (n === 0) throw new Error(`${where}: expected LABEL key=value ...`);
        break;
      }
      case 'HEALTHCHECK': {
        const m = /^(.*?)\bCMD\s+(.*)$/.exec(ins.args);
        if (!m) throw new Error(`${where}: expected HEALTHCHECK [options] CMD [...]`);
        st.healthcheck = execForm(m[2], where);
        break;
      }
      case 'ENTRYPOINT':
        st.entrypoint = execForm(ins.args, where);
        break;
      case 'CMD':
        st.cmd = execForm(ins.args, where);
        break;
      default:
        throw new Error(`${where}: not supported by this runner (teach test/integration/docker-steps.test.ts)`);
    }
  }
  finish();
  await Promise.all([...stages.values()].map((s) => s.done));
  return stages;
}

/** Maps container-absolute arguments into the stage's root. */
function mapArgs(st: Stage, argv: string[]): string[] {
  return argv.map((a) => (a.startsWith('/') && fs.existsSync(path.join(st.root, path.dirname(a))) ? path.join(st.root, a) : a));
}

t.test('the Dockerfile steps build an image that starts, answers /healthz and proxies', async (t) => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-docker-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const [group, stages] = await Promise.all([withGroup(t, { replicas: 0 }), build(dockerfile, work)]);
  const runtime = [...stages.values()].at(-1)!;
  for (const x of timings) t.comment(x);

  // What the final image holds.
  t.ok(runtime.user && runtime.user !== 'root' && runtime.user !== '0', `non-root user (${runtime.user})`);
  t.same(runtime.expose.sort(), ['6379', '6380', '9121'], 'ports documented');
  t.equal(runtime.env.NODE_ENV, 'production');
  t.ok(fs.existsSync(inRoot(runtime, CONFIG_PATH)), `a default config at ${CONFIG_PATH}`);
  t.same(runtime.cmd, ['--config', CONFIG_PATH], 'CMD reads the documented config path');
  const nm = inRoot(runtime, 'node_modules');
  for (const dep of ['pino', 'prom-client', 'ioredis', 'yaml']) t.ok(fs.existsSync(path.join(nm, dep, 'package.json')), `production dependency ${dep}`);
  for (const dev of ['typescript', 'tap', 'fast-check', '@types/node']) t.notOk(fs.existsSync(path.join(nm, dev)), `no dev dependency ${dev}`);
  t.notOk(fs.existsSync(inRoot(runtime, 'src')), 'no TypeScript sources in the image');
  t.notOk(fs.existsSync(inRoot(runtime, 'dist/test')), 'no compiled tests in the image');
  t.ok(runtime.healthcheck, 'HEALTHCHECK');

  // The base image: a supported Node.js LTS (even major, 24 or newer), pinned to a release.
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
    repository: { url: string };
  };
  const froms = parseDockerfile(dockerfile).filter((i) => i.op === 'FROM');
  const argDefault = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
  t.ok(argDefault, 'the base image is one ARG (NODE_IMAGE) shared by every stage');
  for (const f of froms) t.match(f.args, /^\$\{NODE_IMAGE\}\s/, `Dockerfile:${f.line} FROM uses NODE_IMAGE`);
  const m = /^node:(\d+)\.(\d+)\.(\d+)-[a-z]+(-slim)?$/.exec(argDefault ?? '');
  t.ok(m, `base image pinned to a Node.js release (${argDefault})`);
  if (m) t.ok(Number(m[1]) >= 24 && Number(m[1]) % 2 === 0, `Node.js ${m[1]} is an LTS line, 24 or newer`);
  // OCI labels agree with package.json.
  const L = runtime.labels;
  t.equal(L['org.opencontainers.image.version'], pkg.version, 'image version = package.json version');
  t.equal(L['org.opencontainers.image.licenses'], pkg.license, 'image licence = package.json licence');
  t.equal(L['org.opencontainers.image.source'], pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, ''), 'image source = package.json repository');
  t.equal(L['org.opencontainers.image.base.name'], `docker.io/library/${argDefault}`, 'base.name names the base image');
  for (const k of ['title', 'description', 'revision']) t.ok(L[`org.opencontainers.image.${k}`], `label org.opencontainers.image.${k}`);
  t.ok(fs.existsSync(inRoot(runtime, 'LICENSE')), 'the licence ships in the image');

  // "Mount" a config for the sandbox group at the documented path, and start the entrypoint.
  const [port, adminPort] = await freePorts(2);
  fs.writeFileSync(
    inRoot(runtime, CONFIG_PATH),
    `admin: { listen: "127.0.0.1:${adminPort}" }\nshutdown: { timeoutMs: 2000 }\ngroups:\n  - name: ${group.masterName}\n    listen: "127.0.0.1:${port}"\n    sentinels: [${group.sentinelAddrs.map((a) => `"${a}"`).join(', ')}]\n`,
  );
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: inRoot(runtime, '/home/node'), ...runtime.env };
  const argv = mapArgs(runtime, [...runtime.entrypoint!, ...runtime.cmd!]);
  const cwd = inRoot(runtime, '.');
  const child: ChildProcess = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const hc = mapArgs(runtime, runtime.healthcheck!);
  const healthcheck = () =>
    new Promise<number | null>((resolve) => {
      const h = spawn(hc[0], hc.slice(1), { cwd, env: { ...env, RSP_HEALTHCHECK_URL: `http://127.0.0.1:${adminPort}/healthz` }, stdio: 'ignore' });
      h.on('exit', (code) => resolve(code));
    });
  await waitFor(async () => (await healthcheck()) === 0, { what: `the HEALTHCHECK command to pass; output:\n${out}`, timeoutMs: 20_000 });
  t.pass('HEALTHCHECK passes');
  t.match(out, /"msg":"started"/, 'JSON logs on stdout');

  const c = await rawClient(port);
  t.teardown(() => c.close());
  t.equal(await c.cmd('PING'), '+PONG\r\n', 'PING through the proxy');
  t.equal(await c.cmd('SET', 'docker', 'ok'), '+OK\r\n');
  t.equal(await c.cmd('GET', 'docker'), '$2\r\nok\r\n');
  c.close();

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: clean exit');
  t.equal(await healthcheck(), 1, 'HEALTHCHECK fails once the proxy is gone');
});
