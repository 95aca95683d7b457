// Contract of the sandbox Sentinel group used by `npm run sandbox` (README, "Try it and test it"),
// the test harness and the benchmarks. Implementation: ./group.ts.
import type { ChildProcess } from 'node:child_process';

export interface SandboxNode {
  kind: 'redis' | 'sentinel';
  host: string; // always 127.0.0.1
  port: number;
  addr: string; // "127.0.0.1:port"
  dir: string;
  proc?: ChildProcess; // undefined while stopped
  pid?: number;
  /** kill -9 (or another signal) and wait for exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  sigstop(): void;
  sigcont(): void;
  /** Start again on the same port and dir. For a redis node, `asMaster: true` strips any
   * replicaof line from its config so it comes back claiming to be a master. */
  restart(opts?: { asMaster?: boolean }): Promise<void>;
  /** Send one command over a fresh connection and return the reply (ioredis call). */
  call(...args: (string | number)[]): Promise<unknown>;
}

export interface SandboxGroupOptions {
  masterName?: string; // default "mymaster"
  replicas?: number; // default 2
  sentinels?: number; // default 3
  quorum?: number; // default 2
  downAfterMs?: number; // default 1000
  failoverTimeoutMs?: number; // default 10000
  /** requirepass + masterauth on the redis nodes; sentinels get auth-pass. */
  password?: string;
  /** requirepass on the sentinels (and `sentinel sentinel-pass` so they still talk to each other);
   * the group's own calls to sentinels use it. */
  sentinelPassword?: string;
  /** Extra `redis-server` arguments (e.g. ["--enable-debug-command", "local"]). */
  redisArgs?: string[];
  /** Where to put the temporary directories (default os.tmpdir()). */
  baseDir?: string;
  /** Print each process's output (for the interactive sandbox). */
  verbose?: boolean;
  /** TLS-only group: every redis node and sentinel runs with `port 0` and `tls-port` (the node's
   * `port` is then its TLS port), `tls-replication yes`, and these PEM files; clients must present
   * a certificate signed by the CA (`tls-auth-clients yes`, Redis's default). `call()` and the
   * group's own checks connect with TLS, using this certificate as client certificate and
   * verifying the chain but not the host name. */
  tls?: SandboxTlsOptions;
}

export interface SandboxTlsOptions {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface SandboxGroup {
  masterName: string;
  /** Redis nodes, index 0 is the initial master. */
  nodes: SandboxNode[];
  sentinels: SandboxNode[];
  dir: string;
  /** Sentinel addresses, for the proxy's config. */
  sentinelAddrs: string[];
  /** The master the majority of reachable sentinels names now. */
  currentMaster(): Promise<string>;
  /** The node object for an address. */
  node(addr: string): SandboxNode | undefined;
  /** Polls until every reachable sentinel names a master other than `notAddr` (or any master when
   * omitted) and that node answers ROLE master. Returns its address. */
  waitForMaster(opts?: { notAddr?: string; timeoutMs?: number }): Promise<string>;
  /** `SENTINEL FAILOVER` on a sentinel (retrying while it answers NOGOODSLAVE/INPROG as replicas
   * catch up); resolves when the new master is named and verified. */
  failover(opts?: { timeoutMs?: number }): Promise<string>;
  /** Wait until every replica reports master_link_status:up to the current master. */
  waitForReplicasInSync(timeoutMs?: number): Promise<void>;
  /** Kill every process (SIGKILL), remove the directory. Safe to call twice. */
  stop(): Promise<void>;
}
