/**
 * The text of a message for the full-text index, and the one tokeniser that both the index
 * (at delivery) and queries use, so that SQLite FTS5 and PostgreSQL tsvector, fed the same
 * token streams, match the same way (store/fts.ts: every query term must occur, as a prefix
 * of an indexed token).
 *
 * What is indexed:
 * - header: the RFC 2047-decoded values of the fields a person searches for (HEADER_FIELDS):
 *   addresses and display names, subject, comments and keywords, organisation, list and
 *   newsgroups, the mail program. Not trace and machine fields (Received, DKIM-Signature,
 *   ARC-*, Authentication-Results, Content-*, X-Spam-*...): their host names, IP addresses and
 *   hashes are in every message, so they would make common searches ("example", a domain)
 *   match everything and flood the vocabulary with one-off tokens. Not Date (SEARCH has
 *   SINCE/BEFORE/ON; "2024" as a word would match every message of the year) and not
 *   Message-ID/In-Reply-To/References (one-off random tokens per message; exact look-ups
 *   use the stored Message-ID).
 * - body: the decoded text of text/* parts (HTML through decodeHtmlEntities and htmlToText),
 *   of one alternative per multipart/alternative (RFC 2046 §5.1.4: the last one we can read,
 *   as a capable reader shows it; indexing every alternative would double most bodies), part
 *   file names and descriptions, and embedded messages (message/rfc822, message/global):
 *   their header fields (the same list) and their bodies, as body text of the outer message.
 *   Never the bytes of other parts (PDF, images): only their names.
 *
 * Invariants:
 * - extractText never throws: a part that cannot be read contributes what it can.
 * - Bounded and linear: each text is at most maxChars characters; a text part's raw body is
 *   read only up to a constant multiple of the room left, so a huge part costs no more than
 *   the budget; searchTokens returns at most maxTokens tokens of at most 64 code points.
 * - Tokens are lower-case runs of \p{L}\p{N} only, so they pass store/fts.ts's filter and
 *   cannot carry FTS5 or tsquery syntax.
 */
import { decodeCharset } from './charset.ts';
import { filenameOf } from './content-header.ts';
import { decodeEncodedWords } from './encoded-word.ts';
import { htmlToText } from './preview.ts';
import { decodeBody } from './transfer-encoding.ts';
import type { HeaderField, MimePart, ParsedMessage } from './types.ts';

export interface IndexText {
  header: string;
  body: string;
}

export const DEFAULT_MAX_CHARS = 512 * 1024;
export const DEFAULT_MAX_TOKENS = 200_000;
/** Longer letter-digit runs are base64, hashes or hex dumps, not words anyone types. */
export const MAX_TOKEN_CHARS = 64;

/**
 * Header fields indexed (lower-case), in the order they appear in the message. An allow-list
 * rather than a deny-list: the machine fields are an open set (every filter and gateway adds
 * its own X- fields), the fields people search for are few and known.
 */
export const HEADER_FIELDS: ReadonlySet<string> = new Set([
  // RFC 5322 §3.6.2, §3.6.3 originator and destination fields, and §3.6.6 resent fields.
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc',
  'resent-from', 'resent-sender', 'resent-to', 'resent-cc', 'resent-bcc',
  // RFC 5322 §3.6.5 informational fields.
  'subject', 'comments', 'keywords',
  // Organisation (an optional news field, RFC 5536 §3.2, common in mail), mailing list
  // (RFC 2919), newsgroups (RFC 5536 §3.1; NNTP over shared folders), the sending program.
  'organization', 'organisation', 'list-id', 'newsgroups', 'x-mailer', 'user-agent',
]);

/** Deepest part nesting walked; parse.ts stops at 256 levels, a stored tree may be anything. */
const MAX_WALK_DEPTH = 300;
/**
 * Raw body octets read per character of room left. Plain text: quoted-printable (3 octets per
 * decoded octet) of a 4-octet charset (GB18030) stays within 12. HTML: markup around little
 * text (layout tables, inline styles) commonly runs at 20 to 50 octets per character of text.
 */
const PLAIN_FACTOR = 16;
const HTML_FACTOR = 64;

/** A bounded text accumulator: pieces joined by "\n", at most `max` characters in all. */
class Sink {
  private readonly pieces: string[] = [];
  private room: number;

  constructor(max: number) {
    this.room = max;
  }

  get left(): number {
    return this.room;
  }

  add(s: string): void {
    if (s.length === 0) return;
    const sep = this.pieces.length > 0 ? 1 : 0;
    if (this.room - sep <= 0) {
      this.room = 0;
      return;
    }
    let t = s;
    const space = this.room - sep;
    if (t.length > space) {
      let cut = space;
      // Never leave half a surrogate pair at the end.
      const c = t.charCodeAt(cut - 1);
      if (c >= 0xd800 && c <= 0xdbff) cut--;
      t = t.slice(0, cut);
      if (t.length === 0) {
        this.room = 0;
        return;
      }
    }
    this.pieces.push(t);
    this.room -= t.length + sep;
  }

  mark(): { n: number; room: number } {
    return { n: this.pieces.length, room: this.room };
  }

  reset(m: { n: number; room: number }): void {
    this.pieces.length = m.n;
    this.room = m.room;
  }

  /** Whether anything added since `m` holds a letter or digit (something to search for). */
  hasWordsSince(m: { n: number }): boolean {
    for (let i = m.n; i < this.pieces.length; i++) if (/[\p{L}\p{N}]/u.test(this.pieces[i])) return true;
    return false;
  }

  text(): string {
    return this.pieces.join('\n');
  }
}

function addHeaders(sink: Sink, fields: readonly HeaderField[]): void {
  for (const f of fields) {
    if (sink.left <= 0) return;
    if (!HEADER_FIELDS.has(f.name.toLowerCase())) continue;
    sink.add(decodeEncodedWords(f.value));
  }
}

/** RFC 2046 §5.1.4 alternatives worth reading first: the body text a reader would show. */
function isReadable(p: MimePart): boolean {
  if (p.parts.length > 0 || p.message) return true;
  return p.type === 'text' && (p.subtype === 'plain' || p.subtype === 'html');
}

// HTML 4 named character references (the Latin-1 block, Greek, typography), by code point:
// htmlToText decodes the few a preview needs, while the index needs every letter ("St&uuml;ck"
// must be one word). The names are case-sensitive ("&Uuml;" is not "&uuml;").
const LATIN1_NAMES = (
  'nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute ' +
  'micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig ' +
  'Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash ' +
  'Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc ' +
  'euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml ' +
  'yacute thorn yuml'
).split(' ');
const GREEK_NAMES = 'Alpha Beta Gamma Delta Epsilon Zeta Eta Theta Iota Kappa Lambda Mu Nu Xi Omicron Pi Rho - Sigma Tau Upsilon Phi Chi Psi Omega'.split(' ');
const OTHER_ENTITIES: Record<string, number> = {
  OElig: 338, oelig: 339, Scaron: 352, scaron: 353, Yuml: 376, fnof: 402, circ: 710, tilde: 732, thetasym: 977, upsih: 978,
  piv: 982, ensp: 8194, emsp: 8195, thinsp: 8201, zwnj: 8204, zwj: 8205, lrm: 8206, rlm: 8207, ndash: 8211, mdash: 8212,
  lsquo: 8216, rsquo: 8217, sbquo: 8218, ldquo: 8220, rdquo: 8221, bdquo: 8222, dagger: 8224, Dagger: 8225, bull: 8226,
  hellip: 8230, permil: 8240, prime: 8242, Prime: 8243, lsaquo: 8249, rsaquo: 8250, oline: 8254, frasl: 8260, euro: 8364,
  trade: 8482, larr: 8592, rarr: 8594, hearts: 9829,
};
const ENTITIES = new Map<string, string>();
LATIN1_NAMES.forEach((n, i) => ENTITIES.set(n, String.fromCharCode(160 + i)));
GREEK_NAMES.forEach((n, i) => {
  if (n === '-') return;
  ENTITIES.set(n, String.fromCharCode(913 + i));
  ENTITIES.set(n.toLowerCase(), String.fromCharCode(945 + i));
});
ENTITIES.set('sigmaf', '\u03c2');
for (const [n, cp] of Object.entries(OTHER_ENTITIES)) ENTITIES.set(n, String.fromCharCode(cp));
/** Markup-significant references, left for htmlToText, which decodes them after removing the tags. */
const MARKUP_ENTITIES = new Set(['amp', 'lt', 'gt', 'quot', 'apos']);

/**
 * Named character references decoded before htmlToText. Unknown ones become a space rather
 * than a junk word ("&rarrhk;" is no word to find). "&amp;uuml;" stays literal text: its
 * "&amp;" is left for htmlToText, and what follows is no reference any more.
 */
export function decodeHtmlEntities(html: string): string {
  if (!html.includes('&')) return html;
  return html.replace(/&([A-Za-z][A-Za-z0-9]{1,31});/g, (all, name: string) => {
    if (MARKUP_ENTITIES.has(name)) return all;
    return ENTITIES.get(name) ?? ' ';
  });
}

function addTextPart(sink: Sink, raw: Uint8Array, p: MimePart): void {
  const room = sink.left;
  if (room <= 0) return;
  const html = p.subtype === 'html';
  const start = Math.max(0, Math.min(p.headerEnd, raw.length));
  const end = Math.max(start, Math.min(p.bodyEnd, raw.length));
  const limit = room * (html ? HTML_FACTOR : PLAIN_FACTOR);
  const cut = end - start > limit;
  const body = raw.subarray(start, cut ? start + limit : end);
  let text = decodeCharset(decodeBody(body, p.encoding), p.params.charset);
  // A multi-octet character cut in half by the prefix decodes as U+FFFD.
  if (cut) text = text.replace(/\ufffd+$/, '');
  if (html) text = htmlToText(decodeHtmlEntities(text));
  sink.add(text);
}

class Walker {
  private readonly raw: Uint8Array;
  private readonly sink: Sink;

  constructor(raw: Uint8Array, sink: Sink) {
    this.raw = raw;
    this.sink = sink;
  }

  part(p: MimePart, depth: number): void {
    if (this.sink.left <= 0 || depth > MAX_WALK_DEPTH) return;
    try {
      // File names and descriptions of any part: what a person calls an attachment.
      const name = filenameOf(p);
      if (name) this.sink.add(name);
      if (p.description) this.sink.add(decodeEncodedWords(p.description));
      if (p.parts.length > 0) {
        if (p.subtype === 'alternative') this.alternative(p, depth);
        else for (const c of p.parts) this.part(c, depth + 1);
      } else if (p.message) {
        // RFC 2046 §5.2.1: an embedded message; its header fields are body text of this one.
        addHeaders(this.sink, p.message.part.headers);
        this.part(p.message.part, depth + 1);
      } else if (p.type === 'text') {
        addTextPart(this.sink, this.raw, p);
      }
      // Anything else (application/*, image/*, an encoded message/rfc822, which RFC 2046
      // §5.2.1 forbids and parse.ts leaves opaque): its name only, never its bytes.
    } catch {
      // A broken part contributes what it added before it broke.
    }
  }

  /**
   * RFC 2046 §5.1.4: "the last part is the best choice" among those a reader supports. The
   * last readable alternative that yields any word is indexed; the others are not, so that
   * the same text is not indexed twice. When no plain, HTML or multipart alternative has
   * words, the others (text/calendar, text/enriched ...) are tried the same way.
   */
  private alternative(p: MimePart, depth: number): void {
    for (const readable of [true, false]) {
      for (let i = p.parts.length - 1; i >= 0; i--) {
        const c = p.parts[i];
        if (isReadable(c) !== readable) continue;
        const m = this.sink.mark();
        this.part(c, depth + 1);
        if (this.sink.hasWordsSince(m)) return;
        this.sink.reset(m);
      }
    }
  }
}

/**
 * The header and body text of a message for the full-text index (see the module comment for
 * what goes where). `parsed` is parseMessage(raw). Never throws.
 */
export function extractText(raw: Uint8Array, parsed: ParsedMessage, opts?: { maxChars?: number }): IndexText {
  const max = clampMax(opts?.maxChars);
  const header = new Sink(max);
  const body = new Sink(max);
  // Only a bug (or a parse result that is not one) gets into the catches; what was gathered
  // so far is still worth indexing.
  const root = parsed?.part;
  try {
    if (root && Array.isArray(root.headers)) addHeaders(header, root.headers);
  } catch {
    // see above
  }
  try {
    if (root) new Walker(raw instanceof Uint8Array ? raw : new Uint8Array(0), body).part(root, 0);
  } catch {
    // see above
  }
  return { header: header.text(), body: body.text() };
}

function clampMax(v: number | undefined): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return DEFAULT_MAX_CHARS;
  return Math.max(0, Math.floor(v));
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

const WORD = /[\p{L}\p{N}]+/gu;
/**
 * Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer,
 * Myanmar) and Korean, whose particles attach to the word before them. Their runs are cut
 * into overlapping bigrams (see searchTokens). Script_Extensions, so that the kana
 * prolonged sound mark "ー" and the iteration mark "々" count with their scripts.
 */
const UNSEGMENTED = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Bopomofo}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]/u;
/**
 * Invisible characters that are no word boundary and go: combining marks (after NFKD, the
 * accents: "café" = "cafe") and format characters (soft hyphen, zero-width joiners, bidi
 * controls, BOM). U+200B ZERO WIDTH SPACE, a word boundary by definition, becomes a space first.
 */
const DROP = /[\p{M}\p{Cf}]+/gu;
const HANGUL_JAMO = /[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]/;

/**
 * The folding both the index and queries apply: NFKD (compatibility forms: "ﬁ" = "fi",
 * full-width "Ａ" = "a", "①" = "1"), lower case, the two full case foldings lower-casing
 * misses (ß and ẞ = "ss", as German writes it in capitals and in Switzerland; final ς = σ),
 * marks and format characters dropped, and Hangul jamo composed back into syllables (NFKD
 * takes them apart; a syllable is the unit Korean is searched by).
 */
export function foldText(text: string): string {
  let s = text.normalize('NFKD').toLowerCase();
  s = s.replace(/[ßς]/g, (c) => (c === 'ß' ? 'ss' : 'σ'));
  s = s.replace(/\u200b/g, ' ').replace(DROP, '');
  if (HANGUL_JAMO.test(s)) s = s.normalize('NFC');
  return s;
}

function codePointLength(s: string, limit: number): number {
  if (s.length <= limit) return s.length;
  let n = 0;
  for (const _ of s) if (++n > limit) break;
  return n;
}

/**
 * The tokeniser of the index and of queries: foldText, then maximal runs of letters and digits
 * (\p{L}\p{N}); everything else separates. Runs of unsegmented scripts (UNSEGMENTED) become
 * overlapping bigrams plus their last character ("東京都" -> "東京", "京都", "都"): with the
 * store's prefix matching every character begins a token, so a one-character query finds it
 * anywhere, and a longer query requires each of its bigrams, which is close to substring
 * matching without the index cost of unigrams plus bigrams or the precision loss of unigrams
 * alone. Other runs of more than 64 code points are dropped (base64, hashes). At most
 * maxTokens tokens (default 200,000).
 */
export function searchTokens(text: string, opts?: { maxTokens?: number }): string[] {
  const max = typeof opts?.maxTokens === 'number' && Number.isFinite(opts.maxTokens) ? Math.max(0, Math.floor(opts.maxTokens)) : DEFAULT_MAX_TOKENS;
  const out: string[] = [];
  if (max === 0 || typeof text !== 'string' || text.length === 0) return out;
  const folded = foldText(text);
  for (const m of folded.matchAll(WORD)) {
    const run = m[0];
    if (!UNSEGMENTED.test(run)) {
      if (codePointLength(run, MAX_TOKEN_CHARS) <= MAX_TOKEN_CHARS) out.push(run);
    } else {
      splitMixed(run, out, max);
    }
    if (out.length >= max) {
      out.length = max;
      break;
    }
  }
  return out;
}

/** A run holding unsegmented script: its word pieces as words, its unsegmented pieces as bigrams. */
function splitMixed(run: string, out: string[], max: number): void {
  const cps = [...run];
  let i = 0;
  while (i < cps.length && out.length < max) {
    const cjk = UNSEGMENTED.test(cps[i]);
    let j = i + 1;
    while (j < cps.length && UNSEGMENTED.test(cps[j]) === cjk) j++;
    if (!cjk) {
      if (j - i <= MAX_TOKEN_CHARS) out.push(cps.slice(i, j).join(''));
    } else {
      for (let k = i; k + 1 < j && out.length < max; k++) out.push(cps[k] + cps[k + 1]);
      out.push(cps[j - 1]);
    }
    i = j;
  }
}

/** The token streams of an IndexText, joined by single spaces, for the engines to index as they are. */
export function indexDocument(t: IndexText): { header: string; body: string } {
  return { header: searchTokens(t.header).join(' '), body: searchTokens(t.body).join(' ') };
}
