/**
 * Stored message data as IMAP syntax: ENVELOPE, BODYSTRUCTURE and BODY (RFC 9051 §7.5.2,
 * §9 body grammar), the content of BODY[section] (RFC 9051 §6.4.5) and BINARY[section]
 * (RFC 3516), and partial fetches. Pure: it reads the stored bytes and the StoredStructure
 * that delivery computed once (src/core/mail/delivery/meta.ts) and never parses the MIME
 * structure again; header sections are split again only for HEADER.FIELDS[.NOT] and the
 * BINARY[] header rewrite.
 *
 * Invariants:
 * - Offsets: every offset in the structure is shifted by `structure.offset` (trace fields
 *   delivery put in front after parsing). The root header of the stored message spans
 *   [0, offset + part.headerEnd): the prepended fields belong to it.
 * - Every section result lies within the stored message: plain sections are subarrays of
 *   `raw` (no copy), clamped to its length; HEADER.FIELDS[.NOT] are field bytes of `raw`
 *   joined in stored order. A section that does not exist is empty; nothing throws on any
 *   part path or on a structure that does not match its bytes.
 * - Output strings are built with wire.ts str(), so a stored value can never break the
 *   response framing (CR, LF, NUL, 8-bit and long values become literals).
 *
 * Decisions (these values are case-insensitive to the protocol; a client has to compare them
 * so, and these are the choices):
 * - Media types, subtypes, parameter names, disposition types and transfer encodings are
 *   upper case, as in the RFC 9051 §7.5.2 examples ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL
 *   NIL "7BIT" 3028 92). The parser keeps them lower case only, so "as written" is not on offer;
 *   upper case also matches the grammar's own tokens (body-fld-enc "7BIT", media-text "TEXT").
 *   Parameter values, ids, descriptions, locations, md5 and language tags are as written,
 *   except that a charset of us-ascii is sent as "US-ASCII" (the parser writes its default in
 *   lower case, and cannot tell it from a written one).
 * - An empty parameter list is NIL, never "()" (body-fld-param has no empty form; go-imap and
 *   others fail on "()").
 * - text/plain without a charset gets ("CHARSET" "US-ASCII"): RFC 2046 §4.1.2 makes it the
 *   default, and a message without Content-Type already has it from the parser (RFC 2045
 *   §5.2). Other text subtypes get no default (RFC 6657 §4: each defines its own).
 * - Extension data is always sent in full, with NIL for what is absent, rather than cut off
 *   after the last non-NIL field: a client then knows the field is absent and does not have
 *   to fetch the header to find out (both forms are valid, RFC 9051 §7.5.2).
 * - Content-Language is always a parenthesised list, even with one tag (body-fld-lang allows
 *   both forms).
 */
import { Buffer } from 'node:buffer';
import type { StoredStructure } from '../../core/mail/delivery/meta.ts';
import { decodeBase64, decodeQuotedPrintable, parseHeaderSection } from '../../lib/mime/index.ts';
import type { Section } from './types.ts';
import { str, type Part } from './wire.ts';

type StoredPart = StoredStructure['part'];
type Envelope = StoredStructure['envelope'];
type Address = NonNullable<Envelope['from']>[number];

const EMPTY = Buffer.alloc(0);
const CR = 0x0d;
const LF = 0x0a;

/** Collects response parts, gluing adjacent text so that the result stays short. */
class Out {
  readonly parts: Part[] = [];
  private text = '';

  t(s: string): void {
    this.text += s;
  }

  v(p: Part): void {
    if (typeof p === 'string') {
      this.text += p;
      return;
    }
    if (this.text.length > 0) this.parts.push(this.text);
    this.text = '';
    this.parts.push(p);
  }

  done(): Part[] {
    if (this.text.length > 0) this.parts.push(this.text);
    this.text = '';
    return this.parts;
  }
}

/** ASCII-only case mapping: String.prototype.toUpperCase maps "ß" to "SS" and "ı" to "I". */
function upperAscii(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

// ---------------------------------------------------------------------------------------
// ENVELOPE (RFC 9051 §7.5.2, §9 envelope)

/** RFC 9051 §9 address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")". */
function address(o: Out, a: Address, utf8: boolean): void {
  // addr-name is the phrase as written (RFC 2047 words left encoded, the client decodes);
  // group markers carry no name. addr-adl (the obsolete source route) is not kept: NIL.
  // The parser already gives group markers RFC 9051's shape: host NIL, the phrase in
  // mailbox for a start marker and NIL there for an end marker.
  o.t('(');
  o.v(str(a.nameRaw, utf8));
  o.t(' NIL ');
  o.v(str(a.mailbox, utf8));
  o.t(' ');
  o.v(str(a.host, utf8));
  o.t(')');
}

/** RFC 9051 §9 env-from etc. = "(" 1*address ")" / nil: no separator between addresses. */
function addressList(o: Out, list: readonly Address[] | null, utf8: boolean): void {
  if (!list || list.length === 0) {
    o.t('NIL');
    return;
  }
  o.t('(');
  for (const a of list) address(o, a, utf8);
  o.t(')');
}

function envelope(o: Out, env: Envelope, utf8: boolean): void {
  // RFC 9051 §7.5.2: absent fields are NIL, present but empty ones "" (the parser keeps the
  // difference); date and subject as written, not decoded; sender and reply-to already
  // default to from (the server's duty, done once by the parser).
  o.t('(');
  o.v(str(env.date, utf8));
  o.t(' ');
  o.v(str(env.subject, utf8));
  o.t(' ');
  addressList(o, env.from, utf8);
  o.t(' ');
  addressList(o, env.sender, utf8);
  o.t(' ');
  addressList(o, env.replyTo, utf8);
  o.t(' ');
  addressList(o, env.to, utf8);
  o.t(' ');
  addressList(o, env.cc, utf8);
  o.t(' ');
  addressList(o, env.bcc, utf8);
  o.t(' ');
  o.v(str(env.inReplyTo, utf8));
  o.t(' ');
  o.v(str(env.messageId, utf8));
  o.t(')');
}

/** ENVELOPE (RFC 9051 §7.5.2): "(date subject from sender reply-to to cc bcc in-reply-to message-id)". */
export function envelopeParts(env: Envelope, utf8: boolean): Part[] {
  const o = new Out();
  envelope(o, env, utf8);
  return o.done();
}

// ---------------------------------------------------------------------------------------
// BODYSTRUCTURE and BODY (RFC 9051 §7.5.2, §9 body)

/** RFC 2231 §7 attribute-char: US-ASCII except SPACE, CTLs, "*", "'", "%" and tspecials. */
function isAttributeChar(c: number): boolean {
  if (c <= 0x20 || c >= 0x7f) return false;
  return !`*'%()<>@,;:\\"/[]?=`.includes(String.fromCharCode(c));
}

/** A value in RFC 2231 §4 extended form: utf-8'' and the UTF-8 octets, %XX where needed. */
function extendedValue(v: string): string {
  let out = "utf-8''";
  for (const b of Buffer.from(v.toWellFormed(), 'utf8')) {
    out += isAttributeChar(b) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * body-fld-param (RFC 9051 §9): "(" name SP value *(SP name SP value) ")" / NIL.
 *
 * RFC 2231 §3: "IMAP4 servers SHOULD decode parameter value continuations when generating the
 * BODY and BODYSTRUCTURE fetch attributes". The parser has joined them and also decoded the
 * charset'language' form to text, so a value is sent as follows:
 * - ASCII: as is, under its plain name ("FILENAME" "long name.pdf").
 * - Not ASCII, UTF-8 on (UTF8=ACCEPT or IMAP4rev2 with UTF8): as UTF-8 in a quoted string
 *   under its plain name. The client asked for UTF-8 and gets the name it would display.
 * - Not ASCII, UTF-8 off: re-encoded in RFC 2231 extended form under "NAME*", one piece
 *   ("FILENAME*" "utf-8''%E2%82%AC.pdf"). This keeps the response 7-bit, which an IMAP4rev1
 *   client may rely on for strings (RFC 9051 §4.3.1 allows 8-bit in literals only "when the
 *   [CHARSET] is identified", and a BODYSTRUCTURE string identifies none), and it is the form
 *   clients already decode, because Dovecot, the server most of them are tested against,
 *   joins continuations but passes the extended form on as "name*" "charset''%XX". Sending
 *   the 8-bit value as a literal would leave the client to guess its charset. The original
 *   charset is replaced by UTF-8 (the parser decoded it), which names the same text; the
 *   language tag is lost (the parser drops it).
 */
function params(o: Out, p: Record<string, string> | null, utf8: boolean, defaultCharset: boolean): void {
  const names = p ? Object.keys(p) : [];
  const addCharset = defaultCharset && !names.includes('charset');
  if (names.length === 0 && !addCharset) {
    o.t('NIL');
    return;
  }
  o.t('(');
  let first = true;
  if (addCharset) {
    o.t('"CHARSET" "US-ASCII"');
    first = false;
  }
  for (const name of names) {
    let value = p![name];
    if (typeof value !== 'string') continue;
    if (!first) o.t(' ');
    first = false;
    // The parser writes its RFC 2045 §5.2 default as "us-ascii"; RFC 9051 shows "US-ASCII".
    if (name === 'charset' && lowerAscii(value) === 'us-ascii') value = 'US-ASCII';
    if (!utf8 && /[^\x00-\x7f]/.test(value)) {
      o.v(str(`${upperAscii(name)}*`, false));
      o.t(' ');
      o.v(str(extendedValue(value), false));
    } else {
      o.v(str(upperAscii(name), utf8));
      o.t(' ');
      o.v(str(value, utf8));
    }
  }
  o.t(')');
}

/** body-fld-dsp (RFC 9051 §9): "(" string SP body-fld-param ")" / NIL. */
function disposition(o: Out, d: StoredPart['disposition'], utf8: boolean): void {
  if (!d) {
    o.t('NIL');
    return;
  }
  o.t('(');
  o.v(str(upperAscii(d.type), utf8));
  o.t(' ');
  params(o, d.params, utf8, false);
  o.t(')');
}

/** body-fld-lang (RFC 9051 §9): nstring / "(" string *(SP string) ")"; always the list form here. */
function language(o: Out, tags: readonly string[] | null, utf8: boolean): void {
  if (!tags || tags.length === 0) {
    o.t('NIL');
    return;
  }
  o.t('(');
  tags.forEach((tag, i) => {
    if (i > 0) o.t(' ');
    o.v(str(tag, utf8));
  });
  o.t(')');
}

/** body-fld-dsp SP body-fld-lang SP body-fld-loc: the extension data both kinds of part share. */
function extensionTail(o: Out, p: StoredPart, utf8: boolean): void {
  o.t(' ');
  disposition(o, p.disposition, utf8);
  o.t(' ');
  language(o, p.language, utf8);
  o.t(' ');
  o.v(str(p.location, utf8));
}

function isEmbeddedMessage(p: StoredPart): p is StoredPart & { message: NonNullable<StoredPart['message']> } {
  return p.message !== null && p.message !== undefined && p.type === 'message' && (p.subtype === 'rfc822' || p.subtype === 'global');
}

function body(o: Out, p: StoredPart, ext: boolean, utf8: boolean): void {
  o.t('(');
  if (p.parts.length > 0) {
    // RFC 9051 §9 body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    for (const c of p.parts) body(o, c, ext, utf8);
    o.t(' ');
    o.v(str(upperAscii(p.subtype), utf8));
    if (ext) {
      // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
      o.t(' ');
      params(o, p.params, utf8, false);
      extensionTail(o, p, utf8);
    }
    o.t(')');
    return;
  }
  // RFC 9051 §9 body-type-1part: media type, then body-fields = body-fld-param SP body-fld-id
  // SP body-fld-desc SP body-fld-enc SP body-fld-octets.
  o.v(str(upperAscii(p.type), utf8));
  o.t(' ');
  o.v(str(upperAscii(p.subtype), utf8));
  o.t(' ');
  params(o, p.params, utf8, p.type === 'text' && p.subtype === 'plain');
  o.t(' ');
  o.v(str(p.id, utf8));
  o.t(' ');
  o.v(str(p.description, utf8));
  o.t(' ');
  o.v(str(upperAscii(p.encoding || '7bit'), utf8));
  o.t(` ${p.size}`);
  if (isEmbeddedMessage(p)) {
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    o.t(' ');
    envelope(o, p.message.envelope, utf8);
    o.t(' ');
    body(o, p.message.part, ext, utf8);
    o.t(` ${p.lines}`);
  } else if (p.type === 'text') {
    // body-type-text = media-text SP body-fields SP body-fld-lines
    o.t(` ${p.lines}`);
  }
  // A message/rfc822 the parser did not open (an encoded body, which RFC 2046 §5.2.1 forbids,
  // or one beyond the depth limit) has no envelope to give and goes out as body-type-basic,
  // as types.ts describes.
  if (ext) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    o.t(' ');
    o.v(str(p.md5, utf8));
    extensionTail(o, p, utf8);
  }
  o.t(')');
}

/** BODYSTRUCTURE (extensible) or BODY (not) of a stored message (RFC 9051 §7.5.2). */
export function bodyStructureParts(s: StoredStructure, extensible: boolean, utf8: boolean): Part[] {
  const o = new Out();
  body(o, s.part, extensible, utf8);
  return o.done();
}

// ---------------------------------------------------------------------------------------
// BODY[section] (RFC 9051 §6.4.5) and BINARY[section] (RFC 3516 §4.1)

/**
 * The parts numbered 1, 2, ... inside a message whose root part is `root` (RFC 9051 §6.4.5):
 * a multipart's children, or else the root itself as part 1 ("MIME messages that are not
 * multipart and have no encapsulated message within them, only have a part 1"; a root that is
 * a message/rfc822 is part 1 too, and its message's parts are numbered below it).
 */
function messageParts(root: StoredPart): readonly StoredPart[] {
  return root.parts.length > 0 ? root.parts : [root];
}

/** The parts numbered under a part reached by a part number: a multipart's children, an encapsulated message's parts, or none. */
function subParts(p: StoredPart): readonly StoredPart[] {
  if (p.parts.length > 0) return p.parts;
  if (isEmbeddedMessage(p)) return messageParts(p.message.part);
  return [];
}

/** The part a section's part numbers name, or null when there is none. */
function resolve(s: StoredStructure, path: readonly number[]): StoredPart | null {
  let list = messageParts(s.part);
  let p: StoredPart | null = null;
  for (let i = 0; i < path.length; i++) {
    const n = path[i];
    if (!Number.isInteger(n) || n < 1 || n > list.length) return null;
    p = list[n - 1];
    if (i + 1 < path.length) list = subParts(p);
  }
  return p;
}

function offsetOf(s: StoredStructure): number {
  const off = s.offset;
  return typeof off === 'number' && Number.isFinite(off) && off > 0 ? off : 0;
}

function asBuffer(raw: Uint8Array): Buffer {
  return Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** raw[a, b), clamped to the message (a structure that does not match its bytes yields less, never a throw). */
function slice(buf: Buffer, a: number, b: number): Buffer {
  const n = buf.length;
  const lo = Math.min(n, Math.max(0, a));
  const hi = Math.min(n, Math.max(lo, b));
  return buf.subarray(lo, hi);
}

/** Where a header section lies in the stored bytes: [start, end), end after its blank line. */
interface Span {
  start: number;
  end: number;
}

/** The header of a part; the root's starts at 0, where the trace fields delivery added begin. */
function headerSpan(s: StoredStructure, p: StoredPart): Span {
  const off = offsetOf(s);
  return { start: p === s.part ? 0 : off + p.headerStart, end: off + p.headerEnd };
}

function bodySpan(s: StoredStructure, p: StoredPart): Span {
  const off = offsetOf(s);
  return { start: off + p.headerEnd, end: off + p.bodyEnd };
}

/**
 * The blank line that ends a header section in [start, end), or null when it has none (a
 * message that is all header). Returned as stored (CRLF on the wire, LF in a message that was
 * stored from a file), so that the subset reads like the header it came from.
 */
function blankLine(buf: Buffer, start: number, end: number): Buffer | null {
  if (end <= start) return null;
  let p = end;
  if (buf[p - 1] === LF) {
    p--;
    if (p > start && buf[p - 1] === CR) p--;
  } else if (buf[p - 1] === CR) {
    p--; // a lone CR at the very end, which the header splitter also takes as the empty line
  } else {
    return null;
  }
  return p === start || buf[p - 1] === LF ? buf.subarray(p, end) : null;
}

/**
 * HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 9051 §6.4.5): the fields whose name matches one of
 * `names` (or, with `not`, those that match none), byte for byte as stored, folding kept, in
 * stored order, then the blank line: subsetting keeps the delimiting blank line, which every
 * header fetch includes unless the message has no body and no blank line. Field names match
 * case-insensitively in the ASCII range only, otherwise exactly. Lines that are no header
 * field (an mbox "From " line, junk without a colon) belong to no field and are in neither
 * subset.
 */
function headerFields(raw: Uint8Array, span: Span, names: readonly string[], not: boolean): Buffer {
  const buf = asBuffer(raw);
  const start = Math.min(buf.length, Math.max(0, span.start));
  const end = Math.min(buf.length, Math.max(start, span.end));
  const want = new Set(names.map(lowerAscii));
  const chunks: Buffer[] = [];
  for (const f of parseHeaderSection(buf, start, end).fields) {
    if (want.has(lowerAscii(f.name)) !== not) chunks.push(buf.subarray(f.start, f.end));
  }
  const blank = blankLine(buf, start, end);
  if (blank) chunks.push(blank);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** The header span a HEADER/TEXT/HEADER.FIELDS section refers to, and its message's root part. */
function messageOf(s: StoredStructure, path: readonly number[]): StoredPart | null {
  if (path.length === 0) return s.part;
  const p = resolve(s, path);
  // RFC 9051 §6.4.5: these specifiers may follow part numbers only when "the numeric part
  // specifier refers to a part of type MESSAGE/RFC822 or MESSAGE/GLOBAL".
  return p && isEmbeddedMessage(p) ? p.message.part : null;
}

/**
 * Whether a section names something in this message. A section that does not exist (a part
 * number beyond the parts, HEADER or TEXT after a part that is no message/rfc822, MIME
 * without part numbers) is not an error: RFC 9051 §6.4.5 defines no failure for it, and the
 * long-standing answer (Mark Crispin on imap-protocol, 2011; Dovecot) is the empty string,
 * which is what sectionBytes returns. The session may send NIL for it instead (the msg-att
 * grammar is an nstring, and NIL reads as "no such part"); this tells it when.
 */
export function sectionExists(s: StoredStructure, section: Section): boolean {
  if (section.text === 'MIME') return section.part.length > 0 && resolve(s, section.part) !== null;
  if (section.text === null) return section.part.length === 0 || resolve(s, section.part) !== null;
  return messageOf(s, section.part) !== null;
}

/**
 * The content of BODY[section] before any partial (RFC 9051 §6.4.5):
 * - "" : the whole message, header included; HEADER / TEXT: the message's header (with the
 *   trace fields) / its body; HEADER.FIELDS[.NOT]: see headerFields.
 * - part numbers: that part's body (for a multipart the whole body, preamble and delimiters
 *   included; for a message/rfc822 the whole encapsulated message); part 1 of a message that
 *   is not multipart is its body.
 * - n.MIME: the part's own MIME header (for part 1 of a non-multipart message, the message
 *   header). n.HEADER, n.TEXT, n.HEADER.FIELDS[.NOT]: of the message a message/rfc822 part
 *   encapsulates.
 * A section that does not exist is empty (see sectionExists).
 */
export function sectionBytes(raw: Buffer, s: StoredStructure, section: Section): Buffer {
  const buf = asBuffer(raw);
  const path = section.part;
  switch (section.text) {
    case null: {
      if (path.length === 0) return buf;
      const p = resolve(s, path);
      if (!p) return EMPTY;
      const b = bodySpan(s, p);
      return slice(buf, b.start, b.end);
    }
    case 'MIME': {
      // RFC 9051 §6.4.5: "The MIME part specifier MUST be prefixed by one or more numeric part specifiers."
      const p = path.length === 0 ? null : resolve(s, path);
      if (!p) return EMPTY;
      const h = headerSpan(s, p);
      return slice(buf, h.start, h.end);
    }
    case 'HEADER':
    case 'TEXT':
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT': {
      const m = messageOf(s, path);
      if (!m) return EMPTY;
      if (section.text === 'TEXT') {
        const b = bodySpan(s, m);
        return slice(buf, b.start, b.end);
      }
      const h = headerSpan(s, m);
      if (section.text === 'HEADER') return slice(buf, h.start, h.end);
      return headerFields(buf, h, section.fields ?? [], section.text === 'HEADER.FIELDS.NOT');
    }
    default:
      return EMPTY;
  }
}

/** Undoes a transfer encoding (RFC 2045 §6), or null when it is one this server does not know. */
function decodeTransfer(data: Buffer, encoding: string): Buffer | null {
  const asBuf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  switch (lowerAscii(encoding || '7bit')) {
    case '7bit':
    case '8bit':
    case 'binary':
      return data;
    case 'base64':
      return asBuf(decodeBase64(data));
    case 'quoted-printable':
      return asBuf(decodeQuotedPrintable(data));
    default:
      return null;
  }
}

/** A composite part: RFC 2045 §6.4 allows it no encoding but 7bit, 8bit or binary, so there is nothing to undo. */
function isComposite(p: StoredPart): boolean {
  return p.parts.length > 0 || isEmbeddedMessage(p);
}

/**
 * BINARY[] of a whole message that is one encoded part: the header, with its
 * Content-Transfer-Encoding field(s) saying "binary", and the decoded body. Keeping the old
 * field would tell a client that reads the result as a message to decode it a second time.
 */
function binaryWhole(buf: Buffer, s: StoredStructure, decoded: Buffer): Buffer {
  const h = headerSpan(s, s.part);
  const start = 0;
  const end = Math.min(buf.length, Math.max(start, h.end));
  const chunks: Buffer[] = [];
  let pos = start;
  for (const f of parseHeaderSection(buf, start, end).fields) {
    if (lowerAscii(f.name) !== 'content-transfer-encoding') continue;
    chunks.push(buf.subarray(pos, f.start));
    const eol = buf[f.end - 1] !== LF ? '' : buf[f.end - 2] === CR ? '\r\n' : '\n';
    chunks.push(Buffer.from(`${f.name}: binary${eol}`, 'latin1'));
    pos = f.end;
  }
  chunks.push(buf.subarray(pos, end), decoded);
  return Buffer.concat(chunks);
}

/**
 * The content of BINARY[section] before any partial (RFC 3516 §4.2; RFC 9051 §6.4.5, §7.5.2):
 * the section's content "after removing any encoding specified in the corresponding
 * Content-Transfer-Encoding header field". Only part numbers make a binary section
 * (section-binary = "[" [section-part] "]"); anything else is NONEXISTENT.
 * - A single part: its body decoded (base64, quoted-printable; 7bit, 8bit and binary as they
 *   are). Another encoding: UNKNOWN-CTE; RFC 3516 §4.2 requires the server to fail the
 *   request with NO [UNKNOWN-CTE] when it cannot decode the section's encoding.
 * - A multipart or an encapsulated message: its body as stored. Composite parts carry no
 *   encoding (RFC 2045 §6.4), and the parts inside keep their own: BINARY undoes the encoding
 *   of the section named, not of every part within it.
 * - The whole message (BINARY[]): as stored, or for a message that is one encoded part, its
 *   header (Content-Transfer-Encoding rewritten to binary) and decoded body.
 * A part that does not exist is NONEXISTENT, which the session can turn into
 * NO [NONEXISTENT] (RFC 9051 §7.1) or into an empty value (see sectionExists).
 */
export function binarySection(
  raw: Buffer,
  s: StoredStructure,
  section: Section,
): { data: Buffer } | { error: 'UNKNOWN-CTE' } | { error: 'NONEXISTENT' } {
  const buf = asBuffer(raw);
  if (section.text !== null) return { error: 'NONEXISTENT' };
  if (section.part.length === 0) {
    const root = s.part;
    if (isComposite(root)) return { data: buf };
    const b = bodySpan(s, root);
    const body = slice(buf, b.start, b.end);
    const decoded = decodeTransfer(body, root.encoding);
    if (decoded === null) return { error: 'UNKNOWN-CTE' };
    return { data: decoded === body ? buf : binaryWhole(buf, s, decoded) };
  }
  const p = resolve(s, section.part);
  if (!p) return { error: 'NONEXISTENT' };
  const b = bodySpan(s, p);
  const body = slice(buf, b.start, b.end);
  if (isComposite(p)) return { data: body };
  const decoded = decodeTransfer(body, p.encoding);
  return decoded === null ? { error: 'UNKNOWN-CTE' } : { data: decoded };
}

/**
 * The <origin.length> substring of a section (RFC 9051 §6.4.5): "If the starting octet is
 * beyond the end of the text, an empty string is returned", and a partial that reads beyond
 * the end is truncated. For HEADER.FIELDS[.NOT] it applies after subsetting, as the RFC says,
 * since it is given the subset. The session still answers BODY[...]<origin> even when nothing
 * was cut (RFC 9051 §6.4.5: BODY[]<0.2048> of a 1500-octet message is BODY[]<0>).
 */
export function partial(data: Buffer, p: { offset: number; length: number } | undefined): Buffer {
  if (!p) return data;
  const start = Math.min(data.length, Math.max(0, Math.floor(p.offset) || 0));
  const len = Math.max(0, Math.floor(p.length) || 0);
  return data.subarray(start, Math.min(data.length, start + len));
}
