// The admin HTTP server, bound to loopback by default (config.admin.listen):
//   /healthz   200 while the process runs (liveness);
//   /readyz    200 when every group has a verified master, else 503 with the reasons (readiness;
//              admin.readiness "strict" also wants a reachable sentinel);
//   /topology  JSON per group: master, replicas with health and lag, sentinels, sessions per listener;
//   /metrics   Prometheus text format (./metrics.ts);
//   /events    the recent topology and Sentinel events and the last failovers' timelines (./events.ts);
//   /slowlog   the slowest recent commands end to end, held time included (./slowlog.ts);
//   /status    one JSON for the status page: /topology plus failovers, latency, slow commands;
//   /          the status page itself (./status-page.ts), plain HTML polling /status.
// Groups are read through a function: a reload adds and removes them.
import http from 'node:http';
import type net from 'node:net';
import { DEFAULT_READINESS } from '../config/defaults.js';
import type { HostPort, ReadinessMode } from '../config/types.js';
import type { Logger } from '../logger.js';
import { readiness, type GroupView, type ProxyMetrics } from './metrics.js';
import { EVENTS_KEPT, type ObservedEvent } from './events.js';
import { SLOWLOG_MAX_LEN, SLOWLOG_THRESHOLD_MS, slowest } from './slowlog.js';
import { quantileOf } from './latency.js';
import { buildInfo } from '../build-info.js';
import { STATUS_PAGE_HTML } from './status-page.js';

export const ADMIN_ENDPOINTS = ['/', '/healthz', '/readyz', '/topology', '/metrics', '/events', '/slowlog', '/status'] as const;

export class AdminServer {
  private readonly server: http.Server;
  address: HostPort | undefined;

  constructor(
    private readonly groups: () => Iterable<GroupView>,
    private readonly metrics: ProxyMetrics,
    private readonly log: Logger,
    /** True once the proxy is shutting down: /readyz answers 503 so load balancers move away. */
    private readonly closing: () => boolean = () => false,
    /** admin.readiness, read per request (a reload may change it). */
    private readonly readinessMode: () => ReadinessMode = () => DEFAULT_READINESS,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err: err instanceof Error ? err.message : String(err), url: req.url }, 'admin request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    // Scrapers and probes use short requests; do not let idle keep-alive sockets pile up.
    this.server.keepAliveTimeout = 5000;
    this.server.requestTimeout = 10_000;
  }

  listen(at: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      const onErr = (err: Error) => reject(err);
      this.server.once('error', onErr);
      this.server.listen(at.port, at.host, () => {
        this.server.off('error', onErr);
        this.server.on('error', (err) => this.log.error({ err: err.message }, 'admin server error'));
        const a = this.server.address() as net.AddressInfo;
        this.address = { host: a.address, port: a.port };
        this.log.info({ admin: `${a.address}:${a.port}` }, 'admin server listening');
        resolve(this.address);
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const [url, search] = splitUrl(req.url ?? '/');
    const query = new URLSearchParams(search);
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const json = (code: number, body: unknown) => send(code, 'application/json', JSON.stringify(body, null, 2) + '\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      json(405, { error: 'method not allowed' });
      return;
    }
    switch (url) {
      case '/healthz':
        json(200, { status: 'ok' });
        return;
      case '/readyz': {
        if (this.closing()) {
          json(503, { status: 'not ready', problems: [{ group: null, reason: 'shutting down' }] });
          return;
        }
        const problems: { group: string; reason: string }[] = [];
        const warnings: { group: string; warning: string }[] = [];
        for (const g of this.groups()) {
          if (g.draining) continue; // removed from the config: not a readiness concern
          const r = readiness(g.runtime, this.readinessMode());
          if (!r.ready) problems.push({ group: g.runtime.name, reason: r.reason ?? 'not ready' });
          else if (r.warning) warnings.push({ group: g.runtime.name, warning: r.warning });
        }
        const body = problems.length === 0 ? { status: 'ready', ...(warnings.length ? { warnings } : {}) } : { status: 'not ready', problems, ...(warnings.length ? { warnings } : {}) };
        json(problems.length === 0 ? 200 : 503, body);
        return;
      }
      case '/topology':
        json(200, [...this.groups()].map((g) => describeGroup(g, this.readinessMode())));
        return;
      case '/metrics': {
        const { contentType, body } = await this.metrics.render();
        send(200, contentType, body);
        return;
      }
      case '/':
        res.setHeader('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:");
        send(200, 'text/html; charset=utf-8', STATUS_PAGE_HTML);
        return;
      case '/events': {
        const since = intParam(query, 'since', 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(query, 'limit', EVENTS_KEPT, 1, 10_000);
        const groups = this.selected(query);
        json(200, { now: Date.now(), events: mergeEvents(groups, since, limit), failovers: groups.flatMap((g) => g.runtime.observe.events.failoverRecords()) });
        return;
      }
      case '/slowlog': {
        const threshold = numParam(query, 'threshold', SLOWLOG_THRESHOLD_MS, 0, 1e9);
        const limit = intParam(query, 'limit', SLOWLOG_MAX_LEN, 1, 100_000);
        const groups = this.selected(query);
        json(200, {
          recordedFromMs: SLOWLOG_THRESHOLD_MS,
          keptPerGroup: SLOWLOG_MAX_LEN,
          thresholdMs: threshold,
          entries: slowest(groups.map((g) => g.runtime.observe.slowlog), threshold, limit),
        });
        return;
      }
      case '/status':
        json(200, this.status());
        return;
      default:
        json(404, { error: 'not found', endpoints: ADMIN_ENDPOINTS });
    }
  }

  /** The groups a `?group=` parameter asks for (every group without it), serving ones first. */
  private selected(query: URLSearchParams): GroupView[] {
    const want = query.get('group');
    const seen = new Set<string>();
    const out: GroupView[] = [];
    for (const g of this.groups()) {
      if (want !== null && g.runtime.name !== want) continue;
      if (seen.has(g.runtime.name)) continue;
      seen.add(g.runtime.name);
      out.push(g);
    }
    return out;
  }

  /** What the status page shows, in one request. */
  private status(): unknown {
    const groups = this.selected(new URLSearchParams());
    return {
      now: Date.now(),
      build: { ...buildInfo(), node: process.version, platform: `${process.platform}/${process.arch}` },
      uptimeSeconds: Math.round(process.uptime()),
      shuttingDown: this.closing(),
      groups: groups.map((g) => {
        const rt = g.runtime;
        const m = rt.metrics;
        const latency = rt.observe.latency
          .rows()
          .sort((a, b) => b.count - a.count)
          .slice(0, 12)
          .map((r) => ({ command: r.command, count: r.count, p50Ms: ms(quantileOf(r, 0.5)), p99Ms: ms(quantileOf(r, 0.99)) }));
        return {
          ...(describeGroup(g) as Record<string, unknown>),
          masterSince: rt.observe.events.masterSince ?? null,
          counters: {
            commands: m.commands.value,
            held: m.held.value,
            holdTimeouts: m.holdTimeouts.value,
            lostInFlight: m.linkLost.value,
            reissued: m.reissued.value,
            rehomed: m.rehomed.value,
            fences: m.fences.value,
            masterChanges: m.masterChanges.value,
            protocolErrors: m.protocolErrors.value,
            backendConnectErrors: m.backendConnectErrors.value,
          },
          failovers: rt.observe.events.failoverRecords().slice(0, 5),
          latency,
        };
      }),
      events: mergeEvents(groups, 0, 50),
      slowlog: slowest(
        groups.map((g) => g.runtime.observe.slowlog),
        SLOWLOG_THRESHOLD_MS,
        10,
      ),
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** One group as /topology shows it. */
export function describeGroup(g: GroupView, mode: ReadinessMode = DEFAULT_READINESS): unknown {
  const rt = g.runtime;
  const snap = rt.topology.snapshot();
  return {
    group: rt.name,
    state: g.draining ? 'draining' : 'serving',
    ...readinessFields(rt, mode),
    master: snap.master ?? null,
    masterEpoch: snap.masterEpoch,
    configEpoch: snap.configEpoch,
    fenced: snap.fenced,
    fenceReason: snap.fenceReason,
    // The group's own view: also held while there is no master or no sentinel majority.
    holding: rt.blocked ? (rt.blockedReason ?? 'yes') : false,
    replicas: snap.replicas.map((r) => ({ addr: r.addr, healthy: r.healthy, linkUp: r.linkUp, lagMs: r.lagMs ?? null, offset: r.offset, flags: r.flags })),
    sentinels: {
      reachable: snap.reachableSentinels,
      known: snap.knownSentinels,
      list: snap.sentinels.map((s) => ({
        addr: s.addr,
        source: s.source,
        reachable: s.reachable,
        tilt: s.tilt,
        master: s.master ?? null,
        configEpoch: s.configEpoch,
        lastError: s.lastError,
      })),
    },
    sessions: rt.sessions.size,
    listeners: [...g.listenerStats].map(([kind, st]) => {
      const at = g.addresses.get(kind);
      return { kind, listen: at ? `${at.host}:${at.port}` : null, sessions: st.open.size, accepted: st.accepted.value };
    }),
  };
}

function readinessFields(rt: GroupView['runtime'], mode: ReadinessMode): { ready: boolean; notReadyReason?: string; warning?: string } {
  const r = readiness(rt, mode);
  const out: { ready: boolean; notReadyReason?: string; warning?: string } = { ready: r.ready };
  if (r.reason) out.notReadyReason = r.reason;
  if (r.warning) out.warning = r.warning;
  return out;
}

function splitUrl(u: string): [string, string] {
  const q = u.indexOf('?');
  return q < 0 ? [u, ''] : [u.slice(0, q), u.slice(q + 1)];
}

function numParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const v = q.get(name);
  if (v === null || v.trim() === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : dflt;
}

function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  return Math.floor(numParam(q, name, dflt, min, max));
}

/** Events of several groups, oldest first, the newest `limit` of them. */
function mergeEvents(groups: GroupView[], since: number, limit: number): ObservedEvent[] {
  const all = groups.flatMap((g) => g.runtime.observe.events.events(since));
  all.sort((a, b) => a.seq - b.seq);
  return all.length > limit ? all.slice(all.length - limit) : all;
}

const ms = (s: number | undefined): number | null => (s === undefined ? null : Math.round(s * 1e6) / 1e3);
