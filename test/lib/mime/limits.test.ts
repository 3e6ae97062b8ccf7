/**
 * Bounds of the MIME parser (src/lib/mime/parse.ts): nesting depth, part count, header
 * fields, and time that grows linearly with the message, on hostile input too.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_PARTS, decodeBody, parseMessage, type MimePart } from '../../../src/lib/mime/index.ts';
import { allParts, bodyText, eml, expectSound } from './helpers.ts';

function depthOf(p: MimePart): number {
  let d = 0;
  for (const c of p.parts) d = Math.max(d, 1 + depthOf(c));
  if (p.message) d = Math.max(d, 1 + depthOf(p.message.part));
  return d;
}

function nestedMultipart(levels: number, close = true): Uint8Array {
  const lines: string[] = [];
  for (let i = 0; i < levels; i++) lines.push(`Content-Type: multipart/mixed; boundary="b${i}"`, '', `--b${i}`);
  lines.push('Content-Type: text/plain', '', 'deepest');
  if (close) for (let i = levels - 1; i >= 0; i--) lines.push(`--b${i}--`);
  return eml(...lines);
}

function manyParts(n: number): Uint8Array {
  const lines = ['Content-Type: multipart/mixed; boundary=m', ''];
  for (let i = 0; i < n; i++) lines.push('--m', '', `p${i}`);
  lines.push('--m--');
  return eml(...lines);
}

// Hostile inputs must finish at all: a quadratic path would blow the test's timeout. Speed
// itself is not asserted in tests (timings belong in bench/).

describe('limits', () => {
  it('a 100-level nested multipart: no throw, depth capped at 32, limits set', () => {
    const raw = nestedMultipart(100);
    const m = parseMessage(raw);
    expect(m.limits).toBe(true);
    expect(depthOf(m.part)).toBe(DEFAULT_MAX_DEPTH);
    expectSound(m, raw);
    // The deepest multipart kept is opaque: text/plain over the rest, its bytes intact.
    let p = m.part;
    while (p.parts.length > 0) p = p.parts[0];
    expect([p.type, p.subtype]).toEqual(['text', 'plain']);
    expect(p.headers[0].value).toBe(`multipart/mixed; boundary="b${DEFAULT_MAX_DEPTH}"`);
    expect(bodyText(raw, p)).toContain('deepest');
  });

  it('honours a smaller maxDepth and clamps a huge one', () => {
    const raw = nestedMultipart(10);
    expect(depthOf(parseMessage(raw, { maxDepth: 3 }).part)).toBe(3);
    expect(parseMessage(raw, { maxDepth: 10 }).limits).toBe(false);
    expect(parseMessage(raw, { maxDepth: 9 }).limits).toBe(true);
    const deep = nestedMultipart(2000, false);
    const m = parseMessage(deep, { maxDepth: 1e9 });
    expect(m.limits).toBe(true);
    expect(depthOf(m.part)).toBe(256);
  });

  it('100 nested message/rfc822: no throw, limits set', () => {
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push('Content-Type: message/rfc822', `Subject: level ${i}`, '');
    lines.push('', 'core');
    const raw = eml(...lines);
    const m = parseMessage(raw);
    expect(m.limits).toBe(true);
    expect(depthOf(m.part)).toBe(DEFAULT_MAX_DEPTH);
    expectSound(m, raw);
  });

  it('10,000+ parts: at most maxParts parts in all, the rest ignored, limits set', () => {
    const raw = manyParts(12_000);
    const m = parseMessage(raw);
    expect(m.limits).toBe(true);
    expect(allParts(m.part).length).toBe(DEFAULT_MAX_PARTS);
    expect(m.part.parts.length).toBe(DEFAULT_MAX_PARTS - 1);
    expect(bodyText(raw, m.part.parts[9_998])).toBe('p9998');
    expectSound(m, raw);
    expect(parseMessage(manyParts(9_999)).limits).toBe(false);
  });

  it('counts parts across nesting and embedded messages', () => {
    const raw = eml(
      'Content-Type: multipart/mixed; boundary=o',
      '',
      '--o',
      'Content-Type: message/rfc822',
      '',
      'Content-Type: multipart/mixed; boundary=i',
      '',
      '--i',
      '',
      'a',
      '--i',
      '',
      'b',
      '--i--',
      '--o',
      '',
      'c',
      '--o--',
    );
    expect(allParts(parseMessage(raw).part).length).toBe(6);
    const m = parseMessage(raw, { maxParts: 4 });
    expect(m.limits).toBe(true);
    expect(allParts(m.part).length).toBe(4);
    expect(m.part.parts.length).toBe(1);
    expect(m.part.parts[0].message!.part.parts.length).toBe(1);
    expectSound(m, raw);
    expect(parseMessage(raw, { maxParts: 1 }).part.type).toBe('text'); // the root alone, opaque
  });

  it('bounds the header fields kept, without losing the offsets', () => {
    const fields = Array.from({ length: 50 }, (_, i) => `X-F${i}: v`);
    const raw = eml(...fields, 'Subject: late', '', 'body');
    const m = parseMessage(raw, { maxHeaderFields: 10 });
    expect(m.part.headers.length).toBe(10);
    expect(m.limits).toBe(true);
    expect(bodyText(raw, m.part)).toBe('body');
    expect(m.subject).toBe('');
  });

  it('keeps a truncated base64 attachment as received and decodes what there is', () => {
    const b64 = Buffer.from('The quick brown fox jumps over the lazy dog').toString('base64');
    const cut = b64.slice(0, 30);
    const raw = eml('Content-Type: multipart/mixed; boundary=t', '', '--t', '', 'text', '--t', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', cut);
    const m = parseMessage(raw);
    const att = m.part.parts[1];
    expect(bodyText(raw, att)).toBe(cut);
    expect(new TextDecoder().decode(decodeBody(raw.subarray(att.headerEnd, att.bodyEnd), att.encoding))).toBe('The quick brown fox ju'); // 30 characters: 22 octets and 4 bits
    expect(m.limits).toBe(false);
  });
});

describe('time grows linearly with size', () => {
  // Generous bounds: quadratic behaviour on these inputs would take minutes, not seconds.
  it('a 50 MB message with a base64 attachment', () => {
    const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0';
    const body = (line + '\r\n').repeat(Math.ceil((50 * 1024 * 1024) / (line.length + 2)));
    const raw = new TextEncoder().encode(
      ['Subject: big', 'Content-Type: multipart/mixed; boundary=big', '', '--big', '', 'see attached', '--big', 'Content-Type: application/zip', 'Content-Transfer-Encoding: base64', '', body + '--big--', ''].join('\r\n'),
    );
    const m = parseMessage(raw);
    expect(m.part.parts.length).toBe(2);
    expect(m.part.parts[1].bodyEnd - m.part.parts[1].headerEnd).toBe(body.length - 2);
  });

  it('hostile: 10 MB of lines that almost look like delimiters, 32 levels deep without closes', () => {
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) lines.push(`Content-Type: multipart/mixed; boundary="b${i}"`, '', `--b${i}`);
    const filler = '--b1x\r\n'.repeat(Math.ceil((10 * 1024 * 1024) / 7));
    const raw = new TextEncoder().encode(lines.join('\r\n') + '\r\n' + filler);
    const m = parseMessage(raw);
    expect(m.limits).toBe(true);
    expectSound(m, raw);
  });

  it('hostile: 32 nested boundaries that prefix each other, 10 MB of lines matching them all', () => {
    const lines: string[] = [];
    for (let i = 1; i <= 40; i++) lines.push(`Content-Type: multipart/mixed; boundary="${'a'.repeat(i)}"`, '', `--${'a'.repeat(i)}`);
    const filler = `--${'a'.repeat(50)}X\r\n`.repeat(Math.ceil((10 * 1024 * 1024) / 55));
    const raw = new TextEncoder().encode(lines.join('\r\n') + '\r\n' + filler);
    const m = parseMessage(raw);
    expect(m.limits).toBe(true);
    expectSound(m, raw);
  });

  it('hostile: many small parts before one big body with no line breaks', () => {
    const head = ['Content-Type: multipart/mixed; boundary=s', ''];
    for (let i = 0; i < 3000; i++) head.push('--s', `Content-Type: multipart/mixed; boundary=inner${i}`, '', `--inner${i}`, '', 'x');
    const raw = new TextEncoder().encode(head.join('\r\n') + '\r\n--s\r\n\r\n' + 'A'.repeat(20 * 1024 * 1024));
    const m = parseMessage(raw);
    expect(m.part.parts.length).toBe(3001);
    expect(m.limits).toBe(false);
  });

  it.each<[string, string]>([
    ['RFC 2231 pieces', 'Content-Type: text/plain; ' + Array.from({ length: 100_000 }, (_, i) => `name*${i}*=%41`).join('; ')],
    ['parameters', 'Content-Type: multipart/mixed; ' + 'a=b; '.repeat(400_000)],
    ['an unterminated quoted parameter', 'Content-Type: text/plain; name="' + 'x'.repeat(2_000_000)],
    ['addresses', 'To: ' + 'a@b.c, '.repeat(300_000)],
    ['colons after an angle address', 'To: <a> ' + 'x : '.repeat(500_000)],
    ['open comments', 'To: ' + '('.repeat(2_000_000)],
    ['group markers', 'To: ' + 'g:'.repeat(1_000_000)],
    ['encoded words', 'Subject: ' + '=?utf-8?q?a?= '.repeat(150_000)],
    ['references', 'References: ' + '<a@b> '.repeat(300_000)],
  ])('hostile: a 2 MB header value of %s', (_n, field) => {
    const raw = new TextEncoder().encode(field + '\r\n\r\nbody');
    const m = parseMessage(raw);
    expect(bodyText(raw, m.part)).toBe('body');
  });

  it('hostile: a 20 MB header section of tiny fields', () => {
    const raw = new TextEncoder().encode('a: b\r\n'.repeat(3_500_000) + '\r\nbody');
    const m = parseMessage(raw);
    expect(m.limits).toBe(true);
    expect(m.part.headers.length).toBe(100_000);
    expect(bodyText(raw, m.part)).toBe('body');
  });
});
