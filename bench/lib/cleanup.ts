// Every process the benchmark starts (the proxy, redis-benchmark) goes away with it:
//  - on normal exit and on SIGINT/SIGTERM/SIGHUP (Ctrl-C) they are SIGKILLed, the sandbox group is
//    stopped (its own killAllSandboxProcesses), then the benchmark exits;
//  - a small detached watchdog (`sh`) kills them if the benchmark itself is SIGKILLed.
// The sandbox group has its own watchdog for the Redis processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAllSandboxProcesses, leaveSignalsToCaller } from '../../src/sandbox/group.js';

const children = new Set<ChildProcess>();
const registry = path.join(os.tmpdir(), `rsp-bench-children-${process.pid}.txt`);
let installed = false;
let watchdog: ChildProcess | undefined;
const atSignal: (() => void)[] = [];

const WATCHDOG = `
parent="$1"; reg="$2"
trap '' INT TERM HUP
while kill -0 "$parent" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$parent/status"; do sleep 0.5; done
if [ -f "$reg" ]; then
  while read -r pid; do [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; done < "$reg"
  rm -f "$reg"
fi
`;

function writeRegistry(): void {
  try {
    writeFileSync(registry, [...children].map((c) => c.pid).filter((p) => p !== undefined).join('\n') + '\n');
  } catch {
    /* best effort */
  }
}

export function killChildren(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
  try {
    rmSync(registry, { force: true });
  } catch {
    /* best effort */
  }
}

/** Runs (synchronously) at SIGINT/SIGTERM before everything is killed, e.g. to print a note. */
export function onInterrupt(fn: () => void): void {
  atSignal.push(fn);
}

export function installCleanup(): void {
  if (installed) return;
  installed = true;
  // The group would kill its processes and re-raise the signal itself; we kill ours first.
  leaveSignalsToCaller(true);
  process.on('exit', () => {
    killChildren();
    killAllSandboxProcesses();
    if (watchdog) {
      try {
        watchdog.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      for (const fn of atSignal) {
        try {
          fn();
        } catch {
          /* keep cleaning up */
        }
      }
      process.stderr.write(`\n${sig}: stopping the proxy, redis-benchmark and the sandbox group\n`);
      killChildren();
      killAllSandboxProcesses();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  try {
    writeRegistry();
    const wd = spawn('/bin/sh', ['-c', WATCHDOG, 'rsp-bench-watchdog', String(process.pid), registry], { detached: true, stdio: 'ignore' });
    wd.on('error', () => {
      /* the exit/signal handlers remain */
    });
    wd.unref();
    watchdog = wd;
  } catch {
    watchdog = undefined;
  }
}

/** Registers a child so it is killed with the benchmark; unregistered when it exits. */
export function track(child: ChildProcess): void {
  installCleanup();
  children.add(child);
  writeRegistry();
  child.once('exit', () => {
    if (children.delete(child)) writeRegistry();
  });
}
