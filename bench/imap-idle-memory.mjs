#!/usr/bin/env node
// IMAP: resident memory of many concurrent IDLE sessions (issue 4 point 7). Opens N
// connections to 127.0.0.1:<port> (plain; the server must allow login without TLS, as the
// bench configures it), each LOGIN, SELECT INBOX, IDLE, spread over the given users; then
// reads the server's resident memory from /proc/<pid>/status, closes everything, and prints
// one JSON line. Raw sockets, not imapflow: the client must stay light enough to hold 10,000
// connections in one process.
//
//   node bench/imap-idle-memory.mjs --port 21143 --pid 1234 --connections 10000 --users 1-50 \
//     [--password secret] [--user-template user%d@example.test] [--parallel 100] [--json out.json]
//     [--proc-match dovecot]   (also every process whose command line holds this string: Dovecot)
// Reports the summed resident set (RSS) and the summed proportional set (PSS: shared pages
// divided among the processes sharing them; for one process nearly the same as RSS).
import net from 'node:net';
import fs from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']);
  return acc;
}, []));
const port = Number(args.port ?? 10143);
const pids = String(args.pid ?? '').split(',').filter(Boolean).map(Number);
const total = Number(args.connections ?? 10000);
const parallel = Number(args.parallel ?? 100);
const [lo, hi] = String(args.users ?? '1-50').split('-').map(Number);
const template = args['user-template'] ?? 'user%d@example.test';
const password = args.password ?? 'secret';
const holdMs = Number(args['hold-ms'] ?? 3000);

function rssKiB(pid) {
  // The server may be several processes (Dovecot: one imap process per connection): sum them.
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
}
function pssKiB(pid) {
  // Proportional set size: shared pages (libraries, a forked master's pages) divided among the
  // processes that map them, so a sum over many processes does not count them many times.
  const s = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Pss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
}
function rssOf(list, read = rssKiB) {
  let kib = 0;
  for (const p of list) {
    try { kib += read(p); } catch { /* gone */ }
  }
  return kib;
}
const pssOf = (list) => rssOf(list, pssKiB);
/** Every process whose command line matches (for servers with one process per session). */
function matching(pattern) {
  if (!pattern) return [];
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      // not this tool, nor the timeout/shell wrappers whose arguments name the pattern
      if (cmd.includes(pattern) && !cmd.includes('imap-idle-memory')) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function open(i) {
  return new Promise((resolve, reject) => {
    const user = template.replace('%d', String(lo + (i % (hi - lo + 1))));
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let step = 0;
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`connection ${i}: timeout at step ${step}`)); }, 120_000);
    s.setEncoding('latin1');
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('data', (d) => {
      buf += d;
      if (buf.length > 65536) buf = buf.slice(-4096);
      if (step === 0 && /^\* OK/m.test(buf)) { step = 1; buf = ''; s.write(`a LOGIN ${user} ${password}\r\n`); }
      else if (step === 1 && /^a (OK|NO|BAD)/m.test(buf)) {
        if (!/^a OK/m.test(buf)) { clearTimeout(timer); s.destroy(); return reject(new Error(`login failed: ${buf.trim().split('\n').pop()}`)); }
        step = 2; buf = ''; s.write('b SELECT INBOX\r\n');
      } else if (step === 2 && /^b (OK|NO|BAD)/m.test(buf)) { step = 3; buf = ''; s.write('c IDLE\r\n'); }
      else if (step === 3 && /^\+ /m.test(buf)) { step = 4; buf = ''; clearTimeout(timer); resolve(s); }
    });
  });
}

const t0 = Date.now();
const procs = () => [...new Set([...pids, ...matching(args['proc-match'])])];
const before = rssOf(procs());
const pssBefore = pssOf(procs());
const sockets = [];
let failed = 0;
let firstError = null;
for (let i = 0; i < total; i += parallel) {
  const batch = await Promise.allSettled(Array.from({ length: Math.min(parallel, total - i) }, (_, k) => open(i + k)));
  for (const r of batch) {
    if (r.status === 'fulfilled') sockets.push(r.value);
    else { failed++; firstError ??= r.reason?.message; }
  }
}
const setupMs = Date.now() - t0;
await new Promise((r) => setTimeout(r, holdMs));
const held = procs();
const after = rssOf(held);
const pssAfter = pssOf(held);
const out = {
  connections: sockets.length, failed, firstError, setupSeconds: setupMs / 1000,
  rssBeforeMiB: +(before / 1024).toFixed(1), rssIdleMiB: +(after / 1024).toFixed(1),
  perConnectionKiB: sockets.length ? +((after - before) / sockets.length).toFixed(2) : null,
  pssBeforeMiB: +(pssBefore / 1024).toFixed(1), pssIdleMiB: +(pssAfter / 1024).toFixed(1),
  pssPerConnectionKiB: sockets.length ? +((pssAfter - pssBefore) / sockets.length).toFixed(2) : null,
  processes: held.length,
};
console.log(JSON.stringify(out));
if (args.json) fs.writeFileSync(args.json, JSON.stringify(out, null, 2));
for (const s of sockets) s.destroy();
process.exit(0);
