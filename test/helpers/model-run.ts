// The differential run: N sessions each run a seeded random program (test/helpers/model.ts) on the
// system under test (the proxy) and, command batch by command batch, on a reference Redis (its own
// standalone redis-server); meanwhile failovers are injected into the proxy's group. Replies must
// match byte for byte except for the divergences listed in test/helpers/model-judge.ts; at the end
// each session's state (the messages it gets for probe PUBLISH/SPUBLISH on every channel, pattern
// and shard channel of its universe, and CLIENT INFO db/name/resp/sub/psub/ssub/multi/flags) must
// equal the reference's. Keys and channels are per session, so the two runs are independent of how
// sessions interleave.
//
// The proxy runs first for each batch and the reference second: the proxy's outcome decides the
// documented substitutions (an EXEC the failover aborted is a DISCARD on the reference).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode, rawClient, type RawClient } from './raw.js';
import { waitFor, freePort, redisCall, type SandboxGroup } from './group.js';
import {
  Rng,
  subSeed,
  initialState,
  cloneState,
  step,
  nextCommand,
  universe,
  pubsubContext,
  show,
  type Cmd,
  type ModelState,
  type Universe,
} from './model.js';
import {
  judgeProxyFrames,
  compareFrames,
  parseClientInfo,
  CLIENT_INFO_FIELDS,
  WRITES,
  stateKnownAfter,
  type AllowedId,
  type CmdContext,
} from './model-judge.js';

export type FailoverKind = 'planned' | 'kill';
/** A window is an injected failover, or one Sentinel started by itself ('unplanned': a master it
 * judged down, e.g. the new master of a kill -9 failover starved of CPU for down-after-milliseconds
 * while it forks for a replica's full sync). The proxy treats it as a master that went down: links
 * with commands in flight are cut at the promotion, as after a kill -9. */
export type WindowKind = FailoverKind | 'unplanned';

export interface DiffOptions {
  seed: number;
  sessions: number;
  /** Failovers injected, in order. */
  failovers: FailoverKind[];
  /** Steps every session runs after the last failover before it finishes. */
  tailSteps: number;
  /** Steps (all sessions together) between failovers, on average. */
  stepsBetween: number;
  /** Pause between a session's batches: 0..thinkMs ms (workload pacing, not a wait on a condition). */
  thinkMs: number;
  /** Reading one command's frames from the proxy gives up after this. */
  readTimeoutMs: number;
}

export interface Divergence {
  session: number;
  step: number;
  what: string;
  program: string[];
}

export interface FailoverRecord {
  kind: FailoverKind;
  from: string;
  to: string;
  ms: number;
  atStep: number;
}

export interface RunReport {
  seed: number;
  sessions: number;
  steps: number;
  commands: number;
  failovers: FailoverRecord[];
  allowed: Record<string, number>;
  endedEarly: Record<string, number>;
  finalChecks: number;
  /** Failovers Sentinel started by itself (not injected), seen by the proxy as a fence or a new master. */
  unplanned: number;
  divergences: Divergence[];
  errors: string[];
}

/** The system under test: a port, and (for the proxy) the group to fail over and its current master. */
export interface Target {
  port: number;
  group?: SandboxGroup;
  /** The master the proxy uses now (undefined while it has none, or holds commands). */
  proxyMaster?: () => string | undefined;
  /** The proxy's view of its group: the master epoch, and whether a failover fence is up. */
  proxyTopology?: () => { epoch: number; fenced: boolean };
  /** The proxy session serving the client connected from `clientPort` is on the proxy's master
   * with nothing in flight or held (it has re-homed after a failover: its state is replayed). */
  sessionSettled?: (clientPort: number) => boolean;
}

/** Failover windows: epoch is odd while one is open; window[e] is the kind of the window e. */
class Clock {
  epoch = 0;
  readonly kinds = new Map<number, WindowKind>();
  open(kind: WindowKind): void {
    this.epoch++;
    this.kinds.set(this.epoch, kind);
  }
  close(): void {
    this.epoch++;
  }
  /** "failover 1 (kill) started; failover 1 ended": what happened between two epoch readings. */
  describe(from: number, to: number): string {
    const out: string[] = [];
    for (let e = from + 1; e <= to; e++) {
      const n = Math.ceil(e / 2);
      out.push(e % 2 === 1 ? `failover ${n} (${this.kinds.get(e)}) started` : `failover ${n} (${this.kinds.get(e - 1)}) done, the proxy uses the new master`);
    }
    return out.join('; ');
  }
  /** Windows touched between two epoch readings (inclusive). 'kill' includes 'unplanned' windows
   * (a master Sentinel judged down: in-flight commands are cut as after a kill -9). */
  touched(from: number, to: number, kind?: FailoverKind): boolean {
    for (let e = from; e <= to; e++) {
      if (e % 2 === 0) continue;
      const k = this.kinds.get(e);
      if (kind === undefined || k === kind || (kind === 'kill' && k === 'unplanned')) return true;
    }
    return false;
  }
}

interface Control {
  clock: Clock;
  /** An injected failover is being started or awaited (its window is the injector's). */
  injecting: boolean;
  /** Target.sessionSettled. */
  settled?: (clientPort: number) => boolean;
  steps: number;
  finishing: boolean;
  report: RunReport;
}

const MAX_HISTORY = 60;

class SessionRun {
  private readonly rng: Rng;
  private readonly u: Universe;
  private readonly state: ModelState = initialState();
  private p!: RawClient;
  private r!: RawClient;
  private seq = 0;
  private steps = 0;
  private tailLeft: number;
  private readonly history: string[] = [];
  /** Epoch when the current transaction (first WATCH or MULTI) was sent. */
  private txEpoch: number | undefined;
  private stopped: { finalChecks: boolean } | undefined;
  /** Epoch when a command sent with replies off during a kill -9 window (no frame: in flight
   * until the next reply) was sent, since the last reply. */
  private silentSince: number | undefined;
  /** Epoch when the first write sent with replies off (no acknowledgement) since the session's
   * last confirmed write reply was sent. */
  private silentWriteSince: number | undefined;
  /** The failover clock's epoch at this session's previous batch (windows are noted in the history). */
  private lastEpoch = 0;

  constructor(
    private readonly i: number,
    seed: number,
    private readonly ctl: Control,
    private readonly opts: DiffOptions,
  ) {
    this.rng = new Rng(subSeed(seed, i));
    this.u = universe(i);
    this.tailLeft = opts.tailSteps;
  }

  async run(proxyPort: number, refPort: number): Promise<void> {
    this.p = await rawClient(proxyPort);
    this.r = await rawClient(refPort);
    try {
      while (!this.stopped) {
        if (this.ctl.finishing && this.tailLeft-- <= 0) break;
        await this.runBatch(this.generateBatch());
        if (this.opts.thinkMs > 0) await new Promise((res) => setTimeout(res, this.rng.int(this.opts.thinkMs + 1)));
      }
      if (!this.stopped || this.stopped.finalChecks) await this.finalChecks();
    } catch (err) {
      this.diverge(`harness: ${(err as Error).message}`);
    } finally {
      this.p.close();
      this.r.close();
    }
  }

  private generateBatch(): Cmd[] {
    const n = this.rng.chance(0.7) ? 1 : 2 + this.rng.int(3);
    const sim = cloneState(this.state);
    const out: Cmd[] = [];
    for (let k = 0; k < n; k++) {
      const c = nextCommand(this.rng, sim, this.u, this.seq++);
      out.push(c);
      step(sim, c);
      // EXEC's effects depend on its outcome: it ends a batch (so do DISCARD and BLPOP, for pacing).
      if (c[0] === 'EXEC' || c[0] === 'DISCARD' || c[0] === 'BLPOP') break;
    }
    return out;
  }

  private diverge(what: string): void {
    if (this.stopped && !this.stopped.finalChecks) return;
    this.ctl.report.divergences.push({ session: this.i, step: this.steps, what, program: this.history.slice(-MAX_HISTORY) });
    this.stopped = { finalChecks: false };
  }

  private note(line: string): void {
    this.history.push(line);
    if (this.history.length > MAX_HISTORY * 2) this.history.splice(0, MAX_HISTORY);
  }

  /** Writes a batch, sometimes split at a random byte (pipelines split anywhere must work). */
  private async write(c: RawClient, bytes: Buffer, split: number | undefined): Promise<void> {
    if (split === undefined || split <= 0 || split >= bytes.length) {
      c.send(bytes);
      return;
    }
    c.send(bytes.subarray(0, split));
    await new Promise((res) => setImmediate(res));
    c.send(bytes.subarray(split));
  }

  private async runBatch(cmds: Cmd[]): Promise<void> {
    this.steps++;
    this.ctl.steps++;
    this.ctl.report.steps++;
    this.ctl.report.commands += cmds.length;
    const clock = this.ctl.clock;
    // Predicted frames per command, on the state as it is now.
    const sim = cloneState(this.state);
    const before: { resp: 2 | 3; inMulti: boolean; repliesOff: boolean }[] = [];
    const counts = cmds.map((c) => {
      before.push({ resp: sim.resp, inMulti: sim.multi !== undefined, repliesOff: sim.reply !== 'on' });
      return step(sim, c).frames;
    });
    if (this.txEpoch === undefined && !this.state.multi && !this.state.watching && cmds.some((c) => c[0] === 'MULTI' || c[0] === 'WATCH')) {
      this.txEpoch = clock.epoch;
    }
    const sentEpoch = clock.epoch;
    if (sentEpoch !== this.lastEpoch) {
      this.note(`-- ${clock.describe(this.lastEpoch, sentEpoch)}`);
      this.lastEpoch = sentEpoch;
    }
    const bytes = Buffer.concat(cmds.map((c) => encode(...c)));
    const split = this.rng.chance(0.2) ? 1 + this.rng.int(bytes.length - 1) : undefined;
    this.note(`> ${cmds.map(show).join(' | ')}${split ? `  (written in two parts at byte ${split})` : ''}`);

    // 1. The proxy.
    await this.write(this.p, bytes, split);
    const proxyFrames: string[][] = [];
    const refCmds: Cmd[] = [];
    const judged: { ctx: CmdContext; verdict: ReturnType<typeof judgeProxyFrames> }[] = [];
    let endAt: { index: number; allowed: AllowedId; finalChecks: boolean } | undefined;
    for (let k = 0; k < cmds.length; k++) {
      const frames: string[] = [];
      let messagesLost = false;
      for (let f = 0; f < counts[k]; f++) {
        let got: string;
        try {
          [got] = await this.p.read(1, this.opts.readTimeoutMs);
        } catch (err) {
          // A PUBLISH sent with replies off owes only the messages it delivers to this session: if
          // the master was killed meanwhile they may never come, and no error can say so (as for
          // the commands sent with replies off in a kill -9 window, below).
          if ((cmds[k][0] === 'PUBLISH' || cmds[k][0] === 'SPUBLISH') && before[k].repliesOff && clock.touched(sentEpoch, clock.epoch, 'kill')) {
            messagesLost = true;
            break;
          }
          this.note(`  proxy, ${show(cmds[k])}: ${JSON.stringify(frames)}`);
          this.diverge(`proxy: ${show(cmds[k])}: got ${frames.length} of ${counts[k]} frames: ${(err as Error).message}`);
          return;
        }
        frames.push(got);
        if (got.startsWith('-') && /^-(ERR connection to the master was lost|MASTERDOWN|ERR the session could not be restored)/.test(got)) break;
      }
      proxyFrames.push(frames);
      const replyEpoch = clock.epoch;
      const ctx: CmdContext = {
        cmd: cmds[k],
        resp: before[k].resp,
        inMulti: before[k].inMulti,
        lastInBatch: k === cmds.length - 1,
        txOverlapsFailover: this.txEpoch !== undefined && clock.touched(this.txEpoch, replyEpoch),
        overlapsFailover: clock.touched(sentEpoch, replyEpoch),
        overlapsKill: clock.touched(sentEpoch, replyEpoch, 'kill'),
      };
      let verdict = judgeProxyFrames(ctx, frames);
      if (messagesLost) verdict = { kind: 'end', allowed: 'link-lost-on-kill', finalChecks: false };
      if (counts[k] === 0) {
        // Any command sent with replies off while a kill -9 window is open is in flight until the
        // next reply: it may have died with the master, and no error can say so.
        if (clock.touched(sentEpoch, sentEpoch, 'kill')) this.silentSince ??= sentEpoch;
        // A write sent with replies off has no acknowledgement: until a write reply of this
        // session is confirmed on the same master, a failover (planned or kill -9) may discard it
        // with the old master's unreplicated tail.
        if (WRITES.has(cmds[k][0].toUpperCase())) this.silentWriteSince ??= sentEpoch;
      } else {
        if (this.silentSince !== undefined) {
          const unknown = clock.touched(this.silentSince, replyEpoch, 'kill');
          this.silentSince = undefined;
          if (unknown && verdict.kind === 'compare') verdict = { kind: 'end', allowed: 'link-lost-on-kill', finalChecks: false };
        }
        if (this.silentWriteSince !== undefined) {
          if (clock.touched(this.silentWriteSince, replyEpoch)) {
            this.silentWriteSince = undefined;
            if (verdict.kind === 'compare') verdict = { kind: 'end', allowed: 'silent-write-at-failover', finalChecks: stateKnownAfter(ctx) };
          } else if (WRITES.has(cmds[k][0].toUpperCase()) && frames.length > 0 && !frames[0].startsWith('-')) this.silentWriteSince = undefined;
        }
      }
      judged.push({ ctx, verdict });
      if (verdict.kind === 'diverged') {
        this.note(`  proxy, ${show(cmds[k])}: ${JSON.stringify(frames)}`);
        this.diverge(`${show(cmds[k])}: ${verdict.why}: ${JSON.stringify(frames)}`);
        return;
      }
      if (verdict.kind === 'end') {
        endAt = { index: k, allowed: verdict.allowed, finalChecks: verdict.finalChecks };
        break;
      }
      refCmds.push(verdict.kind === 'substitute' ? verdict.cmd : cmds[k]);
    }

    // 2. The reference: the same bytes (up to an unknown outcome, with substitutions).
    const refCounts = (() => {
      const s = cloneState(this.state);
      return refCmds.map((c) => step(s, c).frames);
    })();
    if (refCmds.length > 0) {
      const same = refCmds.length === cmds.length && refCmds.every((c, k) => c === cmds[k]);
      await this.write(this.r, same ? bytes : Buffer.concat(refCmds.map((c) => encode(...c))), same ? split : undefined);
    }
    for (let k = 0; k < refCmds.length; k++) {
      let ref: string[];
      try {
        ref = refCounts[k] > 0 ? await this.r.read(refCounts[k], 30_000) : [];
      } catch (err) {
        this.diverge(`harness: the reference did not answer ${show(refCmds[k])} as the model predicts (${refCounts[k]} frames): ${(err as Error).message}`);
        return;
      }
      const { verdict } = judged[k];
      const isExec = refCmds[k][0] === 'EXEC';
      // Move the model: EXEC's effects follow the reference's verdict (array = it ran).
      step(this.state, refCmds[k], isExec ? /^\*\d/.test(ref[0] ?? '') : true);
      if (verdict.kind === 'substitute') {
        this.count(verdict.allowed);
        this.note(`  ${show(cmds[k])}: proxy ${JSON.stringify(proxyFrames[k])}; reference ran ${show(refCmds[k])} instead (${verdict.allowed})`);
        continue;
      }
      const cmp = compareFrames(refCmds[k], ref, proxyFrames[k]);
      this.note(`  ${show(cmds[k])}: ${JSON.stringify(proxyFrames[k])}${cmp.ok ? '' : ` but the reference sent ${JSON.stringify(ref)}`}`);
      if (!cmp.ok) {
        this.diverge(`${show(cmds[k])}: expected ${JSON.stringify(ref)}, got ${JSON.stringify(proxyFrames[k])}`);
        return;
      }
      if (cmp.allowed) this.count(cmp.allowed);
    }
    if (!this.state.multi && !this.state.watching) this.txEpoch = undefined;
    if (endAt) {
      this.count(endAt.allowed);
      this.ctl.report.endedEarly[endAt.allowed] = (this.ctl.report.endedEarly[endAt.allowed] ?? 0) + 1;
      this.note(`  ${show(cmds[endAt.index])}: proxy ${JSON.stringify(proxyFrames[endAt.index])}: outcome unknown (${endAt.allowed}); the session stops comparing here`);
      // A stateless command: only its reply-mode bookkeeping moves the model.
      if (endAt.finalChecks) step(this.state, ['PING']);
      this.stopped = { finalChecks: endAt.finalChecks };
    }
  }

  private count(id: AllowedId): void {
    this.ctl.report.allowed[id] = (this.ctl.report.allowed[id] ?? 0) + 1;
  }

  /** Everything `c` receives up to the reply of a marker PING (sent here). */
  private async upToMarker(c: RawClient, tag: string): Promise<string[]> {
    const marker = `${tag}-${this.i}`;
    const markerReply = pubsubContext(this.state) ? `*2\r\n$4\r\npong\r\n$${marker.length}\r\n${marker}\r\n` : `$${marker.length}\r\n${marker}\r\n`;
    c.send(encode('PING', marker));
    const out: string[] = [];
    for (;;) {
      const [f] = await c.read(1, this.opts.readTimeoutMs);
      out.push(f);
      if (f === markerReply) return out;
      if (out.length > 100) throw new Error(`no marker reply in ${JSON.stringify(out).slice(0, 500)}`);
    }
  }

  /** A probe PUBLISH/SPUBLISH on every channel and shard channel of the session's universe, from a
   * connection of their own on each side, one at a time: the receivers, then every message the
   * session gets for them up to a marker, must be the reference's. Returns what differed. */
  private async probe(): Promise<string | undefined> {
    const pubP = await rawClient(this.p.socket.remotePort!);
    const pubR = await rawClient(this.r.socket.remotePort!);
    try {
      const probes: Cmd[] = [
        ...this.u.probeChannels.map((ch) => ['PUBLISH', ch, `probe-${ch}`]),
        ...this.u.shards.map((ch) => ['SPUBLISH', ch, `probe-${ch}`]),
      ];
      for (const c of probes) {
        pubP.send(encode(...c));
        const [a, b] = await Promise.all([
          pubR.cmd(...c),
          pubP.read(1, this.opts.readTimeoutMs).then(
            ([f]) => f,
            (err: Error) => `(no reply: ${err.message})`,
          ),
        ]);
        this.note(`  probe ${show(c)}: ${JSON.stringify(b)}`);
        if (a !== b) return `probe ${show(c)}: receivers: expected ${JSON.stringify(a)}, got ${JSON.stringify(b)}`;
      }
    } finally {
      pubP.close();
      pubR.close();
    }
    const ref = await this.upToMarker(this.r, 'end');
    let got: string[];
    try {
      got = await this.upToMarker(this.p, 'end');
    } catch (err) {
      return `probe messages: expected ${JSON.stringify(ref)}, got an error: ${(err as Error).message}`;
    }
    this.note(`  > PING end-${this.i} after the probes: ${JSON.stringify(got)}`);
    if (ref.join('') !== got.join('')) {
      return `messages for the probe publishes (channels ${[...this.state.channels]}, patterns ${[...this.state.patterns]}, shards ${[...this.state.shards]}): expected ${JSON.stringify(ref)}, got ${JSON.stringify(got)}`;
    }
    return undefined;
  }

  /** Probes the session's subscriptions and compares CLIENT INFO with the reference's. */
  private async finalChecks(): Promise<void> {
    this.note('-- final checks');
    // A session that stopped early gets here while a failover may still be in progress: its state
    // is compared once the proxy uses the new master (a kill -9 failover whose first election
    // fails takes over 20 s, longer than the hold timeout, and the probes would time out).
    await waitFor(() => this.ctl.clock.epoch % 2 === 0, { timeoutMs: 120_000, intervalMs: 50, what: 'the failover window to close' }).catch(() => undefined);
    if (this.state.multi) await this.runBatch([['DISCARD']]);
    if (this.stopped && !this.stopped.finalChecks) return;
    if (this.state.reply !== 'on') await this.runBatch([['CLIENT', 'REPLY', 'ON']]);
    if (this.stopped && !this.stopped.finalChecks) return;
    if (this.state.reply !== 'on') {
      this.diverge(`harness: reply mode ${this.state.reply} at the final checks`);
      return;
    }
    // The probes, once the proxy session has re-homed (a failover window closes when the proxy
    // uses the new master; the session's subscriptions are replayed just after). A failover window
    // touching them (Sentinel may fail over by itself) makes them inconclusive: messages published
    // during a switch may be lost (DESIGN): then they are made again, up to three times.
    const port = this.p.socket.localPort!;
    for (let attempt = 1; ; attempt++) {
      await waitFor(() => this.ctl.clock.epoch % 2 === 0 && (this.ctl.settled?.(port) ?? true), {
        timeoutMs: 120_000,
        intervalMs: 20,
        what: 'the proxy session re-homed',
      }).catch(() => undefined);
      const from = this.ctl.clock.epoch;
      const failed = await this.probe();
      if (failed === undefined) break;
      if (!this.ctl.clock.touched(from, this.ctl.clock.epoch) || attempt === 3) return this.diverge(failed);
      this.note(`  (a failover window touched the probes: ${failed}; probing again)`);
      this.count('probe-during-failover');
      // Whatever the first probes still deliver is read and dropped, on both sides.
      await Promise.all([this.upToMarker(this.r, 'drain'), this.upToMarker(this.p, 'drain').catch(() => undefined)]);
    }
    this.ctl.report.finalChecks++;
    // CLIENT INFO is refused in the RESP2 pub/sub context: leave it first (no-argument forms).
    if (pubsubContext(this.state)) {
      for (const c of [['UNSUBSCRIBE'], ['PUNSUBSCRIBE'], ['SUNSUBSCRIBE']]) {
        await this.runBatch([c]);
        if (this.stopped) return;
      }
    }
    this.p.send(encode('CLIENT', 'INFO'));
    this.r.send(encode('CLIENT', 'INFO'));
    const [[ri], [pi]] = await Promise.all([
      this.r.read(1),
      this.p.read(1, this.opts.readTimeoutMs).catch((err: Error) => [`(no reply: ${err.message})`]),
    ]);
    const a = parseClientInfo(ri);
    const b = parseClientInfo(pi);
    if (!a) return this.diverge(`harness: unreadable CLIENT INFO from the reference: ${JSON.stringify(ri)}`);
    if (!b) return this.diverge(`CLIENT INFO: got ${JSON.stringify(pi)}`);
    let diff = CLIENT_INFO_FIELDS.filter((f) => a[f] !== b[f]);
    // A WATCH that could not move: the reference's connection has the dirty-CAS flag `d` (a
    // watched key changed), the proxy's new backend connection cannot (the proxy fails EXEC itself).
    const clock = this.ctl.clock;
    if (diff.includes('flags') && this.txEpoch !== undefined && clock.touched(this.txEpoch, clock.epoch)) {
      if ((a.flags.replace('d', '') || 'N') === b.flags) {
        diff = diff.filter((f) => f !== 'flags');
        this.count('exec-aborted-by-failover');
      }
    }
    this.note(`  > CLIENT INFO: ${CLIENT_INFO_FIELDS.map((f) => `${f}=${b[f]}`).join(' ')}`);
    if (diff.length > 0) {
      this.diverge(`CLIENT INFO: ${diff.map((f) => `${f}: expected ${JSON.stringify(a[f])}, got ${JSON.stringify(b[f])}`).join('; ')}`);
    }
  }
}

/** Injects the failovers, each once enough steps have run; then lets the sessions finish. */
async function injectFailovers(target: Target, opts: DiffOptions, ctl: Control, rng: Rng, sessionsDone: () => boolean): Promise<void> {
  const group = target.group!;
  let threshold = 0;
  for (const kind of opts.failovers) {
    threshold += Math.max(1, Math.round(opts.stepsBetween * (0.5 + rng.next())));
    await waitFor(() => ctl.steps >= threshold || sessionsDone(), { timeoutMs: 300_000, intervalMs: 20, what: `${threshold} steps` });
    if (sessionsDone()) return;
    const started = Date.now();
    const from = await group.currentMaster();
    if (kind === 'kill') {
      // Every replica done with its initial sync first (before the window opens: the master is
      // healthy meanwhile): Sentinel may promote any of them, and one still loading its copy of
      // the data set (after the previous failover) would lose writes acknowledged long before —
      // Redis's own limit, not what this test is about.
      const fromPort = Number(from.split(':')[1]);
      await waitFor(async () => (String(await redisCall(fromPort, ['INFO', 'replication'])).match(/^slave\d+:.*state=online/gm) ?? []).length >= group.nodes.length - 1, {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: `every replica online at ${from}`,
      });
    }
    const atStep = ctl.steps;
    // (Not while a failover Sentinel started by itself is under way: windows do not nest.)
    await waitFor(() => ctl.clock.epoch % 2 === 0, { timeoutMs: 120_000, intervalMs: 20, what: 'an unplanned failover to end' });
    ctl.injecting = true;
    ctl.clock.open(kind);
    let to: string;
    if (kind === 'planned') {
      to = await group.failover({ timeoutMs: 60_000 });
    } else {
      await group.node(from)!.kill('SIGKILL');
      // The new master as the majority of sentinels names it, and as its ROLE says (a sentinel
      // starved of CPU can be in TILT, or late, for tens of seconds: the proxy follows the
      // majority too).
      to = await waitFor(
        async () => {
          const m = await group.currentMaster();
          if (m === from) return undefined;
          const role = await redisCall(Number(m.split(':')[1]), ['ROLE'], { timeoutMs: 1000 });
          return Array.isArray(role) && String(role[0]) === 'master' ? m : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: `a verified master other than ${from}` },
      );
    }
    await waitFor(() => target.proxyMaster?.() === to, { timeoutMs: 60_000, intervalMs: 10, what: `the proxy switched to ${to}` });
    ctl.clock.close();
    ctl.injecting = false;
    ctl.report.failovers.push({ kind, from, to, ms: Date.now() - started, atStep });
    if (kind === 'kill') {
      // The killed master comes back as a replica of the new one. (After a planned failover
      // Sentinel demotes the old master itself; doing it for Sentinel there once left a later
      // kill -9 failover unfinished for a minute.)
      const old = group.node(from)!;
      await old.restart();
      const [host, port] = to.split(':');
      await old.call('REPLICAOF', host, port);
    }
    // The next failover needs a replica in sync with the new master (not all of them: Sentinel
    // demotes an old master of a planned failover only seconds later); after the last one the
    // sessions just finish.
    if (ctl.report.failovers.length < opts.failovers.length) {
      const newPort = Number(to.split(':')[1]);
      await waitFor(async () => /^slave\d+:.*state=online/m.test(String(await redisCall(newPort, ['INFO', 'replication']))), {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: `a replica online at ${to}`,
      });
    }
  }
}

export async function runDifferential(target: Target, refPort: number, opts: DiffOptions): Promise<RunReport> {
  const report: RunReport = {
    seed: opts.seed,
    sessions: opts.sessions,
    steps: 0,
    commands: 0,
    failovers: [],
    allowed: {},
    endedEarly: {},
    finalChecks: 0,
    unplanned: 0,
    divergences: [],
    errors: [],
  };
  const ctl: Control = { clock: new Clock(), injecting: false, settled: target.sessionSettled, steps: 0, finishing: opts.failovers.length === 0 || !target.group, report };
  const stopWatching = watchUnplanned(target, ctl);
  let done = 0;
  const sessions = Array.from({ length: opts.sessions }, (_, i) => new SessionRun(i, opts.seed, ctl, opts));
  const runs = sessions.map((s) => s.run(target.port, refPort).finally(() => done++));
  if (target.group && opts.failovers.length > 0) {
    try {
      await injectFailovers(target, opts, ctl, new Rng(subSeed(opts.seed, 1_000_000)), () => done === opts.sessions);
    } catch (err) {
      report.errors.push(`failover injection: ${(err as Error).message}`);
    }
    ctl.finishing = true;
  }
  await Promise.all(runs);
  stopWatching();
  return report;
}

/** Opens a failover window while the proxy sees a failover nobody injected (Sentinel judged a
 * master down by itself: a fence, or a new master), and closes it once the proxy uses a master
 * again; polled, as the injector's waits are. */
function watchUnplanned(target: Target, ctl: Control): () => void {
  const topology = target.proxyTopology;
  if (topology === undefined) return () => undefined;
  let epoch = topology().epoch;
  let open = false;
  const timer = setInterval(() => {
    const now = topology();
    if (ctl.injecting) {
      epoch = now.epoch;
      return;
    }
    if (!open && (now.fenced || now.epoch !== epoch)) {
      ctl.clock.open('unplanned');
      ctl.report.unplanned++;
      open = true;
    }
    epoch = now.epoch;
    if (open && !now.fenced && target.proxyMaster?.() !== undefined) {
      ctl.clock.close();
      open = false;
    }
  }, 5);
  return () => {
    clearInterval(timer);
    if (open) ctl.clock.close();
  };
}

/** Formats a report's divergences for a test failure message. */
export function describeDivergence(d: Divergence, seed: number): string {
  return [
    `seed ${seed}, session ${d.session} (keys and channels s${d.session}:*), batch ${d.step}: ${d.what}`,
    `reproduce: DIFF_SEED=${seed} npm run test:differential`,
    'the session\'s program (most recent last; "> " is one batch written at once, then each command\'s frames from the proxy):',
    ...d.program.map((l) => `  ${l}`),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The reference: a standalone redis-server of its own.

export interface Reference {
  port: number;
  stop(): Promise<void>;
}

export async function startReference(): Promise<Reference> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-ref-'));
  const proc: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--databases', '16'],
    { stdio: 'ignore' },
  );
  let exited = false;
  proc.on('exit', () => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error('reference redis-server exited');
      const c = await rawClient(port);
      try {
        return (await c.cmd('PING')) === '+PONG\r\n';
      } finally {
        c.close();
      }
    },
    { timeoutMs: 20_000, what: `reference redis-server on port ${port}` },
  );
  return {
    port,
    async stop() {
      if (!exited) {
        const gone = new Promise((res) => proc.once('exit', res));
        proc.kill('SIGKILL');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
