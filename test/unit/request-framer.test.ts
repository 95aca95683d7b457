// RequestFramer: table-driven framing, Redis's protocol-error wording, split invariance (every byte
// position, byte by byte, random chunks of a 1 MB value) and a comparison with a live redis-server.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  INLINE_MAX,
  ProtocolError,
  RequestFramer,
  commandArgs,
  splitInlineArgs,
  type Command,
  type NameLookup,
  type RequestLimits,
} from '../../src/resp/request.js';

// ---------------------------------------------------------------------------------------------
// Helpers

interface Spec {
  name: string;
  subs: boolean;
}
const SPECS = new Map<string, Spec>(
  [
    ['ping', false],
    ['echo', false],
    ['set', false],
    ['get', false],
    ['hello', false],
    ['auth', false],
    ['select', false],
    ['subscribe', false],
    ['client', true],
    ['config', true],
    ['object', true],
  ].map(([name, subs]) => [name as string, { name: name as string, subs: subs as boolean }]),
);
const lookup: NameLookup<Spec> = {
  lookup(buf, start, end) {
    return SPECS.get(buf.toString('latin1', start, end).toLowerCase());
  },
};
const hasSubs = (s: Spec) => s.subs;
const DEFAULT_LIMITS: RequestLimits = { maxBulkBytes: 512 * 1024 * 1024, maxMultibulkLength: 2147483647 };

interface Framed {
  raw: string; // latin1 of the concatenated data
  size: number;
  argc: number;
  name: string | undefined;
  arg1: string | undefined;
  inline: boolean;
}
interface Result {
  cmds: Framed[];
  error: string | undefined;
  buffered: number;
}

const B = (s: string) => Buffer.from(s, 'latin1');
const flat = (d: Buffer | Buffer[]) => (Array.isArray(d) ? Buffer.concat(d) : d);

function norm(c: Command<Spec>): Framed {
  const raw = flat(c.data);
  return {
    raw: raw.toString('latin1'),
    size: c.size,
    argc: c.argc,
    name: c.spec?.name,
    arg1: c.arg1?.toString('latin1'),
    inline: c.inline,
  };
}

interface Opts {
  limits?: Partial<RequestLimits>;
  unauthenticated?: boolean;
}

function frame(chunks: Buffer[], opts: Opts = {}): Result {
  const f = new RequestFramer<Spec>(lookup, { ...DEFAULT_LIMITS, ...opts.limits }, hasSubs);
  if (opts.unauthenticated) f.unauthenticated = true;
  const cmds: Framed[] = [];
  let error: string | undefined;
  for (const c of chunks) {
    const e = f.push(c, (cmd) => {
      const n = norm(cmd);
      if (n.size !== n.raw.length) throw new Error(`size ${n.size} != data length ${n.raw.length}`);
      cmds.push(n);
    });
    if (e) {
      if (!(e instanceof ProtocolError)) throw new Error('not a ProtocolError');
      if (error !== undefined && e.reply !== error) throw new Error('error changed');
      error = e.reply;
      if (f.error !== e) throw new Error('error not kept');
    }
  }
  return { cmds, error, buffered: f.bufferedBytes };
}

/** Every split in two (or those at `positions`), and byte by byte: the same result as in one
 * chunk. Returns the first few differences. */
function splitDiffs(input: Buffer, opts: Opts = {}, positions?: number[]): string[] {
  const strip = (r: Result) => JSON.stringify({ cmds: r.cmds, error: r.error });
  const whole = strip(frame([input], opts));
  const ps = positions ?? Array.from({ length: input.length + 1 }, (_, i) => i);
  const diffs: string[] = [];
  for (const p of ps) {
    const r = strip(frame([input.subarray(0, p), input.subarray(p)], opts));
    if (r !== whole && diffs.length < 3) diffs.push(`split at ${p}: ${r.slice(0, 300)} vs ${whole.slice(0, 300)}`);
  }
  if (!positions) {
    const bytes = Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
    const r = strip(frame(bytes, opts));
    if (r !== whole) diffs.push(`byte by byte: ${r.slice(0, 300)} vs ${whole.slice(0, 300)}`);
  }
  return diffs;
}

/** Encodes a multibulk command. */
function mb(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('');
}

const PERR = (m: string) => `ERR Protocol error: ${m}`;

// ---------------------------------------------------------------------------------------------
// Table: commands

interface Expect {
  raw: string;
  argc: number;
  name?: string;
  arg1?: string;
  inline?: boolean;
}
interface Case {
  name: string;
  input: string;
  cmds: Expect[];
  error?: string;
  opts?: Opts;
  /** Redis's own answer depends on how its reads cut the input (64 KB zone): not compared. */
  redisVaries?: boolean;
}

const longSub = 'x'.repeat(65);
const okCases: Case[] = [
  { name: 'multibulk PING', input: mb('PING'), cmds: [{ raw: mb('PING'), argc: 1, name: 'ping' }] },
  { name: 'lower-case name', input: mb('ping'), cmds: [{ raw: mb('ping'), argc: 1, name: 'ping' }] },
  { name: 'SET: no arg1 (no subcommands)', input: mb('SET', 'a', 'b'), cmds: [{ raw: mb('SET', 'a', 'b'), argc: 3, name: 'set' }] },
  {
    name: 'CLIENT SETNAME: arg1',
    input: mb('client', 'SetName', 'foo'),
    cmds: [{ raw: mb('client', 'SetName', 'foo'), argc: 3, name: 'client', arg1: 'SetName' }],
  },
  { name: 'CLIENT alone', input: mb('CLIENT'), cmds: [{ raw: mb('CLIENT'), argc: 1, name: 'client' }] },
  {
    name: 'arg1 of 64 bytes kept',
    input: mb('CONFIG', 'y'.repeat(64)),
    cmds: [{ raw: mb('CONFIG', 'y'.repeat(64)), argc: 2, name: 'config', arg1: 'y'.repeat(64) }],
  },
  { name: 'arg1 over 64 bytes dropped', input: mb('CONFIG', longSub), cmds: [{ raw: mb('CONFIG', longSub), argc: 2, name: 'config' }] },
  { name: 'unknown command', input: mb('FOO', 'bar'), cmds: [{ raw: mb('FOO', 'bar'), argc: 2 }] },
  { name: 'name over 64 bytes', input: mb('p'.repeat(65)), cmds: [{ raw: mb('p'.repeat(65)), argc: 1 }] },
  { name: 'empty name', input: mb(''), cmds: [{ raw: mb(''), argc: 1 }] },
  { name: 'empty argument', input: mb('ECHO', ''), cmds: [{ raw: mb('ECHO', ''), argc: 2, name: 'echo' }] },
  {
    name: 'CRLF and binary inside payloads',
    input: mb('SET', 'k\r\n', '\r\n*1\r\n$4\r\n\0\xff'),
    cmds: [{ raw: mb('SET', 'k\r\n', '\r\n*1\r\n$4\r\n\0\xff'), argc: 3, name: 'set' }],
  },
  {
    name: 'pipeline',
    input: mb('PING') + mb('SET', 'a', '1') + mb('GET', 'a') + mb('CLIENT', 'GETNAME'),
    cmds: [
      { raw: mb('PING'), argc: 1, name: 'ping' },
      { raw: mb('SET', 'a', '1'), argc: 3, name: 'set' },
      { raw: mb('GET', 'a'), argc: 2, name: 'get' },
      { raw: mb('CLIENT', 'GETNAME'), argc: 2, name: 'client', arg1: 'GETNAME' },
    ],
  },
  {
    // Redis checks neither the byte after a header's '\r' nor the two bytes after a payload.
    name: 'unchecked terminators',
    input: '*2\rX$4\rXECHOab$1\r\nxyz',
    cmds: [{ raw: '*2\rX$4\rXECHOab$1\r\nxyz', argc: 2, name: 'echo' }],
  },
  { name: 'inline PING CRLF', input: 'PING\r\n', cmds: [{ raw: 'PING\r\n', argc: 1, name: 'ping', inline: true }] },
  { name: 'inline LF only', input: 'ping\n', cmds: [{ raw: 'ping\n', argc: 1, name: 'ping', inline: true }] },
  { name: 'inline set a b', input: 'set a b\n', cmds: [{ raw: 'set a b\n', argc: 3, name: 'set', inline: true }] },
  { name: 'inline blanks', input: '  \t PING \t \r\n', cmds: [{ raw: '  \t PING \t \r\n', argc: 1, name: 'ping', inline: true }] },
  {
    name: 'inline quotes',
    input: `SET "a b" 'c d' "x\\"y" 'it\\'s' "\\x41\\n\\t" ""\r\n`,
    cmds: [{ raw: `SET "a b" 'c d' "x\\"y" 'it\\'s' "\\x41\\n\\t" ""\r\n`, argc: 7, name: 'set', inline: true }],
  },
  {
    name: 'inline CLIENT setname: arg1',
    input: 'CLIENT setname x\r\n',
    cmds: [{ raw: 'CLIENT setname x\r\n', argc: 3, name: 'client', arg1: 'setname', inline: true }],
  },
  { name: 'inline SET: no arg1', input: 'SET k v\r\n', cmds: [{ raw: 'SET k v\r\n', argc: 3, name: 'set', inline: true }] },
  // \v and \f are blanks between words, not word ends (Redis: `ECHO a\vb` echoes "a\vb").
  { name: 'inline \\v inside a word', input: 'ECHO a\x0bb\r\n', cmds: [{ raw: 'ECHO a\x0bb\r\n', argc: 2, name: 'echo', inline: true }] },
  { name: 'inline \\v \\f as blanks', input: '\x0bECHO\x0c \x0ba\r\n', cmds: [{ raw: '\x0bECHO\x0c \x0ba\r\n', argc: 2, inline: true }] },
  { name: 'inline CR CR LF', input: 'PING\r\r\n', cmds: [{ raw: 'PING\r\r\n', argc: 1, name: 'ping', inline: true }] },
  { name: 'inline quoted name', input: '"PING"\r\n', cmds: [{ raw: '"PING"\r\n', argc: 1, name: 'ping', inline: true }] },
  {
    name: 'inline and multibulk mixed',
    input: 'PING\r\n' + mb('GET', 'k') + 'GET k\n' + mb('PING'),
    cmds: [
      { raw: 'PING\r\n', argc: 1, name: 'ping', inline: true },
      { raw: mb('GET', 'k'), argc: 2, name: 'get' },
      { raw: 'GET k\n', argc: 2, name: 'get', inline: true },
      { raw: mb('PING'), argc: 1, name: 'ping' },
    ],
  },
  {
    name: 'ignored: empty lines, *0, *-1, *-10, 19-digit negative count',
    input: '\r\n\n   \r\n\t\n*0\r\n*-1\r\n*-10\r\n*-1000000000000000000\r\n*-9223372036854775808\r\n' + mb('PING'),
    cmds: [{ raw: mb('PING'), argc: 1, name: 'ping' }],
  },
  { name: 'only ignored input', input: '\r\n*0\r\n\n*-10\r\n', cmds: [] },
  // Incomplete input is no error yet (Redis waits for the line).
  { name: 'incomplete header', input: '*1\r', cmds: [] },
  { name: 'incomplete bad header', input: '*x\r', cmds: [] },
  { name: 'incomplete bulk header', input: '*1\r\n$4', cmds: [] },
  { name: 'incomplete non-$ line', input: '*1\r\nfoo', cmds: [] },
  { name: 'incomplete non-$ line with CR', input: '*1\r\nfoo\r', cmds: [] },
  { name: 'incomplete payload', input: '*1\r\n$4\r\nPIN', cmds: [] },
  { name: 'incomplete inline', input: 'PING', cmds: [] },
  { name: 'count of INT_MAX accepted', input: '*2147483647\r\n', cmds: [] },
  // A NUL before a line's end: Redis's strchr never finds the end; it waits.
  { name: 'NUL in inline line: never ends', input: 'PI\0NG\r\nPING\r\n', cmds: [] },
  { name: 'NUL in count line', input: '*1\0\r\n$4\r\nPING\r\n', cmds: [] },
  { name: 'NUL in bulk length line', input: '*1\r\n$4\0\r\nPING\r\n', cmds: [] },
  { name: 'NUL instead of $', input: '*1\r\n\0\r\n', cmds: [] },
  { name: 'NUL in payload is fine', input: mb('ECHO', '\0') + 'PING\r\n', cmds: [{ raw: mb('ECHO', '\0'), argc: 2, name: 'echo' }, { raw: 'PING\r\n', argc: 1, name: 'ping', inline: true }] },
  { name: 'limit: bulk of maxBulkBytes', input: mb('ECHO', 'z'.repeat(100)), opts: { limits: { maxBulkBytes: 100 } }, cmds: [{ raw: mb('ECHO', 'z'.repeat(100)), argc: 2, name: 'echo' }] },
  { name: 'limit: maxMultibulkLength args', input: mb('ECHO', 'a', 'b', 'c', 'd'), opts: { limits: { maxMultibulkLength: 5 } }, cmds: [{ raw: mb('ECHO', 'a', 'b', 'c', 'd'), argc: 5, name: 'echo' }] },
  { name: 'unauthenticated: 10 args', input: mb(...'abcdefghij'.split('')), opts: { unauthenticated: true }, cmds: [{ raw: mb(...'abcdefghij'.split('')), argc: 10 }] },
  {
    name: 'unauthenticated: 16384-byte bulk',
    input: mb('AUTH', 'p'.repeat(16384)),
    opts: { unauthenticated: true },
    cmds: [{ raw: mb('AUTH', 'p'.repeat(16384)), argc: 2, name: 'auth' }],
  },
];

const big = (n: number) => '1'.repeat(n);
const errCases: Case[] = [
  { name: 'count over INT_MAX', input: '*3000000000\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count 2147483648', input: '*2147483648\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count 19 digits', input: '*9223372036854775807\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count below LLONG_MIN', input: '*-9223372036854775809\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count 20 digits negative', input: '*-10000000000000000000\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count -0', input: '*-0\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count leading zero', input: '*01\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count +1', input: '*+1\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count empty', input: '*\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count -', input: '*-\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count with space', input: '*1 \r\n', cmds: [], error: 'invalid multibulk length' },
  { name: 'count with LF inside', input: '*1\n2\r\n', cmds: [], error: 'invalid multibulk length' },
  { name: "expected '$', got 'f'", input: '*1\r\nfoo\r\n', cmds: [], error: "expected '$', got 'f'" },
  { name: "expected '$' on the second arg", input: '*2\r\n$4\r\nECHO\r\n:1\r\n', cmds: [], error: "expected '$', got ':'" },
  { name: "expected '$', got CR: a space", input: '*1\r\n\r\n', cmds: [], error: "expected '$', got ' '" },
  { name: "expected '$', got LF: a space", input: '*1\r\n\n\r\n', cmds: [], error: "expected '$', got ' '" },
  { name: "expected '$', got 0xff", input: '*1\r\n\xff\r\n', cmds: [], error: "expected '$', got '\xff'" },
  { name: 'bulk length -5', input: '*1\r\n$-5\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length -1', input: '*1\r\n$-1\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length x', input: '*1\r\n$x\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length empty', input: '*1\r\n$\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length leading zero', input: '*1\r\n$04\r\nPING\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length -0', input: '*1\r\n$-0\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length +4', input: '*1\r\n$+4\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length over proto-max-bulk-len', input: '*1\r\n$536870913\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'bulk length 19 digits', input: '*1\r\n$9223372036854775807\r\n', cmds: [], error: 'invalid bulk length' },
  { name: 'limit: maxBulkBytes', input: '*2\r\n$4\r\nECHO\r\n$101\r\n', opts: { limits: { maxBulkBytes: 100 } }, cmds: [], error: 'invalid bulk length' },
  { name: 'limit: maxMultibulkLength', input: '*6\r\n', opts: { limits: { maxMultibulkLength: 5 } }, cmds: [], error: 'invalid multibulk length' },
  { name: 'unbalanced double quote', input: 'set "a b\r\n', cmds: [], error: 'unbalanced quotes in request' },
  { name: 'unbalanced single quote', input: "set 'a b\n", cmds: [], error: 'unbalanced quotes in request' },
  { name: 'closing quote not followed by a blank', input: 'set "a"b c\r\n', cmds: [], error: 'unbalanced quotes in request' },
  { name: 'trailing backslash in quotes', input: 'set "a\\\r\n', cmds: [], error: 'unbalanced quotes in request' },
  { name: 'too big inline request', input: 'a'.repeat(INLINE_MAX + 1), cmds: [], error: 'too big inline request' },
  { name: 'too big inline request with LF', input: 'a'.repeat(INLINE_MAX + 1) + '\n', cmds: [], error: 'too big inline request', redisVaries: true },
  { name: 'too big mbulk count string', input: '*' + big(INLINE_MAX), cmds: [], error: 'too big mbulk count string' },
  { name: 'too big mbulk count string with CR', input: '*' + big(INLINE_MAX) + '\r\n', cmds: [], error: 'too big mbulk count string', redisVaries: true },
  { name: 'too big bulk count string', input: '*1\r\n$' + big(INLINE_MAX), cmds: [], error: 'too big bulk count string' },
  { name: 'too big bulk count string (no $)', input: '*1\r\n' + 'x'.repeat(INLINE_MAX + 1), cmds: [], error: 'too big bulk count string' },
  { name: 'NUL inline line grows too big', input: 'PI\0NG\r\n' + 'a\r\n'.repeat(22000), cmds: [], error: 'too big inline request' },
  { name: 'NUL count line grows too big', input: '*1\0\r\n' + mb('PING').repeat(5000), cmds: [], error: 'too big mbulk count string' },
  { name: 'NUL bulk line grows too big', input: '*1\r\n$\0' + mb('PING').repeat(5000), cmds: [], error: 'too big bulk count string' },
  {
    name: 'commands before the error are reported',
    input: 'PING\r\n' + mb('GET', 'a') + '*x\r\n' + mb('PING'),
    cmds: [
      { raw: 'PING\r\n', argc: 1, name: 'ping', inline: true },
      { raw: mb('GET', 'a'), argc: 2, name: 'get' },
    ],
    error: 'invalid multibulk length',
  },
  { name: 'unauthenticated multibulk length', input: '*11\r\n', opts: { unauthenticated: true }, cmds: [], error: 'unauthenticated multibulk length' },
  { name: 'unauthenticated bulk length', input: '*2\r\n$4\r\nAUTH\r\n$16385\r\n', opts: { unauthenticated: true }, cmds: [], error: 'unauthenticated bulk length' },
  // Redis checks proto-max-bulk-len / INT_MAX before the limits before authentication.
  { name: 'unauthenticated: over INT_MAX', input: '*3000000000\r\n', opts: { unauthenticated: true }, cmds: [], error: 'invalid multibulk length' },
  { name: 'unauthenticated: over proto-max-bulk-len', input: '*1\r\n$600000000\r\n', opts: { unauthenticated: true }, cmds: [], error: 'invalid bulk length' },
  { name: 'unauthenticated: over maxMultibulkLength', input: '*8\r\n', opts: { unauthenticated: true, limits: { maxMultibulkLength: 5 } }, cmds: [], error: 'invalid multibulk length' },
];

function expectOf(c: Case) {
  return {
    cmds: c.cmds.map((e) => ({ raw: e.raw, size: Buffer.byteLength(e.raw, 'latin1'), argc: e.argc, name: e.name, arg1: e.arg1, inline: e.inline ?? false })),
    error: c.error === undefined ? undefined : PERR(c.error),
  };
}

t.test('table: commands and ignored input', async (t) => {
  for (const c of okCases) {
    const r = frame([B(c.input)], c.opts);
    t.same({ cmds: r.cmds, error: r.error }, expectOf(c), c.name);
    // Each command's data is the input's own bytes, in order (ignored input in between).
    let at = 0;
    for (const x of r.cmds) {
      const k = c.input.indexOf(x.raw, at);
      t.ok(k >= 0, `${c.name}: data is the input's own bytes`);
      at = k + x.raw.length;
    }
  }
});

t.test('table: protocol errors with Redis wording', async (t) => {
  for (const c of errCases) {
    const r = frame([B(c.input)], c.opts);
    t.same({ cmds: r.cmds, error: r.error }, expectOf(c), c.name);
    t.equal(r.buffered, 0, `${c.name}: nothing kept after the error`);
  }
});

t.test('an error is final', async (t) => {
  const f = new RequestFramer<Spec>(lookup, DEFAULT_LIMITS, hasSubs);
  const e = f.push(B('*x\r\n'), () => t.fail('no command'));
  t.equal(e?.reply, PERR('invalid multibulk length'));
  t.equal(f.push(B(mb('PING')), () => t.fail('no command after an error')), e);
  t.equal(f.error, e);
});

t.test('table inputs split at every byte and byte by byte', async (t) => {
  for (const c of [...okCases, ...errCases]) {
    const input = B(c.input);
    if (input.length <= 2048) {
      t.same(splitDiffs(input, c.opts), [], c.name);
    } else {
      // Long inputs: a sample of split positions (all of them would be quadratic).
      const ps = [0, 1, 2, 3, 4, 5, 6, input.length - 2, input.length - 1, input.length, INLINE_MAX - 1, INLINE_MAX, INLINE_MAX + 1, INLINE_MAX + 2];
      for (let k = 0; k < 30; k++) ps.push(Math.floor(Math.random() * input.length));
      t.same(splitDiffs(input, c.opts, ps.filter((p) => p >= 0 && p <= input.length)), [], c.name);
      const chunks: Buffer[] = [];
      for (let i = 0; i < input.length; i += 16384) chunks.push(input.subarray(i, i + 16384));
      t.same(frame(chunks, c.opts).error, expectOf(c).error, `${c.name}: 16 KB chunks`);
    }
  }
});

t.test('limits: 64 KB lines are still fine', async (t) => {
  // Inline: 65536 bytes before the LF (CR included) is the most Redis always accepts.
  const line = 'ECHO ' + 'a'.repeat(INLINE_MAX - 5 - 1) + '\r\n';
  const r = frame([B(line)]);
  t.equal(r.cmds.length, 1);
  t.equal(r.error, undefined);
  t.equal(frame([B('a'.repeat(INLINE_MAX))]).error, undefined, '64 KB without LF: waiting');
  t.equal(frame([B('*' + big(INLINE_MAX - 1))]).error, undefined, 'count line of 64 KB: waiting');
  t.equal(frame([B('*1\r\n$' + big(INLINE_MAX - 1))]).error, undefined, 'bulk line of 64 KB: waiting');
  t.equal(frame([B('*1\r\n' + 'x'.repeat(INLINE_MAX))]).error, undefined, 'non-$ line of 64 KB: waiting');
});

t.test('a 1 MB value in random chunks', async (t) => {
  const value = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7919) & 0xff;
  const cmd = Buffer.concat([B('*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$' + value.length + '\r\n'), value, B('\r\n')]);
  const input = Buffer.concat([cmd, B(mb('CLIENT', 'SETNAME', 'n')), cmd, B('PING\r\n')]);
  for (let run = 0; run < 20; run++) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; ) {
      const n = 1 + Math.floor(Math.random() * (run < 10 ? 70000 : 300));
      chunks.push(input.subarray(i, i + n));
      i += n;
    }
    const f = new RequestFramer<Spec>(lookup, DEFAULT_LIMITS, hasSubs);
    const got: Command<Spec>[] = [];
    let maxBuffered = 0;
    let err: ProtocolError | undefined;
    for (const c of chunks) {
      err ??= f.push(c, (x) => got.push(x));
      maxBuffered = Math.max(maxBuffered, f.bufferedBytes);
    }
    t.equal(err, undefined);
    t.equal(got.length, 4, `run ${run}: 4 commands`);
    t.ok(flat(got[0].data).equals(cmd) && flat(got[2].data).equals(cmd), 'SET bytes intact');
    t.equal(got[0].spec?.name, 'set');
    t.equal(got[1].arg1?.toString(), 'SETNAME');
    t.equal(got[3].inline, true);
    t.ok(Buffer.concat(got.map((g) => flat(g.data))).equals(input), 'all bytes, in order');
    t.ok(maxBuffered <= cmd.length, 'buffers at most one command');
    t.equal(f.bufferedBytes, 0);
    // The SET's arguments come back intact.
    const args = commandArgs(got[0]);
    t.equal(args.length, 3);
    t.ok(args[2].equals(value));
  }
});

t.test('arg1 is a copy that survives the chunk', async (t) => {
  const f = new RequestFramer<Spec>(lookup, DEFAULT_LIMITS, hasSubs);
  const input = B(mb('CLIENT', 'SETNAME', 'x'));
  const got: Command<Spec>[] = [];
  for (let i = 0; i < input.length; i++) f.push(Buffer.from(input.subarray(i, i + 1)), (c) => got.push(c));
  t.equal(got[0].arg1?.toString(), 'SETNAME');
  const chunk = B(mb('CONFIG', 'GET', 'x'));
  f.push(chunk, (c) => got.push(c));
  chunk.fill(0);
  t.equal(got[1].arg1?.toString(), 'GET');
});

t.test('without subLookup, no arg1', async (t) => {
  const f = new RequestFramer<Spec>(lookup, DEFAULT_LIMITS);
  const got: Command<Spec>[] = [];
  f.push(B(mb('CLIENT', 'SETNAME', 'x') + 'CLIENT SETNAME x\r\n'), (c) => got.push(c));
  t.same(got.map((c) => c.arg1), [undefined, undefined]);
});

t.test('splitInlineArgs is sdssplitargs', async (t) => {
  const cases: [string, string[] | undefined][] = [
    ['', []],
    ['   \r\n', []],
    ['a b  c\r\n', ['a', 'b', 'c']],
    ['a\tb\n', ['a', 'b']],
    ['"a b" c', ['a b', 'c']],
    ['"\\x41\\x4a\\x4" x', ['AJx4', 'x']],
    ['"\\n\\r\\t\\b\\a\\z\\"\\\\"', ['\n\r\t\b\x07z"\\']],
    ["'a\\'b' 'c\\nd'", ["a'b", 'c\\nd']],
    ['a"b c"d', undefined],
    ['a"b c" d', ['ab c', 'd']],
    ['"a"\x0bb', ['a', 'b']],
    ['a\x0bb\x0c', ['a\x0bb\x0c']],
    ['""', ['']],
    ["''", ['']],
    ['"abc', undefined],
    ["'abc", undefined],
    ['"a"b', undefined],
    ["'a'b", undefined],
    ['a\0b c', ['a']],
  ];
  for (const [line, want] of cases) {
    const got = splitInlineArgs(B(line));
    t.same(got?.map((b) => b.toString('latin1')), want, JSON.stringify(line));
  }
});

t.test('commandArgs decodes both forms', async (t) => {
  t.same(commandArgs({ data: B(mb('SET', 'a\r\nb', '')), inline: false }).map(String), ['SET', 'a\r\nb', '']);
  t.same(commandArgs({ data: [B('*2\r\n$3\r\nG'), B('ET\r\n$1\r\nk\r\n')], inline: false }).map(String), ['GET', 'k']);
  t.same(commandArgs({ data: B('SET "a b" c\r\n'), inline: true }).map(String), ['SET', 'a b', 'c']);
});

// ---------------------------------------------------------------------------------------------
// The protocol-error table against a live redis-server 7.

const REDIS = '/usr/bin/redis-server';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function startRedis(extra: string[]): Promise<{ port: number; proc: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'framer-redis-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (proc.exitCode !== null) break;
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) return { port, proc, dir };
    }
    proc.kill('SIGKILL');
    if (attempt >= 3) throw new Error('redis-server did not start');
  }
}

/** Sends `input` and collects the reply until the server closes, or `quietMs` of silence. */
export function exchange(port: number, input: Buffer, quietMs = 250): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      if (timer) clearTimeout(timer);
      s.destroy();
      resolve({ reply: Buffer.concat(out).toString('latin1'), closed });
    };
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => done(false), quietMs);
    };
    s.on('data', (d) => {
      out.push(d);
      arm();
    });
    s.on('close', () => done(true));
    s.on('error', () => {});
    s.on('connect', () => {
      s.write(input);
      arm();
    });
  });
}

t.test('protocol errors: same answer as redis-server', { skip: existsSync(REDIS) ? false : 'no redis-server' }, async (t) => {
  const open = await startRedis([]);
  const auth = await startRedis(['--requirepass', 'secret']);
  t.teardown(() => {
    open.proc.kill('SIGKILL');
    auth.proc.kill('SIGKILL');
    rmSync(open.dir, { recursive: true, force: true });
    rmSync(auth.dir, { recursive: true, force: true });
  });
  // Every command gets one reply, so the replies count the commands Redis framed. Limits are
  // Redis's defaults, so the cases with smaller configured limits are left out.
  const cases = [...errCases, ...okCases].filter((c) => !c.opts?.limits && !c.redisVaries);
  await Promise.all(
    cases.map(async (c) => {
      const input = c.input;
      const server = c.opts?.unauthenticated ? auth : open;
      const bytes = B(input);
      const r = frame([bytes], c.opts);
      const redis = await exchange(server.port, bytes);
      const replies = splitReplies(redis.reply);
      const last = replies.at(-1);
      const protoErr = last?.startsWith('-ERR Protocol error') ? last.slice(1, -2) : undefined;
      t.equal(protoErr, r.error, `${c.name}: error text`);
      t.equal(redis.closed, r.error !== undefined, `${c.name}: connection closed iff error`);
      t.equal(replies.length - (protoErr ? 1 : 0), r.cmds.length, `${c.name}: one reply per command`);
    }),
  );
});

/** Splits a RESP2 reply stream of simple replies and bulk strings (what PING/ECHO/errors give). */
function splitReplies(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const cr = s.indexOf('\r\n', i);
    if (cr < 0) break;
    let end = cr + 2;
    if (s[i] === '$' && s[i + 1] !== '-') end += Number(s.slice(i + 1, cr)) + 2;
    out.push(s.slice(i, end));
    i = end;
  }
  return out;
}
