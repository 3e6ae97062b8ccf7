/**
 * Property tests of the MIME parser (src/lib/mime/parse.ts): on any bytes, and on any
 * mutation of a valid multipart message, it does not throw and its offsets stay ordered and
 * nested. The unguarded parser is used so that a bug shows as a throw instead of being
 * caught by parseMessage's safety net.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseMessage } from '../../../src/lib/mime/index.ts';
import { parseMessageUnguarded } from '../../../src/lib/mime/parse.ts';
import { eml, violations } from './helpers.ts';

const BASE = eml(
  'From: "Doe, J" <j@example.org>, group: a@b.c;',
  'Subject: =?UTF-8?Q?caf=C3=A9?=',
  'Date: Tue, 2 Jan 2024 03:04:05 +0100',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  'preamble',
  '--outer',
  'Content-Type: multipart/alternative; boundary=alt',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'caf=C3=A9 =',
  'soft',
  '--alt',
  'Content-Type: text/html',
  '',
  '<p>x</p>',
  '--alt--',
  '--outer',
  'Content-Type: message/rfc822',
  '',
  'Subject: inner',
  'Content-Type: multipart/mixed; boundary=in',
  '',
  '--in',
  'Content-Disposition: attachment; filename*0*=UTF-8\'\'%E2%82%AC; filename*1=.txt',
  'Content-Transfer-Encoding: base64',
  '',
  'SGVsbG8=',
  '--in--',
  '--outer',
  'Content-Type: multipart/digest; boundary=d',
  '',
  '--d',
  '',
  'Subject: digest',
  '',
  'x',
  '--d--',
  '--outer--',
  '',
);

const MIME_BITS = [
  '\r\n', '\n', '\r', '\r\n\r\n', '--', '--outer', '--alt', '--in', '--d', '--outer--', '--alt--', ' ', '\t', ':', ';',
  'Content-Type: multipart/mixed; boundary=outer', 'Content-Type: message/rfc822', 'Content-Type: text/plain',
  'Content-Transfer-Encoding: base64', 'boundary="', '"', '=?utf-8?q?', '?=', 'Subject: ', 'From: ', '<', '>', '@', '(', ')',
  'filename*0*=', "utf-8''%E2", '\u00e9', '\u0000', '\u00ff',
];

function check(raw: Uint8Array): void {
  const m = parseMessageUnguarded(raw);
  expect(violations(m, raw.length)).toEqual([]);
  expect(parseMessage(raw).limits).toBe(m.limits);
}

type Mutation =
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'set'; at: number; byte: number }
  | { op: 'duplicate'; at: number; len: number }
  | { op: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom(...MIME_BITS).map((s) => new TextEncoder().encode(s))),
  }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0x0a, 0x0d, 0x2d, 0x20, 0x3a, 0x3b, 0x22, 0x00, 0xff, 0x41) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function apply(raw: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Buffer.from(raw);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.op === 'set') {
      if (at < b.length) b[at] = m.byte;
    } else if (m.op === 'duplicate') b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
    else b = b.subarray(0, at);
  }
  return new Uint8Array(b);
}

describe('parseMessage properties', () => {
  it('the base message parses cleanly', () => {
    const m = parseMessageUnguarded(BASE);
    expect(violations(m, BASE.length)).toEqual([]);
    expect(m.limits).toBe(false);
    expect(m.part.parts.length).toBe(3);
  });

  it('never throws on arbitrary bytes; offsets ordered and nested', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (raw) => check(raw)), { numRuns: 500 });
  });

  it('never throws on arbitrary MIME-shaped text', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...MIME_BITS), { maxLength: 200 }), (bits) => check(new TextEncoder().encode(bits.join('')))),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary mutations of a valid multipart message', () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 12 }), (muts) => check(apply(BASE, muts))), { numRuns: 2000 });
  });

  it('stays sound with tiny limits', () => {
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 6 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }), (muts, maxDepth, maxParts, maxHeaderFields) => {
        const raw = apply(BASE, muts);
        const m = parseMessageUnguarded(raw, { maxDepth, maxParts, maxHeaderFields });
        expect(violations(m, raw.length)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('works on a view into a larger buffer', () => {
    const big = new Uint8Array(BASE.length + 20);
    big.set(BASE, 10);
    const view = big.subarray(10, 10 + BASE.length);
    expect(JSON.stringify(parseMessage(view))).toBe(JSON.stringify(parseMessage(BASE)));
  });

  it('does not throw on inputs that are not bytes', () => {
    for (const v of [null, undefined, 'text', 42, {}]) expect(parseMessage(v as unknown as Uint8Array).size).toBe(0);
    expect(parseMessage(BASE, { maxDepth: NaN, maxParts: -5, maxHeaderFields: Infinity }).part.parts.length).toBe(0);
  });
});
