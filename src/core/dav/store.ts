/**
 * Calendars, task lists and address books of one account, and the resources in them:
 * protocol-free (CalDAV and CardDAV call these; JMAP and the web client will too).
 *
 * Invariants:
 * - Every change runs in one partition transaction opened by beginChange (the account's
 *   modseq, which also serialises the account's writers), logs the object in `changes`, and
 *   is announced on the bus after the commit.
 * - A resource's ETag is derived from the modseq of its last change: strong, and different
 *   after every change (RFC 9110 §8.8.3), so If-Match compares exactly.
 * - A collection's modseq is the highest modseq of anything in it, deletions included: it is
 *   the sync token and the getctag. Deletions leave a tombstone (dav_tombstones) so a
 *   sync-collection report (RFC 6578) can name what went away.
 * - A resource is validated before it is stored (the validator for the collection's kind);
 *   nothing that fails validation is ever written. Its size counts against the account's quota,
 *   the same one as mail (RFC 4331 quota properties show it).
 */
import { sql, type Transaction } from 'kysely';
import type { PartitionDB } from '../../store/schema.ts';
import type { DavHome, DavKind } from '../../store/migrations/0005-partition-dav.ts';
import type { ChangeBus } from '../changes/bus.ts';
import { DomainError, invalid } from '../errors.ts';
import { beginChange, logChange, type AccountRef, type MailStore } from '../mail/mailstore.ts';
import { GAL_ID, GAL_NAME, galOf, type DomainListing } from './gal.ts';
import { Lru } from '../../lib/lru.ts';
import { applyChanges, type Listing } from './listing.ts';

export type { DavHome, DavKind, Listing };
type Trx = Transaction<PartitionDB>;
type CollectionRow = PartitionDB['dav_collections'];
type ObjectRow = PartitionDB['dav_objects'];

export interface CollectionInfo {
  id: number;
  home: DavHome;
  name: string;
  kind: DavKind;
  displayName: string;
  description: string;
  color: string;
  sortOrder: number;
  /** Component types a calendar accepts (VEVENT, VTODO, ...); empty for address books. */
  components: string[];
  /** CALDAV:calendar-timezone: a VCALENDAR with one VTIMEZONE, or ''. */
  timezone: string;
  /** Dead properties, '{namespace}name' -> the property element as XML. */
  props: Record<string, string>;
  modseq: number;
  syncFloor: number;
  createdAt: number;
}

export interface DavObject {
  id: number;
  collectionId: number;
  name: string;
  uid: string;
  component: string;
  data: string;
  size: number;
  etag: string;
  modseq: number;
  firstStart: number | null;
  lastEnd: number | null;
  /** The instance index of an event (core/dav/instances.ts, JSON), or null. */
  instances: string | null;
  updatedAt: number;
}

/** What a validator extracts from a resource it accepts. */
export interface ResourceMeta {
  uid: string;
  component: string;
  /** The data as it is stored (e.g. normalised line endings). */
  text: string;
  firstStart: number | null;
  lastEnd: number | null;
  /** The instance index of an event (core/dav/instances.ts), for time ranges on the row. */
  instances?: string | null;
}

/**
 * A resource the collection refuses, with the precondition the protocol reports (CalDAV
 * valid-calendar-data, supported-calendar-component, no-uid-conflict, max-resource-size; the
 * CardDAV equivalents).
 */
export class ResourceError extends DomainError {
  readonly condition: string;
  readonly href?: string;
  constructor(condition: string, detail: string, opts: { href?: string; code?: 'FORBIDDEN' | 'ALREADY_EXISTS' | 'LIMIT_EXCEEDED' } = {}) {
    super(opts.code ?? 'FORBIDDEN', detail);
    this.condition = condition;
    this.href = opts.href;
  }
}

export type Validator = (text: string, collection: CollectionInfo, name: string) => ResourceMeta;

export interface DavLimits {
  maxResourceBytes: number;
  maxResourcesPerCollection: number;
  maxCollections: number;
}

/** Resources kept in memory over all collection listings (listing.ts). */
const LISTING_CACHE_RESOURCES = 100_000;

export interface Preconditions {
  /** If-Match: the ETag the resource must have ('*': it must exist). */
  ifMatch?: string;
  /** If-None-Match: '*' means it must not exist; an ETag means it must not have that one. */
  ifNoneMatch?: string;
}

/** The collections every account starts with. */
export const DEFAULT_COLLECTIONS: { home: DavHome; name: string; kind: DavKind; displayName: string; components: string[] }[] = [
  { home: 'calendars', name: 'calendar', kind: 'calendar', displayName: 'Calendar', components: ['VEVENT'] },
  { home: 'calendars', name: 'tasks', kind: 'calendar', displayName: 'Tasks', components: ['VTODO'] },
  { home: 'calendars', name: 'inbox', kind: 'inbox', displayName: 'Scheduling inbox', components: ['VEVENT', 'VTODO', 'VFREEBUSY'] },
  { home: 'calendars', name: 'outbox', kind: 'outbox', displayName: 'Scheduling outbox', components: ['VEVENT', 'VTODO', 'VFREEBUSY'] },
  { home: 'addressbooks', name: 'contacts', kind: 'addressbook', displayName: 'Contacts', components: [] },
];

/** A collection or resource name: one URL segment (decoded), printable, bounded. */
export function checkSegment(name: string, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) throw invalid(`${what} must be 1 to 255 characters`);
  if (name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f]/.test(name)) throw invalid(`${what} holds a character that is not allowed`);
  if (!name.isWellFormed()) throw invalid(`${what} is not well-formed Unicode`);
  return name;
}

export function etagOf(modseq: number): string {
  return `"${modseq.toString(36)}"`;
}

function collectionInfo(r: CollectionRow): CollectionInfo {
  let props: Record<string, string> = {};
  try {
    props = JSON.parse(r.props) as Record<string, string>;
  } catch { /* never written that way; an empty set rather than a failing collection */ }
  return {
    id: r.id, home: r.home, name: r.name, kind: r.kind, displayName: r.display_name, description: r.description, color: r.color,
    sortOrder: r.sort_order, components: r.components ? r.components.split(',') : [], timezone: r.timezone, props,
    modseq: r.modseq, syncFloor: r.sync_floor, createdAt: r.created_at,
  };
}

const LIGHT = ['id', 'collection_id', 'name', 'uid', 'component', 'size', 'modseq', 'first_start', 'last_end', 'updated_at'] as const;

function davObject(r: Pick<ObjectRow, 'id' | 'collection_id' | 'name' | 'uid' | 'component' | 'size' | 'modseq' | 'first_start' | 'last_end' | 'updated_at'> & { data?: string; instances?: string | null }): DavObject {
  return {
    id: r.id, collectionId: r.collection_id, name: r.name, uid: r.uid, component: r.component, data: r.data ?? '', size: r.size,
    etag: etagOf(r.modseq), modseq: r.modseq, firstStart: r.first_start, lastEnd: r.last_end, instances: r.instances ?? null, updatedAt: r.updated_at,
  };
}

function checkPreconditions(existing: { modseq: number } | undefined, p: Preconditions): void {
  const etag = existing ? etagOf(existing.modseq) : null;
  if (p.ifMatch !== undefined) {
    const tags = p.ifMatch.split(',').map((t) => t.trim()).filter(Boolean);
    const ok = etag !== null && (tags.includes('*') || tags.includes(etag));
    if (!ok) throw new DomainError('PRECONDITION_FAILED', existing ? 'the resource has changed (If-Match)' : 'the resource does not exist (If-Match)');
  }
  if (p.ifNoneMatch !== undefined && etag !== null) {
    const tags = p.ifNoneMatch.split(',').map((t) => t.trim().replace(/^W\//, '')).filter(Boolean);
    if (tags.includes('*') || tags.includes(etag)) throw new DomainError('PRECONDITION_FAILED', 'the resource exists (If-None-Match)');
  }
}

export interface CollectionPatch {
  displayName?: string;
  description?: string;
  color?: string;
  sortOrder?: number;
  timezone?: string;
  components?: string[];
  /** Dead properties to set (XML) or remove (null). */
  props?: Record<string, string | null>;
}

export interface SyncChanges {
  /** The collection's modseq now: the new sync token. */
  modseq: number;
  changed: DavObject[];
  removed: string[];
  /** True when the limit cut the answer short (RFC 6578 §3.6: 507 on the request-URI, a token to continue). */
  truncated: boolean;
}

export class DavStore {
  readonly #mail: MailStore;
  readonly #bus: ChangeBus;
  readonly #validators: Partial<Record<DavKind, Validator>>;
  readonly #limits: DavLimits;
  readonly #provisioned = new Set<number>();
  readonly #listings: Lru<string, Listing>;

  /** The directory listing behind the global address list of an account's domain (none: no GAL). */
  readonly #listing?: (accountId: number) => Promise<DomainListing | null>;

  constructor(mail: MailStore, bus: ChangeBus, validators: Partial<Record<DavKind, Validator>>, limits: DavLimits,
    listing?: (accountId: number) => Promise<DomainListing | null>) {
    this.#mail = mail;
    this.#bus = bus;
    this.#validators = validators;
    this.#limits = limits;
    this.#listing = listing;
    this.#listings = new Lru(LISTING_CACHE_RESOURCES, (l) => l.byName.size + 1);
  }

  async #gal(account: AccountRef): Promise<{ collection: CollectionInfo; objects: DavObject[] } | null> {
    const l = this.#listing ? await this.#listing(account.id) : null;
    return l ? galOf(l, 0) : null;
  }

  #readOnly(collectionId: number): void {
    if (collectionId === GAL_ID) throw new DomainError('FORBIDDEN', 'the global address list is read-only');
  }

  get limits(): DavLimits {
    return this.#limits;
  }

  #part(account: AccountRef) {
    return this.#mail.partitionOf(account);
  }

  /** Creates the default collections the first time an account is seen (idempotent). */
  async provision(account: AccountRef): Promise<void> {
    if (this.#provisioned.has(account.id)) return;
    await this.#mail.listMailboxes(account); // the account's partition state, made on first use
    const made = await this.#part(account).tx('provision collections', async (trx) => {
      const any = await trx.selectFrom('dav_collections').select('id').where('account_id', '=', account.id).limit(1).executeTakeFirst();
      if (any) return 0;
      const { modseq, firstId } = await beginChange(trx, account.id, DEFAULT_COLLECTIONS.length);
      let id = firstId;
      for (const c of DEFAULT_COLLECTIONS) {
        await trx.insertInto('dav_collections').values({
          account_id: account.id, id, home: c.home, name: c.name, kind: c.kind, display_name: c.displayName, description: '', color: '',
          sort_order: 0, components: c.components.join(','), timezone: '', props: '{}', modseq, sync_floor: 0, created_at: Date.now(),
        }).execute();
        await logChange(trx, account.id, modseq, 'collection', id, 'create');
        id++;
      }
      return modseq;
    });
    this.#provisioned.add(account.id);
    if (made) this.#bus.emit({ accountId: account.id, modseq: made, kinds: ['dav'] });
  }

  async collections(account: AccountRef, home?: DavHome): Promise<CollectionInfo[]> {
    await this.provision(account);
    const rows = await this.#part(account).run('list collections', (db) => {
      let q = db.selectFrom('dav_collections').selectAll().where('account_id', '=', account.id);
      if (home) q = q.where('home', '=', home);
      return q.orderBy('sort_order').orderBy('id').execute();
    });
    const out = rows.map(collectionInfo);
    if (home !== 'calendars') {
      const gal = await this.#gal(account);
      if (gal) out.push(gal.collection);
    }
    return out;
  }

  async collection(account: AccountRef, home: DavHome, name: string): Promise<CollectionInfo | null> {
    await this.provision(account);
    if (home === 'addressbooks' && name === GAL_NAME && this.#listing) return (await this.#gal(account))?.collection ?? null;
    const r = await this.#part(account).run('read collection', (db) =>
      db.selectFrom('dav_collections').selectAll().where('account_id', '=', account.id).where('home', '=', home).where('name', '=', name).executeTakeFirst());
    return r ? collectionInfo(r) : null;
  }

  async collectionById(account: AccountRef, id: number): Promise<CollectionInfo | null> {
    const r = await this.#part(account).run('read collection', (db) =>
      db.selectFrom('dav_collections').selectAll().where('account_id', '=', account.id).where('id', '=', id).executeTakeFirst());
    return r ? collectionInfo(r) : null;
  }

  /** MKCALENDAR / extended MKCOL (RFC 4791 §5.3.1, RFC 5689). */
  async createCollection(account: AccountRef, home: DavHome, name: string, kind: 'calendar' | 'addressbook', patch: CollectionPatch = {}): Promise<CollectionInfo> {
    checkSegment(name, 'collection name');
    if (home === 'addressbooks' && name === GAL_NAME) throw new DomainError('ALREADY_EXISTS', 'the global address list has this name');
    if ((home === 'calendars') !== (kind === 'calendar')) throw new DomainError('FORBIDDEN', `a ${kind} cannot be made in ${home}`);
    const components = kind === 'calendar' ? checkComponents(patch.components ?? ['VEVENT', 'VTODO']) : [];
    await this.provision(account);
    const r = await this.#part(account).tx('create collection', async (trx) => {
      const n = await trx.selectFrom('dav_collections').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', account.id).executeTakeFirstOrThrow();
      if (Number(n.n) >= this.#limits.maxCollections) throw new DomainError('LIMIT_EXCEEDED', `at most ${this.#limits.maxCollections} collections per account`);
      const exists = await trx.selectFrom('dav_collections').select('id').where('account_id', '=', account.id).where('home', '=', home).where('name', '=', name).executeTakeFirst();
      if (exists) throw new DomainError('ALREADY_EXISTS', 'the collection exists already');
      const { modseq, firstId } = await beginChange(trx, account.id, 1);
      const props: Record<string, string> = {};
      for (const [k, v] of Object.entries(patch.props ?? {})) if (v !== null) props[k] = v;
      const row: CollectionRow = {
        account_id: account.id, id: firstId, home, name, kind, display_name: patch.displayName ?? '', description: patch.description ?? '',
        color: patch.color ?? '', sort_order: patch.sortOrder ?? 0, components: components.join(','), timezone: patch.timezone ?? '',
        props: JSON.stringify(props), modseq, sync_floor: 0, created_at: Date.now(),
      };
      await trx.insertInto('dav_collections').values(row).execute();
      await logChange(trx, account.id, modseq, 'collection', firstId, 'create');
      return { row, modseq };
    });
    this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['dav'] });
    return collectionInfo(r.row);
  }

  /** PROPPATCH: all of the patch or none of it. */
  async updateCollection(account: AccountRef, id: number, patch: CollectionPatch): Promise<CollectionInfo> {
    this.#readOnly(id);
    const r = await this.#part(account).tx('update collection', async (trx) => {
      const cur = await trx.selectFrom('dav_collections').selectAll().where('account_id', '=', account.id).where('id', '=', id).executeTakeFirst();
      if (!cur) throw new DomainError('NOT_FOUND', 'no such collection');
      const { modseq } = await beginChange(trx, account.id);
      const props = collectionInfo(cur).props;
      for (const [k, v] of Object.entries(patch.props ?? {})) {
        if (v === null) delete props[k];
        else props[k] = v;
      }
      const json = JSON.stringify(props);
      if (json.length > 64 * 1024) throw new DomainError('LIMIT_EXCEEDED', 'the dead properties of a collection are limited to 64 KiB');
      const next: CollectionRow = {
        ...cur,
        display_name: patch.displayName ?? cur.display_name,
        description: patch.description ?? cur.description,
        color: patch.color ?? cur.color,
        sort_order: patch.sortOrder ?? cur.sort_order,
        timezone: patch.timezone ?? cur.timezone,
        components: patch.components ? checkComponents(patch.components).join(',') : cur.components,
        props: json,
        modseq,
      };
      await trx.updateTable('dav_collections').set(next).where('account_id', '=', account.id).where('id', '=', id).execute();
      await logChange(trx, account.id, modseq, 'collection', id, 'update');
      return { row: next, modseq };
    });
    this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['dav'] });
    return collectionInfo(r.row);
  }

  /** DELETE of a collection: it and everything in it (the scheduling inbox and outbox stay). */
  async deleteCollection(account: AccountRef, id: number): Promise<void> {
    this.#readOnly(id);
    const r = await this.#part(account).tx('delete collection', async (trx) => {
      const cur = await trx.selectFrom('dav_collections').selectAll().where('account_id', '=', account.id).where('id', '=', id).executeTakeFirst();
      if (!cur) throw new DomainError('NOT_FOUND', 'no such collection');
      if (cur.kind === 'inbox' || cur.kind === 'outbox') throw new DomainError('FORBIDDEN', 'the scheduling inbox and outbox cannot be deleted');
      const { modseq } = await beginChange(trx, account.id);
      const gone = await trx.deleteFrom('dav_objects').where('account_id', '=', account.id).where('collection_id', '=', id).returning(['id', 'size']).execute();
      const bytes = gone.reduce((a, o) => a + Number(o.size), 0);
      if (bytes > 0) await trx.updateTable('account_state').set((eb) => ({ used_bytes: eb('used_bytes', '-', bytes) })).where('account_id', '=', account.id).execute();
      for (const o of gone) await logChange(trx, account.id, modseq, 'dav', o.id, 'destroy');
      await trx.deleteFrom('dav_tombstones').where('account_id', '=', account.id).where('collection_id', '=', id).execute();
      await trx.deleteFrom('dav_collections').where('account_id', '=', account.id).where('id', '=', id).execute();
      await logChange(trx, account.id, modseq, 'collection', id, 'destroy');
      return modseq;
    });
    this.#bus.emit({ accountId: account.id, modseq: r, kinds: ['dav'] });
  }

  /** The resources of a collection; with a range, only those whose coarse bounds may overlap it. */
  async objects(account: AccountRef, collectionId: number, opts: { withData?: boolean; range?: { start: number | null; end: number | null }; component?: string } = {}): Promise<DavObject[]> {
    if (collectionId === GAL_ID) return (await this.#gal(account))?.objects ?? [];
    const rows = await this.#part(account).run('list resources', (db) => {
      let q = db.selectFrom('dav_objects')
        .select([...LIGHT, 'instances'])
        .where('account_id', '=', account.id).where('collection_id', '=', collectionId);
      if (opts.withData) q = q.select('data');
      if (opts.component) q = q.where('component', '=', opts.component);
      const { start, end } = opts.range ?? { start: null, end: null };
      if (start !== null) q = q.where((eb) => eb.or([eb('last_end', 'is', null), eb('last_end', '>', start)]));
      if (end !== null) q = q.where((eb) => eb.or([eb('first_start', 'is', null), eb('first_start', '<', end)]));
      return q.orderBy('name').execute();
    });
    return rows.map(davObject);
  }

  /**
   * The resources of a collection without their data, by name (listing.ts): from memory when
   * the cached listing is current for `collection`, which the caller has just read, else
   * brought up to date from the rows changed since, or read afresh.
   */
  async listing(account: AccountRef, collection: CollectionInfo): Promise<Listing> {
    if (collection.id === GAL_ID) {
      const objs = (await this.#gal(account))?.objects ?? [];
      return { modseq: collection.modseq, byName: new Map(objs.map((o) => [o.name, o])) };
    }
    const key = `${account.id}:${collection.id}`;
    const have = this.#listings.get(key);
    if (have && have.modseq >= collection.modseq) return have;
    let next: Listing;
    if (have) {
      // Changed rows and tombstones in one statement: one snapshot, so no change falls between two reads.
      const rows = await this.#part(account).run('read listing changes', (db) =>
        db.selectFrom('dav_objects').select([...LIGHT, 'instances', sql<number>`0`.as('gone')])
          .where('account_id', '=', account.id).where('collection_id', '=', collection.id).where('modseq', '>', have.modseq)
          .unionAll(db.selectFrom('dav_tombstones').select([
            sql<number>`0`.as('id'), 'collection_id', 'name', sql<string>`''`.as('uid'), sql<string>`''`.as('component'), sql<number>`0`.as('size'), 'modseq',
            sql<number | null>`null`.as('first_start'), sql<number | null>`null`.as('last_end'), sql<number>`0`.as('updated_at'),
            sql<string | null>`null`.as('instances'), sql<number>`1`.as('gone'),
          ]).where('account_id', '=', account.id).where('collection_id', '=', collection.id).where('modseq', '>', have.modseq))
          .execute());
      next = applyChanges(have, collection.modseq, rows.filter((r) => !Number(r.gone)).map(davObject), rows.filter((r) => Number(r.gone)).map((r) => r.name));
    } else {
      const rows = await this.#part(account).run('read listing', (db) =>
        db.selectFrom('dav_objects').select([...LIGHT, 'instances']).where('account_id', '=', account.id).where('collection_id', '=', collection.id)
          .orderBy('name').execute());
      next = { modseq: collection.modseq, byName: new Map(rows.map((r) => [r.name, davObject(r)])) };
    }
    this.#listings.set(key, next);
    return next;
  }

  async object(account: AccountRef, collectionId: number, name: string): Promise<DavObject | null> {
    if (collectionId === GAL_ID) return (await this.#gal(account))?.objects.find((o) => o.name === name) ?? null;
    const r = await this.#part(account).run('read resource', (db) =>
      db.selectFrom('dav_objects').selectAll().where('account_id', '=', account.id).where('collection_id', '=', collectionId).where('name', '=', name).executeTakeFirst());
    return r ? davObject(r) : null;
  }

  async objectsByName(account: AccountRef, collectionId: number, names: string[]): Promise<DavObject[]> {
    if (names.length === 0) return [];
    if (collectionId === GAL_ID) return (await this.#gal(account))?.objects.filter((o) => names.includes(o.name)) ?? [];
    const out: DavObject[] = [];
    for (let i = 0; i < names.length; i += 500) {
      const chunk = names.slice(i, i + 500);
      // Without the instance index: readers of the data do not need it.
      const rows = await this.#part(account).run('read resources', (db) =>
        db.selectFrom('dav_objects').select([...LIGHT, 'data'])
          .where('account_id', '=', account.id).where('collection_id', '=', collectionId).where('name', 'in', chunk).execute());
      out.push(...rows.map(davObject));
    }
    return out;
  }

  async objectByUid(account: AccountRef, collectionId: number, uid: string): Promise<DavObject | null> {
    if (collectionId === GAL_ID) return (await this.#gal(account))?.objects.find((o) => o.uid === uid) ?? null;
    const r = await this.#part(account).run('read resource', (db) =>
      db.selectFrom('dav_objects').selectAll().where('account_id', '=', account.id).where('collection_id', '=', collectionId).where('uid', '=', uid).executeTakeFirst());
    return r ? davObject(r) : null;
  }

  /** The account's resource with this UID in any of its calendars (not the inbox), with its collection. */
  async findCalendarObject(account: AccountRef, uid: string): Promise<{ collection: CollectionInfo; object: DavObject } | null> {
    for (const c of await this.collections(account, 'calendars')) {
      if (c.kind !== 'calendar') continue;
      const o = await this.objectByUid(account, c.id, uid);
      if (o) return { collection: c, object: o };
    }
    return null;
  }

  /** Validates a resource for a collection without storing it. */
  validate(collection: CollectionInfo, text: string, name: string): ResourceMeta {
    if (Buffer.byteLength(text, 'utf8') > this.#limits.maxResourceBytes) {
      throw new ResourceError('max-resource-size', `a resource may hold at most ${this.#limits.maxResourceBytes} bytes`, { code: 'LIMIT_EXCEEDED' });
    }
    const v = this.#validators[collection.kind];
    if (!v) throw new DomainError('FORBIDDEN', 'resources cannot be stored in this collection');
    return v(text, collection, name);
  }

  /** PUT: creates or replaces a resource. Returns its new ETag and whether it was created. */
  async put(account: AccountRef, collection: CollectionInfo, name: string, text: string, pre: Preconditions = {}): Promise<{ etag: string; created: boolean; object: DavObject }> {
    checkSegment(name, 'resource name');
    this.#readOnly(collection.id);
    if (collection.kind === 'outbox') throw new DomainError('FORBIDDEN', 'the scheduling outbox takes POST requests only');
    const meta = this.validate(collection, text, name);
    const r = await this.#part(account).tx('store resource', (trx) => this.#write(trx, account, collection.id, name, meta, pre));
    this.#bus.emit({ accountId: account.id, modseq: r.object.modseq, kinds: ['dav'] });
    return r;
  }

  async #write(trx: Trx, account: AccountRef, collectionId: number, name: string, meta: ResourceMeta, pre: Preconditions): Promise<{ etag: string; created: boolean; object: DavObject }> {
    const coll = await trx.selectFrom('dav_collections').select('id').where('account_id', '=', account.id).where('id', '=', collectionId).executeTakeFirst();
    if (!coll) throw new DomainError('NOT_FOUND', 'no such collection');
    const existing = await trx.selectFrom('dav_objects').select(['id', 'modseq', 'size', 'created_at']).where('account_id', '=', account.id)
      .where('collection_id', '=', collectionId).where('name', '=', name).executeTakeFirst();
    checkPreconditions(existing, pre);
    const clash = await trx.selectFrom('dav_objects').select('name').where('account_id', '=', account.id).where('collection_id', '=', collectionId)
      .where('uid', '=', meta.uid).where('name', '!=', name).executeTakeFirst();
    if (clash) throw new ResourceError('no-uid-conflict', `the UID is used by ${clash.name} already`, { href: clash.name });
    if (!existing) {
      const n = await trx.selectFrom('dav_objects').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', account.id).where('collection_id', '=', collectionId).executeTakeFirstOrThrow();
      if (Number(n.n) >= this.#limits.maxResourcesPerCollection) throw new ResourceError('max-resources', `at most ${this.#limits.maxResourcesPerCollection} resources per collection`, { code: 'LIMIT_EXCEEDED' });
    }
    const size = Buffer.byteLength(meta.text, 'utf8');
    const delta = size - Number(existing?.size ?? 0);
    const { modseq, firstId } = await beginChange(trx, account.id, existing ? 0 : 1);
    if (delta > 0 && account.quota_bytes > 0) {
      const st = await trx.selectFrom('account_state').select('used_bytes').where('account_id', '=', account.id).executeTakeFirstOrThrow();
      if (st.used_bytes + delta > account.quota_bytes) throw new DomainError('QUOTA_EXCEEDED', `${st.used_bytes} of ${account.quota_bytes} bytes used`);
    }
    if (delta !== 0) await trx.updateTable('account_state').set((eb) => ({ used_bytes: eb('used_bytes', '+', delta) })).where('account_id', '=', account.id).execute();
    const now = Date.now();
    const id = existing?.id ?? firstId;
    const row: ObjectRow = {
      account_id: account.id, id, collection_id: collectionId, name, uid: meta.uid, component: meta.component, data: meta.text, size,
      first_start: meta.firstStart, last_end: meta.lastEnd, modseq, created_at: existing?.created_at ?? now, updated_at: now, instances: meta.instances ?? null,
    };
    if (existing) await trx.updateTable('dav_objects').set(row).where('account_id', '=', account.id).where('id', '=', id).execute();
    else await trx.insertInto('dav_objects').values(row).execute();
    await trx.deleteFrom('dav_tombstones').where('account_id', '=', account.id).where('collection_id', '=', collectionId).where('name', '=', name).execute();
    await trx.updateTable('dav_collections').set({ modseq }).where('account_id', '=', account.id).where('id', '=', collectionId).execute();
    await logChange(trx, account.id, modseq, 'dav', id, existing ? 'update' : 'create');
    return { etag: etagOf(modseq), created: !existing, object: davObject(row) };
  }

  async #remove(trx: Trx, account: AccountRef, collectionId: number, name: string, pre: Preconditions, modseq?: number): Promise<{ modseq: number; object: ObjectRow }> {
    const existing = await trx.selectFrom('dav_objects').selectAll().where('account_id', '=', account.id).where('collection_id', '=', collectionId).where('name', '=', name).executeTakeFirst();
    if (!existing) throw new DomainError('NOT_FOUND', 'no such resource');
    checkPreconditions(existing, pre);
    const m = modseq ?? (await beginChange(trx, account.id)).modseq;
    await trx.deleteFrom('dav_objects').where('account_id', '=', account.id).where('id', '=', existing.id).execute();
    await trx.updateTable('account_state').set((eb) => ({ used_bytes: eb('used_bytes', '-', Number(existing.size)) })).where('account_id', '=', account.id).execute();
    await trx.insertInto('dav_tombstones').values({ account_id: account.id, collection_id: collectionId, name, modseq: m })
      .onConflict((oc) => oc.columns(['account_id', 'collection_id', 'name']).doUpdateSet({ modseq: m })).execute();
    await trx.updateTable('dav_collections').set({ modseq: m }).where('account_id', '=', account.id).where('id', '=', collectionId).execute();
    await logChange(trx, account.id, m, 'dav', existing.id, 'destroy');
    return { modseq: m, object: existing };
  }

  /** DELETE of one resource. */
  async delete(account: AccountRef, collectionId: number, name: string, pre: Preconditions = {}): Promise<void> {
    this.#readOnly(collectionId);
    const r = await this.#part(account).tx('delete resource', (trx) => this.#remove(trx, account, collectionId, name, pre));
    this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['dav'] });
  }

  /**
   * MOVE or COPY of a resource within the account (RFC 4918 §9.8, §9.9): the target collection
   * validates it as its own (a task cannot be moved into an events-only calendar). With
   * overwrite false an existing target fails PRECONDITION_FAILED.
   */
  async transfer(account: AccountRef, op: 'move' | 'copy', from: { collection: CollectionInfo; name: string }, to: { collection: CollectionInfo; name: string },
    opts: { overwrite: boolean; pre?: Preconditions }): Promise<{ created: boolean; etag: string }> {
    checkSegment(to.name, 'resource name');
    this.#readOnly(to.collection.id);
    if (op === 'move') this.#readOnly(from.collection.id);
    const src = await this.object(account, from.collection.id, from.name);
    if (!src) throw new DomainError('NOT_FOUND', 'no such resource');
    if (from.collection.id === to.collection.id && from.name === to.name) throw new DomainError('FORBIDDEN', 'the source and the destination are the same');
    const meta = this.validate(to.collection, src.data, to.name);
    const r = await this.#part(account).tx(`${op} resource`, async (trx) => {
      const target = await trx.selectFrom('dav_objects').select('modseq').where('account_id', '=', account.id).where('collection_id', '=', to.collection.id).where('name', '=', to.name).executeTakeFirst();
      if (target && !opts.overwrite) throw new DomainError('PRECONDITION_FAILED', 'the destination exists (Overwrite: F)');
      if (op === 'move') await this.#remove(trx, account, from.collection.id, from.name, opts.pre ?? {});
      else checkPreconditions(await trx.selectFrom('dav_objects').select('modseq').where('account_id', '=', account.id).where('collection_id', '=', from.collection.id).where('name', '=', from.name).executeTakeFirst(), opts.pre ?? {});
      return this.#write(trx, account, to.collection.id, to.name, meta, {});
    });
    this.#bus.emit({ accountId: account.id, modseq: r.object.modseq, kinds: ['dav'] });
    return { created: r.created, etag: r.etag };
  }

  /**
   * What changed in a collection after a sync token's modseq (RFC 6578): resources changed or
   * created, and names removed. A token older than the collection's sync floor cannot be
   * answered (INVALID_INPUT: the protocol reports DAV:valid-sync-token).
   */
  async changesSince(account: AccountRef, collection: CollectionInfo, since: number, limit: number): Promise<SyncChanges> {
    if (collection.id === GAL_ID) {
      // Made afresh from the directory: everything for a first sync, nothing while the token is current.
      const gal = await this.#gal(account);
      if (!gal || (since !== 0 && since !== gal.collection.modseq)) throw invalid('the global address list changed: sync afresh');
      const all = since === 0 ? gal.objects : [];
      if (all.length > limit) throw new DomainError('LIMIT_EXCEEDED', `the global address list holds more than ${limit} entries`);
      return { modseq: gal.collection.modseq, changed: all, removed: [], truncated: false };
    }
    if (since < collection.syncFloor || since > collection.modseq) throw invalid('the sync token is not valid for this collection');
    return this.#part(account).run('read collection changes', async (db) => {
      const changed = await db.selectFrom('dav_objects')
        .select(LIGHT)
        .where('account_id', '=', account.id).where('collection_id', '=', collection.id).where('modseq', '>', since)
        .orderBy('modseq').limit(limit + 1).execute();
      const removed = await db.selectFrom('dav_tombstones').select(['name', 'modseq'])
        .where('account_id', '=', account.id).where('collection_id', '=', collection.id).where('modseq', '>', since)
        .orderBy('modseq').limit(limit + 1).execute();
      const all = [...changed.map((c) => ({ m: c.modseq, c })), ...removed.map((r) => ({ m: r.modseq, r }))].sort((a, b) => a.m - b.m);
      if (all.length <= limit) {
        return { modseq: collection.modseq, changed: changed.map(davObject), removed: removed.map((r) => r.name), truncated: false };
      }
      // Cut at a modseq boundary so that the token given back covers exactly what was sent.
      let cut = all[limit - 1].m;
      let kept = all.filter((x) => x.m <= cut);
      if (kept.length > limit) {
        cut = all[0].m;
        kept = all.filter((x) => x.m <= cut);
      }
      return {
        modseq: cut,
        changed: kept.flatMap((x) => ('c' in x && x.c ? [davObject(x.c)] : [])),
        removed: kept.flatMap((x) => ('r' in x && x.r ? [x.r.name] : [])),
        truncated: true,
      };
    });
  }

  /** Bytes the account uses (mail and resources) and its quota (0: none), for RFC 4331. */
  async usage(account: AccountRef): Promise<{ used: number; quota: number }> {
    const st = await this.#mail.state(account);
    return { used: Number(st.used_bytes), quota: account.quota_bytes };
  }
}

const COMPONENTS = ['VEVENT', 'VTODO', 'VJOURNAL', 'VFREEBUSY'];
function checkComponents(list: string[]): string[] {
  const out = [...new Set(list.map((c) => c.toUpperCase()))];
  if (out.length === 0) throw invalid('a calendar must accept at least one component type');
  for (const c of out) if (!COMPONENTS.includes(c)) throw new ResourceError('supported-calendar-component', `component ${c} is not supported`);
  return out;
}
