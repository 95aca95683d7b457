// A client-facing listener of one group: accepts connections, enforces maxclients (as Redis words
// it), and hands each connection to a Session. Per-listener counters (ListenerStats) outlive one
// Listener: a reload that moves a listen address keeps the same stats, so the counters exported
// by /metrics never go backwards.
import net from 'node:net';
import tls from 'node:tls';
import type { HostPort, TlsServerOptions } from './config/types.js';
import type { Logger } from './logger.js';
import type { GroupRuntime } from './group.js';
import type { CommandTable } from './commands/table.js';
import { Session } from './session/session.js';
import { ErrorReplies } from './errors.js';
import { Count } from './group.js';

export type ListenerKind = 'master' | 'read';

/** Connection counters of one listener kind of one group. Nothing here runs per command: bytes
 * are read from the sockets themselves (`bytesRead`/`bytesWritten`) when /metrics is scraped. */
export class ListenerStats {
  /** Client sockets handed to a session and not yet closed. */
  readonly open = new Set<net.Socket>();
  readonly accepted = new Count();
  readonly rejectedMaxClients = new Count();
  readonly rejectedShuttingDown = new Count();
  private closedBytesIn = 0;
  private closedBytesOut = 0;

  track(socket: net.Socket): void {
    this.open.add(socket);
    this.accepted.inc();
    socket.once('close', () => {
      this.open.delete(socket);
      this.closedBytesIn += socket.bytesRead;
      this.closedBytesOut += socket.bytesWritten;
    });
  }

  /** Bytes received from clients (closed connections plus open ones so far). */
  bytesIn(): number {
    let n = this.closedBytesIn;
    for (const s of this.open) n += s.bytesRead;
    return n;
  }

  /** Bytes sent to clients. */
  bytesOut(): number {
    let n = this.closedBytesOut;
    for (const s of this.open) n += s.bytesWritten;
    return n;
  }
}

export class Listener {
  readonly server: net.Server;
  private closing = false;
  private stopped: Promise<void> | undefined;
  address: HostPort | undefined;

  constructor(
    readonly kind: ListenerKind,
    private readonly group: GroupRuntime,
    private readonly table: CommandTable,
    private readonly log: Logger,
    readonly stats: ListenerStats = new ListenerStats(),
  ) {
    const t = group.config.tls.listener;
    const onConn = (socket: net.Socket) => this.accept(socket);
    // Plain connections start paused: the session makes them read into the shared read buffer
    // (session/socket-reads.ts) before the first read.
    this.server = t ? tls.createServer(tlsServerOptions(t), onConn) : net.createServer({ pauseOnConnect: true }, onConn);
    this.server.on('error', (err) => this.log.error({ err: err.message }, 'listener error'));
    if (t) (this.server as tls.Server).on('tlsClientError', (err) => this.log.info({ err: err.message }, 'TLS handshake with a client failed'));
  }

  get tls(): boolean {
    return this.server instanceof tls.Server;
  }

  listen(at: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      const onErr = (err: Error) => reject(err);
      this.server.once('error', onErr);
      this.server.listen({ host: at.host, port: at.port, backlog: 1024 }, () => {
        this.server.off('error', onErr);
        const a = this.server.address() as net.AddressInfo;
        this.address = { host: a.address, port: a.port };
        this.log.info({ kind: this.kind, listen: `${a.address}:${a.port}` }, 'listening');
        resolve(this.address);
      });
    });
  }

  /** Reload: new certificate/key/CA for connections accepted from now on (open ones keep theirs). */
  setTls(t: TlsServerOptions): void {
    (this.server as tls.Server).setSecureContext(tlsServerOptions(t));
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    if (this.closing) {
      this.stats.rejectedShuttingDown.inc();
      refuse(socket, ErrorReplies.SHUTTING_DOWN);
      return;
    }
    // Read live: a reload may change maxClients. Counted per group, over all its listeners.
    if (this.group.sessions.size >= this.group.config.limits.maxClients) {
      this.stats.rejectedMaxClients.inc();
      this.log.debug({ maxClients: this.group.config.limits.maxClients }, 'max number of clients reached: connection refused');
      refuse(socket, ErrorReplies.MAX_CLIENTS);
      return;
    }
    this.stats.track(socket);
    const s = new Session(socket, this.group, this.table, this.log, this.kind);
    this.group.addSession(s);
  }

  /** Stop accepting; resolves once every connection it accepted has closed (sessions are drained
   * by the group). Safe to call twice. */
  stop(): Promise<void> {
    this.closing = true;
    this.stopped ??= new Promise((resolve) => {
      if (this.server.listening) this.server.close(() => resolve());
      else resolve(); // never bound
    });
    return this.stopped;
  }
}

/** Answers a connection it will not serve and closes it. It was accepted paused: it reads (and
 * drops) what the client sends, so that the client's FIN is seen and the socket goes away. */
function refuse(socket: net.Socket, reply: Buffer): void {
  socket.resume();
  socket.end(reply);
}

function tlsServerOptions(t: TlsServerOptions): tls.TlsOptions {
  return { cert: t.cert, key: t.key, ca: t.ca, requestCert: t.requestCert, rejectUnauthorized: t.requestCert };
}
