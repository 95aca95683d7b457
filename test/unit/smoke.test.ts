import t from 'tap';
import { silentLogger } from '../../src/logger.js';
t.test('logger', async (t) => {
  t.ok(silentLogger());
});
