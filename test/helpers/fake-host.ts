// A session on a fake group ("host"), for unit tests of the session without Sentinel: the test
// decides where the master is, whether commands are held, and calls the group's reactions
// (onTopologyChange, onFence, onPromoted) itself. Nodes are fake RESP servers (fake-resp.ts) or
// closed ports. The client is a raw RESP client (raw.ts) on a loopback socket the session serves.
import net from 'node:net';
import { pino } from 'pino';
import { Session } from '../../src/session/session.js';
import { GroupStats } from '../../src/group.js';
import { ReplicaBalancer } from '../../src/reads.js';
import { CommandTable } from '../../src/commands/table.js';
import { defaultGroupConfig, type GroupConfigInput } from '../../src/config/defaults.js';
import type { GroupConfig } from '../../src/config/types.js';
import { rawClient, type RawClient } from './raw.js';
import type { HasTeardown } from './group.js';

export interface FakeHost {
  config: GroupConfig;
  master: string | undefined;
  masterEpoch: number;
  blocked: boolean;
  blockedReason: 'fence' | 'no-master' | 'majority' | undefined;
  readonly metrics: GroupStats;
  readonly replicas: ReplicaBalancer;
  /** Replica health measured (true: read sessions do not wait for it). */
  replicasMeasured: boolean;
  /** CLIENT UNBLOCK requests the session made: [addr, client id]. */
  readonly unblocks: [string, number][];
  /** Moves the master (a new epoch). */
  setMaster(addr: string | undefined): void;
  /** Marks these replica addresses healthy. */
  setReplicas(addrs: string[]): void;
}

export function fakeHost(master: string | undefined, over: Partial<GroupConfigInput> = {}): FakeHost {
  const config = defaultGroupConfig({ name: 'fake', listen: '127.0.0.1:0', sentinels: ['127.0.0.1:1'], links: { shared: false }, ...over });
  const commands = CommandTable.packaged();
  const host = {
    config,
    master,
    masterEpoch: 1,
    blocked: master === undefined,
    blockedReason: master === undefined ? ('no-master' as const) : undefined,
    metrics: new GroupStats(),
    replicas: new ReplicaBalancer(),
    replicasMeasured: true,
    observe: { command: () => {} },
    commands,
    lookup: { lookup: (b: Buffer, s: number, e: number) => commands.lookup(b, s, e) },
    unblocks: [] as [string, number][],
    sessions: new Set<unknown>(),
    setMaster(addr: string | undefined) {
      host.master = addr;
      host.masterEpoch++;
      host.blocked = addr === undefined;
      host.blockedReason = addr === undefined ? 'no-master' : undefined;
    },
    setReplicas(addrs: string[]) {
      host.replicas.update(addrs.map((addr) => ({ addr, flags: ['slave'], linkUp: true, offset: 0, healthy: true })));
    },
    sharedLink: () => undefined,
    /** Write confirmation (writeSafety: safe): none unless a test sets one. */
    confirmations: (() => undefined) as (addr: string) => unknown,
    onLinkLost: () => {},
    onReadonly: () => {},
    unblock(addr: string, id: number) {
      host.unblocks.push([addr, id]);
    },
    removeSession: () => {},
    addSession: () => {},
  };
  return host as FakeHost;
}

/** A session of `host` serving a raw client; both closed on teardown. */
export async function sessionOn(t: HasTeardown, host: FakeHost, kind: 'master' | 'read' = 'master'): Promise<{ session: Session; client: RawClient }> {
  let session: Session | undefined;
  const log = pino({ level: process.env.PROXY_LOG ? 'debug' : 'silent' });
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    session = new Session(socket, host as any, CommandTable.packaged(), log, kind);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = await rawClient((server.address() as net.AddressInfo).port);
  while (session === undefined) await new Promise((r) => setImmediate(r));
  t.teardown(() => {
    client.close();
    session?.teardown('test over');
    server.close();
  });
  return { session, client };
}

/** An address nothing listens on (connections are refused): port 1 on loopback. Not a port taken
 * from the kernel and freed again: a test running in parallel can be given that same port a moment
 * later (a fake node of shared-link.test.ts once was, and both files hung). */
export async function closedAddr(): Promise<string> {
  return '127.0.0.1:1';
}
