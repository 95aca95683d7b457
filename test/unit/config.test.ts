import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { DEFAULT_LIMITS, DEFAULT_TOPOLOGY, defaultGroupConfig, defaultProxyConfig, INT_MAX } from '../../src/config/defaults.js';
import { loadConfig, type CliFlags, type LoadResult } from '../../src/config/load.js';
import { parseHostPort, parseSize } from '../../src/config/schema.js';
import type { ProxyConfig } from '../../src/config/types.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MiB = 1024 * 1024;
const SECRET = 'hunter2-do-not-print';

const BASE = `
groups:
  - name: mymaster
    listen: "127.0.0.1:6380"
    sentinels: ["127.0.0.1:26379"]
`;

function ok(t: Test, r: LoadResult): ProxyConfig {
  if (!r.ok) {
    t.fail(`unexpected problems:\n${r.problems.join('\n')}`);
    throw new Error('config problems');
  }
  return r.config;
}

/** Each pattern matches some problem line (order-insensitive). */
function hasAll(t: Test, lines: string[], patterns: RegExp[], msg = '') {
  for (const re of patterns) t.ok(lines.some((l) => re.test(l)), `${msg}${msg ? ': ' : ''}has ${String(re)}\n${lines.join('\n')}`);
}

/** The problem lines without their "file:line:col: " (tested on their own below); YAML syntax
 * errors keep theirs. */
function problems(t: Test, r: LoadResult): string[] {
  if (r.ok) {
    t.fail('expected problems, got a valid config');
    return [];
  }
  return r.problems.map((l) => l.replace(/^\S+\.yaml:\d+:\d+: (?!YAML:)/, ''));
}

/** Writes `yaml` (and extra files) into a fresh dir and loads it. */
function loadYaml(t: Test, yaml: string, opts: { argv?: CliFlags; env?: NodeJS.ProcessEnv; files?: Record<string, string | Record<string, string>> } = {}) {
  const dir = t.testdir({ 'proxy.yaml': yaml, ...(opts.files ?? {}) });
  return loadConfig({ file: join(dir, 'proxy.yaml'), argv: opts.argv ?? {}, env: opts.env ?? {} });
}

t.test('defaults, from flags alone', async (t) => {
  const c = ok(t, loadConfig({ argv: { sentinel: ['127.0.0.1:26379'], masterName: 'mymaster', listen: '127.0.0.1:6380' }, env: {} }));
  t.equal(c.logLevel, 'info');
  t.equal(c.logFormat, 'json');
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 9121 }, readiness: 'master' });
  t.equal(c.shutdown.timeoutMs, 10000);
  t.equal(c.groups.length, 1);
  const g = c.groups[0]!;
  t.equal(g.name, 'mymaster');
  t.same(g.listen, { host: '127.0.0.1', port: 6380 });
  t.equal(g.readListen, undefined);
  t.same(g.sentinels, [{ host: '127.0.0.1', port: 26379 }]);
  t.same(g.auth, {});
  t.same(g.sentinelAuth, {});
  t.same(g.tls, {});
  t.same(g.topology, { pollIntervalMs: 1000, connectTimeoutMs: 1000, requireSentinelMajority: false, writeSafety: 'safe', livenessTimeoutMs: 1000 });
  t.same(g.failover, { holdTimeoutMs: 10000, holdBytes: 64 * MiB });
  t.same(g.reads, { routeReads: 'master', maxLagMs: 1000, fallback: 'master', readYourWritesMs: 0 });
  t.same(g.limits, {
    maxClients: 10000,
    idleTimeoutMs: 0,
    maxBulkBytes: 512 * MiB,
    maxMultibulkLength: 2147483647,
    queryBufferBytes: 1024 * MiB,
    outputBufferSoftBytes: 32 * MiB,
    outputBufferHardBytes: 256 * MiB,
  });
  t.equal(INT_MAX, 2147483647);
});

t.test('defaultGroupConfig / defaultProxyConfig', async (t) => {
  const g = defaultGroupConfig({ name: 'g', listen: '127.0.0.1:0', sentinels: ['127.0.0.1:26379', { host: '::1', port: 26380 }], limits: { maxClients: 5 } });
  t.same(g.listen, { host: '127.0.0.1', port: 0 });
  t.same(g.sentinels[1], { host: '::1', port: 26380 });
  t.equal(g.limits.maxClients, 5);
  t.equal(g.limits.maxBulkBytes, DEFAULT_LIMITS.maxBulkBytes);
  t.same(g.topology, DEFAULT_TOPOLOGY);
  t.not(g.topology, DEFAULT_TOPOLOGY, 'no shared objects');
  g.topology.pollIntervalMs = 50; // mutable for code callers
  t.equal(DEFAULT_TOPOLOGY.pollIntervalMs, 1000);
  const p = defaultProxyConfig({ groups: [{ name: 'g', listen: { host: '127.0.0.1', port: 0 }, sentinels: ['127.0.0.1:1'] }], admin: {} });
  t.same(p.admin, {});
  t.equal(p.shutdown.timeoutMs, 10000);
  t.throws(() => defaultGroupConfig({ name: 'g', listen: 'nope', sentinels: [] }));
});

t.test('top-level defaults, group overrides', async (t) => {
  const c = ok(
    t,
    loadYaml(
      t,
      `
logLevel: debug
logFormat: pretty
admin: { listen: "127.0.0.1:0" }
shutdown: { timeoutMs: 2500 }
topology: { pollIntervalMs: 200 }
failover: { holdTimeoutMs: 3000, holdBytes: 1mb }
reads: { routeReads: replica, readYourWritesMs: 100 }
limits: { maxClients: 100, outputBufferHardBytes: 512mb }
auth: { username: app, password: top }
sentinelAuth: { password: sen }
groups:
  - name: a
    listen: "127.0.0.1:7000"
    readListen: { host: "127.0.0.1", port: 7001 }
    sentinels: ["10.0.0.1:26379", "[::1]:26380", { host: s3.internal, port: 26381 }]
    limits: { maxClients: 7 }
    reads: { fallback: error }
    auth: { password: mine }
  - name: b
    listen: "127.0.0.1:7002"
    sentinels: ["10.0.0.1:26379"]
    topology: { pollIntervalMs: 50, requireSentinelMajority: true }
`,
    ),
  );
  t.equal(c.logLevel, 'debug');
  t.equal(c.logFormat, 'pretty');
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 0 }, readiness: 'master' });
  t.equal(c.shutdown.timeoutMs, 2500);
  const [a, b] = c.groups;
  t.same(a!.readListen, { host: '127.0.0.1', port: 7001 });
  t.same(a!.sentinels, [
    { host: '10.0.0.1', port: 26379 },
    { host: '::1', port: 26380 },
    { host: 's3.internal', port: 26381 },
  ]);
  t.equal(a!.limits.maxClients, 7, 'group wins');
  t.equal(a!.limits.outputBufferHardBytes, 512 * MiB, 'inherited key by key');
  t.equal(a!.limits.maxBulkBytes, 512 * MiB, 'default');
  t.same(a!.reads, { routeReads: 'replica', maxLagMs: 1000, fallback: 'error', readYourWritesMs: 100 });
  t.same(a!.auth, { password: 'mine' }, 'a group auth replaces the inherited one as a whole');
  t.same(a!.sentinelAuth, { password: 'sen' });
  t.same(a!.topology, { pollIntervalMs: 200, connectTimeoutMs: 1000, requireSentinelMajority: false, writeSafety: 'safe', livenessTimeoutMs: 1000 });
  t.same(b!.auth, { username: 'app', password: 'top' });
  t.same(b!.topology, { pollIntervalMs: 50, connectTimeoutMs: 1000, requireSentinelMajority: true, writeSafety: 'safe', livenessTimeoutMs: 1000 });
  t.same(b!.failover, { holdTimeoutMs: 3000, holdBytes: MiB });
  t.equal(b!.limits.maxClients, 100);
});

t.test('precedence: flags > env > file > defaults', async (t) => {
  const yaml = `
logLevel: warn
auth: { username: fileuser, password: filepw }
groups:
  - name: filename
    listen: "127.0.0.1:6000"
    sentinels: ["127.0.0.1:26000"]
`;
  const fileOnly = ok(t, loadYaml(t, yaml));
  t.equal(fileOnly.logLevel, 'warn');
  t.equal(fileOnly.groups[0]!.name, 'filename');

  const env = {
    RSP_LOG_LEVEL: 'error',
    RSP_LISTEN: '127.0.0.1:6001',
    RSP_MASTER_NAME: 'envname',
    RSP_SENTINELS: '127.0.0.1:26001, 127.0.0.1:26002',
    RSP_PASSWORD: 'envpw',
    RSP_SENTINEL_USERNAME: 'envsen',
    RSP_ADMIN: 'off',
    RSP_LOG_FORMAT: '', // empty: ignored
  };
  const withEnv = ok(t, loadYaml(t, yaml, { env }));
  t.equal(withEnv.logLevel, 'error');
  t.equal(withEnv.logFormat, 'json');
  t.same(withEnv.admin, { readiness: 'master' }, 'RSP_ADMIN=off disables the admin server');
  const ge = withEnv.groups[0]!;
  t.equal(ge.name, 'envname');
  t.same(ge.listen, { host: '127.0.0.1', port: 6001 });
  t.same(ge.sentinels.map((s) => s.port), [26001, 26002]);
  t.same(ge.auth, { username: 'fileuser', password: 'envpw' }, 'fields override one by one');
  t.same(ge.sentinelAuth, { username: 'envsen' });

  const argv: CliFlags = {
    logLevel: 'trace',
    listen: '127.0.0.1:6002',
    masterName: 'flagname',
    sentinel: ['127.0.0.1:26003', '127.0.0.1:26004,127.0.0.1:26005'],
    password: 'flagpw',
    username: 'flaguser',
    admin: '127.0.0.1:9999',
    readListen: '127.0.0.1:6003',
  };
  const withFlags = ok(t, loadYaml(t, yaml, { env, argv }));
  t.equal(withFlags.logLevel, 'trace');
  t.same(withFlags.admin, { listen: { host: '127.0.0.1', port: 9999 }, readiness: 'master' });
  const gf = withFlags.groups[0]!;
  t.equal(gf.name, 'flagname');
  t.same(gf.listen, { host: '127.0.0.1', port: 6002 });
  t.same(gf.readListen, { host: '127.0.0.1', port: 6003 });
  t.same(gf.sentinels.map((s) => s.port), [26003, 26004, 26005]);
  t.same(gf.auth, { username: 'flaguser', password: 'flagpw' });

  const noAdmin = ok(t, loadYaml(t, yaml, { argv: { admin: false } }));
  t.same(noAdmin.admin, { readiness: 'master' }, '--no-admin');
  const flagBeatsEnvAdmin = ok(t, loadYaml(t, yaml, { argv: { admin: '127.0.0.1:9998' }, env: { RSP_ADMIN: 'off' } }));
  t.same(flagBeatsEnvAdmin.admin, { listen: { host: '127.0.0.1', port: 9998 }, readiness: 'master' });
});

t.test('the config file may come from --config or RSP_CONFIG', async (t) => {
  const dir = t.testdir({ 'a.yaml': BASE, 'b.yaml': BASE.replace('mymaster', 'other') });
  const viaFlag = ok(t, loadConfig({ argv: { config: join(dir, 'a.yaml') }, env: { RSP_CONFIG: join(dir, 'b.yaml') } }));
  t.equal(viaFlag.groups[0]!.name, 'mymaster');
  const viaEnv = ok(t, loadConfig({ argv: {}, env: { RSP_CONFIG: join(dir, 'b.yaml') } }));
  t.equal(viaEnv.groups[0]!.name, 'other');
  const missing = problems(t, loadConfig({ argv: { config: join(dir, 'nope.yaml') }, env: {} }));
  hasAll(t, missing, [/nope\.yaml: cannot read the config file \(no such file\)/]);
});

t.test('every problem at once, each with its path', async (t) => {
  const r = loadYaml(
    t,
    `
logLevel: verbose
lisen: 1
topology: { poll_interval_ms: 5 }
limits: { pollIntervalMs: 3 }
failover: { holdTimeoutMs: "10 fortnights" }
groups:
  - name: a
    listen: "127.0.0.1:6380"
    sentinels: ["127.0.0.1:26379", "127.0.0.1:26379"]
    auth: { password: ${SECRET}, passwordFile: /nonexistent/pw }
  - name: a
    listen: 6380
    sentinels: []
    sentinelAuth: { passwordEnv: NOPE_NOT_SET }
  - listen: "0.0.0.0:6380"
    readListen: { host: "::1", port: 70000 }
    sentinels: ["no-port"]
    reads: { routeReads: replicas }
  - 5
  - name: "has space"
    listen: "127.0.0.1:6390"
    sentinels: ["127.0.0.1:0"]
`,
  );
  const p = problems(t, r);
  const expected = [
    'logLevel: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"',
    /^lisen: unknown key/,
    /^topology\.poll_interval_ms: unknown key \(did you mean "pollIntervalMs"\?/,
    /^limits\.pollIntervalMs: unknown key \(it belongs under topology\)/,
    /^failover\.holdTimeoutMs: expected a whole number of milliseconds or a duration like "500ms"/,
    /^groups\[0\]\.auth: give only one of password, passwordFile, passwordEnv/,
    /^groups\[0\]\.sentinels: 127\.0\.0\.1:26379 is listed twice/,
    /^groups\[1\]\.listen: a port alone is not enough/,
    /^groups\[1\]\.sentinels: needs at least one/,
    /^groups\[1\]\.sentinelAuth\.passwordEnv: environment variable NOPE_NOT_SET is not set/,
    /^groups\[1\]\.name: duplicate group name "a" \(also groups\[0\]\.name\)/,
    /^groups\[2\]\.name: required/,
    /^groups\[2\]\.readListen: port must be in 0\.\.65535/,
    /^groups\[2\]\.sentinels\[0\]: expected "host:port"/,
    /^groups\[2\]\.reads\.routeReads: expected one of "master", "replica"/,
    /^groups\[2\]\.listen: 0\.0\.0\.0:6380 conflicts with groups\[0\]\.listen/,
    /^groups\[3\]: expected a mapping/,
    /^groups\[4\]\.name: must not contain spaces/,
    /^groups\[4\]\.sentinels\[0\]: port must be in 1\.\.65535/,
  ];
  for (const e of expected) {
    t.ok(
      p.some((line) => (typeof e === 'string' ? line === e : e.test(line))),
      `reports ${String(e)}`,
    );
  }
  t.equal(p.length, expected.length, `exactly these problems:\n${p.join('\n')}`);
  t.notOk(p.some((l) => l.includes(SECRET)), 'no password in problems');
  t.notOk(p.some((l) => /^groups\[3\]\.(name|listen|sentinels)/.test(l)), 'no "required" noise for a non-mapping group');
});

t.test('unknown keys are rejected everywhere, with suggestions', async (t) => {
  const p = problems(
    t,
    loadYaml(
      t,
      `
loglevel: info
admin: { listen: "127.0.0.1:0", port: 1 }
groups:
  - name: a
    lsiten: "127.0.0.1:6380"
    listen: "127.0.0.1:6380"
    sentinels: ["127.0.0.1:26379"]
    limits: { maxClient: 3 }
    auth: { pasword: x }
    tls: { backend: { rejectUnauthorised: false } }
`,
    ),
  );
  hasAll(t, p, [
    /^loglevel: unknown key \(did you mean "logLevel"\? keys are camelCase\)/,
    /^admin\.port: unknown key/,
    /^groups\[0\]\.lsiten: unknown key \(did you mean "listen"\?\)/,
    /^groups\[0\]\.limits\.maxClient: unknown key \(did you mean "maxClients"\?\)/,
    /^groups\[0\]\.auth\.pasword: unknown key \(did you mean "password"\?\)/,
    /^groups\[0\]\.tls\.backend\.rejectUnauthorised: unknown key \(did you mean "rejectUnauthorized"\?\)/,
  ]);
  t.equal(p.length, 6, p.join('\n'));
});

t.test('sizes: bytes or Redis units', async (t) => {
  const cases: [unknown, number][] = [
    [0, 0],
    [1234, 1234],
    ['1234', 1234],
    ['1k', 1000],
    ['1kb', 1024],
    ['2m', 2_000_000],
    ['64mb', 64 * MiB],
    ['64MB', 64 * MiB],
    ['1g', 1_000_000_000],
    ['1Gb', 1024 * MiB],
    ['10b', 10],
  ];
  for (const [input, bytes] of cases) t.same(parseSize(input), { ok: true, value: bytes }, String(input));
  for (const bad of ['1tb', '1.5gb', 'lots', '', -1, 1.5, true, null, '99999999999gb']) t.equal(parseSize(bad).ok, false, `rejects ${String(bad)}`);

  const c = ok(
    t,
    loadYaml(t, BASE + `    limits: { maxBulkBytes: 1mb, queryBufferBytes: "2MB", outputBufferSoftBytes: 1k, outputBufferHardBytes: 4096 }\n    failover: { holdBytes: 0 }\n`),
  );
  const l = c.groups[0]!.limits;
  t.equal(l.maxBulkBytes, MiB);
  t.equal(l.queryBufferBytes, 2 * MiB);
  t.equal(l.outputBufferSoftBytes, 1000);
  t.equal(l.outputBufferHardBytes, 4096);
  t.equal(c.groups[0]!.failover.holdBytes, 0);
  const p = problems(t, loadYaml(t, BASE + `    limits: { maxBulkBytes: 12 parsecs, queryBufferBytes: 0 }\n`));
  hasAll(t, p, [/^groups\[0\]\.limits\.maxBulkBytes: expected a number of bytes or a size like "64mb"/, /^groups\[0\]\.limits\.queryBufferBytes: must be at least 1 bytes/]);
});

t.test('host:port parsing', async (t) => {
  t.same(parseHostPort('127.0.0.1:6379', false), { ok: true, value: { host: '127.0.0.1', port: 6379 } });
  t.same(parseHostPort('[::1]:6379', false), { ok: true, value: { host: '::1', port: 6379 } });
  t.same(parseHostPort('redis-sentinel.default.svc:26379', false), { ok: true, value: { host: 'redis-sentinel.default.svc', port: 26379 } });
  t.same(parseHostPort({ host: '::', port: '0' }, true), { ok: true, value: { host: '::', port: 0 } });
  t.equal(parseHostPort('127.0.0.1:0', false).ok, false, 'port 0 only for listeners');
  for (const bad of ['::1:6379', 'host', 'host:', ':6379', 'host:65536', 'host:12x', '[nope]:1', 'a b:1', 6379, null, [], { host: 'h' }]) {
    t.equal(parseHostPort(bad, true).ok, false, `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('passwordFile and passwordEnv', async (t) => {
  const c = ok(
    t,
    loadYaml(
      t,
      `
sentinelAuth: { passwordEnv: SEN_PW }
groups:
  - name: a
    listen: "127.0.0.1:6380"
    sentinels: ["127.0.0.1:26379"]
    auth: { username: app, passwordFile: secrets/pw }
`,
      { files: { secrets: { pw: 'file-secret\n' } }, env: { SEN_PW: 'env-secret' } },
    ),
  );
  t.same(c.groups[0]!.auth, { username: 'app', password: 'file-secret' }, 'relative to the config file, trailing newline trimmed');
  t.same(c.groups[0]!.sentinelAuth, { password: 'env-secret' });

  const crlf = ok(t, loadYaml(t, BASE + '    auth: { passwordFile: pw }\n', { files: { pw: 'p w\r\n\n' } }));
  t.equal(crlf.groups[0]!.auth.password, 'p w');

  const p = problems(
    t,
    loadYaml(t, BASE + '    auth: { passwordFile: missing }\n    sentinelAuth: { passwordFile: empty }\n', { files: { empty: '\n' } }),
  );
  hasAll(t, p, [/^groups\[0\]\.auth\.passwordFile: cannot read file ".*missing" \(no such file\)/, /^groups\[0\]\.sentinelAuth\.passwordFile: the password file is empty/]);

  const emptyEnv = problems(t, loadYaml(t, BASE + '    auth: { passwordEnv: EMPTY }\n', { env: { EMPTY: '' } }));
  hasAll(t, emptyEnv, [/environment variable EMPTY is empty/]);
  const badName = problems(t, loadYaml(t, BASE + '    auth: { passwordEnv: "not a name" }\n'));
  hasAll(t, badName, [/^groups\[0\]\.auth\.passwordEnv: expected an environment variable name/]);
  const numeric = problems(t, loadYaml(t, BASE + '    auth: { password: 12345 }\n'));
  hasAll(t, numeric, [/^groups\[0\]\.auth\.password: expected a string, got number \(quote it in YAML\)/]);
  t.notOk(numeric.join('\n').includes('12345'));
});

t.test('the result is deep-frozen', async (t) => {
  const c = ok(t, loadYaml(t, BASE + '    auth: { username: u }\n'));
  t.ok(Object.isFrozen(c));
  t.ok(Object.isFrozen(c.groups));
  t.ok(Object.isFrozen(c.groups[0]));
  t.ok(Object.isFrozen(c.groups[0]!.listen));
  t.ok(Object.isFrozen(c.groups[0]!.sentinels[0]));
  t.ok(Object.isFrozen(c.groups[0]!.limits));
  t.ok(Object.isFrozen(c.groups[0]!.auth));
  t.ok(Object.isFrozen(c.admin.listen));
  t.throws(() => {
    (c.groups[0]!.limits as { maxClients: number }).maxClients = 1;
  });
});

t.test('cross-field checks', async (t) => {
  const p = problems(
    t,
    loadYaml(
      t,
      `
admin: { listen: "127.0.0.1:7001" }
groups:
  - name: a
    listen: "127.0.0.1:7000"
    readListen: "127.0.0.1:7000"
    sentinels: ["127.0.0.1:26379"]
    limits: { outputBufferSoftBytes: 2mb, outputBufferHardBytes: 1mb }
  - name: b
    listen: "[::]:7001"
    readListen: "127.0.0.1:0"
    sentinels: ["127.0.0.1:26379"]
  - name: c
    listen: "127.0.0.1:0"
    sentinels: ["127.0.0.1:26379"]
`,
    ),
  );
  hasAll(t, p, [
    /^groups\[0\]\.readListen: 127\.0\.0\.1:7000 conflicts with groups\[0\]\.listen/,
    /^groups\[0\]\.limits: outputBufferSoftBytes \(2097152\) is larger than outputBufferHardBytes \(1048576\)/,
    /^admin\.listen: 127\.0\.0\.1:7001 conflicts with groups\[1\]\.listen \(\[::\]:7001\)/,
  ]);
  t.equal(p.length, 3, `port 0 never conflicts:\n${p.join('\n')}`);

  const inherited = problems(t, loadYaml(t, 'limits: { outputBufferHardBytes: 1mb }\n' + BASE));
  hasAll(t, inherited, [/^groups\[0\]\.limits: outputBufferSoftBytes .* is larger than outputBufferHardBytes/]);

  const flagClash = problems(t, loadYaml(t, BASE, { argv: { admin: '127.0.0.1:6380' } }));
  hasAll(t, flagClash, [/^--admin: 127\.0\.0\.1:6380 conflicts with groups\[0\]\.listen/]);
});

t.test('one-group flags with several groups, and no groups at all', async (t) => {
  const two = `${BASE}  - name: other
    listen: "127.0.0.1:6390"
    sentinels: ["127.0.0.1:26379"]
`;
  const p = problems(t, loadYaml(t, two, { argv: { listen: '127.0.0.1:1', masterName: 'x' }, env: { RSP_SENTINELS: '127.0.0.1:2' } }));
  hasAll(t, p, [/^RSP_SENTINELS: applies only when the config has exactly one group/, /^--master-name: applies only/, /^--listen: applies only/]);
  t.equal(p.length, 3);
  // Credentials and log flags apply to every group.
  const c = ok(t, loadYaml(t, two, { argv: { password: 'pw', logLevel: 'debug' } }));
  t.same(c.groups.map((g) => g.auth.password), ['pw', 'pw']);

  const none = problems(t, loadConfig({ argv: {}, env: {} }));
  hasAll(t, none, [/^no groups configured: give --config FILE/]);
  t.equal(none.length, 1);

  const partial = problems(t, loadConfig({ argv: { listen: '127.0.0.1:1' }, env: {} }));
  hasAll(t, partial, [/^--master-name \/ RSP_MASTER_NAME: required/, /^--sentinel \/ RSP_SENTINELS: required/]);

  const emptyFile = problems(t, loadYaml(t, '# nothing\n'));
  hasAll(t, emptyFile, [/^groups: at least one group is required/]);

  // A file group may leave listen/sentinels to the flags.
  const fromFlags = ok(t, loadYaml(t, 'groups:\n  - name: g\n', { argv: { listen: '127.0.0.1:1', sentinel: '127.0.0.1:2' } }));
  t.same(fromFlags.groups[0]!.listen, { host: '127.0.0.1', port: 1 });
  const missing = problems(t, loadYaml(t, 'groups:\n  - name: g\n'));
  hasAll(t, missing, [/^groups\[0\]\.listen: required .*; or give --listen \/ RSP_LISTEN/, /^groups\[0\]\.sentinels: required/]);
});

t.test('bad flag and env values are reported with their source', async (t) => {
  const p = problems(
    t,
    loadYaml(t, BASE, {
      argv: { listen: 'nope', logLevel: 'loud', logFormat: 'xml', password: '', admin: true, sentinel: ['1.2.3.4'] },
      env: { RSP_READ_LISTEN: 'x:y', RSP_MASTER_NAME: 'a b', RSP_ADMIN: '127.0.0.1' },
    }),
  );
  hasAll(t, p, [
    /^RSP_MASTER_NAME: must not contain spaces/,
    /^RSP_READ_LISTEN: port must be a whole number/,
    /^RSP_ADMIN: expected "host:port"/,
    /^--sentinel: "1\.2\.3\.4": expected "host:port"/,
    /^--listen: expected "host:port"/,
    /^--password: must not be empty/,
    /^--admin: expected "host:port"/,
    /^--log-level: expected one of/,
    /^--log-format: expected one of json, pretty/,
  ]);
  t.equal(p.length, 9, p.join('\n'));
});

t.test('passwords never appear in problems', async (t) => {
  const r = loadYaml(
    t,
    `
auth: { password: ${SECRET} }
sentinelAuth: { password: ${SECRET}, passwordEnv: X }
groups:
  - name: a
    listen: ${SECRET}
    sentinels: ["${SECRET}"]
    auth: { username: ${SECRET}x, password: 1 }
`,
    { argv: { password: SECRET, sentinelPassword: SECRET, listen: SECRET }, env: { RSP_PASSWORD: SECRET, RSP_LISTEN: SECRET } },
  );
  const p = problems(t, r);
  t.ok(p.length >= 4, p.join('\n'));
  t.notOk(p.join('\n').includes('hunter2'), p.join('\n'));

  // A YAML syntax error must not print the source line (which may hold a password).
  const syntax = problems(t, loadYaml(t, `auth:\n  password: "${SECRET}\ngroups: [\n`));
  hasAll(t, syntax, [/proxy\.yaml:\d+:\d+: YAML: /]);
  t.notOk(syntax.join('\n').includes('hunter2'), syntax.join('\n'));
});

t.test('YAML details', async (t) => {
  const dup = problems(t, loadYaml(t, BASE + 'logLevel: info\nlogLevel: debug\n'));
  hasAll(t, dup, [/proxy\.yaml:\d+:\d+: YAML: Map keys must be unique/]);
  const list = problems(t, loadYaml(t, '- a\n- b\n'));
  hasAll(t, list, [/expected a mapping at the top level/]);
  const merged = ok(
    t,
    loadYaml(t, `groups:\n  - &g { name: a, listen: "127.0.0.1:1", sentinels: ["127.0.0.1:26379"] }\n  - { <<: *g, name: b, listen: "127.0.0.1:2" }\n`),
  );
  t.same(
    merged.groups.map((g) => [g.name, g.sentinels.length]),
    [['a', 1], ['b', 1]],
    'merge keys work',
  );
  const holder = problems(t, loadYaml(t, `x-common: &c { sentinels: ["127.0.0.1:26379"] }\n` + BASE));
  hasAll(t, holder, [/^x-common: unknown key/], 'no free-form top-level keys');
});

t.test('safety.requireSentinelMajority alias', async (t) => {
  const c = ok(t, loadYaml(t, 'safety: { requireSentinelMajority: true }\n' + BASE));
  t.equal(c.groups[0]!.topology.requireSentinelMajority, true);
  const g = ok(t, loadYaml(t, 'safety: { requireSentinelMajority: true }\n' + BASE + '    topology: { requireSentinelMajority: false }\n'));
  t.equal(g.groups[0]!.topology.requireSentinelMajority, false, 'the group wins');
  const both = problems(t, loadYaml(t, 'safety: { requireSentinelMajority: true }\ntopology: { requireSentinelMajority: true }\n' + BASE));
  hasAll(t, both, [/^safety\.requireSentinelMajority: also set as topology\.requireSentinelMajority/]);
});

t.test('links: shared on and maxPipeline 32 by default; group values win; bad values reported', async (t) => {
  const d = ok(t, loadYaml(t, BASE));
  t.same(d.groups[0]!.links, { shared: true, maxPipeline: 32 });
  const c = ok(t, loadYaml(t, 'links: { maxPipeline: 64 }\n' + BASE + '    links: { shared: false }\n'));
  t.same(c.groups[0]!.links, { shared: false, maxPipeline: 64 }, 'top-level maxPipeline, group shared');
  const bad = problems(t, loadYaml(t, 'links: { maxPipeline: 0, shared: "yes", depth: 3 }\n' + BASE));
  hasAll(t, bad, [/^links\.maxPipeline: /, /^links\.shared: /, /^links\.depth: unknown key/]);
});

t.test('TLS files', async (t) => {
  const dir = t.testdir({});
  const gen = (name: string) =>
    spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '2', '-subj', `/CN=${name}`],
      { stdio: 'ignore' },
    );
  if (gen('a').status !== 0 || gen('b').status !== 0) {
    t.plan(0, 'skip: openssl not available');
    return;
  }
  writeFileSync(join(dir, 'notpem.txt'), 'hello\n');
  const pem = (f: string) => readFileSync(join(dir, f), 'utf8');
  const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return loadConfig({ file, argv: {}, env });
  };
  const c = ok(
    t,
    load(`
tls:
  listener: { cert: a.crt, key: a.key, ca: b.crt, requestCert: true }
  backend: { ca: b.crt, servername: redis.internal, servernameMap: { "10.0.0.1:6379": r1 } }
  sentinel: true
groups:
  - name: a
    listen: "127.0.0.1:1"
    sentinels: ["127.0.0.1:2"]
  - name: b
    listen: "127.0.0.1:3"
    sentinels: ["127.0.0.1:2"]
    tls: { listener: false, backend: { cert: b.crt, key: b.key, rejectUnauthorized: false }, sentinel: { enabled: false } }
`),
  );
  const [a, b] = c.groups;
  t.same(a!.tls.listener, { cert: pem('a.crt'), key: pem('a.key'), ca: pem('b.crt'), requestCert: true });
  t.same(a!.tls.backend, { ca: pem('b.crt'), servername: 'redis.internal', servernameMap: { '10.0.0.1:6379': 'r1' }, rejectUnauthorized: true });
  t.same(a!.tls.sentinel, { rejectUnauthorized: true });
  t.same(b!.tls, { backend: { cert: pem('b.crt'), key: pem('b.key'), rejectUnauthorized: false } }, 'a group replaces or disables each part');

  const p = problems(
    t,
    load(`
groups:
  - name: a
    listen: "127.0.0.1:1"
    sentinels: ["127.0.0.1:2"]
    tls:
      listener: { cert: a.crt, requestCert: true }
      backend: { cert: a.crt }
      sentinel: { ca: missing.crt }
  - name: b
    listen: "127.0.0.1:3"
    sentinels: ["127.0.0.1:2"]
    tls:
      listener: { cert: a.crt, key: b.key }
      backend: { ca: notpem.txt }
`),
  );
  hasAll(t, p, [
    /^groups\[0\]\.tls\.listener\.key: required for a TLS listener/,
    /^groups\[0\]\.tls\.listener\.ca: requestCert needs ca/,
    /^groups\[0\]\.tls\.backend\.key: give both cert and key/,
    /^groups\[0\]\.tls\.sentinel\.ca: cannot read file ".*missing\.crt" \(no such file\)/,
    /^groups\[1\]\.tls\.listener: the TLS files do not load together/,
    /^groups\[1\]\.tls\.backend\.ca: ".*notpem\.txt" is not a PEM file/,
  ]);
  t.notOk(p.join('\n').includes('PRIVATE KEY'), 'no key material in problems');
});

t.test('the shipped config files validate', async (t) => {
  const example = ok(t, loadConfig({ file: join(ROOT, 'config', 'proxy.example.yaml'), argv: {}, env: {} }));
  t.equal(example.groups.length, 1);
  t.equal(example.groups[0]!.limits.maxClients, 2000);
  t.same(example.groups[0]!.readListen, { host: '127.0.0.1', port: 6381 });
  const minimal = ok(t, loadConfig({ file: join(ROOT, 'config', 'proxy.yaml'), argv: {}, env: {} }));
  t.same(minimal.groups[0]!.sentinels, [{ host: '127.0.0.1', port: 26379 }]);
  t.equal(minimal.groups[0]!.name, 'mymaster');
  // Every option documented in the example is spelled out (commented or not) in it.
  const text = readFileSync(join(ROOT, 'config', 'proxy.example.yaml'), 'utf8');
  for (const key of [
    'logLevel', 'logFormat', 'admin', 'shutdown', 'timeoutMs', 'pollIntervalMs', 'connectTimeoutMs', 'requireSentinelMajority',
    'writeSafety', 'livenessTimeoutMs',
    'holdTimeoutMs', 'holdBytes', 'routeReads', 'maxLagMs', 'fallback', 'readYourWritesMs', 'maxClients', 'idleTimeoutMs',
    'maxBulkBytes', 'maxMultibulkLength', 'queryBufferBytes', 'outputBufferSoftBytes', 'outputBufferHardBytes', 'auth',
    'sentinelAuth', 'username', 'password', 'passwordFile', 'passwordEnv', 'listener', 'backend', 'sentinel', 'cert', 'key',
    'ca', 'requestCert', 'servername', 'servernameMap', 'rejectUnauthorized', 'readListen', 'sentinels', 'links', 'shared',
    'maxPipeline',
  ]) {
    t.match(text, new RegExp(`\\b${key}:`), `example mentions ${key}`);
  }
});

t.test('every schema problem names file:line:col', async (t) => {
  const yaml = [
    'logLevel: loud', // 1
    'limits:', // 2
    '  maxClients: 0', // 3
    'groups:', // 4
    '  - name: a', // 5
    '    lisen: "127.0.0.1:7000"', // 6
    '    sentinels: ["127.0.0.1:26379", "127.0.0.1:1:2"]', // 7
    '  - { name: b, listen: "127.0.0.1:7001", sentinels: [] }', // 8
    '',
  ].join('\n');
  const dir = t.testdir({ 'proxy.yaml': yaml });
  const file = join(dir, 'proxy.yaml');
  const r = loadConfig({ file, argv: {}, env: {} });
  t.notOk(r.ok);
  const lines = r.ok ? [] : r.problems;
  const expect: [string, RegExp][] = [
    ['1:11', /logLevel: expected one of/],
    ['3:15', /limits\.maxClients: must be at least 1/],
    ['6:5', /groups\[0\]\.lisen: unknown key \(did you mean "listen"\?\)/],
    ['5:5', /groups\[0\]\.listen: required/],
    ['7:36', /groups\[0\]\.sentinels\[1\]: /],
    ['8:53', /groups\[1\]\.sentinels: needs at least one/],
  ];
  for (const [pos, re] of expect) {
    const line = lines.find((l) => re.test(l));
    t.ok(line?.startsWith(`${file}:${pos}: `), `${String(re)} at ${pos}: ${line}`);
  }
  t.ok(lines.every((l) => l.startsWith(`${file}:`)), `every line located:\n${lines.join('\n')}`);
});

{
  t.test('a YAML error at the end of the file points at its last line, not past it', async (t) => {
    const p = problems(t, loadYaml(t, 'logLevel: info\ngroups: [\n  a,\n'));
    hasAll(t, p, [/proxy\.yaml:3:\d+: YAML: .* \(at the end of the file\)$/]);
    const tab = problems(t, loadYaml(t, 'groups:\n  - name: a\n\tlisten: x\n'));
    hasAll(t, tab, [/proxy\.yaml:3:1: YAML: Tabs are not allowed/]);
  });
}

t.test('durations: milliseconds or units', async (t) => {
  const c = ok(
    t,
    loadYaml(
      t,
      'failover: { holdTimeoutMs: "5s" }\ntopology: { pollIntervalMs: "500ms", connectTimeoutMs: 250 }\nlimits: { idleTimeoutMs: "1m" }\nshutdown: { timeoutMs: "1.5s" }\nreads: { maxLagMs: "2s", readYourWritesMs: "100" }\n' +
        BASE,
    ),
  );
  const g = c.groups[0]!;
  t.equal(g.failover.holdTimeoutMs, 5000);
  t.equal(g.topology.pollIntervalMs, 500);
  t.equal(g.topology.connectTimeoutMs, 250);
  t.equal(g.limits.idleTimeoutMs, 60_000);
  t.equal(c.shutdown.timeoutMs, 1500);
  t.equal(g.reads.maxLagMs, 2000);
  t.equal(g.reads.readYourWritesMs, 100);
  const bad = problems(t, loadYaml(t, 'failover: { holdTimeoutMs: "5 sec" }\ntopology: { pollIntervalMs: "5ms" }\nlimits: { idleTimeoutMs: "0.5ms" }\n' + BASE));
  hasAll(t, bad, [
    /^failover\.holdTimeoutMs: expected a whole number of milliseconds or a duration like "500ms", "5s", "1m"/,
    /^topology\.pollIntervalMs: must be at least 10 ms/,
    /^limits\.idleTimeoutMs: .*whole milliseconds only/,
  ]);
});

t.test('a host name with a trailing dot (a Kubernetes FQDN) is a host name', async (t) => {
  const c = ok(t, loadYaml(t, 'groups:\n  - { name: m, listen: "0.0.0.0:6380", sentinels: ["redis-sentinel.redis.svc.cluster.local.:26379"] }\n'));
  t.same(c.groups[0]!.sentinels, [{ host: 'redis-sentinel.redis.svc.cluster.local.', port: 26379 }]);
  t.ok(parseHostPort('example.com.:1', false).ok);
  t.notOk(parseHostPort('example..:1', false).ok, 'two dots at the end are not a name');
  t.notOk(parseHostPort('.:1', false).ok);
});

t.test('admin.enabled: the suggestion is about admin, not a TLS link', async (t) => {
  const p = problems(t, loadYaml(t, 'admin: { enabled: false }\n' + BASE));
  hasAll(t, p, [/^admin\.enabled: unknown key \(the admin server is on by default; "admin: false" turns it off; allowed here: listen/]);
  t.notOk(p.some((l) => /belongs under (listener|backend|sentinel)/.test(l)), p.join('\n'));
  const tls = problems(t, loadYaml(t, 'tls: { enabled: true }\n' + BASE));
  hasAll(t, tls, [/^tls\.enabled: unknown key \(TLS is set per link/]);
  const misplaced = problems(t, loadYaml(t, 'maxClients: 5\n' + BASE));
  hasAll(t, misplaced, [/^maxClients: unknown key \(it belongs under limits\)/]);
});

t.test('unknown RSP_* variables are warned about, with a suggestion', async (t) => {
  const r = loadYaml(t, BASE, { env: { RSP_SENTINEL: '127.0.0.1:1', RSP_LOGLEVEL: 'debug', RSP_FROBNICATE: '1', RSP_LISTEN: '127.0.0.1:7000' } });
  t.ok(r.ok);
  t.same(r.warnings, [
    'RSP_FROBNICATE: unknown environment variable, ignored (known: RSP_CONFIG, RSP_SENTINELS, RSP_MASTER_NAME, RSP_LISTEN, RSP_READ_LISTEN, RSP_PASSWORD, RSP_USERNAME, RSP_SENTINEL_PASSWORD, RSP_SENTINEL_USERNAME, RSP_ADMIN, RSP_LOG_LEVEL, RSP_LOG_FORMAT)',
    'RSP_LOGLEVEL: unknown environment variable, ignored (did you mean RSP_LOG_LEVEL?)',
    'RSP_SENTINEL: unknown environment variable, ignored (did you mean RSP_SENTINELS?)',
  ]);
});

t.test('admin.readiness: master by default, strict on request', async (t) => {
  t.equal(ok(t, loadYaml(t, BASE)).admin.readiness, 'master');
  t.equal(ok(t, loadYaml(t, 'admin: { readiness: strict }\n' + BASE)).admin.readiness, 'strict');
  const c = ok(t, loadYaml(t, 'admin: { readiness: master, listen: "127.0.0.1:9999" }\n' + BASE));
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 9999 }, readiness: 'master' });
  hasAll(t, problems(t, loadYaml(t, 'admin: { readiness: always }\n' + BASE)), [/^admin\.readiness: expected one of "master", "strict"/]);
});
