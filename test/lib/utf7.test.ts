/**
 * Modified UTF-7 for IMAP mailbox names (src/lib/utf7.ts): the examples of RFC 3501 §5.1.3
 * (RFC 9051 Appendix A), every kind of malformed input, and the round trip both ways.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Utf7Error, decodeMailboxName, encodeMailboxName, isValidModifiedUtf7 } from '../../src/lib/utf7.ts';

/** Modified base64 of arbitrary UTF-16 units, with no checks: for building malformed sections. */
function section(units: number[]): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const u of units) {
    acc = (acc << 16) | u;
    bits += 16;
    while (bits >= 6) {
      bits -= 6;
      out += A[(acc >> bits) & 0x3f];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += A[(acc << (6 - bits)) & 0x3f];
  return `&${out}-`;
}

function errorOf(wire: string): string | null {
  try {
    decodeMailboxName(wire);
    return null;
  } catch (e) {
    return e instanceof Utf7Error ? e.message : `not a Utf7Error: ${String(e)}`;
  }
}

describe('modified UTF-7: RFC 3501 §5.1.3 examples', () => {
  it.each<[string, string]>([
    // RFC 3501 §5.1.3: "a mailbox name which mixes English, Chinese, and Japanese text".
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    // RFC 3501 §5.1.3: the correct forms of its two counter-examples.
    ['☺!', '&Jjo-!'],
    ['台北日本語', '&U,BTF2XlZyyKng-'],
    // "&" is "&-", also right after a base64 section and before "-".
    ['&', '&-'],
    ['Tom & Jerry', 'Tom &- Jerry'],
    ['é&', '&AOk-&-'],
    ['é&é', '&AOk-&-&AOk-'],
    ['é-', '&AOk--'],
    ['&-', '&--'],
    ['Entwürfe', 'Entw&APw-rfe'],
    ['Gelöschte Elemente', 'Gel&APY-schte Elemente'],
    ['Корзина', '&BBoEPgRABDcEOAQ9BDA-'],
    // Astral characters are surrogate pairs in UTF-16.
    ['😀', '&2D3eAA-'],
    ['a😀b', 'a&2D3eAA-b'],
    // Controls and DEL are not printable: encoded.
    ['a\tb', 'a&AAk-b'],
    ['\u007f', '&AH8-'],
    ['', ''],
    ['INBOX', 'INBOX'],
    ['~ !"#$%\'()*+,-./:;<=>?@[\\]^_`{|}', '~ !"#$%\'()*+,-./:;<=>?@[\\]^_`{|}'],
  ])('%j <-> %j', (name, wire) => {
    expect(encodeMailboxName(name)).toBe(wire);
    expect(decodeMailboxName(wire)).toBe(name);
    expect(isValidModifiedUtf7(wire)).toBe(true);
  });

  it('keeps a run of non-ASCII characters in one section (no "-&" null shift)', () => {
    expect(encodeMailboxName('日本語😀é')).toMatch(/^&[^&-]+-$/);
  });
});

describe('modified UTF-7: malformed input', () => {
  it.each<[string, string, RegExp]>([
    // RFC 3501 §5.1.3: '"&Jjo!" is not a valid mailbox name because it does not contain a shift to US-ASCII before the "!"'.
    ['no shift back before "!"', '&Jjo!', /not a modified base64 character/],
    // RFC 3501 §5.1.3: '"&U,BTFw-&ZeVnLIqe-" is not permitted because it contains a superfluous shift'.
    ['adjacent sections', '&U,BTFw-&ZeVnLIqe-', /adjacent/],
    ['"&" at the end', 'abc&', /not closed/],
    ['section never closed', '&AOk', /not closed/],
    ['"/" of standard base64', '&AO/-', /not a modified base64 character/],
    ['"=" padding', '&AOk=-', /not a modified base64 character/],
    ['non-ASCII inside a section', '&AOé-', /not a modified base64 character/],
    ['non-zero padding bits', '&AOl-', /non-zero padding bits/],
    ['a superfluous character', '&AOkA-', /whole number/],
    ['half a unit', '&AA-', /whole number/],
    ['an odd octet (five octets)', '&AOkA6QA-', /whole number/],
    ['three units and a superfluous character', '&AOkA6QAAA-', /whole number/],
    ['printable ASCII in base64', '&AGE-', /printable US-ASCII/],
    ['"&" in base64 (it is written "&-")', section([0x26]), /printable US-ASCII/],
    ['"-" in base64', section([0xe9, 0x2d]), /printable US-ASCII/],
    ['printable ASCII among others', section([0xe9, 0x41, 0xe9]), /printable US-ASCII/],
    ['lone high surrogate', section([0xd83d]), /unpaired high surrogate/],
    ['high surrogate then a BMP character', section([0xd83d, 0xe9]), /unpaired high surrogate/],
    ['lone low surrogate', section([0xde00]), /unpaired low surrogate/],
    ['reversed pair', section([0xde00, 0xd83d]), /unpaired low surrogate/],
    ['a pair split across two sections', `${section([0xd83d])}x${section([0xde00])}`, /unpaired high surrogate/],
    ['raw non-ASCII', 'Entwürfe', /outside printable US-ASCII/],
    ['raw control', 'a\tb', /outside printable US-ASCII/],
    ['raw DEL', 'a\u007f', /outside printable US-ASCII/],
    ['raw NUL', 'a\u0000', /outside printable US-ASCII/],
    ['an empty section cannot be written', '&', /not closed/],
  ])('%s: %j', (_what, wire, msg) => {
    expect(errorOf(wire)).toMatch(msg);
    expect(isValidModifiedUtf7(wire)).toBe(false);
  });

  it('reports where the problem is', () => {
    try {
      decodeMailboxName('ok/&AO/-');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(Utf7Error);
      expect((e as Utf7Error).offset).toBe(6);
      expect((e as Error).name).toBe('Utf7Error');
    }
  });

  it('refuses to encode unpaired surrogates', () => {
    for (const bad of ['\ud83d', 'a\ude00b', '\ude00\ud83d', 'x\ud83d']) {
      expect(() => encodeMailboxName(bad)).toThrow(Utf7Error);
    }
  });
});

describe('modified UTF-7: properties', () => {
  // Code points of any plane, with the characters that matter to the encoding made common.
  const unit = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.constantFrom('&', '-', '&-', 'A', '/', ' ', '~', '\u0000', '\u007f', 'é', '😀', '日') },
  );
  const names = fc.array(unit, { maxLength: 40 }).map((a) => a.join(''));

  it('decode(encode(s)) === s, and the encoding is printable ASCII', () => {
    fc.assert(
      fc.property(names, (s) => {
        const w = encodeMailboxName(s);
        expect(w).toMatch(/^[\x20-\x7e]*$/);
        expect(isValidModifiedUtf7(w)).toBe(true);
        expect(decodeMailboxName(w)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('what decode accepts is the canonical form: encode(decode(w)) === w', () => {
    const wire = fc.array(fc.constantFrom(...'&-AOkDUZeVnLIqe2D3gB,+/=a ~!'), { maxLength: 24 }).map((a) => a.join(''));
    fc.assert(
      fc.property(wire, (w) => {
        let s: string;
        try {
          s = decodeMailboxName(w);
        } catch (e) {
          expect(e).toBeInstanceOf(Utf7Error);
          return;
        }
        expect(s.isWellFormed()).toBe(true);
        expect(encodeMailboxName(s)).toBe(w);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws anything but Utf7Error', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (w) => {
        try {
          decodeMailboxName(w);
        } catch (e) {
          expect(e).toBeInstanceOf(Utf7Error);
        }
      }),
    );
  });

  it('is linear on long names', () => {
    const long = '日本語/'.repeat(50_000);
    const t = performance.now();
    expect(decodeMailboxName(encodeMailboxName(long))).toBe(long);
    expect(performance.now() - t).toBeLessThan(2000);
  });
});
