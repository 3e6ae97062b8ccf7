/**
 * The MIME structure of a message (RFC 2045, RFC 2046): one pass at delivery that finds every
 * part's header and body by byte offset, reads the MIME header fields, parses embedded
 * messages, and derives what IMAP and JMAP ask of a message without parsing it again.
 *
 * Invariants:
 * - Never throws: broken mail is stored as received, so its parse must exist. parseMessage
 *   also catches what a bug might throw and then reports one opaque part with `limits`.
 * - Bounded: nesting below `maxDepth`, at most `maxParts` parts and `maxHeaderFields` fields;
 *   what lies beyond is an opaque body and `limits` says so.
 * - Linear in the message size, times the nesting depth at most: each multipart body is
 *   scanned once for "\n--boundary" with a native substring search bounded to that body, and
 *   header scans are bounded to their part.
 * - Offsets are exact byte offsets into `raw` (see types.ts for what each one means).
 */
import { Buffer } from 'node:buffer';
import { addrSpecs } from './address-list.ts';
import { headerBytes } from './charset.ts';
import { parseContentType, parseDisposition, parseEncoding, parseLanguage, parseParameterised } from './content-header.ts';
import { parseDate } from './date.ts';
import { buildEnvelope, parseMessageIds } from './envelope.ts';
import { type FieldBudget, findHeader, getHeader, parseHeaderSection, trimWsp } from './header.ts';
import { buildPreview, hasAttachment } from './preview.ts';
import type { MimePart, ParsedMessage, ParseOptions } from './types.ts';

export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_MAX_PARTS = 10_000;
export const DEFAULT_MAX_HEADER_FIELDS = 100_000;
/** Recursion is one or two stack frames per level; this keeps any caller's maxDepth safe. */
const HARD_MAX_DEPTH = 256;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const NL_DASHES = Buffer.from('\n--', 'latin1');
// RFC 2045 §6.4: only these leave a message/rfc822 body readable in place (RFC 2046 §5.2.1
// allows nothing else for it; RFC 6532 §3.5 lets message/global be encoded, and then it is opaque).
const IDENTITY = new Set(['7bit', '8bit', 'binary']);

interface Ctx {
  raw: Uint8Array;
  buf: Buffer;
  maxDepth: number;
  partsLeft: number;
  budget: FieldBudget;
  limits: boolean;
}

interface Delimiter {
  /** Offset of the "--" that starts the delimiter line. */
  start: number;
  /** Offset after the delimiter line's line ending. */
  lineEnd: number;
  close: boolean;
}

function clampInt(v: number | undefined, dflt: number, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return dflt;
  return Math.min(max, Math.max(min, Math.floor(v)));
}

/** Lines in [start, end): line feeds, plus one for a last line without one. */
export function countLines(raw: Uint8Array, start: number, end: number): number {
  // indexOf is a native memchr: several times faster than a byte loop on large bodies.
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  let n = 0;
  for (let i = buf.indexOf(LF, start); i !== -1 && i < end; i = buf.indexOf(LF, i + 1)) n++;
  if (end > start && raw[end - 1] !== LF) n++;
  return n;
}

/**
 * RFC 2046 §5.1.1: a delimiter line is "--" boundary at a line start, then either "--" (the
 * close-delimiter) or transport padding (LWSP) and the line end. Anything else after the
 * boundary makes it an ordinary line, which keeps "--b" apart from an inner "--b2" even when
 * a sender breaks the rule that no boundary may prefix another.
 */
function delimiterAt(raw: Uint8Array, p: number, end: number, b: Uint8Array): Delimiter | null {
  const bl = b.length;
  if (p + 2 + bl > end || raw[p] !== DASH || raw[p + 1] !== DASH) return null;
  for (let k = 0; k < bl; k++) if (raw[p + 2 + k] !== b[k]) return null;
  let q = p + 2 + bl;
  if (q + 1 < end && raw[q] === DASH && raw[q + 1] === DASH) return { start: p, lineEnd: end, close: true };
  while (q < end && (raw[q] === 0x20 || raw[q] === 0x09 || raw[q] === CR)) q++;
  if (q < end && raw[q] !== LF) return null;
  return { start: p, lineEnd: q < end ? q + 1 : end, close: false };
}

/** One multipart body being searched for its delimiters. */
interface Scan {
  boundary: Uint8Array;
  /** "\n--" boundary: a native search for it skips every line that cannot be a delimiter. */
  needle: Buffer;
  /**
   * A view of exactly the body, made once per multipart. Searches in it stop at the body's
   * end; a search of the whole message would run on to the next match beyond, once per part,
   * which is quadratic for many small multiparts before one big body.
   */
  view: Buffer;
  base: number;
  end: number;
}

/** The next delimiter at or after `from` (a line start). */
function findDelimiter(ctx: Ctx, scan: Scan, from: number): Delimiter | null {
  const { raw } = ctx;
  const first = delimiterAt(raw, from, scan.end, scan.boundary);
  if (first) return first;
  let p = from;
  for (;;) {
    const i = scan.view.indexOf(scan.needle, p - scan.base);
    if (i < 0) return null;
    p = scan.base + i + 1;
    const d = delimiterAt(raw, p, scan.end, scan.boundary);
    if (d) return d;
  }
}

/** RFC 2046 §5.1.1: "the CRLF preceding the boundary delimiter line is conceptually attached to the boundary". */
function endBefore(raw: Uint8Array, partStart: number, delimStart: number): number {
  let e = delimStart;
  if (e > partStart && raw[e - 1] === LF) {
    e--;
    if (e > partStart && raw[e - 1] === CR) e--;
  }
  return e;
}

/** Turns a multipart that yielded no parts into the RFC 2045 §5.2 default, keeping its parameters. */
function makeOpaque(ctx: Ctx, part: MimePart): void {
  part.type = 'text';
  part.subtype = 'plain';
  if (!Object.hasOwn(part.params, 'charset')) part.params.charset = 'us-ascii';
  part.lines = countLines(ctx.raw, part.headerEnd, part.bodyEnd);
}

function parseMultipart(ctx: Ctx, part: MimePart, boundary: Uint8Array, depth: number): MimePart[] {
  const { raw } = ctx;
  const children: MimePart[] = [];
  const end = part.bodyEnd;
  const scan: Scan = {
    boundary,
    needle: Buffer.concat([NL_DASHES, boundary]),
    view: ctx.buf.subarray(part.headerEnd, end),
    base: part.headerEnd,
    end,
  };
  // RFC 2046 §5.1.5: in a digest, a part without Content-Type is message/rfc822.
  const digest = part.subtype === 'digest';
  // RFC 2046 §5.1.1: the preamble before the first delimiter is ignored.
  let d = findDelimiter(ctx, scan, part.headerEnd);
  if (!d || d.close) return children;
  for (;;) {
    const start = d.lineEnd;
    const next = findDelimiter(ctx, scan, start);
    // A missing close-delimiter: the last part runs to the end of its parent.
    const partEnd = next ? endBefore(raw, start, next.start) : end;
    if (ctx.partsLeft <= 0) {
      ctx.limits = true;
      break;
    }
    ctx.partsLeft--;
    children.push(parsePart(ctx, start, partEnd, depth + 1, digest));
    // RFC 2046 §5.1.1: the epilogue after the close-delimiter is ignored.
    if (!next || next.close) break;
    d = next;
  }
  return children;
}

function parsePart(ctx: Ctx, start: number, end: number, depth: number, inDigest: boolean): MimePart {
  const { raw } = ctx;
  const hs = parseHeaderSection(raw, start, end, ctx.budget);
  if (hs.truncated) ctx.limits = true;
  const fields = hs.fields;
  const ctIndex = findHeader(fields, 'content-type');
  const ctValue = ctIndex < 0 ? null : fields[ctIndex].value;
  const ct = ctValue === null ? null : parseContentType(ctValue);
  let type: string;
  let subtype: string;
  let params: Record<string, string>;
  if (ct) {
    ({ type, subtype, params } = ct);
  } else if (ctValue === null && inDigest) {
    type = 'message';
    subtype = 'rfc822';
    params = parseParameterised('').params;
  } else {
    // RFC 2045 §5.2: no (or an unusable) Content-Type means text/plain; charset=us-ascii.
    type = 'text';
    subtype = 'plain';
    params = parseParameterised(ctValue === null ? '' : ctValue).params;
    if (!Object.hasOwn(params, 'charset')) params.charset = 'us-ascii';
  }
  const dispValue = getHeader(fields, 'content-disposition');
  const location = getHeader(fields, 'content-location');
  const headerEnd = hs.headerEnd;
  const part: MimePart = {
    headerStart: start,
    headerEnd,
    bodyEnd: end,
    headers: fields,
    type,
    subtype,
    params,
    id: getHeader(fields, 'content-id'),
    description: getHeader(fields, 'content-description'),
    encoding: parseEncoding(getHeader(fields, 'content-transfer-encoding')),
    disposition: dispValue === null ? null : parseDisposition(dispValue),
    language: parseLanguage(getHeader(fields, 'content-language')),
    // RFC 2557 §4.2: a folded URI is read with its white space removed.
    location: location === null ? null : location.replace(/[ \t\r\n]+/g, ''),
    md5: getHeader(fields, 'content-md5'),
    size: end - headerEnd,
    lines: 0,
    parts: [],
    message: null,
  };

  if (type === 'multipart') {
    const b = trimWsp(params.boundary ?? '');
    if (depth >= ctx.maxDepth) ctx.limits = true;
    else if (b.length > 0) part.parts = parseMultipart(ctx, part, headerBytes(b, hs.latin1[ctIndex]), depth);
    // RFC 2046 §5.1.1 requires the boundary; without it, or without any delimiter, there are
    // no parts to show, and BODYSTRUCTURE cannot express a multipart without parts.
    if (part.parts.length === 0) makeOpaque(ctx, part);
    return part;
  }

  part.lines = countLines(raw, headerEnd, end);
  if (type === 'message' && (subtype === 'rfc822' || subtype === 'global') && IDENTITY.has(part.encoding)) {
    if (depth >= ctx.maxDepth || ctx.partsLeft <= 0) {
      ctx.limits = true;
    } else {
      ctx.partsLeft--;
      // RFC 2046 §5.2.1: the body is a complete message, parsed as one.
      const inner = parsePart(ctx, headerEnd, end, depth + 1, false);
      part.message = { envelope: buildEnvelope(inner.headers), part: inner };
    }
  }
  return part;
}

/** parseMessage without the safety net; tests call it so that a bug shows as a throw. */
export function parseMessageUnguarded(raw: Uint8Array, opts?: ParseOptions): ParsedMessage {
  const maxParts = clampInt(opts?.maxParts, DEFAULT_MAX_PARTS, 1, Number.MAX_SAFE_INTEGER);
  const ctx: Ctx = {
    raw,
    buf: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength),
    maxDepth: clampInt(opts?.maxDepth, DEFAULT_MAX_DEPTH, 0, HARD_MAX_DEPTH),
    partsLeft: maxParts - 1,
    budget: { fieldsLeft: clampInt(opts?.maxHeaderFields, DEFAULT_MAX_HEADER_FIELDS, 0, Number.MAX_SAFE_INTEGER) },
    limits: false,
  };
  const root = parsePart(ctx, 0, raw.length, 0, false);
  const envelope = buildEnvelope(root.headers);
  const messageId = envelope.messageId === null ? null : (parseMessageIds(envelope.messageId)[0] ?? bareId(envelope.messageId));
  return {
    part: root,
    envelope,
    size: raw.length,
    headerSize: root.headerEnd,
    sentDate: envelope.date === null ? null : parseDate(envelope.date),
    subject: envelope.subjectDecoded ?? '',
    from: addrSpecs(envelope.from),
    to: addrSpecs(envelope.to),
    cc: addrSpecs(envelope.cc),
    messageId,
    inReplyTo: parseMessageIds(envelope.inReplyTo),
    references: parseMessageIds(getHeader(root.headers, 'references')),
    hasAttachment: hasAttachment(root),
    preview: buildPreview(raw, root),
    limits: ctx.limits,
  };
}

/** A Message-ID written without brackets ("abc@host"), accepted when it is one word. */
function bareId(v: string): string | null {
  const t = trimWsp(v);
  return t.length > 0 && !/[\s<>]/.test(t) ? t : null;
}

function fallback(raw: Uint8Array): ParsedMessage {
  const size = raw instanceof Uint8Array ? raw.length : 0;
  const params = parseParameterised('').params;
  params.charset = 'us-ascii';
  const envelope = buildEnvelope([]);
  return {
    part: {
      headerStart: 0, headerEnd: 0, bodyEnd: size, headers: [], type: 'text', subtype: 'plain', params, id: null,
      description: null, encoding: '7bit', disposition: null, language: null, location: null, md5: null, size, lines: 0,
      parts: [], message: null,
    },
    envelope, size, headerSize: 0, sentDate: null, subject: '', from: [], to: [], cc: [], messageId: null, inReplyTo: [],
    references: [], hasAttachment: false, preview: '', limits: true,
  };
}

/**
 * Parses a message as received. Never throws; see the module comment for the limits.
 */
export function parseMessage(raw: Uint8Array, opts?: ParseOptions): ParsedMessage {
  try {
    if (!(raw instanceof Uint8Array)) return fallback(new Uint8Array(0));
    return parseMessageUnguarded(raw, opts);
  } catch {
    // Only a bug gets here (the property tests call the unguarded parser to find such bugs);
    // the message is still stored, as one opaque part.
    return fallback(raw);
  }
}
