/**
 * REPORT methods: calendar-query, calendar-multiget and free-busy-query (RFC 4791 §7.8-7.10),
 * addressbook-query and addressbook-multiget (RFC 6352 §8.6-8.7), sync-collection (RFC 6578)
 * and principal-property-search / principal-search-property-set (RFC 3744 §9.4-9.5).
 * Filters become core structures (core/dav/filters.ts) and are evaluated there.
 */
import { COLLATIONS, matchCalendarFilter, matchCardFilter, prefilterRange, quickMatcher, type CardFilter, type Collation, type CompFilter, type ParamFilter, type PropFilter, type Range, type TextMatch } from '../../../core/dav/filters.ts';
import { RecurrenceLimitError, expandCalendarObject, freeBusy, freeBusyToICalendar, icalDateTimeUtc, limitRecurrenceSet } from '../../../core/dav/icalendar.ts';
import type { DavObject } from '../../../core/dav/store.ts';
import { DomainError } from '../../../core/errors.ts';
import crypto from 'node:crypto';
import type { AccountInfo } from '../../../core/directory/directory.ts';
import { inRange } from '../../../core/dav/listing.ts';
import { Lru } from '../../../lib/lru.ts';
import { NS, child, children, escapeText, serializeXml, textOf, type XmlElement, type XmlNode } from '../../../lib/xml.ts';
import { BadPath, encodeSegment, parseDavPath, pathOfHref, type DavPath } from './paths.ts';
import { clark, d, parseSyncToken, splitClark, x, type Target } from './props.ts';
import { Multistatus, multistatus, propNames, propResponse, statusResponse, type Answer, type PropRequest, type PropStats } from './multistatus.ts';
import { HttpError, xmlBody, type DavRequest } from './server.ts';

export interface ReportHelpers {
  resolve(p: DavPath): Promise<Target | null>;
  targetHref(t: Target): string;
  depth: '0' | '1';
}

const bad = (msg: string) => new HttpError(400, msg);
const CALDATA = clark(NS.CALDAV, 'calendar-data');
const ADDRDATA = clark(NS.CARDDAV, 'address-data');

function send(r: DavRequest, xml: string): void {
  // As bytes: the answer is a string of many pieces, which fastify would measure and the
  // socket then encode, each flattening it; encoding once is cheaper.
  r.reply.code(207).header('content-type', 'application/xml; charset=utf-8').send(Buffer.from(xml, 'utf8'));
}

function timeRange(el: XmlElement | undefined): Range | undefined {
  if (!el) return undefined;
  const s = el.attrs.get('start');
  const e = el.attrs.get('end');
  if (s === undefined && e === undefined) throw bad('a time-range needs start or end');
  try {
    const range = { start: s === undefined ? null : icalDateTimeUtc(s), end: e === undefined ? null : icalDateTimeUtc(e) };
    if (range.start !== null && range.end !== null && range.end <= range.start) throw bad('a time-range must end after it starts');
    return range;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(403, 'time-range start and end must be UTC date-times (YYYYMMDDTHHMMSSZ)', { ns: NS.CALDAV, name: 'valid-filter' });
  }
}

function textMatch(el: XmlElement, ns: string, dflt: Collation): TextMatch {
  const collation = (el.attrs.get('collation') ?? dflt) as Collation;
  if (!COLLATIONS.includes(collation)) throw new HttpError(403, `collation ${collation} is not supported`, { ns, name: 'supported-collation' });
  const mt = el.attrs.get('match-type') ?? 'contains';
  if (!['equals', 'contains', 'starts-with', 'ends-with'].includes(mt)) throw bad(`match-type ${mt} is not known`);
  return { value: textOf(el), collation, matchType: mt as TextMatch['matchType'], negate: (el.attrs.get('negate-condition') ?? 'no') === 'yes' };
}

function paramFilter(el: XmlElement, ns: string, dflt: Collation): ParamFilter {
  const name = el.attrs.get('name');
  if (!name) throw bad('a param-filter needs a name');
  const tm = child(el, ns, 'text-match');
  return { name, isNotDefined: !!child(el, ns, 'is-not-defined'), ...(tm ? { textMatch: textMatch(tm, ns, dflt) } : {}) };
}

function propFilter(el: XmlElement, ns: string, dflt: Collation): PropFilter {
  const name = el.attrs.get('name');
  if (!name) throw bad('a prop-filter needs a name');
  const tr = ns === NS.CALDAV ? timeRange(child(el, ns, 'time-range')) : undefined;
  const test = el.attrs.get('test') === 'allof' ? 'allof' : 'anyof';
  return {
    name, isNotDefined: !!child(el, ns, 'is-not-defined'), test,
    textMatches: children(el, ns, 'text-match').map((t) => textMatch(t, ns, dflt)),
    ...(tr ? { timeRange: tr } : {}),
    params: children(el, ns, 'param-filter').map((p) => paramFilter(p, ns, dflt)),
  };
}

function compFilter(el: XmlElement, depth = 0): CompFilter {
  const name = el.attrs.get('name');
  if (!name) throw bad('a comp-filter needs a name');
  if (depth > 8) throw bad('comp-filters nest too deeply');
  const tr = timeRange(child(el, NS.CALDAV, 'time-range'));
  return {
    name, isNotDefined: !!child(el, NS.CALDAV, 'is-not-defined'), ...(tr ? { timeRange: tr } : {}),
    props: children(el, NS.CALDAV, 'prop-filter').map((p) => propFilter(p, NS.CALDAV, 'i;ascii-casemap')),
    comps: children(el, NS.CALDAV, 'comp-filter').map((c) => compFilter(c, depth + 1)),
  };
}

/** The DAV:prop of a report body, and how calendar-data is to be shaped (expand, limit-recurrence-set). */
function reportProps(root: XmlElement): { req: PropRequest; expand?: Range; limit?: Range } {
  const prop = child(root, NS.DAV, 'prop');
  if (child(root, NS.DAV, 'allprop')) return { req: { kind: 'allprop', include: [] } };
  if (child(root, NS.DAV, 'propname')) return { req: { kind: 'propname' } };
  const cd = prop ? child(prop, NS.CALDAV, 'calendar-data') : undefined;
  const exp = cd ? child(cd, NS.CALDAV, 'expand') : undefined;
  const lim = cd ? child(cd, NS.CALDAV, 'limit-recurrence-set') : undefined;
  const need = (r: Range | undefined) => {
    if (!r || r.start === null || r.end === null) throw new HttpError(403, 'expand and limit-recurrence-set need start and end', { ns: NS.CALDAV, name: 'valid-filter' });
    return r;
  };
  return {
    req: { kind: 'prop', names: propNames(prop) },
    ...(exp ? { expand: need(timeRange(exp)) } : {}),
    ...(lim ? { limit: need(timeRange(lim)) } : {}),
  };
}

/**
 * Calendar and address data as escaped XML text, by account, resource and version: the same
 * resources are fetched again and again (multiget after every query), and escaping them is
 * much of the cost of an answer. Bounded by characters held (16 Mi: 16 to 32 MiB).
 */
const escapedData = new Lru<string, string>(16 * 1024 * 1024, (v) => v.length);
/** The cache key of a resource version (account, collection, id, modseq), made once per object: caches are asked a thousand times per answer. */
const versionKeys = new WeakMap<DavObject, string>();
function dataKey(owner: { id: number }, o: DavObject): string {
  let k = versionKeys.get(o);
  if (k === undefined) versionKeys.set(o, k = `${owner.id}:${o.collectionId}:${o.id}:${o.modseq}`);
  return k;
}

/**
 * Results of matchCalendarFilter by resource version, for the last few questions (filter and
 * calendar time zone) asked of it: views repeat their queries. Bounded by versions held.
 */
const filterResults = new Lru<string, { q: string; hit: boolean }[]>(100_000);
const QUESTIONS_KEPT = 4;
function knownResult(key: string, question: string): boolean | null {
  const list = filterResults.get(key);
  if (list) for (const e of list) if (e.q === question) return e.hit;
  return null;
}
function keepResult(key: string, question: string, hit: boolean): void {
  const list = filterResults.get(key)?.filter((e) => e.q !== question) ?? [];
  list.push({ q: question, hit });
  filterResults.set(key, list.slice(-QUESTIONS_KEPT));
}

/**
 * Properties whose values follow from the resource's version alone (the data in its plain
 * form included): a response made only of these is the same every time it is asked for by the
 * same href, and is kept whole (its markup) by version, with the property list and the
 * collection href it answered under (the last one asked). Bounded by characters held (32 Mi: 32 to 64 MiB).
 */
const INTRINSIC = new Set([clark(NS.DAV, 'getetag'), clark(NS.DAV, 'getcontenttype'), clark(NS.DAV, 'getcontentlength'), clark(NS.DAV, 'getlastmodified'), CALDATA, ADDRDATA]);
const keptResponses = new Lru<string, { props: string; base: string; markup: string }>(32 * 1024 * 1024, (v) => v.markup.length);

type Shape = { expand?: Range; limit?: Range };
const plain = (shape: Shape) => !shape.expand && !shape.limit;

/** The report-specific properties of a resource (its data). `obj.data` is there unless the escaped form is cached. */
function dataProp(owner: { id: number }, obj: DavObject, shape: Shape, timezone = '', pinned?: Map<DavObject, string>) {
  return (name: string): XmlNode | undefined | null => {
    const isCard = obj.component === 'VCARD';
    if (name !== CALDATA && name !== ADDRDATA) return undefined;
    if ((name === CALDATA) === isCard) return null;
    const [ns, local] = isCard ? [NS.CARDDAV, 'address-data'] : [NS.CALDAV, 'calendar-data'];
    if (plain(shape) || isCard) {
      const key = dataKey(owner, obj);
      let escaped = pinned?.get(obj) ?? escapedData.get(key);
      if (escaped === undefined) {
        if (!obj.data) throw new Error(`the data of ${obj.name} was not read`);
        escapedData.set(key, escaped = escapeText(obj.data));
      }
      return { ns, name: local, escaped };
    }
    const tz = timezone ? { timezone } : {};
    try {
      const text = shape.expand ? expandCalendarObject(obj.data, shape.expand as { start: number; end: number }, tz)
        : limitRecurrenceSet(obj.data, shape.limit as { start: number; end: number }, tz);
      return x(ns, local, text);
    } catch (e) {
      if (e instanceof RecurrenceLimitError) throw new HttpError(403, 'the recurrence set in the range is too large to expand; ask for a shorter range', { ns: NS.DAV, name: 'number-of-matches-within-limits' });
      throw e;
    }
  };
}

/** Whether a report's properties include the resource data. */
const wantsData = (shape: { req: PropRequest }) => shape.req.kind === 'prop' && (shape.req.names.includes(CALDATA) || shape.req.names.includes(ADDRDATA));

/** Resources of an answer, and the escaped data of those whose data is not read (held here so the cache cannot drop it mid-answer). */
interface Loaded {
  objs: DavObject[];
  escaped: Map<DavObject, string>;
}

/**
 * The resources of `objs` with their data where the answer needs it (not for those whose
 * escaped data is cached), read in one query. A resource changed since it was listed comes
 * back in its new version; one removed since is left out.
 */
async function withData(r: DavRequest, owner: AccountInfo, collId: number, objs: DavObject[], shape: Shape & { req: PropRequest },
  also: (o: DavObject) => boolean = () => false, answered: (o: DavObject) => boolean = () => false): Promise<Loaded> {
  const data = wantsData(shape);
  const escaped = new Map<DavObject, string>();
  const need = new Set<DavObject>();
  for (const o of objs) {
    if (o.data) continue;
    if (!also(o) && answered(o)) continue;
    const e = data && plain(shape) ? escapedData.get(dataKey(owner, o)) : undefined;
    if (e !== undefined) escaped.set(o, e);
    if (also(o) || (data && e === undefined)) need.add(o);
  }
  if (need.size === 0) return { objs, escaped };
  const read = new Map((await r.deps.dav.objectsByName(owner, collId, [...need].map((o) => o.name))).map((o) => [o.name, o]));
  const out: DavObject[] = [];
  for (const o of objs) {
    const row = need.has(o) ? read.get(o.name) : o;
    if (!row) continue;
    // The same version keeps the listing's instance index; a newer one is evaluated afresh.
    const next = row === o || row.modseq !== o.modseq ? row : { ...o, data: row.data };
    out.push(next);
    const e = escaped.get(o);
    if (e !== undefined && next.modseq === o.modseq) escaped.set(next, e);
  }
  return { objs: out, escaped };
}

/**
 * The resource responses of a report, written as they come; kept whole and reused where the
 * properties asked for allow it (INTRINSIC), so that a view asking again costs a lookup per
 * resource.
 */
class ResourceAnswers {
  readonly ms = new Multistatus();
  count = 0;
  readonly #shape: Shape & { req: PropRequest };
  readonly #sig: string | null;
  readonly #ns: string[];

  constructor(shape: Shape & { req: PropRequest }) {
    this.#shape = shape;
    const names = shape.req.kind === 'prop' ? shape.req.names : [];
    const keep = plain(shape) && names.length > 0 && names.every((n) => INTRINSIC.has(n));
    this.#sig = keep ? names.join(' ') : null;
    this.#ns = keep ? [...new Set(names.map((n) => splitClark(n).ns))] : [];
  }

  /**
   * The markup kept for this resource under this base (the collection's href, its resources'
   * hrefs below it; or a resource's own href), if any. The name is the version's own (a
   * resource renamed is a new one), so the base decides the href.
   */
  #kept(base: string, owner: AccountInfo, obj: DavObject): string | undefined {
    if (this.#sig === null) return undefined;
    const k = keptResponses.get(dataKey(owner, obj));
    return k && k.base === base && k.props === this.#sig ? k.markup : undefined;
  }

  /** Whether the response of this resource is kept (then its data need not be read). */
  kept(base: string, owner: AccountInfo, obj: DavObject): boolean {
    return this.#kept(base, owner, obj) !== undefined;
  }

  /**
   * Adds the response of a resource, its href made from `base` (a collection's, ending in
   * '/'; else the resource's own); synchronous (no promise) when nothing has to be read or
   * awaited.
   */
  add(r: DavRequest, t: Extract<Target, { kind: 'collection' | 'resource' }>, obj: DavObject, base: string, pinned?: Map<DavObject, string>): void | Promise<void> {
    this.count++;
    const markup = this.#kept(base, t.owner, obj);
    if (markup !== undefined) { this.ms.addKept(markup, this.#ns); return; }
    const hrefValue = base.endsWith('/') ? base + encodeSegment(obj.name) : base;
    const version = dataKey(t.owner, obj);
    const key = this.#sig === null ? null : { data: version, props: this.#sig, base };
    // Its data was not read because its response was kept, and that has gone from the cache since.
    if (wantsData(this.#shape) && !obj.data && !pinned?.has(obj) && escapedData.get(version) === undefined) {
      return r.deps.dav.objectsByName(t.owner, t.coll.id, [obj.name]).then(([row]) => {
        if (!row) { this.ms.add(statusResponse(hrefValue, 404)); return; }
        this.count--;
        return this.add(r, t, row.modseq === obj.modseq ? { ...obj, data: row.data } : row, base, pinned);
      });
    }
    const a = propResponse(resourceTarget(t, obj), hrefValue, this.#shape.req, r.ctx, dataProp(t.owner, obj, this.#shape, t.coll.timezone, pinned));
    if (a instanceof Promise) return a.then((ps) => this.#write(key, ps));
    this.#write(key, a);
  }

  #write(key: { data: string; props: string; base: string } | null, ps: PropStats): void {
    if (key === null) { this.ms.add(ps); return; }
    const markup = this.ms.addKeepable(ps);
    if (markup !== null) keptResponses.set(key.data, { props: key.props, base: key.base, markup });
  }
}

function resourceTarget(t: Extract<Target, { kind: 'collection' | 'resource' }>, obj: DavObject): Target {
  const r: Extract<Target, { kind: 'resource' }> = { kind: 'resource', home: t.home, owner: t.owner, coll: t.coll, obj };
  if (t.share) r.share = t.share;
  return r;
}

async function multiget(r: DavRequest, t: Target, root: XmlElement, h: ReportHelpers): Promise<void> {
  const shape = reportProps(root);
  const hrefs = children(root, NS.DAV, 'href').map(textOf);
  if (hrefs.length > r.deps.maxReportResults) throw new HttpError(403, `at most ${r.deps.maxReportResults} hrefs per multiget`, { ns: NS.DAV, name: 'number-of-matches-within-limits' });
  // The hrefs name resources of a few collections (usually one): each collection is resolved
  // once, and its resources come from its listing, with the data read in one query for those
  // whose escaped data is not kept.
  const wanted: { hv: string; p: Extract<DavPath, { kind: 'resource' }> | null }[] = hrefs.map((hv) => {
    const path = pathOfHref(hv);
    try {
      const p = path ? parseDavPath(path) : null;
      return { hv, p: p && p.kind === 'resource' ? p : null };
    } catch (e) {
      if (!(e instanceof BadPath)) throw e;
      return { hv, p: null };
    }
  });
  const byCollection = new Map<string, { coll: Target | null; names: string[]; objects?: Map<string, DavObject>; escaped?: Map<DavObject, string>; base?: string }>();
  const keyOf = (p: Extract<DavPath, { kind: 'resource' }>) => `${p.home}\u0000${p.owner}\u0000${p.collection}`;
  for (const w of wanted) {
    if (!w.p) continue;
    const k = keyOf(w.p);
    if (!byCollection.has(k)) {
      // The request's own collection is resolved already (the usual case: one read less).
      const rp = r.path;
      const own = t.kind === 'collection' && rp.kind === 'collection' && rp.home === w.p.home && rp.owner === w.p.owner && rp.collection === w.p.collection;
      byCollection.set(k, { coll: own ? t : await h.resolve({ kind: 'collection', home: w.p.home, owner: w.p.owner, collection: w.p.collection }), names: [] });
    }
    byCollection.get(k)!.names.push(w.p.name);
  }
  const answers = new ResourceAnswers(shape);
  for (const g of byCollection.values()) {
    if (!g.coll || g.coll.kind !== 'collection') continue;
    if (t.kind === 'collection' && (g.coll.coll.id !== t.coll.id || g.coll.owner.id !== t.owner.id)) continue;
    const listing = await r.deps.dav.listing(g.coll.owner, g.coll.coll);
    const listed = [...new Set(g.names)].flatMap((n) => listing.byName.get(n) ?? []);
    const base = h.targetHref(g.coll);
    const owner = g.coll.owner;
    const loaded = await withData(r, owner, g.coll.coll.id, listed, shape, undefined, (o) => answers.kept(base, owner, o));
    g.objects = new Map(loaded.objs.map((o) => [o.name, o]));
    g.escaped = loaded.escaped;
    g.base = base;
  }
  for (const w of wanted) {
    const g = w.p ? byCollection.get(keyOf(w.p)) : undefined;
    const obj = g?.objects?.get(w.p!.name);
    if (!g || !obj || !g.coll || g.coll.kind !== 'collection') { answers.ms.add(statusResponse(w.hv, 404)); continue; }
    const done = answers.add(r, g.coll, obj, g.base!, g.escaped);
    if (done) await done;
  }
  send(r, answers.ms.document());
}

async function calendarQuery(r: DavRequest, t: Target, root: XmlElement, h: ReportHelpers): Promise<void> {
  if (t.kind !== 'collection' && t.kind !== 'resource') throw new HttpError(403, 'calendar-query runs on a calendar', { ns: NS.DAV, name: 'supported-report' });
  const shape = reportProps(root);
  const f = child(root, NS.CALDAV, 'filter');
  const top = f ? child(f, NS.CALDAV, 'comp-filter') : undefined;
  if (!top) throw new HttpError(403, 'calendar-query needs a filter with a VCALENDAR comp-filter', { ns: NS.CALDAV, name: 'valid-filter' });
  const filter = compFilter(top);
  if (filter.name.toUpperCase() !== 'VCALENDAR') throw new HttpError(403, 'the top comp-filter must name VCALENDAR', { ns: NS.CALDAV, name: 'valid-filter' });
  const pre = prefilterRange(filter);
  // From the collection's listing, without data: most client queries are a time range on
  // events, which the instance index answers (quickMatch), and the rest were mostly asked
  // before (filterResults); the data is read only for what is left, and for the matches when
  // calendar-data is asked for and its escaped form is not kept.
  const candidates = t.kind === 'resource' ? [t.obj] : inRange(await r.deps.dav.listing(t.owner, t.coll), pre?.range ?? { start: null, end: null }, pre?.component);
  const question = crypto.createHash('sha256').update(JSON.stringify([filter, t.coll.timezone])).digest('base64url');
  const answers = new Map<DavObject, boolean | null>();
  const quick = quickMatcher(filter);
  for (const o of candidates) answers.set(o, quick(o) ?? knownResult(dataKey(t.owner, o), question));
  const base = h.targetHref(t);
  const out = new ResourceAnswers(shape);
  const loaded = await withData(r, t.owner, t.coll.id, candidates, shape, (o) => answers.get(o) === null, (o) => out.kept(base, t.owner, o));
  for (const obj of loaded.objs) {
    // A resource read afresh in a newer version than listed has no answer yet.
    let hit = answers.get(obj) ?? null;
    if (hit === null) {
      try {
        hit = quick(obj) ?? matchCalendarFilter(obj.data, filter, { timezone: t.coll.timezone });
        keepResult(dataKey(t.owner, obj), question, hit);
      } catch (e) {
        r.deps.log.warn({ err: (e as Error).message, resource: obj.name }, 'dav.query.unreadable');
        hit = false;
      }
    }
    if (!hit) continue;
    if (out.count >= r.deps.maxReportResults) {
      out.ms.add(statusResponse(base, 507));
      break;
    }
    const done = out.add(r, t, obj, base, loaded.escaped);
    if (done) await done;
  }
  send(r, out.ms.document());
}

async function freeBusyQuery(r: DavRequest, t: Target, root: XmlElement): Promise<void> {
  if (t.kind !== 'collection' || t.coll.kind !== 'calendar') throw new HttpError(403, 'free-busy-query runs on a calendar', { ns: NS.DAV, name: 'supported-report' });
  const range = timeRange(child(root, NS.CALDAV, 'time-range'));
  if (!range || range.start === null || range.end === null) throw new HttpError(400, 'free-busy-query needs a time-range with start and end');
  const objs = await r.deps.dav.objects(t.owner, t.coll.id, { withData: true, range });
  const periods = freeBusy(objs.map((o) => o.data), range as { start: number; end: number }, t.coll.timezone ? { timezone: t.coll.timezone } : {});
  const text = freeBusyToICalendar(periods, range as { start: number; end: number }, { dtstamp: Date.now() });
  r.reply.code(200).header('content-type', 'text/calendar; charset=utf-8').send(text);
}

async function addressbookQuery(r: DavRequest, t: Target, root: XmlElement, h: ReportHelpers): Promise<void> {
  if (t.kind !== 'collection' || t.coll.kind !== 'addressbook') throw new HttpError(403, 'addressbook-query runs on an address book', { ns: NS.DAV, name: 'supported-report' });
  const shape = reportProps(root);
  const f = child(root, NS.CARDDAV, 'filter');
  const filter: CardFilter = {
    test: f?.attrs.get('test') === 'allof' ? 'allof' : 'anyof',
    props: f ? children(f, NS.CARDDAV, 'prop-filter').map((p) => propFilter(p, NS.CARDDAV, 'i;unicode-casemap')) : [],
  };
  const lim = child(root, NS.CARDDAV, 'limit');
  const nres = lim ? Number(textOf(child(lim, NS.CARDDAV, 'nresults') ?? lim)) : Infinity;
  const max = Math.min(Number.isFinite(nres) && nres > 0 ? nres : Infinity, r.deps.maxReportResults);
  const objs = await r.deps.dav.objects(t.owner, t.coll.id, { withData: true });
  const out: Answer[] = [];
  for (const obj of objs) {
    let hit = false;
    try {
      hit = matchCardFilter(obj.data, filter);
    } catch (e) {
      r.deps.log.warn({ err: (e as Error).message, resource: obj.name }, 'dav.query.unreadable');
    }
    if (!hit) continue;
    if (out.length >= max) {
      out.push(d('response', [d('href', h.targetHref(t)), d('status', 'HTTP/1.1 507 Insufficient Storage'), d('error', [d('number-of-matches-within-limits')])]));
      break;
    }
    out.push(await propResponse(resourceTarget(t, obj), h.targetHref(resourceTarget(t, obj)), shape.req, r.ctx, dataProp(t.owner, obj, shape)));
  }
  send(r, multistatus(out));
}

async function syncCollection(r: DavRequest, t: Target, root: XmlElement, h: ReportHelpers): Promise<void> {
  if (t.kind !== 'collection') throw new HttpError(403, 'sync-collection runs on a collection', { ns: NS.DAV, name: 'supported-report' });
  // Depth 1 and infinite are the same here: collections hold no collections.
  const levelEl = child(root, NS.DAV, 'sync-level');
  const level = levelEl ? textOf(levelEl).toLowerCase() : '1';
  if (level !== '1' && level !== 'infinite') throw bad('sync-level must be 1 or infinite');
  const tokenEl = child(root, NS.DAV, 'sync-token');
  const tokenText = tokenEl ? textOf(tokenEl) : '';
  const shape = reportProps(root);
  const lim = child(root, NS.DAV, 'limit');
  const nres = lim ? Number(textOf(child(lim, NS.DAV, 'nresults') ?? lim)) : NaN;
  const limit = Math.min(Number.isSafeInteger(nres) && nres > 0 ? nres : r.deps.maxReportResults, r.deps.maxReportResults);
  let since = 0;
  if (tokenText) {
    const tok = parseSyncToken(tokenText);
    if (!tok || tok.collection !== t.coll.id) throw new HttpError(403, 'the sync token is not one of this collection', { ns: NS.DAV, name: 'valid-sync-token' });
    since = tok.modseq;
  }
  let changes;
  try {
    changes = await r.deps.dav.changesSince(t.owner, t.coll, since, limit);
  } catch (e) {
    if (e instanceof DomainError && e.code === 'INVALID_INPUT') throw new HttpError(403, e.detail, { ns: NS.DAV, name: 'valid-sync-token' });
    throw e;
  }
  const out: Answer[] = [];
  // The data of every changed resource in one read, not one per resource.
  const byName = new Map((await r.deps.dav.objectsByName(t.owner, t.coll.id, changes.changed.map((o) => o.name))).map((o) => [o.name, o]));
  for (const o of changes.changed) {
    const full = byName.get(o.name);
    if (!full) continue;
    const target = resourceTarget(t, full);
    out.push(await propResponse(target, h.targetHref(target), shape.req, r.ctx, dataProp(t.owner, full, shape)));
  }
  // An initial sync lists what exists; removals matter only to a client that had a token.
  if (since > 0) for (const name of changes.removed) out.push(statusResponse(h.targetHref(resourceTarget(t, { name } as DavObject)), 404));
  if (changes.truncated) out.push(statusResponse(h.targetHref(t), 507));
  send(r, multistatus(out, [d('sync-token', `urn:bulwark:sync:${t.coll.id}:${changes.modseq}`)]));
}

async function principalSearch(r: DavRequest, root: XmlElement, h: ReportHelpers): Promise<void> {
  const shape = reportProps(root);
  const searches = children(root, NS.DAV, 'property-search').map((s) => ({
    props: propNames(child(s, NS.DAV, 'prop')),
    match: textOf(child(s, NS.DAV, 'match') ?? s).toLowerCase(),
  }));
  const allof = root.attrs.get('test') === 'allof';
  const candidates = await r.deps.directory.domainAccounts(r.user.domainId, r.deps.maxReportResults);
  const out: Answer[] = [];
  for (const a of candidates) {
    const hay: Record<string, string[]> = {
      [clark(NS.DAV, 'displayname')]: [a.displayName, a.address],
      [clark(NS.CALDAV, 'calendar-user-address-set')]: [`mailto:${a.address}`],
      [clark(NS.CS, 'email-address-set')]: [a.address],
    };
    const test = (s: { props: string[]; match: string }) => s.props.some((p) => (hay[p] ?? []).some((v) => v.toLowerCase().includes(s.match)));
    if (searches.length && !(allof ? searches.every(test) : searches.some(test))) continue;
    const target: Target = { kind: 'principal', owner: a };
    out.push(await propResponse(target, h.targetHref(target), shape.req, r.ctx));
  }
  send(r, multistatus(out));
}

function principalSearchPropertySet(r: DavRequest): void {
  const p = (ns: string, name: string, desc: string) => d('principal-search-property', [d('prop', [x(ns, name)]), x(NS.DAV, 'description', desc)]);
  const body = d('principal-search-property-set', [
    p(NS.DAV, 'displayname', 'Name'), p(NS.CALDAV, 'calendar-user-address-set', 'Calendar address'), p(NS.CS, 'email-address-set', 'E-mail address'),
  ]);
  r.reply.code(200).header('content-type', 'application/xml; charset=utf-8').send(serializeXml(body));
}

export async function runReport(r: DavRequest, t: Target, h: ReportHelpers): Promise<void> {
  const root = xmlBody(r);
  if (!root) throw bad('REPORT needs a body');
  const key = clark(root.ns, root.name);
  switch (key) {
    case clark(NS.CALDAV, 'calendar-multiget'): case clark(NS.CARDDAV, 'addressbook-multiget'): return multiget(r, t, root, h);
    case clark(NS.CALDAV, 'calendar-query'): return calendarQuery(r, t, root, h);
    case clark(NS.CALDAV, 'free-busy-query'): return freeBusyQuery(r, t, root);
    case clark(NS.CARDDAV, 'addressbook-query'): return addressbookQuery(r, t, root, h);
    case clark(NS.DAV, 'sync-collection'): return syncCollection(r, t, root, h);
    case clark(NS.DAV, 'principal-property-search'): return principalSearch(r, root, h);
    case clark(NS.DAV, 'principal-search-property-set'): return principalSearchPropertySet(r);
    default: {
      const { ns, name } = splitClark(key);
      throw new HttpError(403, `the report ${name} (${ns}) is not supported`, { ns: NS.DAV, name: 'supported-report' });
    }
  }
}
