// The session's pub/sub subscriptions as a pure state machine (no sockets): what each of Redis's
// six (un)subscribe commands does to them and how many replies it brings (DESIGN.md "Sessions":
// subscriptions are replayed on a new link). Redis 7 (src/pubsub.c):
// - SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE ch...: one confirmation per argument, duplicates included;
//   without arguments an arity error (one reply).
// - UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE ch...: one confirmation per argument, subscribed or
//   not; without arguments one per subscription of that kind, or one (a null channel) when there
//   is none.
// Channel names are latin1 strings (they carry arbitrary bytes losslessly).

export type SubscriptionKind = 'channel' | 'pattern' | 'shard';

export interface SubscriptionCommand {
  kind: SubscriptionKind;
  subscribe: boolean;
}

/** The six commands by lower-case name. */
export const SUBSCRIPTION_COMMANDS: Readonly<Record<string, SubscriptionCommand>> = Object.freeze({
  subscribe: { kind: 'channel', subscribe: true },
  unsubscribe: { kind: 'channel', subscribe: false },
  psubscribe: { kind: 'pattern', subscribe: true },
  punsubscribe: { kind: 'pattern', subscribe: false },
  ssubscribe: { kind: 'shard', subscribe: true },
  sunsubscribe: { kind: 'shard', subscribe: false },
});

/** What an (un)subscribe changed, to undo it when the node refuses the command. */
export interface SubscriptionChange {
  kind: SubscriptionKind;
  added: string[];
  removed: string[];
}

export class Subscriptions {
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly shardChannels = new Set<string>();

  /** Subscribed to anything: in RESP2 the connection is in pub/sub mode. */
  get active(): boolean {
    return this.channels.size + this.patterns.size + this.shardChannels.size > 0;
  }

  set(kind: SubscriptionKind): Set<string> {
    return kind === 'channel' ? this.channels : kind === 'pattern' ? this.patterns : this.shardChannels;
  }

  /** How many replies `name args...` brings, given the subscriptions before it. */
  replies(name: string, args: readonly string[]): number {
    const c = SUBSCRIPTION_COMMANDS[name];
    if (c === undefined) return 1;
    if (args.length > 0) return args.length;
    return c.subscribe ? 1 : Math.max(1, this.set(c.kind).size);
  }

  /** Applies `name args...` (as sent); returns the replies it brings and what changed. */
  apply(name: string, args: readonly string[]): { replies: number; change: SubscriptionChange } {
    const c = SUBSCRIPTION_COMMANDS[name]!;
    const replies = this.replies(name, args);
    const set = this.set(c.kind);
    const change: SubscriptionChange = { kind: c.kind, added: [], removed: [] };
    if (c.subscribe) {
      for (const a of args) {
        if (!set.has(a)) change.added.push(a);
        set.add(a);
      }
    } else if (args.length === 0) {
      change.removed.push(...set);
      set.clear();
    } else {
      for (const a of args) if (set.delete(a)) change.removed.push(a);
    }
    return { replies, change };
  }

  /** The node refused the command: it changed nothing there. */
  undo(change: SubscriptionChange): void {
    const set = this.set(change.kind);
    for (const a of change.added) set.delete(a);
    for (const a of change.removed) set.add(a);
  }

  clear(): void {
    this.channels.clear();
    this.patterns.clear();
    this.shardChannels.clear();
  }
}
