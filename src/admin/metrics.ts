// Prometheus metrics on the proxy's own prom-client Registry (never the global one, so a library
// user embedding the proxy keeps theirs clean). Every name is listed in docs/operations.md ("Metrics").
//
// The hot path only does `count.value++` on plain objects (GroupStats in src/group.ts,
// ListenerStats in src/listener.ts); the metrics here read those in `collect()` when /metrics is
// scraped. Only the two histograms are observed as things happen (a fence ending, a topology
// refresh finishing), which is rare.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEFAULT_READINESS } from '../config/defaults.js';
import type { HostPort, ReadinessMode } from '../config/types.js';
import type { GroupRuntime, GroupStats } from '../group.js';
import { majorityOf } from '../topology/decide.js';
import type { SentinelEvent } from '../topology/events.js';
import { buildInfo } from '../build-info.js';
import { LATENCY_BUCKETS_S } from './latency.js';
import type { ListenerKind, ListenerStats } from '../listener.js';

/** What /metrics and /topology see of one group. */
export interface GroupView {
  readonly runtime: GroupRuntime;
  /** Per listener kind, including listeners retired by a reload whose sessions still run. */
  readonly listenerStats: ReadonlyMap<ListenerKind, ListenerStats>;
  /** Where each kind of listener accepts now (none while draining). */
  readonly addresses: ReadonlyMap<ListenerKind, HostPort>;
  /** Removed from the configuration by a reload: no longer accepting, sessions draining. */
  readonly draining: boolean;
}

export const METRIC_PREFIX = 'rsp_';

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly fenceSeconds: Histogram<'group'>;
  private readonly refreshSeconds: Histogram<'group'>;
  private readonly reloads: Counter<'result'>;
  private readonly lastReloadOk: Gauge;
  private readonly lastReloadOkAt: Gauge;

  constructor(
    private readonly groups: () => Iterable<GroupView>,
    /** admin.readiness, read at each scrape (a reload may change it). */
    readinessMode: () => ReadinessMode = () => DEFAULT_READINESS,
  ) {
    const reg = this.registry;
    const registers = [reg];
    collectDefaultMetrics({ register: reg });
    const source = groups;

    // ---- group counters, from GroupStats
    const groupCounter = (name: string, help: string, pick: (s: GroupStats) => number) =>
      new Counter({
        name: METRIC_PREFIX + name,
        help,
        labelNames: ['group'] as const,
        registers,
        collect() {
          this.reset();
          for (const g of source()) this.inc({ group: g.runtime.name }, pick(g.runtime.metrics));
        },
      });
    groupCounter('commands_total', 'Commands received from clients (every listener of the group).', (s) => s.commands.value);
    groupCounter('commands_held_total', 'Commands held (not sent) because the group was fenced, had no verified master or its link was being replaced.', (s) => s.held.value);
    groupCounter('hold_timeouts_total', 'Held commands answered with a retryable MASTERDOWN error after failover.holdTimeoutMs.', (s) => s.holdTimeouts.value);
    groupCounter('inflight_lost_total', 'Commands sent to a node whose link died before the reply (the client got an error; never re-sent).', (s) => s.linkLost.value);
    groupCounter('writes_unconfirmed_total', 'Replies to writes the master gave that no replica confirmed (topology.writeSafety: safe): the client got the in-flight error instead (they are also in rsp_inflight_lost_total).', (s) => s.unconfirmed.value);
    groupCounter('commands_reissued_total', 'Blocking commands unblocked on the demoted master and re-issued on the new one.', (s) => s.reissued.value);
    groupCounter('sessions_rehomed_total', 'Client sessions moved to a new master at a command boundary.', (s) => s.rehomed.value);
    groupCounter('backend_connects_total', 'Backend (client-side) connections opened to Redis nodes.', (s) => s.backendConnects.value);
    groupCounter('backend_connect_errors_total', 'Backend connections to Redis nodes that failed before being established.', (s) => s.backendConnectErrors.value);
    groupCounter('protocol_errors_total', 'Client connections closed for a RESP protocol error.', (s) => s.protocolErrors.value);
    groupCounter('fences_total', 'Failovers observed: fences raised at the first sign of a failover.', (s) => s.fences.value);
    groupCounter('master_changes_total', 'Times a new master was verified (the first master at start included).', (s) => s.masterChanges.value);
    groupCounter('reads_on_master_total', 'Commands of read-only-listener sessions sent to the master because no replica was healthy (reads.fallback: master).', (s) => s.readsOnMaster.value);
    new Counter({
      name: METRIC_PREFIX + 'replica_health_transitions_total',
      help: 'Times a replica entered (to="healthy") or left (to="unhealthy") the read pool: flapping shows here.',
      labelNames: ['group', 'replica', 'to'] as const,
      registers,
      collect() {
        this.reset();
        for (const g of source()) {
          for (const [replica, n] of g.runtime.replicas.transitions()) {
            this.inc({ group: g.runtime.name, replica, to: 'healthy' }, n.healthy);
            this.inc({ group: g.runtime.name, replica, to: 'unhealthy' }, n.unhealthy);
          }
        }
      },
    });

    // ---- per listener
    const listenerLabels = ['group', 'listener'] as const;
    const perListener = (each: (g: GroupView, kind: ListenerKind, st: ListenerStats) => void) => {
      for (const g of source()) for (const [kind, st] of g.listenerStats) each(g, kind, st);
    };
    new Gauge({
      name: METRIC_PREFIX + 'sessions_open',
      help: 'Client sessions open now.',
      labelNames: listenerLabels,
      registers,
      collect() {
        this.reset();
        perListener((g, kind, st) => this.set({ group: g.runtime.name, listener: kind }, st.open.size));
      },
    });
    new Counter({
      name: METRIC_PREFIX + 'sessions_total',
      help: 'Client sessions accepted.',
      labelNames: listenerLabels,
      registers,
      collect() {
        this.reset();
        perListener((g, kind, st) => this.inc({ group: g.runtime.name, listener: kind }, st.accepted.value));
      },
    });
    new Counter({
      name: METRIC_PREFIX + 'connections_rejected_total',
      help: 'Client connections refused: reason="maxclients" (-ERR max number of clients reached) or "shutting_down".',
      labelNames: [...listenerLabels, 'reason'] as const,
      registers,
      collect() {
        this.reset();
        perListener((g, kind, st) => {
          this.inc({ group: g.runtime.name, listener: kind, reason: 'maxclients' }, st.rejectedMaxClients.value);
          this.inc({ group: g.runtime.name, listener: kind, reason: 'shutting_down' }, st.rejectedShuttingDown.value);
        });
      },
    });
    new Counter({
      name: METRIC_PREFIX + 'client_received_bytes_total',
      help: 'Bytes received from clients.',
      labelNames: listenerLabels,
      registers,
      collect() {
        this.reset();
        perListener((g, kind, st) => this.inc({ group: g.runtime.name, listener: kind }, st.bytesIn()));
      },
    });
    new Counter({
      name: METRIC_PREFIX + 'client_sent_bytes_total',
      help: 'Bytes sent to clients.',
      labelNames: listenerLabels,
      registers,
      collect() {
        this.reset();
        perListener((g, kind, st) => this.inc({ group: g.runtime.name, listener: kind }, st.bytesOut()));
      },
    });

    // ---- topology, from the snapshot
    const groupGauge = (name: string, help: string, pick: (g: GroupView) => number) =>
      new Gauge({
        name: METRIC_PREFIX + name,
        help,
        labelNames: ['group'] as const,
        registers,
        collect() {
          this.reset();
          for (const g of source()) this.set({ group: g.runtime.name }, pick(g));
        },
      });
    groupGauge('sentinels_reachable', 'Sentinels of the group the proxy has a working link to (sentinel links up).', (g) => g.runtime.topology.snapshot().reachableSentinels);
    groupGauge('sentinels_known', 'Sentinels known: configured plus discovered.', (g) => g.runtime.topology.snapshot().knownSentinels);
    groupGauge('master_verified', '1 when the group has a verified master (Sentinel names it and ROLE says master).', (g) => (g.runtime.master !== undefined ? 1 : 0));
    groupGauge('ready', '1 when the group is ready (as /readyz, by admin.readiness): a verified master to send to; "strict" also wants a reachable sentinel.', (g) =>
      isReady(g.runtime, readinessMode()) ? 1 : 0,
    );
    groupGauge('fenced', '1 while new commands are held: failover under way, no verified master, or no sentinel majority when required.', (g) => (g.runtime.blocked ? 1 : 0));
    groupGauge('master_epoch', 'Increments each time the proxy switches to a new master.', (g) => g.runtime.masterEpoch);
    groupGauge('replicas', 'Replicas Sentinel reports for the group.', (g) => g.runtime.topology.snapshot().replicas.length);
    groupGauge('replicas_healthy', 'Replicas fit for reads: up, linked to the master, lag within reads.maxLagMs.', (g) => g.runtime.topology.snapshot().replicas.filter((r) => r.healthy).length);
    groupGauge('draining', '1 for a group removed by a reload whose sessions are still draining.', (g) => (g.draining ? 1 : 0));
    new Gauge({
      name: METRIC_PREFIX + 'replica_lag_seconds',
      help: 'Estimated replication lag of each replica behind the master (absent when unknown).',
      labelNames: ['group', 'replica'] as const,
      registers,
      collect() {
        this.reset();
        for (const g of source()) {
          for (const r of g.runtime.topology.snapshot().replicas) {
            if (r.lagMs !== undefined) this.set({ group: g.runtime.name, replica: r.addr }, r.lagMs / 1000);
          }
        }
      },
    });

    // ---- observed as they happen
    this.fenceSeconds = new Histogram({
      name: METRIC_PREFIX + 'fence_duration_seconds',
      help: 'How long the group held new commands: from the fence (or loss of the master) to the verified new master, or to the fence being lifted.',
      labelNames: ['group'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
      registers,
    });
    this.refreshSeconds = new Histogram({
      name: METRIC_PREFIX + 'topology_refresh_duration_seconds',
      help: 'Duration of one topology refresh: poll every sentinel, decide the master, verify it with ROLE, read INFO replication.',
      labelNames: ['group'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.reloads = new Counter({
      name: METRIC_PREFIX + 'config_reloads_total',
      help: 'Configuration reloads (SIGHUP) applied: result="ok", or "partial" when some change failed (e.g. a port in use).',
      labelNames: ['result'] as const,
      registers,
    });
    this.reloads.inc({ result: 'ok' }, 0);
    this.reloads.inc({ result: 'partial' }, 0);
    this.reloads.inc({ result: 'invalid' }, 0);

    // ---- issue 18: build, reload status, per-command latency
    const build = buildInfo();
    new Gauge({
      name: METRIC_PREFIX + 'build_info',
      help: 'Always 1; the labels say which build runs: the proxy version, the commit it was built from, the Node.js version, the platform.',
      labelNames: ['version', 'commit', 'node', 'platform'] as const,
      registers,
    }).set({ version: build.version, commit: build.commit?.slice(0, 12) ?? 'unknown', node: process.version, platform: `${process.platform}/${process.arch}` }, 1);
    this.lastReloadOk = new Gauge({
      name: METRIC_PREFIX + 'config_last_reload_successful',
      help: 'Whether the last configuration reload (SIGHUP) was applied whole: 1 (or no reload yet), 0 when it was invalid or partly failed.',
      registers,
    });
    this.lastReloadOk.set(1);
    this.lastReloadOkAt = new Gauge({
      name: METRIC_PREFIX + 'config_last_reload_success_timestamp_seconds',
      help: 'Unix time of the last configuration applied whole: the last successful reload, or the start.',
      registers,
    });
    this.lastReloadOkAt.set(Date.now() / 1000);
    reg.registerMetric(commandDurationMetric(source) as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Hooks the histograms to a group's fence ends and its watcher's refreshes. */
  attach(group: GroupRuntime, watcher: WatcherHooks): void {
    const labels = { group: group.name };
    // Zero series from the start, so rate() works before the first failover.
    this.fenceSeconds.zero(labels);
    this.refreshSeconds.zero(labels);
    group.metrics.onFenceDuration = (ms) => this.fenceSeconds.observe(labels, ms / 1000);
    watcher.onRefreshDuration = (ms) => this.refreshSeconds.observe(labels, ms / 1000);
    // The event log and failover timeline see each sentinel's messages (src/admin/events.ts).
    if ('onSentinelMessage' in watcher) watcher.onSentinelMessage = (ch, from, ev) => group.observe.sentinel(ch, from, ev);
  }

  /** A group is gone (removed by a reload and drained): drop its histogram series. */
  detach(group: GroupRuntime, watcher: WatcherHooks): void {
    group.metrics.onFenceDuration = undefined;
    watcher.onRefreshDuration = undefined;
    if ('onSentinelMessage' in watcher) watcher.onSentinelMessage = undefined;
    // A group of the same name may be back already (removed, then added again by a later reload).
    if ([...this.groups()].some((g) => g.runtime !== group && g.runtime.name === group.name)) return;
    this.fenceSeconds.remove({ group: group.name });
    this.refreshSeconds.remove({ group: group.name });
  }

  /** A SIGHUP reload: applied whole (`ok` / true), partly (`partial` / false: some change failed),
   * or not at all because the new configuration is invalid (`invalid`, from the CLI). */
  reloaded(result: boolean | 'ok' | 'partial' | 'invalid'): void {
    const r = result === true ? 'ok' : result === false ? 'partial' : result;
    this.reloads.inc({ result: r });
    this.lastReloadOk.set(r === 'ok' ? 1 : 0);
    if (r === 'ok') this.lastReloadOkAt.set(Date.now() / 1000);
  }

  /** The text exposition format and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The watcher's hooks the registry sets (src/topology/watcher.ts). */
export interface WatcherHooks {
  onRefreshDuration: ((ms: number) => void) | undefined;
  onSentinelMessage?: ((channel: string, sentinel: string, ev: SentinelEvent) => void) | undefined;
}

/**
 * rsp_command_duration_seconds{group,command}: the groups' own arrays (src/admin/latency.ts) in the
 * histogram exposition format, read at scrape time. A plain prom-client Histogram would build a
 * label key per observation on the per-command path. Only commands seen so far get series.
 */
function commandDurationMetric(groups: () => Iterable<GroupView>) {
  const name = METRIC_PREFIX + 'command_duration_seconds';
  const help =
    'Time from a command\'s arrival at the proxy to the last byte of its reply (held time included), per command name (the packaged command table; others are "other").';
  const les = LATENCY_BUCKETS_S.map(String);
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    labelNames: ['group', 'command'],
    reset() {},
    async get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      const seen = new Set<string>();
      for (const g of groups()) {
        const group = g.runtime.name;
        if (seen.has(group)) continue; // a group removed by a reload and added again: the serving one
        seen.add(group);
        for (const row of g.runtime.observe.latency.rows()) {
          const labels = { group, command: row.command };
          for (let i = 0; i < les.length; i++) values.push({ labels: { ...labels, le: les[i] }, value: row.buckets[i], metricName: name + '_bucket' });
          values.push({ labels: { ...labels, le: '+Inf' }, value: row.count, metricName: name + '_bucket' });
          values.push({ labels, value: row.sumSeconds, metricName: name + '_sum' });
          values.push({ labels, value: row.count, metricName: name + '_count' });
        }
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
}

export interface Readiness {
  ready: boolean;
  /** Why not ready. */
  reason?: string;
  /** Ready, but something an operator should see (e.g. no sentinel reachable: the last verified
   * master is still served, as README.md "Topology" describes). */
  warning?: string;
}

/**
 * Ready (as /readyz) = the group can send commands to a verified master now:
 * - a master is verified (Sentinel names it and its ROLE said master), and
 * - it still answers ROLE as master (the watcher's `masterProblem`: e.g. killed, not yet declared
 *   down by Sentinel), and
 * - the group is not holding commands: no fence (failover under way) and, with
 *   requireSentinelMajority, a majority of sentinels reachable, and
 * - with a read-only listener, replica health has been measured once (issue 16).
 * `master` (the default): with sentinels unreachable the last verified master is kept and the
 * group stays ready, with a warning. `strict`: no reachable sentinel is not ready (the proxy could
 * no longer follow a failover), and neither is a master problem seen with a sentinel majority.
 */
export function readiness(g: GroupRuntime, mode: ReadinessMode = DEFAULT_READINESS): Readiness {
  const snap = g.topology.snapshot();
  if (mode === 'master') {
    if (g.master === undefined || snap.master === undefined) return { ready: false, reason: snap.notReadyReason ?? 'no verified master' };
    if (!snap.ready || g.blocked) return strictReadiness(g, snap);
    if (snap.masterProblem !== undefined) return { ready: false, reason: snap.masterProblem };
    if (g.config.readListen && !snap.replicasMeasured) return { ready: false, reason: 'read listener: replica health not measured yet' };
    return snap.notReadyReason !== undefined ? { ready: true, warning: snap.notReadyReason } : { ready: true };
  }
  return strictReadiness(g, snap);
}

/** Today's stricter rule (admin.readiness: strict). */
function strictReadiness(g: GroupRuntime, snap: ReturnType<GroupRuntime['topology']['snapshot']>): Readiness {
  if (g.master === undefined || snap.master === undefined) return { ready: false, reason: snap.notReadyReason ?? 'no verified master' };
  if (!snap.ready) return { ready: false, reason: snap.notReadyReason ?? 'not ready' };
  if (g.blocked) {
    const reason =
      g.blockedReason === 'fence'
        ? `failover in progress: holding commands (${snap.fenceReason ?? 'fenced'})`
        : g.blockedReason === 'majority'
          ? `fewer than a majority of sentinels reachable (${snap.reachableSentinels} of ${snap.knownSentinels})`
          : g.blockedReason === 'lease'
            ? `holding writes: ${snap.writeHold ?? 'the master may be on the minority side'}`
            : 'no verified master';
    return { ready: false, reason };
  }
  // DESIGN.md: with every sentinel unreachable the last verified master is still served, but the
  // proxy reports not-ready (it could no longer follow a failover).
  if (snap.reachableSentinels === 0) return { ready: false, reason: snap.notReadyReason ?? 'no sentinel reachable' };
  // Issue 16: a read listener cannot place a read before replica health is measured.
  if (g.config.readListen && !snap.replicasMeasured) return { ready: false, reason: 'read listener: replica health not measured yet' };
  const majority = snap.reachableSentinels >= majorityOf(snap.knownSentinels);
  // With a sentinel majority, the snapshot's remaining reason is about the master itself.
  if (snap.notReadyReason !== undefined && majority) return { ready: false, reason: snap.notReadyReason };
  if (snap.notReadyReason !== undefined) return { ready: true, warning: snap.notReadyReason };
  return { ready: true };
}

export function isReady(g: GroupRuntime, mode: ReadinessMode = DEFAULT_READINESS): boolean {
  return readiness(g, mode).ready;
}
