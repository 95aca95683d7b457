// Wiring: one TopologyWatcher and listeners per group, the admin server, signals. Filled in by the
// core work; the signature is what the CLI and the sandbox call.
import type { ProxyConfig } from './config/types.js';
import type { Logger } from './logger.js';

export interface RunningProxy {
  /** Addresses actually bound (port 0 resolved), per group name. */
  listeners: { group: string; kind: 'master' | 'read'; host: string; port: number }[];
  admin?: { host: string; port: number };
  /** Graceful shutdown: stop accepting, drain, close. Resolves when everything is closed. */
  close(): Promise<void>;
}

export async function startProxy(config: ProxyConfig, logger: Logger): Promise<RunningProxy> {
  void config;
  void logger;
  throw new Error('startProxy: not wired yet');
}
