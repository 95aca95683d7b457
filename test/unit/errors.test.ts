// Every error code the proxy answers is documented in docs/failover.md, "Errors the proxy answers"
// (STYLE.md: a test checks it).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ProxyErrors, ErrorReplies } from '../../src/errors.js';

t.test('every proxy error is in docs/failover.md with its reply', async (t) => {
  const doc = readFileSync(new URL('../../docs/failover.md', import.meta.url), 'utf8');
  for (const [key, def] of Object.entries(ProxyErrors)) {
    t.ok(doc.includes(`\`${def.code}\``), `${key}: ${def.code} listed`);
    t.ok(doc.includes(def.reply.replace(/\|/g, '\\|')), `${key}: reply text documented`);
    t.match(def.reply, /^[A-Z]+ /, `${key}: starts with an upper-case error code`);
    t.equal(ErrorReplies[key as keyof typeof ErrorReplies].toString('latin1'), `-${def.reply}\r\n`);
  }
  const codes = Object.values(ProxyErrors).map((d) => d.code);
  t.equal(new Set(codes).size, codes.length, 'codes are unique');
});
