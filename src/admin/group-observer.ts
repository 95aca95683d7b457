// Everything the admin side records about one group as it runs (issue 18), in one object the group
// owns (`GroupRuntime.observe`), so the hot path and the failover sequence each need one short call:
// - `command(...)`: a command's reply completed — its end-to-end latency (arrival at the proxy to
//   the last reply byte, held time included) goes to the per-command histogram and, when slow, to
//   the slow log;
// - `topology(ev)` / `applied(ev)`: before and after the group applies a topology event — the
//   event log and the failover timeline (./events.ts);
// - `sentinel(...)`: a Sentinel event about the group (wired from the watcher by ./metrics.ts).
import { CmdFlag, type CommandSpec } from '../commands/table.js';
import type { TopologyEvent } from '../topology/types.js';
import type { SentinelEvent } from '../topology/events.js';
import { CommandLatency } from './latency.js';
import { Slowlog } from './slowlog.js';
import { EventLog, type FailoverCounters } from './events.js';

export class GroupObserver {
  readonly latency = new CommandLatency();
  readonly slowlog: Slowlog;
  readonly events: EventLog;
  /** Read once: the check on the per-command path is one comparison. */
  private readonly slowMs: number;

  constructor(
    readonly group: string,
    counters: FailoverCounters,
  ) {
    this.slowlog = new Slowlog(group);
    this.slowMs = this.slowlog.thresholdMs;
    this.events = new EventLog(group, counters);
  }

  /**
   * The last byte of a command's reply has arrived and been passed to the client. `t0` is
   * performance.now() when the command's bytes arrived (kept while it was held), `t1` when the
   * chunk with its reply's last byte arrived (one clock read per chunk, not per command: a clock
   * read costs 50-300 ns on a VM, as much as the rest of this); `node` answered it; `session` is
   * the client session's id. No allocation unless the command was slow.
   */
  command(spec: CommandSpec | undefined, t0: number, t1: number, node: string | undefined, session: number): void {
    const ms = t1 - t0;
    this.latency.observe(spec, ms);
    if (ms >= this.slowMs && !waitsByDesign(spec)) this.slowlog.record(spec?.name ?? 'unknown', Math.round(ms * 1000) / 1000, node, session);
  }

  topology(ev: TopologyEvent): void {
    this.events.topology(ev);
  }

  applied(ev: TopologyEvent): void {
    this.events.applied(ev);
  }

  sentinel(channel: string, from: string, ev: SentinelEvent): void {
    this.events.sentinel(channel, from, ev);
  }
}

/** Commands whose time is mostly waiting on purpose (BLPOP, XREAD BLOCK, WAIT): as in Redis's
 * SLOWLOG, their waiting does not make them slow. Their latency histograms still show it. */
function waitsByDesign(spec: CommandSpec | undefined): boolean {
  return spec !== undefined && ((spec.flags & CmdFlag.Blocking) !== 0 || spec.name === 'wait' || spec.name === 'waitaof');
}
