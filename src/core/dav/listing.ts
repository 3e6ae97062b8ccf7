/**
 * The resources of a collection without their data (name, UID, ETag, bounds, instance index),
 * kept in memory between requests: calendar-query, multiget and PROPFIND Depth 1 ask for the
 * same collection again and again, and reading its rows each time costs more than answering.
 *
 * A listing is only a cache, never the truth. It carries the collection modseq it was made
 * for, and DavStore hands it out only when that is at least the modseq of the collection
 * row the request has just read; otherwise it is brought up to date from the rows changed
 * since (one statement, so one snapshot) or made afresh. That also holds with several nodes
 * writing the same partition: nothing here is trusted beyond what the store confirms.
 *
 * Listings are immutable once made: a request that holds one across an await sees one
 * consistent state, and a change makes a new listing. The cache (an Lru) is bounded by the
 * number of resources it holds over all collections.
 */
import type { DavObject } from './store.ts';

export interface Listing {
  /** The collection modseq this listing is current for (it may hold newer rows too). */
  readonly modseq: number;
  /** The resources, by name. */
  readonly byName: ReadonlyMap<string, DavObject>;
}

/** A listing brought forward: `changed` replaces rows by name, `removed` names go. */
export function applyChanges(l: Listing, modseq: number, changed: readonly DavObject[], removed: readonly string[]): Listing {
  const byName = new Map(l.byName);
  for (const name of removed) byName.delete(name);
  for (const o of changed) byName.set(o.name, o);
  return { modseq, byName };
}

/** A listing's resources with their bounds in flat arrays, for range scans (made once per listing). */
interface RangeIndex {
  objs: DavObject[];
  starts: Float64Array;
  ends: Float64Array;
}
const rangeIndexes = new WeakMap<Listing, RangeIndex>();

function rangeIndex(l: Listing): RangeIndex {
  let ix = rangeIndexes.get(l);
  if (!ix) {
    const objs = [...l.byName.values()];
    const starts = new Float64Array(objs.length);
    const ends = new Float64Array(objs.length);
    objs.forEach((o, i) => {
      starts[i] = o.firstStart ?? -Infinity;
      ends[i] = o.lastEnd ?? Infinity;
    });
    rangeIndexes.set(l, ix = { objs, starts, ends });
  }
  return ix;
}

/**
 * The resources of a listing whose coarse bounds may overlap the range (what the SQL prefilter
 * tested: no bound means unbounded), of one component type if given: a scan of two flat arrays,
 * not of the objects.
 */
export function inRange(l: Listing, range: { start: number | null; end: number | null }, component?: string): DavObject[] {
  const { objs, starts, ends } = rangeIndex(l);
  const rs = range.start ?? -Infinity;
  const re = range.end ?? Infinity;
  const out: DavObject[] = [];
  for (let i = 0; i < objs.length; i++) {
    if (ends[i] > rs && starts[i] < re && (component === undefined || objs[i].component === component)) out.push(objs[i]);
  }
  return out;
}
