// The effects alone (src/session/effects.ts) as a table: a sequence of commands sent (each answered
// ok, with an error, with a null, or not yet) → the replies each one brings (Redis's counts), and
// the session's connection state afterwards (what a new link is told again). The owner is a fake:
// the replay state, the transaction, the reply mode and the unmovable mark.
import t from 'tap';
import { prepare, type EffectsOwner } from '../../../src/session/effects.js';
import { ReplayState } from '../../../src/session/state.js';
import { Transaction } from '../../../src/session/transaction.js';
import type { ReplyInfo } from '../../../src/resp/reply.js';
import { command, entry } from '../../helpers/fake-owners.js';

type Answer = 'ok' | 'err' | 'nil' | 'none';

interface Snapshot {
  db: number;
  name: string | undefined;
  protocol: 2 | 3;
  sentProtocol: 2 | 3;
  authed: boolean;
  user: string | undefined;
  password: string | undefined;
  replyMode: EffectsOwner['replyMode'];
  unmovable: EffectsOwner['unmovable'];
  tx: string;
  channels: string[];
  patterns: string[];
  shards: string[];
}

function ownerOf() {
  const o = {
    state: new ReplayState(),
    tx: new Transaction(),
    replyMode: 'on' as EffectsOwner['replyMode'],
    unmovable: 'no' as EffectsOwner['unmovable'],
    spareDrops: 0,
    inspects: 0,
    dropSpare() {
      o.spareDrops++;
    },
    updateInspect() {
      o.inspects++;
    },
  };
  return o satisfies EffectsOwner;
}

function snapshot(o: ReturnType<typeof ownerOf>): Snapshot {
  const st = o.state;
  return {
    db: st.db,
    name: st.name,
    protocol: st.protocol,
    sentProtocol: st.sentProtocol,
    authed: st.authed,
    user: st.username,
    password: st.password,
    replyMode: o.replyMode,
    unmovable: o.unmovable,
    tx: o.tx.state,
    channels: [...st.subs.channels],
    patterns: [...st.subs.patterns],
    shards: [...st.subs.shardChannels],
  };
}

const INFO: Record<Exclude<Answer, 'none'>, [boolean, ReplyInfo]> = {
  ok: [true, { type: 0x2b, errorCode: undefined, head: undefined, nil: false }],
  err: [false, { type: 0x2d, errorCode: 'ERR', head: undefined, nil: false }],
  nil: [true, { type: 0x2a, errorCode: undefined, head: undefined, nil: true }],
};

/** Sends each command (the reply, when given, applied at once: as if pipelined one by one). */
function run(steps: [string, Answer?][]) {
  const o = ownerOf();
  const expects: number[] = [];
  const flags: string[] = [];
  for (const [line, answer = 'ok'] of steps) {
    const words = line.split(' ').map((w) => (w === "''" ? '' : w));
    const cmd = command(...words);
    const e = entry('forward', cmd);
    prepare(o, e, cmd, cmd.spec?.kind ?? 'other', cmd.spec);
    expects.push(e.expect);
    flags.push([e.sub && 'sub', e.blocking && 'blocking', e.buffered && 'buffered'].filter(Boolean).join(','));
    if (answer !== 'none') e.done?.(...INFO[answer]);
  }
  return { o, expects, flags, snap: snapshot(o) };
}

// [commands sent (with the node's answer, default ok)] → replies each brings, state after
const rows: [[string, Answer?][], number[], Partial<Snapshot>][] = [
  [[['GET k']], [1], { db: 0, tx: 'none', replyMode: 'on' }],
  // Subscriptions: one reply per argument; without arguments one per subscription of that kind, or 1.
  [[['SUBSCRIBE a b c']], [3], { channels: ['a', 'b', 'c'] }],
  [[['SUBSCRIBE a a b']], [3], { channels: ['a', 'b'] }],
  [[['SUBSCRIBE a b c', 'err']], [3], { channels: [] }], // refused (ACL): nothing changed
  [[['SUBSCRIBE a'], ['UNSUBSCRIBE']], [1, 1], { channels: [] }],
  [[['SUBSCRIBE a b'], ['PSUBSCRIBE p*'], ['PUNSUBSCRIBE']], [2, 1, 1], { channels: ['a', 'b'], patterns: [] }], // issue 15 defect 1
  [[['PSUBSCRIBE p* q*'], ['PUNSUBSCRIBE']], [2, 2], { patterns: [] }],
  [[['SSUBSCRIBE s1 s2'], ['SUNSUBSCRIBE']], [2, 2], { shards: [] }],
  [[['SUBSCRIBE a'], ['SUNSUBSCRIBE']], [1, 1], { channels: ['a'] }],
  [[['PUNSUBSCRIBE']], [1], { patterns: [] }],
  [[['UNSUBSCRIBE x y']], [2], { channels: [] }],
  // State the node confirms.
  [[['SELECT 3']], [1], { db: 3 }],
  [[['SELECT 3', 'err']], [1], { db: 0 }],
  [[['SELECT 3', 'none']], [1], { db: 0 }], // not before its reply
  [[['CLIENT SETNAME app']], [1], { name: 'app' }],
  [[['CLIENT SETNAME app'], ["CLIENT SETNAME ''"]], [1, 1], { name: undefined }],
  [[['AUTH pw']], [1], { authed: true, user: undefined, password: 'pw' }],
  [[['AUTH u pw']], [1], { authed: true, user: 'u', password: 'pw' }],
  [[['AUTH u pw', 'err']], [1], { authed: false }],
  [[['HELLO 3', 'none']], [1], { protocol: 2, sentProtocol: 3 }], // sent, not answered: the node will be in RESP3
  [[['HELLO 3']], [1], { protocol: 3, sentProtocol: 3 }],
  [[['HELLO 3', 'err']], [1], { protocol: 2, sentProtocol: 2 }],
  [[['HELLO 3 AUTH u pw SETNAME n']], [1], { protocol: 3, authed: true, user: 'u', password: 'pw', name: 'n' }],
  [[['MONITOR']], [1], { unmovable: 'monitor' }],
  [[['CLIENT TRACKING on']], [1], { unmovable: 'tracking' }],
  [[['CLIENT TRACKING on'], ['CLIENT TRACKING off']], [1, 1], { unmovable: 'no' }],
  [[['MONITOR'], ['CLIENT TRACKING on']], [1, 1], { unmovable: 'monitor' }],
  // Reply modes: OFF and SKIP bring no reply; ON brings its +OK.
  [[['CLIENT REPLY OFF'], ['GET k'], ['CLIENT REPLY ON'], ['GET k']], [0, 0, 1, 1], { replyMode: 'on' }],
  [[['CLIENT REPLY SKIP'], ['GET k'], ['GET k']], [0, 0, 1], { replyMode: 'on' }],
  [[['CLIENT REPLY OFF'], ['CLIENT REPLY SKIP'], ['GET k']], [0, 0, 0], { replyMode: 'off' }],
  // Subscription confirmations come with replies off (Redis 7); the arity error does not.
  [[['CLIENT REPLY OFF'], ['SUBSCRIBE a b']], [0, 2], { channels: ['a', 'b'], replyMode: 'off' }],
  [[['CLIENT REPLY OFF'], ['SUBSCRIBE']], [0, 0], { channels: [] }],
  // RESET: a fresh connection (the name survives), replies on, movable.
  [[['SELECT 2'], ['CLIENT TRACKING on'], ['CLIENT SETNAME n'], ['CLIENT REPLY OFF'], ['SUBSCRIBE a'], ['RESET']], [1, 1, 1, 0, 1, 1], { db: 0, channels: [], unmovable: 'no', replyMode: 'on', name: 'n', tx: 'none' }],
  // Transactions: one reply per command; queued state changes apply when EXEC runs them.
  [[['MULTI'], ['SELECT 2'], ['CLIENT SETNAME n'], ['SUBSCRIBE a'], ['EXEC']], [1, 1, 1, 1, 1], { db: 2, name: 'n', channels: ['a'], tx: 'none' }],
  [[['WATCH k'], ['MULTI'], ['SELECT 2'], ['EXEC', 'nil']], [1, 1, 1, 1], { db: 0, tx: 'none' }], // a watched key changed: nothing ran
  [[['MULTI'], ['SELECT 2'], ['EXEC', 'err']], [1, 1, 1], { db: 0, tx: 'none' }],
  [[['MULTI'], ['SELECT 2'], ['DISCARD'], ['EXEC']], [1, 1, 1, 1], { db: 0, tx: 'none' }],
  [[['MULTI'], ['SSUBSCRIBE s'], ['EXEC']], [1, 1, 1], { shards: [] }], // Redis refuses it in MULTI
  [[['MULTI'], ['SUBSCRIBE a b'], ['EXEC']], [1, 1, 1], { channels: ['a', 'b'] }], // one +QUEUED, then the confirmations inside EXEC's reply
  [[['MULTI', 'err']], [1], { tx: 'none' }],
  [[['WATCH k'], ['MULTI', 'err']], [1, 1], { tx: 'watching' }],
  // RESP2's pub/sub context: Redis refuses everything but the (un)subscribe family, PING, QUIT, RESET.
  [[['SUBSCRIBE a'], ['MULTI'], ['SELECT 2']], [1, 1, 1], { tx: 'none', db: 0 }],
  [[['SUBSCRIBE a'], ['CLIENT SETNAME n'], ['CLIENT REPLY OFF'], ['PING']], [1, 1, 1, 1], { name: undefined, replyMode: 'on' }],
  [[['HELLO 3'], ['SUBSCRIBE a'], ['MULTI']], [1, 1, 1], { tx: 'multi' }], // RESP3 has no such context
  [[['HELLO 3', 'none'], ['SUBSCRIBE a'], ['MULTI']], [1, 1, 1], { tx: 'multi' }], // pipelined HELLO 3: judged as sent
];

t.test('effects: replies each command brings and the connection state after (table)', async (t) => {
  for (const [steps, expects, want] of rows) {
    const label = steps.map(([c, a]) => (a && a !== 'ok' ? `${c} (${a})` : c)).join('; ');
    const r = run(steps);
    t.same(r.expects, expects, `${label}: replies`);
    const got: Partial<Snapshot> = {};
    for (const k of Object.keys(want) as (keyof Snapshot)[]) (got as Record<string, unknown>)[k] = r.snap[k];
    t.same(got, want, `${label}: state`);
  }
});

t.test('effects: what is collected rather than streamed (blocking commands) and what counts confirmations', async (t) => {
  const rows: [string, string][] = [
    ['GET k', ''],
    ['BLPOP q 0', 'blocking,buffered'],
    ['BRPOPLPUSH a b 0', 'blocking,buffered'],
    ['XREAD BLOCK 0 STREAMS s $', 'blocking,buffered'],
    ['XREAD STREAMS s 0', ''],
    ['XREADGROUP GROUP g c BLOCK 10 STREAMS s >', 'blocking,buffered'],
    ['WAIT 1 0', 'blocking,buffered'],
    ['SUBSCRIBE a', 'sub'],
    ['PUNSUBSCRIBE', 'sub'],
  ];
  for (const [line, want] of rows) t.equal(run([[line, 'none']]).flags[0], want, line);
});

t.test('effects: the spare link is dropped when its replayed state goes stale; RESP2 arrays are inspected when subscriptions change', async (t) => {
  const r = run([['SELECT 1'], ['CLIENT SETNAME x'], ['AUTH p'], ['GET k']]);
  t.equal(r.o.spareDrops, 3);
  const s = run([['SUBSCRIBE a'], ['GET k']]);
  t.ok(s.o.inspects >= 1);
  const refused = run([['SUBSCRIBE a', 'err']]);
  t.ok(refused.o.inspects >= 2, 'again when a refused subscribe is undone');
});
