// The session's own links: where its next command goes (router.ts decides, fed here per command),
// the link it uses, the spare kept for the per-command read split, the replica it leases, and the
// backoff after a lost link. A link is opened, switched or left only at a command boundary
// (nothing in flight), so replies never interleave; what a new link must be told again is replayed
// by the session (`LinksOwner.replay`).
import type { Logger } from '../logger.js';
import { CmdFlag, type CommandSpec, isReadOnly } from '../commands/table.js';
import { BackendLink, type LinkOptions } from './backend-link.js';
import type { Deque } from './deque.js';
import type { ArrivalClock, Entry } from './reply-queue.js';
import type { ReplayState } from './state.js';
import type { Transaction } from './transaction.js';
import type { SessionHost } from './host.js';
import { route, type RouteInput } from './router.js';
import { type ClientWriter, PAUSE_BACKEND } from './client-writer.js';

/** Where a command goes: a node, and the master epoch it was verified in (-1: a replica). */
export interface Target {
  addr: string;
  epoch: number;
}

/** What the links need of their session. */
export interface LinksOwner {
  readonly log: Logger;
  readonly group: SessionHost;
  readonly kind: 'master' | 'read';
  readonly closed: boolean;
  readonly tx: Transaction;
  readonly state: ReplayState;
  /** MONITOR or CLIENT TRACKING on: the session cannot move to a new master. */
  readonly unmovable: 'no' | 'monitor' | 'tracking';
  /** Joined command writes go out before anything else is written to a link. */
  flushWrites(): void;
  /** A new link: tell it the session's state again (replies swallowed). */
  replay(link: BackendLink): void;
  /** The protocol, the subscriptions or the link changed: how RESP2 arrays are inspected. */
  updateInspect(): void;
  /** Send what is held, if the group allows it. */
  pump(): void;
  teardown(why: string): void;
}

/** Where the loss of the link in use is handled (holding.ts): not one left on purpose, not the spare. */
export interface LinkLoss {
  linkClosed(link: BackendLink, err: Error | undefined): void;
}

/** The reply side of a link (reply-splicer.ts). */
export interface LinkReader {
  onLinkData(link: BackendLink, chunk: Buffer): void;
  /** Drops a half-collected reply; returns whether the splicer was streaming. */
  reset(): boolean;
}

export class Links {
  link: BackendLink | undefined;
  /** Per-command read split (reads.routeReads = replica): the link not in use right now (the
   * master's while reads go to a replica, or the other way round), kept open for the next switch.
   * Only one link has commands in flight at any time, so replies stay in request order. */
  spare: BackendLink | undefined;
  /** The replica a read session uses (counted in the group's balancer). */
  private replica: string | undefined;
  /** When this session last sent a write to the master (read-your-writes window). */
  lastWriteAt = 0;
  private relinkTimer: NodeJS.Timeout | undefined;
  private relinkDelay = 0;
  private cutTimer: NodeJS.Timeout | undefined;
  /** The router's input, filled in per command (one object per session, not per command). */
  private readonly ri: RouteInput;
  /** How links are opened: connectNode unless set (unit tests open links without a network). */
  connect: LinkOptions['connect'] = undefined;

  constructor(
    private readonly owner: LinksOwner,
    private readonly queue: Deque<Entry>,
    private readonly reader: LinkReader,
    private readonly writer: ClientWriter,
    private readonly loss: LinkLoss,
    /** The session's clock: arrival of the client data being framed, or the sending time of held
     * commands (the read-your-writes window). */
    private readonly clock: ArrivalClock,
    /** The per-command read split (reads.routeReads = replica), decided when the session opens. */
    readonly split: boolean,
  ) {
    this.ri = {
      listener: owner.kind,
      split,
      readOnly: false,
      blocking: false,
      txIdle: true,
      subscribed: false,
      sinceWriteMs: 0,
      readYourWritesMs: 0,
      replica: undefined,
      atBoundary: true,
      onReplicaLink: false,
      masterUsable: false,
      fallback: 'master',
      replicasMeasured: false,
    };
  }

  /** Backing off after a failed connection. */
  get backingOff(): boolean {
    return this.relinkTimer !== undefined;
  }

  /**
   * Where one command goes (router.ts decides; this fills in its input and leases the replica).
   * Undefined: hold it (or, on the read listener with `fallback: error` and no healthy replica,
   * refuse it: the session tells the two apart). `spec` undefined: where the session's next
   * command goes now (a subscribed session's link).
   */
  targetFor(spec: CommandSpec | undefined): Target | undefined {
    const o = this.owner;
    const g = o.group;
    const ri = this.ri;
    const readOnly = isReadOnly(spec);
    ri.readOnly = readOnly;
    ri.blocking = spec !== undefined && (spec.flags & CmdFlag.Blocking) !== 0;
    ri.txIdle = o.tx.idle;
    ri.subscribed = o.state.subscribed;
    ri.sinceWriteMs = this.clock.now - this.lastWriteAt;
    ri.readYourWritesMs = g.config.reads.readYourWritesMs;
    const replica = o.kind === 'read' || (ri.split && readOnly) ? g.replicas.choose(this.replica) : undefined;
    ri.replica = replica;
    ri.atBoundary = this.queue.length === 0;
    const link = this.link;
    ri.onReplicaLink = link !== undefined && link.masterEpoch === -1 && link.addr === replica;
    ri.masterUsable = !g.blocked && g.master !== undefined;
    ri.fallback = g.config.reads.fallback;
    ri.replicasMeasured = g.replicasMeasured;
    switch (route(ri)) {
      case 'replica':
        if (replica !== this.replica) {
          if (this.replica !== undefined) g.replicas.release(this.replica);
          g.replicas.take(replica!);
          this.replica = replica;
        }
        if (o.kind === 'master') g.metrics.splitReads.inc();
        return { addr: replica!, epoch: -1 };
      case 'master':
        return { addr: g.master!, epoch: g.masterEpoch };
      default:
        return undefined;
    }
  }

  private onTarget(link: BackendLink, tgt: Target): boolean {
    return link.addr === tgt.addr && link.masterEpoch === tgt.epoch;
  }

  /** Does a link still go somewhere this session may send to? A replica link while its replica is
   * healthy; a master link while its master (and epoch) is current. */
  stillValid(link: BackendLink): boolean {
    const g = this.owner.group;
    if (link.masterEpoch === -1) return g.replicas.isHealthy(link.addr);
    return link.addr === g.master && link.masterEpoch === g.masterEpoch;
  }

  /** The link goes somewhere the session should no longer send to. */
  stale(): boolean {
    const link = this.link;
    return link !== undefined && !this.stillValid(link);
  }

  /** Can the session's next command be written now (a subscribed session's link)? */
  canSend(): boolean {
    return this.canSendTo(this.targetFor(undefined));
  }

  /** Can a command for `tgt` be written to the session's link right now? Switches, opens or
   * replaces the link when the session is at a command boundary. */
  canSendTo(tgt: Target | undefined): boolean {
    if (tgt === undefined) return false;
    const link = this.link;
    if (link !== undefined && !link.closed && this.onTarget(link, tgt)) return true;
    if (this.queue.length > 0) return false; // not at a boundary: wait for the replies in flight
    if (this.relinkTimer) return false; // backing off after a failed connection
    if (this.owner.closed) return false;
    const spare = this.spare;
    if (spare !== undefined && !spare.closed && this.onTarget(spare, tgt)) {
      // Switch between the master and the replica link.
      this.spare = link !== undefined && !link.closed && this.stillValid(link) ? link : undefined;
      if (link !== undefined && this.spare === undefined) link.end();
      this.link = spare;
      // It may have been paused for this client before: resume it unless the client is behind.
      if (this.writer.pending === 0) spare.socket.resume();
      this.reader.reset();
      this.owner.updateInspect();
      return true;
    }
    if (link !== undefined) {
      if (this.split && !link.closed && this.stillValid(link)) {
        // Keep it for the next switch back.
        this.spare?.end();
        this.spare = link;
        this.link = undefined;
        this.reader.reset();
      } else {
        this.leave('re-home');
      }
    }
    this.open(tgt.addr, tgt.epoch);
    return true;
  }

  /** Drops the spare link (its replayed state is out of date, or its node is no longer usable). */
  dropSpare(): void {
    this.spare?.end();
    this.spare = undefined;
  }

  private open(addr: string, masterEpoch: number): void {
    const o = this.owner;
    o.flushWrites();
    const g = o.group;
    const link = new BackendLink(
      { addr, masterEpoch, tls: g.config.tls.backend, connectTimeoutMs: g.config.topology.connectTimeoutMs, connect: this.connect },
      this.handlers,
    );
    this.link = link;
    g.metrics.backendConnects.inc();
    o.replay(link);
  }

  private readonly handlers = {
    onData: (link: BackendLink, chunk: Buffer) => {
      if (link !== this.link || this.owner.closed) return;
      this.relinkDelay = 0;
      this.reader.onLinkData(link, chunk);
    },
    onDrain: (link: BackendLink) => {
      if (link === this.link) this.writer.resume(PAUSE_BACKEND);
    },
    onClose: (link: BackendLink, err: Error | undefined) => {
      if (link === this.spare) {
        this.spare = undefined;
        return;
      }
      if (link !== this.link) return; // a link we left on purpose
      this.link = undefined;
      this.loss.linkClosed(link, err);
    },
  };

  /** Leaves the current link deliberately (re-home, failover): nothing is in flight on it. */
  leave(why: string): void {
    const link = this.link;
    if (!link) return;
    this.link = undefined;
    this.owner.log.debug({ node: link.addr, why }, 'leaving link');
    this.owner.tx.leftLink();
    link.end();
    this.reader.reset();
  }

  /** After a lost link: try again soon, backing off while the node stays unreachable. */
  scheduleRelink(): void {
    if (this.relinkTimer || this.owner.closed) return;
    this.relinkDelay = Math.min(1000, this.relinkDelay === 0 ? 50 : this.relinkDelay * 2);
    this.relinkTimer = setTimeout(() => {
      this.relinkTimer = undefined;
      const o = this.owner;
      o.pump();
      if (this.link === undefined && o.state.subscribed && !o.closed) {
        if (this.canSend()) return;
        this.scheduleRelink();
      }
    }, this.relinkDelay);
    this.relinkTimer.unref();
  }

  /** A new master (or a lifted fence) is worth trying at once, whatever the backoff said. */
  private stopBackoff(): void {
    if (this.relinkTimer) {
      clearTimeout(this.relinkTimer);
      this.relinkTimer = undefined;
      this.relinkDelay = 0;
    }
  }

  /** Cuts `link` once the master has changed, if it still has commands in flight (checked again
   * every second until then, or until the link is done with). */
  private armCut(link: BackendLink): void {
    if (this.cutTimer) return;
    this.cutTimer = setTimeout(() => {
      this.cutTimer = undefined;
      if (this.owner.closed || this.link !== link || link.closed || this.queue.length === 0) return;
      if (this.owner.group.masterEpoch !== link.masterEpoch) link.destroy();
      else this.armCut(link);
    }, 1000);
    this.cutTimer.unref();
  }

  // Failover reactions (the group calls them through the session).

  /** A failover started: ask the old master to unblock the first blocked command on the link, so
   * that it can move (the splicer asks for the next one when it comes back -UNBLOCKED). */
  onFence(): void {
    const link = this.link;
    if (!link || link.clientId === undefined) return;
    for (const e of this.queue) {
      if (e.blocking && !e.unblockRequested && e.link === link) {
        e.unblockRequested = true;
        this.owner.group.unblock(link.addr, link.clientId);
        break;
      }
    }
  }

  /** A replica was promoted: what the old master answers from now on may be discarded by its
   * resync, so a link to it with commands still in flight is cut (they get LINK_LOST). */
  onPromoted(): void {
    const link = this.link;
    if (!link || this.queue.length === 0) return;
    let onlyBlocking = true;
    for (const e of this.queue) if (e.kind === 'forward' && !e.blocking) onlyBlocking = false;
    if (!onlyBlocking) {
      this.owner.log.info({ node: link.addr }, 'cutting link to the demoted master with commands in flight');
      link.destroy();
      return;
    }
    // Blocked commands were asked to unblock; give that a moment, then cut once the master has
    // changed.
    this.onFence();
    this.armCut(link);
  }

  /** The verified master changed, the fence lifted, or replica health changed: drop what goes
   * somewhere the session may no longer send to. False when the session must not go on (its
   * in-flight reads are moved, or it is closed because it cannot move). */
  onTopologyChange(): boolean {
    const o = this.owner;
    this.stopBackoff();
    if (this.spare && !this.stillValid(this.spare)) this.dropSpare();
    const link = this.link;
    if (link && (o.kind === 'read' || link.masterEpoch === -1) && !this.stillValid(link) && this.queue.length > 0 && o.tx.idle) {
      // Reads waiting on a replica that is no longer healthy (frozen, fallen behind, promoted):
      // they have no side effects, so cut the link and run them again on a healthy replica
      // (holding.ts puts them back in order) rather than wait for this one. On the read-only
      // listener that is every command; a split session's replica link carries only replayable
      // reads (router.ts).
      o.log.info({ node: link.addr }, 'replica no longer healthy: moving the in-flight reads');
      link.destroy();
      return false;
    }
    if (link && !this.stillValid(link) && this.queue.length === 0) {
      if (o.unmovable !== 'no') {
        // Cannot be moved faithfully (DESIGN.md): close at this reply boundary.
        o.log.info('session cannot move to the new master (MONITOR or CLIENT TRACKING); closing');
        o.teardown('unmovable session');
        return false;
      }
      this.leave('master changed');
      o.group.metrics.rehomed.inc();
    }
    return true;
  }

  /** The session closes after its last reply: its links are done with. */
  end(): void {
    this.link?.end();
    this.link = undefined;
    this.dropSpare();
  }

  /** The session is torn down: timers stopped, links ended, the replica lease given back. */
  close(): void {
    clearTimeout(this.relinkTimer);
    clearTimeout(this.cutTimer);
    this.end();
    if (this.replica !== undefined) {
      this.owner.group.replicas.release(this.replica);
      this.replica = undefined;
    }
  }
}
