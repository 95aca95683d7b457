// Free loopback ports for the sandbox group, the proxy's listeners and tests.
//
// Ports are picked *below* the kernel's ephemeral range when possible: a port the kernel hands out
// for `listen(0)` comes from the same range it uses for the local side of outgoing connections, so
// between "found free" and "redis-server binds it" a replica's or sentinel's outgoing connection
// could take it. Below that range only another listener can take it, and every candidate is checked
// by actually binding it. A port is never handed out twice by this process.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 1024 ? n : 32768;
  } catch {
    return 32768;
  }
}

/** Resolves true when `port` can be bound on `host` right now (the probe socket is closed again). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => {
      srv.close(() => resolve(true));
    });
  });
}

/** Port the kernel picks for `listen(0)` (from the ephemeral range). */
export function kernelPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not read the bound port'))));
    });
  });
}

/** One free loopback port, never returned before by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = Math.min(ephemeralLow(), 65536) - 1;
  const low = 20000;
  if (high - low > 1000) {
    for (let i = 0; i < 200; i++) {
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (handedOut.has(port)) continue;
      if (await isPortFree(port, host)) {
        handedOut.add(port);
        return port;
      }
    }
  }
  for (let i = 0; i < 50; i++) {
    const port = await kernelPort(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free port found');
}

/** `n` distinct free loopback ports. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort(host));
  return out;
}

/** `preferred` if it is free (and not handed out already), else a free port. */
export async function preferPort(preferred: number | undefined, host = '127.0.0.1'): Promise<number> {
  if (preferred !== undefined && preferred > 0 && !handedOut.has(preferred) && (await isPortFree(preferred, host))) {
    handedOut.add(preferred);
    return preferred;
  }
  return freePort(host);
}
