#!/usr/bin/env node
// The `redis-sentinel-proxy` command. The default command loads and validates the configuration
// (file, env, flags), then runs the proxy until SIGTERM/SIGINT; SIGHUP reloads the configuration.
// `sandbox` starts a local Sentinel group with a proxy in front of it.
//
// Exit codes: 0 clean stop (or --check-config OK), 1 runtime failure, 2 bad configuration or usage.
// A usage error is one line on stderr, never a stack trace (docs/cli.md).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { buildInfo, versionLine } from './build-info.js';
import { effectiveConfigLines } from './config/effective.js';
import { describeConfig, ENV_VARS, flagProblems, loadConfig, type CliFlags } from './config/load.js';
import type { ProxyConfig } from './config/types.js';
import { listenerWarnings } from './security.js';
import { tuneHeap, type HeapTuning } from './heap-tuning.js';
import { createLogger, type Logger } from './logger.js';
import type { RunningProxy } from './proxy.js';
import type { SandboxFlags } from './sandbox/run.js';

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

/** A usage error: one line, exit 2. */
function usageError(message: string): never {
  process.stderr.write(`redis-sentinel-proxy: ${message} (run with --help for usage)\n`);
  process.exit(2);
}

/** yargs's own wording, in ours: "Not enough arguments following: config" -> "--config: expected a value". */
function usageText(msg: string): string {
  const missing = /^Not enough arguments following: (.+)$/.exec(msg);
  if (missing) return `--${missing[1]}: expected a value`;
  return msg;
}

function printProblems(problems: string[]): void {
  const n = problems.length;
  process.stderr.write(`config: ${n} problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p}\n`).join('')}`);
}

type RunArgs = CliFlags & { checkConfig?: boolean; printConfig?: boolean };

function printWarnings(lines: string[]): void {
  for (const w of lines) process.stderr.write(`warning: ${w}\n`);
}

async function run(argv: RunArgs): Promise<void> {
  if (Array.isArray(argv.config)) usageError('--config: given more than once (one file holds the whole configuration)');
  const usage = flagProblems(argv);
  if (usage.length) {
    for (const p of usage.slice(0, -1)) process.stderr.write(`redis-sentinel-proxy: ${p}\n`);
    usageError(usage[usage.length - 1]!);
  }
  const load = () => loadConfig({ argv, env: process.env });
  const first = load();
  if (!first.ok) {
    printWarnings(first.warnings);
    printProblems(first.problems);
    process.exitCode = 2;
    return;
  }
  let config = first.config;
  if (argv.checkConfig || argv.printConfig) {
    if (argv.printConfig) process.stdout.write(effectiveConfigLines(config, first.origins).map((l) => `${l}\n`).join(''));
    if (argv.checkConfig) {
      const n = config.groups.length;
      process.stdout.write(`config OK: ${n} group${n === 1 ? '' : 's'}\n${describeConfig(config).map((l) => `  ${l}\n`).join('')}`);
    }
    // What the start would log at warn: unknown RSP_* variables, exposed listeners.
    printWarnings([...first.warnings, ...listenerWarnings(config)]);
    process.exitCode = 0;
    return;
  }

  const log = createLogger(config.logLevel, config.logFormat);
  logger = log;
  for (const w of first.warnings) log.warn(w);
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

  log.info({ version: buildInfo().version, build: versionLine(), groups: describeConfig(config), heap: heapTuning }, 'starting');
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

async function sandbox(argv: SandboxFlags): Promise<void> {
  const { parseSandboxFlags, runSandbox } = await import('./sandbox/run.js');
  // Checked before any Redis process starts.
  const parsed = parseSandboxFlags(argv);
  if (!parsed.ok) {
    for (const p of parsed.problems.slice(0, -1)) process.stderr.write(`redis-sentinel-proxy sandbox: ${p}\n`);
    usageError(parsed.problems[parsed.problems.length - 1]!);
  }
  try {
    await runSandbox(parsed.options);
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
          .option('check-config', {
            alias: 't',
            type: 'boolean',
            describe: 'validate the configuration, print a summary and the security warnings the start would log, exit (0 OK, 2 problems)',
          })
          .option('print-config', {
            type: 'boolean',
            describe: 'print the effective configuration (secrets redacted) and where each value came from (default, file:line, env, flag), exit',
          })
          .group(['config', 'check-config', 'print-config'], 'Configuration:')
          .group(['sentinel', 'master-name', 'listen', 'read-listen'], 'One group without a file:')
          .group(['username', 'password', 'sentinel-username', 'sentinel-password'], 'Credentials:')
          .group(['admin', 'log-level', 'log-format'], 'Operations:')
          .epilog(
            `Precedence: flags > environment > config file > defaults.\nEnvironment: ${envHelp}.\n` +
              'Signals: SIGTERM/SIGINT drain and stop (a second one exits at once); SIGHUP reloads the configuration.\n' +
              'Exit codes: 0 stopped cleanly or config OK, 1 runtime failure, 2 configuration or usage problem.\n' +
              'Unknown RSP_* variables are warned about. Reference: docs/cli.md, docs/configuration.md.',
          ),
      (argv) => run(argv as RunArgs),
    )
    .command(
      'sandbox',
      'start a local Sentinel group (1 master, replicas, 3 sentinels) and the proxy in front of it',
      (y) =>
        y
          // Strings, checked by parseSandboxFlags (yargs turns "abc" into NaN without a word).
          .option('listen-port', { type: 'string', describe: 'proxy master listener port (default 6380 or a free one)', requiresArg: true })
          .option('read-listen-port', { type: 'string', describe: 'proxy read-only listener port', requiresArg: true })
          .option('admin-port', { type: 'string', describe: 'admin HTTP port (default 9121 or a free one)', requiresArg: true })
          .option('replicas', { type: 'string', describe: 'number of replicas, 0..16 (default 2)', requiresArg: true })
          .option('log-level', { type: 'string', describe: 'proxy log level', requiresArg: true }),
      (argv) => sandbox(argv as SandboxFlags),
    )
    .strict()
    .version(versionLine())
    .help()
    .alias('h', 'help')
    .alias('v', 'version')
    .wrap(width)
    .fail((msg: string | null, err: Error | undefined) => {
      // yargs reports its own validation (a flag without its value, an unknown flag) as a YError.
      if (err && err.name !== 'YError') crash('error', err);
      usageError(usageText(msg ?? err?.message ?? 'usage error'));
    })
    .parseAsync();
}

main().catch((err: unknown) => crash('error', err));
