// Wiring: per group a TopologyWatcher, a GroupRuntime and its listeners; the admin server;
// graceful close. The CLI and the sandbox call `startProxy`.
import type { ProxyConfig } from './config/types.js';
import type { Logger } from './logger.js';
import { CommandTable } from './commands/table.js';
import { TopologyWatcher } from './topology/watcher.js';
import { GroupRuntime } from './group.js';
import { Listener } from './listener.js';
import { AdminServer } from './admin/server.js';

export interface RunningProxy {
  /** Addresses actually bound (port 0 resolved), per group name. */
  listeners: { group: string; kind: 'master' | 'read'; host: string; port: number }[];
  admin?: { host: string; port: number };
  groups: GroupRuntime[];
  /** Graceful shutdown: stop accepting, drain, close. Resolves when everything is closed. */
  close(): Promise<void>;
}

export async function startProxy(config: ProxyConfig, logger: Logger): Promise<RunningProxy> {
  const table = CommandTable.packaged();
  const groups: GroupRuntime[] = [];
  const listeners: Listener[] = [];
  const bound: RunningProxy['listeners'] = [];
  let admin: AdminServer | undefined;
  const cleanup = async () => {
    await Promise.allSettled(listeners.map((l) => l.stop()));
    await Promise.allSettled(groups.map((g) => g.close()));
    await admin?.close();
  };
  try {
    for (const gc of config.groups) {
      const log = logger.child({ group: gc.name });
      const watcher = new TopologyWatcher(gc, log);
      const group = new GroupRuntime(gc, watcher, log);
      groups.push(group);
      // Listen first: clients that connect before the master is verified are held, not refused.
      const l = new Listener('master', group, table, log);
      listeners.push(l);
      const a = await l.listen(gc.listen);
      bound.push({ group: gc.name, kind: 'master', host: a.host, port: a.port });
      await watcher.start();
    }
    if (config.admin.listen) {
      admin = new AdminServer(groups, logger);
      await admin.listen(config.admin.listen);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info('shutting down: no new connections, draining sessions');
      const stops = listeners.map((l) => l.stop());
      for (const g of groups) g.drainSessions();
      const deadline = Date.now() + config.shutdown.timeoutMs;
      while (Date.now() < deadline && groups.some((g) => g.sessions.size > 0)) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const left = groups.reduce((n, g) => n + g.sessions.size, 0);
      if (left > 0) logger.warn({ sessions: left }, 'shutdown timeout: closing remaining sessions');
      await Promise.allSettled(stops);
      await Promise.allSettled(groups.map((g) => g.close()));
      await admin?.close();
      logger.info('shut down');
    })();
    return closing;
  };

  return {
    listeners: bound,
    admin: admin?.address,
    groups,
    close,
  };
}
