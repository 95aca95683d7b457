// Every error the proxy itself answers or raises, with a stable code. Replies keep Redis's
// conventions (an upper-case error code first) so clients classify them as they would Redis's own;
// code elsewhere branches on `code`, never on message text. docs/failover.md ("Errors the proxy
// answers") lists them all and a test checks that.

export interface ProxyErrorDef {
  /** Stable identifier used in logs and metrics. */
  code: string;
  /** The RESP error line, without the leading '-' and trailing CRLF. */
  reply: string;
  /** Whether a client may safely retry: the command was certainly not executed. */
  retryable: boolean;
}

function def(code: string, reply: string, retryable: boolean): ProxyErrorDef {
  return Object.freeze({ code, reply, retryable });
}

export const ProxyErrors = Object.freeze({
  /** SYNC/PSYNC/REPLICAOF/SLAVEOF/FAILOVER: only Sentinel may reconfigure the group. */
  REFUSED_TOPOLOGY: def(
    'RSP_REFUSED_TOPOLOGY',
    "ERR this command is refused by redis-sentinel-proxy: the group's replication is managed by Sentinel",
    false,
  ),
  /** A command held during a failover or while no master is verified, longer than holdTimeoutMs. */
  HOLD_TIMEOUT: def(
    'RSP_HOLD_TIMEOUT',
    'MASTERDOWN no verified master is available (failover in progress?); the command was not executed, retry it',
    true,
  ),
  /** The link to the node died (or was cut because the node was demoted) with this command sent
   * and unanswered: it may or may not have run there. Never re-sent by the proxy. */
  LINK_LOST: def(
    'RSP_LINK_LOST',
    'ERR connection to the master was lost while this command was in flight; it may or may not have been executed',
    false,
  ),
  /** EXEC of a transaction whose MULTI went to a master that has since been replaced. */
  EXEC_ABORTED_FAILOVER: def(
    'RSP_EXEC_ABORTED_FAILOVER',
    'EXECABORT Transaction discarded because the master changed (failover) during the transaction',
    true,
  ),
  /** Too many client sessions, as Redis words it. */
  MAX_CLIENTS: def('RSP_MAX_CLIENTS', 'ERR max number of clients reached', true),
  /** The proxy is shutting down. */
  SHUTTING_DOWN: def('RSP_SHUTTING_DOWN', 'ERR redis-sentinel-proxy is shutting down', true),
  /** The session's state could not be restored on a new master (e.g. its AUTH was refused there). */
  REPLAY_FAILED: def(
    'RSP_REPLAY_FAILED',
    'ERR the session could not be restored on the new master; reconnect',
    false,
  ),
  /** Refused because fewer than a majority of sentinels are reachable (safety.requireSentinelMajority). */
  NO_SENTINEL_MAJORITY: def(
    'RSP_NO_SENTINEL_MAJORITY',
    'MASTERDOWN fewer than a majority of sentinels are reachable; the command was not executed',
    true,
  ),
  /** A write on the read-only listener: the replica's own wording, answered by the proxy. */
  READONLY: def('RSP_READONLY', "READONLY You can't write against a read only replica.", false),
  /** The read-only listener has no healthy replica and `reads.fallback` is `error`. */
  NO_HEALTHY_REPLICA: def('RSP_NO_HEALTHY_REPLICA', 'TRYAGAIN no healthy replica is available for reads; the command was not executed', true),
  /** EXEC of a transaction in which the proxy refused a command (a write on the read-only listener). */
  EXEC_ABORTED: def('RSP_EXEC_ABORTED', 'EXECABORT Transaction discarded because of previous errors.', true),
  /** Client authentication by the proxy: a command before AUTH (Redis's wording). */
  NOAUTH: def('RSP_NOAUTH', 'NOAUTH Authentication required.', false),
  /** HELLO without AUTH before authentication (Redis's wording). */
  NOAUTH_HELLO: def(
    'RSP_NOAUTH_HELLO',
    'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    false,
  ),
  /** Wrong user or password (Redis's wording). */
  WRONGPASS: def('RSP_WRONGPASS', 'WRONGPASS invalid username-password pair or user is disabled.', false),
  /** A command refused by access (src/commands/access.ts): a `read` user's write, @admin or
   * @dangerous command, or anything but reads on the read-only listener. As Redis words it, the
   * reply goes on to name the command: "... to run the 'config|set' command" (access.ts
   * nopermReply). */
  NOPERM: def('RSP_NOPERM', 'NOPERM this user has no permissions to run', false),
  /** A protocol error in the client's request (the text after it comes from the framer). */
  PROTOCOL: def('RSP_PROTOCOL', 'ERR Protocol error', false),
});

export type ProxyErrorCode = keyof typeof ProxyErrors;

/** The RESP bytes of an error reply. */
export function errorReply(line: string): Buffer {
  return Buffer.from(`-${line}\r\n`, 'latin1');
}

/** Cached reply bytes for each proxy error. */
export const ErrorReplies: Readonly<Record<ProxyErrorCode, Buffer>> = Object.freeze(
  Object.fromEntries(Object.entries(ProxyErrors).map(([k, v]) => [k, errorReply(v.reply)])) as Record<ProxyErrorCode, Buffer>,
);
