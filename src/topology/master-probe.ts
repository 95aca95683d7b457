// The master's own evidence, probed every PROBE_INTERVAL_MS on a connection of its own (issue 19):
//
// - Replicas acknowledging: `INFO replication` lists the replicas the master streams to; a
//   `PUBLISH` (propagated to replicas, touching no key) followed by `WAIT <online> <ms>` tells how
//   many of them hold everything the master had executed when the probe was sent. Writes answered
//   before that moment survive a failover to any of those replicas. When the master is cut off
//   from its replicas (the minority side of a partition), acknowledgements stop: the watcher then
//   holds writes (topology.writeSafety: safe) instead of letting the old master take writes its
//   resync will discard.
// - Liveness: a probe unanswered for livenessTimeoutMs means the node is busy or the path to it
//   is dead. A fresh TCP connection tells which: a busy (or SIGSTOPped) Redis still completes the
//   handshake in the kernel, a partitioned one does not. A dead path is reported so the links to
//   the node are cut at once: their in-flight commands get the documented LINK_LOST reply rather
//   than waiting out TCP retransmission (Node exposes neither TCP_USER_TIMEOUT nor the keepalive
//   interval and count, and keepalive does not run while data is unacknowledged anyway).
import net from 'node:net';
import { Redis } from 'ioredis';
import type { GroupConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import { nodeLinkOptions, parseInfo, splitAddr, waitReady, withTimeout } from './sentinel-link.js';
import type { Addr } from './types.js';

/** Pause between probes. */
export const PROBE_INTERVAL_MS = 50;
/** WAIT's timeout: a healthy replica acknowledges in a round trip. */
const ACK_WAIT_MS = 150;
/** The channel the probe publishes on (nobody needs to subscribe). */
export const PROBE_CHANNEL = '__sentinel-proxy:probe';

/**
 * Does a new TCP connection to `addr` complete within `timeoutMs`? A busy or frozen (SIGSTOP)
 * Redis still completes the handshake in the kernel; a node behind a partition (packets dropped,
 * no RST) does not. Used for the master (below) and for replicas (watcher.ts).
 */
export function tcpHandshakes(addr: Addr, timeoutMs: number): Promise<boolean> {
  const { host, port } = splitAddr(addr);
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface ProbeHandlers {
  /** After every probe (answered or not). */
  onProbe(probe: MasterProbe): void;
  /** The path to the node is dead (no answer, no TCP handshake). */
  onUnreachable(probe: MasterProbe): void;
  /** It answers again. */
  onReachable(probe: MasterProbe): void;
}

export class MasterProbe {
  readonly addr: Addr;
  /** Date.now() when the last probe that found at least one replica acknowledging was sent; 0
   * before the first. */
  ackedAt = 0;
  /** The same, for probes that found every replica the master listed online acknowledging. */
  allAckedAt = 0;
  /** Replicas the master listed online, and how many acknowledged, at the last answered probe. */
  online = 0;
  acked = 0;
  /** `ip:port` of the replicas the master listed online at the last answered probe. */
  onlineAddrs: Addr[] = [];
  /** When the last answered probe was sent (Date.now()); 0 before the first. */
  answeredAt = 0;
  /** When the probe under way was started; undefined between probes. (Leases are judged on
   * evidence: a probe outstanding too long, or answered without acknowledgements. Time the proxy
   * itself spent elsewhere — a busy event loop — is no evidence.) */
  pendingSince: number | undefined;
  unreachable = false;
  /** The last answered probe found the node answering as a replica. */
  notMaster = false;
  /** PUBLISH or WAIT refused (ACL): acknowledgements are read from INFO's `lag=` instead. */
  private waitRefused = false;
  private readonly conn: Redis;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    addr: Addr,
    private readonly cfg: GroupConfig,
    private readonly log: Logger,
    private readonly handlers: ProbeHandlers,
  ) {
    this.addr = addr;
    this.conn = new Redis(nodeLinkOptions(addr, cfg, 'sentinel-proxy-probe', 250));
    this.conn.on('error', () => {
      /* probes report */
    });
    this.conn.connect().catch(() => undefined);
    void this.loop();
  }

  private get livenessMs(): number {
    return this.cfg.topology.livenessTimeoutMs;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.pendingSince ??= Date.now();
      try {
        await withTimeout(this.probeOnce(), this.livenessMs, `probe of ${this.addr}`);
        this.pendingSince = undefined;
        if (this.unreachable) {
          this.unreachable = false;
          this.log.info({ node: this.addr }, 'master answers again');
          this.handlers.onReachable(this);
        }
      } catch (err) {
        if (this.stopped) return;
        // A command stuck on a dead path would hold every later one: start a new connection.
        if (this.conn.status === 'ready') this.conn.stream?.destroy();
        if (!this.unreachable && Date.now() - this.answeredAt >= this.livenessMs && !(await tcpHandshakes(this.addr, this.cfg.topology.connectTimeoutMs))) {
          if (this.stopped) return;
          this.unreachable = true;
          this.log.warn({ node: this.addr, err: err instanceof Error ? err.message : String(err) }, 'master unreachable: no answer and no TCP handshake');
          this.handlers.onUnreachable(this);
        }
      }
      if (this.stopped) return;
      // (A failed probe stays pending: the node has not answered since it started.)
      this.handlers.onProbe(this);
      await new Promise<void>((resolve) => (this.timer = setTimeout(resolve, PROBE_INTERVAL_MS)));
    }
  }

  private async probeOnce(): Promise<void> {
    await waitReady(this.conn, this.livenessMs);
    const sentAt = Date.now();
    // Each step dates its own request: a step answered late because the proxy's event loop was
    // busy between two steps is no evidence against the node.
    this.pendingSince = Date.now();
    const info = parseInfo(String(await this.conn.call('INFO', 'replication')));
    if (info['role'] !== 'master') {
      // Not a master (any more): nothing it acknowledges counts; the watcher fences on ROLE.
      this.online = 0;
      this.acked = 0;
      this.onlineAddrs = [];
      this.notMaster = true;
      this.answeredAt = sentAt;
      return;
    }
    const lags: number[] = [];
    const addrs: Addr[] = [];
    for (const [k, v] of Object.entries(info)) {
      if (/^slave\d+$/.test(k) && /(^|,)state=online(,|$)/.test(v)) {
        lags.push(Number(/(?:^|,)lag=(\d+)/.exec(v)?.[1] ?? 99));
        addrs.push(`${/(?:^|,)ip=([^,]*)/.exec(v)?.[1] ?? ''}:${/(?:^|,)port=(\d+)/.exec(v)?.[1] ?? ''}`);
      }
    }
    const online = lags.length;
    let acked = 0;
    if (online > 0 && !this.waitRefused) {
      try {
        this.pendingSince = Date.now();
        await this.conn.call('PUBLISH', PROBE_CHANNEL, '1');
        this.pendingSince = Date.now();
        acked = Number(await this.conn.call('WAIT', String(online), String(ACK_WAIT_MS)));
      } catch (err) {
        if (!(err instanceof Error) || !/^(NOPERM|ERR unknown command)/.test(err.message)) throw err;
        this.waitRefused = true;
        this.log.warn({ node: this.addr, err: err.message }, 'PUBLISH/WAIT refused: replica acknowledgements read from INFO lag (1 s resolution)');
      }
    }
    // (REPLCONF ACK comes once a second: lag 0 or 1 is a replica that acknowledges.)
    if (this.waitRefused) acked = lags.filter((l) => l <= 1).length;
    this.notMaster = false;
    this.online = online;
    this.onlineAddrs = addrs;
    this.acked = acked;
    this.answeredAt = sentAt;
    if (acked >= 1) this.ackedAt = sentAt;
    if (online > 0 && acked >= online) this.allAckedAt = sentAt;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.conn.disconnect();
  }
}
