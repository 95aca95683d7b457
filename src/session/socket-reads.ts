// Socket reads without a fresh 64 KB allocation each (issue 7).
//
// By default Node allocates a 64 KB ArrayBuffer for every read, shrinks it to what was read, and
// passes it through the Readable stream machinery to a 'data' listener. Here every plain TCP
// socket of the process reads into one shared buffer instead (Node's `onread` option), and the
// bytes read are copied out at once into a Buffer of their own size (from Node's pool when small).
// The consumer sees what a 'data' listener would: a chunk nobody else references. The copy is
// what makes one buffer safe for every socket: libuv reads a socket and calls back before it reads
// the next, and nothing references the shared buffer after the callback.
//
// Node offers `onread` for sockets it connects (backend links) but not for sockets a server
// accepts; for those the same fields are set on the socket before it starts reading. Where that is
// not possible (the fields are not found, TLS), sockets fall back to 'data' events.
import net from 'node:net';
import tls from 'node:tls';

/** What libuv asks for per read. */
export const READ_BUFFER_BYTES = 64 * 1024;

const shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

export type OnChunk = (chunk: Buffer) => void;

/** The `onread` option for a socket the process connects: each read copied out to `onChunk`. */
export function onreadOption(onChunk: OnChunk): net.OnReadOpts {
  return {
    buffer: shared,
    callback: (n: number): boolean => {
      onChunk(Buffer.from(shared.subarray(0, n)));
      return true; // false would stop reading; pause() does that when asked
    },
  };
}

interface Fields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let fields: Fields | null | undefined;

/** The socket fields behind `onread`, found on a probe socket; null when this Node has none. */
function onreadFields(): Fields | null {
  if (fields !== undefined) return fields;
  fields = null;
  try {
    const marker = Buffer.alloc(1);
    // (The constructor takes `onread` as net.connect does; the typings list it for connect only.)
    const probe = new net.Socket({ onread: { buffer: marker, callback: () => true } } as net.SocketConstructorOpts);
    const own = probe as unknown as Record<symbol, unknown>;
    const syms = Object.getOwnPropertySymbols(probe);
    const find = (d: string) => syms.find((s) => s.description === d);
    const buffer = find('kBuffer');
    const callback = find('kBufferCb');
    const generator = find('kBufferGen');
    if (buffer && callback && generator && own[buffer] === marker && typeof own[callback] === 'function' && own[generator] === null) {
      fields = { buffer, callback, generator };
    }
    probe.destroy();
  } catch {
    fields = null;
  }
  return fields;
}

/** Can accepted sockets read into the shared buffer (see adoptReads)? */
export function acceptedReadsSupported(): boolean {
  return onreadFields() !== null;
}

/**
 * Makes a socket a server accepted with `pauseOnConnect` read into the shared buffer, as `onread`
 * would, then starts reading. Returns false (and changes nothing) when that is not possible: the
 * caller then listens for 'data' and calls resume() itself.
 */
export function adoptReads(socket: net.Socket, onChunk: OnChunk): boolean {
  const f = onreadFields();
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void; reading?: boolean } })._handle;
  if (f === null || socket instanceof tls.TLSSocket || !handle || typeof handle.useUserBuffer !== 'function' || handle.reading) return false;
  const opts = onreadOption(onChunk);
  const own = socket as unknown as Record<symbol, unknown>;
  own[f.buffer] = opts.buffer;
  own[f.callback] = opts.callback;
  own[f.generator] = null;
  handle.useUserBuffer(shared);
  socket.resume();
  return true;
}
