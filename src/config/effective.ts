// `--print-config`: the effective configuration, one line per value, with secrets redacted and
// where each value came from: a flag, an environment variable, the file (with its line), or the
// default. Pure: works on the loaded config and what the loader knows about its sources.
import { formatPath } from './schema.js';
import type { ProxyConfig } from './types.js';

/** Where one value came from. */
export type Origin = { kind: 'default' } | { kind: 'flag' | 'env'; name: string } | { kind: 'file'; at: string };

export interface OriginSources {
  /** The parsed file (merge keys resolved), `{}` without a file. */
  raw: Record<string, unknown>;
  /** Overrides that were applied, by the config path they set: "--listen" or "RSP_LISTEN". */
  overrides: ReadonlyMap<string, string>;
  /** "file:line:col" of a path in the file (or of its deepest part that is there). */
  locate: (path: readonly PropertyKey[]) => string | undefined;
}

/** Secrets never printed: credentials, private keys, password hashes. */
const SECRET_KEYS = new Set(['password', 'key', 'passwordSha256']);
/** PEM material: long, printed as its size. */
const PEM_KEYS = new Set(['ca', 'cert']);

function has(raw: unknown, path: readonly PropertyKey[]): boolean {
  let node = raw;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return false;
    if (!Object.hasOwn(node, seg as string)) return false;
    node = (node as Record<string | number, unknown>)[seg as string];
  }
  return true;
}

/** Paths in the file that may have set `path` of the resolved config, most specific first: a
 * group's own value, then the top level it inherits from (and `safety.requireSentinelMajority`,
 * the alias of `topology.requireSentinelMajority`); a password resolved from passwordFile or
 * passwordEnv comes from its credentials section; a client user's hash from its password. */
function fileCandidates(path: readonly PropertyKey[]): (readonly PropertyKey[])[] {
  const out: (readonly PropertyKey[])[] = [];
  const add = (p: readonly PropertyKey[]) => {
    out.push(p);
    if (p[p.length - 2] === 'topology' && p[p.length - 1] === 'requireSentinelMajority') out.push([...p.slice(0, -2), 'safety', 'requireSentinelMajority']);
    // A password (or a client user's hash) may come from any of its sources.
    if (p[p.length - 1] === 'password' || p[p.length - 1] === 'passwordSha256') {
      for (const k of ['password', 'passwordFile', 'passwordEnv', 'passwordSha256']) if (k !== p[p.length - 1]) out.push([...p.slice(0, -1), k]);
    }
  };
  add(path);
  if (path[0] === 'groups' && typeof path[1] === 'number' && path.length > 3) add(path.slice(2));
  // A TLS option comes with its whole section (`tls: { backend: true }` sets rejectUnauthorized).
  const tls = path.indexOf('tls');
  if (tls >= 0 && path.length > tls + 2) {
    const section = path.slice(0, tls + 2);
    add(section);
    if (section[0] === 'groups') add(section.slice(2));
  }
  if (path[0] === 'admin') out.push(['admin']);
  return out;
}

export function originOf(path: readonly PropertyKey[], src: OriginSources): Origin {
  const key = formatPath(path);
  const ov = src.overrides.get(key);
  if (ov !== undefined) return ov.startsWith('--') ? { kind: 'flag', name: ov } : { kind: 'env', name: ov };
  for (const p of fileCandidates(path)) {
    if (has(src.raw, p)) return { kind: 'file', at: src.locate(p) ?? formatPath(p) };
  }
  return { kind: 'default' };
}

function show(key: PropertyKey | undefined, v: unknown): string {
  if (typeof key === 'string' && SECRET_KEYS.has(key)) return '<redacted>';
  if (typeof key === 'string' && PEM_KEYS.has(key) && typeof v === 'string') return `<PEM, ${v.length} bytes>`;
  if (v !== null && typeof v === 'object' && 'host' in v && 'port' in v) {
    const { host, port } = v as { host: string; port: number };
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }
  if (Array.isArray(v)) return `[${v.map((x) => show(undefined, x)).join(', ')}]`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const isLeaf = (v: unknown): boolean =>
  v === null || typeof v !== 'object' || Array.isArray(v) || ('host' in (v as object) && 'port' in (v as object));

/** Every value of the config with its path, in the config's own order. A list of plain values
 * (the sentinels) is one value; a list of mappings (clientAuth users) is walked item by item. */
function leaves(v: unknown, path: PropertyKey[], out: { path: PropertyKey[]; value: unknown }[]): void {
  if (Array.isArray(v) && v.some((x) => !isLeaf(x))) {
    v.forEach((x, i) => leaves(x, [...path, i], out));
  } else if (isLeaf(v)) {
    out.push({ path, value: v });
  } else {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) out.push({ path, value: '(none)' });
    for (const [k, x] of entries) leaves(x, [...path, k], out);
  }
}

function originText(o: Origin): string {
  switch (o.kind) {
    case 'default':
      return 'default';
    case 'flag':
      return `flag ${o.name}`;
    case 'env':
      return `env ${o.name}`;
    case 'file':
      return `file ${o.at}`;
  }
}

/** The lines `--print-config` prints: `path: value  # origin`, secrets redacted. */
export function effectiveConfigLines(config: ProxyConfig, src: OriginSources): string[] {
  const items: { path: PropertyKey[]; value: unknown }[] = [];
  leaves(config, [], items);
  const rows = items.map(({ path, value }) => {
    const shown = value === '(none)' ? '(none)' : show(path[path.length - 1], value);
    return { left: `${formatPath(path)}: ${shown}`, origin: originText(originOf(path, src)) };
  });
  const width = Math.min(72, Math.max(...rows.map((r) => r.left.length)));
  return rows.map((r) => `${r.left.padEnd(width)}  # ${r.origin}`);
}
