// Certificates generated at test time with the openssl CLI (node cannot issue X.509 certificates by
// itself): one CA and, signed by it,
//  - `node`:   for redis-server and redis-sentinel. SAN `DNS:redis.test` only: no IP address, so a
//              client connecting to the address Sentinel announces (127.0.0.1) can verify it only
//              through a servername / servernameMap. serverAuth + clientAuth (Redis uses the same
//              certificate for replication and for sentinel → node links).
//  - `proxy`:  for the proxy's client listener. SAN `IP:127.0.0.1`, `DNS:localhost`, `DNS:proxy.test`.
//  - `client`: a client certificate (CN=app, clientAuth), for the proxy's listener (requestCert) and
//              for the proxy's own links to the nodes (Redis requires client certificates by default:
//              `tls-auth-clients yes`).
// plus a second, unrelated CA `rogue` with a client certificate of its own, for rejection tests.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  certFile: string;
  keyFile: string;
  /** PEM contents. */
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  caFile: string;
  /** PEM of the CA certificate. */
  ca: string;
  node: CertPair;
  proxy: CertPair;
  client: CertPair;
  /** A CA the others do not trust, and a client certificate it signed. */
  rogueCa: string;
  rogueClient: CertPair;
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    dir,
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name} test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  );
}

async function makeLeaf(dir: string, ca: string, name: string, cn: string, ext: string[]): Promise<CertPair> {
  await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  await openssl(
    dir,
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '2', '-sha256', '-extfile', `${name}.ext`,
  );
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  // redis-server reads the key file as whatever user runs the tests; keep it private anyway.
  fs.chmodSync(keyFile, 0o600);
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

let cached: Promise<TestPki> | undefined;

/** Generates the test PKI (once per process) in a temporary directory removed at exit. */
export function testPki(): Promise<TestPki> {
  cached ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsp-pki-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    await makeCa(dir, 'ca');
    await makeCa(dir, 'rogue');
    const basic = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'];
    const [node, proxy, client, rogueClient] = await Promise.all([
      makeLeaf(dir, 'ca', 'node', 'redis.test', [...basic, 'extendedKeyUsage=serverAuth,clientAuth', 'subjectAltName=DNS:redis.test']),
      makeLeaf(dir, 'ca', 'proxy', 'proxy.test', [...basic, 'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:proxy.test']),
      makeLeaf(dir, 'ca', 'client', 'app', [...basic, 'extendedKeyUsage=clientAuth']),
      makeLeaf(dir, 'rogue', 'rogue-client', 'intruder', [...basic, 'extendedKeyUsage=clientAuth']),
    ]);
    const caFile = path.join(dir, 'ca.crt');
    return {
      dir,
      caFile,
      ca: fs.readFileSync(caFile, 'utf8'),
      node,
      proxy,
      client,
      rogueCa: fs.readFileSync(path.join(dir, 'rogue.crt'), 'utf8'),
      rogueClient,
    };
  })();
  return cached;
}

/** The sandbox group's `tls` option for a TLS-only group using the `node` certificate. */
export function sandboxTls(pki: TestPki): { certFile: string; keyFile: string; caFile: string } {
  return { certFile: pki.node.certFile, keyFile: pki.node.keyFile, caFile: pki.caFile };
}

