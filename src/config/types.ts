// The resolved, validated and frozen configuration. `src/config/schema.ts` turns YAML + flags + env
// into this shape; everything else in the proxy reads only this shape.

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface HostPort {
  host: string;
  port: number;
}

/** Credentials for a backend or a sentinel. `password` is already resolved from env or file. */
export interface Credentials {
  username?: string;
  password?: string;
}

export interface TlsClientOptions {
  /** PEM contents, already read from the files named in the config. */
  ca?: string;
  cert?: string;
  key?: string;
  /** SNI / verification name, or a map from announced address ("ip:port" or "ip") to name. */
  servername?: string;
  servernameMap?: Record<string, string>;
  rejectUnauthorized: boolean;
}

export interface TlsServerOptions {
  ca?: string;
  cert: string;
  key: string;
  requestCert: boolean;
}

export interface LimitsConfig {
  /** Like Redis `maxclients`: sessions beyond this get `-ERR max number of clients reached`. */
  maxClients: number;
  /** Like Redis `timeout` (but ms): idle client sessions are closed; 0 disables. */
  idleTimeoutMs: number;
  /** Like Redis `proto-max-bulk-len`. */
  maxBulkBytes: number;
  /** Largest multibulk count accepted (Redis: INT_MAX). */
  maxMultibulkLength: number;
  /** Like Redis `client-query-buffer-limit`: the most one client may have buffered unsent. */
  queryBufferBytes: number;
  /** Client output buffer: pause reading from the backend above soft, disconnect above hard. */
  outputBufferSoftBytes: number;
  outputBufferHardBytes: number;
}

export interface FailoverConfig {
  /** How long a command may be held while the group has no usable master. */
  holdTimeoutMs: number;
  /** How many request bytes one session may hold during a fence before new ones are refused. */
  holdBytes: number;
}

export interface TopologyConfig {
  /** How often every sentinel is polled (also the bound on a lost pub/sub message). */
  pollIntervalMs: number;
  connectTimeoutMs: number;
  /** Refuse commands while fewer than a majority of known sentinels are reachable. */
  requireSentinelMajority: boolean;
  /** `safe`: a write's reply waits until a replica Sentinel could promote holds the write
   * (src/topology/write-confirm.ts), and commands are held as with `lease`. `lease`: hold commands
   * while the master's replicas stop acknowledging (a partition may have left it on the minority
   * side) or, when not every replica acknowledges, while no majority of sentinels confirmed it
   * within down-after-milliseconds. `available`: keep writing to the last verified master (what
   * the proxy did before issue 19). See docs/partitions.md. */
  writeSafety: 'safe' | 'lease' | 'available';
  /** The master's probe unanswered this long: a fresh TCP connection is tried, and when it fails
   * too, links to the master are cut (their in-flight commands get LINK_LOST). */
  livenessTimeoutMs: number;
}

export interface ReadsConfig {
  /** `master`: the master listener sends everything to the master. `replica`: read-only commands
   * outside transactions go to a replica. */
  routeReads: 'master' | 'replica';
  maxLagMs: number;
  /** What the read-only listener does with no healthy replica. */
  fallback: 'master' | 'error';
  readYourWritesMs: number;
}

/** A user the proxy itself authenticates (client authentication by the proxy). */
export interface ClientUser {
  name: string;
  /** SHA-256 of the password, lowercase hex (Redis ACL's `#<hash>` form); never the password. */
  passwordSha256: string;
  /** `read`: only what the read-only listener allows; `write`: everything. */
  access: 'read' | 'write';
}

export interface ClientAuthConfig {
  users: ClientUser[];
}

export interface LinksConfig {
  /** Carry the commands of stateless sessions (db 0, RESP2, no name, no client AUTH, no
   * subscription, transaction or blocking command yet) over one pipelined link per group; a
   * session moves to a link of its own before its first command that gives it state. On by
   * default: far fewer system calls per command, on the proxy and on Redis. */
  shared: boolean;
  /** Commands one session may have in flight on the shared link; a client pipelining deeper (a
   * bulk loader), or not reading its replies as fast as they come, moves to a link of its own,
   * where backpressure reaches the node. It also bounds what the proxy buffers for a client that
   * stops reading: the replies of at most this many commands. Default 32. */
  maxPipeline: number;
}

export interface GroupConfig {
  /** The master name Sentinel knows the group by. */
  name: string;
  listen: HostPort;
  readListen?: HostPort;
  sentinels: HostPort[];
  sentinelAuth: Credentials;
  /** Credentials the proxy uses on its own links to the group's nodes (ROLE checks, INFO). */
  auth: Credentials;
  tls: {
    listener?: TlsServerOptions;
    backend?: TlsClientOptions;
    sentinel?: TlsClientOptions;
  };
  topology: TopologyConfig;
  failover: FailoverConfig;
  reads: ReadsConfig;
  limits: LimitsConfig;
  /** Absent: the defaults (DEFAULT_LINKS). */
  links?: LinksConfig;
  /** When set, clients must AUTH (or HELLO AUTH) as one of these users before anything but
   * AUTH/HELLO/PING/QUIT; their AUTH is answered by the proxy and never reaches Redis. */
  clientAuth?: ClientAuthConfig;
}

/** What /readyz (and `rsp_ready`) require. `master`: every group has a verified master it can
 * send to now (sentinels unreachable alone do not make it unready: the sidecar case, where one
 * readiness failure takes every application pod out of its Service at once). `strict`: also at
 * least one reachable sentinel, and a master without problems whenever a majority of sentinels
 * is reachable (a shared proxy Service: send clients to a proxy that can follow a failover). */
export type ReadinessMode = 'master' | 'strict';

export interface AdminConfig {
  /** Loopback by default; `undefined` disables the admin server. */
  listen?: HostPort;
  /** Absent: DEFAULT_READINESS. */
  readiness?: ReadinessMode;
}

export interface ProxyConfig {
  logLevel: LogLevel;
  logFormat: 'json' | 'pretty';
  admin: AdminConfig;
  shutdown: { timeoutMs: number };
  groups: GroupConfig[];
}
