// Reload of the options a session uses (issue 15 defect 7): each applies either to new commands or
// to new sessions (docs/session.md has the table); the reload reports which.
import t from 'tap';
import { createHash } from 'node:crypto';
import { withGroup } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { rawClient } from '../helpers/raw.js';
import type { ProxyConfig } from '../../src/config/types.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function withGroupChange(config: ProxyConfig, change: Partial<ProxyConfig['groups'][0]>): ProxyConfig {
  return { ...config, groups: [{ ...config.groups[0], ...change }] };
}

t.test('enabling clientAuth by reload applies to new sessions; open sessions keep working (defect 7)', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const before = await rawClient(p.port);
  t.teardown(() => before.close());
  t.equal(await before.cmd('SET', 'k', 'v'), '+OK\r\n');
  const next = withGroupChange(p.config, { clientAuth: { users: [{ name: 'app', passwordSha256: sha('pw'), access: 'write' }] } });
  const r = await p.proxy.reload(next);
  t.match(r.applied.join('\n'), /clientAuth on \(new sessions\)/, `reported: ${JSON.stringify(r.applied)}`);
  t.equal(await before.cmd('GET', 'k'), '$1\r\nv\r\n', 'the open session is not asked to authenticate mid-session');
  const after = await rawClient(p.port);
  t.teardown(() => after.close());
  t.match(await after.cmd('GET', 'k'), /^-NOAUTH/, 'a new session must authenticate');
  t.equal(await after.cmd('AUTH', 'app', 'pw'), '+OK\r\n');
  t.equal(await after.cmd('GET', 'k'), '$1\r\nv\r\n');
});

t.test('reads and links changes are reported as applying to new sessions (defect 7)', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const g = p.config.groups[0];
  const next = withGroupChange(p.config, {
    reads: { ...g.reads, routeReads: 'replica' },
    links: { ...g.links!, maxPipeline: g.links!.maxPipeline + 1 },
  });
  const r = await p.proxy.reload(next);
  const text = r.applied.join('\n');
  t.match(text, /reads\.routeReads \(new sessions\)/, text);
  t.match(text, /links \(new sessions\)/, text);
});
