#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, and
// self time per source file, as Markdown tables (or --json).
//   node bench/cpuprofile-top.mjs FILE.cpuprofile [--top 25] [--json]
import fs from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
const file = argv.find((a) => !a.startsWith('--'));
const top = Number(argv[argv.indexOf('--top') + 1]) || 25;
const asJson = argv.includes('--json');
if (!file) { console.error('usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [--top 25] [--json]'); process.exit(2); }
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  const dt = prof.timeDeltas[i] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const root = process.cwd();
function where(cf) {
  let u = cf.url || '';
  if (u.startsWith('file://')) u = u.slice(7);
  if (u.startsWith(root + '/')) u = u.slice(root.length + 1);
  return u ? `${u}:${cf.lineNumber + 1}` : '(native)';
}
const fnAgg = new Map();
const fileAgg = new Map();
for (const [id, us] of selfUs) {
  const cf = byId.get(id).callFrame;
  const name = cf.functionName || '(anonymous)';
  const key = `${name} ${where(cf)}`;
  const a = fnAgg.get(key) ?? { fn: name, at: where(cf), us: 0 };
  a.us += us;
  fnAgg.set(key, a);
  let f = cf.url ? where(cf).replace(/:\d+$/, '') : `(${name})`;
  if (f.includes('node_modules/')) f = f.replace(/^.*node_modules\//, 'node_modules/').split('/').slice(0, 2).join('/');
  else if (f.startsWith('node:')) f = 'node: internals';
  fileAgg.set(f, (fileAgg.get(f) ?? 0) + us);
}
const pct = (us) => (100 * us / total).toFixed(1);
const fns = [...fnAgg.values()].sort((a, b) => b.us - a.us).slice(0, top);
const files = [...fileAgg].sort((a, b) => b[1] - a[1]).slice(0, 15);
if (asJson) {
  console.log(JSON.stringify({ file: path.basename(file), total_ms: Math.round(total / 1000), functions: fns.map((f) => ({ ...f, ms: Math.round(f.us / 1000), pct: Number(pct(f.us)) })), files: files.map(([f, us]) => ({ file: f, ms: Math.round(us / 1000), pct: Number(pct(us)) })) }, null, 2));
} else {
  console.log(`Profile ${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled on the main thread.\n`);
  console.log('| self % | self ms | function | where |\n| ---: | ---: | --- | --- |');
  for (const f of fns) console.log(`| ${pct(f.us)} | ${Math.round(f.us / 1000)} | \`${f.fn}\` | ${f.at} |`);
  console.log('\n| self % | file |\n| ---: | --- |');
  for (const [f, us] of files) console.log(`| ${pct(us)} | ${f} |`);
}
