// Access per subcommand (issue 15, defect 2: "A `read` user can change the master"). A `read`
// user's FUNCTION FLUSH, XGROUP DESTROY, SCRIPT FLUSH, CONFIG SET, ACL SETUSER... used to run on the
// master with the proxy's backend credentials, because containers were classified by their own
// row (no flags); the read-only listener with `reads.fallback: master` let them through the same
// way. Each is refused here, and the master is checked unchanged afterwards.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withGroup, waitFor, freePort } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { encode, rawClient, type RawClient } from '../helpers/raw.js';
import { CommandTable } from '../../src/commands/table.js';
import { SAFE, decideAccess } from '../../src/commands/access.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const LIB = "#!lua name=acclib\nredis.register_function{function_name='accro', callback=function(keys, args) return 'ro' end, flags={'no-writes'}}";
const SCRIPT = "return 'script'";
const noperm = (name: string) => `-NOPERM this user has no permissions to run the '${name}' command\r\n`;
const READONLY = "-READONLY You can't write against a read only replica.\r\n";

/** Commands that would change the master (or another client), with the name Redis quotes. */
const HARMFUL: [string[], string][] = [
  [['FUNCTION', 'FLUSH'], 'function|flush'],
  [['FUNCTION', 'DELETE', 'acclib'], 'function|delete'],
  [['XGROUP', 'DESTROY', 'acc:s', 'g1'], 'xgroup|destroy'],
  [['SCRIPT', 'FLUSH'], 'script|flush'],
  [['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'], 'config|set'],
  [['ACL', 'SETUSER', 'evil', 'on', '>evil-pw', '~*', '&*', '+@all'], 'acl|setuser'],
  [['FLUSHALL'], 'flushall'],
  [['SET', 'acc:k', 'changed'], 'set'],
  [['EVAL', "return redis.call('set', 'acc:k', 'changed')", '0'], 'eval'],
  [['CLIENT', 'KILL', 'TYPE', 'normal'], 'client|kill'],
  [['CLIENT', 'NO-EVICT', 'on'], 'client|no-evict'],
  [['DEBUG', 'SLEEP', '0'], 'debug'],
  [['SHUTDOWN', 'NOSAVE'], 'shutdown'],
];

t.test('a read user cannot change the master, on either listener', async (t) => {
  const group = await withGroup(t, { replicas: 0, sentinels: 1, password: 'backend-secret' });
  const p = await withProxy(t, group, {
    auth: { password: 'backend-secret' },
    sentinelAuth: { password: 'backend-secret' },
    readListen: { host: '127.0.0.1', port: 0 },
    // No replica at all: the read-only listener sends everything to the master.
    reads: { fallback: 'master' },
    clientAuth: {
      users: [
        { name: 'writer', passwordSha256: sha('writer-pw'), access: 'write' },
        { name: 'reader', passwordSha256: sha('reader-pw'), access: 'read' },
      ],
    },
  });
  // Categories come from the master's own COMMAND reply once read; the packaged table before.
  await waitFor(() => p.proxy.groups[0].commands !== CommandTable.packaged(), { timeoutMs: 30_000, what: "the master's COMMAND reply read" });

  const master = new Redis({ port: group.nodes[0].port, password: 'backend-secret' });
  t.teardown(() => master.disconnect());
  await master.call('FUNCTION', 'LOAD', LIB);
  await master.xadd('acc:s', '*', 'f', 'v');
  await master.xgroup('CREATE', 'acc:s', 'g1', '0');
  const scriptSha = String(await master.script('LOAD', SCRIPT));
  await master.set('acc:k', 'v');
  // A bystander on the master that CLIENT KILL TYPE normal would cut.
  const bystander = new Redis({ port: group.nodes[0].port, password: 'backend-secret', retryStrategy: () => null });
  t.teardown(() => bystander.disconnect());
  const bystanderId = Number(await bystander.client('ID'));
  const snapshot = async () => ({
    functions: JSON.stringify(await master.call('FUNCTION', 'LIST')),
    groups: JSON.stringify(await master.xinfo('GROUPS', 'acc:s')),
    script: JSON.stringify(await master.script('EXISTS', scriptSha)),
    policy: JSON.stringify(await master.config('GET', 'maxmemory-policy')),
    users: JSON.stringify(await master.acl('USERS')),
    dbsize: await master.dbsize(),
    value: await master.get('acc:k'),
  });
  const before = await snapshot();
  t.match(before.functions, /acclib/);
  t.match(before.groups, /g1/);

  const login = async (port: number, user: string, pw: string): Promise<RawClient> => {
    const r = await rawClient(port);
    t.teardown(() => r.close());
    t.equal(await r.cmd('AUTH', user, pw), '+OK\r\n');
    return r;
  };
  const assertUnchanged = async (t: Test) => {
    t.same(await snapshot(), before, 'the master is unchanged');
    t.equal(Number(await bystander.client('ID')), bystanderId, 'the bystander was not killed');
    t.equal(bystander.status, 'ready');
  };

  for (const [listener, port] of [['master', p.port], ['read-only', p.readPort!]] as const) {
    await t.test(`a read user on the ${listener} listener gets -NOPERM`, async (t) => {
      const r = await login(port, 'reader', 'reader-pw');
      for (const [cmd, name] of HARMFUL) t.equal(await r.cmd(...cmd), noperm(name), cmd.join(' '));
      // Unknown commands and subcommands are refused too: nothing says what they do.
      t.equal(await r.cmd('NOSUCHCMD', 'x'), noperm('nosuchcmd'));
      t.equal(await r.cmd('CONFIG', 'NOSUCHSUB'), noperm('config|nosuchsub'));
      // A refused command inside MULTI fails the transaction, as in Redis.
      t.equal(await r.cmd('MULTI'), '+OK\r\n');
      t.equal(await r.cmd('GET', 'acc:k'), '+QUEUED\r\n');
      t.equal(await r.cmd('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'), noperm('config|set'));
      t.equal(await r.cmd('EXEC'), '-EXECABORT Transaction discarded because of previous errors.\r\n');
      // What it may run.
      t.equal(await r.cmd('GET', 'acc:k'), '$1\r\nv\r\n');
      t.match(await r.cmd('XRANGE', 'acc:s', '-', '+'), /^\*1\r\n/);
      t.match(await r.cmd('XINFO', 'GROUPS', 'acc:s'), /g1/);
      t.match(await r.cmd('FUNCTION', 'LIST'), /acclib/);
      t.equal(await r.cmd('SCRIPT', 'EXISTS', scriptSha), '*1\r\n:1\r\n');
      t.equal(await r.cmd('FCALL_RO', 'accro', '0'), '$2\r\nro\r\n');
      t.equal(await r.cmd('EVALSHA_RO', scriptSha, '0'), '$6\r\nscript\r\n');
      t.equal(await r.cmd('CLIENT', 'SETNAME', 'rd'), '+OK\r\n');
      t.equal(await r.cmd('CLIENT', 'GETNAME'), '$2\r\nrd\r\n');
      t.equal(await r.cmd('PING'), '+PONG\r\n');
      t.match(await r.cmd('COMMAND', 'COUNT'), /^:\d+\r\n$/);
      t.match(await r.cmd('HELLO', '2'), /^\*14\r\n/);
      t.match(await r.cmd('INFO', 'server'), /redis_version/);
      t.equal(await r.cmd('MULTI'), '+OK\r\n');
      t.equal(await r.cmd('GET', 'acc:k'), '+QUEUED\r\n');
      t.equal(await r.cmd('EXEC'), '*1\r\n$1\r\nv\r\n');
      await assertUnchanged(t);
    });

    // A refusal is a reply like any other: CLIENT REPLY OFF and SKIP silence it, as Redis's own
    // -NOPERM would be (the proxy used to write it anyway, and its DISCARD for the failed
    // transaction waited forever for a reply Redis does not send).
    await t.test(`a read user on the ${listener} listener: refusals follow CLIENT REPLY OFF and SKIP`, async (t) => {
      const r = await login(port, 'reader', 'reader-pw');
      r.send(Buffer.concat([
        encode('CLIENT', 'REPLY', 'OFF'),
        encode('SET', 'acc:k', 'changed'),
        encode('MULTI'),
        encode('GET', 'acc:k'),
        encode('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'),
        encode('EXEC'),
        encode('CLIENT', 'REPLY', 'ON'),
        encode('GET', 'acc:k'),
      ]));
      t.same(await r.read(2, 5000), ['+OK\r\n', '$1\r\nv\r\n'], 'only CLIENT REPLY ON and the GET after it are answered');
      // SKIP: the refused command's reply is the one skipped; the GET after it is answered.
      r.send(Buffer.concat([encode('CLIENT', 'REPLY', 'SKIP'), encode('FLUSHALL'), encode('GET', 'acc:k'), encode('PING')]));
      t.same(await r.read(2, 5000), ['$1\r\nv\r\n', '+PONG\r\n'], 'the FLUSHALL refusal skipped, GET and PING answered');
      t.equal(await r.cmd('PING'), '+PONG\r\n', 'in step afterwards');
      await assertUnchanged(t);
    });
  }

  await t.test('a full user on the read-only listener: writes get -READONLY, admin commands -NOPERM', async (t) => {
    const r = await login(p.readPort!, 'writer', 'writer-pw');
    for (const [cmd, name] of HARMFUL) {
      const expect = ['function|flush', 'function|delete', 'xgroup|destroy', 'flushall', 'set', 'eval'].includes(name) ? READONLY : noperm(name);
      t.equal(await r.cmd(...cmd), expect, cmd.join(' '));
    }
    t.equal(await r.cmd('GET', 'acc:k'), '$1\r\nv\r\n', 'reads are served (by the master: no replica)');
    await assertUnchanged(t);
  });

  await t.test('a full user on the master listener runs them as before', async (t) => {
    const r = await login(p.port, 'writer', 'writer-pw');
    t.match(await r.cmd('CONFIG', 'GET', 'maxmemory-policy'), /maxmemory-policy/);
    t.equal(await r.cmd('XGROUP', 'DESTROY', 'acc:s', 'g1'), ':1\r\n');
    t.equal(await r.cmd('FUNCTION', 'DELETE', 'acclib'), '+OK\r\n');
    t.equal(await r.cmd('NOSUCHCMD'), "-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n", 'unknown commands reach Redis');
  });
});

t.test("Redis's own ACL engine agrees, for every command and subcommand (ACL DRYRUN)", async (t) => {
  // A Redis ACL user built from the documented rule: +@read +@connection, minus @write, @admin and
  // @dangerous, plus the safe list, the *_RO scripts and every HELP. Redis then decides each
  // command from its own categories; the proxy's decision for a `read` user must match.
  const dir = mkdtempSync(join(tmpdir(), 'access-test-'));
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  t.teardown(async () => {
    redis.disconnect();
    server.kill('SIGKILL');
    if (server.exitCode === null && server.signalCode === null) await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(() => redis.connect().then(() => true), { timeoutMs: 30_000, what: 'redis-server up' });
  const table = CommandTable.packaged();
  const helps = table.all().filter((s) => s.name.endsWith('|help')).map((s) => `+${s.name}`);
  await redis.call('ACL', 'SETUSER', 'rd', 'on', 'nopass', '~*', '&*', '+@read', '+@connection', '-@write', '-@admin', '-@dangerous',
    ...[...SAFE].map((n) => `+${n}`), '+eval_ro', '+evalsha_ro', '+fcall_ro', ...helps);
  let checked = 0;
  let bad = 0;
  for (const spec of table.all()) {
    if (spec.subcommands) continue; // a container alone only gets Redis's arity error
    // As many words as the arity asks for (name and subcommand included).
    const words = spec.name.split('|');
    while (words.length < Math.abs(spec.arity)) words.push('x');
    const reply = String(await redis.call('ACL', 'DRYRUN', 'rd', ...words));
    const redisAllows = reply === 'OK';
    if (!redisAllows && !reply.startsWith('This user has no permissions')) {
      bad++;
      t.fail(`${spec.name}: ${reply}`);
      continue;
    }
    checked++;
    if (redisAllows !== (decideAccess('master', 'read', spec) === 'allow')) bad++, t.fail(`${spec.name}: Redis ${reply}, proxy ${decideAccess('master', 'read', spec)}`);
  }
  t.equal(bad, 0, `${checked} commands and subcommands decided as Redis decides`);
  t.ok(checked > 300);
});
