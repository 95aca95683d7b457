// The clientAuth section: passwords are kept only as SHA-256, every problem is listed.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';

const dirs: string[] = [];
t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'rsp-ca-'));
  dirs.push(d);
  return d;
};

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const dir = tempDir();
  writeFileSync(join(dir, 'pw.txt'), 'from-file\n');
  writeFileSync(join(dir, 'proxy.yaml'), yaml);
  return loadConfig({ file: join(dir, 'proxy.yaml'), argv: {}, env });
}

const base = `
groups:
  - name: mymaster
    listen: 127.0.0.1:6380
    sentinels: [127.0.0.1:26379]
`;

t.test('users from password, passwordFile, passwordEnv and passwordSha256', async (t) => {
  const r = load(
    `clientAuth:
  users:
    - { name: a, password: plain, access: write }
    - { name: b, passwordFile: pw.txt, access: read }
    - { name: c, passwordEnv: C_PW, access: read }
    - { name: d, passwordSha256: ${sha('x').toUpperCase()}, access: write }
${base}`,
    { C_PW: 'from-env' },
  );
  t.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  if (!r.ok) return;
  const users = r.config.groups[0].clientAuth!.users;
  t.same(users, [
    { name: 'a', passwordSha256: sha('plain'), access: 'write' },
    { name: 'b', passwordSha256: sha('from-file'), access: 'read' },
    { name: 'c', passwordSha256: sha('from-env'), access: 'read' },
    { name: 'd', passwordSha256: sha('x'), access: 'write' },
  ]);
  t.notMatch(JSON.stringify(r.config), /plain|from-file|from-env/, 'no password kept in the config');
});

t.test('every problem at once, no secret in them', async (t) => {
  const r = load(`clientAuth:
  users:
    - { name: a, password: sekrit, passwordSha256: ${sha('y')}, access: write }
    - { name: a, password: other, access: admin }
    - { name: b, access: read }
    - { name: c, passwordSha256: nothex, access: read }
${base}`);
  t.notOk(r.ok);
  if (r.ok) return;
  const text = r.problems.join('\n');
  t.match(text, /clientAuth\.users\[0\].*exactly one of/);
  t.match(text, /clientAuth\.users\[1\]\.access/);
  t.match(text, /clientAuth\.users\[2\].*exactly one of.*none/);
  t.match(text, /clientAuth\.users\[3\]\.passwordSha256/);
  t.notMatch(text, /sekrit|other/);
});

t.test('an empty clientAuth passwordFile is refused, as for the backend auth (not a user with password "")', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'empty.txt'), '\n');
  writeFileSync(
    join(dir, 'proxy.yaml'),
    `clientAuth:
  users:
    - { name: a, passwordFile: empty.txt, access: write }
${base}`,
  );
  const r = loadConfig({ file: join(dir, 'proxy.yaml'), argv: {}, env: {} });
  t.notOk(r.ok, 'rejected');
  if (r.ok) return;
  t.match(r.problems.join('\n'), /clientAuth\.users\[0\]\.passwordFile.*empty/);
});
