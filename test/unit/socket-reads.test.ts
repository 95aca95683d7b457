// Reads into the one shared buffer (src/session/socket-reads.ts): every chunk handed over must be
// a copy of its own, whatever other sockets read after it, and pause/resume/EOF keep working.
import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { acceptedReadsSupported, adoptReads, onreadOption } from '../../src/session/socket-reads.js';

async function server(t: Test, opts: net.ServerOpts, onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer(opts, onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as net.AddressInfo).port;
}

const pattern = (id: number, len: number) => Buffer.from(Array.from({ length: len }, (_, i) => 33 + ((i * 31 + id * 7) % 90)));

t.test('this Node lets accepted sockets read into the shared buffer', async (t) => {
  t.ok(acceptedReadsSupported(), 'the onread fields were found (otherwise sockets fall back to data events)');
});

t.test('many accepted sockets: every chunk is the bytes sent, not overwritten by later reads', async (t) => {
  const N = 20;
  const LEN = 200_000; // several reads per socket, interleaved with the others'
  const chunks = new Map<number, Buffer[]>();
  const ended: Promise<unknown>[] = [];
  let seen = 0;
  const port = await server(t, { pauseOnConnect: true }, (s) => {
    const i = seen++;
    chunks.set(i, []);
    ended.push(once(s, 'end'));
    t.equal(adoptReads(s, (c) => chunks.get(i)!.push(c)), true, `socket ${i} adopted`);
    s.on('end', () => s.end());
  });
  const clients = await Promise.all(
    Array.from({ length: N }, async () => {
      const c = net.connect(port, '127.0.0.1');
      await once(c, 'connect');
      return c;
    }),
  );
  // Send once every socket is adopted.
  while (seen < N) await new Promise<void>((r) => setImmediate(r));
  for (const [k, c] of clients.entries()) {
    c.end(pattern(k, LEN));
  }
  await Promise.all(ended);
  // Accept order need not be connect order: match each received stream to the pattern it equals.
  const got = [...chunks.values()].map((cs) => Buffer.concat(cs));
  const want = clients.map((_, k) => pattern(k, LEN));
  t.equal(got.length, N);
  for (const g of got) t.ok(want.some((w) => w.equals(g)), 'a stream arrived byte for byte');
  const many = [...chunks.values()].filter((cs) => cs.length > 1).length;
  t.ok(many > 0, `streams came in several reads (${many} of ${N}), so later reads did run after earlier chunks were kept`);
  for (const c of clients) c.destroy();
});

t.test('pause stops the reads, resume restarts them, and EOF still ends the socket', async (t) => {
  let sock: net.Socket | undefined;
  const got: Buffer[] = [];
  const port = await server(t, { pauseOnConnect: true }, (s) => {
    sock = s;
    adoptReads(s, (c) => got.push(c));
  });
  const c = net.connect(port, '127.0.0.1');
  await once(c, 'connect');
  while (!sock) await new Promise<void>((r) => setImmediate(r));
  c.write('one');
  while (got.length === 0) await new Promise<void>((r) => setImmediate(r));
  sock.pause();
  // Once written, loopback has the bytes in the server socket's queue; a few event-loop turns (each
  // polls for I/O) would read them if reading were on.
  await new Promise<void>((r) => c.write('two', () => r()));
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  t.equal(Buffer.concat(got).toString(), 'one', 'nothing read while paused');
  sock.resume();
  while (Buffer.concat(got).toString() !== 'onetwo') await new Promise<void>((r) => setImmediate(r));
  t.pass('resumed');
  const end = once(sock, 'end');
  c.end();
  await end;
  t.pass("the client's FIN is seen");
  c.destroy();
});

t.test('sockets it cannot adopt are left alone: already reading, or TLS', async (t) => {
  let plain: net.Socket | undefined;
  const port = await server(t, {}, (s) => (plain = s));
  const c = net.connect(port, '127.0.0.1');
  await once(c, 'connect');
  while (!plain) await new Promise<void>((r) => setImmediate(r));
  t.equal(adoptReads(plain, () => t.fail('must not be called')), false, 'a socket already reading');
  const wrapped = new tls.TLSSocket(new net.Socket());
  t.equal(adoptReads(wrapped, () => t.fail('must not be called')), false, 'a TLS socket');
  wrapped.destroy();
  c.destroy();
});

t.test('connected sockets (onread): chunks are copies too', async (t) => {
  const LEN = 300_000;
  const port = await server(t, {}, (s) => s.end(pattern(1, LEN)));
  const got: Buffer[] = [];
  const c = net.connect({ host: '127.0.0.1', port, onread: onreadOption((ch) => got.push(ch)) });
  await once(c, 'end');
  t.ok(got.length > 1, `several reads (${got.length})`);
  t.ok(Buffer.concat(got).equals(pattern(1, LEN)), 'byte for byte');
  c.destroy();
});
