// A scriptable fake RESP server on loopback for the backend links' unit tests: faults real Redis
// cannot produce on demand (replies cut at any byte, a connection dropped between two writes or in
// the middle of a reply, a PING never answered). One connection at a time.
import net from 'node:net';

export interface Fake {
  port: number;
  /** Everything the link wrote so far, but its opening PING. */
  received(): string;
  /** The link's opening PING arrived. */
  pinged(): boolean;
  /** Resolves once `text` has arrived; rejects after `ms` (10 s) with what did arrive. */
  waitReceived(text: string, ms?: number): Promise<void>;
  write(data: string): void;
  drop(): void;
  /** Destroys every connection it accepted and stops listening. */
  close(): Promise<void>;
}

export const PING = '*1\r\n$4\r\nPING\r\n';

/** `autoPong`: answer the link's opening PING at once (not when the test scripts the answer). */
export async function fakeServer(autoPong = true): Promise<Fake> {
  let sock: net.Socket | undefined;
  let got = '';
  let pinged = false;
  const waiters: (() => void)[] = [];
  const accepted = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sock = s;
    accepted.add(s);
    s.on('close', () => accepted.delete(s));
    s.setNoDelay(true);
    s.on('data', (d) => {
      got += d.toString('latin1');
      const i = pinged ? -1 : got.indexOf(PING);
      if (i >= 0) {
        pinged = true;
        got = got.slice(0, i) + got.slice(i + PING.length);
        if (autoPong) s.write('+PONG\r\n');
      }
      for (const w of waiters.splice(0)) w();
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    received: () => got,
    pinged: () => pinged,
    waitReceived: (text, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fake node: ${JSON.stringify(text)} not received in ${ms} ms; got ${JSON.stringify(got.slice(-300))}`)), ms);
        const check = () => {
          if (!got.includes(text)) return void waiters.push(check);
          clearTimeout(timer);
          resolve();
        };
        check();
      }),
    write: (d) => void sock!.write(d),
    drop: () => sock!.destroy(),
    close: () =>
      new Promise<void>((r) => {
        for (const s of accepted) s.destroy();
        server.close(() => r());
      }),
  };
}
