// docs/configuration.md and config/proxy.schema.json are generated from the schema
// (src/config/reference.ts); this fails when either is not current: run `npm run docs:config`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { configJsonSchema, configurationMarkdown, REFERENCE_FILES } from '../../src/config/reference.js';
import { KNOWN_KEYS } from '../../src/config/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');

t.test('the generated reference files are current (else: npm run docs:config)', async (t) => {
  t.equal(read(REFERENCE_FILES.markdown), configurationMarkdown(), `${REFERENCE_FILES.markdown} is current`);
  t.equal(read(REFERENCE_FILES.jsonSchema), JSON.stringify(configJsonSchema(), null, 2) + '\n', `${REFERENCE_FILES.jsonSchema} is current`);
});

type Json = Record<string, unknown>;

t.test('every option in the JSON Schema has a description and a type', async (t) => {
  const missing: string[] = [];
  const walk = (js: Json, path: string) => {
    const obj = js.type === 'object' ? js : ((js.anyOf as Json[] | undefined)?.find((a) => a.type === 'object' && a.properties) ?? js);
    const props = (obj.properties ?? (js.type === 'array' ? ((js.items as Json).properties as Json) : undefined)) as Record<string, Json> | undefined;
    for (const [k, v] of Object.entries(props ?? {})) {
      const p = path ? `${path}.${k}` : k;
      if (typeof v.description !== 'string' || v.description.length < 10) missing.push(p);
      if (p === 'admin.listen' || v.anyOf === undefined) {
        if (v.type === undefined && v.anyOf === undefined && v.enum === undefined) missing.push(`${p} (no type)`);
      }
      const address = (v.anyOf as Json[] | undefined)?.some((a) => (a.properties as Json | undefined)?.host);
      if (!address) walk(v, p);
    }
  };
  walk(configJsonSchema(), '');
  t.same(missing, [], 'described and typed');
});

t.test('the reference names every key the loader accepts', async (t) => {
  const md = configurationMarkdown();
  for (const [holder, keys] of Object.entries(KNOWN_KEYS)) {
    for (const k of keys) t.match(md, new RegExp(`\`([\\w.\\[\\]]*\\.)?${k}(\\[\\])?\``), `${holder || 'top level'}: ${k}`);
  }
});
