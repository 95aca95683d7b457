// listenerWarnings(): a warning for each listener reachable beyond loopback without TLS or client
// authentication (and for a non-loopback admin server); clientTlsOptions(): the verification name.
import t from 'tap';
import { defaultProxyConfig, type GroupConfigInput } from '../../src/config/defaults.js';
import type { ProxyConfig } from '../../src/config/types.js';
import { clientTlsOptions, isLoopback, listenerWarnings } from '../../src/security.js';

const PEM = { cert: 'CERT', key: 'KEY' };
const users = { users: [{ name: 'app', passwordSha256: 'a'.repeat(64), access: 'write' as const }] };

function config(groups: Partial<GroupConfigInput>[], admin?: string): ProxyConfig {
  return defaultProxyConfig({
    admin: admin ? { listen: { host: admin, port: 9121 } } : {},
    groups: groups.map((g, i) => ({ name: `g${i}`, listen: '127.0.0.1:0', sentinels: ['127.0.0.1:26379'], ...g })),
  });
}

t.test('isLoopback', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '0::1', 'localhost', 'LOCALHOST', 'db.localhost', '::ffff:127.0.0.1', '::1%lo'])
    t.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '', '10.0.0.1', '128.0.0.1', '192.168.1.1', '::2', '1::1', '::ffff:10.0.0.1', 'redis.example.com', 'localhost.example.com', 'fe80::1', '0:0:0:0:0:0:1:1'])
    t.notOk(isLoopback(h), JSON.stringify(h));
});

t.test('listenerWarnings', async (t) => {
  t.same(listenerWarnings(config([{}])), [], 'loopback: nothing to say');
  t.same(listenerWarnings(config([{ listen: 'localhost:6379', readListen: '[::1]:6380' }])), [], 'localhost and ::1');

  const open = listenerWarnings(config([{ name: 'cache', listen: '0.0.0.0:6379' }]));
  t.equal(open.length, 1);
  t.match(open[0], /^group cache: listener 0\.0\.0\.0:6379 is reachable beyond loopback without TLS \(tls\.listener\) and without client authentication \(clientAuth\)/);
  t.match(open[0], /clear text/);
  t.match(open[0], /anyone who can reach the port/);

  const injected = listenerWarnings(config([{ listen: '0.0.0.0:6379', auth: { username: 'svc', password: 'pw' } }]));
  t.match(injected[0], /runs commands as the proxy's backend user "svc" \(auth\), without a password/, 'backend credentials injected for everyone');
  t.notMatch(injected[0], /pw/, 'never the password');

  const tlsOnly = listenerWarnings(config([{ listen: '10.0.0.5:6379', tls: { listener: { ...PEM, requestCert: false } } }]));
  t.equal(tlsOnly.length, 1);
  t.match(tlsOnly[0], /without client authentication \(clientAuth\)/);
  t.notMatch(tlsOnly[0], /TLS/);

  const authOnly = listenerWarnings(config([{ listen: '10.0.0.5:6379', clientAuth: users }]));
  t.equal(authOnly.length, 1);
  t.match(authOnly[0], /without TLS \(tls\.listener\):/);
  t.notMatch(authOnly[0], /client authentication/);

  t.same(listenerWarnings(config([{ listen: '0.0.0.0:6379', tls: { listener: { ...PEM, requestCert: true } }, clientAuth: users }])), [], 'both: no warning');
  t.same(listenerWarnings(config([{ listen: '0.0.0.0:6379', clientAuth: { users: [] } }])).length, 1, 'clientAuth with no user protects nothing');

  t.same(
    listenerWarnings(config([{ listen: '0.0.0.0:6379', tls: { listener: { ...PEM, requestCert: false } } }]), { checkClientAuth: false }),
    [],
    'checkClientAuth: false checks TLS only',
  );

  const both = listenerWarnings(config([{ listen: '127.0.0.1:6379', readListen: '[::]:6380' }, { listen: '192.168.0.2:7000' }]));
  t.equal(both.length, 2, 'one per exposed listener, loopback ones skipped');
  t.match(both[0], /^group g0: read-only listener \[::\]:6380 /);
  t.match(both[1], /^group g1: listener 192\.168\.0\.2:7000 /);

  const admin = listenerWarnings(config([{}], '0.0.0.0'));
  t.equal(admin.length, 1);
  t.match(admin[0], /^admin server 0\.0\.0\.0:9121 is reachable beyond loopback: it has no TLS and no authentication/);
  t.same(listenerWarnings(config([{}], '127.0.0.1')), []);
});

t.test('clientTlsOptions: the name verified for an announced address', async (t) => {
  const base = { ca: 'CA', rejectUnauthorized: true };
  const map = { '10.0.0.1:6379': 'by-addr.test', '10.0.0.1': 'by-host.test', '::1': 'v6.test' };
  t.equal(clientTlsOptions({ ...base, servernameMap: map, servername: 'default.test' }, '10.0.0.1', 6379).servername, 'by-addr.test', 'ip:port first');
  t.equal(clientTlsOptions({ ...base, servernameMap: map, servername: 'default.test' }, '10.0.0.1', 6380).servername, 'by-host.test', 'then ip');
  t.equal(clientTlsOptions({ ...base, servernameMap: map, servername: 'default.test' }, '10.0.0.2', 6379).servername, 'default.test', 'then servername');
  t.equal(clientTlsOptions({ ...base, servernameMap: map }, '[::1]', 6379).servername, 'v6.test', 'IPv6 with brackets');
  t.equal(clientTlsOptions(base, 'redis.internal', 6379).servername, 'redis.internal', 'a host name is its own SNI');
  const bare = clientTlsOptions({ rejectUnauthorized: false }, '10.0.0.2', 6379);
  t.same(bare, { rejectUnauthorized: false }, 'no undefined keys (tls.connect throws ERR_INTERNAL_ASSERTION on checkServerIdentity: undefined)');
  t.notOk('servername' in bare, 'no SNI for an IP address');
});
