/**
 * IMAP output encoding (RFC 9051 §4 data formats, §9 formal syntax): strings as atoms,
 * quoted strings or literals, flag lists, sequence sets, date-times, and the bytes of a
 * response made of text and literals. Pure: no I/O, no session state.
 *
 * Invariants:
 * - A value becomes a quoted string only where the grammar allows it: no CR, LF or NUL
 *   (RFC 9051 §4.3 quoted), 7-bit unless the session has UTF-8 on (RFC 9051 §4.3 allows
 *   UTF8-2/3/4 in quoted strings; RFC 6855 §3 for IMAP4rev1 with UTF8=ACCEPT), and no
 *   longer than QUOTED_MAX octets. Anything else is a literal: its octet count keeps the
 *   response framed whatever the data holds, so stored data can never break a response.
 * - Nothing here throws on stored data. quote() throws only on a caller's bug (a CR, LF or
 *   NUL it should have sent as a literal).
 * - renderParts writes strings as UTF-8 and literals byte for byte; it adds no CRLF at the
 *   end of a response (the session ends its lines).
 */
import { Buffer, isUtf8 } from 'node:buffer';

/** An IMAP literal (RFC 9051 §4.3), or a literal8 (RFC 3516 §4.1) when `binary`. */
export class Literal {
  readonly data: Uint8Array;
  readonly binary: boolean;
  constructor(data: Uint8Array, binary = false) {
    this.data = data;
    this.binary = binary;
  }
}

/** A piece of a response: text written as it is, or a literal with its "{n}" CRLF prefix. */
export type Part = string | Literal;

/**
 * The longest value sent as a quoted string. Longer ones go as literals: a quoted string has
 * to be scanned to its closing quote, and clients with line-length limits (old c-client and
 * Outlook-era parsers read response lines into fixed buffers) cope with long literals, not
 * with long lines. 1000 octets is RFC 5321's line length, comfortably above any real
 * subject, address or file name.
 */
export const QUOTED_MAX = 1000;

const CR = 0x0d;
const LF = 0x0a;

/**
 * A quoted string (RFC 9051 §9 quoted): `"` and `\` escaped as quoted-specials. The caller
 * decides about 8-bit text (str() does); CR, LF and NUL cannot be quoted at all.
 */
export function quote(s: string): string {
  if (/[\0\r\n]/.test(s)) throw new Error('quote: CR, LF and NUL cannot appear in a quoted string');
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

function quotableText(s: string, utf8: boolean): boolean {
  // UTF-16 length <= UTF-8 length, so the cheap test first.
  if (s.length > QUOTED_MAX || /[\0\r\n]/.test(s)) return false;
  if (!/[^\x00-\x7f]/.test(s)) return true;
  return utf8 && Buffer.byteLength(s, 'utf8') <= QUOTED_MAX;
}

function quotableBytes(b: Uint8Array, utf8: boolean): boolean {
  if (b.length > QUOTED_MAX) return false;
  let high = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0 || c === CR || c === LF) return false;
    if (c >= 0x80) high = true;
  }
  // RFC 9051 §4.3: 8-bit octets in a quoted string only as UTF-8, and only when UTF-8 is on.
  return !high || (utf8 && isUtf8(b));
}

/**
 * A string or nstring (RFC 9051 §9): NIL for null, a quoted string when it can be one (see
 * the module invariants), else a literal. A JS string is sent as UTF-8; its lone surrogates
 * (which UTF-8 cannot carry) become U+FFFD. Bytes go out unchanged. NUL cannot appear in any
 * IMAP string (CHAR8 excludes %x00); a value holding one still goes as a plain literal, which
 * keeps the framing, rather than losing bytes silently.
 */
export function str(s: string | Uint8Array | null, utf8: boolean): Part {
  if (s === null) return 'NIL';
  if (typeof s === 'string') {
    if (quotableText(s, utf8)) return quote(s.toWellFormed());
    return new Literal(Buffer.from(s.toWellFormed(), 'utf8'));
  }
  if (quotableBytes(s, utf8)) return quote(Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString(utf8 ? 'utf8' : 'latin1'));
  return new Literal(s);
}

/**
 * RFC 9051 §9: ATOM-CHAR is any CHAR except atom-specials: "(" ")" "{" SP CTL "%" "*" DQUOTE
 * "\" "]". ASTRING-CHAR would allow "]" too, but an atom with "]" next to a response code's
 * brackets is where client parsers slip, so it is quoted instead.
 */
const ATOM = /^[\x21\x23\x24\x26\x27\x2b-\x5b\x5e-\x7a\x7c-\x7e]+$/;

/** An astring (RFC 9051 §9): an atom when `s` is one (never NIL, which would read as nil), else str(). */
export function astr(s: string, utf8: boolean): Part {
  if (ATOM.test(s) && s.toUpperCase() !== 'NIL') return s;
  return str(s, utf8);
}

/** A flag list (RFC 9051 §9 flag-list): the flags as stored, which are atoms or \atoms. */
export function flagList(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}

/**
 * A sequence-set (RFC 9051 §9) of sorted, unique, ascending numbers, runs collapsed:
 * [1, 2, 3, 5, 7, 8, 9] is "1:3,5,7:9". An empty input gives "", which is no sequence-set:
 * the caller decides what to send instead (RFC 9051 §7.3.4 ESEARCH leaves ALL out, for one).
 */
export function seqSet(sortedUniqueAscending: ArrayLike<number>): string {
  const a = sortedUniqueAscending;
  const out: string[] = [];
  let i = 0;
  while (i < a.length) {
    const start = a[i];
    let end = start;
    while (i + 1 < a.length && a[i + 1] === end + 1) end = a[++i];
    out.push(start === end ? `${start}` : `${start}:${end}`);
    i++;
  }
  return out.join(',');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: RFC 9051 §9 date-year is 4DIGIT. */
const MIN_MS = -62167219200000;
const MAX_MS = 253402300799000;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * The quoted date-time of INTERNALDATE (RFC 9051 §9 date-time), always in UTC ("+0000"):
 * RFC 9051 §2.3.3 lets the server pick the zone, and UTC makes the answer the same on every
 * node of an installation whatever the host's TZ. date-day-fixed pads the day with a space
 * (" 7-Jul-1996"). Times outside years 0000-9999 are clamped; a non-finite one is the epoch.
 */
export function dateTime(ms: number): string {
  const t = Number.isFinite(ms) ? Math.min(MAX_MS, Math.max(MIN_MS, Math.floor(ms))) : 0;
  const d = new Date(t);
  const day = d.getUTCDate();
  const year = String(d.getUTCFullYear()).padStart(4, '0');
  const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return `"${day < 10 ? ' ' : ''}${day}-${MONTHS[d.getUTCMonth()]}-${year} ${time} +0000"`;
}

/**
 * The value of a BINARY[...] response (RFC 3516 §4.2, RFC 9051 §7.5.2): a literal8 when the
 * data holds NUL, the one thing a plain literal cannot carry (RFC 9051 §4.3.1 allows binary
 * strings, those with NUL, only as a literal8 in a BINARY response), else a plain literal,
 * which every client reads.
 */
export function binaryLiteral(data: Uint8Array): Literal {
  return new Literal(data, data.includes(0));
}

/** The bytes of response parts: strings as UTF-8, literals as "{n}" CRLF data (or "~{n}" for literal8). */
export function renderParts(parts: readonly Part[]): Buffer {
  const chunks: Buffer[] = [];
  let text = '';
  for (const p of parts) {
    if (typeof p === 'string') {
      text += p;
      continue;
    }
    text += `${p.binary ? '~' : ''}{${p.data.length}}\r\n`;
    chunks.push(Buffer.from(text, 'utf8'));
    text = '';
    chunks.push(Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength));
  }
  if (text.length > 0) chunks.push(Buffer.from(text, 'utf8'));
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}
