/**
 * Query filters of CalDAV calendar-query (RFC 4791 §9.7) and CardDAV addressbook-query
 * (RFC 6352 §10.5), evaluated on one resource's data. The protocol layer turns the XML into
 * these structures; this module knows no XML.
 *
 * Calendar semantics: a comp-filter matches a component when one of the components of that
 * name inside it matches (is-not-defined: when none is there); a time-range on a component
 * is tested over the whole recurrence set of the resource (matchesTimeRange in
 * icalendar.ts, overrides and exceptions included), then the component's prop- and
 * comp-filters on some component of that name. Text matching follows RFC 4790 collations:
 * i;ascii-casemap (CalDAV's default), i;unicode-casemap (CardDAV's default, RFC 5051:
 * upper-case mapping standing in for titlecase, then NFKD) and i;octet.
 */
import ICAL from 'ical.js';
import { matchesTimeRange } from './icalendar.ts';
import { rowOverlaps } from './instances.ts';

export type Collation = 'i;ascii-casemap' | 'i;unicode-casemap' | 'i;octet';
export const COLLATIONS: readonly Collation[] = ['i;ascii-casemap', 'i;unicode-casemap', 'i;octet'];

export interface TextMatch {
  value: string;
  collation: Collation;
  matchType: 'equals' | 'contains' | 'starts-with' | 'ends-with';
  negate: boolean;
}

export interface Range {
  start: number | null;
  end: number | null;
}

export interface ParamFilter {
  name: string;
  isNotDefined: boolean;
  textMatch?: TextMatch;
}

export interface PropFilter {
  name: string;
  isNotDefined: boolean;
  /** CalDAV: one text-match; CardDAV: several, combined by `test`. */
  textMatches: TextMatch[];
  timeRange?: Range;
  params: ParamFilter[];
  test: 'anyof' | 'allof';
}

export interface CompFilter {
  name: string;
  isNotDefined: boolean;
  timeRange?: Range;
  props: PropFilter[];
  comps: CompFilter[];
}

export interface CardFilter {
  test: 'anyof' | 'allof';
  props: PropFilter[];
}

function fold(s: string, c: Collation): string {
  if (c === 'i;octet') return s;
  if (c === 'i;ascii-casemap') return s.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
  return s.toUpperCase().normalize('NFKD');
}

export function textMatches(value: string, m: TextMatch): boolean {
  const v = fold(value, m.collation);
  const needle = fold(m.value, m.collation);
  let hit: boolean;
  switch (m.matchType) {
    case 'equals': hit = v === needle; break;
    case 'starts-with': hit = v.startsWith(needle); break;
    case 'ends-with': hit = v.endsWith(needle); break;
    default: hit = v.includes(needle);
  }
  return m.negate ? !hit : hit;
}

/** The text of a property for matching: every value, structured values joined as written. */
function propText(p: any): string[] {
  const vals: unknown[] = p.getValues();
  return vals.map((v) => (Array.isArray(v) ? v.flat().join(';') : v && typeof v === 'object' && 'toString' in v ? String(v) : String(v ?? '')));
}

function paramValues(p: any, name: string): string[] | null {
  const v = p.getParameter(name.toLowerCase());
  if (v === undefined || v === null) return null;
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

function matchParam(p: any, f: ParamFilter): boolean {
  const vals = paramValues(p, f.name);
  if (f.isNotDefined) return vals === null;
  if (vals === null) return false;
  if (!f.textMatch) return true;
  return vals.some((v) => textMatches(v, f.textMatch!));
}

function propTimeInRange(p: any, r: Range): boolean {
  const v = p.getFirstValue();
  if (!v || typeof v.toJSDate !== 'function') return false;
  const t = v.toJSDate().getTime();
  return (r.start === null || t >= r.start) && (r.end === null || t < r.end);
}

/** One prop-filter on a component (calendar or card): some property of that name satisfies it. */
function matchProp(comp: any, f: PropFilter): boolean {
  const props: any[] = comp.getAllProperties(f.name.toLowerCase());
  if (f.isNotDefined) return props.length === 0;
  if (props.length === 0) return false;
  return props.some((p) => {
    if (f.timeRange && !propTimeInRange(p, f.timeRange)) return false;
    if (f.textMatches.length) {
      const texts = propText(p);
      const one = (m: TextMatch) => texts.some((t) => textMatches(t, m));
      const ok = f.test === 'allof' ? f.textMatches.every(one) : f.textMatches.some(one);
      if (!ok) return false;
    }
    return f.params.every((pf) => matchParam(p, pf));
  });
}

function matchComp(root: any, parent: any, f: CompFilter, depth: number, timezone: string | undefined): boolean {
  const subs: any[] = parent.getAllSubcomponents(f.name.toLowerCase());
  if (f.isNotDefined) return subs.length === 0;
  if (subs.length === 0) return false;
  if (f.timeRange) {
    // Over the recurrence set of the resource (depth 1: the VEVENT/VTODO/... level), or the
    // alarms of it (depth 2: VALARM inside them), as RFC 4791 §9.9 defines.
    if (!matchesTimeRange(root, f.timeRange, { componentName: f.name.toUpperCase(), ...(timezone ? { timezone } : {}) })) return false;
  }
  return subs.some((c) => f.props.every((p) => matchProp(c, p)) && f.comps.every((cf) => matchComp(root, c, cf, depth + 1, timezone)));
}

/**
 * calendar-query: the filter's top comp-filter names VCALENDAR. `timezone`: the calendar's
 * CALDAV:calendar-timezone, in which floating and all-day times are read (RFC 4791 §7.3).
 */
export function matchCalendarFilter(text: string, filter: CompFilter, opts: { timezone?: string } = {}): boolean {
  if (filter.name.toUpperCase() !== 'VCALENDAR') return false;
  const root = new ICAL.Component(ICAL.parse(text) as any);
  if (filter.isNotDefined) return false;
  return filter.props.every((p) => matchProp(root, p)) && filter.comps.every((cf) => matchComp(root, root, cf, 1, opts.timezone || undefined));
}

/** addressbook-query: an empty filter matches every card. */
export function matchCardFilter(text: string, filter: CardFilter): boolean {
  if (filter.props.length === 0) return true;
  const parsed = ICAL.parse(text) as any;
  const card = new ICAL.Component(Array.isArray(parsed[0]) ? parsed[0] : parsed);
  return filter.test === 'allof' ? filter.props.every((p) => matchProp(card, p)) : filter.props.some((p) => matchProp(card, p));
}

/**
 * The one time range a calendar-query can be prefiltered with in SQL: a time-range on a
 * component directly inside VCALENDAR, when there is exactly one such comp-filter.
 */
export function prefilterRange(filter: CompFilter): { component: string; range: Range } | null {
  if (filter.comps.length !== 1) return null;
  const c = filter.comps[0];
  if (c.isNotDefined) return null;
  return c.timeRange ? { component: c.name.toUpperCase(), range: c.timeRange } : { component: c.name.toUpperCase(), range: { start: null, end: null } };
}

/**
 * A calendar-query decided from the row alone, without parsing: the filter is only a time
 * range on VEVENT, and the event's instance index (core/dav/instances.ts) covers the range.
 * Null when the data must be read.
 */
type QuickRow = Parameters<typeof rowOverlaps>[0] & { component: string };

export function quickMatch(filter: CompFilter, obj: QuickRow): boolean | null {
  return quickMatcher(filter)(obj);
}

/** quickMatch with the filter looked at once, for the many resources of one query. */
export function quickMatcher(filter: CompFilter): (obj: QuickRow) => boolean | null {
  const c = filter.comps[0];
  const range = !filter.isNotDefined && filter.props.length === 0 && filter.comps.length === 1
    && (c.name === 'VEVENT' || c.name.toUpperCase() === 'VEVENT') && !c.isNotDefined && c.props.length === 0 && c.comps.length === 0 ? c.timeRange : undefined;
  if (!range) return () => null;
  return (obj) => (obj.instances && obj.component === 'VEVENT' ? rowOverlaps(obj, range) : null);
}
