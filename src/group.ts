// One Sentinel group at run time: its topology, its listeners' sessions, and the failover
// sequence applied to them (DESIGN.md "Failover: fence, drain, re-home"):
// - fence: the topology says a failover started → `blocked`; sessions hold new commands, and
//   blocked commands on the old master are unblocked so they can move;
// - promoted: a replica took over → links to the old master with commands in flight are cut;
// - master: a new master is verified → `masterEpoch` changes; each session re-homes at its next
//   command boundary and releases what it held;
// - unfence (aborted failover): held commands go to the old master.
import { Redis } from 'ioredis';
import type { GroupConfig } from './config/types.js';
import type { Logger } from './logger.js';
import type { TopologyEvent, TopologySnapshot, TopologySource, WriteConfirmations } from './topology/types.js';
import type { SessionHandle } from './session/host.js';
import { ReplicaBalancer } from './reads.js';
import { CommandTable } from './commands/table.js';
import { SharedLink } from './session/shared-link.js';
import { destroyLinksTo } from './session/backend-link.js';
import { clientTlsOptions } from './security.js';
import { GroupObserver } from './admin/group-observer.js';
import { guardedTls } from './topology/guarded-connector.js';

/** A counter cheap enough for the per-command path; the metrics registry reads it. */
export class Count {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class GroupStats {
  readonly commands = new Count();
  readonly held = new Count();
  readonly holdTimeouts = new Count();
  readonly linkLost = new Count();
  readonly reissued = new Count();
  /** Read-only commands the master listener sent to a replica (reads.routeReads: replica). */
  readonly splitReads = new Count();
  /** Commands of read-only-listener sessions sent to the master because no replica was healthy
   * (reads.fallback: master). */
  readonly readsOnMaster = new Count();
  readonly rehomed = new Count();
  readonly backendConnects = new Count();
  /** Backend connections that failed before being established (Session.onLinkClose with
   * neverConnected); exported as rsp_backend_connect_errors_total. */
  readonly backendConnectErrors = new Count();
  readonly protocolErrors = new Count();
  /** Sessions closed because a write they were answered could not be confirmed on a replica
   * (topology.writeSafety: safe). */
  readonly unconfirmed = new Count();
  readonly sessionsTotal = new Count();
  readonly fences = new Count();
  readonly masterChanges = new Count();
  readonly bytesIn = new Count();
  readonly bytesOut = new Count();
  /** Durations (ms) of finished fences, for the histogram. */
  readonly fenceDurations: number[] = [];
  /** Called with each fence duration (ms) as it ends; the metrics registry observes its histogram
   * here (src/admin/metrics.ts), so nothing is read twice or lost to the cap above. */
  onFenceDuration: ((ms: number) => void) | undefined;
}

export class GroupRuntime {
  readonly name: string;
  readonly sessions = new Set<SessionHandle>();
  readonly metrics = new GroupStats();
  /** Latency per command, slow log, event log and failover timeline (src/admin/, issue 18). */
  readonly observe: GroupObserver;
  /** Healthy replicas and how many read sessions use each. */
  readonly replicas = new ReplicaBalancer();
  /** Command flags: the packaged table until the master's own `COMMAND` reply is read (module
   * commands and renamed commands are then known too). Sessions look names up here. */
  commands: CommandTable = CommandTable.packaged();
  /** Keeps the sessions' name lookup pointing at the current table without a per-session hook. */
  readonly lookup = {
    lookup: (buf: Buffer, start: number, end: number) => this.commands.lookup(buf, start, end),
  };
  private commandsFrom: string | undefined;
  /** The link stateless sessions share (config.links.shared), for the current master epoch. */
  private shared: SharedLink | undefined;
  private sharedFailedAt = 0;
  /** The verified master sessions send to, and its epoch. */
  master: string | undefined;
  masterEpoch = 0;
  /** Replica health measured against a verified master: read sessions hold until then. */
  replicasMeasured = false;
  /** New commands must be held (fence, no verified master, no sentinel majority when required). */
  blocked = true;
  blockedReason: 'fence' | 'no-master' | 'majority' | 'lease' | undefined = 'no-master';
  private fencedAt: number | undefined;
  private admin = new Map<string, Redis>();
  private closing = false;
  private readonly onEvent = (ev: TopologyEvent) => this.apply(ev);

  constructor(
    public config: GroupConfig,
    readonly topology: TopologySource,
    readonly log: Logger,
  ) {
    this.name = config.name;
    this.observe = new GroupObserver(this.name, this.metrics);
    topology.on('event', this.onEvent);
    this.sync(topology.snapshot());
    this.loadCommands();
  }

  /**
   * SIGHUP reload: take this group's new config (src/proxy.ts `reload`). Sessions read
   * `config.limits` / `config.failover` on each use, so those apply at once (idle timeout and the
   * framer's bulk limits to new sessions). The topology source must already have its new config
   * (requireSentinelMajority changes its `ready`). Admin links made with old credentials are dropped.
   */
  reconfigure(config: GroupConfig): void {
    const old = this.config;
    this.config = config;
    if (JSON.stringify([old.auth, old.tls.backend]) !== JSON.stringify([config.auth, config.tls.backend])) {
      for (const c of this.admin.values()) c.disconnect();
      this.admin.clear();
    }
    const wasBlocked = this.blocked;
    this.sync(this.topology.snapshot());
    // e.g. requireSentinelMajority turned off: release what the sessions hold.
    if (wasBlocked && !this.blocked) for (const s of this.sessions) s.onTopologyChange();
  }

  addSession(s: SessionHandle): void {
    this.sessions.add(s);
    this.metrics.sessionsTotal.inc();
  }

  removeSession(s: SessionHandle): void {
    this.sessions.delete(s);
  }

  /** Write confirmation for replies from `addr` (writeSafety: safe): undefined when replies need
   * none, null when `addr` is no longer the master whose replicas could confirm them. */
  confirmations(addr: string): WriteConfirmations | null | undefined {
    if (this.config.topology.writeSafety !== 'safe' || this.topology.writeConfirmer === undefined) return undefined;
    return this.topology.writeConfirmer(addr) ?? null;
  }

  /** Takes the topology's view; returns whether the master epoch changed. */
  private sync(snap: TopologySnapshot): boolean {
    const changed = snap.masterEpoch !== this.masterEpoch || snap.master !== this.master;
    this.master = snap.master;
    this.masterEpoch = snap.masterEpoch;
    this.replicas.update(snap.replicas);
    this.replicasMeasured = snap.replicasMeasured;
    const majorityLacking = this.config.topology.requireSentinelMajority && snap.reachableSentinels * 2 <= snap.knownSentinels;
    const reason =
      snap.master === undefined ? 'no-master' : snap.fenced ? 'fence' : majorityLacking ? 'majority' : snap.writeHold !== undefined ? 'lease' : undefined;
    const wasBlocked = this.blocked;
    this.blocked = reason !== undefined;
    this.blockedReason = reason;
    if (this.blocked && !wasBlocked) this.fencedAt = Date.now();
    if (!this.blocked && wasBlocked && this.fencedAt !== undefined) {
      const ms = Date.now() - this.fencedAt;
      this.metrics.fenceDurations.push(ms);
      if (this.metrics.fenceDurations.length > 1000) this.metrics.fenceDurations.shift();
      this.metrics.onFenceDuration?.(ms);
      this.fencedAt = undefined;
    }
    return changed;
  }

  private apply(ev: TopologyEvent): void {
    this.observe.topology(ev);
    this.sync(ev.snapshot);
    switch (ev.type) {
      case 'fence':
        this.metrics.fences.inc();
        this.log.info({ reason: ev.reason, master: this.master }, 'fence: holding new commands');
        for (const s of this.sessions) if (s.kind === 'master') s.onFence();
        break;
      case 'promoted':
        this.log.info('a replica was promoted: cutting links to the old master that have commands in flight');
        if (this.shared !== undefined && this.shared.inFlight > 0) this.shared.destroy();
        for (const s of this.sessions) if (s.kind === 'master') s.onPromoted();
        break;
      case 'master':
        this.metrics.masterChanges.inc();
        this.log.info({ master: this.master, previous: ev.previous, epoch: this.masterEpoch }, 'master verified');
        this.dropAdmin(ev.previous);
        if (this.shared !== undefined) {
          // Sessions on the shared link move with it: their next command goes to the new master.
          for (const s of this.sessions) if (s.onSharedLink) this.metrics.rehomed.inc();
          this.shared.end();
          this.shared = undefined;
        }
        this.loadCommands();
        for (const s of this.sessions) s.onTopologyChange();
        break;
      case 'unfence':
        this.log.info({ reason: ev.reason, master: this.master }, 'fence lifted: releasing held commands');
        for (const s of this.sessions) s.onTopologyChange();
        break;
      case 'unreachable': {
        // A partition between the proxy and a node (issue 19): cut every link to it now. On the
        // master, in-flight commands get LINK_LOST, held ones wait for a link that works; on a
        // replica (already out of the read pool), in-flight reads go again to a healthy replica
        // or, per reads.fallback, the master.
        if (this.shared !== undefined && this.shared.addr === ev.addr) this.shared.destroy();
        const n = destroyLinksTo(ev.addr);
        this.log.warn({ node: ev.addr, links: n }, `${ev.addr === this.master ? 'master' : 'node'} unreachable: links to it cut`);
        break;
      }
      case 'replicas':
        // Read sessions on a replica that is no longer healthy move at their next boundary.
        for (const s of this.sessions) if (s.kind === 'read' || !this.blocked) s.onTopologyChange();
        break;
      default:
        if (!this.blocked) for (const s of this.sessions) s.onTopologyChange();
    }
    this.observe.applied(ev);
  }

  /** The shared link to the current master, opened on first use; undefined while commands must
   * be held (fence, no master) or just after a connection attempt failed. */
  sharedLink(): SharedLink | undefined {
    const master = this.master;
    if (this.blocked || master === undefined || this.closing) return undefined;
    const cur = this.shared;
    if (cur !== undefined && !cur.closed && !cur.socket.destroyed && cur.masterEpoch === this.masterEpoch && cur.addr === master) return cur;
    cur?.end(); // an older epoch's: close once its replies are in
    this.shared = undefined;
    if (Date.now() - this.sharedFailedAt < 100) return undefined;
    const link = new SharedLink(
      master,
      this.masterEpoch,
      { tls: this.config.tls.backend, auth: this.config.auth, connectTimeoutMs: this.config.topology.connectTimeoutMs },
      (l, err) => {
        if (this.shared !== l) return;
        this.shared = undefined;
        // (A link whose node never answered its PING counts as failed too: see SharedLink.)
        if (!l.ready) this.sharedFailedAt = Date.now();
        this.log.info({ node: l.addr, err: err?.message }, 'shared link closed');
        this.onLinkLost(l.addr);
      },
      () => this.onReadonly(master),
    );
    this.metrics.backendConnects.inc();
    this.shared = link;
    return link;
  }

  /** Reads the master's `COMMAND` reply into the command table (once per master). */
  private loadCommands(): void {
    const addr = this.master;
    if (addr === undefined || addr === this.commandsFrom || this.closing) return;
    this.commandsFrom = addr;
    this.adminConn(addr)
      .call('COMMAND')
      .then((reply) => {
        if (!Array.isArray(reply)) return;
        this.commands = CommandTable.fromCommandReply(reply, CommandTable.packaged());
        this.log.debug({ node: addr, commands: this.commands.size }, 'command table read from the master');
      })
      .catch((err: Error) => {
        this.commandsFrom = undefined;
        this.log.warn({ node: addr, err: err.message }, 'COMMAND failed; keeping the packaged command table');
      });
  }

  /** A session's link to a node died: the topology may know more soon; look now. */
  onLinkLost(addr: string): void {
    if (!this.closing && addr === this.master) this.topology.refresh('link to master lost');
  }

  /** The supposed master answered -READONLY. */
  onReadonly(addr: string | undefined): void {
    this.log.warn({ node: addr }, 'master answered READONLY: refreshing topology');
    this.topology.refresh('READONLY from master');
  }

  /** `CLIENT UNBLOCK id ERROR` on a node, over the proxy's own admin connection to it. */
  unblock(addr: string, clientId: number): void {
    const conn = this.adminConn(addr);
    conn.client('UNBLOCK', clientId, 'ERROR').catch((err: Error) => {
      this.log.debug({ node: addr, err: err.message }, 'CLIENT UNBLOCK failed');
    });
  }

  private adminConn(addr: string): Redis {
    let c = this.admin.get(addr);
    if (!c) {
      const sep = addr.lastIndexOf(':');
      const tlsOpts = this.config.tls.backend;
      c = new Redis({
        host: addr.slice(0, sep),
        port: Number(addr.slice(sep + 1)),
        username: this.config.auth.username,
        password: this.config.auth.password,
        connectTimeout: this.config.topology.connectTimeoutMs,
        commandTimeout: 2000,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: true,
        retryStrategy: () => null,
        lazyConnect: false,
        ...guardedTls(tlsOpts ? clientTlsOptions(tlsOpts, addr.slice(0, sep), Number(addr.slice(sep + 1))) : undefined),
      });
      c.on('error', () => {});
      c.on('end', () => {
        if (this.admin.get(addr) === c) this.admin.delete(addr);
      });
      this.admin.set(addr, c);
    }
    return c;
  }

  private dropAdmin(addr: string | undefined): void {
    if (!addr) return;
    const c = this.admin.get(addr);
    if (c) {
      this.admin.delete(addr);
      // Give pending UNBLOCKs a moment.
      setTimeout(() => c.disconnect(), 2000).unref();
    }
  }

  /** Graceful stop of every session (shutdown drain). */
  drainSessions(): void {
    this.closing = true;
    for (const s of this.sessions) s.drain();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.topology.off('event', this.onEvent);
    for (const s of this.sessions) s.teardown('proxy closing');
    this.shared?.destroy();
    this.shared = undefined;
    for (const c of this.admin.values()) c.disconnect();
    this.admin.clear();
    await this.topology.stop();
  }
}
