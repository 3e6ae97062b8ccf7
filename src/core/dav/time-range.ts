/**
 * RFC 4791 time ranges: which components overlap a CALDAV:time-range (§9.9), the coarse
 * bounds an index stores for a SQL prefilter, CALDAV:expand (§9.6.5) and
 * CALDAV:limit-recurrence-set (§9.6.6). Pure functions over ical.js components; the walks and
 * time arithmetic are recurrence.ts's.
 *
 * Invariants:
 * - A walk that runs out of budget before the range end answers "overlaps" (for a filter)
 *   and "unbounded" (for bounds): a rule dense enough to exhaust the budget does occur
 *   nearly everywhere, and a false positive is better than an event that silently vanishes.
 *   CALDAV:expand cannot guess and throws RecurrenceLimitError instead.
 * - objectBounds never narrows the truth: whenever matchesTimeRange(obj, r) holds for any
 *   component or VALARM filter, mayOverlap(objectBounds(obj), r) holds too.
 */
import ICAL from 'ical.js';
import {
  DAY_MS, DST_SLACK_MS, FLOATING_SLACK_MS, RecurrenceLimitError,
  cloneComponent, durationSpan, groupByUid, hasInfiniteRule, isFloating, loadVCalendar, momentMs,
  newBudget, newTimeContext, originalOccurrence, overrideOccurrence, resolveZone, shiftMoment, spend, timeToMs, utcTime,
  walkOccurrences,
} from './recurrence.ts';
import type { Budget, CalendarInput, Moment, Occurrence, TimeContext } from './recurrence.ts';

/** A CALDAV:time-range in ms UTC; null is the missing attribute (-infinity / +infinity). */
export interface TimeRange {
  start: number | null;
  end: number | null;
}

export interface TimeRangeOptions {
  /** The component the filter names: VEVENT, VTODO, VJOURNAL, VFREEBUSY or VALARM. Default: the object's own type. */
  componentName?: string;
  /** CALDAV:calendar-timezone (VCALENDAR text with one VTIMEZONE, or a parsed zone) for floating times. */
  timezone?: string | ICAL.Timezone | null;
  /** Work budget of the call (see recurrence.ts). */
  maxInstances?: number;
}

/** The calendar components of an object (VTIMEZONE and X- components left out). */
export function calendarComponents(vcal: ICAL.Component): ICAL.Component[] {
  return vcal.getAllSubcomponents().filter((c) => c.name !== 'vtimezone' && !c.name.startsWith('x-'));
}

function msOf(comp: ICAL.Component, name: string, ctx: TimeContext): number | null {
  const v = comp.getFirstPropertyValue(name);
  return v instanceof ICAL.Time ? timeToMs(v, ctx) : null;
}

// ---------------------------------------------------------------------------------------------
// RFC 4791 §9.9, one occurrence at a time

/** RFC 4791 §9.9, the VEVENT, VTODO and VJOURNAL tables; rs/re are -/+Infinity when open. */
export function occurrenceOverlaps(occ: Occurrence, rs: number, re: number, ctx: TimeContext): boolean {
  const S = occ.startMs;
  switch (occ.component.name) {
    case 'vevent':
    case 'vjournal': {
      // VJOURNAL has no DTSTART: FALSE. VEVENT always has one (parseCalendarObject insists).
      if (S === null) return false;
      // End from DTEND, DTSTART+DURATION, or the implied +P1D (DATE) / +0 (DATE-TIME).
      const E = occ.endMs ?? S;
      // DTEND equal to DTSTART is read as DURATION:PT0S ("(start <= DTSTART AND end > DTSTART)").
      return E > S ? rs < E && re > S : rs <= S && re > S;
    }
    case 'vtodo': {
      if (S !== null) {
        if (occ.endKind === 'duration') {
          const E = occ.endMs!;
          return rs <= E && (re > S || re >= E);
        }
        if (occ.endKind === 'due') {
          const D = occ.endMs!;
          return (rs < D || rs <= S) && (re > S || re >= D);
        }
        return rs <= S && re > S;
      }
      if (occ.endKind === 'due') {
        const D = occ.endMs!;
        return rs < D && re >= D;
      }
      const completed = msOf(occ.component, 'completed', ctx);
      const created = msOf(occ.component, 'created', ctx);
      if (completed !== null && created !== null) {
        return (rs <= created || rs <= completed) && (re >= created || re >= completed);
      }
      if (completed !== null) return rs <= completed && re >= completed;
      if (created !== null) return re > created;
      return true;
    }
    default:
      return false;
  }
}

/**
 * The smallest [lo, hi] with: occurrenceOverlaps(occ, rs, re) implies rs <= hi and re >= lo.
 * null: the occurrence overlaps no range at all.
 */
function occurrenceWindow(occ: Occurrence, ctx: TimeContext): [number, number] | null {
  const S = occ.startMs;
  if (occ.component.name === 'vtodo') {
    if (S !== null) {
      const E = occ.endKind === 'none' ? S : occ.endMs!;
      return [Math.min(S, E), Math.max(S, E)];
    }
    if (occ.endKind === 'due') return [occ.endMs!, occ.endMs!];
    const completed = msOf(occ.component, 'completed', ctx);
    const created = msOf(occ.component, 'created', ctx);
    if (completed !== null && created !== null) return [Math.min(completed, created), Math.max(completed, created)];
    if (completed !== null) return [completed, completed];
    if (created !== null) return [created, Infinity];
    return [-Infinity, Infinity];
  }
  if (S === null) return null;
  return [S, Math.max(S, occ.endMs ?? S)];
}

/** RFC 4791 §9.9, the VFREEBUSY table. */
export function freeBusyComponentOverlaps(fb: ICAL.Component, rs: number, re: number, ctx: TimeContext): boolean {
  const S = msOf(fb, 'dtstart', ctx);
  const E = msOf(fb, 'dtend', ctx);
  if (S !== null && E !== null) return rs <= E && re > S;
  return freeBusyPeriods(fb, ctx).some(([ps, pe]) => rs < pe && re > ps);
}

function freeBusyWindow(fb: ICAL.Component, ctx: TimeContext): [number, number] | null {
  const S = msOf(fb, 'dtstart', ctx);
  const E = msOf(fb, 'dtend', ctx);
  if (S !== null && E !== null) return [Math.min(S, E), Math.max(S, E)];
  const periods = freeBusyPeriods(fb, ctx);
  if (periods.length === 0) return null;
  return [Math.min(...periods.map((p) => p[0])), Math.max(...periods.map((p) => p[1]))];
}

/** The FREEBUSY periods of a VFREEBUSY as [start, end] ms, with their FBTYPE (RFC 5545 §3.8.2.6). */
export function freeBusyPeriods(fb: ICAL.Component, ctx: TimeContext): [number, number, string][] {
  const out: [number, number, string][] = [];
  for (const prop of fb.getAllProperties('freebusy')) {
    const type = String(prop.getFirstParameter('fbtype') ?? 'BUSY').toUpperCase();
    for (const p of prop.getValues() as ICAL.Period[]) {
      out.push([timeToMs(p.start, ctx), timeToMs(p.getEnd(), ctx), type]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Alarms (RFC 4791 §9.9: "(start <= trigger-time) AND (end > trigger-time)", each repetition)

/** RFC 5545 §3.8.6.2 caps nothing; real clients repeat a handful of times. */
const MAX_REPEAT = 100;

/** A trigger and its REPEAT repetitions; each costs a budget unit, as instances do. */
function repetitions(alarm: ICAL.Component, first: number, budget: Budget): number[] {
  spend(budget);
  const out = [first];
  const repeat = alarm.getFirstPropertyValue('repeat');
  const every = alarm.getFirstPropertyValue('duration');
  if (typeof repeat === 'number' && repeat > 0 && every instanceof ICAL.Duration) {
    const step = every.toSeconds() * 1000;
    if (step > 0) {
      for (let k = 1; k <= Math.min(repeat, MAX_REPEAT); k++) {
        spend(budget);
        out.push(first + k * step);
      }
    }
  }
  return out;
}

function triggerProperty(alarm: ICAL.Component): ICAL.Property | null {
  return alarm.getFirstProperty('trigger');
}

/** Trigger times of the alarms of one occurrence that are relative to its start or end. */
function relativeTriggers(occ: Occurrence, ctx: TimeContext, budget: Budget): number[] {
  const out: number[] = [];
  for (const alarm of occ.component.getAllSubcomponents('valarm')) {
    const prop = triggerProperty(alarm);
    const offset = prop?.getFirstValue();
    if (!(offset instanceof ICAL.Duration)) continue;
    const related = String(prop!.getFirstParameter('related') ?? 'START').toUpperCase();
    const base: Moment | null = related === 'END' ? occ.end : occ.start ? { time: occ.start, plusSeconds: 0 } : null;
    if (!base) continue;
    out.push(...repetitions(alarm, momentMs(shiftMoment(base, durationSpan(offset)), ctx), budget));
  }
  return out;
}

/**
 * Absolute (VALUE=DATE-TIME) triggers fire once, however often their component recurs; their
 * number is bounded by the object's size, so callers pass an unmetered budget.
 */
function absoluteTriggers(group: ICAL.Component[], ctx: TimeContext, budget: Budget): number[] {
  const out: number[] = [];
  for (const comp of group) {
    for (const alarm of comp.getAllSubcomponents('valarm')) {
      const t = triggerProperty(alarm)?.getFirstValue();
      if (t instanceof ICAL.Time) out.push(...repetitions(alarm, timeToMs(t, ctx), budget));
    }
  }
  return out;
}

/** How far before its instance's start a relative trigger of the master can fire. */
function alarmLead(master: ICAL.Component | undefined): number {
  let lead = 0;
  for (const alarm of master?.getAllSubcomponents('valarm') ?? []) {
    const offset = triggerProperty(alarm)?.getFirstValue();
    if (!(offset instanceof ICAL.Duration)) continue;
    const span = durationSpan(offset);
    const ms = span.days * DAY_MS + span.seconds * 1000;
    if (ms < 0) lead = Math.max(lead, -ms + (span.days !== 0 ? DST_SLACK_MS : 0));
  }
  return lead;
}

// ---------------------------------------------------------------------------------------------
// The filter

function mainComponentName(vcal: ICAL.Component): string | null {
  return calendarComponents(vcal)[0]?.name ?? null;
}

/**
 * RFC 4791 §9.9: does any component of the named type (any instance of it, for recurring
 * ones) overlap the range? componentName VALARM asks about the alarms of the object's
 * VEVENTs or VTODOs, each repetition and each instance counting.
 */
export function matchesTimeRange(input: CalendarInput, range: TimeRange, opts: TimeRangeOptions = {}): boolean {
  const vcal = loadVCalendar(input);
  const ctx = newTimeContext(resolveZone(opts.timezone));
  const budget = newBudget(opts.maxInstances);
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  const target = (opts.componentName ?? mainComponentName(vcal) ?? '').toLowerCase();

  if (target === 'vfreebusy') {
    return vcal.getAllSubcomponents('vfreebusy').some((fb) => freeBusyComponentOverlaps(fb, rs, re, ctx));
  }
  if (target === 'valarm') {
    const parents = calendarComponents(vcal).filter((c) => c.name === 'vevent' || c.name === 'vtodo');
    for (const group of groupByUid(parents)) {
      if (absoluteTriggers(group, ctx, newBudget(Infinity)).some((t) => rs <= t && re > t)) return true;
      let hit = false;
      const walk = walkOccurrences(group, ctx, budget, re + alarmLead(group[0]), (occ) => {
        hit = relativeTriggers(occ, ctx, budget).some((t) => rs <= t && re > t);
        return hit;
      });
      if (hit || !walk.complete) return true;
    }
    return false;
  }
  if (target !== 'vevent' && target !== 'vtodo' && target !== 'vjournal') return false;
  for (const group of groupByUid(vcal.getAllSubcomponents(target))) {
    let hit = false;
    const walk = walkOccurrences(group, ctx, budget, re, (occ) => (hit = occurrenceOverlaps(occ, rs, re, ctx)));
    if (hit || !walk.complete) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Bounds for the index

/**
 * firstStart/lastEnd in ms UTC; null is unbounded (-infinity / +infinity). An object can match
 * a time range only if mayOverlap(bounds, range); see the module's invariants.
 */
export interface TimeBounds {
  firstStart: number | null;
  lastEnd: number | null;
}

/**
 * The prefilter contract, which SQL mirrors: (first_start IS NULL OR first_start <= :end) AND
 * (last_end IS NULL OR last_end >= :start). The bounds are padded by 1 ms, so the strict
 * forms (< and >) are safe as well.
 */
export function mayOverlap(bounds: TimeBounds, range: TimeRange): boolean {
  return (bounds.firstStart === null || range.end === null || bounds.firstStart <= range.end)
    && (bounds.lastEnd === null || range.start === null || bounds.lastEnd >= range.start);
}

/** Bounds of every instance, alarm trigger and free-busy period of an object (computed without a zone). */
export function objectBounds(input: CalendarInput, opts: { maxInstances?: number } = {}): TimeBounds {
  const vcal = loadVCalendar(input);
  const ctx = newTimeContext(null);
  const budget = newBudget(opts.maxInstances);
  let lo = Infinity;
  let hi = -Infinity;
  let open = false;
  const widen = (a: number, b: number) => {
    lo = Math.min(lo, a);
    hi = Math.max(hi, b);
  };
  const components = calendarComponents(vcal);
  for (const fb of components.filter((c) => c.name === 'vfreebusy')) {
    const w = freeBusyWindow(fb, ctx);
    if (w) widen(w[0], w[1]);
  }
  for (const group of groupByUid(components.filter((c) => c.name !== 'vfreebusy'))) {
    for (const t of absoluteTriggers(group, ctx, newBudget(Infinity))) widen(t, t);
    const master = group.find((c) => !c.hasProperty('recurrence-id'));
    // An endless rule: its first instance gives the lower bound, and there is no upper one.
    const infinite = master !== undefined && hasInfiniteRule(master);
    const walk = walkOccurrences(group, ctx, budget, Infinity, (occ) => {
      const w = occurrenceWindow(occ, ctx);
      if (w) widen(w[0], w[1]);
      for (const t of relativeTriggers(occ, ctx, budget)) widen(t, t);
      // Overrides come first; past them, the first instance of an endless master is its earliest.
      return infinite && !occ.overridden;
    });
    if (infinite || !walk.complete) {
      open = true;
      // Instances not walked start later than the first, but a day-based alarm offset
      // (TRIGGER:-P1D) of a later instance can land up to a DST shift earlier in UTC.
      if (master?.getFirstSubcomponent('valarm')) lo -= DST_SLACK_MS;
    }
  }
  if (ctx.sawFloating) {
    lo -= FLOATING_SLACK_MS;
    hi += FLOATING_SLACK_MS;
  }
  // iCalendar times are whole seconds: one extra millisecond each side lets a prefilter use
  // strict comparisons (first_start < :end, last_end > :start) and still keep e.g. a
  // zero-length event at the range start, or a VTODO whose DUE is the range end.
  lo -= 1;
  hi += 1;
  return {
    firstStart: Number.isFinite(lo) ? lo : null,
    lastEnd: open || !Number.isFinite(hi) ? null : hi,
  };
}

// ---------------------------------------------------------------------------------------------
// CALDAV:expand and CALDAV:limit-recurrence-set

/** A value as expand writes it: UTC, except floating ones (no zone to convert from) and DATEs. */
function outputTime(t: ICAL.Time, ctx: TimeContext): ICAL.Time {
  return isFloating(t) ? t.clone() : utcTime(timeToMs(t, ctx));
}

function outputMoment(m: Moment, ctx: TimeContext): ICAL.Time {
  if (m.plusSeconds === 0) return outputTime(m.time, ctx);
  if (isFloating(m.time)) {
    const t = m.time.clone();
    t.isDate = false;
    t.adjust(0, 0, 0, m.plusSeconds);
    return t;
  }
  return utcTime(momentMs(m, ctx));
}

function setTime(comp: ICAL.Component, name: string, value: ICAL.Time): void {
  const prop = comp.getFirstProperty(name) ?? comp.addProperty(new ICAL.Property(name));
  prop.removeParameter('tzid');
  prop.setValue(value);
}

/** RFC 4791 §9.6.5: "Date and local time with reference to time zone information MUST be converted into date with UTC time." */
function convertZonedValues(comp: ICAL.Component, ctx: TimeContext): void {
  for (const prop of comp.getAllProperties()) {
    if (!prop.getParameter('tzid')) continue;
    const values = (prop.getValues() as unknown[]).map((v) => {
      if (v instanceof ICAL.Time) return outputTime(v, ctx);
      if (v instanceof ICAL.Period) return ICAL.Period.fromData({ start: outputTime(v.start, ctx), end: outputTime(v.getEnd(), ctx) });
      return v;
    });
    prop.removeParameter('tzid');
    if (prop.isMultiValue) prop.setValues(values);
    else prop.setValue(values[0]);
  }
  for (const sub of comp.getAllSubcomponents()) convertZonedValues(sub, ctx);
}

/**
 * A copy to edit that still resolves its TZIDs: ical.js finds VTIMEZONEs through the parent
 * chain when a value is first read, so the copy keeps the original's VCALENDAR as parent
 * until it is added elsewhere.
 */
function editableCopy(comp: ICAL.Component): ICAL.Component {
  const copy = cloneComponent(comp);
  copy.parent = comp.parent;
  return copy;
}

/** One instance as a stand-alone component: its own times, a RECURRENCE-ID, no recurrence properties. */
function instanceComponent(occ: Occurrence, recurring: boolean, ctx: TimeContext): ICAL.Component {
  const comp = editableCopy(occ.component);
  for (const name of ['rrule', 'rdate', 'exdate', 'exrule']) comp.removeAllProperties(name);
  if (recurring && !occ.overridden && occ.start && occ.recurrenceId) {
    setTime(comp, 'dtstart', outputTime(occ.start, ctx));
    if (occ.end && (occ.endKind === 'dtend' || occ.endKind === 'due')) {
      if (occ.fromPeriod) comp.removeAllProperties('duration');
      setTime(comp, occ.endKind, outputMoment(occ.end, ctx));
    } else if (occ.endKind === 'duration' && occ.endMs !== null) {
      // In UTC a nominal day is 24 hours: write the length this instance really has.
      comp.updatePropertyWithValue('duration', ICAL.Duration.fromSeconds((occ.endMs - occ.startMs!) / 1000));
    }
    setTime(comp, 'recurrence-id', outputTime(occ.recurrenceId, ctx));
  }
  comp.getFirstProperty('recurrence-id')?.removeParameter('range');
  convertZonedValues(comp, ctx);
  return comp;
}

function emptyCopy(vcal: ICAL.Component): ICAL.Component {
  const out = new ICAL.Component('vcalendar');
  for (const p of vcal.getAllProperties()) out.addProperty(new ICAL.Property(structuredClone(p.toJSON())));
  return out;
}

function serialise(vcal: ICAL.Component): string {
  return `${vcal.toString()}\r\n`;
}

/**
 * RFC 4791 §9.6.5 CALDAV:expand: every instance overlapping the range as its own component
 * with RECURRENCE-ID (non-recurring components as they are), no RRULE/RDATE/EXDATE/EXRULE,
 * zoned times in UTC, no VTIMEZONE. Floating times stay floating (they refer to no zone);
 * `timezone` only decides which of them overlap. Throws RecurrenceLimitError when the budget
 * runs out before the range end.
 */
export function expandCalendarObject(
  input: CalendarInput,
  range: { start: number; end: number },
  opts: { timezone?: string | ICAL.Timezone | null; maxInstances?: number } = {},
): string {
  const vcal = loadVCalendar(input);
  const ctx = newTimeContext(resolveZone(opts.timezone));
  const budget = newBudget(opts.maxInstances);
  const out = emptyCopy(vcal);
  const instances: { key: number; comp: ICAL.Component }[] = [];
  const components = calendarComponents(vcal);
  for (const fb of components.filter((c) => c.name === 'vfreebusy')) {
    if (!freeBusyComponentOverlaps(fb, range.start, range.end, ctx)) continue;
    const copy = editableCopy(fb);
    convertZonedValues(copy, ctx);
    instances.push({ key: msOf(fb, 'dtstart', ctx) ?? 0, comp: copy });
  }
  for (const group of groupByUid(components.filter((c) => c.name !== 'vfreebusy'))) {
    const recurring = group.length > 1 || group[0].hasProperty('rrule') || group[0].hasProperty('rdate')
      || group[0].hasProperty('recurrence-id');
    const walk = walkOccurrences(group, ctx, budget, range.end, (occ) => {
      if (!occurrenceOverlaps(occ, range.start, range.end, ctx)) return;
      instances.push({ key: occ.startMs ?? occ.endMs ?? 0, comp: instanceComponent(occ, recurring, ctx) });
    });
    if (!walk.complete) {
      throw new RecurrenceLimitError('the recurrence set is too large to expand within the limit');
    }
  }
  instances.sort((a, b) => a.key - b.key);
  for (const i of instances) out.addSubcomponent(i.comp);
  return serialise(out);
}

/**
 * RFC 4791 §9.6.6 CALDAV:limit-recurrence-set: the master components and only the overrides
 * that "impact" the range, i.e. whose own times or original times (those of the instance they
 * replace) overlap it. An override with RANGE=THISANDFUTURE at or before the range end is
 * kept as well, since it would reshape the instances in the range. VTIMEZONEs stay.
 */
export function limitRecurrenceSet(
  input: CalendarInput,
  range: { start: number; end: number },
  opts: { timezone?: string | ICAL.Timezone | null } = {},
): string {
  const vcal = cloneComponent(loadVCalendar(input));
  const ctx = newTimeContext(resolveZone(opts.timezone));
  const { start: rs, end: re } = range;
  let removed = false;
  for (const group of groupByUid(calendarComponents(vcal).filter((c) => c.name !== 'vfreebusy'))) {
    const master = group.find((c) => !c.hasProperty('recurrence-id'));
    for (const comp of group) {
      if (comp === master) continue;
      let keep = occurrenceOverlaps(overrideOccurrence(comp, ctx), rs, re, ctx);
      const ridProp = comp.getFirstProperty('recurrence-id')!;
      const rid = ridProp.getFirstValue() as ICAL.Time;
      if (!keep && master) keep = occurrenceOverlaps(originalOccurrence(master, rid, ctx), rs, re, ctx);
      if (!keep && String(ridProp.getFirstParameter('range') ?? '').toUpperCase() === 'THISANDFUTURE') {
        keep = timeToMs(rid, ctx) <= re;
      }
      if (!keep) {
        vcal.removeSubcomponent(comp);
        removed = true;
      }
    }
  }
  // Nothing to drop: hand back the stored bytes rather than ical.js's re-serialisation.
  if (!removed && !(input instanceof ICAL.Component)) return normaliseLineEnds(typeof input === 'string' ? input : input.text);
  return serialise(vcal);
}

/** CRLF line ends (RFC 5545 §3.1), ending with one. */
export function normaliseLineEnds(text: string): string {
  const crlf = text.replace(/\r\n|\r|\n/g, '\r\n');
  return crlf.endsWith('\r\n') ? crlf : `${crlf}\r\n`;
}
