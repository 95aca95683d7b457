// The admin HTTP server (loopback by default): /healthz, /readyz, /topology.
import http from 'node:http';
import type net from 'node:net';
import type { HostPort } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { GroupRuntime } from '../group.js';

export class AdminServer {
  private readonly server: http.Server;
  address: HostPort | undefined;

  constructor(
    private readonly groups: GroupRuntime[],
    private readonly log: Logger,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  listen(at: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(at.port, at.host, () => {
        const a = this.server.address() as net.AddressInfo;
        this.address = { host: a.address, port: a.port };
        this.log.info({ admin: `${a.address}:${a.port}` }, 'admin server listening');
        resolve(this.address);
      });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    switch (url) {
      case '/healthz':
        json(200, { status: 'ok' });
        return;
      case '/readyz': {
        const problems = this.groups.flatMap((g) => {
          const snap = g.topology.snapshot();
          return snap.ready && g.master ? [] : [{ group: g.name, reason: snap.notReadyReason ?? 'no verified master' }];
        });
        json(problems.length === 0 ? 200 : 503, problems.length === 0 ? { status: 'ready' } : { status: 'not ready', problems });
        return;
      }
      case '/topology':
        json(
          200,
          this.groups.map((g) => {
            const snap = g.topology.snapshot();
            return {
              group: g.name,
              master: snap.master,
              masterEpoch: snap.masterEpoch,
              fenced: snap.fenced,
              fenceReason: snap.fenceReason,
              ready: snap.ready,
              notReadyReason: snap.notReadyReason,
              replicas: snap.replicas,
              sentinels: snap.sentinels.map((s) => ({ addr: s.addr, source: s.source, reachable: s.reachable, tilt: s.tilt, master: s.master, configEpoch: s.configEpoch })),
              sessions: g.sessions.size,
            };
          }),
        );
        return;
      default:
        json(404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/topology'] });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }
}
