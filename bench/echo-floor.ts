// The floor under any Node.js data path: the CPU a bare Node echo server spends per round trip
// when 50 clients each keep one 5-byte message in flight (as redis-benchmark -P 1 does), against
// which the proxy's own cost per command at -P 1 (bench/throughput.ts, "CPU s/100k") can be read.
// The echo server does one read and one write per round trip and nothing else — no framing, no
// backend; the proxy does the same per client command plus a share of the shared link's.
// Two ways of reading, each in its own server process: 'data' events, and the shared read buffer
// the proxy uses (src/session/socket-reads.ts). Clients run in a separate process.
//
//   npx tsc -p . && node dist/bench/echo-floor.js [--seconds 4] [--rounds 3]
import net from 'node:net';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { adoptReads } from '../src/session/socket-reads.js';
import { intArg } from './lib/args.js';

const CLIENTS = 50;
const MESSAGE = Buffer.from('+OK\r\n');
const self = fileURLToPath(import.meta.url);

/** Clients: each writes its message again as soon as the echo arrives. */
async function clients(port: number): Promise<void> {
  for (let i = 0; i < CLIENTS; i++) {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
    s.on('data', () => s.write(MESSAGE));
    s.write(MESSAGE);
  }
}

/** An echo server measuring its own CPU over `seconds` after a one-second warm-up. */
async function server(mode: string, seconds: number): Promise<void> {
  let trips = 0;
  const srv = net.createServer({ pauseOnConnect: mode === 'onread', noDelay: true }, (s) => {
    const echo = (chunk: Buffer): void => {
      trips++;
      s.write(chunk);
    };
    if (mode !== 'onread' || !adoptReads(s, echo)) {
      s.on('data', echo);
      s.resume();
    }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const child = fork(self, ['clients', String((srv.address() as net.AddressInfo).port)]);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = process.cpuUsage();
  const n0 = trips;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const u = process.cpuUsage(t0);
  const n = trips - n0;
  child.kill();
  process.send!({ trips: n, user: u.user / n, sys: u.system / n });
  process.exit(0);
}

async function main(): Promise<void> {
  const seconds = intArg('seconds', 4);
  const rounds = intArg('rounds', 3);
  console.log(`${CLIENTS} clients, one ${MESSAGE.length}-byte message each in flight, ${seconds} s per run, ${rounds} alternating rounds`);
  console.log('reads    round trips/s   user µs/trip   sys µs/trip   CPU s/100k');
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['data', 'onread']) {
      const child = fork(self, ['server', mode, String(seconds)]);
      const m = await new Promise<{ trips: number; user: number; sys: number }>((resolve, reject) => {
        child.once('message', (x) => resolve(x as { trips: number; user: number; sys: number }));
        child.once('exit', (code) => reject(new Error(`echo server exited with ${code} before reporting`)));
      });
      const cpu = ((m.user + m.sys) * 100_000) / 1e6;
      console.log(
        `${mode.padEnd(8)} ${(m.trips / seconds).toFixed(0).padStart(13)} ${m.user.toFixed(2).padStart(14)} ${m.sys.toFixed(2).padStart(13)} ${cpu.toFixed(3).padStart(12)}`,
      );
    }
  }
}

const role = process.argv[2];
const run = role === 'clients' ? clients(Number(process.argv[3])) : role === 'server' ? server(process.argv[3]!, Number(process.argv[4])) : main();
run.catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
