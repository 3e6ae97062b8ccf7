/**
 * Header sections (RFC 5322 §2.2): where one ends and what fields it holds, with the byte
 * offset of each field. Lines end in CRLF; a bare LF is accepted too (messages from files).
 */
import { headerText } from './charset.ts';
import type { HeaderField } from './types.ts';

export interface HeaderSection {
  fields: HeaderField[];
  /** Parallel to `fields`: the field's bytes were not UTF-8 and were read as ISO-8859-1. */
  latin1: boolean[];
  /** Offset after the blank line, or `end` when the section has none. */
  headerEnd: number;
  /** Some fields were not kept because the field budget ran out. */
  truncated: boolean;
}

/** Shared across one parse, so that the total number of fields kept is bounded. */
export interface FieldBudget {
  fieldsLeft: number;
}

/** indexOf bounded to [from, to): a plain indexOf would read past `to` to the next match. */
export function indexOfByte(raw: Uint8Array, byte: number, from: number, to: number): number {
  if (from >= to) return -1;
  const i = raw.subarray(from, to).indexOf(byte);
  return i < 0 ? -1 : from + i;
}

/**
 * Splits the header section starting at `start` (a line start) and ending at or before `end`.
 * RFC 5322 §2.1: the header section ends at the first empty line; without one, everything up
 * to `end` is header. Lines that are not fields (no colon, a name with white space or
 * controls, such as an mbox "From " line) are skipped, and so are their continuation lines.
 */
export function parseHeaderSection(
  raw: Uint8Array,
  start = 0,
  end = raw.length,
  budget: FieldBudget = { fieldsLeft: Number.POSITIVE_INFINITY },
): HeaderSection {
  const fields: HeaderField[] = [];
  const latin1: boolean[] = [];
  let truncated = false;
  let fieldStart = -1;
  let fieldEnd = -1;
  const finish = () => {
    if (fieldStart < 0) return;
    if (budget.fieldsLeft <= 0) {
      truncated = true;
    } else {
      const f = makeField(raw, fieldStart, fieldEnd);
      if (f) {
        budget.fieldsLeft--;
        fields.push(f.field);
        latin1.push(f.latin1);
      }
    }
    fieldStart = -1;
  };
  let pos = start;
  while (pos < end) {
    const lf = indexOfByte(raw, 0x0a, pos, end);
    const lineEnd = lf < 0 ? end : lf + 1;
    let contentEnd = lf < 0 ? end : lf;
    if (contentEnd > pos && raw[contentEnd - 1] === 0x0d) contentEnd--;
    if (contentEnd === pos) {
      // An empty line (CRLF, LF, or a lone CR before the end) ends the section.
      finish();
      return { fields, latin1, headerEnd: lineEnd, truncated };
    }
    const c = raw[pos];
    if (c === 0x20 || c === 0x09) {
      // RFC 5322 §2.2.3: a line starting with WSP continues the field above.
      if (fieldStart >= 0) fieldEnd = lineEnd;
    } else {
      finish();
      fieldStart = pos;
      fieldEnd = lineEnd;
    }
    pos = lineEnd;
  }
  finish();
  return { fields, latin1, headerEnd: end, truncated };
}

function isFieldName(name: string): boolean {
  // RFC 5322 §3.6.8: ftext is printable US-ASCII except ":".
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function makeField(raw: Uint8Array, start: number, end: number): { field: HeaderField; latin1: boolean } | null {
  const { text, latin1 } = headerText(raw.subarray(start, end));
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  // RFC 5322 §4.5.3 (obs-optional): white space may precede the colon.
  const name = trimWsp(text.slice(0, colon));
  if (!isFieldName(name)) return null;
  // RFC 5322 §2.2.3: "Unfolding is accomplished by simply removing any CRLF that is
  // immediately followed by WSP"; every line break inside a field is one such.
  const value = trimWsp(text.slice(colon + 1).replace(/\r?\n/g, ''));
  return { field: { name, value, start, end }, latin1 };
}

function isWsp(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Trims SP, HTAB, CR and LF (not the wider set String.prototype.trim removes). */
export function trimWsp(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isWsp(s.charCodeAt(a))) a++;
  while (b > a && isWsp(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** The first field named `name` (case-insensitive), or null. */
export function getHeader(fields: readonly HeaderField[], name: string): string | null {
  const i = findHeader(fields, name);
  return i < 0 ? null : fields[i].value;
}

export function findHeader(fields: readonly HeaderField[], name: string): number {
  const lower = name.toLowerCase();
  for (let i = 0; i < fields.length; i++) if (fields[i].name.toLowerCase() === lower) return i;
  return -1;
}

/** Every field named `name`, in order. */
export function getHeaders(fields: readonly HeaderField[], name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const f of fields) if (f.name.toLowerCase() === lower) out.push(f.value);
  return out;
}
