// Encoding the few requests the proxy writes itself (session replay, checks) and its own replies.

export function encodeCommand(args: readonly (string | Buffer | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'latin1')];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : typeof a === 'number' ? Buffer.from(String(a), 'latin1') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`, 'latin1'), b, CRLF);
  }
  return Buffer.concat(parts);
}

export const CRLF = Buffer.from('\r\n', 'latin1');
export const OK = Buffer.from('+OK\r\n', 'latin1');
export const QUEUED = Buffer.from('+QUEUED\r\n', 'latin1');
export const NULL_ARRAY_RESP2 = Buffer.from('*-1\r\n', 'latin1');
export const NULL_RESP3 = Buffer.from('_\r\n', 'latin1');
/** The opening PING both kinds of backend link send before anything else (see backend-link.ts). */
export const PING = encodeCommand(['PING']);
