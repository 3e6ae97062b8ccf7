/**
 * The global address list (issue 5 point 5): a read-only address book in every account's
 * address book home, named `gal`, with a vCard for every enabled account and every public
 * list of the account's domain. It is made from the directory when read, so it is always as
 * current as the directory; nothing is stored. Its sync token is a digest of its content:
 * a client whose token is not the current one is told to sync afresh (RFC 6578
 * valid-sync-token), which costs one listing.
 */
import crypto from 'node:crypto';
import type { AccountKind } from '../directory/directory.ts';
import type { CollectionInfo, DavObject } from './store.ts';

export const GAL_NAME = 'gal';
/** Collection ids come from the account's id sequence, which starts at 1: 0 is free for the virtual one. */
export const GAL_ID = 0;

export interface DomainListing {
  accounts: { id: number; address: string; displayName: string; kind: AccountKind }[];
  lists: { id: number; address: string; description: string }[];
}

const esc = (s: string) => s.replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\r?\n/g, '\\n');

function card(lines: string[]): string {
  return `${['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'END:VCARD'].join('\r\n')}\r\n`;
}

function cardsOf(l: DomainListing): { name: string; uid: string; data: string }[] {
  const out: { name: string; uid: string; data: string }[] = [];
  for (const a of l.accounts) {
    const fn = a.displayName || a.address;
    const parts = a.displayName.trim().split(/\s+/);
    const n = parts.length > 1 ? `${esc(parts.at(-1)!)};${esc(parts.slice(0, -1).join(' '))};;;` : `${esc(fn)};;;;`;
    const uid = `urn:bulwark:account:${a.id}`;
    out.push({
      name: `${a.address}.vcf`, uid,
      data: card([`UID:${uid}`, `FN:${esc(fn)}`, `N:${n}`, `EMAIL;TYPE=INTERNET,WORK:${a.address}`,
        ...(a.kind !== 'individual' ? [`X-ADDRESSBOOKSERVER-KIND:${a.kind === 'room' ? 'location' : 'resource'}`] : [])]),
    });
  }
  for (const list of l.lists) {
    const uid = `urn:bulwark:list:${list.id}`;
    out.push({
      name: `${list.address}.vcf`, uid,
      data: card([`UID:${uid}`, `FN:${esc(list.description || list.address)}`, `N:${esc(list.description || list.address)};;;;`, `EMAIL;TYPE=INTERNET:${list.address}`, 'X-ADDRESSBOOKSERVER-KIND:group']),
    });
  }
  return out;
}

const hash = (s: string) => crypto.createHash('sha256').update(s).digest();

/** The collection and its resources for one domain's listing. */
export function galOf(listing: DomainListing, createdAt: number): { collection: CollectionInfo; objects: DavObject[] } {
  const cards = cardsOf(listing);
  const digest = hash(cards.map((c) => `${c.name}\n${c.data}`).join('\n'));
  // A positive 48-bit number: the collection's "modseq" (its sync token and getctag).
  const version = digest.readUIntBE(0, 6) || 1;
  const objects: DavObject[] = cards.map((c, i) => ({
    id: -(i + 1), collectionId: GAL_ID, name: c.name, uid: c.uid, component: 'VCARD', data: c.data, size: Buffer.byteLength(c.data),
    etag: `"${hash(c.data).subarray(0, 12).toString('base64url')}"`, modseq: version, firstStart: null, lastEnd: null, instances: null, updatedAt: createdAt,
  }));
  return {
    collection: {
      id: GAL_ID, home: 'addressbooks', name: GAL_NAME, kind: 'addressbook', displayName: 'Global address list',
      description: 'Everyone in the organisation (read-only)', color: '', sortOrder: 0, components: [], timezone: '', props: {},
      modseq: version, syncFloor: version, createdAt,
    },
    objects,
  };
}
