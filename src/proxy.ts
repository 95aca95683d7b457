// Wiring: per group a TopologyWatcher, a GroupRuntime and its listeners; the metrics registry and
// the admin server; SIGHUP reload; graceful close. The CLI and the sandbox call `startProxy`.
//
// Groups are isolated: each has its own watcher, sentinel links, sessions and listeners, and
// nothing one group does waits on another (their watchers start in parallel), so a group whose
// sentinels are all unreachable only makes its own clients wait.
import type { GroupConfig, HostPort, ProxyConfig } from './config/types.js';
import { DEFAULT_READINESS } from './config/defaults.js';
import type { Logger } from './logger.js';
import { CommandTable } from './commands/table.js';
import { listenerWarnings } from './security.js';
import { TopologyWatcher } from './topology/watcher.js';
import { GroupRuntime } from './group.js';
import { Listener, ListenerStats, type ListenerKind } from './listener.js';
import { AdminServer } from './admin/server.js';
import { ProxyMetrics, type GroupView } from './admin/metrics.js';

/** What a reload did, in words an operator reads in the log. */
export interface ReloadResult {
  /** Changes now in effect (some only for connections accepted from now on: said so). */
  applied: string[];
  /** Changes that were read but take effect only after a restart. */
  restartNeeded: string[];
  /** Changes that were tried and failed (e.g. a new listen port in use); the old state is kept. */
  failed: string[];
}

export interface RunningProxy {
  /** Addresses bound now (port 0 resolved), per group; updated by reloads. */
  listeners: { group: string; kind: ListenerKind; host: string; port: number }[];
  admin?: { host: string; port: number };
  /** Groups being served; updated by reloads (a removed group leaves at once, while it drains). */
  groups: GroupRuntime[];
  metrics: ProxyMetrics;
  /** SIGHUP: apply a new, already validated configuration without dropping clients. */
  reload(config: ProxyConfig): Promise<ReloadResult>;
  /** Graceful shutdown: stop accepting, drain, close. Resolves when everything is closed. */
  close(): Promise<void>;
}

/** One group and everything it owns. */
class GroupUnit implements GroupView {
  /** The accepting listener of each kind. */
  readonly listeners = new Map<ListenerKind, Listener>();
  /** Listeners replaced by a reload (listen address changed): not accepting, sessions running. */
  readonly retired = new Set<Listener>();
  readonly listenerStats = new Map<ListenerKind, ListenerStats>();
  draining = false;
  /** Resolves when the watcher's first refresh is done. */
  started: Promise<void> = Promise.resolve();

  constructor(
    public config: GroupConfig,
    readonly watcher: TopologyWatcher,
    readonly runtime: GroupRuntime,
    readonly log: Logger,
  ) {}

  get addresses(): ReadonlyMap<ListenerKind, HostPort> {
    const m = new Map<ListenerKind, HostPort>();
    for (const [kind, l] of this.listeners) if (l.address) m.set(kind, l.address);
    return m;
  }

  stats(kind: ListenerKind): ListenerStats {
    let s = this.listenerStats.get(kind);
    if (!s) {
      s = new ListenerStats();
      this.listenerStats.set(kind, s);
    }
    return s;
  }

  allListeners(): Listener[] {
    return [...this.listeners.values(), ...this.retired];
  }
}

/** The listeners a group config asks for: the master listener, and the read-only one (replicas)
 * when `readListen` is set. */
function wantedListeners(gc: GroupConfig): [ListenerKind, HostPort][] {
  return gc.readListen ? [['master', gc.listen], ['read', gc.readListen]] : [['master', gc.listen]];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const hp = (a: HostPort | undefined): string => (a ? `${a.host}:${a.port}` : 'none');

export async function startProxy(initial: ProxyConfig, logger: Logger): Promise<RunningProxy> {
  const table = CommandTable.packaged();
  let config = initial;
  /** Serving groups, by name, in config order. */
  const units = new Map<string, GroupUnit>();
  /** Removed by a reload, sessions still draining. */
  const draining = new Set<GroupUnit>();
  const readinessMode = () => config.admin.readiness ?? DEFAULT_READINESS;
  const metrics = new ProxyMetrics(() => [...units.values(), ...draining], readinessMode);
  const bound: RunningProxy['listeners'] = [];
  const groups: GroupRuntime[] = [];
  let admin: AdminServer | undefined;
  let closing: Promise<void> | undefined;
  // Exposed listeners without TLS or client authentication: say so once, loudly (issue 6).
  for (const w of listenerWarnings(initial)) logger.warn(w);

  /** Keeps the public arrays (read by the CLI, the sandbox, tests) in step with `units`. */
  const publish = () => {
    bound.length = 0;
    groups.length = 0;
    for (const u of units.values()) {
      groups.push(u.runtime);
      for (const [kind, l] of u.listeners) if (l.address) bound.push({ group: u.runtime.name, kind, host: l.address.host, port: l.address.port });
    }
    running.admin = admin?.address;
  };

  /** Builds a group and binds its listeners; the watcher is started but not awaited (see
   * `unit.started`). On a bind failure everything is undone and the error thrown. */
  const openGroup = async (gc: GroupConfig): Promise<GroupUnit> => {
    const log = logger.child({ group: gc.name });
    const watcher = new TopologyWatcher(gc, log);
    const runtime = new GroupRuntime(gc, watcher, log);
    const unit = new GroupUnit(gc, watcher, runtime, log);
    metrics.attach(runtime, watcher);
    try {
      // Listen first: clients that connect before the master is verified are held, not refused.
      for (const [kind, at] of wantedListeners(gc)) {
        const l = new Listener(kind, runtime, table, log, unit.stats(kind));
        unit.listeners.set(kind, l);
        await l.listen(at);
      }
    } catch (err) {
      await Promise.allSettled(unit.allListeners().map((l) => l.stop()));
      await runtime.close();
      metrics.detach(runtime, watcher);
      throw err;
    }
    unit.started = watcher.start().catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'topology watcher failed to start');
    });
    return unit;
  };

  /** Waits (bounded) for a group's sessions to end, then closes it. */
  const finishGroup = async (unit: GroupUnit, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && unit.runtime.sessions.size > 0) await new Promise((r) => setTimeout(r, 20));
    const left = unit.runtime.sessions.size;
    if (left > 0) unit.log.warn({ sessions: left }, 'drain timeout: closing remaining sessions');
    await unit.runtime.close(); // tears down what is left, stops the watcher
    await Promise.allSettled(unit.allListeners().map((l) => l.stop()));
    metrics.detach(unit.runtime, unit.watcher);
  };

  /** Reload: a group left the config. Stop accepting, drain its sessions, then close it. */
  const removeGroup = (unit: GroupUnit): void => {
    units.delete(unit.runtime.name);
    draining.add(unit);
    unit.draining = true;
    for (const l of unit.listeners.values()) unit.retired.add(l);
    unit.listeners.clear();
    for (const l of unit.retired) void l.stop();
    unit.runtime.drainSessions();
    void finishGroup(unit, config.shutdown.timeoutMs).finally(() => draining.delete(unit));
  };

  /** Reload: moves a listener to a new address. The new one is bound first; the old one stops
   * accepting only then, and its sessions keep running. */
  const rebind = async (unit: GroupUnit, kind: ListenerKind, at: HostPort): Promise<void> => {
    const l = new Listener(kind, unit.runtime, table, unit.log, unit.stats(kind));
    try {
      await l.listen(at);
    } catch (err) {
      await l.stop();
      throw err;
    }
    const old = unit.listeners.get(kind);
    unit.listeners.set(kind, l);
    if (old) {
      unit.retired.add(old);
      void old.stop().then(() => unit.retired.delete(old));
    }
  };

  /** Reload of a group that stays: what changed and how it applies. */
  const updateGroup = async (unit: GroupUnit, gc: GroupConfig, r: ReloadResult): Promise<void> => {
    const o = unit.config;
    const name = gc.name;
    if (same(o, gc)) return;
    const live: string[] = [];
    for (const k of ['sentinels', 'sentinelAuth', 'topology', 'failover'] as const) if (!same(o[k], gc[k])) live.push(k);
    // What a session decides when it opens applies to new sessions (docs/session.md, "Reload").
    if (o.reads.routeReads !== gc.reads.routeReads) live.push('reads.routeReads (new sessions)');
    if (!same({ ...o.reads, routeReads: undefined }, { ...gc.reads, routeReads: undefined })) live.push('reads');
    if (!same(o.links, gc.links)) live.push('links (new sessions)');
    if ((o.clientAuth === undefined) !== (gc.clientAuth === undefined)) live.push(`clientAuth ${gc.clientAuth ? 'on' : 'off'} (new sessions)`);
    else if (!same(o.clientAuth, gc.clientAuth)) live.push('clientAuth users (next AUTH)');
    if (!same(o.tls.sentinel, gc.tls.sentinel)) live.push('tls.sentinel');
    if (!same(o.limits, gc.limits)) {
      const keys = Object.keys(gc.limits) as (keyof GroupConfig['limits'])[];
      const n = keys.filter((k) => o.limits[k] !== gc.limits[k]);
      // Read when a session starts (its framer, its socket timeout): open sessions keep the old value.
      const perSession: (keyof GroupConfig['limits'])[] = ['idleTimeoutMs', 'maxBulkBytes', 'maxMultibulkLength'];
      const later = n.filter((k) => perSession.includes(k));
      const now = n.filter((k) => !later.includes(k));
      if (now.length) live.push(`limits (${now.join(', ')})`);
      if (later.length) live.push(`limits for new sessions (${later.join(', ')})`);
    }
    if (!same(o.auth, gc.auth)) live.push('auth (new backend connections)');
    if (!same(o.tls.backend, gc.tls.backend)) live.push('tls.backend (new backend connections)');
    // The watcher first: the group's readiness reads its snapshot.
    unit.watcher.updateConfig(gc);
    unit.runtime.reconfigure(gc);
    unit.config = gc;
    if (live.length) r.applied.push(`group ${name}: ${live.join(', ')}`);

    let rebound = false;
    const wanted = wantedListeners(gc);
    for (const [kind, l] of [...unit.listeners]) {
      if (wanted.some(([k]) => k === kind)) continue;
      // e.g. readListen removed: stop accepting; its open sessions go on.
      unit.listeners.delete(kind);
      unit.retired.add(l);
      void l.stop().then(() => unit.retired.delete(l));
      r.applied.push(`group ${name}: ${kind} listener ${hp(l.address)} closed (open sessions kept)`);
    }
    for (const [kind, at] of wanted) {
      const cur = unit.listeners.get(kind);
      if (cur && same(kind === 'master' ? o.listen : o.readListen, at)) continue;
      try {
        await rebind(unit, kind, at);
        rebound = true;
        const now = hp(unit.listeners.get(kind)?.address);
        r.applied.push(cur ? `group ${name}: ${kind} listener moved ${hp(cur.address)} -> ${now} (open sessions kept)` : `group ${name}: ${kind} listener opened on ${now}`);
      } catch (err) {
        r.failed.push(`group ${name}: ${kind} listener on ${hp(at)}: ${err instanceof Error ? err.message : String(err)} (still on ${hp(cur?.address)})`);
      }
    }
    if (!same(o.tls.listener, gc.tls.listener) && !rebound) {
      const a = o.tls.listener;
      const b = gc.tls.listener;
      if (a && b && a.requestCert === b.requestCert) {
        for (const l of unit.listeners.values()) l.setTls(b);
        r.applied.push(`group ${name}: tls.listener certificates (new connections)`);
      } else {
        r.restartNeeded.push(`group ${name}: tls.listener ${!a || !b ? 'on/off' : 'requestCert'}`);
      }
    }
  };

  const reloadNow = async (next: ProxyConfig): Promise<ReloadResult> => {
    const r: ReloadResult = { applied: [], restartNeeded: [], failed: [] };
    if (closing) {
      r.failed.push('shutting down: reload ignored');
      return r;
    }
    const prev = config;
    if (next.logLevel !== prev.logLevel) {
      // Child loggers (groups, sessions) inherit the level through their prototype: this reaches them.
      logger.level = next.logLevel;
      r.applied.push(`logLevel ${prev.logLevel} -> ${next.logLevel}`);
    }
    if (next.logFormat !== prev.logFormat) r.restartNeeded.push(`logFormat ${prev.logFormat} -> ${next.logFormat}`);
    if (next.shutdown.timeoutMs !== prev.shutdown.timeoutMs) r.applied.push(`shutdown.timeoutMs ${prev.shutdown.timeoutMs} -> ${next.shutdown.timeoutMs}`);
    config = next;

    const names = new Set(next.groups.map((g) => g.name));
    for (const u of [...units.values()]) {
      if (names.has(u.runtime.name)) continue;
      const n = u.runtime.sessions.size;
      removeGroup(u);
      r.applied.push(`group ${u.runtime.name}: removed (stopped accepting; ${n} session${n === 1 ? '' : 's'} draining)`);
    }
    // Let the sockets of removed listeners close before new groups may bind the same ports.
    await new Promise((res) => setImmediate(res));

    const ordered = new Map<string, GroupUnit>();
    for (const gc of next.groups) {
      const u = units.get(gc.name);
      if (u) {
        await updateGroup(u, gc, r);
        ordered.set(gc.name, u);
        continue;
      }
      try {
        const nu = await openGroup(gc);
        ordered.set(gc.name, nu);
        const at = [...nu.addresses].map(([k, a]) => `${k} ${hp(a)}`).join(', ');
        r.applied.push(`group ${gc.name}: added (${at})`);
      } catch (err) {
        r.failed.push(`group ${gc.name}: not added: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    units.clear();
    for (const [k, u] of ordered) units.set(k, u);

    if (!same(prev.admin.listen, next.admin.listen)) {
      try {
        let fresh: AdminServer | undefined;
        if (next.admin.listen) {
          fresh = new AdminServer(() => [...units.values(), ...draining], metrics, logger, () => closing !== undefined, readinessMode);
          await fresh.listen(next.admin.listen);
        }
        const old = admin;
        admin = fresh;
        await old?.close();
        r.applied.push(`admin.listen ${hp(prev.admin.listen)} -> ${hp(admin?.address)}`);
      } catch (err) {
        r.failed.push(`admin.listen ${hp(next.admin.listen)}: ${err instanceof Error ? err.message : String(err)} (still ${hp(admin?.address)})`);
      }
    }
    publish();
    metrics.reloaded(r.failed.length === 0);
    if (r.restartNeeded.length) logger.warn({ restartNeeded: r.restartNeeded }, 'reload: some changes take effect only after a restart');
    if (r.failed.length) logger.error({ failed: r.failed }, 'reload: some changes could not be applied');
    return r;
  };

  // Reloads and the shutdown never overlap.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };

  const closeNow = async (): Promise<void> => {
    logger.info('shutting down: no new connections, draining sessions');
    const all = [...units.values(), ...draining];
    units.clear();
    publish();
    for (const u of all) {
      for (const l of u.allListeners()) void l.stop();
      u.runtime.drainSessions();
    }
    await Promise.allSettled(all.map((u) => finishGroup(u, config.shutdown.timeoutMs)));
    await admin?.close();
    logger.info('shut down');
  };

  const running: RunningProxy = {
    listeners: bound,
    admin: undefined,
    groups,
    metrics,
    reload: (next) => serial(() => reloadNow(next)),
    close: () => (closing ??= serial(closeNow)),
  };

  try {
    for (const gc of config.groups) units.set(gc.name, await openGroup(gc));
    if (config.admin.listen) {
      admin = new AdminServer(() => [...units.values(), ...draining], metrics, logger, () => closing !== undefined, readinessMode);
      await admin.listen(config.admin.listen);
    }
    // Every group's first refresh, in parallel: a group with unreachable sentinels delays no other.
    await Promise.all([...units.values()].map((u) => u.started));
  } catch (err) {
    const all = [...units.values()];
    units.clear();
    await Promise.allSettled(all.map((u) => finishGroup(u, 0)));
    await admin?.close();
    throw err;
  }
  publish();
  return running;
}
