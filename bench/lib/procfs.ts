// Reading another process's CPU time, resident memory and limits from /proc (Linux only).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clkTck: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, almost always 100). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clkTck = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process (all its threads), in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimesOf(pid);
  return t.user + t.system;
}

/** utime and stime of a process (all its threads), in seconds: user space and kernel. */
export function cpuTimesOf(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return { user: utime / clockTicks(), system: stime / clockTicks() };
}

/** A field of /proc/PID/status in kB (VmRSS, VmHWM, ...). */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'VmSize' | 'RssAnon' | 'RssFile'): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Resident set size in kB. */
export function rssKb(pid: number): number {
  return statusKb(pid, 'VmRSS');
}

/** Soft and hard "Max open files" of a process ('self' for this one). */
export function openFileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const text = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const num = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: num(m?.[1]), hard: num(m?.[2]) };
}

/** Number of open file descriptors of a process. */
export function openFdCount(pid: number | 'self' = 'self'): number {
  try {
    return Number(execFileSync('sh', ['-c', `ls /proc/${pid}/fd | wc -l`], { encoding: 'utf8' }).trim());
  } catch {
    return NaN;
  }
}

export function loadAvg(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is included in user)
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Fraction (0..1) of the machine's CPU time that was busy over the next `ms` milliseconds. */
export async function machineBusy(ms: number): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  const total = b.total - a.total;
  return total > 0 ? (b.busy - a.busy) / total : 0;
}

/** Clock ticks of CPU time: the whole machine (busy, all CPUs) and a list of processes. */
function statTicks(pid: number | 'self', withChildren: boolean): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime 14, stime 15, cutime 16, cstime 17 (rest[i] is field i + 3)
  let t = Number(rest[11]) + Number(rest[12]);
  if (withChildren) t += Number(rest[13]) + Number(rest[14]);
  return t;
}

/** CPU seconds of this process's reaped children (redis-benchmark runs that have exited). */
export function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / clockTicks();
}

export interface CpuSnapshot {
  at: number;
  machineBusy: number;
  ours: number;
}

/**
 * What the machine and "our" processes used so far: this process with its reaped children
 * (redis-benchmark, once it has exited) plus the given pids (the proxy, the Redis nodes).
 * Two snapshots give the CPU used by everything else meanwhile: see `otherCpu`.
 */
export function cpuSnapshot(pids: number[]): CpuSnapshot {
  let ours = statTicks('self', true);
  for (const p of pids) {
    try {
      ours += statTicks(p, false);
    } catch {
      /* gone */
    }
  }
  return { at: Date.now(), machineBusy: cpuTimes().busy, ours };
}

/** CPU used by other processes between two snapshots, in cores (0 = nothing else ran). */
export function otherCpu(a: CpuSnapshot, b: CpuSnapshot): number {
  const wallS = (b.at - a.at) / 1000;
  if (wallS <= 0) return 0;
  const other = (b.machineBusy - a.machineBusy - (b.ours - a.ours)) / clockTicks();
  return Math.max(0, other / wallS);
}
