// The command table: what the proxy knows about each Redis command, looked up straight from the
// request bytes.
//
// The data is Redis's own `COMMAND` reply (flags, arity, legacy key positions, ACL categories,
// subcommands with their own flags and categories): the packaged copy in ./redis-commands.ts
// (regenerate with scripts/gen-command-table.mjs), or a live node's reply via
// `CommandTable.fromCommandReply`, so module commands are known too. On top of it the proxy adds
// one thing by name: the `kind` of the few commands a session treats specially. Access decisions
// (./access.ts) read the categories of the subcommand a command resolves to (subcommandOf).
//
// Lookup is a byte trie walked over the name's bytes, case-folded through a 256-entry class map:
// no string is created, and an unknown name is usually rejected at its first or second byte.
// bench/command-lookup.ts compares it with an open-addressed hash table and a toString()+Map
// baseline; the trie was the fastest there (figures in that file's header).

import { COMMAND_REPLY } from './redis-commands.js';

/** Bits of `CommandSpec.flags`, one per flag of Redis's `COMMAND` reply (Redis 7 names). */
export const CmdFlag = {
  Write: 1 << 0, // write
  ReadOnly: 1 << 1, // readonly
  Denyoom: 1 << 2, // denyoom
  Module: 1 << 3, // module
  Admin: 1 << 4, // admin
  PubSub: 1 << 5, // pubsub
  NoScript: 1 << 6, // noscript
  Blocking: 1 << 7, // blocking — XREAD/XREADGROUP carry it even without BLOCK: see isBlockingCall
  Loading: 1 << 8, // loading
  Stale: 1 << 9, // stale
  SkipMonitor: 1 << 10, // skip_monitor
  SkipSlowlog: 1 << 11, // skip_slowlog
  Asking: 1 << 12, // asking
  Fast: 1 << 13, // fast
  NoAuth: 1 << 14, // no_auth
  // Redis 7.0 keeps may_replicate out of its reply on purpose (EVAL, FCALL, PUBLISH, PFCOUNT...
  // have it internally), so this bit is only set by a server that reports it.
  MayReplicate: 1 << 15, // may_replicate
  NoMandatoryKeys: 1 << 16, // no_mandatory_keys
  NoAsyncLoading: 1 << 17, // no_async_loading
  NoMulti: 1 << 18, // no_multi
  MovableKeys: 1 << 19, // movablekeys
  AllowBusy: 1 << 20, // allow_busy
} as const;
export type CmdFlagName = keyof typeof CmdFlag;

/** Bits of `CommandSpec.acl`, one per ACL category of Redis's `COMMAND` reply (index 6; Redis 7
 * names, without the '@'). Access decisions (./access.ts) are made from these. */
export const AclCat = {
  Keyspace: 1 << 0,
  Read: 1 << 1,
  Write: 1 << 2,
  Set: 1 << 3,
  SortedSet: 1 << 4,
  List: 1 << 5,
  Hash: 1 << 6,
  String: 1 << 7,
  Bitmap: 1 << 8,
  HyperLogLog: 1 << 9,
  Geo: 1 << 10,
  Stream: 1 << 11,
  PubSub: 1 << 12,
  Admin: 1 << 13,
  Fast: 1 << 14,
  Slow: 1 << 15,
  Blocking: 1 << 16,
  Dangerous: 1 << 17,
  Connection: 1 << 18,
  Transaction: 1 << 19,
  Scripting: 1 << 20,
} as const;
export type AclCatName = keyof typeof AclCat;

/** Redis's category names → bits. Unknown categories (a later Redis's) are ignored. */
const ACL_BITS: ReadonlyMap<string, number> = new Map(
  Object.entries(AclCat).map(([k, v]) => [`@${k.toLowerCase()}`, v]),
);

/**
 * The categories Redis itself gives a command from its flags when its table names none
 * (setImplicitACLCategories, src/server.c in 7.0): what a module command without categories, or a
 * server older than Redis 6 (no categories in `COMMAND`), gets here.
 */
export function implicitAclCategories(flags: number, acl = 0): number {
  if (flags & CmdFlag.Write) acl |= AclCat.Write;
  if (flags & CmdFlag.ReadOnly && !(acl & AclCat.Scripting)) acl |= AclCat.Read;
  if (flags & CmdFlag.Admin) acl |= AclCat.Admin | AclCat.Dangerous;
  if (flags & CmdFlag.PubSub) acl |= AclCat.PubSub;
  if (flags & CmdFlag.Fast) acl |= AclCat.Fast;
  if (flags & CmdFlag.Blocking) acl |= AclCat.Blocking;
  if (!(acl & AclCat.Fast)) acl |= AclCat.Slow;
  return acl;
}

/** Redis's flag names → bits. Flags not listed (e.g. pre-7 `random`) are ignored. */
const FLAG_BITS: ReadonlyMap<string, number> = new Map([
  ['write', CmdFlag.Write],
  ['readonly', CmdFlag.ReadOnly],
  ['denyoom', CmdFlag.Denyoom],
  ['module', CmdFlag.Module],
  ['admin', CmdFlag.Admin],
  ['pubsub', CmdFlag.PubSub],
  ['noscript', CmdFlag.NoScript],
  ['blocking', CmdFlag.Blocking],
  ['loading', CmdFlag.Loading],
  ['stale', CmdFlag.Stale],
  ['skip_monitor', CmdFlag.SkipMonitor],
  ['skip_slowlog', CmdFlag.SkipSlowlog],
  ['asking', CmdFlag.Asking],
  ['fast', CmdFlag.Fast],
  ['no_auth', CmdFlag.NoAuth],
  ['may_replicate', CmdFlag.MayReplicate],
  ['no_mandatory_keys', CmdFlag.NoMandatoryKeys],
  ['no_async_loading', CmdFlag.NoAsyncLoading],
  ['no_multi', CmdFlag.NoMulti],
  ['movablekeys', CmdFlag.MovableKeys],
  ['allow_busy', CmdFlag.AllowBusy],
]);

/** Commands a session treats specially, by (top-level) name; everything else is 'other'. */
export const SPECIAL_KINDS = [
  'multi', 'exec', 'discard', 'watch', 'unwatch', 'select', 'auth', 'hello', 'client',
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe',
  'ping', 'quit', 'reset', 'monitor', 'sync', 'psync', 'replicaof', 'slaveof', 'failover',
  'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro', 'script', 'function',
  'wait', 'command', 'readonly', 'readwrite',
] as const;
export type CmdKind = (typeof SPECIAL_KINDS)[number] | 'other';
/** Kinds whose commands can be plain (see CommandSpec.plain): ordinary commands, and special ones
 * that change no connection state (PING; scripts and functions run with the caller's state). */
const PLAIN_KINDS: ReadonlySet<CmdKind> = new Set<CmdKind>(['other', 'ping', 'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro', 'script', 'function', 'command']);
/** Ordinary commands that still are not plain: WAITAOF waits (7.2; no `blocking` flag), and the
 * cluster connection flags READONLY, READWRITE and ASKING change the connection's state. */
const NOT_PLAIN: ReadonlySet<string> = new Set(['waitaof', 'readonly', 'readwrite', 'asking']);
const KIND_BY_NAME: ReadonlyMap<string, CmdKind> = new Map(SPECIAL_KINDS.map((k) => [k, k]));

export interface CommandSpec {
  /** Lowercase; subcommands as Redis names them: "client|setname". */
  readonly name: string;
  /** Dense index in its table (0..size-1), e.g. for per-command counters. Table-specific. */
  readonly id: number;
  /** Bitset of CmdFlag. */
  readonly flags: number;
  /** Bitset of AclCat: the server's ACL categories (or those Redis derives from the flags when the
   * server names none). */
  readonly acl: number;
  /** Redis arity: N = exactly N words with the name, -N = at least N. */
  readonly arity: number;
  /** Legacy key positions from COMMAND (0 when none; lastKey -1 = last argument). */
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  /** Special handling by name; a subcommand carries its parent's kind ("client|setname" → 'client'). */
  readonly kind: CmdKind;
  /** Leaves Redis's per-connection state as it was, answers exactly once and never blocks: a
   * stateless session may send it over a shared link (Session.dispatchShared). */
  readonly plain: boolean;
  /** For a subcommand: its container. */
  readonly parent?: CommandSpec;
  /** For a container (CLIENT, CONFIG, ...): its subcommands by their own lowercase name ("setname").
   * For slow paths; the hot path uses CommandTable.lookupSub. */
  readonly subcommands?: ReadonlyMap<string, CommandSpec>;
}

/**
 * Read-only: flagged `readonly` and not `write` — may go to a replica. Unknown commands (undefined)
 * are not. EVAL_RO/EVALSHA_RO/FCALL_RO are read-only (Redis flags them so); EVAL/EVALSHA/FCALL are
 * not, whatever the script does. MULTI/EXEC/DISCARD are neither read-only nor writes: the
 * router decides a transaction as a whole (it goes to the master).
 */
export function isReadOnly(spec: CommandSpec | undefined): boolean {
  return spec !== undefined && (spec.flags & (CmdFlag.ReadOnly | CmdFlag.Write)) === CmdFlag.ReadOnly;
}

/**
 * A write: flagged `write`, or unknown (undefined: a module command we were never told about), or
 * EVAL/EVALSHA/FCALL — Redis flags those neither way (it decides per script), and a script without
 * the `no-writes` flag may write, so they are treated as writes. Commands that are neither
 * (PING, CLIENT, MULTI, PUBLISH, SCRIPT LOAD...) return false here and from isReadOnly.
 */
export function isWrite(spec: CommandSpec | undefined): boolean {
  if (spec === undefined) return true;
  if ((spec.flags & CmdFlag.Write) !== 0) return true;
  const k = spec.kind;
  return k === 'eval' || k === 'evalsha' || k === 'fcall';
}

/**
 * Whether this call can block the connection waiting for something else to happen.
 * - BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN/MAX, BZMPOP: always (flag `blocking`).
 * - XREAD/XREADGROUP: Redis 7 flags them `blocking` unconditionally, but they only block with a
 *   BLOCK option. Pass `args` (the arguments after the name) to tell; without them the answer is
 *   "may block" (true).
 * - WAIT (and 7.2's WAITAOF): not flagged `blocking` by Redis, but they hold the reply until
 *   replicas acknowledge or the timeout expires, so they count here.
 */
export function isBlockingCall(spec: CommandSpec | undefined, args?: readonly (Buffer | string)[]): boolean {
  if (spec === undefined) return false;
  if ((spec.flags & CmdFlag.Blocking) !== 0) {
    if (args === undefined || (spec.name !== 'xread' && spec.name !== 'xreadgroup')) return true;
    return xreadHasBlock(args);
  }
  return spec.kind === 'wait' || spec.name === 'waitaof';
}

/** XREAD [COUNT n] [BLOCK ms] STREAMS ... / XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS ...
 * Walks the options (so a group or consumer named "block" is not mistaken for the option). */
function xreadHasBlock(args: readonly (Buffer | string)[]): boolean {
  for (let i = 0; i < args.length; ) {
    const a = args[i]!;
    const word = (typeof a === 'string' ? a : a.length <= 16 ? a.toString('latin1') : '').toLowerCase();
    if (word === 'block') return true;
    if (word === 'streams') return false;
    i += word === 'group' ? 3 : word === 'count' ? 2 : 1;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The byte trie.

/**
 * Maps byte strings to values, matching ASCII letters case-insensitively (as Redis does) and every
 * other byte exactly. Built once, immutable.
 *
 * Layout: `cls` maps each byte to a class (0 = no name contains it; A-Z share their lowercase
 * letter's class), and `next[node * nClasses + class]` is the child node (0 = none: the root is
 * node 0 and never a child). `value[node]` is 1 + the index of the name ending there, or 0.
 * With Redis's ~240 names over 28 distinct bytes this is ~1000 nodes; Uint16Array keeps the
 * transition table ~60 KB, and only the few rows of hot commands are ever touched.
 */
class ByteTrie<V> {
  private readonly cls = new Uint8Array(256);
  private readonly nClasses: number;
  private readonly next: Uint16Array | Uint32Array;
  private readonly value: Uint32Array;

  constructor(
    entries: readonly (readonly [string, V])[],
    private readonly values: readonly V[] = entries.map((e) => e[1]),
  ) {
    // Classes: one per distinct lowercase byte.
    let nClasses = 1;
    const bytes = entries.map(([name]) => Buffer.from(name, 'latin1'));
    for (const b of bytes) {
      for (const c of b) {
        if (this.cls[c] === 0) {
          this.cls[c] = nClasses++;
          if (c >= 0x61 && c <= 0x7a) this.cls[c - 0x20] = this.cls[c];
        }
      }
    }
    this.nClasses = nClasses;
    // Nodes, grown in a plain array first.
    const next: number[] = new Array<number>(nClasses).fill(0);
    const value: number[] = [0];
    bytes.forEach((b, index) => {
      let node = 0;
      for (const c of b) {
        const at = node * nClasses + this.cls[c]!;
        if (next[at] === 0) {
          next[at] = value.length;
          value.push(0);
          for (let i = 0; i < nClasses; i++) next.push(0);
        }
        node = next[at]!;
      }
      value[node] = index + 1;
    });
    this.next = value.length < 0x10000 ? Uint16Array.from(next) : Uint32Array.from(next);
    this.value = Uint32Array.from(value);
  }

  get(buf: Uint8Array, start: number, end: number): V | undefined {
    if (end > buf.length || start < 0) return undefined; // keeps the loop inside the buffer
    const cls = this.cls;
    const next = this.next;
    const n = this.nClasses;
    let node = 0;
    for (let i = start; i < end; i++) {
      const c = cls[buf[i]!]!;
      if (c === 0) return undefined;
      node = next[node * n + c]!;
      if (node === 0) return undefined;
    }
    const v = this.value[node]!;
    return v === 0 ? undefined : this.values[v - 1];
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing a COMMAND reply.

/** One command of a `COMMAND`/`COMMAND INFO` reply, as ioredis (RESP2) returns it:
 * [name, arity, flags[], firstKey, lastKey, step, aclCategories[], tips[], keySpecs[], subcommands[]].
 * Buffers instead of strings and numeric strings instead of numbers are accepted too, so a reply
 * decoded by the proxy's own parser works as well. Only the fields the table uses are read. */
export type CommandInfoRow = readonly unknown[];

interface RawSpec {
  name: string;
  flags: number;
  acl: number;
  arity: number;
  firstKey: number;
  lastKey: number;
  step: number;
  subs: RawSpec[];
}

/** Lowercases ASCII letters only, as the byte lookup does (String#toLowerCase also folds
 * non-ASCII letters, which Redis does not). */
function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) | 0x20)) : s;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  return undefined;
}

function int(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  const s = text(v);
  const n = s === undefined ? NaN : Number(s);
  return Number.isInteger(n) ? n : 0;
}

function parseRow(row: unknown): RawSpec | undefined {
  if (!Array.isArray(row)) return undefined; // COMMAND INFO answers null for an unknown name
  const name = asciiLower(text(row[0]) ?? '');
  if (!name) return undefined;
  let flags = 0;
  if (Array.isArray(row[2])) {
    for (const f of row[2]) flags |= FLAG_BITS.get(asciiLower(text(f) ?? '')) ?? 0;
  }
  // Categories: Redis 6+ lists them at index 6 (every 7.0 row has at least @fast or @slow); a row
  // without any gets the ones Redis would derive from its flags.
  let acl = 0;
  if (Array.isArray(row[6])) {
    for (const c of row[6]) acl |= ACL_BITS.get(asciiLower(text(c) ?? '')) ?? 0;
  }
  if (acl === 0) acl = implicitAclCategories(flags);
  const subs = Array.isArray(row[9]) ? row[9].map(parseRow).filter((s): s is RawSpec => s !== undefined) : [];
  return { name, flags, acl, arity: int(row[1]), firstKey: int(row[3]), lastKey: int(row[4]), step: int(row[5]), subs };
}

/** A subcommand's own name: "client|setname" → "setname" (Redis 7 replies with the full name). */
function subName(parent: string, name: string): string {
  return name.startsWith(parent + '|') ? name.slice(parent.length + 1) : name;
}

// ---------------------------------------------------------------------------------------------

/** Each container spec's subcommand trie, whatever table it belongs to (see subcommandOf). */
const SUB_TRIES = new WeakMap<CommandSpec, ByteTrie<CommandSpec>>();

/**
 * The spec a command resolves to, as Redis looks it up (lookupCommandLogic, src/server.c in 7.0):
 * `CONFIG SET` → config|set, `GET` → get, and a container alone (`COMMAND`, argc 1) → the container
 * itself. Undefined when `spec` is undefined, or is a container called with arguments whose first
 * (`arg1`, as the framer keeps it: undefined past 64 bytes) names none of its subcommands. Unlike
 * CommandTable.lookupSub it works for a spec of any table (a command framed before the group's
 * table was replaced, and held since).
 */
export function subcommandOf(spec: CommandSpec | undefined, arg1: Uint8Array | undefined, argc: number): CommandSpec | undefined {
  if (spec === undefined || spec.subcommands === undefined || argc <= 1) return spec;
  return arg1 === undefined ? undefined : SUB_TRIES.get(spec)?.get(arg1, 0, arg1.length);
}

export class CommandTable {
  private readonly top: ByteTrie<CommandSpec>;
  /** By parent id: the trie of its subcommands' own names. */
  private readonly subTries: (ByteTrie<CommandSpec> | undefined)[] = [];
  private readonly byName = new Map<string, CommandSpec>();
  private readonly specs: CommandSpec[] = [];

  private constructor(raws: readonly RawSpec[]) {
    // Ids: top-level commands in name order, then subcommands in name order.
    const sorted = [...raws].sort((a, b) => (a.name < b.name ? -1 : 1));
    const tops: CommandSpec[] = [];
    for (const r of sorted) {
      const spec = this.add(r, KIND_BY_NAME.get(r.name) ?? 'other', undefined);
      tops.push(spec);
    }
    for (const [i, r] of sorted.entries()) {
      if (r.subs.length === 0) continue;
      const parent = tops[i]!;
      const subs = new Map<string, CommandSpec>();
      for (const s of [...r.subs].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const own = subName(r.name, s.name);
        subs.set(own, this.add({ ...s, name: `${r.name}|${own}` }, parent.kind, parent));
      }
      (parent as { subcommands?: ReadonlyMap<string, CommandSpec> }).subcommands = subs;
      const trie = new ByteTrie([...subs]);
      this.subTries[parent.id] = trie;
      SUB_TRIES.set(parent, trie);
    }
    this.top = new ByteTrie(tops.map((s) => [s.name, s] as const));
  }

  private add(r: RawSpec, kind: CmdKind, parent: CommandSpec | undefined): CommandSpec {
    const spec: CommandSpec = {
      name: r.name,
      id: this.specs.length,
      flags: r.flags,
      acl: r.acl,
      arity: r.arity,
      firstKey: r.firstKey,
      lastKey: r.lastKey,
      step: r.step,
      kind,
      plain: PLAIN_KINDS.has(kind) && (r.flags & CmdFlag.Blocking) === 0 && !NOT_PLAIN.has(r.name),
      // Every spec has the same fields (one hidden class: the hot path's property loads stay
      // monomorphic).
      parent,
      subcommands: undefined,
    };
    this.specs.push(spec);
    this.byName.set(spec.name, spec);
    return spec;
  }

  private static packagedTable: CommandTable | undefined;

  /** The table packaged with the proxy (Redis 7.0's commands), built once. */
  static packaged(): CommandTable {
    return (CommandTable.packagedTable ??= CommandTable.fromCommandReply(COMMAND_REPLY));
  }

  /**
   * A table from the raw reply of `COMMAND` (or `COMMAND INFO name...`). With `base`, commands of
   * `base` the reply does not mention are kept (a reply entry replaces the base's entry whole,
   * subcommands included, unless it lists none: then the base's subcommands stay), and a
   * subcommand row ("client|setname", as `COMMAND INFO client|setname` answers) updates that
   * subcommand only. Special kinds always follow the name.
   */
  static fromCommandReply(reply: readonly unknown[], base?: CommandTable): CommandTable {
    const raws = new Map<string, RawSpec>();
    if (base) {
      for (const spec of base.specs) if (!spec.parent) raws.set(spec.name, base.raw(spec));
    }
    const subRows: RawSpec[] = [];
    for (const row of reply) {
      const r = parseRow(row);
      if (!r) continue;
      if (r.name.includes('|')) subRows.push(r);
      else {
        // A server that lists no subcommands (Redis 6: CLIENT, CONFIG... are single rows) keeps
        // the base's, so access is still decided per subcommand (./access.ts).
        const old = raws.get(r.name);
        if (r.subs.length === 0 && old !== undefined && old.subs.length > 0) r.subs = old.subs;
        raws.set(r.name, r);
      }
    }
    // `COMMAND INFO client|setname` answers with the subcommand alone: update it in its parent.
    for (const r of subRows) {
      const parent = raws.get(r.name.slice(0, r.name.indexOf('|')));
      if (parent) parent.subs = [...parent.subs.filter((s) => s.name !== r.name), r];
    }
    return new CommandTable([...raws.values()]);
  }

  private raw(spec: CommandSpec): RawSpec {
    const { name, flags, acl, arity, firstKey, lastKey, step } = spec;
    return { name, flags, acl, arity, firstKey, lastKey, step, subs: [...(spec.subcommands?.values() ?? [])].map((s) => this.raw(s)) };
  }

  /** The command named by buf[start, end), case-insensitively; no allocation. */
  lookup(buf: Uint8Array, start: number, end: number): CommandSpec | undefined {
    return this.top.get(buf, start, end);
  }

  /** The subcommand of `parent` (a spec of this table) named by buf[start, end): CLIENT SETNAME,
   * CONFIG GET... Undefined for an unknown subcommand or a parent without subcommands. */
  lookupSub(parent: CommandSpec, buf: Uint8Array, start: number, end: number): CommandSpec | undefined {
    if (this.specs[parent.id] !== parent) return undefined; // a spec of another table
    return this.subTries[parent.id]?.get(buf, start, end);
  }

  /** Slow-path lookup by name, any case: "get", "CLIENT|SETNAME". */
  lookupName(name: string): CommandSpec | undefined {
    return this.byName.get(asciiLower(name));
  }

  /** The spec with this id (0..size-1). */
  byId(id: number): CommandSpec | undefined {
    return this.specs[id];
  }

  /** Number of specs, subcommands included. */
  get size(): number {
    return this.specs.length;
  }

  /** All specs in id order: top-level commands, then subcommands. */
  all(): readonly CommandSpec[] {
    return this.specs;
  }
}
