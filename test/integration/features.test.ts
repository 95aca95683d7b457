// Every Redis feature of DESIGN.md "Sessions" through the proxy, against a real group.
import t from 'tap';
import { Redis } from 'ioredis';
import { withGroup, redisCli } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { encode, rawClient } from '../helpers/raw.js';

t.test('features through the proxy', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const master = group.nodes[0];

  t.test('MULTI/EXEC/DISCARD and WATCH', async (t) => {
    const c = p.client();
    const res = await c.multi().set('tx:a', '1').incr('tx:a').get('tx:a').exec();
    t.same(res, [[null, 'OK'], [null, 2], [null, '2']]);
    const r = await rawClient(p.port);
    t.same(await r.cmd('MULTI'), '+OK\r\n');
    t.same(await r.cmd('SET', 'tx:c', 'x'), '+QUEUED\r\n');
    t.same(await r.cmd('DISCARD'), '+OK\r\n');
    t.same(await r.cmd('EXISTS', 'tx:c'), ':0\r\n');
    // WATCH: a concurrent change makes EXEC return null.
    const other = p.client();
    t.equal(await r.cmd('WATCH', 'tx:w'), '+OK\r\n');
    await other.set('tx:w', 'changed');
    t.equal(await r.cmd('MULTI'), '+OK\r\n');
    t.equal(await r.cmd('SET', 'tx:w', 'mine'), '+QUEUED\r\n');
    t.equal(await r.cmd('EXEC'), '*-1\r\n');
    t.equal(await other.get('tx:w'), 'changed');
    // An error inside the transaction is Redis's own.
    t.equal(await r.cmd('MULTI'), '+OK\r\n');
    t.match(await r.cmd('NOSUCHCOMMAND'), /^-ERR unknown command/);
    t.match(await r.cmd('EXEC'), /^-EXECABORT/);
    r.close();
  });

  t.test('EVAL, EVALSHA, FUNCTION LOAD, FCALL', async (t) => {
    const c = p.client();
    t.equal(await c.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, 'lua:k', 'v'), 'OK');
    const sha = (await c.script('LOAD', "return redis.call('GET', KEYS[1])")) as string;
    t.equal(await c.evalsha(sha, 1, 'lua:k'), 'v');
    await c.call('FUNCTION', 'LOAD', 'REPLACE', "#!lua name=testlib\nredis.register_function('myget', function(keys, args) return redis.call('GET', keys[1]) end)");
    t.equal(await c.call('FCALL', 'myget', 1, 'lua:k'), 'v');
    t.equal(await c.call('EVAL_RO', "return redis.call('GET', KEYS[1])", 1, 'lua:k'), 'v');
  });

  t.test('SELECT and CLIENT SETNAME stick to the session', async (t) => {
    const c = p.client();
    await c.select(3);
    await c.set('db3key', 'x');
    t.equal(await c.get('db3key'), 'x');
    await c.client('SETNAME', 'proxy-test-name');
    t.equal(await c.client('GETNAME'), 'proxy-test-name');
    const d = p.client();
    t.equal(await d.get('db3key'), null, 'another session is still on db 0');
    t.match(String(await master.call('CLIENT', 'LIST')), /name=proxy-test-name .*db=3/);
  });

  t.test('HELLO 3 with SETNAME, RESP3 replies and push frames', async (t) => {
    const r = await rawClient(p.port);
    const hello = await r.cmd('HELLO', '3', 'SETNAME', 'resp3client');
    t.match(hello, /^%7\r\n/, 'HELLO 3 answers a map');
    t.match(hello, /proto\r\n:3/);
    t.equal(await r.cmd('HSET', 'h3', 'f', 'v'), ':1\r\n');
    t.equal(await r.cmd('HGETALL', 'h3'), '%1\r\n$1\r\nf\r\n$1\r\nv\r\n');
    t.equal(await r.cmd('GET', 'nonexistent-key'), '_\r\n');
    t.equal(await r.cmd('CLIENT', 'GETNAME'), '$11\r\nresp3client\r\n');
    // RESP3 pub/sub: confirmations and messages are pushes; commands still work while subscribed.
    t.equal(await r.cmd('SUBSCRIBE', 'ch3'), '>3\r\n$9\r\nsubscribe\r\n$3\r\nch3\r\n:1\r\n');
    t.equal(await r.cmd('PING'), '+PONG\r\n');
    await p.client().publish('ch3', 'hello3');
    t.equal((await r.read(1))[0], '>3\r\n$7\r\nmessage\r\n$3\r\nch3\r\n$6\r\nhello3\r\n');
    t.equal(await r.cmd('SET', 'while-subscribed', '1'), '+OK\r\n');
    t.equal(await r.cmd('UNSUBSCRIBE'), '>3\r\n$11\r\nunsubscribe\r\n$3\r\nch3\r\n:0\r\n');
    t.match(await r.cmd('HELLO', '2'), /^\*14\r\n/);
    t.equal(await r.cmd('GET', 'nonexistent-key'), '$-1\r\n');
    r.close();
  });

  t.test('SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE in RESP2', async (t) => {
    const sub = p.client();
    const pub = p.client();
    const got: string[] = [];
    sub.on('message', (ch, m) => got.push(`m:${ch}:${m}`));
    sub.on('pmessage', (pat, ch, m) => got.push(`p:${pat}:${ch}:${m}`));
    await sub.subscribe('news', 'sport');
    await sub.psubscribe('n*');
    await pub.publish('news', 'a');
    await pub.publish('sport', 'b');
    const deadline = Date.now() + 5000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    t.same(got.sort(), ['m:news:a', 'm:sport:b', 'p:n*:news:a'].sort());
    await sub.unsubscribe('sport');
    await sub.punsubscribe('n*'); // ioredis 6 hangs on a PUNSUBSCRIBE without arguments, even against Redis directly
    t.equal(await sub.ping(), 'PONG', 'PING while subscribed (RESP2 answers an array)');

    const r = await rawClient(p.port);
    t.equal(await r.cmd('SSUBSCRIBE', 'shard1'), '*3\r\n$10\r\nssubscribe\r\n$6\r\nshard1\r\n:1\r\n');
    await pub.call('SPUBLISH', 'shard1', 'sp');
    t.equal((await r.read(1))[0], '*3\r\n$8\r\nsmessage\r\n$6\r\nshard1\r\n$2\r\nsp\r\n');
    r.send(encode('SUBSCRIBE', 'x1', 'x2'));
    t.same(await r.read(2), ['*3\r\n$9\r\nsubscribe\r\n$2\r\nx1\r\n:1\r\n', '*3\r\n$9\r\nsubscribe\r\n$2\r\nx2\r\n:2\r\n']);
    r.send(encode('UNSUBSCRIBE'));
    t.equal((await r.read(2)).length, 2, 'UNSUBSCRIBE without arguments confirms each channel');
    t.equal(await r.cmd('PING'), '*2\r\n$4\r\npong\r\n$0\r\n\r\n');
    r.close();
  });

  t.test('blocking commands: BLPOP, BRPOPLPUSH, BLMOVE, XREAD BLOCK, WAIT', async (t) => {
    const a = p.client();
    const b = p.client();
    const pop = a.blpop('bl:list', 5);
    await new Promise((r) => setTimeout(r, 50));
    await b.rpush('bl:list', 'x');
    t.same(await pop, ['bl:list', 'x']);
    const mv = a.brpoplpush('bl:src', 'bl:dst', 5);
    await b.rpush('bl:src', 'y');
    t.equal(await mv, 'y');
    const lm = a.blmove('bl:dst', 'bl:dst2', 'LEFT', 'RIGHT', 5);
    t.equal(await lm, 'y');
    const xr = a.xread('BLOCK', 5000, 'STREAMS', 'bl:stream', '$');
    await new Promise((r) => setTimeout(r, 50));
    await b.xadd('bl:stream', '*', 'f', 'v');
    const xres = (await xr) as [string, [string, string[]][]][];
    t.equal(xres[0][0], 'bl:stream');
    t.same(xres[0][1][0][1], ['f', 'v']);
    t.equal(await a.call('WAIT', 1, 2000), 1, 'WAIT sees the replica');
    t.same(await a.blpop('bl:empty', 0.1), null, 'a timed-out BLPOP answers null');
  });

  t.test('a 100 MB value and a 10,000-command pipeline', async (t) => {
    const c = p.client();
    const big = Buffer.alloc(100 * 1024 * 1024, 'z');
    big.write('start', 0);
    big.write('end', big.length - 3);
    t.equal(await c.set('big', big), 'OK');
    const back = await c.getBuffer('big');
    t.equal(back!.length, big.length);
    t.ok(back!.equals(big), 'identical bytes');
    await c.del('big');
    const pipe = c.pipeline();
    for (let i = 0; i < 10_000; i++) pipe.set(`p:${i}`, `${i}`).get(`p:${i}`);
    const res = await pipe.exec();
    t.equal(res!.length, 20_000);
    t.ok(res!.every(([err], i) => !err && (i % 2 === 0 ? res![i][1] === 'OK' : res![i][1] === String((i - 1) / 2))));
  });

  t.test('input split at every byte, inline commands', async (t) => {
    const r = await rawClient(p.port);
    const input = Buffer.concat([encode('SET', 'split', 'a\r\nb'), encode('GET', 'split'), Buffer.from('PING\r\n'), Buffer.from('\r\n'), Buffer.from('set inl "x y"\n'), Buffer.from('GET inl\r\n')]);
    await r.sendBytewise(input);
    t.same(await r.read(5), ['+OK\r\n', '$4\r\na\r\nb\r\n', '+PONG\r\n', '+OK\r\n', '$3\r\nx y\r\n']);
    r.close();
  });

  t.test('redis-cli works through the proxy', async (t) => {
    t.equal((await redisCli(p.port, 'SET', 'cli', 'hello')).trim(), 'OK');
    t.equal((await redisCli(p.port, 'GET', 'cli')).trim(), 'hello');
  });

  t.test('commands that would reconfigure the group are refused', async (t) => {
    const r = await rawClient(p.port);
    for (const cmd of [['SYNC'], ['PSYNC', '?', '-1'], ['REPLICAOF', '127.0.0.1', '1'], ['SLAVEOF', 'NO', 'ONE'], ['FAILOVER']]) {
      t.match(await r.cmd(...cmd), /^-ERR this command is refused by redis-sentinel-proxy/, cmd[0]);
    }
    t.equal(await r.cmd('PING'), '+PONG\r\n', 'the session goes on');
    t.equal(await master.call('ROLE').then((x) => (x as string[])[0]), 'master');
    r.close();
  });

  t.test('malformed input: Redis\'s error, then close; other clients unaffected', async (t) => {
    const other = p.client();
    const cases: [string, RegExp][] = [
      ['*1\r\nfoo\r\n', /^-ERR Protocol error: expected '\$', got 'f'\r\n$/],
      ['*3000000000\r\n', /^-ERR Protocol error: invalid multibulk length\r\n$/],
      ['*1\r\n$-5\r\n', /^-ERR Protocol error: invalid bulk length\r\n$/],
      ['set "a b\r\n', /^-ERR Protocol error: unbalanced quotes in request\r\n$/],
      ['PING\r\n*1\r\nx\r\n', /^\+PONG\r\n-ERR Protocol error: expected '\$', got 'x'\r\n$/],
    ];
    for (const [input, want] of cases) {
      const r = await rawClient(p.port);
      r.send(input);
      t.match(await r.closed(), want, JSON.stringify(input));
    }
    t.equal(await other.ping(), 'PONG');
  });

  t.test('QUIT answers OK and closes', async (t) => {
    const r = await rawClient(p.port);
    r.send(encode('SET', 'q', '1'));
    r.send(encode('QUIT'));
    t.equal(await r.closed(), '+OK\r\n+OK\r\n');
  });

  t.test('CLIENT REPLY OFF/SKIP/ON keep replies in step', async (t) => {
    const r = await rawClient(p.port);
    r.send(Buffer.concat([encode('CLIENT', 'REPLY', 'SKIP'), encode('SET', 'rs', '1'), encode('GET', 'rs'), encode('CLIENT', 'REPLY', 'OFF'), encode('SET', 'rs', '2'), encode('CLIENT', 'REPLY', 'ON'), encode('GET', 'rs')]));
    t.same(await r.read(3), ['$1\r\n1\r\n', '+OK\r\n', '$1\r\n2\r\n']);
    r.close();
  });
});

t.test('AUTH with a password and with an ACL user, HELLO AUTH', async (t) => {
  const group = await withGroup(t, { replicas: 1, password: 'sekret-pass' });
  for (const n of group.nodes) await n.call('ACL', 'SETUSER', 'app', 'on', '>app-pass', '~*', '+@all');
  const p = await withProxy(t, group, { sentinelAuth: { password: 'sekret-pass' }, auth: { password: 'sekret-pass' } });
  // The proxy authenticates its session links with the configured credentials...
  const c = p.client();
  t.equal(await c.set('a', '1'), 'OK');
  // ...and a client's own AUTH passes through to Redis.
  const r = await rawClient(p.port);
  t.match(await r.cmd('AUTH', 'wrong'), /^-WRONGPASS/);
  t.equal(await r.cmd('AUTH', 'app', 'app-pass'), '+OK\r\n');
  t.equal(await r.cmd('ACL', 'WHOAMI'), '$3\r\napp\r\n');
  t.match(await r.cmd('HELLO', '3', 'AUTH', 'default', 'sekret-pass', 'SETNAME', 'h3'), /^%7/);
  t.equal(await r.cmd('ACL', 'WHOAMI'), '$7\r\ndefault\r\n');
  r.close();
  const viaIoredis = new Redis({ port: p.port, username: 'app', password: 'app-pass', maxRetriesPerRequest: 0, retryStrategy: () => null });
  t.teardown(() => viaIoredis.disconnect());
  t.equal(await viaIoredis.call('ACL', 'WHOAMI'), 'app');
});
