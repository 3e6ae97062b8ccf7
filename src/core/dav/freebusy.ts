/**
 * Free-busy time (RFC 4791 §7.10 free-busy-query; RFC 6638 §3.2.2.2 VFREEBUSY requests): the
 * busy periods of a set of calendar objects within a range, and the VFREEBUSY that carries
 * them. Pure: the caller has already chosen the objects (the calendars that count, RFC 6638
 * schedule-calendar-transp, the ACL's read-free-busy).
 *
 * Invariants:
 * - Periods come out sorted, non-overlapping, clipped to the range, with adjacent periods of
 *   one type merged. Where types overlap the stronger one wins: BUSY over BUSY-UNAVAILABLE
 *   over BUSY-TENTATIVE, so a tentative meeting inside a confirmed one adds nothing.
 * - An object whose recurrence walk runs out of budget is busy from where the walk stopped
 *   to the end of the range: for scheduling, claiming busy is the safe error.
 */
import ICAL from 'ical.js';
import {
  groupByUid, loadVCalendar, newBudget, newTimeContext, resolveZone, utcTime, walkOccurrences,
} from './recurrence.ts';
import type { CalendarInput } from './recurrence.ts';
import { calendarComponents, freeBusyPeriods } from './time-range.ts';

export type FreeBusyType = 'BUSY' | 'BUSY-TENTATIVE' | 'BUSY-UNAVAILABLE';

export interface BusyPeriod {
  start: number;
  end: number;
  type: FreeBusyType;
}

const STRENGTH: Record<FreeBusyType, number> = { 'BUSY-TENTATIVE': 1, 'BUSY-UNAVAILABLE': 2, BUSY: 3 };
const BY_STRENGTH: FreeBusyType[] = ['BUSY', 'BUSY-UNAVAILABLE', 'BUSY-TENTATIVE'];

/**
 * RFC 4791 §7.10: the FBTYPE of a VEVENT instance. "Only VEVENT components without a TRANSP
 * property or with the TRANSP property set to OPAQUE" count; STATUS:CANCELLED is free,
 * STATUS:TENTATIVE is BUSY-TENTATIVE, CONFIRMED, none or an x-name is BUSY.
 */
function eventType(comp: ICAL.Component): FreeBusyType | null {
  if (String(comp.getFirstPropertyValue('transp') ?? 'OPAQUE').toUpperCase() === 'TRANSPARENT') return null;
  const status = String(comp.getFirstPropertyValue('status') ?? '').toUpperCase();
  if (status === 'CANCELLED') return null;
  return status === 'TENTATIVE' ? 'BUSY-TENTATIVE' : 'BUSY';
}

/** RFC 5545 §3.2.9: FREE periods are not busy; an unknown FBTYPE "MUST be treated as BUSY". */
function periodType(fbtype: string): FreeBusyType | null {
  if (fbtype === 'FREE') return null;
  return fbtype === 'BUSY-TENTATIVE' || fbtype === 'BUSY-UNAVAILABLE' ? fbtype : 'BUSY';
}

/**
 * The busy time of `objects` within [range.start, range.end): VEVENT instances (recurrences
 * expanded, overrides applied) and the FREEBUSY periods of stored VFREEBUSY components.
 * VTODO, VJOURNAL and VAVAILABILITY do not count. Objects that do not parse are skipped
 * (they were validated when stored; one bad object must not fail a whole query).
 */
export function freeBusy(
  objects: CalendarInput[],
  range: { start: number; end: number },
  opts: { timezone?: string | ICAL.Timezone | null; maxInstances?: number } = {},
): BusyPeriod[] {
  const zone = resolveZone(opts.timezone);
  const budget = newBudget(opts.maxInstances);
  const raw: BusyPeriod[] = [];
  const add = (start: number, end: number, type: FreeBusyType) => {
    const s = Math.max(start, range.start);
    const e = Math.min(end, range.end);
    if (e > s) raw.push({ start: s, end: e, type });
  };
  for (const input of objects) {
    let vcal: ICAL.Component;
    try {
      vcal = loadVCalendar(input);
    } catch {
      continue;
    }
    const ctx = newTimeContext(zone);
    const components = calendarComponents(vcal);
    for (const fb of components.filter((c) => c.name === 'vfreebusy')) {
      for (const [s, e, fbtype] of freeBusyPeriods(fb, ctx)) {
        const type = periodType(fbtype);
        if (type) add(s, e, type);
      }
    }
    for (const group of groupByUid(components.filter((c) => c.name === 'vevent'))) {
      const walk = walkOccurrences(group, ctx, budget, range.end, (occ) => {
        const type = eventType(occ.component);
        // Zero-length instances (DATE-TIME with no end) take no time.
        if (type && occ.startMs !== null && occ.endMs !== null) add(occ.startMs, occ.endMs, type);
      });
      if (!walk.complete) add(walk.reachedMs ?? range.start, range.end, 'BUSY');
    }
  }
  return mergeBusy(raw);
}

/** Sweep the boundaries: each stretch takes the strongest type covering it, then equal neighbours join. */
function mergeBusy(periods: BusyPeriod[]): BusyPeriod[] {
  const edges: { at: number; type: FreeBusyType; delta: number }[] = [];
  for (const p of periods) edges.push({ at: p.start, type: p.type, delta: 1 }, { at: p.end, type: p.type, delta: -1 });
  edges.sort((a, b) => a.at - b.at);
  const open: Record<FreeBusyType, number> = { BUSY: 0, 'BUSY-UNAVAILABLE': 0, 'BUSY-TENTATIVE': 0 };
  const out: BusyPeriod[] = [];
  for (let i = 0; i < edges.length; ) {
    const at = edges[i].at;
    for (; i < edges.length && edges[i].at === at; i++) open[edges[i].type] += edges[i].delta;
    const next = edges[i]?.at;
    const type = BY_STRENGTH.find((t) => open[t] > 0);
    if (next === undefined || !type) continue;
    const last = out[out.length - 1];
    if (last && last.end === at && last.type === type) last.end = next;
    else out.push({ start: at, end: next, type });
  }
  return out;
}

export interface FreeBusyResponseOptions {
  /** ORGANIZER and ATTENDEE cal-addresses (RFC 6638 §3.2.2.2 REPLY); omitted when not given. */
  organizer?: string;
  attendee?: string;
  uid?: string;
  /** DTSTAMP, ms UTC (RFC 5545 §3.6.4: required). */
  dtstamp: number;
  /** METHOD of the VCALENDAR (REPLY for a scheduling response); a free-busy-query answer has none. */
  method?: string;
  prodId?: string;
}

/**
 * A VCALENDAR with one VFREEBUSY for `range` listing `periods` (RFC 5545 §3.6.4): one
 * FREEBUSY property per type, periods in order. BUSY carries FBTYPE=BUSY explicitly.
 */
export function freeBusyToICalendar(
  periods: readonly BusyPeriod[],
  range: { start: number; end: number },
  opts: FreeBusyResponseOptions,
): string {
  const vcal = new ICAL.Component('vcalendar');
  vcal.addPropertyWithValue('version', '2.0');
  vcal.addPropertyWithValue('prodid', opts.prodId ?? '-//Bulwark//CalDAV//EN');
  if (opts.method) vcal.addPropertyWithValue('method', opts.method.toUpperCase());
  const fb = new ICAL.Component('vfreebusy');
  vcal.addSubcomponent(fb);
  if (opts.uid) fb.addPropertyWithValue('uid', opts.uid);
  fb.addPropertyWithValue('dtstamp', utcTime(opts.dtstamp));
  fb.addPropertyWithValue('dtstart', utcTime(range.start));
  fb.addPropertyWithValue('dtend', utcTime(range.end));
  if (opts.organizer) fb.addPropertyWithValue('organizer', opts.organizer);
  if (opts.attendee) fb.addPropertyWithValue('attendee', opts.attendee);
  const sorted = [...periods].sort((a, b) => a.start - b.start || STRENGTH[b.type] - STRENGTH[a.type]);
  for (const type of BY_STRENGTH) {
    const mine = sorted.filter((p) => p.type === type);
    if (mine.length === 0) continue;
    const prop = new ICAL.Property('freebusy');
    prop.setParameter('fbtype', type);
    prop.setValues(mine.map((p) => ICAL.Period.fromData({ start: utcTime(p.start), end: utcTime(p.end) })));
    fb.addProperty(prop);
  }
  return `${vcal.toString()}\r\n`;
}

/** The busy periods of a VFREEBUSY (a scheduling REPLY, a stored object), FREE ones left out, in order. */
export function readFreeBusy(text: string): BusyPeriod[] {
  const vcal = loadVCalendar(text);
  const ctx = newTimeContext(null);
  const out: BusyPeriod[] = [];
  for (const fb of vcal.getAllSubcomponents('vfreebusy')) {
    for (const [start, end, fbtype] of freeBusyPeriods(fb, ctx)) {
      const type = periodType(fbtype);
      if (type) out.push({ start, end, type });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}
