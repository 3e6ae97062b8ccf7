/**
 * IMAP output encoding (src/protocols/imap/wire.ts): quoted strings, the choice between a
 * quoted string and a literal (RFC 9051 §4.3, RFC 6855 §3), atoms, flag lists, sequence sets,
 * date-times (RFC 9051 §9) and the bytes of rendered parts, literal8 included (RFC 3516).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Literal,
  QUOTED_MAX,
  astr,
  binaryLiteral,
  dateTime,
  flagList,
  quote,
  renderParts,
  seqSet,
  str,
  type Part,
} from '../../../src/protocols/imap/wire.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const rendered = (p: Part | Part[]) => renderParts(Array.isArray(p) ? p : [p]).toString('latin1');

describe('quote (RFC 9051 §9 quoted)', () => {
  it('wraps in double quotes and escapes the quoted-specials', () => {
    expect(quote('')).toBe('""');
    expect(quote('plain')).toBe('"plain"');
    expect(quote('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"');
  });

  it('keeps TAB and other TEXT-CHARs', () => {
    expect(quote('a\tb')).toBe('"a\tb"');
  });

  it.each([['\r'], ['\n'], ['\0'], ['a\r\nb']])('throws on %j, which no quoted string can hold', (s) => {
    expect(() => quote(s)).toThrow();
  });
});

describe('str: string or nstring (RFC 9051 §4.3)', () => {
  it('NIL for null, and "" (never NIL) for the empty string', () => {
    expect(str(null, false)).toBe('NIL');
    expect(str('', false)).toBe('""');
    expect(str(new Uint8Array(0), false)).toBe('""');
  });

  it('quotes 7-bit text, escaping quotes and backslashes', () => {
    expect(str('Re: "x" \\ y', false)).toBe('"Re: \\"x\\" \\\\ y"');
    expect(str(bytes('abc'), false)).toBe('"abc"');
  });

  it('sends 8-bit text as a literal unless UTF-8 is on', () => {
    const p = str('café', false);
    expect(p).toBeInstanceOf(Literal);
    expect(Buffer.from((p as Literal).data).toString('utf8')).toBe('café');
    expect((p as Literal).binary).toBe(false);
    expect(rendered(p)).toBe('{5}\r\ncaf\xc3\xa9');
  });

  it('quotes valid UTF-8 when UTF-8 is on (RFC 6855 §3, RFC 9051 §4.3)', () => {
    expect(str('café', true)).toBe('"café"');
    expect(str(bytes('€'), true)).toBe('"€"');
    expect(renderParts([str('café', true)]).equals(Buffer.from('"café"', 'utf8'))).toBe(true);
  });

  it('sends bytes that are not UTF-8 as a literal even when UTF-8 is on', () => {
    const latin1 = Uint8Array.from([0x63, 0x61, 0x66, 0xe9]);
    const p = str(latin1, true);
    expect(p).toBeInstanceOf(Literal);
    expect([...(p as Literal).data]).toEqual([...latin1]);
  });

  it.each([['line\r\nbreak'], ['bare\nlf'], ['bare\rcr'], ['nul\0byte']])('sends %j as a literal', (s) => {
    const p = str(s, true);
    expect(p).toBeInstanceOf(Literal);
    expect(Buffer.from((p as Literal).data).toString('utf8')).toBe(s);
  });

  it('sends a value longer than QUOTED_MAX octets as a literal', () => {
    expect(str('a'.repeat(QUOTED_MAX), false)).toBe(`"${'a'.repeat(QUOTED_MAX)}"`);
    expect(str('a'.repeat(QUOTED_MAX + 1), false)).toBeInstanceOf(Literal);
    // The bound is in octets: 500 two-octet characters are 1000 octets, 501 are over.
    expect(typeof str('é'.repeat(500), true)).toBe('string');
    expect(str('é'.repeat(501), true)).toBeInstanceOf(Literal);
    expect(str(new Uint8Array(QUOTED_MAX + 1).fill(0x61), false)).toBeInstanceOf(Literal);
  });

  it('replaces lone surrogates, which UTF-8 cannot carry', () => {
    expect(str('a\ud800b', true)).toBe('"a\ufffdb"');
  });

  it('always yields a string the grammar accepts (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1200 }), fc.boolean(), (s, utf8) => {
        const p = str(s, utf8);
        const out = renderParts([p]);
        if (typeof p === 'string') {
          expect(p.startsWith('"') && p.endsWith('"')).toBe(true);
          expect(/[\r\n\0]/.test(p)).toBe(false);
          if (!utf8) expect(out.every((b) => b < 0x80)).toBe(true);
          // Unescaping gives the value back.
          expect(p.slice(1, -1).replace(/\\(.)/g, '$1')).toBe(s.toWellFormed());
        } else {
          const data = Buffer.from(p.data).toString('utf8');
          expect(data).toBe(s.toWellFormed());
          expect(out.toString('latin1').startsWith(`{${p.data.length}}\r\n`)).toBe(true);
        }
      }),
    );
  });
});

describe('astr: astring (RFC 9051 §9)', () => {
  it('sends an atom as it is', () => {
    expect(astr('INBOX', false)).toBe('INBOX');
    expect(astr('Archive/2024', false)).toBe('Archive/2024');
    expect(astr('a[b}c', false)).toBe('a[b}c');
  });

  it('quotes NIL in any case, so that it does not read as nil', () => {
    expect(astr('NIL', false)).toBe('"NIL"');
    expect(astr('nil', false)).toBe('"nil"');
  });

  it.each([[''], ['a b'], ['a(b'], ['a)b'], ['a{b'], ['a%b'], ['a*b'], ['a"b'], ['a\\b'], ['a]b'], ['a\x7fb']])(
    'quotes %j, which is no atom',
    (s) => {
      expect(astr(s, false)).toBe(quote(s));
    },
  );

  it('leaves 8-bit names to str()', () => {
    expect(astr('Entwürfe', true)).toBe('"Entwürfe"');
    expect(astr('Entwürfe', false)).toBeInstanceOf(Literal);
  });
});

describe('flagList (RFC 9051 §9 flag-list)', () => {
  it('joins the flags in parentheses', () => {
    expect(flagList([])).toBe('()');
    expect(flagList(['\\Seen'])).toBe('(\\Seen)');
    expect(flagList(['\\Seen', '$Junk', '\\Flagged'])).toBe('(\\Seen $Junk \\Flagged)');
  });
});

describe('seqSet (RFC 9051 §9 sequence-set)', () => {
  it.each<[number[], string]>([
    [[], ''],
    [[5], '5'],
    [[1, 2, 3], '1:3'],
    [[1, 2, 3, 5, 7, 8, 9], '1:3,5,7:9'],
    [[1, 3, 5], '1,3,5'],
    [[4294967294, 4294967295], '4294967294:4294967295'],
  ])('%j is %j', (nums, out) => {
    expect(seqSet(nums)).toBe(out);
    expect(seqSet(Uint32Array.from(nums))).toBe(out);
  });

  it('names exactly the numbers given (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { maxLength: 60 }), (xs) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const back: number[] = [];
        const set = seqSet(sorted);
        let prevEnd = -Infinity;
        if (set !== '') {
          for (const r of set.split(',')) {
            const [a, b = a] = r.split(':').map(Number);
            expect(a <= b).toBe(true);
            // Runs are maximal: a range never starts right after the previous one ends.
            expect(a > prevEnd + 1).toBe(true);
            prevEnd = b;
            for (let n = a; n <= b; n++) back.push(n);
          }
        }
        expect(back).toEqual(sorted);
      }),
    );
  });
});

describe('dateTime (RFC 9051 §9 date-time, in UTC)', () => {
  it('formats the RFC example instant in UTC', () => {
    // RFC 9051 §9 shows "17-Jul-1996 02:44:25 -0700", which is 09:44:25 UTC.
    expect(dateTime(Date.UTC(1996, 6, 17, 9, 44, 25))).toBe('"17-Jul-1996 09:44:25 +0000"');
  });

  it('pads a one-digit day with a space (date-day-fixed)', () => {
    expect(dateTime(Date.UTC(2024, 0, 2, 3, 4, 5))).toBe('" 2-Jan-2024 03:04:05 +0000"');
    expect(dateTime(0)).toBe('" 1-Jan-1970 00:00:00 +0000"');
  });

  it('drops milliseconds rather than rounding up', () => {
    expect(dateTime(Date.UTC(2024, 11, 31, 23, 59, 59, 999))).toBe('"31-Dec-2024 23:59:59 +0000"');
  });

  it('clamps to four-digit years and survives nonsense', () => {
    expect(dateTime(-1e16)).toBe('" 1-Jan-0000 00:00:00 +0000"');
    expect(dateTime(1e16)).toBe('"31-Dec-9999 23:59:59 +0000"');
    expect(dateTime(Number.NaN)).toBe('" 1-Jan-1970 00:00:00 +0000"');
  });

  it('always matches the grammar (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -7e13, max: 3e14 }), (ms) => {
        expect(dateTime(ms)).toMatch(/^"( \d|\d\d)-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} \d\d:\d\d:\d\d \+0000"$/);
      }),
    );
  });
});

describe('renderParts', () => {
  it('writes text as UTF-8 and literals with their octet count', () => {
    const out = renderParts(['* 1 FETCH (BODY[] ', new Literal(bytes('héllo')), ' FLAGS (\\Seen) X "é")']);
    expect(out.equals(Buffer.concat([Buffer.from('* 1 FETCH (BODY[] {6}\r\nh\xc3\xa9llo', 'latin1'), Buffer.from(' FLAGS (\\Seen) X "é")', 'utf8')]))).toBe(true);
  });

  it('writes a literal8 as ~{n} (RFC 3516 §4.1)', () => {
    expect(rendered(['BINARY[1] ', new Literal(Uint8Array.from([0, 1, 2]), true)])).toBe('BINARY[1] ~{3}\r\n\0\x01\x02');
  });

  it('writes an empty literal and consecutive literals', () => {
    expect(rendered([new Literal(new Uint8Array(0)), new Literal(bytes('ab'))])).toBe('{0}\r\n{2}\r\nab');
    expect(rendered([])).toBe('');
  });
});

describe('binaryLiteral (RFC 9051 §4.3.1)', () => {
  it('is a literal8 exactly when the data holds NUL', () => {
    expect(binaryLiteral(bytes('text')).binary).toBe(false);
    expect(binaryLiteral(Uint8Array.from([0x89, 0x50, 0x00])).binary).toBe(true);
  });
});
