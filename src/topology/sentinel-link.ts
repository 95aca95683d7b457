// One sentinel: a command connection (polled by the watcher) and a pub/sub connection (PSUBSCRIBE *
// for the event channels). Plain ioredis connections to the sentinel port, never ioredis's own
// sentinel mode. Both reconnect forever with capped backoff; the pub/sub one re-subscribes itself.
//
// Reachability is decided by polls only (a SIGSTOPped sentinel still accepts TCP connections), and
// logged on change, not on every retry. The reconnect backoff is ours, not ioredis's: ioredis
// resets its count on every connect, so a peer that accepts TCP and then fails (a wrong port
// answering HTTP, a protected-mode sentinel answering -DENIED) would be retried at full speed. Ours
// is reset only when the link has proved itself (a poll answered, the subscription confirmed).
// Problems are described by what the peer answered (describeLinkFailure), never in the client
// library's own words.
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { Credentials, GroupConfig, TlsClientOptions } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { Addr } from './types.js';
import { guardedTls } from './guarded-connector.js';

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** Resolves or rejects with `p`, or rejects with a TimeoutError after `ms`. The timer is always
 * cleared. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Waits until `conn` is ready (bounded). Rejects when it ends or the time runs out. */
export function waitReady(conn: Redis, ms: number): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  if (conn.status === 'end') return Promise.reject(new Error('connection closed'));
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      conn.off('ready', onReady);
      conn.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new Error('connection closed'));
    const timer = setTimeout(() => done(new TimeoutError('connect', ms)), ms);
    conn.on('ready', onReady);
    conn.on('end', onEnd);
  });
}

export function splitAddr(addr: Addr): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

export function tlsOptionsFor(tls: TlsClientOptions | undefined, host: string, port: number): ConnectionOptions | undefined {
  if (!tls) return undefined;
  const servername = tls.servernameMap?.[`${host}:${port}`] ?? tls.servernameMap?.[host] ?? tls.servername;
  const out: ConnectionOptions = { rejectUnauthorized: tls.rejectUnauthorized };
  if (tls.ca) out.ca = tls.ca;
  if (tls.cert) out.cert = tls.cert;
  if (tls.key) out.key = tls.key;
  if (servername) out.servername = servername;
  return out;
}

/** RESP type bytes (RESP2 and RESP3): what a Redis or Sentinel answer starts with. */
const RESP_FIRST = new Set('+-:$*_,#!=(%~|>'.split(''));
/** ioredis's words for a connection that is down; they say nothing about the peer. */
const CLIENT_INTERNALS = /Stream isn't writeable|enableOfflineQueue|Connection is closed|Command queue state error|Connection in subscriber mode/i;

/** The first line of what a peer sent, printable and bounded, for a log line. */
export function firstLine(data: Buffer | string, max = 120): string {
  const text = (typeof data === 'string' ? data : data.toString('latin1')).split(/\r?\n/)[0]!;
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}...` : printable;
}

/**
 * Why a link to a sentinel failed, in the peer's terms: what it answered when that was not a
 * sentinel's answer ("not RESP (answered: "HTTP/1.1 400 Bad Request")", "-DENIED Redis is running
 * in protected mode ..."), a TLS error, a network error; never a client library's internals.
 * `answer`: the first line the peer sent on the connection, if any.
 */
export function describeLinkFailure(err: (Error & { code?: string }) | undefined, answer: string | undefined): string {
  if (answer !== undefined && answer !== '' && !RESP_FIRST.has(answer[0]!)) return `not RESP (answered: ${JSON.stringify(answer)})`;
  if (answer !== undefined && answer.startsWith('-')) return `answered: ${answer}`;
  if (!err) return 'connection closed';
  const code = err.code ?? '';
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /\b(SSL|TLS)\b|certificate|handshake/i.test(err.message)) return `TLS: ${firstLine(err.message, 200)}`;
  if (CLIENT_INTERNALS.test(err.message)) return 'connection closed';
  if (/^Protocol error/i.test(err.message)) return 'not RESP (the answer could not be parsed)';
  return firstLine(err.message, 200);
}

/** Reconnect delay: 50 ms doubling, capped at `capMs`, with a little jitter. Never gives up. */
export function backoff(capMs: number): (times: number) => number {
  return (times: number) => Math.min(capMs, 50 * 2 ** Math.min(Math.max(times - 1, 0), 10)) + Math.floor(Math.random() * 50);
}

/** ioredis options for the proxy's own links (sentinels and admin links to nodes): RESP2, no
 * CLIENT SETINFO (Redis 7.0 lacks it), no ready check, no offline queue (a command on a link that
 * is down fails at once instead of piling up), reconnect forever with capped backoff. */
export function linkOptions(opts: {
  host: string;
  port: number;
  auth: Credentials;
  tls?: TlsClientOptions;
  connectTimeoutMs: number;
  connectionName: string;
  reconnectCapMs?: number;
}): RedisOptions {
  const o: RedisOptions = {
    host: opts.host,
    port: opts.port,
    protocol: 2,
    disableClientInfo: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: opts.connectTimeoutMs,
    connectionName: opts.connectionName,
    retryStrategy: backoff(opts.reconnectCapMs ?? 1000),
    lazyConnect: true,
  };
  if (opts.auth.username) o.username = opts.auth.username;
  if (opts.auth.password) o.password = opts.auth.password;
  return Object.assign(o, guardedTls(tlsOptionsFor(opts.tls, opts.host, opts.port)));
}

/** linkOptions for an admin link to the group's node `addr`, with the group's backend credentials,
 * TLS and connect timeout. */
export function nodeLinkOptions(addr: Addr, group: GroupConfig, connectionName: string, reconnectCapMs?: number): RedisOptions {
  const { host, port } = splitAddr(addr);
  return linkOptions({
    host,
    port,
    auth: group.auth,
    tls: group.tls.backend,
    connectTimeoutMs: group.topology.connectTimeoutMs,
    connectionName,
    ...(reconnectCapMs === undefined ? {} : { reconnectCapMs }),
  });
}

/** A flat RESP2 `[k, v, k, v]` reply as a record. */
export function toRecord(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

/** Lines `key:value` of an INFO reply. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export interface SentinelPoll {
  /** `SENTINEL MASTER <name>`; undefined when this sentinel does not monitor the group. */
  master?: Record<string, string>;
  /** `SENTINEL GET-MASTER-ADDR-BY-NAME <name>`. */
  masterAddr?: Addr;
  /** `SENTINEL REPLICAS <name>`. */
  replicas: Record<string, string>[];
  /** `SENTINEL SENTINELS <name>` (the other sentinels it knows). */
  sentinels: Record<string, string>[];
  /** `INFO sentinel` says `sentinel_tilt:1`. */
  tilt: boolean;
}

export interface SentinelLinkHandlers {
  onEvent(link: SentinelLink, channel: string, message: string): void;
  /** A connection came back after being lost (events may have been missed). */
  onReconnect(link: SentinelLink): void;
  /** reachable / tilt / runId changed. */
  onStateChange(link: SentinelLink): void;
}

export interface SentinelLinkOptions {
  addr: Addr;
  source: 'config' | 'discovered';
  group: string;
  auth: Credentials;
  tls?: TlsClientOptions;
  connectTimeoutMs: number;
  /** Bound on one poll (waiting for the connection included). */
  requestTimeoutMs: number;
  /** Run id announced by the sentinel that told us about this one (for de-duplication). */
  runId?: string;
  logger: Logger;
}

/** A poll still unanswered after this long gets its connection reset (half-open TCP, hung peer).
 * Short: a connection that lived through a partition waits out TCP's retransmission backoff
 * after the heal (measured: polls came back 6 s after an 8 s cut healed with 15 s here, issue 19),
 * while a new one is answered at once. */
const STUCK_RESET_MS = 3000;
/** Reconnect backoff cap: a sentinel that refused or dropped the connection may be restarting, so
 * it is retried within a second; one that answered but not as a usable sentinel (HTTP, -DENIED,
 * -NOAUTH, garbage) needs its operator, and is retried more slowly. */
const RETRY_CAP_MS = 1000;
const RETRY_CAP_ANSWERED_MS = 10_000;

type ConnKind = 'cmd' | 'sub';
/** Per connection: reconnects since it last proved itself, and the first line the peer sent on
 * the current connection (when it was not a plain success). */
interface ConnTrack {
  failures: number;
  answer?: string;
}

export class SentinelLink {
  readonly addr: Addr;
  readonly source: 'config' | 'discovered';
  runId?: string;
  reachable = false;
  tilt = false;
  lastError?: string;
  /** What it last named as master (`SENTINEL GET-MASTER-ADDR-BY-NAME`: during the last phase of a
   * failover its leader already names the promoted replica there), and its config epoch. */
  master?: Addr;
  configEpoch?: number;
  /** The address `SENTINEL MASTER` reports and the flags it has for it (`o_down`,
   * `failover_in_progress`, ...): during a failover, still the old master's. */
  flagsAddr?: Addr;
  masterFlags: string[] = [];
  lastPoll?: SentinelPoll;

  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly opts: SentinelLinkOptions;
  private readonly handlers: SentinelLinkHandlers;
  private readonly log: Logger;
  private state: 'unknown' | 'up' | 'down' = 'unknown';
  private inflight?: Promise<unknown>;
  private inflightSince = 0;
  private cmdWasReady = false;
  private subWasReady = false;
  private subscribing = false;
  private stopped = false;
  private readonly track: Record<ConnKind, ConnTrack> = { cmd: { failures: 0 }, sub: { failures: 0 } };
  /** The subscription's problem last logged (a sentinel answering polls but refusing PSUBSCRIBE). */
  private subProblem?: string;

  constructor(opts: SentinelLinkOptions, handlers: SentinelLinkHandlers) {
    this.opts = opts;
    this.handlers = handlers;
    this.addr = opts.addr;
    this.source = opts.source;
    this.runId = opts.runId;
    this.log = opts.logger.child({ sentinel: opts.addr });
    const { host, port } = splitAddr(opts.addr);
    const base = { host, port, auth: opts.auth, tls: opts.tls, connectTimeoutMs: opts.connectTimeoutMs };
    this.cmd = new Redis({ ...linkOptions({ ...base, connectionName: 'sentinel-proxy-poll' }), retryStrategy: () => this.retryDelay('cmd') });
    // The subscription is made by us on every (re)connection rather than by ioredis's
    // autoResubscribe, which loses it when a connection drops between PSUBSCRIBE and its reply.
    this.sub = new Redis({
      ...linkOptions({ ...base, connectionName: 'sentinel-proxy-events' }),
      autoResubscribe: false,
      retryStrategy: () => this.retryDelay('sub'),
    });
    for (const [conn, kind] of [
      [this.cmd, 'cmd'],
      [this.sub, 'sub'],
    ] as const) {
      conn.on('connect', () => {
        // Keep the first line the peer sends: it says what the peer is when it is no sentinel.
        const track = this.track[kind];
        track.answer = undefined;
        conn.stream?.once('data', (d: Buffer | string) => {
          const line = firstLine(d);
          if (line === '' || !RESP_FIRST.has(line[0]!) || line.startsWith('-')) track.answer = line;
        });
      });
      conn.on('error', (err: Error) => {
        const reason = describeLinkFailure(err, this.track[kind].answer);
        if (kind === 'cmd') this.lastError = reason;
        this.log.debug({ conn: kind, err: reason }, 'sentinel connection error');
      });
    }
    this.cmd.on('ready', () => {
      if (this.cmdWasReady && !this.stopped) this.handlers.onReconnect(this);
      this.cmdWasReady = true;
    });
    this.cmd.on('close', () => {
      if (this.stopped) return;
      const answer = this.track.cmd.answer;
      this.setReachable(false, answer !== undefined ? describeLinkFailure(undefined, answer) : (this.lastError ?? 'connection closed'));
    });
    this.sub.on('ready', () => {
      this.ensureSubscribed();
      if (this.subWasReady && !this.stopped) this.handlers.onReconnect(this);
      this.subWasReady = true;
    });
    this.sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
      if (!this.stopped) this.handlers.onEvent(this, channel, message);
    });
  }

  start(): void {
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
  }

  /** PSUBSCRIBE * on the event connection when it is up and not subscribed (yet). */
  private ensureSubscribed(): void {
    if (this.stopped || this.subscribing || this.sub.status !== 'ready' || this.sub.mode === 'subscriber') return;
    this.subscribing = true;
    this.sub.psubscribe('*').then(
      () => {
        this.subscribing = false;
        this.track.sub.failures = 0;
        this.track.sub.answer = undefined;
        if (this.subProblem !== undefined) this.log.info('sentinel event subscription restored');
        this.subProblem = undefined;
      },
      (err: Error) => {
        this.subscribing = false;
        if (this.stopped) return;
        // A dropped connection re-subscribes on its next 'ready'. A sentinel that answers polls
        // but refuses the subscription (an ACL without +psubscribe) is worth one warning; a peer
        // that is down or no sentinel at all is already reported as unreachable.
        const reason = describeLinkFailure(err, this.track.sub.answer);
        if (this.state === 'up' && this.sub.status === 'ready' && reason !== this.subProblem) {
          this.subProblem = reason;
          this.log.warn({ err: reason }, 'sentinel refuses the event subscription (PSUBSCRIBE): failovers are seen by polling only');
        } else {
          this.log.debug({ err: reason }, 'sentinel PSUBSCRIBE failed');
        }
      },
    );
  }

  /** One poll, bounded by `requestTimeoutMs`; never rejects. Updates reachable/tilt/master. */
  async poll(masterName: string): Promise<SentinelPoll | undefined> {
    if (this.stopped) return undefined;
    this.ensureSubscribed();
    if (this.inflight) {
      // The previous poll is still unanswered (a hung sentinel): don't wait for it again, and
      // don't pile more commands onto its connection.
      if (Date.now() - this.inflightSince > STUCK_RESET_MS) {
        this.log.debug('resetting unresponsive sentinel connection');
        this.cmd.disconnect(true);
      }
      this.setReachable(false, 'unresponsive');
      return undefined;
    }
    const t = this.opts.requestTimeoutMs;
    const started = Date.now();
    const work = (async (): Promise<SentinelPoll> => {
      await waitReady(this.cmd, t);
      const noSuchMaster = (e: unknown) => {
        if (e instanceof Error && /no such master/i.test(e.message)) return undefined;
        throw e;
      };
      const needId = this.runId === undefined;
      const [master, addr, replicas, sentinels, info, myid] = await Promise.all([
        this.cmd.call('SENTINEL', 'MASTER', masterName).then(toRecord, noSuchMaster),
        this.cmd.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName).then(
          (r) => (Array.isArray(r) && r.length === 2 && r[0] != null ? `${String(r[0])}:${String(r[1])}` : undefined),
          noSuchMaster,
        ),
        this.cmd.call('SENTINEL', 'REPLICAS', masterName).then((r) => (Array.isArray(r) ? r.map(toRecord) : []), (e: unknown) => noSuchMaster(e) ?? []),
        // Discovery and TILT are extras: a sentinel refusing them (ACL) still answers for the master.
        this.cmd.call('SENTINEL', 'SENTINELS', masterName).then(
          (r) => (Array.isArray(r) ? r.map(toRecord) : []),
          () => [],
        ),
        this.cmd.call('INFO', 'sentinel').then(
          (r) => parseInfo(String(r)),
          () => ({}) as Record<string, string>,
        ),
        needId ? this.cmd.call('SENTINEL', 'MYID').then((r) => String(r), () => undefined) : Promise.resolve(undefined),
      ]);
      if (myid) this.runId = myid;
      return { master, masterAddr: addr, replicas, sentinels, tilt: info['sentinel_tilt'] === '1' };
    })();
    this.inflight = work;
    this.inflightSince = started;
    work.then(
      () => {
        if (this.inflight === work) this.inflight = undefined;
      },
      () => {
        if (this.inflight === work) this.inflight = undefined;
      },
    );
    try {
      const res = await withTimeout(work, t, 'sentinel poll');
      if (this.stopped) return undefined;
      this.lastPoll = res;
      const m = res.master;
      if (m && m['ip'] && m['port']) {
        this.flagsAddr = `${m['ip']}:${m['port']}`;
        this.master = res.masterAddr ?? this.flagsAddr;
        const epoch = Number(m['config-epoch']);
        this.configEpoch = Number.isFinite(epoch) ? epoch : undefined;
        this.masterFlags = (m['flags'] ?? '').split(',').filter(Boolean);
      } else {
        this.master = undefined;
        this.flagsAddr = undefined;
        this.configEpoch = undefined;
        this.masterFlags = [];
      }
      const tiltChanged = this.tilt !== res.tilt;
      this.tilt = res.tilt;
      this.lastError = undefined;
      this.track.cmd.failures = 0;
      this.track.cmd.answer = undefined;
      this.setReachable(true);
      if (tiltChanged) this.handlers.onStateChange(this);
      return res;
    } catch (err) {
      if (this.stopped) return undefined;
      const e = err instanceof Error ? err : new Error(String(err));
      // A timeout says nothing new when the connection already failed for a known reason.
      const reason = e instanceof TimeoutError && this.lastError !== undefined ? this.lastError : describeLinkFailure(e, this.track.cmd.answer);
      this.setReachable(false, reason);
      return undefined;
    }
  }

  /** The delay before reconnecting `kind` (ioredis's retryStrategy, its own count ignored). */
  private retryDelay(kind: ConnKind): number {
    const track = this.track[kind];
    const cap = track.answer !== undefined ? RETRY_CAP_ANSWERED_MS : RETRY_CAP_MS;
    return backoff(cap)(++track.failures);
  }

  /** From a `+tilt` / `-tilt` event. */
  setTilt(tilt: boolean): void {
    if (this.tilt === tilt) return;
    this.tilt = tilt;
    this.log.warn({ tilt }, tilt ? 'sentinel entered TILT mode: ignoring its answers' : 'sentinel left TILT mode');
    this.handlers.onStateChange(this);
  }

  private setReachable(reachable: boolean, error?: string): void {
    if (!reachable) this.lastError = error ?? this.lastError;
    const next = reachable ? 'up' : 'down';
    if (this.state === next) return;
    const prev = this.state;
    this.state = next;
    this.reachable = reachable;
    if (reachable) {
      if (prev === 'down') this.log.warn('sentinel reachable again');
      else this.log.info({ source: this.source }, 'sentinel connected');
    } else {
      this.log.warn({ err: this.lastError }, 'sentinel unreachable');
    }
    this.handlers.onStateChange(this);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = (conn: Redis) =>
      conn.status === 'end'
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 1000);
            conn.once('end', () => {
              clearTimeout(timer);
              resolve();
            });
          });
    const done = Promise.all([closed(this.cmd), closed(this.sub)]);
    this.cmd.disconnect();
    this.sub.disconnect();
    await done;
  }
}
