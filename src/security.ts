// Security helpers:
//  - listenerWarnings(): the start-up warnings for listeners exposed beyond loopback without
//    protection (TLS, client authentication) — the caller logs each one at `warn`;
//  - clientTlsOptions(): node `tls.connect` options for the proxy's outgoing TLS links (backends,
//    sentinels), with the verification name picked from `servernameMap` / `servername`.
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { GroupConfig, HostPort, ProxyConfig, TlsClientOptions } from './config/types.js';

/** True for 127.0.0.0/8, ::1, `localhost` (and `*.localhost`), and IPv4-mapped 127.x. Wildcards
 * (`0.0.0.0`, `::`, empty) and every other address or host name count as beyond loopback. */
export function isLoopback(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const zone = h.indexOf('%');
  if (zone >= 0) h = h.slice(0, zone);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h.startsWith('::ffff:')) {
    const v4 = h.slice('::ffff:'.length);
    if (net.isIPv4(v4)) h = v4;
  }
  if (net.isIPv4(h)) return h.split('.')[0] === '127';
  if (net.isIPv6(h)) return isIpv6Loopback(h);
  return false;
}

function isIpv6Loopback(h: string): boolean {
  // ::1 in any spelling (0:0:0:0:0:0:0:1, 0::1, ...).
  const halves = h.split('::');
  if (halves.length > 2) return false;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const groups = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  if (groups.length !== 8) return false;
  return groups.every((g, i) => parseInt(g || '0', 16) === (i === 7 ? 1 : 0));
}

/** What protects a group's listeners: TLS (`tls.listener`) and proxy-side client authentication
 * (`clientAuth` with at least one user). Both apply to the master and the read-only listener. */
interface GroupProtection {
  tls: boolean;
  clientAuth: boolean;
}

function protectionOf(g: GroupConfig): GroupProtection {
  return {
    tls: g.tls.listener !== undefined,
    clientAuth: (g.clientAuth?.users.length ?? 0) > 0,
  };
}

function fmt(at: HostPort): string {
  return net.isIPv6(at.host) ? `[${at.host}]:${at.port}` : `${at.host}:${at.port}`;
}

export interface ListenerWarningOptions {
  /** Also warn about listeners without client authentication (default true). */
  checkClientAuth?: boolean;
}

/**
 * One warning (a complete sentence, for a `warn` log line) for each listener bound beyond loopback
 * without TLS and/or without proxy-side client authentication, and for an admin server bound beyond
 * loopback (plain HTTP, no authentication; `/topology` shows the group's layout). Empty when
 * everything is on loopback or protected. Pure: the caller logs them (startProxy, at start and after
 * a reload that rebinds).
 */
export function listenerWarnings(config: ProxyConfig, opts: ListenerWarningOptions = {}): string[] {
  const checkClientAuth = opts.checkClientAuth ?? true;
  const out: string[] = [];
  for (const g of config.groups) {
    const p = protectionOf(g);
    const listeners: [string, HostPort | undefined][] = [
      ['listener', g.listen],
      ['read-only listener', g.readListen],
    ];
    for (const [kind, at] of listeners) {
      if (!at || isLoopback(at.host)) continue;
      const missing: string[] = [];
      if (!p.tls) missing.push('TLS (tls.listener)');
      if (checkClientAuth && !p.clientAuth) missing.push('client authentication (clientAuth)');
      if (missing.length === 0) continue;
      const risks: string[] = [];
      if (!p.tls) risks.push('traffic, AUTH passwords included, crosses the network in clear text');
      if (checkClientAuth && !p.clientAuth) {
        risks.push(
          g.auth.password !== undefined
            ? `anyone who can reach the port runs commands as the proxy's backend user${g.auth.username ? ` "${g.auth.username}"` : ''} (auth), without a password`
            : "anyone who can reach the port can run commands, limited only by Redis's own AUTH",
        );
      }
      out.push(`group ${g.name}: ${kind} ${fmt(at)} is reachable beyond loopback without ${missing.join(' and without ')}: ${risks.join('; ')}`);
    }
  }
  const admin = config.admin.listen;
  if (admin && !isLoopback(admin.host)) {
    out.push(
      `admin server ${fmt(admin)} is reachable beyond loopback: it has no TLS and no authentication, and /topology and /metrics show the groups' addresses and state`,
    );
  }
  return out;
}

/**
 * `tls.connect` options for one outgoing link to `host:port` (a node or a sentinel, usually the IP
 * address Sentinel announces). The verification name is `servernameMap["host:port"]`, then
 * `servernameMap[host]`, then `servername`; with none, `host` itself is verified (an IP address
 * must then be in the certificate's SAN). Options that are not set are left out entirely: an
 * explicit `checkServerIdentity: undefined` or `servername: undefined` makes node's `tls.connect`
 * throw an internal assertion.
 */
export function clientTlsOptions(t: TlsClientOptions, host: string, port: number): ConnectionOptions {
  const bare = host.replace(/^\[|\]$/g, '');
  const map = t.servernameMap;
  const servername = map?.[`${bare}:${port}`] ?? map?.[`[${bare}]:${port}`] ?? map?.[bare] ?? t.servername;
  const out: ConnectionOptions = { rejectUnauthorized: t.rejectUnauthorized };
  if (t.ca) out.ca = t.ca;
  if (t.cert) out.cert = t.cert;
  if (t.key) out.key = t.key;
  // SNI and the name checked against the certificate (node checks `servername || host`). A host
  // name is sent as SNI too (node does not by itself); an IP address never is (RFC 6066).
  if (servername) out.servername = servername;
  else if (!net.isIP(bare)) out.servername = bare;
  return out;
}
