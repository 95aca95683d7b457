// The gates a command passes before it is routed, in one place (DESIGN.md "Access"):
// - client authentication by the proxy (clientAuth): AUTH and HELLO's AUTH are answered here
//   against the configured users and never reach Redis (the session's links authenticate with the
//   backend credentials); before that only AUTH, HELLO, PING and QUIT are accepted;
// - access: the read-only listener and `read` users get what src/commands/access.ts decides for
//   the command resolved to its subcommand (CONFIG SET, FUNCTION FLUSH...), never the container's
//   row; `access()` is the one call site of that decision (docs/access.md).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { ClientUser } from '../config/types.js';
import { type Command, commandArgs } from '../resp/request.js';
import { OK, encodeCommand } from '../resp/encode.js';
import { ErrorReplies, errorReply } from '../errors.js';
import { type CommandSpec, subcommandOf } from '../commands/table.js';
import { decideAccess, refusalReply, unresolvedName } from '../commands/access.js';
import type { Transaction } from './transaction.js';

type Cmd = Command<CommandSpec>;

/** What the gates need of their session. */
export interface GateOwner {
  readonly kind: 'master' | 'read';
  readonly tx: Transaction;
  readonly log: Logger;
  /** Answers `cmd` with a reply of the proxy's own, in order. */
  answer(reply: Buffer, cmd: Cmd): void;
  /** Closes the node's side of the open transaction without running it. */
  discardOnNode(): void;
  /** The client authenticated: Redis's looser request limits apply from now on. */
  authenticated(): void;
}

export class Gates {
  /** The user this client authenticated as (client authentication by the proxy). */
  private user: ClientUser | undefined;
  /** A command of the open transaction was refused here: its EXEC must fail. */
  private txDirty = false;

  constructor(
    private readonly owner: GateOwner,
    /** The users when the session opened (undefined: no client authentication for it). */
    readonly authUsers: readonly ClientUser[] | undefined,
    /** The users as reloaded (a rotated password applies to the next AUTH). */
    private readonly currentUsers: () => readonly ClientUser[] | undefined,
  ) {}

  /** Does the access gate apply to this session (read listener, or a `read` user)? */
  get restricted(): boolean {
    return this.owner.kind === 'read' || this.user?.access === 'read';
  }

  /**
   * The access gate (src/commands/access.ts), for `read` users and the read-only listener: refused
   * commands are answered here (-NOPERM, or -READONLY as a replica would) and never reach a node.
   * A transaction with a refused command fails at EXEC (Redis: EXECABORT). Returns true when the
   * command was answered here.
   */
  access(cmd: Cmd, kind: string, spec: CommandSpec | undefined): boolean {
    if (!this.restricted) return false;
    const o = this.owner;
    if (kind === 'exec' && this.txDirty) {
      this.txDirty = false;
      o.tx.end();
      o.discardOnNode();
      o.answer(ErrorReplies.EXEC_ABORTED, cmd);
      return true;
    }
    if (kind === 'discard') this.txDirty = false;
    // Decided on the subcommand (CONFIG SET, FUNCTION FLUSH...), never on the container's row.
    const resolved = subcommandOf(spec, cmd.arg1, cmd.argc);
    const verdict = decideAccess(o.kind, this.user?.access ?? 'write', resolved);
    if (verdict === 'allow') return false;
    if (o.tx.inMulti) this.txDirty = true;
    o.answer(refusalReply(verdict, resolved ?? unresolvedName(spec, cmd.arg1, spec === undefined ? commandArgs(cmd)[0] : undefined)), cmd);
    return true;
  }

  /**
   * The client authentication gate. Returns the command to go on with (HELLO without its AUTH
   * part), or undefined when it was answered here.
   */
  clientAuth(cmd: Cmd, kind: string): Cmd | undefined {
    const o = this.owner;
    if (kind === 'auth') {
      const a = commandArgs(cmd);
      if (a.length < 2 || a.length > 3) {
        o.answer(errorReply("ERR wrong number of arguments for 'auth' command"), cmd);
        return undefined;
      }
      const user = this.checkUser(a.length === 3 ? a[1] : undefined, a[a.length - 1]);
      o.answer(user ? OK : ErrorReplies.WRONGPASS, cmd);
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
          o.answer(ErrorReplies.WRONGPASS, cmd);
          return undefined;
        }
        this.authenticate(user);
      }
      if (!this.user) {
        o.answer(ErrorReplies.NOAUTH_HELLO, cmd);
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
      o.answer(PONG, cmd);
      return undefined;
    }
    if (kind === 'quit') return cmd;
    o.answer(ErrorReplies.NOAUTH, cmd);
    return undefined;
  }

  private checkUser(name: Buffer | undefined, password: Buffer): ClientUser | undefined {
    // The users as reloaded; the ones of the session's start if a reload turned client
    // authentication off.
    const users = this.currentUsers() ?? this.authUsers ?? [];
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
    this.owner.authenticated();
    this.owner.log.info({ user: user.name, access: user.access }, 'client authenticated');
  }
}

const PONG = Buffer.from('+PONG\r\n', 'latin1');
