// Intake: the client's bytes, framed into commands (the framer, Redis's request limits, the
// query-buffer limit, protocol errors), each stamped with its arrival and handed to the session's
// dispatch — or held, when something is held before it (commands leave in order). `pump` hands the
// held ones to dispatch again, in turn, once the session may send. The clocks are read once per
// client chunk, not per command.
import type { Logger } from '../logger.js';
import { type Command, RequestFramer } from '../resp/request.js';
import type { CommandSpec } from '../commands/table.js';
import type { SessionHost } from './host.js';
import type { Holding } from './holding.js';
import type { HoldQueue } from './hold-queue.js';
import type { RequestWriter } from './request-writer.js';

type Cmd = Command<CommandSpec>;

/** What intake needs of its session. */
export interface IntakeOwner {
  readonly log: Logger;
  readonly group: SessionHost;
  /** Reading and serving ('open'); nothing more is framed once 'closing'. */
  readonly life: 'open' | 'draining' | 'closing' | 'closed';
  /** Sends (or answers) one command; false when it must wait. Precondition: nothing held before it. */
  dispatch(cmd: Cmd): boolean;
  /** Answers a held reply of the proxy's own in its turn. */
  enqueueLocal(reply: Buffer, cmd: Cmd | undefined): void;
  /** The client sent bytes that are not a request: answer `reason` after what is owed, then close. */
  protocolError(reason: string): void;
  teardown(why: string): void;
}

export class Intake {
  readonly framer: RequestFramer<CommandSpec>;
  /** Arrival time of the client data being framed; the sending time while held commands are sent
   * (`pump`: the read-your-writes window starts when a write leaves). */
  now = Date.now();
  /** Arrival time of the command being dispatched (earlier than `now` for a held one). */
  arrivedAt = this.now;
  /** The same instant as performance.now(): the start of the latency the group observes
   * (issue 18). */
  arrived = performance.now();
  private readonly held: HoldQueue;
  private readonly onCommand = (cmd: Cmd): void => {
    const o = this.owner;
    if (o.life !== 'open') return;
    o.group.metrics.commands.inc();
    if (this.held.length > 0 || !o.dispatch(cmd)) this.holding.hold(cmd, this.now, this.arrived);
  };

  constructor(
    private readonly owner: IntakeOwner,
    private readonly holding: Holding,
    private readonly writes: RequestWriter,
  ) {
    this.held = holding.held;
    const lim = owner.group.config.limits;
    this.framer = new RequestFramer<CommandSpec>(
      owner.group.lookup,
      { maxBulkBytes: lim.maxBulkBytes, maxMultibulkLength: lim.maxMultibulkLength },
      (spec) => spec.subcommands !== undefined,
    );
  }

  /** Bytes the client sent that are not yet sent on: framed-but-incomplete, and held. */
  get queryBuffered(): number {
    return this.framer.bufferedBytes + this.held.bytes;
  }

  onClientData(chunk: Buffer): void {
    const o = this.owner;
    if (o.life === 'closing' || o.life === 'closed') return;
    this.now = Date.now();
    this.arrivedAt = this.now;
    this.arrived = performance.now();
    this.writes.begin(chunk);
    const err = this.framer.push(chunk, this.onCommand);
    this.writes.end();
    if (err) {
      o.protocolError(err.reply);
      return;
    }
    if (this.queryBuffered > o.group.config.limits.queryBufferBytes) {
      // Redis closes such a client without a reply ("closing client that reached max query buffer length").
      o.log.warn({ bytes: this.queryBuffered }, 'query buffer limit reached, closing');
      o.teardown('query buffer limit');
    }
  }

  /** Hands held commands to dispatch, in order, while it takes them. False when one must wait
   * (or the session closed meanwhile). */
  pump(): boolean {
    const o = this.owner;
    // Sent now: `now` is the sending time, `arrivedAt` the command's arrival (its age if it must
    // be put back).
    this.now = Date.now();
    const held = this.held;
    while (held.length > 0) {
      const h = held.peek()!;
      let done = true;
      if (h.type === 'reply') o.enqueueLocal(h.reply, undefined);
      else {
        this.arrivedAt = h.at;
        const arrived = this.arrived;
        this.arrived = h.t0;
        done = o.dispatch(h.cmd);
        this.arrivedAt = this.now;
        this.arrived = arrived;
      }
      if (o.life === 'closed' || !done) return false;
      held.shift();
    }
    return true;
  }
}
