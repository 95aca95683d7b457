// The own lane: commands on the session's own link (links.ts chose and opened it). Each command
// sent becomes a queue entry carrying what it changes in the connection state and how many replies
// it brings (effects.ts); the proxy adds commands of its own, replies swallowed: the session's state
// told again to a new link, CLIENT ID before a blocking command (so the fence can unblock it),
// AUTH after RESET, DISCARD and UNWATCH for transactions the proxy closes itself.
import type { Logger } from '../logger.js';
import type { Command } from '../resp/request.js';
import type { ReplyInfo } from '../resp/reply.js';
import { encodeCommand } from '../resp/encode.js';
import { ErrorReplies } from '../errors.js';
import { type CommandSpec, isReadOnly, isWrite } from '../commands/table.js';
import type { BackendLink } from './backend-link.js';
import type { Deque } from './deque.js';
import { type ArrivalClock, type Entry, type EntryKind, newEntry } from './reply-queue.js';
import type { SilentSent } from './hold-queue.js';
import { prepare, refusedWhileSubscribed, type EffectsOwner } from './effects.js';
import type { SessionHost } from './host.js';
import type { Links } from './links.js';
import { brokenReply } from './transaction.js';
import type { RequestWriter } from './request-writer.js';

type Cmd = Command<CommandSpec>;

/** What the own lane needs of its session (and what effects.ts needs of it). */
export interface OwnLaneOwner extends EffectsOwner {
  readonly kind: 'master' | 'read';
  readonly log: Logger;
  readonly group: SessionHost;
  /** Ends the session with `reply` (after what is owed, when possible). */
  failSession(reply: Buffer | undefined): void;
  /** Answers `cmd` with a reply of the proxy's own, in order (`undo`: hold-queue.ts `requeued`). */
  enqueueLocal(reply: Buffer, cmd: Cmd | undefined, undo?: () => void): void;
}

/** The reply splicer's mode switch (reply-splicer.ts). */
export interface ModeSwitch {
  updateMode(): void;
  /** Entries whose replies answer writes to confirm. */
  ackOwed: number;
}

export class OwnLane {
  /** Commands sent with replies off on the current link before it connected, and the reply mode
   * when it opened: if it never connects they go again (they have no reply-queue entry). */
  private silent: SilentSent[] = [];
  replyModeAtOpen: 'on' | 'off' | 'skip' = 'on';

  constructor(
    private readonly owner: OwnLaneOwner,
    private readonly queue: Deque<Entry>,
    private readonly links: Links,
    private readonly writes: RequestWriter,
    private readonly splicer: ModeSwitch,
    private readonly clock: ArrivalClock,
    /** The per-command read split: writes start the read-your-writes window. */
    private readonly split: boolean,
  ) {}

  /** A queue entry for the command being dispatched. */
  entry(kind: EntryKind, cmd: Cmd | undefined, link: BackendLink | undefined): Entry {
    return newEntry(kind, cmd, link, this.clock.arrivedAt, this.clock.arrived);
  }

  /** Sends `cmd` on the session's link (the router chose it, links.ts made it current). `again`:
   * see Held. */
  send(cmd: Cmd, kind: string, spec: CommandSpec | undefined, again = false): void {
    const o = this.owner;
    const link = this.links.link!;
    if (o.kind === 'read' && link.masterEpoch !== -1) o.group.metrics.readsOnMaster.inc();
    const e = this.entry('forward', cmd, link);
    e.again = again;
    // Outside MULTI (a WATCH alone does not stop a read from going again: the WATCH breaks with
    // the link anyway, and the read has no side effect).
    const outsideTx = !o.tx.inMulti;
    prepare(o, e, cmd, kind, spec);
    // An (un)subscribe outside MULTI changes only the connection's own state, which a new link is
    // told again anyway: it can go again too, in its place (after the reads before it, which its
    // replayed effect would otherwise put in RESP2's pub/sub context), until a confirmation of it
    // has been passed on (reply-splicer.ts).
    e.replayable = outsideTx && !e.blocking && (e.sub || isReadOnly(spec));
    if (link.masterEpoch !== -1 && (isWrite(spec) || kind === 'exec')) {
      if (this.split) this.links.lastWriteAt = this.clock.now;
      // Its reply waits for a replica to hold the write (topology.writeSafety: safe).
      e.ack = o.group.confirmations(link.addr)?.active === true;
    }
    // With replies off, the node would not answer the proxy's CLIENT ID either.
    if (e.blocking && e.expect > 0 && link.clientId === undefined && !link.clientIdRequested) {
      link.clientIdRequested = true;
      const probe = this.internal(link, CLIENT_ID);
      if (probe !== undefined) probe.clientIdProbe = true;
    }
    this.writes.send(link, cmd);
    const auth = o.group.config.auth;
    if (kind === 'reset' && auth.password !== undefined) {
      // RESET deauthenticated the link: authenticate it again with the backend credentials,
      // after RESET's own reply.
      const again = this.entry('internal', undefined, link);
      this.writes.flush();
      link.write(encodeCommand(auth.username !== undefined ? ['AUTH', auth.username, auth.password] : ['AUTH', auth.password]));
      this.push(e);
      this.push(again);
      return;
    }
    if (e.expect === 0) {
      // CLIENT REPLY OFF/SKIP: nothing comes back for this one; Redis ran it all the same.
      if (!link.connected) this.silent.push({ after: this.queue.last(), cmd, at: e.at, t0: e.t0 });
      const done = e.done;
      if (done !== undefined) this.afterInFlight(() => done(true, SILENT_REPLY));
      return;
    }
    this.push(e);
  }

  /** Runs `f` once the commands in flight before it are answered (now if none is): what a command
   * sent with replies off changes must not be overwritten by an earlier command's reply (seed 10011:
   * `SELECT 1 | CLIENT REPLY SKIP | SELECT 0` replayed db 1). */
  private afterInFlight(f: () => void): void {
    let last: Entry | undefined;
    for (const q of this.queue) if (q.kind !== 'local') last = q;
    if (last === undefined) f();
    else (last.after ??= []).push(f);
  }

  /** Appends an entry that awaits the node's replies. */
  private push(e: Entry): void {
    if (e.ack) this.splicer.ackOwed++;
    this.queue.push(e);
    // First in line, and no reply half-read: its mode applies from the next byte.
    if (this.queue.length === 1 && this.links.link?.framer.atBoundary) this.splicer.updateMode();
  }

  /** Sends a command of the proxy's own on `link` (after the joined writes); its reply is swallowed.
   * With replies off the node sends none: nothing to wait for. With a SKIP pending, it is the
   * skipped one, and the SKIP is set again for the client's next command. */
  private internal(link: BackendLink, bytes: Buffer): Entry | undefined {
    this.writes.flush();
    link.write(bytes);
    const mode = this.owner.replyMode;
    if (mode === 'skip') link.write(CLIENT_REPLY_SKIP);
    if (mode !== 'on') return undefined;
    const e = this.entry('internal', undefined, link);
    this.push(e);
    return e;
  }

  /** The client's CLIENT REPLY SKIP was used up by a command answered by the proxy (or by a
   * command of the proxy's own): the node, which still skips the next reply, skips a PING's. */
  useUpSkip(): void {
    const link = this.links.link;
    if (link === undefined || link.closed) return;
    this.writes.flush();
    link.write(PING);
  }

  /** A command of a broken transaction (its WATCH broke with a link; transaction.ts): true when
   * answered here, false when it must wait, undefined when it goes to the node. */
  brokenTx(cmd: Cmd, kind: string, spec: CommandSpec | undefined): boolean | undefined {
    const o = this.owner;
    // The null reply of a broken WATCH's EXEC is written in the protocol of the moment: after a
    // pipelined HELLO is answered.
    if (kind === 'exec' && o.tx.watching && o.tx.inMulti && this.helloInFlight()) return false;
    // It moves the state: not before the commands ahead of it that may go again (docs/session.md).
    if (o.tx.decides(kind) && this.unconnectedInFlight) return false;
    const b = brokenReply(o.tx, cmd, kind, spec, o.state.protocol);
    if (b === undefined) return undefined;
    if (b.unwatch) this.unwatchOnNode();
    o.enqueueLocal(b.reply, cmd, b.undo);
    return true;
  }

  private helloInFlight(): boolean {
    for (const q of this.queue) if (q.kind === 'forward' && q.cmd?.spec?.kind === 'hello') return true;
    return false;
  }

  /** Closes the node's side of an open transaction without running it (DISCARD). */
  discardOnNode(): void {
    const link = this.links.link;
    if (link === undefined || link.closed) return;
    this.internal(link, DISCARD);
  }

  /** A broken transaction ended here: keys WATCHed on the new link since (forwarded) are
   * unwatched there, as the EXEC or DISCARD would have (UNWATCH). */
  unwatchOnNode(): void {
    const link = this.links.link;
    const o = this.owner;
    if (link === undefined || link.closed || o.replyMode !== 'on' || refusedWhileSubscribed(o.state, 'unwatch')) return;
    this.internal(link, UNWATCH);
  }

  /** Commands sent on the current link before it connected still owe replies: if it never
   * connects, they all go again (holding.ts), in the state they were sent in. */
  get unconnectedInFlight(): boolean {
    const link = this.links.link;
    if (link === undefined || link.connected) return false;
    for (const e of this.queue) if (e.kind === 'forward' && e.link === link) return true;
    return false;
  }

  /** What was sent with replies off on a link that never connected (taken once). */
  takeSilent(): SilentSent[] {
    const s = this.silent;
    this.silent = [];
    return s;
  }

  /** A new link: its first commands tell it the session's state again. */
  replay(link: BackendLink): void {
    const o = this.owner;
    this.silent = [];
    this.replyModeAtOpen = o.replyMode;
    for (const r of o.state.replayCommands(o.group.config.auth, o.replyMode)) {
      if (r.replies === 0) {
        link.write(r.bytes);
        continue;
      }
      const e = this.entry('internal', undefined, link);
      e.expect = r.replies;
      e.sub = r.what.endsWith('subscribe');
      const what = r.what;
      e.done = (ok, info) => {
        if (!ok) {
          o.log.warn({ step: what, error: info.errorCode }, 'replaying session state on the new link failed; closing the session');
          o.failSession(ErrorReplies.REPLAY_FAILED);
        }
      };
      link.write(r.bytes);
      this.push(e);
    }
    o.updateInspect();
  }
}

const UNWATCH = encodeCommand(['UNWATCH']);
/** The `info` of a reply the node does not send (CLIENT REPLY OFF/SKIP). */
const SILENT_REPLY: ReplyInfo = { type: 0x2b, errorCode: undefined, head: undefined, nil: false };
const DISCARD = Buffer.from('*1\r\n$7\r\nDISCARD\r\n', 'latin1');
const CLIENT_ID = Buffer.from('*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n', 'latin1');
const PING = Buffer.from('*1\r\n$4\r\nPING\r\n', 'latin1');
const CLIENT_REPLY_SKIP = encodeCommand(['CLIENT', 'REPLY', 'SKIP']);
