// The connection model of the differential test (test/integration/differential.test.ts): what one
// Redis 7.0 client connection's state is (protocol, db, name, reply mode, transaction,
// subscriptions) and how many top-level frames each command makes the server send, plus the seeded
// generator of the random programs. The model only decides *how many* frames to wait for and which
// commands make sense next; *what* the replies are is taken from a real reference Redis, so a wrong
// count shows up as a timeout against the reference itself (see the "model agrees with Redis"
// subtest), never as a silent pass.
//
// Facts it encodes, read off Redis 7.0.15 (`src/server.c` processCommand, `src/networking.c`
// resetClient/prepareClientToWrite, `src/pubsub.c`) and checked against redis-server:
// - RESP2 with any subscription (channel, pattern or shard) is the pub/sub context: only
//   (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT, RESET run; anything else gets one error.
// - (un)subscribe confirmations are sent whatever the reply mode (OFF/SKIP do not suppress them);
//   one per argument (duplicates included), and a no-argument unsubscribe sends one per member, or
//   a single one with a null name when there is none.
// - CLIENT REPLY OFF/SKIP send nothing; ON always answers +OK (it clears a pending skip first);
//   SKIP while OFF does nothing; SKIP suppresses the normal reply of the next command only.
// - Inside MULTI every command but EXEC/DISCARD/MULTI/WATCH is answered +QUEUED; a wrong arity
//   marks the transaction dirty (EXEC then answers -EXECABORT); nested MULTI and WATCH inside
//   MULTI are errors that do not. EXEC and DISCARD clear WATCH.

export type Cmd = string[];

/** Small, fast, seedable PRNG (mulberry32): programs must be reproducible from a printed seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** 1..max distinct-or-not elements of xs (duplicates on purpose: Redis answers each). */
  some<T>(xs: readonly T[], max = 3): T[] {
    const n = 1 + this.int(max);
    return Array.from({ length: n }, () => this.pick(xs));
  }
}

/** A 32-bit mix of a run seed and a session index, so each session has its own stream. */
export function subSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export type ReplyMode = 'on' | 'off' | 'skipnext';
export type SubKind = 'channels' | 'patterns' | 'shards';

export interface ModelState {
  resp: 2 | 3;
  db: number;
  name: string;
  reply: ReplyMode;
  multi: { queued: Cmd[]; dirty: boolean } | undefined;
  watching: boolean;
  channels: Set<string>;
  patterns: Set<string>;
  shards: Set<string>;
}

export function initialState(): ModelState {
  return { resp: 2, db: 0, name: '', reply: 'on', multi: undefined, watching: false, channels: new Set(), patterns: new Set(), shards: new Set() };
}

export function cloneState(s: ModelState): ModelState {
  return {
    ...s,
    multi: s.multi && { queued: [...s.multi.queued], dirty: s.multi.dirty },
    channels: new Set(s.channels),
    patterns: new Set(s.patterns),
    shards: new Set(s.shards),
  };
}

export function subscribed(s: ModelState): boolean {
  return s.channels.size + s.patterns.size + s.shards.size > 0;
}

/** RESP2 with a subscription: the restricted pub/sub context. */
export function pubsubContext(s: ModelState): boolean {
  return s.resp === 2 && subscribed(s);
}

const SUB_FORMS: Record<string, { kind: SubKind; add: boolean }> = {
  SUBSCRIBE: { kind: 'channels', add: true },
  UNSUBSCRIBE: { kind: 'channels', add: false },
  PSUBSCRIBE: { kind: 'patterns', add: true },
  PUNSUBSCRIBE: { kind: 'patterns', add: false },
  SSUBSCRIBE: { kind: 'shards', add: true },
  SUNSUBSCRIBE: { kind: 'shards', add: false },
};

export function subForm(cmd: Cmd): { kind: SubKind; add: boolean } | undefined {
  return SUB_FORMS[cmd[0].toUpperCase()];
}

const PUBSUB_ALLOWED = new Set(['SUBSCRIBE', 'UNSUBSCRIBE', 'PSUBSCRIBE', 'PUNSUBSCRIBE', 'SSUBSCRIBE', 'SUNSUBSCRIBE', 'PING', 'QUIT', 'RESET']);
const NOT_QUEUED = new Set(['EXEC', 'DISCARD', 'MULTI', 'WATCH', 'QUIT', 'RESET']);

/** Commands the generator emits with a wrong arity on purpose (and nothing else is malformed). */
export function badArity(cmd: Cmd): boolean {
  return cmd[0] === 'SET' && cmd.length === 2;
}

/** A glob match for the only patterns the programs use (`x*` and `x?`). */
export function globMatch(pattern: string, s: string): boolean {
  if (pattern.endsWith('*')) return s.startsWith(pattern.slice(0, -1));
  if (pattern.endsWith('?')) return s.length === pattern.length && s.startsWith(pattern.slice(0, -1));
  return pattern === s;
}

/** The frames a PUBLISH/SPUBLISH to `ch` delivers to this connection (message + pmessage). */
export function deliveries(s: ModelState, cmd: Cmd): number {
  const ch = cmd[1];
  if (cmd[0] === 'SPUBLISH') return s.shards.has(ch) ? 1 : 0;
  let n = s.channels.has(ch) ? 1 : 0;
  for (const p of s.patterns) if (globMatch(p, ch)) n++;
  return n;
}

export interface Prediction {
  /** Top-level frames the command makes the server send. */
  frames: number;
  /** How the command was handled. */
  how: 'rejected' | 'queued' | 'executed';
}

/**
 * Frames `cmd` produces on a connection in state `s`, and `s` moved past it (in place). EXEC's
 * effects depend on whether the transaction ran (a WATCHed key may have been touched): pass
 * `execRan`, or leave it undefined to assume it ran (the runner calls `settleExec` with the
 * reference's verdict, and always ends a batch at EXEC).
 */
export function step(s: ModelState, cmd: Cmd, execRan = true): Prediction {
  const name = cmd[0].toUpperCase();
  const sub = name === 'CLIENT' ? `CLIENT ${cmd[1].toUpperCase()}` : name;
  // The normal reply of this command is suppressed when REPLY is OFF or this command is skipped.
  const skipped = s.reply === 'skipnext';
  if (skipped) s.reply = 'on';
  let suppressed = s.reply === 'off' || skipped;
  const normal = (n = 1) => (suppressed ? 0 : n);

  // processCommand's order: arity, then the RESP2 pub/sub context, then MULTI queueing.
  if (badArity(cmd)) {
    if (s.multi) s.multi.dirty = true;
    return { frames: normal(), how: 'rejected' };
  }
  if (pubsubContext(s) && !PUBSUB_ALLOWED.has(name)) {
    if (s.multi) s.multi.dirty = true;
    return { frames: normal(), how: 'rejected' };
  }
  if (s.multi && !NOT_QUEUED.has(name)) {
    s.multi.queued.push(cmd);
    return { frames: normal(), how: 'queued' };
  }
  switch (sub) {
    case 'MULTI':
      if (s.multi) return { frames: normal(), how: 'rejected' };
      s.multi = { queued: [], dirty: false };
      return { frames: normal(), how: 'executed' };
    case 'WATCH':
      if (s.multi) return { frames: normal(), how: 'rejected' };
      s.watching = true;
      return { frames: normal(), how: 'executed' };
    case 'DISCARD':
    case 'EXEC': {
      if (!s.multi) return { frames: normal(), how: 'rejected' };
      const { queued, dirty } = s.multi;
      s.multi = undefined;
      s.watching = false;
      // Redis 7.0 refuses a queued SSUBSCRIBE when EXEC runs it ("SSUBSCRIBE isn't allowed for a
      // DENY BLOCKING client"); SUBSCRIBE and PSUBSCRIBE run.
      if (name === 'EXEC' && !dirty && execRan) for (const q of queued) if (q[0] !== 'SSUBSCRIBE') applyEffects(s, q);
      return { frames: normal(), how: 'executed' };
    }
    case 'CLIENT REPLY': {
      const mode = cmd[2].toUpperCase();
      if (mode === 'ON') {
        s.reply = 'on';
        suppressed = false;
        return { frames: 1, how: 'executed' };
      }
      if (mode === 'OFF') s.reply = 'off';
      else if (s.reply !== 'off') s.reply = 'skipnext';
      return { frames: 0, how: 'executed' };
    }
  }
  const form = subForm(cmd);
  if (form) {
    // Confirmations are pushes: never suppressed by CLIENT REPLY.
    const set = s[form.kind];
    const n = cmd.length > 1 ? cmd.length - 1 : form.add ? 0 : Math.max(1, set.size);
    applyEffects(s, cmd);
    return { frames: n, how: 'executed' };
  }
  const pushes = name === 'PUBLISH' || name === 'SPUBLISH' ? deliveries(s, cmd) : 0;
  applyEffects(s, cmd);
  return { frames: normal() + pushes, how: 'executed' };
}

/** The state changes of a command that ran (directly or inside EXEC). */
function applyEffects(s: ModelState, cmd: Cmd): void {
  const name = cmd[0].toUpperCase();
  if (name === 'SELECT') s.db = Number(cmd[1]);
  else if (name === 'CLIENT' && cmd[1].toUpperCase() === 'SETNAME') s.name = cmd[2];
  else if (name === 'HELLO') {
    if (cmd.length > 1) s.resp = Number(cmd[1]) as 2 | 3;
    const i = cmd.findIndex((a) => a.toUpperCase() === 'SETNAME');
    if (i > 0) s.name = cmd[i + 1];
  } else {
    const form = subForm(cmd);
    if (!form) return;
    const set = s[form.kind];
    if (form.add) for (const a of cmd.slice(1)) set.add(a);
    else if (cmd.length === 1) set.clear();
    else for (const a of cmd.slice(1)) set.delete(a);
  }
}

/** Frames of a whole batch (each command's count), moving `s` past it. */
export function predictBatch(s: ModelState, cmds: Cmd[]): number[] {
  return cmds.map((c) => step(s, c).frames);
}

/** The per-session names: keys, channels, patterns, shard channels. Disjoint between sessions. */
export interface Universe {
  prefix: string;
  key: string;
  counter: string;
  list: string;
  watched: string;
  channels: string[];
  patterns: string[];
  shards: string[];
  /** Channels probed at the end with PUBLISH (every channel, and one per pattern). */
  probeChannels: string[];
  names: string[];
}

export function universe(i: number): Universe {
  const p = `s${i}:`;
  return {
    prefix: p,
    key: `${p}k`,
    counter: `${p}n`,
    list: `${p}l`,
    watched: `${p}w`,
    channels: [`${p}c1`, `${p}c2`, `${p}q1`],
    // `c*` matches c1 and c2, `q?` matches q1: no channel is matched by two patterns, so the order
    // of deliveries of one PUBLISH is fixed (message first, then the one pmessage).
    patterns: [`${p}c*`, `${p}q?`],
    shards: [`${p}s1`, `${p}s2`],
    probeChannels: [`${p}c1`, `${p}c2`, `${p}q1`, `${p}q2`],
    names: [`s${i}-a`, `s${i}-b`],
  };
}

const INCR_SCRIPT = "return redis.call('INCR', KEYS[1])";
const SET_SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])";

/**
 * The next command of a random program, given the model state (so programs stay meaningful: mostly
 * valid commands, with the invalid ones Redis answers deterministically mixed in). Constraints keep
 * the final checks reachable and avoid behaviour Redis itself leaves unspecified:
 * - no CLIENT REPLY and no PUBLISH inside MULTI; MULTI only with replies on (EXEC's reply decides
 *   what the transaction did);
 * - never enter the RESP2 pub/sub context with REPLY OFF (CLIENT REPLY ON would be refused there);
 * - PUBLISH to one's own channels only in RESP3 (in RESP2 it is refused anyway);
 * - inside MULTI, (un)subscribe forms with exactly one argument (see subCommand).
 */
export function nextCommand(rng: Rng, s: ModelState, u: Universe, seq: number): Cmd {
  const ctx = pubsubContext(s);
  if (s.multi) {
    const q = s.multi.queued.length;
    if (q >= 2 && rng.chance(0.15 + q * 0.05)) return rng.chance(0.8) ? ['EXEC'] : ['DISCARD'];
  }
  if (ctx && rng.chance(0.7)) return pubsubCommand(rng, s, u);
  const r = rng.int(100);
  if (r < 22) return dataCommand(rng, u, seq);
  if (r < 40) return subOrPub(rng, s, u, seq);
  if (r < 47) return ['SELECT', String(rng.int(4))];
  if (r < 52) return ['CLIENT', 'SETNAME', rng.chance(0.2) ? '' : rng.pick(u.names)];
  if (r < 58) {
    if (s.reply === 'off' && subscribed(s)) return ['PING'];
    const v = rng.pick(['2', '3', '3', '2']);
    if (rng.chance(0.2)) return ['HELLO'];
    if (rng.chance(0.25)) return ['HELLO', v, 'SETNAME', `${u.names[0]}h`];
    return ['HELLO', v];
  }
  if (r < 65) {
    if (s.multi) return ['PING'];
    return ['CLIENT', 'REPLY', rng.pick(['ON', 'ON', 'OFF', 'SKIP', 'SKIP'])];
  }
  if (r < 72) return s.reply === 'on' || s.multi ? ['MULTI'] : ['CLIENT', 'REPLY', 'ON'];
  if (r < 77) return ['WATCH', rng.pick([u.watched, u.counter])];
  if (r < 81) return [rng.pick(['EXEC', 'DISCARD'])];
  if (r < 86) return ['BLPOP', u.list, rng.pick(['0.05', '0.1'])];
  if (r < 89) return ['SET', u.key]; // wrong arity on purpose
  if (r < 95) return rng.chance(0.5) ? ['EVAL', INCR_SCRIPT, '1', u.counter] : ['EVAL', SET_SCRIPT, '1', u.key, `e${seq}`];
  return rng.chance(0.5) ? ['PING'] : ['PING', `p${seq}`];
}

function dataCommand(rng: Rng, u: Universe, seq: number): Cmd {
  switch (rng.int(7)) {
    case 0:
      return ['GET', u.key];
    case 1:
      return ['SET', u.key, `v${seq}`];
    case 2:
      return ['INCR', u.counter];
    case 3:
      return ['RPUSH', u.list, `x${seq}`];
    case 4:
      return ['LRANGE', u.list, '0', '-1'];
    case 5:
      return ['SET', u.watched, `w${seq}`];
    default:
      return rng.chance(0.5) ? ['GET', u.counter] : ['DEL', u.list];
  }
}

function pubsubCommand(rng: Rng, s: ModelState, u: Universe): Cmd {
  const r = rng.int(10);
  if (r < 7) return subCommand(rng, s, u);
  return rng.chance(0.5) ? ['PING'] : ['PING', 'inctx'];
}

function subOrPub(rng: Rng, s: ModelState, u: Universe, seq: number): Cmd {
  if (s.resp === 3 && !s.multi && rng.chance(0.2)) {
    return rng.chance(0.7) ? ['PUBLISH', rng.pick(u.probeChannels), `m${seq}`] : ['SPUBLISH', rng.pick(u.shards), `m${seq}`];
  }
  return subCommand(rng, s, u);
}

function subCommand(rng: Rng, s: ModelState, u: Universe): Cmd {
  const kind = rng.pick(['channels', 'patterns', 'shards'] as const);
  const names = kind === 'channels' ? u.channels : kind === 'patterns' ? u.patterns : u.shards;
  const [subName, unsubName] =
    kind === 'channels' ? ['SUBSCRIBE', 'UNSUBSCRIBE'] : kind === 'patterns' ? ['PSUBSCRIBE', 'PUNSUBSCRIBE'] : ['SSUBSCRIBE', 'SUNSUBSCRIBE'];
  // Entering the RESP2 pub/sub context with REPLY OFF would leave no way to turn replies back on.
  const mayAdd = !(s.resp === 2 && s.reply === 'off');
  // Inside MULTI only one-argument forms: EXEC's array counts commands, not replies, so Redis's
  // own reply to a queued `SUBSCRIBE a b` is an array followed by stray frames.
  const args = () => (s.multi ? [rng.pick(names)] : rng.some(names));
  if (mayAdd && rng.chance(0.55)) return [subName, ...args()];
  if (!s.multi && rng.chance(0.4)) return [unsubName];
  return [unsubName, ...args()];
}

/** Human-readable form of a command for failure reports. */
export function show(cmd: Cmd): string {
  return cmd.map((a) => (/^[\w:.*?\-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}
