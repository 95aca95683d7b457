// Where commands landed, read from each node's own INFO commandstats (not from the proxy).
import { Redis } from 'ioredis';
import type { SandboxGroup } from '../../src/sandbox/types.js';

/** `cmdstat_<name>:calls=N` of one node, by command name; {} when the node does not answer. */
export async function commandCalls(addr: string): Promise<Record<string, number>> {
  const sep = addr.lastIndexOf(':');
  const c = new Redis({ host: addr.slice(0, sep), port: Number(addr.slice(sep + 1)), maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  c.on('error', () => {});
  try {
    const info = await c.info('commandstats');
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
    return out;
  } catch {
    return {};
  } finally {
    c.disconnect();
  }
}

/** GET calls per node address of the group's redis nodes. */
export async function getCalls(group: SandboxGroup): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(group.nodes.map(async (n) => (out[n.addr] = (await commandCalls(n.addr))['get'] ?? 0)));
  return out;
}
