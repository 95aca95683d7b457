// The usual alternatives, run beside the proxy in the same benchmark rounds (`npm run bench --
// --compare`): HAProxy in TCP mode with the `role:master` check recipe, and twemproxy
// (nutcracker) with the master as its only server. Both come from the distribution's packages
// (`bash scripts/ensure-deps.sh --peers`); a peer whose binary is missing is left out with a note.
// They run in the foreground as children of the benchmark, on free loopback ports, with their
// configuration in a temporary directory: no service is started.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/sandbox/ports.js';
import { track } from './cleanup.js';
import { rawPing } from './proxy-process.js';

export type PeerName = 'haproxy' | 'twemproxy' | 'node-relay';
/** The alternatives of --compare. (`node-relay`, a bare Node.js pipe relay, is the latency
 * phase's yardstick, not an alternative: see pipe-relay.ts.) */
export const PEER_NAMES: readonly PeerName[] = ['haproxy', 'twemproxy'];

const BINARY: Record<Exclude<PeerName, 'node-relay'>, string> = { haproxy: 'haproxy', twemproxy: 'nutcracker' };
const RELAY_SCRIPT = fileURLToPath(new URL('./pipe-relay.js', import.meta.url));

export interface PeerProcess {
  name: PeerName;
  pid: number;
  port: number;
  /** The peer's own version line. */
  version: string;
  /** How it was configured, for the report. */
  setup: string;
  readonly exited: boolean;
  tail(): string;
  stop(): Promise<void>;
}

/** The peer's binary on PATH (or in /usr/sbin), or undefined. */
export function peerBinary(name: PeerName): string | undefined {
  if (name === 'node-relay') return process.execPath;
  const bin = BINARY[name];
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      execFileSync(p, name === 'haproxy' ? ['-v'] : ['-V'], { stdio: 'ignore', timeout: 5000 });
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function versionOf(bin: string, name: PeerName): string {
  if (name === 'node-relay') return `Node.js ${process.version} net pipe() relay`;
  // (nutcracker -V prints to stderr)
  const r = spawnSync(bin, name === 'haproxy' ? ['-v'] : ['-V'], { encoding: 'utf8', timeout: 5000 });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? '?';
}

/** HAProxy's configuration: the recipe operators use in front of Sentinel groups — every data node
 * a server, the one answering `role:master` to a tcp-check gets the traffic. bench:compare gives it
 * the master alone; the partition lab (test/helpers/netns-agent.ts) every node and a stats socket. */
export function haproxyRecipe(port: number, nodes: string[], opts: { statsSocket?: string; connectTimeout?: string } = {}): string {
  return [
    ...(opts.statsSocket ? ['global', `    stats socket ${opts.statsSocket}`] : []),
    'defaults',
    '    mode tcp',
    `    timeout connect ${opts.connectTimeout ?? '5s'}`,
    '    timeout client 1h',
    '    timeout server 1h',
    'frontend redis',
    `    bind 127.0.0.1:${port}`,
    '    default_backend master',
    'backend master',
    '    option tcp-check',
    '    tcp-check send PING\\r\\n',
    '    tcp-check expect string +PONG',
    '    tcp-check send info\\ replication\\r\\n',
    '    tcp-check expect string role:master',
    '    tcp-check send QUIT\\r\\n',
    '    tcp-check expect string +OK',
    ...nodes.map((n, i) => `    server n${i} ${n} check inter 1s`),
    '',
  ].join('\n');
}

/** twemproxy's configuration: one pool, the master its only server. */
export function twemproxyConfig(port: number, masterPort: number): string {
  return [
    'bench:',
    `  listen: 127.0.0.1:${port}`,
    '  redis: true',
    '  hash: fnv1a_64',
    '  distribution: ketama',
    '  auto_eject_hosts: false',
    '  timeout: 10000',
    '  servers:',
    `   - 127.0.0.1:${masterPort}:1`,
    '',
  ].join('\n');
}

/** Starts a peer in front of the master; resolves once it answers PING. */
export async function startPeer(name: PeerName, masterPort: number): Promise<PeerProcess> {
  const bin = peerBinary(name);
  if (bin === undefined) throw new Error(`${BINARY[name as Exclude<PeerName, 'node-relay'>]} is not installed (bash scripts/ensure-deps.sh --peers)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), `rsp-bench-${name}-`));
  const port = await freePort();
  let argv: string[];
  let setup: string;
  if (name === 'node-relay') {
    argv = [RELAY_SCRIPT, String(port), String(masterPort)];
    setup = 'one upstream connection per client, pipe() both ways, no parsing';
  } else if (name === 'haproxy') {
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyRecipe(port, [`127.0.0.1:${masterPort}`]));
    argv = ['-db', '-f', cfg];
    setup = 'mode tcp, role:master tcp-check every 1 s, default threads';
  } else {
    const cfg = path.join(dir, 'nutcracker.yml');
    writeFileSync(cfg, twemproxyConfig(port, masterPort));
    const statsPort = await freePort();
    argv = ['-c', cfg, '-s', String(statsPort), '-a', '127.0.0.1', '-o', path.join(dir, 'nutcracker.log'), '-p', path.join(dir, 'nutcracker.pid'), '-v', '4'];
    setup = 'redis: true, one server (the master), default mbuf 16 KB';
  }
  const proc: ChildProcess = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString('utf8')).slice(-4000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let exited = false;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  proc.once('error', (e) => {
    out += `\n${e.message}`;
    exited = true;
  });
  const peer: PeerProcess = {
    name,
    pid: proc.pid ?? -1,
    port,
    version: versionOf(bin, name),
    setup,
    get exited() {
      return exited;
    },
    tail: () => out.trim().split('\n').slice(-15).join('\n'),
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited) break;
    // HAProxy forwards at once; its check marks the server up within the first second.
    if (await rawPing(port, 500)) return peer;
    await new Promise((r) => setTimeout(r, 100));
  }
  await peer.stop();
  throw new Error(`${name} did not answer PING on 127.0.0.1:${port} within 10 s; its output:\n${peer.tail()}`);
}
