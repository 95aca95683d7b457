// What a client session has told its node that a new backend connection must be told again:
// credentials, protocol, database, name, subscriptions (DESIGN.md "Sessions"). Kept apart from
// any socket so a session can move between links (failover) or share one later.
import { encodeCommand } from '../resp/encode.js';
import type { Credentials } from '../config/types.js';
import { Subscriptions } from './subscriptions.js';

export class ReplayState {
  /** Credentials the client authenticated with (AUTH or HELLO AUTH); undefined: the config's. */
  username: string | undefined;
  password: string | undefined;
  authed = false;
  protocol: 2 | 3 = 2;
  /** The protocol the node will be in once what was sent so far has run: a pipelined HELLO
   * changes it before its reply arrives (`protocol` follows the replies, to read them). What the
   * node refuses in RESP2's pub/sub context is judged with this one. */
  sentProtocol: 2 | 3 = 2;
  db = 0;
  name: string | undefined;
  /** Subscriptions as the session projects them from the commands it sent. */
  readonly subs = new Subscriptions();

  get subscribed(): boolean {
    return this.subs.active;
  }

  /** RESET: back to a fresh connection's state (the name survives, as in Redis). */
  reset(): void {
    this.username = undefined;
    this.password = undefined;
    this.authed = false;
    this.protocol = 2;
    this.sentProtocol = 2;
    this.db = 0;
    this.subs.clear();
  }

  /**
   * The commands that bring a new connection to this state, in order, each with the number of
   * replies it produces. Subscriptions come last: nothing after them may be rejected by RESP2's
   * subscribed mode.
   */
  replayCommands(fallback: Credentials, replyMode: 'on' | 'off' | 'skip' = 'on'): { bytes: Buffer; replies: number; what: string }[] {
    const out: { bytes: Buffer; replies: number; what: string }[] = [];
    const user = this.authed ? this.username : fallback.username;
    const pass = this.authed ? this.password : fallback.password;
    if (this.protocol === 3) {
      const args: string[] = ['HELLO', '3'];
      if (pass !== undefined) args.push('AUTH', user ?? 'default', pass);
      if (this.name !== undefined) args.push('SETNAME', this.name);
      out.push({ bytes: encodeCommand(args), replies: 1, what: 'hello' });
    } else {
      if (pass !== undefined) {
        out.push({ bytes: encodeCommand(user !== undefined ? ['AUTH', user, pass] : ['AUTH', pass]), replies: 1, what: 'auth' });
      }
      if (this.name !== undefined) out.push({ bytes: encodeCommand(['CLIENT', 'SETNAME', this.name]), replies: 1, what: 'setname' });
    }
    if (this.db !== 0) out.push({ bytes: encodeCommand(['SELECT', this.db]), replies: 1, what: 'select' });
    // CLIENT REPLY OFF after what answers (subscriptions confirm all the same); SKIP last, for
    // the client's next command (it cannot be pending in RESP2's pub/sub context, which refuses it).
    if (replyMode === 'off') out.push({ bytes: encodeCommand(['CLIENT', 'REPLY', 'OFF']), replies: 0, what: 'reply' });
    const sub = (cmd: string, set: Set<string>) => {
      if (set.size === 0) return;
      out.push({
        bytes: encodeCommand([cmd, ...[...set].map((s) => Buffer.from(s, 'latin1'))]),
        replies: set.size,
        what: cmd.toLowerCase(),
      });
    };
    sub('SUBSCRIBE', this.subs.channels);
    sub('PSUBSCRIBE', this.subs.patterns);
    sub('SSUBSCRIBE', this.subs.shardChannels);
    if (replyMode === 'skip') out.push({ bytes: encodeCommand(['CLIENT', 'REPLY', 'SKIP']), replies: 0, what: 'reply' });
    return out;
  }
}
