// A sentinel address that is not a usable sentinel (a wrong port answering HTTP, a protected-mode
// sentinel answering -DENIED) costs a few log lines, not a line per reconnect: the link's backoff
// survives connections that open and then fail, and it logs once per change of state, with what
// the peer really answered, never a client library's internals. Counted from the forked proxy's
// own JSON logs (the CLI run from source with tap's TypeScript loader).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli.ts');

/** A TCP server that answers every connection with `answer` (after the first bytes when
 * `afterData`) and closes it. */
async function peer(answer: string, afterData: boolean): Promise<{ port: number; connections: () => number; close: () => void }> {
  let n = 0;
  const server = net.createServer((c) => {
    n++;
    c.on('error', () => {});
    if (afterData) c.once('data', () => c.end(answer));
    else c.end(answer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, connections: () => n, close: () => server.close() };
}

interface LogLine {
  level: number;
  msg: string;
  err?: string;
  time: number;
}

/** Runs the proxy against `sentinel` for `ms` after it started; its JSON log lines. */
async function runProxy(t: Test, sentinel: string, ms: number): Promise<LogLine[]> {
  const child = spawn(process.execPath, [...process.execArgv, CLI, '--sentinel', sentinel, '--master-name', 'm', '--listen', '127.0.0.1:0', '--no-admin', '--log-level', 'debug'], {
    cwd: ROOT,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RSP_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // Start-up from source may be slow on a loaded machine: the window counts from "started".
  const started = Date.now();
  while (!out.includes('"msg":"started"')) {
    if (child.exitCode !== null || Date.now() - started > 120_000) throw new Error(`the proxy did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, ms));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

const problems = (lines: LogLine[]) => lines.filter((l) => l.level >= 40);
const INTERNALS = /Stream isn't writeable|enableOfflineQueue|Connection is closed|Command queue/;

t.test('a sentinel address answering HTTP: at most 6 warn/error lines in 10 s, saying what it answered', async (t) => {
  const http = await peer('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', true);
  t.teardown(http.close);
  const lines = await runProxy(t, `127.0.0.1:${http.port}`, 10_000);
  const bad = problems(lines);
  t.ok(bad.length <= 6, `${bad.length} warn/error lines:\n${bad.slice(0, 8).map((l) => JSON.stringify(l)).join("\n")}`);
  t.ok(
    bad.some((l) => /not RESP \(answered: "HTTP\/1\.1 400 Bad Request"\)/.test(l.err ?? '')),
    `says what the peer answered:\n${bad.map((l) => JSON.stringify(l)).join('\n')}`,
  );
  t.notOk(lines.some((l) => INTERNALS.test(JSON.stringify(l))), 'no client-library internals, not even at debug');
  t.ok(http.connections() <= 30, `backoff: ${http.connections()} connections in about 10 s`);
});

t.test('a protected-mode sentinel: its -DENIED answer is logged once, with its text', async (t) => {
  const denied = await peer(
    '-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.\r\n',
    false,
  );
  t.teardown(denied.close);
  const lines = await runProxy(t, `127.0.0.1:${denied.port}`, 6000);
  const bad = problems(lines);
  const withText = bad.filter((l) => /-DENIED Redis is running in protected mode/.test(JSON.stringify(l)));
  t.equal(withText.length, 1, `logged once:\n${bad.map((l) => JSON.stringify(l)).join('\n')}`);
  t.ok(bad.length <= 4, `${bad.length} warn/error lines`);
  t.notOk(lines.some((l) => INTERNALS.test(JSON.stringify(l))), 'no client-library internals');
});
