// The YAML file's shape, as zod schemas. Objects are strict (an unknown key is a problem, so typos
// are caught), values are parsed into the resolved types (sizes in bytes, "host:port" into HostPort,
// passwordFile/passwordEnv and TLS files read), and every problem carries its path in the file.
// Nothing here ever puts a configured value (a password, a key) into a problem message.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { INT_MAX } from './defaults.js';
import type {
  ClientAuthConfig,
  ClientUser,
  Credentials,
  FailoverConfig,
  HostPort,
  LimitsConfig,
  LogLevel,
  ReadinessMode,
  ReadsConfig,
  TlsClientOptions,
  TlsServerOptions,
  TopologyConfig,
} from './types.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LogLevel[];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export const READINESS_MODES = ['master', 'strict'] as const satisfies readonly ReadinessMode[];

type Result<T> = { ok: true; value: T } | { ok: false; message: string };

// ---------------------------------------------------------------------------------------------
// Scalar parsers, shared by the file schema and the flag/env overrides.

// A trailing dot (a fully qualified name, as Kubernetes writes `svc.cluster.local.`) is allowed.
const HOSTNAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?\.?$/;
const HOSTPORT_HINT = 'expected "host:port" (e.g. "127.0.0.1:6380", "[::1]:6380") or {host, port}';

function checkHost(host: string): string | undefined {
  if (host === '') return 'host must not be empty';
  if (isIPv4(host) || isIPv6(host) || HOSTNAME_RE.test(host)) return undefined;
  return 'host is not a valid hostname or IP address';
}

function checkPort(port: unknown, allowZero: boolean): Result<number> {
  const n = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n)) return { ok: false, message: 'port must be a whole number' };
  const min = allowZero ? 0 : 1;
  if (n < min || n > 65535) return { ok: false, message: `port must be in ${min}..65535` };
  return { ok: true, value: n };
}

/** "host:port", "[ipv6]:port" or {host, port}. `allowZero`: port 0 (an ephemeral port) for listeners. */
export function parseHostPort(v: unknown, allowZero: boolean): Result<HostPort> {
  if (typeof v === 'number' || (typeof v === 'string' && /^\s*\d+\s*$/.test(v))) {
    return { ok: false, message: `a port alone is not enough: give the host too (e.g. "0.0.0.0:6380" for every interface, "127.0.0.1:6380" for loopback)` };
  }
  if (typeof v === 'string') {
    const s = v.trim();
    let host: string;
    let port: string;
    const v6 = /^\[([^\]]*)\]:([^:]*)$/.exec(s);
    if (v6) {
      host = v6[1]!;
      port = v6[2]!;
      if (!isIPv6(host)) return { ok: false, message: 'the address in [brackets] is not an IPv6 address' };
    } else {
      const i = s.lastIndexOf(':');
      if (i < 0) return { ok: false, message: HOSTPORT_HINT };
      host = s.slice(0, i);
      port = s.slice(i + 1);
      if (host.includes(':')) return { ok: false, message: 'put an IPv6 address in brackets: "[::1]:6380"' };
      const bad = checkHost(host);
      if (bad) return { ok: false, message: `${bad}; ${HOSTPORT_HINT}` };
    }
    if (!/^\d+$/.test(port)) return { ok: false, message: `port must be a whole number; ${HOSTPORT_HINT}` };
    const p = checkPort(port, allowZero);
    return p.ok ? { ok: true, value: { host, port: p.value } } : p;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => k !== 'host' && k !== 'port');
    if (extra.length) return { ok: false, message: `unknown key ${extra.map((k) => JSON.stringify(k)).join(', ')}; ${HOSTPORT_HINT}` };
    if (typeof o.host !== 'string') return { ok: false, message: `host must be a string; ${HOSTPORT_HINT}` };
    const bad = checkHost(o.host);
    if (bad) return { ok: false, message: bad };
    const p = checkPort(o.port, allowZero);
    return p.ok ? { ok: true, value: { host: o.host, port: p.value } } : p;
  }
  return { ok: false, message: HOSTPORT_HINT };
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1024,
  m: 1000 ** 2,
  mb: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1024 ** 3,
};
const SIZE_HINT = 'expected a number of bytes or a size like "64mb" (units k, kb, m, mb, g, gb as in redis.conf)';

/** Bytes as a number, or a Redis-style size string: "1k" = 1000, "1kb" = 1024, ... "1gb" (case-insensitive). */
export function parseSize(v: unknown, min = 0): Result<number> {
  let n: number;
  if (typeof v === 'number') {
    n = v;
  } else if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(v);
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) return { ok: false, message: SIZE_HINT };
    n = Number(m[1]) * unit;
  } else {
    return { ok: false, message: SIZE_HINT };
  }
  if (!Number.isSafeInteger(n)) return { ok: false, message: `${SIZE_HINT}; whole bytes only, at most 2^53` };
  if (n < min) return { ok: false, message: `must be at least ${min} bytes` };
  return { ok: true, value: n };
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_HINT = 'expected a whole number of milliseconds or a duration like "500ms", "5s", "1m" (units ms, s, m, h)';

/** Milliseconds as a number, or a duration string: "500ms", "5s", "1.5s", "1m", "1h" ("500" = 500 ms). */
export function parseDuration(v: unknown, min = 0, max = INT_MAX): Result<number> {
  let ms: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { ok: false, message: DURATION_HINT };
    ms = v;
  } else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
    const unit = m ? DURATION_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) return { ok: false, message: DURATION_HINT };
    const exact = Number(m[1]) * unit;
    ms = Math.round(exact);
    if (Math.abs(exact - ms) > 1e-6) return { ok: false, message: `${DURATION_HINT}; whole milliseconds only` };
  } else {
    return { ok: false, message: DURATION_HINT };
  }
  if (ms < min) return { ok: false, message: `must be at least ${min} ms` };
  if (ms > max) return { ok: false, message: `must be at most ${max} ms` };
  return { ok: true, value: ms };
}

function parseWhole(v: unknown, what: string, min: number, max: number): Result<number> {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    return { ok: false, message: `expected a whole number${what}${typeof v === 'string' ? ' (not a string)' : ''}` };
  }
  if (v < min) return { ok: false, message: `must be at least ${min}` };
  if (v > max) return { ok: false, message: `must be at most ${max}` };
  return { ok: true, value: v };
}

/** Wraps a Result-returning parser as a zod schema that reports the parser's message. */
function custom<T>(parse: (v: unknown) => Result<T>) {
  return z.unknown().transform((v, ctx): T => {
    const r = parse(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.message });
    return z.NEVER;
  });
}

// Each parsed scalar carries, in its metadata, what it accepts as JSON Schema (`x-input`: the
// schema's own input is `unknown`) and its kind (for the generated reference, src/config/reference.ts).
const HOSTPORT_INPUT = {
  anyOf: [
    { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\s]+):\\d+$', examples: ['127.0.0.1:6380', '[::1]:6380', 'redis.ns.svc.cluster.local.:26379'] },
    { type: 'object', properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 0, maximum: 65535 } }, required: ['host', 'port'], additionalProperties: false },
  ],
};
const hostPort = (allowZero: boolean) => custom((v) => parseHostPort(v, allowZero)).meta({ 'x-kind': 'address', 'x-input': HOSTPORT_INPUT });
const size = (min = 0) =>
  custom((v) => parseSize(v, min)).meta({
    'x-kind': 'size',
    'x-input': { anyOf: [{ type: 'integer', minimum: min }, { type: 'string', pattern: '^\\s*\\d+\\s*([kKmMgG][bB]?|[bB])?\\s*$', examples: ['64mb', '1gb'] }] },
  });
const duration = (min = 0, max = INT_MAX) =>
  custom((v) => parseDuration(v, min, max)).meta({
    'x-kind': 'duration',
    'x-input': {
      anyOf: [
        { type: 'integer', minimum: min, maximum: max },
        { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*([mM][sS]|[sSmMhH])?\\s*$', examples: ['500ms', '5s', '1m'] },
      ],
    },
  });
const count = (min: number, max: number) => custom((v) => parseWhole(v, '', min, max)).meta({ 'x-kind': 'count', 'x-input': { type: 'integer', minimum: min, maximum: max } });
const bool = () => z.boolean();

// ---------------------------------------------------------------------------------------------
// The file schema. Built per load: passwordFile / TLS paths are relative to the config file's
// directory, passwordEnv reads the given environment.

export interface SchemaContext {
  /** Directory relative paths in the file are resolved against. */
  baseDir: string;
  env: NodeJS.ProcessEnv;
}

const topologyShape = {
  pollIntervalMs: duration(10).describe('How often every sentinel is polled (`SENTINEL GET-MASTER-ADDR-BY-NAME`, `SENTINEL REPLICAS`, ...), besides the pub/sub events: the bound on noticing a lost event. At least 10 ms.').optional(),
  connectTimeoutMs: duration(1).describe('Connect timeout of the proxy\'s links to sentinels and nodes.').optional(),
  requireSentinelMajority: bool().describe('Refuse (hold) commands while fewer than a majority of the known sentinels are reachable: the proxy may be on the minority side of a partition. Alias: `safety.requireSentinelMajority`.').optional(),
  writeSafety: z
    .enum(['safe', 'lease', 'available'])
    .optional()
    .describe(
      'safe (default): a write\'s reply reaches the client only once a replica Sentinel could promote holds the write (group commit: PUBLISH + WAIT 1 on connections of the proxy\'s own), and commands are held as with `lease`. lease: only hold commands while the master has replicas and none of them acknowledges its writes (probed every 50 ms), or while not all do and no majority of sentinels confirmed the master within down-after-milliseconds; writes answered in the ~400 ms before a partition is noticed can be lost. available: keep writing to the last verified master. See docs/partitions.md.',
    ),
  livenessTimeoutMs: duration(100)
    .optional()
    .describe('How long the master may leave its probe unanswered before a fresh TCP connection is tried; when that fails too, links to the master are cut and their in-flight commands get an error instead of waiting for TCP retransmission.'),
};
const failoverShape = {
  holdTimeoutMs: duration(0).describe('Longest a command is held while the group has no usable master (a failover under way) before it gets a retryable error (`-TRYAGAIN` / `-MASTERDOWN`). Compare Sentinel\'s `failover-timeout`.').optional(),
  holdBytes: size(0).describe('Request bytes one session may hold during a failover; beyond, reading from that client pauses.').optional(),
};
const readsShape = {
  routeReads: z.enum(['master', 'replica']).describe('`master`: the master listener sends everything to the master. `replica`: read-only commands outside transactions go to a healthy replica (replies still in request order).').optional(),
  maxLagMs: duration(0).describe('Replicas lagging the master by more than this get no reads (lag from replication offsets). Compare Redis\'s `min-replicas-max-lag`.').optional(),
  fallback: z.enum(['master', 'error']).describe('What the read-only listener (and `routeReads: replica`) does with no healthy replica: send to the `master`, or answer an `error`.').optional(),
  readYourWritesMs: duration(0).describe('With `routeReads: replica`: keep a session\'s reads on the master this long after its last write; 0 disables.').optional(),
};
const limitsShape = {
  maxClients: count(1, INT_MAX).describe('Client connections per group; beyond, `-ERR max number of clients reached`. Redis: `maxclients`.').optional(),
  idleTimeoutMs: duration(0).describe('Close client sessions idle this long; 0 = never. Redis: `timeout` (seconds there).').optional(),
  maxBulkBytes: size(1).describe('Largest bulk string accepted in a request. Redis: `proto-max-bulk-len`.').optional(),
  maxMultibulkLength: count(1, INT_MAX).describe('Most elements in one request (Redis: INT_MAX, fixed).').optional(),
  queryBufferBytes: size(1).describe('Request bytes one client may have buffered, not yet sent. Redis: `client-query-buffer-limit`.').optional(),
  outputBufferSoftBytes: size(1).describe('Reply backlog of one client above which the proxy stops reading from its backend (backpressure). Redis: `client-output-buffer-limit` (soft). Must not exceed `outputBufferHardBytes`.').optional(),
  outputBufferHardBytes: size(1).describe('Reply backlog of one client above which it is disconnected. Redis: `client-output-buffer-limit` (hard).').optional(),
};
const linksShape = {
  shared: bool().describe('Carry the commands of stateless sessions (db 0, RESP2, no name, no client `AUTH`, no subscription, transaction or blocking command yet) over one pipelined link per group: far fewer system calls per command, on the proxy and on Redis. A session moves to a link of its own before its first stateful command, and before a command larger than 256 KB. `false`: a link per session.').optional(),
  maxPipeline: count(1, 1_000_000).describe('Commands one session may have in flight on the shared link; a client pipelining deeper, or not reading its replies as fast as they come, moves to a link of its own, where backpressure reaches Redis. Also bounds what the proxy buffers for a client that stops reading.').optional(),
};
const safetyShape = {
  requireSentinelMajority: bool().describe('Alias of `topology.requireSentinelMajority` (give one of the two).').optional(),
};
const credentialsShape = {
  username: z.string().min(1).describe('ACL user name.').optional(),
  password: z.string().min(1).describe('The password (prefer `passwordFile` or `passwordEnv`: a file in version control leaks it).').optional(),
  passwordFile: z.string().min(1).describe('Read the password from this file (trailing newlines trimmed); relative to the config file\'s directory.').optional(),
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').describe('Read the password from this environment variable.').optional(),
};
const tlsClientKeys = ['enabled', 'ca', 'cert', 'key', 'servername', 'servernameMap', 'rejectUnauthorized'];
const tlsServerKeys = ['enabled', 'cert', 'key', 'ca', 'requestCert'];
const groupKeys = ['name', 'listen', 'readListen', 'sentinels'];
const inheritedKeys = ['topology', 'failover', 'reads', 'limits', 'links', 'safety', 'auth', 'sentinelAuth', 'tls', 'clientAuth'];
const clientUserKeys = ['name', 'password', 'passwordFile', 'passwordEnv', 'passwordSha256', 'access'];
const topKeys = ['logLevel', 'logFormat', 'admin', 'shutdown', ...inheritedKeys, 'groups'];

/** The keys allowed in each kind of object, by the name of the key holding it ('' = the top level). */
export const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': topKeys,
  groups: [...groupKeys, ...inheritedKeys],
  topology: Object.keys(topologyShape),
  failover: Object.keys(failoverShape),
  reads: Object.keys(readsShape),
  limits: Object.keys(limitsShape),
  links: Object.keys(linksShape),
  safety: Object.keys(safetyShape),
  auth: Object.keys(credentialsShape),
  sentinelAuth: Object.keys(credentialsShape),
  tls: ['listener', 'backend', 'sentinel'],
  listener: tlsServerKeys,
  backend: tlsClientKeys,
  sentinel: tlsClientKeys,
  admin: ['listen', 'readiness'],
  shutdown: ['timeoutMs'],
  clientAuth: ['users'],
  users: clientUserKeys,
};

function readTextFile(path: string, ctx: SchemaContext): Result<string> {
  const full = resolvePath(ctx.baseDir, path);
  try {
    return { ok: true, value: readFileSync(full, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const what = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code;
    return { ok: false, message: `cannot read file ${JSON.stringify(full)} (${what})` };
  }
}

/** Reads a PEM file named in the config; checks it looks like PEM (never quoting its contents). */
function pemFile(ctx: SchemaContext) {
  return z
    .string()
    .min(1)
    .transform((p, zctx): string => {
      const r = readTextFile(p, ctx);
      if (!r.ok) {
        zctx.addIssue({ code: 'custom', message: r.message });
        return z.NEVER;
      }
      if (!r.value.includes('-----BEGIN ')) {
        zctx.addIssue({ code: 'custom', message: `${JSON.stringify(resolvePath(ctx.baseDir, p))} is not a PEM file (no "-----BEGIN" line)` });
        return z.NEVER;
      }
      return r.value;
    });
}

/** Checks that the PEM material loads together (cert matches key, CA parses); OpenSSL's reason only. */
function checkSecureContext(o: { ca?: string; cert?: string; key?: string }): string | undefined {
  try {
    createSecureContext({ ca: o.ca, cert: o.cert, key: o.key });
    return undefined;
  } catch (err) {
    const reason = String((err as Error).message ?? err).split('\n')[0]!.slice(0, 200);
    return `the TLS files do not load together (${reason})`;
  }
}

/** `true` is shorthand for `{}` (TLS on, system CAs) and `false` for `{enabled: false}`. */
function toggled(v: unknown): unknown {
  return typeof v === 'boolean' ? { enabled: v } : v;
}

/** `null` means explicitly disabled (overrides an inherited setting), `undefined` not given. */
function tlsClientSchema(ctx: SchemaContext) {
  const obj = z.strictObject({
    enabled: bool().describe('`false` turns an inherited setting off. `true` alone (instead of the mapping) = TLS on with the system CAs.').optional(),
    ca: pemFile(ctx).describe('CA certificate(s) to verify the peer with (PEM file); default: the system CAs.').optional(),
    cert: pemFile(ctx).describe('Client certificate (PEM file), with `key`.').optional(),
    key: pemFile(ctx).describe('Client private key (PEM file), with `cert`.').optional(),
    servername: z.string().min(1).describe('Name sent as SNI and verified in the certificate (Sentinel announces IP addresses).').optional(),
    servernameMap: z.record(z.string().min(1), z.string().min(1)).describe('Per announced address ("ip:port" or "ip"): the name to verify; wins over `servername`.').optional(),
    rejectUnauthorized: bool().describe('Verify the peer\'s certificate (default true).').optional(),
  });
  return z.preprocess(
    toggled,
    obj.meta({ 'x-or-boolean': true }).transform((o, zctx): TlsClientOptions | null => {
      if (o.enabled === false) return null;
      if ((o.cert === undefined) !== (o.key === undefined)) {
        zctx.addIssue({ code: 'custom', message: 'give both cert and key (a client certificate) or neither', path: [o.cert ? 'key' : 'cert'] });
        return z.NEVER;
      }
      const bad = o.ca || o.cert ? checkSecureContext(o) : undefined;
      if (bad) {
        zctx.addIssue({ code: 'custom', message: bad });
        return z.NEVER;
      }
      const out: TlsClientOptions = { rejectUnauthorized: o.rejectUnauthorized ?? true };
      if (o.ca !== undefined) out.ca = o.ca;
      if (o.cert !== undefined) out.cert = o.cert;
      if (o.key !== undefined) out.key = o.key;
      if (o.servername !== undefined) out.servername = o.servername;
      if (o.servernameMap !== undefined) out.servernameMap = { ...o.servernameMap };
      return out;
    }),
  );
}

function tlsServerSchema(ctx: SchemaContext) {
  const obj = z.strictObject({
    enabled: bool().describe('`false` turns an inherited listener TLS setting off.').optional(),
    cert: pemFile(ctx).describe('Server certificate (PEM file). Redis: `tls-cert-file`.').optional(),
    key: pemFile(ctx).describe('Server private key (PEM file). Redis: `tls-key-file`.').optional(),
    ca: pemFile(ctx).describe('CA that signs client certificates (PEM file), with `requestCert`. Redis: `tls-ca-cert-file`.').optional(),
    requestCert: bool().describe('Require client certificates signed by `ca`. Redis: `tls-auth-clients`.').optional(),
  });
  return z.preprocess(
    toggled,
    obj.meta({ 'x-or-boolean': true }).transform((o, zctx): TlsServerOptions | null => {
      if (o.enabled === false) return null;
      let failed = false;
      for (const k of ['cert', 'key'] as const) {
        if (o[k] === undefined) {
          zctx.addIssue({ code: 'custom', message: `required for a TLS listener (a PEM file path)`, path: [k] });
          failed = true;
        }
      }
      if (o.requestCert && o.ca === undefined) {
        zctx.addIssue({ code: 'custom', message: 'requestCert needs ca (the CA that signs client certificates)', path: ['ca'] });
        failed = true;
      }
      if (failed) return z.NEVER;
      const bad = checkSecureContext(o);
      if (bad) {
        zctx.addIssue({ code: 'custom', message: bad });
        return z.NEVER;
      }
      const out: TlsServerOptions = { cert: o.cert!, key: o.key!, requestCert: o.requestCert ?? false };
      if (o.ca !== undefined) out.ca = o.ca;
      return out;
    }),
  );
}

/** Resolves passwordFile / passwordEnv into `password`. */
function credentialsSchema(ctx: SchemaContext) {
  return z.strictObject(credentialsShape).transform((c, zctx): Credentials => {
    const sources = (['password', 'passwordFile', 'passwordEnv'] as const).filter((k) => c[k] !== undefined);
    if (sources.length > 1) {
      zctx.addIssue({ code: 'custom', message: `give only one of password, passwordFile, passwordEnv (found ${sources.join(', ')})` });
      return z.NEVER;
    }
    const out: Credentials = {};
    if (c.username !== undefined) out.username = c.username;
    if (c.password !== undefined) out.password = c.password;
    if (c.passwordFile !== undefined) {
      const r = readTextFile(c.passwordFile, ctx);
      if (!r.ok) {
        zctx.addIssue({ code: 'custom', message: r.message, path: ['passwordFile'] });
        return z.NEVER;
      }
      const pw = r.value.replace(/(\r?\n)+$/, '');
      if (pw === '') {
        zctx.addIssue({ code: 'custom', message: 'the password file is empty', path: ['passwordFile'] });
        return z.NEVER;
      }
      out.password = pw;
    }
    if (c.passwordEnv !== undefined) {
      const pw = ctx.env[c.passwordEnv];
      if (pw === undefined || pw === '') {
        zctx.addIssue({ code: 'custom', message: `environment variable ${c.passwordEnv} is ${pw === undefined ? 'not set' : 'empty'}`, path: ['passwordEnv'] });
        return z.NEVER;
      }
      out.password = pw;
    }
    return out;
  });
}

/** Proxy-side client users: the password (from the file, a file or the environment) is kept only
 * as its SHA-256, as Redis ACL keeps it. */
function clientAuthSchema(ctx: SchemaContext) {
  const user = z
    .strictObject({
      name: z.string().min(1).regex(/^[^\s]+$/, 'must not contain spaces').describe('User name clients give to AUTH (or HELLO AUTH).'),
      password: z.string().min(1).describe('The password (only its SHA-256 is kept in memory).').optional(),
      passwordFile: z.string().min(1).describe('Read the password from this file.').optional(),
      passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').describe('Read the password from this environment variable.').optional(),
      passwordSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits (sha256)').describe('The password\'s SHA-256 in hex, as Redis ACL\'s `#<hash>`.').optional(),
      access: z.enum(['read', 'write']).describe('`read`: what the read-only listener allows (`+@read +@connection`); `write`: everything.'),
    })
    .transform((u, zctx): ClientUser => {
      const sources = (['password', 'passwordFile', 'passwordEnv', 'passwordSha256'] as const).filter((k) => u[k] !== undefined);
      if (sources.length !== 1) {
        zctx.addIssue({ code: 'custom', message: `give exactly one of password, passwordFile, passwordEnv, passwordSha256 (found ${sources.length === 0 ? 'none' : sources.join(', ')})` });
        return z.NEVER;
      }
      let pw: string | undefined = u.password;
      if (u.passwordFile !== undefined) {
        const r = readTextFile(u.passwordFile, ctx);
        if (!r.ok) {
          zctx.addIssue({ code: 'custom', message: r.message, path: ['passwordFile'] });
          return z.NEVER;
        }
        pw = r.value.replace(/(\r?\n)+$/, '');
        if (pw === '') {
          // As for the backend credentials: an empty file is a mistake, not a user with password "".
          zctx.addIssue({ code: 'custom', message: 'the password file is empty', path: ['passwordFile'] });
          return z.NEVER;
        }
      }
      if (u.passwordEnv !== undefined) {
        pw = ctx.env[u.passwordEnv];
        if (pw === undefined || pw === '') {
          zctx.addIssue({ code: 'custom', message: `environment variable ${u.passwordEnv} is ${pw === undefined ? 'not set' : 'empty'}`, path: ['passwordEnv'] });
          return z.NEVER;
        }
      }
      const hash = u.passwordSha256?.toLowerCase() ?? createHash('sha256').update(pw ?? '', 'utf8').digest('hex');
      return { name: u.name, passwordSha256: hash, access: u.access };
    });
  return z
    .strictObject({ users: z.array(user).min(1, 'list at least one user').describe('The users; each gives exactly one of password, passwordFile, passwordEnv, passwordSha256.') })
    .transform((c, zctx): ClientAuthConfig => {
      const seen = new Set<string>();
      for (const [i, u] of c.users.entries()) {
        if (seen.has(u.name)) zctx.addIssue({ code: 'custom', message: `user ${JSON.stringify(u.name)} is listed twice`, path: ['users', i, 'name'] });
        seen.add(u.name);
      }
      return { users: c.users };
    });
}

const groupName = custom((v): Result<string> => {
  if (typeof v !== 'string') return { ok: false, message: 'expected a string (the master name Sentinel knows the group by)' };
  if (v === '') return { ok: false, message: 'must not be empty' };
  if (/[\s\x00-\x1f\x7f]/.test(v)) return { ok: false, message: 'must not contain spaces or control characters' };
  return { ok: true, value: v };
}).meta({ 'x-input': { type: 'string', minLength: 1, pattern: '^[^\\s]+$' } });

/** Options every group inherits from the top level and may override. */
function inheritedShape(ctx: SchemaContext) {
  return {
    topology: z.strictObject(topologyShape).describe('How the group\'s master is followed: sentinel polling and links.').optional(),
    failover: z.strictObject(failoverShape).describe('What happens to commands during a failover (fence, hold, re-home).').optional(),
    reads: z.strictObject(readsShape).describe('Reads on replicas: the read-only listener and the per-command split.').optional(),
    limits: z.strictObject(limitsShape).describe('Limits like Redis\'s own, per client session.').optional(),
    links: z.strictObject(linksShape).describe('How sessions reach the nodes: shared pipelined links or a link per session.').optional(),
    safety: z.strictObject(safetyShape).describe('Alias section: `safety.requireSentinelMajority`.').optional(),
    auth: credentialsSchema(ctx).describe('Credentials of the proxy\'s links to the nodes: its own checks (ROLE, INFO) and every client session\'s link (a client\'s own AUTH then replaces them for its session, unless the proxy authenticates clients itself). Redis: `requirepass`, ACL users. At most one of password, passwordFile, passwordEnv.').optional(),
    sentinelAuth: credentialsSchema(ctx).describe('Credentials for the sentinels (same keys as `auth`). Sentinel: `requirepass` on the sentinels.').optional(),
    clientAuth: clientAuthSchema(ctx).describe('Client authentication by the proxy itself: clients must AUTH as one of these users before anything but AUTH/HELLO/PING/QUIT; their AUTH never reaches Redis.').optional(),
    tls: z
      .strictObject({
        listener: tlsServerSchema(ctx).describe('TLS on the client listeners (master and read-only). Off by default.').optional(),
        backend: tlsClientSchema(ctx).describe('TLS to the nodes (`tls-port` on Redis). Off by default; `true` = on with the system CAs.').optional(),
        sentinel: tlsClientSchema(ctx).describe('TLS to the sentinels, same keys as `backend`. Off by default.').optional(),
      })
      .describe('TLS per link. Each of listener/backend/sentinel replaces an inherited one as a whole.')
      .optional(),
  };
}

export function groupSchema(ctx: SchemaContext) {
  return z.strictObject({
    name: groupName.describe('Required. The master name Sentinel knows the group by (unique). Sentinel: `sentinel monitor <name>`.').optional(),
    listen: hostPort(true).describe('Required. Where clients connect; writes go to the verified master. Port 0: any free port. Redis: `bind` + `port`.').optional(),
    readListen: hostPort(true).describe('Read-only listener: each connection goes to a healthy replica; writes get `-READONLY` from the proxy.').optional(),
    sentinels: z.array(hostPort(false)).describe('Required (at least one). Sentinels to connect to; the others are discovered (`SENTINEL SENTINELS`).').optional(),
    ...inheritedShape(ctx),
  });
}

export function topSchema(ctx: SchemaContext) {
  return z.strictObject({
    logLevel: z.enum(LOG_LEVELS).describe('Log level. Redis: `loglevel`.').optional(),
    logFormat: z.enum(LOG_FORMATS).describe('`json` (pino, one object per line) or `pretty` (for a terminal).').optional(),
    admin: z
      .preprocess(
        (v) => (v === false ? { listen: false } : v),
        z.strictObject({
          listen: custom((v): Result<HostPort | false> => (v === false ? { ok: true, value: false } : parseHostPort(v, true)))
            .meta({ 'x-kind': 'address', 'x-input': { anyOf: [...HOSTPORT_INPUT.anyOf, { const: false }] } })
            .describe('The admin HTTP server: the status page at `/`, `/status`, `/healthz`, `/readyz`, `/topology`, `/metrics`, `/events`, `/slowlog`. `false` (or `admin: false`) disables it. Plain HTTP without authentication: keep it on loopback or a private network.')
            .optional(),
          readiness: z.enum(READINESS_MODES).describe('What `/readyz` and `rsp_ready` require. `master` (default): every group has a verified master it can send to now; unreachable sentinels alone do not make the proxy unready (they show as a warning), so a sidecar is not taken out of its Service while the master works. `strict`: also at least one reachable sentinel and, with a sentinel majority, a master without problems; for a shared proxy Service, where a proxy that can no longer follow a failover should hand its clients to one that can.').optional(),
        }),
      )
      .meta({ 'x-or-false': true })
      .describe('The admin HTTP server; `admin: false` disables it.')
      .optional(),
    shutdown: z
      .strictObject({ timeoutMs: duration(0).describe('SIGTERM/SIGINT: drain sessions and exit within this. Redis: `shutdown-timeout` (seconds there).').optional() })
      .describe('How the proxy stops on SIGTERM/SIGINT.')
      .optional(),
    ...inheritedShape(ctx),
    // Each group is parsed on its own (groupSchema), so one broken group does not hide the others.
    groups: z.array(z.unknown()).describe('The groups: one per Sentinel master name, each with its own listen ports.').optional(),
  });
}

export type FileGroup = z.output<ReturnType<typeof groupSchema>>;
export type FileTop = z.output<ReturnType<typeof topSchema>>;
/** The sections a group inherits (as parsed from the file: every field optional). */
export type FileInherited = Pick<FileTop, 'topology' | 'failover' | 'reads' | 'limits' | 'safety' | 'auth' | 'sentinelAuth' | 'tls'>;
export type PartialSections = {
  topology: Partial<TopologyConfig>;
  failover: Partial<FailoverConfig>;
  reads: Partial<ReadsConfig>;
  limits: Partial<LimitsConfig>;
};

// ---------------------------------------------------------------------------------------------
// Problem messages.

/** ['groups', 1, 'listen'] -> "groups[1].listen" */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

const norm = (k: string) => k.replace(/[_-]/g, '').toLowerCase();

/** Edit distance counting an adjacent transposition as one edit ("lsiten" -> "listen": 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** Keys that are easy to guess wrong, by "holder.key" (normalized): what to write instead. */
const KEY_HINTS: Record<string, string> = {
  'admin.enabled': 'the admin server is on by default; "admin: false" turns it off',
  'admin.disabled': 'the admin server is on by default; "admin: false" turns it off',
  'tls.enabled': 'TLS is set per link: tls.listener, tls.backend, tls.sentinel (each "true" or a mapping)',
};

/** The sections (keys that hold objects of their own) allowed in the object held by `holder`. */
function sectionsIn(holder: string): string[] {
  return (KNOWN_KEYS[holder] ?? []).filter((k) => k !== holder && Object.hasOwn(KNOWN_KEYS, k));
}

/** "did you mean ...?" for an unknown key, from the keys allowed where it was found; or, when the
 * key belongs to a section nested here or to a sibling section, that section's name. Only
 * sections reachable from here are named: a key of the same name elsewhere in the file (e.g.
 * `enabled` of a TLS link) is no answer to a key misplaced under `admin`. */
export function suggestKey(key: string, objectPath: readonly PropertyKey[]): string {
  const names = objectPath.filter((s): s is string => typeof s === 'string');
  const holder = names[names.length - 1] ?? '';
  const parent = names[names.length - 2] ?? '';
  const known = KNOWN_KEYS[holder] ?? [];
  const n = norm(key);
  const exact = known.find((k) => norm(k) === n);
  if (exact) return ` (did you mean "${exact}"? keys are camelCase)`;
  const hint = KEY_HINTS[`${holder}.${n}`];
  if (hint) return ` (${hint}; allowed here: ${known.join(', ')})`;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(n, norm(k));
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  if (best && bestD <= Math.max(1, Math.floor(best.length / 3))) return ` (did you mean "${best}"?)`;
  const candidates = holder === '' ? sectionsIn('') : [...sectionsIn(holder), ...sectionsIn(parent).filter((s) => s !== holder)];
  const elsewhere = [...new Set(candidates)]
    .filter((section) => (KNOWN_KEYS[section] ?? []).some((k) => norm(k) === n))
    .map((section) => (section === 'groups' ? 'a group (groups[])' : section));
  if (elsewhere.length) return ` (it belongs under ${elsewhere.join(' or ')})`;
  return known.length ? ` (allowed here: ${known.join(', ')})` : '';
}

/** One zod issue as problem lines, `prefix` prepended to its path. No input values are quoted. */
export function formatIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): string[] {
  const path = [...prefix, ...issue.path];
  const at = (p: readonly PropertyKey[]) => formatPath(p) || '(top level)';
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => `${at([...path, k])}: unknown key${suggestKey(k, path)}`);
    case 'invalid_type': {
      const m = /received (\w+)/.exec(issue.message);
      const received = m?.[1];
      if (received === 'undefined') return [`${at(path)}: required (expected ${issue.expected})`];
      const article = /^[aeiou]/.test(issue.expected) ? 'an' : 'a';
      const what = issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `${article} ${issue.expected}`;
      const hint = issue.expected === 'string' && received && received !== 'object' && received !== 'array' ? ' (quote it in YAML)' : '';
      return [`${at(path)}: expected ${what}${received ? `, got ${received === 'object' ? 'a mapping' : received === 'array' ? 'a list' : received}` : ''}${hint}`];
    }
    case 'invalid_value':
      return [`${at(path)}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`];
    case 'too_small':
      if (issue.origin === 'string') return [`${at(path)}: must not be empty`];
      if (issue.origin === 'array') return [`${at(path)}: needs at least ${String(issue.minimum)} entr${issue.minimum === 1 ? 'y' : 'ies'}`];
      return [`${at(path)}: must be at least ${String(issue.minimum)}`];
    case 'too_big':
      return [`${at(path)}: must be at most ${String(issue.maximum)}`];
    case 'invalid_format':
      return [`${at(path)}: ${issue.message.replace(/^Invalid string: /, '')}`];
    default:
      return [`${at(path)}: ${issue.message}`];
  }
}

export function formatIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  return error.issues.flatMap((i) => formatIssue(i, prefix));
}

/** A problem with the path it is about (so it can be given a line and column in the file).
 * `key`: about the key itself (an unknown key), not its value. */
export interface PathProblem {
  text: string;
  path?: readonly PropertyKey[];
  key?: boolean;
}

/** formatIssues, each line with its path. */
export function issueProblems(error: z.ZodError, prefix: readonly PropertyKey[] = []): PathProblem[] {
  return error.issues.flatMap((issue): PathProblem[] => {
    const path = [...prefix, ...issue.path];
    const lines = formatIssue(issue, prefix);
    if (issue.code === 'unrecognized_keys') return lines.map((text, i) => ({ text, path: [...path, issue.keys[i]!], key: true }));
    return lines.map((text) => ({ text, path }));
  });
}
