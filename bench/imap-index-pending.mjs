#!/usr/bin/env node
// How many messages Bulwark's background full-text indexer has not reached yet (messages with
// text_indexed = 0 in the embedded SQLite store, read read-only beside the running server);
// with --wait S, polls every 0.5 s until none is pending (at most S seconds) and reports how
// long that took. One JSON line; --json FILE also writes it.
//   node bench/imap-index-pending.mjs /var/tmp/bulwark-bench-imap/data/bulwark.db [--wait 900] [--json f]
import fs from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

const argv = process.argv.slice(2);
const file = argv[0];
const wait = argv.includes('--wait') ? Number(argv[argv.indexOf('--wait') + 1]) : 0;
const json = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : null;
const db = new DatabaseSync(file, { readOnly: true });
db.exec('pragma busy_timeout = 5000');
const q = db.prepare('select count(*) as n from messages where text_indexed = 0');
const total = db.prepare('select count(*) as n from messages').get().n;
const t0 = performance.now();
const first = q.get().n;
let n = first;
while (wait > 0 && n > 0 && performance.now() - t0 < wait * 1000) {
  await new Promise((r) => setTimeout(r, 500));
  n = q.get().n;
}
const out = { messages: total, pending_at_start: first, pending_at_end: n, waited_s: Math.round(performance.now() - t0) / 1000 };
console.log(JSON.stringify(out));
if (json) fs.writeFileSync(json, JSON.stringify(out, null, 2) + '\n');
