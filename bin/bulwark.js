#!/usr/bin/env -S node --max-semi-space-size=16 --heap-growing-percent=30
// The `bulwark` command. Bulwark runs its TypeScript sources directly on Node.js 24 (type
// stripping). Started by an older Node, it hands over to the Node 24 that `npm ci` installs
// into node_modules, or says what to do.
//
// V8 flags for a server that holds many small, long-lived sessions:
// --max-semi-space-size=16: V8 sizes the young generation from the machine's memory (up to
//   128 MiB on a 24 GiB machine), which it never gives back;
// --heap-growing-percent=30: the old generation may grow by 30 % of what was live after the
//   last full collection before the next one, instead of V8's own factor (up to 4x when
//   collections are fast), which lets a burst of logins leave 100+ MiB of freed but committed
//   pages behind.
// Together they keep 10,000 IDLE sessions under 300 MB (bench/RESULTS.md) for about 5 % of
// IMAP throughput. Service units start `node --max-semi-space-size=16
// --heap-growing-percent=30 bin/bulwark.js serve` (docs/admin-guide.md).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  const local = path.join(root, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(local) && !process.env._BULWARK_REEXEC) {
    const r = spawnSync(local, ['--max-semi-space-size=16', '--heap-growing-percent=30', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, _BULWARK_REEXEC: '1' } });
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`bulwark: needs Node.js 24 or newer (this is ${process.version}); run "npm ci" first, which installs it locally\n`);
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
