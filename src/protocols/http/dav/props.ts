/**
 * WebDAV properties: which live properties each kind of resource has, how each is computed,
 * which of them a client may change (PROPPATCH), and which an allprop PROPFIND includes.
 * Names are '{namespace}local' (Clark notation), as the XML layer gives them.
 *
 * RFC 4918 §15 (DAV:), RFC 3744 (current-user-privilege-set, owner, principal-URL),
 * RFC 5397 (current-user-principal), RFC 4791 §5.2 and §6.2 (CalDAV), RFC 6638 §2 and §9
 * (scheduling), RFC 6352 §6.2 and §7.1 (CardDAV), RFC 6578 (sync-token), RFC 4331 (quota),
 * and the CalendarServer / Apple extensions clients rely on (getctag, calendar-color,
 * calendar-order).
 */
import type { AccountInfo } from '../../../core/directory/directory.ts';
import type { CollectionInfo, DavHome, DavObject } from '../../../core/dav/store.ts';
import type { DavAccess, DavSharing } from '../../../core/dav/sharing.ts';
import { NS, type XmlNode } from '../../../lib/xml.ts';
import { href } from './paths.ts';
import { GAL_ID } from '../../../core/dav/gal.ts';

export type Target =
  | { kind: 'root' }
  | { kind: 'principals' }
  | { kind: 'principal'; owner: AccountInfo }
  | { kind: 'home'; home: DavHome; owner: AccountInfo }
  | { kind: 'collection'; home: DavHome; owner: AccountInfo; coll: CollectionInfo; share?: Mount }
  | { kind: 'resource'; home: DavHome; owner: AccountInfo; coll: CollectionInfo; obj: DavObject; share?: Mount };

/** Another account's collection as it appears in the user's home: its name there and the access granted. */
export interface Mount {
  name: string;
  access: DavAccess;
}

export interface PropContext {
  user: AccountInfo;
  sharing?: DavSharing;
  /** Lazily read quota figures (one store read per request at most). */
  usage(): Promise<{ used: number; quota: number }>;
  limits: { maxResourceBytes: number };
}

export function x(ns: string, name: string, content?: XmlNode[] | string, attrs?: Record<string, string>): XmlNode {
  // Without spreads of temporary objects: answers are made of thousands of these.
  const node: { ns: string; name: string; attrs?: Record<string, string>; text?: string; children?: XmlNode[] } = { ns, name };
  if (attrs) node.attrs = attrs;
  if (typeof content === 'string') node.text = content;
  else if (content) node.children = content;
  return node;
}
export const d = (name: string, content?: XmlNode[] | string) => x(NS.DAV, name, content);
const cal = (name: string, content?: XmlNode[] | string) => x(NS.CALDAV, name, content);
const card = (name: string, content?: XmlNode[] | string) => x(NS.CARDDAV, name, content);
export const hrefNode = (h: string) => d('href', h);

export const clark = (ns: string, name: string) => `{${ns}}${name}`;
const SPLIT = new Map<string, { ns: string; name: string }>();

/** '{ns}name' -> its parts (kept for the names seen most: the same few, again and again). */
export function splitClark(key: string): { readonly ns: string; readonly name: string } {
  let parts = SPLIT.get(key);
  if (parts) return parts;
  const close = key.startsWith('{') ? key.indexOf('}') : -1;
  parts = close > 0 && close < key.length - 1 ? { ns: key.slice(1, close), name: key.slice(close + 1) } : { ns: '', name: key };
  if (SPLIT.size < 1024) SPLIT.set(key, parts);
  return parts;
}

type Getter = (t: Target, c: PropContext) => XmlNode[] | string | null | Promise<XmlNode[] | string | null>;

const PRIVILEGES_ALL = () => [d('privilege', [d('all')]), d('privilege', [d('read')]), d('privilege', [d('write')]), d('privilege', [d('write-properties')]),
  d('privilege', [d('write-content')]), d('privilege', [d('bind')]), d('privilege', [d('unbind')]), d('privilege', [d('read-current-user-privilege-set')]),
  d('privilege', [cal('read-free-busy')])];

const ownerOf = (t: Target): AccountInfo | null => ('owner' in t ? t.owner : null);
/** Calendars and address books of one's own can be shared; the inbox, the outbox and the GAL cannot. */
const shareable = (t: Extract<Target, { kind: 'collection' }>) => (t.coll.kind === 'calendar' || t.coll.kind === 'addressbook') && t.coll.id !== GAL_ID;

function resourcetype(t: Target): XmlNode[] {
  switch (t.kind) {
    case 'root': case 'principals': case 'home': return [d('collection')];
    case 'principal': return [d('collection'), d('principal')];
    case 'collection':
      if (t.coll.kind === 'calendar') return [d('collection'), cal('calendar')];
      if (t.coll.kind === 'addressbook') return [d('collection'), card('addressbook')];
      if (t.coll.kind === 'inbox') return [d('collection'), cal('schedule-inbox')];
      return [d('collection'), cal('schedule-outbox')];
    case 'resource': return [];
  }
}

function contentType(o: DavObject): string {
  return o.component === 'VCARD' ? 'text/vcard; charset=utf-8' : `text/calendar; charset=utf-8; component=${o.component.toLowerCase()}`;
}

const isCal = (t: Target) => t.kind === 'collection' && (t.coll.kind === 'calendar' || t.coll.kind === 'inbox' || t.coll.kind === 'outbox');
const isBook = (t: Target) => t.kind === 'collection' && t.coll.kind === 'addressbook';
const collOf = (t: Target): CollectionInfo | null => (t.kind === 'collection' || t.kind === 'resource' ? t.coll : null);

export function syncToken(c: CollectionInfo): string {
  return `urn:bulwark:sync:${c.id}:${c.modseq}`;
}
export function parseSyncToken(token: string): { collection: number; modseq: number } | null {
  const m = /^urn:bulwark:sync:(\d{1,15}):(\d{1,15})$/.exec(token.trim());
  return m ? { collection: Number(m[1]), modseq: Number(m[2]) } : null;
}

function reports(t: Target): XmlNode[] {
  const r = (ns: string, name: string) => d('supported-report', [d('report', [x(ns, name)])]);
  const out = [r(NS.DAV, 'principal-property-search'), r(NS.DAV, 'principal-search-property-set')];
  if (t.kind === 'collection' || t.kind === 'resource') out.push(r(NS.DAV, 'sync-collection'));
  if (t.kind === 'collection' && t.coll.kind === 'calendar') out.push(r(NS.CALDAV, 'calendar-query'), r(NS.CALDAV, 'calendar-multiget'), r(NS.CALDAV, 'free-busy-query'));
  if (t.kind === 'collection' && t.coll.kind === 'inbox') out.push(r(NS.CALDAV, 'calendar-query'), r(NS.CALDAV, 'calendar-multiget'));
  if (t.kind === 'collection' && t.coll.kind === 'addressbook') out.push(r(NS.CARDDAV, 'addressbook-query'), r(NS.CARDDAV, 'addressbook-multiget'));
  return out;
}

const httpDate = (ms: number) => new Date(ms).toUTCString();

/** The live properties: name -> getter. A getter answering null means "not on this resource" (404 in the propstat). */
export const LIVE: Record<string, Getter> = {
  [clark(NS.DAV, 'resourcetype')]: async (t, c) => {
    const rt = resourcetype(t);
    if (t.kind !== 'collection') return rt;
    if (t.share) return [...rt, x(NS.CS, 'shared')];
    return shareable(t) && c.sharing && (await c.sharing.grants(t.owner.id, t.coll.id)).length ? [...rt, x(NS.CS, 'shared-owner')] : rt;
  },
  // CalendarServer sharing (caldav-sharing.txt): what the owner may do and whom it has shared with.
  [clark(NS.CS, 'allowed-sharing-modes')]: (t) => (t.kind === 'collection' && !t.share && shareable(t) ? [x(NS.CS, 'can-be-shared')] : null),
  [clark(NS.CS, 'invite')]: async (t, c) => {
    if (t.kind !== 'collection' || t.share || !shareable(t) || !c.sharing) return null;
    return (await c.sharing.grants(t.owner.id, t.coll.id)).map((g) => x(NS.CS, 'user', [
      hrefNode(`mailto:${g.grantee}`), x(NS.CS, 'invite-accepted'), x(NS.CS, 'access', [x(NS.CS, g.access === 'read-write' ? 'read-write' : 'read')]),
    ]));
  },
  [clark(NS.CS, 'shared-url')]: (t) => (t.kind === 'collection' && t.share ? [hrefNode(href.collection(t.home, t.owner.address, t.coll.name))] : null),
  [clark(NS.DAV, 'displayname')]: (t) => {
    if (t.kind === 'principal') return t.owner.displayName || t.owner.address;
    if (t.kind === 'collection') {
      const n = t.coll.displayName || t.coll.name;
      return t.share ? `${n} (${t.owner.displayName || t.owner.address})` : n;
    }
    if (t.kind === 'home') return t.home === 'calendars' ? 'Calendars' : 'Address books';
    return null;
  },
  [clark(NS.DAV, 'current-user-principal')]: (_t, c) => [hrefNode(href.principal(c.user.address))],
  [clark(NS.DAV, 'principal-URL')]: (t) => (t.kind === 'principal' ? [hrefNode(href.principal(t.owner.address))] : null),
  [clark(NS.DAV, 'principal-collection-set')]: () => [hrefNode(href.principals())],
  [clark(NS.DAV, 'owner')]: (t) => { const o = ownerOf(t); return o ? [hrefNode(href.principal(o.address))] : null; },
  [clark(NS.DAV, 'group-membership')]: (t) => (t.kind === 'principal' ? [] : null),
  [clark(NS.DAV, 'current-user-privilege-set')]: (t) => (t.kind === 'root' || t.kind === 'principals' || ((t.kind === 'collection' || t.kind === 'resource') && (t.coll.id === GAL_ID || t.share?.access === 'read'))
    ? [d('privilege', [d('read')]), d('privilege', [d('read-current-user-privilege-set')]), d('privilege', [cal('read-free-busy')])]
    : PRIVILEGES_ALL()),
  [clark(NS.DAV, 'supported-report-set')]: (t) => reports(t),
  [clark(NS.DAV, 'getetag')]: (t) => (t.kind === 'resource' ? t.obj.etag : null),
  [clark(NS.DAV, 'getcontenttype')]: (t) => (t.kind === 'resource' ? contentType(t.obj) : null),
  [clark(NS.DAV, 'getcontentlength')]: (t) => (t.kind === 'resource' ? String(t.obj.size) : null),
  [clark(NS.DAV, 'getlastmodified')]: (t) => (t.kind === 'resource' ? httpDate(t.obj.updatedAt) : null),
  [clark(NS.DAV, 'creationdate')]: (t) => (t.kind === 'collection' ? new Date(t.coll.createdAt).toISOString() : null),
  [clark(NS.DAV, 'sync-token')]: (t) => (t.kind === 'collection' ? syncToken(t.coll) : null),
  [clark(NS.CS, 'getctag')]: (t) => (t.kind === 'collection' ? syncToken(t.coll) : null),
  [clark(NS.DAV, 'quota-used-bytes')]: async (t, c) => (t.kind === 'home' || t.kind === 'collection' ? String((await c.usage()).used) : null),
  [clark(NS.DAV, 'quota-available-bytes')]: async (t, c) => {
    if (t.kind !== 'home' && t.kind !== 'collection') return null;
    const u = await c.usage();
    return u.quota > 0 ? String(Math.max(0, u.quota - u.used)) : null;
  },
  // principals (RFC 4791 §6.2.1, RFC 6352 §7.1.1, RFC 6638 §2.1-2.4)
  [clark(NS.CALDAV, 'calendar-home-set')]: (t) => (t.kind === 'principal' ? [hrefNode(href.home('calendars', t.owner.address))] : null),
  [clark(NS.CARDDAV, 'addressbook-home-set')]: (t) => (t.kind === 'principal' ? [hrefNode(href.home('addressbooks', t.owner.address))] : null),
  [clark(NS.CALDAV, 'calendar-user-address-set')]: (t) => (t.kind === 'principal'
    ? [hrefNode(`mailto:${t.owner.address}`), hrefNode(href.principal(t.owner.address))] : null),
  [clark(NS.CALDAV, 'calendar-user-type')]: (t) => (t.kind === 'principal' ? t.owner.kind.toUpperCase() : null),
  [clark(NS.CALDAV, 'schedule-inbox-URL')]: (t) => (t.kind === 'principal' ? [hrefNode(href.collection('calendars', t.owner.address, 'inbox'))] : null),
  [clark(NS.CALDAV, 'schedule-outbox-URL')]: (t) => (t.kind === 'principal' ? [hrefNode(href.collection('calendars', t.owner.address, 'outbox'))] : null),
  [clark(NS.CS, 'email-address-set')]: (t) => (t.kind === 'principal' ? [x(NS.CS, 'email-address', t.owner.address)] : null),
  // calendars (RFC 4791 §5.2)
  [clark(NS.CALDAV, 'calendar-description')]: (t) => (t.kind === 'collection' && t.coll.kind === 'calendar' ? t.coll.description : null),
  [clark(NS.CALDAV, 'calendar-timezone')]: (t) => (t.kind === 'collection' && t.coll.kind === 'calendar' && t.coll.timezone ? t.coll.timezone : null),
  [clark(NS.CALDAV, 'supported-calendar-component-set')]: (t) => (isCal(t) ? collOf(t)!.components.map((c) => x(NS.CALDAV, 'comp', undefined, { name: c })) : null),
  [clark(NS.CALDAV, 'supported-calendar-data')]: (t) => (isCal(t) ? [x(NS.CALDAV, 'calendar-data', undefined, { 'content-type': 'text/calendar', version: '2.0' })] : null),
  [clark(NS.CALDAV, 'max-resource-size')]: (t, c) => (isCal(t) ? String(c.limits.maxResourceBytes) : null),
  [clark(NS.CALDAV, 'schedule-calendar-transp')]: (t) => (t.kind === 'collection' && t.coll.kind === 'calendar' ? [cal('opaque')] : null),
  [clark(NS.CALDAV, 'schedule-default-calendar-URL')]: (t) => (t.kind === 'collection' && t.coll.kind === 'inbox' ? [hrefNode(href.collection('calendars', t.owner.address, 'calendar'))] : null),
  [clark(NS.APPLE, 'calendar-color')]: (t) => (t.kind === 'collection' && t.coll.kind === 'calendar' && t.coll.color ? t.coll.color : null),
  [clark(NS.APPLE, 'calendar-order')]: (t) => (t.kind === 'collection' && t.coll.kind === 'calendar' ? String(t.coll.sortOrder) : null),
  // address books (RFC 6352 §6.2)
  [clark(NS.CARDDAV, 'addressbook-description')]: (t) => (isBook(t) ? collOf(t)!.description : null),
  [clark(NS.CARDDAV, 'supported-address-data')]: (t) => (isBook(t)
    ? [x(NS.CARDDAV, 'address-data-type', undefined, { 'content-type': 'text/vcard', version: '3.0' }), x(NS.CARDDAV, 'address-data-type', undefined, { 'content-type': 'text/vcard', version: '4.0' })] : null),
  [clark(NS.CARDDAV, 'max-resource-size')]: (t, c) => (isBook(t) ? String(c.limits.maxResourceBytes) : null),
};

/** allprop (RFC 4918 §9.1; RFC 4791 and 6352 leave their properties out of it). */
export const ALLPROP = ['resourcetype', 'displayname', 'getetag', 'getcontenttype', 'getcontentlength', 'getlastmodified', 'creationdate'].map((n) => clark(NS.DAV, n));

/** Properties a client may set or remove on a collection, with how each maps onto the store. */
export const WRITABLE: Record<string, { field: 'displayName' | 'description' | 'color' | 'sortOrder' | 'timezone'; kinds: CollectionInfo['kind'][] }> = {
  [clark(NS.DAV, 'displayname')]: { field: 'displayName', kinds: ['calendar', 'addressbook', 'inbox', 'outbox'] },
  [clark(NS.CALDAV, 'calendar-description')]: { field: 'description', kinds: ['calendar'] },
  [clark(NS.CARDDAV, 'addressbook-description')]: { field: 'description', kinds: ['addressbook'] },
  [clark(NS.CALDAV, 'calendar-timezone')]: { field: 'timezone', kinds: ['calendar'] },
  [clark(NS.APPLE, 'calendar-color')]: { field: 'color', kinds: ['calendar'] },
  [clark(NS.APPLE, 'calendar-order')]: { field: 'sortOrder', kinds: ['calendar'] },
};
