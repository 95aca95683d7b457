// Framer micro-benchmark: 1M-command SET/GET pipelines (3-byte and 1 KB values) cut in 16 KB chunks.
// Prints ns per command for the request framer, ns per reply for the reply framer, and redis-parser
// decoding the same reply stream for comparison.
//
//   npx tsc -p . && node dist/bench/framers.js
import { createRequire } from 'node:module';
import { RequestFramer, type NameLookup } from '../src/resp/request.js';
import { ReplyFramer } from '../src/resp/reply.js';

const require = createRequire(import.meta.url);
const RedisParser = require('redis-parser') as new (o: {
  returnReply(r: unknown): void;
  returnError(e: Error): void;
  returnFatalError?(e: Error): void;
  returnBuffers?: boolean;
}) => { execute(b: Buffer): void };

const COMMANDS = 1_000_000;
const CHUNK = 16 * 1024;
const ROUNDS = 5;

interface Spec {
  name: string;
}
const specs = new Map(['get', 'set', 'ping', 'client'].map((n) => [n, { name: n }]));
/** A plain lookup (string + Map), as a stand-in for the real command table. */
const mapLookup: NameLookup<Spec> = {
  lookup: (buf, s, e) => specs.get(buf.toString('latin1', s, e).toLowerCase()),
};
/** No lookup at all: the framer's own cost. */
const noLookup: NameLookup<Spec> = { lookup: () => undefined };

/** A stream of `segmentCommands` alternating SET/GET commands and the matching reply stream, each
 * cut in 16 KB chunks; the benchmark pushes the chunks `repeat` times (1M commands in all). */
function workload(valueSize: number, segmentCommands: number) {
  const value = Buffer.alloc(valueSize, 'v');
  const req: Buffer[] = [];
  const rep: Buffer[] = [];
  const ok = Buffer.from('+OK\r\n');
  const bulkHdr = Buffer.from(`$${valueSize}\r\n`);
  const crlf = Buffer.from('\r\n');
  for (let i = 0; i < segmentCommands; i++) {
    const key = `key:${(i >> 1).toString().padStart(8, '0')}`;
    if ((i & 1) === 0) {
      req.push(Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${valueSize}\r\n`), value, crlf);
      rep.push(ok);
    } else {
      req.push(Buffer.from(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`));
      rep.push(bulkHdr, value, crlf);
    }
  }
  const cut = (b: Buffer) => {
    const out: Buffer[] = [];
    for (let i = 0; i < b.length; i += CHUNK) out.push(b.subarray(i, i + CHUNK));
    return out;
  };
  const reqBuf = Buffer.concat(req);
  const repBuf = Buffer.concat(rep);
  return { req: cut(reqBuf), rep: cut(repBuf), reqBytes: reqBuf.length, repBytes: repBuf.length, repeat: COMMANDS / segmentCommands };
}

function best(fn: () => number): { ms: number; count: number } {
  let ms = Infinity;
  let count = 0;
  fn(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    count = fn();
    ms = Math.min(ms, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms, count };
}

function report(label: string, { ms, count }: { ms: number; count: number }, bytes: number) {
  const ns = (ms * 1e6) / count;
  const mbps = bytes / 1024 / 1024 / (ms / 1000);
  console.log(`${label.padEnd(44)} ${ns.toFixed(1).padStart(7)} ns/cmd  ${(count / (ms / 1000) / 1e6).toFixed(2).padStart(6)} M/s  ${mbps.toFixed(0).padStart(6)} MB/s  (${count} in ${ms.toFixed(0)} ms)`);
}

for (const [valueSize, segment] of [
  [3, COMMANDS],
  [1024, 100_000],
] as const) {
  const w = workload(valueSize, segment);
  console.log(`\n${COMMANDS} commands, SET/GET alternating, ${valueSize}-byte values, ${CHUNK / 1024} KB chunks`);
  for (const [name, names] of [
    ['no lookup', noLookup],
    ['Map lookup', mapLookup],
  ] as const) {
    const r = best(() => {
      let n = 0;
      const f = new RequestFramer<Spec>(names, { maxBulkBytes: 512 * 1024 * 1024, maxMultibulkLength: 2147483647 });
      const on = () => void n++;
      for (let k = 0; k < w.repeat; k++) for (const c of w.req) f.push(c, on);
      return n;
    });
    report(`request framer (${name})`, r, w.reqBytes * w.repeat);
  }
  for (const inspect of [false, true]) {
    const r = best(() => {
      let n = 0;
      const f = new ReplyFramer();
      f.inspectArrays = inspect;
      const on = () => void n++;
      for (let k = 0; k < w.repeat; k++) for (const c of w.rep) f.push(c, on);
      return n;
    });
    report(`reply framer${inspect ? ' (inspectArrays)' : ''}`, r, w.repBytes * w.repeat);
  }
  for (const returnBuffers of [true, false]) {
    const r = best(() => {
      let n = 0;
      const p = new RedisParser({
        returnReply: () => void n++,
        returnError: () => void n++,
        returnBuffers,
      });
      for (let k = 0; k < w.repeat; k++) for (const c of w.rep) p.execute(c);
      return n;
    });
    report(`redis-parser decode (${returnBuffers ? 'buffers' : 'strings'})`, r, w.repBytes * w.repeat);
  }
}
