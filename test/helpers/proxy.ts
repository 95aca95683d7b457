// Starts the proxy in-process in front of a sandbox group, on free loopback ports, and stops it on
// teardown. Logs go to a file per proxy (PROXY_LOG=1 prints them) so secrets can be grepped for.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { pino } from 'pino';
import { startProxy, type RunningProxy } from '../../src/proxy.js';
import { defaultProxyConfig, type GroupConfigInput } from '../../src/config/defaults.js';
import type { ProxyConfig, ReadinessMode } from '../../src/config/types.js';
import type { SandboxGroup } from '../../src/sandbox/types.js';
import type { HasTeardown } from './group.js';

export interface TestProxy {
  proxy: RunningProxy;
  port: number;
  readPort?: number;
  adminPort?: number;
  config: ProxyConfig;
  logFile: string;
  /** An ioredis client on the proxy's master listener, closed on teardown. */
  client(opts?: RedisOptions): Redis;
}

export async function withProxy(
  t: HasTeardown & { passing?(): boolean; comment?(msg: string): void },
  group: SandboxGroup,
  over: Partial<GroupConfigInput> & { admin?: boolean; readiness?: ReadinessMode; shutdownMs?: number } = {},
): Promise<TestProxy> {
  const { admin, readiness, shutdownMs, ...groupOver } = over;
  const config = defaultProxyConfig({
    logLevel: 'debug',
    admin: admin ? { listen: { host: '127.0.0.1', port: 0 }, ...(readiness ? { readiness } : {}) } : {},
    shutdown: { timeoutMs: shutdownMs ?? 3000 },
    groups: [
      {
        name: group.masterName,
        listen: { host: '127.0.0.1', port: 0 },
        sentinels: group.sentinelAddrs,
        ...groupOver,
        topology: { pollIntervalMs: 500, connectTimeoutMs: 1000, requireSentinelMajority: false, ...groupOver.topology },
        failover: { holdTimeoutMs: 10_000, holdBytes: 64 * 1024 * 1024, ...groupOver.failover },
      },
    ],
  });
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-log-'));
  const logFile = path.join(logDir, 'proxy.log');
  const dest = pino.destination({ dest: logFile, sync: true });
  const logger = pino({ level: 'debug' }, process.env.PROXY_LOG ? pino.multistream([{ stream: dest }, { stream: process.stderr }]) : dest);
  const proxy = await startProxy(config, logger);
  const clients: Redis[] = [];
  t.teardown(async () => {
    for (const c of clients) c.disconnect();
    await proxy.close();
    // The log stays when the test failed (its path is in TestProxy.logFile), else it goes.
    if (t.passing?.() !== false) fs.rmSync(logDir, { recursive: true, force: true });
    else t.comment?.(`proxy log kept: ${logFile}`);
  });
  const m = proxy.listeners.find((l) => l.kind === 'master')!;
  const r = proxy.listeners.find((l) => l.kind === 'read');
  return {
    proxy,
    port: m.port,
    readPort: r?.port,
    adminPort: proxy.admin?.port,
    config,
    logFile,
    client(opts?: RedisOptions) {
      const c = new Redis({ host: '127.0.0.1', port: m.port, maxRetriesPerRequest: 0, retryStrategy: () => null, ...opts });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
  };
}
