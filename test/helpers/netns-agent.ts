// Runs inside the proxy's namespace of a partition lab (started by ./netns-run.ts with `ip netns
// exec`): the front (the proxy, in this process, or the HAProxy `role:master` recipe as a child)
// and the INCR clients, which must share the front's namespace. Driven by JSON lines on stdin,
// answers JSON lines on stdout:
//   argv[2] = {"front": "proxy"|"haproxy", "sentinels": [...], "nodes": [...], "group": {...},
//              "clients": 8, "logFile": "..."}
//   → {"ready": port}
//   {"cmd": "start"} → {"started": true}      starts the clients
//   {"cmd": "stop"}  → {"stats": {...}}        stops them and reports what they saw
// With `reads`, GET clients run beside the INCR clients, on the read-only listener (`readListen`)
// or on the master listener (with reads.routeReads: replica in `group`).
//   {"cmd": "exit"}  → closes everything and exits
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { haproxyRecipe } from '../../bench/lib/peers.js';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { pino } from 'pino';
import { startProxy, type RunningProxy } from '../../src/proxy.js';
import { defaultProxyConfig, type GroupConfigInput } from '../../src/config/defaults.js';
import { startIncrLoad, type Load } from '../../bench/lib/incr-load.js';
import { startReadLoad, type ReadLoad } from '../../bench/lib/read-load.js';

export interface AgentArgs {
  front: 'proxy' | 'haproxy';
  sentinels: string[];
  /** Data nodes (host:port) for the HAProxy recipe's server list. */
  nodes: string[];
  masterName: string;
  /** Group options over the defaults (proxy only). */
  group?: Partial<GroupConfigInput>;
  clients: number;
  logFile: string;
  /** GET clients (proxy only): on the read-only listener, or on the master listener. */
  reads?: { clients: number; listener: 'read' | 'master' };
}

export interface ReadStats {
  ops: number;
  errors: Record<string, number>;
  errorSamples: Record<string, string>;
  disconnects: number;
  longestStallMs: number;
  unansweredAtStop: number;
  /** GETs that waited >= 200 ms: when sent, when answered. */
  stalls: Array<{ sentAt: number; t: number }>;
  /** Per data node (host:port): when it first left the proxy's read pool after the clients
   * started (Date.now()), if it did. */
  leftPoolAt: Record<string, number>;
}

export interface AgentStats {
  ops: number;
  errors: Record<string, number>;
  errorSamples: Record<string, string>;
  disconnects: number;
  longestStallMs: number;
  discarded: number;
  unansweredAtStop: number;
  /** Per counter: key, last and highest acknowledged value. */
  counters: Array<{ key: string; last: number; acked: number }>;
  /** Replies that took >= 200 ms (at most 5000): when sent, when answered. */
  stalls: Array<{ sentAt: number; t: number }>;
  reads?: ReadStats;
}

function send(o: unknown): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

async function waitPing(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(500, () => done(false));
      s.on('error', () => done(false));
      s.on('connect', () => s.write('*2\r\n$4\r\nINCR\r\n$5\r\nwarm0\r\n'));
      s.on('data', (d) => done(d[0] === 0x3a /* : */));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Servers of the `master` backend HAProxy counts as up (stats socket `show stat`; "UP 2/3", a
 * server on its way down, counts), -1 if unknown. */
function serversUp(sock: string): Promise<number> {
  return new Promise((resolve) => {
    let out = '';
    const s = net.connect({ path: sock });
    s.on('error', () => resolve(-1));
    s.on('connect', () => s.write('show stat\n'));
    s.on('data', (d) => (out += d.toString()));
    s.on('end', () => {
      const rows = out.split('\n').filter((l) => l.startsWith('master,n'));
      resolve(rows.length === 0 ? -1 : rows.filter((l) => (l.split(',')[17] ?? '').startsWith('UP')).length);
    });
  });
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as AgentArgs;
  let proxy: RunningProxy | undefined;
  let haproxy: ChildProcess | undefined;
  let port: number;
  let readPort: number | undefined;
  if (args.front === 'proxy') {
    const config = defaultProxyConfig({
      logLevel: 'debug',
      admin: {},
      shutdown: { timeoutMs: 2000 },
      groups: [
        {
          name: args.masterName,
          listen: { host: '127.0.0.1', port: 0 },
          ...(args.reads?.listener === 'read' ? { readListen: { host: '127.0.0.1', port: 0 } } : {}),
          sentinels: args.sentinels,
          ...args.group,
        },
      ],
    });
    const dest = pino.destination({ dest: args.logFile, sync: false });
    proxy = await startProxy(config, pino({ level: 'debug' }, dest));
    port = proxy.listeners.find((l) => l.kind === 'master')!.port;
    if (args.reads) {
      readPort = proxy.listeners.find((l) => l.kind === args.reads!.listener)!.port;
      // The read pool is measured before the read listener serves: wait for it, so the clients
      // start on replicas.
      const g = proxy.groups[0]!;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && g.replicas.healthyCount < 2) await new Promise((r) => setTimeout(r, 100));
    }
  } else {
    port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const cfg = path.join(path.dirname(args.logFile), `haproxy-${process.pid}.cfg`);
    const sock = path.join(path.dirname(args.logFile), `haproxy-${process.pid}.sock`);
    fs.writeFileSync(cfg, haproxyRecipe(port, args.nodes, { statsSocket: sock, connectTimeout: '3s' }));
    const out = fs.openSync(args.logFile, 'a');
    haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', out, out] });
    // HAProxy starts with every server up until its checks say otherwise: wait until only one
    // (the master) is, as an operator's long-running HAProxy would be.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await serversUp(sock)) !== 1) await new Promise((r) => setTimeout(r, 200));
  }
  const stopAll = async () => {
    haproxy?.kill('SIGKILL');
    await proxy?.close().catch(() => undefined);
  };
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));
  if (!(await waitPing(port, 20_000))) {
    send({ error: `the ${args.front} did not answer within 20 s` });
    await stopAll();
    process.exit(1);
  }
  send({ ready: port });

  let load: Load | undefined;
  let reads: ReadLoad | undefined;
  const leftPoolAt: Record<string, number> = {};
  let sampler: NodeJS.Timeout | undefined;
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('close', () => void stopAll().then(() => process.exit(0)));
  for await (const line of rl) {
    const msg = JSON.parse(line) as { cmd: string };
    if (msg.cmd === 'start') {
      load = startIncrLoad(port, args.clients, { prefix: `ctr-${args.front}`, reconnect: true });
      if (args.reads && readPort !== undefined && proxy) {
        reads = startReadLoad(readPort, args.reads.clients, { prefix: 'rd' });
        const g = proxy.groups[0]!;
        sampler = setInterval(() => {
          for (const n of args.nodes) if (leftPoolAt[n] === undefined && n !== g.master && !g.replicas.isHealthy(n)) leftPoolAt[n] = Date.now();
        }, 20);
      }
      send({ started: true });
    } else if (msg.cmd === 'stop' && load) {
      if (sampler) clearInterval(sampler);
      await Promise.all([load.stop(20_000), reads?.stop(20_000)]);
      const s = load.stats;
      const stats: AgentStats = {
        ops: s.ops,
        errors: Object.fromEntries(s.errors),
        errorSamples: Object.fromEntries(s.errorSamples),
        disconnects: s.disconnects,
        longestStallMs: s.longestStallMs,
        discarded: s.discarded,
        unansweredAtStop: s.unansweredAtStop,
        counters: s.perClient.map((c) => ({ key: c.key, last: c.last, acked: c.acked })),
        stalls: s.events
          .filter((e) => e.kind === 'stall' && e.sentAt !== undefined)
          .slice(0, 5000)
          .map((e) => ({ sentAt: e.sentAt!, t: e.t })),
      };
      if (reads) {
        const r = reads.stats;
        stats.reads = {
          ops: r.ops,
          errors: Object.fromEntries(r.errors),
          errorSamples: Object.fromEntries(r.errorSamples),
          disconnects: r.disconnects,
          longestStallMs: r.longestStallMs,
          unansweredAtStop: r.unansweredAtStop,
          stalls: r.stalls,
          leftPoolAt,
        };
      }
      send({ stats });
    } else if (msg.cmd === 'exit') {
      await stopAll();
      send({ bye: true });
      process.exit(0);
    }
  }
}

main().catch((err: unknown) => {
  send({ error: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
