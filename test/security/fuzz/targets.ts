/**
 * The parsers under fuzzing (issue 6 point 3), each with its inputs and its rule. An input is
 * made three ways: arbitrary bytes; a soup of the grammar's tokens; and mutations (replace,
 * insert, delete, duplicate, truncate, insert a token) of valid seeds. A target's run() throws
 * only for a finding: any error other than the parser's own refusal of bad input. Hangs and
 * unbounded memory are caught by the harness (fuzz.test.ts runs each target in a worker with a
 * watchdog and a heap limit).
 *
 * Loaded by the worker (worker.ts) through Node's own TypeScript support: erasable syntax only.
 */
import fc from 'fast-check';
import { mutations } from '../../harness/mutate.ts';
import { ImapInput, type InputEvent as ImapEvent } from '../../../src/protocols/imap/input.ts';
import { parseCommand as parseImap } from '../../../src/protocols/imap/parser.ts';
import { ImapSyntaxError } from '../../../src/protocols/imap/types.ts';
import { SmtpInput, type InputEvent as SmtpEvent } from '../../../src/protocols/smtp/input.ts';
import { parseCommand as parseSmtp, SmtpSyntaxError } from '../../../src/protocols/smtp/parser.ts';
import { parseCommand as parsePop3, Pop3SyntaxError } from '../../../src/protocols/pop3/parser.ts';
import { parseMessage, parseAddressList } from '../../../src/lib/mime/index.ts';
import { parseAddress } from '../../../src/lib/address.ts';
import { DomainError } from '../../../src/core/errors.ts';
import { davValidators } from '../../../src/core/dav/resources.ts';
import { expandCalendarObject, freeBusy, matchesTimeRange } from '../../../src/core/dav/icalendar.ts';
import type { CollectionInfo } from '../../../src/core/dav/store.ts';
import { XmlError, parseXml } from '../../../src/lib/xml.ts';

export interface Target {
  /** What the input is: bytes as they come off a socket, or text. */
  arbitrary: fc.Arbitrary<Buffer>;
  run(input: Buffer): void;
}

/** The three kinds of input, mutations weighted most. */
function inputs(seeds: string[], tokens: string[], opts: { maxBytes?: number; encoding?: BufferEncoding } = {}): fc.Arbitrary<Buffer> {
  const enc = opts.encoding ?? 'utf8';
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: opts.maxBytes ?? 512 }).map((u) => Buffer.from(u)) },
    { weight: 2, arbitrary: fc.array(fc.constantFrom(...tokens), { maxLength: 60 }).map((ts) => Buffer.from(ts.join(''), enc)) },
    { weight: 5, arbitrary: mutations(seeds.map((x) => Buffer.from(x, enc)), tokens.map((x) => Buffer.from(x, enc))) },
  );
}

/** Runs fn; an error that is not one of the refusals is a finding (rethrown). */
function refusesOnly(fn: () => void, ...refusals: (abstract new (...a: never[]) => Error)[]): void {
  try {
    fn();
  } catch (e) {
    if (refusals.some((R) => e instanceof R)) return;
    throw e;
  }
}

/** Cuts bytes into chunks at the given points (the same input as a socket may deliver it). */
function chunksOf(b: Buffer, cuts: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let n = 1; at < b.length; n++) {
    const size = 1 + ((cuts * n * 7919) % 97);
    out.push(b.subarray(at, at + size));
    at += size;
  }
  return out;
}

const IMAP_SEEDS = [
  'a1 LOGIN {3}\r\nbob "se\\"cret"\r\n',
  'a1 SELECT INBOX (CONDSTORE QRESYNC (1 2 1:5 (1:2 3:4)))\r\n',
  'a1 LIST (SUBSCRIBED RECURSIVEMATCH) "" (a %) RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n',
  'a1 APPEND INBOX (\\Seen) " 1-Jan-2024 10:00:00 +0100" {3}\r\nabc ~{2+}\r\nx\0 UTF8 (~{1}\r\nz)\r\n',
  'a1 UID FETCH 1:*,7 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> BINARY[1]<0.5> PREVIEW (LAZY)) (CHANGEDSINCE 5 VANISHED)\r\n',
  'a1 UID STORE 1,3 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\\Seen $Junk)\r\n',
  'a1 UID SEARCH RETURN (MIN SAVE) CHARSET UTF-8 OR NOT (SEEN FROM {3}\r\nbob) HEADER X "y" SINCE 1-Feb-2024 all 5 UID $\r\n',
  'a1 UID SORT RETURN (COUNT) (REVERSE DATE SUBJECT) UTF-8 ALL\r\n',
  'a1 SETACL INBOX bob +lrs\r\na2 IDLE\r\nDONE\r\n',
];
const IMAP_TOKENS = ['a1', ' ', '(', ')', '[', ']', '<', '>', '.', ':', ',', '*', '$', '"', '\\', '{', '}', '+', '~', '\r\n', '\n', '\0',
  '{3}\r\n', '{0}\r\n', '{2+}\r\n', '~{1}\r\n', '{4294967296}\r\n', '4294967296', 'NIL', 'UID', 'FETCH', 'SEARCH', 'BODY[', 'HEADER.FIELDS',
  'OR', 'NOT', 'RETURN', 'CHARSET', 'MODSEQ', '\\Seen', 'INBOX', '1-Jan-2024', 'ä', '\xff'];

const SMTP_SEEDS = [
  'EHLO client.example.org\r\n',
  'MAIL FROM:<alice@example.org> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=a+2Bb\r\n',
  'RCPT TO:<bob@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;bob@example.com\r\n',
  'MAIL FROM:<"a b"@[192.0.2.1]> AUTH=<>\r\n',
  'RCPT TO:<@relay.example:bob@b\u00fccher.example>\r\n',
  'AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n',
  'BDAT 12 LAST\r\n',
  'VRFY bob\r\nNOOP x\r\nQUIT\r\n',
];
const SMTP_TOKENS = ['MAIL', 'RCPT', 'FROM:', 'TO:', '<', '>', '@', ':', ';', ',', ' ', '=', '"', '\\', '[', ']', 'IPv6:', '::1', '\r\n', '\n',
  'SIZE=', 'BODY=', 'NOTIFY=', 'ORCPT=', 'rfc822;', 'xtext+2B', 'SMTPUTF8', 'ü', '\u00ff', '\0', '.', 'postmaster', '9'.repeat(30)];

const SESSION = 'EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\nline\r\n.\r\nBDAT 5\r\nabcdeBDAT 0 LAST\r\nQUIT\r\n';

const MIME_SEED = [
  'From: =?utf-8?B?QsO2Yg==?= <bob@example.org>', 'To: "A, B" <a@example.com>, undisclosed:;', 'Subject: =?iso-8859-1?Q?caf=E9?= test',
  'Date: Tue, 1 Dec 2026 10:00:00 +0100', 'Message-ID: <m1@example.org>', 'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"', '', 'preamble', '--b1', 'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable', '', 'caf=C3=A9 =\r\nsoft', '--b1', 'Content-Type: multipart/alternative; boundary=b2', '',
  '--b2', 'Content-Type: text/html; charset=windows-1252', '', '<p>hi &amp; bye</p>', '--b2--', '--b1',
  'Content-Type: message/rfc822', '', 'Subject: inner', 'Content-Type: application/octet-stream; name*=utf-8\'\'%C3%A4.bin',
  'Content-Transfer-Encoding: base64', '', 'AAECAwQFBgcICQ==', '--b1--', 'epilogue', '',
].join('\r\n');
const MIME_TOKENS = ['\r\n', '\n', '--b1', '--b2', '--b1--', 'Content-Type: ', 'multipart/mixed; boundary=', 'message/rfc822', ';', '=', '"',
  'charset=', 'utf-16', 'x-unknown', 'Content-Transfer-Encoding: ', 'base64', 'quoted-printable', '=?', '?=', '?B?', '?Q?', '=C3', '=\r\n',
  ':', ' ', '\t', '\0', '\xff', 'From: ', 'Subject: '];

const ADDRESS_SEEDS = ['Bob <bob@example.org>', '"a b\\" c"@x.example', 'b\u00fccher@m\u00fcnchen.example', 'alice+tag@[192.0.2.1]',
  'Team: a@x.example, "B" <b@y.example>;, c@z.example (comment (nested))', '=?utf-8?Q?J=C3=B6rg?= <j@example.org>'];
const ADDRESS_TOKENS = ['@', '<', '>', '"', '\\', '(', ')', ',', ';', ':', '.', '[', ']', ' ', 'a', 'example.org', 'xn--', '\u00fc', '=?', '?='];

const TZ = ['BEGIN:VTIMEZONE', 'TZID:Europe/Berlin', 'BEGIN:DAYLIGHT', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'DTSTART:19700329T020000',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'END:DAYLIGHT', 'BEGIN:STANDARD', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100',
  'DTSTART:19701025T030000', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'END:STANDARD', 'END:VTIMEZONE'];
const ICS_SEEDS = [
  ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//fuzz//EN', ...TZ, 'BEGIN:VEVENT', 'UID:f1', 'DTSTAMP:20260101T000000Z',
    'DTSTART;TZID=Europe/Berlin:20260302T090000', 'DURATION:PT1H', 'RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20261231T000000Z',
    'EXDATE;TZID=Europe/Berlin:20260304T090000', 'SUMMARY:Weekly', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.org',
    'BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT15M', 'DESCRIPTION:x', 'END:VALARM', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:f1', 'DTSTAMP:20260101T000000Z', 'RECURRENCE-ID;TZID=Europe/Berlin:20260306T090000',
    'DTSTART;TZID=Europe/Berlin:20260307T100000', 'DTEND;TZID=Europe/Berlin:20260307T110000', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n'),
  ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//fuzz//EN', 'BEGIN:VTODO', 'UID:t1', 'DTSTAMP:20260101T000000Z', 'DUE;VALUE=DATE:20260310',
    'RRULE:FREQ=DAILY;COUNT=1000', 'STATUS:NEEDS-ACTION', 'PERCENT-COMPLETE:30', 'PRIORITY:1', 'END:VTODO', 'END:VCALENDAR', ''].join('\r\n'),
];
const ICS_TOKENS = ['\r\n', '\r\n ', 'BEGIN:', 'END:', 'VEVENT', 'VTODO', 'VALARM', 'VTIMEZONE', ':', ';', '=', ',', 'TZID=', 'VALUE=DATE',
  'RRULE:', 'FREQ=SECONDLY', 'FREQ=YEARLY', 'INTERVAL=0', 'COUNT=', 'UNTIL=', 'BYSETPOS=-1', 'BYDAY=', 'BYMONTHDAY=31', 'BYWEEKNO=53',
  'RDATE:', 'EXDATE:', 'DTSTART:', 'DTEND:', 'DURATION:', 'P1000000W', 'PT0S', '20260229T240000', '99991231T235959Z', '00000101', 'Z',
  'RECURRENCE-ID', 'UID:', 'X-', '"', '\\n', '\u00e4'];

const VCARD_SEEDS = [
  ['BEGIN:VCARD', 'VERSION:3.0', 'UID:c1', 'FN:Bob B\u00f6hm', 'N:B\u00f6hm;Bob;;;', 'EMAIL;TYPE=work:bob@example.org',
    'TEL;TYPE=cell:+49 30 1234', 'ADR;TYPE=home:;;Str. 1;Berlin;;10115;DE', 'PHOTO;ENCODING=b;TYPE=JPEG:AAEC', 'END:VCARD', ''].join('\r\n'),
  ['BEGIN:VCARD', 'VERSION:4.0', 'UID:urn:uuid:c2', 'FN:Team', 'KIND:group', 'MEMBER:mailto:a@example.org', 'END:VCARD', ''].join('\r\n'),
];
const VCARD_TOKENS = ['\r\n', '\r\n ', 'BEGIN:VCARD', 'END:VCARD', 'VERSION:', '3.0', '4.0', '2.1', 'FN:', 'N:', ';', ':', ',', '=', 'TYPE=',
  'ENCODING=b', 'QUOTED-PRINTABLE', 'item1.', '\\', '"', '\u00e4'];

const XML_SEEDS = [
  '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop></d:propfind>',
  '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" end="20260401T000000Z"/><C:prop-filter name="SUMMARY"><C:text-match collation="i;unicode-casemap" negate-condition="yes">a&amp;b&#x41;</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>',
  '<multiget xmlns="DAV:" xmlns:x="urn:x"><href>/a%20b</href><![CDATA[<not markup>]]><!-- c --><?pi x?><x:y x:a="1" b=\'2\'/></multiget>',
];
const XML_TOKENS = ['<', '>', '</', '/>', '<?xml version="1.1"?>', '<!DOCTYPE x [<!ENTITY e "x">]>', '&e;', '&amp;', '&#0;', '&#x10FFFF;', '&#xD800;',
  '<![CDATA[', ']]>', '<!--', '-->', 'xmlns=', 'xmlns:d=', '"DAV:"', '""', 'd:', 'x:', '=', '"', "'", ' ', '\r\n', '\0', '\uFFFE', 'a', 'prop'];

/** The collection the calendar validator checks against: events and tasks. */
const CALENDAR = { id: 1, home: 'calendars', name: 'fuzz', kind: 'calendar', displayName: '', description: '', color: '', sortOrder: 0,
  components: ['VEVENT', 'VTODO'], timezone: '', props: {}, modseq: 1, syncFloor: 0, createdAt: 0 } as CollectionInfo;
const validators = davValidators();
const MARCH = { start: Date.UTC(2026, 2, 1), end: Date.UTC(2026, 3, 1) };

export const TARGETS: Record<string, Target> = {
  'imap-command': {
    arbitrary: inputs(IMAP_SEEDS, IMAP_TOKENS, { encoding: 'latin1' }),
    run: (b) => refusesOnly(() => { parseImap(b); }, ImapSyntaxError),
  },
  'imap-input': {
    // The framer never throws, whatever the bytes and however they are cut; its lines parse or are refused.
    arbitrary: inputs(IMAP_SEEDS, IMAP_TOKENS, { encoding: 'latin1' }),
    run: (b) => {
      const events: ImapEvent[] = [];
      const input = new ImapInput({ maxLine: 2048, maxLiteral: 4096, maxAppend: 8192, maxAppendTotal: 16384, maxCommand: 16384 }, (e) => events.push(e));
      for (const c of chunksOf(b, b.length)) input.push(c);
      for (const e of events) if (e.type === 'command') refusesOnly(() => { parseImap(e.bytes); }, ImapSyntaxError);
    },
  },
  'smtp-command': {
    arbitrary: inputs(SMTP_SEEDS, SMTP_TOKENS),
    run: (b) => {
      for (const line of b.toString('utf8').split('\r\n')) refusesOnly(() => { parseSmtp(line, { smtputf8: true }); }, SmtpSyntaxError);
    },
  },
  'smtp-input': {
    // A whole session's bytes: commands, DATA with dot-stuffing, BDAT chunks, cut anywhere.
    arbitrary: inputs([SESSION], [...SMTP_TOKENS, 'DATA\r\n', '\r\n.\r\n', '..', 'BDAT 3\r\n', 'BDAT 99999999999 LAST\r\n']),
    run: (b) => {
      const input = new SmtpInput({ maxLine: 512 });
      const handle = (evs: SmtpEvent[]) => {
        for (const ev of evs) {
          if (ev.type !== 'line') continue;
          if (/^DATA$/i.test(ev.line)) input.expectData(4096);
          const m = /^BDAT (\d{1,12})( LAST)?$/i.exec(ev.line);
          if (m) input.expectBdat(Number(m[1]), m[2] !== undefined, 4096);
        }
      };
      for (const c of chunksOf(b, b.length + 3)) {
        let evs = input.push(c);
        for (let guard = 0; evs.length > 0; guard++) {
          if (guard > 100_000) throw new Error('the SMTP input keeps producing events for no input');
          handle(evs);
          evs = input.push(Buffer.alloc(0));
        }
      }
    },
  },
  'pop3-command': {
    arbitrary: inputs(['USER bob\r\n', 'PASS se cret\r\n', 'TOP 1 10\r\n', 'UIDL 4294967296\r\n', 'AUTH PLAIN AGEAYg==\r\n', 'STLS\r\nCAPA\r\n'],
      ['USER', 'PASS', 'TOP', 'RETR', 'DELE', 'UIDL', 'LIST', 'AUTH', ' ', '\r\n', '-1', '0', '99999999999999999999', '\0', '\xff']),
    run: (b) => {
      for (const line of b.toString('latin1').split('\r\n')) refusesOnly(() => { parsePop3(line); }, Pop3SyntaxError);
    },
  },
  mime: {
    // Truncated, deeply nested and wrongly encoded messages: parseMessage never throws.
    arbitrary: fc.oneof(
      { weight: 4, arbitrary: inputs([MIME_SEED], MIME_TOKENS, { maxBytes: 2048 }) },
      { weight: 1, arbitrary: fc.nat(300).map((depth) => Buffer.from(
        `${'Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n'.repeat(depth)}Content-Type: message/rfc822\r\n\r\n${'Content-Type: message/rfc822\r\n\r\n'.repeat(depth)}end`)) },
    ),
    run: (b) => {
      const m = parseMessage(new Uint8Array(b));
      if (typeof m !== 'object' || m === null) throw new Error('parseMessage gave no message');
    },
  },
  address: {
    arbitrary: inputs(ADDRESS_SEEDS, ADDRESS_TOKENS),
    run: (b) => {
      const s = b.toString('utf8');
      refusesOnly(() => { parseAddress(s); }, DomainError);
      parseAddressList(s); // header lists: never throws
    },
  },
  icalendar: {
    // Validation as at PUT, then what queries do with what was accepted: time ranges, expand, free/busy.
    arbitrary: inputs(ICS_SEEDS, ICS_TOKENS, { maxBytes: 1024 }),
    run: (b) => {
      // Queries read what was stored: the validator's text (line ends normalised), not the upload.
      const stored: string[] = [];
      refusesOnly(() => { stored.push(validators.calendar!(b.toString('utf8'), CALENDAR, 'f.ics').text); }, DomainError);
      const text = stored[0];
      if (text === undefined) return;
      refusesOnly(() => {
        matchesTimeRange(text, MARCH, { componentName: 'VEVENT' });
        matchesTimeRange(text, MARCH, { componentName: 'VALARM' });
        expandCalendarObject(text, MARCH);
        freeBusy([text], MARCH);
      }, DomainError);
    },
  },
  vcard: {
    arbitrary: inputs(VCARD_SEEDS, VCARD_TOKENS, { maxBytes: 1024 }),
    run: (b) => refusesOnly(() => { validators.addressbook!(b.toString('utf8'), { ...CALENDAR, kind: 'addressbook', components: [] }, 'c.vcf'); }, DomainError),
  },
  'dav-xml': {
    arbitrary: inputs(XML_SEEDS, XML_TOKENS, { maxBytes: 1024 }),
    run: (b) => refusesOnly(() => { parseXml(b.toString('utf8'), { maxDepth: 16, maxElements: 2000 }); }, XmlError),
  },
};

/**
 * Targets that fail on purpose, one way each, so that the harness is shown to catch a crash, a
 * hang and unbounded memory (fuzz.test.ts "the harness"); never run as fuzzing.
 */
export const SELF_CHECKS: Record<string, Target> = {
  'self-check-crash': {
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((u) => Buffer.from(u)),
    run: (b) => { if (b[0] % 4 === 0) throw new TypeError('planted crash'); },
  },
  'self-check-hang': {
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((u) => Buffer.from(u)),
    run: (b) => { if (b[0] % 4 === 0) for (;;) { /* planted hang */ } },
  },
  'self-check-memory': {
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((u) => Buffer.from(u)),
    run: (b) => {
      if (b[0] % 4 !== 0) return;
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array(100_000).fill(b[0])); // planted unbounded memory
    },
  },
};
