// Backpressure both ways (issue 2): a client that stops reading does not make the proxy buffer
// without bound, nor does a node that stops reading.
import t from 'tap';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { encode, rawClient } from '../helpers/raw.js';
import { Redis } from 'ioredis';

const MB = 1024 * 1024;

// A client that sends 300 GETs of a 1 MB value and reads nothing. With a link per session the
// proxy pauses that link at the soft limit and the node holds the rest. On the shared link (the
// default) the proxy cannot pause the node for one client: it buffers the replies of what that
// client already had in flight there (at most links.maxPipeline commands), stops reading the
// client, and moves it to a link of its own, where the node holds the rest.
for (const shared of [false, true]) {
  t.test(`a client that stops reading (links.shared ${shared}): the proxy pauses the node instead of buffering`, async (t) => {
    const group = await withGroup(t, { replicas: 1 });
    const maxPipeline = 8;
    const p = await withProxy(t, group, { links: { shared, maxPipeline }, limits: { outputBufferSoftBytes: 4 * MB, outputBufferHardBytes: 512 * MB } });
    const setup = p.client();
    await setup.set('big1m', Buffer.alloc(MB, 'b'));
    const r = await rawClient(p.port);
    r.socket.pause(); // never read
    const N = 300; // 300 MB of replies
    const req = encode('GET', 'big1m');
    for (let i = 0; i < N; i++) r.send(req);
    const g = p.proxy.groups[0];
    // Wait until the pipeline is stuck: the node holds the rest in its own output buffer.
    const master = new Redis({ port: group.nodes[0].port, host: '127.0.0.1' });
    t.teardown(() => master.disconnect());
    await waitFor(async () => /omem=[1-9]\d{6,}/.test(String(await master.client('LIST'))), { timeoutMs: 15_000, what: 'the node buffering for the paused link' });
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      for (const s of g.sessions) peak = Math.max(peak, s.describe().clientBuffered);
      await new Promise((res) => setTimeout(res, 25));
    }
    const bound = shared ? maxPipeline * (MB + 12) + 4 * MB + 2 * MB : 4 * MB + 2 * MB;
    t.ok(peak < bound, `proxy's buffer toward the client stayed at ${(peak / MB).toFixed(1)} MB (bound ${(bound / MB).toFixed(1)} MB) while 300 MB were pending`);
    // Reading again delivers everything, intact and in order.
    r.socket.resume();
    const replies = await r.read(N, 60_000);
    t.equal(replies.length, N);
    t.ok(replies.every((x) => x.length === MB + 12 && x.startsWith('$1048576\r\n')), 'every reply intact');
    r.close();
  });
}

t.test('a node that stops reading: the proxy stops reading the client', async (t) => {
  const group = await withGroup(t, { replicas: 1, downAfterMs: 60_000 });
  // What waits in the proxy is bounded by socket buffers, or by failover.holdBytes for commands
  // queued behind one still in flight on the shared link (the session then moves to a link of its
  // own, as it pipelines).
  const p = await withProxy(t, group, { failover: { holdTimeoutMs: 60_000, holdBytes: 8 * MB } });
  const r = await rawClient(p.port);
  t.equal(await r.cmd('PING'), '+PONG\r\n');
  group.nodes[0].sigstop();
  t.teardown(() => group.nodes[0].sigcont());
  // Write 200 MB of SETs towards a frozen node.
  const payload = Buffer.alloc(MB, 'x');
  const cmd = encode('SET', 'bp', payload);
  let written = 0;
  const writeMore = () => {
    while (written < 200 && r.socket.write(cmd)) written++;
  };
  r.socket.on('drain', () => {
    written++;
    writeMore();
  });
  writeMore();
  const g = p.proxy.groups[0];
  await waitFor(() => [...g.sessions].some((s) => s.describe().backendBuffered + s.describe().queryBuffered > 0), { what: 'bytes pending to the frozen node' });
  let peak = 0;
  for (let i = 0; i < 40; i++) {
    for (const s of g.sessions) {
      const d = s.describe();
      peak = Math.max(peak, d.backendBuffered + d.queryBuffered);
    }
    await new Promise((res) => setTimeout(res, 25));
  }
  t.ok(written < 200, `the client could not push everything: ${written} MB accepted`);
  t.ok(peak < 8 * MB + 4 * MB, `proxy buffered at most ${(peak / MB).toFixed(1)} MB toward the frozen node (holdBytes 8 MB)`);
  group.nodes[0].sigcont();
  await waitFor(() => written >= 200, { timeoutMs: 60_000, what: 'all 200 SETs written once the node reads again' });
  const replies = await r.read(200, 60_000);
  t.ok(replies.every((x) => x === '+OK\r\n'));
  r.close();
});
