// `redis-sentinel-proxy sandbox` (`npm run sandbox`): a throw-away Sentinel group on loopback
// (1 master, 2 replicas, 3 sentinels) with the proxy in front of it, for trying failovers by hand.
// Ctrl-C (SIGINT) or SIGTERM: the proxy drains and closes first, then every Redis process is killed
// and the temporary directory removed. A second signal kills everything at once.
import { defaultProxyConfig } from '../config/defaults.js';
import type { LogLevel, ProxyConfig } from '../config/types.js';
import { createLogger } from '../logger.js';
import { startProxy, type RunningProxy } from '../proxy.js';
import { killAllSandboxProcesses, leaveSignalsToCaller, startGroup } from './group.js';
import { preferPort } from './ports.js';
import type { SandboxGroup } from './types.js';

export interface RunSandboxOptions {
  /** Proxy master listener (default 6380, or a free port when 6380 is taken). */
  listenPort?: number;
  /** Read-only listener (default the next port after the master listener, or a free one). */
  readListenPort?: number;
  /** Admin HTTP port (default 9121, or a free one). */
  adminPort?: number;
  logLevel?: string;
  replicas?: number;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const HOST = '127.0.0.1';

/** The sandbox's command-line options as typed (strings), before anything starts. */
export interface SandboxFlags {
  listenPort?: unknown;
  readListenPort?: unknown;
  adminPort?: unknown;
  logLevel?: unknown;
  replicas?: unknown;
}

const FLAG_NAMES: Record<keyof SandboxFlags, string> = {
  listenPort: '--listen-port',
  readListenPort: '--read-listen-port',
  adminPort: '--admin-port',
  logLevel: '--log-level',
  replicas: '--replicas',
};

/**
 * Checks the sandbox options before any Redis process starts: the problems (one line each, named
 * by their flag) or the options to run with.
 */
export function parseSandboxFlags(flags: SandboxFlags): { ok: true; options: RunSandboxOptions } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const options: RunSandboxOptions = {};
  const whole = (k: keyof SandboxFlags, min: number, max: number, what: string): number | undefined => {
    const v = flags[k];
    if (v === undefined) return undefined;
    const s = Array.isArray(v) ? v[v.length - 1] : v;
    const text = String(s).trim();
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      problems.push(`${FLAG_NAMES[k]}: expected ${what} from ${min} to ${max}, got ${JSON.stringify(String(s))}`);
      return undefined;
    }
    return Number(text);
  };
  const port = (k: 'listenPort' | 'readListenPort' | 'adminPort') => {
    const n = whole(k, 0, 65535, 'a port number');
    if (n !== undefined) options[k] = n;
  };
  port('listenPort');
  port('readListenPort');
  port('adminPort');
  const replicas = whole('replicas', 0, 16, 'a number of replicas');
  if (replicas !== undefined) options.replicas = replicas;
  if (flags.logLevel !== undefined) {
    const l = String(flags.logLevel).trim().toLowerCase();
    if ((LOG_LEVELS as readonly string[]).includes(l)) options.logLevel = l;
    else problems.push(`${FLAG_NAMES.logLevel}: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(String(flags.logLevel))}`);
  }
  return problems.length ? { ok: false, problems } : { ok: true, options };
}

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** An explicitly requested port is used as given (the proxy reports it if taken); a default one
 * falls back to a free port. */
async function choosePort(requested: number | undefined, fallback: number): Promise<number> {
  if (requested !== undefined) return requested;
  return preferPort(fallback, HOST);
}

function banner(group: SandboxGroup, proxy: RunningProxy, config: ProxyConfig): void {
  const master = proxy.listeners.find((l) => l.kind === 'master');
  const read = proxy.listeners.find((l) => l.kind === 'read');
  const name = group.masterName;
  const [m, ...replicas] = group.nodes;
  const s0 = group.sentinels[0]!;
  const masterPort = master?.port ?? config.groups[0]!.listen.port;
  const readPort = read?.port ?? config.groups[0]!.readListen?.port;
  const admin = proxy.admin ?? config.admin.listen;
  out('');
  out(`Sandbox Sentinel group "${name}" (temporary directory ${group.dir})`);
  out(`  master     ${m!.addr}  pid ${m!.pid ?? '?'}`);
  for (const r of replicas) out(`  replica    ${r.addr}  pid ${r.pid ?? '?'}`);
  out(`  sentinels  ${group.sentinels.map((s) => s.port).join(', ')} on ${HOST}`);
  out('');
  out('Proxy in front of it:');
  out(`  connect:    redis-cli -p ${masterPort}`);
  if (readPort !== undefined) out(`  read-only:  redis-cli -p ${readPort}    (replicas; writes get -READONLY)`);
  if (admin) out(`  status:     http://${admin.host}:${admin.port}/  (live status page; also /topology /events /slowlog /healthz /readyz /metrics)`);
  out('');
  out('Try a failover while a client runs, e.g. `redis-benchmark -p ' + masterPort + ' -t incr -l`:');
  out(`  planned:    redis-cli -p ${s0.port} SENTINEL FAILOVER ${name}`);
  out(`  crash:      kill -9 ${m!.pid ?? '<pid>'}    (the current master; Sentinel fails over ~1 s later)`);
  out('  crash whichever node is master now:');
  out(
    `              kill -9 $(redis-cli -p $(redis-cli -p ${s0.port} SENTINEL GET-MASTER-ADDR-BY-NAME ${name} | tail -1) ` +
      `INFO server | tr -d '\\r' | sed -n 's/^process_id://p')`,
  );
  out(`  hang it:    redis-cli -p <master port> DEBUG SLEEP 5`);
  out(`  who is master: redis-cli -p ${s0.port} SENTINEL GET-MASTER-ADDR-BY-NAME ${name}`);
  out('');
  out('Ctrl-C stops the proxy, then every Redis process, and removes the temporary directory.');
  out('');
}

export async function runSandbox(opts: RunSandboxOptions = {}): Promise<void> {
  const level: LogLevel = LOG_LEVELS.includes(opts.logLevel as LogLevel) ? (opts.logLevel as LogLevel) : 'info';
  if (opts.logLevel !== undefined && level !== opts.logLevel) {
    throw new Error(`sandbox: unknown log level ${JSON.stringify(opts.logLevel)} (expected one of ${LOG_LEVELS.join(', ')})`);
  }
  const replicas = opts.replicas ?? 2;
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 16) throw new Error('sandbox: --replicas must be an integer from 0 to 16');

  // We stop things in order (proxy first), so the group module must not kill the nodes on a signal.
  leaveSignalsToCaller(true);

  let signalled: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const stopRequested = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      // Second signal: no more waiting.
      process.stderr.write(`\n${sig} again: killing everything now\n`);
      killAllSandboxProcesses();
      process.exit(130);
    }
    signalled = sig;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Keeps the process alive until asked to stop, whatever the proxy does with its handles.
  const keepAlive = setInterval(() => undefined, 60_000);

  let group: SandboxGroup | undefined;
  let proxy: RunningProxy | undefined;
  let shutdownMs = 10_000;
  try {
    out(`Starting a Sentinel group: 1 master, ${replicas} replica(s), 3 sentinels ...`);
    group = await startGroup({
      replicas,
      sentinels: 3,
      redisArgs: ['--enable-debug-command', 'local'],
      verbose: level === 'debug' || level === 'trace',
    });
    if (signalled) return;

    const listenPort = await choosePort(opts.listenPort, 6380);
    const readListenPort = await choosePort(opts.readListenPort, listenPort + 1);
    const adminPort = await choosePort(opts.adminPort, 9121);
    const config = defaultProxyConfig({
      logLevel: level,
      logFormat: process.stdout.isTTY ? 'pretty' : 'json',
      admin: { listen: { host: HOST, port: adminPort } },
      groups: [
        {
          name: group.masterName,
          listen: { host: HOST, port: listenPort },
          readListen: { host: HOST, port: readListenPort },
          sentinels: group.sentinelAddrs,
        },
      ],
    });
    shutdownMs = config.shutdown.timeoutMs;
    const logger = createLogger(config.logLevel, config.logFormat);
    proxy = await startProxy(config, logger);
    banner(group, proxy, config);

    await stopRequested;
    out(`\n${signalled ?? 'stop'}: stopping the proxy ...`);
  } finally {
    try {
      if (proxy) {
        const p = proxy;
        const timeoutMs = shutdownMs + 2000;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          p.close().catch((err: unknown) => {
            process.stderr.write(`proxy close failed: ${err instanceof Error ? err.message : String(err)}\n`);
          }),
          new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              process.stderr.write(`proxy did not close within ${timeoutMs} ms; stopping the group anyway\n`);
              resolve();
            }, timeoutMs);
          }),
        ]);
        clearTimeout(timer);
      }
      if (group) {
        out('Stopping the Redis processes and removing ' + group.dir);
        await group.stop();
      }
    } finally {
      clearInterval(keepAlive);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      leaveSignalsToCaller(false);
    }
  }
  out('Sandbox stopped.');
}
