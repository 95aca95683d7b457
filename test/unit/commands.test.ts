import t from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  CmdFlag,
  CommandTable,
  isBlockingCall,
  isReadOnly,
  isWrite,
  type CommandSpec,
} from '../../src/commands/table.js';
import { COMMAND_REPLY } from '../../src/commands/redis-commands.js';

const table = CommandTable.packaged();
const tops = table.all().filter((s) => !s.parent);
const subs = table.all().filter((s) => s.parent);
const names = new Set(tops.map((s) => s.name));

const lower = (b: Uint8Array): string =>
  Buffer.from(b.map((c) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c))).toString('latin1');

/** The name placed at a random offset inside a larger buffer of junk. */
function embed(name: string | Uint8Array, rnd: () => number): { buf: Buffer; start: number; end: number } {
  const body = typeof name === 'string' ? Buffer.from(name, 'latin1') : Buffer.from(name);
  const pre = Math.floor(rnd() * 20);
  const buf = Buffer.alloc(pre + body.length + Math.floor(rnd() * 20));
  for (let i = 0; i < buf.length; i++) buf[i] = 0x61 + Math.floor(rnd() * 26); // letters: worst case
  body.copy(buf, pre);
  return { buf, start: pre, end: pre + body.length };
}

function mixedCase(name: string, rnd: () => number): string {
  return [...name].map((c) => (rnd() < 0.5 ? c.toUpperCase() : c)).join('');
}

/** Deterministic PRNG so failures reproduce. */
function prng(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

t.test('packaged table', async (t) => {
  t.equal(tops.length, 240, 'Redis 7.0 has 240 commands');
  t.equal(subs.length, 126);
  t.same(table.all().map((s) => s.id), [...table.all().keys()], 'ids are dense, in order');
  for (const s of table.all()) t.equal(table.byId(s.id), s);
});

t.test('every command is found in any case, at any offset', async (t) => {
  const rnd = prng(1);
  let bad = 0;
  for (const spec of tops) {
    for (const variant of [spec.name, spec.name.toUpperCase(), mixedCase(spec.name, rnd)]) {
      const { buf, start, end } = embed(variant, rnd);
      if (table.lookup(buf, start, end) !== spec) bad++, t.fail(`${variant} not found`);
    }
    if (table.lookupName(spec.name.toUpperCase()) !== spec) bad++, t.fail(`lookupName ${spec.name}`);
  }
  t.equal(bad, 0);
});

t.test('non-commands are not found', async (t) => {
  const miss = (s: string | Buffer) => {
    const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
    return table.lookup(b, 0, b.length);
  };
  for (const s of ['', 'g', 'ge', 'gett', 'getx', 'GETX', ' get', 'get ', 'get\0', '\0get', 'se', 'sett', 'clien', 'clients',
    'client|setname', 'client setname', 'setname', 'g\u00e9t', 'GET\u00c9', '\u00c7lient', 'get\r\n']) {
    t.equal(miss(s), undefined, JSON.stringify(s));
  }
  // bytes >= 0x80 and 0x00 in place of a letter, and the 0x80-bit twin of each letter
  for (const b of [0x00, 0x80, 0xc7, 0xe7, 0xff, 0x47 | 0x80, 0x67 | 0x80]) {
    t.equal(miss(Buffer.from([b, 0x65, 0x74])), undefined, `byte ${b.toString(16)}+et`);
    t.equal(miss(Buffer.from([0x67, 0x65, 0x74, b])), undefined, `get+byte ${b.toString(16)}`);
  }
  // Case folding is for A-Z only: '@'/'[' etc. are not letters ('@' | 0x20 = '`').
  t.equal(miss(Buffer.from('GE' + String.fromCharCode('t'.charCodeAt(0) ^ 0x20 ^ 0x80), 'latin1')), undefined);
  // The range is honoured: a name inside a longer word is not a match, nor out-of-range ends.
  const buf = Buffer.from('xxgetxx');
  t.equal(table.lookup(buf, 2, 5)?.name, 'get');
  t.equal(table.lookup(buf, 2, 6), undefined);
  t.equal(table.lookup(buf, 1, 5), undefined);
  t.equal(table.lookup(buf, 5, 5), undefined);
  t.equal(table.lookup(Buffer.from('get'), 0, 4), undefined, 'end past the buffer');
  t.equal(table.lookup(Buffer.from('get'), -1, 3), undefined);
  t.equal(table.lookupName('client setname'), undefined);
  t.equal(table.lookupName('\u212Aeys'), undefined, 'only ASCII letters fold (KELVIN SIGN is not k)');
});

t.test('subcommands', async (t) => {
  const client = table.lookupName('client')!;
  t.equal(client.kind, 'client');
  const sub = (parent: CommandSpec, s: string) => {
    const { buf, start, end } = embed(s, prng(s.length));
    return table.lookupSub(parent, buf, start, end);
  };
  for (const [p, s] of [['client', 'setname'], ['config', 'get'], ['script', 'load'], ['function', 'load'],
    ['object', 'encoding'], ['xinfo', 'stream'], ['client', 'no-evict'], ['command', 'docs']] as const) {
    const spec = sub(table.lookupName(p)!, s.toUpperCase());
    t.equal(spec?.name, `${p}|${s}`);
    t.equal(spec?.parent, table.lookupName(p));
    t.equal(spec?.kind, table.lookupName(p)!.kind, 'a subcommand has its parent kind');
    t.equal(table.lookupName(`${p}|${s}`), spec);
    t.equal(table.lookupName(p)!.subcommands?.get(s), spec);
  }
  t.equal(sub(client, 'setnam'), undefined);
  t.equal(sub(client, 'get'), undefined, "CONFIG's subcommand is not CLIENT's");
  t.equal(sub(table.lookupName('get')!, 'setname'), undefined, 'no subcommands');
  // Every subcommand is found under its parent.
  for (const s of subs) {
    const own = s.name.slice(s.parent!.name.length + 1);
    const { buf, start, end } = embed(mixedCase(own, prng(s.id)), prng(s.id + 1));
    if (table.lookupSub(s.parent!, buf, start, end) !== s) t.fail(s.name);
  }
  // A spec from another table is refused rather than misread by id.
  const other = CommandTable.fromCommandReply([['zzz', 1, [], 0, 0, 0]], table);
  t.equal(table.lookupSub(other.lookupName('client')!, Buffer.from('setname'), 0, 7), undefined);
  t.equal(other.lookupSub(other.lookupName('client')!, Buffer.from('setname'), 0, 7)?.name, 'client|setname');
});

t.test('kinds and classification', async (t) => {
  const spec = (n: string) => table.lookupName(n)!;
  t.equal(spec('multi').kind, 'multi');
  t.equal(spec('evalsha_ro').kind, 'evalsha_ro');
  t.equal(spec('get').kind, 'other');
  t.equal(spec('readonly').kind, 'readonly');
  const ro = ['get', 'mget', 'hgetall', 'zrange', 'xrange', 'eval_ro', 'evalsha_ro', 'fcall_ro', 'sort_ro', 'pfcount', 'xread'];
  const rw = ['set', 'incr', 'hset', 'del', 'eval', 'evalsha', 'fcall', 'blpop', 'xreadgroup', 'sort', 'flushall'];
  const neither = ['ping', 'multi', 'exec', 'discard', 'client', 'select', 'publish', 'info', 'wait', 'script'];
  for (const n of ro) t.ok(isReadOnly(spec(n)) && !isWrite(spec(n)), `${n} read-only`);
  for (const n of rw) t.ok(isWrite(spec(n)) && !isReadOnly(spec(n)), `${n} write`);
  for (const n of neither) t.ok(!isWrite(spec(n)) && !isReadOnly(spec(n)), `${n} neither`);
  t.ok(isWrite(undefined), 'unknown is a write');
  t.notOk(isReadOnly(undefined));
  t.ok(isWrite(spec('function|load')));
  t.notOk(isWrite(spec('script|load')), 'SCRIPT LOAD: per node, not a write');

  t.ok(isBlockingCall(spec('blpop')));
  t.ok(isBlockingCall(spec('brpoplpush')));
  t.ok(isBlockingCall(spec('blmove')));
  t.ok(isBlockingCall(spec('wait')), 'WAIT blocks though Redis does not flag it');
  t.notOk(isBlockingCall(spec('get')));
  t.notOk(isBlockingCall(undefined));
  t.ok(isBlockingCall(spec('xread')), 'XREAD without args: may block');
  t.notOk(isBlockingCall(spec('xread'), ['COUNT', '5', 'STREAMS', 'block', '0']));
  t.ok(isBlockingCall(spec('xread'), [Buffer.from('count'), Buffer.from('5'), Buffer.from('Block'), Buffer.from('0'), Buffer.from('STREAMS'), Buffer.from('s'), Buffer.from('$')]));
  t.notOk(isBlockingCall(spec('xreadgroup'), ['GROUP', 'block', 'block', 'STREAMS', 's', '>']));
  t.ok(isBlockingCall(spec('xreadgroup'), ['GROUP', 'g', 'c', 'NOACK', 'BLOCK', '10', 'STREAMS', 's', '>']));
});

t.test('fromCommandReply', async (t) => {
  // Buffers and numeric strings (a reply decoded by the proxy's own parser), a module command,
  // null entries (COMMAND INFO of an unknown name), junk.
  const reply: unknown[] = [
    [Buffer.from('JSON.GET'), -2, [Buffer.from('readonly'), 'module'], '1', '1', '1', [], [], []],
    ['json.set', -4, ['write', 'denyoom', 'module'], 1, 1, 1],
    ['get', 2, ['write'], 1, 1, 1], // overrides the base's GET
    ['client|setname', 3, ['admin'], 0, 0, 0], // as COMMAND INFO client|setname answers
    null,
    'junk',
    [],
  ];
  const mod = CommandTable.fromCommandReply(reply, table);
  t.equal(mod.size, table.size + 2);
  const jget = mod.lookup(Buffer.from('Json.Get'), 0, 8)!;
  t.equal(jget.name, 'json.get');
  t.equal(jget.flags, CmdFlag.ReadOnly | CmdFlag.Module);
  t.same([jget.arity, jget.firstKey, jget.lastKey, jget.step], [-2, 1, 1, 1]);
  t.ok(isReadOnly(jget));
  t.ok(isWrite(mod.lookupName('JSON.SET')));
  t.ok(isWrite(mod.lookupName('get')), 'reply replaces the base entry');
  t.equal(mod.lookupName('client|setname')?.kind, 'client', 'base kept, kinds by name');
  t.equal(mod.lookupName('client|setname')?.flags, CmdFlag.Admin, 'a subcommand row updates that subcommand');
  t.equal(mod.lookupName('client')?.subcommands?.size, table.lookupName('client')?.subcommands?.size);
  t.equal(mod.lookupSub(mod.lookupName('client')!, Buffer.from('SetName'), 0, 7)?.flags, CmdFlag.Admin);
  t.equal(mod.lookup(Buffer.from('json.ge'), 0, 7), undefined);
  t.equal(mod.lookup(Buffer.from('json,get'), 0, 8), undefined, 'non-letters match exactly');
  const alone = CommandTable.fromCommandReply(reply);
  t.equal(alone.size, 3);
  t.equal(alone.lookupName('multi'), undefined);
});

/** Fields compared between tables (ids differ between tables by design). */
function shape(s: CommandSpec): unknown {
  return {
    name: s.name, flags: s.flags, acl: s.acl, arity: s.arity, firstKey: s.firstKey, lastKey: s.lastKey, step: s.step,
    kind: s.kind, parent: s.parent?.name, subs: s.subcommands ? [...s.subcommands.keys()] : undefined,
  };
}

t.test('matches a live redis-server', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'commands-test-'));
  const port = await freePort();
  const server: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  t.teardown(async () => {
    redis.disconnect();
    server.kill('SIGTERM');
    if (server.exitCode === null) await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; ; i++) {
    try {
      await redis.connect();
      break;
    } catch (e) {
      if (i > 100) throw e;
      await sleep(50);
    }
  }
  const reply = (await redis.call('COMMAND')) as unknown[];
  const live = CommandTable.fromCommandReply(reply);
  t.equal(live.size, table.size);
  let diffs = 0;
  for (const s of table.all()) {
    const l = live.lookupName(s.name);
    if (!l) diffs++, t.fail(`${s.name} missing live`);
    else if (JSON.stringify(shape(l)) !== JSON.stringify(shape(s))) diffs++, t.same(shape(l), shape(s), s.name);
  }
  t.equal(diffs, 0, 'fromCommandReply(live COMMAND) equals packaged for every command');

  // A sample against the raw flag strings, independently of the parser.
  const raw = new Map((reply as unknown[][]).map((r) => [r[0] as string, r]));
  const flagsOf = (n: string) => new Set(raw.get(n)![2] as string[]);
  const sample: [string, string[], number][] = [
    ['get', ['readonly', 'fast'], CmdFlag.ReadOnly | CmdFlag.Fast],
    ['set', ['write', 'denyoom'], CmdFlag.Write | CmdFlag.Denyoom],
    ['blpop', ['write', 'blocking', 'noscript'], CmdFlag.Write | CmdFlag.Blocking | CmdFlag.NoScript],
    ['xread', ['readonly', 'blocking', 'movablekeys'], CmdFlag.ReadOnly | CmdFlag.Blocking | CmdFlag.MovableKeys],
    ['subscribe', ['pubsub', 'noscript', 'loading', 'stale'], CmdFlag.PubSub | CmdFlag.NoScript | CmdFlag.Loading | CmdFlag.Stale],
    ['auth', ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'], CmdFlag.NoScript | CmdFlag.Loading | CmdFlag.Stale | CmdFlag.Fast | CmdFlag.NoAuth | CmdFlag.AllowBusy],
    ['eval_ro', ['readonly', 'noscript', 'skip_monitor', 'no_mandatory_keys', 'stale', 'movablekeys'], 0],
    ['shutdown', ['admin', 'noscript', 'loading', 'stale', 'no_multi', 'allow_busy'], 0],
    ['exec', ['noscript', 'loading', 'stale', 'skip_slowlog'], 0],
  ];
  for (const [name, flags, bits] of sample) {
    t.same([...flagsOf(name)].sort(), [...flags].sort(), `${name} raw flags`);
    if (bits) t.equal(table.lookupName(name)!.flags, bits, `${name} bits`);
  }
  t.same([...flagsOf('wait')], ['noscript'], 'WAIT is not flagged blocking');
  t.same([...flagsOf('eval')].includes('may_replicate'), false, '7.0 hides may_replicate');
  const blocking = tops.filter((s) => s.flags & CmdFlag.Blocking).map((s) => s.name).sort();
  t.same(blocking, ['blmove', 'blmpop', 'blpop', 'brpop', 'brpoplpush', 'bzmpop', 'bzpopmax', 'bzpopmin', 'xread', 'xreadgroup']);
});

t.test('property: lookup(bytes) is defined iff lowercase(bytes) is a command name', async (t) => {
  const nameArb = fc.constantFrom(...names);
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc.uint8Array({ maxLength: 6 }).map((b) => b.map((c) => 0x41 + (c % 58))), // letters and [\]^_`
    // a real name in random case, possibly mutated (byte changed, cut, extended)
    fc.tuple(nameArb, fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(3)).map(
      ([n, ups, pos, byte, how]) => {
        const b = Buffer.from(n, 'latin1').map((c, i) => (ups[i] && c >= 0x61 && c <= 0x7a ? c - 0x20 : c));
        const p = pos % b.length;
        if (how === 1) b[p] = byte;
        if (how === 2) return b.subarray(0, p);
        if (how === 3) return Buffer.concat([b, Buffer.from([byte])]);
        return b;
      },
    ),
  );
  fc.assert(
    fc.property(bytes, fc.nat(16), fc.nat(16), (b, pre, post) => {
      const buf = Buffer.alloc(pre + b.length + post, 0x61);
      buf.set(b, pre);
      const got = table.lookup(buf, pre, pre + b.length);
      const want = lower(b);
      return names.has(want) ? got?.name === want : got === undefined;
    }),
    { numRuns: 20000 },
  );
  t.pass();
});

t.test('packaged data is a COMMAND reply', async (t) => {
  t.equal(COMMAND_REPLY.length, 240);
  t.equal(CommandTable.packaged(), table, 'built once');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
