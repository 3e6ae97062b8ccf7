/**
 * E-mail address and domain normalisation (pure; imports nothing above lib/).
 * Domains are stored as lower-case A-labels (punycode) and shown as Unicode.
 * Local parts are NFC-normalised (RFC 6531 leaves equivalence to the server; we fold case
 * too, as Postfix and Dovecot do by default, so Alice@ and alice@ are one mailbox).
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { invalid } from '../core/errors.ts';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function normaliseDomain(input: string): string {
  if (typeof input !== 'string') throw invalid('domain must be a string');
  // The WHATWG host parser behind domainToASCII percent-decodes; in mail "%" is no part of a
  // domain (it was sendmail's source-routing hack), so "ex%41mple.org" must not become example.org.
  if (input.includes('%')) throw invalid(`"${input}" is not a valid domain name`);
  let d = input.trim().normalize('NFC').toLowerCase();
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (d.length === 0) throw invalid('domain is empty');
  let ascii = domainToASCII(d);
  if (!ascii) throw invalid(`"${input}" is not a valid domain name`);
  // UTS 46 maps other full stops (U+3002 ...) to "."; the trailing root dot is allowed once.
  if (ascii.endsWith('.') && !d.endsWith('.')) ascii = ascii.slice(0, -1);
  if (ascii.length > 253) throw invalid(`domain "${input}" is longer than 253 octets`);
  const labels = ascii.split('.');
  if (labels.length < 2) throw invalid(`domain "${input}" needs at least two labels (e.g. example.org)`);
  for (const l of labels) {
    if (!LABEL.test(l)) throw invalid(`domain "${input}" has an invalid label "${l}"`);
    // RFC 5890 §2.3.2.1: an "xn--" label must be a valid A-label, i.e. decode to a U-label
    // that encodes back to it; otherwise two spellings could name one domain, or none.
    if (l.startsWith('xn--')) {
      const u = domainToUnicode(l);
      if (!u || u === l || domainToASCII(u) !== l) throw invalid(`domain "${input}" has an invalid A-label "${l}"`);
    }
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1])) throw invalid(`"${input}" is an address literal, not a domain`);
  return ascii;
}

export function displayDomain(ascii: string): string {
  return domainToUnicode(ascii) || ascii;
}

// RFC 5322 dot-atom atext, plus any non-ASCII (RFC 6532 UTF8-non-ascii).
const ATEXT = /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\u0080-\u{10FFFF}-]+$/u;
// Non-ASCII code points that RFC 6532 would let through but that make one address look like
// another or break logs and headers: C1 controls, Unicode spaces and line/paragraph
// separators, zero-width and bidi controls (Trojan Source style spoofing), BOM, noncharacters.
const UNSAFE = /[\p{Cc}\p{Zs}\p{Zl}\p{Zp}\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff0-\uffff]/u;

export function normaliseLocalPart(input: string): string {
  if (typeof input !== 'string') throw invalid('local part must be a string');
  // A lone surrogate cannot be stored as UTF-8: the stored text would differ from this one.
  if (!input.isWellFormed()) throw invalid('local part is not valid Unicode');
  // NFC again after lower-casing, so the result is a fixed point whatever the input.
  const l = input.normalize('NFC').toLowerCase().normalize('NFC');
  if (l.length === 0) throw invalid('local part is empty');
  if (Buffer.byteLength(l) > 64) throw invalid(`local part "${input}" is longer than 64 octets`);
  if (l.startsWith('.') || l.endsWith('.') || l.includes('..')) throw invalid(`local part "${input}" has a misplaced dot`);
  if (UNSAFE.test(l)) throw invalid('local part has a control, space or invisible formatting character');
  for (const atom of l.split('.')) {
    if (!ATEXT.test(atom)) throw invalid(`local part "${input}" has a character not allowed in an address`);
  }
  return l;
}

export interface Address {
  local: string;
  domain: string; // A-label form
}

export function parseAddress(input: string): Address {
  if (typeof input !== 'string') throw invalid('address must be a string');
  const s = input.trim().replace(/^<(.*)>$/, '$1');
  const at = s.lastIndexOf('@');
  if (at <= 0 || at === s.length - 1) throw invalid(`"${input}" is not an address of the form local@domain`);
  const a = { local: normaliseLocalPart(s.slice(0, at)), domain: normaliseDomain(s.slice(at + 1)) };
  // RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
  if (Buffer.byteLength(a.local) + 1 + a.domain.length > 254) throw invalid(`"${input}" is longer than 254 octets`);
  return a;
}

export function normaliseAddress(input: string): string {
  const a = parseAddress(input);
  return `${a.local}@${a.domain}`;
}

export function formatAddress(a: Address): string {
  return `${a.local}@${a.domain}`;
}

/** Shows an address with its domain in Unicode. */
export function displayAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : `${address.slice(0, at)}@${displayDomain(address.slice(at + 1))}`;
}

/** user+tag@d -> user@d, for subaddressing (RFC 5233); null when there is no tag. */
export function stripSubaddress(a: Address, separator = '+'): Address | null {
  const i = a.local.indexOf(separator);
  if (i <= 0) return null;
  return { local: a.local.slice(0, i), domain: a.domain };
}
