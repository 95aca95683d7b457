// The configuration reference, generated from the zod schema (descriptions, types, ranges) and the
// defaults: docs/configuration.md for people and config/proxy.schema.json (JSON Schema) for
// editors. `npm run docs:config` writes both; test/unit/config-reference.test.ts fails when either
// is not current, so the documentation cannot drift from the code.
import { z } from 'zod';
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
import { ENV_VARS } from './load.js';
import { groupSchema, topSchema } from './schema.js';

type Json = Record<string, unknown>;

/** Where the generated files live, relative to the repository root. */
export const REFERENCE_FILES = { markdown: 'docs/configuration.md', jsonSchema: 'config/proxy.schema.json' } as const;

// The schemas read files only when parsing; for their shape any context does.
const CTX = { baseDir: '.', env: {} };

/** Replaces what zod cannot say about our parsed scalars (their input is `unknown`) with the
 * `x-input` of their metadata, and lets TLS sections be booleans and `admin` be `false`. */
function override(ctx: { zodSchema: z.core.$ZodType; jsonSchema: Json }): void {
  const meta = z.globalRegistry.get(ctx.zodSchema) as Json | undefined;
  const js = ctx.jsonSchema;
  const input = meta?.['x-input'] as Json | undefined;
  if (input) {
    const description = js.description;
    for (const k of Object.keys(js)) delete js[k];
    Object.assign(js, structuredClone(input));
    if (description !== undefined) js.description = description;
  }
  for (const k of ['x-input', 'x-kind', 'x-or-boolean', 'x-or-false']) delete js[k];
  if (meta?.['x-or-boolean'] || meta?.['x-or-false']) {
    const { description, ...rest } = js;
    for (const k of Object.keys(js)) delete js[k];
    js.anyOf = [meta['x-or-boolean'] ? { type: 'boolean' } : { const: false }, rest];
    if (description !== undefined) js.description = description;
  }
}

function toJson(schema: z.ZodType): Json {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', override, target: 'draft-2020-12' }) as Json;
}

/** The JSON Schema of the config file (for editors: yaml-language-server, IntelliJ). */
export function configJsonSchema(): Json {
  const top = toJson(topSchema(CTX));
  const group = toJson(groupSchema(CTX));
  delete group.$schema;
  const props = top.properties as Record<string, Json>;
  props.groups = { ...props.groups, type: 'array', items: group };
  return {
    $schema: top.$schema,
    $id: 'https://github.com/redis-sentinel-proxy/redis-sentinel-proxy/config/proxy.schema.json',
    title: 'redis-sentinel-proxy configuration',
    description: 'Generated from src/config/schema.ts by `npm run docs:config`; reference: docs/configuration.md.',
    ...Object.fromEntries(Object.entries(top).filter(([k]) => k !== '$schema')),
  };
}

// ---------------------------------------------------------------------------------------------
// The Markdown reference.

const MiB = 1024 * 1024;

function showBytes(n: number): string {
  if (n >= 1024 * MiB && n % (1024 * MiB) === 0) return `${n / (1024 * MiB)}gb`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB}mb`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}kb`;
  return String(n);
}

function showMs(n: number): string {
  if (n === 0) return '0';
  if (n % 60_000 === 0) return `${n} (${n / 60_000}m)`;
  if (n % 1000 === 0) return `${n} (${n / 1000}s)`;
  return String(n);
}

/** The default of each option, by its path ("limits.maxClients"), as shown in the reference. */
function defaults(): Map<string, unknown> {
  const out = new Map<string, unknown>([
    ['logLevel', DEFAULT_LOG_LEVEL],
    ['logFormat', DEFAULT_LOG_FORMAT],
    ['admin.listen', `${DEFAULT_ADMIN_LISTEN.host}:${DEFAULT_ADMIN_LISTEN.port}`],
    ['admin.readiness', DEFAULT_READINESS],
    ['shutdown.timeoutMs', DEFAULT_SHUTDOWN_TIMEOUT_MS],
  ]);
  const sections: Record<string, object> = { topology: DEFAULT_TOPOLOGY, failover: DEFAULT_FAILOVER, reads: DEFAULT_READS, limits: DEFAULT_LIMITS, links: DEFAULT_LINKS };
  for (const [s, values] of Object.entries(sections)) for (const [k, v] of Object.entries(values)) out.set(`${s}.${k}`, v);
  return out;
}

/** A JSON Schema type in a few words: "duration", "size", "host:port", "`a` \| `b`", ... */
function typeText(js: Json): string {
  if (Array.isArray(js.enum)) return (js.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' | ');
  const any = js.anyOf as Json[] | undefined;
  if (any) {
    const examples = any.flatMap((a) => (a.examples as string[] | undefined) ?? []);
    if (examples.some((e) => /ms$|s$/.test(e)) && any.some((a) => a.type === 'integer')) return 'duration (ms, or `"500ms"`, `"5s"`, `"1m"`)';
    if (examples.some((e) => /mb$/.test(e))) return 'size (bytes, or `"64mb"`, `"1gb"`)';
    if (any.some((a) => a.type === 'object' && (a.properties as Json | undefined)?.host)) return `host:port${any.some((a) => a.const === false) ? ' or `false`' : ''}`;
    if (any[0]?.type === 'boolean') return '`true`, `false` or a mapping';
    if (any[0]?.const === false) return '`false` or a mapping';
    return any.map(typeText).join(' or ');
  }
  if (js.type === 'array') return `list of ${typeText((js.items as Json | undefined) ?? {})}`;
  if (js.type === 'integer') {
    const lo = js.minimum as number | undefined;
    const hi = js.maximum as number | undefined;
    return `integer${lo !== undefined ? ` ≥ ${lo}` : ''}${hi !== undefined && hi < 2147483647 ? `, ≤ ${hi}` : ''}`;
  }
  if (js.type === 'object') return js.additionalProperties && typeof js.additionalProperties === 'object' ? 'mapping of strings' : 'mapping';
  if (js.type === 'string') return 'string';
  if (js.type === 'boolean') return 'boolean';
  return 'any';
}

function defaultText(path: string, js: Json, d: Map<string, unknown>): string {
  if (!d.has(path)) return '—';
  const v = d.get(path);
  const t = typeText(js);
  if (typeof v === 'number' && t.startsWith('size')) return `\`${showBytes(v)}\``;
  if (typeof v === 'number' && t.startsWith('duration')) return `\`${showMs(v)}\``;
  return `\`${String(v)}\``;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

interface Row {
  path: string;
  js: Json;
}

/** The leaves of a JSON Schema object (a TLS section's mapping side; not `groups`). */
function rows(js: Json, prefix: string, out: Row[], stopAt: Set<string>): void {
  const props = (js.properties ?? (js.anyOf as Json[] | undefined)?.find((a) => a.type === 'object')?.properties) as Record<string, Json> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (stopAt.has(path)) continue;
    const inner = v.type === 'object' && v.properties ? v : (v.anyOf as Json[] | undefined)?.find((a) => a.type === 'object' && a.properties);
    if (inner && !(v.anyOf && (v.anyOf as Json[]).some((a) => (a.properties as Json | undefined)?.host))) {
      out.push({ path, js: v });
      rows(inner, path, out, stopAt);
    } else if (v.type === 'array' && (v.items as Json | undefined)?.type === 'object' && (v.items as Json).properties) {
      out.push({ path, js: v });
      rows(v.items as Json, `${path}[]`, out, stopAt);
    } else {
      out.push({ path, js: v });
    }
  }
}

function table(list: Row[], d: Map<string, unknown>, strip = ''): string[] {
  const lines = ['| Option | Type | Default | Description |', '|---|---|---|---|'];
  for (const r of list) {
    const name = strip && r.path.startsWith(strip) ? r.path.slice(strip.length) : r.path;
    const isSection = (r.js.type === 'object' && r.js.properties) || r.js.anyOf !== undefined && typeText(r.js).endsWith('mapping');
    lines.push(`| \`${name}\` | ${cell(isSection ? typeText(r.js) : typeText(r.js))} | ${defaultText(r.path, r.js, d)} | ${cell(String(r.js.description ?? ''))} |`);
  }
  return lines;
}

const INHERITED = ['topology', 'failover', 'reads', 'limits', 'links', 'safety', 'auth', 'sentinelAuth', 'clientAuth', 'tls'];

/** docs/configuration.md. */
export function configurationMarkdown(): string {
  const schema = configJsonSchema();
  const d = defaults();
  const top: Row[] = [];
  rows(schema, '', top, new Set(['groups', ...INHERITED]));
  const groupJs = ((schema.properties as Record<string, Json>).groups!.items as Json);
  const groupOwn: Row[] = [];
  rows(groupJs, '', groupOwn, new Set(INHERITED));
  const inherited: Row[] = [];
  rows({ properties: Object.fromEntries(INHERITED.map((k) => [k, (schema.properties as Record<string, Json>)[k]!])) }, '', inherited, new Set());

  const env = Object.values(ENV_VARS);
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts and src/config/defaults.ts by `npm run docs:config`. Do not edit by hand:',
    '     test/unit/config-reference.test.ts fails when this file is not current. -->',
    '',
    'One YAML file (`--config FILE`, `-c`, or `RSP_CONFIG`) holds one or more **groups** (one per Sentinel master',
    'name, each with its own listen ports) and the options every group inherits. Check a file with',
    '`redis-sentinel-proxy -t --config FILE`; see what is in effect, and where each value came from, with',
    '`--print-config` (docs/cli.md). Editors can validate as you type with the JSON Schema',
    '[`config/proxy.schema.json`](../config/proxy.schema.json) (e.g. `# yaml-language-server: $schema=../config/proxy.schema.json`',
    'at the top of the file).',
    '',
    '```yaml',
    'logLevel: info',
    'limits: { maxClients: 5000 }            # every group inherits this',
    'auth: { username: proxy, passwordFile: /run/secrets/redis-password }',
    'groups:',
    '  - name: mymaster                      # the master name Sentinel knows',
    '    listen: "0.0.0.0:6379"              # where clients connect (writes go to the verified master)',
    '    readListen: "0.0.0.0:6380"          # optional read-only listener (replicas)',
    '    sentinels: ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"]',
    '  - name: sessions',
    '    listen: "0.0.0.0:6390"',
    '    sentinels: ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"]',
    '    reads: { routeReads: replica }      # overrides the default for this group only',
    '```',
    '',
    '## Rules',
    '',
    '- **Validation.** The whole file is checked at start; every problem is listed at once as',
    '  `file:line:col: path: message`, and the proxy exits with status 2 without starting anything. Keys are',
    '  camelCase and strict: an unknown key is an error with a "did you mean". Besides types and ranges: duplicate',
    '  group names, two listeners (or the admin server) on one address (`0.0.0.0`/`::` clash with any host on that',
    '  port; port 0 never clashes), a sentinel listed twice, `outputBufferSoftBytes` above `outputBufferHardBytes`,',
    '  unreadable `passwordFile`s, unset `passwordEnv` variables, unreadable, non-PEM or mismatched TLS files.',
    '  Passwords and key material never appear in a problem or a log line.',
    '- **Durations** are milliseconds (`1500`) or strings with a unit: `"500ms"`, `"5s"`, `"1.5s"`, `"1m"`, `"1h"`.',
    '- **Sizes** are bytes or strings with redis.conf units, case-insensitive: `"1k"` = 1000, `"1kb"` = 1024,',
    '  `"m"`/`"mb"`, `"g"`/`"gb"` likewise.',
    '- **Addresses** are `"host:port"`, `"[ipv6]:port"` or `{host, port}`; a host name may end with a dot',
    '  (a fully qualified name, as Kubernetes writes `svc.cluster.local.`). A listener on port 0 gets a free port.',
    "- **Paths** (`passwordFile`, TLS files) are relative to the config file's directory.",
    '- **Inheritance.** The top-level sections below apply to every group. A group\'s own `topology`, `failover`,',
    '  `reads`, `limits` and `links` are merged key by key over them; a group\'s `auth`, `sentinelAuth`,',
    '  `clientAuth` and each of `tls.listener`/`tls.backend`/`tls.sentinel` replace the inherited one as a whole',
    '  (`tls: { backend: false }` turns an inherited one off).',
    `- **Precedence:** flags > environment (${env.map((e) => `\`${e}\``).join(', ')}) > file > defaults; see docs/cli.md.`,
    '',
    '## Top level',
    '',
    ...table(top, d),
    '',
    '## Groups (`groups[]`)',
    '',
    'Each group also takes every section of the next table, overriding the top level.',
    '',
    ...table(groupOwn, d),
    '',
    '## Inherited by every group, overridable per group',
    '',
    ...table(inherited, d),
    '',
  ].join('\n');
}
