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
  ReadsConfig,
  TlsClientOptions,
  TlsServerOptions,
  TopologyConfig,
} from './types.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LogLevel[];
export const LOG_FORMATS = ['json', 'pretty'] as const;

type Result<T> = { ok: true; value: T } | { ok: false; message: string };

// ---------------------------------------------------------------------------------------------
// Scalar parsers, shared by the file schema and the flag/env overrides.

const HOSTNAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?$/;
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

const hostPort = (allowZero: boolean) => custom((v) => parseHostPort(v, allowZero));
const size = (min = 0) => custom((v) => parseSize(v, min));
const duration = (min = 0, max = INT_MAX) => custom((v) => parseWhole(v, ' of milliseconds', min, max));
const count = (min: number, max: number) => custom((v) => parseWhole(v, '', min, max));
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
  pollIntervalMs: duration(10).optional(),
  connectTimeoutMs: duration(1).optional(),
  requireSentinelMajority: bool().optional(),
  writeSafety: z
    .enum(['safe', 'available'])
    .optional()
    .describe(
      'safe (default): hold commands while the master has replicas and none of them acknowledges its writes (probed every 50 ms with PUBLISH + WAIT), or while not all do and no majority of sentinels confirmed the master within down-after-milliseconds: the minority side of a partition takes no writes. available: keep writing to the last verified master. See docs/partitions.md.',
    ),
  livenessTimeoutMs: duration(100)
    .optional()
    .describe('How long the master may leave its probe unanswered before a fresh TCP connection is tried; when that fails too, links to the master are cut and their in-flight commands get an error instead of waiting for TCP retransmission.'),
};
const failoverShape = {
  holdTimeoutMs: duration(0).optional(),
  holdBytes: size(0).optional(),
};
const readsShape = {
  routeReads: z.enum(['master', 'replica']).optional(),
  maxLagMs: duration(0).optional(),
  fallback: z.enum(['master', 'error']).optional(),
  readYourWritesMs: duration(0).optional(),
};
const limitsShape = {
  maxClients: count(1, INT_MAX).optional(),
  idleTimeoutMs: duration(0).optional(),
  maxBulkBytes: size(1).optional(),
  maxMultibulkLength: count(1, INT_MAX).optional(),
  queryBufferBytes: size(1).optional(),
  outputBufferSoftBytes: size(1).optional(),
  outputBufferHardBytes: size(1).optional(),
};
const linksShape = {
  shared: bool().optional(),
  maxPipeline: count(1, 1_000_000).optional(),
};
const safetyShape = {
  requireSentinelMajority: bool().optional(),
};
const credentialsShape = {
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
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
  admin: ['listen'],
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
    enabled: bool().optional(),
    ca: pemFile(ctx).optional(),
    cert: pemFile(ctx).optional(),
    key: pemFile(ctx).optional(),
    servername: z.string().min(1).optional(),
    servernameMap: z.record(z.string().min(1), z.string().min(1)).optional(),
    rejectUnauthorized: bool().optional(),
  });
  return z.preprocess(
    toggled,
    obj.transform((o, zctx): TlsClientOptions | null => {
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
    enabled: bool().optional(),
    cert: pemFile(ctx).optional(),
    key: pemFile(ctx).optional(),
    ca: pemFile(ctx).optional(),
    requestCert: bool().optional(),
  });
  return z.preprocess(
    toggled,
    obj.transform((o, zctx): TlsServerOptions | null => {
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
      name: z.string().min(1).regex(/^[^\s]+$/, 'must not contain spaces'),
      password: z.string().min(1).optional(),
      passwordFile: z.string().min(1).optional(),
      passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
      passwordSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits (sha256)').optional(),
      access: z.enum(['read', 'write']),
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
    .strictObject({ users: z.array(user).min(1, 'list at least one user') })
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
});

/** Options every group inherits from the top level and may override. */
function inheritedShape(ctx: SchemaContext) {
  return {
    topology: z.strictObject(topologyShape).optional(),
    failover: z.strictObject(failoverShape).optional(),
    reads: z.strictObject(readsShape).optional(),
    limits: z.strictObject(limitsShape).optional(),
    links: z.strictObject(linksShape).optional(),
    safety: z.strictObject(safetyShape).optional(),
    auth: credentialsSchema(ctx).optional(),
    sentinelAuth: credentialsSchema(ctx).optional(),
    clientAuth: clientAuthSchema(ctx).optional(),
    tls: z
      .strictObject({
        listener: tlsServerSchema(ctx).optional(),
        backend: tlsClientSchema(ctx).optional(),
        sentinel: tlsClientSchema(ctx).optional(),
      })
      .optional(),
  };
}

export function groupSchema(ctx: SchemaContext) {
  return z.strictObject({
    name: groupName.optional(),
    listen: hostPort(true).optional(),
    readListen: hostPort(true).optional(),
    sentinels: z.array(hostPort(false)).optional(),
    ...inheritedShape(ctx),
  });
}

export function topSchema(ctx: SchemaContext) {
  return z.strictObject({
    logLevel: z.enum(LOG_LEVELS).optional(),
    logFormat: z.enum(LOG_FORMATS).optional(),
    admin: z
      .preprocess(
        (v) => (v === false ? { listen: false } : v),
        z.strictObject({
          listen: custom((v): Result<HostPort | false> => (v === false ? { ok: true, value: false } : parseHostPort(v, true))).optional(),
        }),
      )
      .optional(),
    shutdown: z.strictObject({ timeoutMs: duration(0).optional() }).optional(),
    ...inheritedShape(ctx),
    // Each group is parsed on its own (groupSchema), so one broken group does not hide the others.
    groups: z.array(z.unknown()).optional(),
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
function editDistance(a: string, b: string): number {
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

/** "did you mean ...?" for an unknown key, from the keys allowed where it was found. */
export function suggestKey(key: string, objectPath: readonly PropertyKey[]): string {
  const holder = [...objectPath].reverse().find((s) => typeof s === 'string') as string | undefined;
  const known = KNOWN_KEYS[holder ?? ''] ?? [];
  const n = norm(key);
  const exact = known.find((k) => norm(k) === n);
  if (exact) return ` (did you mean "${exact}"? keys are camelCase)`;
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
  const elsewhere = Object.entries(KNOWN_KEYS)
    .filter(([, keys]) => keys.some((k) => norm(k) === n))
    .map(([holderKey]) => (holderKey === '' ? 'the top level' : holderKey === 'groups' ? 'a group' : holderKey));
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
