// One client connection: the coordinator of the session's parts (docs/session.md). Intake frames
// the client's requests; the session passes each through the gates and dispatches it — to the
// shared lane, to the own lane on its own link (links.ts, where the router decides), or holds it
// (holding.ts) — while keeping:
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
import type { Command } from '../resp/request.js';
import { OK } from '../resp/encode.js';
import { ErrorReplies, errorReply } from '../errors.js';
import type { CommandSpec, CommandTable } from '../commands/table.js';
import type { BackendLink } from './backend-link.js';
import { adoptReads } from './socket-reads.js';
import { Deque } from './deque.js';
import { ReplayState } from './state.js';
import { Transaction } from './transaction.js';
import { describeOwed } from './hold-queue.js';
import type { Entry } from './reply-queue.js';
import type { HoldQueue, SilentSent } from './hold-queue.js';
import { Gates, type GateOwner } from './gates.js';
import { refusedWhileSubscribed, type EffectsOwner } from './effects.js';
import type { SessionHandle, SessionHost, SessionDescription } from './host.js';
import { DEFAULT_LINKS } from '../config/defaults.js';
import { ClientWriter, PAUSE_CLOSING, type WriterOwner } from './client-writer.js';
import { ReplySplicer, type SplicerOwner } from './reply-splicer.js';
import { Links, type LinksOwner } from './links.js';
import { SharedLane, type LaneOwner } from './shared-lane.js';
import { RequestWriter } from './request-writer.js';
import { Holding, type HoldingOwner } from './holding.js';
import { Intake, type IntakeOwner } from './intake.js';
import { OwnLane, type OwnLaneOwner } from './own-lane.js';

type Cmd = Command<CommandSpec>;
/** What a command answered here with replies off gets (CLIENT REPLY OFF/SKIP). */
const NO_REPLY = Buffer.alloc(0);

let nextSessionId = 1;

export class Session implements SessionHandle, GateOwner, EffectsOwner, SplicerOwner, LinksOwner, LaneOwner, HoldingOwner, IntakeOwner, OwnLaneOwner, WriterOwner {
  readonly id = nextSessionId++;
  readonly log: Logger;
  readonly state = new ReplayState();
  private readonly queue = new Deque<Entry>();
  /**
   * 'open': reading and serving; 'draining': read nothing more (QUIT, a protocol error, shutdown),
   * close once every owed reply is written; 'closing': the last reply is being written (client
   * end() called); 'closed': torn down.
   */
  life: 'open' | 'draining' | 'closing' | 'closed' = 'open';
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
  /** The framer, the clocks, handing commands to dispatch or to the hold queue. */
  private readonly intake: Intake;
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
  /** Commands on the session's own link, and the proxy's own commands there. */
  private readonly own: OwnLane;
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
    // Client authentication applies to the sessions opened while it is configured (a reload that
    // turns it on does not ask open sessions to authenticate mid-session; docs/session.md).
    this.gates = new Gates(this, cfg.clientAuth?.users, () => this.group.config.clientAuth?.users);
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
    this.writer = new ClientWriter(this, client, feeding);
    this.splicer = new ReplySplicer(this, this.queue, this.writer, feeding);
    this.holding = new Holding(this, this.queue, this.writer, this.splicer);
    this.held = this.holding.held;
    this.writes = new RequestWriter(this.writer);
    this.intake = new Intake(this, this.holding, this.writes);
    // Redis's stricter request limits apply until the client authenticates.
    if (this.gates.authUsers !== undefined) this.intake.framer.unauthenticated = true;
    links = this.links = new Links(this, this.queue, this.splicer, this.writer, this.holding, this.intake, split);
    this.own = new OwnLane(this, this.queue, links, this.writes, this.splicer, this.intake, split);
    this.lane = new SharedLane(this, this.queue, this.writer, cfg.links?.maxPipeline ?? DEFAULT_LINKS.maxPipeline, this.writes, this.holding, this.intake);
    this.writes.waiter = this.lane;
    client.setNoDelay(true);
    // Accepted paused (listener.ts), so that reads can go to the shared read buffer from the first.
    const onChunk = (chunk: Buffer) => this.intake.onClientData(chunk);
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
  // Dispatch (intake.ts hands each command here)

  /** Not a request (intake.ts): answered after every command before it, held ones included; the
   * session reads nothing more and closes. */
  protocolError(reason: string): void {
    this.log.info({ reason }, 'protocol error, closing');
    this.group.metrics.protocolErrors.inc();
    this.writer.pause(PAUSE_CLOSING);
    this.life = 'draining';
    const reply = errorReply(reason);
    if (this.held.length > 0) this.held.push({ type: 'reply', reply, at: this.intake.now, t0: this.intake.arrived });
    else this.enqueueLocal(reply, undefined);
    this.maybeFinish();
  }

  /** Sends (or answers) one command; false when it must wait (the caller holds it). Precondition:
   * nothing held before it. `again`: see Held. */
  dispatch(cmd: Cmd, again = false): boolean {
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

    if (this.tx.broken && !again && !refusedWhileSubscribed(this.state, kind)) {
      const answered = this.own.brokenTx(cmd, kind, spec);
      if (answered !== undefined) return answered;
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
    this.own.send(cmd, kind, spec, again);
    return true;
  }

  /** HoldingOwner: the link never connected — what was sent on it with replies off, and the reply
   * mode back to what the link opened with. */
  unconnectedSilent(): SilentSent[] {
    this.replyMode = this.own.replyModeAtOpen;
    return this.own.takeSilent();
  }

  /** Answers `cmd` with a reply of the proxy's own, in order. `undo`: a broken transaction's
   * answer, made anew if the commands before it go again (hold-queue.ts `requeued`). */
  enqueueLocal(reply: Buffer, cmd: Cmd | undefined, undo?: () => void): void {
    if (cmd !== undefined && this.replyMode !== 'on') reply = this.silenced();
    if (this.queue.length === 0) {
      if (reply.length > 0) this.splicer.writeClient(reply);
      return;
    }
    const e = this.own.entry('local', cmd, undefined);
    e.local = reply;
    e.expect = 0;
    e.done = undo;
    this.queue.push(e);
  }

  /** A command answered here with replies off (CLIENT REPLY OFF/SKIP): no reply, as Redis would
   * send none. A SKIP is used up by it; the node's pending SKIP too (own-lane.ts). */
  private silenced(): Buffer {
    if (this.replyMode === 'skip') {
      this.replyMode = 'on';
      this.own.useUpSkip();
    }
    return NO_REPLY;
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
      this.splicer.ackOwed = 0;
      this.maybeFinish();
      if (this.held.length > 0 || this.links.stale()) queueMicrotask(() => this.pump());
    }
  }

  // GateOwner, EffectsOwner, LinksOwner, LaneOwner: what the parts ask of the session.

  answer(reply: Buffer, cmd: Cmd): void {
    this.enqueueLocal(reply, cmd);
  }

  discardOnNode(): void {
    this.own.discardOnNode();
  }

  authenticated(): void {
    this.intake.framer.unauthenticated = false;
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

  leaveLane(): void {
    this.linkMode = 'own';
  }

  relink(): void {
    this.links.scheduleRelink();
  }

  replay(link: BackendLink): void {
    this.own.replay(link);
  }

  // ---------------------------------------------------------------------------------------------
  // Releasing what is held, and failover reactions (called by the group; links.ts reacts)

  /** Sends held commands while the group allows it. */
  pump(): void {
    if (this.closed || !this.intake.pump()) return;
    this.holding.released();
    // A subscribed session needs a (current) link even with nothing to send.
    const links = this.links;
    if (this.state.subscribed && this.queue.length === 0 && (links.link === undefined || links.stale())) links.canSend();
  }

  /** A failover started: ask the old master to unblock blocked commands so they can move. */
  onFence(): void {
    this.links.onFence();
  }

  /** A replica was promoted: a link to the old master with commands in flight is cut. */
  onPromoted(): void {
    this.links.onPromoted();
  }

  /** The verified master changed, or the fence lifted. */
  onTopologyChange(): void {
    if (this.closed) return;
    if (this.links.onTopologyChange()) this.pump();
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

  maybeFinish(): void {
    if (this.life === 'draining' && this.queue.length === 0 && this.held.length === 0 && !this.writer.gate.holding) {
      this.life = 'closing';
      // As Redis: close once the last reply is written, whatever the client sends meanwhile (it is
      // no longer read, so waiting for its FIN could keep the session forever).
      this.client.end(() => this.teardown('closed after its last reply'));
      this.links.end();
    }
  }

  /** Ends the session with an error reply (after what is owed, when possible). */
  failSession(reply: Buffer | undefined): void {
    if (reply) this.writer.write(reply);
    this.teardown('session failed');
  }

  /** The one teardown path. Safe to call twice. */
  teardown(why: string): void {
    if (this.closed) return;
    if ((this.queue.length > 0 || this.held.length > 0) && this.log.isLevelEnabled('debug')) {
      const more = { relinking: this.links.backingOff, groupBlocked: this.group.blocked, tx: this.tx.state, replyMode: this.replyMode, outputHeld: this.writer.gate.holding };
      this.log.debug({ why, ...describeOwed(this.queue, this.held, this.links.link), ...more }, 'session closed with replies owed');
    }
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
      clientBuffered: this.writer.behind,
      backendBuffered: link?.writableLength ?? 0,
      queryBuffered: this.intake.queryBuffered,
    };
  }
}
