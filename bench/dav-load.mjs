#!/usr/bin/env node
// CalDAV load for the bench (issue 5 point 9): C concurrent clients on the calendar that
// bench/dav-fill.mjs filled, each operation type timed on its own and then all of them as a mix:
//   query       REPORT calendar-query, VEVENT time-range over one month, DAV:getetag only
//               (what DAVx5 and Thunderbird ask before a multiget)
//   query_data  the same with calendar-data (a web calendar showing the month)
//   multiget    REPORT calendar-multiget of 100 random items, getetag and calendar-data
//   get         GET of one random item
//   sync        REPORT sync-collection from the token taken just before the last 10 changes
//               (8 or 9 changed events, 1 new one and, from the second round on, 1 deleted):
//               rounds of [10 changes one after another, then C clients x --syncs-per-round
//               syncs at once]; ops/s over the sync bursts only
//   mix         C clients each picking operations by --mix weights (the sync from the last
//               round's token), read-only
// Every answer is checked against what the generator (bench/dav-common.mjs) says it must be,
// and a wrong one does not count as done (it is reported with the reason): the query must name
// exactly the expected events (recurrence, overrides and EXDATE applied) with their current
// ETags; a multiget must return the 100 asked items with the right UID, SUMMARY and ETag; a GET
// the right item and ETag header; a sync exactly the 10 changes (the deleted one as 404) with
// the ETags the PUTs returned, and a new token.
// p50/p99 and ops/s per operation; --json FILE. Bounded by --seconds per phase, --max-requests
// and --max-seconds overall; loopback only.
import crypto from 'node:crypto';
import {
  lib, davClient, calendarPath, generateCalendar, describeCalendar, expectedInRange, monthRange, changedIcs, extraEvent, isExtraName,
  parseMultistatus, icsField, unfold, calendarQuery, multigetBody, syncBody, propfindEtags, XML, procCpuSeconds, tcpCounters, tcpDelta,
} from './dav-common.mjs';

const { args, Recorder, stats, cpuMeter, writeJson, machineInfo, rng, fmtOps } = lib;
const USAGE = `usage: node bench/dav-load.mjs --url http://127.0.0.1:15232 [--home-path /{user}/] [--user user1@example.test]
       [--password secret] [--calendar bench] [--events 5000 --seed 9 --year 2026 --recurring-pct 20] [--month 3]
       [--clients 10] [--seconds 20] [--max-requests 300000] [--mix-seconds 30] [--mix sync:35,multiget:25,get:25,query:15]
       [--ops query,query_data,multiget,get,sync] [--syncs-per-round 2] [--multiget-size 100]
       [--reused] [--server-pid PID] [--max-seconds 1200] [--label NAME] [--json FILE]
  --reused: the calendar was used by an earlier load run (events changed then may carry a "(rev ...)" SUMMARY)`;
const o = args({
  url: 'http://127.0.0.1:15232', 'home-path': '/{user}/', user: 'user1@example.test', password: 'secret', calendar: 'bench',
  events: 5000, seed: 9, year: 2026, 'recurring-pct': 20, month: 3, clients: 10, seconds: 20, 'max-requests': 300000,
  'mix-seconds': 30, mix: 'sync:35,multiget:25,get:25,query:15', ops: 'query,query_data,multiget,get,sync', 'syncs-per-round': 2,
  'multiget-size': 100, changes: 10, reused: false, 'server-pid': 0, 'max-seconds': 1200, 'timeout-ms': 120000, label: '',
}, USAGE);
if (o.clients < 1 || o.clients > 200) { console.error('--clients must be 1..200'); process.exit(2); }
if (o.changes < 3 || o.changes > 100) { console.error('--changes must be 3..100'); process.exit(2); }
if (o.month < 1 || o.month > 12) { console.error('--month must be 1..12'); process.exit(2); }
const stopAt = Date.now() + o['max-seconds'] * 1000;
const timeLeft = () => Date.now() < stopAt;
const dav = davClient({ url: o.url, user: o.user, password: o.password, sockets: o.clients, timeoutMs: o['timeout-ms'] });
const cal = calendarPath(o['home-path'], o.user, o.calendar);
const gen = generateCalendar({ events: o.events, seed: o.seed, year: o.year, recurringPct: o['recurring-pct'] });
const byName = new Map(gen.events.map((e) => [e.name, e]));
const baseNames = gen.events.map((e) => e.name);
const [qStart, qEnd] = monthRange(o.year, o.month);
const expectedQuery = expectedInRange(gen, qStart, qEnd);
const extraMonth = ((o.month + 5) % 12) + 1;   // the created events lie half a year from the queried month
const runTag = crypto.randomBytes(3).toString('hex');
const r2 = (x) => Math.round(x * 100) / 100;

// ---------- what the server must hold ----------
const etags = new Map();            // name -> the ETag the server gave (listing, PUT or sync)
const summaries = new Map();        // name -> SUMMARY set by this run
let extras = new Set();             // extra events that exist now (created by a sync round)
let lastRound = null;               // { token, expected: Map name -> { deleted, etag } }

const hrefOf = (name) => cal + encodeURIComponent(name);
const FIELD_RE = new Map();   // one compiled pattern per property name
const fieldOf = (ics, prop) => {
  let re = FIELD_RE.get(prop);
  if (!re) FIELD_RE.set(prop, re = new RegExp(`^${prop}(?:;[^:\\r\\n]*)?:(.*)$`, 'm'));
  const m = re.exec(ics);
  return m ? m[1].trim() : null;
};
function summaryOk(name, got) {
  const want = summaries.get(name);
  if (want != null) return got === want;
  const base = byName.get(name).summary;
  return got === base || (o.reused && got != null && got.startsWith(`${base} (rev `));
}

// ---------- operations and their checks (a check returns null, or why the answer is wrong) ----------
const REQ = {
  query: () => dav.request('REPORT', cal, { headers: { Depth: '1', ...XML }, body: calendarQuery(qStart, qEnd, false) }),
  query_data: () => dav.request('REPORT', cal, { headers: { Depth: '1', ...XML }, body: calendarQuery(qStart, qEnd, true) }),
  multiget: (names) => dav.request('REPORT', cal, { headers: { Depth: '1', ...XML }, body: multigetBody(names.map(hrefOf)) }),
  get: (name) => dav.request('GET', hrefOf(name)),
  // RFC 6578 §3.2: sync-collection is defined for Depth 0
  sync: (token) => dav.request('REPORT', cal, { headers: { Depth: '0', ...XML }, body: syncBody(token) }),
};

// Each answered name looked up once: which check last saw it (a repeat in one answer is an error).
const querySeen = new Map([...expectedQuery].map((n) => [n, { check: 0 }]));
let checkNo = 0;
function checkQuery(res, withData) {
  if (res.status !== 207) return `status ${res.status}`;
  const ms = parseMultistatus(res.body, { data: withData });
  const items = ms.responses.filter((x) => !x.collection);
  const no = ++checkNo;
  let seen = 0;
  for (const x of items) {
    const mark = querySeen.get(x.name);
    if (!mark) return `unexpected ${x.name} (${items.length} answered, ${expectedQuery.size} expected)`;
    if (mark.check === no) return `${x.name} twice`;
    mark.check = no;
    seen++;
    if (x.status !== 200 || !x.etag) return `${x.name}: status ${x.status}, etag ${x.etag}`;
    const known = etags.get(x.name);
    if (known !== undefined && known !== x.etag) return `${x.name}: etag ${x.etag}, known ${known}`;
    if (withData && !(x.data && icsField(x.data, 'UID') === byName.get(x.name).uid)) return `${x.name}: calendar-data without its UID`;
  }
  if (seen !== expectedQuery.size) return `${seen} events answered, ${expectedQuery.size} expected (e.g. missing ${[...expectedQuery].find((n) => querySeen.get(n).check !== no)})`;
  return null;
}
function checkMultiget(res, names) {
  if (res.status !== 207) return `status ${res.status}`;
  const ms = parseMultistatus(res.body, { data: true });
  const want = new Set(names);
  const seen = new Set();
  for (const x of ms.responses) {
    if (!want.has(x.name)) return `unexpected ${x.href}`;
    if (seen.has(x.name)) return `${x.name} twice`;
    seen.add(x.name);
    if (x.status !== 200 || !x.etag || !x.data) return `${x.name}: status ${x.status}, etag ${x.etag}, data ${x.data ? 'yes' : 'no'}`;
    const uid = icsField(x.data, 'UID'), summary = icsField(x.data, 'SUMMARY');
    if (uid !== byName.get(x.name).uid) return `${x.name}: UID ${uid}`;
    if (!summaryOk(x.name, summary)) return `${x.name}: SUMMARY ${summary}, expected ${summaries.get(x.name) ?? byName.get(x.name).summary}`;
    if (etags.has(x.name) && etags.get(x.name) !== x.etag) return `${x.name}: etag ${x.etag}, known ${etags.get(x.name)}`;
  }
  if (seen.size !== want.size) return `${seen.size} of ${want.size} items answered`;
  return null;
}
function checkGet(res, name) {
  if (res.status !== 200) return `status ${res.status}`;
  const ics = unfold(res.body);
  if (fieldOf(ics, 'UID') !== byName.get(name).uid) return `UID ${fieldOf(ics, 'UID')}`;
  if (!summaryOk(name, fieldOf(ics, 'SUMMARY'))) return `SUMMARY ${fieldOf(ics, 'SUMMARY')}`;
  const et = res.headers.etag;
  if (!et) return 'no ETag header';
  if (etags.has(name) && etags.get(name) !== et) return `ETag ${et}, known ${etags.get(name)}`;
  return null;
}
function checkSync(res, round) {
  if (res.status !== 207) return { why: `status ${res.status}` };
  const ms = parseMultistatus(res.body);
  if (!ms.token) return { why: 'no sync-token' };
  if (ms.token === round.token) return { why: 'the same token again after changes' };
  const items = ms.responses.filter((x) => !x.collection);
  const seen = new Set();
  for (const x of items) {
    const w = round.expected.get(x.name);
    if (!w) return { why: `unexpected ${x.name} (${items.length} answered, ${round.expected.size} changed)` };
    if (seen.has(x.name)) return { why: `${x.name} twice` };
    seen.add(x.name);
    if (w.deleted) { if (x.status !== 404) return { why: `deleted ${x.name}: status ${x.status}` }; continue; }
    if (x.status !== 200 || !x.etag) return { why: `${x.name}: status ${x.status}, etag ${x.etag}` };
    if (w.etag && w.etag !== x.etag) return { why: `${x.name}: etag ${x.etag}, the PUT gave ${w.etag}` };
  }
  if (seen.size !== round.expected.size) return { why: `${seen.size} of ${round.expected.size} changes answered (missing e.g. ${[...round.expected.keys()].find((n) => !seen.has(n))})` };
  return { why: null, token: ms.token, items, collectionIncluded: ms.responses.length !== items.length };
}

// ---------- phases ----------
function newTally() { return { rec: new Recorder(), ok: {}, wrong: {}, wrongSamples: {}, errors: 0 }; }
async function attempt(t, op, fn, check) {
  const t0 = performance.now();
  let res;
  try { res = await fn(); } catch (e) { t.rec.err(op, e); t.errors++; return null; }
  t.rec.add(op, performance.now() - t0);
  const why = check(res);
  const reason = typeof why === 'string' ? why : why?.why ?? null;
  if (reason) {
    t.wrong[op] = (t.wrong[op] ?? 0) + 1;
    (t.wrongSamples[op] ??= []).length < 5 && t.wrongSamples[op].push(reason.slice(0, 300));
    return null;
  }
  t.ok[op] = (t.ok[op] ?? 0) + 1;
  return why ?? true;
}
function pickDistinct(r, n) {
  const s = new Set();
  while (s.size < n) s.add(baseNames[Math.floor(r() * baseNames.length)]);
  return [...s];
}
function runOp(t, op, r) {
  if (op === 'query' || op === 'query_data') return attempt(t, op, REQ[op], (res) => checkQuery(res, op === 'query_data'));
  if (op === 'multiget') { const names = pickDistinct(r, o['multiget-size']); return attempt(t, op, () => REQ.multiget(names), (res) => checkMultiget(res, names)); }
  if (op === 'get') { const name = baseNames[Math.floor(r() * baseNames.length)]; return attempt(t, op, () => REQ.get(name), (res) => checkGet(res, name)); }
  if (op === 'sync') { const round = lastRound; return attempt(t, op, () => REQ.sync(round.token), (res) => checkSync(res, round)); }
  throw new Error(`unknown op ${op}`);
}
function phaseResult(t, wall, cpu, srv0, tcp0) {
  const srv1 = procCpuSeconds(o['server-pid']);
  const tcp = tcpDelta(tcp0, tcpCounters());
  const by = t.rec.summary(wall);
  const okTotal = Object.values(t.ok).reduce((a, b) => a + b, 0);
  for (const [op, s] of Object.entries(by)) { s.ok = t.ok[op] ?? 0; s.ok_per_s = r2(s.ok / wall); s.wrong = t.wrong[op] ?? 0; }
  const all = [];
  for (const arr of t.rec.ops.values()) for (const x of arr) all.push(x);   // (no spread: 100,000s of samples)
  return {
    wall_s: r2(wall), ok: okTotal, ops_per_s: r2(okTotal / wall), wrong: Object.values(t.wrong).reduce((a, b) => a + b, 0), errors: t.errors,
    latency: stats(all), by_op: by, wrong_samples: t.wrongSamples, error_list: t.rec.errorList(),
    cpu: cpu(), server_cpu_cores: srv0 != null && srv1 != null ? r2((srv1 - srv0) / wall) : null, tcp,
  };
}
/** C clients running pick(r) until --seconds (or secs) or --max-requests; one unrecorded warm-up op each first. */
async function timed(name, pick, secs) {
  const warm = newTally();
  await Promise.all(Array.from({ length: o.clients }, (_, c) => runOp(warm, pick(rng(o.seed * 7919 + c)), rng(o.seed * 104729 + c))));
  const t = newTally();
  let started = 0;
  const cpu = cpuMeter();
  const srv0 = procCpuSeconds(o['server-pid']);
  const tcp0 = tcpCounters();
  const t0 = performance.now();
  const end = t0 + secs * 1000;
  await Promise.all(Array.from({ length: o.clients }, async (_, c) => {
    const r = rng(o.seed * 31 + c + name.length * 1000);
    while (performance.now() < end && started < o['max-requests'] && timeLeft()) {
      started++;
      await runOp(t, pick(r), r);
    }
  }));
  const res = phaseResult(t, (performance.now() - t0) / 1000, cpu, srv0, tcp0);
  res.warmup_wrong = warm.wrong;
  console.log(`${name}: ${res.ok} correct in ${res.wall_s} s = ${res.ops_per_s}/s, ${res.wrong} wrong, ${res.errors} errors; server ${res.server_cpu_cores ?? '?'} cores, load tool ${res.cpu.loadgen_cpu_cores}${res.tcp?.listen_overflows ? `; ${res.tcp.listen_overflows} listen-queue overflows (SYN retransmits ${res.tcp.syn_retrans})` : ''}`);
  console.log(fmtOps(res.by_op));
  for (const [op, s] of Object.entries(res.wrong_samples)) console.log(`  WRONG ${op}: ${s.join(' | ')}`);
  return res;
}

// 10 changes, one after another: delete the extra event of the previous round (if any), create a
// new one, change the others (new SUMMARY/SEQUENCE/DTSTAMP, same times; If-Match). Returns the
// expected sync answer.
let revCounter = 0;
async function makeChanges(w, round, r) {
  const expected = new Map();
  for (const name of [...extras].slice(0, 1)) {
    const res = await attempt(w, 'delete', () => dav.request('DELETE', hrefOf(name), { headers: etags.has(name) ? { 'If-Match': etags.get(name) } : {} }), (x) => ([200, 204].includes(x.status) ? null : `status ${x.status} ${x.body.slice(0, 120)}`));
    if (!res) throw new Error(`DELETE ${name} failed`);
    extras.delete(name); etags.delete(name);
    expected.set(name, { deleted: true });
  }
  const x = extraEvent(gen, `${runTag}-${round}`, extraMonth, 10);
  let et = null;
  const cr = await attempt(w, 'put_create', async () => { const q = await dav.request('PUT', hrefOf(x.name), { headers: { 'Content-Type': 'text/calendar; charset=utf-8', 'If-None-Match': '*' }, body: x.ics }); et = q.headers.etag ?? null; return q; },
    (q) => ([201, 204].includes(q.status) ? null : `status ${q.status} ${q.body.slice(0, 120)}`));
  if (!cr) throw new Error(`PUT ${x.name} failed`);
  extras.add(x.name);
  if (et) etags.set(x.name, et);
  expected.set(x.name, { deleted: false, etag: et });
  const mods = pickDistinct(r, o.changes - expected.size);
  for (const name of mods) {
    const ev = byName.get(name);
    const rev = ++revCounter;
    const c = changedIcs(ev, o.year, rev, `${runTag}-${rev}`);
    let e2 = null;
    const headers = { 'Content-Type': 'text/calendar; charset=utf-8', ...(etags.has(name) ? { 'If-Match': etags.get(name) } : {}) };
    const ok = await attempt(w, 'put_update', async () => { const q = await dav.request('PUT', hrefOf(name), { headers, body: c.ics }); e2 = q.headers.etag ?? null; return q; },
      (q) => ([200, 201, 204].includes(q.status) ? null : `status ${q.status} ${q.body.slice(0, 120)}`));
    if (!ok) throw new Error(`PUT ${name} failed`);
    summaries.set(name, c.summary);
    if (e2) etags.set(name, e2); else etags.delete(name);
    expected.set(name, { deleted: false, etag: e2 });
  }
  return expected;
}

async function syncPhase(secs) {
  const t = newTally(), w = newTally();
  // the initial sync (no token): every item, and the token the rounds start from
  let token = null;
  const allNames = new Set([...baseNames, ...extras]);
  await attempt(t, 'sync_initial', () => REQ.sync(''), (res) => {
    if (res.status !== 207) return `status ${res.status}`;
    const ms = parseMultistatus(res.body);
    const items = ms.responses.filter((x) => !x.collection && x.status === 200);
    token = ms.token;
    if (!token) return 'no sync-token';
    const names = new Set(items.map((x) => x.name));
    if (names.size !== allNames.size || [...allNames].some((n) => !names.has(n))) return `${names.size} items, ${allNames.size} expected`;
    return null;
  });
  if (!token) throw new Error(`initial sync-collection failed: ${JSON.stringify(t.wrongSamples)} ${JSON.stringify(t.rec.errorList())}`);
  const r = rng(o.seed * 13 + 5);
  const cpu = cpuMeter();
  const srv0 = procCpuSeconds(o['server-pid']);
  const tcp0 = tcpCounters();
  let burstMs = 0, burstCpu = 0, rounds = 0, started = 0, tokenDisagreements = 0, collectionIncluded = 0;
  const tPhase = performance.now();
  while (burstMs < secs * 1000 && started < o['max-requests'] && timeLeft()) {
    const expected = await makeChanges(w, rounds, r);
    const round = { token, expected };
    const tokens = new Map();
    const b0 = performance.now();
    const c0 = procCpuSeconds(o['server-pid']);
    await Promise.all(Array.from({ length: o.clients }, async () => {
      for (let k = 0; k < o['syncs-per-round']; k++) {
        started++;
        const got = await attempt(t, 'sync', () => REQ.sync(round.token), (res) => checkSync(res, round));
        if (got?.token) tokens.set(got.token, (tokens.get(got.token) ?? 0) + 1);
        if (got?.collectionIncluded) collectionIncluded++;
        if (got?.items) etagsLearned(got.items, expected);
      }
    }));
    burstMs += performance.now() - b0;
    const c1 = procCpuSeconds(o['server-pid']);
    if (c0 != null && c1 != null) burstCpu += c1 - c0;
    rounds++;
    lastRound = round;
    if (tokens.size === 0) throw new Error(`round ${rounds}: no correct sync answer (${JSON.stringify(t.wrongSamples.sync ?? t.rec.errorList())})`);
    if (tokens.size > 1) tokenDisagreements++;
    token = [...tokens].sort((a, b) => b[1] - a[1])[0][0];
  }
  const wall = burstMs / 1000;
  const res = phaseResult(t, wall, cpu, srv0, tcp0);
  // the server's CPU during the bursts only (phaseResult's figure includes the PUTs between them)
  res.server_cpu_cores = srv0 != null ? r2(burstCpu / wall) : null;
  res.cpu = { ...res.cpu, note: 'machine and load tool over the whole phase, PUTs included' };
  res.rounds = rounds;
  res.syncs_per_round = o.clients * o['syncs-per-round'];
  res.phase_wall_s = r2((performance.now() - tPhase) / 1000);
  res.token_disagreements = tokenDisagreements;
  res.collection_in_answer = collectionIncluded;
  res.writes = { by_op: w.rec.summary(), wrong: w.wrong, wrong_samples: w.wrongSamples, errors: w.rec.errorList() };
  console.log(`sync: ${rounds} rounds of ${o.changes} changes; ${res.ok} correct syncs in ${res.wall_s} s of bursts = ${res.ops_per_s}/s, ${res.wrong} wrong, ${res.errors} errors; server ${res.server_cpu_cores ?? '?'} cores`);
  console.log(fmtOps(res.by_op));
  console.log(fmtOps(res.writes.by_op));
  for (const [op, s] of Object.entries(res.wrong_samples)) console.log(`  WRONG ${op}: ${s.join(' | ')}`);
  return res;
}
// ETags a PUT did not return: taken from the first correct sync answer that names them.
function etagsLearned(items, expected) {
  for (const x of items) {
    const w = expected.get(x.name);
    if (w && !w.deleted && !w.etag && x.etag) { w.etag = x.etag; etags.set(x.name, x.etag); }
  }
  return true;
}

// ---------- before the timing: what the server holds, and one of each operation ----------
async function verify() {
  const v = {};
  const t0 = performance.now();
  const list = await dav.request('PROPFIND', cal, { headers: { Depth: '1', ...XML }, body: propfindEtags, timeout: 600000 });
  const ms = parseMultistatus(list.body);
  const items = ms.responses.filter((x) => !x.collection && x.status === 200);
  const names = new Set(items.map((x) => x.name));
  for (const x of items) if (x.etag) etags.set(x.name, x.etag);
  extras = new Set([...names].filter((n) => isExtraName(gen, n)));
  const missing = baseNames.filter((n) => !names.has(n));
  const unexpected = [...names].filter((n) => !byName.has(n) && !extras.has(n));
  v.listing = { status: list.status, ms: Math.round(performance.now() - t0), items: names.size, extras_from_earlier_runs: extras.size, missing: missing.length, unexpected: unexpected.length,
    without_etag: items.filter((x) => !x.etag).length, ok: list.status === 207 && !missing.length && !unexpected.length && items.every((x) => x.etag) };
  console.log(`listing: ${names.size} items (${extras.size} extra from earlier runs), ${missing.length} missing, ${unexpected.length} unexpected: ${v.listing.ok ? 'ok' : 'NOT OK'}`);
  if (!o.reused && extras.size) console.log('  note: extra events from an earlier load run are there; pass --reused if that run changed events');
  const t = newTally();
  const r = rng(o.seed * 17);
  for (const op of ['query', 'query_data', 'multiget', 'get']) {
    const tq = performance.now();
    await runOp(t, op, r);
    v[op] = { ok: !!t.ok[op], ms: Math.round(performance.now() - tq), why: t.wrongSamples[op]?.[0] ?? Object.keys(t.rec.errorList())[0] ?? null };
    console.log(`check ${op}: ${v[op].ok ? 'ok' : `WRONG: ${v[op].why}`} (${v[op].ms} ms)`);
  }
  return v;
}

async function main() {
  const result = { tool: 'dav-load', label: o.label, machine: machineInfo(),
    params: { url: o.url, calendar: cal, clients: o.clients, seconds: o.seconds, mix_seconds: o['mix-seconds'], mix: o.mix, max_requests: o['max-requests'],
      month: `${o.year}-${String(o.month).padStart(2, '0')}`, multiget_size: o['multiget-size'], changes: o.changes, syncs_per_round: o['syncs-per-round'], reused: o.reused, server_pid: o['server-pid'] || null },
    calendar: describeCalendar(gen), expected: { query_events: expectedQuery.size } };
  console.log(`dav-load: ${o.url}${cal}, ${o.clients} clients; ${o.events} events, ${expectedQuery.size} of them in ${result.params.month}`);
  result.verify = await verify();
  result.phases = {};
  const ops = o.ops.split(',').filter(Boolean);
  for (const op of ops) {
    if (!timeLeft()) break;
    if (op === 'sync') result.phases.sync = await syncPhase(o.seconds);
    else result.phases[op] = await timed(op, () => op, o.seconds);
  }
  if (o['mix-seconds'] > 0 && timeLeft()) {
    if (!lastRound) {
      // no sync phase: one round of changes after a token, for the mix's sync
      const s = await REQ.sync('');
      const token = parseMultistatus(s.body).token;
      if (s.status !== 207 || !token) throw new Error(`sync-collection without a token: ${s.status}`);
      lastRound = { token, expected: await makeChanges(newTally(), 0, rng(o.seed * 13 + 6)) };
    }
    const weights = o.mix.split(',').map((x) => x.split(':')).map(([k, v]) => [k, Number(v)]);
    const sum = weights.reduce((a, [, v]) => a + v, 0);
    const pick = (r) => { let x = r() * sum; for (const [k, v] of weights) { if ((x -= v) < 0) return k; } return weights[0][0]; };
    result.phases.mix = await timed('mix', pick, o['mix-seconds']);
  }
  const wrong = Object.values(result.phases).reduce((a, p) => a + p.wrong + (p.writes ? Object.values(p.writes.wrong).reduce((x, y) => x + y, 0) : 0), 0);
  const errors = Object.values(result.phases).reduce((a, p) => a + p.errors, 0);
  const checks = ['listing', 'query', 'query_data', 'multiget', 'get'].every((k) => result.verify[k]?.ok);
  result.correct = checks && wrong === 0;
  result.wrong = wrong;
  result.errors = errors;
  console.log(`answers: ${result.correct ? 'all correct' : `NOT all correct (${wrong} wrong, checks ${checks ? 'ok' : 'failed'})`}; ${errors} request errors`);
  dav.close();
  writeJson(o.json, result);
  process.exit(result.correct && !errors ? 0 : 1);
}
main().catch((e) => { console.error('dav-load failed:', e); dav.close(); process.exit(1); });
