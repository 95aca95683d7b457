import t from 'tap';
import { withGroup } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';

t.test('basic commands through the proxy', async (t) => {
  const group = await withGroup(t, { replicas: 1 });
  const p = await withProxy(t, group);
  const c = p.client();
  t.equal(await c.ping(), 'PONG');
  t.equal(await c.set('k', 'v'), 'OK');
  t.equal(await c.get('k'), 'v');
  const pipe = c.pipeline();
  for (let i = 0; i < 1000; i++) pipe.incr('n');
  const res = await pipe.exec();
  t.equal(res!.length, 1000);
  t.equal(await c.get('n'), '1000');
  t.equal(await c.select(2), 'OK');
  t.equal(await c.get('k'), null);
});
