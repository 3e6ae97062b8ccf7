/**
 * The structured MIME header fields: Content-Type (RFC 2045 §5.1), Content-Disposition
 * (RFC 2183 §2), Content-Transfer-Encoding (RFC 2045 §6.1), Content-Language (RFC 3282 §2),
 * and their parameters with RFC 2231 continuations, charsets and languages.
 * Parameter values are not RFC 2047 decoded (BODYSTRUCTURE sends them as written);
 * `filenameOf` does that for display.
 */
import { Buffer } from 'node:buffer';
import { decodeCharset } from './charset.ts';
import { decodeEncodedWords } from './encoded-word.ts';
import { trimWsp } from './header.ts';
import type { Disposition, MimePart } from './types.ts';

export interface ContentType {
  type: string;
  subtype: string;
  params: Record<string, string>;
}

/** RFC 2045 §5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>. */
const TOKEN = /^[!#$%&'*+.^_`{|}~0-9A-Za-z-]+$/;

/** A dictionary with no prototype, so that parameter names like "__proto__" are plain keys. */
export function dict(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

function isWs(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

/**
 * Splits a structured value at ";" outside quoted strings, dropping comments. A "(" only opens
 * a comment at a token boundary: unquoted file names like "report(1).pdf" are common enough
 * in broken mail to be worth keeping whole.
 */
function splitSegments(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s[i];
    if (c === '"') {
      // RFC 5322 §3.2.4 quoted-string, kept with its quotes for unquote() below.
      let j = i + 1;
      while (j < n && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      cur += s.slice(i, Math.min(j + 1, n));
      i = j + 1;
    } else if (c === '(' && (cur.length === 0 || isWs(cur[cur.length - 1]) || cur.endsWith('=') || cur.endsWith('/'))) {
      // RFC 5322 §3.2.2 comment, possibly nested, with quoted-pairs.
      let depth = 0;
      let j = i;
      for (; j < n; j++) {
        const d = s[j];
        if (d === '\\') j++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
      }
      cur += ' ';
      i = j + 1;
    } else if (c === ';') {
      out.push(cur);
      cur = '';
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  out.push(cur);
  return out;
}

/** The content of a quoted string (RFC 5322 §3.2.4), or the trimmed text when not quoted. */
function unquote(v: string): string {
  const t = trimWsp(v);
  if (!t.startsWith('"')) return t;
  let out = '';
  for (let i = 1; i < t.length; i++) {
    const c = t[i];
    if (c === '\\' && i + 1 < t.length) out += t[++i];
    else if (c === '"') break;
    else out += c;
  }
  return out;
}

interface RawParam {
  name: string;
  value: string;
}

/** RFC 2231 §3 and §4: name*N continuations, name* and name*N* with charset'lang'%XX. */
function assembleParams(raw: RawParam[]): Record<string, string> {
  const params = dict();
  const pieces = new Map<string, Map<number, { index: number; value: string; encoded: boolean }>>();
  for (const { name, value } of raw) {
    const m = /^([^*]+)\*(?:(\d{1,6})(\*)?)?$/.exec(name);
    if (!m) {
      // Duplicates: the first one wins.
      if (!Object.hasOwn(params, name)) params[name] = value;
      continue;
    }
    const base = m[1];
    const index = m[2] === undefined ? 0 : Number(m[2]);
    const encoded = m[2] === undefined || m[3] === '*';
    let byIndex = pieces.get(base);
    if (!byIndex) pieces.set(base, (byIndex = new Map()));
    if (!byIndex.has(index)) byIndex.set(index, { index, value, encoded });
  }
  for (const [base, byIndex] of pieces) {
    const list = [...byIndex.values()].sort((a, b) => a.index - b.index);
    let charset = '';
    const bytes: number[] = [];
    list.forEach((p, k) => {
      let v = p.value;
      if (p.encoded && k === 0) {
        // RFC 2231 §4: the first encoded piece starts with charset'language'.
        const q1 = v.indexOf("'");
        const q2 = q1 < 0 ? -1 : v.indexOf("'", q1 + 1);
        if (q2 >= 0) {
          charset = v.slice(0, q1);
          v = v.slice(q2 + 1);
        }
      }
      if (p.encoded) percentDecode(v, bytes);
      else for (const b of Buffer.from(v, 'utf8')) bytes.push(b);
    });
    // The RFC 2231 form wins over a plain parameter of the same name (written for old readers).
    params[base] = decodeCharset(Uint8Array.from(bytes), charset);
  }
  return params;
}

function percentDecode(v: string, out: number[]): void {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(v.slice(i + 1, i + 3))) {
      out.push(parseInt(v.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      out.push(c);
    } else {
      for (const b of Buffer.from(v[i], 'utf8')) out.push(b);
    }
  }
}

/** Parses `head; name=value; ...` into the head text and decoded parameters. */
export function parseParameterised(value: string): { head: string; params: Record<string, string> } {
  const segs = splitSegments(value);
  const raw: RawParam[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i];
    const eq = s.indexOf('=');
    if (eq < 0) continue;
    const name = trimWsp(s.slice(0, eq)).toLowerCase();
    if (name.length === 0) continue;
    raw.push({ name, value: unquote(s.slice(eq + 1)) });
  }
  return { head: trimWsp(segs[0]), params: assembleParams(raw) };
}

/** RFC 2045 §5.1 Content-Type; null when type/subtype is not usable (RFC 2045 §5.2 then applies). */
export function parseContentType(value: string): ContentType | null {
  const { head, params } = parseParameterised(value);
  const m = /^([^\s/]+)[ \t]*\/[ \t]*([^\s/]+)(?:[ \t]+(\S.*))?$/s.exec(head);
  if (!m) return null;
  const type = m[1].toLowerCase();
  const subtype = m[2].toLowerCase();
  if (!TOKEN.test(type) || !TOKEN.test(subtype)) return null;
  if (m[3] !== undefined) {
    // "text/plain charset=utf-8": a parameter whose ";" was forgotten; the others win.
    if (!m[3].includes('=')) return null;
    const extra = parseParameterised(`x; ${m[3]}`).params;
    for (const k of Object.keys(extra)) if (!Object.hasOwn(params, k)) params[k] = extra[k];
  }
  return { type, subtype, params };
}

/** RFC 2183 §2 Content-Disposition; null when there is no usable disposition type. */
export function parseDisposition(value: string): Disposition | null {
  const { head, params } = parseParameterised(value);
  const first = /^[^\s]*/.exec(head)![0].toLowerCase();
  if (TOKEN.test(first)) return { type: first, params };
  // RFC 2183 §2.8: an unrecognised type is treated as "attachment"; a missing one too when
  // the field names a file.
  return Object.hasOwn(params, 'filename') ? { type: 'attachment', params } : null;
}

/** RFC 2045 §6.1: the mechanism is case-insensitive; absent means 7bit. */
export function parseEncoding(value: string | null): string {
  if (value === null) return '7bit';
  const v = /^[^\s;(]*/.exec(trimWsp(value))![0].toLowerCase();
  return v.length === 0 ? '7bit' : v;
}

/** RFC 3282 §2: Content-Language is a comma-separated list of language tags. */
export function parseLanguage(value: string | null): string[] | null {
  if (value === null) return null;
  const tags = splitSegments(value.replaceAll(',', ';'))
    .map((t) => trimWsp(t))
    .filter((t) => t.length > 0);
  return tags.length > 0 ? tags : null;
}

/** The name a part would be saved under: the disposition's filename, else the type's name, decoded. */
export function filenameOf(part: Pick<MimePart, 'disposition' | 'params'>): string | null {
  const d = part.disposition?.params;
  const v = d && Object.hasOwn(d, 'filename') ? d.filename : Object.hasOwn(part.params, 'name') ? part.params.name : null;
  // RFC 2047 §5 forbids encoded words in parameters, but Outlook and others write them.
  return v === null ? null : decodeEncodedWords(v);
}
