// TLS on every leg, each configured separately, against a TLS-only group: redis-server and
// redis-sentinel with `port 0` + `tls-port`, certificates generated at test time
// (test/helpers/tls.ts). The nodes' certificate names only `redis.test`, never 127.0.0.1, which is
// what Sentinel announces: hostname verification succeeds only through `servername` /
// `servernameMap`, and a wrong name must fail.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { Redis } from 'ioredis';
import type { TlsClientOptions, TlsServerOptions } from '../../src/config/types.js';
import { withGroup, waitFor, redisCall, sleep, type HasTeardown } from '../helpers/group.js';
import { withProxy, type TestProxy } from '../helpers/proxy.js';
import { testPki, sandboxTls, type TestPki } from '../helpers/tls.js';

async function getJson(port: number, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

/** /topology of the one group. */
async function topology(p: TestProxy): Promise<any> {
  const { body } = await getJson(p.adminPort!, '/topology');
  return Array.isArray(body) ? body[0] : Array.isArray(body?.groups) ? body.groups[0] : body;
}

function waitReady(p: TestProxy, timeoutMs = 20_000): Promise<unknown> {
  return waitFor(async () => (await getJson(p.adminPort!, '/readyz')).status === 200, { timeoutMs, what: 'proxy /readyz 200' });
}

/** A TLS client of the proxy's listener (ioredis), closed on teardown. */
function tlsClient(t: HasTeardown, p: TestProxy, opts: tls.ConnectionOptions): Redis {
  const c = new Redis({
    host: '127.0.0.1',
    port: p.port,
    tls: opts,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: true,
    lazyConnect: true,
  });
  c.on('error', () => {});
  t.teardown(() => c.disconnect());
  return c;
}

/** Raw TLS handshake with the listener: resolves 'PONG' / the error message / 'closed'. */
function tlsPing(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts }, () => s.write('PING\r\n'));
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`timeout (${got})`);
    }, 5000);
    const done = (v: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n')) done(got.trim());
    });
    s.on('error', (e) => done(`error: ${e.message}`));
    s.on('close', () => done(got ? got.trim() : 'closed'));
  });
}

function logText(p: TestProxy): string {
  return fs.readFileSync(p.logFile, 'utf8');
}

t.test('TLS on every leg', async (t) => {
  const pki: TestPki = await testPki();
  const group = await withGroup(t, { replicas: 1, sentinels: 3, tls: sandboxTls(pki) });

  const listener: TlsServerOptions = { cert: pki.proxy.cert, key: pki.proxy.key, ca: pki.ca, requestCert: true };
  // Redis requires client certificates (tls-auth-clients yes): the proxy presents `client`.
  const backend: TlsClientOptions = {
    ca: pki.ca,
    cert: pki.client.cert,
    key: pki.client.key,
    servernameMap: { '127.0.0.1': 'redis.test' },
    rejectUnauthorized: true,
  };
  const sentinel: TlsClientOptions = { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, servername: 'redis.test', rejectUnauthorized: true };
  const clientTls: tls.ConnectionOptions = { ca: pki.ca, cert: pki.client.cert, key: pki.client.key };

  t.test('the sandbox group is TLS only', async (t) => {
    const s = group.sentinels[0]!;
    const n = group.nodes[0]!;
    t.equal(await s.call('PING'), 'PONG', 'sentinel answers over TLS');
    t.equal(await n.call('ROLE').then((r) => (r as unknown[])[0]), 'master', 'node answers over TLS');
    await t.rejects(redisCall(s.port, ['PING'], { timeoutMs: 1000 }), 'plain TCP to a sentinel fails');
    await t.rejects(redisCall(n.port, ['PING'], { timeoutMs: 1000 }), 'plain TCP to a node fails');
    const cfg = (await n.call('CONFIG', 'GET', 'port')) as string[];
    t.same(cfg, ['port', '0'], 'no plain port');
    // The node's certificate does not name 127.0.0.1: default verification fails.
    t.match(await tlsPing(n.port, { ca: pki.ca, cert: pki.client.cert, key: pki.client.key }), /^error: .*IP: 127\.0\.0\.1 is not in the cert's list/);
    t.match(await tlsPing(n.port, { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, servername: 'redis.test' }), /^\+PONG/);
    t.match(await tlsPing(n.port, { ca: pki.ca, servername: 'redis.test' }), /^(error|closed)/, 'Redis requires a client certificate');
    t.equal(
      await redisCall(n.port, ['PING'], { timeoutMs: 1000, tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, servername: 'redis.test' } }),
      'PONG',
      'with servername redis.test it verifies',
    );
  });

  t.test('a TLS client reaches the TLS-only group found through TLS-only sentinels, across a failover', async (t) => {
    const p = await withProxy(t, group, { tls: { listener, backend, sentinel }, admin: true });
    await waitReady(p);
    const topo = await topology(p);
    t.equal(topo.master, await group.currentMaster(), 'master found through TLS sentinels and verified over TLS');
    t.equal(topo.sentinels.reachable, 3, 'every sentinel reachable over TLS (one configured, others discovered)');

    const c = tlsClient(t, p, clientTls);
    await c.connect();
    t.equal(await c.ping(), 'PONG');
    t.equal(await c.set('tls:k', 'v'), 'OK');
    t.equal(await c.get('tls:k'), 'v');
    const pipe = c.pipeline();
    for (let i = 0; i < 500; i++) pipe.incr('tls:n');
    await pipe.exec();
    t.equal(await c.get('tls:n'), '500');
    // The proxy's connection to the master is TLS (the node has no plain port) and presents the
    // client certificate (tls-auth-clients yes): CLIENT LIST on the node shows it.
    const list = String(await group.node(topo.master)!.call('CLIENT', 'LIST'));
    t.ok(list.split('\n').length >= 2, 'proxy connections on the master');

    // A blocked command and a stream of INCRs across a planned failover, all over TLS.
    const blocker = tlsClient(t, p, clientTls);
    await blocker.connect();
    const blpop = blocker.blpop('tls:list', 0);
    await sleep(200);
    let stop = false;
    let acked = 0;
    const errors: string[] = [];
    const writer = (async () => {
      while (!stop) {
        try {
          await c.incr('tls:f');
          acked++;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    })();
    const oldMaster = topo.master as string;
    const newMaster = await group.failover();
    t.not(newMaster, oldMaster);
    await waitFor(async () => (await topology(p)).master === newMaster, { what: 'proxy on the new master' });
    await sleep(300);
    stop = true;
    await writer;
    t.same(errors, [], 'no client-visible error across the failover');
    t.equal(Number(await c.get('tls:f')), acked, 'every acknowledged INCR is on the new master');
    await c.lpush('tls:list', 'x');
    t.same(await blpop, ['tls:list', 'x'], 'the blocked command moved to the new master');
    // The proxy's own links to the nodes (ROLE checks, CLIENT UNBLOCK) verify through the map too.
    const log = logText(p);
    t.notMatch(log, /CLIENT UNBLOCK failed/, 'CLIENT UNBLOCK on the old master over TLS worked');
    t.notMatch(log, /altnames|self.signed|unable to verify/i, 'no certificate verification failure anywhere');
  });

  t.test('listener: client certificates required when requestCert', async (t) => {
    const p = await withProxy(t, group, { tls: { listener, backend, sentinel } });
    t.equal(await tlsPing(p.port, clientTls), '+PONG', 'with a certificate from the CA');
    t.match(await tlsPing(p.port, { ca: pki.ca }), /^(error|closed)/, 'without a client certificate: refused');
    t.match(
      await tlsPing(p.port, { ca: pki.ca, cert: pki.rogueClient.cert, key: pki.rogueClient.key }),
      /^(error|closed)/,
      'with a certificate from another CA: refused',
    );
    t.match(await tlsPing(p.port, { ca: pki.rogueCa, cert: pki.client.cert, key: pki.client.key }), /^error/, 'the proxy is verified by its clients');
    // Plain RESP on the TLS port gets nothing but a closed connection.
    const plain = await new Promise<string>((resolve) => {
      const s = net.connect(p.port, '127.0.0.1', () => s.write('PING\r\n'));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => resolve(got));
      setTimeout(() => s.destroy(), 3000);
    });
    t.notMatch(plain, /PONG/, 'plain TCP client on the TLS listener gets no reply');
  });

  t.test('listener without requestCert: server-only TLS; legs configured separately', async (t) => {
    const p = await withProxy(t, group, { tls: { listener: { cert: pki.proxy.cert, key: pki.proxy.key, requestCert: false }, backend, sentinel } });
    t.equal(await tlsPing(p.port, { ca: pki.ca }), '+PONG', 'no client certificate needed');
    t.equal(await tlsPing(p.port, { ca: pki.ca, servername: 'proxy.test' }), '+PONG', 'SAN proxy.test');
  });

  t.test('plain listener in front of TLS backends and sentinels', async (t) => {
    const p = await withProxy(t, group, { tls: { backend, sentinel } });
    const c = p.client();
    t.equal(await c.set('tls:plain', '1'), 'OK');
    t.equal(await c.get('tls:plain'), '1');
  });

  t.test('backend servername: a per-address entry works, a wrong name or none fails verification', async (t) => {
    const master = await group.currentMaster();
    const byAddr = {} as Record<string, string>;
    for (const n of group.nodes) byAddr[n.addr] = 'redis.test';
    t.test('per "ip:port" entries', async (t) => {
      const p = await withProxy(t, group, { tls: { backend: { ...backend, servernameMap: byAddr }, sentinel }, admin: true });
      await waitReady(p);
      t.equal(await p.client().ping(), 'PONG');
    });
    t.test('a single servername', async (t) => {
      const { servernameMap: _m, ...rest } = backend;
      const p = await withProxy(t, group, { tls: { backend: { ...rest, servername: 'redis.test' }, sentinel }, admin: true });
      await waitReady(p);
      t.equal(await p.client().ping(), 'PONG');
    });
    for (const [what, b] of [
      ['a wrong name in the map', { ...backend, servernameMap: { '127.0.0.1': 'wrong.test' } }],
      ['a wrong servername', { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, servername: 'wrong.test', rejectUnauthorized: true }],
      ['no name: the announced IP is verified and is not in the certificate', { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, rejectUnauthorized: true }],
      ['the map entry of another address', { ...backend, servernameMap: { '10.9.9.9': 'redis.test' } }],
    ] as [string, TlsClientOptions][]) {
      t.test(what, async (t) => {
        const p = await withProxy(t, group, { tls: { backend: b, sentinel }, admin: true, failover: { holdTimeoutMs: 1500 } });
        // Sentinels are fine (their own TLS settings): the master is named but never verified.
        await waitFor(async () => (await topology(p)).sentinels.reachable === 3, { what: 'sentinels reachable' });
        await sleep(1500);
        const topo = await topology(p);
        t.not(topo.master, master, 'the named master is not accepted: its certificate does not verify');
        t.equal((await getJson(p.adminPort!, '/readyz')).status, 503, 'not ready');
        const reply = await p
          .client()
          .ping()
          .then(
            (v) => `+${v}`,
            (e: Error) => `-${e.message}`,
          );
        t.match(reply, /^-(TRYAGAIN|MASTERDOWN|ERR)/, 'commands get a retryable error, never reach an unverified node');
        const ready = await getJson(p.adminPort!, '/readyz');
        t.match(JSON.stringify(ready.body), /not verified: .*(altnames|SSL routines)/, '/readyz says why: the certificate does not verify (the altnames check, or the server alert when the client gave up first)');
      });
    }
  });

  t.test('sentinel TLS: a wrong servername or an untrusted CA fails verification', async (t) => {
    for (const [what, s] of [
      ['wrong servername', { ...sentinel, servername: 'wrong.test' }],
      ['no servername', { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, rejectUnauthorized: true }],
      ['untrusted CA', { ...sentinel, ca: pki.rogueCa }],
      ['no TLS to a TLS-only sentinel', undefined],
    ] as [string, TlsClientOptions | undefined][]) {
      t.test(what, async (t) => {
        const p = await withProxy(t, group, { tls: { backend, ...(s ? { sentinel: s } : {}) }, admin: true });
        await sleep(1500);
        const topo = await topology(p);
        t.equal(topo.sentinels.reachable, 0, 'no sentinel is reachable');
        t.equal(topo.master, null, 'no master');
        t.equal((await getJson(p.adminPort!, '/readyz')).status, 503);
        if (s) {
          const why = s.ca === pki.rogueCa ? /certificate|self.signed|unable to (get|verify)/i : /altnames/;
          t.match(logText(p), /sentinel unreachable/, 'logged at warn');
          // The reason is in the debug log ("sentinel connection error"); /topology's lastError is
          // overwritten by the poll's "connect timed out".
          t.match(logText(p), why, 'the verification failure is in the log');
        }
      });
    }
    t.test('with rejectUnauthorized: false the name is not checked (documented escape hatch)', async (t) => {
      const p = await withProxy(t, group, {
        tls: { backend: { ...backend, servernameMap: {}, rejectUnauthorized: false }, sentinel: { ...sentinel, servername: 'wrong.test', rejectUnauthorized: false } },
        admin: true,
      });
      await waitReady(p);
      t.equal(await p.client().ping(), 'PONG');
    });
  });
});
