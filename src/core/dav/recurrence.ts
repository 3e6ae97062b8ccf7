/**
 * Time arithmetic and recurrence expansion for iCalendar components (RFC 5545 §3.3.5, §3.3.6,
 * §3.8.5), on top of ical.js: turning DATE, floating and zoned values into UTC instants, and
 * walking the recurrence set of one UID (master plus overridden instances) within a work
 * budget. The CalDAV rules that use these walks (RFC 4791 §9.9 time ranges, §9.6.5 expand,
 * §7.10 free-busy) live in time-range.ts and freebusy.ts; icalendar.ts is the facade.
 *
 * Invariants:
 * - Nothing here reads or writes ical.js's process-wide TimezoneService. A TZID resolves
 *   against the VTIMEZONEs of the same VCALENDAR (ical.js does that through
 *   Component.getTimeZoneByID when a value is first read); a TZID without one is floating,
 *   except the UTC aliases ical.js knows (UTC, GMT, Z). Floating times and DATE values are
 *   read in the caller's zone (CALDAV:calendar-timezone) or, without one, as if UTC.
 * - Every walk is bounded by a Budget shared by everything one call does: each candidate
 *   instance and each inner step of ical.js's rule iterator costs one unit, so a rule that can
 *   never match (FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30) or that is merely dense
 *   (FREQ=SECONDLY from ten years ago) ends the walk instead of hanging the server.
 * - Nothing mutates the components it is given.
 */
import ICAL from 'ical.js';
import { DomainError, invalid } from '../errors.ts';

export type ICalComponent = ICAL.Component;
export type ICalTime = ICAL.Time;
export type ICalTimezone = ICAL.Timezone;

/** What the public functions accept: iCalendar text, a parsed CalendarObject, or a parsed VCALENDAR. */
export type CalendarInput = string | { readonly text: string } | ICAL.Component;

/** Default work budget of one call (instances plus inner iterator steps); about 0.5 s of CPU. */
export const DEFAULT_MAX_INSTANCES = 100_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** UTC offsets in use lie within UTC-12 … UTC+14: a floating time is at most this far from its UTC reading. */
export const FLOATING_SLACK_MS = 14 * HOUR_MS;
/** Larger than any DST shift: covers nominal (day-based) durations that move by it. */
export const DST_SLACK_MS = 3 * HOUR_MS;

/** A recurrence walk ran out of budget where the caller needs the whole answer (CALDAV:expand). */
export class RecurrenceLimitError extends DomainError {
  constructor(detail: string) {
    super('LIMIT_EXCEEDED', detail);
    this.name = 'RecurrenceLimitError';
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing and UTC helpers

/** Parse iCalendar text into its VCALENDAR component (no validation: see parseCalendarObject). */
export function loadVCalendar(input: CalendarInput): ICAL.Component {
  if (input instanceof ICAL.Component) return input;
  const text = typeof input === 'string' ? input : input.text;
  let jcal: unknown;
  try {
    jcal = ICAL.parse(text);
  } catch (e) {
    throw invalid(`not parseable as iCalendar: ${(e as Error).message}`);
  }
  if (!Array.isArray(jcal) || typeof jcal[0] !== 'string') throw invalid('not exactly one iCalendar object');
  const root = new ICAL.Component(jcal);
  if (root.name !== 'vcalendar') throw invalid(`the top-level component is ${root.name.toUpperCase()}, not VCALENDAR`);
  return root;
}

/** A fresh copy of a component tree that can be edited without touching the original. */
export function cloneComponent(c: ICAL.Component): ICAL.Component {
  return new ICAL.Component(structuredClone(c.toJSON()));
}

/**
 * The time zone of CALDAV:calendar-timezone (RFC 4791 §5.2.2: a VCALENDAR holding exactly one
 * VTIMEZONE), or a bare VTIMEZONE block. Throws DomainError INVALID_INPUT.
 */
export function parseCalendarTimezone(text: string): ICAL.Timezone {
  const trimmed = text.trim();
  const wrapped = /^BEGIN:VTIMEZONE/i.test(trimmed) ? `BEGIN:VCALENDAR\r\n${trimmed}\r\nEND:VCALENDAR` : trimmed;
  const root = loadVCalendar(wrapped);
  const zones = root.getAllSubcomponents('vtimezone');
  if (zones.length !== 1) throw invalid('a calendar time zone must hold exactly one VTIMEZONE');
  const tzid = zones[0].getFirstPropertyValue('tzid');
  if (typeof tzid !== 'string' || tzid === '') throw invalid('the VTIMEZONE has no TZID');
  checkTimezoneRules(zones[0]);
  return new ICAL.Timezone({ component: zones[0], tzid });
}

/**
 * ical.js expands a VTIMEZONE's rules year by year up to every instant it converts, through
 * the same rule iterator, with no budget. Real zones change a few times a year on a yearly
 * rule; anything denser (FREQ=SECONDLY, BYHOUR lists, a BYMONTHDAY list) would let one
 * stored object cost minutes of CPU on every read, so it is refused. Throws DomainError
 * INVALID_INPUT with a reason.
 */
export function checkTimezoneRules(vtz: ICAL.Component): void {
  for (const rule of vtz.getAllSubcomponents()) {
    if (rule.name !== 'standard' && rule.name !== 'daylight') continue;
    for (const prop of rule.getAllProperties('rrule')) {
      const r = prop.getFirstValue() as ICAL.Recur;
      const p = r.parts;
      if (r.freq !== 'YEARLY') throw invalid(`a VTIMEZONE rule must be yearly, not ${r.freq}`);
      if (p.BYSECOND || p.BYMINUTE || p.BYHOUR || p.BYYEARDAY || p.BYWEEKNO || p.BYSETPOS) {
        throw invalid('a VTIMEZONE rule may only use BYMONTH, BYDAY and BYMONTHDAY');
      }
      // Changes per year: BYDAY and BYMONTHDAY together contract to about one per month.
      const perMonth = p.BYDAY && p.BYMONTHDAY ? 1 : p.BYMONTHDAY ? p.BYMONTHDAY.length
        : p.BYDAY ? p.BYDAY.reduce((n, d) => n + (/^[+-]?\d/.test(d) ? 1 : 5), 0) : 1;
      if ((p.BYMONTH?.length ?? 1) * perMonth > 12) throw invalid('a VTIMEZONE rule changes the offset too often');
    }
  }
}

export function resolveZone(zone: string | ICAL.Timezone | null | undefined): ICAL.Timezone | null {
  if (zone === undefined || zone === null) return null;
  return typeof zone === 'string' ? parseCalendarTimezone(zone) : zone;
}

const UTC_FORM = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * RFC 4791 §9.9: the start and end attributes of CALDAV:time-range (and of expand,
 * limit-recurrence-set, limit-freebusy-set) are "date with UTC time" values, i.e. RFC 5545
 * §3.3.5 FORM #2, 'YYYYMMDDTHHMMSSZ'. Anything else throws DomainError INVALID_INPUT (the
 * protocol layer answers CALDAV:valid-filter).
 */
export function icalDateTimeUtc(s: string): number {
  const m = UTC_FORM.exec(s);
  const bad = () => invalid(`not an iCalendar UTC date-time: ${JSON.stringify(s.slice(0, 40))}`);
  if (!m) throw bad();
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  // RFC 5545 §3.3.12 allows second 60 for a positive leap second; it reads as the next minute.
  if (mo < 1 || mo > 12 || d < 1 || d > ICAL.Time.daysInMonth(mo, y) || h > 23 || mi > 59 || se > 60) throw bad();
  return wallClockMs(y, mo, d, h, mi, se);
}

/** The inverse of icalDateTimeUtc (milliseconds are dropped). */
export function formatUtc(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!Number.isFinite(ms) || y < 0 || y > 9999) throw new RangeError(`not representable as an iCalendar date-time: ${ms}`);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(y, 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/** Wall-clock fields read as UTC; unlike Date.UTC, years 0–99 stay what they are. */
function wallClockMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
}

export function utcTime(ms: number): ICAL.Time {
  return ICAL.Time.fromJSDate(new Date(ms), true);
}

// ---------------------------------------------------------------------------------------------
// Instants

export interface TimeContext {
  /** Zone for floating times and DATE values (RFC 4791 §9.9 / CALDAV:calendar-timezone); null reads them as UTC. */
  readonly floatingZone: ICAL.Timezone | null;
  /** Set once a floating value was converted: bounds computed without a zone must widen by FLOATING_SLACK_MS. */
  sawFloating: boolean;
}

export function newTimeContext(floatingZone: ICAL.Timezone | null = null): TimeContext {
  return { floatingZone, sawFloating: false };
}

/** DATE values, floating DATE-TIMEs and DATE-TIMEs whose TZID did not resolve (RFC 5545 §3.3.5 FORM #1). */
export function isFloating(t: ICAL.Time): boolean {
  return t.isDate || !t.zone || t.zone === ICAL.Timezone.localTimezone || t.zone.tzid === 'floating';
}

export function timeToMs(t: ICAL.Time, ctx: TimeContext): number {
  if (!isFloating(t)) return t.toUnixTime() * 1000;
  ctx.sawFloating = true;
  const hour = t.isDate ? 0 : t.hour;
  const minute = t.isDate ? 0 : t.minute;
  const second = t.isDate ? 0 : t.second;
  if (ctx.floatingZone) {
    const local = new ICAL.Time({ year: t.year, month: t.month, day: t.day, hour, minute, second, isDate: false }, ctx.floatingZone);
    return local.toUnixTime() * 1000;
  }
  return wallClockMs(t.year, t.month, t.day, hour, minute, second);
}

/** Day count since the epoch of a value's own calendar date (its local date for zoned values). */
export function dayNumber(t: ICAL.Time): number {
  return Math.round(wallClockMs(t.year, t.month, t.day) / DAY_MS);
}

/**
 * A length as RFC 5545 §3.3.6 reads it: nominal days and weeks, added in local time (a day
 * across a DST switch is 23 or 25 hours), then exact seconds.
 */
export interface Span {
  readonly days: number;
  readonly seconds: number;
}

export const ZERO_SPAN: Span = { days: 0, seconds: 0 };

export function durationSpan(d: ICAL.Duration): Span {
  const sign = d.isNegative ? -1 : 1;
  return { days: sign * (d.weeks * 7 + d.days), seconds: sign * (d.hours * 3600 + d.minutes * 60 + d.seconds) };
}

/** An instant as a local time plus exact seconds, so that nominal days can still be added to it. */
export interface Moment {
  readonly time: ICAL.Time;
  readonly plusSeconds: number;
}

export function shiftMoment(m: Moment, span: Span): Moment {
  if (span.days === 0) return { time: m.time, plusSeconds: m.plusSeconds + span.seconds };
  const time = m.time.clone();
  time.adjust(span.days, 0, 0, 0);
  return { time, plusSeconds: m.plusSeconds + span.seconds };
}

export function momentMs(m: Moment, ctx: TimeContext): number {
  return timeToMs(m.time, ctx) + m.plusSeconds * 1000;
}

// ---------------------------------------------------------------------------------------------
// Occurrences

/** How an instance's end is given: RFC 4791 §9.9 picks its condition by this. */
export type EndKind = 'dtend' | 'due' | 'duration' | 'none';

export interface EndSpec {
  readonly kind: EndKind;
  readonly span: Span;
}

/**
 * The length every instance of a component shares (RFC 5545 §3.8.5.3): DTEND or DUE minus
 * DTSTART (exact for DATE-TIMEs, whole days for DATEs), else DURATION (nominal), else none.
 */
export function endSpecOf(comp: ICAL.Component, ctx: TimeContext): EndSpec {
  const start = comp.getFirstPropertyValue('dtstart') as ICAL.Time | null;
  if (!start) return { kind: 'none', span: ZERO_SPAN };
  const endName = comp.name === 'vtodo' ? 'due' : comp.name === 'vevent' ? 'dtend' : null;
  const end = endName ? (comp.getFirstPropertyValue(endName) as ICAL.Time | null) : null;
  if (end) {
    const kind = endName === 'due' ? 'due' : 'dtend';
    if (start.isDate && end.isDate) return { kind, span: { days: dayNumber(end) - dayNumber(start), seconds: 0 } };
    return { kind, span: { days: 0, seconds: (timeToMs(end, ctx) - timeToMs(start, ctx)) / 1000 } };
  }
  const duration = comp.name === 'vjournal' ? null : (comp.getFirstPropertyValue('duration') as ICAL.Duration | null);
  if (duration) return { kind: 'duration', span: durationSpan(duration) };
  return { kind: 'none', span: ZERO_SPAN };
}

/** One instance of a recurrence set, or the single instance of a non-recurring component. */
export interface Occurrence {
  /** The master, or the override that replaces this instance. */
  readonly component: ICAL.Component;
  /** True when component is an override (has RECURRENCE-ID). */
  readonly overridden: boolean;
  /** The instance's original start, its RECURRENCE-ID; null for a non-recurring component. */
  readonly recurrenceId: ICAL.Time | null;
  /** The instance's DTSTART in its own zone; null when the component has none (VTODO). */
  readonly start: ICAL.Time | null;
  readonly startMs: number | null;
  readonly endKind: EndKind;
  /**
   * The instance's end. With endKind 'none' it is RFC 4791 §9.9's implied end of a VEVENT or
   * VJOURNAL (DTSTART+P1D for a DATE, DTSTART itself for a DATE-TIME), null for a VTODO.
   */
  readonly end: Moment | null;
  readonly endMs: number | null;
  /** Set when the instance came from an RDATE;VALUE=PERIOD, whose end replaces the master's length. */
  readonly fromPeriod: boolean;
}

function impliedEnd(comp: ICAL.Component, start: ICAL.Time): Moment | null {
  if (comp.name !== 'vevent' && comp.name !== 'vjournal') return null;
  return start.isDate ? shiftMoment({ time: start, plusSeconds: 0 }, { days: 1, seconds: 0 }) : { time: start, plusSeconds: 0 };
}

function makeOccurrence(
  comp: ICAL.Component,
  recurrenceId: ICAL.Time | null,
  start: ICAL.Time | null,
  spec: EndSpec,
  ctx: TimeContext,
  periodEnd: ICAL.Time | null = null,
): Occurrence {
  const overridden = comp.hasProperty('recurrence-id');
  if (!start) {
    // A VTODO without DTSTART: only DUE can place it (RFC 4791 §9.9, rows "N N Y").
    const due = comp.name === 'vtodo' ? (comp.getFirstPropertyValue('due') as ICAL.Time | null) : null;
    const end = due ? { time: due, plusSeconds: 0 } : null;
    return {
      component: comp, overridden, recurrenceId, start: null, startMs: null,
      endKind: due ? 'due' : 'none', end, endMs: end ? momentMs(end, ctx) : null, fromPeriod: false,
    };
  }
  let end: Moment | null;
  let endKind = spec.kind;
  if (periodEnd) {
    end = { time: periodEnd, plusSeconds: 0 };
    endKind = comp.name === 'vtodo' ? 'due' : 'dtend';
  } else if (spec.kind === 'none') {
    end = impliedEnd(comp, start);
  } else {
    end = shiftMoment({ time: start, plusSeconds: 0 }, spec.span);
  }
  return {
    component: comp, overridden, recurrenceId, start, startMs: timeToMs(start, ctx),
    endKind, end, endMs: end ? momentMs(end, ctx) : null, fromPeriod: periodEnd !== null,
  };
}

/** The occurrence an override stands for, with its own times (DTSTART, or RECURRENCE-ID without one). */
export function overrideOccurrence(comp: ICAL.Component, ctx: TimeContext): Occurrence {
  const rid = comp.getFirstPropertyValue('recurrence-id') as ICAL.Time;
  const start = (comp.getFirstPropertyValue('dtstart') as ICAL.Time | null) ?? rid;
  return makeOccurrence(comp, rid, start, endSpecOf(comp, ctx), ctx);
}

/** The occurrence the master would have had at `rid` (RFC 4791 §9.6.6's "original start and end"). */
export function originalOccurrence(master: ICAL.Component, rid: ICAL.Time, ctx: TimeContext): Occurrence {
  return makeOccurrence(master, rid, rid, endSpecOf(master, ctx), ctx);
}

export function isRecurringMaster(comp: ICAL.Component): boolean {
  return !comp.hasProperty('recurrence-id') && (comp.hasProperty('rrule') || comp.hasProperty('rdate'));
}

/** RFC 5545 §3.3.10: a rule without COUNT or UNTIL never ends. */
export function hasInfiniteRule(comp: ICAL.Component): boolean {
  return comp.getAllProperties('rrule').some((p) => {
    const r = p.getFirstValue() as ICAL.Recur;
    return !r.count && !r.until;
  });
}

/** Group the components of one type by UID, each group's master first. */
export function groupByUid(components: ICAL.Component[]): ICAL.Component[][] {
  const groups = new Map<string, ICAL.Component[]>();
  let anonymous = 0;
  for (const c of components) {
    const uid = c.getFirstPropertyValue('uid');
    const key = typeof uid === 'string' ? `u:${uid}` : `a:${anonymous++}`;
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  return [...groups.values()].map((g) => [
    ...g.filter((c) => !c.hasProperty('recurrence-id')),
    ...g.filter((c) => c.hasProperty('recurrence-id')),
  ]);
}

// ---------------------------------------------------------------------------------------------
// The walk

/** Work units left to one call; see the module's invariants. */
export interface Budget {
  left: number;
}

export function newBudget(maxInstances: number | undefined): Budget {
  return { left: maxInstances ?? DEFAULT_MAX_INSTANCES };
}

class BudgetExhausted extends Error {}

/** Take one unit; past the end, the walk in progress stops (walkOccurrences catches it). */
export function spend(budget: Budget): void {
  if (--budget.left < 0) throw new BudgetExhausted('recurrence budget exhausted');
}

interface Candidate {
  readonly time: ICAL.Time;
  readonly ms: number;
  readonly periodEnd: ICAL.Time | null;
}

interface Source {
  head: Candidate | null;
  advance(): void;
}

/** ical.js's RecurIterator loops internally on contracting BY* parts; this is where each loop turn costs. */
interface SteppableIterator {
  next(): ICAL.Time | null;
  check_contracting_rules(): boolean;
}

/**
 * ical.js (2.2) rolls invalid dates over instead of skipping them as RFC 5545 §3.3.10 requires
 * ("Recurrence rules may generate recurrence instances with an invalid date (e.g., February
 * 30) ... Such recurrence instances MUST be ignored and MUST NOT be counted"): a yearly rule
 * from 29 February yields 1 March in common years. Spelling out the BYMONTH and BYMONTHDAY
 * that a bare yearly rule implies (RFC 5545 §3.3.10: they come from DTSTART) makes ical.js
 * skip those years and count correctly.
 */
function explicitYearly(recur: ICAL.Recur, dtstart: ICAL.Time): ICAL.Recur {
  const p = recur.parts;
  if (recur.freq !== 'YEARLY' || p.BYWEEKNO || p.BYYEARDAY || p.BYMONTHDAY || p.BYDAY) return recur;
  const r = recur.clone();
  r.parts.BYMONTHDAY = [dtstart.day];
  if (!p.BYMONTH) r.parts.BYMONTH = [dtstart.month];
  return r;
}

/** The same rollover with explicit parts (BYMONTH=3,4;BYMONTHDAY=31 gives 1 May): drop what the rule cannot mean. */
function validInstanceFilter(recur: ICAL.Recur, dtstart: ICAL.Time): (t: ICAL.Time) => boolean {
  if (recur.freq !== 'YEARLY' && recur.freq !== 'MONTHLY') return () => true;
  const p = recur.parts;
  const months = p.BYMONTH ?? null;
  const days = p.BYDAY || p.BYYEARDAY || p.BYWEEKNO ? null : (p.BYMONTHDAY ?? [dtstart.day]);
  return (t) => (!months || months.includes(t.month))
    && (!days || days.some((d) => (d > 0 ? d : ICAL.Time.daysInMonth(t.month, t.year) + d + 1) === t.day));
}

function ruleSource(recur: ICAL.Recur, dtstart: ICAL.Time, ctx: TimeContext, budget: Budget): Source {
  const it = explicitYearly(recur, dtstart).iterator(dtstart.clone()) as unknown as SteppableIterator;
  const valid = validInstanceFilter(recur, dtstart);
  const inner = it.check_contracting_rules;
  it.check_contracting_rules = function (this: SteppableIterator) {
    spend(budget);
    return inner.call(this);
  };
  const src: Source = {
    head: null,
    advance() {
      for (;;) {
        spend(budget);
        let t: ICAL.Time | null;
        try {
          t = it.next();
        } catch (e) {
          if (e instanceof BudgetExhausted) throw e;
          // ical.js gives up on some rules ("Same occurrence found twice", e.g. FREQ=HOURLY
          // with a DATE DTSTART): the rule ends there.
          t = null;
        }
        if (t && !valid(t)) continue;
        src.head = t ? { time: t.clone(), ms: timeToMs(t, ctx), periodEnd: null } : null;
        return;
      }
    },
  };
  src.advance();
  return src;
}

function listSource(items: Candidate[]): Source {
  items.sort((a, b) => a.ms - b.ms);
  let i = 0;
  const src: Source = {
    head: items[0] ?? null,
    advance() {
      src.head = items[++i] ?? null;
    },
  };
  return src;
}

/**
 * The recurrence set of a master, in order (RFC 5545 §3.8.5): DTSTART, every RRULE and RDATE,
 * each instant once, minus EXDATE. EXRULE (RFC 2445, removed by RFC 5545) is ignored.
 */
function* masterInstances(master: ICAL.Component, dtstart: ICAL.Time, ctx: TimeContext, budget: Budget): Generator<Candidate> {
  const sources: Source[] = [];
  for (const prop of master.getAllProperties('rrule')) {
    try {
      sources.push(ruleSource(prop.getFirstValue() as ICAL.Recur, dtstart, ctx, budget));
    } catch (e) {
      if (e instanceof BudgetExhausted) throw e;
      // An impossible rule (parseCalendarObject refuses those at PUT): it adds nothing.
    }
  }
  // RFC 5545 §3.8.5.3: "The "DTSTART" property value always counts as the first occurrence."
  const listed: Candidate[] = [{ time: dtstart, ms: timeToMs(dtstart, ctx), periodEnd: null }];
  for (const prop of master.getAllProperties('rdate')) {
    for (const v of prop.getValues() as (ICAL.Time | ICAL.Period)[]) {
      if (v instanceof ICAL.Period) listed.push({ time: v.start, ms: timeToMs(v.start, ctx), periodEnd: v.getEnd() });
      else listed.push({ time: v, ms: timeToMs(v, ctx), periodEnd: null });
    }
  }
  sources.push(listSource(listed));

  const exInstants = new Set<number>();
  const exDays = new Set<number>();
  for (const prop of master.getAllProperties('exdate')) {
    for (const v of prop.getValues() as ICAL.Time[]) {
      // A DATE EXDATE against DATE-TIME instances removes the instances of that day.
      if (v.isDate && !dtstart.isDate) exDays.add(dayNumber(v));
      else exInstants.add(timeToMs(v, ctx));
    }
  }

  let previous = Number.NaN;
  for (;;) {
    let best: Source | null = null;
    for (const s of sources) if (s.head && (!best || s.head.ms < best.head!.ms)) best = s;
    if (!best) return;
    const c = best.head!;
    best.advance();
    if (best === sources[sources.length - 1]) spend(budget);
    if (c.ms === previous) continue;
    previous = c.ms;
    if (exInstants.has(c.ms) || (exDays.size > 0 && exDays.has(dayNumber(c.time)))) continue;
    yield c;
  }
}

export interface WalkResult {
  /** False when the budget ran out: instances from reachedMs on were not looked at. */
  readonly complete: boolean;
  readonly reachedMs: number | null;
}

/**
 * Visit every occurrence of one UID's components (see groupByUid) whose master-generated start
 * is at or before untilMs: first each override (they replace the instance their RECURRENCE-ID
 * names, wherever they move it), then the master's instances in order, skipping the
 * overridden ones. A visit that returns true ends the walk. RANGE=THISANDFUTURE is read as a
 * plain override of the one instance (RFC 5545 §3.8.4.4 would also shift later instances;
 * clients in use send each changed instance separately, as RFC 6638 §3.2.6 asks of organizers).
 */
export function walkOccurrences(
  group: ICAL.Component[],
  ctx: TimeContext,
  budget: Budget,
  untilMs: number,
  visit: (o: Occurrence) => boolean | void,
): WalkResult {
  const done: WalkResult = { complete: true, reachedMs: null };
  let reached: number | null = null;
  try {
    const master = group.find((c) => !c.hasProperty('recurrence-id')) ?? null;
    const overridden = new Set<number>();
    for (const comp of group) {
      if (comp === master) continue;
      const occ = overrideOccurrence(comp, ctx);
      overridden.add(timeToMs(occ.recurrenceId!, ctx));
      if (visit(occ) === true) return done;
    }
    if (!master) return done;
    const dtstart = master.getFirstPropertyValue('dtstart') as ICAL.Time | null;
    if (!dtstart || !isRecurringMaster(master)) {
      visit(makeOccurrence(master, null, dtstart, endSpecOf(master, ctx), ctx));
      return done;
    }
    const spec = endSpecOf(master, ctx);
    for (const c of masterInstances(master, dtstart, ctx, budget)) {
      reached = c.ms;
      if (c.ms > untilMs) return done;
      if (overridden.has(c.ms)) continue;
      if (visit(makeOccurrence(master, c.time, c.time, spec, ctx, c.periodEnd)) === true) return done;
    }
  } catch (e) {
    // Visits may spend from the budget too (alarm repetitions, see time-range.ts).
    if (e instanceof BudgetExhausted) return { complete: false, reachedMs: reached };
    throw e;
  }
  return done;
}
