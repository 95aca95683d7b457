// The admin HTTP server, bound to loopback by default (config.admin.listen):
//   /healthz   200 while the process runs (liveness);
//   /readyz    200 when every group has a verified master, else 503 with the reasons (readiness;
//              admin.readiness "strict" also wants a reachable sentinel);
//   /topology  JSON per group: master, replicas with health and lag, sentinels, sessions per listener;
//   /metrics   Prometheus text format (./metrics.ts).
// Groups are read through a function: a reload adds and removes them.
import http from 'node:http';
import type net from 'node:net';
import { DEFAULT_READINESS } from '../config/defaults.js';
import type { HostPort, ReadinessMode } from '../config/types.js';
import type { Logger } from '../logger.js';
import { readiness, type GroupView, type ProxyMetrics } from './metrics.js';

export const ADMIN_ENDPOINTS = ['/healthz', '/readyz', '/topology', '/metrics'] as const;

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
    const url = (req.url ?? '/').split('?')[0];
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
      default:
        json(404, { error: 'not found', endpoints: ADMIN_ENDPOINTS });
    }
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
