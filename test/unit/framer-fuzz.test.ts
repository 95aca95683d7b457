// Property tests for both framers (fast-check), and a differential fuzz of the request framer
// against a live redis-server.
import t from 'tap';
import fc from 'fast-check';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtocolError, RequestFramer, commandArgs, type Command, type NameLookup } from '../../src/resp/request.js';
import { ReplyFramer, ReplyProtocolError } from '../../src/resp/reply.js';
import { splitAtOffsets } from '../helpers/split.js';

const B = (s: string) => Buffer.from(s, 'latin1');
/** FRAMER_FUZZ_SCALE=50 (and FRAMER_FUZZ_RUNS below) for a longer hunt. */
const SCALE = Number(process.env.FRAMER_FUZZ_SCALE ?? 1);
const flat = (d: Buffer | Buffer[]) => (Array.isArray(d) ? Buffer.concat(d) : d);

interface Spec {
  name: string;
  subs: boolean;
}
const SPECS = new Map<string, Spec>(
  (
    [
      ['ping', false],
      ['echo', false],
      ['set', false],
      ['get', false],
      ['client', true],
      ['config', true],
    ] as const
  ).map(([name, subs]) => [name, { name, subs }]),
);
const lookup: NameLookup<Spec> = {
  lookup: (buf, s, e) => SPECS.get(buf.toString('latin1', s, e).toLowerCase()),
};
const LIMITS = { maxBulkBytes: 512 * 1024 * 1024, maxMultibulkLength: 2147483647 };
const newFramer = () => new RequestFramer<Spec>(lookup, LIMITS, (s) => s.subs);

/** Cuts `input` at fractions `cuts` of its length. */
function chunkAt(input: Buffer, cuts: number[]): Buffer[] {
  return splitAtOffsets(input, cuts.map((c) => Math.floor(c * (input.length + 1))));
}
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });
const oneByteCuts = (n: number) => Array.from({ length: n }, (_, i) => (i + 1) / (n + 1));

interface Outcome {
  cmds: { start: number; end: number; argc: number; name?: string; arg1?: string; inline: boolean }[];
  error?: string;
  maxBuffered: number;
}

/** Frames the chunks (subarrays of `input`) and locates every command's bytes in `input`. */
function run(input: Buffer, chunks: Buffer[]): Outcome {
  const f = newFramer();
  const out: Outcome = { cmds: [], maxBuffered: 0 };
  const where = (b: Buffer) => {
    if (b.buffer !== input.buffer) throw new Error('data is not a slice of the input');
    return b.byteOffset - input.byteOffset;
  };
  for (const c of chunks) {
    const e = f.push(c, (cmd: Command<Spec>) => {
      const parts = Array.isArray(cmd.data) ? cmd.data : [cmd.data];
      const start = where(parts[0]);
      let pos = start;
      for (const p of parts) {
        if (where(p) !== pos) throw new Error('data slices are not contiguous');
        pos += p.length;
      }
      if (pos - start !== cmd.size) throw new Error('size is not the data length');
      out.cmds.push({ start, end: pos, argc: cmd.argc, name: cmd.spec?.name, arg1: cmd.arg1?.toString('latin1'), inline: cmd.inline });
    });
    out.maxBuffered = Math.max(out.maxBuffered, f.bufferedBytes);
    if (e) {
      if (!(e instanceof ProtocolError) || !e.reply.startsWith('ERR Protocol error: ')) throw new Error('bad error');
      out.error = e.reply;
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Requests

const argArb = fc.oneof(
  fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
  fc.constantFrom('\r\n', '*1\r\n', '$3\r\n', '\r', '\n', 'x\r\ny', '').map(B),
  fc.constantFrom('PING', 'echo', 'SET', 'get', 'Client', 'CONFIG', 'setname', 'GET').map(B),
);
const cmdArb = fc.array(argArb, { minLength: 1, maxLength: 6 });
const encode = (args: Buffer[]) => Buffer.concat([B(`*${args.length}\r\n`), ...args.flatMap((a) => [B(`$${a.length}\r\n`), a, B('\r\n')])]);

t.test('random multibulk commands in random chunks come back exactly', async (t) => {
  fc.assert(
    fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 10 }), cutsArb, (cmds, cuts) => {
      const encoded = cmds.map(encode);
      const input = Buffer.concat(encoded);
      for (const chunks of [chunkAt(input, cuts), chunkAt(input, oneByteCuts(input.length))]) {
        const f = newFramer();
        const got: Command<Spec>[] = [];
        for (const c of chunks) if (f.push(c, (x) => got.push(x))) return false;
        if (got.length !== cmds.length || f.bufferedBytes !== 0) return false;
        for (let k = 0; k < cmds.length; k++) {
          const g = got[k];
          const args = cmds[k];
          if (!flat(g.data).equals(encoded[k]) || g.size !== encoded[k].length || g.argc !== args.length || g.inline) return false;
          const spec = SPECS.get(args[0].toString('latin1').toLowerCase());
          if (g.spec !== spec) return false;
          const arg1 = spec?.subs && args.length > 1 && args[1].length <= 64 ? args[1] : undefined;
          if ((g.arg1 === undefined) !== (arg1 === undefined) || (arg1 && !g.arg1?.equals(arg1))) return false;
          const decoded = commandArgs(g);
          if (decoded.length !== args.length || decoded.some((a, i) => !a.equals(args[i]))) return false;
        }
      }
      return true;
    }),
    { numRuns: 300 * SCALE },
  );
  t.pass();
});

// Inline commands: words with quoting as a client (redis-cli style) would write them.
const wordArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'abcXYZ019-_:*$'.split('')), minLength: 1, maxLength: 8 }).map((s) => ({ v: s, enc: s })),
  fc.string({ unit: fc.constantFrom(...'ab \t\r\n"\'\\\x00\xff'.split('')), maxLength: 8 }).map((s) => ({
    v: s,
    enc: '"' + s.replace(/[\\"]/g, (c) => '\\' + c).replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\x00/g, '\\x00') + '"',
  })),
  fc.string({ unit: fc.constantFrom(...'ab "\\'.split('')), maxLength: 6 })
    .filter((s) => !s.endsWith('\\'))
    .map((s) => ({ v: s, enc: "'" + s.replace(/'/g, "\\'") + "'" })),
  fc.constantFrom('PING', 'get', 'CLIENT', 'setname').map((s) => ({ v: s, enc: s })),
);
const inlineArb = fc
  .record({
    words: fc.array(wordArb, { minLength: 1, maxLength: 5 }),
    sep: fc.constantFrom(' ', '  ', '\t', ' \x0b'),
    eol: fc.constantFrom('\r\n', '\n'),
  })
  .filter((c) => !c.words[0].enc.startsWith('*')); // that would be a multibulk

t.test('random inline and multibulk pipelines in random chunks', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.oneof(cmdArb.map((a) => ({ mb: a })), inlineArb.map((i) => ({ il: i }))), { minLength: 1, maxLength: 8 }), cutsArb, (items, cuts) => {
      const encoded = items.map((it) => ('mb' in it ? encode(it.mb) : B(it.il.words.map((w) => w.enc).join(it.il.sep) + it.il.eol)));
      const input = Buffer.concat(encoded);
      const r = run(input, chunkAt(input, cuts));
      if (r.error || r.cmds.length !== items.length) return false;
      let pos = 0;
      for (let k = 0; k < items.length; k++) {
        const it = items[k];
        const c = r.cmds[k];
        if (c.start !== pos || c.end !== pos + encoded[k].length) return false;
        pos = c.end;
        const args = 'mb' in it ? it.mb.map((a) => a.toString('latin1')) : it.il.words.map((w) => w.v);
        if (c.argc !== args.length || c.inline !== !('mb' in it)) return false;
        const decoded = commandArgs({ data: input.subarray(c.start, c.end), inline: c.inline }).map((a) => a.toString('latin1'));
        if (JSON.stringify(decoded) !== JSON.stringify(args)) return false;
      }
      return true;
    }),
    { numRuns: 300 * SCALE },
  );
  t.pass();
});

// Bytes biased towards RESP syntax, to reach the error paths.
const TOKENS = [
  '*1\r\n', '*2\r\n', '*0\r\n', '*-1\r\n', '$4\r\nPING\r\n', '$4\r\nECHO\r\n', '$1\r\nx\r\n', '$0\r\n\r\n',
  'PING\r\n', 'PING\n', 'ECHO "a b"\r\n', "ECHO 'x'\n", '\r\n', '\n', '\r', '*', '$', '-', '0', '1', '4', '9',
  '"', "'", ' ', '\t', '\0', 'x', '\x0b', '\\', 'P', ':',
];
const tokenBytes = fc
  .array(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...TOKENS).map(B) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }).map((a) => Buffer.from(a)) }), {
    maxLength: 30,
  })
  .map((bs) => Buffer.concat(bs));
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), tokenBytes);

t.test('random bytes: commands in order, or a ProtocolError; the same whatever the chunks', async (t) => {
  fc.assert(
    fc.property(anyBytes, cutsArb, (input, cuts) => {
      const whole = run(input, [input]);
      const split = run(input, chunkAt(input, cuts));
      const bytes = run(input, chunkAt(input, oneByteCuts(input.length)));
      let pos = 0;
      for (const c of whole.cmds) {
        if (c.start < pos || c.end <= c.start || c.end > input.length) return false;
        pos = c.end;
      }
      if (whole.maxBuffered > input.length || split.maxBuffered > input.length || bytes.maxBuffered > input.length) return false;
      const key = (o: Outcome) => JSON.stringify({ cmds: o.cmds, error: o.error });
      return key(whole) === key(split) && key(whole) === key(bytes);
    }),
    { numRuns: 500 * SCALE },
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Replies: RESP3 value trees.

type Leaf = { k: 'line'; t: string; s: string } | { k: 'blob'; t: string; b: Buffer | null };
interface Tree {
  attr?: [Tree, Tree][];
  v: Leaf | { k: 'agg'; t: string; items: Tree[] | null };
}

const text = fc.string({ unit: fc.constantFrom(...'aZ09 -_:*$+|>'.split('')), maxLength: 10 });
const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree; attr: [Tree, Tree][] }>((tie) => ({
  attr: fc.array(fc.tuple(tie('tree'), tie('tree')), { minLength: 0, maxLength: 2 }),
  tree: fc.record(
    {
      attr: fc.option(tie('attr'), { freq: 5, nil: undefined }),
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.record({ k: fc.constant('line' as const), t: fc.constantFrom('+', '-', ':', '_', ',', '#', '('), s: text }),
        fc.record({
          k: fc.constant('blob' as const),
          t: fc.constantFrom('$', '!', '='),
          b: fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { freq: 6 }),
        }),
        fc.record({
          k: fc.constant('agg' as const),
          t: fc.constantFrom('*', '%', '~', '>'),
          items: fc.option(fc.array(tie('tree'), { maxLength: 4 }), { freq: 8 }),
        }),
      ),
    },
    { requiredKeys: ['v'] },
  ),
})).tree;

function encTree(x: Tree): Buffer {
  const parts: Buffer[] = [];
  if (x.attr) parts.push(B(`|${x.attr.length}\r\n`), ...x.attr.flatMap(([k, v]) => [encTree(k), encTree(v)]));
  const v = x.v;
  if (v.k === 'line') parts.push(B(`${v.t}${v.s}\r\n`));
  else if (v.k === 'blob') parts.push(v.b === null ? B(`${v.t}-1\r\n`) : Buffer.concat([B(`${v.t}${v.b.length}\r\n`), v.b, B('\r\n')]));
  else {
    const items = v.items;
    if (items === null) parts.push(B(`${v.t}-1\r\n`));
    else {
      // A map's count is of pairs: use the even prefix.
      const its = v.t === '%' ? items.slice(0, items.length & ~1) : items;
      parts.push(B(`${v.t}${v.t === '%' ? its.length / 2 : its.length}\r\n`), ...its.map(encTree));
    }
  }
  return Buffer.concat(parts);
}

/** What the framer should report for a top-level tree. */
function expectInfo(x: Tree, inspect: boolean): { type: string; errorCode?: string; head?: string } {
  const v = x.v;
  const out: { type: string; errorCode?: string; head?: string } = { type: v.t };
  const cap = (b: Buffer) => b.subarray(0, 32).toString('latin1');
  if (v.k === 'line' && v.t === '-') out.errorCode = cap(B(v.s)).split(' ')[0];
  if (v.k === 'blob' && v.t === '!') out.errorCode = v.b ? cap(v.b).split(' ')[0] : '';
  if (v.k === 'agg' && (v.t === '>' || (v.t === '*' && inspect))) {
    const items = v.items;
    const first = items?.[0];
    if (first) {
      const f = first.v;
      if (f.k === 'line' && f.t === '+') out.head = cap(B(f.s)).toLowerCase();
      else if (f.k === 'blob' && f.t === '$') out.head = f.b ? cap(f.b).toLowerCase() : '';
    }
  }
  return out;
}

t.test('RESP3 trees: one reply per top-level value, exact ends, infos', async (t) => {
  fc.assert(
    fc.property(fc.array(treeArb, { minLength: 1, maxLength: 6 }), cutsArb, fc.boolean(), (trees, cuts, inspect) => {
      const encoded = trees.map(encTree);
      const input = Buffer.concat(encoded);
      for (const chunks of [chunkAt(input, cuts), chunkAt(input, oneByteCuts(input.length))]) {
        const f = new ReplyFramer();
        f.inspectArrays = inspect;
        const got: unknown[] = [];
        let base = 0;
        for (const c of chunks) {
          f.push(c, (end, info) => got.push({ end: base + end, type: String.fromCharCode(info.type), errorCode: info.errorCode, head: info.head }));
          base += c.length;
        }
        let end = 0;
        const want = trees.map((x, k) => {
          const e = expectInfo(x, inspect);
          return { end: (end += encoded[k].length), type: e.type, errorCode: e.errorCode, head: e.head };
        });
        if (JSON.stringify(got) !== JSON.stringify(want) || !f.atBoundary) return false;
      }
      return true;
    }),
    { numRuns: 400 * SCALE },
  );
  t.pass();
});

t.test('random bytes into the reply framer: replies or ReplyProtocolError, whatever the chunks', async (t) => {
  const replyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    fc
      .array(
        fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('+OK\r\n', '*2\r\n', '%1\r\n', '|1\r\n', '>1\r\n', '$3\r\nabc\r\n', '$-1\r\n', '*', '$', '|', '-', '1', '9', '\r\n', '\r', ':', '_\r\n').map(B) },
          { weight: 1, arbitrary: fc.uint8Array({ maxLength: 3 }).map((a) => Buffer.from(a)) },
        ),
        { maxLength: 30 },
      )
      .map((bs) => Buffer.concat(bs)),
  );
  const runReplies = (chunks: Buffer[]) => {
    const f = new ReplyFramer();
    const ends: number[] = [];
    let base = 0;
    try {
      for (const c of chunks) {
        f.push(c, (end) => ends.push(base + end));
        base += c.length;
      }
    } catch (e) {
      if (!(e instanceof ReplyProtocolError)) throw e;
      return { ends, threw: true };
    }
    return { ends, threw: false };
  };
  fc.assert(
    fc.property(replyBytes, cutsArb, (input, cuts) => {
      const a = JSON.stringify(runReplies([input]));
      return a === JSON.stringify(runReplies(chunkAt(input, cuts))) && a === JSON.stringify(runReplies(chunkAt(input, oneByteCuts(input.length))));
    }),
    { numRuns: 500 * SCALE },
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Differential: the same random (RESP-biased) bytes to the framer and to redis-server. Tokens spell
// only PING, ECHO and junk, so no command can change the server. Every command gets one reply.

const REDIS = '/usr/bin/redis-server';
const require = createRequire(import.meta.url);
const RedisParser = require('redis-parser') as new (o: {
  returnReply(r: unknown): void;
  returnError(e: Error): void;
  returnFatalError?(e: Error): void;
}) => { execute(b: Buffer): void };

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function startRedis(): Promise<{ port: number; proc: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'framer-fuzz-redis-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxclients', '10000'], {
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

/** Sends `input`; resolves when Redis closed, or gave `expect` replies and then 50 ms of quiet. */
function ask(port: number, input: Buffer, expect: number, expectClose = false): Promise<{ replies: string[]; raw: string; closed: boolean }> {
  return new Promise((resolve) => {
    const replies: string[] = [];
    const raw: Buffer[] = [];
    const parser = new RedisParser({
      returnReply: (r) => replies.push(String(r)),
      returnError: (e) => replies.push('-' + e.message),
      returnFatalError: () => replies.push('!fatal'),
    });
    const s = net.connect(port, '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const done = (closed: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ replies, raw: Buffer.concat(raw).toString('latin1'), closed });
    };
    const arm = () => {
      clearTimeout(timer);
      // When the framer expects Redis to close the connection (a protocol error), wait for that
      // close generously: on a loaded machine 50 ms of quiet is no proof that nothing is coming.
      timer = setTimeout(() => done(false), expectClose ? 3000 : replies.length >= expect ? 50 : 600);
    };
    s.on('data', (d) => {
      raw.push(d);
      parser.execute(d);
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

t.test('random RESP-biased requests: the framer and redis-server agree', { skip: existsSync(REDIS) ? false : 'no redis-server' }, async (t) => {
  const redis = await startRedis();
  t.teardown(() => {
    redis.proc.kill('SIGKILL');
    rmSync(redis.dir, { recursive: true, force: true });
  });
  const seed = Date.now() | 0;
  // FRAMER_FUZZ_RUNS=20000 for a longer hunt.
  const inputs = fc.sample(tokenBytes, { numRuns: Number(process.env.FRAMER_FUZZ_RUNS ?? 400), seed });
  const mismatches: string[] = [];
  for (let k = 0; k < inputs.length; k += 100) {
    await Promise.all(
      inputs.slice(k, k + 100).map(async (input) => {
        const mine = run(input, [input]);
        const r = await ask(redis.port, input, mine.cmds.length, mine.error !== undefined);
        const last = r.replies.at(-1);
        // The error's text from the raw bytes (redis-parser decodes it as UTF-8; Redis sends the
        // byte it did not expect as is, and so does the framer, as a latin1 character).
        const protoErr = last?.startsWith('-ERR Protocol error') ? r.raw.slice(r.raw.lastIndexOf('-ERR Protocol error') + 1, -2) : undefined;
        const theirs = { cmds: r.replies.length - (protoErr ? 1 : 0), error: protoErr, closed: r.closed };
        const ours = { cmds: mine.cmds.length, error: mine.error, closed: mine.error !== undefined };
        if (JSON.stringify(theirs) !== JSON.stringify(ours)) {
          mismatches.push(`${JSON.stringify(input.toString('latin1'))}: redis ${JSON.stringify(theirs)}, framer ${JSON.stringify(ours)}`);
        }
      }),
    );
  }
  for (const m of mismatches.slice(0, 10)) t.comment(m);
  t.same(mismatches.slice(0, 10), [], `seed ${seed}`);
  t.equal(mismatches.length, 0, `${mismatches.length} of ${inputs.length} differ`);
});
