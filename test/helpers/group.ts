// Test helpers around the sandbox Sentinel group (src/sandbox/group.ts).
import { execFile } from 'node:child_process';
import { startGroup, waitFor, sleep, redisCall, parseInfo, type WaitForOptions } from '../../src/sandbox/group.js';
import type { SandboxGroup, SandboxGroupOptions } from '../../src/sandbox/types.js';

export { waitFor, sleep, redisCall, parseInfo };
export type { WaitForOptions, SandboxGroup, SandboxGroupOptions };
export { freePort, freePorts } from '../../src/sandbox/ports.js';

/** Anything with tap's `teardown` (a `Test` or the root `t`). */
export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

/** Starts a sandbox group that is stopped (every process SIGKILLed, dir removed) when `t` ends. */
export async function withGroup(t: HasTeardown, opts?: SandboxGroupOptions): Promise<SandboxGroup> {
  const group = await startGroup(opts);
  t.teardown(() => group.stop());
  return group;
}

export interface RedisCliOptions {
  timeoutMs?: number;
  password?: string;
  /** Text fed to redis-cli's standard input (e.g. with `-x`, or a list of commands). */
  input?: string;
}

/**
 * Runs the real `redis-cli -h 127.0.0.1 -p PORT ...args` (not a TTY, so replies are printed raw,
 * errors as "ERR ..." on stdout) and resolves with its stdout, unchanged. Killed after
 * `timeoutMs` (default 10 s). Pass an options object as the last argument if needed.
 */
export function redisCli(port: number, ...args: (string | number | RedisCliOptions)[]): Promise<string> {
  let opts: RedisCliOptions = {};
  const last = args[args.length - 1];
  if (last !== undefined && typeof last === 'object') {
    opts = last;
    args = args.slice(0, -1);
  }
  const argv = ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning'];
  if (opts.password !== undefined) argv.push('-a', opts.password);
  argv.push(...args.map(String));
  return new Promise((resolve, reject) => {
    const child = execFile(
      'redis-cli',
      argv,
      { timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`redis-cli ${argv.join(' ')} failed: ${err.message}${stderr ? `\n${stderr}` : ''}`));
          return;
        }
        resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}
