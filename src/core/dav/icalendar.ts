/**
 * The iCalendar domain logic of the CalDAV server (RFC 4791, RFC 5545), as pure functions the
 * protocol layer calls: validating a calendar object resource on PUT (§4.1, §5.3.2.1) and
 * extracting what the index and scheduling need; time-range filtering (§9.9), expand and
 * limit-recurrence-set (§9.6.5, §9.6.6) and free-busy (§7.10). This module is the facade:
 * recurrence.ts walks recurrence sets, time-range.ts and freebusy.ts apply the RFC rules.
 *
 * Decisions (each also noted where it is made):
 * - PRODID is not required. RFC 5545 §3.6 makes it REQUIRED, but the server never reads it,
 *   every real client sends it, and refusing hand-made uploads (curl, scripts) gains nothing.
 * - A TZID without a matching VTIMEZONE is accepted and read as floating time (as Sabre and
 *   Radicale do); CalendarObject.unresolvedTzids lists such TZIDs. ical.js carries no IANA
 *   database, and guessing offsets would make stored data mean different things on different
 *   servers. The bounds widen by ±14 h for floating times, so the index stays safe.
 * - DTEND equal to DTSTART is accepted (zero-length events are common; RFC 4791 §9.9 then
 *   uses its DURATION=0 row). DTEND before DTSTART, DUE before DTSTART, a negative DURATION,
 *   and DTEND or DUE together with DURATION are refused.
 * - RANGE=THISANDFUTURE overrides act on their one instance (recurrence.ts explains).
 * - maxBytes counts the UTF-8 bytes of the text as received, before CRLF normalisation.
 *
 * Invariants:
 * - Every refusal is a CalendarDataError naming the RFC 4791 precondition the protocol layer
 *   reports: valid-calendar-data for what RFC 5545 forbids, valid-calendar-object-resource
 *   for the §4.1 restrictions, supported-calendar-component, supported-calendar-data (an
 *   iCalendar version other than 2.0) and max-resource-size.
 * - parseCalendarObject either throws or returns an object every other function here handles.
 */
import ICAL from 'ical.js';
import { DomainError } from '../errors.ts';
import { FLOATING_SLACK_MS, checkTimezoneRules, isFloating, loadVCalendar, newTimeContext, timeToMs } from './recurrence.ts';
import { calendarComponents, normaliseLineEnds, objectBounds } from './time-range.ts';

export {
  DEFAULT_MAX_INSTANCES, RecurrenceLimitError, formatUtc, icalDateTimeUtc, loadVCalendar as parseICalendar,
  parseCalendarTimezone,
} from './recurrence.ts';
export type { CalendarInput, ICalComponent, ICalTimezone } from './recurrence.ts';
export {
  expandCalendarObject, limitRecurrenceSet, matchesTimeRange, mayOverlap, objectBounds,
} from './time-range.ts';
export type { TimeBounds, TimeRange, TimeRangeOptions } from './time-range.ts';
export { freeBusy, freeBusyToICalendar, readFreeBusy } from './freebusy.ts';
export type { BusyPeriod, FreeBusyResponseOptions, FreeBusyType } from './freebusy.ts';

/** RFC 4791 §5.3.2.1 preconditions of PUT, COPY and MOVE into a calendar collection. */
export type CalendarDataCondition =
  | 'valid-calendar-data'
  | 'valid-calendar-object-resource'
  | 'supported-calendar-component'
  | 'max-resource-size'
  | 'supported-calendar-data';

/** A refused calendar object resource; `condition` is the CALDAV: precondition element to report. */
export class CalendarDataError extends DomainError {
  readonly condition: CalendarDataCondition;
  constructor(condition: CalendarDataCondition, detail: string) {
    super(condition === 'max-resource-size' ? 'LIMIT_EXCEEDED' : 'INVALID_INPUT', detail);
    this.name = 'CalendarDataError';
    this.condition = condition;
  }
}

export type CalendarComponentName = 'VEVENT' | 'VTODO' | 'VJOURNAL' | 'VFREEBUSY';

export interface CalendarAttendee {
  /** The cal-address as written, e.g. 'mailto:lisa@example.com'. */
  address: string;
  partstat?: string;
  role?: string;
  rsvp?: boolean;
  /** RFC 6638 §7.1 SCHEDULE-AGENT (SERVER, CLIENT, NONE). */
  scheduleAgent?: string;
}

/** What the index and the scheduling code need of a stored calendar object resource. */
export interface CalendarObject {
  uid: string;
  component: CalendarComponentName;
  summary?: string;
  /** The text as received, with CRLF line ends. */
  text: string;
  /** The master has RRULE or RDATE, or the object holds overridden instances. */
  recurring: boolean;
  /**
   * ms UTC bounds for a coarse time-range prefilter (see mayOverlap): no time-range filter,
   * VALARM ones included, can match outside them. null: unbounded (an endless RRULE, a
   * VTODO without dates, or a recurrence set too large to walk at PUT).
   */
  firstStart: number | null;
  lastEnd: number | null;
  /** From the master (or, without one, the first override): ORGANIZER's cal-address. */
  organizer?: string;
  /** The master's attendees, then any only overrides name. */
  attendees: CalendarAttendee[];
  sequence: number;
  dtstamp?: number;
  status?: string;
  /** VTODO only. */
  due?: number;
  percentComplete?: number;
  priority?: number;
  completed?: number;
  categories: string[];
  /** TZIDs referenced without a VTIMEZONE in the object; their times are read as floating. */
  unresolvedTzids: string[];
}

export interface ParseCalendarOptions {
  maxBytes: number;
  /** CALDAV:supported-calendar-component-set of the target collection; default: all four. */
  allowedComponents?: string[];
  /** Work budget for the bounds walk at PUT; a larger recurrence set gets lastEnd null. */
  maxInstances?: number;
  /**
   * Accept a METHOD property: for iTIP messages in a scheduling inbox (RFC 6638 §4.2), which
   * RFC 4791 §4.1's ban does not cover. Such messages need no DTSTART (RFC 5546 CANCEL, REPLY).
   */
  allowMethod?: boolean;
}

const COMPONENT_TYPES = new Set(['vevent', 'vtodo', 'vjournal', 'vfreebusy']);
/** ical.js resolves these TZIDs to UTC without a VTIMEZONE. */
const UTC_TZIDS = new Set(['UTC', 'GMT', 'Z']);
/** Walking at PUT is only for the index; a smaller budget keeps an abusive PUT cheap. */
const BOUNDS_BUDGET = 20_000;

function fail(condition: CalendarDataCondition, detail: string): never {
  throw new CalendarDataError(condition, detail);
}

/**
 * RFC 5545 §3.4, §3.6: exactly one VCALENDAR, every BEGIN closed by its own END, nothing
 * outside. ical.js tolerates END names that do not match, so this pass checks them.
 */
function checkStructure(text: string): void {
  const lines = text.replace(/\r\n[ \t]/g, '').split('\r\n');
  const stack: string[] = [];
  let objects = 0;
  for (const line of lines) {
    if (line === '') continue;
    const m = /^(BEGIN|END):(.*)$/i.exec(line);
    const name = m ? m[2].trim().toUpperCase() : '';
    if (stack.length === 0) {
      if (!m || m[1].toUpperCase() !== 'BEGIN' || name !== 'VCALENDAR') {
        fail('valid-calendar-data', objects === 0 ? 'the text does not start with BEGIN:VCALENDAR' : 'content after END:VCALENDAR');
      }
      if (++objects > 1) fail('valid-calendar-data', 'more than one VCALENDAR object');
    }
    if (!m) continue;
    if (m[1].toUpperCase() === 'BEGIN') {
      stack.push(name);
    } else {
      const open = stack.pop();
      if (open !== name) fail('valid-calendar-data', `END:${name} closes BEGIN:${open}`);
    }
  }
  if (objects === 0) fail('valid-calendar-data', 'no VCALENDAR object');
  if (stack.length > 0) fail('valid-calendar-data', `BEGIN:${stack[stack.length - 1]} is never closed`);
}

/** ical.js parses values lazily; reading each one surfaces malformed dates, durations and rules now. */
function checkValues(comp: ICAL.Component): void {
  for (const prop of comp.getAllProperties()) {
    try {
      prop.getValues();
    } catch (e) {
      fail('valid-calendar-data', `bad ${prop.name.toUpperCase()} value: ${(e as Error).message}`);
    }
  }
  for (const sub of comp.getAllSubcomponents()) checkValues(sub);
}

function checkTimezone(vtz: ICAL.Component): void {
  const tzid = vtz.getFirstPropertyValue('tzid');
  if (typeof tzid !== 'string' || tzid === '') fail('valid-calendar-data', 'a VTIMEZONE has no TZID');
  const rules = vtz.getAllSubcomponents().filter((c) => c.name === 'standard' || c.name === 'daylight');
  if (rules.length === 0) fail('valid-calendar-data', `VTIMEZONE ${tzid} has no STANDARD or DAYLIGHT`);
  for (const r of rules) {
    for (const p of ['dtstart', 'tzoffsetfrom', 'tzoffsetto']) {
      if (!r.hasProperty(p)) fail('valid-calendar-data', `VTIMEZONE ${tzid}: ${r.name.toUpperCase()} lacks ${p.toUpperCase()}`);
    }
  }
  try {
    checkTimezoneRules(vtz);
  } catch (e) {
    fail('valid-calendar-data', `VTIMEZONE ${tzid}: ${(e as DomainError).detail}`);
  }
}

/** RFC 5545 §3.6.1–§3.6.4, §3.8.2, §3.8.5: the per-component rules the server relies on. */
function checkComponent(comp: ICAL.Component, hasMethod: boolean): void {
  const name = comp.name.toUpperCase();
  const uid = comp.getFirstPropertyValue('uid');
  if (typeof uid !== 'string' || uid.trim() === '') fail('valid-calendar-data', `a ${name} has no UID`);
  const ctx = newTimeContext(null);
  const start = comp.getFirstPropertyValue('dtstart') as ICAL.Time | null;
  // RFC 5545 §3.6.1: DTSTART is REQUIRED in a VEVENT when the VCALENDAR has no METHOD.
  if (name === 'VEVENT' && !start && !hasMethod) fail('valid-calendar-data', 'a VEVENT has no DTSTART');
  const endName = name === 'VTODO' ? 'due' : name === 'VEVENT' || name === 'VFREEBUSY' ? 'dtend' : null;
  const end = endName ? (comp.getFirstPropertyValue(endName) as ICAL.Time | null) : null;
  const duration = comp.getFirstPropertyValue('duration') as ICAL.Duration | null;
  if (end && duration) fail('valid-calendar-data', `${name} has both ${endName!.toUpperCase()} and DURATION`);
  // A floating value against a zoned one (an unresolved TZID against UTC, say) is only
  // known to within the widest UTC offsets: refuse only what no zone can make right.
  const slack = start && end && isFloating(start) !== isFloating(end) ? 2 * FLOATING_SLACK_MS : 0;
  if (start && end && timeToMs(end, ctx) + slack < timeToMs(start, ctx)) {
    fail('valid-calendar-data', `${endName!.toUpperCase()} is before DTSTART`);
  }
  if (duration && duration.isNegative && duration.toSeconds() !== 0) fail('valid-calendar-data', 'DURATION is negative');
  if (duration && !start && name !== 'VFREEBUSY') fail('valid-calendar-data', `${name} has DURATION but no DTSTART`);
  const rules = comp.getAllProperties('rrule');
  if (rules.length > 0 && !start) fail('valid-calendar-data', `${name} has RRULE but no DTSTART`);
  for (const prop of rules) {
    try {
      (prop.getFirstValue() as ICAL.Recur).iterator(start!.clone());
    } catch (e) {
      fail('valid-calendar-data', `RRULE cannot be evaluated: ${(e as Error).message}`);
    }
  }
}

/** TZIDs used in `comp` and below that have no VTIMEZONE in the object. */
function collectTzids(comp: ICAL.Component, known: Set<string>, out: Set<string>): void {
  for (const prop of comp.getAllProperties()) {
    const tzid = prop.getFirstParameter('tzid');
    if (typeof tzid === 'string' && !known.has(tzid) && !UTC_TZIDS.has(tzid)) out.add(tzid);
  }
  for (const sub of comp.getAllSubcomponents()) collectTzids(sub, known, out);
}

function param(prop: ICAL.Property, name: string): string | undefined {
  const v = prop.getFirstParameter(name);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function attendeeOf(prop: ICAL.Property): CalendarAttendee {
  const a: CalendarAttendee = { address: String(prop.getFirstValue() ?? '').trim() };
  const partstat = param(prop, 'partstat');
  const role = param(prop, 'role');
  const rsvp = param(prop, 'rsvp');
  const agent = param(prop, 'schedule-agent');
  if (partstat) a.partstat = partstat.toUpperCase();
  if (role) a.role = role.toUpperCase();
  if (rsvp) a.rsvp = rsvp.toUpperCase() === 'TRUE';
  if (agent) a.scheduleAgent = agent.toUpperCase();
  return a;
}

/** mailto: addresses compare case-insensitively (RFC 6638 §3.2, in practice); others exactly. */
function addressKey(address: string): string {
  return /^mailto:/i.test(address) ? address.toLowerCase() : address;
}

/**
 * Validate a calendar object resource (RFC 4791 §4.1, §5.3.2.1) and extract its index fields.
 * Throws CalendarDataError.
 */
export function parseCalendarObject(text: string, opts: ParseCalendarOptions): CalendarObject {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > opts.maxBytes) fail('max-resource-size', `the resource is ${bytes} bytes; the limit is ${opts.maxBytes}`);
  // A UTF-8 byte order mark (Outlook exports carry one) is not part of the iCalendar stream.
  const normalised = normaliseLineEnds(text.startsWith('\uFEFF') ? text.slice(1) : text);
  checkStructure(normalised);

  let vcal: ICAL.Component;
  try {
    vcal = loadVCalendar(normalised);
  } catch (e) {
    fail('valid-calendar-data', (e as Error).message);
  }
  checkValues(vcal);

  // RFC 5545 §3.7.4: VERSION is REQUIRED; "2.0" is the only version this server speaks.
  const version = vcal.getFirstPropertyValue('version');
  if (version === null) fail('valid-calendar-data', 'VCALENDAR has no VERSION');
  if (String(version).trim() !== '2.0') fail('supported-calendar-data', `iCalendar version ${String(version)} is not supported`);
  // RFC 4791 §4.1: "Calendar object resources MUST NOT specify the iCalendar METHOD property."
  const hasMethod = vcal.hasProperty('method');
  if (hasMethod && !opts.allowMethod) fail('valid-calendar-object-resource', 'a calendar object resource must not have METHOD');

  const known = new Set<string>();
  for (const vtz of vcal.getAllSubcomponents('vtimezone')) {
    checkTimezone(vtz);
    known.add(String(vtz.getFirstPropertyValue('tzid')));
  }
  const components = calendarComponents(vcal);
  for (const c of components) {
    if (!COMPONENT_TYPES.has(c.name)) {
      fail('supported-calendar-component', `${c.name.toUpperCase()} components are not supported`);
    }
  }
  if (components.length === 0) fail('valid-calendar-object-resource', 'the object holds no calendar component');
  // RFC 4791 §4.1: "MUST NOT contain more than one type of calendar component (e.g., VEVENT,
  // VTODO, VJOURNAL, VFREEBUSY, etc.) with the exception of VTIMEZONE components".
  const type = components[0].name;
  const other = components.find((c) => c.name !== type);
  if (other) {
    fail('valid-calendar-object-resource', `the object mixes ${type.toUpperCase()} and ${other.name.toUpperCase()}`);
  }
  const typeName = type.toUpperCase() as CalendarComponentName;
  const allowed = opts.allowedComponents?.map((n) => n.toUpperCase());
  if (allowed && !allowed.includes(typeName)) {
    fail('supported-calendar-component', `this calendar does not accept ${typeName} components`);
  }

  for (const c of components) checkComponent(c, hasMethod);
  // RFC 4791 §4.1: all components share one UID; RFC 5545 §3.8.4.4: overrides name distinct
  // instances of one master.
  const master = components.filter((c) => !c.hasProperty('recurrence-id'));
  const overrides = components.filter((c) => c.hasProperty('recurrence-id'));
  if (master.length > 1) {
    const uids = new Set(master.map((c) => c.getFirstPropertyValue('uid')));
    fail('valid-calendar-object-resource', uids.size > 1
      ? 'the components have more than one UID'
      : 'more than one component without RECURRENCE-ID');
  }
  const uid = String((master[0] ?? overrides[0]).getFirstPropertyValue('uid'));
  const ctx = newTimeContext(null);
  const rids = new Set<number>();
  for (const o of overrides) {
    if (o.getFirstPropertyValue('uid') !== uid) {
      fail('valid-calendar-object-resource', 'an overridden instance has a UID other than its master');
    }
    const rid = timeToMs(o.getFirstPropertyValue('recurrence-id') as ICAL.Time, ctx);
    if (rids.has(rid)) fail('valid-calendar-object-resource', 'two components override the same RECURRENCE-ID');
    rids.add(rid);
  }

  const unresolved = new Set<string>();
  for (const c of components) collectTzids(c, known, unresolved);

  const main = master[0] ?? overrides[0];
  const bounds = objectBounds(vcal, { maxInstances: opts.maxInstances ?? BOUNDS_BUDGET });
  const result: CalendarObject = {
    uid,
    component: typeName,
    text: normalised,
    recurring: overrides.length > 0 || main.hasProperty('rrule') || main.hasProperty('rdate'),
    firstStart: bounds.firstStart,
    lastEnd: bounds.lastEnd,
    attendees: [],
    sequence: 0,
    categories: [],
    unresolvedTzids: [...unresolved],
  };
  const text1 = (name: string) => {
    const v = main.getFirstPropertyValue(name);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const time = (name: string) => {
    const v = main.getFirstPropertyValue(name);
    return v instanceof ICAL.Time ? timeToMs(v, ctx) : undefined;
  };
  const int = (name: string) => {
    const v = main.getFirstPropertyValue(name);
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  };
  const summary = text1('summary');
  if (summary !== undefined) result.summary = summary;
  const organizer = text1('organizer');
  if (organizer !== undefined) result.organizer = organizer.trim();
  result.sequence = int('sequence') ?? 0;
  const dtstamp = time('dtstamp');
  if (dtstamp !== undefined) result.dtstamp = dtstamp;
  const status = text1('status');
  if (status !== undefined) result.status = status.toUpperCase();
  if (type === 'vtodo') {
    const due = time('due');
    const completed = time('completed');
    const percent = int('percent-complete');
    const priority = int('priority');
    if (due !== undefined) result.due = due;
    if (completed !== undefined) result.completed = completed;
    if (percent !== undefined) result.percentComplete = percent;
    if (priority !== undefined) result.priority = priority;
  }
  for (const prop of main.getAllProperties('categories')) {
    for (const v of prop.getValues()) {
      const c = String(v).trim();
      if (c !== '' && !result.categories.includes(c)) result.categories.push(c);
    }
  }
  const seen = new Set<string>();
  for (const c of [main, ...components.filter((x) => x !== main)]) {
    for (const prop of c.getAllProperties('attendee')) {
      const a = attendeeOf(prop);
      if (a.address === '' || seen.has(addressKey(a.address))) continue;
      seen.add(addressKey(a.address));
      result.attendees.push(a);
    }
  }
  return result;
}
