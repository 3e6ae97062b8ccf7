// Regenerates the documents that come from code: docs/config.md (from the config schema).
import fs from 'node:fs';
import path from 'node:path';
import { renderConfigDoc } from '../src/ops/config/template.ts';

const root = path.dirname(import.meta.dirname);
fs.writeFileSync(path.join(root, 'docs/config.md'), renderConfigDoc());
console.log('wrote docs/config.md');
