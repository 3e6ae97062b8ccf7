// Preload for profile runs only (node --import ./bench/sqlite-timing.mjs ...): times every
// node:sqlite statement execution by its SQL text, because a CPU profile shows the synchronous
// SQLite work only as self time of the driver function that calls it, with no hint of which
// statement it was. On exit, writes { sql: { n, ms, rows } } sorted by time to
// $SQLITE_TIMING_OUT (JSON); $SQLITE_TIMING_SKIP_MS leaves out the start. Not used for any measured figure: it adds a little work per call.
import fs from 'node:fs';
import { StatementSync } from 'node:sqlite';

const out = process.env.SQLITE_TIMING_OUT;
// calls in the first SQLITE_TIMING_SKIP_MS after start (start-up checks) are not counted
const skipUntil = performance.now() + Number(process.env.SQLITE_TIMING_SKIP_MS ?? 0);
const agg = new Map();
const norm = (sql) => sql.replace(/\s+/g, ' ').replace(/\?(, \?)+/g, '?, ...').trim().slice(0, 300);
for (const m of ['all', 'get', 'run']) {
  const orig = StatementSync.prototype[m];
  StatementSync.prototype[m] = function timed(...args) {
    const t0 = performance.now();
    const r = orig.apply(this, args);
    const ms = performance.now() - t0;
    if (t0 < skipUntil) return r;
    const k = norm(this.sourceSQL);
    const a = agg.get(k) ?? { n: 0, ms: 0, rows: 0 };
    a.n++; a.ms += ms; a.rows += Array.isArray(r) ? r.length : 1;
    agg.set(k, a);
    return r;
  };
}
process.on('exit', () => {
  if (!out) return;
  const rows = [...agg].sort((a, b) => b[1].ms - a[1].ms).map(([sql, a]) => ({ sql, n: a.n, ms: Math.round(a.ms), rows: a.rows }));
  fs.writeFileSync(out, JSON.stringify(rows, null, 1) + '\n');
});
