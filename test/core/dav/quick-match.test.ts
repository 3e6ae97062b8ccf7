/**
 * The row-only answer of a calendar-query (quickMatch over the instance index made at PUT)
 * agrees with the full RFC 4791 §9.9 evaluation wherever it answers, for single and recurring
 * events with exceptions and overrides, at and around the boundaries; and it declines what it
 * cannot decide (floating and all-day times, other filters, ranges past the index).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { davValidators } from '../../../src/core/dav/resources.ts';
import { matchCalendarFilter, quickMatch, type CompFilter } from '../../../src/core/dav/filters.ts';
import type { CollectionInfo } from '../../../src/core/dav/store.ts';

const coll = { kind: 'calendar', components: ['VEVENT', 'VTODO'] } as unknown as CollectionInfo;
const validate = davValidators().calendar!;
const fmt = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
const BASE = Date.UTC(2027, 0, 1);
const STEP = 15 * 60_000;
const cal = (...events: string[][]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:t', ...events.flatMap((e) => ['BEGIN:VEVENT', 'UID:q', 'DTSTAMP:20260101T000000Z', ...e, 'END:VEVENT']), 'END:VCALENDAR', ''].join('\r\n');
const filter = (start: number | null, end: number | null): CompFilter => ({
  name: 'VCALENDAR', isNotDefined: false, props: [], comps: [{ name: 'VEVENT', isNotDefined: false, timeRange: { start, end }, props: [], comps: [] }],
});
let nextId = 1;
const row = (text: string) => {
  const m = validate(text, coll, 'q.ics');
  return { component: m.component, instances: m.instances ?? null, firstStart: m.firstStart, lastEnd: m.lastEnd, id: nextId++, collectionId: 1, modseq: 1 };
};

describe('quickMatch and the instance index', () => {
  it('indexes events with fixed times, not floating or all-day ones', () => {
    // A single event's bounds are its instance: "=" instead of a list.
    expect(row(cal(['DTSTART:20270105T100000Z', 'DTEND:20270105T110000Z'])).instances).toBe('=');
    // An alarm widens the bounds: the instance is listed.
    expect(row(cal(['DTSTART:20270105T100000Z', 'DTEND:20270105T110000Z', 'BEGIN:VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:x', 'TRIGGER:-PT1H', 'END:VALARM'])).instances).toMatch(/^\{/);
    expect(row(cal(['DTSTART:20270105T100000Z', 'DURATION:PT1H', 'RRULE:FREQ=DAILY;COUNT=3'])).instances).not.toBeNull();
    expect(row(cal(['DTSTART:20270105T100000', 'DURATION:PT1H'])).instances).toBeNull();
    expect(row(cal(['DTSTART;VALUE=DATE:20270105'])).instances).toBeNull();
  });

  it('agrees with the full evaluation for single events, zero-length ones included (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 220 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean(),
      (s, len, rs, rlen, openStart, openEnd) => {
        const text = cal([`DTSTART:${fmt(BASE + s * STEP)}`, `DTEND:${fmt(BASE + (s + len) * STEP)}`]);
        const f = filter(openStart ? null : BASE + rs * STEP, openEnd ? null : BASE + (rs + rlen) * STEP);
        const q = quickMatch(f, row(text));
        expect(q).not.toBeNull();
        expect(q).toBe(matchCalendarFilter(text, f));
      }), { numRuns: 300 });
  });

  it('agrees with the full evaluation for recurring events with EXDATE and overrides, wherever it answers (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 8 }), fc.constantFrom('DAILY', 'WEEKLY'), fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
      fc.integer({ min: 0, max: 5 }), fc.integer({ min: -30, max: 30 }), fc.integer({ min: -50, max: 3000 }), fc.integer({ min: 1, max: 600 }),
      (count, len, freq, until, exdateAt, moveBy, rs, rlen) => {
        const day = 86_400_000;
        const start = BASE + 9 * 3_600_000;
        const step = freq === 'DAILY' ? day : 7 * day;
        const rule = until === undefined ? `RRULE:FREQ=${freq};COUNT=${count}` : `RRULE:FREQ=${freq}`;
        const master = [`DTSTART:${fmt(start)}`, `DURATION:PT${len * 15}M`, rule, `EXDATE:${fmt(start + exdateAt * step)}`];
        const override = [`RECURRENCE-ID:${fmt(start + step)}`, `DTSTART:${fmt(start + step + moveBy * STEP)}`, `DURATION:PT${len * 15}M`];
        const text = cal(master, override);
        const f = filter(BASE + rs * STEP * 4, BASE + (rs + rlen) * STEP * 4);
        const q = quickMatch(f, row(text));
        if (q !== null) expect(q).toBe(matchCalendarFilter(text, f));
        if (until === undefined) expect(q).not.toBeNull(); // COUNT rules are fully indexed
      }), { numRuns: 300 });
  });

  it('declines other filters, and ranges of an endless rule beyond the index', () => {
    const single = row(cal(['DTSTART:20270105T100000Z', 'DTEND:20270105T110000Z']));
    const withProp: CompFilter = { ...filter(0, BASE * 2), comps: [{ ...filter(0, BASE * 2).comps[0], props: [{ name: 'SUMMARY', isNotDefined: false, textMatches: [], params: [], test: 'anyof' }] }] };
    expect(quickMatch(withProp, single)).toBeNull();
    expect(quickMatch({ ...filter(0, BASE * 2), comps: [{ ...filter(0, BASE * 2).comps[0], name: 'VTODO' }] }, single)).toBeNull();
    const endless = cal(['DTSTART:20270105T100000Z', 'DURATION:PT1H', 'RRULE:FREQ=WEEKLY']);
    const r = row(endless);
    expect(quickMatch(filter(Date.UTC(2027, 2, 1), Date.UTC(2027, 3, 1)), r)).toBe(true);
    expect(quickMatch(filter(Date.UTC(2040, 2, 1), Date.UTC(2040, 3, 1)), r)).toBeNull();
    expect(matchCalendarFilter(endless, filter(Date.UTC(2040, 2, 1), Date.UTC(2040, 3, 1)))).toBe(true);
  });
});
