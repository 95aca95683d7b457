// What happened to one group, for /events and the status page's failover timeline (issue 18):
// - a bounded ring of events: the proxy's own topology events (fence, promoted, master verified,
//   fence lifted, replicas and sentinels changing) and the Sentinel events about the group as each
//   sentinel published them;
// - the last failovers, each with its steps in time relative to the fence (DESIGN.md "Failover:
//   fence, drain, re-home") and what it did to clients: commands held, held commands that timed
//   out, commands lost in flight, blocked commands re-issued, sessions re-homed.
// The counts are the group's counters (GroupStats) taken at the fence and read again until the
// failover has settled (re-homing goes on at each session's next command boundary), then frozen.
// Rare events only: nothing here is on the per-command path.
import type { TopologyEvent, TopologySnapshot } from '../topology/types.js';
import type { SentinelEvent } from '../topology/events.js';

export const EVENTS_KEPT = 256;
export const FAILOVERS_KEPT = 10;
/** After the new master is verified (or the fence lifted), the counts still move for a while:
 * sessions re-home at their next boundary, re-issued blocking commands run. */
export const FAILOVER_SETTLE_MS = 10_000;

export interface ObservedEvent {
  /** Increases with every event of the process: `/events?since=seq` returns the newer ones. */
  seq: number;
  /** Unix ms. */
  at: number;
  group: string;
  /** `proxy`: the proxy's own decision; `sentinel`: a message a sentinel published. */
  source: 'proxy' | 'sentinel';
  /** proxy: fence, promoted, master, unfence, replicas, sentinels; sentinel: the channel
   * (`+switch-master`, `+odown`, ...). */
  type: string;
  /** One line for a person. */
  detail: string;
  /** The sentinel that published it. */
  sentinel?: string;
  /** The failover it belongs to, and its time relative to that failover's fence (ms). */
  failover?: number;
  sinceFenceMs?: number;
}

export interface FailoverStep {
  /** fence, promoted, master verified, sessions re-homed, fence lifted, or a sentinel channel. */
  step: string;
  /** Relative to the fence (ms, 0.1 ms resolution); negative for what came before it (+sdown). */
  atMs: number;
  detail?: string;
}

export interface FailoverCounts {
  /** Commands held (not sent) during it. */
  held: number;
  /** Held commands answered with a retryable error after failover.holdTimeoutMs. */
  holdTimeouts: number;
  /** Commands in flight to the old master whose reply was lost (the client got an error). */
  lostInFlight: number;
  /** Blocking commands unblocked on the old master and re-issued on the new one. */
  reissued: number;
  /** Sessions moved to the new master. */
  rehomed: number;
}

export interface FailoverRecord {
  id: number;
  group: string;
  /** in-progress: fenced; switched: a new master verified; aborted: the fence lifted, same master. */
  state: 'in-progress' | 'switched' | 'aborted';
  /** Unix ms of the fence. */
  startedAt: number;
  reason: string;
  from: string | undefined;
  to?: string;
  /** Fence to verified master (or fence lifted), ms. */
  durationMs?: number;
  steps: FailoverStep[];
  counts: FailoverCounts;
  /** The counts are final. */
  settled: boolean;
}

/** The group's counters the failover counts come from (GroupStats in src/group.ts). */
export interface FailoverCounters {
  readonly held: { readonly value: number };
  readonly holdTimeouts: { readonly value: number };
  readonly linkLost: { readonly value: number };
  readonly reissued: { readonly value: number };
  readonly rehomed: { readonly value: number };
}

let nextSeq = 1;
let nextFailover = 1;

/** Steps that are the same whichever sentinel says them: the first one is kept. */
const TIMELINE_CHANNELS = new Set([
  '+sdown', '+odown', '+try-failover', '+elected-leader', '+failover-state-select-slave', '+selected-slave',
  '+failover-state-send-slaveof-noone', '+failover-state-wait-promotion', '+promoted-slave',
  '+failover-state-reconf-slaves', '+failover-end', '+failover-end-for-timeout', '+switch-master',
]);

const round1 = (ms: number) => Math.round(ms * 10) / 10;

interface Open {
  rec: FailoverRecord;
  /** performance.now() at the fence. */
  t0: number;
  base: FailoverCounts;
  /** performance.now() when it ended (master verified or fence lifted). */
  endedT?: number;
  timer?: NodeJS.Timeout;
  seen: Set<string>;
}

export class EventLog {
  private readonly ring: (ObservedEvent | undefined)[] = new Array<ObservedEvent | undefined>(EVENTS_KEPT).fill(undefined);
  private next = 0;
  private readonly failovers: FailoverRecord[] = [];
  private open: Open | undefined;
  private prev: TopologySnapshot | undefined;
  /** Unix ms since which the current master has been the master. */
  masterSince: number | undefined;

  constructor(
    readonly group: string,
    private readonly counters: FailoverCounters,
    private readonly settleMs = FAILOVER_SETTLE_MS,
  ) {}

  // ------------------------------------------------------------------------------- recording

  /** A topology event, as the group is about to apply it. */
  topology(ev: TopologyEvent): void {
    this.settle();
    const snap = ev.snapshot;
    const prev = this.prev;
    this.prev = snap;
    const now = performance.now();
    switch (ev.type) {
      case 'fence': {
        this.closeOpen();
        const open = this.begin(ev.reason, snap.master, now);
        const rec = open.rec;
        // A +sdown of the master just before is where the story starts.
        for (const e of this.recent(rec.startedAt - 30_000)) {
          if (e.source === 'sentinel' && e.type === '+sdown' && e.detail.startsWith('master') && !open.seen.has(e.type)) {
            open.seen.add(e.type);
            rec.steps.push({ step: e.type, atMs: e.at - rec.startedAt, detail: e.sentinel ? `from ${e.sentinel}` : undefined });
          }
        }
        rec.steps.push({ step: 'fence', atMs: 0, detail: ev.reason });
        this.add('proxy', 'fence', `fence: holding new commands to ${snap.master ?? '?'} (${ev.reason})`, undefined, 0);
        return;
      }
      case 'promoted':
        this.step('promoted', 'a replica was promoted: links to the old master with commands in flight are cut');
        this.add('proxy', 'promoted', 'a replica was promoted: cutting links to the old master that have commands in flight');
        return;
      case 'master': {
        this.masterSince = Date.now();
        // The failover under way; or, when none is (a poll found another master after every Sentinel
        // event was missed), one that starts here.
        let o = this.open !== undefined && this.open.endedT === undefined ? this.open : undefined;
        if (o === undefined && ev.previous !== undefined) {
          this.closeOpen();
          o = this.startUnfenced(ev.previous, now);
        }
        if (o !== undefined) {
          o.rec.state = 'switched';
          o.rec.to = snap.master;
          o.rec.durationMs = round1(now - o.t0);
          this.ended(o, now);
          this.step('master verified', snap.master, o.rec.durationMs);
        }
        this.add('proxy', 'master', ev.previous === undefined ? `master ${snap.master ?? '?'} verified` : `new master ${snap.master ?? '?'} verified (was ${ev.previous})`);
        return;
      }
      case 'unfence': {
        const o = this.open;
        if (o !== undefined && o.endedT === undefined) {
          o.rec.state = 'aborted';
          o.rec.to = snap.master;
          o.rec.durationMs = round1(now - o.t0);
          this.ended(o, now);
          this.step('fence lifted', ev.reason, o.rec.durationMs);
        }
        this.add('proxy', 'unfence', `fence lifted, master ${snap.master ?? '?'} kept (${ev.reason})`);
        return;
      }
      case 'replicas':
        this.add('proxy', 'replicas', describeReplicas(prev, snap));
        return;
      case 'unreachable':
        // (A replica's snapshot already has it out of the pool: say so here, the next `replicas`
        // event compares against this one.)
        this.add(
          'proxy',
          'unreachable',
          `${ev.addr === snap.master ? 'master' : 'node'} ${ev.addr} unreachable (no answer, no TCP handshake): links to it cut` +
            (ev.addr === snap.master ? '' : `; ${describeReplicas(prev, snap)}`),
        );
        return;
      case 'sentinels':
        this.add('proxy', 'sentinels', describeSentinels(prev, snap));
        return;
    }
  }

  /** After the group applied a topology event: sessions at a boundary have re-homed. */
  applied(ev: TopologyEvent): void {
    const o = this.open;
    if (ev.type !== 'master' || o === undefined || o.endedT === undefined) return;
    const n = this.counters.rehomed.value - o.base.rehomed;
    this.step('sessions re-homed', `${n} at once; the others at their next command boundary`);
  }

  /** A Sentinel event about this group, as one sentinel published it. */
  sentinel(channel: string, from: string, ev: SentinelEvent): void {
    this.settle();
    let detail: string;
    if (ev.action === 'switch') detail = `master ${ev.oldMaster} -> ${ev.newMaster}`;
    else if (ev.instanceType !== undefined) detail = `${ev.instanceType} ${ev.addr ?? ev.instanceName ?? ''}`.trim();
    else detail = channel === '+tilt' ? 'sentinel entered TILT mode' : channel === '-tilt' ? 'sentinel left TILT mode' : '';
    const o = this.open;
    if (o !== undefined && TIMELINE_CHANNELS.has(channel) && !o.seen.has(channel)) {
      o.seen.add(channel);
      this.step(channel, `${detail} (from ${from})`);
    }
    this.add('sentinel', channel, detail, from);
  }

  // ------------------------------------------------------------------------------- reading

  /** Events newer than `since` (seq), oldest first, at most `limit` (the newest ones). */
  events(since = 0, limit = EVENTS_KEPT): ObservedEvent[] {
    const out: ObservedEvent[] = [];
    for (let i = 0; i < EVENTS_KEPT; i++) {
      const e = this.ring[(this.next + i) % EVENTS_KEPT];
      if (e !== undefined && e.seq > since) out.push(e);
    }
    return out.length > limit ? out.slice(out.length - limit) : out;
  }

  /** The last failovers, newest first, with counts as of now. */
  failoverRecords(): FailoverRecord[] {
    this.settle();
    const o = this.open;
    if (o !== undefined) o.rec.counts = this.delta(o.base);
    return [...this.failovers].reverse().map((r) => ({ ...r, steps: [...r.steps], counts: { ...r.counts } }));
  }

  // ------------------------------------------------------------------------------- internals

  private read(): FailoverCounts {
    const c = this.counters;
    return { held: c.held.value, holdTimeouts: c.holdTimeouts.value, lostInFlight: c.linkLost.value, reissued: c.reissued.value, rehomed: c.rehomed.value };
  }

  private delta(base: FailoverCounts): FailoverCounts {
    const n = this.read();
    return {
      held: n.held - base.held,
      holdTimeouts: n.holdTimeouts - base.holdTimeouts,
      lostInFlight: n.lostInFlight - base.lostInFlight,
      reissued: n.reissued - base.reissued,
      rehomed: n.rehomed - base.rehomed,
    };
  }

  /** A new master without a fence first (e.g. found by a poll after every event was missed). */
  private startUnfenced(previous: string, now: number): Open {
    return this.begin('new master found without a fence', previous, now);
  }

  /** Opens a failover record (the fence, or a new master without one), counts from now on. */
  private begin(reason: string, from: string | undefined, now: number): Open {
    const rec: FailoverRecord = {
      id: nextFailover++,
      group: this.group,
      state: 'in-progress',
      startedAt: Date.now(),
      reason,
      from,
      steps: [],
      counts: { held: 0, holdTimeouts: 0, lostInFlight: 0, reissued: 0, rehomed: 0 },
      settled: false,
    };
    this.open = { rec, t0: now, base: this.read(), seen: new Set() };
    this.failovers.push(rec);
    if (this.failovers.length > FAILOVERS_KEPT) this.failovers.shift();
    return this.open;
  }

  /** The failover ended (new master verified, or fence lifted): its counts are frozen once it has
   * settled, by a timer, so what happens later is not counted in it. */
  private ended(o: Open, now: number): void {
    o.endedT = now;
    o.timer = setTimeout(() => {
      if (this.open === o) this.closeOpen();
    }, this.settleMs);
    o.timer.unref();
  }

  /** Closes the open failover when its settle timer is overdue (a busy event loop). */
  private settle(): void {
    const o = this.open;
    if (o !== undefined && o.endedT !== undefined && performance.now() - o.endedT >= this.settleMs) this.closeOpen();
  }

  private closeOpen(): void {
    const o = this.open;
    if (o === undefined) return;
    clearTimeout(o.timer);
    o.rec.counts = this.delta(o.base);
    o.rec.settled = o.endedT !== undefined;
    this.open = undefined;
  }

  private step(step: string, detail?: string, atMs?: number): void {
    const o = this.open;
    if (o === undefined) return;
    const s: FailoverStep = { step, atMs: atMs ?? round1(performance.now() - o.t0) };
    if (detail !== undefined) s.detail = detail;
    o.rec.steps.push(s);
  }

  private add(source: ObservedEvent['source'], type: string, detail: string, sentinel?: string, sinceFenceMs?: number): void {
    const e: ObservedEvent = { seq: nextSeq++, at: Date.now(), group: this.group, source, type, detail };
    if (sentinel !== undefined) e.sentinel = sentinel;
    const o = this.open;
    if (o !== undefined && (o.endedT === undefined || performance.now() - o.endedT < this.settleMs)) {
      e.failover = o.rec.id;
      e.sinceFenceMs = sinceFenceMs ?? round1(performance.now() - o.t0);
    }
    this.ring[this.next] = e;
    this.next = (this.next + 1) % EVENTS_KEPT;
  }

  private recent(since: number): ObservedEvent[] {
    return this.events().filter((e) => e.at >= since);
  }
}

function describeReplicas(prev: TopologySnapshot | undefined, snap: TopologySnapshot): string {
  const was = new Map((prev?.replicas ?? []).map((r) => [r.addr, r]));
  const parts: string[] = [];
  for (const r of snap.replicas) {
    const p = was.get(r.addr);
    was.delete(r.addr);
    const state = r.healthy ? 'healthy' : `unhealthy${r.flags.length > 1 ? ` (${r.flags.filter((f) => f !== 'slave').join(',')})` : !r.linkUp ? ' (link down)' : ''}`;
    if (p === undefined) parts.push(`${r.addr} added, ${state}`);
    else if (p.healthy !== r.healthy || p.linkUp !== r.linkUp || p.flags.join() !== r.flags.join()) parts.push(`${r.addr} ${state}`);
  }
  for (const addr of was.keys()) parts.push(`${addr} removed`);
  const healthy = snap.replicas.filter((r) => r.healthy).length;
  return `replicas: ${healthy} of ${snap.replicas.length} healthy${parts.length ? `; ${parts.join('; ')}` : ''}`;
}

function describeSentinels(prev: TopologySnapshot | undefined, snap: TopologySnapshot): string {
  const was = new Map((prev?.sentinels ?? []).map((s) => [s.addr, s]));
  const parts: string[] = [];
  for (const s of snap.sentinels) {
    const p = was.get(s.addr);
    was.delete(s.addr);
    if (p === undefined) parts.push(`${s.addr} added${s.reachable ? '' : ' (unreachable)'}`);
    else if (p.reachable !== s.reachable) parts.push(`${s.addr} ${s.reachable ? 'reachable again' : 'unreachable'}`);
    else if (p.tilt !== s.tilt) parts.push(`${s.addr} ${s.tilt ? 'in TILT' : 'out of TILT'}`);
  }
  for (const addr of was.keys()) parts.push(`${addr} removed`);
  return `sentinels: ${snap.reachableSentinels} of ${snap.knownSentinels} reachable${parts.length ? `; ${parts.join('; ')}` : ''}`;
}
