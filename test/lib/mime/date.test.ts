/**
 * Date parsing (src/lib/mime/date.ts): RFC 5322 §3.3, the obsolete forms of §4.3, and the
 * broken shapes senders produce.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseDate } from '../../../src/lib/mime/index.ts';

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s);

describe('parseDate', () => {
  it.each<[string, number | null]>([
    ['Tue, 2 Jan 2024 03:04:05 +0100', utc(2024, 1, 2, 2, 4, 5)],
    ['2 Jan 2024 03:04:05 -0000', utc(2024, 1, 2, 3, 4, 5)], // no day of week
    ['Tue, 02 Jan 2024 03:04 +0000', utc(2024, 1, 2, 3, 4)], // no seconds
    ['Tue,  2 Jan 2024 03:04:05 +0530 (IST)', utc(2024, 1, 1, 21, 34, 5)], // CFWS
    ['Tue, 2 Jan 24 03:04:05 GMT', utc(2024, 1, 2, 3, 4, 5)], // RFC 5322 §4.3 two-digit year and obs-zone
    ['Sat, 1 Jan 99 00:00:00 EST', utc(1999, 1, 1, 5)],
    ['Fri, 1 Jan 101 00:00:00 PDT', utc(2001, 1, 1, 7)], // three-digit year is 1900+
    ['Mon, 1 Jan 2024 12:00:00 Z', utc(2024, 1, 1, 12)],
    ['Mon, 1 Jan 2024 12:00:00 A', utc(2024, 1, 1, 12)], // military zones count as -0000 (RFC 5322 §4.3)
    ['Tuesday, 2 January 2024 03:04:05 +0100', utc(2024, 1, 2, 2, 4, 5)],
    ['Tue Jan  2 03:04:05 2024', utc(2024, 1, 2, 3, 4, 5)], // asctime
    ['Tue, 2 Jan 2024 03:04:05', utc(2024, 1, 2, 3, 4, 5)], // no zone: UTC
    ['Tue, 2 Jan 2024 03:04:05 CEST', utc(2024, 1, 2, 1, 4, 5)],
    ['Tue, 2 Jan 2024 03:04:05 GMT+0200', utc(2024, 1, 2, 1, 4, 5)],
    ['Tue, 2 Jan 2024 03:04:05 +01:00', utc(2024, 1, 2, 2, 4, 5)],
    ['Tue, 2 Jan 2024 03:04:05+0100', utc(2024, 1, 2, 2, 4, 5)],
    ['Tue, 2 Jan 2024 3.04.05 +0100', utc(2024, 1, 2, 2, 4, 5)],
    ['Tue, 2-Jan-2024 03:04:05 +0000', utc(2024, 1, 2, 3, 4, 5)],
    ['tue, 2 JAN 2024 03:04:05 +0000', utc(2024, 1, 2, 3, 4, 5)],
    ['Jan 2, 2024 3:04 PM', utc(2024, 1, 2, 15, 4)],
    ['Tue, 2 Jan 2024 12:30:00 am', utc(2024, 1, 2, 0, 30)],
    ['2024-01-02T03:04:05Z', utc(2024, 1, 2, 3, 4, 5)],
    ['2024-01-02 03:04:05.123 +01:00', utc(2024, 1, 2, 2, 4, 5)],
    ['2024-01-02', utc(2024, 1, 2)],
    ['Sat, 31 Dec 2016 23:59:60 +0000', utc(2017, 1, 1)], // a leap second
    ['Thu, 29 Feb 2024 00:00:00 +0000', utc(2024, 2, 29)],
    ['Thu, 29 Feb 2023 00:00:00 +0000', null],
    ['Tue, 32 Jan 2024 03:04:05 +0000', null],
    ['Tue, 2 Foo 2024 03:04:05 +0000', null],
    ['Tue, 2 Jan 2024 25:04:05 +0000', null],
    ['yesterday', null],
    ['', null],
    ['0', null],
    ['Tue, 2 Jan', null],
  ])('%j', (value, expected) => {
    expect(parseDate(value)).toBe(expected);
  });

  it('reads what Date.prototype.toUTCString and RFC 5322 formatters write', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const ms = Math.floor(d.getTime() / 1000) * 1000;
        expect(parseDate(new Date(ms).toUTCString())).toBe(ms);
        expect(parseDate(new Date(ms).toISOString())).toBe(ms);
      }),
    );
  });

  it('never throws', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      const v = parseDate(s);
      expect(v === null || Number.isFinite(v)).toBe(true);
    }));
  });
});
