// Access: which commands a session may run, decided per subcommand from Redis's own ACL categories
// and flags (DESIGN.md "Access"; issue 15). Pure: no sockets, no config; docs/access.md is the
// user-facing page; test/unit/access.test.ts checks every command and subcommand of the packaged
// table against it, and test/integration/access.test.ts against Redis's own ACL engine (ACL DRYRUN
// for a Redis user built from the same rule).
//
// The rule. A `read` user may run what a Redis ACL user with `+@read +@connection` may, minus
// what Redis marks @write, @admin or @dangerous (a +@read +@connection user in Redis can run
// CLIENT KILL, which is also @connection, and KEYS, which is also @read), plus the SAFE list below.
// The read-only listener grants the same to everyone; there a full user's writes get Redis's
// replica wording (-READONLY) instead of -NOPERM. Unknown commands and subcommands are refused:
// nothing says what they do.
//
// Why per subcommand: a container's own row carries no flags (`FUNCTION`, `XGROUP`, `CONFIG` have
// none, and only @slow), so deciding on it let `FUNCTION FLUSH`, `XGROUP DESTROY`, `CONFIG SET` and
// `ACL SETUSER` through to the master (issue 15, defect 2).

import { ErrorReplies, ProxyErrors, errorReply } from '../errors.js';
import { AclCat, CmdFlag, type CommandSpec } from './table.js';

/** The listener a session came in on. */
export type ListenerKind = 'master' | 'read';
/** A proxy user's access (config `clientAuth.users[].access`); sessions without client
 * authentication have `write`. */
export type UserAccess = 'read' | 'write';
/** allow, or refuse with -NOPERM, or (a full user's write on the read-only listener) -READONLY. */
export type AccessVerdict = 'allow' | 'noperm' | 'readonly';

/**
 * What a command is, for access:
 * - `read`: @read (not @admin/@dangerous), or flagged `readonly` (EVAL_RO, EVALSHA_RO, FCALL_RO:
 *   Redis puts them in @scripting only, and refuses any write they attempt);
 * - `connection`: @connection (not @admin/@dangerous): PING, ECHO, HELLO, AUTH, SELECT, CLIENT
 *   SETNAME/GETNAME/ID/INFO/REPLY/TRACKING, COMMAND *, WAIT, RESET, QUIT...;
 * - `safe`: the SAFE list (not in those categories, changes nothing);
 * - `write`: flagged `write` or @write, or EVAL/EVALSHA/FCALL (a script may write: Redis decides
 *   per script, the proxy cannot);
 * - `admin`: @admin or @dangerous or flagged `admin`: CONFIG *, ACL SETUSER, CLIENT KILL/LIST,
 *   DEBUG, SHUTDOWN, MONITOR, KEYS, SORT_RO...;
 * - `other`: none of these: SCRIPT FLUSH/LOAD/KILL, FUNCTION KILL, PUBLISH, MEMORY PURGE, CLUSTER *...;
 * - `unknown`: not in the table, or a subcommand its container (CLIENT, CONFIG...) does not have.
 * A container called alone (`COMMAND`; `CONFIG` gets Redis's arity error) is its own row.
 */
export type AccessClass = 'read' | 'connection' | 'safe' | 'write' | 'admin' | 'other' | 'unknown';

/**
 * Commands outside @read and @connection that a `read` user may still run: they change no data,
 * no configuration and no other client. Every `<container>|help` subcommand (usage text) counts
 * too. Reasons:
 * - MULTI/EXEC/DISCARD/WATCH/UNWATCH (@transaction): transactions around reads; a refused command
 *   inside MULTI makes EXEC fail with EXECABORT, as Redis does.
 * - the six (un)subscribe commands (@pubsub): receiving messages; PUBLISH/SPUBLISH are not here
 *   (they reach other clients).
 * - PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB: pub/sub introspection.
 * - INFO: Redis files it under @dangerous for what it reveals (replica addresses, paths), but
 *   common clients call it when they connect (ioredis' ready check) and it changes nothing.
 * - TIME: the server's clock.
 * - SCRIPT EXISTS, FUNCTION LIST, FUNCTION STATS, FUNCTION DUMP: inspect scripts and functions
 *   (LIST WITHCODE shows what DUMP exports). SCRIPT LOAD is not here: it grows the server's
 *   script cache, and since Redis 7 a loaded script is not replicated anyway.
 */
export const SAFE: ReadonlySet<string> = new Set([
  'multi', 'exec', 'discard', 'watch', 'unwatch',
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe',
  'pubsub|channels', 'pubsub|numsub', 'pubsub|numpat', 'pubsub|shardchannels', 'pubsub|shardnumsub',
  'info', 'time',
  'script|exists', 'function|list', 'function|stats', 'function|dump',
]);

const ADMIN = AclCat.Admin | AclCat.Dangerous;

/** The access class of a command resolved to its subcommand (see subcommandOf in ./table.ts). */
export function accessClass(spec: CommandSpec | undefined): AccessClass {
  if (spec === undefined) return 'unknown';
  const acl = spec.acl;
  const flags = spec.flags;
  if ((flags & CmdFlag.Write) !== 0 || (acl & AclCat.Write) !== 0) return 'write';
  // The common case (GET, HGETALL, XRANGE...) after two tests.
  if ((acl & (AclCat.Read | ADMIN)) === AclCat.Read && (flags & CmdFlag.Admin) === 0) return 'read';
  const kind = spec.kind;
  if (kind === 'eval' || kind === 'evalsha' || kind === 'fcall') return 'write';
  if (SAFE.has(spec.name) || (spec.parent !== undefined && spec.name.endsWith('|help'))) return 'safe';
  if ((acl & ADMIN) !== 0 || (flags & CmdFlag.Admin) !== 0) return 'admin';
  if ((flags & CmdFlag.ReadOnly) !== 0) return 'read';
  if ((acl & AclCat.Connection) !== 0) return 'connection';
  return 'other';
}

/**
 * The decision: may a session on `listener`, with `access`, run `spec` (the command resolved to
 * its subcommand; undefined when unknown)?
 * - master listener, full user: everything (unknown commands go to the master, as always);
 * - `read` user, either listener: read, connection and safe commands; the rest -NOPERM (Redis
 *   checks ACLs before a replica's read-only state, so a replica too answers NOPERM first);
 * - full user on the read-only listener: the same, but writes, and unknown commands (which may be
 *   writes), get -READONLY as a replica words it. @admin/@dangerous and the rest get -NOPERM:
 *   with `reads.fallback: master` they would reach the master.
 */
export function decideAccess(listener: ListenerKind, access: UserAccess, spec: CommandSpec | undefined): AccessVerdict {
  if (listener === 'master' && access === 'write') return 'allow';
  const c = accessClass(spec);
  if (c === 'read' || c === 'connection' || c === 'safe') return 'allow';
  if (access === 'read') return 'noperm';
  return c === 'write' || c === 'unknown' ? 'readonly' : 'noperm';
}

/** Redis's NOPERM wording names the command, subcommand included: "... run the 'config|set'
 * command". Replies for table commands are made once. */
const nopermBySpec = new WeakMap<CommandSpec, Buffer>();

export function nopermReply(name: string): Buffer {
  return errorReply(`${ProxyErrors.NOPERM.reply} the '${name}' command`);
}

/**
 * The reply to a refused command. `what` is the resolved spec, or for an unknown command or
 * subcommand the name the client sent (unresolvedName).
 */
export function refusalReply(verdict: Exclude<AccessVerdict, 'allow'>, what: CommandSpec | string): Buffer {
  if (verdict === 'readonly') return ErrorReplies.READONLY;
  if (typeof what === 'string') return nopermReply(what);
  let r = nopermBySpec.get(what);
  if (r === undefined) nopermBySpec.set(what, (r = nopermReply(what.name)));
  return r;
}

/** Longest name put in a reply (Redis cuts the arguments it quotes at 128 characters too). */
const NAME_MAX = 128;

/**
 * The name to quote for a command the table does not resolve: `container|sub` for an unknown
 * subcommand of a known container, else the command's first word; lowercased, cut at 128
 * characters, control bytes turned into spaces (an error line must stay one line).
 */
export function unresolvedName(container: CommandSpec | undefined, arg1: Uint8Array | undefined, first: Uint8Array | undefined): string {
  if (container !== undefined) return arg1 === undefined ? container.name : `${container.name}|${printable(arg1)}`;
  return first === undefined ? '' : printable(first);
}

function printable(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length && i < NAME_MAX; i++) {
    const c = b[i]!;
    s += String.fromCharCode(c < 0x20 || c === 0x7f ? 0x20 : c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  return s;
}
