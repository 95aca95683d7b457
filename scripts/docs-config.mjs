#!/usr/bin/env node
// `npm run docs:config`: writes docs/configuration.md and config/proxy.schema.json from the schema
// (src/config/reference.ts, built into dist/ first by the npm script).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema, configurationMarkdown, REFERENCE_FILES } from '../dist/src/config/reference.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = {
  [REFERENCE_FILES.markdown]: configurationMarkdown(),
  [REFERENCE_FILES.jsonSchema]: JSON.stringify(configJsonSchema(), null, 2) + '\n',
};
for (const [file, text] of Object.entries(out)) {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), text);
  console.log(`wrote ${file}`);
}
