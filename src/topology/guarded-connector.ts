// The connector of the proxy's ioredis connections to nodes and sentinels (admin links, master
// probes, sentinel links). ioredis's own (StandaloneConnector) listens for a socket's errors with
// `once`: a TLS socket can emit two — a failed certificate check, then the alert the server sends
// back ("tlsv1 alert decode error") — and the second, with no listener left, was thrown as an
// uncaught exception that ended the process (redis/ioredis#962, #1183; seen in
// test/integration/tls.test.ts). This one keeps a listener for the socket's whole life: the first
// error still reaches ioredis (and `firstError`), later ones are dropped — the connection is
// being torn down already.
import net from 'node:net';
import tls from 'node:tls';
import { AbstractConnector } from 'ioredis';

type NetStream = net.Socket | tls.TLSSocket;

export interface GuardedConnectorOptions {
  host?: string;
  port?: number;
  family?: number;
  tls?: tls.ConnectionOptions;
  disconnectTimeout?: number;
}

export class GuardedConnector extends AbstractConnector {
  private readonly options: GuardedConnectorOptions;

  /** `options`: the connection's ioredis options (ioredis passes them all). */
  constructor(options: unknown) {
    const o = options as GuardedConnectorOptions;
    super(o.disconnectTimeout ?? 2000);
    this.options = o;
  }

  connect(): Promise<NetStream> {
    this.connecting = true;
    const { host, port, family, tls: tlsOptions } = this.options;
    return new Promise((resolve, reject) => {
      // (Next tick, as ioredis's: disconnect() before it cancels the connection.)
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error('Connection is closed.'));
          return;
        }
        let stream: NetStream;
        try {
          const where = { host: host ?? 'localhost', port: port ?? 6379, ...(family === undefined ? {} : { family }) };
          stream = tlsOptions ? tls.connect({ ...where, ...tlsOptions }) : net.createConnection(where);
        } catch (err) {
          reject(err);
          return;
        }
        stream.on('error', (err: Error) => {
          this.firstError ??= err;
        });
        this.stream = stream;
        resolve(stream);
      });
    });
  }
}

/** ioredis options for TLS to a node or sentinel: the TLS settings with the connector above (none
 * without TLS: a plain socket reports one error). Every ioredis connection of the proxy takes its
 * TLS from here. */
export function guardedTls(options: tls.ConnectionOptions | undefined): { tls?: tls.ConnectionOptions; Connector?: typeof GuardedConnector } {
  return options === undefined ? {} : { tls: options, Connector: GuardedConnector };
}
