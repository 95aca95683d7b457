// Loads the configuration: YAML file, then environment, then flags (flags > env > file > defaults),
// validated with every problem collected at once, each with its path in the file or the flag / env
// variable it came from. The result is deep-frozen. Passwords never appear in a problem.
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_FAILOVER,
  DEFAULT_LIMITS,
  DEFAULT_LINKS,
  DEFAULT_LOG_FORMAT,
  DEFAULT_LOG_LEVEL,
  DEFAULT_READINESS,
  DEFAULT_READS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_TOPOLOGY,
} from './defaults.js';
import {
  formatPath,
  issueProblems,
  groupSchema,
  LOG_FORMATS,
  LOG_LEVELS,
  parseHostPort,
  editDistance,
  suggestKey,
  topSchema,
  type FileGroup,
  type FileTop,
  type PathProblem,
  type SchemaContext,
} from './schema.js';
import type { Credentials, GroupConfig, HostPort, LogLevel, ProxyConfig } from './types.js';
import type { OriginSources } from './effective.js';

/** The parsed command-line flags (yargs's camelCase keys; anything else is ignored). */
export interface CliFlags {
  config?: string;
  sentinel?: string | string[];
  masterName?: string;
  listen?: string;
  readListen?: string;
  password?: string;
  username?: string;
  sentinelPassword?: string;
  sentinelUsername?: string;
  /** "host:port", or `false` from `--no-admin`. */
  admin?: string | boolean;
  logLevel?: string;
  logFormat?: string;
  [other: string]: unknown;
}

export interface LoadOptions {
  /** The config file; defaults to `argv.config`, then `env.RSP_CONFIG`. None: flags/env only. */
  file?: string;
  argv: CliFlags;
  env: NodeJS.ProcessEnv;
}

/** `problems`: one line each, `file:line:col: path: message` when it is about the file.
 * `warnings`: worth telling but not fatal (unknown RSP_* variables). */
export type LoadResult =
  | { ok: true; config: ProxyConfig; warnings: string[]; /** For `--print-config`. */ origins: OriginSources }
  | { ok: false; problems: string[]; warnings: string[] };

/** A problem: a line as it is (about a flag, a variable, the file as a whole), or one about a path
 * in the file (given its line and column once the file is known). */
type Problem = string | PathProblem;

/** A problem about `path` in the file; `key`: about the key itself (e.g. unknown), not its value. */
function atPath(path: readonly PropertyKey[], message: string, key = false): PathProblem {
  return { text: `${formatPath(path) || '(top level)'}: ${message}`, path, key };
}

/** Environment variables read by loadConfig. */
export const ENV_VARS = {
  config: 'RSP_CONFIG',
  sentinels: 'RSP_SENTINELS',
  masterName: 'RSP_MASTER_NAME',
  listen: 'RSP_LISTEN',
  readListen: 'RSP_READ_LISTEN',
  password: 'RSP_PASSWORD',
  username: 'RSP_USERNAME',
  sentinelPassword: 'RSP_SENTINEL_PASSWORD',
  sentinelUsername: 'RSP_SENTINEL_USERNAME',
  admin: 'RSP_ADMIN',
  logLevel: 'RSP_LOG_LEVEL',
  logFormat: 'RSP_LOG_FORMAT',
} as const;

const FLAGS = {
  sentinels: '--sentinel',
  masterName: '--master-name',
  listen: '--listen',
  readListen: '--read-listen',
  password: '--password',
  username: '--username',
  sentinelPassword: '--sentinel-password',
  sentinelUsername: '--sentinel-username',
  admin: '--admin',
  logLevel: '--log-level',
  logFormat: '--log-format',
} as const;

/** Values given by flags or env, already parsed. */
interface Overrides {
  sentinels?: HostPort[];
  masterName?: string;
  listen?: HostPort;
  readListen?: HostPort;
  password?: string;
  username?: string;
  sentinelPassword?: string;
  sentinelUsername?: string;
  admin?: HostPort | false;
  logLevel?: LogLevel;
  logFormat?: 'json' | 'pretty';
}
type OverrideKey = keyof Overrides;
/** Where each override came from ("--listen", "RSP_LISTEN"), for problems. */
type Sources = Partial<Record<OverrideKey, string>>;

// ---------------------------------------------------------------------------------------------

export function hostPortToString(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

function defined<T extends object>(o: T | undefined | null): Partial<T> {
  const out: Partial<T> = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses an object key by key against a strict object schema's shape, so one bad section does not
 * hide the rest: good keys land in `data`, every problem is pushed with its path.
 */
function parseTolerant<S extends z.ZodObject>(
  schema: S,
  raw: Record<string, unknown>,
  prefix: readonly PropertyKey[],
  problems: Problem[],
): { data: Partial<z.output<S>>; failed: Set<string> } {
  const data: Record<string, unknown> = {};
  const failed = new Set<string>();
  const shape = schema.shape as Record<string, z.ZodType>;
  for (const [key, value] of Object.entries(raw)) {
    const field = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (!field) {
      problems.push(atPath([...prefix, key], `unknown key${suggestKey(key, prefix)}`, true));
      failed.add(key);
      continue;
    }
    const r = field.safeParse(value);
    if (r.success) {
      if (r.data !== undefined) data[key] = r.data;
    } else {
      problems.push(...issueProblems(r.error, [...prefix, key]));
      failed.add(key);
    }
  }
  return { data: data as Partial<z.output<S>>, failed };
}

// ---------------------------------------------------------------------------------------------
// Flags and environment.

function checkName(v: string): string | undefined {
  if (v === '') return 'must not be empty';
  if (/[\s\x00-\x1f\x7f]/.test(v)) return 'must not contain spaces or control characters';
  return undefined;
}

const DISABLED = /^(false|off|no|none|disabled?|0)$/i;

/**
 * Parses one source of overrides. `get(key)` returns the raw value or undefined when not given;
 * `label(key)` names it in problems.
 */
function parseOverrides(
  get: (k: OverrideKey) => unknown,
  label: (k: OverrideKey) => string,
  problems: Problem[],
): { values: Overrides; sources: Sources } {
  const values: Overrides = {};
  const sources: Sources = {};
  const str = (k: OverrideKey): string | undefined => {
    const v = get(k);
    if (v === undefined) return undefined;
    if (Array.isArray(v)) return str2(k, v[v.length - 1]); // a repeated single-valued flag: last wins
    return str2(k, v);
  };
  const str2 = (k: OverrideKey, v: unknown): string | undefined => {
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') {
      problems.push(`${label(k)}: expected a value`);
      return undefined;
    }
    return v;
  };
  const set = <K extends OverrideKey>(k: K, v: Overrides[K]) => {
    values[k] = v;
    sources[k] = label(k);
  };

  const sentinelsRaw = get('sentinels');
  if (sentinelsRaw !== undefined) {
    const items = (Array.isArray(sentinelsRaw) ? sentinelsRaw : [sentinelsRaw])
      .flatMap((s) => (typeof s === 'string' || typeof s === 'number' ? String(s).split(',') : [undefined]));
    const list: HostPort[] = [];
    let bad = false;
    for (const item of items) {
      if (item === undefined) {
        problems.push(`${label('sentinels')}: expected "host:port"`);
        bad = true;
        continue;
      }
      if (item.trim() === '') continue;
      const r = parseHostPort(item, false);
      if (r.ok) list.push(r.value);
      else {
        problems.push(`${label('sentinels')}: ${JSON.stringify(item.trim())}: ${r.message}`);
        bad = true;
      }
    }
    if (!bad && list.length === 0) problems.push(`${label('sentinels')}: needs at least one "host:port"`);
    else if (!bad) set('sentinels', list);
  }

  const name = str('masterName');
  if (name !== undefined) {
    const bad = checkName(name);
    if (bad) problems.push(`${label('masterName')}: ${bad}`);
    else set('masterName', name);
  }

  for (const k of ['listen', 'readListen'] as const) {
    const v = str(k);
    if (v === undefined) continue;
    const r = parseHostPort(v, true);
    if (r.ok) set(k, r.value);
    else problems.push(`${label(k)}: ${r.message}`);
  }

  for (const k of ['password', 'username', 'sentinelPassword', 'sentinelUsername'] as const) {
    const v = str(k);
    if (v === undefined) continue;
    if (v === '') problems.push(`${label(k)}: must not be empty`);
    else set(k, v);
  }

  const admin = get('admin');
  if (Array.isArray(admin) && admin.includes(false) && admin.some((a) => a !== false)) {
    problems.push(`${label('admin')} and --no-admin conflict: give one of them`);
  } else if (admin === false || (Array.isArray(admin) && admin.every((a) => a === false))) set('admin', false);
  else if (admin === true) problems.push(`${label('admin')}: expected "host:port" (or --no-admin / "off" to disable)`);
  else {
    const v = str('admin');
    if (v !== undefined) {
      if (DISABLED.test(v.trim())) set('admin', false);
      else {
        const r = parseHostPort(v, true);
        if (r.ok) set('admin', r.value);
        else problems.push(`${label('admin')}: ${r.message}, or "off" to disable the admin server`);
      }
    }
  }

  const level = str('logLevel');
  if (level !== undefined) {
    const l = level.trim().toLowerCase();
    if ((LOG_LEVELS as readonly string[]).includes(l)) set('logLevel', l as LogLevel);
    else problems.push(`${label('logLevel')}: expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const format = str('logFormat');
  if (format !== undefined) {
    const f = format.trim().toLowerCase();
    if ((LOG_FORMATS as readonly string[]).includes(f)) set('logFormat', f as 'json' | 'pretty');
    else problems.push(`${label('logFormat')}: expected one of ${LOG_FORMATS.join(', ')}`);
  }
  return { values, sources };
}

function flagOverrides(argv: CliFlags, problems: Problem[]) {
  const get = (k: OverrideKey): unknown => (k === 'sentinels' ? argv.sentinel : argv[k]);
  return parseOverrides(get, (k) => FLAGS[k], problems);
}

/** Problems with the flags alone: usage errors, reported before any file is read. */
export function flagProblems(argv: CliFlags): string[] {
  const problems: Problem[] = [];
  flagOverrides(argv, problems);
  return problems.map((p) => (typeof p === 'string' ? p : p.text));
}

function envOverrides(env: NodeJS.ProcessEnv, problems: Problem[]) {
  // An empty variable counts as unset (compose files and k8s manifests often set VAR= ).
  const get = (k: OverrideKey): unknown => {
    const v = env[ENV_VARS[k]];
    return v === undefined || v.trim() === '' ? undefined : v;
  };
  return parseOverrides(get, (k) => ENV_VARS[k], problems);
}

// ---------------------------------------------------------------------------------------------
// The file.

interface FileSource {
  path: string;
  /** How it was named: "--config x.yaml" or "RSP_CONFIG=x.yaml". */
  label: string;
}

function pickFile(opts: LoadOptions): FileSource | undefined {
  if (opts.file !== undefined && opts.file !== '') return { path: opts.file, label: opts.file };
  const flag = opts.argv.config;
  if (typeof flag === 'string' && flag !== '') return { path: flag, label: `--config ${flag}` };
  const env = opts.env.RSP_CONFIG;
  if (env !== undefined && env.trim() !== '') return { path: env, label: `RSP_CONFIG=${env}` };
  return undefined;
}

/** The file as parsed, and where each path in it is ("file:line:col"). */
interface ParsedFile {
  value: unknown;
  locate: (path: readonly PropertyKey[], key: boolean) => string | undefined;
}

function readYaml(src: FileSource, problems: Problem[]): ParsedFile | undefined {
  let text: string;
  try {
    text = readFileSync(src.path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const what = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code;
    problems.push(`${src.label}: cannot read the config file (${what})`);
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: true, lineCounter: lines });
  if (doc.errors.length) {
    // An error found at the end of the input (an unclosed bracket or quote) is reported by the
    // yaml library on the line after the last one; point at the end of the last line instead.
    const end = text.trimEnd().length;
    for (const e of doc.errors) {
      // Only the first line, without the code frame: the frame could quote a secret.
      const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const atEnd = e.pos[0] >= end;
      const pos = lines.linePos(atEnd ? Math.max(0, end - 1) : e.pos[0]);
      const col = atEnd ? pos.col + 1 : pos.col;
      problems.push(`${src.path}:${pos.line}:${col}: YAML: ${msg}${atEnd ? ' (at the end of the file)' : ''}`);
    }
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (err) {
    problems.push(`${src.path}: YAML: ${String((err as Error).message).split('\n')[0]}`);
    return undefined;
  }
  return {
    value,
    locate: (path, key) => {
      const offset = offsetOf(doc, path, key);
      if (offset === undefined) return undefined;
      const pos = lines.linePos(offset);
      return `${src.path}:${pos.line}:${pos.col}`;
    },
  };
}

type Ranged = { range?: readonly number[] | null } | null | undefined;
const startOf = (n: unknown): number | undefined => (n as Ranged)?.range?.[0] ?? undefined;

/** Where `path` is in the document: its value (or its key when `key`, or when it has no value);
 * for a path that is not there (a missing key, a key merged from an anchor), the deepest part
 * that is. */
function offsetOf(doc: Document, path: readonly PropertyKey[], key: boolean): number | undefined {
  let node: unknown = doc.contents;
  let best = startOf(node);
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k: unknown = p.key;
        return (k !== null && typeof k === 'object' && 'value' in k ? (k as { value: unknown }).value : k) === seg;
      });
      if (!pair) return best;
      const keyAt = startOf(pair.key);
      const valueAt = startOf(pair.value);
      if (last && key) return keyAt ?? best;
      best = valueAt ?? keyAt ?? best;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) return best;
      best = startOf(item) ?? best;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

/** Environment variables starting with RSP_ that nothing reads: a typo (RSP_SENTINEL for
 * RSP_SENTINELS) would otherwise be silently ignored. */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known: readonly string[] = Object.values(ENV_VARS);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('RSP_') || known.includes(name)) continue;
    let best: string | undefined;
    let bestD = Infinity;
    for (const k of known) {
      const d = editDistance(name.slice(4).toLowerCase(), k.slice(4).toLowerCase());
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    const near = best !== undefined && bestD <= Math.max(2, Math.floor((best.length - 4) / 3));
    out.push(`${name}: unknown environment variable, ignored${near ? ` (did you mean ${best}?)` : ` (known: ${known.join(', ')})`}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

type InheritedFile = Pick<FileGroup, 'topology' | 'failover' | 'reads' | 'limits' | 'links' | 'safety' | 'auth' | 'sentinelAuth' | 'tls' | 'clientAuth'>;

/** topology with the `safety.requireSentinelMajority` alias folded in (one level: top or group). */
function levelTopology(level: Partial<InheritedFile>, at: readonly PropertyKey[], problems: Problem[]) {
  const topo = defined(level.topology);
  const alias = level.safety?.requireSentinelMajority;
  if (alias !== undefined) {
    if (topo.requireSentinelMajority !== undefined) {
      problems.push(atPath([...at, 'safety', 'requireSentinelMajority'], 'also set as topology.requireSentinelMajority; give it once'));
    } else {
      topo.requireSentinelMajority = alias;
    }
  }
  return topo;
}

function mergeCredentials(base: Credentials | undefined, username?: string, password?: string): Credentials {
  const c: Credentials = { ...defined(base) };
  if (username !== undefined) c.username = username;
  if (password !== undefined) c.password = password;
  return c;
}

function wildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

export function loadConfig(opts: LoadOptions): LoadResult {
  const problems: Problem[] = [];
  const env = opts.env;

  // 1. The file.
  const src = pickFile(opts);
  let raw: Record<string, unknown> = {};
  let fileOk = true;
  let baseDir = process.cwd();
  let locate: ParsedFile['locate'] = () => undefined;
  if (src) {
    baseDir = dirname(resolvePath(src.path));
    const parsed = readYaml(src, problems);
    if (parsed) locate = parsed.locate;
    const doc = parsed?.value;
    if (parsed === undefined) fileOk = false;
    else if (doc === null) raw = {};
    else if (!isMapping(doc)) {
      problems.push(`${src.path}: expected a mapping at the top level (logLevel:, groups:, ...)`);
      fileOk = false;
    } else raw = doc;
  }
  const ctx: SchemaContext = { baseDir, env };

  // 2. Top level, then each group on its own.
  const top = parseTolerant(topSchema(ctx), raw, [], problems);
  const topData: Partial<FileTop> = top.data;
  const topFailed = top.failed.size > 0;
  const rawGroups = raw.groups;
  const groupRaws: unknown[] = Array.isArray(rawGroups) ? rawGroups : [];
  const gSchema = groupSchema(ctx);
  const fileGroups = groupRaws.map((g, i) => {
    if (!isMapping(g)) {
      problems.push(atPath(['groups', i], 'expected a mapping (name:, listen:, sentinels:, ...)'));
      const all = { name: g, listen: g, sentinels: g }; // counts as present: no "required" problems on top
      return { data: {} as Partial<FileGroup>, failed: new Set(['*']), raw: all as Record<string, unknown> };
    }
    return { ...parseTolerant(gSchema, g, ['groups', i], problems), raw: g };
  });

  // 3. Environment, then flags.
  const envOv = envOverrides(env, problems);
  const flagOv = flagOverrides(opts.argv, problems);
  const ov: Overrides = { ...envOv.values, ...flagOv.values };
  const ovSrc: Sources = { ...envOv.sources, ...flagOv.sources };
  const either = (k: OverrideKey) => `${FLAGS[k]} / ${ENV_VARS[k]}`;

  // 4. Groups: the file's, or one made of flags/env when the file has none.
  const targeting = (['masterName', 'listen', 'readListen', 'sentinels'] as const).filter((k) => ov[k] !== undefined);
  type Slot = { g: Partial<FileGroup>; at: readonly PropertyKey[]; present: Record<string, unknown>; failed: boolean; fromFlags: boolean };
  const slots: Slot[] = fileGroups.map((fg, i) => ({ g: fg.data, at: ['groups', i], present: fg.raw, failed: fg.failed.size > 0, fromFlags: false }));
  if (slots.length > 1) {
    for (const k of targeting) {
      problems.push(`${ovSrc[k]}: applies only when the config has exactly one group, and ${src?.path ?? 'the config'} has ${slots.length}; set it in the file`);
    }
  } else if (slots.length === 0) {
    if (targeting.length > 0) {
      slots.push({ g: {}, at: [], present: {}, failed: false, fromFlags: true });
    } else if (fileOk && !top.failed.has('groups')) {
      problems.push(
        src
          ? atPath(['groups'], `at least one group is required (or give ${FLAGS.sentinels}, ${FLAGS.masterName} and ${FLAGS.listen})`)
          : `no groups configured: give --config FILE (or RSP_CONFIG), or ${FLAGS.sentinels}, ${FLAGS.masterName} and ${FLAGS.listen} (or ${ENV_VARS.sentinels}, ${ENV_VARS.masterName}, ${ENV_VARS.listen})`,
      );
    }
  }
  const single = slots.length === 1;

  const topTopology = levelTopology(topData, [], problems);
  const groups: GroupConfig[] = [];
  const labels: { listen: string; readListen: string }[] = [];
  const crossCheckable = fileOk && !topFailed;
  for (const slot of slots) {
    const { g, at } = slot;
    const fieldLabel = (k: 'name' | 'listen' | 'readListen' | 'sentinels', ovKey: OverrideKey) =>
      single && ov[ovKey] !== undefined ? ovSrc[ovKey]! : formatPath([...at, k]);
    const name = single && ov.masterName !== undefined ? ov.masterName : g.name;
    const listen = single && ov.listen !== undefined ? ov.listen : g.listen;
    const readListen = single && ov.readListen !== undefined ? ov.readListen : g.readListen;
    const sentinels = single && ov.sentinels !== undefined ? ov.sentinels : g.sentinels;

    // Required fields (unless already reported as invalid).
    const missing = (k: 'name' | 'listen' | 'sentinels', ovKey: OverrideKey, what: string) => {
      if (slot.present[k] !== undefined) return; // present but invalid: already a problem
      if (slot.fromFlags) problems.push(`${either(ovKey)}: required (${what}) when no config file defines groups`);
      else problems.push(atPath([...at, k], `required (${what})${single ? `; or give ${either(ovKey)}` : ''}`));
    };
    if (name === undefined) missing('name', 'masterName', 'the master name Sentinel knows the group by');
    if (listen === undefined) missing('listen', 'listen', '"host:port" the proxy listens on');
    if (sentinels === undefined) missing('sentinels', 'sentinels', 'a list of sentinel "host:port"');
    else if (sentinels.length === 0) {
      const text = 'needs at least one sentinel "host:port"';
      problems.push(single && ov.sentinels !== undefined ? `${ovSrc.sentinels!}: ${text}` : atPath([...at, 'sentinels'], text));
    }

    const tls: GroupConfig['tls'] = {};
    for (const k of ['listener', 'backend', 'sentinel'] as const) {
      const gv = g.tls?.[k];
      const v = gv !== undefined ? gv : topData.tls?.[k];
      if (v) (tls as Record<string, unknown>)[k] = v;
    }
    const group: GroupConfig = {
      name: name ?? '',
      listen: listen ?? { host: '', port: 0 },
      sentinels: sentinels ?? [],
      sentinelAuth: mergeCredentials(g.sentinelAuth ?? topData.sentinelAuth, ov.sentinelUsername, ov.sentinelPassword),
      auth: mergeCredentials(g.auth ?? topData.auth, ov.username, ov.password),
      tls,
      topology: { ...DEFAULT_TOPOLOGY, ...topTopology, ...levelTopology(g, at, problems) },
      failover: { ...DEFAULT_FAILOVER, ...defined(topData.failover), ...defined(g.failover) },
      reads: { ...DEFAULT_READS, ...defined(topData.reads), ...defined(g.reads) },
      limits: { ...DEFAULT_LIMITS, ...defined(topData.limits), ...defined(g.limits) },
      links: { ...DEFAULT_LINKS, ...defined(topData.links), ...defined(g.links) },
    };
    if (readListen !== undefined) group.readListen = readListen;
    const clientAuth = g.clientAuth ?? topData.clientAuth;
    if (clientAuth) group.clientAuth = clientAuth;
    groups.push(group);
    labels.push({ listen: fieldLabel('listen', 'listen'), readListen: fieldLabel('readListen', 'readListen') });
  }

  // 5. Top-level scalars.
  let admin: HostPort | undefined;
  let adminLabel = 'admin.listen';
  if (ov.admin !== undefined) {
    admin = ov.admin === false ? undefined : ov.admin;
    adminLabel = ovSrc.admin!;
  } else if (topData.admin?.listen !== undefined) {
    admin = topData.admin.listen === false ? undefined : topData.admin.listen;
  } else {
    admin = { ...DEFAULT_ADMIN_LISTEN };
  }

  // 6. Cross-field checks.
  const byName = new Map<string, number>();
  groups.forEach((g, i) => {
    if (g.name === '') return;
    const prev = byName.get(g.name);
    if (prev !== undefined) {
      problems.push(atPath(['groups', i, 'name'], `duplicate group name ${JSON.stringify(g.name)} (also ${formatPath(['groups', prev, 'name'])})`));
    } else byName.set(g.name, i);
  });

  const bound: { label: string; hp: HostPort }[] = [];
  const claim = (label: string, hp: HostPort | undefined, path: readonly PropertyKey[]) => {
    if (!hp || hp.host === '' || hp.port === 0) return;
    const clash = bound.find((b) => b.hp.port === hp.port && (b.hp.host === hp.host || wildcard(b.hp.host) || wildcard(hp.host)));
    const text = `${label}: ${hostPortToString(hp)} conflicts with ${clash?.label} (${clash ? hostPortToString(clash.hp) : ''})`;
    if (clash) problems.push(label === formatPath(path) ? { text, path } : text);
    else bound.push({ label, hp });
  };
  groups.forEach((g, i) => {
    claim(labels[i]!.listen, g.listen.host === '' ? undefined : g.listen, ['groups', i, 'listen']);
    claim(labels[i]!.readListen, g.readListen, ['groups', i, 'readListen']);
  });
  claim(adminLabel, admin, ['admin', 'listen']);

  groups.forEach((g, i) => {
    const seen = new Set<string>();
    for (const s of g.sentinels) {
      const key = hostPortToString(s);
      const fromOv = slots[i]!.fromFlags || (single && ov.sentinels !== undefined);
      if (seen.has(key)) problems.push(fromOv ? `${ovSrc.sentinels}: ${key} is listed twice` : atPath(['groups', i, 'sentinels'], `${key} is listed twice`));
      seen.add(key);
    }
    // Only meaningful when every section of this group parsed (else a default stands in for a typo).
    if (crossCheckable && !slots[i]!.failed) {
      const l = g.limits;
      if (l.outputBufferSoftBytes > l.outputBufferHardBytes) {
        const text = `outputBufferSoftBytes (${l.outputBufferSoftBytes}) is larger than outputBufferHardBytes (${l.outputBufferHardBytes})`;
        problems.push(atPath(slots[i]!.fromFlags ? ['limits'] : ['groups', i, 'limits'], text));
      }
    }
  });

  const warnings = unknownEnvWarnings(env);
  if (problems.length) return { ok: false, problems: orderProblems(problems, locate), warnings };

  const config: ProxyConfig = {
    logLevel: ov.logLevel ?? topData.logLevel ?? DEFAULT_LOG_LEVEL,
    logFormat: ov.logFormat ?? topData.logFormat ?? DEFAULT_LOG_FORMAT,
    admin: { ...(admin ? { listen: admin } : {}), readiness: topData.admin?.readiness ?? DEFAULT_READINESS },
    shutdown: { timeoutMs: topData.shutdown?.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS },
    groups,
  };
  // Which config paths the overrides set, for --print-config.
  const overrides = new Map<string, string>();
  const setBy = (k: OverrideKey, ...paths: string[]) => {
    if (ov[k] !== undefined) for (const p of paths) overrides.set(p, ovSrc[k]!);
  };
  setBy('logLevel', 'logLevel');
  setBy('logFormat', 'logFormat');
  setBy('admin', 'admin', 'admin.listen');
  if (single) {
    setBy('masterName', 'groups[0].name');
    setBy('listen', 'groups[0].listen');
    setBy('readListen', 'groups[0].readListen');
    setBy('sentinels', 'groups[0].sentinels');
  }
  groups.forEach((_, i) => {
    setBy('username', `groups[${i}].auth.username`);
    setBy('password', `groups[${i}].auth.password`);
    setBy('sentinelUsername', `groups[${i}].sentinelAuth.username`);
    setBy('sentinelPassword', `groups[${i}].sentinelAuth.password`);
  });
  const origins: OriginSources = { raw, overrides, locate: (path) => locate(path, false) };
  return { ok: true, config: deepFreeze(config), warnings, origins };
}

/** Deduplicated; the file's top level first, then group by group, then flags / env (stable);
 * each problem about a path in the file prefixed with its "file:line:col". */
function orderProblems(problems: Problem[], locate: ParsedFile['locate']): string[] {
  const rank = (p: Problem): number => {
    if (typeof p === 'string') return p.startsWith('--') || p.startsWith('RSP_') ? Number.MAX_SAFE_INTEGER : 0;
    const [first, second] = p.path ?? [];
    return first === 'groups' && typeof second === 'number' ? 1 + second : 0;
  };
  const text = (p: Problem): string => {
    if (typeof p === 'string') return p;
    const where = p.path ? locate(p.path, p.key ?? false) : undefined;
    return where ? `${where}: ${p.text}` : p.text;
  };
  const lines = problems.map((p, i) => ({ line: text(p), i, r: rank(p) }));
  const seen = new Set<string>();
  return lines
    .filter((x) => !seen.has(x.line) && (seen.add(x.line), true))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.line);
}

/** One line per group, for `--check-config` and the start-up log. No secrets. */
export function describeConfig(config: ProxyConfig): string[] {
  return config.groups.map((g) => {
    const parts = [`listen ${hostPortToString(g.listen)}${g.tls.listener ? ' (tls)' : ''}`];
    if (g.readListen) parts.push(`read ${hostPortToString(g.readListen)}`);
    parts.push(`${g.sentinels.length} sentinel${g.sentinels.length === 1 ? '' : 's'}`);
    return `${g.name}: ${parts.join(', ')}`;
  });
}
