#!/usr/bin/env -S node --max-semi-space-size=8
// The `bulwark` command. Bulwark runs its TypeScript sources directly on Node.js 24 (type
// stripping). Started by an older Node, it hands over to the Node 24 that `npm ci` installs
// into node_modules, or says what to do.
//
// --max-semi-space-size=8: V8 sizes the young generation from the machine's memory (up to
// 128 MiB on a 24 GiB machine), which a server holding many small, long-lived sessions never
// gives back; 8 MiB semi-spaces keep 10,000 IDLE sessions under 300 MiB (bench/RESULTS.md)
// at no measurable cost in throughput. Service units start `node --max-semi-space-size=8
// bin/bulwark.js serve` (docs/admin-guide.md).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  const local = path.join(root, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(local) && !process.env._BULWARK_REEXEC) {
    const r = spawnSync(local, ['--max-semi-space-size=8', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, _BULWARK_REEXEC: '1' } });
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`bulwark: needs Node.js 24 or newer (this is ${process.version}); run "npm ci" first, which installs it locally\n`);
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
