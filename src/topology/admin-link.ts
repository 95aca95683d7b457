// Admin links to the group's Redis nodes (ROLE, INFO replication), with the group's backend
// credentials: how the watcher (./watcher.ts) verifies the master and reads each replica's own
// view, and the parser of INFO replication's replica lines.
import { Redis } from 'ioredis';
import type { GroupConfig } from '../config/types.js';
import { nodeLinkOptions, parseInfo, waitReady, withTimeout } from './sentinel-link.js';
import type { Addr } from './types.js';

/** An admin link to a Redis node (ROLE, INFO replication), with the group's backend credentials. */
export class AdminLink {
  readonly conn: Redis;
  private inflight = false;
  private lastError?: string;
  constructor(
    readonly addr: Addr,
    group: GroupConfig,
  ) {
    this.conn = new Redis(nodeLinkOptions(addr, group, 'sentinel-proxy-admin'));
    this.conn.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    this.conn.on('ready', () => {
      this.lastError = undefined;
    });
    this.conn.connect().catch(() => undefined);
  }

  /** ROLE and INFO replication, bounded; one request at a time per node. */
  async probe(timeoutMs: number): Promise<{ role: unknown[]; info?: Record<string, string> }> {
    if (this.inflight) throw new Error('previous request still unanswered');
    // A node whose last connection attempt failed (refused: a killed master) answers nothing: fail
    // now rather than wait out the connect timeout, which would hold up the refresh that a
    // +switch-master asks for (measured: the switch landed ~750 ms after Sentinel's).
    if (this.conn.status !== 'ready' && this.lastError !== undefined) throw new Error(`not connected: ${this.lastError}`);
    this.inflight = true;
    const work = (async () => {
      await waitReady(this.conn, timeoutMs);
      const [role, info] = await Promise.all([
        this.conn.call('ROLE'),
        this.conn.call('INFO', 'replication').then(
          (r) => parseInfo(String(r)),
          () => undefined,
        ),
      ]);
      if (!Array.isArray(role)) throw new Error('unexpected ROLE reply');
      return { role: role as unknown[], info };
    })();
    work.then(
      () => (this.inflight = false),
      () => (this.inflight = false),
    );
    return withTimeout(work, timeoutMs, `ROLE ${this.addr}`).catch((err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(this.lastError && !msg.includes(this.lastError) ? `${msg} (${this.lastError})` : msg);
    });
  }

  /** Drops the connection at once (the path to the node is dead: a graceful close would wait on
   * it); its unanswered request fails. */
  cut(): void {
    this.conn.disconnect();
    this.conn.stream?.destroy();
  }

  close(): Promise<void> {
    if (this.conn.status === 'end') return Promise.resolve();
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.conn.once('end', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.conn.disconnect();
    return done;
  }
}

export interface ReplicaInfoEntry {
  state: string;
  offset: number;
  lagS: number;
}

/** `slaveN:ip=..,port=..,state=online,offset=..,lag=..` lines of INFO replication, by address. */
export function parseReplicaLines(info: Record<string, string>): Map<Addr, ReplicaInfoEntry> {
  const out = new Map<Addr, ReplicaInfoEntry>();
  for (const [k, v] of Object.entries(info)) {
    if (!/^slave\d+$/.test(k)) continue;
    const f: Record<string, string> = {};
    for (const part of v.split(',')) {
      const i = part.indexOf('=');
      if (i > 0) f[part.slice(0, i)] = part.slice(i + 1);
    }
    if (!f['ip'] || !f['port']) continue;
    out.set(`${f['ip']}:${f['port']}`, { state: f['state'] ?? '', offset: Number(f['offset'] ?? 0), lagS: Number(f['lag'] ?? 0) });
  }
  return out;
}
