/**
 * vCard address object resources (RFC 6352 §5.1): what CardDAV accepts and what it indexes.
 * Parsed with ical.js, which reads vCard 3.0 (RFC 2426) and 4.0 (RFC 6350).
 *
 * An address object resource holds exactly one vCard with VERSION 3.0 or 4.0 and an FN
 * (both versions require it). A card without UID is accepted (some older clients omit it):
 * its resource name stands in for the UID in the collection's uniqueness check.
 */
import ICAL from 'ical.js';
import { ResourceError, type ResourceMeta } from './store.ts';
import { normaliseLineEnds } from './time-range.ts';

export interface VCardInfo {
  uid: string;
  version: string;
  fn: string;
  emails: string[];
  kind: string;
}

export function parseVCard(text: string, fallbackUid: string): { meta: ResourceMeta; info: VCardInfo } {
  if (!/^\s*BEGIN:VCARD\r?\n/i.test(text)) throw new ResourceError('valid-address-data', 'the data is not a vCard (it must start with BEGIN:VCARD)');
  let parsed: unknown;
  try {
    parsed = ICAL.parse(text);
  } catch (e) {
    throw new ResourceError('valid-address-data', `the vCard does not parse: ${(e as Error).message.slice(0, 200)}`);
  }
  // ical.js returns one jCard, or an array when the text holds several.
  const cards = Array.isArray(parsed) && typeof parsed[0] === 'string' ? [parsed] : (parsed as unknown[]);
  if (!Array.isArray(cards) || cards.length !== 1) throw new ResourceError('valid-address-data', 'an address object resource holds exactly one vCard');
  const comp = new ICAL.Component(cards[0] as any);
  if (comp.name !== 'vcard') throw new ResourceError('valid-address-data', 'the data is not a vCard');
  const version = String(comp.getFirstPropertyValue('version') ?? '');
  if (version !== '3.0' && version !== '4.0') throw new ResourceError('supported-address-data', `vCard version ${version || '(none)'} is not supported; 3.0 and 4.0 are`);
  const fn = comp.getFirstPropertyValue('fn');
  if (typeof fn !== 'string' || fn.trim() === '') throw new ResourceError('valid-address-data', 'a vCard needs an FN property');
  const rawUid = comp.getFirstPropertyValue('uid');
  const uid = typeof rawUid === 'string' && rawUid.trim() ? rawUid.trim() : `name:${fallbackUid}`;
  const emails = comp.getAllProperties('email').map((p: any) => String(p.getFirstValue() ?? '').replace(/^mailto:/i, '').trim()).filter(Boolean);
  const kind = String(comp.getFirstPropertyValue('kind') ?? comp.getFirstPropertyValue('x-addressbookserver-kind') ?? 'individual').toLowerCase();
  return {
    meta: { uid, component: 'VCARD', text: normaliseLineEnds(text), firstStart: null, lastEnd: null },
    info: { uid, version, fn: fn.trim(), emails, kind },
  };
}
