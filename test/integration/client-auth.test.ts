// Client authentication by the proxy (issue 6): users with hashed passwords in the config; AUTH
// and HELLO AUTH answered by the proxy; `read` users cannot write.
import t from 'tap';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { withGroup } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { rawClient } from '../helpers/raw.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

t.test('client authentication by the proxy', async (t) => {
  const group = await withGroup(t, { replicas: 1, password: 'backend-secret' });
  const p = await withProxy(t, group, {
    auth: { password: 'backend-secret' },
    sentinelAuth: { password: 'backend-secret' },
    clientAuth: {
      users: [
        { name: 'default', passwordSha256: sha('default-pw'), access: 'write' },
        { name: 'writer', passwordSha256: sha('writer-pw'), access: 'write' },
        { name: 'reader', passwordSha256: sha('reader-pw'), access: 'read' },
      ],
    },
  });
  const master = new Redis({ port: group.nodes[0].port, password: 'backend-secret' });
  t.teardown(() => master.disconnect());
  const clientsBefore = String(await master.client('LIST')).trim().split('\n').length;

  await t.test('before AUTH: only AUTH, HELLO, PING and QUIT', async (t) => {
    const r = await rawClient(p.port);
    t.equal(await r.cmd('GET', 'k'), '-NOAUTH Authentication required.\r\n');
    t.equal(await r.cmd('PING'), '+PONG\r\n');
    t.match(await r.cmd('HELLO', '3'), /^-NOAUTH HELLO must be called with the client already authenticated/);
    t.equal(await r.cmd('AUTH', 'writer', 'wrong'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    t.equal(await r.cmd('AUTH', 'backend-secret'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n', "Redis's own password is not a proxy user's");
    // Redis's stricter limits before authentication.
    r.send('*1\r\n$20000\r\n');
    t.match(await r.closed(), /-ERR Protocol error: unauthenticated bulk length\r\n$/);
    const others = Array.from({ length: 20 }, () => rawClient(p.port));
    for (const o of await Promise.all(others)) {
      t.equal(await o.cmd('PING'), '+PONG\r\n');
      o.close();
    }
    const clientsNow = String(await master.client('LIST')).trim().split('\n').length;
    t.equal(clientsNow, clientsBefore, 'unauthenticated clients open no connection to Redis');
  });

  await t.test('a write user', async (t) => {
    const r = await rawClient(p.port);
    t.equal(await r.cmd('AUTH', 'writer', 'writer-pw'), '+OK\r\n');
    t.equal(await r.cmd('SET', 'k', 'v'), '+OK\r\n');
    t.equal(await r.cmd('GET', 'k'), '$1\r\nv\r\n');
    t.equal(await r.cmd('RESET'), '+RESET\r\n');
    t.equal(await r.cmd('GET', 'k'), '-NOAUTH Authentication required.\r\n', 'RESET deauthenticates');
    t.equal(await r.cmd('AUTH', 'default-pw'), '+OK\r\n', 'AUTH <password> is the user "default"');
    t.equal(await r.cmd('GET', 'k'), '$1\r\nv\r\n', 'the link was authenticated again after RESET');
    r.close();
    const io = new Redis({ port: p.port, username: 'writer', password: 'writer-pw', maxRetriesPerRequest: 0, retryStrategy: () => null });
    t.teardown(() => io.disconnect());
    t.equal(await io.incr('n'), 1);
  });

  await t.test('a read user cannot write', async (t) => {
    const r = await rawClient(p.port);
    t.match(await r.cmd('HELLO', '3', 'AUTH', 'reader', 'reader-pw', 'SETNAME', 'rd'), /^%7\r\n/);
    t.equal(await r.cmd('GET', 'k'), '$1\r\nv\r\n');
    t.match(await r.cmd('SET', 'k', 'x'), /^-NOPERM/);
    t.match(await r.cmd('EVAL', 'return 1', '0'), /^-NOPERM/);
    t.equal(await r.cmd('MULTI'), '+OK\r\n');
    t.match(await r.cmd('DEL', 'k'), /^-NOPERM/);
    t.equal(await r.cmd('EXEC'), '-EXECABORT Transaction discarded because of previous errors.\r\n');
    t.equal(await r.cmd('CLIENT', 'GETNAME'), '$2\r\nrd\r\n');
    t.equal(await r.cmd('GET', 'k'), '$1\r\nv\r\n', 'nothing was written');
    r.close();
  });
});
