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
import { type Command, RequestFramer, commandArgs } from '../resp/request.js';
import { ReplyProtocolError, type ReplyInfo } from '../resp/reply.js';
import { NULL_ARRAY_RESP2, NULL_RESP3, OK, QUEUED } from '../resp/encode.js';
import { ErrorReplies, errorReply } from '../errors.js';
import { CmdFlag, type CommandSpec, type CommandTable, isBlockingCall, isReadOnly, isWrite } from '../commands/table.js';
import { BackendLink } from './backend-link.js';
import { adoptReads } from './socket-reads.js';
import type { SharedLink, SharedWaiter } from './shared-link.js';
import { Deque } from './deque.js';
import { ReplayState } from './state.js';
import type { GroupRuntime } from '../group.js';
import type { ClientUser } from '../config/types.js';
import { encodeCommand } from '../resp/encode.js';
import { DEFAULT_LINKS } from '../config/defaults.js';
import { createHash, timingSafeEqual } from 'node:crypto';

const enum Kind {
  /** Sent to the node; its replies go to the client. */
  Forward,
  /** Answered by the proxy. */
  Local,
  /** Sent by the proxy (replay, CLIENT ID); its replies are swallowed. */
  Internal,
}

type Cmd = Command<CommandSpec>;

interface Entry {
  kind: Kind;
  /** Replies still expected from the node. */
  expect: number;
  cmd: Cmd | undefined;
  local: Buffer | undefined;
  /** Counts (p|s)(un)subscribe confirmations rather than ordinary replies. */
  sub: boolean;
  /** The reply is collected and decided on once complete instead of streamed. */
  buffered: boolean;
  blocking: boolean;
  /** The proxy asked the node to unblock it (CLIENT UNBLOCK ... ERROR) because of a fence. */
  unblockRequested: boolean;
  link: BackendLink | undefined;
  /** When the client sent it (ms): a command put back after a failed connection keeps its age. */
  at: number;
  /** The proxy's own CLIENT ID on a new link: its integer reply is kept on the link. */
  clientIdProbe: boolean;
  /** Sent on the group's shared link: a run of `expect` consecutive commands (`cmd`, then `more`). */
  shared: boolean;
  /** A shared run's commands after the first, kept until answered (re-sent only if the link never
   * connected). */
  more: Cmd[] | undefined;
  /** Put back to be sent again (its link never connected): replies or losses for it are ignored. */
  cancelled: boolean;
  /** Runs when the last reply arrives; `ok` is false for an error reply. */
  done: ((ok: boolean, info: ReplyInfo) => void) | undefined;
}

interface Held {
  cmd: Cmd;
  at: number;
  /** A reply of the proxy's own that must wait its turn behind held commands (a protocol error
   * after them); `cmd` is then an empty placeholder. */
  local?: Buffer;
}

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

export class Session implements SharedWaiter {
  readonly id = nextSessionId++;
  readonly log: Logger;
  readonly state = new ReplayState();
  private readonly framer: RequestFramer<CommandSpec>;
  private readonly queue = new Deque<Entry>();
  private readonly held = new Deque<Held>();
  private heldBytes = 0;
  private link: BackendLink | undefined;
  private paused = 0;
  /** Arrival time of the client data being framed (one clock read per chunk, not per command). */
  private now = Date.now();
  private closing = false;
  private closed = false;
  /** Close once every owed reply is written (QUIT, protocol error, shutdown). */
  private closeWhenDrained = false;

  // Transaction state (DESIGN.md: a transaction cannot move to a new master).
  private inMulti = false;
  private watching = false;
  /** The MULTI (or the WATCH) went to a master this session has since left. */
  private txBroken = false;
  private monitor = false;
  private tracking = false;
  /** CLIENT REPLY OFF / SKIP: the node sends no reply. */
  private replyOff = false;
  private skipNext = false;

  // Reply forwarding over one link chunk.
  private cur: Buffer | undefined;
  private segStart = 0;
  /** Start of the streamed bytes of `cur` not yet written to the client; -1 while buffering. */
  private fwdFrom = 0;
  private streaming = true;
  private pend: Buffer[] = [];

  private holdTimer: NodeJS.Timeout | undefined;
  private relinkTimer: NodeJS.Timeout | undefined;
  private relinkDelay = 0;
  private cutTimer: NodeJS.Timeout | undefined;

  /** The replica a read session uses (counted in the group's balancer). */
  private replica: string | undefined;
  /** A command of the open transaction was refused by the proxy: its EXEC must fail. */
  private txDirty = false;
  /** With client authentication by the proxy: the user this client authenticated as. */
  private user: ClientUser | undefined;
  /** Per-command read split (reads.routeReads = replica): the link not in use right now (the
   * master's while reads go to a replica, or the other way round), kept open for the next switch.
   * Only one link has commands in flight at any time, so replies stay in request order. */
  private spare: BackendLink | undefined;
  private readonly splitReads: boolean;
  /** Still stateless: plain commands go over the group's shared link (config.links.shared). */
  private shareable: boolean;

  /** On the group's shared link (moves with it: its next command goes to the new master). */
  get onSharedLink(): boolean {
    return this.shareable && this.link === undefined;
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

  constructor(
    readonly client: net.Socket,
    readonly group: GroupRuntime,
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
    if (group.config.clientAuth) this.framer.unauthenticated = true;
    this.splitReads = kind === 'master' && group.config.reads.routeReads === 'replica';
    this.shareable = kind === 'master' && !this.splitReads && (group.config.links?.shared ?? true);
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
        if (this.queue.length === 0 && this.held.length === 0 && !this.state.subscribed && !this.monitor) {
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
    if (this.closed || this.closing) return;
    this.now = Date.now();
    this.curIn = chunk;
    const err = this.framer.push(chunk, (cmd) => this.onCommand(cmd));
    this.flushWrites();
    this.curIn = undefined;
    if (err) {
      this.log.info({ reason: err.reply }, 'protocol error, closing');
      this.group.metrics.protocolErrors.inc();
      this.pauseReading(PAUSE_CLOSING);
      this.closeWhenDrained = true;
      const reply = errorReply(err.reply);
      // After every command before it, held ones included.
      if (this.held.length > 0) this.held.push({ cmd: NO_CMD, at: this.now, local: reply });
      else this.enqueueLocal(reply, undefined);
      this.maybeFinish();
      return;
    }
    if (this.framer.bufferedBytes + this.heldBytes > this.group.config.limits.queryBufferBytes) {
      // Redis closes such a client without a reply ("closing client that reached max query buffer length").
      this.log.warn({ bytes: this.framer.bufferedBytes + this.heldBytes }, 'query buffer limit reached, closing');
      this.teardown('query buffer limit');
    }
  }

  private onCommand(cmd: Cmd): void {
    if (this.closeWhenDrained) return;
    this.group.metrics.commands.inc();
    if (this.held.length > 0 || !this.dispatch(cmd)) this.hold(cmd);
  }

  /** Where this session's commands go now; undefined: hold them. */
  private target(): { addr: string; epoch: number } | undefined {
    const g = this.group;
    if (this.kind === 'read') {
      // Until replica health is measured, no read may go to the master by default: hold (issue 16).
      if (!g.replicasMeasured) return undefined;
      const r = g.replicas.choose(this.replica);
      if (r !== undefined) {
        if (r !== this.replica) {
          if (this.replica !== undefined) g.replicas.release(this.replica);
          g.replicas.take(r);
          this.replica = r;
        }
        return { addr: r, epoch: -1 };
      }
      if (g.config.reads.fallback !== 'master') return undefined;
    }
    if (g.blocked || g.master === undefined) return undefined;
    return { addr: g.master, epoch: g.masterEpoch };
  }

  /**
   * Where one command goes. With the per-command read split, a read-only command outside
   * transactions, subscriptions and the read-your-writes window goes to a replica — when the
   * session is at a boundary or already reading from that replica; otherwise to the master, which
   * keeps every reply in order on one link.
   */
  private targetFor(spec: CommandSpec | undefined): { addr: string; epoch: number } | undefined {
    if (
      this.splitReads &&
      isReadOnly(spec) &&
      (spec!.flags & CmdFlag.Blocking) === 0 &&
      !this.inMulti &&
      !this.watching &&
      !this.txBroken &&
      !this.state.subscribed &&
      this.now - this.lastWriteAt >= this.group.config.reads.readYourWritesMs
    ) {
      const g = this.group;
      const r = g.replicas.choose(this.replica);
      const link = this.link;
      if (r !== undefined && (this.queue.length === 0 || (link !== undefined && link.addr === r && link.masterEpoch === -1))) {
        if (r !== this.replica) {
          if (this.replica !== undefined) g.replicas.release(this.replica);
          g.replicas.take(r);
          this.replica = r;
        }
        this.group.metrics.splitReads.inc();
        return { addr: r, epoch: -1 };
      }
    }
    return this.target();
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
      this.streaming = true;
      this.pend = [];
      this.updateInspect();
      return true;
    }
    if (link !== undefined) {
      if (this.splitReads && !link.closed && this.stillValid(link)) {
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
  private dropSpare(): void {
    this.spare?.end();
    this.spare = undefined;
  }

  private hold(cmd: Cmd): void {
    this.held.push({ cmd, at: this.now });
    this.heldBytes += cmd.size;
    this.group.metrics.held.inc();
    if (this.heldBytes > this.group.config.failover.holdBytes) this.pauseReading(PAUSE_HOLD);
    if (!this.holdTimer) this.armHoldTimer();
  }

  /** Sends (or answers) one command; false when it must wait (the caller holds it). Precondition:
   * nothing held before it. */
  private dispatch(cmd: Cmd): boolean {
    const spec = cmd.spec;
    // The steady state first: a plain command of a stateless session (without client
    // authentication by the proxy, nothing below applies to it).
    if (this.shareable && this.group.config.clientAuth === undefined && this.fitsShared(cmd)) return this.dispatchShared(cmd);
    const kind = spec?.kind ?? 'other';
    if (this.group.config.clientAuth) {
      const passed = this.clientAuthGate(cmd, kind);
      if (passed === undefined) return true;
      cmd = passed;
    }

    if (this.txBroken) {
      if (this.answerBrokenTransaction(cmd, kind)) return true;
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
        this.closeWhenDrained = true;
        this.pauseReading(PAUSE_CLOSING);
        this.enqueueLocal(OK, cmd);
        this.maybeFinish();
        return true;
    }
    if ((this.kind === 'read' || this.user?.access === 'read') && this.readOnlyAnswer(cmd, kind, spec)) return true;
    if (this.shareable) {
      if (this.fitsShared(cmd)) return this.dispatchShared(cmd);
      // This command gives the session state, or the client pipelines more than the shared link
      // takes from one session, or sends large values: it gets a link of its own (where
      // backpressure applies to it alone) once its commands on the shared link are answered.
      this.shareable = false;
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
    const e = this.entry(Kind.Forward, cmd, link);
    this.prepare(e, cmd, kind, spec);
    if (this.splitReads && link.masterEpoch !== -1 && isWrite(spec)) this.lastWriteAt = this.now;
    if (e.blocking && link.clientId === undefined && !link.clientIdRequested) this.requestClientId(link);
    this.send(link, cmd);
    if (kind === 'reset' && this.group.config.auth.password !== undefined) {
      // RESET deauthenticated the link: authenticate it again with the backend credentials,
      // after RESET's own reply.
      const auth = this.entry(Kind.Internal, undefined, link);
      this.flushWrites();
      link.write(encodeCommand(this.group.config.auth.username !== undefined ? ['AUTH', this.group.config.auth.username, this.group.config.auth.password] : ['AUTH', this.group.config.auth.password]));
      this.pushEntry(e);
      this.pushEntry(auth);
      return true;
    }
    if (e.expect === 0) {
      // CLIENT REPLY OFF/SKIP: nothing comes back for this one.
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
    if (tail !== undefined && tail.shared && tail.kind === Kind.Forward && !tail.cancelled && (this.wToken === tail || shared.isOpenRun(this, tail))) {
      // Joins the run of commands before it (not yet written: an entry is one write's commands,
      // so all of them reached the node, or none did).
      e = tail;
      e.expect++;
      (e.more ??= []).push(cmd);
    } else {
      e = this.entry(Kind.Forward, cmd, undefined);
      e.shared = true;
      this.queue.push(e);
    }
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
    this.rawWrite(bytes);
    const pending = this.client.writableLength;
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
        this.shareable = false;
      }
    }
    if (complete === 0 || (e.expect -= complete) > 0) return;
    this.queue.shift();
    this.afterPop();
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
    if (e.kind === Kind.Local) return; // already turned into its error replies
    // They reached the node and got no answer: say so (never re-send), in order.
    this.group.metrics.linkLost.inc(e.expect);
    e.kind = Kind.Local;
    e.local = e.expect === 1 ? ErrorReplies.LINK_LOST : Buffer.concat(Array.from({ length: e.expect }, () => ErrorReplies.LINK_LOST));
    if (this.queue.peek() === e) this.afterPop();
  }

  /**
   * The read-only listener answers writes itself, as a replica would, so they never reach a node.
   * A transaction with a refused write fails at EXEC (Redis: EXECABORT). Returns true when the
   * command was answered here.
   */
  private readOnlyAnswer(cmd: Cmd, kind: string, spec: CommandSpec | undefined): boolean {
    if (kind === 'exec' && this.txDirty) {
      this.txDirty = false;
      this.inMulti = false;
      this.watching = false;
      const link = this.link;
      if (link && !link.closed) {
        // Close the node's side of the transaction without running it.
        const e = this.entry(Kind.Internal, undefined, link);
        this.flushWrites();
        link.write(DISCARD);
        this.pushEntry(e);
      }
      this.enqueueLocal(ErrorReplies.EXEC_ABORTED, cmd);
      return true;
    }
    if (kind === 'discard') this.txDirty = false;
    if (!isWrite(spec)) return false;
    if (this.inMulti) this.txDirty = true;
    this.enqueueLocal(this.kind === 'read' ? ErrorReplies.READONLY : ErrorReplies.NOPERM, cmd);
    return true;
  }

  /**
   * Client authentication by the proxy (group.config.clientAuth): AUTH and HELLO's AUTH are
   * answered here against the configured users and never reach Redis (the session's links
   * authenticate with the backend credentials); before that only AUTH, HELLO, PING and QUIT are
   * accepted. Returns the command to go on with (HELLO without its AUTH part), or undefined when
   * it was answered here.
   */
  private clientAuthGate(cmd: Cmd, kind: string): Cmd | undefined {
    if (kind === 'auth') {
      const a = commandArgs(cmd);
      if (a.length < 2 || a.length > 3) {
        this.enqueueLocal(errorReply("ERR wrong number of arguments for 'auth' command"), cmd);
        return undefined;
      }
      const user = this.checkUser(a.length === 3 ? a[1] : undefined, a[a.length - 1]);
      this.enqueueLocal(user ? OK : ErrorReplies.WRONGPASS, cmd);
      if (user) this.authenticate(user);
      return undefined;
    }
    if (kind === 'hello') {
      const a = commandArgs(cmd);
      const rest: Buffer[] = [];
      let auth: [Buffer, Buffer] | undefined;
      for (let i = 2; i < a.length; i++) {
        if (a[i].toString('latin1').toLowerCase() === 'auth' && i + 2 < a.length) {
          auth = [a[i + 1], a[i + 2]];
          i += 2;
        } else rest.push(a[i]);
      }
      if (auth) {
        const user = this.checkUser(auth[0], auth[1]);
        if (!user) {
          this.enqueueLocal(ErrorReplies.WRONGPASS, cmd);
          return undefined;
        }
        this.authenticate(user);
      }
      if (!this.user) {
        this.enqueueLocal(ErrorReplies.NOAUTH_HELLO, cmd);
        return undefined;
      }
      if (!auth) return cmd;
      const bytes = encodeCommand(a.length >= 2 ? [a[0], a[1], ...rest] : [a[0]]);
      return { data: bytes, size: bytes.length, argc: a.length >= 2 ? 2 + rest.length : 1, spec: cmd.spec, arg1: cmd.arg1, inline: false, src: undefined, off: -1 };
    }
    if (this.user) {
      if (kind === 'reset') this.user = undefined; // RESET deauthenticates, as in Redis
      return cmd;
    }
    if (kind === 'ping') {
      this.enqueueLocal(PONG, cmd);
      return undefined;
    }
    if (kind === 'quit') return cmd;
    this.enqueueLocal(ErrorReplies.NOAUTH, cmd);
    return undefined;
  }

  private checkUser(name: Buffer | undefined, password: Buffer): ClientUser | undefined {
    const users = this.group.config.clientAuth?.users ?? [];
    const wanted = name === undefined ? 'default' : name.toString('utf8');
    const hash = createHash('sha256').update(password).digest();
    let found: ClientUser | undefined;
    for (const u of users) {
      // Compare every user's hash in constant time, whichever name matches.
      const ok = timingSafeEqual(hash, Buffer.from(u.passwordSha256, 'hex'));
      if (ok && u.name === wanted) found = u;
    }
    return found;
  }

  private authenticate(user: ClientUser): void {
    this.user = user;
    this.framer.unauthenticated = false;
    this.log.info({ user: user.name, access: user.access }, 'client authenticated');
  }

  /** Sets reply expectations and the state a command changes. */
  private prepare(e: Entry, cmd: Cmd, kind: string, spec: CommandSpec | undefined): void {
    const st = this.state;
    if (this.skipNext) {
      this.skipNext = false;
      e.expect = 0;
    } else if (this.replyOff) {
      e.expect = 0;
    }
    if (this.inMulti && kind !== 'exec' && kind !== 'discard' && kind !== 'multi' && kind !== 'watch' && kind !== 'quit' && kind !== 'reset') {
      return; // queued: one +QUEUED (or error) reply, no effect yet
    }
    switch (kind) {
      case 'multi':
        this.inMulti = true;
        return;
      case 'exec':
      case 'discard':
        this.inMulti = false;
        this.watching = false;
        return;
      case 'watch':
        this.watching = true;
        return;
      case 'unwatch':
        this.watching = false;
        return;
      case 'select': {
        const db = Number(commandArgs(cmd)[1]?.toString('latin1'));
        e.done = (ok) => {
          if (ok && Number.isInteger(db)) {
            st.db = db;
            this.dropSpare();
          }
        };
        return;
      }
      case 'auth': {
        const a = commandArgs(cmd);
        const user = a.length >= 3 ? a[1].toString('utf8') : undefined;
        const pass = a.length >= 3 ? a[2].toString('utf8') : a[1]?.toString('utf8');
        e.done = (ok) => {
          if (!ok) return;
          st.authed = true;
          st.username = user;
          st.password = pass;
          this.dropSpare();
        };
        return;
      }
      case 'hello': {
        const a = commandArgs(cmd);
        const proto = a[1] !== undefined ? Number(a[1].toString('latin1')) : undefined;
        let user: string | undefined;
        let pass: string | undefined;
        let name: string | undefined;
        for (let i = 2; i < a.length; i++) {
          const opt = a[i].toString('latin1').toLowerCase();
          if (opt === 'auth' && i + 2 < a.length) {
            user = a[i + 1].toString('utf8');
            pass = a[i + 2].toString('utf8');
            i += 2;
          } else if (opt === 'setname' && i + 1 < a.length) {
            name = a[i + 1].toString('utf8');
            i += 1;
          }
        }
        e.done = (ok) => {
          if (!ok) return;
          if (proto === 2 || proto === 3) st.protocol = proto;
          if (pass !== undefined) {
            st.authed = true;
            st.username = user;
            st.password = pass;
          }
          if (name !== undefined) st.name = name;
          this.dropSpare();
          this.updateInspect();
        };
        return;
      }
      case 'client':
        this.prepareClient(e, cmd, spec);
        return;
      case 'subscribe':
      case 'psubscribe':
      case 'ssubscribe':
      case 'unsubscribe':
      case 'punsubscribe':
      case 'sunsubscribe':
        this.prepareSubscription(e, cmd, kind);
        return;
      case 'monitor':
        e.done = (ok) => {
          if (ok) this.monitor = true;
        };
        return;
      case 'reset':
        this.inMulti = false;
        this.watching = false;
        this.txBroken = false;
        this.replyOff = false;
        this.skipNext = false;
        e.expect = 1;
        e.done = () => {
          st.reset();
          this.dropSpare();
          this.monitor = false;
          this.tracking = false;
          this.updateInspect();
        };
        return;
      default:
        if (isBlockingCall(spec, spec?.name === 'xread' || spec?.name === 'xreadgroup' ? commandArgs(cmd).slice(1) : undefined)) {
          e.blocking = true;
          e.buffered = true;
        }
    }
  }

  private prepareClient(e: Entry, cmd: Cmd, spec: CommandSpec | undefined): void {
    const sub = cmd.arg1?.toString('latin1').toLowerCase();
    void spec;
    if (sub === 'setname') {
      const name = commandArgs(cmd)[2]?.toString('utf8');
      e.done = (ok) => {
        if (ok && name !== undefined) {
          this.state.name = name === '' ? undefined : name;
          this.dropSpare();
        }
      };
    } else if (sub === 'reply') {
      const mode = commandArgs(cmd)[2]?.toString('latin1').toLowerCase();
      if (mode === 'on') {
        this.replyOff = false;
        this.skipNext = false;
        e.expect = 1; // +OK even though replies were off
      } else if (mode === 'off') {
        this.replyOff = true;
        e.expect = 0;
      } else if (mode === 'skip') {
        if (!this.replyOff) this.skipNext = true;
        e.expect = 0;
      }
    } else if (sub === 'tracking') {
      const on = commandArgs(cmd)[2]?.toString('latin1').toLowerCase() === 'on';
      e.done = (ok) => {
        if (ok) this.tracking = on;
      };
    }
  }

  private prepareSubscription(e: Entry, cmd: Cmd, kind: string): void {
    const st = this.state;
    const set = kind.endsWith('psubscribe') ? st.patterns : kind.endsWith('ssubscribe') ? st.shardChannels : st.channels;
    const args = cmd.argc > 1 ? commandArgs(cmd).slice(1).map((b) => b.toString('latin1')) : [];
    e.sub = true;
    if (kind.startsWith('un') || kind.startsWith('pun') || kind.startsWith('sun')) {
      if (args.length === 0) {
        e.expect = Math.max(1, set.size);
        set.clear();
      } else {
        e.expect = args.length;
        for (const a of args) set.delete(a);
      }
    } else {
      e.expect = Math.max(1, args.length); // no channel: one error reply
      for (const a of args) set.add(a);
    }
    this.updateInspect();
  }

  /** RESP2 pub/sub messages are plain arrays: look at the first element of arrays while subscribed. */
  private updateInspect(): void {
    if (this.link) this.link.framer.inspectArrays = this.state.protocol === 2 && this.state.subscribed;
  }

  /**
   * A transaction whose MULTI (or WATCH) went to a master the session has left cannot continue:
   * its commands are answered here and its EXEC fails as Redis would fail it. Returns true when
   * the command was answered.
   */
  private answerBrokenTransaction(cmd: Cmd, kind: string): boolean {
    if (kind === 'exec') {
      this.txBroken = false;
      this.inMulti = false;
      const watched = this.watching;
      this.watching = false;
      // With WATCH, a null reply is what Redis gives when a watched key changed: clients retry.
      this.enqueueLocal(watched ? (this.state.protocol === 3 ? NULL_RESP3 : NULL_ARRAY_RESP2) : ErrorReplies.EXEC_ABORTED_FAILOVER, cmd);
      return true;
    }
    if (kind === 'discard') {
      this.txBroken = false;
      this.inMulti = false;
      this.watching = false;
      this.enqueueLocal(OK, cmd);
      return true;
    }
    if (this.inMulti) {
      this.enqueueLocal(kind === 'multi' ? errorReply('ERR MULTI calls can not be nested') : QUEUED, cmd);
      return true;
    }
    if (kind === 'multi') {
      // WATCH was on the old master: run the transaction here and fail its EXEC.
      this.inMulti = true;
      this.enqueueLocal(OK, cmd);
      return true;
    }
    if (kind === 'unwatch') {
      this.txBroken = false;
      this.watching = false;
    }
    return false;
  }

  private entry(kind: Kind, cmd: Cmd | undefined, link: BackendLink | undefined): Entry {
    return {
      kind,
      expect: 1,
      cmd,
      local: undefined,
      sub: false,
      buffered: kind === Kind.Internal,
      blocking: false,
      unblockRequested: false,
      link,
      at: this.now,
      clientIdProbe: false,
      shared: false,
      more: undefined,
      cancelled: false,
      done: undefined,
    };
  }

  private enqueueLocal(reply: Buffer, cmd: Cmd | undefined): void {
    const e = this.entry(Kind.Local, cmd, undefined);
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
    const e = this.entry(Kind.Internal, undefined, link);
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
    for (const r of this.state.replayCommands(g.config.auth)) {
      const e = this.entry(Kind.Internal, undefined, link);
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
    if (this.inMulti || this.watching) this.txBroken = true;
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
    } else if (this.kind === 'read' && !this.inMulti && !this.watching && !this.txBroken) {
      // The read listener sends only commands without side effects: they can simply run again on
      // another replica.
      this.group.metrics.reissued.inc(this.requeueAll());
    } else {
      // Replies owed for commands that reached the node are lost: say so, never re-send.
      if (this.inMulti || this.watching) this.txBroken = true;
      const q = this.queue;
      let e: Entry | undefined;
      while ((e = q.shift()) !== undefined) {
        if (e.kind === Kind.Forward) {
          this.group.metrics.linkLost.inc();
          if (!(e.sub && e.cmd === undefined)) this.writeClient(ErrorReplies.LINK_LOST);
        } else if (e.kind === Kind.Local && e.local) {
          this.writeClient(e.local);
        }
      }
      if (this.monitor || this.tracking) {
        this.failSession(undefined);
        return;
      }
    }
    this.resumeReading(PAUSE_BACKEND);
    this.scheduleRelink();
    this.maybeFinish();
  }

  /** Puts every command owed a reply back in front of the held ones, in order, keeping its age
   * (the proxy's own replay commands are dropped: a new link replays again). Returns how many. */
  private requeueAll(): number {
    const back: Held[] = [];
    for (const e of this.queue) {
      if (e.kind === Kind.Internal || !e.cmd) continue;
      back.push({ cmd: e.cmd, at: e.at });
      if (e.more) for (const c of e.more) back.push({ cmd: c, at: e.at });
    }
    this.queue.clear();
    for (let i = back.length - 1; i >= 0; i--) {
      this.held.unshift(back[i]);
      this.heldBytes += back[i].cmd.size;
    }
    if (this.held.length > 0 && !this.holdTimer) this.armHoldTimer();
    return back.length;
  }

  /** Puts `e` and every entry after it back in front of the held commands, in order (the shared
   * link lost them before writing them). Replies or losses still reported for them are ignored. */
  private requeueFrom(e: Entry): void {
    const back: Held[] = [];
    let q: Entry | undefined;
    while ((q = this.queue.pop()) !== undefined) {
      q.cancelled = true;
      if (q.kind !== Kind.Internal && q.cmd) {
        if (q.more) for (let i = q.more.length - 1; i >= 0; i--) back.push({ cmd: q.more[i], at: q.at });
        back.push({ cmd: q.cmd, at: q.at });
      }
      if (q === e) break;
    }
    for (const h of back) {
      this.held.unshift(h);
      this.heldBytes += h.cmd.size;
    }
    if (this.held.length > 0 && !this.holdTimer) this.armHoldTimer();
    this.updateMode();
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
    this.cur = chunk;
    this.segStart = 0;
    this.fwdFrom = this.streaming ? 0 : -1;
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
    if (client.writableLength > this.group.config.limits.outputBufferSoftBytes) {
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
    let mine = head !== undefined && !this.monitor;
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
        if (e.kind === Kind.Forward) this.deliverPend();
        else this.pend = [];
      }
      return;
    }
    this.queue.shift();
    if (e.kind === Kind.Internal) {
      if (e.clientIdProbe && e.link) {
        const txt = Buffer.concat(this.pend).toString('latin1');
        e.link.clientId = Number(txt.slice(1, txt.indexOf('\r')));
      }
      this.pend = [];
    } else if (e.blocking && e.unblockRequested && info.errorCode === 'UNBLOCKED' && this.queue.length === 0) {
      // The fence unblocked it on the old master: it did not run there. Run it on the new one.
      this.pend = [];
      this.group.metrics.reissued.inc();
      this.held.unshift({ cmd: e.cmd!, at: Date.now() });
      this.heldBytes += e.cmd!.size;
      if (!this.holdTimer) this.armHoldTimer();
    } else if (!this.streaming) {
      this.deliverPend();
    }
    if (info.type === 0x2d && info.errorCode === 'READONLY') {
      // The supposed master is a replica now: have the topology checked at once.
      this.group.onReadonly(e.link?.addr);
    }
    e.done?.(ok, info);
    this.afterPop();
  };

  /** After an entry completed: write the proxy's own replies that are now due, pick the mode for
   * the next reply, and move on if the session is now at a boundary. */
  private afterPop(): void {
    let next = this.queue.peek();
    while (next !== undefined && next.kind === Kind.Local) {
      this.queue.shift();
      this.writeClient(next.local!);
      next = this.queue.peek();
    }
    this.updateMode();
    if (this.queue.length === 0) {
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
    this.queue.push(e);
    // First in line, and no reply half-read: its mode applies from the next byte.
    if (this.queue.length === 1 && this.link?.framer.atBoundary) this.updateMode();
  }

  /** Stream the next reply straight through, or collect it (replay, blocking commands)? Only
   * changed at a reply boundary. */
  private updateMode(): void {
    const next = this.queue.peek();
    const stream = next === undefined || !next.buffered;
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
    // (A write the kernel took at once leaves nothing buffered, even when it returned false.)
    if (!this.client.write(buf) && this.client.writableLength > 0) {
      // The client is behind: stop what feeds it — its own link, or (on the shared link, which
      // other sessions use) its requests.
      if (this.link) this.link.socket.pause();
      else this.pauseReading(PAUSE_OUTPUT);
    }
  }

  private onClientDrain(): void {
    this.link?.socket.resume();
    this.resumeReading(PAUSE_OUTPUT);
  }

  // ---------------------------------------------------------------------------------------------
  // Holding and releasing

  /** Sends held commands while the group allows it. */
  pump(): void {
    if (this.closed) return;
    while (this.held.length > 0) {
      const h = this.held.peek()!;
      const now = this.now;
      this.now = h.at;
      let done = true;
      if (h.local !== undefined) this.enqueueLocal(h.local, undefined);
      else done = this.dispatch(h.cmd);
      this.now = now;
      if (this.closed || !done) return;
      this.held.shift();
      this.heldBytes -= h.cmd.size;
    }
    if (this.heldBytes <= this.group.config.failover.holdBytes) this.resumeReading(PAUSE_HOLD);
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

  /** Commands held past holdTimeoutMs get a retryable error, in order. */
  private expireHeld(): void {
    this.holdTimer = undefined;
    if (this.closed) return;
    const deadline = Date.now() - this.group.config.failover.holdTimeoutMs;
    let h: Held | undefined;
    let n = 0;
    while ((h = this.held.peek()) !== undefined && h.at <= deadline) {
      this.held.shift();
      this.heldBytes -= h.cmd.size;
      this.enqueueLocal(h.local ?? (this.group.blockedReason === 'majority' ? ErrorReplies.NO_SENTINEL_MAJORITY : ErrorReplies.HOLD_TIMEOUT), h.cmd);
      n++;
    }
    if (n > 0) {
      this.group.metrics.holdTimeouts.inc(n);
      this.log.warn({ commands: n }, 'held commands timed out');
    }
    if (this.heldBytes <= this.group.config.failover.holdBytes) this.resumeReading(PAUSE_HOLD);
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
    for (const e of this.queue) if (e.kind === Kind.Forward && !e.blocking) onlyBlocking = false;
    if (!onlyBlocking) {
      this.log.info({ node: link.addr }, 'cutting link to the demoted master with commands in flight');
      link.destroy();
      return;
    }
    // Blocked commands were asked to unblock; give that a moment, then cut.
    this.onFence();
    if (!this.cutTimer) {
      this.cutTimer = setTimeout(() => {
        this.cutTimer = undefined;
        if (this.link === link && this.queue.length > 0 && this.group.masterEpoch !== link.masterEpoch) link.destroy();
      }, 1000);
      this.cutTimer.unref();
    }
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
    if (this.kind === 'read' && link && !this.stillValid(link) && this.queue.length > 0 && !this.inMulti && !this.watching && !this.txBroken) {
      // Reads waiting on a replica that is no longer healthy (frozen, fallen behind, promoted):
      // they have no side effects, so cut the link and run them again on a healthy replica
      // (onLinkClose puts them back in order) rather than wait for this one.
      this.log.info({ node: link.addr }, 'replica no longer healthy: moving the in-flight reads');
      link.destroy();
      return;
    }
    if (link && !this.stillValid(link) && this.queue.length === 0) {
      if (this.monitor || this.tracking) {
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
    this.closeWhenDrained = true;
    let h: Held | undefined;
    while ((h = this.held.shift()) !== undefined) this.enqueueLocal(h.local ?? ErrorReplies.SHUTTING_DOWN, h.cmd);
    this.heldBytes = 0;
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.closeWhenDrained && this.queue.length === 0 && this.held.length === 0 && !this.closed) {
      this.closing = true;
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
    this.closed = true;
    this.closing = true;
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
  describe(): {
    id: number;
    node: string | undefined;
    inFlight: number;
    held: number;
    subscribed: boolean;
    /** Bytes waiting in the proxy: to the client, to the node, framed-but-incomplete from the client. */
    clientBuffered: number;
    backendBuffered: number;
    queryBuffered: number;
  } {
    return {
      id: this.id,
      node: this.link?.addr,
      inFlight: this.queue.length,
      held: this.held.length,
      subscribed: this.state.subscribed,
      clientBuffered: this.client.writableLength,
      backendBuffered: this.link?.writableLength ?? 0,
      queryBuffered: this.framer.bufferedBytes + this.heldBytes,
    };
  }
}

const NO_CMD: Cmd = { data: Buffer.alloc(0), size: 0, argc: 0, spec: undefined, arg1: undefined, inline: false, src: undefined, off: -1 };
const PONG = Buffer.from('+PONG\r\n', 'latin1');
const DISCARD = Buffer.from('*1\r\n$7\r\nDISCARD\r\n', 'latin1');
const CLIENT_ID = Buffer.from('*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n', 'latin1');
