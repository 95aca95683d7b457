// A partition lab (issue 19): each Redis node, each sentinel and the proxy in its own Linux network
// namespace, joined by veth pairs to a bridge that lives in a namespace of its own (the "hub"), so
// nothing is added to the host's network: every address used is inside namespaces the lab made.
//
// A partition between two sets of nodes drops, in each node's namespace, every packet coming from
// the other side (iptables INPUT -j DROP, both ways). Only incoming packets are dropped: a sender
// sees nothing (no EPERM, no RST, no ICMP), as in a real partition; connections stay open and
// retransmit, new ones time out. Healing deletes the rules.
//
// Names start with `rspt-<pid>-` (the creating process): a lab whose process is gone is a leftover
// of a crashed run and is removed (its processes killed) by the next lab, never a live one.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';

export const LAB_PREFIX = 'rspt-';

function run(cmd: string, args: string[], timeout = 10_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

function which(bin: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir && fs.existsSync(`${dir}/${bin}`)) return `${dir}/${bin}`;
  }
  return undefined;
}

/** Why a lab cannot be made here (not root, no `ip`, no iptables, namespaces refused), or
 * undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (!which('ip')) return 'iproute2 (`ip`) is not installed';
  if (!which('iptables')) return 'iptables is not installed (bash scripts/ensure-deps.sh installs it as root)';
  const probe = `${LAB_PREFIX}${process.pid}-probe`;
  try {
    run('ip', ['netns', 'add', probe]);
    run('ip', ['netns', 'exec', probe, 'iptables', '-w', '-A', 'INPUT', '-s', '10.213.255.1', '-j', 'DROP']);
  } catch (err) {
    return `cannot create a network namespace with an iptables rule: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    tryRun('ip', ['netns', 'del', probe]);
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills every process in `ns` and deletes it. */
function removeNamespace(ns: string): void {
  try {
    for (const p of run('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* no such namespace */
  }
  tryRun('ip', ['netns', 'del', ns]);
}

/** Removes the namespaces of labs whose creating process is gone (a crashed earlier run). */
export function removeLeftoverLabs(): string[] {
  let names: string[] = [];
  try {
    names = run('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(LAB_PREFIX));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const ns of names) {
    const pid = Number(ns.slice(LAB_PREFIX.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    removeNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

let labSeq = 0;

export interface LabNode {
  name: string;
  ns: string;
  ip: string;
}

export class NetLab {
  readonly tag: string;
  readonly hub: string;
  readonly nodes = new Map<string, LabNode>();
  private readonly cuts: Array<[string, string]> = [];
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  /** Makes the hub (a bridge) and one namespace per name, each with one address on the bridge's
   * subnet (10.213.<lab>.<10+i>/24). */
  constructor(names: string[]) {
    const n = labSeq++;
    this.tag = `${LAB_PREFIX}${process.pid}-${n}-`;
    this.hub = `${this.tag}hub`;
    const subnet = `10.213.${n % 250}`;
    removeLeftoverLabs();
    try {
      run('ip', ['netns', 'add', this.hub]);
      const hub = (...a: string[]) => run('ip', ['-n', this.hub, ...a]);
      hub('link', 'set', 'lo', 'up');
      hub('link', 'add', 'name', 'br0', 'type', 'bridge');
      hub('link', 'set', 'br0', 'up');
      names.forEach((name, i) => {
        const ns = `${this.tag}${name}`;
        const ip = `${subnet}.${10 + i}`;
        run('ip', ['netns', 'add', ns]);
        const host = `v${i}`;
        // Both ends are made in the hub, then one moves into the node's namespace.
        hub('link', 'add', 'name', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
        hub('link', 'set', host, 'master', 'br0');
        hub('link', 'set', host, 'up');
        run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
        run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
        this.nodes.set(name, { name, ns, ip });
      });
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  node(name: string): LabNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name} in the lab`);
    return n;
  }

  ip(name: string): string {
    return this.node(name).ip;
  }

  /** Runs `cmd` in `name`'s namespace (synchronously), returning its stdout. */
  exec(name: string, cmd: string, args: string[], timeout = 10_000): string {
    return run('ip', ['netns', 'exec', this.node(name).ns, cmd, ...args], timeout);
  }

  /** Starts `cmd` in `name`'s namespace; killed by destroy() if still running. */
  spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.node(name).ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Drops every packet between each node of `a` and each node of `b`, both ways. The rules of
   * every namespace are added at once (one iptables call per namespace, all in parallel), so the
   * partition takes effect within a few milliseconds everywhere. */
  async cut(a: string[], b: string[]): Promise<void> {
    const pairs: Array<[string, string]> = [];
    for (const x of a) {
      for (const y of b) {
        if (x === y || this.cuts.some(([p, q]) => (p === x && q === y) || (p === y && q === x))) continue;
        pairs.push([x, y]);
        this.cuts.push([x, y]);
      }
    }
    await this.apply(pairs, '-I');
  }

  /** `name` cut off from every other node. */
  isolate(name: string): Promise<void> {
    return this.cut([name], [...this.nodes.keys()].filter((n) => n !== name));
  }

  /** Removes every cut (all namespaces at once). */
  heal(): Promise<void> {
    return this.apply(this.cuts.splice(0), '-D');
  }

  get partitioned(): boolean {
    return this.cuts.length > 0;
  }

  /** In each namespace: drop (or stop dropping) what comes from the other side of each pair. */
  private async apply(pairs: Array<[string, string]>, op: '-I' | '-D'): Promise<void> {
    const from = new Map<string, string[]>();
    for (const [x, y] of pairs) {
      (from.get(x) ?? from.set(x, []).get(x)!).push(this.ip(y));
      (from.get(y) ?? from.set(y, []).get(y)!).push(this.ip(x));
    }
    await Promise.all(
      [...from].map(
        ([at, ips]) =>
          new Promise<void>((resolve, reject) =>
            // (-s a,b,c adds or deletes one rule per address.)
            execFile('ip', ['netns', 'exec', this.node(at).ns, 'iptables', '-w', op, 'INPUT', '-s', ips.join(','), '-j', 'DROP'], { timeout: 10_000 }, (err) =>
              err ? reject(err) : resolve(),
            ),
          ),
      ),
    );
  }

  /** Kills every process in the lab's namespaces and removes them. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.children) c.kill('SIGKILL');
    for (const n of this.nodes.values()) removeNamespace(n.ns);
    removeNamespace(this.hub);
  }
}
