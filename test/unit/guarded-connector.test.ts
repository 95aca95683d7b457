// ioredis's own connector listens for a socket's errors with `once`: a TLS socket that reports a
// second error (a failed certificate check, then the server's alert) threw it as an uncaught
// exception and ended the process (test/integration/tls.test.ts, "the map entry of another
// address", once in a full run). The proxy's connections use GuardedConnector.
import t from 'tap';
import tls from 'node:tls';
import type net from 'node:net';
import { Redis } from 'ioredis';
import { testPki } from '../helpers/tls.js';
import { GuardedConnector } from '../../src/topology/guarded-connector.js';

async function tlsServer(t: { teardown(fn: () => unknown): void }): Promise<number> {
  const pki = await testPki();
  const server = tls.createServer({ cert: pki.node.cert, key: pki.node.key });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** A client whose certificate check fails (wrong name); resolves once ioredis reported it. */
async function failingClient(t: { teardown(fn: () => unknown): void }, port: number, guarded: boolean): Promise<{ redis: Redis; first: Error }> {
  const pki = await testPki();
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    tls: { ca: pki.ca, servername: 'wrong.test', rejectUnauthorized: true },
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    ...(guarded ? { Connector: GuardedConnector } : {}),
  });
  t.teardown(() => redis.disconnect());
  const first = await new Promise<Error>((resolve) => {
    redis.once('error', resolve);
    redis.connect().catch(() => undefined);
  });
  return { redis, first };
}

const secondError = (redis: Redis) => () => (redis as unknown as { stream: net.Socket }).stream.emit('error', new Error('tlsv1 alert decode error'));

t.test("ioredis's own connector: a second socket error has no listener and is thrown", async (t) => {
  const { redis, first } = await failingClient(t, await tlsServer(t), false);
  t.match(first.message, /wrong\.test|altname|Hostname/i, 'the certificate check failed');
  t.throws(secondError(redis), /alert decode error/, 'thrown: an uncaught exception in the proxy');
});

t.test('GuardedConnector: the first error reaches ioredis, a second one is absorbed', async (t) => {
  const { redis, first } = await failingClient(t, await tlsServer(t), true);
  t.match(first.message, /wrong\.test|altname|Hostname/i, 'the certificate check failed, reported as before');
  t.doesNotThrow(secondError(redis), 'not thrown');
});
