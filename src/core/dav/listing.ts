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

/** Whether a row's coarse bounds may overlap a range (what the SQL prefilter tested). */
export function mayOverlap(o: DavObject, range: { start: number | null; end: number | null }): boolean {
  return (range.start === null || o.lastEnd === null || o.lastEnd > range.start)
    && (range.end === null || o.firstStart === null || o.firstStart < range.end);
}
