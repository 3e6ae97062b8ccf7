/**
 * The URL space of the DAV server, in one place (parse and build are inverses):
 *
 *   /dav/                                   root (current-user-principal leads on)
 *   /dav/principals/                        the principal collection
 *   /dav/principals/<address>/              an account's principal
 *   /dav/calendars/<address>/               calendar home (calendars, task lists, scheduling inbox/outbox)
 *   /dav/calendars/<address>/<coll>/        a calendar
 *   /dav/calendars/<address>/<coll>/<res>   a calendar object resource
 *   /dav/addressbooks/<address>/...         the same for address books and vCards
 *
 * Segments are percent-decoded once; a segment that does not decode, or decodes to a
 * slash, a control character or a dot segment, is refused (400) instead of being guessed at.
 */
import type { DavHome } from '../../../core/dav/store.ts';

export const DAV_ROOT = '/dav/';

export type DavPath =
  | { kind: 'root' }
  | { kind: 'principals' }
  | { kind: 'principal'; owner: string }
  | { kind: 'home'; home: DavHome; owner: string }
  | { kind: 'collection'; home: DavHome; owner: string; collection: string }
  | { kind: 'resource'; home: DavHome; owner: string; collection: string; name: string };

export class BadPath extends Error {}

const PLAIN_SEGMENT = /^[A-Za-z0-9_~@-][A-Za-z0-9_.~@-]*$/;

function decode(seg: string): string {
  if (PLAIN_SEGMENT.test(seg)) return seg; // nothing encoded, nothing refused: most segments
  let s: string;
  try {
    s = decodeURIComponent(seg);
  } catch {
    throw new BadPath('a path segment is not valid percent-encoding');
  }
  if (s === '' || s === '.' || s === '..' || /[/\\\u0000-\u001f\u007f]/.test(s) || !s.isWellFormed()) throw new BadPath('a path segment holds characters that are not allowed');
  return s;
}

/** Parses a request path (no query); null when it is not under /dav/. */
export function parseDavPath(pathname: string): DavPath | null {
  if (pathname === '/dav') return { kind: 'root' };
  if (!pathname.startsWith(DAV_ROOT)) return null;
  const raw = pathname.slice(DAV_ROOT.length).split('/');
  if (raw.length && raw[raw.length - 1] === '') raw.pop();
  if (raw.some((s) => s === '')) throw new BadPath('empty path segment');
  const segs = raw.map(decode);
  if (segs.length === 0) return { kind: 'root' };
  const [top, owner, collection, name, ...rest] = segs;
  if (rest.length) return null;
  if (top === 'principals') {
    if (!owner) return { kind: 'principals' };
    return collection ? null : { kind: 'principal', owner: owner.toLowerCase() };
  }
  if (top !== 'calendars' && top !== 'addressbooks') return null;
  const home = top as DavHome;
  if (!owner) return null;
  const o = owner.toLowerCase();
  if (!collection) return { kind: 'home', home, owner: o };
  if (!name) return { kind: 'collection', home, owner: o, collection };
  return { kind: 'resource', home, owner: o, collection, name };
}

// Names made only of characters encodeURIComponent keeps (and '@') are their own encoding: most are.
const PLAIN = /^[A-Za-z0-9_.~@-]*$/;
/** One path segment as it appears in an href. */
export const encodeSegment = (s: string): string => (PLAIN.test(s) ? s : encodeURIComponent(s).replace(/%40/g, '@'));

const enc = encodeSegment;

export const href = {
  root: () => DAV_ROOT,
  principals: () => `${DAV_ROOT}principals/`,
  principal: (owner: string) => `${DAV_ROOT}principals/${enc(owner)}/`,
  home: (home: DavHome, owner: string) => `${DAV_ROOT}${home}/${enc(owner)}/`,
  collection: (home: DavHome, owner: string, collection: string) => `${DAV_ROOT}${home}/${enc(owner)}/${enc(collection)}/`,
  resource: (home: DavHome, owner: string, collection: string, name: string) => `${DAV_ROOT}${home}/${enc(owner)}/${enc(collection)}/${enc(name)}`,
};

export function hrefOf(p: DavPath): string {
  switch (p.kind) {
    case 'root': return href.root();
    case 'principals': return href.principals();
    case 'principal': return href.principal(p.owner);
    case 'home': return href.home(p.home, p.owner);
    case 'collection': return href.collection(p.home, p.owner, p.collection);
    case 'resource': return href.resource(p.home, p.owner, p.collection, p.name);
  }
}

/**
 * An href from a request body or a Destination header: an absolute URL (its host is not
 * checked: a proxy may have rewritten it) or an absolute path. Returns the path, or null.
 */
export function pathOfHref(value: string): string | null {
  const v = value.trim();
  if (v.startsWith('/')) return v.split('?')[0];
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.pathname : null;
  } catch {
    return null;
  }
}
