// Every error code the proxy answers is documented in the README (STYLE.md: a test checks it).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ProxyErrors, ErrorReplies } from '../../src/errors.js';

t.test('every proxy error is in the README with its reply', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const [key, def] of Object.entries(ProxyErrors)) {
    t.ok(readme.includes(`\`${def.code}\``), `${key}: ${def.code} listed`);
    t.ok(readme.includes(def.reply.replace(/\|/g, '\\|')), `${key}: reply text documented`);
    t.match(def.reply, /^[A-Z]+ /, `${key}: starts with an upper-case error code`);
    t.equal(ErrorReplies[key as keyof typeof ErrorReplies].toString('latin1'), `-${def.reply}\r\n`);
  }
  const codes = Object.values(ProxyErrors).map((d) => d.code);
  t.equal(new Set(codes).size, codes.length, 'codes are unique');
});
