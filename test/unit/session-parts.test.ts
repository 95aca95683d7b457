// The session's pure parts as tables (no sockets): subscriptions against Redis's documented reply
// counts, the transaction state machine, the router.
import t from 'tap';
import { Subscriptions } from '../../src/session/subscriptions.js';
import { Transaction, type TxState, type BrokenAnswer, queueTimeError, brokenReply } from '../../src/session/transaction.js';
import { CommandTable } from '../../src/commands/table.js';
import { Deque } from '../../src/session/deque.js';
import { requeued } from '../../src/session/hold-queue.js';
import { type Entry, newEntry } from '../../src/session/reply-queue.js';
import { encodeCommand } from '../../src/resp/encode.js';
import { route, type RouteInput, type Route } from '../../src/session/router.js';
import { ReplayState } from '../../src/session/state.js';
import { refusedWhileSubscribed } from '../../src/session/effects.js';

t.test('subscriptions: reply counts of the six (un)subscribe forms, with and without arguments (Redis 7 pubsub.c)', async (t) => {
  // [setup commands, command, args, expected replies, channels/patterns/shards after]
  const rows: [string[][], string, string[], number, [string[], string[], string[]]][] = [
    [[], 'subscribe', ['a'], 1, [['a'], [], []]],
    [[], 'subscribe', ['a', 'a', 'b'], 3, [['a', 'b'], [], []]],
    [[], 'subscribe', [], 1, [[], [], []]], // arity error
    [[], 'psubscribe', ['p*', 'q*'], 2, [[], ['p*', 'q*'], []]],
    [[], 'ssubscribe', ['s'], 1, [[], [], ['s']]],
    [[], 'unsubscribe', [], 1, [[], [], []]], // nothing subscribed: one reply, null channel
    [[['subscribe', 'a', 'b']], 'unsubscribe', [], 2, [[], [], []]],
    [[['subscribe', 'a', 'b']], 'unsubscribe', ['a', 'zz'], 2, [['b'], [], []]],
    [[['subscribe', 'a'], ['psubscribe', 'p*']], 'punsubscribe', [], 1, [['a'], [], []]],
    [[['subscribe', 'a'], ['psubscribe', 'p*', 'q*']], 'punsubscribe', [], 2, [['a'], [], []]],
    [[['subscribe', 'a']], 'punsubscribe', [], 1, [['a'], [], []]],
    [[['psubscribe', 'p*']], 'punsubscribe', ['p*'], 1, [[], [], []]],
    [[['ssubscribe', 's1', 's2'], ['subscribe', 'a']], 'sunsubscribe', [], 2, [['a'], [], []]],
    [[['subscribe', 'a']], 'sunsubscribe', [], 1, [['a'], [], []]],
    [[['ssubscribe', 's1']], 'sunsubscribe', ['s1', 's2'], 2, [[], [], []]],
  ];
  for (const [setup, name, args, replies, [c, p, s]] of rows) {
    const subs = new Subscriptions();
    for (const [n, ...a] of setup) subs.apply(n, a);
    const r = subs.apply(name, args);
    const label = `${setup.map((x) => x.join(' ')).join('; ')}${setup.length ? '; ' : ''}${name} ${args.join(' ')}`;
    t.equal(r.replies, replies, `${label}: replies`);
    t.same([[...subs.channels], [...subs.patterns], [...subs.shardChannels]], [c, p, s], `${label}: subscriptions after`);
    t.equal(subs.active, c.length + p.length + s.length > 0, `${label}: active`);
  }
});

t.test('subscriptions: a refused command changes nothing', async (t) => {
  const subs = new Subscriptions();
  subs.apply('subscribe', ['a']);
  const r = subs.apply('subscribe', ['a', 'b']);
  subs.undo(r.change);
  t.same([...subs.channels], ['a']);
  const u = subs.apply('unsubscribe', []);
  subs.undo(u.change);
  t.same([...subs.channels], ['a']);
});

t.test('transaction: states after each command sent', async (t) => {
  const rows: [string[], TxState][] = [
    [[], 'none'],
    [['multi'], 'multi'],
    [['multi', 'set'], 'multi'],
    [['multi', 'exec'], 'none'],
    [['multi', 'discard'], 'none'],
    [['watch'], 'watching'],
    [['watch', 'unwatch'], 'none'],
    [['watch', 'multi'], 'watching-multi'],
    [['watch', 'multi', 'unwatch'], 'watching-multi'], // queued, no effect until EXEC
    [['watch', 'multi', 'exec'], 'none'],
    [['multi', 'reset'], 'none'],
    [['watch', 'get'], 'watching'],
    // EXEC / DISCARD without MULTI: Redis's error, and the keys stay watched (issue 15).
    [['watch', 'exec'], 'watching'],
    [['watch', 'discard'], 'watching'],
    [['exec'], 'none'],
  ];
  for (const [cmds, want] of rows) {
    const tx = new Transaction();
    for (const c of cmds) tx.sent(c);
    t.equal(tx.state, want, cmds.join(' ') || '(nothing)');
  }
});

t.test('transaction: broken by a move to a new master, and answered as Redis would', async (t) => {
  // [commands sent before the move, commands after it] → answers and final state
  const rows: [string[], string[], BrokenAnswer[], TxState][] = [
    [['watch'], ['get', 'multi', 'set', 'exec'], ['forward', 'ok', 'queued', 'exec-null'], 'none'],
    [['multi', 'set'], ['set', 'exec'], ['queued', 'exec-abort'], 'none'],
    [['multi'], ['multi'], ['nested-multi'], 'broken-multi'],
    [['multi'], ['discard'], ['ok'], 'none'],
    [['watch'], ['unwatch'], ['forward'], 'none'],
    [['watch', 'multi'], ['reset'], ['forward'], 'none'],
    [['watch'], ['watch'], ['forward'], 'broken-watching'],
    // EXEC / DISCARD without MULTI go to the node (its error), the broken WATCH stays (issue 15).
    [['watch'], ['exec'], ['forward'], 'broken-watching'],
    [['watch'], ['discard', 'multi', 'exec'], ['forward', 'ok', 'exec-null'], 'none'],
  ];
  for (const [before, after, answers, final] of rows) {
    const tx = new Transaction();
    for (const c of before) tx.sent(c);
    tx.leftLink();
    t.ok(tx.broken, `${before.join(' ')}: broken`);
    const got: BrokenAnswer[] = [];
    for (const c of after) {
      // Asked first (the session holds such a command while commands before it may go again).
      const decides = tx.decides(c);
      const a = tx.brokenAnswer(c);
      t.equal(decides, a !== 'forward', `${before.join(' ')} | … ${c}: decides() says what brokenAnswer does`);
      got.push(a);
      if (a === 'forward') tx.sent(c);
    }
    t.same(got, answers, `${before.join(' ')} | ${after.join(' ')}`);
    t.equal(tx.state, final, `${before.join(' ')} | ${after.join(' ')}: state`);
  }
  const idle = new Transaction();
  idle.leftLink();
  t.equal(idle.state, 'none', 'nothing to break outside a transaction');
});

t.test('router: master, replica, hold or refuse', async (t) => {
  const base: RouteInput = {
    listener: 'master',
    split: true,
    readOnly: true,
    blocking: false,
    txIdle: true,
    subscribed: false,
    sinceWriteMs: 1000,
    readYourWritesMs: 0,
    replica: 'r1',
    atBoundary: true,
    onReplicaLink: false,
    masterUsable: true,
    fallback: 'master',
    replicasMeasured: true,
  };
  const rows: [Partial<RouteInput>, Route][] = [
    [{}, 'replica'],
    [{ split: false }, 'master'],
    [{ readOnly: false }, 'master'],
    [{ blocking: true }, 'master'],
    [{ txIdle: false }, 'master'],
    [{ subscribed: true }, 'master'],
    [{ sinceWriteMs: 10, readYourWritesMs: 500 }, 'master'],
    [{ replica: undefined }, 'master'],
    [{ atBoundary: false }, 'master'],
    [{ atBoundary: false, onReplicaLink: true }, 'replica'],
    [{ readOnly: false, masterUsable: false }, 'hold'],
    [{ replica: undefined, masterUsable: false }, 'hold'],
    [{ listener: 'read' }, 'replica'],
    [{ listener: 'read', readOnly: false }, 'replica'], // writes are refused before routing
    [{ listener: 'read', replica: undefined }, 'master'],
    [{ listener: 'read', replica: undefined, masterUsable: false }, 'hold'],
    [{ listener: 'read', replica: undefined, fallback: 'error' }, 'refuse'],
    [{ listener: 'read', replicasMeasured: false }, 'hold'], // replica health not measured yet
    [{ listener: 'read', replica: undefined, replicasMeasured: false }, 'hold'],
    [{ replicasMeasured: false }, 'replica'], // the master listener's split does not wait
  ];
  for (const [over, want] of rows) t.equal(route({ ...base, ...over }), want, JSON.stringify(over));
});

t.test('transaction: a nested MULTI keeps what the open one queued (issue 15, seed 100)', async (t) => {
  const tx = new Transaction();
  tx.sent('multi');
  tx.queuedEffects = [() => {}];
  tx.sent('multi');
  t.equal(tx.queuedEffects?.length, 1);
  t.equal(tx.state, 'multi');
});

t.test('transaction: a MULTI the node refused opens nothing (issue 15)', async (t) => {
  const tx = new Transaction();
  tx.sent('multi');
  tx.multiRefused();
  t.equal(tx.state, 'none');
  tx.sent('watch');
  tx.sent('multi');
  tx.multiRefused();
  t.equal(tx.state, 'watching');
});

t.test('RESP2 pub/sub context: what Redis refuses there (issue 15)', async (t) => {
  const st = new ReplayState();
  t.notOk(refusedWhileSubscribed(st, 'multi'), 'not subscribed');
  st.subs.apply('subscribe', ['c']);
  const rows: [string, boolean][] = [
    ['multi', true],
    ['hello', true],
    ['select', true],
    ['watch', true],
    ['ping', false],
    ['subscribe', false],
    ['punsubscribe', false],
    ['ssubscribe', false],
    ['quit', false],
    ['reset', false],
  ];
  for (const [kind, refused] of rows) t.equal(refusedWhileSubscribed(st, kind), refused, kind);
  st.protocol = 3;
  st.sentProtocol = 3;
  t.notOk(refusedWhileSubscribed(st, 'multi'), 'RESP3 has no such context');
});

t.test('transaction: what Redis refuses at queue time (unknown command or subcommand, arity), as Redis words it', async (t) => {
  const table = CommandTable.packaged();
  const rows: [string[], string | undefined][] = [
    [['NOSUCHCMD', 'a', 'b'], "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "],
    [['nosuchcmd'], "ERR unknown command 'nosuchcmd', with args beginning with: "],
    [['nosuch', 'x\r\ny'], "ERR unknown command 'nosuch', with args beginning with: 'x  y' "],
    [['client', 'nosuchsub'], "ERR unknown subcommand 'nosuchsub'. Try CLIENT HELP."],
    [['CLIENT', 'SETNAME'], "ERR wrong number of arguments for 'client|setname' command"],
    [['CLIENT'], "ERR wrong number of arguments for 'client' command"],
    [['SET', 'k'], "ERR wrong number of arguments for 'set' command"],
    [['SET', 'k', 'v'], undefined],
    [['client', 'setname', 'n'], undefined],
  ];
  for (const [args, want] of rows) t.equal(queueTimeError(args, table.lookupName(args[0])), want, args.join(' '));
  const long = 'x'.repeat(200);
  t.equal(queueTimeError(['nosuch', long, 'b'], undefined), `ERR unknown command 'nosuch', with args beginning with: '${'x'.repeat(128)}' `);
});

t.test('hold queue: commands put back after a link never connected undo their state changes last first (SUBSCRIBE a then UNSUBSCRIBE left a subscribed)', async (t) => {
  const subs = new Subscriptions();
  subs.apply('subscribe', ['z']);
  const queue = new Deque<Entry>();
  const sent = (name: string, args: string[]): Entry => {
    const { change } = subs.apply(name, args);
    const e = {
      kind: 'forward', expect: 1, cmd: { size: 1 }, local: undefined, sub: true, buffered: false, blocking: false,
      unblockRequested: false, link: undefined, at: 0, t0: 0, clientIdProbe: false, shared: false, more: undefined,
      cancelled: false, replayable: false,
      done: (ok: boolean) => {
        if (!ok) subs.undo(change);
      },
    } as unknown as Entry;
    queue.push(e);
    return e;
  };
  sent('subscribe', ['a']);
  sent('unsubscribe', []);
  sent('psubscribe', ['p*']);
  const back = requeued(queue, undefined);
  t.equal(back.length, 3, 'all three go again');
  t.same([...subs.channels], ['z'], 'the subscriptions before the three');
  t.same([...subs.patterns], []);
  t.equal(queue.length, 0);
});

t.test('RESP2 pub/sub context: a pipelined HELLO 3 counts from when it is sent, not from its reply (issue 15, seed 8002)', async (t) => {
  const st = new ReplayState();
  st.subs.apply('subscribe', ['a']);
  st.sentProtocol = 3; // HELLO 3 sent, its reply not yet read
  t.equal(st.protocol, 2);
  t.notOk(refusedWhileSubscribed(st, 'multi'), 'the node runs MULTI: it is in RESP3 by then');
});

t.test('hold queue: a MULTI the proxy answered for a broken WATCH goes again with the command before it, the transaction undone (seeds 10001, 10006: that command was answered +QUEUED)', async (t) => {
  const table = CommandTable.packaged();
  const cmdOf = (...args: string[]) => {
    const data = encodeCommand(args);
    return { data, size: data.length, argc: args.length, spec: table.lookupName(args[0]), arg1: args[1] === undefined ? undefined : Buffer.from(args[1]), inline: false, src: undefined, off: -1 };
  };
  const tx = new Transaction();
  tx.sent('watch');
  tx.leftLink();
  t.equal(tx.state, 'broken-watching');
  const queue = new Deque<Entry>();
  // CLIENT SETNAME sent on a new link (it never connects), then MULTI answered by the proxy.
  const setname = cmdOf('CLIENT', 'SETNAME', 'n');
  t.equal(brokenReply(tx, setname, 'client', setname.spec, 2), undefined, 'CLIENT SETNAME goes to the node');
  queue.push(newEntry('forward', setname, undefined, 0, 0));
  const multi = cmdOf('MULTI');
  const b = brokenReply(tx, multi, 'multi', multi.spec, 2)!;
  t.equal(b.reply.toString(), '+OK\r\n', 'MULTI answered by the proxy');
  t.equal(tx.state, 'broken-watching-multi');
  const e = newEntry('local', multi, undefined, 0, 0);
  e.local = b.reply;
  e.done = b.undo;
  queue.push(e);
  const back = requeued(queue, undefined);
  t.same(back.map((h) => h.type === 'command' && h.cmd), [setname, multi], 'both go again, in order');
  t.equal(tx.state, 'broken-watching', 'the transaction as before the MULTI');
  t.equal(brokenReply(tx, setname, 'client', setname.spec, 2), undefined, 'CLIENT SETNAME goes to the node again, not +QUEUED');
});
