// A raw RESP client for tests: sends exact bytes (split however the test likes) and reads whole
// replies as raw strings, so tests see exactly what the proxy forwarded.
import net from 'node:net';
import { ReplyFramer } from '../../src/resp/reply.js';

export interface RawClient {
  socket: net.Socket;
  send(data: string | Buffer): void;
  /** Sends `data` one byte per write, yielding to the event loop between writes. */
  sendBytewise(data: string | Buffer): Promise<void>;
  /** Resolves with the next `n` complete replies (raw, including pushes). */
  read(n?: number, timeoutMs?: number): Promise<string[]>;
  /** Resolves when the server closes the connection; returns everything received meanwhile. */
  closed(timeoutMs?: number): Promise<string>;
  cmd(...args: (string | number | Buffer)[]): Promise<string>;
  close(): void;
}

export function encode(...args: (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export function rawClient(port: number, host = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host }, () => resolve(client));
    socket.once('error', reject);
    const framer = new ReplyFramer();
    const replies: string[] = [];
    let partial: Buffer[] = [];
    let all = '';
    let waiter: (() => void) | undefined;
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      all += chunk.toString('latin1');
      let start = 0;
      framer.push(chunk, (end) => {
        partial.push(chunk.subarray(start, end));
        replies.push(Buffer.concat(partial).toString('latin1'));
        partial = [];
        start = end;
      });
      if (start < chunk.length) partial.push(chunk.subarray(start));
      waiter?.();
    });
    socket.on('close', () => {
      ended = true;
      waiter?.();
    });
    const client: RawClient = {
      socket,
      send: (d) => void socket.write(d),
      async sendBytewise(d) {
        const b = Buffer.isBuffer(d) ? d : Buffer.from(d);
        for (let i = 0; i < b.length; i++) {
          socket.write(b.subarray(i, i + 1));
          await new Promise((r) => setImmediate(r));
        }
      },
      read(n = 1, timeoutMs = 10_000) {
        return new Promise((res, rej) => {
          const timer = setTimeout(() => {
            waiter = undefined;
            rej(new Error(`timed out waiting for ${n} replies (have ${replies.length}: ${JSON.stringify(replies).slice(0, 300)})`));
          }, timeoutMs);
          const check = () => {
            if (replies.length >= n) {
              clearTimeout(timer);
              waiter = undefined;
              res(replies.splice(0, n));
            } else if (ended) {
              clearTimeout(timer);
              waiter = undefined;
              rej(new Error(`connection closed with ${replies.length} of ${n} replies: ${JSON.stringify(replies).slice(0, 300)}`));
            }
          };
          waiter = check;
          check();
        });
      },
      closed(timeoutMs = 10_000) {
        return new Promise((res, rej) => {
          if (ended) return res(all);
          const timer = setTimeout(() => rej(new Error('connection still open')), timeoutMs);
          socket.once('close', () => {
            clearTimeout(timer);
            res(all);
          });
        });
      },
      async cmd(...args) {
        socket.write(encode(...args));
        return (await client.read(1))[0];
      },
      close: () => socket.destroy(),
    };
  });
}
