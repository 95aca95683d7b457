// The built CLI, as a user runs it: exit codes, messages, signals.
// Built once into a private directory under .tap/ (gitignored) so parallel builds of dist/ by other
// tests cannot hand us a half-written file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, '.tap', `cli-build-${process.pid}`);
const CLI = join(OUT, 'src', 'cli.js');
const SECRET = 'hunter2-do-not-print';
// Dozens of CLI runs, each a Node start-up, after a private build: more than the suite's default
// 240 s when the machine is busy.
t.setTimeout(900_000);

/** The environment without any RSP_* variable of the caller's. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RSP_')) env[k] = v;
  return { ...env, ...extra };
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** cli() without blocking: many at once, as the machine may be slow to start each one. */
function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.before(() => {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // Type errors elsewhere in the tree still emit; only a missing cli.js is fatal here.
  spawnSync(process.execPath, [tsc, '-p', '.', '--outDir', OUT], { cwd: ROOT, stdio: 'ignore', timeout: 200_000 });
  if (!existsSync(CLI)) throw new Error(`build failed: ${CLI} missing`);
});
t.teardown(() => rmSync(OUT, { recursive: true, force: true }));

t.test('--help', async (t) => {
  const r = cli(['--help']);
  t.equal(r.code, 0);
  for (const s of ['--config', '--check-config', '--sentinel', '--master-name', '--listen', '--read-listen', '--password', '--no-admin', '--log-level', 'RSP_SENTINELS', 'sandbox']) {
    t.match(r.stdout, s, `mentions ${s}`);
  }
  const v = cli(['--version']);
  t.equal(v.code, 0);
  t.match(v.stdout, /^\d+\.\d+\.\d+ \(commit (unknown|[0-9a-f]{12}(\+modified)?), (built \S+, )?node v\d+\.\d+\.\d+, \w+ \w+\)\n$/, 'version, commit, node');
  t.match(cli(['-t', '--help']).stdout, /-t, --check-config/, '-t is --check-config');
});

t.test('usage errors: one line, exit 2, no stack trace', async (t) => {
  const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
    [['--config'], /^redis-sentinel-proxy: --config: expected a value/],
    [['--sentinel'], /^redis-sentinel-proxy: --sentinel: expected a value/],
    [['--listen', '127.0.0.1:1', '--master-name'], /^redis-sentinel-proxy: --master-name: expected a value/],
    [['sandbox', '--replicas'], /^redis-sentinel-proxy: --replicas: expected a value/],
    [['sandbox', '--listen-port', 'abc'], /^redis-sentinel-proxy: --listen-port: expected a port number from 0 to 65535, got "abc"/],
    [['sandbox', '--replicas', '-1'], /^redis-sentinel-proxy: --replicas: expected a number of replicas from 0 to 16, got "-1"/],
    [['sandbox', '--log-level', 'loud'], /^redis-sentinel-proxy: --log-level: expected one of fatal, error/],
    [['--log-level', 'loud', '--sentinel', '127.0.0.1:1', '--master-name', 'm', '--listen', '127.0.0.1:0'], /^redis-sentinel-proxy: --log-level: expected one of fatal/],
    [['--admin', '127.0.0.1:1', '--no-admin'], /^redis-sentinel-proxy: --admin and --no-admin conflict: give one of them/],
    [['--no-admin', '--admin', '127.0.0.1:1'], /^redis-sentinel-proxy: --admin and --no-admin conflict/],
    [['--config', 'a.yaml', '--config', 'b.yaml'], /^redis-sentinel-proxy: --config: given more than once/],
    [['--lisen', '127.0.0.1:1'], /^redis-sentinel-proxy: Unknown argument: lisen/],
  ];
  // Four at a time: all at once on a busy machine only makes each slower.
  const results: Awaited<ReturnType<typeof cliAsync>>[] = [];
  for (let i = 0; i < cases.length; i += 4) {
    results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args, , env]) => cliAsync(args, env)))));
  }
  for (const [i, [args, re]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, re, args.join(' '));
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line: ${r.stderr}`);
    t.notMatch(r.stderr, /\bat .*:\d+:\d+|YError|RangeError/, 'no stack trace');
    t.notMatch(r.stdout, /Starting a Sentinel group/, 'nothing started');
  }
});

t.test('unknown RSP_* variables are warned about with a suggestion', async (t) => {
  const r = cli(['-t', '--config', 'config/proxy.yaml'], { RSP_SENTINEL: '127.0.0.1:26379' });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /^warning: RSP_SENTINEL: unknown environment variable, ignored \(did you mean RSP_SENTINELS\?\)$/m);
  const bad = cli([], { RSP_SENTINEL: '127.0.0.1:26379' });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /did you mean RSP_SENTINELS/, 'also when the config is incomplete (the likely reason)');
});

t.test('-t prints the security warnings the start would log', async (t) => {
  const r = cli(['-t', '--sentinel', '127.0.0.1:26379', '--master-name', 'm', '--listen', '0.0.0.0:7300', '--admin', '0.0.0.0:7301']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^config OK: 1 group\n/);
  t.match(r.stderr, /^warning: group m: listener 0\.0\.0\.0:7300 is reachable beyond loopback without TLS/m);
  t.match(r.stderr, /^warning: admin server 0\.0\.0\.0:7301 is reachable beyond loopback/m);
  const quiet = cli(['-t', '--config', 'config/proxy.yaml']);
  t.equal(quiet.stderr, '', 'nothing to warn about on loopback');
});

t.test('a schema error names file:line:col', async (t) => {
  const dir = t.testdir({ 'p.yaml': 'groups:\n  - name: m\n    listen: "127.0.0.1:0"\n    sentinels: ["127.0.0.1:26379"]\n    limits: { maxClients: "many" }\n' });
  const r = cli(['-t', '--config', join(dir, 'p.yaml')]);
  t.equal(r.code, 2);
  t.match(r.stderr, new RegExp(`^ {2}${join(dir, 'p.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:27: groups\\[0\\]\\.limits\\.maxClients: expected a whole number`, 'm'));
});

t.test('--print-config: every value, where it came from, secrets redacted', async (t) => {
  const dir = t.testdir({
    'p.yaml': `logLevel: debug\nlimits: { maxClients: 500 }\ngroups:\n  - name: m\n    listen: "127.0.0.1:7400"\n    sentinels: ["127.0.0.1:26379"]\n    auth: { password: ${SECRET} }\n    failover: { holdTimeoutMs: 5s }\n`,
  });
  const file = join(dir, 'p.yaml');
  const r = cli(['--print-config', '--config', file, '--listen', '127.0.0.1:7401'], { RSP_SENTINEL_PASSWORD: SECRET });
  t.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}: `)) ?? '';
  t.match(line('logLevel'), new RegExp(`^logLevel: "debug" +# file ${file}:1:11$`));
  t.match(line('logFormat'), /^logFormat: "json" +# default$/);
  t.match(line('groups[0].listen'), /^groups\[0\]\.listen: 127\.0\.0\.1:7401 +# flag --listen$/);
  t.match(line('groups[0].limits.maxClients'), new RegExp(`: 500 +# file ${file}:2:23$`), 'inherited from the top level');
  t.match(line('groups[0].failover.holdTimeoutMs'), new RegExp(`: 5000 +# file ${file}:8:32$`));
  t.match(line('groups[0].auth.password'), new RegExp(`: <redacted> +# file ${file}:7:23$`));
  t.match(line('groups[0].sentinelAuth.password'), /: <redacted> +# env RSP_SENTINEL_PASSWORD$/);
  t.match(line('groups[0].limits.idleTimeoutMs'), /: 0 +# default$/);
  t.notMatch(r.stdout + r.stderr, /hunter2/, 'no secret printed');
});

t.test('--check-config on good configs', async (t) => {
  const minimal = cli(['--check-config', '--config', 'config/proxy.yaml']);
  t.equal(minimal.code, 0, minimal.stderr);
  t.match(minimal.stdout, /^config OK: 1 group\n/);
  t.match(minimal.stdout, /mymaster: listen 127\.0\.0\.1:6380, 1 sentinel/);

  const example = cli(['--check-config', '--config', 'config/proxy.example.yaml']);
  t.equal(example.code, 0, example.stderr);
  t.match(example.stdout, /config OK: 1 group/);

  const dir = t.testdir({
    'two.yaml': `
groups:
  - { name: a, listen: "127.0.0.1:7100", sentinels: ["127.0.0.1:26379"] }
  - { name: b, listen: "127.0.0.1:7101", readListen: "127.0.0.1:7102", sentinels: ["127.0.0.1:26379"], auth: { password: ${SECRET} } }
`,
  });
  const two = cli(['--check-config'], { RSP_CONFIG: join(dir, 'two.yaml'), RSP_PASSWORD: SECRET });
  t.equal(two.code, 0, two.stderr);
  t.match(two.stdout, /^config OK: 2 groups\n/);
  t.match(two.stdout, /b: listen 127\.0\.0\.1:7101, read 127\.0\.0\.1:7102/);
  t.notMatch(two.stdout + two.stderr, /hunter2/);

  const flagsOnly = cli(['--check-config', '--sentinel', '127.0.0.1:26379', '--master-name', 'm', '--listen', '127.0.0.1:7200', '--no-admin']);
  t.equal(flagsOnly.code, 0, flagsOnly.stderr);
  t.match(flagsOnly.stdout, /m: listen 127\.0\.0\.1:7200/);

  const envOnly = cli(['--check-config'], { RSP_SENTINELS: '127.0.0.1:26379,127.0.0.1:26380', RSP_MASTER_NAME: 'm', RSP_LISTEN: '127.0.0.1:7200' });
  t.equal(envOnly.code, 0, envOnly.stderr);
  t.match(envOnly.stdout, /m: listen 127\.0\.0\.1:7200, 2 sentinels/);
});

t.test('--check-config on bad configs: exit 2, every problem, no secrets', async (t) => {
  const dir = t.testdir({
    'bad.yaml': `
logLevel: loud
limits: { maxClients: 0 }
auth: { password: ${SECRET} }
groups:
  - name: a
    listen: "127.0.0.1:99999"
    sentinels: []
    auth: { password: ${SECRET}, passwordEnv: ALSO }
  - name: a
    lisen: "127.0.0.1:7000"
    sentinels: ["127.0.0.1:26379"]
`,
  });
  const r = cli(['--check-config', '--config', join(dir, 'bad.yaml'), '--password', SECRET, '--sentinel-password', SECRET]);
  t.equal(r.code, 2);
  t.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  const m = /^config: (\d+) problems?:$/.exec(lines[0]!);
  t.ok(m, `header: ${lines[0]}`);
  t.equal(Number(m?.[1]), lines.length - 1, 'the count matches the lines');
  for (const re of [
    /^ {2}\S+bad\.yaml:2:11: logLevel: expected one of/,
    /^ {2}\S+bad\.yaml:3:23: limits\.maxClients: must be at least 1/,
    /^ {2}\S+bad\.yaml:7:13: groups\[0\]\.listen: port must be in 0\.\.65535/,
    /^ {2}\S+bad\.yaml:8:16: groups\[0\]\.sentinels: needs at least one/,
    /^ {2}\S+bad\.yaml:9:11: groups\[0\]\.auth: give only one of password, passwordFile, passwordEnv/,
    /^ {2}\S+bad\.yaml:11:5: groups\[1\]\.lisen: unknown key \(did you mean "listen"\?\)/,
    /^ {2}\S+bad\.yaml:10:5: groups\[1\]\.listen: required/,
  ]) {
    t.ok(lines.some((l) => re.test(l)), `has ${String(re)}`);
  }
  t.notMatch(r.stdout + r.stderr, /hunter2/, 'no password printed');

  // The same problems without --check-config: still exit 2 before anything starts.
  const run = cli(['--config', join(dir, 'bad.yaml')]);
  t.equal(run.code, 2);
  t.match(run.stderr, /^config: \d+ problems:/);

  const none = cli([]);
  t.equal(none.code, 2);
  t.match(none.stderr, /^config: 1 problem:\n {2}no groups configured/);

  const missing = cli(['--check-config', '--config', join(dir, 'nope.yaml')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.yaml: cannot read the config file \(no such file\)/);

  const unknownFlag = cli(['--lisen', '127.0.0.1:1']);
  t.equal(unknownFlag.code, 2);
  t.match(unknownFlag.stderr, /Unknown argument/);

  const yamlError = cli(['--check-config', '--config', 'test/integration/cli.test.ts']);
  t.equal(yamlError.code, 2, 'a file that is not YAML is a config problem, not a crash');
  t.notMatch(yamlError.stderr, /at .*\.js:\d+/, 'no stack trace');
});

/** Starts the CLI, collects its JSON log lines, resolves `waitFor(re)` when a line matches. */
function startCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const line = out.split('\n').find((l) => w.re.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    output: () => out + err,
    waitFor(re: RegExp, ms = 60_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(re)}; output:\n${out}${err}`)), ms);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        check();
        void exited.then(() => setTimeout(() => check(), 50));
      });
    },
  };
}

t.test('runs until SIGTERM; SIGHUP reloads or keeps the running config', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, `admin: false\nshutdown: { timeoutMs: 2000 }\ngroups:\n  - { name: m, listen: "127.0.0.1:0", sentinels: ["127.0.0.1:1"], auth: { password: ${SECRET} } }\n`);
  const p = startCli(['--config', file]);
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  await p.waitFor(/"msg":"started"/);

  // An invalid file on SIGHUP: problems logged, still running.
  writeFileSync(file, 'groups: [ { name: m, lisen: 1 } ]\n');
  p.child.kill('SIGHUP');
  await p.waitFor(/keeping the running configuration/);
  t.equal(p.child.exitCode, null, 'still running');

  // A valid one: applied (or, if this build cannot reload, a warning); still running.
  writeFileSync(file, `admin: false\nlogLevel: debug\ngroups:\n  - { name: m, listen: "127.0.0.1:0", sentinels: ["127.0.0.1:1"] }\n`);
  p.child.kill('SIGHUP');
  await p.waitFor(/configuration reloaded|cannot apply a new configuration|reload failed/);
  t.equal(p.child.exitCode, null, 'still running');

  p.child.kill('SIGTERM');
  const r = await p.exited;
  t.equal(r.code, 0, 'SIGTERM: drained and exited 0');
  t.match(p.output(), /"msg":"stopped"/);
  t.notMatch(p.output(), /hunter2/, 'no password in logs');
});

t.test('SIGINT also stops cleanly (flags-only config)', async (t) => {
  const p = startCli(['--sentinel', '127.0.0.1:1', '--master-name', 'm', '--listen', '127.0.0.1:0', '--no-admin', '--log-format', 'json']);
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  await p.waitFor(/"msg":"started"/);
  t.equal(p.child.exitCode, null, 'running');
  p.child.kill('SIGINT');
  const r = await p.exited;
  t.equal(r.code, 0, p.output());
});

t.test('a start-up failure is logged and exits 1', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const p = startCli(['--sentinel', '127.0.0.1:1', '--master-name', 'm', '--listen', `127.0.0.1:${port}`, '--no-admin']);
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  const r = await p.exited;
  t.equal(r.code, 1, 'exit 1');
  t.match(p.output(), /"level":60.*failed to start|failed to start.*"level":60/, 'logged at fatal level');
  t.match(p.output(), /EADDRINUSE/);
});
