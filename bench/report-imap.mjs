// Turns one bench/imap.sh run (bench/results/imap-<time>/) into a Markdown section for
// bench/RESULTS.md: the mixed load, IDLE wake-up, full-text search and IDLE memory, both
// servers side by side, ratios Bulwark / Dovecot, the targets of issue 4 point 7, the machine's
// condition per step, and the top of Bulwark's CPU profiles.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); } catch { return null; } };
const text = (f) => { try { return fs.readFileSync(path.join(dir, f), 'utf8'); } catch { return ''; } };
const r2 = (x) => (x == null || Number.isNaN(x) ? 'n/a' : Math.abs(x) >= 100 ? String(Math.round(x)) : String(Math.round(x * 100) / 100));
const ratio = (a, b) => (a == null || b == null || b === 0 ? 'n/a' : (a / b).toFixed(2));
const out = [];
const p = (...l) => out.push(...l);

const machine = text('machine.txt');
const commit = /bulwark commit: (\w+)/.exec(machine)?.[1]?.slice(0, 7) ?? '?';
const params = /params: (.*)/.exec(machine)?.[1] ?? '';
p('', `## IMAP, ${new Date().toISOString().slice(0, 16)}Z (${path.basename(dir)}, Bulwark ${commit})`, '');
p(`Parameters: ${params}. Both servers without TLS (Dovecot's bench setup has \`ssl = no\`; Bulwark with BULWARK_AUTH_REQUIRE_TLS=false), plaintext LOGIN/AUTHENTICATE PLAIN over 127.0.0.1; Dovecot with \`{PLAIN}\` passwords, Bulwark with argon2id (and its verified-login cache). Bulwark on its embedded defaults (SQLite, files), started with \`node --max-semi-space-size=16 --heap-growing-percent=30 bin/bulwark.js serve\` from a snapshot of the commit.`, '');

// ---------- mixed load ----------
function loadTable(dl, bl, title) {
  if (!dl?.main || !bl?.main) return;
  p(`### ${title}: ${bl.params.clients} clients x ${bl.params.rounds} rounds on a ${bl.params.mailbox_messages}-message INBOX (Dovecot ${dl.params.mailbox_messages})`, '');
  p('| operation | n | Dovecot p50 / p99 ms | Bulwark p50 / p99 ms | p50 ratio (Bulwark / Dovecot; < 1 is faster) | share of the clients\' time, Dovecot / Bulwark |', '| --- | ---: | --- | --- | ---: | --- |');
  const busy = (j) => Object.values(j.main.ops).reduce((a, o) => a + o.n * o.mean_ms, 0);
  const bd = busy(dl), bb = busy(bl);
  for (const op of ['login', 'select', 'fetch_all_flags', 'uid_fetch_body', 'uid_store_seen', 'search_subject', 'search_text', 'logout']) {
    const d = dl.main.ops[op], b = bl.main.ops[op];
    if (!d && !b) continue;
    p(`| ${op} | ${b?.n ?? d?.n} | ${r2(d?.p50_ms)} / ${r2(d?.p99_ms)} | ${r2(b?.p50_ms)} / ${r2(b?.p99_ms)} | ${ratio(b?.p50_ms, d?.p50_ms)} | ${d ? Math.round(100 * d.n * d.mean_ms / bd) : '-'} % / ${b ? Math.round(100 * b.n * b.mean_ms / bb) : '-'} % |`);
  }
  p(`| **all operations, per second** | ${bl.main.total_ops} | **${dl.main.ops_per_s} ops/s** (${dl.main.wall_s} s) | **${bl.main.ops_per_s} ops/s** (${bl.main.wall_s} s) | **${ratio(bl.main.ops_per_s, dl.main.ops_per_s)}** (ops/s, > 1 is faster) | |`);
  p('', `Machine busy during the run (whole machine, both the server and the load tool): Dovecot ${dl.main.cpu.machine_busy_cores} cores, Bulwark ${bl.main.cpu.machine_busy_cores} cores; load tool ${dl.main.cpu.loadgen_cpu_cores} / ${bl.main.cpu.loadgen_cpu_cores} cores. Failed cycles: Dovecot ${dl.main.failed_cycles}, Bulwark ${bl.main.failed_cycles}.${bl.params.text_searches ? ` SEARCH TEXT hits per word: Dovecot ${JSON.stringify(dl.main.text_hits)}, Bulwark ${JSON.stringify(bl.main.text_hits)}.` : ''}`);
  const errs = { ...Object.fromEntries(Object.entries(dl.errors ?? {}).map(([k, v]) => [`Dovecot ${k}`, v])), ...Object.fromEntries(Object.entries(bl.errors ?? {}).map(([k, v]) => [`Bulwark ${k}`, v])) };
  if (Object.keys(errs).length) p('', `Errors: ${JSON.stringify(errs)}`);
  p('');
}
const dl = read('peers-load.json'), bl = read('bulwark-load.json');
const dln = read('peers-load-notext.json'), bln = read('bulwark-load-notext.json');
loadTable(dl, bl, 'Mixed load with SEARCH TEXT (the issue\'s mix)');
loadTable(dln, bln, 'The same without SEARCH TEXT (the mix of ../shared/bench/load/imap-load.mjs)');

// ---------- IDLE wake-up ----------
const idles = [['Bulwark, its SMTP port', read('bulwark-idle-smtp.json')], ['Postfix SMTP -> Dovecot LMTP', read('peers-idle-smtp.json')], ['Dovecot LMTP directly', read('peers-idle-lmtp.json')]];
if (idles.some(([, j]) => j?.idle)) {
  const any = idles.find(([, j]) => j?.idle)[1].idle;
  p(`### IDLE wake-up: ${any.idle_clients} clients IDLE on one INBOX, ${any.deliveries} deliveries one at a time`, '');
  p('| path | 250 (end of data) p50 / p99 ms | 250 -> EXISTS p50 / p99 ms | EXISTS - 250, signed, p50 ms | send -> EXISTS p50 / p99 ms | missed |', '| --- | --- | --- | --- | --- | ---: |');
  for (const [name, j] of idles) {
    if (!j?.idle) continue;
    const o = j.idle.ops;
    const acc = o.idle_smtp_accept ?? o.idle_lmtp_delivery;
    p(`| ${name} | ${r2(acc?.p50_ms)} / ${r2(acc?.p99_ms)} | ${r2(o.idle_wakeup_from_ack?.p50_ms)} / ${r2(o.idle_wakeup_from_ack?.p99_ms)} | ${r2(o.idle_exists_minus_ack?.p50_ms)} | ${r2(o.idle_wakeup_from_send?.p50_ms)} / ${r2(o.idle_wakeup_from_send?.p99_ms)} | ${j.idle.missed} |`);
  }
  const b = idles[0][1]?.idle?.ops, d = idles[1][1]?.idle?.ops;
  if (b && d) p('', `Ratio Bulwark / Postfix+Dovecot, send -> EXISTS p50: ${ratio(b.idle_wakeup_from_send?.p50_ms, d.idle_wakeup_from_send?.p50_ms)}; p99: ${ratio(b.idle_wakeup_from_send?.p99_ms, d.idle_wakeup_from_send?.p99_ms)}. Postfix answers 250 when the message is in its queue, Bulwark after the commit into the mailbox, so "250 -> EXISTS" is not the same span on both; "send -> EXISTS" (from the first byte of the SMTP transaction) is. A negative signed value: the EXISTS reached the client before the 250 did (clamped to 0 in the column before).`);
  p('');
}

// ---------- full-text search ----------
const bf = read('bulwark-fts.json'), df = read('peers-fts.json'), xf = read('xapian-fts.json');
const bff = read('bulwark-fts-first.json'), dff = read('peers-fts-first.json');
const pend0 = read('bulwark-pending-before-first.json'), pend1 = read('bulwark-pending-after-first.json');
const steps = Object.fromEntries(text('steps.tsv').trim().split('\n').filter(Boolean).map((l) => { const [n, rc, ms] = l.split('\t'); return [n, { rc: Number(rc), ms: Number(ms) }]; }));
if (bf || df) {
  const fill = read('bulwark-fill-fts.json') ?? read('peers-fill-fts.json');
  p(`### Full-text search: one session, ${bf?.params.fill_messages ?? df?.params.fill_messages} text messages in one mailbox (mean ${fill?.mean_msg_bytes ?? '?'} bytes), UID SEARCH TEXT / BODY`, '');
  const cols = [['Bulwark', bf], ['Dovecot (stock: no FTS plugin)', df], ['Dovecot + fts-xapian', xf]].filter(([, j]) => j);
  p(`| | ${cols.map(([n]) => n).join(' | ')} |`, `| --- |${cols.map(() => ' --- |').join('')}`);
  const row = (label, f) => p(`| ${label} | ${cols.map(([, j]) => f(j)).join(' | ')} |`);
  row('queries completed', (j) => `${j.completed} of ${j.planned}${j.mismatches ? `, ${j.mismatches} hit counts differ from the generator's` : ''}`);
  row('**steady p50 / p99 ms**', (j) => `**${r2(j.steady.p50_ms)}** / ${r2(j.steady.p99_ms)}`);
  const classes = [...new Set(cols.flatMap(([, j]) => Object.keys(j.by_class)))];
  for (const c of classes) row(`${c}: p50 ms (mean hits)`, (j) => (j.by_class[c] ? `${r2(j.by_class[c].p50_ms)} (${j.by_class[c].mean_hits})` : 'n/a'));
  row('SELECT of the mailbox, ms', (j) => r2(j.select_ms));
  p('', `Ratios Bulwark / Dovecot, steady p50: ${df ? ratio(bf?.steady.p50_ms, df.steady.p50_ms) : 'n/a'} against stock Dovecot${xf ? `, ${ratio(bf?.steady.p50_ms, xf.steady.p50_ms)} against Dovecot with fts-xapian` : ''}.`);
  const first = [];
  if (bff) first.push(`Bulwark's first search right after the fill (${bff.first.q}): ${r2(bff.first.ms)} ms, with ${pend0?.pending_at_start ?? '?'} of ${pend0?.messages ?? '?'} messages not yet indexed when it started (the search indexes its own mailbox's pending messages first); the background indexer then needed ${pend1?.waited_s ?? '?'} s more for the ${pend1?.pending_at_start ?? '?'} still pending elsewhere${pend1?.pending_at_end ? ` (${pend1.pending_at_end} still pending when the wait ended)` : ''}`);
  if (dff) first.push(`stock Dovecot's first SELECT after its fill ${r2(dff.select_ms)} ms (it takes up the new maildir files), its first search ${r2(dff.first.ms)} ms`);
  if (bff) first.push(`Bulwark's first SELECT ${r2(bff.select_ms)} ms`);
  if (steps['xapian-index']) first.push(`building the fts-xapian index of the mailbox (\`doveadm index\`): ${r2(steps['xapian-index'].ms / 1000)} s (rc ${steps['xapian-index'].rc})`);
  if (first.length) p('', `Catch-up, apart from the steady state: ${first.join('; ')}.`);
  p('');
}

// ---------- IDLE memory ----------
const bm = read('bulwark-idle-memory.json'), dm = read('peers-idle-memory.json');
if (bm || dm) {
  p('### 10,000 concurrent IDLE connections (LOGIN, SELECT INBOX, IDLE; spread over 50 users)', '');
  p('| | connections held (failed) | processes | resident, summed RSS MiB | proportional, summed PSS MiB | per connection (PSS) KiB | server before (RSS / PSS MiB) |', '| --- | --- | ---: | ---: | ---: | ---: | --- |');
  for (const [n, j] of [['Bulwark (one process, fresh start)', bm], ['Dovecot (a process per session; limits raised in a copy of its config)', dm]]) {
    if (!j) continue;
    p(`| ${n} | ${j.connections} (${j.failed}${j.firstError ? `: ${j.firstError}` : ''}) | ${j.processes} | ${r2(j.rssIdleMiB)} | ${r2(j.pssIdleMiB)} | ${r2(j.pssPerConnectionKiB)} | ${r2(j.rssBeforeMiB)} / ${r2(j.pssBeforeMiB)} |`);
  }
  if (bm && dm) p('', `Ratio Bulwark / Dovecot in memory per connection (PSS): ${ratio(bm.pssPerConnectionKiB, dm.pssPerConnectionKiB)}; in total (PSS): ${ratio(bm.pssIdleMiB, dm.pssIdleMiB)}. For Dovecot the RSS sum counts the pages its processes share once per process; the PSS sum divides them among the sharers and is the memory actually used.`);
  p('');
}

// ---------- targets ----------
p('### Targets (issue 4 point 7)', '');
const t = [];
if (dl?.main && bl?.main) t.push(`operations per second at least Dovecot's: ${bl.main.ops_per_s} against ${dl.main.ops_per_s} (ratio ${ratio(bl.main.ops_per_s, dl.main.ops_per_s)}): **${bl.main.ops_per_s >= dl.main.ops_per_s ? 'met' : 'not met'}** with the issue's mix${dln?.main && bln?.main ? `; without SEARCH TEXT ${bln.main.ops_per_s} against ${dln.main.ops_per_s} (ratio ${ratio(bln.main.ops_per_s, dln.main.ops_per_s)}): ${bln.main.ops_per_s >= dln.main.ops_per_s ? 'met' : 'not met'}` : ''}`);
if (bm) t.push(`10,000 IDLE connections in under 300 MB: ${bm.connections} held in ${r2(bm.rssIdleMiB)} MiB RSS (${r2(bm.rssIdleMiB * 1.048576)} MB): **${bm.connections >= 10000 && bm.rssIdleMiB * 1.048576 < 300 ? 'met' : 'not met'}**`);
if (bf) t.push(`search p50 under 50 ms on the 100,000-message mailbox: ${r2(bf.steady.p50_ms)} ms: **${bf.steady.p50_ms < 50 ? 'met' : 'not met'}**`);
for (const x of t) p(`- ${x}`);
p('');

// ---------- conditions ----------
p('### Conditions', '');
const cmds = text('commands.txt');
const quiet = [];
const re = /^=== (\S+): .*\n(.*)$/gm;
let m;
while ((m = re.exec(cmds))) {
  const b = /busy before start: ([\d.]+) cores/.exec(m[2]) ?? /busy ([\d.]+) cores/.exec(m[2]) ?? /still busy \(([\d.]+) cores\)/.exec(m[2]);
  quiet.push(`${m[1]} ${b ? b[1] : '?'}${/WARNING/.test(m[2]) ? ' (not quiet after the wait)' : ''}`);
}
if (quiet.length) p(`Machine busy (cores, of ${/nproc: (\d+)/.exec(machine)?.[1] ?? '?'}) just before each step: ${quiet.join(', ')}.`);
// Foreign load: processes in the 10-s samples that are neither the servers, the load tools nor the kernel.
const ours = /bulwark\.js|bench\/imap-|dovecot|doveadm|postfix|\bsmtpd\b|\bcleanup\b|\bqmgr\b|\blmtp\b|trivial-rewrite|top -b|kworker|ksoftirqd|kswapd|jbd2|rcu_|\bimap\b|imap-login|\banvil\b|\bauth\b|\bindexer/;
const foreign = [];
for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.top.txt')).sort()) {
  const samples = text(f).split(/^\d\d:\d\d:\d\d$/m).slice(1);
  let worst = 0;
  const who = new Map();
  for (const s of samples) {
    let sum = 0;
    for (const line of s.split('\n')) {
      const c = line.trim().split(/\s+/);
      if (c.length < 12 || !/^\d+$/.test(c[0])) continue;
      const cpu = Number(c[8]);
      const cmd = c.slice(11).join(' ');
      if (!(cpu >= 10) || ours.test(cmd)) continue;
      sum += cpu;
      const k = /vitest/.test(cmd) ? 'vitest (test suite)' : cmd.split(' ')[0].split('/').pop();
      who.set(k, (who.get(k) ?? 0) + 1);
    }
    worst = Math.max(worst, sum);
  }
  if (worst >= 20) foreign.push(`${f.replace('.top.txt', '')}: up to ${(worst / 100).toFixed(2)} cores (${[...who.keys()].slice(0, 3).join(', ')}; in ${Math.max(...who.values())} of ${samples.length} samples)`);
}
p(foreign.length ? `Other work seen on the machine during steps (top samples every ~10 s, processes other than the servers and tools at 10 % CPU or more): ${foreign.join('; ')}.` : 'No other work at 10 % CPU or more was seen in the top samples during the steps.');
const fails = Object.entries(steps).filter(([, v]) => v.rc !== 0).map(([k, v]) => `${k} rc=${v.rc}`);
if (fails.length) p('', `Steps that did not exit 0: ${fails.join(', ')} (see their logs in the results directory).`);
const bfill = read('bulwark-fill-fts.json'), dfill = read('peers-fill-fts.json'), bfi = read('bulwark-fill-inbox.json'), dfi = read('peers-fill-inbox.json');
p('', `Filling (APPEND, ../shared/bench's message generator; INBOX the shared filler's exact messages, the full-text mailbox text mail only with 20 words per message from a Zipf-distributed synthetic vocabulary): INBOX ${bfi?.appended ?? '?'} messages at ${bfi?.appends_per_s ?? '?'}/s into Bulwark and ${dfi?.appended ?? '?'} at ${dfi?.appends_per_s ?? '?'}/s into Dovecot over 4 connections; full-text mailbox ${bfill?.appended ?? '?'} messages into Bulwark by APPEND at ${bfill?.appends_per_s ?? '?'}/s over 8 connections, ${dfill?.appended ?? '?'} into Dovecot ${dfill?.method === 'maildir files' ? `written as maildir files into the folder (bench/maildir-fill.mjs, ${dfill.wall_s} s; APPEND into a Dovecot maildir slows down as the folder grows, each APPEND rewriting dovecot-uidlist: 150/s at the start, 22/s at 25,000 messages on this machine, over 1 or 8 connections alike), which Dovecot indexed on first access` : `at ${dfill?.appends_per_s ?? '?'}/s`}. Every rare word's hit count was checked against the generator's count on both servers (the "differ" note in the search table says if one was off).`);
const rl = read('bulwark-rss-load.json'), rf = read('bulwark-rss-fill.json'), re0 = read('bulwark-rss-empty.json'), rfr = read('bulwark-rss-fresh.json');
if (rl || rf) p('', `Bulwark's resident memory: ${re0 ? `freshly started on the store with the 50 accounts and no message ${re0.empty_store_rss_mib} MiB; ` : ''}after the fills ${rf?.after_fill_rss_mib ?? '?'} MiB, after load and searches ${rl?.after_load_rss_mib ?? '?'} MiB${rfr ? `; restarted on the filled store ${rfr.fresh_start_rss_mib} MiB right after start and ${rfr.fresh_after_60s_rss_mib} MiB 60 s later` : ''}.`);
p('');

// ---------- profile ----------
for (const what of ['load', 'fts']) {
  const top = read(`profile-${what}/top.json`);
  if (!top) continue;
  const sq = read(`profile-${what}/sqlite-statements.json`) ?? [];
  p(`Bulwark CPU profile, short repeat of the ${what === 'load' ? 'mixed load (1 round)' : 'full-text queries (18)'}: main thread busy ${(top.busy_ms / 1000).toFixed(1)} s, idle ${(top.idle_ms / 1000).toFixed(1)} s. Top self time:`, '');
  p('| self % of busy | function | where | called from (core/protocol) |', '| ---: | --- | --- | --- |');
  for (const f of top.functions.slice(0, 10)) p(`| ${f.pct} | \`${f.fn}\` | ${f.at} | ${f.callers.filter((c) => c.caller !== '(none)').slice(0, 2).map((c) => `${c.caller} (${c.pct_of_fn} %)`).join('; ') || '-'} |`);
  if (sq.length) {
    const tot = sq.reduce((a, s) => a + s.ms, 0);
    p('', `SQLite statements by time (node:sqlite runs them synchronously on the main thread; ${tot} ms in all):`, '');
    p('| ms | calls | rows | statement |', '| ---: | ---: | ---: | --- |');
    for (const s of sq.slice(0, 6)) p(`| ${s.ms} | ${s.n} | ${s.rows} | \`${s.sql.slice(0, 160).replace(/\|/g, '\\|')}\` |`);
  }
  p('');
}
console.log(out.join('\n'));
