// Parsing of Sentinel's pub/sub event messages (pure; no I/O).
//
// Sentinel publishes each event on a channel named after it (`+odown`, `+switch-master`, ...). The
// payload format (src/sentinel.c, sentinelEvent()) is, when the event is about an instance:
//
//   <instance-type> <name> <ip> <port>                                      (a master)
//   <instance-type> <name> <ip> <port> @ <master-name> <master-ip> <master-port>   (a replica or sentinel)
//
// optionally followed by extra words (e.g. `#quorum 2/2`). A few events have their own format:
//   +switch-master <master-name> <old-ip> <old-port> <new-ip> <new-port>
//   +new-epoch <epoch>, +vote-for-leader <runid> <epoch>, +tilt/-tilt #tilt mode entered/exited
import type { Addr } from './types.js';

/** What the watcher has to do about an event. */
export type SentinelEventAction =
  /** A failover of this group is starting or under way: fence. */
  | 'fence'
  /** A replica of this group was promoted (fence too, if not fenced yet). */
  | 'promoted'
  /** `+switch-master`: fence + promoted if not yet, refresh and verify the new master. */
  | 'switch'
  /** The failover was aborted (`-failover-abort-*`) or the master is no longer objectively down
   * (`-odown`): unfence once a poll confirms the old master. */
  | 'abort'
  /** The sentinel that published it entered / left TILT mode (not group-scoped). */
  | 'tilt'
  | 'untilt'
  /** A sentinel of this group was discovered. */
  | 'sentinel'
  /** Something about this group changed (a replica appeared, a node rebooted, ...): refresh. */
  | 'refresh';

export interface SentinelEvent {
  /** The channel, i.e. the event name: `+odown`, `+switch-master`, ... */
  channel: string;
  action: SentinelEventAction;
  /** `master`, `slave` or `sentinel` when the payload names an instance. */
  instanceType?: string;
  /** The instance's name (the master name for a master, `ip:port` for a replica, the run id for a
   * sentinel). */
  instanceName?: string;
  /** The instance's address. */
  addr?: Addr;
  /** The group (master name) the event is about, when it names one. */
  masterName?: string;
  /** The group's master address as the publishing sentinel knows it. */
  masterAddr?: Addr;
  /** `+switch-master` only. */
  oldMaster?: Addr;
  newMaster?: Addr;
}

const FENCE_CHANNELS = new Set(['+try-failover', '+elected-leader']);
const ABORT_PREFIX = '-failover-abort-';

function addrOf(ip: string | undefined, port: string | undefined): Addr | undefined {
  if (!ip || !port || !/^\d+$/.test(port)) return undefined;
  return `${ip}:${port}`;
}

interface InstanceDetails {
  instanceType: string;
  instanceName: string;
  addr?: Addr;
  masterName: string;
  masterAddr?: Addr;
}

/** Parses the `%@` instance details at the start of a payload. */
export function parseInstanceDetails(message: string): InstanceDetails | undefined {
  const w = message.trim().split(/\s+/);
  if (w.length < 4) return undefined;
  const [instanceType, instanceName, ip, port] = w as [string, string, string, string];
  if (instanceType === 'master') {
    return { instanceType, instanceName, addr: addrOf(ip, port), masterName: instanceName, masterAddr: addrOf(ip, port) };
  }
  if (w[4] === '@' && w.length >= 8) {
    return { instanceType, instanceName, addr: addrOf(ip, port), masterName: w[5]!, masterAddr: addrOf(w[6], w[7]) };
  }
  return undefined;
}

/**
 * Parses one Sentinel event. Returns undefined for events about another group, for events that
 * need no action (`+vote-for-leader`, `+new-epoch`, ...) and for anything unrecognised.
 * `+tilt`/`-tilt` are about the publishing sentinel itself and are returned for every group.
 */
export function parseSentinelEvent(channel: string, message: string, masterName: string): SentinelEvent | undefined {
  if (channel === '+tilt' || channel === '-tilt') {
    return { channel, action: channel === '+tilt' ? 'tilt' : 'untilt' };
  }
  if (channel === '+switch-master') {
    const w = message.trim().split(/\s+/);
    if (w.length < 5 || w[0] !== masterName) return undefined;
    const oldMaster = addrOf(w[1], w[2]);
    const newMaster = addrOf(w[3], w[4]);
    if (!oldMaster || !newMaster) return undefined;
    return { channel, action: 'switch', masterName, oldMaster, newMaster, masterAddr: newMaster };
  }
  if (!channel.startsWith('+') && !channel.startsWith('-')) return undefined; // __sentinel__:hello etc.
  const d = parseInstanceDetails(message);
  if (!d || d.masterName !== masterName) return undefined;
  const base: SentinelEvent = { channel, action: 'refresh', ...d };

  if (FENCE_CHANNELS.has(channel) || channel.startsWith('+failover-state-')) return { ...base, action: 'fence' };
  if (channel === '+odown') return d.instanceType === 'master' ? { ...base, action: 'fence' } : base;
  if (channel === '+promoted-slave') return { ...base, action: 'promoted' };
  if (channel.startsWith(ABORT_PREFIX)) return { ...base, action: 'abort' };
  if (channel === '-odown') return d.instanceType === 'master' ? { ...base, action: 'abort' } : base;
  if (channel === '+sentinel' && d.instanceType === 'sentinel') return { ...base, action: 'sentinel' };
  // Everything else about this group (+sdown/-sdown, +slave, +reboot, +convert-to-slave,
  // +config-update-from, +failover-end, +selected-slave, +slave-reconf-*, +fix-slave-config, ...).
  return base;
}
