// One client connection: the coordinator of the session's parts (docs/session.md). It frames the
// client's requests, passes them through the gates, and dispatches each — to the shared lane, to
// its own link (links.ts, where the router decides), or holds it (holding.ts) — while keeping:
// - `queue`: what the client is owed, in order — replies from the node (forwarded by the reply
//   splicer, reply-splicer.ts, or the shared lane, shared-lane.ts), replies the proxy makes itself
//   (refusals, errors), and the node's replies to the proxy's own replay commands (swallowed);
// - `held`: commands not yet sent (the group is fenced, no master is verified, the link is being
//   replaced): DESIGN.md "Failover: fence, drain, re-home";
// - `state`: what a new link must be told again (credentials, db, name, protocol, subscriptions).
// A session moves to a new link only at a command boundary (nothing in flight), so no command is
// ever sent twice and replies never interleave. The parts see the session only through interfaces
// they define (no part imports this file).
import type net from 'node:net';
import type { Logger } from '../logger.js';
import { type Command, RequestFramer } from '../resp/request.js';
import type { ReplyInfo } from '../resp/reply.js';
import { OK, encodeCommand } from '../resp/encode.js';
import { ErrorReplies, errorReply } from '../errors.js';
import { type CommandSpec, type CommandTable, isReadOnly, isWrite } from '../commands/table.js';
import type { BackendLink } from './backend-link.js';
import { adoptReads } from './socket-reads.js';
import { Deque } from './deque.js';
import { ReplayState } from './state.js';
import { Transaction, brokenReply } from './transaction.js';
import type { Entry, EntryKind } from './reply-queue.js';
import type { HoldQueue } from './hold-queue.js';
import { Gates, type GateOwner } from './gates.js';
import { prepare, refusedWhileSubscribed, type EffectsOwner } from './effects.js';
import type { SessionHandle, SessionHost, SessionDescription } from './host.js';
import { DEFAULT_LINKS } from '../config/defaults.js';
import { ClientWriter, PAUSE_BACKEND, PAUSE_CLOSING } from './client-writer.js';
import { ReplySplicer, type SplicerOwner } from './reply-splicer.js';
import { Links, type LinksOwner } from './links.js';
import { SharedLane, type LaneOwner } from './shared-lane.js';
import { RequestWriter } from './request-writer.js';
import { Holding, type HoldingOwner } from './holding.js';

type Cmd = Command<CommandSpec>;

let nextSessionId = 1;

export class Session implements SessionHandle, GateOwner, EffectsOwner, SplicerOwner, LinksOwner, LaneOwner, HoldingOwner {
  readonly id = nextSessionId++;
  readonly log: Logger;
  readonly state = new ReplayState();
  private readonly framer: RequestFramer<CommandSpec>;
  private readonly queue = new Deque<Entry>();
  /** Arrival time of the client data being framed (one clock read per chunk, not per command);
   * the sending time while held commands are sent (`pump`). */
  now = Date.now();
  /** Arrival time of the command being dispatched (earlier than `now` for a held one). */
  private arrivedAt = this.now;
  /** The same instant as performance.now(): the start of the latency the group observes
   * (issue 18; one clock read per chunk, not per command). */
  private arrived = performance.now();
  /**
   * 'open': reading and serving; 'draining': read nothing more (QUIT, a protocol error, shutdown),
   * close once every owed reply is written; 'closing': the last reply is being written (client
   * end() called); 'closed': torn down.
   */
  private life: 'open' | 'draining' | 'closing' | 'closed' = 'open';
  get closed(): boolean {
    return this.life === 'closed';
  }

  // Transaction state (DESIGN.md: a transaction cannot move to a new master).
  readonly tx = new Transaction();
  /** MONITOR or CLIENT TRACKING on: the session cannot move to a new master (DESIGN.md). */
  unmovable: 'no' | 'monitor' | 'tracking' = 'no';
  /** CLIENT REPLY OFF / SKIP: the node sends no reply. */
  replyMode: 'on' | 'off' | 'skip' = 'on';
  /**
   * 'shared': stateless so far, plain commands go over the group's shared link (links.shared);
   * 'own': a link of its own (the read listener, or the session gained state); 'split': the
   * per-command read split (reads.routeReads = replica), a master link and a replica link, one
   * of them the spare. Decided when the session opens; 'shared' turns 'own' for good.
   */
  private linkMode: 'shared' | 'own' | 'split';

  // The parts (docs/session.md), each owning its state.
  /** Client authentication and access. */
  private readonly gates: Gates;
  /** Everything written to the client, and why it is not read (pause bits). */
  private readonly writer: ClientWriter;
  /** The node's replies on the session's own link, streamed or collected. */
  private readonly splicer: ReplySplicer;
  /** The own link, the spare, the replica lease, the backoff. */
  private readonly links: Links;
  /** Commands joined into one write per client chunk. */
  private readonly writes: RequestWriter;
  /** The session's side of the group's shared link. */
  private readonly lane: SharedLane;
  /** What waits its turn (and its timer); link loss puts entries back there. */
  private readonly holding: Holding;
  /** `holding.held`, kept at hand for the per-command path. */
  private readonly held: HoldQueue;

  /** On the group's shared link (moves with it: its next command goes to the new master). */
  get onSharedLink(): boolean {
    return this.linkMode === 'shared' && this.links.link === undefined;
  }

  constructor(
    readonly client: net.Socket,
    readonly group: SessionHost,
    private readonly table: CommandTable,
    parentLog: Logger,
    /** `read`: the read-only listener: a healthy replica, writes refused. */
    readonly kind: 'master' | 'read' = 'master',
  ) {
    this.log = parentLog.child({ session: this.id, ...(kind === 'read' ? { listener: 'read' } : {}) });
    const cfg = group.config;
    const lim = cfg.limits;
    void table; // names are looked up in the group's table, which follows the master's COMMAND
    this.framer = new RequestFramer<CommandSpec>(
      group.lookup,
      { maxBulkBytes: lim.maxBulkBytes, maxMultibulkLength: lim.maxMultibulkLength },
      (spec) => spec.subcommands !== undefined,
    );
    // Redis's stricter request limits apply until the client authenticates.
    // Client authentication applies to the sessions opened while it is configured (a reload that
    // turns it on does not ask open sessions to authenticate mid-session; docs/session.md).
    this.gates = new Gates(this, cfg.clientAuth?.users, () => this.group.config.clientAuth?.users);
    if (this.gates.authUsers !== undefined) this.framer.unauthenticated = true;
    const split = kind === 'master' && cfg.reads.routeReads === 'replica';
    this.linkMode = kind === 'read' ? 'own' : split ? 'split' : (cfg.links?.shared ?? true) ? 'shared' : 'own';
    // The parts, wired: the writer pauses the links that feed the client; the splicer writes
    // through the writer; the links hand their chunks to the splicer.
    let links!: Links;
    const feeding = {
      get link() {
        return links.link;
      },
      get spare() {
        return links.spare;
      },
    };
    this.writer = new ClientWriter(client, feeding);
    this.splicer = new ReplySplicer(this, this.queue, this.writer, feeding);
    links = this.links = new Links(this, this.queue, this.splicer, this.writer, split);
    this.writes = new RequestWriter(this.writer);
    this.lane = new SharedLane(this, this.queue, this.writer, cfg.links?.maxPipeline ?? DEFAULT_LINKS.maxPipeline, this.writes);
    this.writes.waiter = this.lane;
    this.holding = new Holding(this, this.queue, this.writer);
    this.held = this.holding.held;
    client.setNoDelay(true);
    // Accepted paused (listener.ts), so that reads can go to the shared read buffer from the first.
    const onChunk = (chunk: Buffer) => this.onClientData(chunk);
    if (!adoptReads(client, onChunk)) {
      client.on('data', onChunk);
      client.resume();
    }
    client.on('drain', () => this.writer.onDrain());
    client.on('error', (err) => this.log.debug({ err: err.message }, 'client socket error'));
    client.on('close', () => this.teardown('client closed'));
    if (lim.idleTimeoutMs > 0) {
      client.setTimeout(lim.idleTimeoutMs, () => {
        // As Redis: blocked and subscribed clients are never idle.
        if (this.queue.length === 0 && this.held.length === 0 && !this.state.subscribed && this.unmovable !== 'monitor') {
          this.log.info('idle timeout');
          this.teardown('idle timeout');
        }
      });
    }
    this.log.debug({ remote: `${client.remoteAddress}:${client.remotePort}` }, 'session opened');
  }

  // ---------------------------------------------------------------------------------------------
  // Intake: client → dispatch

  private onClientData(chunk: Buffer): void {
    if (this.life === 'closing' || this.life === 'closed') return;
    this.now = Date.now();
    this.arrivedAt = this.now;
    this.arrived = performance.now();
    this.writes.begin(chunk);
    const err = this.framer.push(chunk, (cmd) => this.onCommand(cmd));
    this.writes.end();
    if (err) {
      this.log.info({ reason: err.reply }, 'protocol error, closing');
      this.group.metrics.protocolErrors.inc();
      this.writer.pause(PAUSE_CLOSING);
      this.life = 'draining';
      const reply = errorReply(err.reply);
      // After every command before it, held ones included.
      if (this.held.length > 0) this.held.push({ type: 'reply', reply, at: this.now, t0: this.arrived });
      else this.enqueueLocal(reply, undefined);
      this.maybeFinish();
      return;
    }
    if (this.framer.bufferedBytes + this.held.bytes > this.group.config.limits.queryBufferBytes) {
      // Redis closes such a client without a reply ("closing client that reached max query buffer length").
      this.log.warn({ bytes: this.framer.bufferedBytes + this.held.bytes }, 'query buffer limit reached, closing');
      this.teardown('query buffer limit');
    }
  }

  private onCommand(cmd: Cmd): void {
    if (this.life !== 'open') return;
    this.group.metrics.commands.inc();
    if (this.held.length > 0 || !this.dispatch(cmd)) this.holding.hold(cmd, this.now, this.arrived);
  }

  /** Sends (or answers) one command; false when it must wait (the caller holds it). Precondition:
   * nothing held before it. */
  private dispatch(cmd: Cmd): boolean {
    const spec = cmd.spec;
    // The steady state first: a plain command of a stateless session (without client
    // authentication by the proxy, nothing below applies to it).
    if (this.linkMode === 'shared' && this.gates.authUsers === undefined && this.lane.fits(cmd)) return this.lane.dispatch(cmd);
    const kind = spec?.kind ?? 'other';
    if (this.gates.authUsers !== undefined) {
      const passed = this.gates.clientAuth(cmd, kind);
      if (passed === undefined) return true;
      cmd = passed;
    }

    if (this.tx.broken && !refusedWhileSubscribed(this.state, kind)) {
      const b = brokenReply(this.tx, cmd, kind, spec, this.state.protocol);
      if (b !== undefined) {
        if (b.unwatch) this.unwatchOnNode();
        this.enqueueLocal(b.reply, cmd);
        return true;
      }
    }
    switch (kind) {
      case 'sync':
      case 'psync':
      case 'replicaof':
      case 'slaveof':
      case 'failover':
        this.enqueueLocal(ErrorReplies.REFUSED_TOPOLOGY, cmd);
        return true;
      case 'quit':
        this.life = 'draining';
        this.writer.pause(PAUSE_CLOSING);
        this.enqueueLocal(OK, cmd);
        this.maybeFinish();
        return true;
    }
    if (this.gates.access(cmd, kind, spec)) return true;
    if (this.linkMode === 'shared') {
      if (this.lane.fits(cmd)) return this.lane.dispatch(cmd);
      // This command gives the session state, or the client pipelines more than the shared link
      // takes from one session, or sends large values: it gets a link of its own (where
      // backpressure applies to it alone) once its commands on the shared link are answered.
      this.linkMode = 'own';
    }
    if (this.lane.inFlight > 0) return false;
    const links = this.links;
    if (!links.canSendTo(links.targetFor(spec))) {
      if (this.kind === 'read' && this.group.config.reads.fallback === 'error' && this.group.replicasMeasured && this.group.replicas.healthyCount === 0) {
        this.enqueueLocal(ErrorReplies.NO_HEALTHY_REPLICA, cmd);
        return true;
      }
      return false;
    }
    const link = links.link!;
    if (this.kind === 'read' && link.masterEpoch !== -1) this.group.metrics.readsOnMaster.inc();
    const e = this.entry('forward', cmd, link);
    const outsideTx = this.tx.idle;
    prepare(this, e, cmd, kind, spec);
    e.replayable = outsideTx && !e.blocking && !e.sub && isReadOnly(spec);
    if (this.linkMode === 'split' && link.masterEpoch !== -1 && isWrite(spec)) links.lastWriteAt = this.now;
    // With replies off, the node would not answer the proxy's CLIENT ID either.
    if (e.blocking && e.expect > 0 && link.clientId === undefined && !link.clientIdRequested) {
      link.clientIdRequested = true;
      this.internal(link, CLIENT_ID).clientIdProbe = true;
    }
    this.writes.send(link, cmd);
    if (kind === 'reset' && this.group.config.auth.password !== undefined) {
      // RESET deauthenticated the link: authenticate it again with the backend credentials,
      // after RESET's own reply.
      const auth = this.entry('internal', undefined, link);
      this.writes.flush();
      link.write(encodeCommand(this.group.config.auth.username !== undefined ? ['AUTH', this.group.config.auth.username, this.group.config.auth.password] : ['AUTH', this.group.config.auth.password]));
      this.pushEntry(e);
      this.pushEntry(auth);
      return true;
    }
    if (e.expect === 0) {
      // CLIENT REPLY OFF/SKIP: nothing comes back for this one; Redis ran it all the same.
      e.done?.(true, SILENT_REPLY);
      return true;
    }
    this.pushEntry(e);
    return true;
  }

  private entry(kind: EntryKind, cmd: Cmd | undefined, link: BackendLink | undefined): Entry {
    return {
      kind,
      expect: 1,
      cmd,
      local: undefined,
      sub: false,
      buffered: kind === 'internal',
      blocking: false,
      unblockRequested: false,
      link,
      at: this.arrivedAt,
      t0: this.arrived,
      clientIdProbe: false,
      shared: false,
      more: undefined,
      cancelled: false,
      replayable: false,
      done: undefined,
    };
  }

  /** Appends an entry that awaits the node's replies. */
  private pushEntry(e: Entry): void {
    this.queue.push(e);
    // First in line, and no reply half-read: its mode applies from the next byte.
    if (this.queue.length === 1 && this.links.link?.framer.atBoundary) this.splicer.updateMode();
  }

  /** Sends a command of the proxy's own on `link` (after the joined writes); its reply is swallowed. */
  private internal(link: BackendLink, bytes: Buffer): Entry {
    const e = this.entry('internal', undefined, link);
    this.writes.flush();
    link.write(bytes);
    this.pushEntry(e);
    return e;
  }

  /** Answers `cmd` with a reply of the proxy's own, in order. */
  enqueueLocal(reply: Buffer, cmd: Cmd | undefined): void {
    const e = this.entry('local', cmd, undefined);
    e.local = reply;
    e.expect = 0;
    if (this.queue.length === 0) {
      this.splicer.writeClient(reply);
      return;
    }
    this.queue.push(e);
  }

  writeClient(reply: Buffer): void {
    this.splicer.writeClient(reply);
  }

  /** After an entry completed: write the proxy's own replies that are now due, pick the mode for
   * the next reply, and move on if the session is now at a boundary. */
  afterPop(): void {
    const queue = this.queue;
    if (queue.length === 0 && this.splicer.reissuing) this.holding.unshift(this.splicer.takeReissue());
    let next = queue.peek();
    while (next !== undefined && next.kind === 'local') {
      queue.shift();
      this.splicer.writeClient(next.local!);
      next = queue.peek();
    }
    this.splicer.updateMode();
    if (queue.length === 0) {
      this.maybeFinish();
      if (this.held.length > 0 || this.links.stale()) queueMicrotask(() => this.pump());
    }
  }

  // GateOwner, EffectsOwner, LinksOwner, LaneOwner: what the parts ask of the session.

  answer(reply: Buffer, cmd: Cmd): void {
    this.enqueueLocal(reply, cmd);
  }

  /** Closes the node's side of an open transaction without running it (DISCARD, reply swallowed). */
  discardOnNode(): void {
    const link = this.links.link;
    if (link === undefined || link.closed) return;
    this.internal(link, DISCARD);
  }

  /** A broken transaction ended here: keys WATCHed on the new link since (forwarded) are
   * unwatched there, as the EXEC or DISCARD would have (UNWATCH, reply swallowed). */
  private unwatchOnNode(): void {
    const link = this.links.link;
    if (link === undefined || link.closed || this.replyMode !== 'on' || refusedWhileSubscribed(this.state, 'unwatch')) return;
    this.internal(link, UNWATCH);
  }

  authenticated(): void {
    this.framer.unauthenticated = false;
  }

  /** RESP2 pub/sub messages are plain arrays: look at the first element of arrays while subscribed. */
  updateInspect(): void {
    const link = this.links.link;
    if (link) link.framer.inspectArrays = this.state.protocol === 2 && this.state.subscribed;
  }

  dropSpare(): void {
    this.links.dropSpare();
  }

  flushWrites(): void {
    this.writes.flush();
  }

  forwardEntry(cmd: Cmd): Entry {
    return this.entry('forward', cmd, undefined);
  }

  leaveLane(): void {
    this.linkMode = 'own';
  }

  relink(): void {
    this.links.scheduleRelink();
  }

  /** A new link: its first commands tell it the session's state again, replies swallowed. */
  replay(link: BackendLink): void {
    const g = this.group;
    for (const r of this.state.replayCommands(g.config.auth, this.replyMode)) {
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
          this.log.warn({ step: what, error: info.errorCode }, 'replaying session state on the new link failed; closing the session');
          this.failSession(ErrorReplies.REPLAY_FAILED);
        }
      };
      link.write(r.bytes);
      this.pushEntry(e);
    }
    this.updateInspect();
  }

  // ---------------------------------------------------------------------------------------------
  // Link loss (own links: onLinkClose; the shared link: unsent, lost): what was owed goes back to
  // the hold queue (holding.ts decides how), then the session links again.

  onLinkClose(link: BackendLink, err: Error | undefined): void {
    const wasStreaming = this.splicer.reset();
    if (this.closed) return;
    const neverConnected = !link.connected;
    this.log.info({ node: link.addr, err: err?.message, neverConnected }, 'backend link closed');
    const g = this.group;
    g.onLinkLost(link.addr);
    if (neverConnected) {
      // Nothing reached the node: every command on it can go again, in order.
      g.metrics.backendConnectErrors.inc();
      this.holding.requeueAll();
    } else if (!link.framer.atBoundary && wasStreaming) {
      // Part of a reply was already passed on: the client's stream cannot be completed.
      this.log.warn({ node: link.addr }, 'link lost in the middle of a reply; closing the session');
      this.teardown('link lost mid-reply');
      return;
    } else if (this.kind === 'read' && this.tx.idle) {
      // The read listener sends only commands without side effects: they can simply run again on
      // another replica.
      g.metrics.reissued.inc(this.holding.requeueAll());
    } else {
      // Replies owed for commands that reached the node are lost. A write is never re-sent (say
      // so, one error per reply owed); a read without side effects goes again, in order.
      this.tx.leftLink();
      const reissued = this.holding.lostInFlight(this.splicer.takeReissue());
      if (reissued > 0) g.metrics.reissued.inc(reissued);
      if (this.unmovable !== 'no') {
        this.failSession(undefined);
        return;
      }
    }
    this.writer.resume(PAUSE_BACKEND);
    this.links.scheduleRelink();
    this.maybeFinish();
  }

  /** The shared link lost `e` and every later entry before writing them: back in front of the
   * held commands, to go again; earlier ones keep their place. */
  unsent(e: Entry): void {
    this.holding.requeueFrom(e);
    this.splicer.updateMode();
    if (this.queue.length === 0) this.links.scheduleRelink();
  }

  /** Every loss of the shared link is reported (`e` the last): reads marked replayable go again,
   * in order, the rest got their LINK_LOST errors. */
  lost(e: Entry): void {
    let replay = false;
    for (const q of this.queue) if (q.kind === 'forward' && q.replayable) replay = true;
    if (!replay) {
      if (this.queue.peek() === e) this.afterPop();
      return;
    }
    this.group.metrics.reissued.inc(this.holding.requeueAll());
    this.holding.writeDueReplies();
    this.splicer.updateMode();
    this.links.scheduleRelink();
  }

  // ---------------------------------------------------------------------------------------------
  // Releasing what is held, and failover reactions (called by the group)

  /** Sends held commands while the group allows it. */
  pump(): void {
    if (this.closed) return;
    // Sent now: `now` is the sending time (the read-your-writes window starts when a write
    // leaves), `arrivedAt` the command's arrival (its age if it must be put back).
    this.now = Date.now();
    const held = this.held;
    while (held.length > 0) {
      const h = held.peek()!;
      let done = true;
      if (h.type === 'reply') this.enqueueLocal(h.reply, undefined);
      else {
        this.arrivedAt = h.at;
        const arrived = this.arrived;
        this.arrived = h.t0;
        done = this.dispatch(h.cmd);
        this.arrivedAt = this.now;
        this.arrived = arrived;
      }
      if (this.closed || !done) return;
      held.shift();
    }
    this.holding.released();
    // A subscribed session needs a (current) link even with nothing to send.
    if (this.state.subscribed && this.queue.length === 0 && (this.links.link === undefined || this.links.stale())) this.links.canSend();
  }

  /** A failover started: ask the old master to unblock our blocked commands so they can move. */
  onFence(): void {
    const link = this.links.link;
    if (!link || link.clientId === undefined) return;
    for (const e of this.queue) {
      if (e.blocking && !e.unblockRequested && e.link === link) {
        e.unblockRequested = true;
        this.group.unblock(link.addr, link.clientId);
        break;
      }
    }
  }

  /** A replica was promoted: what the old master answers from now on may be discarded by its
   * resync, so a link to it with commands still in flight is cut (they get LINK_LOST). */
  onPromoted(): void {
    const link = this.links.link;
    if (!link || this.queue.length === 0) return;
    let onlyBlocking = true;
    for (const e of this.queue) if (e.kind === 'forward' && !e.blocking) onlyBlocking = false;
    if (!onlyBlocking) {
      this.log.info({ node: link.addr }, 'cutting link to the demoted master with commands in flight');
      link.destroy();
      return;
    }
    // Blocked commands were asked to unblock; give that a moment, then cut once the master has
    // changed.
    this.onFence();
    this.links.armCut(link);
  }

  /** The verified master changed, or the fence lifted. */
  onTopologyChange(): void {
    if (this.closed) return;
    const links = this.links;
    links.stopBackoff();
    if (links.spare && !links.stillValid(links.spare)) links.dropSpare();
    const link = links.link;
    if (this.kind === 'read' && link && !links.stillValid(link) && this.queue.length > 0 && this.tx.idle) {
      // Reads waiting on a replica that is no longer healthy (frozen, fallen behind, promoted):
      // they have no side effects, so cut the link and run them again on a healthy replica
      // (onLinkClose puts them back in order) rather than wait for this one.
      this.log.info({ node: link.addr }, 'replica no longer healthy: moving the in-flight reads');
      link.destroy();
      return;
    }
    if (link && !links.stillValid(link) && this.queue.length === 0) {
      if (this.unmovable !== 'no') {
        // Cannot be moved faithfully (DESIGN.md): close at this reply boundary.
        this.log.info('session cannot move to the new master (MONITOR or CLIENT TRACKING); closing');
        this.teardown('unmovable session');
        return;
      }
      links.leave('master changed');
      this.group.metrics.rehomed.inc();
    }
    this.pump();
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Shutdown: read nothing more, answer what is held, close once every reply is written. */
  drain(): void {
    if (this.closed) return;
    this.writer.pause(PAUSE_CLOSING);
    this.life = 'draining';
    this.holding.answerAll();
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.life === 'draining' && this.queue.length === 0 && this.held.length === 0) {
      this.life = 'closing';
      // As Redis: close once the last reply is written, whatever the client sends meanwhile (it is
      // no longer read, so waiting for its FIN could keep the session forever).
      this.client.end(() => this.teardown('closed after its last reply'));
      this.links.end();
    }
  }

  /** Ends the session with an error reply (after what is owed, when possible). */
  private failSession(reply: Buffer | undefined): void {
    if (reply) this.writer.write(reply);
    this.teardown('session failed');
  }

  /** The one teardown path. Safe to call twice. */
  teardown(why: string): void {
    if (this.closed) return;
    this.life = 'closed';
    this.writer.close();
    this.holding.close();
    this.queue.clear();
    this.links.close();
    if (!this.client.destroyed) this.client.destroy();
    this.group.removeSession(this);
    this.log.debug({ why }, 'session closed');
  }

  /** For /topology and tests. */
  describe(): SessionDescription {
    const link = this.links.link;
    return {
      id: this.id,
      node: link?.addr,
      inFlight: this.queue.length,
      held: this.held.length,
      subscribed: this.state.subscribed,
      clientBuffered: this.client.writableLength,
      backendBuffered: link?.writableLength ?? 0,
      queryBuffered: this.framer.bufferedBytes + this.held.bytes,
    };
  }
}

const UNWATCH = encodeCommand(['UNWATCH']);
/** The `info` of a reply the node does not send (CLIENT REPLY OFF/SKIP). */
const SILENT_REPLY: ReplyInfo = { type: 0x2b, errorCode: undefined, head: undefined, nil: false };
const DISCARD = Buffer.from('*1\r\n$7\r\nDISCARD\r\n', 'latin1');
const CLIENT_ID = Buffer.from('*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n', 'latin1');
