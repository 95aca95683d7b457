// Opening a connection to a Redis node (plain or TLS), shared by a session's own links and the
// group's shared link: one place for TLS name verification, Nagle off, and the connect timeout.
import net from 'node:net';
import tls from 'node:tls';
import type { TlsClientOptions } from '../config/types.js';
import { clientTlsOptions } from '../security.js';
import { onreadOption, type OnChunk } from './socket-reads.js';

/** Connects to `addr` ("host:port"); `onChunk` gets the bytes read (see socket-reads.ts). A
 * connection not established within `connectTimeoutMs` is destroyed with an error. The links do
 * not act on the handshake: they wait for the node to answer a PING (a node that reads). */
export function connectNode(addr: string, t: TlsClientOptions | undefined, connectTimeoutMs: number, onChunk: OnChunk): net.Socket {
  const sep = addr.lastIndexOf(':');
  const host = addr.slice(0, sep);
  const port = Number(addr.slice(sep + 1));
  let connected = false;
  const done = () => {
    connected = true;
    socket.setTimeout(0);
    socket.setKeepAlive(true, 15_000);
  };
  // Sentinel announces IP addresses: the name verified comes from servernameMap/servername.
  const socket: net.Socket = t ? tls.connect({ host, port, ...clientTlsOptions(t, host, port) }, done) : net.connect({ host, port, onread: onreadOption(onChunk) }, done);
  if (t) socket.on('data', onChunk);
  socket.setNoDelay(true);
  socket.setTimeout(connectTimeoutMs, () => {
    if (!connected) socket.destroy(new Error(`connect timeout to ${addr}`));
  });
  return socket;
}
