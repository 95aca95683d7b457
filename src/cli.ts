#!/usr/bin/env node
// The `redis-sentinel-proxy` command. The default command loads and validates the configuration
// (file, env, flags), then runs the proxy until SIGTERM/SIGINT; SIGHUP reloads the configuration.
// `sandbox` starts a local Sentinel group with a proxy in front of it.
//
// Exit codes: 0 clean stop (or --check-config OK), 1 runtime failure, 2 bad configuration or usage.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { describeConfig, ENV_VARS, loadConfig, type CliFlags } from './config/load.js';
import type { ProxyConfig } from './config/types.js';
import { tuneHeap, type HeapTuning } from './heap-tuning.js';
import { createLogger, type Logger } from './logger.js';
import type { RunningProxy } from './proxy.js';

/** A RunningProxy that may support reloading (the method is optional: older builds lack it). */
type MaybeReloadable = RunningProxy & { reload?: (config: ProxyConfig) => unknown };

let logger: Logger | undefined;
/** Set once at start-up, before any traffic (see heap-tuning.ts). */
let heapTuning: HeapTuning | undefined;

function errText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** Logs and exits 1: nothing may take the process down silently. */
function crash(what: string, err: unknown): never {
  try {
    if (logger) logger.fatal({ err }, what);
    else process.stderr.write(`redis-sentinel-proxy: ${what}: ${errText(err)}\n`);
  } catch {
    process.stderr.write(`redis-sentinel-proxy: ${what}\n`);
  }
  process.exit(1);
}

process.on('uncaughtException', (err) => crash('uncaught exception', err));
process.on('unhandledRejection', (reason) => crash('unhandled promise rejection', reason));

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'redis-sentinel-proxy' && pkg.version) return pkg.version;
    } catch {
      // keep looking upward
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

function printProblems(problems: string[]): void {
  const n = problems.length;
  process.stderr.write(`config: ${n} problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p}\n`).join('')}`);
}

type RunArgs = CliFlags & { checkConfig?: boolean };

async function run(argv: RunArgs): Promise<void> {
  const load = () => loadConfig({ argv, env: process.env });
  const first = load();
  if (!first.ok) {
    printProblems(first.problems);
    process.exitCode = 2;
    return;
  }
  let config = first.config;
  if (argv.checkConfig) {
    const n = config.groups.length;
    process.stdout.write(`config OK: ${n} group${n === 1 ? '' : 's'}\n${describeConfig(config).map((l) => `  ${l}\n`).join('')}`);
    process.exitCode = 0;
    return;
  }

  const log = createLogger(config.logLevel, config.logFormat);
  logger = log;
  const { startProxy } = await import('./proxy.js');

  let proxy: MaybeReloadable | undefined;
  let stopping = false;

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, timeoutMs: config.shutdown.timeoutMs }, 'shutting down: draining sessions');
    if (!proxy) return; // still starting: closed as soon as startProxy resolves
    // The proxy bounds its own drain by shutdown.timeoutMs; this is only a backstop.
    const backstop = setTimeout(() => {
      log.error({ timeoutMs: config.shutdown.timeoutMs }, 'shutdown did not finish in time: exiting');
      process.exit(1);
    }, config.shutdown.timeoutMs + 5000);
    backstop.unref();
    try {
      await proxy.close();
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'error while shutting down');
      process.exit(1);
    }
  };

  let reloading: Promise<void> = Promise.resolve();
  const reload = async (): Promise<void> => {
    if (!proxy || stopping) {
      log.warn('SIGHUP ignored: the proxy is not running');
      return;
    }
    const next = load();
    if (!next.ok) {
      log.error({ problems: next.problems }, `reload: the configuration has ${next.problems.length} problem(s); keeping the running configuration`);
      proxy.metrics?.reloaded('invalid'); // rsp_config_reloads_total{result="invalid"}, rsp_config_last_reload_successful 0
      return;
    }
    if (typeof proxy.reload !== 'function') {
      log.warn('reload: this build cannot apply a new configuration without a restart; restart to apply it');
      return;
    }
    try {
      const result = await proxy.reload(next.config);
      config = next.config;
      log.level = config.logLevel;
      log.info(result === undefined ? {} : { result }, 'configuration reloaded');
    } catch (err) {
      log.error({ err }, 'reload failed; keeping the running configuration');
    }
  };

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the configuration');
    reloading = reloading.then(reload, reload);
  });

  log.info({ version: packageVersion(), groups: describeConfig(config), heap: heapTuning }, 'starting');
  try {
    proxy = await startProxy(config, log);
  } catch (err) {
    crash('failed to start', err);
  }
  log.info({ listeners: proxy.listeners, admin: proxy.admin }, 'started');
  if (stopping) {
    stopping = false;
    await shutdown('SIGTERM');
  }
}

interface SandboxArgs {
  listenPort?: number;
  readListenPort?: number;
  adminPort?: number;
  logLevel?: string;
  replicas?: number;
}

async function sandbox(argv: SandboxArgs): Promise<void> {
  const opts: SandboxArgs = {};
  for (const k of ['listenPort', 'readListenPort', 'adminPort', 'logLevel', 'replicas'] as const) {
    if (argv[k] !== undefined) (opts as Record<string, unknown>)[k] = argv[k];
  }
  try {
    const { runSandbox } = await import('./sandbox/run.js');
    await runSandbox(opts);
  } catch (err) {
    crash('sandbox failed', err);
  }
}

const envHelp = Object.values(ENV_VARS).join(', ');

async function main(): Promise<void> {
  heapTuning = tuneHeap();
  const width = Math.min(110, process.stdout.columns || 100);
  await yargs(hideBin(process.argv))
    .scriptName('redis-sentinel-proxy')
    .usage('$0 [options]\n\nA RESP-aware proxy in front of a Redis Sentinel group: one static address, writes to the verified master.')
    .command(
      '$0',
      'run the proxy (default)',
      (y) =>
        y
          .option('config', { alias: 'c', type: 'string', describe: 'YAML config file (env RSP_CONFIG)', requiresArg: true })
          .option('sentinel', { type: 'string', array: true, describe: 'sentinel host:port; repeat or comma-separate (one-group setups)', requiresArg: true })
          .option('master-name', { type: 'string', describe: 'master name known to Sentinel (one-group setups)', requiresArg: true })
          .option('listen', { type: 'string', describe: 'host:port clients connect to (one-group setups)', requiresArg: true })
          .option('read-listen', { type: 'string', describe: 'host:port of the read-only (replica) listener', requiresArg: true })
          .option('username', { type: 'string', describe: 'backend ACL username', requiresArg: true })
          .option('password', { type: 'string', describe: 'backend password (prefer RSP_PASSWORD or passwordFile: flags show in ps)', requiresArg: true })
          .option('sentinel-username', { type: 'string', describe: 'sentinel ACL username', requiresArg: true })
          .option('sentinel-password', { type: 'string', describe: 'sentinel password (prefer RSP_SENTINEL_PASSWORD)', requiresArg: true })
          .option('admin', { type: 'string', describe: 'admin HTTP host:port (metrics, /healthz, /readyz); --no-admin disables' })
          .option('log-level', { type: 'string', describe: 'fatal|error|warn|info|debug|trace|silent', requiresArg: true })
          .option('log-format', { type: 'string', describe: 'json|pretty', requiresArg: true })
          .option('check-config', { type: 'boolean', describe: 'validate the configuration, print a summary, exit (0 OK, 2 problems)' })
          .group(['config', 'check-config'], 'Configuration:')
          .group(['sentinel', 'master-name', 'listen', 'read-listen'], 'One group without a file:')
          .group(['username', 'password', 'sentinel-username', 'sentinel-password'], 'Credentials:')
          .group(['admin', 'log-level', 'log-format'], 'Operations:')
          .epilog(
            `Precedence: flags > environment > config file > defaults.\nEnvironment: ${envHelp}.\n` +
              'Signals: SIGTERM/SIGINT drain and stop (a second one exits at once); SIGHUP reloads the configuration.\n' +
              'Exit codes: 0 stopped cleanly or config OK, 1 runtime failure, 2 configuration or usage problem.',
          ),
      (argv) => run(argv as RunArgs),
    )
    .command(
      'sandbox',
      'start a local Sentinel group (1 master, replicas, 3 sentinels) and the proxy in front of it',
      (y) =>
        y
          .option('listen-port', { type: 'number', describe: 'proxy master listener port', requiresArg: true })
          .option('read-listen-port', { type: 'number', describe: 'proxy read-only listener port', requiresArg: true })
          .option('admin-port', { type: 'number', describe: 'admin HTTP port', requiresArg: true })
          .option('replicas', { type: 'number', describe: 'number of replicas', requiresArg: true })
          .option('log-level', { type: 'string', describe: 'proxy log level', requiresArg: true }),
      (argv) => sandbox(argv as SandboxArgs),
    )
    .strict()
    .version(packageVersion())
    .help()
    .alias('h', 'help')
    .alias('v', 'version')
    .wrap(width)
    .fail((msg, err) => {
      if (err) crash('error', err);
      process.stderr.write(`redis-sentinel-proxy: ${msg}\nRun with --help for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}

main().catch((err: unknown) => crash('error', err));
