/**
 * The WebDAV, CalDAV and CardDAV server (RFC 4918, 4791, 6352, 6578, 5689, 5397, 6764), on
 * the HTTP listeners. Wire syntax only: every read and change goes through core's DavStore.
 *
 * Invariants:
 * - Authentication (HTTP Basic) only over TLS unless auth.require_tls is off; over plain
 *   HTTP the server never asks for credentials (no WWW-Authenticate) and refuses them.
 * - What an account may not see does not exist: another account's paths answer 404, not
 *   403, so that existence is not revealed (sharing will open exactly what was granted).
 * - Every request body is bounded (dav.max_request_bytes) and XML is parsed without DTDs
 *   (lib/xml.ts); a bad request gets its status and, where the RFCs define one, a DAV:error
 *   body naming the precondition; it never affects another request.
 * - A 2xx answer to a change is sent only after the change committed (DavStore runs each in
 *   one transaction).
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AccountInfo, Directory } from '../../../core/directory/directory.ts';
import { DavStore, ResourceError, type CollectionInfo, type CollectionPatch, type DavHome } from '../../../core/dav/store.ts';
import { DomainError, ERROR_CODES } from '../../../core/errors.ts';
import { passwordLogin, type LoginDeps } from '../../../security/login.ts';
import { NS, XmlError, child, parseXml, serializeXml, textOf, type XmlElement } from '../../../lib/xml.ts';
import { BadPath, hrefOf, href, parseDavPath, pathOfHref, type DavPath } from './paths.ts';
import { LIVE, WRITABLE, clark, d, splitClark, x, type Mount, type PropContext, type Target } from './props.ts';
import { parseFreeBusyRequest } from '../../../core/dav/itip.ts';
import { freeBusyToICalendar } from '../../../core/dav/icalendar.ts';
import { errorBody, multistatus, propRequestOf, propResponse, statusLine, statusResponse } from './multistatus.ts';
import { runReport } from './reports.ts';
import type { Scheduler } from '../../../core/dav/scheduling.ts';
import type { DavSharing } from '../../../core/dav/sharing.ts';
import { GAL_ID } from '../../../core/dav/gal.ts';

export interface DavDeps extends LoginDeps {
  dav: DavStore;
  /** Implicit scheduling after changes in calendars (RFC 6638); none: no scheduling. */
  scheduler?: Scheduler;
  /** Collections shared between accounts; none: nothing is shared. */
  sharing?: DavSharing;
  log: Logger;
  /** Refuse credentials on a connection without TLS. */
  requireTls: boolean;
  maxRequestBytes: number;
  maxReportResults: number;
}

export const DAV_METHODS = ['PROPFIND', 'PROPPATCH', 'MKCOL', 'MKCALENDAR', 'REPORT', 'COPY', 'MOVE'] as const;
const ALLOW = 'OPTIONS, GET, HEAD, PUT, POST, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, REPORT, COPY, MOVE';
const DAV_CLASSES = '1, 3, access-control, calendar-access, calendar-auto-schedule, addressbook, extended-mkcol';

/** A failed request with its HTTP status and optional DAV:error precondition. */
export class HttpError extends Error {
  readonly status: number;
  readonly condition?: { ns: string; name: string };
  constructor(status: number, message: string, condition?: { ns: string; name: string }) {
    super(message);
    this.status = status;
    this.condition = condition;
  }
}

export interface DavRequest {
  req: FastifyRequest;
  reply: FastifyReply;
  user: AccountInfo;
  path: DavPath;
  body: string;
  deps: DavDeps;
  ctx: PropContext;
}

// ---------------------------------------------------------------------------------------------
// Authentication: Basic, with a short-lived cache of verified credentials so that a client's
// every request does not cost a password hash and an audit entry. The cache holds a digest of
// the header, never the password, and is re-checked against the directory (enabled, password
// unchanged) on every hit.

interface CachedLogin { accountId: number; updatedAt: number; expires: number }
const LOGIN_TTL_MS = 60_000;
const MAX_CACHED = 10_000;

class LoginCache {
  readonly #m = new Map<string, CachedLogin>();
  get(key: string): CachedLogin | undefined {
    const v = this.#m.get(key);
    if (v && v.expires < Date.now()) { this.#m.delete(key); return undefined; }
    return v;
  }
  set(key: string, v: CachedLogin): void {
    if (this.#m.size >= MAX_CACHED) this.#m.delete(this.#m.keys().next().value!);
    this.#m.set(key, v);
  }
  drop(key: string): void {
    this.#m.delete(key);
  }
}

async function authenticate(deps: DavDeps, cache: LoginCache, req: FastifyRequest, secure: boolean): Promise<AccountInfo> {
  if (!secure && deps.requireTls) throw new HttpError(403, 'authentication needs HTTPS on this server');
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Basic\s+([A-Za-z0-9+/=]{1,2048})\s*$/i.exec(h) : null;
  if (!m) throw new HttpError(401, 'authentication required');
  const key = crypto.createHash('sha256').update(`${req.ip}\0${m[1]}`).digest('base64');
  const hit = cache.get(key);
  if (hit) {
    const a = await deps.directory.accountById(hit.accountId);
    if (a && a.enabled && a.updatedAt === hit.updatedAt) return a;
    cache.drop(key);
  }
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new HttpError(401, 'authentication required');
  const r = await passwordLogin(deps, decoded.slice(0, colon), decoded.slice(colon + 1), { protocol: 'dav', remote: req.ip });
  if (r.ok) {
    cache.set(key, { accountId: r.account.id, updatedAt: r.account.updatedAt, expires: Date.now() + LOGIN_TTL_MS });
    return r.account;
  }
  if (r.reason === 'unavailable') throw new DomainError('UNAVAILABLE', 'the directory cannot be reached');
  throw new HttpError(401, 'authentication failed');
}

// ---------------------------------------------------------------------------------------------
// Targets

const sameOwner = (user: AccountInfo, owner: string) => user.address.toLowerCase() === owner;

/** The target a path names, or null when it does not exist (for this user). */
async function resolve(r: DavRequest, p: DavPath = r.path): Promise<Target | null> {
  const { user, deps } = r;
  switch (p.kind) {
    case 'root': return { kind: 'root' };
    case 'principals': return { kind: 'principals' };
    case 'principal': return sameOwner(user, p.owner) ? { kind: 'principal', owner: user } : null;
    case 'home': return sameOwner(user, p.owner) ? { kind: 'home', home: p.home, owner: user } : null;
    case 'collection': {
      const c = await collectionOf(r, p.home, p.owner, p.collection);
      return c ? { kind: 'collection', home: p.home, ...c } : null;
    }
    case 'resource': {
      const c = await collectionOf(r, p.home, p.owner, p.collection);
      if (!c) return null;
      const obj = await deps.dav.object(c.owner, c.coll.id, p.name);
      return obj ? { kind: 'resource', home: p.home, ...c, obj } : null;
    }
  }
}

/** Another account's collection in the user's home: "shared-<owner id>-<collection id>". */
const MOUNT = /^shared-(\d{1,15})-(\d{1,15})$/;
const mountName = (ownerId: number, collectionId: number) => `shared-${ownerId}-${collectionId}`;

/**
 * The collection a path names in the user's home: one of the user's own, or one shared with
 * the user (mounted under its mount name) with the access granted. Null when there is none.
 */
async function collectionOf(r: DavRequest, home: DavHome, ownerSeg: string, name: string): Promise<{ owner: AccountInfo; coll: CollectionInfo; share?: Mount } | null> {
  const { user, deps } = r;
  if (!sameOwner(user, ownerSeg)) return null;
  const m = MOUNT.exec(name);
  if (!m) {
    const coll = await deps.dav.collection(user, home, name);
    return coll ? { owner: user, coll } : null;
  }
  if (!deps.sharing) return null;
  const ownerId = Number(m[1]);
  const collectionId = Number(m[2]);
  const access = await deps.sharing.accessFor(user, ownerId, collectionId);
  if (!access) return null;
  const owner = await deps.directory.accountById(ownerId);
  if (!owner || !owner.enabled) return null;
  const coll = await deps.dav.collectionById(owner, collectionId);
  if (!coll || coll.home !== home) return null;
  return { owner, coll, share: { name, access } };
}

/** Refuses a change through a read-only share (RFC 3744 §7.1.1 need-privileges). */
function requireWrite(c: { share?: Mount }): void {
  if (c.share?.access === 'read') throw new HttpError(403, 'this collection is shared with you read-only', { ns: NS.DAV, name: 'need-privileges' });
}

function targetHref(t: Target, user: AccountInfo): string {
  switch (t.kind) {
    case 'root': return href.root();
    case 'principals': return href.principals();
    case 'principal': return href.principal(t.owner.address);
    case 'home': return href.home(t.home, user.address);
    case 'collection': return href.collection(t.home, user.address, t.share?.name ?? t.coll.name);
    case 'resource': return href.resource(t.home, user.address, t.share?.name ?? t.coll.name, t.obj.name);
  }
}

async function childrenOf(r: DavRequest, t: Target): Promise<Target[]> {
  const { user, deps } = r;
  switch (t.kind) {
    case 'root': return [{ kind: 'principals' }, { kind: 'principal', owner: user }, { kind: 'home', home: 'calendars', owner: user }, { kind: 'home', home: 'addressbooks', owner: user }];
    case 'principals': return [{ kind: 'principal', owner: user }];
    case 'principal': return [];
    case 'home': {
      const own: Target[] = (await deps.dav.collections(user, t.home)).map((coll) => ({ kind: 'collection', home: t.home, owner: user, coll }));
      for (const s of deps.sharing ? await deps.sharing.sharedWith(user) : []) {
        const owner = await deps.directory.accountById(s.ownerId);
        if (!owner || !owner.enabled) continue;
        const coll = await deps.dav.collectionById(owner, s.collectionId).catch(() => null);
        if (coll && coll.home === t.home) own.push({ kind: 'collection', home: t.home, owner, coll, share: { name: mountName(s.ownerId, s.collectionId), access: s.access } });
      }
      return own;
    }
    case 'collection': {
      const objs = [...(await deps.dav.listing(t.owner, t.coll)).byName.values()];
      if (objs.length > deps.maxReportResults) throw new HttpError(507, `the collection holds more than ${deps.maxReportResults} resources; use sync-collection`, { ns: NS.DAV, name: 'number-of-matches-within-limits' });
      return objs.map((obj) => ({ kind: 'resource', home: t.home, owner: t.owner, coll: t.coll, obj, ...(t.share ? { share: t.share } : {}) }));
    }
    case 'resource': return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Bodies

export function xmlBody(r: DavRequest): XmlElement | null {
  if (r.body.trim() === '') return null;
  try {
    return parseXml(r.body, { maxBytes: r.deps.maxRequestBytes, maxTextBytes: r.deps.maxRequestBytes });
  } catch (e) {
    if (e instanceof XmlError) throw new HttpError(e.reason === 'too-large' ? 413 : 400, `the XML body is not acceptable: ${e.message}`);
    throw e;
  }
}

function depthOf(req: FastifyRequest, dflt: '0' | '1'): '0' | '1' {
  const h = String(req.headers.depth ?? '').trim().toLowerCase();
  if (h === '0') return '0';
  if (h === '1' || h === 'infinity') return '1'; // infinity is answered as 1 (RFC 4918 §9.1 lets a server refuse it; clients cope with 1 better)
  if (h === '') return dflt;
  throw new HttpError(400, 'Depth must be 0, 1 or infinity');
}

function preconditions(req: FastifyRequest): { ifMatch?: string; ifNoneMatch?: string } {
  const m = req.headers['if-match'];
  const n = req.headers['if-none-match'];
  return { ...(typeof m === 'string' ? { ifMatch: m } : {}), ...(typeof n === 'string' ? { ifNoneMatch: n } : {}) };
}

function sendXml(reply: FastifyReply, status: number, xml: string): void {
  reply.code(status).header('content-type', 'application/xml; charset=utf-8').send(xml);
}

// ---------------------------------------------------------------------------------------------
// Methods

async function propfind(r: DavRequest): Promise<void> {
  const depth = depthOf(r.req, '1');
  let request;
  try {
    request = propRequestOf(xmlBody(r));
  } catch (e) {
    if (e instanceof TypeError) throw new HttpError(400, e.message);
    throw e;
  }
  const t = await resolve(r);
  if (!t) throw new HttpError(404, 'not found');
  const targets = [t, ...(depth === '1' ? await childrenOf(r, t) : [])];
  const out = [];
  for (const x of targets) out.push(await propResponse(x, targetHref(x, r.user), request, r.ctx));
  sendXml(r.reply, 207, multistatus(out));
}

async function proppatch(r: DavRequest): Promise<void> {
  const t = await resolve(r);
  if (!t) throw new HttpError(404, 'not found');
  const root = xmlBody(r);
  if (!root || root.ns !== NS.DAV || root.name !== 'propertyupdate') throw new HttpError(400, 'the body must be a DAV:propertyupdate');
  const ops: { name: string; el: XmlElement; set: boolean }[] = [];
  for (const c of root.children) {
    if (c.ns !== NS.DAV || (c.name !== 'set' && c.name !== 'remove')) continue;
    const prop = child(c, NS.DAV, 'prop');
    for (const p of prop?.children ?? []) ops.push({ name: clark(p.ns, p.name), el: p, set: c.name === 'set' });
  }
  const results = new Map<string, number>();
  const patch: CollectionPatch = { props: {} };
  for (const op of ops) {
    // The owner's properties are the owner's: a sharee may not rename or recolour them.
    if (t.kind !== 'collection' || t.share) { results.set(op.name, 403); continue; }
    const w = WRITABLE[op.name];
    if (w) {
      if (!w.kinds.includes(t.coll.kind)) { results.set(op.name, 403); continue; }
      const v = op.set ? textOf(op.el) : '';
      if (w.field === 'sortOrder') {
        const n = Number(v || 0);
        if (!Number.isSafeInteger(n)) { results.set(op.name, 409); continue; }
        patch.sortOrder = n;
      } else if (w.field === 'timezone' && op.set && v !== '' && !/^BEGIN:VCALENDAR/i.test(v)) {
        results.set(op.name, 409); continue;
      } else {
        patch[w.field] = v.slice(0, 4096);
      }
      results.set(op.name, 200);
    } else if (LIVE[op.name]) {
      results.set(op.name, 403); // protected (cannot-modify-protected-property)
    } else {
      patch.props![op.name] = op.set ? serializeXml(op.el) : null;
      results.set(op.name, 200);
    }
  }
  const failed = [...results.values()].some((s) => s !== 200);
  if (failed) {
    for (const [k, s] of results) if (s === 200) results.set(k, 424);
  } else if (t.kind === 'collection' && ops.length) {
    await r.deps.dav.updateCollection(r.user, t.coll.id, patch);
  }
  const byStatus = new Map<number, string[]>();
  for (const [k, s] of results) byStatus.set(s, [...(byStatus.get(s) ?? []), k]);
  const stats = [...byStatus].map(([s, names]) => d('propstat', [
    d('prop', names.map(splitClark)),
    d('status', statusLine(s)),
    ...(s === 403 ? [d('error', [d('cannot-modify-protected-property')])] : []),
  ]));
  sendXml(r.reply, 207, multistatus([d('response', [d('href', targetHref(t, r.user)), ...stats])]));
}

/** The collection properties of an MKCALENDAR / extended MKCOL body's DAV:set. */
function creationPatch(setProp: XmlElement | undefined): { patch: CollectionPatch; resourcetype: string[]; unsupported: string[] } {
  const patch: CollectionPatch = { props: {} };
  const resourcetype: string[] = [];
  const unsupported: string[] = [];
  for (const p of setProp?.children ?? []) {
    const name = clark(p.ns, p.name);
    if (name === clark(NS.DAV, 'resourcetype')) { for (const c of p.children) resourcetype.push(clark(c.ns, c.name)); continue; }
    if (name === clark(NS.CALDAV, 'supported-calendar-component-set')) {
      patch.components = p.children.filter((c) => c.ns === NS.CALDAV && c.name === 'comp').map((c) => c.attrs.get('name') ?? '').filter(Boolean);
      continue;
    }
    const w = WRITABLE[name];
    if (w) {
      const v = textOf(p);
      if (w.field === 'sortOrder') patch.sortOrder = Number.isSafeInteger(Number(v)) ? Number(v) : 0;
      else patch[w.field] = v.slice(0, 4096);
      continue;
    }
    if (LIVE[name]) { unsupported.push(name); continue; }
    patch.props![name] = serializeXml(p);
  }
  return { patch, resourcetype, unsupported };
}

async function mkcol(r: DavRequest, method: 'MKCOL' | 'MKCALENDAR'): Promise<void> {
  const p = r.path;
  if (p.kind !== 'collection' || !sameOwner(r.user, p.owner)) throw new HttpError(p.kind === 'collection' ? 404 : 403, 'collections can be made only in a home collection');
  if (MOUNT.test(p.collection)) throw new HttpError(403, 'names of the form shared-N-N are kept for collections shared with you');
  if (await r.deps.dav.collection(r.user, p.home, p.collection)) throw new HttpError(405, 'the collection exists already');
  const root = xmlBody(r);
  let kind: 'calendar' | 'addressbook';
  let setProp: XmlElement | undefined;
  if (method === 'MKCALENDAR') {
    if (root && (root.ns !== NS.CALDAV || root.name !== 'mkcalendar')) throw new HttpError(400, 'the body must be a CALDAV:mkcalendar');
    setProp = root ? child(child(root, NS.DAV, 'set') ?? root, NS.DAV, 'prop') : undefined;
    kind = 'calendar';
    if (p.home !== 'calendars') throw new HttpError(403, 'calendars are made in the calendar home', { ns: NS.CALDAV, name: 'calendar-collection-location-ok' });
  } else {
    if (root && (root.ns !== NS.DAV || root.name !== 'mkcol')) throw new HttpError(415, 'the body must be a DAV:mkcol (RFC 5689)');
    setProp = root ? child(child(root, NS.DAV, 'set') ?? root, NS.DAV, 'prop') : undefined;
    kind = p.home === 'calendars' ? 'calendar' : 'addressbook';
  }
  const { patch, resourcetype, unsupported } = creationPatch(setProp);
  if (method === 'MKCOL') {
    const wantsCal = resourcetype.includes(clark(NS.CALDAV, 'calendar'));
    const wantsBook = resourcetype.includes(clark(NS.CARDDAV, 'addressbook'));
    if ((wantsCal && p.home !== 'calendars') || (wantsBook && p.home !== 'addressbooks') || (!wantsCal && !wantsBook && p.home === 'calendars')) {
      throw new HttpError(403, 'only calendars in the calendar home and address books in the address book home', { ns: NS.DAV, name: 'valid-resourcetype' });
    }
  }
  if (unsupported.length) {
    const stats = [d('propstat', [d('prop', unsupported.map(splitClark)), d('status', statusLine(403))])];
    sendXml(r.reply, 403, multistatus([d('response', [d('href', hrefOf(p)), ...stats])]));
    return;
  }
  await r.deps.dav.createCollection(r.user, p.home, p.collection, kind, patch);
  r.reply.code(201).header('cache-control', 'no-cache').send();
}

async function get(r: DavRequest, head: boolean): Promise<void> {
  const t = await resolve(r);
  if (!t) throw new HttpError(404, 'not found');
  if (t.kind !== 'resource') {
    const text = `${targetHref(t, r.user)}\r\n`;
    r.reply.code(200).header('content-type', 'text/plain; charset=utf-8').send(head ? undefined : text);
    return;
  }
  const inm = r.req.headers['if-none-match'];
  if (typeof inm === 'string' && inm.split(',').map((s) => s.trim().replace(/^W\//, '')).some((s) => s === '*' || s === t.obj.etag)) {
    r.reply.code(304).header('etag', t.obj.etag).send();
    return;
  }
  r.reply.code(200)
    .header('content-type', t.obj.component === 'VCARD' ? 'text/vcard; charset=utf-8' : 'text/calendar; charset=utf-8')
    .header('etag', t.obj.etag)
    .header('last-modified', new Date(t.obj.updatedAt).toUTCString())
    .header('content-length', String(Buffer.byteLength(t.obj.data)))
    .send(head ? undefined : t.obj.data);
}

function checkContentType(req: FastifyRequest, home: DavHome): void {
  const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (ct === '' || ct === 'application/octet-stream') return;
  const ok = home === 'calendars' ? ['text/calendar'] : ['text/vcard', 'text/x-vcard', 'text/directory'];
  if (!ok.includes(ct)) {
    throw new HttpError(415, `${ct} is not accepted here; send ${ok[0]}`);
  }
}

async function put(r: DavRequest): Promise<void> {
  const p = r.path;
  if (p.kind !== 'resource') throw new HttpError(p.kind === 'collection' ? 405 : 403, 'PUT creates resources inside a calendar or address book');
  if (!sameOwner(r.user, p.owner)) throw new HttpError(404, 'not found');
  const c = await collectionOf(r, p.home, p.owner, p.collection);
  if (!c) throw new HttpError(409, 'the collection does not exist');
  requireWrite(c);
  const { owner, coll } = c;
  checkContentType(r.req, p.home);
  const before = r.deps.scheduler && coll.kind === 'calendar' ? await r.deps.dav.object(owner, coll.id, p.name) : null;
  const res = await r.deps.dav.put(owner, coll, p.name, r.body, preconditions(r.req));
  // Scheduling runs after the change committed, for the calendar's owner; it may rewrite the
  // copy (SCHEDULE-STATUS).
  const sched = r.deps.scheduler ? await r.deps.scheduler.afterPut(owner, coll, p.name, before?.data ?? null, res.object.data) : { rewritten: false };
  // The ETag only when the stored bytes are the ones sent (RFC 4791 §5.3.4).
  if (res.object.data === r.body && !sched.rewritten) r.reply.header('etag', res.etag);
  r.reply.code(res.created ? 201 : 204).send();
}

async function del(r: DavRequest): Promise<void> {
  const t = await resolve(r);
  if (!t) throw new HttpError(404, 'not found');
  if (t.kind === 'resource') {
    requireWrite(t);
    await r.deps.dav.delete(t.owner, t.coll.id, t.obj.name, preconditions(r.req));
    await r.deps.scheduler?.afterDelete(t.owner, t.coll, t.obj.data);
  } else if (t.kind === 'collection' && t.share) {
    throw new HttpError(403, 'a collection shared with you is removed by its owner');
  } else if (t.kind === 'collection') {
    const pre = preconditions(r.req);
    if (pre.ifMatch && pre.ifMatch !== '*') throw new DomainError('PRECONDITION_FAILED', 'collections have no ETag');
    // The meetings in a calendar go with it: read them first, so that their attendees hear of
    // it (CANCEL where the user organises, a decline where the user attends) once it is gone.
    const meetings = r.deps.scheduler && t.coll.kind === 'calendar' ? await r.deps.dav.objects(r.user, t.coll.id, { withData: true }) : [];
    await r.deps.dav.deleteCollection(r.user, t.coll.id);
    await r.deps.sharing?.forget(r.user.id, t.coll.id);
    for (const m of meetings) await r.deps.scheduler!.afterDelete(r.user, t.coll, m.data);
  } else throw new HttpError(403, 'this resource cannot be deleted');
  r.reply.code(204).send();
}

async function transfer(r: DavRequest, op: 'move' | 'copy'): Promise<void> {
  const t = await resolve(r);
  if (!t) throw new HttpError(404, 'not found');
  if (t.kind !== 'resource') throw new HttpError(403, `${op.toUpperCase()} is supported for calendar objects and vCards, not for collections`);
  const destHeader = r.req.headers.destination;
  const destPath = typeof destHeader === 'string' ? pathOfHref(destHeader) : null;
  if (!destPath) throw new HttpError(400, 'a Destination header is needed');
  let dp: DavPath | null;
  try {
    dp = parseDavPath(destPath);
  } catch (e) {
    if (e instanceof BadPath) throw new HttpError(400, e.message);
    throw e;
  }
  if (!dp || dp.kind !== 'resource' || !sameOwner(r.user, dp.owner) || dp.home !== t.home) throw new HttpError(403, 'the destination must be a resource in another collection of the same kind');
  const dest = await collectionOf(r, dp.home, dp.owner, dp.collection);
  if (!dest) throw new HttpError(409, 'the destination collection does not exist');
  if (dest.owner.id !== t.owner.id) throw new HttpError(403, 'resources move and copy between collections of one owner only');
  requireWrite(dest);
  if (op === 'move') requireWrite(t);
  const overwrite = String(r.req.headers.overwrite ?? 'T').trim().toUpperCase() !== 'F';
  const res = await r.deps.dav.transfer(t.owner, op, { collection: t.coll, name: t.obj.name }, { collection: dest.coll, name: dp.name }, { overwrite, pre: preconditions(r.req) });
  r.reply.code(res.created ? 201 : 204).send();
}

/**
 * POST to one's own calendar or address book: sharing it, in CalendarServer's form
 * (CS:share with CS:set / CS:remove, what Apple clients send) or the WebDAV resource-sharing
 * draft's (DAV:share-resource with DAV:sharee and DAV:share-access). Shares take effect at
 * once (no invitation to accept).
 */
async function sharePost(r: DavRequest): Promise<void> {
  const t = await resolve(r);
  if (!t || t.kind !== 'collection') throw new HttpError(404, 'not found');
  if (!r.deps.sharing || t.share || (t.coll.kind !== 'calendar' && t.coll.kind !== 'addressbook') || t.coll.id === GAL_ID) {
    throw new HttpError(403, 'only your own calendars and address books can be shared');
  }
  const root = xmlBody(r);
  if (!root) throw new HttpError(400, 'a sharing request needs a body');
  const changes: { who: string; access: 'read' | 'read-write' | null }[] = [];
  if (root.ns === NS.CS && root.name === 'share') {
    for (const c of root.children) {
      if (c.ns !== NS.CS || (c.name !== 'set' && c.name !== 'remove')) continue;
      const h = child(c, NS.DAV, 'href');
      if (!h) throw new HttpError(400, `CS:${c.name} needs a DAV:href`);
      changes.push({ who: textOf(h), access: c.name === 'remove' ? null : child(c, NS.CS, 'read-write') ? 'read-write' : 'read' });
    }
  } else if (root.ns === NS.DAV && root.name === 'share-resource') {
    for (const c of root.children) {
      if (c.ns !== NS.DAV || c.name !== 'sharee') continue;
      const h = child(c, NS.DAV, 'href');
      const a = child(c, NS.DAV, 'share-access');
      if (!h || !a) throw new HttpError(400, 'DAV:sharee needs DAV:href and DAV:share-access');
      const access = child(a, NS.DAV, 'read-write') ? 'read-write' : child(a, NS.DAV, 'read') ? 'read' : child(a, NS.DAV, 'no-access') ? null : undefined;
      if (access === undefined) throw new HttpError(400, 'DAV:share-access must be read, read-write or no-access');
      changes.push({ who: textOf(h), access });
    }
  } else {
    throw new HttpError(400, 'the body must be a CS:share or a DAV:share-resource');
  }
  if (changes.length === 0 || changes.length > 100) throw new HttpError(400, 'name 1 to 100 sharees');
  for (const ch of changes) await r.deps.sharing.share(r.user, t.coll, ch.who, ch.access);
  r.reply.code(200).header('content-length', '0').send();
}

/** POST to the scheduling outbox: a free/busy request for other calendar users (RFC 6638 §5.1). */
async function outboxPost(r: DavRequest): Promise<void> {
  const p = r.path;
  if (p.kind !== 'collection' || p.home !== 'calendars' || !sameOwner(r.user, p.owner) || p.collection !== 'outbox' || !r.deps.scheduler) {
    throw new HttpError(405, 'POST is accepted by the scheduling outbox only');
  }
  const ct = String(r.req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (ct !== 'text/calendar') throw new HttpError(415, 'a scheduling request is text/calendar');
  let fbr;
  try {
    fbr = parseFreeBusyRequest(r.body);
  } catch (e) {
    if (e instanceof TypeError) throw new HttpError(400, e.message, { ns: NS.CALDAV, name: 'valid-scheduling-message' });
    throw e;
  }
  if (!(await r.deps.scheduler.isOwn(r.user, fbr.organizer))) throw new HttpError(403, 'the ORGANIZER must be the requesting user', { ns: NS.CALDAV, name: 'organizer-allowed' });
  const responses = [];
  for (const who of fbr.attendees) {
    const busy = await r.deps.scheduler.busyTimes(who, { start: fbr.start, end: fbr.end });
    const recipient = x(NS.CALDAV, 'recipient', [d('href', `mailto:${who}`)]);
    if (!busy) {
      responses.push(x(NS.CALDAV, 'response', [recipient, x(NS.CALDAV, 'request-status', '3.7;Invalid calendar user')]));
      continue;
    }
    const data = freeBusyToICalendar(busy, { start: fbr.start, end: fbr.end }, { method: 'REPLY', dtstamp: Date.now(), uid: fbr.uid || undefined, organizer: `mailto:${fbr.organizer}`, attendee: `mailto:${who}` });
    responses.push(x(NS.CALDAV, 'response', [recipient, x(NS.CALDAV, 'request-status', '2.0;Success'), x(NS.CALDAV, 'calendar-data', data)]));
  }
  sendXml(r.reply, 200, serializeXml(x(NS.CALDAV, 'schedule-response', responses)));
}

function options(reply: FastifyReply): void {
  reply.code(200).header('dav', DAV_CLASSES).header('allow', ALLOW).header('ms-author-via', 'DAV').header('content-length', '0').send();
}

// ---------------------------------------------------------------------------------------------
// Errors

function conditionNs(home: DavHome | undefined): string {
  return home === 'addressbooks' ? NS.CARDDAV : NS.CALDAV;
}

function sendError(deps: DavDeps, reply: FastifyReply, req: FastifyRequest, e: unknown, home: DavHome | undefined, secure: boolean): void {
  if (e instanceof HttpError) {
    if (e.status === 401) {
      reply.header('www-authenticate', 'Basic realm="Bulwark", charset="UTF-8"');
    }
    deps.log.debug({ method: req.method, path: req.url, status: e.status, reason: e.message }, 'dav.refused');
    if (e.condition) { sendXml(reply, e.status, errorBody(e.condition.ns, e.condition.name)); return; }
    reply.code(e.status).header('content-type', 'text/plain; charset=utf-8').send(`${e.message}\n`);
    return;
  }
  if (e instanceof ResourceError) {
    deps.log.info({ method: req.method, path: req.url, condition: e.condition, reason: e.detail }, 'dav.refused');
    const ns = e.condition === 'no-uid-conflict' || e.condition === 'max-resource-size' || e.condition.startsWith('valid-') || e.condition.startsWith('supported-') ? conditionNs(home) : NS.DAV;
    const name = e.condition === 'max-resources' ? 'number-of-resources-within-limits' : e.condition;
    const content = e.condition === 'no-uid-conflict' && e.href ? [d('href', e.href)] : undefined;
    sendXml(reply, e.condition === 'max-resources' ? 507 : 403, errorBody(ns, name, content));
    return;
  }
  if (e instanceof DomainError) {
    // The catalogue's status, except that a name taken is 405 in WebDAV (RFC 4918 §9.3.1).
    const status = e.code === 'ALREADY_EXISTS' ? 405 : ERROR_CODES[e.code].http;
    if (status >= 500 && status !== 503 && status !== 507) deps.log.error({ err: e, method: req.method, path: req.url }, 'dav.error');
    else deps.log.info({ method: req.method, path: req.url, status, reason: e.detail || e.message }, 'dav.refused');
    if (status === 503) reply.header('retry-after', '30');
    if (e.code === 'QUOTA_EXCEEDED') { sendXml(reply, 507, errorBody(NS.DAV, 'quota-not-exceeded')); return; }
    reply.code(status).header('content-type', 'text/plain; charset=utf-8').send(`${status >= 500 && status !== 503 && status !== 507 ? 'internal error' : e.message}\n`);
    return;
  }
  deps.log.error({ err: e, method: req.method, path: req.url, secure }, 'dav.error');
  reply.code(500).header('content-type', 'text/plain; charset=utf-8').send('internal error\n');
}

// ---------------------------------------------------------------------------------------------

/** Registers the DAV routes on an HTTP(S) server. `secure`: the listener is HTTPS. */
export function registerDav(app: FastifyInstance, deps: DavDeps, secure: boolean): void {
  const cache = new LoginCache();
  for (const m of DAV_METHODS) {
    if (!app.supportedMethods.includes(m)) app.addHttpMethod(m, { hasBody: true });
  }
  app.register(async (inst) => {
    inst.removeAllContentTypeParsers();
    inst.addContentTypeParser('*', { parseAs: 'string', bodyLimit: deps.maxRequestBytes }, (_req, body, done) => done(null, body));
    // RFC 6764 §5: the context path, whatever the request; a client's PROPFIND carries its
    // XML body here too (so these routes take the DAV body parser, not the HTTP server's).
    for (const wk of ['caldav', 'carddav']) {
      inst.route({ method: ['GET', 'HEAD', 'PROPFIND', 'OPTIONS'], url: `/.well-known/${wk}`, handler: async (_req, reply) => {
        reply.code(301).header('location', href.root()).send();
      } });
    }
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const pathname = (req.url.split('?')[0]) || '/';
      let path: DavPath | null;
      try {
        path = parseDavPath(pathname);
      } catch (e) {
        if (e instanceof BadPath) { reply.code(400).send(`${e.message}\n`); return; }
        throw e;
      }
      if (!path) { reply.code(404).send('not found\n'); return; }
      if (req.method === 'OPTIONS') { options(reply); return; }
      const home = 'home' in path ? path.home : undefined;
      try {
        const user = await authenticate(deps, cache, req, secure);
        let usage: Promise<{ used: number; quota: number }> | undefined;
        const r: DavRequest = {
          req, reply, user, path, deps, body: typeof req.body === 'string' ? req.body : '',
          ctx: { user, sharing: deps.sharing, limits: { maxResourceBytes: deps.dav.limits.maxResourceBytes }, usage: () => (usage ??= deps.dav.usage(user)) },
        };
        switch (req.method) {
          case 'PROPFIND': return await propfind(r);
          case 'PROPPATCH': return await proppatch(r);
          case 'MKCOL': return await mkcol(r, 'MKCOL');
          case 'MKCALENDAR': return await mkcol(r, 'MKCALENDAR');
          case 'GET': return await get(r, false);
          case 'HEAD': return await get(r, true);
          case 'PUT': return await put(r);
          case 'POST': return await (r.path.kind === 'collection' && r.path.collection !== 'outbox' ? sharePost(r) : outboxPost(r));
          case 'DELETE': return await del(r);
          case 'MOVE': return await transfer(r, 'move');
          case 'COPY': return await transfer(r, 'copy');
          case 'REPORT': {
            const t = await resolve(r);
            if (!t) throw new HttpError(404, 'not found');
            return await runReport(r, t, { resolve: (p) => resolve(r, p), targetHref: (x) => targetHref(x, r.user), depth: depthOf(req, '0') });
          }
          default: throw new HttpError(405, 'method not allowed');
        }
      } catch (e) {
        sendError(deps, reply, req, e, home, secure);
      }
    };
    inst.route({ method: ['OPTIONS', 'GET', 'HEAD', 'PUT', 'DELETE', ...DAV_METHODS], url: '/dav', handler });
    inst.route({ method: ['OPTIONS', 'GET', 'HEAD', 'PUT', 'POST', 'DELETE', ...DAV_METHODS], url: '/dav/*', handler });
  });
}

export type { CollectionInfo };
