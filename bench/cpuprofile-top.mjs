#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, and
// self time per source file, as Markdown tables (or --json).
//   node bench/cpuprofile-top.mjs FILE.cpuprofile [--top 25] [--root SRC_DIR] [--skip-ms 4000] [--json]
// --skip-ms leaves out the first milliseconds of the profile (server start: module compilation,
// configuration, the start-up checks), so the figures are those of the work measured.
// Time spent in bench/sqlite-timing.mjs's wrapper (profile runs load it) is node:sqlite running
// statements: it is shown as "(node:sqlite statements)".
// Percentages are of the busy time (samples other than "(idle)"). For the heaviest functions
// it also names who called them: the nearest caller in the project's own code outside
// src/store/ and src/lib/ (the core or protocol function that asked for the work).
import fs from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
const file = argv.find((a) => !a.startsWith('--'));
const top = Number(argv[argv.indexOf('--top') + 1]) || 25;
const asJson = argv.includes('--json');
const rootArg = argv.includes('--root') ? argv[argv.indexOf('--root') + 1] : null;
const skipUs = argv.includes('--skip-ms') ? Number(argv[argv.indexOf('--skip-ms') + 1]) * 1000 : 0;
if (!file) { console.error('usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [--top 25] [--json]'); process.exit(2); }
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map();
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  const dt = prof.timeDeltas[i] ?? 0;
  at += dt;
  if (at < skipUs) continue;
  selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
}
let total = 0, idleUs = 0;
for (const [id, us] of selfUs) {
  if (byId.get(id).callFrame.functionName === '(idle)') idleUs += us; else total += us;
}
const root = rootArg ?? process.cwd();
function where(cf) {
  let u = cf.url || '';
  if (u.startsWith('file://')) u = u.slice(7);
  if (u.startsWith(root + '/')) u = u.slice(root.length + 1);
  return u ? `${u}:${cf.lineNumber + 1}` : '(native)';
}
const fnAgg = new Map();
const fileAgg = new Map();
const projectCaller = (id) => {
  for (let p = parent.get(id); p != null; p = parent.get(p)) {
    const cf = byId.get(p).callFrame;
    const w = where(cf);
    if (w.startsWith('src/') && !w.startsWith('src/store/') && !w.startsWith('src/lib/')) return `${cf.functionName || '(anonymous)'} ${w}`;
  }
  return '(none)';
};
for (const [id, us] of selfUs) {
  const cf = byId.get(id).callFrame;
  let name = cf.functionName || '(anonymous)';
  if (name === '(idle)') continue;
  if ((cf.url || '').endsWith('bench/sqlite-timing.mjs')) name = '(node:sqlite statements)';
  const w = name === '(node:sqlite statements)' ? 'node:sqlite (StatementSync all/run/get)' : where(cf);
  const key = `${name} ${w}`;
  const a = fnAgg.get(key) ?? { fn: name, at: w, us: 0 };
  a.us += us;
  a.callers ??= new Map();
  const k2 = projectCaller(id);
  a.callers.set(k2, (a.callers.get(k2) ?? 0) + us);
  fnAgg.set(key, a);
  let f = cf.url ? where(cf).replace(/:\d+$/, '') : `(${name})`;
  if (f.includes('node_modules/')) f = f.replace(/^.*node_modules\//, 'node_modules/').split('/').slice(0, 2).join('/');
  else if (f.startsWith('node:')) f = 'node: internals';
  fileAgg.set(f, (fileAgg.get(f) ?? 0) + us);
}
const pct = (us) => (100 * us / total).toFixed(1);
const fns = [...fnAgg.values()].sort((a, b) => b.us - a.us).slice(0, top);
const files = [...fileAgg].sort((a, b) => b[1] - a[1]).slice(0, 15);
const callersOf = (f) => [...f.callers].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([c, us]) => ({ caller: c, pct_of_fn: Math.round(100 * us / f.us) }));
if (asJson) {
  console.log(JSON.stringify({ file: path.basename(file), busy_ms: Math.round(total / 1000), idle_ms: Math.round(idleUs / 1000), functions: fns.map((f) => ({ fn: f.fn, at: f.at, ms: Math.round(f.us / 1000), pct: Number(pct(f.us)), callers: callersOf(f) })), files: files.map(([f, us]) => ({ file: f, ms: Math.round(us / 1000), pct: Number(pct(us)) })) }, null, 2));
} else {
  console.log(`Profile ${path.basename(file)}: main thread busy ${(total / 1e6).toFixed(1)} s, idle ${(idleUs / 1e6).toFixed(1)} s; percentages of the busy time.\n`);
  console.log('| self % | self ms | function | where |\n| ---: | ---: | --- | --- |');
  for (const f of fns) console.log(`| ${pct(f.us)} | ${Math.round(f.us / 1000)} | \`${f.fn}\` | ${f.at} |`);
  console.log('\n| self % | file |\n| ---: | --- |');
  for (const [f, us] of files) console.log(`| ${pct(us)} | ${f} |`);
  console.log('\nCallers (nearest core/protocol function) of the five heaviest:\n');
  for (const f of fns.slice(0, 5)) console.log(`- \`${f.fn}\` (${pct(f.us)} %): ${callersOf(f).map((c) => `${c.caller} ${c.pct_of_fn} %`).join('; ')}`);
}
