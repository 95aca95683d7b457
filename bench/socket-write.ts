// What Node's stream machinery costs per small socket write, against the internal handle calls the
// proxy does not use (see docs/benchmarks.md, "What would reach the targets"). 50 loopback sockets, 5-byte
// writes round-robin (as the proxy writes one reply per client), in three ways:
//   write    socket.write(buf): the public path the proxy uses;
//   generic  socket._writeGeneric(): skips the Writable state machine, still a WriteWrap per write;
//   handle   socket._handle.writeBuffer() with a WriteWrap from process.binding('stream_wrap'):
//            undocumented and deprecated, shown only to bound what bypassing streams could save.
// Prints user and system CPU µs per write (the receiving sockets are in the same process, so both
// include a read's share) and the median of several alternating rounds.
//
//   npx tsc -p . && node dist/bench/socket-write.js [--rounds 5] [--writes 200000]
import net from 'node:net';
import { intArg } from './lib/args.js';
import { median } from './lib/stats.js';

const SOCKETS = 50;
const REPLY = Buffer.from('+OK\r\n');
const modes = ['write', 'generic', 'handle'] as const;
type Mode = (typeof modes)[number];

interface Internal {
  _writeGeneric(writev: boolean, data: Buffer, encoding: string, cb: () => void): void;
  _handle: { writeBuffer(req: unknown, data: Buffer): number };
}
type WriteWrapCtor = new () => Record<string, unknown>;

function writeWrap(): WriteWrapCtor {
  // process.binding is deprecated and warns once; this bench alone uses it.
  process.removeAllListeners('warning');
  const binding = (process as unknown as { binding(n: string): { WriteWrap: WriteWrapCtor } }).binding('stream_wrap');
  return binding.WriteWrap;
}

const noop = (): void => {};

async function round(mode: Mode, socks: net.Socket[], writes: number, WriteWrap: WriteWrapCtor): Promise<{ user: number; sys: number }> {
  const one = (s: net.Socket): void => {
    if (mode === 'write') s.write(REPLY);
    else if (mode === 'generic') (s as unknown as Internal)._writeGeneric(false, REPLY, 'buffer', noop);
    else {
      const h = (s as unknown as Internal)._handle;
      const req = new WriteWrap();
      req.handle = h;
      req.oncomplete = noop;
      req.async = false;
      req.bytes = 0;
      req.buffer = null;
      h.writeBuffer(req, REPLY);
    }
  };
  const t0 = process.cpuUsage();
  let done = 0;
  await new Promise<void>((resolve) => {
    const step = (): void => {
      // 100 writes per socket per event-loop turn, then let the readers run.
      for (let j = 0; j < 100; j++) for (const s of socks) one(s);
      done += 100 * socks.length;
      if (done >= writes) resolve();
      else setImmediate(step);
    };
    step();
  });
  const u = process.cpuUsage(t0);
  return { user: u.user / done, sys: u.system / done };
}

async function main(): Promise<void> {
  const rounds = intArg('rounds', 5);
  const writes = intArg('writes', 200_000);
  const WriteWrap = writeWrap();
  const server = net.createServer((s) => s.on('data', noop));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const socks: net.Socket[] = [];
  for (let i = 0; i < SOCKETS; i++) {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
    socks.push(s);
  }
  const seen = new Map<Mode, { user: number[]; sys: number[] }>(modes.map((m) => [m, { user: [], sys: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const m of modes) {
      const x = await round(m, socks, writes, WriteWrap);
      seen.get(m)!.user.push(x.user);
      seen.get(m)!.sys.push(x.sys);
    }
  }
  console.log(`${SOCKETS} sockets, ${writes} writes of ${REPLY.length} bytes per round, median of ${rounds} rounds`);
  console.log('mode      user µs/write  sys µs/write');
  for (const m of modes) {
    const s = seen.get(m)!;
    console.log(`${m.padEnd(9)} ${median(s.user).toFixed(3).padStart(13)} ${median(s.sys).toFixed(3).padStart(13)}`);
  }
  for (const s of socks) s.destroy();
  server.close();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
