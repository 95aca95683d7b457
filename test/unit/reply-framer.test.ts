// ReplyFramer: every RESP2/RESP3 type, nesting, attributes, error codes and heads; end offsets;
// split invariance; cross-check with redis-parser on random RESP2 values.
import t from 'tap';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { ReplyFramer, ReplyProtocolError, type ReplyInfo } from '../../src/resp/reply.js';
import { splitAtOffsets } from '../helpers/split.js';

interface Framed {
  end: number; // offset in the whole input
  type: string;
  errorCode: string | undefined;
  head: string | undefined;
}

const B = (s: string) => Buffer.from(s, 'latin1');

function frame(chunks: Buffer[], inspectArrays = false): { replies: Framed[]; boundary: boolean } {
  const f = new ReplyFramer();
  f.inspectArrays = inspectArrays;
  const replies: Framed[] = [];
  let base = 0;
  for (const c of chunks) {
    f.push(c, (end: number, info: ReplyInfo) => {
      if (end < 0 || end > c.length) throw new Error(`end ${end} outside the chunk`);
      replies.push({ end: base + end, type: String.fromCharCode(info.type), errorCode: info.errorCode, head: info.head });
    });
    base += c.length;
  }
  return { replies, boundary: f.atBoundary };
}

/** Same result for every split in two and byte by byte; returns the differences. */
function splitDiffs(input: Buffer, inspectArrays = false): string[] {
  const whole = JSON.stringify(frame([input], inspectArrays));
  const diffs: string[] = [];
  for (let p = 0; p <= input.length; p++) {
    const r = JSON.stringify(frame([input.subarray(0, p), input.subarray(p)], inspectArrays));
    if (r !== whole && diffs.length < 3) diffs.push(`split at ${p}: ${r} vs ${whole}`);
  }
  const bytes = Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
  const r = JSON.stringify(frame(bytes, inspectArrays));
  if (r !== whole) diffs.push(`byte by byte: ${r} vs ${whole}`);
  return diffs;
}

interface Case {
  name: string;
  input: string;
  type: string;
  errorCode?: string;
  head?: string;
  inspect?: boolean;
}

const bulk = (s: string) => `$${s.length}\r\n${s}\r\n`;
const message = `*3\r\n${bulk('message')}${bulk('chan')}${bulk('hello')}`;
const cases: Case[] = [
  // RESP2
  { name: 'simple string', input: '+OK\r\n', type: '+' },
  { name: 'empty simple string', input: '+\r\n', type: '+' },
  { name: 'error', input: '-ERR unknown command\r\n', type: '-', errorCode: 'ERR' },
  { name: 'READONLY', input: "-READONLY You can't write against a read only replica.\r\n", type: '-', errorCode: 'READONLY' },
  { name: 'UNBLOCKED', input: '-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n', type: '-', errorCode: 'UNBLOCKED' },
  { name: 'error code only', input: '-MOVED\r\n', type: '-', errorCode: 'MOVED' },
  { name: 'integer', input: ':1000\r\n', type: ':' },
  { name: 'negative integer', input: ':-5\r\n', type: ':' },
  { name: 'bulk', input: bulk('hello'), type: '$' },
  { name: 'bulk with CRLF inside', input: bulk('a\r\nb\r\n'), type: '$' },
  { name: 'empty bulk', input: '$0\r\n\r\n', type: '$' },
  { name: 'null bulk', input: '$-1\r\n', type: '$' },
  { name: 'null array', input: '*-1\r\n', type: '*' },
  { name: 'empty array', input: '*0\r\n', type: '*' },
  { name: 'array', input: `*3\r\n${bulk('foo')}:1\r\n$-1\r\n`, type: '*' },
  { name: 'nested arrays', input: `*2\r\n*2\r\n:1\r\n*0\r\n*1\r\n*1\r\n${bulk('x')}`, type: '*' },
  { name: 'error inside an array: no code', input: '*2\r\n-ERR x\r\n:1\r\n', type: '*' },
  { name: 'EXEC with a READONLY inside', input: '*1\r\n-READONLY no\r\n', type: '*' },
  // RESP3
  { name: 'null', input: '_\r\n', type: '_' },
  { name: 'double', input: ',3.14\r\n', type: ',' },
  { name: 'double inf', input: ',-inf\r\n', type: ',' },
  { name: 'boolean', input: '#t\r\n', type: '#' },
  { name: 'big number', input: '(3492890328409238509324850943850943825024385\r\n', type: '(' },
  { name: 'blob error', input: '!21\r\nSYNTAX invalid syntax\r\n', type: '!', errorCode: 'SYNTAX' },
  { name: 'blob error, long code', input: `!40\r\n${'E'.repeat(40)}\r\n`, type: '!', errorCode: 'E'.repeat(32) },
  { name: 'verbatim', input: '=15\r\ntxt:Some string\r\n', type: '=' },
  { name: 'map', input: '%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n', type: '%' },
  { name: 'empty map', input: '%0\r\n', type: '%' },
  { name: 'set', input: '~3\r\n+a\r\n:1\r\n#f\r\n', type: '~' },
  { name: 'empty set', input: '~0\r\n', type: '~' },
  { name: 'map of aggregates', input: `%1\r\n*1\r\n:1\r\n%1\r\n~1\r\n_\r\n=5\r\ntxt:x\r\n`, type: '%' },
  { name: 'push: head always', input: `>3\r\n${bulk('message')}${bulk('chan')}${bulk('hi')}`, type: '>', head: 'message' },
  { name: 'push of a simple string head', input: '>2\r\n+PONG\r\n$0\r\n\r\n', type: '>', head: 'pong' },
  { name: 'push: integer first, no head', input: '>2\r\n:1\r\n:2\r\n', type: '>' },
  { name: 'push: aggregate first, no head', input: `>1\r\n*1\r\n${bulk('message')}`, type: '>' },
  { name: 'empty push', input: '>0\r\n', type: '>' },
  { name: 'array head when inspected', input: message, type: '*', head: 'message', inspect: true },
  { name: 'array head not inspected', input: message, type: '*' },
  { name: 'head lower-cased', input: `*3\r\n${bulk('SUBSCRIBE')}${bulk('c')}:1\r\n`, type: '*', head: 'subscribe', inspect: true },
  { name: 'RESP2 pong in subscribed mode', input: `*2\r\n${bulk('pong')}$0\r\n\r\n`, type: '*', head: 'pong', inspect: true },
  { name: 'empty first element', input: `*2\r\n$0\r\n\r\n:1\r\n`, type: '*', head: '', inspect: true },
  { name: 'head truncated to 32 bytes', input: `*1\r\n${bulk('h'.repeat(40))}`, type: '*', head: 'h'.repeat(32), inspect: true },
  { name: 'inspected: integer first', input: '*2\r\n:1\r\n:2\r\n', type: '*', inspect: true },
  { name: 'inspected: null first', input: '*2\r\n$-1\r\n:2\r\n', type: '*', head: '', inspect: true },
  { name: 'inspected: nested first', input: `*2\r\n*1\r\n${bulk('message')}:2\r\n`, type: '*', inspect: true },
  { name: 'inspected: empty array', input: '*0\r\n', type: '*', inspect: true },
  // Attributes (RESP3 spec examples): not replies of their own, not elements.
  {
    name: 'top-level attribute',
    input: '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n',
    type: '*',
  },
  { name: 'attribute inside an array', input: '*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n', type: '*' },
  { name: 'attribute before an error', input: "|1\r\n+a\r\n+b\r\n-READONLY You can't\r\n", type: '-', errorCode: 'READONLY' },
  { name: 'empty attribute', input: '|0\r\n+OK\r\n', type: '+' },
  { name: 'two attributes', input: '|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n*1\r\n:1\r\n:7\r\n', type: ':' },
  { name: 'attribute of an attribute value', input: '|1\r\n+a\r\n|1\r\n+x\r\n+y\r\n+b\r\n+OK\r\n', type: '+' },
  { name: 'attribute in a map', input: '%1\r\n|1\r\n+a\r\n+b\r\n+k\r\n|1\r\n+c\r\n+d\r\n+v\r\n', type: '%' },
  { name: 'attribute as last annotation in an array', input: '*1\r\n|1\r\n+a\r\n+b\r\n*0\r\n', type: '*' },
  { name: 'attribute before the head of a push', input: `>2\r\n|1\r\n+a\r\n+b\r\n${bulk('message')}${bulk('x')}`, type: '>', head: 'message' },
  { name: 'attribute before the head of an array', input: `*2\r\n|1\r\n+a\r\n+b\r\n${bulk('message')}${bulk('x')}`, type: '*', head: 'message', inspect: true },
  { name: 'attribute before a push', input: `|1\r\n+a\r\n+b\r\n>1\r\n${bulk('invalidate')}`, type: '>', head: 'invalidate' },
];

t.test('every type: one reply, its end, type, errorCode, head', async (t) => {
  for (const c of cases) {
    const input = B(c.input);
    const { replies, boundary } = frame([input], c.inspect);
    t.same(replies, [{ end: input.length, type: c.type, errorCode: c.errorCode, head: c.head }], c.name);
    t.ok(boundary, `${c.name}: at a boundary after`);
    t.same(splitDiffs(input, c.inspect), [], `${c.name}: split anywhere`);
  }
});

t.test('a stream of every case: end offsets and infos', async (t) => {
  for (const inspect of [false, true]) {
    const input = B(cases.map((c) => c.input).join(''));
    const { replies } = frame([input], inspect);
    t.equal(replies.length, cases.length);
    let end = 0;
    replies.forEach((r, k) => {
      const c = cases[k];
      end += c.input.length;
      t.equal(r.end, end, `${c.name}: end`);
      t.equal(r.type, c.type);
      t.equal(r.errorCode, c.errorCode);
      if (!inspect) t.equal(r.head, c.type === '>' ? c.head : undefined, `${c.name}: head`);
      else if (c.inspect || c.type !== '*') t.equal(r.head, c.head, `${c.name}: head`);
    });
    t.same(splitDiffs(input, inspect), [], 'split anywhere');
  }
});

t.test('info is reset between replies', async (t) => {
  const { replies } = frame([B(`-READONLY x\r\n+OK\r\n>1\r\n${bulk('m')}*1\r\n${bulk('m')}`)]);
  t.same(
    replies.map((r) => [r.errorCode, r.head]),
    [
      ['READONLY', undefined],
      [undefined, undefined],
      [undefined, 'm'],
      [undefined, undefined],
    ],
  );
});

t.test('atBoundary', async (t) => {
  const f = new ReplyFramer();
  const seen: number[] = [];
  const steps: [string, boolean][] = [
    ['+O', false],
    ['K\r', false],
    ['\n', true],
    ['*2\r\n:1\r\n', false],
    ['$3\r\nab', false],
    ['c\r\n', true],
    // A top-level attribute belongs to the reply that follows: no boundary until that is done.
    ['|1\r\n+a\r\n+b\r\n', false],
    ['+OK\r\n', true],
    ['|0\r\n', false],
    ['_\r\n', true],
  ];
  for (const [s, want] of steps) {
    f.push(B(s), (end) => seen.push(end));
    t.equal(f.atBoundary, want, JSON.stringify(s));
  }
  t.same(seen, [1, 3, 5, 3]);
});

t.test('bytes that are not RESP throw ReplyProtocolError', async (t) => {
  for (const s of ['?\r\n', 'OK\r\n', '\r\n', '$x\r\n', '*1\r\n@\r\n', ':1\r\n+OK\r\n$1.5\r\n', '*?\r\n', '$?\r\n']) {
    const f = new ReplyFramer();
    let err: unknown;
    try {
      f.push(B(s), () => {});
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ReplyProtocolError, JSON.stringify(s));
  }
});

t.test('a 10 MB bulk in random chunks costs no copy of it', async (t) => {
  const value = Buffer.alloc(10 * 1024 * 1024, 0x0d); // all CRs
  const input = Buffer.concat([B(`$${value.length}\r\n`), value, B('\r\n+OK\r\n')]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; ) {
    const n = 1 + Math.floor(Math.random() * 100000);
    chunks.push(input.subarray(i, i + n));
    i += n;
  }
  const { replies } = frame(chunks);
  t.same(
    replies.map((r) => r.end),
    [input.length - 5, input.length],
  );
});

// ---------------------------------------------------------------------------------------------
// Cross-check with redis-parser (RESP2) on random values.

interface ParserOptions {
  returnReply(reply: unknown): void;
  returnError(err: Error): void;
  returnFatalError?(err: Error): void;
  returnBuffers?: boolean;
}
const require = createRequire(import.meta.url);
const RedisParser = require('redis-parser') as new (o: ParserOptions) => { execute(b: Buffer): void };

type R2 = { t: '+' | '-' | ':'; v: string } | { t: '$'; v: Buffer | null } | { t: '*'; v: R2[] | null };

const line = fc.string({ unit: fc.constantFrom(...'abcXYZ 01-_:$*+'.split('')), maxLength: 12 });
const r2: fc.Arbitrary<R2> = fc.letrec<{ v: R2 }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ t: fc.constant('+' as const), v: line }),
    fc.record({ t: fc.constant('-' as const), v: line.map((s) => 'E' + s) }),
    fc.record({ t: fc.constant(':' as const), v: fc.integer().map(String) }),
    fc.record({ t: fc.constant('$' as const), v: fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { freq: 8 }) }),
    fc.record({ t: fc.constant('*' as const), v: fc.option(fc.array(tie('v'), { maxLength: 5 }), { freq: 8 }) }),
  ),
})).v;

function enc2(v: R2): Buffer {
  switch (v.t) {
    case '+':
    case '-':
    case ':':
      return B(`${v.t}${v.v}\r\n`);
    case '$':
      return v.v === null ? B('$-1\r\n') : Buffer.concat([B(`$${v.v.length}\r\n`), v.v, B('\r\n')]);
    case '*':
      return v.v === null ? B('*-1\r\n') : Buffer.concat([B(`*${v.v.length}\r\n`), ...v.v.map(enc2)]);
  }
}

function chunkAt(input: Buffer, cuts: number[]): Buffer[] {
  return splitAtOffsets(input, cuts.map((c) => Math.floor(c * (input.length + 1))));
}

t.test('same reply count and kinds as redis-parser (RESP2)', async (t) => {
  fc.assert(
    fc.property(fc.array(r2, { minLength: 1, maxLength: 8 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (values, cuts) => {
      const input = Buffer.concat(values.map(enc2));
      const kinds: string[] = [];
      const parser = new RedisParser({
        returnReply: (r) => kinds.push(r === null ? 'null' : Array.isArray(r) ? 'array' : 'value'),
        returnError: () => kinds.push('error'),
        returnFatalError: (e) => {
          throw e;
        },
        returnBuffers: true,
      });
      for (const c of chunkAt(input, cuts)) parser.execute(c);
      const { replies } = frame(chunkAt(input, cuts));
      const mine = replies.map((r, k) => {
        const v = values[k];
        if (r.type === '-') return 'error';
        return v.v === null ? 'null' : r.type === '*' ? 'array' : 'value';
      });
      // One reply per value, at its exact end; the same as redis-parser sees.
      let end = 0;
      const ends = values.map((v) => (end += enc2(v).length));
      return JSON.stringify(mine) === JSON.stringify(kinds) && JSON.stringify(replies.map((r) => r.end)) === JSON.stringify(ends);
    }),
    { numRuns: 400 },
  );
  t.pass('redis-parser agrees');
});

t.test('nil: a top-level null (*-1, $-1, _), not a nested one nor what follows (issue 15: EXEC of a failed WATCH)', async (t) => {
  const f = new ReplyFramer();
  const got: boolean[] = [];
  f.push(B('*-1\r\n+OK\r\n$-1\r\n:-1\r\n_\r\n*1\r\n$-1\r\n*0\r\n*2\r\n:1\r\n*-1\r\n'), (_end: number, info: ReplyInfo) => got.push(info.nil));
  t.same(got, [true, false, true, false, true, false, false, false]);
});
