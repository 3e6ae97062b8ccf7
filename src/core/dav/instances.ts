/**
 * An index of the instances of a calendar object's events, made at PUT, so that the most
 * common query (a time range on VEVENT) is answered from the row, without parsing and
 * expanding the data again on every query: the [start, end] of each instance (RFC 4791 §9.9
 * needs nothing else for a VEVENT), in seconds, up to a cap.
 *
 * Only for events whose times are fixed (UTC or a zone the object defines): floating and
 * all-day times depend on the calendar's time zone at query time, so those objects are
 * evaluated in full. `until`: every instance starting at or before it is listed; `complete`:
 * there are no others at all.
 */
import ICAL from 'ical.js';
import { Lru } from '../../lib/lru.ts';
import { groupByUid, isFloating, newBudget, newTimeContext, walkOccurrences } from './recurrence.ts';

export interface InstanceIndex {
  /** [start, end] pairs in seconds since the epoch, in no particular order. */
  s: [number, number][];
  /** Seconds: every instance starting at or before this is in s. */
  u: number;
  /** No instance exists beyond those listed. */
  c: boolean;
}

const MAX_SPANS = 400;
const HORIZON_MS = 2 * 366 * 86_400_000;

export function instanceIndex(vcal: ICAL.Component): InstanceIndex | null {
  const comps = vcal.getAllSubcomponents().filter((c) => c.name !== 'vtimezone');
  if (comps.length === 0 || comps.some((c) => c.name !== 'vevent')) return null;
  for (const c of comps) {
    for (const name of ['dtstart', 'dtend', 'recurrence-id']) {
      const v = c.getFirstPropertyValue(name) as ICAL.Time | null;
      if (v && (v.isDate || isFloating(v))) return null;
    }
  }
  const ctx = newTimeContext(null);
  const budget = newBudget(4 * MAX_SPANS);
  const spans: [number, number][] = [];
  let first = Infinity;
  for (const c of comps) {
    const v = c.getFirstPropertyValue('dtstart') as ICAL.Time | null;
    if (v) first = Math.min(first, v.toJSDate().getTime());
  }
  if (!Number.isFinite(first)) return null;
  const until = first + HORIZON_MS;
  let full = false;
  let complete = true;
  // Master instances come in order (overrides first, all of them): when the cap stops the
  // walk, every instance starting before the last master instance listed is in.
  let lastMaster = -Infinity;
  for (const group of groupByUid(comps)) {
    const walk = walkOccurrences(group, ctx, budget, until, (occ) => {
      if (occ.startMs === null) return false;
      if (spans.length >= MAX_SPANS) { full = true; return true; }
      spans.push([Math.floor(occ.startMs / 1000), Math.floor((occ.endMs ?? occ.startMs) / 1000)]);
      if (!occ.overridden) lastMaster = occ.startMs;
      return false;
    });
    if (!walk.complete) return null;
  }
  // Whether anything lies beyond the horizon: a rule without COUNT or UNTIL, or one that
  // reaches past it. Without knowing, the index answers only up to the horizon.
  const master = comps.find((c) => !c.hasProperty('recurrence-id'));
  const rules = master ? master.getAllProperties('rrule').map((p) => p.getFirstValue() as ICAL.Recur) : [];
  if (full || rules.length > 0) complete = false;
  const u = full ? Math.floor(lastMaster / 1000) - 1 : Math.floor(until / 1000);
  return { s: spans, u, c: complete && !full };
}

/**
 * An index ready for queries: the instances sorted by start, as flat arrays, with the longest
 * duration, so that a range is answered by a binary search instead of a walk over every
 * instance of a long series.
 */
export interface QueryIndex {
  starts: Float64Array;
  ends: Float64Array;
  /** The longest end - start, in seconds. */
  longest: number;
  u: number;
  c: boolean;
}

function queryIndex(ix: InstanceIndex): QueryIndex {
  const spans = [...ix.s].sort((a, b) => a[0] - b[0]);
  const starts = new Float64Array(spans.length);
  const ends = new Float64Array(spans.length);
  let longest = 0;
  spans.forEach(([S, E], i) => {
    starts[i] = S;
    ends[i] = E;
    longest = Math.max(longest, E - S);
  });
  return { starts, ends, longest, u: ix.u, c: ix.c };
}

/** RFC 4791 §9.9 for VEVENT instances, from the index; null when the index cannot tell. */
export function indexOverlaps(ix: QueryIndex, range: { start: number | null; end: number | null }): boolean | null {
  const re = range.end === null ? Infinity : range.end / 1000;
  const rs = range.start === null ? -Infinity : range.start / 1000;
  if (!ix.c && re > ix.u) return null;
  // Only instances starting before the range's end can overlap it: the last of them is found
  // by binary search, and those before it are tried back to where even the longest instance
  // would end before the range starts.
  let lo = 0;
  let hi = ix.starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ix.starts[mid] < re) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo - 1; i >= 0 && ix.starts[i] + ix.longest >= rs; i--) {
    if (overlapsSpan(ix.starts[i], ix.ends[i], range)) return true;
  }
  return false;
}

/** RFC 4791 §9.9 for one instance [S, E] (seconds); an instance without duration is a point. */
export function overlapsSpan(S: number, E: number, range: { start: number | null; end: number | null }): boolean {
  const re = range.end === null ? Infinity : range.end / 1000;
  const rs = range.start === null ? -Infinity : range.start / 1000;
  return E > S ? rs < E && re > S : rs <= S && re > S;
}

/**
 * The stored form: "=" when the object's bounds (first_start + 1 ms, last_end - 1 ms) are its
 * one instance, so the row needs no list (most events); JSON of the index otherwise.
 */
export function encodeIndex(ix: InstanceIndex, firstStart: number | null, lastEnd: number | null): string {
  if (ix.c && ix.s.length === 1 && firstStart !== null && lastEnd !== null && ix.s[0][0] * 1000 === firstStart + 1 && ix.s[0][1] * 1000 === lastEnd - 1) return '=';
  return JSON.stringify(ix);
}

/**
 * Query indexes of recurring events, by row object: a collection listing's rows are the same
 * objects from one query to the next, and a row object never changes (a new version is a new
 * row). Bounded: a month view asks for the same ones again and again.
 */
const parsed = new Lru<object | string, QueryIndex>(20_000);

type IndexedRow = { instances: string | null; firstStart: number | null; lastEnd: number | null };

/** The index of a row (its stored form and bounds), or null when it has none. */
export function decodeIndex(row: IndexedRow): QueryIndex | null {
  const v = row.instances;
  if (!v) return null;
  if (v === '=') {
    if (row.firstStart === null || row.lastEnd === null) return null;
    return queryIndex({ s: [[(row.firstStart + 1) / 1000, (row.lastEnd - 1) / 1000]], u: Infinity, c: true });
  }
  let ix = parsed.get(row);
  if (!ix) {
    try {
      ix = queryIndex(JSON.parse(v) as InstanceIndex);
    } catch {
      return null;
    }
    parsed.set(row, ix);
  }
  return ix;
}

/**
 * RFC 4791 §9.9 for a row's VEVENT instances, from its stored index; null when the row has
 * none or it cannot tell. The one-instance form ("=") is tested on the bounds directly, without
 * making an index: most rows are that.
 */
export function rowOverlaps(row: IndexedRow, range: { start: number | null; end: number | null }): boolean | null {
  if (row.instances === '=') {
    if (row.firstStart === null || row.lastEnd === null) return null;
    return overlapsSpan((row.firstStart + 1) / 1000, (row.lastEnd - 1) / 1000, range);
  }
  const ix = decodeIndex(row);
  return ix ? indexOverlaps(ix, range) : null;
}
