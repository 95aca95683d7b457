// Credentials never leak: backend and sentinel passwords given in the config, through an
// environment variable or a `passwordFile`, and the passwords clients send in AUTH / HELLO AUTH
// (right and wrong ones), never appear in the logs (debug level), in /topology, /readyz, /metrics,
// or in any reply the proxy sends, over a full run: start, traffic, a failover, wrong passwords
// (client side and proxy side), reload, shutdown.
//
// Every secret has a distinct random marker; the checks look for the whole secret, the marker
// alone (a truncated or re-quoted secret), and its hex and base64 encodings.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { Redis } from 'ioredis';
import { withGroup, waitFor, sleep, freePorts, type HasTeardown, type SandboxGroup } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { rawClient, type RawClient } from '../helpers/raw.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const TS_IMPORT = path.join(ROOT, 'node_modules', '@tapjs', 'typescript', 'dist', 'esm', 'import.mjs');

function secret(label: string): { value: string; marker: string } {
  const marker = randomBytes(8).toString('hex');
  return { value: `${label}-${marker}-S3cr3t`, marker };
}

const S = {
  nodes: secret('requirepass'), // the nodes' requirepass / masterauth (default user)
  sentinels: secret('sentinelpass'), // the sentinels' requirepass
  proxy: secret('proxyuser'), // ACL user `proxy`, the proxy's own links (config `auth`)
  proxy2: secret('proxyuser2'), // a second password of `proxy`, switched to by a reload
  app: secret('appuser'), // ACL user `app`, a client's AUTH
  wrongClient: secret('wrongclient'), // a client's wrong AUTH password
  wrongBackend: secret('wrongbackend'), // a proxy configured with a wrong backend password
  wrongSentinel: secret('wrongsentinel'), // ... and a wrong sentinel password
  value: secret('value'), // a SET value: argument values are not logged either
};

/** Every way a secret could show up. */
function needles(): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, s] of Object.entries(S)) {
    out.push([name, s.value], [`${name} (marker)`, s.marker]);
    out.push([`${name} (hex)`, Buffer.from(s.value).toString('hex')], [`${name} (base64)`, Buffer.from(s.value).toString('base64').slice(0, 20)]);
  }
  return out;
}

function assertClean(t: { same(found: unknown, wanted: unknown, msg: string): boolean }, what: string, text: string): void {
  const found = needles().filter(([, n]) => text.includes(n));
  t.same(
    found.map(([name]) => name),
    [],
    `${what}: no secret (${text.length} bytes checked)`,
  );
}

async function http(port: number, p: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(5000) });
  return `${res.status} ${await res.text()}`;
}

async function adminDump(port: number): Promise<string> {
  return (await Promise.all(['/healthz', '/readyz', '/topology', '/metrics'].map((p) => http(port, p)))).join('\n');
}

/** ACL users `proxy` and `app` on every node (ACLs are not replicated). */
async function createUsers(group: SandboxGroup): Promise<void> {
  for (const n of group.nodes) {
    await n.call('ACL', 'SETUSER', 'proxy', 'on', `>${S.proxy.value}`, `>${S.proxy2.value}`, '~*', '&*', '+@all');
    await n.call('ACL', 'SETUSER', 'app', 'on', `>${S.app.value}`, '~*', '&*', '+@all');
  }
}

/** Collects every reply a raw client gets. */
class Recorder {
  replies: string[] = [];
  async cmd(c: RawClient, ...args: (string | number)[]): Promise<string> {
    const r = await c.cmd(...args);
    this.replies.push(r);
    return r;
  }
  /** Every reply, with the SET value (which GET returns by design) blanked out. */
  text(): string {
    return this.replies.join('\n').split(S.value.value).join('<value>');
  }
}

async function raw(t: HasTeardown, port: number): Promise<RawClient> {
  const c = await rawClient(port);
  t.teardown(() => c.close());
  return c;
}

t.test('credentials never leak', async (t) => {
  const group = await withGroup(t, { replicas: 1, password: S.nodes.value, sentinelPassword: S.sentinels.value });
  await createUsers(group);
  const rec = new Recorder();

  t.test('in-process proxy, config passwords: start, traffic, wrong passwords, failover, shutdown', async (t) => {
    const p = await withProxy(t, group, {
      admin: true,
      auth: { username: 'proxy', password: S.proxy.value },
      sentinelAuth: { password: S.sentinels.value },
    });
    await waitFor(async () => (await http(p.adminPort!, '/readyz')).startsWith('200'), { timeoutMs: 20_000, what: 'ready' });
    const admin: string[] = [await adminDump(p.adminPort!)];

    // Traffic: AUTH as `app`, HELLO 3 AUTH, a secret value, a pipeline.
    const a = await raw(t, p.port);
    t.equal(await rec.cmd(a, 'AUTH', 'app', S.app.value), '+OK\r\n');
    t.match(await rec.cmd(a, 'HELLO', '3', 'AUTH', 'app', S.app.value), /server/);
    t.equal(await rec.cmd(a, 'SET', 'secret:k', S.value.value), '+OK\r\n');
    await rec.cmd(a, 'CLIENT', 'SETNAME', 'secret-test');
    const io = p.client({ username: 'app', password: S.app.value });
    const pipe = io.pipeline();
    for (let i = 0; i < 200; i++) pipe.incr('secret:n');
    await pipe.exec();
    t.equal(await io.get('secret:n'), '200');

    // Wrong passwords from clients: Redis's error, never the password.
    const w = await raw(t, p.port);
    t.match(await rec.cmd(w, 'AUTH', 'app', S.wrongClient.value), /^-WRONGPASS/);
    t.match(await rec.cmd(w, 'AUTH', S.wrongClient.value), /^-WRONGPASS/);
    t.match(await rec.cmd(w, 'HELLO', '3', 'AUTH', 'app', S.wrongClient.value), /^-WRONGPASS/);
    t.match(await rec.cmd(w, 'AUTH', 'app', S.wrongClient.value, 'extra'), /^-ERR/);
    // Failed AUTHs leave the session as it was: without clientAuth its backend link is
    // authenticated with the proxy's own `auth` (sidecar mode: the app need not know a password).
    t.equal(await rec.cmd(w, 'GET', 'secret:k'), `$${S.value.value.length}\r\n${S.value.value}\r\n`, 'unauthenticated client runs as the proxy user');

    // A failover: sessions are re-homed and their AUTH replayed on the new master.
    const old = await group.currentMaster();
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        await io.incr('secret:f').catch(() => undefined);
      }
    })();
    await group.failover();
    await waitFor(async () => (await http(p.adminPort!, '/topology')).includes(await group.currentMaster()), { what: 'proxy on the new master' });
    await sleep(300);
    stop = true;
    await loop;
    t.not(await group.currentMaster(), old);
    t.equal(await rec.cmd(a, 'GET', 'secret:k'), `$${S.value.value.length}\r\n${S.value.value}\r\n`, 'the AUTHed session moved');
    admin.push(await adminDump(p.adminPort!));

    await p.proxy.close();
    const log = fs.readFileSync(p.logFile, 'utf8');
    t.ok(log.split('\n').length > 20, 'debug log written');
    t.match(log, /"level":20/, 'debug lines present');
    const replies = rec.text();
    assertClean(t, 'proxy log', log);
    assertClean(t, 'admin endpoints', admin.join('\n'));
    assertClean(t, 'client replies', replies);
  });

  t.test('wrong backend and sentinel passwords: not ready, and the wrong passwords are nowhere', async (t) => {
    const p = await withProxy(t, group, {
      admin: true,
      auth: { username: 'proxy', password: S.wrongBackend.value },
      sentinelAuth: { password: S.wrongSentinel.value },
      failover: { holdTimeoutMs: 1000 },
    });
    await sleep(2500);
    const ready = await http(p.adminPort!, '/readyz');
    t.match(ready, /^503/, 'not ready');
    const dump = await adminDump(p.adminPort!);
    const c = await raw(t, p.port);
    const r = await rec.cmd(c, 'PING');
    t.match(r, /^-/, 'a client gets an error');

    // Now the sentinels are right but the backend password is wrong.
    const q = await withProxy(t, group, {
      admin: true,
      auth: { username: 'proxy', password: S.wrongBackend.value },
      sentinelAuth: { password: S.sentinels.value },
      failover: { holdTimeoutMs: 1000 },
    });
    await sleep(2500);
    const qready = await http(q.adminPort!, '/readyz');
    t.match(qready, /^503/, 'named master not verified: wrong password');
    t.match(qready, /WRONGPASS|invalid username-password|NOAUTH|not verified/i, '/readyz says why (without the password)');
    const qdump = await adminDump(q.adminPort!);
    const qc = await raw(t, q.port);
    t.match(await rec.cmd(qc, 'GET', 'x'), /^-/);
    await p.proxy.close();
    await q.proxy.close();
    assertClean(t, 'logs', fs.readFileSync(p.logFile, 'utf8') + fs.readFileSync(q.logFile, 'utf8'));
    assertClean(t, 'admin endpoints', dump + qdump);
    assertClean(t, 'replies', rec.text());
  });

  t.test('the real CLI: passwordFile and passwordEnv, debug log, failover, SIGHUP with a new password file, SIGTERM', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-secrets-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const pwFile = path.join(dir, 'proxy.pw');
    fs.writeFileSync(pwFile, `${S.proxy.value}\n`, { mode: 0o600 });
    const [listenPort, adminPort] = await freePorts(2);
    const yaml = `
logLevel: debug
admin: { listen: "127.0.0.1:${adminPort}" }
auth: { username: proxy, passwordFile: ./proxy.pw }
sentinelAuth: { passwordEnv: RSP_TEST_SENTINEL_PW }
topology: { pollIntervalMs: 500 }
shutdown: { timeoutMs: 3000 }
groups:
  - name: ${group.masterName}
    listen: "127.0.0.1:${listenPort}"
    sentinels: [${group.sentinelAddrs.map((a) => `"${a}"`).join(', ')}]
`;
    const cfgFile = path.join(dir, 'proxy.yaml');
    fs.writeFileSync(cfgFile, yaml);
    const env: NodeJS.ProcessEnv = { ...process.env, RSP_TEST_SENTINEL_PW: S.sentinels.value };
    for (const k of Object.keys(env)) if (k.startsWith('RSP_') && k !== 'RSP_TEST_SENTINEL_PW') delete env[k];

    let output = '';
    const child: ChildProcess = spawn(process.execPath, [`--import=${pathToFileURL(TS_IMPORT).href}`, 'src/cli.ts', '--config', cfgFile], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    await waitFor(async () => (await http(adminPort, '/readyz')).startsWith('200'), { timeoutMs: 60_000, what: `CLI ready; output so far:\n${output.slice(-2000)}` });
    const admin: string[] = [await adminDump(adminPort)];
    const io = new Redis({ port: listenPort, host: '127.0.0.1', username: 'app', password: S.app.value, maxRetriesPerRequest: 0, retryStrategy: () => null });
    io.on('error', () => {});
    t.teardown(() => io.disconnect());
    t.equal(await io.set('cli:k', S.value.value), 'OK');
    const w = await raw(t, listenPort);
    t.match(await rec.cmd(w, 'AUTH', 'app', S.wrongClient.value), /^-WRONGPASS/);

    await group.failover();
    await waitFor(async () => (await http(adminPort, '/topology')).includes(await group.currentMaster()), { timeoutMs: 20_000, what: 'CLI on the new master' });
    t.equal(await io.get('cli:k'), S.value.value, 'client session moved');

    // Reload with a different password in the file (and a log line about what changed).
    fs.writeFileSync(pwFile, `${S.proxy2.value}\n`);
    const before = output.length;
    child.kill('SIGHUP');
    await waitFor(() => /reload/i.test(output.slice(before)), { what: 'reload logged' });
    // Ready again with the new password (right after the failover the write lease may hold for a
    // moment while the old master resyncs: readiness says so, then recovers).
    await waitFor(async () => (await http(adminPort, '/readyz')).startsWith('200'), { timeoutMs: 20_000, what: 'ready with the new password' });
    t.match(await http(adminPort, '/readyz'), /^200/, 'still ready with the new password');
    admin.push(await adminDump(adminPort));

    child.kill('SIGTERM');
    t.equal(await exited, 0, 'clean exit');
    t.match(output, /"level":20/, 'debug lines present');
    assertClean(t, 'CLI output (stdout + stderr)', output);
    assertClean(t, 'admin endpoints', admin.join('\n'));
    assertClean(t, 'replies', rec.text());
  });
});
