// --print-config's lines: every value with where it came from, secrets never printed.
import { join } from 'node:path';
import t from 'tap';
import { effectiveConfigLines } from '../../src/config/effective.js';
import { loadConfig } from '../../src/config/load.js';

const SECRET = 'hunter2-do-not-print';

t.test('origins and redaction', async (t) => {
  const dir = t.testdir({
    'proxy.yaml': [
      'logLevel: debug',
      'safety: { requireSentinelMajority: true }',
      'clientAuth: { users: [ { name: app, password: ' + SECRET + ', access: write } ] }',
      'groups:',
      '  - name: m',
      '    listen: "127.0.0.1:7000"',
      '    sentinels: ["127.0.0.1:26379"]',
      '    sentinelAuth: { passwordEnv: SENTINEL_PW }',
      '',
    ].join('\n'),
  });
  const file = join(dir, 'proxy.yaml');
  const r = loadConfig({ file, argv: { logFormat: 'pretty' }, env: { SENTINEL_PW: SECRET, RSP_USERNAME: 'proxy' } });
  if (!r.ok) throw new Error(r.problems.join('\n'));
  const lines = effectiveConfigLines(r.config, r.origins);
  const find = (key: string) => lines.find((l) => l.startsWith(`${key}: `)) ?? `(no ${key})`;
  t.match(find('logLevel'), new RegExp(`"debug" +# file ${file}:1:11$`));
  t.match(find('logFormat'), /"pretty" +# flag --log-format$/);
  t.match(find('groups[0].auth.username'), /"proxy" +# env RSP_USERNAME$/);
  t.match(find('groups[0].topology.requireSentinelMajority'), new RegExp(`true +# file ${file}:2:36$`), 'through the safety alias');
  t.match(find('groups[0].sentinelAuth.password'), new RegExp(`<redacted> +# file ${file}:8:34$`), 'through passwordEnv');
  t.match(find('groups[0].clientAuth.users[0].passwordSha256'), new RegExp(`<redacted> +# file ${file}:3:`));
  t.match(find('groups[0].clientAuth.users[0].name'), /"app"/);
  t.match(find('groups[0].limits.maxClients'), /10000 +# default$/);
  t.match(find('admin.readiness'), /"master" +# default$/);
  t.notOk(lines.join('\n').includes(SECRET), 'no secret');
  t.notOk(lines.join('\n').includes('2f8b'), 'no hash prefix either');
});
