/**
 * The short text shown in message lists (JMAP Email/preview, RFC 8621 §4.1.4: "up to 256
 * characters of the beginning of the message's body text"), and the attachment flag.
 * Only a bounded prefix of the body is decoded, so a huge text part costs no more than a
 * small one.
 */
import { decodeCharset } from './charset.ts';
import { decodeBody } from './transfer-encoding.ts';
import type { MimePart } from './types.ts';

export const PREVIEW_CHARS = 256;
/** Raw body prefix decoded for a preview: plain text needs little; HTML may open with a long <head>. */
const PLAIN_PREFIX = 16 * 1024;
const HTML_PREFIX = 256 * 1024;

function isAttachmentDisposition(p: MimePart): boolean {
  return p.disposition?.type === 'attachment';
}

/** Depth-first first text/<subtype> that is not an attachment; embedded messages only if asked. */
function firstText(p: MimePart, subtype: string, intoMessages: boolean): MimePart | null {
  if (p.parts.length > 0) {
    for (const c of p.parts) {
      const f = firstText(c, subtype, intoMessages);
      if (f) return f;
    }
    return null;
  }
  if (p.message) return intoMessages ? firstText(p.message.part, subtype, intoMessages) : null;
  return p.type === 'text' && p.subtype === subtype && !isAttachmentDisposition(p) ? p : null;
}

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', hellip: '…',
  mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', euro: '€', zwnj: '', zwj: '',
};

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});?/gi, (all, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : ' ';
    }
    const v = ENTITIES[e.toLowerCase()];
    return v === undefined ? all : v;
  });
}

// Tags after which the text visually breaks; others (b, span, a) join their neighbours.
const BLOCK = /^\/?(p|br|div|tr|td|th|li|ul|ol|h[1-6]|table|blockquote|hr|pre|section|article|header|footer|center)\b/i;

/** HTML to text for a preview: drops comments, head, style and script, tags; decodes entities. */
export function htmlToText(html: string): string {
  const lower = html.toLowerCase();
  let out = '';
  let i = 0;
  const n = html.length;
  while (i < n) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      out += html.slice(i);
      break;
    }
    out += html.slice(i, lt);
    // Each search below starts after the current position and either moves past its match
    // or ends the scan, so the whole pass is linear however the markup is broken.
    if (lower.startsWith('<!--', lt)) {
      const e = lower.indexOf('-->', lt + 4);
      if (e < 0) break;
      i = e + 3;
      continue;
    }
    const m = /^<(style|script|head|title)\b/.exec(lower.slice(lt, lt + 8));
    if (m) {
      const e = lower.indexOf(`</${m[1]}`, lt);
      if (e < 0) break;
      const gt = lower.indexOf('>', e);
      if (gt < 0) break;
      out += ' ';
      i = gt + 1;
      continue;
    }
    const gt = html.indexOf('>', lt);
    if (gt < 0) break;
    if (BLOCK.test(html.slice(lt + 1, Math.min(gt, lt + 16)))) out += ' ';
    i = gt + 1;
  }
  return decodeEntities(out);
}

/** Collapses white space and cuts to `max` code points (never inside a surrogate pair). */
function clip(s: string, max: number): string {
  const t = s.replace(/[\s\u00a0\u200b\ufeff]+/g, ' ').trim();
  let out = '';
  let count = 0;
  for (const ch of t) {
    if (count++ >= max) break;
    out += ch;
  }
  return out.trimEnd();
}

function textOf(raw: Uint8Array, p: MimePart, html: boolean): string {
  const limit = html ? HTML_PREFIX : PLAIN_PREFIX;
  const cut = p.bodyEnd - p.headerEnd > limit;
  const body = raw.subarray(p.headerEnd, cut ? p.headerEnd + limit : p.bodyEnd);
  let text = decodeCharset(decodeBody(body, p.encoding), p.params.charset);
  // A multi-byte character cut in half by the prefix decodes as U+FFFD.
  if (cut) text = text.replace(/\ufffd+$/, '');
  if (html) text = htmlToText(text);
  return clip(text, PREVIEW_CHARS);
}

export function buildPreview(raw: Uint8Array, root: MimePart): string {
  for (const intoMessages of [false, true]) {
    const plain = firstText(root, 'plain', intoMessages);
    const fromPlain = plain ? textOf(raw, plain, false) : '';
    if (fromPlain.length > 0) return fromPlain;
    const html = firstText(root, 'html', intoMessages);
    const fromHtml = html ? textOf(raw, html, true) : '';
    if (fromHtml.length > 0) return fromHtml;
  }
  return '';
}

// Signature and key-exchange parts of multipart/signed and multipart/encrypted (RFC 1847 §2,
// RFC 3156, RFC 8551) are protocol, not attachments.
const PROTOCOL_TYPES = new Set([
  'application/pgp-signature', 'application/pkcs7-signature', 'application/x-pkcs7-signature', 'application/pgp-encrypted',
]);

/**
 * Whether the message carries an attachment, by the usual reading: a part marked
 * "attachment" (RFC 2183 §2.2), an embedded message, or a non-text leaf that is not an inline
 * resource of a multipart/related (RFC 2387) and not a signature or encryption control part.
 */
export function hasAttachment(root: MimePart): boolean {
  const walk = (p: MimePart, parentSubtype: string | null): boolean => {
    if (p.parts.length > 0) return p.parts.some((c) => walk(c, p.subtype));
    if (parentSubtype === null) return isAttachmentDisposition(p) || (p.type !== 'text' && p.message === null && !PROTOCOL_TYPES.has(`${p.type}/${p.subtype}`) && p.size > 0);
    if (isAttachmentDisposition(p)) return true;
    if (p.type === 'message' && (p.subtype === 'rfc822' || p.subtype === 'global')) return true;
    if (p.type === 'text') return false;
    if (PROTOCOL_TYPES.has(`${p.type}/${p.subtype}`)) return false;
    return parentSubtype !== 'related';
  };
  return walk(root, null);
}
