// Write confirmation (topology.writeSafety: safe; issue 19). A write's reply reaches the client
// only once the replicas Sentinel could promote hold the write (how many: `replicasNeeded` in
// ./write-rule.ts): otherwise a master cut off from its replicas (the minority side of a
// partition) acknowledges writes that the failover on the other side discards when the partition
// heals.
//
// Group commit, on connections of the confirmer's own to the master: a round is `PUBLISH` (it is
// propagated to the replicas and touches no key) followed by `WAIT <n> <ms>`. The replication stream
// is one ordered stream, so a replica that acknowledged the round's PUBLISH holds every write the
// master executed before it — every write whose reply the proxy had received when the round was
// sent. A session that receives a reply to a write takes a *ticket*: the number of the next round
// to be sent. It passes that reply (and everything after it) on once that round, or a later one,
// is confirmed. While one round waits, the writes answered meanwhile all wait for the next one: a
// round costs the master two small commands however many writes it confirms.
//
// A round that falls short is sent again until one is confirmed. Waiters give up when the master
// changes (the confirmer stops) or after failover.holdTimeoutMs: the session then answers each
// held write reply with the in-flight error (it may or may not have been executed) rather than
// acknowledging it (src/session/confirm-gate.ts).
import type { GroupConfig } from '../config/types.js';
import { BackendLink } from '../session/backend-link.js';
import { encodeCommand } from '../resp/encode.js';
import type { Logger } from '../logger.js';
import type { Addr, ConfirmWaiter, WriteConfirmations } from './types.js';
import { PROBE_CHANNEL } from './master-probe.js';
import { parseInfo, withTimeout } from './sentinel-link.js';

/** WAIT's timeout in a round: a replica that is there acknowledges within a round trip; one that
 * is not is asked again in the next round. */
const ROUND_WAIT_MS = 100;
/** Rounds in flight at once (one per connection: WAIT blocks its connection). A second round can
 * start while the first waits, so a write answered just after a round was sent waits for at most
 * the rest of that round plus one. */
const CONNECTIONS = 2;
/** How often waiters are checked against failover.holdTimeoutMs. */
const SWEEP_MS = 100;
/** Pause after a round that failed (no connection, an error): rounds do not spin. */
const ROUND_RETRY_MS = 50;

const PUBLISH = encodeCommand(['PUBLISH', PROBE_CHANNEL, '2']);
const ROLE = encodeCommand(['ROLE']);
const INFO_REPLICATION = encodeCommand(['INFO', 'replication']);
/** ROLE's answer on a master: its replication offset. */
const ROLE_MASTER = /^\*3\r\n\$6\r\nmaster\r\n:(\d+)\r\n/;
const WAIT_CMDS = new Map<number, Buffer>();
function waitCommand(n: number): Buffer {
  let b = WAIT_CMDS.get(n);
  if (b === undefined) WAIT_CMDS.set(n, (b = encodeCommand(['WAIT', String(n), String(ROUND_WAIT_MS)])));
  return b;
}

/** `line`: the reply's first line; `bytes`: the whole reply. */
type Answer = (line: string, bytes: Buffer) => void;

/** One connection for rounds, in raw RESP (a round is two tiny commands; a client library would
 * cost more CPU than the commands): the link (src/session/backend-link.ts) connects, TLS
 * included, and sends nothing before the node answers a PING; the backend credentials go first. */
class RoundLink {
  private readonly link: BackendLink;
  private readonly answers: Answer[] = [];
  private partial: Buffer | undefined;
  closed = false;
  /** The node's INFO replication, asked first (its replication ID marks the rounds' offsets). */
  readonly info: Promise<Record<string, string>>;
  private replid = '';

  constructor(addr: Addr, cfg: GroupConfig, onClose: () => void) {
    this.link = new BackendLink(
      { addr, masterEpoch: -2, tls: cfg.tls.backend, connectTimeoutMs: cfg.topology.connectTimeoutMs },
      {
        onData: (_l, chunk) => this.onData(chunk),
        onDrain: () => undefined,
        onClose: () => {
          this.closed = true;
          const waiting = this.answers.splice(0);
          for (const a of waiting) a('-ERR connection closed', Buffer.alloc(0));
          onClose();
        },
      },
    );
    const { username, password } = cfg.auth;
    if (password !== undefined) {
      this.link.write(encodeCommand(username !== undefined ? ['AUTH', username, password] : ['AUTH', password]));
      this.answers.push(() => undefined); // a refused AUTH shows as NOAUTH on the round
    }
    this.info = new Promise((resolve, reject) => {
      this.answers.push((line, bytes) => {
        if (line.startsWith('-')) return reject(new Error(line.slice(1)));
        const info = parseInfo(bytes.toString('latin1'));
        this.replid = info['master_replid'] ?? '';
        resolve(info);
      });
    });
    this.info.catch(() => undefined);
    this.link.write(INFO_REPLICATION);
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    this.link.framer.push(chunk, (end) => {
      let bytes = chunk.subarray(start, end);
      if (this.partial !== undefined) {
        bytes = Buffer.concat([this.partial, bytes]);
        this.partial = undefined;
      }
      start = end;
      const a = this.answers.shift();
      if (a !== undefined) a(bytes.toString('latin1', 0, Math.min(bytes.length, 512)).split('\r\n')[0], bytes);
    });
    if (start < chunk.length) this.partial = this.partial === undefined ? chunk.subarray(start) : Buffer.concat([this.partial, chunk.subarray(start)]);
  }

  /** PUBLISH, ROLE, then WAIT `want`: resolves with WAIT's count; rejects with an error reply.
   * `mark` gets the master's replication ID and its offset after the PUBLISH (from ROLE: at least
   * the PUBLISH's), as soon as ROLE answers. */
  round(want: number, mark: (replid: string, offset: number) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      let failed: string | undefined;
      this.answers.push((line) => {
        if (line.startsWith('-')) failed = line.slice(1);
      });
      this.answers.push((_line, bytes) => {
        const m = ROLE_MASTER.exec(bytes.toString('latin1', 0, Math.min(bytes.length, 64)));
        if (m !== null && failed === undefined && this.replid !== '') mark(this.replid, Number(m[1]));
      });
      this.answers.push((line) => {
        if (failed !== undefined || line.startsWith('-')) reject(new Error(failed ?? line.slice(1)));
        else resolve(Number(line.slice(1)));
      });
      this.link.write([PUBLISH, ROLE, waitCommand(want)]);
    });
  }

  destroy(): void {
    this.link.destroy();
  }
}

export class WriteConfirmer implements WriteConfirmations {
  readonly addr: Addr;
  /** Rounds sent so far (the number of the last one sent). */
  private sent = 0;
  /** The highest round confirmed. */
  done = 0;
  /** The highest round a ticket was given for: rounds are sent until it is. */
  private want = 0;
  /** Round connections, opened when first needed and again after one closes. */
  private readonly conns: (RoundLink | undefined)[] = [];
  /** Per connection: the round in flight on it, 0 when free. */
  private readonly flying: number[] = [];
  /** Waiters and when each started waiting. */
  private readonly waiters = new Map<ConfirmWaiter, number>();
  private readonly sweep: NodeJS.Timeout;
  private stopped = false;
  /** Rounds that found no replica acknowledging, in a row (for the log). */
  private misses = 0;
  /** Per round sent: the master's replication ID and offset after its PUBLISH (ROLE). A switch to
   * a promoted replica that holds that offset confirms the round (`handOver`). */
  private readonly marks = new Map<number, { replid: string; offset: number }>();
  /** After `handOver`: the highest round the promoted replica holds (0: none); waiters with a
   * ticket up to it are confirmed, later ones are not. Undefined while not decided. */
  private salvaged: number | undefined;
  /** Counters (metrics): rounds sent and rounds confirmed. */
  rounds = 0;
  confirmedRounds = 0;

  constructor(
    addr: Addr,
    private readonly cfg: () => GroupConfig,
    private readonly log: Logger,
    /** How many replicas must hold a write (the watcher decides: 1, or every replica Sentinel
     * could promote); 0: nothing to wait for (Sentinel knows no replica it could promote). */
    private readonly needed: () => number,
  ) {
    this.addr = addr;
    for (let i = 0; i < CONNECTIONS; i++) {
      this.conns.push(undefined);
      this.flying.push(0);
    }
    this.sweep = setInterval(() => this.expire(), SWEEP_MS);
    this.sweep.unref();
  }

  /** Must a write's reply wait for a round? Not when no replica could be promoted. */
  get active(): boolean {
    return !this.stopped && !this.refused && this.needed() > 0;
  }

  /** The backend user may not run PUBLISH or WAIT: confirmation is off (logged once). */
  private refused = false;

  /** The round that will confirm a reply received now: the next one to be sent (it will be). */
  ticket(): number {
    const t = this.sent + 1;
    if (t > this.want) {
      this.want = t;
      this.kick();
    }
    return t;
  }

  /** Calls `w.confirmed()` once round `w.confirmTicket` (or a later one) is confirmed. */
  wait(w: ConfirmWaiter): void {
    if (this.stopped && this.salvaged !== undefined) {
      const upTo = this.salvaged;
      if (w.confirmTicket <= upTo) queueMicrotask(() => w.confirmed(upTo));
      else w.unconfirmed('the master changed before the write was confirmed');
      return;
    }
    if (!this.waiters.has(w)) this.waiters.set(w, Date.now());
  }

  forget(w: ConfirmWaiter): void {
    this.waiters.delete(w);
  }

  /** Sends a round when a waiter's ticket is beyond every round in flight and a connection is
   * free. (A round in flight numbered at least a waiter's ticket may confirm it.) */
  private kick(): void {
    if (this.stopped) return;
    let inFlight = 0;
    for (const m of this.flying) if (m > inFlight) inFlight = m;
    if (this.want <= inFlight || this.want <= this.done) return;
    const i = this.flying.indexOf(0);
    if (i < 0) return;
    void this.round(i);
  }

  private conn(i: number): RoundLink {
    let c = this.conns[i];
    if (c === undefined || c.closed) {
      const made: RoundLink = new RoundLink(this.addr, this.cfg(), () => {
        if (this.conns[i] === made) this.conns[i] = undefined;
      });
      this.conns[i] = c = made;
    }
    return c;
  }

  private async round(i: number): Promise<void> {
    const conn = this.conn(i);
    const n = ++this.sent;
    this.flying[i] = n;
    this.rounds++;
    let acked = -1;
    let want = 1;
    try {
      // Both in one write: the PUBLISH executes after every write whose reply arrived before now.
      want = Math.max(1, this.needed());
      const wait = conn.round(want, (replid, offset) => this.marks.set(n, { replid, offset }));
      // A path that stopped carrying packets would keep the round waiting for TCP's
      // retransmissions: past the liveness timeout the connection is replaced.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          conn.destroy();
          reject(new Error('round unanswered'));
        }, ROUND_WAIT_MS + this.cfg().topology.livenessTimeoutMs);
      });
      try {
        acked = Number(await Promise.race([wait, late]));
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      if (err instanceof Error && /^(NOPERM|ERR unknown command)/.test(err.message)) {
        // Nothing could ever confirm: release what waits, and stop confirming (as `lease`).
        this.refused = true;
        this.log.error({ node: this.addr, err: err.message }, 'PUBLISH/WAIT refused to the backend user: writes are not confirmed on a replica (writeSafety acts as lease); grant +publish +wait');
        this.flying[i] = 0;
        this.confirm(Number.MAX_SAFE_INTEGER);
        return;
      }
      if (!this.stopped && this.misses++ % 50 === 0) this.log.warn({ node: this.addr, err: err instanceof Error ? err.message : String(err) }, 'write confirmation round failed');
      // (No connection: do not spin; the waiters' hold timeout still runs.)
      await new Promise((r) => setTimeout(r, ROUND_RETRY_MS));
    }
    this.flying[i] = 0;
    if (this.stopped) return;
    if (acked >= want || (acked >= 0 && this.needed() === 0)) {
      // (needed 0: Sentinel knows no replica it could promote, so no failover can discard it.)
      this.misses = 0;
      this.confirm(n);
    } else if (acked === 0 && this.misses++ % 50 === 0) {
      this.log.warn({ node: this.addr }, 'no replica acknowledges: write replies wait');
    }
    // A round not confirmed: its waiters need one sent after it.
    if (this.done < n && this.waiters.size > 0 && this.want <= this.sent) this.want = this.sent + 1;
    this.kick();
  }

  private confirm(n: number): void {
    if (n > this.done) this.done = n;
    for (const r of this.marks.keys()) if (r <= n) this.marks.delete(r);
    this.confirmedRounds++;
    for (const w of [...this.waiters.keys()]) {
      if (w.confirmTicket <= n) {
        this.waiters.delete(w);
        w.confirmed(n);
      }
    }
  }

  private expire(): void {
    if (this.waiters.size === 0) return;
    const limit = this.cfg().failover.holdTimeoutMs;
    const now = Date.now();
    for (const [w, since] of [...this.waiters]) {
      if (now - since > limit) {
        this.waiters.delete(w);
        w.unconfirmed(`no replica acknowledged the write within ${limit} ms`);
      }
    }
  }

  /** The group stopped (or confirmation is turned off): every waiter gives up. */
  stop(reason = 'the master changed before the write was confirmed'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.salvaged = 0;
    clearInterval(this.sweep);
    for (const c of this.conns) c?.destroy();
    const ws = [...this.waiters.keys()];
    this.waiters.clear();
    for (const w of ws) w.unconfirmed(reason);
  }

  /**
   * The master changed to `next`. Replies still waiting may answer writes the promoted replica
   * holds all the same: Sentinel detaches the replica it promotes (REPLICAOF NO ONE) while the old
   * master still runs the writes sent to it, so a write answered just before got no
   * acknowledgement, though it reached the replica. The promoted replica keeps the old history's
   * ID and where it left it (INFO replication: master_replid2, second_repl_offset): every round
   * marked before that offset in that history is confirmed; the rest are not (the in-flight
   * error). Waiters stay until the new master answers (at most topology.connectTimeoutMs, and
   * within failover.holdTimeoutMs).
   */
  handOver(next: Addr): void {
    if (this.stopped) return;
    if (this.waiters.size === 0 || this.marks.size === 0) return this.stop();
    this.stopped = true;
    for (const c of this.conns) c?.destroy();
    const cfg = this.cfg();
    const link = new RoundLink(next, cfg, () => undefined);
    const decided = (upTo: number, why: string | undefined) => {
      link.destroy();
      if (this.salvaged !== undefined) return;
      this.salvaged = upTo;
      clearInterval(this.sweep);
      const ws = [...this.waiters.keys()];
      this.waiters.clear();
      let kept = 0;
      for (const w of ws) {
        if (w.confirmTicket <= upTo) {
          kept++;
          w.confirmed(upTo);
        } else w.unconfirmed('the master changed before the write was confirmed');
      }
      this.log.info({ node: this.addr, next, confirmed: kept, unconfirmed: ws.length - kept, why }, 'write confirmation: replies waiting at the master change judged against the promoted replica');
    };
    withTimeout(link.info, cfg.topology.connectTimeoutMs, `INFO replication of ${next}`).then(
      (info) => {
        const replid2 = info['master_replid2'] ?? '';
        const held = Number(info['second_repl_offset'] ?? -1) - 1;
        let upTo = 0;
        for (const [n, m] of this.marks) if (m.replid === replid2 && m.offset <= held && n > upTo) upTo = n;
        decided(upTo, `promoted at offset ${held} of ${replid2 || 'no earlier history'}`);
      },
      (err: unknown) => decided(0, err instanceof Error ? err.message : String(err)),
    );
  }
}
