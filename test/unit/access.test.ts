// Access by Redis's own categories, per subcommand (issue 15; src/commands/access.ts). A table test
// over every command and subcommand of the packaged table: the decision is restated here from the
// raw COMMAND strings (flags and categories as Redis names them), independently of the bitsets.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { AclCat, CmdFlag, CommandTable, implicitAclCategories, subcommandOf, type CommandSpec } from '../../src/commands/table.js';
import { COMMAND_REPLY } from '../../src/commands/redis-commands.js';
import {
  SAFE,
  accessClass,
  decideAccess,
  nopermReply,
  refusalReply,
  unresolvedName,
  type AccessVerdict,
  type ListenerKind,
  type UserAccess,
} from '../../src/commands/access.js';

const table = CommandTable.packaged();

interface Row {
  name: string;
  flags: Set<string>;
  cats: Set<string>;
}
const rows: Row[] = [];
for (const r of COMMAND_REPLY) {
  const row = (x: readonly unknown[]): Row => ({ name: x[0] as string, flags: new Set(x[2] as string[]), cats: new Set(x[6] as string[]) });
  rows.push(row(r));
  for (const s of (r[9] as readonly (readonly unknown[])[] | undefined) ?? []) rows.push(row(s));
}

/** The documented safe list (docs/access.md), as the client types it. */
const SAFE_DOC = [
  'MULTI', 'EXEC', 'DISCARD', 'WATCH', 'UNWATCH',
  'SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE',
  'PUBSUB CHANNELS', 'PUBSUB NUMSUB', 'PUBSUB NUMPAT', 'PUBSUB SHARDCHANNELS', 'PUBSUB SHARDNUMSUB',
  'INFO', 'TIME', 'SCRIPT EXISTS', 'FUNCTION LIST', 'FUNCTION STATS', 'FUNCTION DUMP',
];
const safeNames = new Set(SAFE_DOC.map((s) => s.toLowerCase().replace(' ', '|')));

/** The rule, restated from the strings. */
const mayWrite = (r: Row) => r.flags.has('write') || r.cats.has('@write') || ['eval', 'evalsha', 'fcall'].includes(r.name);
const readAllowed = (r: Row): boolean => {
  if (mayWrite(r)) return false;
  if (safeNames.has(r.name) || r.name.endsWith('|help')) return true;
  // What +@read +@connection grants (EVAL_RO & co. by their readonly flag), minus @admin/@dangerous.
  const granted = r.cats.has('@read') || r.cats.has('@connection') || r.flags.has('readonly');
  return granted && !r.cats.has('@admin') && !r.cats.has('@dangerous') && !r.flags.has('admin');
};
function expected(listener: ListenerKind, access: UserAccess, r: Row): AccessVerdict {
  if (listener === 'master' && access === 'write') return 'allow';
  if (readAllowed(r)) return 'allow';
  if (access === 'read') return 'noperm';
  return mayWrite(r) ? 'readonly' : 'noperm';
}

t.test('the packaged table carries every category, for commands and subcommands', async (t) => {
  t.equal(rows.length, table.size, 'one row per spec');
  let bad = 0;
  for (const r of rows) {
    const spec = table.lookupName(r.name)!;
    const bits = [...r.cats].reduce((b, c) => b | (AclCat as Record<string, number>)[Object.keys(AclCat).find((k) => `@${k.toLowerCase()}` === c)!]!, 0);
    if (r.cats.size === 0 || spec.acl !== bits) bad++, t.fail(`${r.name}: ${[...r.cats]} vs ${spec.acl}`);
  }
  t.equal(bad, 0);
  t.equal(table.lookupName('config|set')!.acl, AclCat.Admin | AclCat.Slow | AclCat.Dangerous);
  t.equal(table.lookupName('function|flush')!.acl, AclCat.Write | AclCat.Slow | AclCat.Scripting);
  t.equal(table.lookupName('function')!.acl, AclCat.Slow, 'a container has only @slow');
  t.equal(table.lookupName('function')!.flags, 0, 'and no flags');
});

t.test('every command and subcommand, every listener and access: the decision follows the categories', async (t) => {
  const combos: [ListenerKind, UserAccess][] = [['master', 'write'], ['master', 'read'], ['read', 'write'], ['read', 'read']];
  let checked = 0;
  let bad = 0;
  const allowedForRead: string[] = [];
  for (const r of rows) {
    const spec = table.lookupName(r.name)!;
    // As the session resolves it: a subcommand by its name, a container or command called alone.
    const resolved = spec.parent ? subcommandOf(spec.parent, Buffer.from(r.name.slice(spec.parent.name.length + 1).toUpperCase()), 2) : subcommandOf(spec, undefined, 1);
    if (resolved !== spec) bad++, t.fail(`${r.name} resolves to ${resolved?.name}`);
    for (const [listener, access] of combos) {
      const got = decideAccess(listener, access, resolved);
      checked++;
      if (got !== expected(listener, access, r)) bad++, t.fail(`${listener}/${access} ${r.name}: ${got}, want ${expected(listener, access, r)}`);
    }
    if (readAllowed(r)) allowedForRead.push(r.name);
  }
  t.equal(checked, table.size * 4);
  t.equal(bad, 0, `${checked} decisions`);
  // Nothing a read user may run is flagged write, admin, or in @write/@admin/@dangerous, INFO
  // excepted (in the safe list: Redis files it under @dangerous for what it reveals).
  for (const n of allowedForRead) {
    const s = table.lookupName(n)!;
    if (n === 'info') continue;
    t.notOk(s.flags & (CmdFlag.Write | CmdFlag.Admin) || s.acl & (AclCat.Write | AclCat.Admin | AclCat.Dangerous), n);
  }
  t.ok(allowedForRead.length > 150, `${allowedForRead.length} commands and subcommands for read users`);
});

/** Resolves a command line as the session does: the framer's spec and first argument. */
function resolve(line: string): { spec: CommandSpec | undefined; resolved: CommandSpec | undefined } {
  const words = line.split(' ');
  const spec = table.lookupName(words[0]!);
  return { spec, resolved: subcommandOf(spec, words[1] === undefined ? undefined : Buffer.from(words[1]), words.length) };
}

t.test('named commands', async (t) => {
  const refused = ['FUNCTION FLUSH', 'FUNCTION DELETE', 'FUNCTION LOAD', 'FUNCTION RESTORE', 'XGROUP DESTROY', 'XGROUP CREATE',
    'SCRIPT FLUSH', 'SCRIPT LOAD', 'SCRIPT KILL', 'CONFIG SET', 'CONFIG GET', 'CONFIG REWRITE', 'ACL SETUSER', 'ACL LIST',
    'FLUSHALL', 'FLUSHDB', 'DEBUG', 'SHUTDOWN', 'CLIENT KILL', 'CLIENT LIST', 'CLIENT PAUSE', 'CLIENT NO-EVICT', 'MONITOR',
    'KEYS', 'SORT_RO', 'SET', 'EVAL', 'EVALSHA', 'FCALL', 'PUBLISH', 'SPUBLISH', 'MODULE LOAD', 'SLOWLOG RESET', 'SWAPDB', 'SAVE',
    'BGSAVE', 'LASTSAVE', 'ROLE', 'MEMORY PURGE', 'CLUSTER RESET'];
  const allowed = ['GET', 'XRANGE', 'FUNCTION LIST', 'SCRIPT EXISTS', 'CLIENT SETNAME', 'CLIENT GETNAME', 'CLIENT ID', 'CLIENT INFO',
    'CLIENT REPLY', 'PING', 'ECHO', 'HELLO', 'AUTH', 'SELECT', 'QUIT', 'RESET', 'COMMAND', 'COMMAND DOCS', 'MULTI', 'EXEC',
    'DISCARD', 'WATCH', 'UNWATCH', 'SUBSCRIBE', 'PSUBSCRIBE', 'SUNSUBSCRIBE', 'INFO', 'TIME', 'SCAN', 'XINFO STREAM',
    'OBJECT ENCODING', 'MEMORY USAGE', 'EVAL_RO', 'EVALSHA_RO', 'FCALL_RO', 'XREAD', 'HGETALL',
    'WAIT', 'PUBSUB NUMSUB', 'CONFIG HELP', 'XGROUP HELP', 'DBSIZE'];
  for (const line of refused) {
    const { resolved } = resolve(line);
    t.ok(resolved, `${line} resolves`);
    t.equal(decideAccess('master', 'read', resolved), 'noperm', `${line}: read user refused`);
    t.equal(decideAccess('read', 'read', resolved), 'noperm', `${line}: read user refused on the read-only listener`);
    t.not(decideAccess('read', 'write', resolved), 'allow', `${line}: refused on the read-only listener`);
    t.equal(decideAccess('master', 'write', resolved), 'allow', `${line}: full user, master listener`);
  }
  for (const line of allowed) {
    const { resolved } = resolve(line);
    t.ok(resolved, `${line} resolves`);
    for (const [l, a] of [['master', 'read'], ['read', 'read'], ['read', 'write'], ['master', 'write']] as const) {
      t.equal(decideAccess(l, a, resolved), 'allow', `${line}: ${l}/${a}`);
    }
  }
  // A full user's writes on the read-only listener get the replica's wording; admin commands NOPERM.
  for (const line of ['SET', 'FUNCTION FLUSH', 'XGROUP DESTROY', 'FLUSHALL', 'EVAL', 'FCALL']) {
    t.equal(decideAccess('read', 'write', resolve(line).resolved), 'readonly', line);
  }
  for (const line of ['CONFIG SET', 'ACL SETUSER', 'CLIENT KILL', 'SHUTDOWN', 'DEBUG', 'KEYS', 'SCRIPT FLUSH', 'PUBLISH']) {
    t.equal(decideAccess('read', 'write', resolve(line).resolved), 'noperm', line);
  }
});

t.test('unknown commands and subcommands', async (t) => {
  for (const line of ['NOSUCH', 'NOSUCH x', 'CONFIG NOSUCH', 'FUNCTION NOSUCH x', 'CLIENT NOSUCH']) {
    const { resolved } = resolve(line);
    t.equal(resolved, undefined, line);
    t.equal(accessClass(resolved), 'unknown');
    t.equal(decideAccess('master', 'write', resolved), 'allow', `${line}: routed as always for full users`);
    t.equal(decideAccess('master', 'read', resolved), 'noperm', `${line}: refused for read users`);
    t.equal(decideAccess('read', 'write', resolved), 'readonly', `${line}: may be a write on the read-only listener`);
  }
  // A container alone is its own row (Redis: argc 1 looks up the container).
  t.equal(resolve('COMMAND').resolved, table.lookupName('command'));
  t.equal(decideAccess('master', 'read', resolve('COMMAND').resolved), 'allow', 'COMMAND is @connection');
  for (const line of ['CONFIG', 'FUNCTION', 'CLIENT', 'XGROUP']) {
    const { resolved } = resolve(line);
    t.equal(resolved, table.lookupName(line), line);
    t.equal(accessClass(resolved), 'other', `${line} alone: only @slow`);
    t.equal(decideAccess('master', 'read', resolved), 'noperm');
    t.equal(decideAccess('read', 'write', resolved), 'noperm');
  }
  // A first argument too long for the framer to keep (arg1 undefined, argc 2): not resolved.
  t.equal(subcommandOf(table.lookupName('config'), undefined, 2), undefined);
});

t.test('subcommands resolve for a spec of any table', async (t) => {
  // A command framed before the group's table was replaced (and held since) keeps its old spec.
  const live = CommandTable.fromCommandReply([['get', 2, ['readonly', 'fast'], 1, 1, 1, ['@read', '@string', '@fast']]], table);
  const config = live.lookupName('config')!;
  t.not(config, table.lookupName('config'));
  t.equal(subcommandOf(config, Buffer.from('SeT'), 4)?.name, 'config|set');
  t.equal(subcommandOf(table.lookupName('config'), Buffer.from('set'), 4), table.lookupName('config|set'));
  t.equal(subcommandOf(table.lookupName('get'), Buffer.from('set'), 2), table.lookupName('get'), 'not a container: itself');
  t.equal(subcommandOf(undefined, Buffer.from('set'), 2), undefined);
});

t.test('categories from a live reply: implicit ones when a server names none', async (t) => {
  const reply: unknown[] = [
    // A module command with categories, and ones without (Redis derives them from the flags).
    ['mod.get', 2, ['readonly', 'module'], 1, 1, 1, ['@read', '@slow']],
    ['mod.set', 3, ['write', 'module', 'fast'], 1, 1, 1, []],
    ['mod.ro', 2, ['readonly', 'module'], 1, 1, 1],
    ['mod.admin', 1, ['admin', 'module'], 0, 0, 0],
    ['mod.other', 1, ['module'], 0, 0, 0],
    // Redis 6: CLIENT is one row, flagged admin, in @admin @slow @dangerous @connection.
    ['client', -2, ['admin', 'noscript', 'random', 'loading', 'stale'], 0, 0, 0, ['@admin', '@slow', '@dangerous', '@connection']],
  ];
  const live = CommandTable.fromCommandReply(reply, table);
  t.equal(live.lookupName('mod.get')!.acl, AclCat.Read | AclCat.Slow);
  t.equal(live.lookupName('mod.set')!.acl, AclCat.Write | AclCat.Fast);
  t.equal(live.lookupName('mod.ro')!.acl, AclCat.Read | AclCat.Slow);
  t.equal(live.lookupName('mod.admin')!.acl, AclCat.Admin | AclCat.Dangerous | AclCat.Slow);
  t.equal(live.lookupName('mod.other')!.acl, AclCat.Slow);
  t.equal(implicitAclCategories(CmdFlag.ReadOnly, AclCat.Scripting), AclCat.Scripting | AclCat.Slow, 'scripting commands are not @read');
  const d = (n: string, a: UserAccess = 'read') => decideAccess('master', a, live.lookupName(n));
  t.equal(d('mod.get'), 'allow');
  t.equal(d('mod.ro'), 'allow');
  t.equal(d('mod.set'), 'noperm');
  t.equal(d('mod.admin'), 'noperm');
  t.equal(d('mod.other'), 'noperm');
  t.equal(d('mod.admin', 'write'), 'allow');
  // The packaged subcommands stay under a container the server lists without any.
  const client = live.lookupName('client')!;
  t.equal(client.flags & CmdFlag.Admin, CmdFlag.Admin, "the server's own row");
  t.equal(decideAccess('master', 'read', subcommandOf(client, Buffer.from('setname'), 3)), 'allow');
  t.equal(decideAccess('master', 'read', subcommandOf(client, Buffer.from('kill'), 4)), 'noperm');
});

t.test('refusal replies', async (t) => {
  const spec = table.lookupName('config|set')!;
  t.equal(refusalReply('noperm', spec).toString(), "-NOPERM this user has no permissions to run the 'config|set' command\r\n", "Redis's wording");
  t.equal(refusalReply('noperm', spec), refusalReply('noperm', spec), 'made once per spec');
  t.equal(refusalReply('readonly', spec).toString(), "-READONLY You can't write against a read only replica.\r\n");
  t.equal(nopermReply('x').toString(), "-NOPERM this user has no permissions to run the 'x' command\r\n");
  t.equal(unresolvedName(undefined, undefined, Buffer.from('NoSuch')), 'nosuch');
  t.equal(unresolvedName(table.lookupName('config'), Buffer.from('NOSUB'), undefined), 'config|nosub');
  t.equal(unresolvedName(table.lookupName('config'), undefined, undefined), 'config');
  t.equal(unresolvedName(undefined, undefined, Buffer.from('a\r\nb\x00')), 'a  b ', 'one line');
  t.equal(unresolvedName(undefined, undefined, Buffer.alloc(1000, 0x61)).length, 128);
  t.equal(unresolvedName(undefined, undefined, undefined), '');
});

t.test('docs/access.md lists the safe list, and the code has the same one', async (t) => {
  t.same([...SAFE].sort(), [...safeNames].sort());
  const doc = readFileSync(new URL('../../docs/access.md', import.meta.url), 'utf8');
  for (const s of SAFE_DOC) t.ok(doc.includes(`\`${s}\``), `${s} documented`);
});
