/**
 * Test helpers for the MIME parser: building messages from lines, reading a part's bytes back,
 * and the structural invariants every parse must keep (src/lib/mime/types.ts).
 */
import { expect } from 'vitest';
import type { MimePart, ParsedMessage } from '../../../src/lib/mime/index.ts';

/** Joins lines with CRLF (the wire form), as UTF-8. */
export function eml(...lines: string[]): Uint8Array {
  return new TextEncoder().encode(lines.join('\r\n'));
}

/** Joins lines with bare LF (a message read from a file). */
export function emlLf(...lines: string[]): Uint8Array {
  return new TextEncoder().encode(lines.join('\n'));
}

export function text(raw: Uint8Array, start: number, end: number): string {
  return new TextDecoder().decode(raw.subarray(start, end));
}

export function bodyText(raw: Uint8Array, p: MimePart): string {
  return text(raw, p.headerEnd, p.bodyEnd);
}

export function headerText(raw: Uint8Array, p: MimePart): string {
  return text(raw, p.headerStart, p.headerEnd);
}

/** Every part, depth-first, embedded messages included. */
export function allParts(p: MimePart): MimePart[] {
  const out: MimePart[] = [p];
  for (const c of p.parts) out.push(...allParts(c));
  if (p.message) out.push(...allParts(p.message.part));
  return out;
}

/** Offsets ordered and nested; the multipart/parts and message invariants of types.ts. Returns a list of violations. */
export function violations(m: ParsedMessage, length: number): string[] {
  const bad: string[] = [];
  const check = (p: MimePart, lo: number, hi: number, path: string) => {
    if (!(lo <= p.headerStart && p.headerStart <= p.headerEnd && p.headerEnd <= p.bodyEnd && p.bodyEnd <= hi)) {
      bad.push(`${path}: ${lo} <= ${p.headerStart} <= ${p.headerEnd} <= ${p.bodyEnd} <= ${hi}`);
    }
    if (p.size !== p.bodyEnd - p.headerEnd) bad.push(`${path}: size ${p.size}`);
    if ((p.type === 'multipart') !== (p.parts.length > 0)) bad.push(`${path}: multipart with ${p.parts.length} parts`);
    if (p.message && !(p.type === 'message' && p.parts.length === 0)) bad.push(`${path}: message on ${p.type}`);
    for (const h of p.headers) {
      if (!(p.headerStart <= h.start && h.start < h.end && h.end <= p.headerEnd)) bad.push(`${path}: header ${h.name} at ${h.start}-${h.end}`);
    }
    let prev = p.headerEnd;
    p.parts.forEach((c, i) => {
      if (c.headerStart < prev) bad.push(`${path}.${i + 1}: overlaps its sibling`);
      prev = c.bodyEnd;
      check(c, p.headerEnd, p.bodyEnd, `${path}.${i + 1}`);
    });
    if (p.message) {
      if (p.message.part.headerStart !== p.headerEnd || p.message.part.bodyEnd !== p.bodyEnd) bad.push(`${path}: embedded message bounds`);
      check(p.message.part, p.headerEnd, p.bodyEnd, `${path}.m`);
    }
  };
  if (m.size !== length) bad.push(`size ${m.size} != ${length}`);
  check(m.part, 0, length, 'root');
  if (m.part.headerStart !== 0 || m.part.bodyEnd !== length) bad.push('root does not span the message');
  if (m.headerSize !== m.part.headerEnd) bad.push('headerSize');
  return bad;
}

export function expectSound(m: ParsedMessage, raw: Uint8Array): void {
  expect(violations(m, raw.length)).toEqual([]);
  // Stored as JSON: nothing may be lost on the way.
  expect(JSON.parse(JSON.stringify(m))).toEqual(m);
}
