#!/usr/bin/env node
// Fills one calendar with the bench calendar of bench/dav-common.mjs (the same events for every
// server: deterministic for --events/--seed/--year), then checks with PROPFIND Depth 1 that the
// calendar holds exactly those items.
//   --method put:  MKCALENDAR, then one PUT (If-None-Match: *) per event over --concurrency
//                  connections: what a client does; the PUT rate is reported
//   --method bulk: one PUT of the whole calendar onto the collection URL, Radicale's extension
//                  (it replaces the collection, one item per UID, named UID.ics). Radicale stores
//                  about 3.6 single PUTs a second into a calendar of thousands (../shared/bench's
//                  README; each PUT checks the UID against every item), 5,000 would take 25 min.
// Any existing calendar of that name is deleted first. Loopback only; bounded by --max-seconds.
import { lib, davClient, calendarPath, generateCalendar, describeCalendar, bulkIcs, parseMultistatus, propfindEtags, mkcalendarBody, XML } from './dav-common.mjs';

const { args, Recorder, cpuMeter, writeJson, machineInfo, pool, fmtOps } = lib;
const USAGE = `usage: node bench/dav-fill.mjs --url http://127.0.0.1:15232 [--home-path /{user}/] [--user user1@example.test]
       [--password secret] [--calendar bench] [--events 5000] [--seed 9] [--year 2026] [--recurring-pct 20]
       [--method put|bulk] [--concurrency 4] [--max-seconds 1500] [--label NAME] [--json FILE]`;
const o = args({
  url: 'http://127.0.0.1:15232', 'home-path': '/{user}/', user: 'user1@example.test', password: 'secret', calendar: 'bench',
  events: 5000, seed: 9, year: 2026, 'recurring-pct': 20, method: 'put', concurrency: 4, 'max-seconds': 1500, label: '',
}, USAGE);
if (!['put', 'bulk'].includes(o.method)) { console.error('--method must be put or bulk'); process.exit(2); }
if (o.events < 1 || o.events > 50000) { console.error('--events must be 1..50000'); process.exit(2); }
const stopAt = Date.now() + o['max-seconds'] * 1000;
const dav = davClient({ url: o.url, user: o.user, password: o.password, sockets: Math.max(1, o.concurrency), timeoutMs: Math.min(600000, o['max-seconds'] * 1000) });
const cal = calendarPath(o['home-path'], o.user, o.calendar);

async function main() {
  const gen = generateCalendar({ events: o.events, seed: o.seed, year: o.year, recurringPct: o['recurring-pct'] });
  const result = { tool: 'dav-fill', label: o.label, machine: machineInfo(), params: { url: o.url, calendar: cal, method: o.method, events: o.events, seed: o.seed, year: o.year, concurrency: o.concurrency },
    calendar: describeCalendar(gen) };
  console.log(`dav-fill: ${o.events} events (${result.calendar.recurring} recurring) into ${o.url}${cal} by ${o.method}`);
  const rec = new Recorder();
  // Touch the home first (Radicale creates a principal's collection on its first request).
  await dav.request('PROPFIND', o['home-path'].replace('{user}', encodeURIComponent(o.user).replace(/%40/g, '@')), { headers: { Depth: '0', ...XML }, body: propfindEtags });
  const exists = await dav.request('PROPFIND', cal, { headers: { Depth: '0', ...XML }, body: propfindEtags });
  if (exists.status === 207) {
    const d = await dav.request('DELETE', cal);
    if (![200, 204].includes(d.status)) throw new Error(`DELETE ${cal} -> ${d.status} ${d.body.slice(0, 200)}`);
  }
  const cpu = cpuMeter();
  const t0 = performance.now();
  let done = 0;
  if (o.method === 'bulk') {
    const body = bulkIcs(gen);
    const r = await rec.time('bulk_put', () => dav.request('PUT', cal, { headers: { 'Content-Type': 'text/calendar; charset=utf-8' }, body }));
    if (![200, 201, 204].includes(r.status)) throw new Error(`bulk PUT ${cal} -> ${r.status} ${r.body.slice(0, 300)}`);
    done = gen.events.length;
    result.bulk_bytes = Buffer.byteLength(body);
  } else {
    const m = await dav.request('MKCALENDAR', cal, { headers: XML, body: mkcalendarBody });
    if (m.status !== 201) throw new Error(`MKCALENDAR ${cal} -> ${m.status} ${m.body.slice(0, 300)}`);
    const buckets = new Recorder();
    const bucket = Math.max(100, Math.ceil(o.events / 10 / 100) * 100);
    await pool(gen.events.length, o.concurrency, async (i) => {
      const ev = gen.events[i];
      try {
        const tp = performance.now();
        await rec.time('put', async () => {
          const r = await dav.request('PUT', cal + encodeURIComponent(ev.name), { headers: { 'Content-Type': 'text/calendar; charset=utf-8', 'If-None-Match': '*' }, body: ev.ics });
          if (r.status !== 201 && r.status !== 204) throw new Error(`PUT ${ev.name} -> ${r.status} ${r.body.slice(0, 200)}`);
        });
        const b = Math.floor(i / bucket) * bucket;
        buckets.add(`put_at_${String(b).padStart(5, '0')}`, performance.now() - tp);
        if (++done % 1000 === 0) console.log(`  ${done}/${gen.events.length} PUT (${(done / ((performance.now() - t0) / 1000)).toFixed(0)}/s)`);
      } catch { /* counted in rec's errors */ }
    }, () => Date.now() > stopAt);
    result.by_collection_size = buckets.summary();
  }
  const wall = (performance.now() - t0) / 1000;
  result.wall_s = Math.round(wall * 100) / 100;
  result.stored = done;
  result.per_s = Math.round((done / wall) * 10) / 10;
  result.latency = rec.summary(wall);
  result.cpu = cpu();
  console.log(`${o.method}: ${done} events in ${wall.toFixed(1)} s = ${result.per_s}/s`);
  console.log(fmtOps(result.latency));

  // the check: exactly the generated names, each with an ETag
  const tl = performance.now();
  const list = await dav.request('PROPFIND', cal, { headers: { Depth: '1', ...XML }, body: propfindEtags, timeout: 600000 });
  const ms = parseMultistatus(list.body);
  const names = new Set(ms.responses.filter((x) => !x.collection && x.status === 200).map((x) => x.name));
  const want = new Set(gen.events.map((e) => e.name));
  const missing = [...want].filter((n) => !names.has(n));
  const extra = [...names].filter((n) => !want.has(n));
  const noEtag = ms.responses.filter((x) => !x.collection && x.status === 200 && !x.etag).length;
  result.listing = { status: list.status, ms: Math.round(performance.now() - tl), items: names.size, missing: missing.length, extra: extra.length, without_etag: noEtag,
    missing_sample: missing.slice(0, 5), extra_sample: extra.slice(0, 5), ok: list.status === 207 && missing.length === 0 && extra.length === 0 && noEtag === 0 };
  result.errors = rec.errorList();
  console.log(`listing: ${names.size} items, ${missing.length} missing, ${extra.length} unexpected, ${noEtag} without ETag: ${result.listing.ok ? 'ok' : 'NOT OK'}`);
  if (rec.errorCount) console.log('errors:', result.errors);
  dav.close();
  writeJson(o.json, result);
  process.exit(result.listing.ok && !rec.errorCount ? 0 : 1);
}
main().catch((e) => { console.error('dav-fill failed:', e); dav.close(); process.exit(1); });
