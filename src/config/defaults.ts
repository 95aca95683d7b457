// Defaults for every option, chosen to match Redis's own where Redis has an equivalent.
// `defaultGroupConfig` builds a complete GroupConfig in code (the sandbox and tests use it).
import type {
  AdminConfig,
  Credentials,
  FailoverConfig,
  GroupConfig,
  HostPort,
  LimitsConfig,
  LinksConfig,
  LogLevel,
  ProxyConfig,
  ReadinessMode,
  ReadsConfig,
  TopologyConfig,
} from './types.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Redis's INT_MAX limit on the element count of one multibulk request. */
export const INT_MAX = 2147483647;

export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
export const DEFAULT_LOG_FORMAT: 'json' | 'pretty' = 'json';
export const DEFAULT_ADMIN_LISTEN: Readonly<HostPort> = Object.freeze({ host: '127.0.0.1', port: 9121 });
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
/** "master": a proxy with a verified master serves its clients correctly, whatever the sentinels
 * do (DESIGN.md, Operations: ready = a verified master; issue 17: as a sidecar, "no sentinel
 * reachable" must not take every application pod out of its Service while the master works). */
export const DEFAULT_READINESS: ReadinessMode = 'master';

export const DEFAULT_TOPOLOGY: Readonly<TopologyConfig> = Object.freeze({
  pollIntervalMs: 1000,
  connectTimeoutMs: 1000,
  requireSentinelMajority: false,
  writeSafety: 'safe',
  livenessTimeoutMs: 1000,
});

export const DEFAULT_FAILOVER: Readonly<FailoverConfig> = Object.freeze({
  holdTimeoutMs: 10_000,
  holdBytes: 64 * MiB,
});

export const DEFAULT_READS: Readonly<ReadsConfig> = Object.freeze({
  routeReads: 'master',
  maxLagMs: 1000,
  fallback: 'master',
  readYourWritesMs: 0,
});

export const DEFAULT_LINKS: Readonly<LinksConfig> = Object.freeze({ shared: true, maxPipeline: 32 });

export const DEFAULT_LIMITS: Readonly<LimitsConfig> = Object.freeze({
  maxClients: 10_000, // Redis maxclients
  idleTimeoutMs: 0, // Redis timeout 0: never
  maxBulkBytes: 512 * MiB, // Redis proto-max-bulk-len
  maxMultibulkLength: INT_MAX, // Redis: INT_MAX
  queryBufferBytes: 1 * GiB, // Redis client-query-buffer-limit
  // Redis client-output-buffer-limit: its pubsub soft (32mb) and replica hard (256mb) values.
  outputBufferSoftBytes: 32 * MiB,
  outputBufferHardBytes: 256 * MiB,
});

/** Group input for code: `name`, `listen` and `sentinels` are required, every section may be partial. */
export type GroupConfigInput = Omit<Partial<GroupConfig>, 'listen' | 'readListen' | 'sentinels' | 'topology' | 'failover' | 'reads' | 'limits' | 'links'> & {
  name: string;
  listen: HostPort | string;
  readListen?: HostPort | string;
  sentinels: (HostPort | string)[];
  topology?: Partial<TopologyConfig>;
  failover?: Partial<FailoverConfig>;
  reads?: Partial<ReadsConfig>;
  limits?: Partial<LimitsConfig>;
  links?: Partial<LinksConfig>;
};

function defined<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** "host:port", "[v6]:port" or a HostPort, for code callers (throws on bad input). */
export function toHostPort(v: HostPort | string): HostPort {
  if (typeof v !== 'string') return { host: v.host, port: v.port };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (!m) throw new Error(`expected "host:port", got ${JSON.stringify(v)}`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`port out of range in ${JSON.stringify(v)}`);
  return { host: m[1]!, port };
}

function creds(c: Credentials | undefined): Credentials {
  return defined(c ?? {});
}

/** A complete group config: the given fields over the defaults. Nothing is shared with the defaults. */
export function defaultGroupConfig(partial: GroupConfigInput): GroupConfig {
  const g: GroupConfig = {
    name: partial.name,
    listen: toHostPort(partial.listen),
    sentinels: partial.sentinels.map(toHostPort),
    sentinelAuth: creds(partial.sentinelAuth),
    auth: creds(partial.auth),
    tls: { ...defined(partial.tls ?? {}) },
    topology: { ...DEFAULT_TOPOLOGY, ...defined(partial.topology) },
    failover: { ...DEFAULT_FAILOVER, ...defined(partial.failover) },
    reads: { ...DEFAULT_READS, ...defined(partial.reads) },
    limits: { ...DEFAULT_LIMITS, ...defined(partial.limits) },
    links: { ...DEFAULT_LINKS, ...defined(partial.links) },
  };
  if (partial.clientAuth !== undefined) g.clientAuth = partial.clientAuth;
  if (partial.readListen !== undefined) g.readListen = toHostPort(partial.readListen);
  return g;
}

/** A complete proxy config around the given groups (admin on the default loopback port unless given). */
export function defaultProxyConfig(partial: Partial<Omit<ProxyConfig, 'groups' | 'shutdown'>> & {
  groups: GroupConfigInput[];
  shutdown?: Partial<ProxyConfig['shutdown']>;
}): ProxyConfig {
  const admin: AdminConfig = partial.admin ?? { listen: { ...DEFAULT_ADMIN_LISTEN } };
  return {
    logLevel: partial.logLevel ?? DEFAULT_LOG_LEVEL,
    logFormat: partial.logFormat ?? DEFAULT_LOG_FORMAT,
    admin,
    shutdown: { timeoutMs: partial.shutdown?.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS },
    groups: partial.groups.map(defaultGroupConfig),
  };
}
