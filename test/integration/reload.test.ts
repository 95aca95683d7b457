// SIGHUP reload through the real CLI process: a new group starts serving, existing client
// connections keep working, limits and the log level apply live, a broken file is rejected with
// every problem listed, and a removed group stops accepting while its sessions drain.
// Built (src only) into a private directory under .tap/ (gitignored), so parallel builds of dist/
// by other tests cannot hand us a half-written file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { withGroup, waitFor, freePorts, type SandboxGroup } from '../helpers/group.js';
import { rawClient } from '../helpers/raw.js';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, '.tap', `reload-build-${process.pid}`);
const CLI = join(OUT, 'src', 'cli.js');

t.before(() => {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(
    join(OUT, 'tsconfig.json'),
    JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { rootDir: ROOT, outDir: OUT, sourceMap: false }, include: [join(ROOT, 'src', '**', '*.ts')] }),
  );
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  spawnSync(process.execPath, [tsc, '-p', join(OUT, 'tsconfig.json')], { cwd: ROOT, stdio: 'ignore', timeout: 200_000 });
  if (!existsSync(CLI)) throw new Error(`build failed: ${CLI} missing`);
});
t.teardown(() => rmSync(OUT, { recursive: true, force: true }));

interface Cli {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** JSON log lines so far. */
  lines(): Record<string, unknown>[];
  /** Resolves with the first log line (from `from` on) for which `pred` holds. */
  waitLog(pred: (l: Record<string, unknown>) => boolean, what: string, from?: number, ms?: number): Promise<Record<string, unknown>>;
}

function startCli(args: string[]): Cli {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RSP_')) env[k] = v;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const parsed: Record<string, unknown>[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      try {
        parsed.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        parsed.push({ msg: line, unparsed: true });
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    lines: () => parsed,
    waitLog: (pred, what, from = 0, ms = 15_000) =>
      waitFor(() => parsed.slice(from).find(pred), { what: `${what}; stderr: ${err.slice(-2000)}`, timeoutMs: ms }),
  };
}

async function http(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text() };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

const yamlGroup = (g: SandboxGroup, port: number, extra = '') =>
  `  - name: ${g.masterName}\n    listen: "127.0.0.1:${port}"\n    sentinels: [${g.sentinelAddrs.map((a) => `"${a}"`).join(', ')}]\n${extra}`;

t.test('SIGHUP: add a group, change limits and log level, reject a broken file, remove a group', async (t) => {
  const [alpha, beta] = await Promise.all([withGroup(t, { masterName: 'alpha', replicas: 0 }), withGroup(t, { masterName: 'beta', replicas: 0 })]);
  const [pa, pb, adminPort] = await freePorts(3);
  const dir = t.testdir({});
  const file = join(dir, 'proxy.yaml');
  const head = `logLevel: info\nadmin: { listen: "127.0.0.1:${adminPort}" }\nshutdown: { timeoutMs: 3000 }\ngroups:\n`;
  writeFileSync(file, head + yamlGroup(alpha, pa));

  const cli = startCli(['--config', file]);
  t.teardown(() => {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  });
  await cli.waitLog((l) => l.msg === 'started', 'started');
  await waitFor(async () => (await http(adminPort, '/readyz')).status === 200, { what: 'ready' });

  // A client connected before the reload, with session state (SELECT) that must survive it.
  const old = await rawClient(pa);
  t.teardown(() => old.close());
  t.equal(await old.cmd('SELECT', 3), '+OK\r\n');
  t.equal(await old.cmd('SET', 'k', 'before'), '+OK\r\n');
  t.notOk(
    cli.lines().some((l) => l.level === 20),
    'no debug lines at info',
  );

  // 1. A valid new file: beta added, alpha's maxClients lowered, debug logging.
  let mark = cli.lines().length;
  writeFileSync(file, head.replace('logLevel: info', 'logLevel: debug') + yamlGroup(alpha, pa, '    limits: { maxClients: 2 }\n    topology: { pollIntervalMs: 500 }\n') + yamlGroup(beta, pb));
  cli.child.kill('SIGHUP');
  const done = await cli.waitLog((l) => l.msg === 'configuration reloaded', 'reload logged', mark);
  const result = done.result as { applied: string[]; restartNeeded: string[]; failed: string[] };
  t.match(result.applied.join('\n'), /logLevel info -> debug/);
  t.match(result.applied.join('\n'), /group beta: added/);
  t.match(result.applied.join('\n'), /group alpha: .*topology.*limits \(maxClients\)/);
  t.same(result.failed, []);

  const b = await rawClient(pb);
  t.teardown(() => b.close());
  t.equal(await waitFor(async () => ((await b.cmd('PING')) === '+PONG\r\n' ? 'ok' : undefined), { what: 'beta served' }), 'ok');
  t.equal(await b.cmd('SET', 'k', 'beta'), '+OK\r\n');
  t.equal(await old.cmd('GET', 'k'), '$6\r\nbefore\r\n', 'the existing alpha connection still works, db kept');
  t.equal(await old.cmd('INCR', 'n'), ':1\r\n');

  // maxClients 2 now applies: one more alpha client fits, the next is refused as Redis words it.
  const second = await rawClient(pa);
  t.teardown(() => second.close());
  t.equal(await second.cmd('PING'), '+PONG\r\n');
  const third = await rawClient(pa);
  t.teardown(() => third.close());
  t.match(await third.closed(), /^-ERR max number of clients reached\r\n/);
  await cli.waitLog((l) => l.level === 20, 'debug lines after the reload', mark);
  const metrics = (await http(adminPort, '/metrics')).text;
  t.match(metrics, /rsp_config_reloads_total\{result="ok"\} 1\n/);
  t.match(metrics, /rsp_sessions_open\{group="beta",listener="master"\} 1\n/);
  t.match(metrics, /rsp_connections_rejected_total\{group="alpha",listener="master",reason="maxclients"\} 1\n/);

  // 2. A broken file: every problem listed, the running config kept.
  mark = cli.lines().length;
  writeFileSync(file, `logLevel: loud\ngroups:\n  - name: alpha\n    lisen: "127.0.0.1:1"\n    sentinels: []\n`);
  cli.child.kill('SIGHUP');
  const bad = await cli.waitLog((l) => /keeping the running configuration/.test(String(l.msg)), 'broken file rejected', mark);
  t.equal(bad.level, 50, 'logged as an error');
  const problems = bad.problems as string[];
  t.ok(problems.length >= 3, `every problem listed: ${JSON.stringify(problems)}`);
  t.match(problems.join('\n'), /logLevel/);
  t.match(problems.join('\n'), /lisen/);
  t.equal(cli.child.exitCode, null, 'still running');
  t.equal(await old.cmd('GET', 'k'), '$6\r\nbefore\r\n', 'alpha client unaffected');
  t.equal(await b.cmd('GET', 'k'), '$4\r\nbeta\r\n', 'beta still served');

  // 3. alpha removed: its listener stops accepting, its sessions drain; beta and its clients go on.
  mark = cli.lines().length;
  writeFileSync(file, head + yamlGroup(beta, pb));
  cli.child.kill('SIGHUP');
  const removed = await cli.waitLog((l) => l.msg === 'configuration reloaded', 'second reload logged', mark);
  t.match((removed.result as { applied: string[] }).applied.join('\n'), /group alpha: removed/);
  await old.closed();
  await second.closed();
  t.ok(await refused(pa), 'alpha listener closed');
  t.equal(await b.cmd('GET', 'k'), '$4\r\nbeta\r\n', 'the beta connection is untouched');
  await waitFor(async () => !(await http(adminPort, '/topology')).text.includes('"alpha"'), { what: 'alpha gone from /topology' });
  t.equal((await http(adminPort, '/readyz')).status, 200);

  cli.child.kill('SIGTERM');
  const r = await cli.exited;
  t.equal(r.code, 0, 'SIGTERM: drained and exited 0');
});
