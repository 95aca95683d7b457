// The topology watcher: which node is the master of one Sentinel group, which replicas are healthy,
// and when a failover is under way (fence). See docs/topology.md.
//
// - Every configured sentinel, plus every sentinel they know of, gets a SentinelLink (a polled
//   command connection and a PSUBSCRIBE * connection).
// - A refresh polls every sentinel (bounded), decides the master (./decide.ts), verifies it with
//   ROLE on an admin link while every listed replica answers INFO replication for itself (bounded,
//   REPLICA_PROBE_MAX_MS), judges replica health (./replica-health.ts), and emits events. Refreshes never
//   overlap; a request during one schedules exactly one more. They run every pollIntervalMs and on
//   every Sentinel event of the group.
// - Fence at the first sign of a failover; unfence when a new master is verified (the 'master'
//   event carries fenced=false) or when the failover is over without a switch.
import { EventEmitter } from 'node:events';
import type { GroupConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import { decideMaster, majorityOf, type MasterDecision, type SentinelAnswer } from './decide.js';
import { HealthGate, healthWindows, judgeReplica, UNREACHABLE_REASON, type ReplicaObservation } from './replica-health.js';
import { parseSentinelEvent, type SentinelEvent } from './events.js';
import { SentinelLink } from './sentinel-link.js';
import { MasterProbe, PROBE_INTERVAL_MS, tcpHandshakes } from './master-probe.js';
import { WriteConfirmer } from './write-confirm.js';
import { SENTINEL_DOWN_FLAGS, replicasNeeded, writeHold, type WriteRuleInput } from './write-rule.js';
import type { Addr, ReplicaState, SentinelState, TopologyEvent, TopologySnapshot, TopologySource } from './types.js';
import { AdminLink, parseReplicaLines, type ReplicaInfoEntry } from './admin-link.js';

const FAILOVER_FLAGS = ['o_down', 'failover_in_progress'];
/** A replica's own answer (INFO replication) within this; the refresh waits no longer for it. */
const REPLICA_PROBE_MAX_MS = 500;

/** A replica's own INFO replication, as far as health needs it. */
interface ReplicaAnswer {
  role: string;
  linkUp: boolean;
  offset: number;
  /** The master it replicates from (INFO master_host:master_port); undefined for role master. */
  following: Addr | undefined;
}
const HISTORY_MAX = 240;
/** How often the write lease is re-checked between probes. */
const LEASE_CHECK_MS = 50;
const HISTORY_MAX_AGE_MS = 5 * 60_000;

export class TopologyWatcher extends EventEmitter implements TopologySource {
  readonly group: string;
  // Not readonly: `updateConfig` (SIGHUP reload) replaces them.
  private cfg: GroupConfig;
  private readonly log: Logger;
  private requestTimeoutMs: number;
  private readonly links = new Map<Addr, SentinelLink>();
  private readonly admins = new Map<Addr, AdminLink>();

  private master?: Addr;
  private masterEpoch = 0;
  private configEpoch?: number;
  private fenced = false;
  private fenceReason?: string;
  private fenceTick = 0;
  private fencedAt = 0;
  private promoted = false;
  private abortSeen?: string;
  private masterProblem?: string;
  private decisionProblem?: string;
  private replicas: ReplicaState[] = [];
  private offsetHistory: Array<{ t: number; offset: number }> = [];
  /** Pool membership per replica (hysteresis: ./replica-health.ts). */
  private readonly gates = new Map<Addr, HealthGate>();
  /** When each replica last answered its own probe. */
  private readonly lastAnswer = new Map<Addr, number>();
  /** The master each replica said it replicates from when it last answered (role slave only). */
  private readonly following = new Map<Addr, Addr>();
  /** Replicas found unreachable (no answer for livenessTimeoutMs, no TCP handshake) that have not
   * answered since: out of the read pool, links to them cut. */
  private readonly unreachable = new Set<Addr>();
  /** Replicas whose TCP handshake check is under way (at most one each). */
  private readonly handshaking = new Set<Addr>();
  /** Replica health has been measured against a verified master (issue 16: /readyz waits). */
  private replicasMeasured = false;
  private recheckTimer?: NodeJS.Timeout;

  /** The master's probe (replica acknowledgements, liveness): ./master-probe.ts. */
  private probe?: MasterProbe;
  /** Write confirmation on the current master (writeSafety: safe): ./write-confirm.ts. */
  private confirmer?: WriteConfirmer;
  /** Per sentinel: when it last confirmed the master in use (its poll named it with no s_down or
   * o_down, minus its last-ok-ping-reply) and its down-after-milliseconds. */
  private readonly confirmed = new Map<Addr, { at: number; downAfterMs: number }>();
  private writeHold?: string;
  private leaseTimer?: NodeJS.Timeout;

  private tick = 0;
  private running?: Promise<void>;
  private pendingReason?: string;
  private pollTimer?: NodeJS.Timeout;
  private started = false;
  private stopped = false;
  private lastSentinelsKey = '';
  private lastReplicasKey = '';
  /** Called with the duration (ms) of every refresh; the metrics registry's histogram (admin/metrics.ts). */
  onRefreshDuration: ((ms: number) => void) | undefined;
  /** Called with every Sentinel event about this group as a sentinel published it; the admin's
   * event log and failover timeline (src/admin/events.ts, wired by admin/metrics.ts). */
  onSentinelMessage: ((channel: string, sentinel: Addr, ev: SentinelEvent) => void) | undefined;

  constructor(group: GroupConfig, logger: Logger) {
    super();
    this.group = group.name;
    this.cfg = group;
    // The caller's logger already carries the group (src/proxy.ts).
    this.log = logger.child({ component: 'topology' });
    const t = group.topology;
    this.requestTimeoutMs = Math.max(200, Math.min(t.connectTimeoutMs, 2000));
  }

  // ---------------------------------------------------------------- public API

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const hp of this.cfg.sentinels) this.addSentinel(`${hp.host}:${hp.port}`, 'config');
    // Checked after the I/O of the loop iteration (setImmediate): when the event loop was busy, a
    // probe's answer read in this iteration must count before its lease is judged expired.
    this.leaseTimer = setInterval(() => setImmediate(() => this.checkWriteHold()), LEASE_CHECK_MS);
    this.leaseTimer.unref();
    await this.runRefresh('start');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.probe?.stop();
    this.probe = undefined;
    this.confirmer?.stop('the proxy is stopping');
    this.confirmer = undefined;
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
    this.pendingReason = undefined;
    const links = [...this.links.values()];
    const admins = [...this.admins.values()];
    this.links.clear();
    this.admins.clear();
    await Promise.all([...links.map((l) => l.stop()), ...admins.map((a) => a.close())]);
    await this.running?.catch(() => undefined);
  }

  /**
   * SIGHUP reload (src/proxy.ts): a new config for this group, same name. Poll interval and
   * timeouts apply from the next poll. Sentinels added to the list are connected; ones removed
   * are dropped unless another sentinel still announces them. New sentinel credentials/TLS or
   * connect timeout: every sentinel link is replaced. New node credentials/TLS: admin links are
   * dropped and made again by the next refresh. The master in use is kept throughout.
   */
  updateConfig(group: GroupConfig): void {
    if (group.name !== this.group) throw new Error(`updateConfig: group ${group.name} is not ${this.group}`);
    const old = this.cfg;
    this.cfg = group;
    this.requestTimeoutMs = Math.max(200, Math.min(group.topology.connectTimeoutMs, 2000));
    if (!this.started || this.stopped) return;
    const key = (g: GroupConfig) => JSON.stringify([g.sentinelAuth, g.tls.sentinel, g.topology.connectTimeoutMs]);
    if (key(old) !== key(group)) {
      const links = [...this.links.values()];
      this.links.clear();
      for (const l of links) void l.stop();
      for (const l of links) this.addSentinel(l.addr, l.source, l.runId);
    }
    const want = new Set(group.sentinels.map((hp) => `${hp.host}:${hp.port}`));
    const announced = new Set<Addr>();
    for (const l of this.links.values()) {
      if (l.source === 'config' && !want.has(l.addr)) continue;
      for (const s of l.lastPoll?.sentinels ?? []) if (s['ip'] && s['port']) announced.add(`${s['ip']}:${s['port']}`);
    }
    for (const [addr, l] of [...this.links]) {
      if (l.source === 'config' && !want.has(addr) && !announced.has(addr)) {
        this.links.delete(addr);
        void l.stop();
        this.log.info({ sentinel: addr }, 'sentinel removed from the configuration');
      }
    }
    for (const addr of want) this.addSentinel(addr, 'config');
    if (JSON.stringify([old.auth, old.tls.backend]) !== JSON.stringify([group.auth, group.tls.backend])) {
      for (const a of this.admins.values()) void a.close();
      this.admins.clear();
    }
    this.emitSentinelsIfChanged();
    this.refresh('configuration reloaded');
  }

  refresh(reason: string): void {
    if (this.stopped || !this.started) return;
    if (this.running) {
      this.pendingReason ??= reason;
      return;
    }
    void this.runRefresh(reason);
  }

  snapshot(): TopologySnapshot {
    const sentinels: SentinelState[] = [...this.links.values()].map((l) => {
      const s: SentinelState = { addr: l.addr, source: l.source, reachable: l.reachable, tilt: l.tilt };
      if (l.master !== undefined) s.master = l.master;
      if (l.configEpoch !== undefined) s.configEpoch = l.configEpoch;
      if (l.lastError !== undefined && !l.reachable) s.lastError = l.lastError;
      return s;
    });
    const known = sentinels.length;
    const reachable = sentinels.filter((s) => s.reachable).length;
    let ready = this.master !== undefined;
    let notReadyReason: string | undefined;
    if (this.master === undefined) {
      notReadyReason = this.decisionProblem ?? 'no verified master yet';
    } else if (reachable < majorityOf(known)) {
      notReadyReason = reachable === 0 ? 'no sentinel reachable' : `only ${reachable} of ${known} sentinels reachable`;
      if (this.cfg.topology.requireSentinelMajority) ready = false;
    } else if (this.masterProblem) {
      notReadyReason = this.masterProblem;
    }
    const snap: TopologySnapshot = {
      group: this.group,
      masterEpoch: this.masterEpoch,
      fenced: this.fenced,
      promoted: this.promoted,
      replicas: this.replicas.map((r) => ({ ...r, flags: [...r.flags] })),
      sentinels,
      reachableSentinels: reachable,
      knownSentinels: known,
      ready,
      replicasMeasured: this.replicasMeasured,
    };
    if (this.master !== undefined) snap.master = this.master;
    if (this.configEpoch !== undefined) snap.configEpoch = this.configEpoch;
    if (this.fenced && this.fenceReason) snap.fenceReason = this.fenceReason;
    if (notReadyReason !== undefined) snap.notReadyReason = notReadyReason;
    if (this.writeHold !== undefined) snap.writeHold = this.writeHold;
    if (this.master !== undefined && this.masterProblem) snap.masterProblem = this.masterProblem;
    return snap;
  }

  // ---------------------------------------------------------------- sentinels

  private addSentinel(addr: Addr, source: 'config' | 'discovered', runId?: string): void {
    if (this.stopped || this.links.has(addr)) return;
    if (runId && [...this.links.values()].some((l) => l.runId === runId)) return;
    const link = new SentinelLink(
      {
        addr,
        source,
        group: this.group,
        auth: this.cfg.sentinelAuth,
        tls: this.cfg.tls.sentinel,
        connectTimeoutMs: this.cfg.topology.connectTimeoutMs,
        requestTimeoutMs: this.requestTimeoutMs,
        runId,
        logger: this.log,
      },
      {
        onEvent: (l, channel, message) => this.onSentinelEvent(l, channel, message),
        onReconnect: (l) => this.refresh(`sentinel ${l.addr} reconnected`),
        onStateChange: () => this.emitSentinelsIfChanged(),
      },
    );
    this.links.set(addr, link);
    if (source === 'discovered') this.log.info({ sentinel: addr }, 'discovered sentinel');
    link.start();
    this.emitSentinelsIfChanged();
    if (source === 'discovered') this.refresh(`sentinel ${addr} discovered`);
  }

  /** Two links to the same sentinel (e.g. configured by name, announced by IP): keep one. */
  private dedupeSentinels(): void {
    const byId = new Map<string, SentinelLink>();
    for (const l of [...this.links.values()]) {
      if (!l.runId) continue;
      const other = byId.get(l.runId);
      if (!other) {
        byId.set(l.runId, l);
        continue;
      }
      const drop = other.source === 'discovered' ? other : l;
      if (drop === other) byId.set(l.runId, l);
      this.links.delete(drop.addr);
      void drop.stop();
      this.log.info({ sentinel: drop.addr, same: (drop === l ? other : l).addr }, 'dropping duplicate sentinel link');
    }
  }

  private emitSentinelsIfChanged(): void {
    if (this.stopped) return;
    const key = JSON.stringify([...this.links.values()].map((l) => [l.addr, l.source, l.reachable, l.tilt]));
    if (key === this.lastSentinelsKey) return;
    this.lastSentinelsKey = key;
    this.emitEvent({ type: 'sentinels', snapshot: this.snapshot() });
  }

  // ---------------------------------------------------------------- sentinel events

  private onSentinelEvent(link: SentinelLink, channel: string, message: string): void {
    let ev: SentinelEvent | undefined;
    try {
      ev = parseSentinelEvent(channel, message, this.group);
    } catch {
      ev = undefined;
    }
    if (!ev || this.stopped) return;
    const fields = { event: channel, sentinel: link.addr, addr: ev.addr, master: ev.masterAddr };
    switch (ev.action) {
      case 'tilt':
      case 'untilt':
        link.setTilt(ev.action === 'tilt');
        break;
      case 'fence':
        this.log.info(fields, 'sentinel event');
        if (this.aboutCurrentMaster(ev)) this.fence(channel);
        break;
      case 'promoted':
        this.log.info(fields, 'sentinel event');
        if (this.aboutCurrentMaster(ev)) {
          this.fence(channel);
          this.setPromoted();
        }
        break;
      case 'switch':
        this.log.info({ ...fields, from: ev.oldMaster, to: ev.newMaster }, 'sentinel event');
        // Every sentinel publishes +switch-master as it learns the new configuration; only one
        // that moves away from the master in use is a sign of failover.
        if (ev.newMaster !== this.master && (this.master === undefined || ev.oldMaster === this.master)) {
          if (this.master !== undefined) {
            this.fence(channel);
            this.setPromoted();
          }
        }
        break;
      case 'abort':
        this.log.info(fields, 'sentinel event');
        if (this.fenced) this.abortSeen = channel;
        break;
      case 'sentinel':
        this.log.debug(fields, 'sentinel event');
        if (ev.addr) this.addSentinel(ev.addr, 'discovered', ev.instanceName);
        break;
      default:
        this.log.debug(fields, 'sentinel event');
    }
    // After the fence it may have raised, so the timeline places it in that failover.
    this.onSentinelMessage?.(channel, link.addr, ev);
    this.refresh(channel);
  }

  /** Does the event concern the master in use (or is no master known yet)? A slower sentinel's
   * +odown for a master we already left must not fence the new one. */
  private aboutCurrentMaster(ev: SentinelEvent): boolean {
    return this.master === undefined || ev.masterAddr === undefined || ev.masterAddr === this.master;
  }

  // ---------------------------------------------------------------- fence / master

  private fence(reason: string): void {
    if (this.fenced || this.master === undefined) return;
    this.fenced = true;
    this.fenceReason = reason;
    this.fenceTick = ++this.tick;
    this.fencedAt = Date.now();
    this.abortSeen = undefined;
    this.log.info({ event: 'fence', reason, master: this.master }, 'fenced: failover of the group under way');
    this.emitEvent({ type: 'fence', reason, snapshot: this.snapshot() });
  }

  private setPromoted(): void {
    if (!this.fenced || this.promoted) return;
    this.promoted = true;
    this.log.info({ event: 'promoted', master: this.master }, 'a replica was promoted: the old master may lose writes from now on');
    this.emitEvent({ type: 'promoted', snapshot: this.snapshot() });
  }

  private unfence(reason: string): void {
    if (!this.fenced) return;
    this.fenced = false;
    this.promoted = false;
    this.fenceReason = undefined;
    this.abortSeen = undefined;
    this.log.info({ event: 'unfence', reason, master: this.master }, 'unfenced: failover over, master unchanged');
    this.emitEvent({ type: 'unfence', reason, snapshot: this.snapshot() });
  }

  private switchMaster(addr: Addr, configEpoch: number | undefined): void {
    const previous = this.master;
    this.master = addr;
    this.masterEpoch++;
    this.configEpoch = configEpoch;
    this.fenced = false;
    this.promoted = false;
    this.fenceReason = undefined;
    this.abortSeen = undefined;
    this.masterProblem = undefined;
    this.offsetHistory = [];
    this.confirmed.clear();
    this.startProbe(addr);
    this.writeHold = writeHold(this.writeRuleInput(Date.now()));
    // Measured against the old master: judged afresh (in this same refresh).
    for (const g of this.gates.values()) g.reset();
    this.log.info({ event: 'master', master: addr, previous, configEpoch, masterEpoch: this.masterEpoch }, 'master verified');
    const ev: TopologyEvent = { type: 'master', snapshot: this.snapshot() };
    if (previous !== undefined) ev.previous = previous;
    this.emitEvent(ev);
  }

  private emitEvent(ev: TopologyEvent): void {
    try {
      this.emit('event', ev);
    } catch (err) {
      this.log.error({ err: err instanceof Error ? err.message : String(err), event: ev.type }, 'topology listener threw');
    }
  }

  // ---------------------------------------------------------------- write lease (issue 19)

  /** The write confirmer of `addr` while it is the verified master and writeSafety is `safe`. */
  writeConfirmer(addr: Addr): WriteConfirmer | undefined {
    const c = this.confirmer;
    return c !== undefined && c.addr === addr ? c : undefined;
  }

  /** Replicas that must hold a write before its reply goes (write confirmation,
   * ./write-confirm.ts; the rule: ./write-rule.ts). Counted after each probe and every 50 ms: the
   * confirmer reads it per reply chunk. */
  private ackNeeded = 0;

  private startProbe(addr: Addr): void {
    this.probe?.stop();
    // Replies waiting for confirmation on the old master are judged against the new one (it may be
    // the promoted replica that holds them).
    if (this.confirmer !== undefined && this.confirmer.addr !== addr) this.confirmer.handOver(addr);
    else this.confirmer?.stop();
    this.confirmer = undefined;
    if (this.cfg.topology.writeSafety === 'safe') {
      this.confirmer = new WriteConfirmer(addr, () => this.cfg, this.log, () => this.ackNeeded);
    }
    this.probe = new MasterProbe(addr, this.cfg, this.log, {
      onProbe: (p) => {
        if (p === this.probe) this.checkWriteHold();
      },
      onUnreachable: (p) => {
        if (p !== this.probe || this.stopped) return;
        this.emitEvent({ type: 'unreachable', addr: p.addr, snapshot: this.snapshot() });
        this.refresh('master unreachable');
      },
      onReachable: (p) => {
        if (p === this.probe) this.refresh('master answers again');
      },
    });
  }

  /** Sentinels that named the master in use, not down, in this poll: confirmed at the time of
   * their last good PING of it. */
  private noteConfirmations(trusted: SentinelLink[]): void {
    const now = Date.now();
    for (const l of trusted) {
      const m = l.lastPoll?.master;
      if (this.master === undefined || l.master !== this.master || l.flagsAddr !== this.master || !m) continue;
      if (l.masterFlags.some((f) => SENTINEL_DOWN_FLAGS.includes(f))) continue;
      const lastOk = Number(m['last-ok-ping-reply']);
      const downAfterMs = Number(m['down-after-milliseconds']);
      if (!Number.isFinite(lastOk) || !Number.isFinite(downAfterMs)) continue;
      this.confirmed.set(l.addr, { at: now - lastOk, downAfterMs });
    }
  }

  /** Sentinels whose confirmation of the master is younger than its down-after-milliseconds. */
  private freshConfirmations(now: number): number {
    let fresh = 0;
    for (const [addr, c] of this.confirmed) if (this.links.has(addr) && now - c.at < c.downAfterMs) fresh++;
    return fresh;
  }

  /** What the write rule (./write-rule.ts) is asked with. */
  private writeRuleInput(now: number): WriteRuleInput {
    return {
      now,
      writeSafety: this.cfg.topology.writeSafety,
      master: this.master,
      fenced: this.fenced,
      probe: this.probe,
      replicas: this.replicas,
      lastAnswer: this.lastAnswer,
      following: this.following,
      freshSentinels: this.freshConfirmations(now),
      sentinels: this.links.size,
    };
  }

  private checkWriteHold(): void {
    if (this.stopped || !this.started) return;
    const rule = this.writeRuleInput(Date.now());
    const needed = replicasNeeded(rule);
    if (needed !== this.ackNeeded) {
      // What the count was decided on (a lost write is read back from this).
      const ages = Object.fromEntries([...rule.lastAnswer].map(([a, at]) => [a, rule.now - at]));
      this.log.debug({ master: this.master, needed, was: this.ackNeeded, fenced: rule.fenced, streamsTo: rule.probe?.onlineAddrs, following: Object.fromEntries(rule.following), answeredMsAgo: ages, freshSentinels: rule.freshSentinels }, 'write confirmation: replicas needed');
      this.ackNeeded = needed;
    }
    const hold = writeHold(rule);
    if (hold === this.writeHold || (hold !== undefined && this.writeHold !== undefined)) {
      this.writeHold = hold; // the reason's text may change; the state did not
      return;
    }
    this.writeHold = hold;
    if (hold !== undefined) this.log.warn({ event: 'write-hold', master: this.master, reason: hold }, 'holding writes: the master may be on the minority side');
    else this.log.info({ event: 'write-hold-end', master: this.master }, 'writes released: the master\'s replicas acknowledge');
    this.emitEvent({ type: 'lease', snapshot: this.snapshot() });
  }

  // ---------------------------------------------------------------- refresh

  private runRefresh(reason: string): Promise<void> {
    const run = (async () => {
      let next: string | undefined = reason;
      while (next !== undefined && !this.stopped) {
        this.pendingReason = undefined;
        const t0 = performance.now();
        try {
          await this.refreshOnce(next);
          this.onRefreshDuration?.(performance.now() - t0);
        } catch (err) {
          this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'topology refresh failed');
        }
        next = this.pendingReason;
      }
    })();
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = undefined;
      this.schedulePoll();
    });
    return run;
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.refresh('poll');
    }, this.cfg.topology.pollIntervalMs);
  }

  private async refreshOnce(reason: string): Promise<void> {
    const startTick = ++this.tick;
    this.log.trace({ reason }, 'topology refresh');
    const links = [...this.links.values()];
    await Promise.all(links.map((l) => l.poll(this.group)));
    if (this.stopped) return;

    // Discovery.
    for (const l of links) {
      for (const s of l.lastPoll?.sentinels ?? []) {
        if (s['ip'] && s['port']) this.addSentinel(`${s['ip']}:${s['port']}`, 'discovered', s['runid'] || undefined);
      }
    }
    this.dedupeSentinels();

    const voters = links.filter((l) => this.links.has(l.addr));
    const decision = decideMaster(
      voters.map((l) => {
        const a: SentinelAnswer = { sentinel: l.addr, reachable: l.reachable, tilt: l.tilt };
        if (l.master !== undefined) a.master = l.master;
        if (l.configEpoch !== undefined) a.configEpoch = l.configEpoch;
        return a;
      }),
      this.master,
    );
    // Failover flags (`o_down`, `failover_in_progress`) that trusted sentinels have on the master in
    // use (flags on another address are about a master already left).
    const trusted = voters.filter((l) => l.reachable && !l.tilt && l.master !== undefined);
    const failoverFlags = [
      ...new Set(trusted.filter((l) => l.flagsAddr === this.master).flatMap((l) => l.masterFlags.filter((f) => FAILOVER_FLAGS.includes(f)))),
    ];
    this.decisionProblem = decisionText(decision);
    this.noteConfirmations(trusted);

    // Failover signs seen by polling (events may have been lost).
    if (this.master !== undefined) {
      if (failoverFlags.length > 0) this.fence(`poll: ${failoverFlags.join(',')}`);
      if (decision.master !== undefined && decision.master !== this.master) {
        this.fence('poll: sentinels name another master');
        this.setPromoted();
      }
    }

    // Verify: the named master (or, with no usable answer, the current one) must say ROLE master.
    const candidate = decision.master ?? this.master;
    // The replicas answer for themselves while the master is verified, so both are read at about
    // the same moment; the master's part below never waits for them (updateReplicas does, at
    // most REPLICA_PROBE_MAX_MS once per unresponsive replica: its next probes fail at once).
    const replicaAnswers = this.probeReplicas(candidate);
    let verified = false;
    let info: Record<string, string> | undefined;
    if (candidate !== undefined) {
      const admin = this.admin(candidate);
      try {
        const { role, info: inf } = await admin.probe(this.requestTimeoutMs);
        if (this.stopped) return;
        const r = String(role[0]);
        if (r === 'master') {
          verified = true;
          info = inf;
        } else if (candidate === this.master) {
          this.fence('master-not-master');
          this.masterProblem = `master ${candidate} answers ROLE ${r}`;
        } else {
          this.log.debug({ candidate, role: r }, 'named master not verified yet');
          this.decisionProblem = `named master ${candidate} answers ROLE ${r}`;
        }
      } catch (err) {
        if (this.stopped) return;
        const msg = err instanceof Error ? err.message : String(err);
        if (candidate === this.master) this.masterProblem = `master ${candidate} not answering ROLE: ${msg}`;
        else this.decisionProblem = `named master ${candidate} not verified: ${msg}`;
      }
    }
    if (this.stopped) return;

    if (verified && candidate !== undefined) {
      if (candidate !== this.master) {
        this.switchMaster(candidate, decision.configEpoch);
      } else {
        this.masterProblem = undefined;
        if (decision.master === candidate && decision.configEpoch !== undefined) this.configEpoch = decision.configEpoch;
        if (this.fenced && decision.master === candidate) {
          const noFlags = failoverFlags.length === 0;
          if (noFlags && !this.promoted && startTick > this.fenceTick) {
            this.unfence(this.abortSeen ?? (this.fenceReason === 'master-not-master' ? 'master verified again' : 'poll: no failover in progress'));
          } else if (
            !failoverFlags.includes('failover_in_progress') &&
            Date.now() - this.fencedAt > this.cfg.failover.holdTimeoutMs * 3 &&
            startTick > this.fenceTick
          ) {
            this.unfence('fence-timeout: no failover in progress, same master verified');
          }
        }
      }
    }

    const verifiedNow = verified && candidate === this.master;
    this.updateReplicas(verifiedNow ? info : undefined, await replicaAnswers, verifiedNow);
    if (this.stopped) return;
    this.pruneAdmins(candidate);
    this.emitSentinelsIfChanged();
  }

  private admin(addr: Addr): AdminLink {
    let a = this.admins.get(addr);
    if (!a) {
      a = new AdminLink(addr, this.cfg);
      this.admins.set(addr, a);
    }
    return a;
  }

  private pruneAdmins(candidate: Addr | undefined): void {
    for (const [addr, a] of this.admins) {
      if (addr !== this.master && addr !== candidate && !this.gates.has(addr)) {
        this.admins.delete(addr);
        void a.close();
      }
    }
  }

  // ---------------------------------------------------------------- replicas

  /** Replicas the sentinels naming `master` list (reachable, not in TILT). */
  private listedReplicas(master: Addr | undefined): Set<Addr> {
    const out = new Set<Addr>();
    if (master === undefined) return out;
    for (const l of this.links.values()) {
      if (!l.reachable || l.tilt || l.flagsAddr !== master) continue;
      for (const r of l.lastPoll?.replicas ?? []) if (r['ip'] && r['port']) out.add(`${r['ip']}:${r['port']}`);
    }
    // No sentinel lists them (all unreachable, say): the replicas known so far.
    if (out.size === 0) for (const r of this.replicas) out.add(r.addr);
    out.delete(master);
    return out;
  }

  /** Every listed replica's own INFO replication, bounded (a frozen one answers nothing: it
   * stays out of the map). Never rejects. */
  private async probeReplicas(master: Addr | undefined): Promise<Map<Addr, ReplicaAnswer>> {
    const out = new Map<Addr, ReplicaAnswer>();
    const timeoutMs = Math.min(this.requestTimeoutMs, REPLICA_PROBE_MAX_MS);
    await Promise.all(
      [...this.listedReplicas(master)].map(async (addr) => {
        try {
          const { info } = await this.admin(addr).probe(timeoutMs);
          if (!info) return;
          if (this.unreachable.delete(addr)) this.log.info({ replica: addr }, 'replica answers again');
          const offset = Number(info['slave_repl_offset'] ?? info['master_repl_offset']);
          const following = info['role'] === 'slave' && info['master_host'] && info['master_port'] ? `${info['master_host']}:${info['master_port']}` : undefined;
          out.set(addr, { role: info['role'] ?? '', linkUp: info['master_link_status'] === 'up', offset: Number.isFinite(offset) ? offset : 0, following });
        } catch {
          // Not answering: judged from the master's view and the time since its last answer,
          // and checked for a dead path once that is older than the liveness timeout.
          this.checkReplicaPath(addr);
        }
      }),
    );
    return out;
  }

  private updateReplicas(masterInfo: Record<string, string> | undefined, answers: Map<Addr, ReplicaAnswer>, masterVerified: boolean): void {
    const now = Date.now();
    let lines: Map<Addr, ReplicaInfoEntry> | undefined;
    if (masterInfo && masterInfo['role'] === 'master') {
      const off = Number(masterInfo['master_repl_offset']);
      if (Number.isFinite(off)) {
        const last = this.offsetHistory[this.offsetHistory.length - 1];
        if (last && off < last.offset) this.offsetHistory = [];
        this.offsetHistory.push({ t: now, offset: off });
        while (this.offsetHistory.length > HISTORY_MAX || (this.offsetHistory.length > 2 && now - this.offsetHistory[0]!.t > HISTORY_MAX_AGE_MS)) {
          this.offsetHistory.shift();
        }
      }
      lines = parseReplicaLines(masterInfo);
    }
    for (const [addr, a] of answers) {
      this.lastAnswer.set(addr, now);
      if (a.following === undefined) this.following.delete(addr);
      else this.following.set(addr, a.following);
    }
    const maxLag = this.cfg.reads.maxLagMs;
    const windows = healthWindows(this.cfg.topology.pollIntervalMs);
    let recheckAt: number | undefined;
    const judge = (addr: Addr, j: ReturnType<typeof judgeReplica>): boolean => {
      let gate = this.gates.get(addr);
      if (!gate) this.gates.set(addr, (gate = new HealthGate()));
      const was = gate.state;
      const r = gate.apply(j, now, windows);
      if (r.recheckAt !== undefined) recheckAt = Math.min(recheckAt ?? Infinity, r.recheckAt);
      if (gate.state !== was && was !== 'unknown') {
        this.log.info({ replica: addr, lagMs: j.lagMs, reason: j.reason }, gate.state === 'in' ? 'replica back in the read pool' : 'replica left the read pool');
      }
      return gate.state === 'in';
    };

    // The replica list of the best sentinel: one naming the current master, newest epoch first.
    const best = [...this.links.values()]
      .filter((l) => l.reachable && !l.tilt && l.lastPoll && l.flagsAddr === this.master && this.master !== undefined)
      .sort((a, b) => (b.configEpoch ?? -1) - (a.configEpoch ?? -1))[0];
    // Without a sentinel naming the master (all unreachable, say), the last list is measured still.
    const listed: Array<{ addr: Addr; flags: string[]; sentinelLinkOk: boolean; sentinelOffset: number }> | undefined = best?.lastPoll
      ? best.lastPoll.replicas
          .filter((r) => r['ip'] && r['port'])
          .map((r) => ({
            addr: `${r['ip']}:${r['port']}`,
            flags: (r['flags'] ?? '').split(',').filter(Boolean),
            sentinelLinkOk: r['master-link-status'] === 'ok',
            sentinelOffset: Number(r['slave-repl-offset'] ?? 0) || 0,
          }))
      : lines !== undefined
        ? this.replicas.map((r) => ({ addr: r.addr, flags: r.flags, sentinelLinkOk: r.linkUp, sentinelOffset: r.offset }))
        : undefined;
    if (listed) {
      const seen = new Set<Addr>();
      this.replicas = listed
        .map(({ addr, flags, sentinelLinkOk, sentinelOffset }) => {
          seen.add(addr);
          const obs: ReplicaObservation = { addr, flags, sentinelLinkOk, masterInfoRead: lines !== undefined, isMaster: addr === this.master };
          const line = lines?.get(addr);
          if (line) obs.masterLine = line;
          const own = answers.get(addr);
          if (own) obs.own = own;
          const at = this.lastAnswer.get(addr);
          if (at !== undefined) obs.lastAnswerAt = at;
          if (this.unreachable.has(addr)) obs.unreachable = true;
          const j = judgeReplica(obs, this.offsetHistory, now, maxLag);
          // Without any measure of its own, Sentinel's view of the offset (refreshed every 10 s).
          const rs: ReplicaState = { addr, flags, linkUp: j.linkUp, offset: line || own ? j.offset : sentinelOffset, healthy: judge(addr, j) };
          if (j.lagMs !== undefined) rs.lagMs = j.lagMs;
          return rs;
        })
        .sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
      for (const addr of [...this.gates.keys()]) {
        if (!seen.has(addr)) {
          this.gates.delete(addr);
          this.lastAnswer.delete(addr);
          this.following.delete(addr);
          this.unreachable.delete(addr);
        }
      }
      // (A master whose INFO cannot be read, e.g. an ACL without it, leaves every replica out
      // after the confirmation window: measured too, and reads follow reads.fallback.)
      if (masterVerified && [...this.gates.values()].every((g) => g.state !== 'unknown')) this.replicasMeasured = true;
    } else {
      // Neither sentinels nor the master answered: nothing is measured; replicas leave the pool
      // once that has lasted the confirmation window.
      this.replicas = this.replicas.map((r) => ({ ...r, healthy: judge(r.addr, { ok: false, definite: false, reason: 'not measured', linkUp: r.linkUp, offset: r.offset }) }));
    }
    if (recheckAt !== undefined) this.scheduleRecheck(recheckAt);
    const key = JSON.stringify([this.replicasMeasured, this.replicas.map((r) => [r.addr, r.flags, r.linkUp, r.healthy])]);
    if (key !== this.lastReplicasKey) {
      this.lastReplicasKey = key;
      this.log.debug({ replicas: this.replicas.map((r) => ({ addr: r.addr, healthy: r.healthy, lagMs: r.lagMs })) }, 'replicas changed');
      this.emitEvent({ type: 'replicas', snapshot: this.snapshot() });
    }
  }

  /**
   * Liveness of a replica's path (issue 19), after a probe it did not answer: once it has not
   * answered for topology.livenessTimeoutMs, a fresh TCP connection tells a busy or frozen node
   * (the kernel still completes the handshake; health judges it) from a dead path. A dead path
   * is not left to TCP: reads in flight on links to it would wait for its retransmissions (many
   * seconds, past the end of the partition), and its lag bound (reads.maxLagMs) could keep it in
   * the pool meanwhile. At most one check per replica at a time, only for replicas already past
   * the timeout: a healthy group costs nothing.
   */
  private checkReplicaPath(addr: Addr): void {
    if (this.stopped || this.unreachable.has(addr) || this.handshaking.has(addr)) return;
    const since = this.lastAnswer.get(addr);
    if (since === undefined || Date.now() - since < this.cfg.topology.livenessTimeoutMs) return;
    this.handshaking.add(addr);
    void tcpHandshakes(addr, this.cfg.topology.connectTimeoutMs).then((ok) => {
      this.handshaking.delete(addr);
      // (Answered meanwhile, or no longer a replica of the group: nothing to do.)
      if (ok || this.stopped || this.lastAnswer.get(addr) !== since || !this.gates.has(addr)) return;
      this.replicaUnreachable(addr);
    });
  }

  /** Out of the read pool at once (the snapshot the event carries says so), links cut by the
   * group on the `unreachable` event; back through the usual hysteresis once it answers. */
  private replicaUnreachable(addr: Addr): void {
    this.unreachable.add(addr);
    this.log.warn({ replica: addr }, `replica ${UNREACHABLE_REASON}`);
    // Its admin link's request is stuck on the dead path: the next probe opens a new one.
    const admin = this.admins.get(addr);
    if (admin) {
      this.admins.delete(addr);
      admin.cut();
    }
    const gate = this.gates.get(addr);
    const r = this.replicas.find((x) => x.addr === addr);
    if (gate && r) {
      const was = gate.state;
      gate.apply({ ok: false, definite: true, reason: UNREACHABLE_REASON, linkUp: r.linkUp, offset: r.offset }, Date.now(), healthWindows(this.cfg.topology.pollIntervalMs));
      if (was === 'in') this.log.info({ replica: addr, reason: UNREACHABLE_REASON }, 'replica left the read pool');
      this.replicas = this.replicas.map((x) => (x.addr === addr ? { ...x, healthy: false } : x));
    }
    this.emitEvent({ type: 'unreachable', addr, snapshot: this.snapshot() });
    this.refresh('replica unreachable');
  }

  /** A measurement at `at` (to confirm a replica leaving, or let one back), unless one is due sooner. */
  private scheduleRecheck(at: number): void {
    if (this.stopped) return;
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      this.refresh('replica recheck');
    }, Math.max(0, at - Date.now()));
  }
}

function decisionText(d: MasterDecision): string | undefined {
  switch (d.reason) {
    case undefined:
      return undefined;
    case 'no-sentinel-reachable':
      return 'no sentinel reachable';
    case 'all-sentinels-tilt':
      return 'every reachable sentinel is in TILT mode';
    case 'no-answer':
      return 'no sentinel knows the group';
    case 'tie':
      return `sentinels disagree: ${d.candidates.map((c) => `${c.addr} (${c.votes})`).join(', ')}`;
  }
}
