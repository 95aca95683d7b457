// A Sentinel group inside a partition lab (./netns.ts): master `m`, replicas `r1` `r2`, sentinels
// `s1` `s2` `s3` (quorum 2), each in its own namespace on the standard ports, and a namespace `p`
// for the proxy (or HAProxy) and its clients. Config and logs live in a temporary directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { NetLab } from './netns.js';

export const REDIS_PORT = 6379;
export const SENTINEL_PORT = 26379;
export const MASTER_NAME = 'mymaster';
export const DATA_NODES = ['m', 'r1', 'r2'] as const;
export const SENTINELS = ['s1', 's2', 's3'] as const;

export interface LabGroupOptions {
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

export class LabGroup {
  readonly lab: NetLab;
  readonly dir: string;
  readonly opts: Required<LabGroupOptions>;
  private readonly procs = new Map<string, ChildProcess>();
  private readonly logs = new Map<string, string>();

  constructor(opts: LabGroupOptions = {}) {
    this.opts = { downAfterMs: opts.downAfterMs ?? 1000, failoverTimeoutMs: opts.failoverTimeoutMs ?? 10_000 };
    this.lab = new NetLab(['p', ...DATA_NODES, ...SENTINELS]);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rspt-group-'));
  }

  addr(node: string): string {
    return `${this.lab.ip(node)}:${(SENTINELS as readonly string[]).includes(node) ? SENTINEL_PORT : REDIS_PORT}`;
  }

  /** Which node an address belongs to. */
  nodeOf(addr: string): string | undefined {
    for (const n of this.lab.nodes.values()) if (addr.startsWith(`${n.ip}:`)) return n.name;
    return undefined;
  }

  get sentinelAddrs(): string[] {
    return SENTINELS.map((s) => this.addr(s));
  }

  async start(): Promise<void> {
    const m = this.lab.ip('m');
    for (const n of DATA_NODES) {
      const conf = [
        `bind ${this.lab.ip(n)} 127.0.0.1`,
        `port ${REDIS_PORT}`,
        'protected-mode no',
        'daemonize no',
        `dir ${this.dir}`,
        `dbfilename ${n}.rdb`,
        'save ""',
        'appendonly no',
        'repl-diskless-sync yes',
        'repl-diskless-sync-delay 0',
        ...(n === 'm' ? [] : [`replicaof ${m} ${REDIS_PORT}`]),
      ];
      this.launch(n, 'redis-server', conf);
    }
    for (const s of SENTINELS) {
      const conf = [
        `bind ${this.lab.ip(s)} 127.0.0.1`,
        `port ${SENTINEL_PORT}`,
        'protected-mode no',
        'daemonize no',
        `dir ${this.dir}`,
        'sentinel resolve-hostnames no',
        `sentinel announce-ip ${this.lab.ip(s)}`,
        `sentinel monitor ${MASTER_NAME} ${m} ${REDIS_PORT} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${this.opts.downAfterMs}`,
        `sentinel failover-timeout ${MASTER_NAME} ${this.opts.failoverTimeoutMs}`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
      ];
      this.launch(s, 'redis-sentinel', conf);
    }
    // Ready when every sentinel knows both replicas (online) and the two other sentinels.
    await this.waitFor(
      () =>
        SENTINELS.every((s) => {
          const master = this.cli(s, SENTINEL_PORT, 'SENTINEL', 'MASTER', MASTER_NAME);
          return /num-slaves\n2\n/.test(master) && /num-other-sentinels\n2\n/.test(master);
        }) && DATA_NODES.slice(1).every((r) => /master_link_status:up/.test(this.cli(r, REDIS_PORT, 'INFO', 'replication'))),
      30_000,
      'the group to form (2 replicas, 3 sentinels that know each other)',
    );
  }

  private launch(node: string, bin: string, conf: string[]): void {
    const file = path.join(this.dir, `${node}.conf`);
    fs.writeFileSync(file, conf.join('\n') + '\n');
    const child = this.lab.spawn(node, bin, [file]);
    let log = '';
    const keep = (d: Buffer) => (log = (log + d.toString()).slice(-8000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.procs.set(node, child);
    this.logs.set(node, '');
    child.once('exit', () => this.logs.set(node, log));
  }

  /** redis-cli run in `node`'s own namespace against its own address; '' on failure. */
  cli(node: string, port: number, ...args: string[]): string {
    try {
      return this.lab.exec(node, 'redis-cli', ['-h', this.lab.ip(node), '-p', String(port), ...args], 5000);
    } catch {
      return '';
    }
  }

  /** The master a majority of sentinels name (asked in their own namespaces), or undefined. */
  sentinelsMaster(): string | undefined {
    const votes = new Map<string, number>();
    for (const s of SENTINELS) {
      const out = this.cli(s, SENTINEL_PORT, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME).trim().split('\n');
      if (out.length === 2) votes.set(`${out[0]}:${out[1]}`, (votes.get(`${out[0]}:${out[1]}`) ?? 0) + 1);
    }
    for (const [addr, v] of votes) if (v >= 2) return addr;
    return undefined;
  }

  /** ROLE's first word on `node` ('' when it does not answer). */
  role(node: string): string {
    return this.cli(node, REDIS_PORT, 'ROLE').split('\n')[0] ?? '';
  }

  /** After a heal: waits until a majority of sentinels name one master, it says ROLE master,
   * and every other data node is its replica with a link up. Returns the master's node name. */
  async settle(timeoutMs = 60_000): Promise<string> {
    let master: string | undefined;
    await this.waitFor(
      () => {
        const addr = this.sentinelsMaster();
        master = addr === undefined ? undefined : this.nodeOf(addr);
        if (master === undefined || this.role(master) !== 'master') return false;
        const mip = this.lab.ip(master);
        return DATA_NODES.filter((n) => n !== master).every((n) => {
          const info = this.cli(n, REDIS_PORT, 'INFO', 'replication');
          return info.includes(`master_host:${mip}`) && /master_link_status:up/.test(info) && !/master_sync_in_progress:1/.test(info);
        });
      },
      timeoutMs,
      'the group to settle after the heal',
    );
    return master!;
  }

  /** Values of `keys` on `node` (redis-cli MGET in its namespace); missing keys are 0. */
  values(node: string, keys: string[]): number[] {
    if (keys.length === 0) return [];
    const out = this.cli(node, REDIS_PORT, 'MGET', ...keys).split('\n');
    return keys.map((_, i) => Number(out[i] || 0) || 0);
  }

  private async waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (cond()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    const tails = [...this.logs.entries()].map(([n, l]) => `--- ${n}\n${l.split('\n').slice(-5).join('\n')}`).join('\n');
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${tails}`);
  }

  stop(): void {
    this.lab.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
