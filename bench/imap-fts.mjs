#!/usr/bin/env node
// Full-text search latency on a large mailbox (issue 4 point 7): one raw-socket IMAP session
// (no client library in the timings), LOGIN, SELECT, then
//   1. a first UID SEARCH TEXT (the warm-up: on Bulwark it indexes whatever the background
//      indexer has not reached yet, so it is reported on its own as the catch-up), then
//   2. --queries further UID SEARCH TEXT / UID SEARCH BODY queries, round robin over classes
//      of words of known document frequency (from bench/imap-fill.mjs --freq-out), common
//      body words of the generator, two-word AND queries and a word that occurs nowhere;
//      p50/p99 overall and per class, and each query's hit count against the expected one.
// Bounded: --queries, a per-query --timeout and --max-seconds for all; loopback only.
//
//   node bench/imap-fts.mjs --port 10143 --user user50@example.test --mailbox FTS --freq fts-freq.json
import net from 'node:net';
import fs from 'node:fs';
import { lib } from './imap-common.mjs';

const { args, assertLoopback, writeJson, machineInfo, stats } = lib;
const USAGE = `usage: node bench/imap-fts.mjs --freq FILE [--host 127.0.0.1 --port 10143] [--user user50@example.test]
       [--password secret] [--mailbox FTS] [--queries 50] [--timeout 300] [--max-seconds 1200]
       [--only-first]   (just LOGIN, SELECT and the first query: run it right after a fill)`;
const o = args({
  host: '127.0.0.1', port: 10143, user: 'user50@example.test', password: 'secret', mailbox: 'FTS', freq: '',
  queries: 50, timeout: 300, 'max-seconds': 1200, 'first-word': 'budget', 'only-first': false, label: '',
}, USAGE);
assertLoopback(o.host, '--host');
if (!o.freq) { console.error('--freq FILE is required (bench/imap-fill.mjs --freq-out)'); process.exit(2); }
if (o.queries < 1 || o.queries > 1000) throw new Error('--queries must be 1..1000');
const freq = JSON.parse(fs.readFileSync(o.freq, 'utf8'));
const stopAt = Date.now() + o['max-seconds'] * 1000;

// ---------- the query plan ----------
// Rare-word classes by target document frequency (share of the mailbox): for each, the words
// whose frequency is nearest, so every query in a class asks for another word of about the
// same frequency (no answer can come from a cache of the previous one).
const dfList = Object.entries(freq.df); // sorted by df, descending
const N = freq.messages;
function nearest(target, k) {
  return [...dfList].sort((a, b) => Math.abs(a[1] - target) - Math.abs(b[1] - target) || (a[0] < b[0] ? -1 : 1)).slice(0, k);
}
const classes = [];
const perClass = Math.max(1, Math.ceil(o.queries / 9));
for (const share of [0.3, 0.03, 0.003, 0.0003]) {
  const target = Math.max(1, Math.round(share * N));
  classes.push({ name: `rare word, ~${target} hits`, where: 'TEXT', items: nearest(target, perClass).map(([w, df]) => ({ q: w, expect: df })) });
}
classes.push({ name: 'rare word, fewest hits', where: 'BODY', items: dfList.slice(-perClass).map(([w, df]) => ({ q: w, expect: df })) });
classes.push({ name: 'word in no message', where: 'TEXT', items: Array.from({ length: perClass }, (_, i) => ({ q: `qwyqwy${'abcdefghij'[i % 10]}`, expect: 0 })) });
// Common body words of the shared generator (in most messages; the hit list is the answer).
classes.push({ name: 'common body word', where: 'BODY', items: ['invoice', 'schedule', 'migration', 'postmortem', 'vacation', 'holiday', 'network', 'contract', 'security'].slice(0, perClass).map((w) => ({ q: w, expect: null })) });
// Two words: a common one AND a rare one (the index intersects; a scan reads everything).
{
  const mids = nearest(Math.round(0.003 * N), perClass * 2).slice(perClass);
  classes.push({ name: 'common AND rare word', where: 'TEXT', items: mids.map(([w], i) => ({ q: `${['report', 'budget', 'meeting'][i % 3]} ${w}`, expect: null })) });
}
classes.push({ name: 'header word (sender name)', where: 'TEXT', items: ['Katrin', 'Hoffmann', 'Greta', 'Neumann', 'Lukas', 'Becker', 'Olga', 'Wagner', 'Ines'].slice(0, perClass).map((w) => ({ q: w, expect: null })) });
const plan = [];
for (let i = 0; plan.length < o.queries; i++) {
  const c = classes[i % classes.length];
  const it = c.items[Math.floor(i / classes.length) % c.items.length];
  plan.push({ cls: c.name, where: c.where, ...it });
}

// ---------- a minimal IMAP session ----------
class Session {
  constructor() { this.buf = ''; this.lines = []; this.waiter = null; this.n = 0; }
  connect() {
    return new Promise((resolve, reject) => {
      this.s = net.connect({ host: o.host, port: o.port });
      this.s.setEncoding('latin1');
      this.s.on('data', (d) => {
        this.buf += d;
        let i;
        while ((i = this.buf.indexOf('\r\n')) >= 0) {
          this.lines.push(this.buf.slice(0, i));
          this.buf = this.buf.slice(i + 2);
        }
        this.waiter?.();
      });
      this.s.on('error', (e) => { this.err = e; this.waiter?.(); reject(e); });
      this.s.on('close', () => { this.err ??= new Error('connection closed'); this.waiter?.(); });
      this.s.once('connect', resolve);
    });
  }
  async untilLine(pred, ms) {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex(pred);
      if (i >= 0) { const out = this.lines.splice(0, i + 1); return out; }
      if (this.err) throw this.err;
      const left = end - Date.now();
      if (left <= 0) throw new Error('timeout');
      await new Promise((r) => { const t = setTimeout(r, left); this.waiter = () => { clearTimeout(t); r(); }; });
      this.waiter = null;
    }
  }
  /** Sends a command; resolves to { ms, lines, status } when its tagged response arrives. */
  async cmd(text, ms = o.timeout * 1000) {
    const tag = `t${++this.n}`;
    const t0 = performance.now();
    this.s.write(`${tag} ${text}\r\n`);
    const lines = await this.untilLine((l) => l.startsWith(`${tag} `), ms);
    const ms_ = performance.now() - t0;
    const status = lines[lines.length - 1].slice(tag.length + 1).split(' ')[0];
    return { ms: ms_, lines, status, last: lines[lines.length - 1] };
  }
}
function searchHits(lines) {
  let n = 0;
  for (const l of lines) {
    if (!l.startsWith('* SEARCH')) continue;
    const rest = l.slice(8).trim();
    if (rest) n += rest.split(' ').length;
  }
  return n;
}

async function main() {
  const s = new Session();
  await s.connect();
  await s.untilLine((l) => l.startsWith('* '), 30000);
  const login = await s.cmd(`LOGIN "${o.user}" "${o.password}"`, 60000);
  if (login.status !== 'OK') throw new Error(`LOGIN: ${login.last}`);
  const sel = await s.cmd(`SELECT "${o.mailbox}"`, 300000);
  if (sel.status !== 'OK') throw new Error(`SELECT: ${sel.last}`);
  const exists = Number(/^\* (\d+) EXISTS/m.exec(sel.lines.join('\n'))?.[1] ?? 0);
  console.log(`bench/imap-fts: ${o.user}/${o.mailbox} has ${exists} messages (the fill made ${N}); SELECT took ${sel.ms.toFixed(0)} ms`);

  const first = await s.cmd(`UID SEARCH TEXT ${o['first-word']}`);
  const firstHits = searchHits(first.lines);
  console.log(`first query (warm-up; catch-up of pending indexing on Bulwark): TEXT ${o['first-word']}: ${first.ms.toFixed(1)} ms, ${firstHits} hits`);

  if (o['only-first']) {
    await s.cmd('LOGOUT', 10000).catch(() => {});
    s.s.destroy();
    writeJson(o.json, { tool: 'bench/imap-fts', label: o.label, machine: machineInfo(), params: { host: o.host, port: o.port, user: o.user, mailbox: o.mailbox },
      exists, select_ms: Math.round(sel.ms * 100) / 100, first: { q: `TEXT ${o['first-word']}`, ms: Math.round(first.ms * 100) / 100, hits: firstHits } });
    process.exit(0);
  }
  const results = [];
  let mismatches = 0;
  for (const p of plan) {
    if (Date.now() >= stopAt) break;
    let r;
    const criteria = p.q.split(' ').map((w) => `${p.where} ${w}`).join(' '); // several words: ANDed
    try { r = await s.cmd(`UID SEARCH ${criteria}`); } catch (e) { results.push({ ...p, error: e.message }); break; }
    const hits = searchHits(r.lines);
    const ok = r.status === 'OK' && (p.expect == null || hits === p.expect);
    if (!ok) mismatches++;
    results.push({ cls: p.cls, where: p.where, q: p.q, ms: Math.round(r.ms * 100) / 100, hits, expect: p.expect, status: r.status });
    console.log(`  ${p.where} ${p.q.padEnd(24)} ${r.ms.toFixed(1).padStart(9)} ms  ${String(hits).padStart(6)} hits${p.expect != null && hits !== p.expect ? ` (expected ${p.expect})` : ''}${r.status !== 'OK' ? ' ' + r.last : ''}`);
  }
  await s.cmd('LOGOUT', 10000).catch(() => {});
  s.s.destroy();

  const done = results.filter((r) => r.ms != null);
  const all = stats(done.map((r) => r.ms));
  const byClass = {};
  for (const c of classes) {
    const rs = done.filter((r) => r.cls === c.name);
    if (rs.length) byClass[c.name] = { ...stats(rs.map((r) => r.ms)), mean_hits: Math.round(rs.reduce((a, r) => a + r.hits, 0) / rs.length) };
  }
  console.log(`STEADY: ${done.length}/${plan.length} queries, p50 ${all.p50_ms} ms, p99 ${all.p99_ms} ms, max ${all.max_ms} ms; ${mismatches} hit-count mismatches`);
  for (const [k, v] of Object.entries(byClass)) console.log(`  ${k.padEnd(28)} n=${v.n} p50=${v.p50_ms} ms p99=${v.p99_ms} ms mean hits ${v.mean_hits}`);
  writeJson(o.json, {
    tool: 'bench/imap-fts', label: o.label, machine: machineInfo(),
    params: { host: o.host, port: o.port, user: o.user, mailbox: o.mailbox, queries: o.queries, fill_messages: N },
    exists, select_ms: Math.round(sel.ms * 100) / 100,
    first: { q: `TEXT ${o['first-word']}`, ms: Math.round(first.ms * 100) / 100, hits: firstHits },
    steady: all, by_class: byClass, mismatches, completed: done.length, planned: plan.length, queries: results,
  });
  process.exit(0);
}
main().catch((e) => { console.error('bench/imap-fts failed:', e.message); process.exit(1); });
