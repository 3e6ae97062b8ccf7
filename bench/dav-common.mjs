// Shared pieces of the CalDAV bench tools (issue 5 point 9): the calendar generator that
// bench/dav-fill.mjs writes into both servers and bench/dav-load.mjs computes its expected
// answers from, the request bodies, a small multistatus reader, and the HTTP client. The
// helpers of ../shared/bench/load/lib.mjs (arguments, loopback guard, statistics, PRNG) are
// imported from there unchanged.
//
// The calendar: N events over one year, 20 % recurring (weekly, daily, monthly, three days a
// week until the year's end, every other week, and weekly without end), a quarter of those
// with one instance moved by an override (RECURRENCE-ID) and a fifth with one instance
// excluded (EXDATE); half of all events in Europe/Berlin with its VTIMEZONE, the rest in UTC;
// a few all-day events; some with attendees and alarms. Deterministic for a seed.
//
// Invariants (what keeps the expected answers free of interpretation):
// - Every timed instance lies between 07:00 and 20:00 of one day, local or UTC, and the
//   time ranges asked for start and end at 00:00 UTC, so whether an instance falls inside does
//   not depend on the UTC offset (Berlin is +1/+2) or the DST rules a server applies.
// - All-day events (floating dates) are on days 2-27 of a month and do not recur, so a server
//   may read a floating date in any time zone without changing which month holds it.
// - The organizer and attendees are all external, never the account: Bulwark's implicit
//   scheduling (RFC 6638) sends nothing for these events, and Radicale has none.
// - An item's file name is its UID plus ".ics": Radicale's whole-collection PUT names items
//   that way, so the one-request fill of Radicale and the PUT-per-event fill of Bulwark give
//   the same hrefs.
import path from 'node:path';
import fs from 'node:fs';
import http from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SHARED = process.env.SHARED_BENCH ?? path.resolve(here, '../../shared/bench');
export const lib = await import(pathToFileURL(path.join(SHARED, 'load/lib.mjs')).href);

// ---------- dates ("nominal" time: local wall-clock fields stored as if they were UTC) ----------
const DAY = 86400000;
const p2 = (n) => String(n).padStart(2, '0');
/** YYYYMMDDTHHMMSS of a nominal time. */
const stamp = (ms) => { const d = new Date(ms); return `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}T${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}`; };
const dateStamp = (ms) => stamp(ms).slice(0, 8);
export const utcStamp = (ms) => `${stamp(ms)}Z`;

export const TZID = 'Europe/Berlin';
const VTIMEZONE = [
  'BEGIN:VTIMEZONE', `TZID:${TZID}`,
  'BEGIN:DAYLIGHT', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'TZNAME:CEST', 'DTSTART:19700329T020000', 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'END:DAYLIGHT',
  'BEGIN:STANDARD', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'TZNAME:CET', 'DTSTART:19701025T030000', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'END:STANDARD',
  'END:VTIMEZONE',
];

/** Folds a content line at 75 octets (RFC 5545 §3.1); the generator writes ASCII only. */
function fold(line) {
  if (line.length <= 75) return line;
  const parts = [line.slice(0, 75)];
  for (let i = 75; i < line.length; i += 74) parts.push(' ' + line.slice(i, i + 74));
  return parts.join('\r\n');
}
export const unfold = (s) => s.replace(/\r?\n[ \t]/g, '');

const TITLES = ['Team sync', 'Budget review', 'Customer call', 'Release planning', 'Design review', 'Lunch', 'Training', 'Interview', 'Backup check', 'Security briefing', 'One-to-one', 'Board meeting'];
const PLACES = ['Room 1.12', 'Room 2.04', 'Main hall', 'Video call', 'Cafeteria', 'Office of the CEO', 'Lab 3'];
const WORDS = 'agenda minutes budget review plan project release customer contract schedule travel training security backup migration design report update feedback question'.split(' ');
const DOW = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

/**
 * The calendar for (events, seed, year). Each event: { i, uid, name, summary, tz, allDay,
 * rule, override, exdate, organizer, components: [VEVENT text], ics, instances: [{ s, e }] }
 * with the instances in nominal ms after EXDATE and overrides are applied (weekly without end:
 * instances up to the end of the year after next).
 */
export function generateCalendar({ events = 5000, seed = 9, year = 2026, recurringPct = 20 } = {}) {
  const r = lib.rng(seed);
  const yStart = Date.UTC(year, 0, 1);
  const horizon = Date.UTC(year + 2, 0, 1);
  const out = [];
  for (let i = 0; i < events; i++) {
    const uid = `dav-bench-${seed}-${String(i).padStart(5, '0')}`;
    const tz = r() < 0.5;
    const recurring = r() * 100 < recurringPct;
    const allDay = !recurring && r() < 0.06;
    const title = r.pick(TITLES);
    const summary = `${title} ${i}`;
    let startDay = r.int(0, 364);
    const hh = r.int(7, 17), mm = r.pick([0, 15, 30, 45]);
    const dur = r.pick([30, 45, 60, 90, 120]);
    let rule = null, ruleText = null;
    if (allDay) {
      // days 2-27 of its month (see the invariants)
      const d = new Date(yStart + startDay * DAY);
      const dom = Math.min(27, Math.max(2, d.getUTCDate()));
      startDay = Math.round((Date.UTC(year, d.getUTCMonth(), dom) - yStart) / DAY);
    }
    if (recurring) {
      const x = r();
      rule = x < 0.3 ? 'weekly26' : x < 0.5 ? 'daily10' : x < 0.7 ? 'monthly12' : x < 0.8 ? 'mwf' : x < 0.9 ? 'biweekly20' : 'weekly';
      if (rule === 'monthly12') {
        const d = new Date(yStart + startDay * DAY);
        if (d.getUTCDate() > 28) startDay -= d.getUTCDate() - 28;
      }
      if (rule === 'mwf') {
        if (startDay > 340) startDay -= 28;   // some weeks before its UNTIL at the year's end
        while (![1, 3, 5].includes(new Date(yStart + startDay * DAY).getUTCDay())) startDay++;
      }
    }
    const s0 = yStart + startDay * DAY + (allDay ? 0 : (hh * 60 + mm) * 60000);
    const len = allDay ? DAY : dur * 60000;
    // the rule's instance starts, before EXDATE and overrides
    let starts = [s0];
    if (rule) {
      starts = [];
      const dow = DOW[new Date(s0).getUTCDay()];
      if (rule === 'weekly26') { ruleText = 'FREQ=WEEKLY;COUNT=26'; for (let k = 0; k < 26; k++) starts.push(s0 + 7 * k * DAY); }
      if (rule === 'daily10') { ruleText = 'FREQ=DAILY;COUNT=10'; for (let k = 0; k < 10; k++) starts.push(s0 + k * DAY); }
      if (rule === 'biweekly20') { ruleText = `FREQ=WEEKLY;INTERVAL=2;BYDAY=${dow};COUNT=20`; for (let k = 0; k < 20; k++) starts.push(s0 + 14 * k * DAY); }
      if (rule === 'weekly') { ruleText = `FREQ=WEEKLY;BYDAY=${dow}`; for (let t = s0; t < horizon; t += 7 * DAY) starts.push(t); }
      if (rule === 'monthly12') {
        ruleText = 'FREQ=MONTHLY;COUNT=12';
        const d = new Date(s0);
        for (let k = 0; k < 12; k++) starts.push(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + k, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()));
      }
      if (rule === 'mwf') {
        // UNTIL in UTC (RFC 5545 §3.3.10: UTC when DTSTART has a TZID); 23:59:59Z is after the last local instance
        ruleText = `FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=${year}1231T235959Z`;
        for (let t = s0; t < Date.UTC(year + 1, 0, 1); t += DAY) if ([1, 3, 5].includes(new Date(t).getUTCDay())) starts.push(t);
      }
    }
    // one instance moved by a day (forward or back) in a quarter of the recurring events,
    // one excluded in a fifth; never the first instance (that one is DTSTART itself)
    let override = null, exdate = null;
    if (rule && starts.length >= 3 && r() < 0.25) {
      const k = r.int(1, Math.min(starts.length - 1, 8));
      override = { k, rid: starts[k], s: starts[k] + (r() < 0.5 ? DAY : -DAY) };
    }
    if (rule && starts.length >= 3 && r() < 0.2) {
      let j = r.int(1, Math.min(starts.length - 1, 8));
      if (override && j === override.k) j = j === 1 ? 2 : j - 1;
      exdate = { j, t: starts[j] };
    }
    const instances = [];
    starts.forEach((s, k) => {
      if (exdate && k === exdate.j) return;
      if (override && k === override.k) return;
      instances.push({ s, e: s + len });
    });
    if (override) instances.push({ s: override.s, e: override.s + len });
    for (const x of instances) {
      if (allDay) continue;
      const h0 = (x.s % DAY) / 3600000, h1 = h0 + len / 3600000;
      if (h0 < 7 || h1 > 20) throw new Error(`generator invariant broken for ${uid}`);
    }
    const organizer = r() < 0.3;
    const alarm = r() < 0.4;
    const attendees = organizer ? r.int(1, 4) : 0;
    const desc = Array.from({ length: r.int(4, 30) }, () => r.pick(WORDS)).join(' ');
    const place = r.pick(PLACES);
    const ev = { i, uid, name: `${uid}.ics`, title, summary, tz, allDay, rule, ruleText, override, exdate, organizer, alarm, attendees, desc, place, s0, len, instances };
    ev.components = vevents(ev, { year });
    ev.ics = wrap(ev.components, tz);
    out.push(ev);
  }
  return { year, seed, events: out };
}

function dt(prop, ms, ev) {
  if (ev.allDay) return `${prop};VALUE=DATE:${dateStamp(ms)}`;
  return ev.tz ? `${prop};TZID=${TZID}:${stamp(ms)}` : `${prop}:${stamp(ms)}Z`;
}

/** The VEVENT blocks of an event (the master, and the override if any); rev > 0: a changed version. */
function vevents(ev, { year, rev = 0, tag = '' }) {
  const summary = rev ? `${ev.summary} (rev ${tag})` : ev.summary;
  const dtstamp = `DTSTAMP:${utcStamp(Date.UTC(year - 1, 11, 1) + rev * 1000)}`;
  const common = (lines) => {
    lines.push(fold(`LOCATION:${ev.place}`), fold(`DESCRIPTION:${ev.desc}`), 'STATUS:CONFIRMED', `SEQUENCE:${rev}`);
    if (ev.organizer) {
      lines.push(`ORGANIZER;CN=Org ${ev.i % 17}:mailto:org${ev.i % 17}@partner.example`);
      for (let a = 0; a < ev.attendees; a++) lines.push(fold(`ATTENDEE;CN=Guest ${a};PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT:mailto:guest${a}@example.org`));
    }
    if (ev.alarm) lines.push('BEGIN:VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:Reminder', 'TRIGGER:-PT15M', 'END:VALARM');
    lines.push('END:VEVENT');
    return lines.join('\r\n');
  };
  const main = ['BEGIN:VEVENT', `UID:${ev.uid}`, dtstamp, dt('DTSTART', ev.s0, ev), dt('DTEND', ev.s0 + ev.len, ev)];
  if (ev.ruleText) main.push(`RRULE:${ev.ruleText}`);
  if (ev.exdate) main.push(dt('EXDATE', ev.exdate.t, ev));
  main.push(fold(`SUMMARY:${summary}`));
  const out = [common(main)];
  if (ev.override) {
    const o = ['BEGIN:VEVENT', `UID:${ev.uid}`, dtstamp, dt('RECURRENCE-ID', ev.override.rid, ev), dt('DTSTART', ev.override.s, ev), dt('DTEND', ev.override.s + ev.len, ev), fold(`SUMMARY:${summary}`)];
    out.push(common(o));
  }
  return out;
}

function wrap(components, tz) {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bulwark//dav-bench//EN', 'CALSCALE:GREGORIAN', ...(tz ? VTIMEZONE : []), ...components, 'END:VCALENDAR'].join('\r\n') + '\r\n';
}

/** A changed version of an event: the same times, another SUMMARY, SEQUENCE and DTSTAMP. */
export function changedIcs(ev, year, rev, tag) {
  return { ics: wrap(vevents(ev, { year, rev, tag }), ev.tz), summary: `${ev.summary} (rev ${tag})` };
}

/** The whole calendar as one VCALENDAR (Radicale's whole-collection PUT). */
export function bulkIcs(cal) {
  const head = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bulwark//dav-bench//EN', 'CALSCALE:GREGORIAN', 'X-WR-CALNAME:Bench', ...VTIMEZONE].join('\r\n');
  return head + '\r\n' + cal.events.map((e) => e.components.join('\r\n')).join('\r\n') + '\r\nEND:VCALENDAR\r\n';
}

/** An extra event the sync test creates (and deletes again): non-recurring, UTC, in `month` (1-12). */
export function extraEvent(cal, key, month, day) {
  const uid = `dav-bench-${cal.seed}-x${key}`;
  const s = Date.UTC(cal.year, month - 1, day, 10, 0);
  const ics = wrap([['BEGIN:VEVENT', `UID:${uid}`, `DTSTAMP:${utcStamp(Date.UTC(cal.year - 1, 11, 1))}`, `DTSTART:${utcStamp(s)}`, `DTEND:${utcStamp(s + 3600000)}`,
    `SUMMARY:Extra ${key}`, 'END:VEVENT'].join('\r\n')], false);
  return { uid, name: `${uid}.ics`, ics, summary: `Extra ${key}`, instances: [{ s, e: s + 3600000 }] };
}
export const isExtraName = (cal, name) => name.startsWith(`dav-bench-${cal.seed}-x`);

/** Names of the events with an instance overlapping [start, end) (RFC 4791 §9.9), in ms UTC. */
export function expectedInRange(cal, start, end) {
  const out = new Set();
  for (const ev of cal.events) if (ev.instances.some((x) => x.s < end && x.e > start)) out.add(ev.name);
  return out;
}

/** Counts of the kinds of events, for the report. */
export function describeCalendar(cal) {
  const ev = cal.events;
  const n = (f) => ev.filter(f).length;
  const bytes = ev.reduce((a, e) => a + Buffer.byteLength(e.ics), 0);
  const rules = {};
  for (const e of ev) if (e.rule) rules[e.rule] = (rules[e.rule] ?? 0) + 1;
  return { events: ev.length, recurring: n((e) => e.rule), with_override: n((e) => e.override), with_exdate: n((e) => e.exdate),
    in_europe_berlin: n((e) => e.tz), all_day: n((e) => e.allDay), with_attendees: n((e) => e.organizer), with_alarm: n((e) => e.alarm),
    rules, total_bytes: bytes, mean_bytes: Math.round(bytes / ev.length) };
}

// ---------- request bodies ----------
export const XML = { 'Content-Type': 'application/xml; charset=utf-8' };
const HEAD = '<?xml version="1.0" encoding="utf-8"?>\n';
export const calendarQuery = (start, end, withData) => `${HEAD}<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/>${withData ? '<C:calendar-data/>' : ''}</D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="${utcStamp(start)}" end="${utcStamp(end)}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>`;
const xmlEsc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const multigetBody = (hrefs) => `${HEAD}<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
${hrefs.map((h) => `  <D:href>${xmlEsc(h)}</D:href>`).join('\n')}
</C:calendar-multiget>`;
export const syncBody = (token) => `${HEAD}<D:sync-collection xmlns:D="DAV:"><D:sync-token>${xmlEsc(token ?? '')}</D:sync-token><D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop></D:sync-collection>`;
export const propfindEtags = `${HEAD}<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>`;
export const mkcalendarBody = `${HEAD}<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>
<D:displayname>Bench</D:displayname>
<C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
</D:prop></D:set></C:mkcalendar>`;

// ---------- multistatus reading (any namespace prefix, or none) ----------

const RE_ENTITY = /&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g;
const entity = (_, e) => e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : e === 'apos' ? "'"
  : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
// The CR references first, in one native pass: escaped iCalendar has one on every line, and a
// callback per reference would make the load tool, not the server, the slow part of a run.
// (Safe before the rest: a literal "&#13;" in the text is itself escaped, as "&amp;#13;".)
function unescapeXml(s) {
  if (!s.includes('&')) return s;
  const t = s.replaceAll('&#13;', '\r');
  return t.includes('&') ? t.replace(RE_ENTITY, entity) : t;
}
/** The text of an element's content: entities resolved, CDATA sections taken as they are. */
export function xmlText(s) {
  if (!s.includes('<![CDATA[')) return unescapeXml(s);
  let out = '', at = 0;
  for (const m of s.matchAll(/<!\[CDATA\[([\s\S]*?)\]\]>/g)) { out += unescapeXml(s.slice(at, m.index)) + m[1]; at = m.index + m[0].length; }
  return out + unescapeXml(s.slice(at));
}

/** The last path segment of an href, decoded (absolute URLs too). */
export function hrefName(href) {
  let p = href.trim();
  if (p.includes('&')) p = xmlText(p);
  if (!p.startsWith('/') && /^https?:\/\//i.test(p)) p = new URL(p).pathname;
  const end = p.endsWith('/') ? p.length - 1 : p.length;
  const seg = p.slice(p.lastIndexOf('/', end - 1) + 1, end);
  if (!seg.includes('%')) return seg;
  try { return decodeURIComponent(seg); } catch { return seg; }
}

// The reader walks the tags once, by indexOf, any prefix or none, keeping only what the checks
// need; calendar data is skipped to its close tag and kept as the XML carries it. With the
// server as fast as it is, a reader that scanned each answer once per pattern made the load
// tool, not the server, the slow part of a run.
const statusOf = (text) => { const m = /\s(\d{3})/.exec(text); return m ? Number(m[1]) : null; };
const LEAVES = new Set(['href', 'status', 'getetag', 'sync-token']);

/**
 * A property's value in calendar data as the XML carries it (entities and CR references not
 * resolved, as parseMultistatus gives it): its logical line found and unfolded alone, then
 * read. Null when the data has no such property. (Reading only the lines the checks need
 * keeps the load tool's cost per answer well below the server's.)
 */
export function icsField(raw, prop) {
  const named = (at) => raw[at + prop.length] === ':' || raw[at + prop.length] === ';';
  let i = raw.startsWith(prop) && named(0) ? 0 : -1;
  for (let at = 0; i < 0;) {
    const k = raw.indexOf('\n' + prop, at);
    if (k < 0) return null;
    if (named(k + 1)) i = k + 1;
    else at = k + 1;
  }
  let line = '';
  for (let from = i; ;) {
    const nl = raw.indexOf('\n', from);
    let seg = raw.slice(from, nl < 0 ? raw.length : nl);
    if (seg.endsWith('&#13;')) seg = seg.slice(0, -5);
    else if (seg.endsWith('\r')) seg = seg.slice(0, -1);
    line += seg;
    if (nl < 0 || (raw[nl + 1] !== ' ' && raw[nl + 1] !== '\t')) break;
    from = nl + 2;
  }
  const text = xmlText(line);
  const colon = text.indexOf(':', prop.length);
  return colon < 0 ? null : text.slice(colon + 1).trim();
}

/**
 * { responses: [{ href, name, status, etag, data, collection }], token } of a 207 body; data:
 * the calendar-data as the XML carries it (read it with icsField, or xmlText for all of it).
 * status: the response's own status (a member gone: 404), else that of the propstat that
 * holds getetag (or the first propstat).
 */
export function parseMultistatus(body, { data = false } = {}) {
  const responses = [];
  let token = null;
  let cur = null;      // the response being read: { href, own, pss }
  let ps = null;       // its propstat being read: { status, etag, data, collection }
  let leaf = null, textStart = 0;
  for (let i = body.indexOf('<'); i >= 0; i = body.indexOf('<', i)) {
    const tag = i;
    const c1 = body.charCodeAt(tag + 1);
    if (c1 === 33 /* ! */) {   // CDATA (its text stays in the leaf's slice) or a comment
      const end = body.startsWith('<![CDATA[', tag) ? body.indexOf(']]>', tag) : body.indexOf('-->', tag);
      if (end < 0) break;
      i = end + 3;
      continue;
    }
    const gt = body.indexOf('>', tag);
    if (gt < 0) break;
    i = gt + 1;
    if (c1 === 63 /* ? */) continue;
    const closing = c1 === 47;
    let n = tag + (closing ? 2 : 1);
    const nameStart = n;
    for (let c = body.charCodeAt(n); n < gt && c !== 32 && c !== 9 && c !== 10 && c !== 13 && c !== 47; c = body.charCodeAt(++n));
    const qn = body.slice(nameStart, n);
    const local = qn.slice(qn.indexOf(':') + 1);
    if (!closing) {
      const empty = body.charCodeAt(gt - 1) === 47;
      if (local === 'response') cur = { href: null, own: null, pss: [] };
      else if (local === 'propstat' && cur) ps = { status: null, etag: null, data: null, collection: false };
      else if (local === 'collection' && ps) ps.collection = true;
      else if (local === 'calendar-data' && ps && !empty) {
        const end = body.indexOf(`</${qn}`, gt);
        if (end < 0) break;
        if (data) ps.data = body.slice(gt + 1, end);
        i = end;
      } else if (LEAVES.has(local) && !empty) { leaf = local; textStart = gt + 1; }
      continue;
    }
    if (leaf === local) {
      const text = body.slice(textStart, tag);
      leaf = null;
      if (local === 'href') { if (cur && !ps && cur.href === null) cur.href = text; }
      else if (local === 'status') { if (ps) ps.status = statusOf(text); else if (cur) cur.own = statusOf(text); }
      else if (local === 'getetag') { if (ps) ps.etag = xmlText(text).trim(); }
      else if (!cur) token = xmlText(text).trim();   // sync-token
    } else if (local === 'propstat' && ps) {
      cur.pss.push(ps);
      ps = null;
    } else if (local === 'response' && cur) {
      const href = cur.href ?? '';
      let status = cur.own, etag = null, cdata = null, collection = false;
      for (const p of cur.pss) {
        if (p.status === 200 && p.collection) collection = true;
        if (p.etag && p.status === 200) { etag = p.etag; if (status == null) status = 200; }
        if (p.status === 200 && p.data !== null) cdata = p.data;
        if (status == null && cur.own == null) status = p.status;
      }
      responses.push({ href, name: hrefName(href), status, etag, data: cdata, collection: collection || href.trimEnd().endsWith('/') });
      cur = null;
    }
  }
  return { responses, token };
}

// ---------- HTTP ----------
/** A DAV client for one account on one loopback server (HTTP/1.1 keep-alive, Basic). */
export function davClient({ url, user, password, sockets = 10, timeoutMs = 120000 }) {
  const base = new URL(url);
  lib.assertLoopback(base.hostname, '--url host');
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const auth = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  function request(method, p, { body, headers = {}, timeout = timeoutMs } = {}) {
    return new Promise((resolve, reject) => {
      const h = { Authorization: auth, ...headers };
      let data = null;
      if (body != null) { data = Buffer.from(body); h['Content-Length'] = data.length; }
      const rq = http.request({ host: base.hostname, port: base.port || 80, method, path: p, headers: h, agent, timeout }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      rq.on('timeout', () => rq.destroy(new Error(`${method} ${p}: timeout after ${timeout} ms`)));
      rq.on('error', reject);
      if (data) rq.write(data);
      rq.end();
    });
  }
  return { request, close: () => agent.destroy() };
}

/** The path of the calendar: home template with {user}, then the calendar's name. */
export function calendarPath(homeTemplate, user, calendar) {
  return homeTemplate.replace('{user}', encodeURIComponent(user).replace(/%40/g, '@')) + encodeURIComponent(calendar) + '/';
}

/** Month range [start, end) in ms UTC for year and month (1-12). */
export const monthRange = (year, month) => [Date.UTC(year, month - 1, 1), Date.UTC(year, month, 1)];

/** CPU seconds (user+system) a process has used so far, from /proc (null if unreadable). */
export function procCpuSeconds(pid) {
  if (!pid) return null;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return null; }
}

/**
 * The machine's TCP listen-queue counters (/proc/net/netstat): a server that does not accept
 * fast enough makes the kernel drop SYNs, and the client's retransmit costs it a second.
 */
export function tcpCounters() {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const k = lines[0].split(/\s+/), v = lines[1].split(/\s+/);
    const get = (name) => Number(v[k.indexOf(name)]);
    return { listen_overflows: get('ListenOverflows'), listen_drops: get('ListenDrops'), syn_retrans: get('TCPSynRetrans') };
  } catch { return null; }
}
export function tcpDelta(a, b) {
  if (!a || !b) return null;
  return Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));
}
