/**
 * Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3, kept by RFC 9051 Appendix A for
 * IMAP4rev1 clients that have not enabled UTF8=ACCEPT): the one place where mailbox names
 * cross between the Unicode form the store keeps and the 7-bit form such clients speak.
 *
 * Invariants:
 * - encodeMailboxName produces the one canonical form (shortest, as RFC 3501 §5.1.3 demands),
 *   and decodeMailboxName accepts only canonical forms, so decode(encode(s)) === s for every
 *   well-formed string and encode(decode(w)) === w for every wire name decode accepts. A
 *   mailbox thus has exactly one wire spelling, and two spellings cannot name one mailbox.
 * - Both are single linear passes; errors are Utf7Error (a plain Error: lib/ imports nothing
 *   above it, and the protocol layer turns it into BAD or NO at its edge).
 */

/** Malformed modified UTF-7 (or, for the encoder, a string that is not well-formed UTF-16). */
export class Utf7Error extends Error {
  /** Offset in the input where the problem was found. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.name = 'Utf7Error';
    this.offset = offset;
  }
}

// RFC 3501 §5.1.3: modified BASE64 is RFC 2152's base64 with "," instead of "/".
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

const AMP = 0x26;
const DASH = 0x2d;

/** RFC 3501 §5.1.3: "characters with octet values 0x20-0x25 and 0x27-0x7e" represent themselves. */
function isDirect(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== AMP;
}

/** Printable US-ASCII, "&" included: none of these may appear inside a base64 section. */
function isPrintable(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** Appends the modified base64 of the UTF-16BE code units in name[from, to). */
function encodeRun(name: string, from: number, to: number): string {
  let out = '&';
  let acc = 0;
  let bits = 0;
  for (let i = from; i < to; i++) {
    acc = ((acc << 16) | name.charCodeAt(i)) & 0xffffff;
    bits += 16;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(acc >> bits) & 0x3f];
    }
  }
  // RFC 2152: the last character carries the leftover bits, padded with zero bits; no "=".
  if (bits > 0) out += ALPHABET[(acc << (6 - bits)) & 0x3f];
  return `${out}-`;
}

/**
 * Unicode to modified UTF-7. Throws Utf7Error for a string with an unpaired surrogate, which
 * no mailbox name can hold (its encoding would not decode).
 */
export function encodeMailboxName(name: string): string {
  let out = '';
  let i = 0;
  const n = name.length;
  while (i < n) {
    const c = name.charCodeAt(i);
    if (isDirect(c)) {
      // Runs of directly represented characters are copied in one slice.
      let j = i + 1;
      while (j < n && isDirect(name.charCodeAt(j))) j++;
      out += name.slice(i, j);
      i = j;
    } else if (c === AMP) {
      // RFC 3501 §5.1.3: "The character "&" (0x26) is represented by the two-octet sequence "&-"."
      out += '&-';
      i++;
    } else {
      // One base64 section for the whole run of other characters: two adjacent sections
      // ("-&") are not allowed, so the run must not be split.
      let j = i;
      while (j < n && !isPrintable(name.charCodeAt(j))) {
        const u = name.charCodeAt(j);
        if (u >= 0xd800 && u <= 0xdbff) {
          const v = j + 1 < n ? name.charCodeAt(j + 1) : 0;
          if (!(v >= 0xdc00 && v <= 0xdfff)) throw new Utf7Error('unpaired high surrogate in mailbox name', j);
          j += 2;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
          throw new Utf7Error('unpaired low surrogate in mailbox name', j);
        } else {
          j++;
        }
      }
      out += encodeRun(name, i, j);
      i = j;
    }
  }
  return out;
}

/**
 * Modified UTF-7 to Unicode. Throws Utf7Error on anything RFC 3501 §5.1.3 does not allow:
 * characters outside printable US-ASCII, a "&" section not closed by "-", characters outside
 * the modified base64 alphabet, a section whose bits are not whole UTF-16 units (or whose
 * padding bits are not zero, or that has a superfluous character), a section holding
 * printable US-ASCII, two adjacent sections, and unpaired surrogates.
 */
export function decodeMailboxName(wire: string): string {
  let out = '';
  let i = 0;
  const n = wire.length;
  // End of the last base64 section (the offset after its "-"), to find "-&" null shifts.
  let sectionEnd = -1;
  while (i < n) {
    const c = wire.charCodeAt(i);
    if (c !== AMP) {
      // RFC 3501 §5.1.3: everything outside a section is printable US-ASCII.
      if (!isPrintable(c)) throw new Utf7Error('character outside printable US-ASCII in modified UTF-7', i);
      let j = i + 1;
      while (j < n && isDirect(wire.charCodeAt(j))) j++;
      out += wire.slice(i, j);
      i = j;
      continue;
    }
    if (i + 1 < n && wire.charCodeAt(i + 1) === DASH) {
      out += '&';
      i += 2;
      continue;
    }
    // RFC 3501 §5.1.3: "null shifts ("-&" while in BASE64 ...) are not permitted".
    if (sectionEnd === i) throw new Utf7Error('adjacent base64 sections ("-&") in modified UTF-7', i);
    const start = i;
    i++;
    let acc = 0;
    let bits = 0;
    let chars = 0;
    let units = '';
    let pendingHigh = -1;
    for (;;) {
      if (i >= n) throw new Utf7Error('"&" section not closed by "-"', start);
      const d = wire.charCodeAt(i);
      if (d === DASH) break;
      const v = d < 128 ? VALUE[d] : -1;
      if (v < 0) throw new Utf7Error(`"${wire[i]}" is not a modified base64 character`, i);
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      chars++;
      if (bits >= 16) {
        bits -= 16;
        const u = (acc >> bits) & 0xffff;
        // RFC 3501 §5.1.3: "Modified BASE64 MUST NOT be used to represent any printing
        // US-ASCII character which can represent itself" (nor "&", which is written "&-").
        if (isPrintable(u)) throw new Utf7Error('base64 section encodes printable US-ASCII', i);
        if (pendingHigh >= 0) {
          if (!(u >= 0xdc00 && u <= 0xdfff)) throw new Utf7Error('unpaired high surrogate in modified UTF-7', i);
          units += String.fromCharCode(pendingHigh, u);
          pendingHigh = -1;
        } else if (u >= 0xd800 && u <= 0xdbff) {
          pendingHigh = u;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
          throw new Utf7Error('unpaired low surrogate in modified UTF-7', i);
        } else {
          units += String.fromCharCode(u);
        }
      }
      i++;
    }
    // Here wire[i] is the closing "-".
    if (chars === 0) throw new Utf7Error('empty base64 section', start);
    // The shortest encoding of k units has ceil(16k / 6) characters, leaving 0, 2 or 4 bits;
    // 6 or more leftover bits mean a superfluous character or a half unit (an odd octet).
    if (bits >= 6 || units.length + (pendingHigh >= 0 ? 1 : 0) === 0) throw new Utf7Error('base64 section is not a whole number of UTF-16 units', i);
    if ((acc & ((1 << bits) - 1)) !== 0) throw new Utf7Error('non-zero padding bits in base64 section', i);
    // A section is closed, and a surrogate pair cannot span two sections (they may not touch).
    if (pendingHigh >= 0) throw new Utf7Error('unpaired high surrogate in modified UTF-7', i);
    out += units;
    i++;
    sectionEnd = i;
  }
  return out;
}

/** Whether `wire` is canonical modified UTF-7 that decodeMailboxName accepts. */
export function isValidModifiedUtf7(wire: string): boolean {
  try {
    decodeMailboxName(wire);
    return true;
  } catch (e) {
    if (e instanceof Utf7Error) return false;
    throw e;
  }
}
