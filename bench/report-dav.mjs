// Turns one bench/dav.sh run (bench/results/dav-<time>/) into a Markdown section for
// bench/RESULTS.md: each CalDAV operation and the mix, both servers side by side, the ratios
// Bulwark / Radicale, the targets of issue 5 point 9 and whether each is met, whether every
// answer was correct, Bulwark's resident memory, the machine's condition per step, and the top
// of Bulwark's CPU profile.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); } catch { return null; } };
const text = (f) => { try { return fs.readFileSync(path.join(dir, f), 'utf8'); } catch { return ''; } };
const r2 = (x) => (x == null || Number.isNaN(x) ? 'n/a' : Math.abs(x) >= 100 ? String(Math.round(x)) : String(Math.round(x * 100) / 100));
const ratio = (a, b) => (a == null || b == null || b === 0 ? 'n/a' : (a / b).toFixed(2));
const out = [];
const p = (...l) => out.push(...l);

const THROUGHPUT_X = 10, P99_MS = 50;    // issue 5 point 9
const machine = text('machine.txt');
const commit = /bulwark commit: (\w+)/.exec(machine)?.[1]?.slice(0, 7) ?? '?';
const params = /params: (.*)/.exec(machine)?.[1] ?? '';
const rl = read('peers-load.json'), bl = read('bulwark-load.json');
const rf = read('peers-fill.json'), bf = read('bulwark-fill.json');
const rver = text('radicale-version.txt').trim().split('\n').filter(Boolean).join(', ');
// the run's start, from the directory's name (dav-YYYYMMDDTHHMMSSZ)
const st = /(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)/.exec(path.basename(dir));
const when = st ? `${st[1]}-${st[2]}-${st[3]}T${st[4]}:${st[5]}Z` : `${new Date().toISOString().slice(0, 16)}Z`;
p('', `## CalDAV, ${when} (${path.basename(dir)}, Bulwark ${commit})`, '');
p(`Parameters: ${params}. Radicale (${rver || 'version not recorded'}) as ../shared/bench/peers/setup-radicale.sh sets it up (its defaults: htpasswd with apr1-MD5, checked on every request; max_connections 8; multifilesystem storage); Bulwark on its embedded defaults (SQLite, files), started with \`node --max-semi-space-size=16 --heap-growing-percent=30 bin/bulwark.js serve\` from a snapshot of the commit, only its HTTP listener on. Both over plain HTTP on 127.0.0.1, HTTP Basic on every request (Bulwark with BULWARK_AUTH_REQUIRE_TLS=false and its verified-login cache); the load tool keeps connections alive where the server does (Radicale answers HTTP/1.0 and closes each).`, '');

const c = bl?.calendar ?? rl?.calendar ?? bf?.calendar;
if (c) {
  p(`Calendar (bench/dav-fill.mjs, the same for both): ${c.events} events over the year ${(bl ?? rl)?.params.month?.slice(0, 4) ?? "?"}, ${c.recurring} recurring (${Object.entries(c.rules).map(([k, v]) => `${k} ${v}`).join(', ')}; weekly = without end), ${c.with_override} with an overridden instance (RECURRENCE-ID, moved a day), ${c.with_exdate} with an EXDATE; ${c.in_europe_berlin} in Europe/Berlin with its VTIMEZONE, the rest UTC; ${c.all_day} all-day; ${c.with_attendees} with external attendees, ${c.with_alarm} with an alarm; mean ${c.mean_bytes} bytes. The month queried holds ${bl?.expected?.query_events ?? rl?.expected?.query_events ?? '?'} of them (${bl?.params.month ?? rl?.params.month}, computed from the generator with recurrence, overrides and EXDATE applied).`, '');
}

// ---------- per operation ----------
const OPS = [
  ['query', 'calendar-query, one month, ETags'],
  ['query_data', 'calendar-query, one month, with calendar-data'],
  ['multiget', 'calendar-multiget of 100 (ETag + data)'],
  ['get', 'GET of one event'],
  ['sync', 'sync-collection after 10 changes'],
  ['mix', 'the four weighted by --mix, read-only'],
];
const TARGET_OPS = ['query', 'multiget', 'get', 'sync', 'mix'];   // the issue's four, and the mix
const targets = [];
if (rl?.phases && bl?.phases) {
  const pr = rl.params;
  p(`### ${pr.clients} concurrent clients, each operation on its own for ${pr.seconds} s (the mix ${pr.mix_seconds} s: ${pr.mix})`, '');
  p('Correct answers per second (a wrong answer counts as not done) and latency of every answer. "x" ratio: Bulwark\'s rate / Radicale\'s (target at least 10); p99 target under 50 ms.', '');
  p('| operation | Radicale n | Radicale ops/s | Radicale p50 / p99 ms | Bulwark n | Bulwark ops/s | Bulwark p50 / p99 ms | ratio ops/s | wrong answers (Radicale / Bulwark) | server CPU cores (Radicale / Bulwark) |', '| --- | ---: | ---: | --- | ---: | ---: | --- | ---: | --- | --- |');
  for (const [op, label] of OPS) {
    const a = rl.phases[op], b = bl.phases[op];
    if (!a && !b) continue;
    const la = op === 'sync' ? a?.by_op.sync : a?.latency, lb = op === 'sync' ? b?.by_op.sync : b?.latency;
    const x = a && b ? b.ops_per_s / a.ops_per_s : null;
    p(`| ${op === 'mix' ? '**the mix**' : op} (${label}) | ${a?.ok ?? '-'} | ${r2(a?.ops_per_s)} | ${r2(la?.p50_ms)} / ${r2(la?.p99_ms)} | ${b?.ok ?? '-'} | ${r2(b?.ops_per_s)} | ${r2(lb?.p50_ms)} / ${r2(lb?.p99_ms)} | **${x == null ? 'n/a' : x.toFixed(2)}** | ${a?.wrong ?? '-'} / ${b?.wrong ?? '-'} | ${r2(a?.server_cpu_cores)} / ${r2(b?.server_cpu_cores)} |`);
    if (TARGET_OPS.includes(op) && a && b) targets.push({ op, x, p99: lb?.p99_ms, wrong: b.wrong + (b.errors ?? 0) });
  }
  const mr = rl.phases.mix, mb = bl.phases.mix;
  if (mr && mb) {
    p('', 'Inside the mix, per operation (p50 / p99 ms; ops/s of correct answers):', '');
    p('| operation | Radicale | Bulwark |', '| --- | --- | --- |');
    for (const op of Object.keys({ ...mr.by_op, ...mb.by_op })) {
      const a = mr.by_op[op], b = mb.by_op[op];
      p(`| ${op} | ${a ? `${r2(a.p50_ms)} / ${r2(a.p99_ms)}; ${r2(a.ok_per_s)}/s` : '-'} | ${b ? `${r2(b.p50_ms)} / ${r2(b.p99_ms)}; ${r2(b.ok_per_s)}/s` : '-'} |`);
    }
  }
  const sr = rl.phases.sync, sb = bl.phases.sync;
  if (sr && sb) {
    p('', `Sync rounds: Radicale ${sr.rounds}, Bulwark ${sb.rounds}, each 10 changes (PUT with If-Match of 8-9 events, a new event, the previous round's new event deleted) made one after another by one client, then ${sb.syncs_per_round} syncs at once from the token before the changes; ops/s over the bursts only. The writes, p50 / p99 ms: Radicale ${Object.entries(sr.writes.by_op).map(([k, v]) => `${k} ${r2(v.p50_ms)} / ${r2(v.p99_ms)}`).join(', ')}; Bulwark ${Object.entries(sb.writes.by_op).map(([k, v]) => `${k} ${r2(v.p50_ms)} / ${r2(v.p99_ms)}`).join(', ')}. Initial sync (no token, all items): Radicale ${r2(sr.by_op.sync_initial?.p50_ms)} ms, Bulwark ${r2(sb.by_op.sync_initial?.p50_ms)} ms.`);
  }
  const ovf = (j) => Object.entries(j.phases).filter(([, x]) => x.tcp?.listen_overflows).map(([k, x]) => `${k} ${x.tcp.listen_overflows}`);
  if (ovf(rl).length || ovf(bl).length) p('', `Listen-queue overflows (the kernel dropped a connection's SYN because the server did not accept in time; the client retransmits it after 1 s, which shows in the p99), machine-wide counters over each phase: Radicale ${ovf(rl).join(', ') || 'none'}; Bulwark ${ovf(bl).join(', ') || 'none'}. Radicale closes every connection after its answer (HTTP/1.0) and stops accepting while its max_connections (8) are busy, so with ${pr.clients} clients new connections queue in its listen backlog of 5.`);
  const lg = (j) => Object.values(j.phases).map((x) => x.cpu?.loadgen_cpu_cores ?? 0);
  p('', `The load tool itself used at most ${r2(Math.max(...lg(rl)))} cores (Radicale run) and ${r2(Math.max(...lg(bl)))} cores (Bulwark run) in a phase, of ${rl.machine?.nproc ?? 2}.`);
  // checks and wrong answers
  const wrongs = [];
  for (const [name, j] of [['Radicale', rl], ['Bulwark', bl]]) {
    const v = j.verify;
    const failed = ['listing', 'query', 'query_data', 'multiget', 'get'].filter((k) => !v[k]?.ok).map((k) => `${k}: ${v[k]?.why ?? JSON.stringify(v[k])}`);
    for (const [ph, x] of Object.entries(j.phases)) {
      for (const [op, s] of Object.entries(x.wrong_samples ?? {})) wrongs.push(`${name} ${ph}/${op} (${x.by_op[op]?.wrong ?? '?'} wrong): ${s[0]}`);
      for (const [op, s] of Object.entries(x.writes?.wrong_samples ?? {})) wrongs.push(`${name} ${ph} write ${op}: ${s[0]}`);
      for (const [e, n] of Object.entries(x.error_list ?? {})) wrongs.push(`${name} ${ph} error x${n}: ${e}`);
    }
    for (const f of failed) wrongs.push(`${name} check before the timing, ${f}`);
  }
  p('', wrongs.length ? `Wrong answers and errors: ${wrongs.slice(0, 12).join('; ')}${wrongs.length > 12 ? `; and ${wrongs.length - 12} more kinds` : ''}.` :
    `Every answer of both servers was correct: the listing held exactly the ${c?.events} events, each query named exactly the ${bl.expected.query_events} expected events with their current ETags, each multiget the 100 asked with the right UID, SUMMARY and ETag, each GET the right event and ETag, each sync exactly the 10 changes (the deleted event as 404) with the ETags the PUTs returned.`);
  p('');
}

// ---------- targets ----------
p('### Targets (issue 5 point 9)', '');
if (targets.length) {
  const t1 = targets.map((t) => `${t.op} ${t.x == null ? 'n/a' : t.x.toFixed(2)}x ${t.x >= THROUGHPUT_X ? 'met' : '**not met**'}`);
  const t2 = targets.map((t) => `${t.op} ${r2(t.p99)} ms ${t.p99 < P99_MS ? 'met' : '**not met**'}`);
  const allX = targets.every((t) => t.x >= THROUGHPUT_X), allP = targets.every((t) => t.p99 < P99_MS), allOk = targets.every((t) => t.wrong === 0) && bl.correct;
  p(`- at least ${THROUGHPUT_X} times Radicale's throughput: ${t1.join('; ')}: **${allX ? 'met' : 'not met'}**`);
  p(`- Bulwark's p99 under ${P99_MS} ms (${bl.params.clients} concurrent clients): ${t2.join('; ')}: **${allP ? 'met' : 'not met'}**`);
  p(`- every answer correct: Bulwark ${allOk ? 'yes' : `**no** (${bl.wrong} wrong, ${bl.errors} errors)`}; Radicale ${rl.correct ? 'yes' : `no (${rl.wrong} wrong, ${rl.errors} errors)`}`);
  const qd = bl.phases.query_data, qr = rl.phases.query_data;
  if (qd && qr) p(`- (not one of the issue's four) calendar-query with calendar-data: ${ratio(qd.ops_per_s, qr.ops_per_s)}x, p99 ${r2(qd.latency.p99_ms)} ms`);
} else p('- not evaluated: one of the two load results is missing.');
p('');

// ---------- other figures ----------
p('### Fill, memory, conditions', '');
const fillTxt = [];
if (rf) fillTxt.push(`Radicale ${rf.stored} events by ${rf.params.method === 'bulk' ? `one whole-collection PUT (Radicale's extension; ${r2(rf.bulk_bytes / 1048576)} MiB) in ${r2(rf.wall_s)} s` : `PUT per event at ${rf.per_s}/s`}`);
if (bf) fillTxt.push(`Bulwark ${bf.stored} events by one PUT each (If-None-Match: *) over ${bf.params.concurrency} connections at ${bf.per_s}/s (p50 / p99 ${r2(bf.latency.put?.p50_ms)} / ${r2(bf.latency.put?.p99_ms)} ms)`);
if (fillTxt.length) p(`Filling: ${fillTxt.join('; ')}; both listings checked afterwards (${[rf, bf].filter(Boolean).map((f) => `${f.label}: ${f.listing.items} items, ${f.listing.ok ? 'exactly the generated ones' : `NOT the generated ones (${f.listing.missing} missing, ${f.listing.extra} unexpected)`}`).join('; ')}).`);
const re0 = read('bulwark-rss-empty.json'), rfi = read('bulwark-rss-fill.json'), rlo = read('bulwark-rss-load.json'), rlo30 = read('bulwark-rss-load-30s.json');
const pf = read('peers-rss-fill.json'), plo = read('peers-rss-load.json');
if (rlo) p('', `Bulwark's resident memory (RSS of the one process): ${re0?.empty_store_rss_mib ?? '?'} MiB after start with one account and no calendar, ${rfi?.after_fill_rss_mib ?? '?'} MiB after the fill, **${rlo.after_load_rss_mib} MiB right after the load**, ${rlo30?.after_load_30s_rss_mib ?? '?'} MiB 30 s later. Radicale (one Python process): ${pf?.after_fill_rss_mib ?? '?'} MiB after its fill, ${plo?.after_load_rss_mib ?? '?'} MiB after its load. Disk: Bulwark ${text('bulwark-disk.txt').split('\t')[0] || '?'}, Radicale ${text('peers-disk.txt').split('\t')[0] || '?'}.`);

const cmds = text('commands.txt');
const quiet = [];
const re = /^=== (\S+): .*\n(.*)$/gm;
let m;
while ((m = re.exec(cmds))) {
  const b = /busy before start: ([\d.]+) cores/.exec(m[2]) ?? /busy ([\d.]+) cores/.exec(m[2]) ?? /still busy \(([\d.]+) cores\)/.exec(m[2]);
  const waited = /waited (\d+) s/.exec(m[2])?.[1];
  quiet.push(`${m[1]} ${b ? b[1] : '?'}${/WARNING/.test(m[2]) ? ' (NOT quiet after the wait)' : waited && Number(waited) > 5 ? ` (after waiting ${waited} s)` : ''}`);
}
if (quiet.length) p('', `Machine busy (cores, of ${/nproc: (\d+)/.exec(machine)?.[1] ?? '?'}) just before each step: ${quiet.join(', ')}.`);
// Foreign load: processes in the ~10-s samples that are neither the servers, the load tools nor the kernel.
// (a profiled server's command line is cut by top's width before bin/bulwark.js: its flags tell it)
const ours = /bulwark\.js|--max-semi-space-size|--cpu-prof|bench\/dav-|radicale|top -b|kworker|ksoftirqd|kswapd|jbd2|rcu_|kdamond/;
const foreign = [];
for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.top.txt')).sort()) {
  const samples = text(f).split(/^\d\d:\d\d:\d\d$/m).slice(1);
  let worst = 0;
  const who = new Map();
  for (const s of samples) {
    let sum = 0;
    for (const line of s.split('\n')) {
      const col = line.trim().split(/\s+/);
      if (col.length < 12 || !/^\d+$/.test(col[0])) continue;
      const cpu = Number(col[8]);
      const cmd = col.slice(11).join(' ');
      if (!(cpu >= 10) || ours.test(cmd)) continue;
      sum += cpu;
      const k = /vitest/.test(cmd) ? 'vitest (test suite)' : /tsc\b/.test(cmd) ? 'tsc' : cmd.split(' ')[0].split('/').pop();
      who.set(k, (who.get(k) ?? 0) + 1);
    }
    worst = Math.max(worst, sum);
  }
  if (worst >= 20) foreign.push(`${f.replace('.top.txt', '')}: up to ${(worst / 100).toFixed(2)} cores (${[...who.keys()].slice(0, 3).join(', ')}; in ${Math.max(...who.values())} of ${samples.length} samples)`);
}
p('', foreign.length ? `Other work seen on the machine during steps (top samples every ~10 s, processes other than the servers and tools at 10 % CPU or more): ${foreign.join('; ')}.` : 'No other work at 10 % CPU or more was seen in the top samples during the steps.');
const steps = text('steps.tsv').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
const fails = steps.filter(([, rc]) => rc !== '0').map(([n, rc]) => `${n} rc=${rc}`);
if (fails.length) p('', `Steps that did not exit 0: ${fails.join(', ')} (see their logs in the results directory; the load tool exits 1 when an answer was wrong).`);
p('');

// ---------- profiles ----------
const profiled = fs.readdirSync(dir).filter((x) => x.startsWith('profile-') && fs.existsSync(path.join(dir, x, 'top.json'))).sort();
for (const pd of profiled) {
  const what = pd.slice('profile-'.length);
  const top = read(`${pd}/top.json`);
  const pl = read(`${pd}/load.json`);
  const sq = read(`${pd}/sqlite-statements.json`) ?? [];
  const ph = pl?.phases?.[what];
  p(`Bulwark CPU profile of ${what === 'mix' ? 'the mix' : `\`${what}\` alone`} (a repeat of ${pl?.params[what === 'mix' ? 'mix_seconds' : 'seconds'] ?? '?'} s under --cpu-prof on the same store, after the check of each operation; ${ph ? `${r2(ph.ops_per_s)} ops/s, p50 / p99 ${r2(ph.latency.p50_ms)} / ${r2(ph.latency.p99_ms)} ms` : ''}): main thread busy ${(top.busy_ms / 1000).toFixed(1)} s, idle ${(top.idle_ms / 1000).toFixed(1)} s. Top self time:`, '');
  p('| self % of busy | function | where | called from (core/protocol) |', '| ---: | --- | --- | --- |');
  for (const f of top.functions.slice(0, 10)) p(`| ${f.pct} | \`${f.fn}\` | ${f.at} | ${f.callers.filter((x) => x.caller !== '(none)' && x.pct_of_fn >= 5).slice(0, 2).map((x) => `${x.caller} (${x.pct_of_fn} %)`).join('; ') || '-'} |`);
  p('', `By file: ${top.files.slice(0, 8).map((f) => `${f.file} ${f.pct} %`).join(', ')}.`);
  if (sq.length) {
    const tot = sq.reduce((a, x) => a + x.ms, 0);
    p('', `SQLite statements by time (synchronous on the main thread; ${tot} ms in all): ${sq.slice(0, 4).map((x) => `${x.ms} ms in ${x.n} calls (${x.rows} rows) of \`${x.sql.slice(0, 140).replace(/\|/g, '\\|')}\``).join('; ')}.`);
  }
  p('');
}
console.log(out.join('\n'));
