/**
 * The iCalendar domain logic of CalDAV (src/core/dav/icalendar.ts and the modules behind it):
 * RFC 4791 §4.1 validation with its precondition names, every row of the §9.9 time-range
 * tables, recurrence (RRULE, RDATE, EXDATE, overrides moving instances in and out of a range,
 * DST in Europe/Berlin, all-day and floating times, bounded expansion), CALDAV:expand and
 * limit-recurrence-set, free-busy, and the index bounds. Samples are hand-written; the
 * US/Eastern ones follow RFC 4791 Appendix B and its query examples (§7.8.1, §7.8.3, §7.8.4,
 * §7.10).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import ICAL from 'ical.js';
import { DomainError } from '../../../src/core/errors.ts';
import {
  CalendarDataError, RecurrenceLimitError, expandCalendarObject, formatUtc, freeBusy, freeBusyToICalendar,
  icalDateTimeUtc, limitRecurrenceSet, matchesTimeRange, mayOverlap, objectBounds, parseCalendarObject,
  parseCalendarTimezone, parseICalendar, readFreeBusy,
} from '../../../src/core/dav/icalendar.ts';
import type { CalendarDataCondition, TimeRange } from '../../../src/core/dav/icalendar.ts';

const Z = icalDateTimeUtc;
const MIN = 60_000;
const HOUR = 3_600_000;

/** A VCALENDAR around the given lines (components or properties), CRLF-joined. */
function cal(...lines: string[]): string {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bulwark tests//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
}

function comp(name: string, ...lines: string[]): string {
  return [`BEGIN:${name}`, ...lines, `END:${name}`].join('\r\n');
}

const vevent = (...lines: string[]) => comp('VEVENT', ...lines);
const vtodo = (...lines: string[]) => comp('VTODO', ...lines);

/** A one-event calendar with a UID and DTSTAMP. */
function event(...lines: string[]): string {
  return cal(vevent('UID:e1@example.com', 'DTSTAMP:20240101T000000Z', ...lines));
}

function todo(...lines: string[]): string {
  return cal(vtodo('UID:t1@example.com', 'DTSTAMP:20240101T000000Z', ...lines));
}

function range(start: string | null, end: string | null): TimeRange {
  return { start: start === null ? null : Z(start), end: end === null ? null : Z(end) };
}

function conditionOf(text: string, opts: { maxBytes?: number; allowedComponents?: string[] } = {}): CalendarDataCondition | string {
  try {
    parseCalendarObject(text, { maxBytes: opts.maxBytes ?? 1_000_000, allowedComponents: opts.allowedComponents });
    return 'accepted';
  } catch (e) {
    return e instanceof CalendarDataError ? e.condition : `not a CalendarDataError: ${String(e)}`;
  }
}

// RFC 4791 Appendix B uses this zone (the US rules of 2000: first Sunday in April, last in October).
const US_EASTERN = comp('VTIMEZONE',
  'LAST-MODIFIED:20040110T032845Z',
  'TZID:US/Eastern',
  comp('DAYLIGHT', 'DTSTART:20000404T020000', 'RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=4', 'TZNAME:EDT',
    'TZOFFSETFROM:-0500', 'TZOFFSETTO:-0400'),
  comp('STANDARD', 'DTSTART:20001026T020000', 'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10', 'TZNAME:EST',
    'TZOFFSETFROM:-0400', 'TZOFFSETTO:-0500'));

const EUROPE_BERLIN = comp('VTIMEZONE',
  'TZID:Europe/Berlin',
  comp('DAYLIGHT', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'TZNAME:CEST', 'DTSTART:19700329T020000',
    'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU'),
  comp('STANDARD', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'TZNAME:CET', 'DTSTART:19701025T030000',
    'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU'));

/** CALDAV:calendar-timezone of a calendar in Berlin. */
const BERLIN_CALENDAR_TZ = cal(EUROPE_BERLIN);

// RFC 4791 Appendix B: abcd1.ics, abcd2.ics, abcd3.ics (events of the example calendar).
const ABCD1 = cal(US_EASTERN, vevent('DTSTAMP:20060206T001102Z', 'DTSTART;TZID=US/Eastern:20060102T100000',
  'DURATION:PT1H', 'SUMMARY:Event #1', 'Description:Go Steelers!', 'UID:74855313FA803DA593CD579A@example.com'));
const ABCD2 = cal(US_EASTERN,
  vevent('DTSTAMP:20060206T001121Z', 'DTSTART;TZID=US/Eastern:20060102T120000', 'DURATION:PT1H',
    'RRULE:FREQ=DAILY;COUNT=5', 'SUMMARY:Event #2', 'UID:00959BC664CA650E933C892C@example.com'),
  vevent('DTSTAMP:20060206T001121Z', 'DTSTART;TZID=US/Eastern:20060104T140000', 'DURATION:PT1H',
    'RECURRENCE-ID;TZID=US/Eastern:20060104T120000', 'SUMMARY:Event #2 bis', 'UID:00959BC664CA650E933C892C@example.com'),
  vevent('DTSTAMP:20060206T001121Z', 'DTSTART;TZID=US/Eastern:20060106T140000', 'DURATION:PT1H',
    'RECURRENCE-ID;TZID=US/Eastern:20060106T120000', 'SUMMARY:Event #2 bis bis',
    'UID:00959BC664CA650E933C892C@example.com'));
const ABCD3 = cal(US_EASTERN, vevent('ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:cyrus@example.com',
  'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:lisa@example.com', 'DTSTAMP:20060206T001220Z',
  'DTSTART;TZID=US/Eastern:20060104T100000', 'DURATION:PT1H', 'LAST-MODIFIED:20060206T001330Z',
  'ORGANIZER:mailto:cyrus@example.com', 'SEQUENCE:1', 'STATUS:TENTATIVE', 'SUMMARY:Event #3',
  'UID:DC6C50A017428C5216A2F1CD@example.com'));

/** A weekly 09:00–10:00 Berlin meeting across both 2024 DST switches (31 March, 27 October). */
const BERLIN_WEEKLY = cal(EUROPE_BERLIN, vevent('UID:standup@example.com', 'DTSTAMP:20240101T000000Z',
  'DTSTART;TZID=Europe/Berlin:20240318T090000', 'DTEND;TZID=Europe/Berlin:20240318T100000',
  'RRULE:FREQ=WEEKLY;UNTIL=20241105T000000Z', 'SUMMARY:Standup'));

/** Daily 10:00–11:00Z on 1–5 March 2024: the 2nd excluded, the 3rd moved to the 10th, the 4th moved to 1 April. */
const DAILY_WITH_EXCEPTIONS = cal(
  vevent('UID:daily@example.com', 'DTSTAMP:20240101T000000Z', 'DTSTART:20240301T100000Z', 'DTEND:20240301T110000Z',
    'RRULE:FREQ=DAILY;COUNT=5', 'EXDATE:20240302T100000Z', 'SUMMARY:Daily'),
  vevent('UID:daily@example.com', 'DTSTAMP:20240101T000000Z', 'RECURRENCE-ID:20240303T100000Z',
    'DTSTART:20240310T150000Z', 'DTEND:20240310T160000Z', 'SUMMARY:Daily (moved later)'),
  vevent('UID:daily@example.com', 'DTSTAMP:20240101T000000Z', 'RECURRENCE-ID:20240304T100000Z',
    'DTSTART:20240401T080000Z', 'DTEND:20240401T090000Z', 'SUMMARY:Daily (moved to April)'));

/** The components of a VCALENDAR text, as [name, {PROPERTY: value-as-ics}] for assertions. */
function componentsOf(text: string): { name: string; props: Record<string, string> }[] {
  const vcal = parseICalendar(text);
  return vcal.getAllSubcomponents().map((c) => {
    const props: Record<string, string> = {};
    for (const p of c.getAllProperties()) {
      const line = p.toICALString();
      props[p.name.toUpperCase()] = line.slice(line.indexOf(':') + 1);
    }
    return { name: c.name.toUpperCase(), props };
  });
}

describe('parseCalendarObject: what a stored calendar object resource yields', () => {
  it('extracts the index and scheduling fields of an event, normalising LF to CRLF', () => {
    const text = [
      'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Example//EN',
      'BEGIN:VEVENT', 'UID:meet@example.com', 'DTSTAMP:20240102T030405Z',
      'DTSTART:20240301T100000Z', 'DTEND:20240301T113000Z', 'SUMMARY:Planning',
      'ORGANIZER;CN=Alice:mailto:alice@example.com',
      'ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.com',
      'ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;SCHEDULE-AGENT=CLIENT:mailto:bob@example.com',
      'SEQUENCE:3', 'STATUS:CONFIRMED', 'CATEGORIES:Work,Planning', 'CATEGORIES:Q1',
      'END:VEVENT', 'END:VCALENDAR',
    ].join('\n');
    const o = parseCalendarObject(text, { maxBytes: 10_000 });
    expect(o.uid).toBe('meet@example.com');
    expect(o.component).toBe('VEVENT');
    expect(o.summary).toBe('Planning');
    expect(o.text).toBe(`${text.split('\n').join('\r\n')}\r\n`);
    expect(o.recurring).toBe(false);
    // The bounds carry 1 ms of padding so that strict SQL comparisons are safe.
    expect(o.firstStart).toBe(Z('20240301T100000Z') - 1);
    expect(o.lastEnd).toBe(Z('20240301T113000Z') + 1);
    expect(o.organizer).toBe('mailto:alice@example.com');
    expect(o.attendees).toEqual([
      { address: 'mailto:alice@example.com', partstat: 'ACCEPTED', role: 'CHAIR' },
      { address: 'mailto:bob@example.com', partstat: 'NEEDS-ACTION', rsvp: true, scheduleAgent: 'CLIENT' },
    ]);
    expect(o.sequence).toBe(3);
    expect(o.dtstamp).toBe(Z('20240102T030405Z'));
    expect(o.status).toBe('CONFIRMED');
    expect(o.categories).toEqual(['Work', 'Planning', 'Q1']);
    expect(o.unresolvedTzids).toEqual([]);
  });

  it('extracts the VTODO fields', () => {
    const o = parseCalendarObject(todo('DTSTART:20240301T090000Z', 'DUE:20240305T170000Z', 'SUMMARY:Report',
      'PERCENT-COMPLETE:40', 'PRIORITY:2', 'COMPLETED:20240304T120000Z', 'STATUS:IN-PROCESS'), { maxBytes: 10_000 });
    expect(o).toMatchObject({
      component: 'VTODO', uid: 't1@example.com', due: Z('20240305T170000Z'), percentComplete: 40, priority: 2,
      completed: Z('20240304T120000Z'), status: 'IN-PROCESS', sequence: 0,
    });
  });

  it('reads RFC 4791 Appendix B abcd3.ics (US/Eastern, attendees)', () => {
    const o = parseCalendarObject(ABCD3, { maxBytes: 10_000, allowedComponents: ['VEVENT', 'VTODO'] });
    expect(o.uid).toBe('DC6C50A017428C5216A2F1CD@example.com');
    expect(o.status).toBe('TENTATIVE');
    expect(o.sequence).toBe(1);
    expect(o.attendees.map((a) => a.address)).toEqual(['mailto:cyrus@example.com', 'mailto:lisa@example.com']);
    // 10:00 EST is 15:00Z.
    expect(o.firstStart).toBe(Z('20060104T150000Z') - 1);
    expect(o.lastEnd).toBe(Z('20060104T160000Z') + 1);
  });

  it('marks recurrence and bounds a COUNT rule by its last instance, overrides included', () => {
    const o = parseCalendarObject(ABCD2, { maxBytes: 10_000 });
    expect(o.recurring).toBe(true);
    expect(o.summary).toBe('Event #2');
    expect(o.firstStart).toBe(Z('20060102T170000Z') - 1);
    // The last instance (6 January) is overridden to 14:00–15:00 EST.
    expect(o.lastEnd).toBe(Z('20060106T200000Z') + 1);
  });

  it('leaves lastEnd null for an endless RRULE', () => {
    const o = parseCalendarObject(event('DTSTART:20240101T100000Z', 'DURATION:PT1H', 'RRULE:FREQ=WEEKLY'), { maxBytes: 10_000 });
    expect(o.recurring).toBe(true);
    expect(o.lastEnd).toBeNull();
    expect(o.firstStart).toBe(Z('20240101T100000Z') - 1);
  });

  it('widens the bounds of all-day (floating) events by 14 hours each side', () => {
    const o = parseCalendarObject(event('DTSTART;VALUE=DATE:20240301', 'DTEND;VALUE=DATE:20240302'), { maxBytes: 10_000 });
    expect(o.firstStart).toBe(Z('20240301T000000Z') - 14 * HOUR - 1);
    expect(o.lastEnd).toBe(Z('20240302T000000Z') + 14 * HOUR + 1);
  });

  it('includes alarm triggers in the bounds', () => {
    const o = parseCalendarObject(event('DTSTART:20240301T100000Z', 'DTEND:20240301T110000Z',
      comp('VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:x', 'TRIGGER:-P1D')), { maxBytes: 10_000 });
    expect(o.firstStart).toBe(Z('20240229T100000Z') - 1);
  });

  it('gathers attendees that only an override names', () => {
    const o = parseCalendarObject(cal(
      vevent('UID:x@example.com', 'DTSTART:20240301T100000Z', 'RRULE:FREQ=DAILY;COUNT=3', 'ATTENDEE:mailto:a@example.com'),
      vevent('UID:x@example.com', 'RECURRENCE-ID:20240302T100000Z', 'DTSTART:20240302T120000Z',
        'ATTENDEE:MAILTO:A@example.com', 'ATTENDEE:mailto:c@example.com'),
    ), { maxBytes: 10_000 });
    expect(o.attendees.map((a) => a.address)).toEqual(['mailto:a@example.com', 'mailto:c@example.com']);
  });

  it('accepts an object without PRODID (documented leniency)', () => {
    const text = ['BEGIN:VCALENDAR', 'VERSION:2.0', vevent('UID:a', 'DTSTART:20240301T100000Z'), 'END:VCALENDAR'].join('\r\n');
    expect(conditionOf(text)).toBe('accepted');
  });

  it('accepts a UTF-8 byte order mark and drops it', () => {
    const o = parseCalendarObject(`\uFEFF${event('DTSTART:20240301T100000Z')}`, { maxBytes: 10_000 });
    expect(o.text.startsWith('BEGIN:VCALENDAR')).toBe(true);
  });

  it('compares a floating DTSTART with a UTC DTEND only as far as the zones allow', () => {
    // 22:00 in Tokyo is 13:00Z, before the 14:00Z end; read as floating it looks later.
    expect(conditionOf(event('DTSTART;TZID=Asia/Tokyo:20240301T220000', 'DTEND:20240301T140000Z'))).toBe('accepted');
    expect(conditionOf(event('DTSTART;TZID=Asia/Tokyo:20240303T220000', 'DTEND:20240301T140000Z'))).toBe('valid-calendar-data');
  });

  it('accepts DTEND equal to DTSTART (a zero-length event)', () => {
    expect(conditionOf(event('DTSTART:20240301T100000Z', 'DTEND:20240301T100000Z'))).toBe('accepted');
  });

  it('accepts a TZID without VTIMEZONE as floating time and records it', () => {
    const o = parseCalendarObject(event('DTSTART;TZID=America/New_York:20240301T090000', 'DURATION:PT1H'), { maxBytes: 10_000 });
    expect(o.unresolvedTzids).toEqual(['America/New_York']);
    // Read as 09:00 floating, widened by 14 h: the true 14:00Z lies inside.
    expect(o.firstStart).toBe(Z('20240301T090000Z') - 14 * HOUR - 1);
    expect(o.lastEnd).toBe(Z('20240301T100000Z') + 14 * HOUR + 1);
    expect(matchesTimeRange(o, range('20240301T090000Z', '20240301T091000Z'))).toBe(true);
    // The UTC aliases ical.js knows are not unresolved.
    expect(parseCalendarObject(event('DTSTART;TZID=UTC:20240301T090000'), { maxBytes: 10_000 }).unresolvedTzids).toEqual([]);
  });

  it('accepts METHOD only when asked to (scheduling inbox, RFC 6638 §4.2)', () => {
    const itip = cal('METHOD:CANCEL', vevent('UID:a', 'DTSTAMP:20240101T000000Z', 'SEQUENCE:2'));
    expect(conditionOf(itip)).toBe('valid-calendar-object-resource');
    expect(parseCalendarObject(itip, { maxBytes: 10_000, allowMethod: true }).uid).toBe('a');
  });

  it('reports refusals as CalendarDataError, a DomainError with a human message', () => {
    try {
      parseCalendarObject(event('DTSTART:20240301T100000Z', 'DTEND:20240301T090000Z'), { maxBytes: 10_000 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CalendarDataError);
      expect(e).toBeInstanceOf(DomainError);
      expect((e as CalendarDataError).code).toBe('INVALID_INPUT');
      expect((e as CalendarDataError).message).toMatch(/DTEND is before DTSTART/);
    }
    try {
      parseCalendarObject(event('DTSTART:20240301T100000Z'), { maxBytes: 10 });
      expect.unreachable();
    } catch (e) {
      expect((e as CalendarDataError).condition).toBe('max-resource-size');
      expect((e as CalendarDataError).code).toBe('LIMIT_EXCEEDED');
    }
  });
});

describe('parseCalendarObject: each refusal and its RFC 4791 §5.3.2.1 precondition', () => {
  const start = 'DTSTART:20240301T100000Z';
  it.each<[string, string, CalendarDataCondition]>([
    ['text that is not iCalendar', 'hello world\r\n', 'valid-calendar-data'],
    ['an empty body', '', 'valid-calendar-data'],
    ['no BEGIN:VCALENDAR', `${vevent('UID:a', start)}\r\n`, 'valid-calendar-data'],
    ['no END:VCALENDAR', ['BEGIN:VCALENDAR', 'VERSION:2.0', vevent('UID:a', start)].join('\r\n'), 'valid-calendar-data'],
    ['an END that closes the wrong component', cal('BEGIN:VEVENT', 'UID:a', start, 'END:VTODO'), 'valid-calendar-data'],
    ['content after END:VCALENDAR', `${event(start)}X-TRAILING:1\r\n`, 'valid-calendar-data'],
    ['two VCALENDAR objects', event(start) + event(start), 'valid-calendar-data'],
    ['a line without a colon', event(start, 'GARBAGE'), 'valid-calendar-data'],
    ['a malformed DTSTART', event('DTSTART:2024xx01T100000Z'), 'valid-calendar-data'],
    ['a malformed RRULE', event(start, 'RRULE:FREQ=SOMETIMES'), 'valid-calendar-data'],
    ['an RRULE that cannot be evaluated', event(start, 'RRULE:FREQ=MONTHLY;BYYEARDAY=10'), 'valid-calendar-data'],
    ['no VERSION', ['BEGIN:VCALENDAR', 'PRODID:x', vevent('UID:a', start), 'END:VCALENDAR'].join('\r\n'), 'valid-calendar-data'],
    ['VERSION 1.0 (vCalendar)', ['BEGIN:VCALENDAR', 'VERSION:1.0', vevent('UID:a', start), 'END:VCALENDAR'].join('\r\n'),
      'supported-calendar-data'],
    ['a METHOD property', cal('METHOD:REQUEST', vevent('UID:a', start)), 'valid-calendar-object-resource'],
    ['no component at all', cal(), 'valid-calendar-object-resource'],
    ['only a VTIMEZONE', cal(EUROPE_BERLIN), 'valid-calendar-object-resource'],
    ['a VEVENT and a VTODO', cal(vevent('UID:a', start), vtodo('UID:a')), 'valid-calendar-object-resource'],
    ['two UIDs', cal(vevent('UID:a', start), vevent('UID:b', start)), 'valid-calendar-object-resource'],
    ['an override with another UID', cal(vevent('UID:a', start, 'RRULE:FREQ=DAILY'),
      vevent('UID:b', 'RECURRENCE-ID:20240302T100000Z', 'DTSTART:20240302T110000Z')), 'valid-calendar-object-resource'],
    ['two overrides of one RECURRENCE-ID', cal(vevent('UID:a', start, 'RRULE:FREQ=DAILY'),
      vevent('UID:a', 'RECURRENCE-ID:20240302T100000Z', 'DTSTART:20240302T110000Z'),
      vevent('UID:a', 'RECURRENCE-ID:20240302T100000Z', 'DTSTART:20240302T120000Z')), 'valid-calendar-object-resource'],
    ['two masters of one UID', cal(vevent('UID:a', start), vevent('UID:a', 'DTSTART:20240302T100000Z')),
      'valid-calendar-object-resource'],
    ['a component without UID', cal(vevent(start)), 'valid-calendar-data'],
    ['an unsupported component type', cal(comp('VAVAILABILITY', 'UID:a', 'DTSTAMP:20240101T000000Z')),
      'supported-calendar-component'],
    ['a VEVENT without DTSTART', cal(vevent('UID:a', 'SUMMARY:x')), 'valid-calendar-data'],
    ['DTEND before DTSTART', event(start, 'DTEND:20240301T090000Z'), 'valid-calendar-data'],
    ['DTEND and DURATION', event(start, 'DTEND:20240301T110000Z', 'DURATION:PT1H'), 'valid-calendar-data'],
    ['a negative DURATION', event(start, 'DURATION:-PT1H'), 'valid-calendar-data'],
    ['DUE before DTSTART', todo(start, 'DUE:20240301T090000Z'), 'valid-calendar-data'],
    ['DUE and DURATION', todo(start, 'DUE:20240301T110000Z', 'DURATION:PT1H'), 'valid-calendar-data'],
    ['a VTIMEZONE without rules', cal(comp('VTIMEZONE', 'TZID:X'), vevent('UID:a', 'DTSTART;TZID=X:20240301T100000')),
      'valid-calendar-data'],
    // ical.js would expand this zone second by second up to every instant it converts.
    ['a VTIMEZONE rule denser than yearly', cal(comp('VTIMEZONE', 'TZID:X',
      comp('STANDARD', 'DTSTART:19700101T000000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0100', 'RRULE:FREQ=SECONDLY')),
    vevent('UID:a', 'DTSTART;TZID=X:20240301T100000')), 'valid-calendar-data'],
    ['a VTIMEZONE rule with a BYHOUR list', cal(comp('VTIMEZONE', 'TZID:X',
      comp('STANDARD', 'DTSTART:19700101T000000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0100',
        'RRULE:FREQ=YEARLY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23')),
    vevent('UID:a', 'DTSTART;TZID=X:20240301T100000')), 'valid-calendar-data'],
  ])('refuses %s', (_name, text, condition) => {
    expect(conditionOf(text)).toBe(condition);
  });

  it('refuses a component type the calendar does not support (supported-calendar-component)', () => {
    expect(conditionOf(todo('DUE:20240301T100000Z'), { allowedComponents: ['VEVENT'] })).toBe('supported-calendar-component');
    expect(conditionOf(todo('DUE:20240301T100000Z'), { allowedComponents: ['vevent', 'vtodo'] })).toBe('accepted');
  });

  it('refuses a resource over maxBytes, counting UTF-8 bytes (max-resource-size)', () => {
    const text = event(start, 'SUMMARY:Grüße aus Köln');
    const bytes = Buffer.byteLength(text, 'utf8');
    expect(bytes).toBeGreaterThan(text.length);
    expect(conditionOf(text, { maxBytes: bytes })).toBe('accepted');
    expect(conditionOf(text, { maxBytes: bytes - 1 })).toBe('max-resource-size');
  });
});

describe('matchesTimeRange: RFC 4791 §9.9 VEVENT', () => {
  it('with DTEND: (start < DTEND) AND (end > DTSTART)', () => {
    const e = event('DTSTART:20240301T100000Z', 'DTEND:20240301T110000Z');
    expect(matchesTimeRange(e, range('20240301T103000Z', '20240301T103100Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240301T110000Z', '20240301T120000Z'))).toBe(false);
    expect(matchesTimeRange(e, range('20240301T105959Z', '20240301T120000Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
    expect(matchesTimeRange(e, range('20240301T090000Z', '20240301T100001Z'))).toBe(true);
  });

  it('with DURATION > 0: (start < DTSTART+DURATION) AND (end > DTSTART)', () => {
    const e = event('DTSTART:20240301T100000Z', 'DURATION:PT1H');
    expect(matchesTimeRange(e, range('20240301T105959Z', '20240301T120000Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240301T110000Z', '20240301T120000Z'))).toBe(false);
    expect(matchesTimeRange(e, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
  });

  it('with DURATION = 0: (start <= DTSTART) AND (end > DTSTART); DTEND = DTSTART reads the same', () => {
    for (const e of [event('DTSTART:20240301T100000Z', 'DURATION:PT0S'), event('DTSTART:20240301T100000Z', 'DTEND:20240301T100000Z')]) {
      expect(matchesTimeRange(e, range('20240301T100000Z', '20240301T100100Z'))).toBe(true);
      expect(matchesTimeRange(e, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
      expect(matchesTimeRange(e, range('20240301T100001Z', '20240301T110000Z'))).toBe(false);
    }
  });

  it('with neither and a DATE-TIME DTSTART: zero duration', () => {
    const e = event('DTSTART:20240301T100000Z');
    expect(matchesTimeRange(e, range('20240301T100000Z', '20240301T100001Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
  });

  it('with neither and a DATE DTSTART: one day, (start < DTSTART+P1D) AND (end > DTSTART)', () => {
    const e = event('DTSTART;VALUE=DATE:20240301');
    expect(matchesTimeRange(e, range('20240301T235900Z', '20240302T010000Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240302T000000Z', '20240302T010000Z'))).toBe(false);
    expect(matchesTimeRange(e, range('20240229T120000Z', '20240301T000000Z'))).toBe(false);
    expect(matchesTimeRange(e, range('20240229T120000Z', '20240301T000001Z'))).toBe(true);
  });

  it('treats a missing start or end attribute as -/+ infinity', () => {
    const e = event('DTSTART:20240301T100000Z', 'DTEND:20240301T110000Z');
    expect(matchesTimeRange(e, range(null, '20240301T100001Z'))).toBe(true);
    expect(matchesTimeRange(e, range(null, '20240301T100000Z'))).toBe(false);
    expect(matchesTimeRange(e, range('20240301T105959Z', null))).toBe(true);
    expect(matchesTimeRange(e, range('20240301T110000Z', null))).toBe(false);
    expect(matchesTimeRange(e, range(null, null))).toBe(true);
  });

  it('answers false for a component type the object does not hold', () => {
    const e = event('DTSTART:20240301T100000Z');
    expect(matchesTimeRange(e, range(null, null), { componentName: 'VTODO' })).toBe(false);
  });

  it('finds the RFC 4791 §7.8.1 example events (Appendix B, 4 January 2006)', () => {
    const r = range('20060104T000000Z', '20060105T000000Z');
    expect([ABCD1, ABCD2, ABCD3].map((o) => matchesTimeRange(o, r, { componentName: 'VEVENT' }))).toEqual([false, true, true]);
    // 3 January: only abcd2's master instance (12:00 EST = 17:00Z).
    const r3 = range('20060103T000000Z', '20060104T000000Z');
    expect([ABCD1, ABCD2, ABCD3].map((o) => matchesTimeRange(o, r3))).toEqual([false, true, false]);
  });
});

describe('matchesTimeRange: RFC 4791 §9.9 VTODO', () => {
  it('Y Y N: (start <= DTSTART+DURATION) AND ((end > DTSTART) OR (end >= DTSTART+DURATION))', () => {
    const t = todo('DTSTART:20240301T100000Z', 'DURATION:PT1H');
    // Unlike a VEVENT, a range starting exactly at the end still overlaps.
    expect(matchesTimeRange(t, range('20240301T110000Z', '20240301T120000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240301T110001Z', '20240301T120000Z'))).toBe(false);
    expect(matchesTimeRange(t, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
    expect(matchesTimeRange(t, range('20240301T090000Z', '20240301T100001Z'))).toBe(true);
  });

  it('Y N Y: ((start < DUE) OR (start <= DTSTART)) AND ((end > DTSTART) OR (end >= DUE))', () => {
    const t = todo('DTSTART:20240301T100000Z', 'DUE:20240301T110000Z');
    expect(matchesTimeRange(t, range('20240301T110000Z', '20240301T120000Z'))).toBe(false);
    expect(matchesTimeRange(t, range('20240301T105959Z', '20240301T120000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
    expect(matchesTimeRange(t, range('20240301T090000Z', '20240301T100001Z'))).toBe(true);
    // DUE = DTSTART: a range starting and ending there.
    const instant = todo('DTSTART:20240301T100000Z', 'DUE:20240301T100000Z');
    expect(matchesTimeRange(instant, range('20240301T100000Z', '20240301T100000Z'))).toBe(true);
  });

  it('Y N N: (start <= DTSTART) AND (end > DTSTART)', () => {
    const t = todo('DTSTART:20240301T100000Z');
    expect(matchesTimeRange(t, range('20240301T100000Z', '20240301T100001Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
  });

  it('N N Y: (start < DUE) AND (end >= DUE)', () => {
    const t = todo('DUE:20240301T110000Z');
    expect(matchesTimeRange(t, range('20240301T100000Z', '20240301T110000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240301T110000Z', '20240301T120000Z'))).toBe(false);
    expect(matchesTimeRange(t, range('20240301T100000Z', '20240301T105959Z'))).toBe(false);
  });

  it('N N N Y Y: ((start <= CREATED) OR (start <= COMPLETED)) AND ((end >= CREATED) OR (end >= COMPLETED))', () => {
    const t = todo('CREATED:20240101T000000Z', 'COMPLETED:20240110T000000Z');
    expect(matchesTimeRange(t, range('20240105T000000Z', '20240106T000000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240110T000000Z', '20240111T000000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240110T000001Z', '20240111T000000Z'))).toBe(false);
    expect(matchesTimeRange(t, range('20231201T000000Z', '20240101T000000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20231201T000000Z', '20231231T235959Z'))).toBe(false);
  });

  it('N N N Y N: (start <= COMPLETED) AND (end >= COMPLETED)', () => {
    const t = todo('COMPLETED:20240110T100000Z');
    expect(matchesTimeRange(t, range('20240110T090000Z', '20240110T100000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240110T100000Z', '20240110T110000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240110T100001Z', '20240110T110000Z'))).toBe(false);
  });

  it('N N N N Y: (end > CREATED)', () => {
    const t = todo('CREATED:20240110T100000Z');
    expect(matchesTimeRange(t, range('20300101T000000Z', '20300102T000000Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240101T000000Z', '20240110T100000Z'))).toBe(false);
    expect(matchesTimeRange(t, range('20240101T000000Z', '20240110T100001Z'))).toBe(true);
  });

  it('N N N N N: TRUE', () => {
    expect(matchesTimeRange(todo('SUMMARY:someday'), range('19700101T000000Z', '19700101T000001Z'))).toBe(true);
    const o = parseCalendarObject(todo('SUMMARY:someday'), { maxBytes: 10_000 });
    expect([o.firstStart, o.lastEnd]).toEqual([null, null]);
  });

  it('expands recurring to-dos', () => {
    const t = todo('DTSTART:20240301T090000Z', 'DUE:20240301T100000Z', 'RRULE:FREQ=WEEKLY;COUNT=3');
    expect(matchesTimeRange(t, range('20240315T093000Z', '20240315T093100Z'))).toBe(true);
    expect(matchesTimeRange(t, range('20240322T093000Z', '20240322T093100Z'))).toBe(false);
  });
});

describe('matchesTimeRange: RFC 4791 §9.9 VJOURNAL and VFREEBUSY', () => {
  const journal = (...lines: string[]) => cal(comp('VJOURNAL', 'UID:j@example.com', ...lines));

  it('VJOURNAL with a DATE-TIME: (start <= DTSTART) AND (end > DTSTART)', () => {
    const j = journal('DTSTART:20240301T100000Z', 'SUMMARY:notes');
    expect(matchesTimeRange(j, range('20240301T100000Z', '20240301T100001Z'))).toBe(true);
    expect(matchesTimeRange(j, range('20240301T090000Z', '20240301T100000Z'))).toBe(false);
  });

  it('VJOURNAL with a DATE: (start < DTSTART+P1D) AND (end > DTSTART)', () => {
    const j = journal('DTSTART;VALUE=DATE:20240301');
    expect(matchesTimeRange(j, range('20240301T230000Z', '20240302T010000Z'))).toBe(true);
    expect(matchesTimeRange(j, range('20240302T000000Z', '20240302T010000Z'))).toBe(false);
  });

  it('VJOURNAL without DTSTART: FALSE', () => {
    expect(matchesTimeRange(journal('SUMMARY:undated'), range(null, null))).toBe(false);
  });

  const fb = (...lines: string[]) => cal(comp('VFREEBUSY', 'UID:fb@example.com', 'DTSTAMP:20240101T000000Z', ...lines));

  it('VFREEBUSY with DTSTART and DTEND: (start <= DTEND) AND (end > DTSTART)', () => {
    const f = fb('DTSTART:20240301T000000Z', 'DTEND:20240302T000000Z');
    expect(matchesTimeRange(f, range('20240302T000000Z', '20240303T000000Z'))).toBe(true);
    expect(matchesTimeRange(f, range('20240302T000001Z', '20240303T000000Z'))).toBe(false);
    expect(matchesTimeRange(f, range('20240229T000000Z', '20240301T000000Z'))).toBe(false);
  });

  it('VFREEBUSY with FREEBUSY only: (start < period end) AND (end > period start)', () => {
    const f = fb('FREEBUSY:20240301T100000Z/PT1H,20240301T140000Z/20240301T150000Z');
    expect(matchesTimeRange(f, range('20240301T143000Z', '20240301T143100Z'))).toBe(true);
    expect(matchesTimeRange(f, range('20240301T110000Z', '20240301T140000Z'))).toBe(false);
  });

  it('VFREEBUSY with neither: FALSE', () => {
    expect(matchesTimeRange(fb('ORGANIZER:mailto:a@example.com'), range(null, null))).toBe(false);
  });
});

describe('matchesTimeRange: RFC 4791 §9.9 VALARM', () => {
  const alarm = (...lines: string[]) => comp('VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:Reminder', ...lines);
  const opts = { componentName: 'VALARM' };

  it('(start <= trigger-time) AND (end > trigger-time), relative to the start', () => {
    const e = event('DTSTART:20240301T100000Z', 'DTEND:20240301T110000Z', alarm('TRIGGER:-PT15M'));
    expect(matchesTimeRange(e, range('20240301T094500Z', '20240301T094501Z'), opts)).toBe(true);
    expect(matchesTimeRange(e, range('20240301T094501Z', '20240301T100000Z'), opts)).toBe(false);
    expect(matchesTimeRange(e, range('20240301T090000Z', '20240301T094500Z'), opts)).toBe(false);
    // The event itself is not in that range: the filter is about the alarm.
    expect(matchesTimeRange(e, range('20240301T094500Z', '20240301T094501Z'))).toBe(false);
  });

  it('relative to the end, and repeated', () => {
    const e = event('DTSTART:20240301T100000Z', 'DTEND:20240301T110000Z',
      alarm('TRIGGER;RELATED=END:PT0S'), alarm('TRIGGER:-PT30M', 'REPEAT:2', 'DURATION:PT10M'));
    expect(matchesTimeRange(e, range('20240301T110000Z', '20240301T110001Z'), opts)).toBe(true);
    expect(matchesTimeRange(e, range('20240301T095000Z', '20240301T095001Z'), opts)).toBe(true);
    expect(matchesTimeRange(e, range('20240301T095500Z', '20240301T095501Z'), opts)).toBe(false);
  });

  it('absolute triggers', () => {
    const e = event('DTSTART:20240301T100000Z', alarm('TRIGGER;VALUE=DATE-TIME:20240228T080000Z'));
    expect(matchesTimeRange(e, range('20240228T080000Z', '20240228T080001Z'), opts)).toBe(true);
    expect(matchesTimeRange(e, range('20240228T080001Z', '20240228T090000Z'), opts)).toBe(false);
  });

  it('for each instance of a recurring event, and a VTODO relative to DUE', () => {
    const e = event('DTSTART:20240301T100000Z', 'DURATION:PT1H', 'RRULE:FREQ=DAILY;COUNT=10', 'EXDATE:20240305T100000Z',
      alarm('TRIGGER:-P1D'));
    expect(matchesTimeRange(e, range('20240306T100000Z', '20240306T100001Z'), opts)).toBe(true);
    // The alarm of the excluded 5 March instance would fire on 4 March.
    expect(matchesTimeRange(e, range('20240304T100000Z', '20240304T100001Z'), opts)).toBe(false);
    expect(matchesTimeRange(e, range('20240310T100000Z', '20240310T100001Z'), opts)).toBe(false);
    const t = todo('DUE:20240301T170000Z', alarm('TRIGGER;RELATED=END:-PT1H'));
    expect(matchesTimeRange(t, range('20240301T160000Z', '20240301T160001Z'), opts)).toBe(true);
  });

  it('is false for an object without alarms', () => {
    expect(matchesTimeRange(event('DTSTART:20240301T100000Z'), range(null, null), opts)).toBe(false);
  });
});

describe('matchesTimeRange: recurrence sets', () => {
  it('removes EXDATE instances', () => {
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240301T103000Z', '20240301T103100Z'))).toBe(true);
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240302T000000Z', '20240303T000000Z'))).toBe(false);
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240305T103000Z', '20240305T103100Z'))).toBe(true);
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240306T000000Z', '20240307T000000Z'))).toBe(false);
  });

  it('applies overrides that move instances out of and into a range', () => {
    // 3 and 4 March were moved away: nothing is left on those days.
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240303T000000Z', '20240305T000000Z'))).toBe(false);
    // ... and appear where they were moved to, past the rule's last instance.
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240310T153000Z', '20240310T153100Z'))).toBe(true);
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240401T000000Z', '20240402T000000Z'))).toBe(true);
    expect(matchesTimeRange(DAILY_WITH_EXCEPTIONS, range('20240310T100000Z', '20240310T110000Z'))).toBe(false);
    const o = parseCalendarObject(DAILY_WITH_EXCEPTIONS, { maxBytes: 10_000 });
    expect(o.lastEnd).toBe(Z('20240401T090000Z') + 1);
  });

  it('adds RDATE instances, PERIOD ones with their own length', () => {
    const e = event('DTSTART:20240301T100000Z', 'DURATION:PT1H', 'RDATE:20240320T100000Z',
      'RDATE;VALUE=PERIOD:20240325T100000Z/PT4H');
    expect(matchesTimeRange(e, range('20240320T103000Z', '20240320T103100Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240325T133000Z', '20240325T133100Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240321T000000Z', '20240325T000000Z'))).toBe(false);
    expect(parseCalendarObject(e, { maxBytes: 10_000 }).lastEnd).toBe(Z('20240325T140000Z') + 1);
  });

  it('reads RANGE=THISANDFUTURE as an override of its one instance', () => {
    const e = cal(
      vevent('UID:f', 'DTSTART:20240301T100000Z', 'DURATION:PT1H', 'RRULE:FREQ=DAILY;COUNT=5'),
      vevent('UID:f', 'RECURRENCE-ID;RANGE=THISANDFUTURE:20240303T100000Z', 'DTSTART:20240303T140000Z', 'DURATION:PT1H'));
    expect(matchesTimeRange(e, range('20240303T143000Z', '20240303T143100Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20240303T103000Z', '20240303T103100Z'))).toBe(false);
    expect(matchesTimeRange(e, range('20240304T103000Z', '20240304T103100Z'))).toBe(true);
  });

  it('keeps 09:00 Europe/Berlin across the DST switches: 08:00Z in winter, 07:00Z in summer', () => {
    const at = (s: string) => ({ start: Z(s), end: Z(s) + MIN });
    expect(matchesTimeRange(BERLIN_WEEKLY, at('20240325T080000Z'))).toBe(true);
    expect(matchesTimeRange(BERLIN_WEEKLY, at('20240325T070000Z'))).toBe(false);
    // 31 March: summer time.
    expect(matchesTimeRange(BERLIN_WEEKLY, at('20240401T070000Z'))).toBe(true);
    expect(matchesTimeRange(BERLIN_WEEKLY, at('20240401T080000Z'))).toBe(false);
    expect(matchesTimeRange(BERLIN_WEEKLY, at('20241021T070000Z'))).toBe(true);
    // 27 October: winter time again.
    expect(matchesTimeRange(BERLIN_WEEKLY, at('20241028T080000Z'))).toBe(true);
    expect(matchesTimeRange(BERLIN_WEEKLY, at('20241028T070000Z'))).toBe(false);
    const o = parseCalendarObject(BERLIN_WEEKLY, { maxBytes: 10_000 });
    expect(o.firstStart).toBe(Z('20240318T080000Z') - 1);
    expect(o.lastEnd).toBe(Z('20241104T090000Z') + 1);
  });

  it('reads all-day and floating times in UTC, or in the calendar time zone when given', () => {
    const allDay = event('DTSTART;VALUE=DATE:20240301', 'DTEND;VALUE=DATE:20240302');
    const berlin = { timezone: BERLIN_CALENDAR_TZ };
    // 1 March in Berlin is 29 February 23:00Z to 1 March 23:00Z.
    expect(matchesTimeRange(allDay, range('20240229T233000Z', '20240229T234500Z'))).toBe(false);
    expect(matchesTimeRange(allDay, range('20240229T233000Z', '20240229T234500Z'), berlin)).toBe(true);
    expect(matchesTimeRange(allDay, range('20240301T233000Z', '20240301T234500Z'))).toBe(true);
    expect(matchesTimeRange(allDay, range('20240301T233000Z', '20240301T234500Z'), berlin)).toBe(false);
    const floating = event('DTSTART:20240701T090000', 'DURATION:PT1H');
    expect(matchesTimeRange(floating, range('20240701T090000Z', '20240701T090100Z'))).toBe(true);
    // Summer in Berlin: 09:00 local is 07:00Z.
    expect(matchesTimeRange(floating, range('20240701T070000Z', '20240701T070100Z'), berlin)).toBe(true);
    expect(matchesTimeRange(floating, range('20240701T090000Z', '20240701T090100Z'), berlin)).toBe(false);
    // A parsed zone works as well as the CALDAV:calendar-timezone text.
    const zone = parseCalendarTimezone(BERLIN_CALENDAR_TZ);
    expect(matchesTimeRange(floating, range('20240701T070000Z', '20240701T070100Z'), { timezone: zone })).toBe(true);
  });

  it('matches endless rules far in the future, with lastEnd null', () => {
    const e = event('DTSTART;VALUE=DATE:20240229', 'RRULE:FREQ=YEARLY', 'SUMMARY:Leap day');
    expect(matchesTimeRange(e, range('20280229T120000Z', '20280229T120100Z'))).toBe(true);
    expect(matchesTimeRange(e, range('20250301T000000Z', '20260101T000000Z'))).toBe(false);
    expect(parseCalendarObject(e, { maxBytes: 10_000 }).lastEnd).toBeNull();
  });

  it('skips the invalid dates a rule names instead of rolling them over (RFC 5545 §3.3.10)', () => {
    const leap = event('DTSTART:20240229T100000Z', 'DURATION:PT1H', 'RRULE:FREQ=YEARLY;COUNT=3');
    expect(matchesTimeRange(leap, range('20250301T000000Z', '20250302T000000Z'))).toBe(false);
    expect(matchesTimeRange(leap, range('20280229T000000Z', '20280301T000000Z'))).toBe(true);
    // COUNT counts only real instances: 2024, 2028, 2032.
    expect(parseCalendarObject(leap, { maxBytes: 10_000 }).lastEnd).toBe(Z('20320229T110000Z') + 1);
    const out = expandCalendarObject(event('DTSTART:20240331T100000Z', 'DURATION:PT1H', 'RRULE:FREQ=YEARLY;BYMONTH=3,4;BYMONTHDAY=31;COUNT=4'),
      { start: Z('20240101T000000Z'), end: Z('20260101T000000Z') });
    expect(componentsOf(out).map((c) => c.props.DTSTART)).toEqual(['20240331T100000Z', '20250331T100000Z']);
  });

  it('stays bounded for FREQ=SECONDLY without end, queried ten years ahead', () => {
    const e = event('DTSTART:20240101T000000Z', 'RRULE:FREQ=SECONDLY', 'DURATION:PT1S');
    const r = range('20340101T000000Z', '20340102T000000Z');
    let t0 = performance.now();
    // The budget runs out long before 2034: the answer is the conservative "may overlap".
    expect(matchesTimeRange(e, r)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(10_000);
    t0 = performance.now();
    expect(matchesTimeRange(e, r, { maxInstances: 1000 })).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(() => expandCalendarObject(e, { start: r.start!, end: r.end! }, { maxInstances: 1000 })).toThrow(RecurrenceLimitError);
    const o = parseCalendarObject(e, { maxBytes: 10_000 });
    expect(o.lastEnd).toBeNull();
  });

  it('stays bounded when every instance of a dense rule carries many alarm repetitions', () => {
    const e = event('DTSTART:20240101T000000Z', 'RRULE:FREQ=MINUTELY', 'DURATION:PT1M',
      comp('VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:x', 'TRIGGER:PT0S', 'REPEAT:100000', 'DURATION:PT1S'));
    const t0 = performance.now();
    expect(matchesTimeRange(e, range('20300101T000000Z', '20300102T000000Z'), { componentName: 'VALARM' })).toBe(true);
    expect(parseCalendarObject(e, { maxBytes: 10_000 }).lastEnd).toBeNull();
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('stays bounded for a rule that can never match again', () => {
    // A contracting rule that is never satisfied: ical.js would search forever.
    const e = event('DTSTART:20240101T000000Z', 'RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30');
    const t0 = performance.now();
    expect(matchesTimeRange(e, range('20250101T000000Z', '20250102T000000Z'), { maxInstances: 5000 })).toBe(true);
    parseCalendarObject(e, { maxBytes: 10_000 });
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe('expandCalendarObject: RFC 4791 §9.6.5', () => {
  it('expands RFC 4791 §7.8.3 (abcd2.ics, 3–5 January 2006) into UTC instances', () => {
    const out = expandCalendarObject(ABCD2, { start: Z('20060103T000000Z'), end: Z('20060105T000000Z') });
    expect(out).toMatch(/\r\n$/);
    const comps = componentsOf(out);
    expect(comps.map((c) => c.name)).toEqual(['VEVENT', 'VEVENT']);
    expect(comps.map((c) => [c.props.DTSTART, c.props['RECURRENCE-ID'], c.props.SUMMARY, c.props.DURATION])).toEqual([
      ['20060103T170000Z', '20060103T170000Z', 'Event #2', 'PT1H'],
      ['20060104T190000Z', '20060104T170000Z', 'Event #2 bis', 'PT1H'],
    ]);
    expect(out).not.toMatch(/RRULE|VTIMEZONE|TZID/);
    expect(comps[0].props.UID).toBe('00959BC664CA650E933C892C@example.com');
    // The output is an object of its own, every instance in range.
    const expanded = parseICalendar(out);
    expect(matchesTimeRange(expanded, range('20060103T170000Z', '20060103T173000Z'))).toBe(true);
  });

  it('writes DTEND in UTC across the Berlin DST switch', () => {
    const out = expandCalendarObject(BERLIN_WEEKLY, { start: Z('20240320T000000Z'), end: Z('20240410T000000Z') });
    expect(componentsOf(out).map((c) => [c.props.DTSTART, c.props.DTEND, c.props['RECURRENCE-ID']])).toEqual([
      ['20240325T080000Z', '20240325T090000Z', '20240325T080000Z'],
      ['20240401T070000Z', '20240401T080000Z', '20240401T070000Z'],
      ['20240408T070000Z', '20240408T080000Z', '20240408T070000Z'],
    ]);
  });

  it('drops EXDATE instances and places overrides where they moved', () => {
    const out = expandCalendarObject(DAILY_WITH_EXCEPTIONS, { start: Z('20240301T000000Z'), end: Z('20240315T000000Z') });
    expect(componentsOf(out).map((c) => [c.props.DTSTART, c.props['RECURRENCE-ID']])).toEqual([
      ['20240301T100000Z', '20240301T100000Z'],
      ['20240305T100000Z', '20240305T100000Z'],
      ['20240310T150000Z', '20240303T100000Z'],
    ]);
    expect(out).not.toMatch(/EXDATE/);
  });

  it('keeps all-day instances as DATE values, and non-recurring components without RECURRENCE-ID', () => {
    const out = expandCalendarObject(event('DTSTART;VALUE=DATE:20240301', 'DTEND;VALUE=DATE:20240302', 'RRULE:FREQ=DAILY;COUNT=3'),
      { start: Z('20240302T000000Z'), end: Z('20240303T000000Z') });
    expect(componentsOf(out).map((c) => [c.props.DTSTART, c.props.DTEND, c.props['RECURRENCE-ID']])).toEqual([
      ['20240302', '20240303', '20240302'],
    ]);
    const single = expandCalendarObject(ABCD3, { start: Z('20060101T000000Z'), end: Z('20060201T000000Z') });
    const [c] = componentsOf(single);
    expect(c.props.DTSTART).toBe('20060104T150000Z');
    expect(c.props['RECURRENCE-ID']).toBeUndefined();
    expect(single).not.toMatch(/VTIMEZONE/);
  });
});

describe('limitRecurrenceSet: RFC 4791 §9.6.6', () => {
  it('keeps the master and the overrides that overlap (RFC 4791 §7.8.4, abcd2.ics)', () => {
    const out = limitRecurrenceSet(ABCD2, { start: Z('20060103T000000Z'), end: Z('20060105T000000Z') });
    expect(componentsOf(out).map((c) => [c.name, c.props.SUMMARY])).toEqual([
      ['VTIMEZONE', undefined], ['VEVENT', 'Event #2'], ['VEVENT', 'Event #2 bis'],
    ]);
  });

  it('keeps an override whose original instance overlaps, though it moved away', () => {
    const out = limitRecurrenceSet(DAILY_WITH_EXCEPTIONS, { start: Z('20240304T000000Z'), end: Z('20240305T000000Z') });
    expect(componentsOf(out).map((c) => c.props.SUMMARY)).toEqual(['Daily', 'Daily (moved to April)']);
  });

  it('returns the stored text when nothing is dropped', () => {
    expect(limitRecurrenceSet(DAILY_WITH_EXCEPTIONS, { start: Z('20240301T000000Z'), end: Z('20240501T000000Z') }))
      .toBe(DAILY_WITH_EXCEPTIONS);
  });
});

describe('freeBusy: RFC 4791 §7.10', () => {
  const busyEvent = (uid: string, start: string, end: string, ...lines: string[]) =>
    cal(vevent(`UID:${uid}`, `DTSTART:${start}`, `DTEND:${end}`, ...lines));
  const day = { start: Z('20240301T000000Z'), end: Z('20240302T000000Z') };
  const show = (periods: { start: number; end: number; type: string }[]) =>
    periods.map((p) => `${formatUtc(p.start)}/${formatUtc(p.end)} ${p.type}`);

  it('answers the RFC 4791 §7.10 example from Appendix B', () => {
    const periods = freeBusy([ABCD1, ABCD2, ABCD3], { start: Z('20060104T140000Z'), end: Z('20060105T220000Z') });
    expect(show(periods)).toEqual([
      '20060104T150000Z/20060104T160000Z BUSY-TENTATIVE',
      '20060104T190000Z/20060104T200000Z BUSY',
      '20060105T170000Z/20060105T180000Z BUSY',
    ]);
  });

  it('merges overlapping and adjacent periods and clips them to the range', () => {
    const periods = freeBusy([
      busyEvent('a', '20240301T090000Z', '20240301T100000Z'),
      busyEvent('b', '20240301T093000Z', '20240301T110000Z'),
      busyEvent('c', '20240301T110000Z', '20240301T113000Z'),
      busyEvent('d', '20240301T230000Z', '20240302T020000Z'),
      busyEvent('e', '20240229T200000Z', '20240301T010000Z'),
    ], day);
    expect(show(periods)).toEqual([
      '20240301T000000Z/20240301T010000Z BUSY',
      '20240301T090000Z/20240301T113000Z BUSY',
      '20240301T230000Z/20240302T000000Z BUSY',
    ]);
  });

  it('leaves out TRANSPARENT and CANCELLED events and marks TENTATIVE ones', () => {
    const periods = freeBusy([
      busyEvent('t', '20240301T080000Z', '20240301T090000Z', 'TRANSP:TRANSPARENT'),
      busyEvent('c', '20240301T100000Z', '20240301T110000Z', 'STATUS:CANCELLED'),
      busyEvent('p', '20240301T120000Z', '20240301T140000Z', 'STATUS:TENTATIVE'),
      busyEvent('b', '20240301T130000Z', '20240301T133000Z', 'STATUS:CONFIRMED', 'TRANSP:OPAQUE'),
      busyEvent('z', '20240301T160000Z', '20240301T160000Z'),
    ], day);
    // BUSY wins where it overlaps the tentative meeting; the zero-length event takes no time.
    expect(show(periods)).toEqual([
      '20240301T120000Z/20240301T130000Z BUSY-TENTATIVE',
      '20240301T130000Z/20240301T133000Z BUSY',
      '20240301T133000Z/20240301T140000Z BUSY-TENTATIVE',
    ]);
  });

  it('expands recurrences and honours a cancelled instance', () => {
    const daily = cal(
      vevent('UID:r', 'DTSTART:20240227T090000Z', 'DURATION:PT30M', 'RRULE:FREQ=DAILY'),
      vevent('UID:r', 'RECURRENCE-ID:20240301T090000Z', 'DTSTART:20240301T090000Z', 'DURATION:PT30M', 'STATUS:CANCELLED'));
    expect(freeBusy([daily], day)).toEqual([]);
    expect(show(freeBusy([daily], { start: Z('20240302T000000Z'), end: Z('20240303T000000Z') })))
      .toEqual(['20240302T090000Z/20240302T093000Z BUSY']);
  });

  it('counts stored VFREEBUSY periods by FBTYPE, FREE excluded, and all-day events as whole UTC days', () => {
    const stored = cal(comp('VFREEBUSY', 'UID:fb', 'DTSTAMP:20240101T000000Z',
      'FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20240301T060000Z/PT2H', 'FREEBUSY;FBTYPE=FREE:20240301T100000Z/PT1H'));
    const allDay = cal(vevent('UID:ad', 'DTSTART;VALUE=DATE:20240302', 'DTEND;VALUE=DATE:20240303'));
    expect(show(freeBusy([stored, allDay, 'not iCalendar'], { start: Z('20240301T000000Z'), end: Z('20240304T000000Z') }))).toEqual([
      '20240301T060000Z/20240301T080000Z BUSY-UNAVAILABLE',
      '20240302T000000Z/20240303T000000Z BUSY',
    ]);
  });

  it('claims the rest of the range busy when a recurrence walk runs out of budget', () => {
    const dense = event('DTSTART:20240101T000000Z', 'RRULE:FREQ=SECONDLY', 'DURATION:PT1S');
    expect(show(freeBusy([dense], day, { maxInstances: 1000 }))).toEqual(['20240301T000000Z/20240302T000000Z BUSY']);
  });

  it('writes a VFREEBUSY that parses back to the same periods', () => {
    const periods = freeBusy([ABCD1, ABCD2, ABCD3], { start: Z('20060104T140000Z'), end: Z('20060105T220000Z') });
    const r = { start: Z('20060104T140000Z'), end: Z('20060105T220000Z') };
    const text = freeBusyToICalendar(periods, r, { dtstamp: Z('20060212T000000Z') });
    expect(text).toMatch(/\r\n$/);
    expect(text).not.toMatch(/METHOD/);
    const [fb] = componentsOf(text);
    expect(fb.name).toBe('VFREEBUSY');
    expect([fb.props.DTSTART, fb.props.DTEND, fb.props.DTSTAMP]).toEqual(['20060104T140000Z', '20060105T220000Z', '20060212T000000Z']);
    expect(readFreeBusy(text)).toEqual(periods);
    const reply = freeBusyToICalendar(periods, r, {
      dtstamp: Z('20060212T000000Z'), method: 'REPLY', uid: 'fb-1@example.com',
      organizer: 'mailto:cyrus@example.com', attendee: 'mailto:bernard@example.com',
    });
    const vcal = parseICalendar(reply);
    expect(vcal.getFirstPropertyValue('method')).toBe('REPLY');
    const vfb = vcal.getFirstSubcomponent('vfreebusy')!;
    expect(vfb.getFirstPropertyValue('organizer')).toBe('mailto:cyrus@example.com');
    expect(vfb.getFirstPropertyValue('attendee')).toBe('mailto:bernard@example.com');
    expect(vfb.getFirstPropertyValue('uid')).toBe('fb-1@example.com');
  });
});

describe('time-range attribute values (RFC 4791 §9.9, RFC 5545 §3.3.5 form #2)', () => {
  it('parses and formats UTC date-times', () => {
    expect(icalDateTimeUtc('20060104T000000Z')).toBe(Date.UTC(2006, 0, 4));
    expect(icalDateTimeUtc('20240229T235959Z')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
    expect(formatUtc(Date.UTC(2006, 0, 4, 15, 0, 0, 999))).toBe('20060104T150000Z');
    expect(formatUtc(icalDateTimeUtc('00010101T000000Z'))).toBe('00010101T000000Z');
  });

  it.each(['20060104', '20060104T000000', '20060104T000000z', '2006-01-04T00:00:00Z', '20061304T000000Z',
    '20230229T000000Z', '20060104T240000Z', '20060104T000000.000Z', ' 20060104T000000Z', ''])('refuses %j', (s) => {
    expect(() => icalDateTimeUtc(s)).toThrow(DomainError);
  });

  it('round-trips any second', () => {
    fc.assert(fc.property(fc.integer({ min: Date.UTC(1, 0, 1) / 1000, max: Date.UTC(9999, 11, 31, 23, 59, 59) / 1000 }), (s) => {
      expect(icalDateTimeUtc(formatUtc(s * 1000))).toBe(s * 1000);
    }));
  });
});

describe('objectBounds: never narrower than the truth', () => {
  it('holds for generated events, ranges and filters', () => {
    const base = Date.UTC(2024, 0, 1) / 1000;
    const at = (s: number) => formatUtc((base + s) * 1000);
    const shape = fc.record({
      start: fc.integer({ min: 0, max: 40 * 86400 }),
      length: fc.constantFrom(0, 1, 1800, 3600, 86400),
      rule: fc.constantFrom('', 'RRULE:FREQ=DAILY;COUNT=4', 'RRULE:FREQ=WEEKLY', 'RRULE:FREQ=HOURLY;INTERVAL=7;COUNT=30'),
      alarm: fc.constantFrom('', 'TRIGGER:-PT1H', 'TRIGGER;RELATED=END:PT10M'),
      allDay: fc.boolean(),
      floating: fc.boolean(),
    });
    const window = fc.record({ from: fc.integer({ min: -86400, max: 60 * 86400 }), span: fc.integer({ min: 0, max: 3 * 86400 }) });
    const zones = fc.constantFrom(null, BERLIN_CALENDAR_TZ);
    fc.assert(fc.property(shape, window, fc.constantFrom('VEVENT', 'VALARM'), zones, (e, w, componentName, timezone) => {
      const lines = e.allDay
        ? [`DTSTART;VALUE=DATE:${at(e.start).slice(0, 8)}`]
        : e.floating
          ? [`DTSTART:${at(e.start).slice(0, 15)}`, `DURATION:PT${e.length}S`]
          : [`DTSTART:${at(e.start)}`, `DURATION:PT${e.length}S`];
      if (e.rule) lines.push(e.rule);
      if (e.alarm) lines.push(comp('VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:x', e.alarm));
      const text = event(...lines);
      const r = { start: Z(at(w.from)), end: Z(at(w.from + w.span)) };
      const bounds = objectBounds(text);
      if (matchesTimeRange(text, r, { componentName, timezone })) {
        expect(mayOverlap(bounds, r)).toBe(true);
        // The form store.ts queries with: strict comparisons.
        expect(bounds.firstStart === null || bounds.firstStart < r.end).toBe(true);
        expect(bounds.lastEnd === null || bounds.lastEnd > r.start).toBe(true);
      }
    }), { numRuns: 300 });
  });

  it('uses ical.js components as input too', () => {
    const vcal = new ICAL.Component(ICAL.parse(ABCD3));
    expect(objectBounds(vcal)).toEqual({ firstStart: Z('20060104T150000Z') - 1, lastEnd: Z('20060104T160000Z') + 1 });
  });
});
