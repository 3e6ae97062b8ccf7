/**
 * IMAP command parsing (pure: no I/O, no session state). The bytes of one complete command
 * in, as src/protocols/imap/input.ts frames them (tag through the final line end, literals
 * inline), one typed `Command` (src/protocols/imap/types.ts) out, or an ImapSyntaxError that
 * the session answers with BAD (tagged when the error carries the tag).
 *
 * What is the parser's business: the grammar of RFC 9051 §9 and RFC 3501 §9 and of the
 * extensions Bulwark offers (each cited where it is parsed), and bounds on everything a
 * client can make large (list items, sequence ranges, nesting, ID pairs). What is not:
 * whether the command is allowed in the current state, whether an extension was enabled
 * (CONDSTORE, QRESYNC, UTF8=ACCEPT), charsets, how mailbox names are decoded (modified
 * UTF-7 or UTF-8: names come back as sent), and '*' in sequence sets (kept as STAR).
 *
 * Invariants
 * - Every rejected command throws ImapSyntaxError, never anything else, so the session maps
 *   errors at one place. The error names what was wrong and quotes at most a short excerpt
 *   of the client's bytes (EXCERPT octets, non-printable octets shown as '?').
 * - Keywords are compared as ASCII only: atoms are 7-bit by the grammar (ATOM-CHAR is a
 *   CHAR), so upper-casing them cannot turn "ſ" into "S"; "INBOX" is compared byte-wise.
 * - Linear time: one pass over the bytes with a cursor, no regular expression on client
 *   input, recursion only for search keys and bounded by MAX_DEPTH.
 * - Line ends: the final line end and the one after a literal header may be CRLF or a bare
 *   LF (input.ts accepts both, see there). The final line end may also be absent, which is
 *   convenient for tests and changes nothing else. A CR or LF anywhere else is an error.
 *
 * Leniencies, each deliberate:
 * - Quoted strings that become Buffers (search strings, before charset decoding) may hold
 *   8-bit octets that are not UTF-8: a client searching in a legacy charset (CHARSET
 *   ISO-8859-1) may send them so. Quoted strings that become JS strings must be UTF-8.
 * - mod-sequence values may be 0 everywhere (mod-sequence-valzer), also where RFC 7162 says
 *   mod-sequence-value (CHANGEDSINCE, QRESYNC): "CHANGEDSINCE 0" has an obvious meaning.
 * - The day of an APPEND date-time may be one digit without the padding space.
 * - UTF8 (...) in APPEND takes a literal as well as the literal8 of RFC 6855 §4.
 */

import { ImapSyntaxError, STAR } from './types.ts';
import type {
  AppendMessage,
  Command,
  FetchAtt,
  FetchModifiers,
  ImapDay,
  ListReturn,
  ListSelect,
  MailboxArg,
  QresyncParams,
  SearchKey,
  SearchReturn,
  Section,
  SeqRange,
  SeqSet,
  SortCriterion,
  SortKey,
  StatusItem,
  StoreAction,
} from './types.ts';

// ---- bounds -----------------------------------------------------------------------------

/** Search keys nested deeper than this (parentheses, NOT, OR) are refused: no stack overflow, here or in the session. */
export const MAX_DEPTH = 64;
/** Items of any one list (fetch attributes, flags, patterns, messages, search keys...). */
export const MAX_ITEMS = 10_000;
/** Ranges of one sequence set. */
export const MAX_RANGES = 100_000;
/** Search keys of one command, all levels together. */
export const MAX_SEARCH_KEYS = 100_000;
/** Part numbers of one section ("1.2.3..."). */
export const MAX_SECTION_PARTS = 100;
/** RFC 2971 §3.3: at most 30 pairs, fields of at most 30 octets, values of at most 1024. */
export const MAX_ID_PAIRS = 30;
export const MAX_ID_FIELD = 30;
export const MAX_ID_VALUE = 1024;

const EXCERPT = 24;
const MAX_U32 = 4294967295;
const MAX_MODSEQ = 2n ** 63n - 1n;

// ---- character classes (RFC 9051 §9) -----------------------------------------------------

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const TILDE = 0x7e;
const DOLLAR = 0x24;
const ASTERISK = 0x2a;
const DOT = 0x2e;
const COLON = 0x3a;
const COMMA = 0x2c;
const PLUS = 0x2b;
const MINUS = 0x2d;
const LT = 0x3c;
const GT = 0x3e;

/** ATOM-CHAR: any CHAR except atom-specials: "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]". */
const ATOM = new Uint8Array(256);
/** ASTRING-CHAR = ATOM-CHAR / resp-specials ("]"). */
const ASTRING = new Uint8Array(256);
/** list-char = ATOM-CHAR / list-wildcards / resp-specials (RFC 9051 §9 list-mailbox). */
const LISTCHAR = new Uint8Array(256);
/** tag = 1*<any ASTRING-CHAR except "+">. */
const TAGCHAR = new Uint8Array(256);
/** Names of fetch attributes and section texts: they run into "[" and "<", which are ATOM-CHARs. */
const NAMECHAR = new Uint8Array(256);
/** objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 §7). */
const OBJECTID = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) {
  const special = '(){%*"\\]'.includes(String.fromCharCode(c));
  if (!special) ATOM[c] = 1;
  if (!special || c === RBRACKET) ASTRING[c] = 1;
  if (!special || c === RBRACKET || c === ASTERISK || c === 0x25) LISTCHAR[c] = 1;
  if (ASTRING[c] && c !== PLUS) TAGCHAR[c] = 1;
  const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (alnum || c === DOT) NAMECHAR[c] = 1;
  if (alnum || c === 0x5f || c === MINUS) OBJECTID[c] = 1;
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A short printable excerpt of client bytes, for error messages. */
function excerpt(b: Buffer, start: number, end: number): string {
  const stop = Math.min(end, start + EXCERPT);
  let s = '';
  for (let i = start; i < stop; i++) {
    const c = b[i];
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return stop < end ? `${s}...` : s;
}

/**
 * The tag of a command, or null when it has none that can be echoed: 1*<ASTRING-CHAR except
 * "+"> followed by SP, a line end or the end of the bytes (RFC 9051 §9 tag).
 */
export function tagOf(bytes: Buffer): string | null {
  let i = 0;
  while (i < bytes.length && TAGCHAR[bytes[i]]) i++;
  if (i === 0) return null;
  if (i < bytes.length && bytes[i] !== SP && bytes[i] !== CR && bytes[i] !== LF) return null;
  return bytes.toString('latin1', 0, i);
}

// ---- the cursor ---------------------------------------------------------------------------

class Reader {
  readonly b: Buffer;
  /** End of the command's text: the final line end, if any, is at and after it. */
  readonly n: number;
  /**
   * Where the final LF is (or the length without one). A literal may run up to here: with a
   * bare LF as the final line end, a CR right before it is the literal's last octet, not half
   * of a CRLF ("{1}\r\n" "\r" "\n" is a literal holding CR, ended by a bare LF).
   */
  readonly limit: number;
  p = 0;
  tag: string | null = null;
  depth = 0;
  searchKeys = 0;

  constructor(b: Buffer) {
    this.b = b;
    const len = b.length;
    this.limit = len >= 1 && b[len - 1] === LF ? len - 1 : len;
    this.n = this.limit >= 1 && this.limit < len && b[this.limit - 1] === CR ? this.limit - 1 : this.limit;
  }

  fail(message: string): never {
    throw new ImapSyntaxError(message, this.tag);
  }

  atEnd(): boolean {
    return this.p >= this.n;
  }

  peek(): number {
    return this.p < this.n ? this.b[this.p] : -1;
  }

  /** The client's bytes from `from` to the next space or parenthesis, for a message. */
  show(from = this.p): string {
    let e = from;
    while (e < this.n && e - from <= EXCERPT && this.b[e] !== SP && this.b[e] !== RPAREN) e++;
    if (e === from && from < this.n) e = from + 1;
    return excerpt(this.b, from, e < this.n ? e : this.n);
  }

  /** Whatever is at the cursor, described for "found ..." in a message. */
  found(): string {
    if (this.p >= this.n) return 'the end of the command';
    if (this.b[this.p] === SP) return 'a second space';
    return `"${this.show()}"`;
  }

  /** SP before the next argument, called `what` in messages. */
  sp(what: string): void {
    if (this.p >= this.n || this.b[this.p] === RPAREN || this.b[this.p] === RBRACKET) this.fail(`Missing ${what}`);
    if (this.b[this.p] !== SP) this.fail(`Expected a space before ${what}, found ${this.found()}`);
    this.p++;
    if (this.p >= this.n) this.fail(`Missing ${what}`);
  }

  /** Consumes SP if it is next. */
  optSp(): boolean {
    if (this.p < this.n && this.b[this.p] === SP) {
      this.p++;
      return true;
    }
    return false;
  }

  expect(c: number, what: string): void {
    if (this.p >= this.n || this.b[this.p] !== c) this.fail(`Expected ${what}, found ${this.found()}`);
    this.p++;
  }

  /** The end of the command: nothing may follow. */
  end(): void {
    if (this.p < this.n) this.fail(`Unexpected text after the command: "${excerpt(this.b, this.p, this.n)}"`);
  }

  /** 1*ATOM-CHAR as a string (ASCII), or '' when none is at the cursor. */
  atomRaw(): string {
    const s = this.p;
    while (this.p < this.n && ATOM[this.b[this.p]]) this.p++;
    return this.b.toString('latin1', s, this.p);
  }

  /** A keyword (an atom), upper-cased; `what` names it for the "missing" message. */
  keyword(what: string): string {
    if (this.p >= this.n) this.fail(`Missing ${what}`);
    const a = this.atomRaw();
    if (a === '') this.fail(`Invalid ${what} ${this.found()}`);
    return a.toUpperCase();
  }

  /** The upper-cased atom at the cursor without consuming it ('' if none). */
  peekKeyword(): string {
    const s = this.p;
    const a = this.atomRaw();
    this.p = s;
    return a.toUpperCase();
  }

  /** A run of NAMECHARs, upper-cased (fetch attribute and section names). */
  name(): string {
    const s = this.p;
    while (this.p < this.n && NAMECHAR[this.b[this.p]]) this.p++;
    return this.b.toString('latin1', s, this.p).toUpperCase();
  }

  // ---- strings ----

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE; only \" and \\ are escapes; never CR, LF or NUL. */
  quoted(): Buffer {
    const b = this.b;
    const start = ++this.p;
    let escapes = false;
    for (;;) {
      if (this.p >= this.n) this.fail('Unterminated quoted string');
      const c = b[this.p];
      if (c === DQUOTE) break;
      if (c === BACKSLASH) {
        const d = this.p + 1 < this.n ? b[this.p + 1] : -1;
        if (d !== DQUOTE && d !== BACKSLASH) this.fail('Invalid escape in a quoted string (only \\" and \\\\ are allowed)');
        escapes = true;
        this.p += 2;
        continue;
      }
      if (c === 0 || c === CR || c === LF) this.fail('Quoted string with a CR, LF or NUL (use a literal)');
      this.p++;
    }
    const end = this.p++;
    if (!escapes) return b.subarray(start, end);
    const out = Buffer.allocUnsafe(end - start);
    let o = 0;
    for (let i = start; i < end; i++) {
      if (b[i] === BACKSLASH) i++;
      out[o++] = b[i];
    }
    return out.subarray(0, o);
  }

  /**
   * literal = "{" number ["+"] "}" CRLF *CHAR8 (RFC 9051 §9, RFC 7888 §8); with binary,
   * also literal8 = "~{" number64 ["+"] "}" CRLF *OCTET (RFC 3516 §6). CHAR8 excludes NUL.
   */
  literal(allow8: boolean, what: string): { data: Buffer; binary: boolean } {
    const b = this.b;
    let binary = false;
    if (b[this.p] === TILDE) {
      if (!allow8) this.fail(`A literal8 (~{n}) is not allowed for ${what}`);
      binary = true;
      this.p++;
    }
    if (b[this.p] !== LBRACE) this.fail(`Expected a literal for ${what}`);
    this.p++;
    const ds = this.p;
    while (this.p < this.n && isDigit(b[this.p])) this.p++;
    if (this.p === ds) this.fail('Invalid literal: no length');
    if (this.p - ds > 20) this.fail('Invalid literal: length too large');
    const len = Number(b.toString('latin1', ds, this.p));
    if (len > (binary ? Number.MAX_SAFE_INTEGER : MAX_U32)) this.fail('Invalid literal: length too large');
    if (b[this.p] === PLUS) this.p++;
    if (this.p >= b.length || b[this.p] !== RBRACE) this.fail('Invalid literal: expected "}"');
    this.p++;
    // The line end after the header: CRLF, or a bare LF (input.ts accepts both).
    if (b[this.p] === CR && b[this.p + 1] === LF) this.p += 2;
    else if (b[this.p] === LF) this.p += 1;
    else this.fail('Invalid literal: "}" must end the line');
    if (len > this.limit - this.p) this.fail('Literal runs past the end of the command');
    const data = b.subarray(this.p, this.p + len);
    this.p += len;
    if (!binary && data.indexOf(0) !== -1) this.fail('NUL octet in a literal (only a literal8 may hold NUL, RFC 3516)');
    return { data, binary };
  }

  /** At "{" or "~{": a literal or literal8 starts here. */
  atLiteral(): boolean {
    const c = this.peek();
    return c === LBRACE || (c === TILDE && this.p + 1 < this.n && this.b[this.p + 1] === LBRACE);
  }

  /** string = quoted / literal. */
  stringBuf(what: string): Buffer {
    const c = this.peek();
    if (c === DQUOTE) return this.quoted();
    if (this.atLiteral()) return this.literal(false, what).data;
    if (c === -1) this.fail(`Missing ${what}`);
    return this.fail(`Expected a quoted string or literal for ${what}, found ${this.found()}`);
  }

  /** astring = 1*ASTRING-CHAR / string. */
  astringBuf(what: string): Buffer {
    const c = this.peek();
    if (c === DQUOTE || this.atLiteral()) return this.stringBuf(what);
    const s = this.p;
    while (this.p < this.n && ASTRING[this.b[this.p]]) this.p++;
    if (this.p === s) {
      if (c === -1) this.fail(`Missing ${what}`);
      this.fail(`Invalid ${what} ${this.found()}`);
    }
    return this.b.subarray(s, this.p);
  }

  text(buf: Buffer, what: string): string {
    try {
      return utf8.decode(buf);
    } catch {
      return this.fail(`${what[0].toUpperCase()}${what.slice(1)} is not valid UTF-8`);
    }
  }

  astring(what: string): string {
    return this.text(this.astringBuf(what), what);
  }

  string(what: string): string {
    return this.text(this.stringBuf(what), what);
  }

  /** mailbox = "INBOX" / astring; "INBOX" in any case is INBOX (RFC 9051 §5.1). */
  mailbox(what = 'mailbox name'): MailboxArg {
    const raw = this.astring(what);
    if (raw.length === 5 && asciiUpper(raw) === 'INBOX') return { raw: 'INBOX' };
    return { raw };
  }

  /** nil = "NIL" (as an atom, any case). */
  nil(): boolean {
    const b = this.b;
    const p = this.p;
    if (p + 3 <= this.n && (b[p] | 0x20) === 0x6e && (b[p + 1] | 0x20) === 0x69 && (b[p + 2] | 0x20) === 0x6c && !(p + 3 < this.n && ATOM[b[p + 3]])) {
      this.p += 3;
      return true;
    }
    return false;
  }

  // ---- numbers ----

  private digits(what: string): string {
    const s = this.p;
    while (this.p < this.n && isDigit(this.b[this.p])) this.p++;
    if (this.p === s) {
      if (s >= this.n) this.fail(`Missing ${what}`);
      this.fail(`Invalid ${what} ${this.found()}: expected a number`);
    }
    if (this.p - s > 20) this.fail(`Invalid ${what} "${excerpt(this.b, s, this.p)}": too large`);
    return this.b.toString('latin1', s, this.p);
  }

  /** number = 1*DIGIT, 0..4294967295. */
  number(what: string): number {
    const d = this.digits(what);
    const v = Number(d);
    if (v > MAX_U32) this.fail(`Invalid ${what} ${d}: larger than 4294967295`);
    return v;
  }

  /** nz-number = digit-nz *DIGIT, 1..4294967295. */
  nzNumber(what: string): number {
    const d = this.digits(what);
    if (d.charCodeAt(0) === 0x30) this.fail(d === '0' ? `Invalid ${what} 0: must be at least 1` : `Invalid ${what} ${excerpt(Buffer.from(d), 0, d.length)}: leading zero`);
    const v = Number(d);
    if (v > MAX_U32) this.fail(`Invalid ${what} ${d}: larger than 4294967295`);
    return v;
  }

  /** number64 (RFC 9051 §9), kept as a JS number: up to Number.MAX_SAFE_INTEGER. */
  number64(what: string, nz = false): number {
    const d = this.digits(what);
    const v = Number(d);
    if (v > Number.MAX_SAFE_INTEGER) this.fail(`Invalid ${what} ${d}: too large`);
    if (nz && v === 0) this.fail(`Invalid ${what} 0: must be at least 1`);
    return v;
  }

  /** mod-sequence-valzer = "0" / mod-sequence-value: 0..2^63-1 (RFC 7162 §7). */
  modseq(what: string): bigint {
    const d = this.digits(what);
    const v = BigInt(d);
    if (v > MAX_MODSEQ) this.fail(`Invalid ${what} ${d}: larger than 2^63-1`);
    return v;
  }

  // ---- sequence sets ----

  /**
   * sequence-set (RFC 9051 §9), or "$" (RFC 5182 §2, seq-last-command) when saved is
   * allowed. star: whether "*" is allowed (RFC 7162 forbids it in QRESYNC's sets).
   */
  seqSet(what: string, allow: { star: boolean; saved: boolean } = { star: true, saved: true }): SeqSet {
    const b = this.b;
    const start = this.p;
    if (this.p >= this.n) this.fail(`Missing ${what}`);
    const invalid = (why: string): never => {
      let e = this.p;
      while (e < this.n && b[e] !== SP && b[e] !== RPAREN) e++;
      return this.fail(`Invalid ${what} "${excerpt(b, start, Math.max(e, this.p))}": ${why}`);
    };
    if (b[this.p] === DOLLAR) {
      if (!allow.saved) invalid('"$" is not allowed here');
      this.p++;
      if (this.p < this.n && b[this.p] !== SP && b[this.p] !== RPAREN) invalid('"$" stands alone');
      return { kind: 'saved' };
    }
    const num = (): number => {
      const c = this.p < this.n ? b[this.p] : -1;
      if (c === ASTERISK) {
        if (!allow.star) invalid('"*" is not allowed here');
        this.p++;
        return STAR;
      }
      if (!isDigit(c)) invalid('expected a number or "*"');
      const s = this.p;
      while (this.p < this.n && isDigit(b[this.p])) this.p++;
      if (b[s] === 0x30) invalid(this.p - s === 1 ? 'message numbers start at 1' : 'leading zero');
      if (this.p - s > 10) invalid('number larger than 4294967295');
      const v = Number(b.toString('latin1', s, this.p));
      if (v > MAX_U32) invalid('number larger than 4294967295');
      return v;
    };
    const ranges: SeqRange[] = [];
    for (;;) {
      const a = num();
      let z = a;
      if (this.p < this.n && b[this.p] === COLON) {
        this.p++;
        z = num();
      }
      if (ranges.length >= MAX_RANGES) invalid(`more than ${MAX_RANGES} ranges`);
      ranges.push([a, z]);
      if (this.p < this.n && b[this.p] === COMMA) {
        this.p++;
        continue;
      }
      break;
    }
    if (this.p < this.n && b[this.p] !== SP && b[this.p] !== RPAREN) invalid('unexpected character');
    return { kind: 'set', ranges };
  }

  // ---- lists ----

  /**
   * "(" item *(SP item) ")", or "(" ")" when empty is allowed; at most MAX_ITEMS items.
   * The cursor is at "(" (checked here).
   */
  list<T>(what: string, item: () => T, allowEmpty: boolean): T[] {
    this.expect(LPAREN, `"(" to open the ${what}`);
    const out: T[] = [];
    if (this.peek() === RPAREN) {
      if (!allowEmpty) this.fail(`Empty ${what}`);
      this.p++;
      return out;
    }
    for (;;) {
      if (out.length >= MAX_ITEMS) this.fail(`Too many items in the ${what} (more than ${MAX_ITEMS})`);
      out.push(item());
      const c = this.peek();
      if (c === RPAREN) {
        this.p++;
        return out;
      }
      if (c === SP) {
        this.p++;
        if (this.peek() === RPAREN || this.peek() === SP) this.fail(`Invalid ${what}: stray space`);
        continue;
      }
      if (c === -1) this.fail(`Unterminated ${what}: missing ")"`);
      this.fail(`Invalid ${what}: unexpected ${this.found()}`);
    }
  }

  // ---- flags ----

  /**
   * flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword /
   * flag-extension ("\" atom) (RFC 9051 §9). "\*" is flag-perm only, never a flag to set.
   * Kept as sent: flags compare case-insensitively (RFC 9051 §2.3.2).
   */
  flag(): string {
    const s = this.p;
    if (this.peek() === BACKSLASH) {
      this.p++;
      if (this.peek() === ASTERISK) this.fail('Invalid flag "\\*": not allowed here');
      if (this.atomRaw() === '') this.fail(`Invalid flag ${this.p < this.n ? `"\\${this.show()}"` : '"\\"'}`);
      return this.b.toString('latin1', s, this.p);
    }
    if (this.atomRaw() === '') {
      if (this.p >= this.n) this.fail('Missing flag');
      this.fail(`Invalid flag ${this.found()}`);
    }
    return this.b.toString('latin1', s, this.p);
  }

  /** flag-list = "(" [flag *(SP flag)] ")". */
  flagList(): string[] {
    return this.list('flag list', () => this.flag(), true);
  }

  // ---- dates ----

  /** date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year (RFC 9051 §9). */
  date(what: string): ImapDay {
    const b = this.b;
    const start = this.p;
    const quoted = this.peek() === DQUOTE;
    if (quoted) this.p++;
    const bad = (): never => {
      let e = this.p;
      while (e < this.n && b[e] !== SP && b[e] !== RPAREN) e++;
      return this.fail(`Invalid ${what} "${excerpt(b, start, Math.max(e, this.p))}": expected a date like 1-Feb-2024`);
    };
    if (this.p >= this.n) this.fail(`Missing ${what}`);
    const ds = this.p;
    while (this.p < this.n && this.p - ds < 2 && isDigit(b[this.p])) this.p++;
    if (this.p === ds) bad();
    const day = Number(b.toString('latin1', ds, this.p));
    if (b[this.p] !== MINUS) bad();
    this.p++;
    const month = this.month() ?? bad();
    if (b[this.p] !== MINUS) bad();
    this.p++;
    const year = this.fixedDigits(4) ?? bad();
    if (quoted) {
      if (b[this.p] !== DQUOTE) bad();
      this.p++;
    }
    if (this.p < this.n && b[this.p] !== SP && b[this.p] !== RPAREN) bad();
    if (day < 1 || day > daysInMonth(year, month)) this.fail(`Invalid ${what}: day ${day} does not exist in that month`);
    return { year, month, day };
  }

  /** date-month, case-insensitive; 1..12 or null. */
  private month(): number | null {
    if (this.p + 3 > this.n) return null;
    const m = asciiUpper(this.b.toString('latin1', this.p, this.p + 3));
    const i = MONTHS.indexOf(m);
    if (i === -1) return null;
    this.p += 3;
    return i + 1;
  }

  private fixedDigits(k: number): number | null {
    if (this.p + k > this.n) return null;
    for (let i = 0; i < k; i++) if (!isDigit(this.b[this.p + i])) return null;
    const v = Number(this.b.toString('latin1', this.p, this.p + k));
    this.p += k;
    return v;
  }

  /**
   * date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
   * (RFC 9051 §9), as epoch milliseconds. date-day-fixed = (SP DIGIT) / 2DIGIT.
   */
  dateTime(): number {
    const b = this.b;
    const start = this.p;
    const bad = (why = 'expected "dd-Mon-yyyy hh:mm:ss +zzzz"'): never => {
      let e = this.p;
      while (e < this.n && b[e] !== DQUOTE) e++;
      return this.fail(`Invalid date-time "${excerpt(b, start, Math.min(e + 1, this.n))}": ${why}`);
    };
    this.p++; // DQUOTE
    if (b[this.p] === SP) this.p++;
    const ds = this.p;
    while (this.p < this.n && this.p - ds < 2 && isDigit(b[this.p])) this.p++;
    if (this.p === ds) bad();
    const day = Number(b.toString('latin1', ds, this.p));
    if (b[this.p] !== MINUS) bad();
    this.p++;
    const month = this.month() ?? bad();
    if (b[this.p] !== MINUS) bad();
    this.p++;
    const year = this.fixedDigits(4) ?? bad();
    if (b[this.p] !== SP) bad();
    this.p++;
    const hh = this.fixedDigits(2) ?? bad();
    if (b[this.p] !== COLON) bad();
    this.p++;
    const mm = this.fixedDigits(2) ?? bad();
    if (b[this.p] !== COLON) bad();
    this.p++;
    const ss = this.fixedDigits(2) ?? bad();
    if (b[this.p] !== SP) bad();
    this.p++;
    const sign = b[this.p];
    if (sign !== PLUS && sign !== MINUS) bad();
    this.p++;
    const zone = this.fixedDigits(4) ?? bad();
    if (b[this.p] !== DQUOTE) bad();
    this.p++;
    if (day < 1 || day > daysInMonth(year, month)) bad(`day ${day} does not exist in that month`);
    // Seconds up to 60: a leap second, which Date.UTC rolls into the next minute.
    if (hh > 23 || mm > 59 || ss > 60) bad('time out of range');
    const zh = Math.floor(zone / 100);
    const zm = zone % 100;
    if (zm > 59) bad('zone out of range');
    const offset = (sign === PLUS ? 1 : -1) * (zh * 60 + zm) * 60_000;
    return Date.UTC(year, month - 1, day, hh, mm, ss) - offset;
  }
}

function asciiUpper(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x61 && c <= 0x7a ? String.fromCharCode(c - 0x20) : s[i];
  }
  return out;
}

// ---- the commands -------------------------------------------------------------------------

/**
 * Parses one command (one 'command' event's bytes, src/protocols/imap/input.ts). Throws
 * ImapSyntaxError only; its tag is null when the command has no valid tag.
 */
export function parseCommand(bytes: Buffer): Command {
  const r: Reader = new Reader(bytes);
  const tag = tagOf(bytes.subarray(0, r.n));
  if (tag === null) {
    if (r.n === 0) r.fail('Empty command line');
    r.fail(`Invalid tag "${r.show(0)}"`);
  }
  r.tag = tag;
  r.p = tag.length;
  if (r.atEnd()) r.fail('Missing command name');
  r.sp('command name');
  const nameStart = r.p;
  const name = r.atomRaw().toUpperCase();
  if (name === '') r.fail(`Invalid command name ${r.found()}`);
  let cmd: Command;
  if (name === 'UID') {
    r.sp('command after UID');
    const subStart = r.p;
    const sub = r.atomRaw().toUpperCase();
    cmd = parseUid(r, tag, sub, subStart);
  } else {
    cmd = parseVerb(r, tag, name, nameStart);
  }
  r.end();
  return cmd;
}

function parseVerb(r: Reader, tag: string, name: string, nameStart: number): Command {
  switch (name) {
    // RFC 9051 §6.1 (any state)
    case 'CAPABILITY':
    case 'NOOP':
    case 'LOGOUT':
    // RFC 9051 §6.2.1 STARTTLS, §6.3.10 NAMESPACE (RFC 2342), §6.3.13 IDLE (RFC 2177),
    // §6.4.1 CLOSE, §6.4.2 UNSELECT (RFC 3691), §6.4.3 EXPUNGE; RFC 3501 §6.4.1 CHECK
    case 'STARTTLS':
    case 'NAMESPACE':
    case 'IDLE':
    case 'CHECK':
    case 'CLOSE':
    case 'UNSELECT':
    case 'EXPUNGE':
      return { tag, name };
    case 'ID':
      return parseId(r, tag);
    case 'AUTHENTICATE':
      return parseAuthenticate(r, tag);
    case 'LOGIN': {
      // RFC 9051 §6.2.3: login = "LOGIN" SP userid SP password
      r.sp('user name');
      const user = r.astring('user name');
      r.sp('password');
      const password = r.astring('password');
      return { tag, name, user, password };
    }
    case 'ENABLE': {
      // RFC 5161 §4: enable = "ENABLE" 1*(SP capability)
      const capabilities: string[] = [];
      r.sp('capability to enable');
      do {
        if (capabilities.length >= MAX_ITEMS) r.fail('Too many capabilities');
        capabilities.push(r.keyword('capability'));
      } while (r.optSp());
      return { tag, name, capabilities };
    }
    case 'SELECT':
    case 'EXAMINE':
      return parseSelect(r, tag, name);
    case 'CREATE':
      return parseCreate(r, tag);
    case 'DELETE':
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      r.sp('mailbox name');
      return { tag, name, mailbox: r.mailbox() };
    }
    case 'RENAME': {
      // RFC 9051 §6.3.6: rename = "RENAME" SP mailbox SP mailbox
      r.sp('mailbox name');
      const from = r.mailbox();
      r.sp('new mailbox name');
      const to = r.mailbox('new mailbox name');
      return { tag, name, from, to };
    }
    case 'LIST':
      return parseList(r, tag);
    case 'LSUB': {
      // RFC 3501 §6.3.9: lsub = "LSUB" SP mailbox SP list-mailbox
      r.sp('reference name');
      const reference = r.astring('reference name');
      r.sp('mailbox pattern');
      return { tag, name, reference, pattern: listMailbox(r) };
    }
    case 'STATUS': {
      // RFC 9051 §6.3.11: status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
      r.sp('mailbox name');
      const mailbox = r.mailbox();
      r.sp('status items');
      return { tag, name, mailbox, items: statusItems(r) };
    }
    case 'APPEND':
      return parseAppend(r, tag);
    case 'COMPRESS': {
      // RFC 4978 §4: compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE" (an atom)
      r.sp('compression mechanism');
      return { tag, name, mechanism: r.keyword('compression mechanism') };
    }
    case 'GETQUOTA': {
      // RFC 9208 §6.1.1: getquota = "GETQUOTA" SP quota-root-name
      r.sp('quota root');
      return { tag, name, root: r.astring('quota root') };
    }
    case 'GETQUOTAROOT': {
      r.sp('mailbox name');
      return { tag, name, mailbox: r.mailbox() };
    }
    case 'SETQUOTA':
      return parseSetQuota(r, tag);
    // RFC 4314 §4 (ACL)
    case 'SETACL': {
      r.sp('mailbox name');
      const mailbox = r.mailbox();
      r.sp('identifier');
      const identifier = r.astring('identifier');
      r.sp('rights');
      return { tag, name, mailbox, identifier, rights: rights(r) };
    }
    case 'DELETEACL':
    case 'LISTRIGHTS': {
      r.sp('mailbox name');
      const mailbox = r.mailbox();
      r.sp('identifier');
      return { tag, name, mailbox, identifier: r.astring('identifier') };
    }
    case 'GETACL':
    case 'MYRIGHTS': {
      r.sp('mailbox name');
      return { tag, name, mailbox: r.mailbox() };
    }
    case 'SEARCH':
      return parseSearch(r, tag, false);
    case 'FETCH':
      return parseFetch(r, tag, false);
    case 'STORE':
      return parseStore(r, tag, false);
    case 'COPY':
    case 'MOVE':
      return parseCopy(r, tag, name, false);
    case 'SORT':
      return parseSort(r, tag, false);
    case 'THREAD':
      return parseThread(r, tag, false);
    default:
      r.p = nameStart;
      return r.fail(`Unknown command ${r.show()}`);
  }
}

/** RFC 9051 §6.4.9: uid = "UID" SP (copy / move / fetch / search / store / uid-expunge); RFC 5256 SORT, THREAD. */
function parseUid(r: Reader, tag: string, sub: string, subStart: number): Command {
  switch (sub) {
    case 'FETCH':
      return parseFetch(r, tag, true);
    case 'SEARCH':
      return parseSearch(r, tag, true);
    case 'STORE':
      return parseStore(r, tag, true);
    case 'COPY':
    case 'MOVE':
      return parseCopy(r, tag, sub, true);
    case 'SORT':
      return parseSort(r, tag, true);
    case 'THREAD':
      return parseThread(r, tag, true);
    case 'EXPUNGE': {
      // RFC 4315 §2.1 (UIDPLUS): uid-expunge = "EXPUNGE" SP sequence-set
      r.sp('UID set');
      return { tag, name: 'UID EXPUNGE', set: r.seqSet('UID set') };
    }
    default:
      r.p = subStart;
      if (r.atEnd()) r.fail('Missing command after UID');
      return r.fail(`Unknown UID command ${r.show()}`);
  }
}

/** RFC 2971 §4: id = "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / nil. */
function parseId(r: Reader, tag: string): Command {
  r.sp('ID parameter list');
  if (r.nil()) return { tag, name: 'ID', params: null };
  if (r.peek() !== LPAREN) r.fail(`Expected "(" or NIL for the ID parameters, found ${r.found()}`);
  const params: [string, string | null][] = [];
  r.list(
    'ID parameter list',
    () => {
      // RFC 2971 §3.3: "Implementations MUST NOT send more than 30 field-value pairs."
      if (params.length >= MAX_ID_PAIRS) r.fail(`Too many ID parameters (more than ${MAX_ID_PAIRS})`);
      const field = r.stringBuf('ID field name');
      if (field.length > MAX_ID_FIELD) r.fail(`ID field name longer than ${MAX_ID_FIELD} octets`);
      r.sp('ID field value');
      let value: string | null = null;
      if (!r.nil()) {
        const v = r.stringBuf('ID field value');
        if (v.length > MAX_ID_VALUE) r.fail(`ID field value longer than ${MAX_ID_VALUE} octets`);
        value = r.text(v, 'ID field value');
      }
      params.push([r.text(field, 'ID field name'), value]);
    },
    true,
  );
  return { tag, name: 'ID', params };
}

/**
 * RFC 9051 §6.2.2: authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp];
 * RFC 4959 §7: initial-resp = (base64 / "="), "=" being an empty initial response.
 */
function parseAuthenticate(r: Reader, tag: string): Command {
  r.sp('SASL mechanism');
  const mechanism = r.keyword('SASL mechanism');
  if (!r.optSp()) return { tag, name: 'AUTHENTICATE', mechanism };
  const s = r.p;
  while (r.p < r.n && r.b[r.p] !== SP) r.p++;
  const initial = r.b.toString('latin1', s, r.p);
  if (initial === '') r.fail('Missing initial response');
  if (initial !== '=' && !isBase64(initial)) r.fail('Invalid initial response: not base64');
  return { tag, name: 'AUTHENTICATE', mechanism, initial };
}

/** base64 = *(4base64-char) [base64-terminal] (RFC 9051 §9): padded, non-empty. */
function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3d) {
      pad++;
      continue;
    }
    if (pad > 0) return false; // "=" only at the end
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === PLUS || c === 0x2f;
    if (!ok) return false;
  }
  return pad <= 2;
}

/**
 * RFC 9051 §6.3.2: select = "SELECT" SP mailbox [select-params] (RFC 4466 §2.1);
 * RFC 7162 §3.1.8, §3.2.5: select-param =/ "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP
 * mod-sequence-value [SP known-uids] [SP seq-match-data] ")".
 */
function parseSelect(r: Reader, tag: string, name: 'SELECT' | 'EXAMINE'): Command {
  r.sp('mailbox name');
  const mailbox = r.mailbox();
  let condstore = false;
  let qresync: QresyncParams | undefined;
  if (r.optSp()) {
    if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the ${name} parameters, found ${r.found()}`);
    r.list(
      `${name} parameters`,
      () => {
        const s = r.p;
        const param = r.keyword(`${name} parameter`);
        if (param === 'CONDSTORE') {
          condstore = true;
        } else if (param === 'QRESYNC') {
          if (qresync !== undefined) r.fail('QRESYNC given twice');
          r.sp('QRESYNC parameters');
          qresync = qresyncParams(r);
        } else {
          r.p = s;
          r.fail(`Unknown ${name} parameter ${r.show()}`);
        }
      },
      false,
    );
  }
  return qresync === undefined ? { tag, name, mailbox, condstore } : { tag, name, mailbox, condstore, qresync };
}

function qresyncParams(r: Reader): QresyncParams {
  // RFC 7162 §7: known-uids, known-sequence-set and known-uid-set: "'*' is not allowed".
  const noStar = { star: false, saved: false };
  r.expect(LPAREN, '"(" to open the QRESYNC parameters');
  const uidValidity = r.nzNumber('UIDVALIDITY');
  r.sp('mod-sequence');
  const q: QresyncParams = { uidValidity, modseq: r.modseq('mod-sequence') };
  if (r.optSp()) {
    if (r.peek() !== LPAREN) {
      q.knownUids = r.seqSet('known UIDs', noStar);
      if (r.optSp() && r.peek() !== LPAREN) r.fail(`Expected "(" to open the sequence match data, found ${r.found()}`);
    }
    if (r.peek() === LPAREN) {
      r.p++;
      const seqs = r.seqSet('known sequence set', noStar);
      r.sp('known UID set');
      const uids = r.seqSet('known UID set', noStar);
      r.expect(RPAREN, '")" to close the sequence match data');
      q.seqMatch = { seqs, uids };
    }
  }
  r.expect(RPAREN, '")" to close the QRESYNC parameters');
  return q;
}

/** RFC 6154 §6: the special-use attributes, in their canonical case. */
const SPECIAL_USE = new Map(['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash'].map((a) => [a.toUpperCase(), a]));

/**
 * RFC 9051 §6.3.4: create = "CREATE" SP mailbox [create-params] (RFC 4466 §2.2);
 * RFC 6154 §6: create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")". Known attributes
 * come back in their canonical case ("\Drafts"), extension ones ("\" atom) as sent.
 */
function parseCreate(r: Reader, tag: string): Command {
  r.sp('mailbox name');
  const mailbox = r.mailbox();
  const specialUse: string[] = [];
  if (r.optSp()) {
    if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the CREATE parameters, found ${r.found()}`);
    r.list(
      'CREATE parameters',
      () => {
        const s = r.p;
        const param = r.keyword('CREATE parameter');
        if (param !== 'USE') {
          r.p = s;
          r.fail(`Unknown CREATE parameter ${r.show()}`);
        }
        r.sp('special-use attributes');
        r.list(
          'special-use attributes',
          () => {
            if (r.peek() !== BACKSLASH) r.fail(`Invalid special-use attribute ${r.found()}: must start with "\\"`);
            const a = r.flag();
            specialUse.push(SPECIAL_USE.get(a.toUpperCase()) ?? a);
          },
          true,
        );
      },
      false,
    );
  }
  return { tag, name: 'CREATE', mailbox, specialUse };
}

/** list-mailbox = 1*list-char / string (RFC 9051 §9); as sent, UTF-8 decoded. */
function listMailbox(r: Reader): string {
  const c = r.peek();
  if (c === DQUOTE || r.atLiteral()) return r.string('mailbox pattern');
  const s = r.p;
  while (r.p < r.n && LISTCHAR[r.b[r.p]]) r.p++;
  if (r.p === s) {
    if (c === -1) r.fail('Missing mailbox pattern');
    r.fail(`Invalid mailbox pattern ${r.found()}`);
  }
  return r.b.toString('latin1', s, r.p);
}

const LIST_SELECT: ReadonlySet<string> = new Set<ListSelect>(['SUBSCRIBED', 'REMOTE', 'RECURSIVEMATCH', 'SPECIAL-USE']);

/**
 * RFC 9051 §6.3.9 and RFC 5258 §3: list = "LIST" [SP list-select-opts] SP mailbox SP
 * mbox-or-pat [SP list-return-opts]; RFC 5819 STATUS and RFC 6154 SPECIAL-USE options.
 * `extended` is set when any of the extended syntax is present (selection options, even
 * "()", parenthesised patterns or RETURN), as RFC 5258 §3 defines an extended LIST.
 */
function parseList(r: Reader, tag: string): Command {
  r.sp('reference name');
  const select: ListSelect[] = [];
  let extended = false;
  if (r.peek() === LPAREN) {
    extended = true;
    r.list(
      'LIST selection options',
      () => {
        const s = r.p;
        const opt = r.keyword('LIST selection option');
        // RFC 5258 §3: "Server implementations MUST reject unknown selection options."
        if (!LIST_SELECT.has(opt)) {
          r.p = s;
          r.fail(`Unknown LIST selection option ${r.show()}`);
        }
        if (!select.includes(opt as ListSelect)) select.push(opt as ListSelect);
      },
      true,
    );
    // RFC 5258 §3: RECURSIVEMATCH "MUST NOT occur as the only selection option (or only with REMOTE)".
    if (select.includes('RECURSIVEMATCH') && !select.includes('SUBSCRIBED') && !select.includes('SPECIAL-USE')) {
      r.fail('RECURSIVEMATCH needs another selection option (SUBSCRIBED or SPECIAL-USE)');
    }
    r.sp('reference name');
  }
  const reference = r.astring('reference name');
  r.sp('mailbox pattern');
  let patterns: string[];
  if (r.peek() === LPAREN) {
    extended = true;
    patterns = r.list('mailbox patterns', () => listMailbox(r), false);
  } else {
    patterns = [listMailbox(r)];
  }
  const ret: ListReturn = {};
  if (r.optSp()) {
    const s = r.p;
    if (r.keyword('RETURN') !== 'RETURN') {
      r.p = s;
      r.fail(`Expected RETURN, found ${r.found()}`);
    }
    extended = true;
    r.sp('LIST return options');
    r.list(
      'LIST return options',
      () => {
        const os = r.p;
        const opt = r.keyword('LIST return option');
        if (opt === 'SUBSCRIBED') ret.subscribed = true;
        else if (opt === 'CHILDREN') ret.children = true;
        else if (opt === 'SPECIAL-USE') ret.specialUse = true;
        else if (opt === 'STATUS') {
          // RFC 5819 §4: status-option = "STATUS" SP "(" status-att *(SP status-att) ")"
          r.sp('status items');
          ret.status = statusItems(r);
        } else {
          r.p = os;
          r.fail(`Unknown LIST return option ${r.show()}`);
        }
      },
      true,
    );
  }
  return { tag, name: 'LIST', reference, patterns, select, ret, extended };
}

const STATUS_ITEMS: ReadonlySet<string> = new Set<StatusItem>([
  'MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT',
  'HIGHESTMODSEQ', 'APPENDLIMIT', 'MAILBOXID', 'DELETED-STORAGE',
]);

/**
 * "(" status-att *(SP status-att) ")": RFC 9051 §6.3.11, RFC 3501 RECENT, RFC 7162
 * HIGHESTMODSEQ, RFC 7889 APPENDLIMIT, RFC 8474 MAILBOXID, RFC 9208 DELETED-STORAGE.
 */
function statusItems(r: Reader): StatusItem[] {
  if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the status items, found ${r.found()}`);
  return r.list(
    'status items',
    () => {
      const s = r.p;
      const item = r.keyword('status item');
      if (!STATUS_ITEMS.has(item)) {
        r.p = s;
        r.fail(`Unknown status item ${r.show()}`);
      }
      return item as StatusItem;
    },
    false,
  );
}

/**
 * RFC 9051 §6.3.12 append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal;
 * RFC 3502 §6 (MULTIAPPEND): 1*append-message; RFC 3516 §4.4 literal8; RFC 6855 §4:
 * append-data =/ "UTF8" SP "(" literal8 ")".
 */
function parseAppend(r: Reader, tag: string): Command {
  r.sp('mailbox name');
  const mailbox = r.mailbox();
  const messages: AppendMessage[] = [];
  do {
    if (messages.length >= MAX_ITEMS) r.fail(`Too many messages in one APPEND (more than ${MAX_ITEMS})`);
    r.sp('message literal');
    let flags: string[] = [];
    let date: number | undefined;
    if (r.peek() === LPAREN) {
      flags = r.flagList();
      r.sp('message literal');
    }
    if (r.peek() === DQUOTE) {
      date = r.dateTime();
      r.sp('message literal');
    }
    let m: AppendMessage;
    if (r.atLiteral()) {
      const lit = r.literal(true, 'a message');
      m = { flags, data: lit.data, binary: lit.binary, utf8: false };
    } else {
      const s = r.p;
      const word = r.peekKeyword();
      if (word !== 'UTF8') r.fail(`Expected a message literal, found ${r.found()}`);
      r.p = s + 4;
      r.sp('"(" and the UTF8 message literal');
      r.expect(LPAREN, '"(" before the UTF8 message literal');
      if (!r.atLiteral()) r.fail(`Expected a literal8 in UTF8 (...), found ${r.found()}`);
      const lit = r.literal(true, 'a message');
      r.expect(RPAREN, '")" after the UTF8 message literal');
      m = { flags, data: lit.data, binary: true, utf8: true };
    }
    if (date !== undefined) m.date = date;
    messages.push(m);
  } while (!r.atEnd());
  return { tag, name: 'APPEND', mailbox, messages };
}

/** RFC 9208 §6.1.3: setquota = "SETQUOTA" SP quota-root-name SP setquota-list. */
function parseSetQuota(r: Reader, tag: string): Command {
  r.sp('quota root');
  const root = r.astring('quota root');
  r.sp('quota limits');
  if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the quota limits, found ${r.found()}`);
  const limits: [string, bigint][] = r.list(
    'quota limits',
    () => {
      const res = r.keyword('quota resource name');
      r.sp('quota limit');
      const v = r.modseq('quota limit'); // number64: the same 0..2^63-1 range
      return [res, v] as [string, bigint];
    },
    true,
  );
  return { tag, name: 'SETQUOTA', root, limits };
}

/** RFC 4314 §4: mod-rights = astring: ["+" / "-"] rights; rights are lower-case letters and digits. */
function rights(r: Reader): string {
  const s = r.astring('rights');
  const from = s.startsWith('+') || s.startsWith('-') ? 1 : 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39))) {
      r.fail(`Invalid rights "${s.length > EXCERPT ? `${s.slice(0, EXCERPT)}...` : s}": only lower-case letters and digits`);
    }
  }
  return s;
}

/** RFC 9051 §6.4.7 copy, RFC 6851 §4.1 move: SP sequence-set SP mailbox. */
function parseCopy(r: Reader, tag: string, name: 'COPY' | 'MOVE', uid: boolean): Command {
  r.sp(uid ? 'UID set' : 'sequence set');
  const set = r.seqSet(uid ? 'UID set' : 'sequence set');
  r.sp('mailbox name');
  return { tag, name, uid, set, mailbox: r.mailbox() };
}

// ---- STORE ----

/**
 * RFC 9051 §6.4.6: store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags;
 * store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)));
 * RFC 7162 §3.1.3: store-modifier =/ "UNCHANGEDSINCE" SP mod-sequence-valzer.
 */
function parseStore(r: Reader, tag: string, uid: boolean): Command {
  const what = uid ? 'UID set' : 'sequence set';
  r.sp(what);
  const set = r.seqSet(what);
  r.sp('STORE data item');
  let unchangedSince: bigint | undefined;
  if (r.peek() === LPAREN) {
    r.list(
      'STORE modifiers',
      () => {
        const s = r.p;
        const m = r.keyword('STORE modifier');
        if (m !== 'UNCHANGEDSINCE') {
          r.p = s;
          r.fail(`Unknown STORE modifier ${r.show()}`);
        }
        if (unchangedSince !== undefined) r.fail('UNCHANGEDSINCE given twice');
        r.sp('mod-sequence');
        unchangedSince = r.modseq('mod-sequence');
      },
      false,
    );
    r.sp('STORE data item');
  }
  const s = r.p;
  const item = r.keyword('STORE data item');
  let op: StoreAction['op'] = 'set';
  let rest = item;
  if (rest.startsWith('+')) {
    op = 'add';
    rest = rest.slice(1);
  } else if (rest.startsWith('-')) {
    op = 'remove';
    rest = rest.slice(1);
  }
  if (rest !== 'FLAGS' && rest !== 'FLAGS.SILENT') {
    r.p = s;
    r.fail(`Unknown STORE data item ${r.show()}`);
  }
  r.sp('flags');
  let flags: string[];
  if (r.peek() === LPAREN) {
    flags = r.flagList();
  } else {
    flags = [r.flag()];
    while (r.optSp()) {
      if (flags.length >= MAX_ITEMS) r.fail(`Too many flags (more than ${MAX_ITEMS})`);
      flags.push(r.flag());
    }
  }
  const action: StoreAction = { op, silent: rest === 'FLAGS.SILENT', flags };
  return unchangedSince === undefined ? { tag, name: 'STORE', uid, set, action } : { tag, name: 'STORE', uid, set, unchangedSince, action };
}

// ---- FETCH ----

type Macro = 'ALL' | 'FAST' | 'FULL';

/** RFC 9051 §6.4.5: the macros. */
function macroAtts(m: Macro): FetchAtt[] {
  const atts: FetchAtt[] = [{ a: 'FLAGS' }, { a: 'INTERNALDATE' }, { a: 'RFC822.SIZE' }];
  if (m !== 'FAST') atts.push({ a: 'ENVELOPE' });
  if (m === 'FULL') atts.push({ a: 'BODY' });
  return atts;
}

/**
 * RFC 9051 §6.4.5: fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
 * "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]; RFC 7162 §3.1.4.1 CHANGEDSINCE,
 * §3.2.6 VANISHED.
 */
function parseFetch(r: Reader, tag: string, uid: boolean): Command {
  const what = uid ? 'UID set' : 'sequence set';
  r.sp(what);
  const set = r.seqSet(what);
  r.sp('FETCH attributes');
  let atts: FetchAtt[];
  let macro: Macro | undefined;
  if (r.peek() === LPAREN) {
    atts = r.list('FETCH attributes', () => fetchAtt(r), false);
  } else {
    const s = r.p;
    const m = r.name();
    if ((m === 'ALL' || m === 'FAST' || m === 'FULL') && (r.atEnd() || r.peek() === SP)) {
      macro = m;
      atts = macroAtts(m);
    } else {
      r.p = s;
      atts = [fetchAtt(r)];
    }
  }
  const modifiers: FetchModifiers = {};
  if (r.optSp()) {
    if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the FETCH modifiers, found ${r.found()}`);
    r.list(
      'FETCH modifiers',
      () => {
        const s = r.p;
        const m = r.keyword('FETCH modifier');
        if (m === 'CHANGEDSINCE') {
          if (modifiers.changedSince !== undefined) r.fail('CHANGEDSINCE given twice');
          r.sp('mod-sequence');
          modifiers.changedSince = r.modseq('mod-sequence');
        } else if (m === 'VANISHED') {
          modifiers.vanished = true;
        } else {
          r.p = s;
          r.fail(`Unknown FETCH modifier ${r.show()}`);
        }
      },
      false,
    );
    // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only together with CHANGEDSINCE.
    if (modifiers.vanished && !uid) r.fail('VANISHED is only allowed in UID FETCH');
    if (modifiers.vanished && modifiers.changedSince === undefined) r.fail('VANISHED needs CHANGEDSINCE');
  }
  return macro === undefined ? { tag, name: 'FETCH', uid, set, atts, modifiers } : { tag, name: 'FETCH', uid, set, atts, modifiers, macro };
}

const SIMPLE_ATTS = new Set([
  'ENVELOPE', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'UID', 'BODYSTRUCTURE', 'RFC822', 'RFC822.HEADER',
  'RFC822.TEXT', 'MODSEQ', 'EMAILID', 'THREADID', 'SAVEDATE',
]);

function fetchAtt(r: Reader): FetchAtt {
  const s = r.p;
  const name = r.name();
  if (name === '') r.fail(r.atEnd() ? 'Missing FETCH attribute' : `Invalid FETCH attribute ${r.found()}`);
  const unknown = (): never => {
    r.p = s;
    return r.fail(`Unknown FETCH attribute ${r.show()}`);
  };
  const needSection = (): void => {
    if (r.peek() !== LBRACKET) r.fail(`${name} needs a section in brackets, like ${name}[]`);
  };
  // After a name, only a space, ")" or the end may follow (or "[" where a section is allowed).
  const done = <T extends FetchAtt>(att: T): T => {
    const c = r.peek();
    if (c !== -1 && c !== SP && c !== RPAREN) unknown();
    return att;
  };
  if (SIMPLE_ATTS.has(name)) return done({ a: name } as FetchAtt);
  switch (name) {
    case 'BODY':
      if (r.peek() !== LBRACKET) return done({ a: 'BODY' });
      return done(bodySection(r, 'BODY[]', false));
    case 'BODY.PEEK':
      needSection();
      return done(bodySection(r, 'BODY[]', true));
    case 'BINARY':
      needSection();
      return done(bodySection(r, 'BINARY[]', false));
    case 'BINARY.PEEK':
      needSection();
      return done(bodySection(r, 'BINARY[]', true));
    case 'BINARY.SIZE':
      // RFC 3516 §6: "BINARY.SIZE" section-binary (no partial)
      needSection();
      return done({ a: 'BINARY.SIZE', section: binarySection(r) });
    case 'PREVIEW': {
      // RFC 8970 §7: fetch-att =/ "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]; preview-mod = "LAZY".
      // "PREVIEW (" can also be a bare PREVIEW followed by the FETCH modifiers: LAZY tells them apart.
      let lazy = false;
      if (r.peek() === SP && r.b[r.p + 1] === LPAREN) {
        const save = r.p;
        r.p += 2;
        const word = r.peekKeyword();
        r.p = save;
        if (word === 'LAZY') {
          r.p++;
          r.list(
            'PREVIEW modifiers',
            () => {
              if (r.keyword('PREVIEW modifier') !== 'LAZY') r.fail('Unknown PREVIEW modifier');
            },
            false,
          );
          lazy = true;
        }
      }
      return done({ a: 'PREVIEW', lazy });
    }
    default:
      return unknown();
  }
}

/** BODY[section]<partial>, BINARY[section-binary]<partial> (RFC 9051 §9, RFC 3516 §6). */
function bodySection(r: Reader, a: 'BODY[]' | 'BINARY[]', peek: boolean): FetchAtt {
  const section = a === 'BODY[]' ? bodySectionSpec(r) : binarySection(r);
  // partial = "<" number64 "." nz-number64 ">"
  if (r.peek() === LT) {
    r.p++;
    const offset = r.number64('partial offset');
    r.expect(DOT, '"." in the partial range <offset.length>');
    const length = r.number64('partial length', true);
    r.expect(GT, '">" to close the partial range');
    return { a, peek, section, partial: { offset, length } };
  }
  return { a, peek, section };
}

function sectionParts(r: Reader): number[] {
  // section-part = nz-number *("." nz-number)
  const part: number[] = [];
  for (;;) {
    if (part.length >= MAX_SECTION_PARTS) r.fail(`Section nested deeper than ${MAX_SECTION_PARTS} parts`);
    part.push(r.nzNumber('section part number'));
    if (r.peek() === DOT && isDigit(r.b[r.p + 1])) {
      r.p++;
      continue;
    }
    return part;
  }
}

/**
 * section = "[" [section-spec] "]"; section-spec = section-msgtext / (section-part ["."
 * section-text]); section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
 * "TEXT"; section-text = section-msgtext / "MIME" (RFC 9051 §9).
 */
function bodySectionSpec(r: Reader): Section {
  r.p++; // "["
  let part: number[] = [];
  let textName: string | null = null;
  if (isDigit(r.peek())) {
    part = sectionParts(r);
    if (r.peek() === DOT) {
      r.p++;
      textName = r.name();
      if (textName === '') r.fail('Missing section text after the part number');
    }
  } else if (r.peek() !== RBRACKET) {
    textName = r.name();
    if (textName === '') r.fail(`Invalid section ${r.found()}`);
  }
  const section: Section = { part, text: null };
  if (textName !== null) {
    switch (textName) {
      case 'HEADER':
      case 'TEXT':
        section.text = textName;
        break;
      case 'MIME':
        // RFC 9051 §6.4.5: "The MIME part specifier MUST be prefixed by one or more numeric part specifiers."
        if (part.length === 0) r.fail('MIME needs a part number, like BODY[1.MIME]');
        section.text = 'MIME';
        break;
      case 'HEADER.FIELDS':
      case 'HEADER.FIELDS.NOT': {
        section.text = textName;
        r.sp('header field list');
        if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the header field list, found ${r.found()}`);
        // header-list = "(" header-fld-name *(SP header-fld-name) ")"; header-fld-name = astring
        section.fields = r.list('header field list', () => r.astring('header field name'), false);
        break;
      }
      default:
        r.fail(`Unknown section text ${textName.length > EXCERPT ? `${textName.slice(0, EXCERPT)}...` : textName}`);
    }
  }
  r.expect(RBRACKET, '"]" to close the section');
  return section;
}

/** section-binary = "[" [section-part] "]" (RFC 3516 §6). */
function binarySection(r: Reader): Section {
  r.p++; // "["
  const part = isDigit(r.peek()) ? sectionParts(r) : [];
  if (r.peek() !== RBRACKET) r.fail(`Invalid BINARY section: only part numbers are allowed, found ${r.found()}`);
  r.p++;
  return { part, text: null };
}

// ---- SEARCH, SORT, THREAD ----

const SEARCH_RETURN: ReadonlySet<string> = new Set<SearchReturn>(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE']);

/**
 * search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
 * (RFC 4731 §3.1, RFC 5182 §4). The cursor is after "RETURN". RETURN () means ALL (RFC 4731
 * §3.1), and comes back as ['ALL'].
 */
function searchReturn(r: Reader): SearchReturn[] {
  r.sp('RETURN options');
  if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the RETURN options, found ${r.found()}`);
  const opts: SearchReturn[] = [];
  r.list(
    'RETURN options',
    () => {
      const s = r.p;
      const o = r.keyword('RETURN option');
      if (!SEARCH_RETURN.has(o)) {
        r.p = s;
        r.fail(`Unknown RETURN option ${r.show()}`);
      }
      if (!opts.includes(o as SearchReturn)) opts.push(o as SearchReturn);
    },
    true,
  );
  return opts.length === 0 ? ['ALL'] : opts;
}

/** charset = atom / quoted (RFC 9051 §9), upper-cased. */
function charset(r: Reader): string {
  if (r.peek() === DQUOTE) return asciiUpper(r.text(r.quoted(), 'charset'));
  return r.keyword('charset');
}

/**
 * RFC 9051 §6.4.4: search = "SEARCH" [search-return-opts] SP search-program;
 * search-program = ["CHARSET" SP charset SP] search-key *(SP search-key).
 */
function parseSearch(r: Reader, tag: string, uid: boolean): Command {
  r.sp('search key');
  let ret: SearchReturn[] | null = null;
  if (r.peekKeyword() === 'RETURN') {
    r.p += 6;
    ret = searchReturn(r);
    r.sp('search key');
  }
  let cs: string | null = null;
  if (r.peekKeyword() === 'CHARSET') {
    r.p += 7;
    r.sp('charset');
    cs = charset(r);
    r.sp('search key');
  }
  return { tag, name: 'SEARCH', uid, charset: cs, ret, key: searchProgram(r) };
}

const SORT_KEYS: ReadonlySet<string> = new Set<SortKey>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

/**
 * RFC 5256 §5: sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria, with RFC 5267
 * §3.2's search-return-opts (ESORT) after SORT; RFC 5957 DISPLAYFROM/DISPLAYTO.
 */
function parseSort(r: Reader, tag: string, uid: boolean): Command {
  r.sp('sort criteria');
  let ret: SearchReturn[] | null = null;
  if (r.peekKeyword() === 'RETURN') {
    r.p += 6;
    ret = searchReturn(r);
    r.sp('sort criteria');
  }
  if (r.peek() !== LPAREN) r.fail(`Expected "(" to open the sort criteria, found ${r.found()}`);
  const criteria: SortCriterion[] = r.list(
    'sort criteria',
    () => {
      let reverse = false;
      let s = r.p;
      let key = r.keyword('sort key');
      if (key === 'REVERSE') {
        reverse = true;
        r.sp('sort key after REVERSE');
        s = r.p;
        key = r.keyword('sort key');
      }
      if (!SORT_KEYS.has(key)) {
        r.p = s;
        r.fail(`Unknown sort key ${r.show()}`);
      }
      return { key: key as SortKey, reverse };
    },
    false,
  );
  r.sp('charset');
  const cs = charset(r);
  r.sp('search key');
  return { tag, name: 'SORT', uid, criteria, charset: cs, key: searchProgram(r), ret };
}

/** RFC 5256 §5: thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria. */
function parseThread(r: Reader, tag: string, uid: boolean): Command {
  r.sp('threading algorithm');
  const s = r.p;
  const algorithm = r.keyword('threading algorithm');
  if (algorithm !== 'ORDEREDSUBJECT' && algorithm !== 'REFERENCES') {
    r.p = s;
    r.fail(`Unknown threading algorithm ${r.show()}`);
  }
  r.sp('charset');
  const cs = charset(r);
  r.sp('search key');
  return { tag, name: 'THREAD', uid, algorithm, charset: cs, key: searchProgram(r) };
}

/** search-key *(SP search-key): one key as itself, several as their AND. */
function searchProgram(r: Reader): SearchKey {
  const keys = [searchKey(r)];
  while (r.optSp()) {
    if (keys.length >= MAX_ITEMS) r.fail(`Too many search keys (more than ${MAX_ITEMS})`);
    keys.push(searchKey(r));
  }
  return keys.length === 1 ? keys[0] : { k: 'and', keys };
}

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};

const DATE_KEYS: Record<string, ['internal' | 'sent' | 'saved', 'before' | 'on' | 'since']> = {
  BEFORE: ['internal', 'before'],
  ON: ['internal', 'on'],
  SINCE: ['internal', 'since'],
  SENTBEFORE: ['sent', 'before'],
  SENTON: ['sent', 'on'],
  SENTSINCE: ['sent', 'since'],
  // RFC 8514 §4.2 (SAVEDATE)
  SAVEDBEFORE: ['saved', 'before'],
  SAVEDON: ['saved', 'on'],
  SAVEDSINCE: ['saved', 'since'],
};

const ENVELOPE_KEYS: Record<string, 'bcc' | 'cc' | 'from' | 'to' | 'subject'> = {
  BCC: 'bcc',
  CC: 'cc',
  FROM: 'from',
  TO: 'to',
  SUBJECT: 'subject',
};

/**
 * search-key (RFC 9051 §6.4.4 and §9; RFC 3501 NEW/OLD/RECENT; RFC 7162 §3.1.5 MODSEQ;
 * RFC 8514 SAVEDATE; RFC 8474 §4 EMAILID/THREADID; RFC 5032 §3 OLDER/YOUNGER; RFC 5182 "$").
 */
function searchKey(r: Reader): SearchKey {
  if (r.depth >= MAX_DEPTH) r.fail(`Search keys nested too deeply (more than ${MAX_DEPTH} levels)`);
  if (++r.searchKeys > MAX_SEARCH_KEYS) r.fail(`Too many search keys (more than ${MAX_SEARCH_KEYS})`);
  r.depth++;
  try {
    return searchKeyAt(r);
  } finally {
    r.depth--;
  }
}

function searchKeyAt(r: Reader): SearchKey {
  const c = r.peek();
  if (c === -1) r.fail('Missing search key');
  if (c === LPAREN) {
    r.p++;
    const keys = [searchKey(r)];
    for (;;) {
      const d = r.peek();
      if (d === RPAREN) {
        r.p++;
        return { k: 'and', keys };
      }
      if (d === -1) r.fail('Unterminated search key list: missing ")"');
      if (d !== SP) r.fail(`Invalid search key list: unexpected ${r.found()}`);
      r.p++;
      if (keys.length >= MAX_ITEMS) r.fail(`Too many search keys in a list (more than ${MAX_ITEMS})`);
      keys.push(searchKey(r));
    }
  }
  if (isDigit(c) || c === ASTERISK || c === DOLLAR) return { k: 'seq', set: r.seqSet('sequence set') };
  const s = r.p;
  const key = r.atomRaw().toUpperCase();
  if (key === '') r.fail(`Invalid search key ${r.found()}`);
  const flag = FLAG_KEYS[key];
  if (flag !== undefined) return { k: 'flag', flag: flag[0], set: flag[1] };
  const date = DATE_KEYS[key];
  if (date !== undefined) {
    r.sp(`date after ${key}`);
    return { k: 'date', field: date[0], cmp: date[1], day: r.date(`date after ${key}`) };
  }
  const env = ENVELOPE_KEYS[key];
  if (env !== undefined) {
    r.sp(`string after ${key}`);
    return { k: 'envelope', field: env, value: r.astringBuf(`string after ${key}`) };
  }
  switch (key) {
    case 'ALL':
      return { k: 'all' };
    case 'RECENT':
    case 'NEW':
    case 'OLD':
      return { k: 'recent', which: key === 'RECENT' ? 'recent' : key === 'NEW' ? 'new' : 'old' };
    case 'KEYWORD':
    case 'UNKEYWORD': {
      // "KEYWORD" SP flag-keyword: an atom, never a system flag
      r.sp(`keyword after ${key}`);
      const fs = r.p;
      const kw = r.atomRaw();
      if (kw === '') {
        r.p = fs;
        r.fail(`Invalid keyword after ${key}: ${r.found()}`);
      }
      return { k: 'flag', flag: kw, set: key === 'KEYWORD' };
    }
    case 'BODY':
    case 'TEXT':
      r.sp(`string after ${key}`);
      return { k: 'text', where: key === 'BODY' ? 'body' : 'text', value: r.astringBuf(`string after ${key}`) };
    case 'HEADER': {
      // "HEADER" SP header-fld-name SP astring
      r.sp('header field name');
      const field = r.astring('header field name');
      r.sp('string after the header field name');
      return { k: 'header', field, value: r.astringBuf('string after the header field name') };
    }
    case 'LARGER':
    case 'SMALLER':
      r.sp(`size after ${key}`);
      return { k: key === 'LARGER' ? 'larger' : 'smaller', n: r.number64(`size after ${key}`) };
    case 'NOT':
      r.sp('search key after NOT');
      return { k: 'not', key: searchKey(r) };
    case 'OR': {
      r.sp('search key after OR');
      const a = searchKey(r);
      r.sp('second search key of OR');
      return { k: 'or', a, b: searchKey(r) };
    }
    case 'UID':
      r.sp('UID set');
      return { k: 'uid', set: r.seqSet('UID set') };
    case 'OLDER':
    case 'YOUNGER':
      // RFC 5032 §4: "OLDER" SP nz-number / "YOUNGER" SP nz-number
      r.sp(`seconds after ${key}`);
      return { k: 'age', cmp: key === 'OLDER' ? 'older' : 'younger', seconds: r.nzNumber(`seconds after ${key}`) };
    case 'SAVEDATESUPPORTED':
      return { k: 'savedatesupported' };
    case 'EMAILID':
    case 'THREADID': {
      r.sp(`object id after ${key}`);
      const os = r.p;
      while (r.p < r.n && OBJECTID[r.b[r.p]]) r.p++;
      const len = r.p - os;
      const next = r.peek();
      if (len === 0 || len > 255 || (next !== -1 && next !== SP && next !== RPAREN)) {
        r.p = os;
        r.fail(`Invalid object id after ${key}: ${r.found()}`);
      }
      const id = r.b.toString('latin1', os, r.p);
      return key === 'EMAILID' ? { k: 'emailid', id } : { k: 'threadid', id };
    }
    case 'MODSEQ': {
      // RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer;
      // entry-name = DQUOTE "/flags/" attr-flag DQUOTE; entry-type-req = "priv" / "shared" / "all"
      r.sp('mod-sequence');
      const d = r.peek();
      if (d === DQUOTE || r.atLiteral()) {
        const name = r.string('MODSEQ entry name');
        if (name.length < 8 || asciiUpper(name.slice(0, 7)) !== '/FLAGS/') r.fail('Invalid MODSEQ entry name: must be "/flags/<flag>"');
        r.sp('MODSEQ entry type');
        const ts = r.p;
        const type = r.keyword('MODSEQ entry type');
        if (type !== 'PRIV' && type !== 'SHARED' && type !== 'ALL') {
          r.p = ts;
          r.fail(`Invalid MODSEQ entry type ${r.show()}: must be priv, shared or all`);
        }
        r.sp('mod-sequence');
        const n = r.modseq('mod-sequence');
        return { k: 'modseq', n, entry: { name, type: type === 'PRIV' ? 'priv' : type === 'SHARED' ? 'shared' : 'all' } };
      }
      return { k: 'modseq', n: r.modseq('mod-sequence') };
    }
    default:
      r.p = s;
      return r.fail(`Unknown search key ${r.show()}`);
  }
}
