// One client connection. It frames the client's requests, forwards them to a backend link on the
// group's verified master, and forwards the replies back byte for byte, in order, while keeping:
// - `queue`: what the client is owed, in order — replies from the node (forwarded), replies the
//   proxy makes itself (refusals, errors), and the node's replies to the proxy's own replay
//   commands (swallowed);
// - `held`: commands not yet sent (the group is fenced, no master is verified, the link is being
//   replaced): DESIGN.md "Failover: fence, drain, re-home";
// - `state`: what a new link must be told again (credentials, db, name, protocol, subscriptions).
// A session moves to a new link only at a command boundary (nothing in flight), so no command is
// ever sent twice and replies never interleave.
import type net from 'node:net';
import type { Logger } from '../logger.js';
import { type Command, RequestFramer } from '../resp/request.js';
import { ReplyProtocolError, type ReplyInfo } from '../resp/reply.js';
import { NULL_ARRAY_RESP2, NULL_RESP3, OK, QUEUED } from '../resp/encode.js';
import { ErrorReplies, errorReply } from '../errors.js';
import { CmdFlag, type CommandSpec, type CommandTable, isReadOnly, isWrite } from '../commands/table.js';
import { BackendLink } from './backend-link.js';
import { adoptReads } from './socket-reads.js';
import type { SharedLink, SharedWaiter } from './shared-link.js';
import { Deque } from './deque.js';
import { ReplayState } from './state.js';
import { Transaction } from './transaction.js';
import { type Entry, type EntryKind, lostReplies, sharedRunReadsOnly } from './reply-queue.js';
import { type Held, HoldQueue, requeued } from './hold-queue.js';
import { Gates, type GateOwner } from './gates.js';
import { prepare, refusedWhileSubscribed, type EffectsOwner } from './effects.js';
import { route, type RouteInput } from './router.js';
import type { SessionHandle, SessionHost, SessionDescription } from './host.js';
import { ConfirmGate, type ConfirmGateOwner, NO_CONFIRMER } from './confirm-gate.js';
import { encodeCommand } from '../resp/encode.js';
import { DEFAULT_LINKS } from '../config/defaults.js';

type Cmd = Command<CommandSpec>;

const PAUSE_BACKEND = 1; // a link's write buffer is full
const PAUSE_HOLD = 2; // too many bytes held during a fence
const PAUSE_CLOSING = 4; // the session is closing: read nothing more
const PAUSE_OUTPUT = 8; // on the shared link, the client is not reading its replies fast enough

/** Replies waiting for a client on the shared link beyond which it gets a link of its own. */
const SHARED_BEHIND_BYTES = 256 * 1024;
/** A larger command moves its session to a link of its own: what the shared link holds for one
 * session stays bounded (maxPipeline × this) when the node stops reading, and one large value does
 * not hold up the other sessions' commands on the link. */
const SHARED_MAX_COMMAND_BYTES = 256 * 1024;

const SUB_CONFIRM = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const SUB_MESSAGE = new Set(['message', 'pmessage', 'smessage']);

let nextSessionId = 1;

export class Session implements SharedWaiter, SessionHandle, GateOwner, EffectsOwner, ConfirmGateOwner {
  readonly id = nextSessionId++;
  readonly log: Logger;
  readonly state = new ReplayState();
  private readonly framer: RequestFramer<CommandSpec>;
  private readonly queue = new Deque<Entry>();
  private readonly held = new HoldQueue();
  private link: BackendLink | undefined;
  private paused = 0;
  /** Arrival time of the client data being framed (one clock read per chunk, not per command). */
  private now = Date.now();
  /** Arrival time of the command being dispatched (earlier than `now` for a held one). */
  private arrivedAt = this.now;
  /** The same instant as performance.now(): the start of the latency the group observes
   * (issue 18; one clock read per chunk, not per command). */
  private arrived = performance.now();
  /** performance.now() when the node's chunk being framed arrived: the end of that latency. */
  private replyAt = 0;
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

  // Reply forwarding over one link chunk.
  private cur: Buffer | undefined;
  private segStart = 0;
  /** Start of the streamed bytes of `cur` not yet written to the client; -1 while buffering. */
  private fwdFrom = 0;
  private streaming = true;
  private pend: Buffer[] = [];

  /** Blocked commands unblocked on the old master (they did not run there), in order, waiting for
   * the rest of the pipeline to be unblocked too before they go to the new one. */
  private reissue: { cmd: Cmd; error: Buffer; t0: number }[] = [];
  private holdTimer: NodeJS.Timeout | undefined;
  private relinkTimer: NodeJS.Timeout | undefined;
  private relinkDelay = 0;
  private cutTimer: NodeJS.Timeout | undefined;

  /** The replica a read session uses (counted in the group's balancer). */
  private replica: string | undefined;
  /** Client authentication and access (gates.ts). */
  private readonly gates: Gates;
  /** Per-command read split (reads.routeReads = replica): the link not in use right now (the
   * master's while reads go to a replica, or the other way round), kept open for the next switch.
   * Only one link has commands in flight at any time, so replies stay in request order. */
  private spare: BackendLink | undefined;
  /**
   * 'shared': stateless so far, plain commands go over the group's shared link (links.shared);
   * 'own': a link of its own (the read listener, or the session gained state); 'split': the
   * per-command read split (reads.routeReads = replica), a master link and a replica link, one
   * of them the spare. Decided when the session opens; 'shared' turns 'own' for good.
   */
  private linkMode: 'shared' | 'own' | 'split';
  /** The router's input, filled in per command (one object per session, not per command). */
  private readonly ri: RouteInput;

  /** On the group's shared link (moves with it: its next command goes to the new master). */
  get onSharedLink(): boolean {
    return this.linkMode === 'shared' && this.link === undefined;
  }
  private sharedInFlight = 0;
  /** Commands a session may have in flight on the shared link (links.maxPipeline). */
  private readonly maxPipeline: number;
  /** The shared link this session's in-flight shared commands are on: a next one may follow them
   * only on the same link (replies of two links could overtake each other). */
  private sharedOn: SharedLink | undefined;
  /** When this session last sent a write (read-your-writes window). */
  private lastWriteAt = 0;
  /** The client chunk being framed, and the range of it due to `wLink` but not yet written:
   * consecutive commands of one chunk go to the node in one write (a pipeline of 16 commands is
   * one slice, not 16). */
  private curIn: Buffer | undefined;
  private wLink: BackendLink | SharedLink | undefined;
  private wStart = 0;
  private wEnd = 0;
  /** For the shared link: the run (queue entry) the joined commands belong to, and how many they are. */
  private wToken: Entry | undefined;
  private wCount = 0;

  // Write confirmation (topology.writeSafety: safe; src/topology/write-confirm.ts): the client
  // gets a write's reply only once a replica that could be promoted holds the write.
  /** Entries in the queue whose replies answer writes to confirm (an over-count only delays). */
  private ackOwed = 0;
  /** Client output held until the writes it answers are confirmed (./confirm-gate.ts). */
  private readonly confirmGate = new ConfirmGate(this);

  constructor(
    readonly client: net.Socket,
    readonly group: SessionHost,
    private readonly table: CommandTable,
    parentLog: Logger,
    /** `read`: the read-only listener: a healthy replica, writes refused. */
    readonly kind: 'master' | 'read' = 'master',
  ) {
    this.log = parentLog.child({ session: this.id, ...(kind === 'read' ? { listener: 'read' } : {}) });
    const lim = group.config.limits;
    void table; // names are looked up in the group's table, which follows the master's COMMAND
    this.framer = new RequestFramer<CommandSpec>(
      group.lookup,
      { maxBulkBytes: lim.maxBulkBytes, maxMultibulkLength: lim.maxMultibulkLength },
      (spec) => spec.subcommands !== undefined,
    );
    // Redis's stricter request limits apply until the client authenticates.
    // Client authentication applies to the sessions opened while it is configured (a reload that
    // turns it on does not ask open sessions to authenticate mid-session; docs/session.md).
    this.gates = new Gates(this, group.config.clientAuth?.users, () => this.group.config.clientAuth?.users);
    if (this.gates.authUsers !== undefined) this.framer.unauthenticated = true;
    this.ri = {
      listener: kind,
      split: kind === 'master' && group.config.reads.routeReads === 'replica',
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
    this.linkMode = kind === 'read' ? 'own' : group.config.reads.routeReads === 'replica' ? 'split' : (group.config.links?.shared ?? true) ? 'shared' : 'own';
    this.maxPipeline = group.config.links?.maxPipeline ?? DEFAULT_LINKS.maxPipeline;
    client.setNoDelay(true);
    // Accepted paused (listener.ts), so that reads can go to the shared read buffer from the first.
    const onChunk = (chunk: Buffer) => this.onClientData(chunk);
    if (!adoptReads(client, onChunk)) {
      client.on('data', onChunk);
      client.resume();
    }
    client.on('drain', () => this.onClientDrain());
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
  // Client → node

  private onClientData(chunk: Buffer): void {
    if (this.life === 'closing' || this.life === 'closed') return;
    this.now = Date.now();
    this.arrivedAt = this.now;
    this.arrived = performance.now();
    this.curIn = chunk;
    const err = this.framer.push(chunk, (cmd) => this.onCommand(cmd));
    this.flushWrites();
    this.curIn = undefined;
    if (err) {
      this.log.info({ reason: err.reply }, 'protocol error, closing');
      this.group.metrics.protocolErrors.inc();
      this.pauseReading(PAUSE_CLOSING);
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
    if (this.held.length > 0 || !this.dispatch(cmd)) this.hold(cmd);
  }

  /** Where this session's next command goes now (a subscribed session's link); undefined: hold. */
  private target(): { addr: string; epoch: number } | undefined {
    return this.targetFor(undefined);
  }

  /**
   * Where one command goes (router.ts decides; this fills in its input and leases the replica).
   * Undefined: hold it (or, on the read listener with `fallback: error` and no healthy replica,
   * refuse it: dispatch tells the two apart).
   */
  private targetFor(spec: CommandSpec | undefined): { addr: string; epoch: number } | undefined {
    const g = this.group;
    const ri = this.ri;
    const readOnly = isReadOnly(spec);
    ri.readOnly = readOnly;
    ri.blocking = spec !== undefined && (spec.flags & CmdFlag.Blocking) !== 0;
    ri.txIdle = this.tx.idle;
    ri.subscribed = this.state.subscribed;
    ri.sinceWriteMs = this.now - this.lastWriteAt;
    ri.readYourWritesMs = g.config.reads.readYourWritesMs;
    const replica = this.kind === 'read' || (ri.split && readOnly) ? g.replicas.choose(this.replica) : undefined;
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
        if (this.kind === 'master') g.metrics.splitReads.inc();
        return { addr: replica!, epoch: -1 };
      case 'master':
        return { addr: g.master!, epoch: g.masterEpoch };
      default:
        return undefined;
    }
  }

  private onTarget(link: BackendLink, tgt: { addr: string; epoch: number }): boolean {
    return link.addr === tgt.addr && link.masterEpoch === tgt.epoch;
  }

  /** Does a link still go somewhere this session may send to? A replica link while its replica is
   * healthy; a master link while its master (and epoch) is current. */
  private stillValid(link: BackendLink): boolean {
    const g = this.group;
    if (link.masterEpoch === -1) return g.replicas.isHealthy(link.addr);
    return link.addr === g.master && link.masterEpoch === g.masterEpoch;
  }

  /** The link goes somewhere the session should no longer send to. */
  private linkStale(): boolean {
    const link = this.link;
    return link !== undefined && !this.stillValid(link);
  }

  private canSend(): boolean {
    return this.canSendTo(this.target());
  }

  /** Can a command for `tgt` be written to the session's link right now? Switches, opens or
   * replaces the link when the session is at a command boundary. */
  private canSendTo(tgt: { addr: string; epoch: number } | undefined): boolean {
    if (tgt === undefined) return false;
    const link = this.link;
    if (link !== undefined && !link.closed && this.onTarget(link, tgt)) return true;
    if (this.queue.length > 0) return false; // not at a boundary: wait for the replies in flight
    if (this.relinkTimer) return false; // backing off after a failed connection
    if (this.closed) return false;
    const spare = this.spare;
    if (spare !== undefined && !spare.closed && this.onTarget(spare, tgt)) {
      // Switch between the master and the replica link.
      this.spare = link !== undefined && !link.closed && this.stillValid(link) ? link : undefined;
      if (link !== undefined && this.spare === undefined) link.end();
      this.link = spare;
      // It may have been paused for this client before: resume it unless the client is behind.
      if (this.client.writableLength === 0) spare.socket.resume();
      this.streaming = true;
      this.pend = [];
      this.updateInspect();
      return true;
    }
    if (link !== undefined) {
      if (this.linkMode === 'split' && !link.closed && this.stillValid(link)) {
        // Keep it for the next switch back.
        this.spare?.end();
        this.spare = link;
        this.link = undefined;
        this.streaming = true;
        this.pend = [];
      } else {
        this.leaveLink('re-home');
      }
    }
    this.openLink(tgt.addr, tgt.epoch);
    return true;
  }

  /** Drops the spare link (its replayed state is out of date, or its node is no longer usable). */
  dropSpare(): void {
    this.spare?.end();
    this.spare = undefined;
  }

  private hold(cmd: Cmd): void {
    this.held.push({ type: 'command', cmd, at: this.now, t0: this.arrived });
    this.group.metrics.held.inc();
    if (this.held.bytes > this.group.config.failover.holdBytes) this.pauseReading(PAUSE_HOLD);
    if (!this.holdTimer) this.armHoldTimer();
  }

  /** Sends (or answers) one command; false when it must wait (the caller holds it). Precondition:
   * nothing held before it. */
  private dispatch(cmd: Cmd): boolean {
    const spec = cmd.spec;
    // The steady state first: a plain command of a stateless session (without client
    // authentication by the proxy, nothing below applies to it).
    if (this.linkMode === 'shared' && this.gates.authUsers === undefined && this.fitsShared(cmd)) return this.dispatchShared(cmd);
    const kind = spec?.kind ?? 'other';
    if (this.gates.authUsers !== undefined) {
      const passed = this.gates.clientAuth(cmd, kind);
      if (passed === undefined) return true;
      cmd = passed;
    }

    if (this.tx.broken && !refusedWhileSubscribed(this.state, kind) && this.answerBrokenTransaction(cmd, kind, spec)) return true;
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
        this.pauseReading(PAUSE_CLOSING);
        this.enqueueLocal(OK, cmd);
        this.maybeFinish();
        return true;
    }
    if (this.gates.access(cmd, kind, spec)) return true;
    if (this.linkMode === 'shared') {
      if (this.fitsShared(cmd)) return this.dispatchShared(cmd);
      // This command gives the session state, or the client pipelines more than the shared link
      // takes from one session, or sends large values: it gets a link of its own (where
      // backpressure applies to it alone) once its commands on the shared link are answered.
      this.linkMode = 'own';
    }
    if (this.sharedInFlight > 0) return false;
    if (!this.canSendTo(this.targetFor(spec))) {
      if (this.kind === 'read' && this.group.config.reads.fallback === 'error' && this.group.replicasMeasured && this.group.replicas.healthyCount === 0) {
        this.enqueueLocal(ErrorReplies.NO_HEALTHY_REPLICA, cmd);
        return true;
      }
      return false;
    }
    const link = this.link!;
    if (this.kind === 'read' && link.masterEpoch !== -1) this.group.metrics.readsOnMaster.inc();
    const e = this.entry('forward', cmd, link);
    const outsideTx = this.tx.idle;
    prepare(this, e, cmd, kind, spec);
    e.replayable = outsideTx && !e.blocking && !e.sub && isReadOnly(spec);
    if (link.masterEpoch !== -1 && (isWrite(spec) || kind === 'exec')) {
      if (this.linkMode === 'split') this.lastWriteAt = this.now;
      e.ack = this.group.confirmations(link.addr)?.active === true;
    }
    // With replies off, the node would not answer the proxy's CLIENT ID either.
    if (e.blocking && e.expect > 0 && link.clientId === undefined && !link.clientIdRequested) this.requestClientId(link);
    this.send(link, cmd);
    if (kind === 'reset' && this.group.config.auth.password !== undefined) {
      // RESET deauthenticated the link: authenticate it again with the backend credentials,
      // after RESET's own reply.
      const auth = this.entry('internal', undefined, link);
      this.flushWrites();
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

  /** May this (stateless) session send `cmd` over the shared link? A plain command (it leaves
   * Redis's per-connection state as it was and answers once), not too large, within the session's
   * share of the link. */
  private fitsShared(cmd: Cmd): boolean {
    const spec = cmd.spec;
    return spec !== undefined && spec.plain && this.sharedInFlight < this.maxPipeline && cmd.size <= SHARED_MAX_COMMAND_BYTES;
  }

  /** Stateless: the command is pipelined with other sessions' commands on the group's shared link. */
  private dispatchShared(cmd: Cmd): boolean {
    const shared = this.group.sharedLink();
    if (shared === undefined) {
      if (!this.group.blocked) this.scheduleRelink();
      return false;
    }
    if (this.sharedInFlight > 0 && shared !== this.sharedOn) return false; // after the old link's replies
    this.sharedOn = shared;
    const tail = this.queue.last();
    let e: Entry;
    if (tail !== undefined && tail.shared && tail.kind === 'forward' && !tail.cancelled && (this.wToken === tail || shared.isOpenRun(this, tail))) {
      // Joins the run of commands before it (not yet written: an entry is one write's commands,
      // so all of them reached the node, or none did).
      e = tail;
      e.expect++;
      (e.more ??= []).push(cmd);
    } else {
      e = this.entry('forward', cmd, undefined);
      e.shared = true;
      this.queue.push(e);
    }
    if (!e.ack && isWrite(cmd.spec)) e.ack = this.group.confirmations(shared.addr)?.active === true;
    this.sharedInFlight++;
    this.send(shared, cmd, e);
    return true;
  }

  // SharedWaiter: replies and losses from the group's shared link.

  onSharedData(token: unknown, bytes: Buffer, complete: number): void {
    const e = token as Entry;
    this.sharedInFlight -= complete;
    if (this.closed || e.cancelled) return;
    if (this.queue.peek() !== e) {
      // Cannot happen: a session's commands on the shared link are answered in order.
      this.log.error('shared link reply out of order; closing the session');
      this.teardown('shared reply out of order');
      return;
    }
    if (e.ack) {
      // (Replaced by `complete` errors if the writes among them cannot be confirmed.)
      this.awaitConfirm(this.sharedOn?.addr);
      this.confirmGate.tag = complete;
      this.rawWrite(bytes);
      this.confirmGate.tag = -1;
    } else this.rawWrite(bytes);
    const pending = this.client.writableLength + this.confirmGate.bytes;
    if (pending > 0) {
      const lim = this.group.config.limits;
      if (pending > lim.outputBufferHardBytes) {
        this.log.warn({ bytes: pending }, 'client output buffer hard limit reached, closing');
        this.teardown('output buffer limit');
        return;
      }
      if (pending >= Math.min(SHARED_BEHIND_BYTES, lim.outputBufferSoftBytes)) {
        // The client does not keep up with its replies: the shared link cannot wait for it, so it
        // moves to a link of its own — where backpressure reaches the node — once what it has in
        // flight is answered.
        this.linkMode = 'own';
      }
    }
    if (complete > 0) this.observeShared(e, complete);
    if (complete === 0 || (e.expect -= complete) > 0) return;
    this.queue.shift();
    this.afterPop();
  }

  /** Latency (issue 18) on the shared link: `complete` commands of the run `e` (`cmd`, then
   * `more`) were answered in full; they follow the `total - e.expect` answered before. */
  private observeShared(e: Entry, complete: number): void {
    const first = 1 + (e.more?.length ?? 0) - e.expect;
    const node = this.group.sharedLink()?.addr;
    const t1 = performance.now();
    for (let i = first; i < first + complete; i++) {
      const cmd = i === 0 ? e.cmd : e.more![i - 1];
      this.group.observe.command(cmd?.spec, e.t0, t1, node, this.id);
    }
  }

  onSharedLost(token: unknown, left: number, sent: boolean, midReply: boolean): void {
    const e = token as Entry;
    this.sharedInFlight -= left;
    if (this.closed || e.cancelled) return;
    if (midReply) {
      // Part of a reply was already passed on: the client's stream cannot be completed.
      this.log.warn({ node: this.sharedOn?.addr }, 'shared link lost in the middle of a reply; closing the session');
      this.teardown('link lost mid-reply');
      return;
    }
    if (!sent) {
      // These commands (and every later one) never reached the node: back in front of the held
      // commands, to go again; earlier ones keep their place.
      this.requeueFrom(e);
      if (this.queue.length === 0) this.scheduleRelink();
      return;
    }
    if (e.kind === 'local') return; // already turned into its error replies
    if (e.replayable || sharedRunReadsOnly(e)) {
      // Reads without side effects: they go again once every loss of this link is reported.
      e.replayable = true;
    } else {
      // Writes reached the node and got no answer: say so (never re-send), in order.
      this.group.metrics.linkLost.inc(e.expect);
      e.kind = 'local';
      e.local = lostReplies(e.expect);
    }
    if (this.sharedInFlight > 0) return;
    let replay = false;
    for (const q of this.queue) if (q.kind === 'forward' && q.replayable) replay = true;
    if (!replay) {
      if (this.queue.peek() === e) this.afterPop();
      return;
    }
    this.group.metrics.reissued.inc(this.requeueAll());
    let h: Held | undefined;
    while ((h = this.held.peek()) !== undefined && h.type === 'reply') {
      this.held.shift();
      this.writeClient(h.reply);
    }
    this.updateMode();
    this.scheduleRelink();
  }

  // GateOwner: what the gates (gates.ts) need of the session.

  answer(reply: Buffer, cmd: Cmd): void {
    this.enqueueLocal(reply, cmd);
  }

  /** Closes the node's side of an open transaction without running it (DISCARD, reply swallowed). */
  discardOnNode(): void {
    const link = this.link;
    if (link === undefined || link.closed) return;
    const e = this.entry('internal', undefined, link);
    this.flushWrites();
    link.write(DISCARD);
    this.pushEntry(e);
  }

  /** A broken transaction ended here: keys WATCHed on the new link since (forwarded) are
   * unwatched there, as the EXEC or DISCARD would have (UNWATCH, reply swallowed). */
  private unwatchOnNode(): void {
    const link = this.link;
    if (link === undefined || link.closed || this.replyMode !== 'on' || refusedWhileSubscribed(this.state, 'unwatch')) return;
    const e = this.entry('internal', undefined, link);
    this.flushWrites();
    link.write(UNWATCH);
    this.pushEntry(e);
  }

  authenticated(): void {
    this.framer.unauthenticated = false;
  }

  /** RESP2 pub/sub messages are plain arrays: look at the first element of arrays while subscribed. */
  updateInspect(): void {
    if (this.link) this.link.framer.inspectArrays = this.state.protocol === 2 && this.state.subscribed;
  }

  /**
   * A transaction whose MULTI (or WATCH) went to a master the session has left cannot continue:
   * its commands are answered here and its EXEC fails as Redis would fail it. Returns true when
   * the command was answered.
   */
  private answerBrokenTransaction(cmd: Cmd, kind: string, spec: CommandSpec | undefined): boolean {
    if (this.tx.inMulti && kind !== 'exec' && kind !== 'discard' && kind !== 'multi' && kind !== 'reset' && kind !== 'quit') {
      // What Redis refuses at queue time, it refuses here too (and, but for WATCH, the EXEC
      // then fails with EXECABORT as it does anyway for a broken transaction).
      if (kind === 'watch') {
        this.enqueueLocal(WATCH_INSIDE_MULTI, cmd);
        return true;
      }
      if (spec !== undefined && (spec.arity > 0 ? cmd.argc !== spec.arity : cmd.argc < -spec.arity)) {
        this.enqueueLocal(errorReply(`ERR wrong number of arguments for '${spec.parent ? `${spec.parent.name}|${spec.name}` : spec.name}' command`), cmd);
        return true;
      }
    }
    switch (this.tx.brokenAnswer(kind)) {
      case 'forward':
        return false;
      case 'ok':
        if (kind === 'discard') this.unwatchOnNode();
        this.enqueueLocal(OK, cmd);
        return true;
      case 'queued':
        this.enqueueLocal(QUEUED, cmd);
        return true;
      case 'nested-multi':
        this.enqueueLocal(NESTED_MULTI, cmd);
        return true;
      case 'exec-null':
        // A null reply is what Redis gives when a watched key changed: clients retry.
        this.unwatchOnNode();
        this.enqueueLocal(this.state.protocol === 3 ? NULL_RESP3 : NULL_ARRAY_RESP2, cmd);
        return true;
      case 'exec-abort':
        this.unwatchOnNode();
        this.enqueueLocal(ErrorReplies.EXEC_ABORTED_FAILOVER, cmd);
        return true;
    }
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
      ack: false,
      done: undefined,
    };
  }

  private enqueueLocal(reply: Buffer, cmd: Cmd | undefined): void {
    const e = this.entry('local', cmd, undefined);
    e.local = reply;
    e.expect = 0;
    if (this.queue.length === 0) {
      this.writeClient(reply);
      return;
    }
    this.queue.push(e);
  }

  private requestClientId(link: BackendLink): void {
    link.clientIdRequested = true;
    const e = this.entry('internal', undefined, link);
    e.clientIdProbe = true;
    this.flushWrites();
    link.write(CLIENT_ID);
    this.pushEntry(e);
  }

  // ---------------------------------------------------------------------------------------------
  // Links

  private openLink(addr: string, masterEpoch: number): void {
    this.flushWrites();
    const g = this.group;
    const link = new BackendLink(
      { addr, masterEpoch, tls: g.config.tls.backend, connectTimeoutMs: g.config.topology.connectTimeoutMs },
      this.linkHandlers,
    );
    this.link = link;
    g.metrics.backendConnects.inc();
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

  private readonly linkHandlers = {
    onData: (link: BackendLink, chunk: Buffer) => this.onLinkData(link, chunk),
    onDrain: (link: BackendLink) => {
      if (link === this.link) this.resumeReading(PAUSE_BACKEND);
    },
    onClose: (link: BackendLink, err: Error | undefined) => this.onLinkClose(link, err),
  };

  /** Leaves the current link deliberately (re-home, failover): nothing is in flight on it. */
  private leaveLink(why: string): void {
    const link = this.link;
    if (!link) return;
    this.link = undefined;
    this.log.debug({ node: link.addr, why }, 'leaving link');
    this.tx.leftLink();
    link.end();
    this.pend = [];
    this.streaming = true;
  }

  private onLinkClose(link: BackendLink, err: Error | undefined): void {
    if (link === this.spare) {
      this.spare = undefined;
      return;
    }
    if (link !== this.link) return; // a link we left on purpose
    this.link = undefined;
    const wasStreaming = this.streaming;
    this.pend = [];
    this.streaming = true;
    if (this.closed) return;
    const neverConnected = !link.connected;
    this.log.info({ node: link.addr, err: err?.message, neverConnected }, 'backend link closed');
    this.group.onLinkLost(link.addr);
    if (neverConnected) {
      // Nothing reached the node: every command on it can go again, in order.
      this.group.metrics.backendConnectErrors.inc();
      this.requeueAll();
    } else if (!link.framer.atBoundary && wasStreaming) {
      // Part of a reply was already passed on: the client's stream cannot be completed.
      this.log.warn({ node: link.addr }, 'link lost in the middle of a reply; closing the session');
      this.teardown('link lost mid-reply');
      return;
    } else if (this.kind === 'read' && this.tx.idle) {
      // The read listener sends only commands without side effects: they can simply run again on
      // another replica.
      this.group.metrics.reissued.inc(this.requeueAll());
    } else {
      // Replies owed for commands that reached the node are lost. A write is never re-sent (say
      // so, one error per reply owed); a read without side effects goes again, in order.
      this.tx.leftLink();
      const reissued = this.lostInFlight();
      if (reissued > 0) this.group.metrics.reissued.inc(reissued);
      if (this.unmovable !== 'no') {
        this.failSession(undefined);
        return;
      }
    }
    this.resumeReading(PAUSE_BACKEND);
    this.scheduleRelink();
    this.maybeFinish();
  }

  /** The link died with the queue's commands sent: each owed reply of a write becomes a LINK_LOST
   * error, reads without side effects (`replayable`) go again, all in order, through the hold
   * queue. Returns how many go again. */
  private lostInFlight(): number {
    const back: Held[] = [];
    let n = 0;
    let e: Entry | undefined;
    while ((e = this.queue.shift()) !== undefined) {
      e.cancelled = true;
      if (e.kind === 'internal') continue;
      if (e.kind === 'local') {
        if (e.local !== undefined) back.push({ type: 'reply', reply: e.local, at: e.at, t0: e.t0 });
      } else if (e.replayable && e.cmd !== undefined) {
        back.push({ type: 'command', cmd: e.cmd, at: e.at, t0: e.t0 });
        n++;
      } else {
        this.group.metrics.linkLost.inc();
        back.push({ type: 'reply', reply: lostReplies(e.expect), at: e.at, t0: e.t0 });
      }
    }
    back.unshift(...this.reissue.map((r): Held => ({ type: 'command', cmd: r.cmd, at: Date.now(), t0: r.t0 })));
    this.reissue = [];
    this.unshiftHeld(back);
    // Errors due before any command are written now.
    let h: Held | undefined;
    while ((h = this.held.peek()) !== undefined && h.type === 'reply') {
      this.held.shift();
      this.writeClient(h.reply);
    }
    return n;
  }

  /** Puts what the queue owes back in front of the held commands, in order, keeping its age:
   * commands that were sent (their link never connected, or they have no side effect) go again;
   * replies the proxy had already decided (a refusal, a transaction answered as broken, a protocol
   * error) stay decided and keep their place — re-sending them could run, say, the EXEC of a
   * transaction without the WATCH that guarded it. The proxy's own replay commands are dropped (a
   * new link replays again). Returns how many commands go again. */
  private requeueAll(): number {
    const back = requeued(this.queue, undefined);
    return this.unshiftHeld(back);
  }

  /** Puts `e` and every entry after it back in front of the held commands, in order (the shared
   * link lost them before writing them). Replies or losses still reported for them are ignored. */
  private requeueFrom(e: Entry): void {
    this.unshiftHeld(requeued(this.queue, e));
    this.updateMode();
  }

  private unshiftHeld(back: Held[]): number {
    let n = 0;
    for (let i = back.length - 1; i >= 0; i--) {
      const h = back[i];
      this.held.unshift(h);
      if (h.type === 'command') {
        n++;
      }
    }
    if (this.held.length > 0 && !this.holdTimer) this.armHoldTimer();
    return n;
  }

  /** After a lost link: try again soon, backing off while the node stays unreachable. */
  private scheduleRelink(): void {
    if (this.relinkTimer || this.closed) return;
    this.relinkDelay = Math.min(1000, this.relinkDelay === 0 ? 50 : this.relinkDelay * 2);
    this.relinkTimer = setTimeout(() => {
      this.relinkTimer = undefined;
      this.pump();
      if (this.link === undefined && this.state.subscribed && !this.closed) {
        if (this.canSend()) return;
        this.scheduleRelink();
      }
    }, this.relinkDelay);
    this.relinkTimer.unref();
  }

  // ---------------------------------------------------------------------------------------------
  // Node → client

  private onLinkData(link: BackendLink, chunk: Buffer): void {
    if (link !== this.link || this.closed) return;
    this.relinkDelay = 0;
    this.replyAt = performance.now();
    this.cur = chunk;
    this.segStart = 0;
    this.fwdFrom = this.streaming ? 0 : -1;
    // Replies in this chunk answer commands the node has executed: writes among them wait for a
    // replica (and everything after them, to keep the order).
    if (this.ackOwed > 0) this.awaitConfirm(link.addr);
    const client = this.client;
    client.cork();
    try {
      link.framer.push(chunk, this.onReplyEnd);
    } catch (err) {
      if (!(err instanceof ReplyProtocolError)) throw err;
      this.log.error({ node: link.addr, err: err.message }, 'node sent bytes that are not RESP; cutting the link');
      this.flushStream();
      this.cur = undefined;
      client.uncork();
      link.destroy();
      return;
    }
    if (this.link === link) {
      if (this.streaming) this.flushStreamTo(chunk.length);
      else if (this.segStart < chunk.length) this.pend.push(chunk.subarray(this.segStart));
    }
    this.cur = undefined;
    client.uncork();
    const behind = client.writableLength + this.confirmGate.bytes;
    if (behind > this.group.config.limits.outputBufferSoftBytes) {
      if (client.writableLength > this.group.config.limits.outputBufferHardBytes) {
        this.log.warn({ bytes: client.writableLength }, 'client output buffer hard limit reached, closing');
        this.teardown('output buffer limit');
        return;
      }
      link.socket.pause();
    }
  }

  private readonly onReplyEnd = (end: number, info: ReplyInfo): void => {
    const chunk = this.cur!;
    const start = this.segStart;
    this.segStart = end;
    if (!this.streaming) this.pend.push(chunk.subarray(start, end));

    const head = this.queue.peek();
    let mine = head !== undefined && this.unmovable !== 'monitor';
    if (mine) {
      if (info.type === 0x3e /* > */) {
        mine = head!.sub && info.head !== undefined && SUB_CONFIRM.has(info.head);
      } else if (head!.sub) {
        // Confirmations (or an error) answer a subscribe-family command; RESP2 messages do not.
        mine = !(info.type === 0x2a && info.head !== undefined && SUB_MESSAGE.has(info.head));
      } else if (info.type === 0x2a && info.head !== undefined && SUB_MESSAGE.has(info.head) && this.state.protocol === 2) {
        mine = false;
      }
    }
    if (!mine) {
      // Out of band: a pub/sub message, a push, MONITOR output.
      if (!this.streaming) this.deliverPend();
      this.updateMode();
      return;
    }
    const e = head!;
    const ok = info.type !== 0x2d && info.type !== 0x21;
    if (e.sub && !ok) e.expect = 1; // a refused (un)subscribe answers once
    if (--e.expect > 0) {
      // More confirmations to come: pass this one on (or swallow it, for the proxy's own replay).
      if (!this.streaming) {
        if (e.kind === 'forward') this.deliverPend();
        else this.pend = [];
      }
      return;
    }
    this.queue.shift();
    if (e.ack) this.ackOwed--;
    if (e.kind === 'internal') {
      if (e.clientIdProbe && e.link) {
        const txt = Buffer.concat(this.pend).toString('latin1');
        e.link.clientId = Number(txt.slice(1, txt.indexOf('\r')));
      }
      this.pend = [];
    } else if (e.blocking && info.errorCode === 'UNBLOCKED' && this.onlyBlockedBehind()) {
      // Unblocked by the fence (CLIENT UNBLOCK) or by the node turning replica: it did not run
      // there. It runs again on the new master, after those unblocked with it; its error is kept
      // in case a command behind it completes there after all (then order wins: it is answered).
      this.reissue.push({ cmd: e.cmd!, error: Buffer.concat(this.pend), t0: e.t0 });
      this.pend = [];
      this.group.metrics.reissued.inc();
      // The next blocking command of the pipeline runs on the old node now: unblock it too.
      const next = this.queue.peek();
      const link = e.link;
      if (next !== undefined && next.blocking && link !== undefined && link.clientId !== undefined && !next.unblockRequested) {
        next.unblockRequested = true;
        this.group.unblock(link.addr, link.clientId);
      }
    } else {
      if (this.reissue.length > 0 && e.kind === 'forward') this.giveUpReissue();
      if (!this.streaming) {
        // (A write's reply is collected whole while writes are to be confirmed: updateMode.)
        if (e.ack) this.confirmGate.tag = 1;
        this.deliverPend();
        this.confirmGate.tag = -1;
      }
      // Latency (issue 18): the last byte of a forwarded command's reply is passed on.
      if (e.kind === 'forward') this.group.observe.command(e.cmd?.spec, e.t0, this.replyAt, e.link?.addr, this.id);
    }
    if (info.type === 0x2d && info.errorCode === 'READONLY') {
      // The supposed master is a replica now: have the topology checked at once.
      this.group.onReadonly(e.link?.addr);
    }
    e.done?.(ok, info);
    this.afterPop();
  };

  /** Can an unblocked command at the head be run again later? Only if nothing but blocked
   * commands (or the proxy's own) follow it on the link, so that no reply overtakes it. */
  private onlyBlockedBehind(): boolean {
    for (const q of this.queue) if (q.kind === 'local' || (q.kind === 'forward' && !q.blocking)) return false;
    return true;
  }

  /** A command behind the unblocked ones completed on the old node: they are answered with their
   * error after all (in order), not run again. */
  private giveUpReissue(): void {
    for (const r of this.reissue) this.writeClient(r.error);
    this.reissue = [];
  }

  /** After an entry completed: write the proxy's own replies that are now due, pick the mode for
   * the next reply, and move on if the session is now at a boundary. */
  private afterPop(): void {
    if (this.queue.length === 0 && this.reissue.length > 0) {
      const back: Held[] = this.reissue.map((r) => ({ type: 'command', cmd: r.cmd, at: Date.now(), t0: r.t0 }));
      this.reissue = [];
      this.unshiftHeld(back);
    }
    let next = this.queue.peek();
    while (next !== undefined && next.kind === 'local') {
      this.queue.shift();
      this.writeClient(next.local!);
      next = this.queue.peek();
    }
    this.updateMode();
    if (this.queue.length === 0) {
      this.ackOwed = 0;
      this.maybeFinish();
      if (this.held.length > 0 || this.linkStale()) queueMicrotask(() => this.pump());
    }
  }

  /** Writes a command's bytes to a link — for the shared link, as part of the run `token` — joining
   * it to the previous one when both are adjacent slices of the chunk being framed (and of the same
   * run): a pipeline of 16 commands is one write, or one run handed to the shared link, not 16. */
  private send(link: BackendLink | SharedLink, cmd: Cmd, token?: Entry): void {
    if (cmd.src !== undefined && cmd.src === this.curIn) {
      const s = cmd.off;
      if (this.wLink === link && this.wToken === token && this.wEnd === s) {
        this.wEnd = s + cmd.size;
        this.wCount++;
        return;
      }
      this.flushWrites();
      this.wLink = link;
      this.wToken = token;
      this.wCount = 1;
      this.wStart = s;
      this.wEnd = s + cmd.size;
      return;
    }
    this.flushWrites();
    if (link instanceof BackendLink) {
      if (!link.write(cmd.data)) this.pauseReading(PAUSE_BACKEND);
    } else {
      link.send(this, token, cmd.data, 1);
    }
  }

  /** Writes what `send` joined so far. */
  private flushWrites(): void {
    const link = this.wLink;
    if (link === undefined) return;
    this.wLink = undefined;
    const cur = this.curIn!;
    const bytes = this.wStart === 0 && this.wEnd === cur.length ? cur : cur.subarray(this.wStart, this.wEnd);
    if (link instanceof BackendLink) {
      if (!link.closed && !link.write(bytes)) this.pauseReading(PAUSE_BACKEND);
      return;
    }
    const token = this.wToken;
    this.wToken = undefined;
    link.send(this, token, bytes, this.wCount);
  }

  /** Appends an entry that awaits the node's replies. */
  private pushEntry(e: Entry): void {
    if (e.ack) this.ackOwed++;
    this.queue.push(e);
    // First in line, and no reply half-read: its mode applies from the next byte.
    if (this.queue.length === 1 && this.link?.framer.atBoundary) this.updateMode();
  }

  /** Stream the next reply straight through, or collect it (replay, blocking commands)? Only
   * changed at a reply boundary. */
  private updateMode(): void {
    const next = this.queue.peek();
    // While writes await confirmation each reply is collected whole, so that one answering a write
    // can be replaced if the write is not confirmed.
    const stream = (next === undefined || !next.buffered) && this.ackOwed === 0;
    if (stream === this.streaming) return;
    if (stream) this.fwdFrom = this.segStart;
    else {
      this.flushStream();
      this.fwdFrom = -1;
    }
    this.streaming = stream;
  }

  private deliverPend(): void {
    const p = this.pend;
    this.pend = [];
    for (const b of p) this.rawWrite(b);
  }

  /** Writes streamed bytes of the current chunk up to the reply boundary reached so far. */
  private flushStream(): void {
    if (this.cur && this.fwdFrom >= 0) this.flushStreamTo(this.segStart);
  }

  private flushStreamTo(end: number): void {
    const from = this.fwdFrom;
    if (from >= 0 && end > from) {
      this.rawWrite(from === 0 && end === this.cur!.length ? this.cur! : this.cur!.subarray(from, end));
      this.fwdFrom = end;
    }
  }

  /** Writes a reply of the proxy's own, after any streamed bytes that precede it. */
  private writeClient(buf: Buffer): void {
    this.flushStream();
    this.rawWrite(buf);
  }

  private rawWrite(buf: Buffer): void {
    if (this.closed) return;
    if (this.confirmGate.holding) {
      this.confirmGate.hold(buf);
      return;
    }
    this.toClient(buf);
  }

  /** ConfirmGateOwner: writes to the client past the confirmation gate. */
  toClient(buf: Buffer): void {
    if (this.closed) return;
    // (A write the kernel took at once leaves nothing buffered, even when it returned false.)
    if (!this.client.write(buf) && this.client.writableLength > 0) {
      // The client is behind: stop what feeds it — its own link, or (on the shared link, which
      // other sessions use) its requests.
      if (this.link) this.link.socket.pause();
      else this.pauseReading(PAUSE_OUTPUT);
    }
  }

  /** Replies about to be passed on answer commands the master at `addr` executed: while writes
   * among them are to be confirmed, what is passed on from now waits for its next round. */
  private awaitConfirm(addr: string | undefined): void {
    if (addr === undefined) return;
    const c = this.group.confirmations(addr);
    if (c === undefined) return;
    if (c === null) this.confirmGate.await(NO_CONFIRMER);
    else if (c.active) this.confirmGate.await(c);
  }

  /** ConfirmGateOwner: all held output was passed on. */
  afterRelease(): void {
    if (this.client.writableLength === 0) this.onClientDrain();
    this.maybeFinish();
  }

  /** ConfirmGateOwner. */
  unconfirmedWrites(n: number, reason: string): void {
    this.group.metrics.unconfirmed.inc(n);
    this.group.metrics.linkLost.inc(n);
    this.log.warn({ replies: n, reason }, 'writes the master answered were not confirmed by a replica: answered with the in-flight error');
  }

  private onClientDrain(): void {
    // The spare too: it may have been paused for this client before the links swapped.
    this.link?.socket.resume();
    this.spare?.socket.resume();
    this.resumeReading(PAUSE_OUTPUT);
  }

  // ---------------------------------------------------------------------------------------------
  // Holding and releasing

  /** Sends held commands while the group allows it. */
  pump(): void {
    if (this.closed) return;
    // Sent now: `now` is the sending time (the read-your-writes window starts when a write
    // leaves), `arrivedAt` the command's arrival (its age if it must be put back).
    this.now = Date.now();
    while (this.held.length > 0) {
      const h = this.held.peek()!;
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
      this.held.shift();
    }
    if (this.held.bytes <= this.group.config.failover.holdBytes) this.resumeReading(PAUSE_HOLD);
    if (this.holdTimer && this.held.length === 0) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
    // A subscribed session needs a (current) link even with nothing to send.
    if (this.state.subscribed && this.queue.length === 0 && (this.link === undefined || this.linkStale())) this.canSend();
  }

  private armHoldTimer(): void {
    const first = this.held.peek();
    if (!first) return;
    const wait = Math.max(0, first.at + this.group.config.failover.holdTimeoutMs - Date.now());
    this.holdTimer = setTimeout(() => this.expireHeld(), wait);
    this.holdTimer.unref();
  }

  /** Commands held past holdTimeoutMs get a retryable error, in order. The hold timeout is the
   * failover's: commands that only wait for the replies in flight before them (the group is not
   * blocked) are not timed out — their clock starts again. */
  private expireHeld(): void {
    this.holdTimer = undefined;
    if (this.closed) return;
    const now = Date.now();
    if (this.queue.length > 0 && !this.group.blocked) {
      for (const h of this.held) h.at = now;
      this.armHoldTimer();
      return;
    }
    const deadline = now - this.group.config.failover.holdTimeoutMs;
    let h: Held | undefined;
    let n = 0;
    while ((h = this.held.peek()) !== undefined && h.at <= deadline) {
      this.held.shift();
      if (h.type === 'reply') {
        this.enqueueLocal(h.reply, undefined);
        continue;
      }
      this.enqueueLocal(this.group.blockedReason === 'majority' ? ErrorReplies.NO_SENTINEL_MAJORITY : ErrorReplies.HOLD_TIMEOUT, h.cmd);
      n++;
    }
    if (n > 0) {
      this.group.metrics.holdTimeouts.inc(n);
      this.log.warn({ commands: n }, 'held commands timed out');
    }
    if (this.held.bytes <= this.group.config.failover.holdBytes) this.resumeReading(PAUSE_HOLD);
    if (this.held.length > 0) this.armHoldTimer();
  }

  // ---------------------------------------------------------------------------------------------
  // Topology (called by the group)

  /** A failover started: ask the old master to unblock our blocked commands so they can move. */
  onFence(): void {
    const link = this.link;
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
    const link = this.link;
    if (!link || this.queue.length === 0) return;
    let onlyBlocking = true;
    for (const e of this.queue) if (e.kind === 'forward' && !e.blocking) onlyBlocking = false;
    if (!onlyBlocking) {
      this.log.info({ node: link.addr }, 'cutting link to the demoted master with commands in flight');
      link.destroy();
      return;
    }
    // Blocked commands were asked to unblock; give that a moment, then cut once the master has
    // changed (checked again every second until then, or until the link is done with).
    this.onFence();
    this.armCut(link);
  }

  private armCut(link: BackendLink): void {
    if (this.cutTimer) return;
    this.cutTimer = setTimeout(() => {
      this.cutTimer = undefined;
      if (this.closed || this.link !== link || link.closed || this.queue.length === 0) return;
      if (this.group.masterEpoch !== link.masterEpoch) link.destroy();
      else this.armCut(link);
    }, 1000);
    this.cutTimer.unref();
  }

  /** The verified master changed, or the fence lifted. */
  onTopologyChange(): void {
    if (this.closed) return;
    if (this.relinkTimer) {
      // A new master (or a lifted fence) is worth trying at once, whatever the backoff said.
      clearTimeout(this.relinkTimer);
      this.relinkTimer = undefined;
      this.relinkDelay = 0;
    }
    if (this.spare && !this.stillValid(this.spare)) this.dropSpare();
    const link = this.link;
    if (link && (this.kind === 'read' || link.masterEpoch === -1) && !this.stillValid(link) && this.queue.length > 0 && this.tx.idle) {
      // Reads waiting on a replica that is no longer healthy (frozen, fallen behind, promoted):
      // they have no side effects, so cut the link and run them again on a healthy replica
      // (onLinkClose puts them back in order) rather than wait for this one. On the read-only
      // listener that is every command; a split session's replica link carries only replayable
      // reads (router.ts), which go again through its hold queue.
      this.log.info({ node: link.addr }, 'replica no longer healthy: moving the in-flight reads');
      link.destroy();
      return;
    }
    if (link && !this.stillValid(link) && this.queue.length === 0) {
      if (this.unmovable !== 'no') {
        // Cannot be moved faithfully (DESIGN.md): close at this reply boundary.
        this.log.info('session cannot move to the new master (MONITOR or CLIENT TRACKING); closing');
        this.teardown('unmovable session');
        return;
      }
      this.leaveLink('master changed');
      this.group.metrics.rehomed.inc();
    }
    this.pump();
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  private pauseReading(bit: number): void {
    if (this.paused === 0) this.client.pause();
    this.paused |= bit;
  }

  private resumeReading(bit: number): void {
    if ((this.paused & bit) === 0) return;
    this.paused &= ~bit;
    if (this.paused === 0 && !this.closed) this.client.resume();
  }

  /** Shutdown: read nothing more, answer what is held, close once every reply is written. */
  drain(): void {
    if (this.closed) return;
    this.pauseReading(PAUSE_CLOSING);
    this.life = 'draining';
    let h: Held | undefined;
    while ((h = this.held.shift()) !== undefined) this.enqueueLocal(h.type === 'reply' ? h.reply : ErrorReplies.SHUTTING_DOWN, h.type === 'command' ? h.cmd : undefined);
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.life === 'draining' && this.queue.length === 0 && this.held.length === 0 && !this.confirmGate.holding) {
      this.life = 'closing';
      // As Redis: close once the last reply is written, whatever the client sends meanwhile (it is
      // no longer read, so waiting for its FIN could keep the session forever).
      this.client.end(() => this.teardown('closed after its last reply'));
      this.link?.end();
      this.link = undefined;
      this.dropSpare();
    }
  }

  /** Ends the session with an error reply (after what is owed, when possible). */
  private failSession(reply: Buffer | undefined): void {
    if (reply) this.rawWrite(reply);
    this.teardown('session failed');
  }

  /** The one teardown path. Safe to call twice. */
  teardown(why: string): void {
    if (this.closed) return;
    this.life = 'closed';
    this.confirmGate.forget();
    clearTimeout(this.holdTimer);
    clearTimeout(this.relinkTimer);
    clearTimeout(this.cutTimer);
    this.held.clear();
    this.queue.clear();
    this.link?.end();
    this.link = undefined;
    this.dropSpare();
    if (this.replica !== undefined) {
      this.group.replicas.release(this.replica);
      this.replica = undefined;
    }
    if (!this.client.destroyed) this.client.destroy();
    this.group.removeSession(this);
    this.log.debug({ why }, 'session closed');
  }

  /** For /topology and tests. */
  describe(): SessionDescription {
    return {
      id: this.id,
      node: this.link?.addr,
      inFlight: this.queue.length,
      held: this.held.length,
      subscribed: this.state.subscribed,
      clientBuffered: this.client.writableLength + this.confirmGate.bytes,
      backendBuffered: this.link?.writableLength ?? 0,
      queryBuffered: this.framer.bufferedBytes + this.held.bytes,
    };
  }
}

const NESTED_MULTI = errorReply('ERR MULTI calls can not be nested');
const UNWATCH = encodeCommand(['UNWATCH']);
const WATCH_INSIDE_MULTI = errorReply('ERR WATCH inside MULTI is not allowed');
/** The `info` of a reply the node does not send (CLIENT REPLY OFF/SKIP). */
const SILENT_REPLY: ReplyInfo = { type: 0x2b, errorCode: undefined, head: undefined, nil: false };
const DISCARD = Buffer.from('*1\r\n$7\r\nDISCARD\r\n', 'latin1');
const CLIENT_ID = Buffer.from('*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n', 'latin1');

