// admin.readiness against a real group whose sentinels are all stopped while the master runs:
// "master" (the default) stays ready (a warning says why it could not follow a failover), so a
// sidecar does not take its application pod out of the Service; "strict" reports not ready, so a
// shared Service sends clients to a proxy that still sees sentinels. Both keep serving the master.
import t from 'tap';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';

async function get(port: number, p: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as unknown };
}

async function metric(port: number, name: string): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(await res.text());
  return m ? Number(m[1]) : undefined;
}

t.test('every sentinel stopped, the master running: "master" stays ready, "strict" does not', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const byDefault = await withProxy(t, group, { admin: true });
  const master = await withProxy(t, group, { admin: true, readiness: 'master' });
  const strict = await withProxy(t, group, { admin: true, readiness: 'strict' });
  const proxies = { byDefault, master, strict };
  for (const [name, p] of Object.entries(proxies)) {
    await waitFor(async () => (await get(p.adminPort!, '/readyz')).status === 200, { what: `${name} ready`, timeoutMs: 20_000 });
  }

  await Promise.all(group.sentinels.map((s) => s.kill()));
  for (const [name, p] of Object.entries(proxies)) {
    await waitFor(async () => (await get(p.adminPort!, '/topology')).body[0].sentinels.reachable === 0, {
      what: `${name}: no sentinel reachable`,
      timeoutMs: 20_000,
    });
  }

  for (const [name, p] of [['default', byDefault], ['master', master]] as const) {
    const r = await get(p.adminPort!, '/readyz');
    t.equal(r.status, 200, `${name}: ready`);
    t.match(r.body.warnings?.[0]?.warning, /no sentinel reachable/, `${name}: says why it could not follow a failover`);
    t.equal(await metric(p.adminPort!, 'rsp_ready'), 1, `${name}: rsp_ready 1`);
  }
  const r = await get(strict.adminPort!, '/readyz');
  t.equal(r.status, 503, 'strict: not ready');
  t.match(r.body.problems?.[0]?.reason, /no sentinel reachable/);
  t.equal(await metric(strict.adminPort!, 'rsp_ready'), 0, 'strict: rsp_ready 0');

  // Both still serve the last verified master.
  for (const p of [master, strict]) {
    const c = p.client();
    t.equal(await c.incr('readiness-counter'), await c.get('readiness-counter').then(Number), 'writes go through');
  }

  // A master that stops working is not ready in either mode.
  await group.nodes[0]!.kill();
  await waitFor(async () => (await get(master.adminPort!, '/readyz')).status === 503, { what: 'master mode: 503 once the master is gone', timeoutMs: 20_000 });
});
