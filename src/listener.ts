// A client-facing listener of one group: accepts connections, enforces maxclients (as Redis words
// it), and hands each connection to a Session.
import net from 'node:net';
import tls from 'node:tls';
import type { HostPort } from './config/types.js';
import type { Logger } from './logger.js';
import type { GroupRuntime } from './group.js';
import type { CommandTable } from './commands/table.js';
import { Session } from './session/session.js';
import { ErrorReplies } from './errors.js';

export class Listener {
  readonly server: net.Server;
  private closing = false;
  address: HostPort | undefined;

  constructor(
    readonly kind: 'master' | 'read',
    private readonly group: GroupRuntime,
    private readonly table: CommandTable,
    private readonly log: Logger,
  ) {
    const t = group.config.tls.listener;
    const onConn = (socket: net.Socket) => this.accept(socket);
    this.server = t
      ? tls.createServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: t.requestCert, rejectUnauthorized: t.requestCert }, onConn)
      : net.createServer(onConn);
    this.server.on('error', (err) => this.log.error({ err: err.message }, 'listener error'));
    if (t) (this.server as tls.Server).on('tlsClientError', (err) => this.log.info({ err: err.message }, 'TLS handshake with a client failed'));
  }

  listen(at: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      const onErr = (err: Error) => reject(err);
      this.server.once('error', onErr);
      this.server.listen({ host: at.host, port: at.port, backlog: 1024 }, () => {
        this.server.off('error', onErr);
        const a = this.server.address() as net.AddressInfo;
        this.address = { host: a.address, port: a.port };
        this.log.info({ group: this.group.name, kind: this.kind, listen: `${a.address}:${a.port}` }, 'listening');
        resolve(this.address);
      });
    });
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    if (this.closing) {
      socket.end(ErrorReplies.SHUTTING_DOWN);
      return;
    }
    if (this.group.sessions.size >= this.group.config.limits.maxClients) {
      socket.end(ErrorReplies.MAX_CLIENTS);
      return;
    }
    const s = new Session(socket, this.group, this.table, this.log);
    this.group.addSession(s);
  }

  /** Stop accepting (existing sessions are drained by the group). */
  stop(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
