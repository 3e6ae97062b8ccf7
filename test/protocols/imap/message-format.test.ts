/**
 * Stored messages as IMAP syntax (src/protocols/imap/message-format.ts): ENVELOPE,
 * BODYSTRUCTURE and BODY (RFC 9051 §7.5.2, §9), BODY[section] (RFC 9051 §6.4.5), BINARY
 * (RFC 3516) and partial fetches. Every message goes through the real parser at "delivery"
 * (messageMeta) and a JSON round trip (how the structure is stored); the expected strings
 * are derived by hand from the RFC grammar, octet counts included.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { messageMeta, type StoredStructure } from '../../../src/core/mail/delivery/meta.ts';
import {
  binarySection,
  bodyStructureParts,
  envelopeParts,
  partial,
  sectionBytes,
  sectionExists,
} from '../../../src/protocols/imap/message-format.ts';
import type { Section } from '../../../src/protocols/imap/types.ts';
import { renderParts } from '../../../src/protocols/imap/wire.ts';

// ---------------------------------------------------------------------------------------
// helpers

function crlf(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** The structure as delivery stores it: parsed once, then through JSON. */
function stored(raw: Buffer, offset = 0): StoredStructure {
  return JSON.parse(JSON.stringify(messageMeta(raw, offset).structure)) as StoredStructure;
}

function bs(raw: Buffer, ext = true, utf8 = false): string {
  return renderParts(bodyStructureParts(stored(raw), ext, utf8)).toString('utf8');
}

function env(raw: Buffer, utf8 = false): string {
  return renderParts(envelopeParts(stored(raw).envelope, utf8)).toString('utf8');
}

/** Parses "1.2.HEADER.FIELDS (A B)"-style section text into a Section, as the command parser would. */
function sec(spec: string): Section {
  const m = /^([0-9.]*?)\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?(?: \((.*)\))?$/.exec(spec);
  if (!m) throw new Error(`bad section ${spec}`);
  const part = m[1] === '' ? [] : m[1].split('.').map(Number);
  const text = (m[2] ?? null) as Section['text'];
  return m[3] === undefined ? { part, text } : { part, text, fields: m[3].split(' ') };
}

function body(raw: Buffer, spec: string, s = stored(raw)): string {
  return sectionBytes(raw, s, sec(spec)).toString('utf8');
}

// ---------------------------------------------------------------------------------------
// A tiny reader of IMAP response syntax: lists, quoted strings, literals, atoms.

type SExp = null | number | string | SExp[];

function readSExp(buf: Buffer): SExp {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at ${i}: ${JSON.stringify(buf.subarray(Math.max(0, i - 20), i + 20).toString('latin1'))}`);
  };
  const value = (): SExp => {
    const c = buf[i];
    if (c === 0x28) {
      i++;
      const out: SExp[] = [];
      let prevList = false;
      while (buf[i] !== 0x29) {
        if (i >= buf.length) fail('unclosed list');
        if (out.length > 0) {
          // Elements are separated by one SP; only lists may follow lists directly (1*body, 1*address).
          if (buf[i] === 0x20) i++;
          else if (!(prevList && buf[i] === 0x28)) fail('missing separator');
        }
        const v = value();
        prevList = Array.isArray(v);
        out.push(v);
      }
      i++;
      return out;
    }
    if (c === 0x22) {
      i++;
      const bytes: number[] = [];
      for (;;) {
        if (i >= buf.length) fail('unclosed quoted string');
        const d = buf[i++];
        if (d === 0x22) break;
        if (d === 0x0d || d === 0x0a || d === 0) fail('CR, LF or NUL in a quoted string');
        if (d === 0x5c) {
          const e = buf[i++];
          if (e !== 0x22 && e !== 0x5c) fail('bad escape');
          bytes.push(e);
        } else {
          bytes.push(d);
        }
      }
      return Buffer.from(bytes).toString('utf8');
    }
    if (c === 0x7b || c === 0x7e) {
      const m = /^~?\{(\d+)\}\r\n/.exec(buf.subarray(i, i + 24).toString('latin1'));
      if (!m) fail('bad literal');
      i += m![0].length;
      const n = Number(m![1]);
      if (i + n > buf.length) fail('short literal');
      const data = buf.subarray(i, i + n).toString('utf8');
      i += n;
      return data;
    }
    const m = /^[^\s()"{]+/.exec(buf.subarray(i, i + 64).toString('latin1'));
    if (!m) fail('unexpected octet');
    i += m![0].length;
    if (m![0] === 'NIL') return null;
    if (/^\d+$/.test(m![0])) return Number(m![0]);
    return fail(`unexpected atom ${m![0]}`);
  };
  const v = value();
  if (i !== buf.length) fail('trailing data');
  return v;
}

function readParts(parts: ReturnType<typeof bodyStructureParts>): SExp {
  return readSExp(renderParts(parts));
}

// ---------------------------------------------------------------------------------------
// Messages

const PLAIN = crlf('From: a@example.org', 'Subject: hi', '', 'line one', 'line two', '');

/** Nested multiparts, an attachment with every extension field, and a multipart message/rfc822. */
const COMPLEX = crlf(
  'From: Alice <alice@example.org>',
  'To: bob@example.net, "Carol \\"C\\" Q" <carol@example.net>',
  'Cc: undisclosed-recipients:;',
  'Subject: =?UTF-8?Q?Re=3A_caf=C3=A9?=',
  'Date: Tue, 2 Jan 2024 03:04:05 +0100',
  'Message-ID: <m1@example.org>',
  'In-Reply-To: <m0@example.org>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  'Content-Language: en',
  '',
  'preamble',
  '--outer',
  'Content-Type: multipart/alternative; boundary=alt',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'caf=C3=A9',
  '--alt',
  'Content-Type: text/html; charset="utf-8"',
  '',
  '<p>caf</p>',
  '--alt--',
  '--outer',
  'Content-Type: application/pdf; name="r.pdf"',
  'Content-Disposition: attachment; filename="r.pdf"; size=3',
  'Content-Transfer-Encoding: base64',
  'Content-ID: <pdf1@example.org>',
  'Content-Description: The report',
  'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
  'Content-Language: en, de-CH',
  'Content-Location: http://example.org/r.pdf',
  '',
  'UERG',
  '--outer',
  'Content-Type: message/rfc822',
  '',
  'From: Dan <dan@example.com>',
  'Subject: inner',
  'Content-Type: multipart/mixed; boundary=in',
  '',
  '--in',
  'Content-Type: text/plain',
  '',
  'inner text',
  '--in',
  'Content-Type: image/png',
  'Content-Transfer-Encoding: base64',
  '',
  'iVBO',
  '--in--',
  '--outer--',
  '',
);

const INNER_MESSAGE = [
  'From: Dan <dan@example.com>',
  'Subject: inner',
  'Content-Type: multipart/mixed; boundary=in',
  '',
  '--in',
  'Content-Type: text/plain',
  '',
  'inner text',
  '--in',
  'Content-Type: image/png',
  'Content-Transfer-Encoding: base64',
  '',
  'iVBO',
  '--in--',
].join('\r\n');

const COMPLEX_ENVELOPE =
  '("Tue, 2 Jan 2024 03:04:05 +0100" "=?UTF-8?Q?Re=3A_caf=C3=A9?="' +
  ' (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org"))' +
  ' ((NIL NIL "bob" "example.net")("Carol \\"C\\" Q" NIL "carol" "example.net"))' +
  ' ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))' +
  ' NIL "<m0@example.org>" "<m1@example.org>")';

const DAN = '(("Dan" NIL "dan" "example.com"))';
const INNER_ENVELOPE = `(NIL "inner" ${DAN} ${DAN} ${DAN} NIL NIL NIL NIL NIL)`;

// ---------------------------------------------------------------------------------------

describe('ENVELOPE (RFC 9051 §7.5.2)', () => {
  it('gives every field in order, subject undecoded, sender and reply-to from From, groups as markers', () => {
    expect(env(COMPLEX)).toBe(COMPLEX_ENVELOPE);
  });

  it('is NIL for absent fields and "" for present but empty ones', () => {
    const raw = crlf('Subject:', 'Message-ID:', 'From: a@b.example', 'Reply-To:', '', 'x');
    // Reply-To present but empty falls back to From (RFC 9051 §7.5.2); Date and To are absent.
    const a = '((NIL NIL "a" "b.example"))';
    expect(env(raw)).toBe(`(NIL "" ${a} ${a} ${a} NIL NIL NIL NIL "")`);
  });

  it('is all NIL for a message without header fields', () => {
    expect(env(crlf('', 'body'))).toBe('(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)');
  });

  it('keeps Sender and Reply-To when they are given', () => {
    const raw = crlf('From: a@x.example', 'Sender: s@x.example', 'Reply-To: "R" <r@x.example>', '', '');
    expect(env(raw)).toBe(
      '(NIL NIL ((NIL NIL "a" "x.example")) ((NIL NIL "s" "x.example")) (("R" NIL "r" "x.example")) NIL NIL NIL NIL NIL)',
    );
  });

  it('takes addr-name as written: encoded words stay encoded, 8-bit names are literals unless UTF-8 is on', () => {
    const raw = crlf('To: =?utf-8?q?J=C3=B6rg?= <j@x.de>, Jörg <k@x.de>, undisclosed', '', '');
    expect(env(raw)).toBe(
      '(NIL NIL NIL NIL NIL (("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.de")({5}\r\nJörg NIL "k" "x.de")(NIL NIL "undisclosed" "")) NIL NIL NIL NIL)',
    );
    expect(env(raw, true)).toBe(
      '(NIL NIL NIL NIL NIL (("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.de")("Jörg" NIL "k" "x.de")(NIL NIL "undisclosed" "")) NIL NIL NIL NIL)',
    );
  });

  it('escapes quotes and backslashes in the subject and unfolds it as the parser does', () => {
    const raw = crlf('Subject: say "hi" \\o/', '  and more', '', '');
    expect(env(raw)).toBe('(NIL "say \\"hi\\" \\\\o/  and more" NIL NIL NIL NIL NIL NIL NIL NIL)');
  });

  it('sends a very long subject as a literal', () => {
    const subject = 'x'.repeat(1500);
    const raw = crlf(`Subject: ${subject}`, '', '');
    expect(env(raw)).toBe(`(NIL {1500}\r\n${subject} NIL NIL NIL NIL NIL NIL NIL NIL)`);
  });

  it('gives a group with members start marker, members, end marker (RFC 9051 §7.5.2)', () => {
    const raw = crlf('To: Team: a@x.example, "B" <b@x.example>;, c@y.example', '', '');
    expect(env(raw)).toBe(
      '(NIL NIL NIL NIL NIL ((NIL NIL "Team" NIL)(NIL NIL "a" "x.example")("B" NIL "b" "x.example")(NIL NIL NIL NIL)(NIL NIL "c" "y.example")) NIL NIL NIL NIL)',
    );
  });
});

describe('BODYSTRUCTURE and BODY (RFC 9051 §7.5.2, §9 body)', () => {
  it('gives a message without Content-Type the text/plain us-ascii default (RFC 2045 §5.2)', () => {
    // Body "line one\r\nline two\r\n": 20 octets, 2 lines.
    expect(bs(PLAIN)).toBe('("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 20 2 NIL NIL NIL NIL)');
    expect(bs(PLAIN, false)).toBe('("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 20 2)');
  });

  it('renders nested multiparts, every extension field and a multipart message/rfc822', () => {
    const alt =
      '(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 9 1 NIL NIL NIL NIL)' +
      '("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)' +
      ' "ALTERNATIVE" ("BOUNDARY" "alt") NIL NIL NIL)';
    const pdf =
      '("APPLICATION" "PDF" ("NAME" "r.pdf") "<pdf1@example.org>" "The report" "BASE64" 4' +
      ' "Q2hlY2sgSW50ZWdyaXR5IQ==" ("ATTACHMENT" ("FILENAME" "r.pdf" "SIZE" "3")) ("en" "de-CH") "http://example.org/r.pdf")';
    const inner =
      '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)' +
      '("IMAGE" "PNG" NIL NIL NIL "BASE64" 4 NIL NIL NIL NIL)' +
      ' "MIXED" ("BOUNDARY" "in") NIL NIL NIL)';
    // The message/rfc822 body is INNER_MESSAGE: 217 octets in 14 lines (13 CRLF, then "--in--").
    expect(Buffer.byteLength(INNER_MESSAGE)).toBe(217);
    const msg = `("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 217 ${INNER_ENVELOPE} ${inner} 14 NIL NIL NIL NIL)`;
    expect(bs(COMPLEX)).toBe(`(${alt}${pdf}${msg} "MIXED" ("BOUNDARY" "outer") NIL ("en") NIL)`);
  });

  it('leaves all extension data out of BODY, in embedded messages too', () => {
    const alt =
      '(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 9 1)' +
      '("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1) "ALTERNATIVE")';
    const pdf = '("APPLICATION" "PDF" ("NAME" "r.pdf") "<pdf1@example.org>" "The report" "BASE64" 4)';
    const inner = '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1)("IMAGE" "PNG" NIL NIL NIL "BASE64" 4) "MIXED")';
    const msg = `("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 217 ${INNER_ENVELOPE} ${inner} 14)`;
    expect(bs(COMPLEX, false)).toBe(`(${alt}${pdf}${msg} "MIXED")`);
  });

  it('joins RFC 2231 continuations; 8-bit values in extended form without UTF-8, as UTF-8 with it', () => {
    const raw = crlf(
      'Content-Type: application/octet-stream;',
      ' name*0="very long ";',
      ' name*1="file name.txt"',
      'Content-Disposition: attachment;',
      " filename*0*=utf-8''%E2%82%AC%20;",
      ' filename*1=rate.pdf;',
      " title*=iso-8859-1'fr'caf%E9",
      '',
      'x',
    );
    expect(bs(raw)).toBe(
      '("APPLICATION" "OCTET-STREAM" ("NAME" "very long file name.txt") NIL NIL "7BIT" 1 NIL' +
        ` ("ATTACHMENT" ("FILENAME*" "utf-8''%E2%82%AC%20rate.pdf" "TITLE*" "utf-8''caf%C3%A9")) NIL NIL)`,
    );
    expect(bs(raw, true, true)).toBe(
      '("APPLICATION" "OCTET-STREAM" ("NAME" "very long file name.txt") NIL NIL "7BIT" 1 NIL' +
        ' ("ATTACHMENT" ("FILENAME" "€ rate.pdf" "TITLE" "café")) NIL NIL)',
    );
  });

  it('encodes raw 8-bit parameter values (RFC 6532) the same way', () => {
    const raw = crlf('Content-Type: image/jpeg; name="Früh.jpg"', 'Content-Disposition: inline', '', 'x');
    expect(bs(raw)).toBe(`("IMAGE" "JPEG" ("NAME*" "utf-8''Fr%C3%BCh.jpg") NIL NIL "7BIT" 1 NIL ("INLINE" NIL) NIL NIL)`);
    expect(bs(raw, true, true)).toBe('("IMAGE" "JPEG" ("NAME" "Früh.jpg") NIL NIL "7BIT" 1 NIL ("INLINE" NIL) NIL NIL)');
  });

  it('leaves RFC 2047 words in parameters as written', () => {
    const raw = crlf('Content-Type: application/pdf; name="=?utf-8?B?w6kucGRm?="', '', 'x');
    expect(bs(raw, false)).toBe('("APPLICATION" "PDF" ("NAME" "=?utf-8?B?w6kucGRm?=") NIL NIL "7BIT" 1)');
  });

  it('adds the US-ASCII default to text/plain only, and sends an empty parameter list as NIL', () => {
    expect(bs(crlf('Content-Type: text/plain; format=flowed', '', 'a'), false)).toBe(
      '("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "FORMAT" "flowed") NIL NIL "7BIT" 1 1)',
    );
    expect(bs(crlf('Content-Type: TEXT/HTML', '', 'a'), false)).toBe('("TEXT" "HTML" NIL NIL NIL "7BIT" 1 1)');
    expect(bs(crlf('Content-Type: application/x-thing', '', 'a'), false)).toBe('("APPLICATION" "X-THING" NIL NIL NIL "7BIT" 1)');
  });

  it('counts lines of text: a last line without CRLF counts, an empty body has none', () => {
    expect(bs(crlf('Content-Type: text/plain; charset=utf-8', '', 'a', 'b'), false)).toBe(
      '("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 4 2)',
    );
    expect(bs(crlf('Content-Type: text/plain; charset=utf-8', '', ''), false)).toBe('("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 0 0)');
  });

  it('upper-cases unknown transfer encodings too, and keeps ids and descriptions as written', () => {
    const raw = crlf(
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: X-UUencode',
      'Content-ID: <a@b>',
      'Content-Description: =?utf-8?q?caf=C3=A9?= Grüße',
      '',
      'x',
    );
    expect(bs(raw, false)).toBe('("APPLICATION" "OCTET-STREAM" NIL "<a@b>" {29}\r\n=?utf-8?q?caf=C3=A9?= Grüße "X-UUENCODE" 1)');
    expect(bs(raw, false, true)).toBe('("APPLICATION" "OCTET-STREAM" NIL "<a@b>" "=?utf-8?q?caf=C3=A9?= Grüße" "X-UUENCODE" 1)');
  });

  it('sends "" for a present but empty Content-ID and NIL for an absent one', () => {
    expect(bs(crlf('Content-Type: image/gif', 'Content-ID:', '', 'x'), false)).toBe('("IMAGE" "GIF" NIL "" NIL "7BIT" 1)');
  });

  it('gives a disposition with parameters, a single language and a location on a multipart', () => {
    const raw = crlf(
      'Content-Type: multipart/related; boundary=r; type="text/html"',
      'Content-Disposition: inline',
      'Content-Language: fr',
      'Content-Location: http://example.org/',
      '',
      '--r',
      'Content-Type: text/html',
      'Content-Disposition: inline; filename=page.html; modification-date="Tue, 2 Jan 2024 03:04:05 +0100"',
      '',
      '<p>',
      '--r--',
    );
    expect(bs(raw)).toBe(
      '(("TEXT" "HTML" NIL NIL NIL "7BIT" 3 1 NIL ("INLINE" ("FILENAME" "page.html" "MODIFICATION-DATE" "Tue, 2 Jan 2024 03:04:05 +0100")) NIL NIL)' +
        ' "RELATED" ("BOUNDARY" "r" "TYPE" "text/html") ("INLINE" NIL) ("fr") "http://example.org/")',
    );
  });

  it('gives a message/rfc822 with a single-part body its envelope, body and lines', () => {
    const raw = crlf(
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: message/rfc822',
      'Content-Disposition: attachment; filename=fwd.eml',
      '',
      'Subject: fwd',
      'Date: Mon, 1 Jan 2024 00:00:00 +0000',
      '',
      'forwarded',
      '--b--',
    );
    // Body: "Subject: fwd\r\n" (14) + "Date: ...\r\n" (38) + "\r\n" (2) + "forwarded" (9) = 63 octets, 4 lines.
    expect(bs(raw)).toBe(
      '(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 63 ("Mon, 1 Jan 2024 00:00:00 +0000" "fwd" NIL NIL NIL NIL NIL NIL NIL NIL)' +
        ' ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 9 1 NIL NIL NIL NIL) 4 NIL ("ATTACHMENT" ("FILENAME" "fwd.eml")) NIL NIL)' +
        ' "MIXED" ("BOUNDARY" "b") NIL NIL NIL)',
    );
  });

  it('renders message/global like message/rfc822 (RFC 6532 §3.5)', () => {
    const raw = crlf('Content-Type: message/global', '', 'Subject: é', '', 'x');
    // Body "Subject: é\r\n\r\nx": 16 octets, 3 lines.
    expect(bs(raw, false, true)).toBe(
      '("MESSAGE" "GLOBAL" NIL NIL NIL "7BIT" 16 (NIL "é" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1 1) 3)',
    );
  });

  it('sends an encoded message/rfc822, which the parser does not open, as a basic body', () => {
    const raw = crlf('Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', '', 'U3ViamVjdDogeA0KDQp4');
    expect(bs(raw)).toBe('("MESSAGE" "RFC822" NIL NIL NIL "BASE64" 20 NIL NIL NIL NIL)');
  });

  it('gives digest parts without Content-Type the message/rfc822 default (RFC 2046 §5.1.5)', () => {
    const raw = crlf('Content-Type: multipart/digest; boundary=d', '', '--d', '', 'Subject: one', '', 'x', '--d--');
    // Part body "Subject: one\r\n\r\nx": 17 octets, 3 lines.
    expect(bs(raw, false)).toBe(
      '(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 17 (NIL "one" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1 1) 3) "DIGEST")',
    );
  });

  it('gives a multipart without boundary as the text/plain it falls back to, parameters kept', () => {
    expect(bs(crlf('Content-Type: multipart/mixed', '', 'no parts here'), false)).toBe(
      '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 13 1)',
    );
  });

  it('stays grammatical for values that need literals inside the structure', () => {
    const long = 'n'.repeat(1200);
    const raw = crlf(`Content-Type: application/octet-stream; name="${long}"`, 'Content-Description: a', '\tb', '', 'x');
    const tree = readParts(bodyStructureParts(stored(raw), true, false)) as SExp[];
    expect(tree[0]).toBe('APPLICATION');
    expect(tree[2]).toEqual(['NAME', long]);
    expect(tree[4]).toBe('a\tb');
  });
});

describe('BODY[section] (RFC 9051 §6.4.5)', () => {
  const s = stored(COMPLEX);
  const b = (spec: string) => body(COMPLEX, spec, s);
  const outerHeader = COMPLEX.subarray(0, COMPLEX.indexOf('\r\n\r\n') + 4).toString('utf8');

  it('"" is the whole message, HEADER its header with the blank line, TEXT the rest', () => {
    expect(sectionBytes(COMPLEX, s, sec('')).equals(COMPLEX)).toBe(true);
    expect(b('HEADER')).toBe(outerHeader);
    expect(b('HEADER').endsWith('Content-Language: en\r\n\r\n')).toBe(true);
    expect(b('TEXT')).toBe(COMPLEX.toString('utf8').slice(outerHeader.length));
    expect(b('TEXT').startsWith('preamble\r\n--outer\r\n')).toBe(true);
  });

  it('numbers parts through nested multiparts', () => {
    expect(b('1')).toBe(
      [
        '--alt',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
        '',
        'caf=C3=A9',
        '--alt',
        'Content-Type: text/html; charset="utf-8"',
        '',
        '<p>caf</p>',
        '--alt--',
      ].join('\r\n'),
    );
    expect(b('1.1')).toBe('caf=C3=A9');
    expect(b('1.2')).toBe('<p>caf</p>');
    expect(b('2')).toBe('UERG');
  });

  it('MIME is the part\'s own header, blank line included', () => {
    expect(b('1.MIME')).toBe('Content-Type: multipart/alternative; boundary=alt\r\n\r\n');
    expect(b('1.1.MIME')).toBe('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n');
    expect(b('2.MIME').startsWith('Content-Type: application/pdf; name="r.pdf"\r\n')).toBe(true);
    expect(b('2.MIME').endsWith('Content-Location: http://example.org/r.pdf\r\n\r\n')).toBe(true);
    expect(b('3.MIME')).toBe('Content-Type: message/rfc822\r\n\r\n');
  });

  it('a message/rfc822 part is the whole encapsulated message; HEADER, TEXT and numbers reach inside', () => {
    expect(b('3')).toBe(INNER_MESSAGE);
    expect(b('3.HEADER')).toBe('From: Dan <dan@example.com>\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n');
    expect(b('3.TEXT')).toBe(INNER_MESSAGE.slice(b('3.HEADER').length));
    expect(b('3.1')).toBe('inner text');
    expect(b('3.2')).toBe('iVBO');
    expect(b('3.2.MIME')).toBe('Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n');
    expect(b('3.HEADER.FIELDS (SUBJECT)')).toBe('Subject: inner\r\n\r\n');
    expect(b('3.HEADER.FIELDS.NOT (SUBJECT)')).toBe('From: Dan <dan@example.com>\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n');
  });

  it.each(['4', '0', '1.3', '2.1', '3.3', '3.1.1', '1.1.1', 'MIME', '2.HEADER', '1.TEXT', '3.1.HEADER', '1.HEADER.FIELDS (X)', '9.9.9.MIME'])(
    'a section that does not exist (%s) is empty',
    (spec) => {
      expect(sectionBytes(COMPLEX, s, sec(spec)).length).toBe(0);
      expect(sectionExists(s, sec(spec))).toBe(false);
    },
  );

  it.each(['', 'HEADER', 'TEXT', '1', '1.1.MIME', '3.HEADER', '3.2', 'HEADER.FIELDS (NOPE)'])('sectionExists(%s) is true', (spec) => {
    expect(sectionExists(s, sec(spec))).toBe(true);
  });

  it('a non-multipart message has exactly a part 1, its body; 1.MIME is the message header', () => {
    const p = stored(PLAIN);
    expect(body(PLAIN, '1', p)).toBe('line one\r\nline two\r\n');
    expect(body(PLAIN, '1.MIME', p)).toBe('From: a@example.org\r\nSubject: hi\r\n\r\n');
    expect(body(PLAIN, '2', p)).toBe('');
    expect(body(PLAIN, '1.1', p)).toBe('');
    // Part 1 is TEXT/PLAIN, no MESSAGE/RFC822: HEADER after it names nothing.
    expect(body(PLAIN, '1.HEADER', p)).toBe('');
  });

  it('a message whose body is a message/rfc822: part 1 is the encapsulated message, 1.1 its body', () => {
    const raw = crlf('Subject: outer', 'Content-Type: message/rfc822', '', 'Subject: in', '', 'body');
    const p = stored(raw);
    expect(body(raw, '1', p)).toBe('Subject: in\r\n\r\nbody');
    expect(body(raw, '1.HEADER', p)).toBe('Subject: in\r\n\r\n');
    expect(body(raw, '1.TEXT', p)).toBe('body');
    expect(body(raw, '1.1', p)).toBe('body');
    expect(body(raw, '1.1.MIME', p)).toBe('Subject: in\r\n\r\n');
    expect(body(raw, 'HEADER', p)).toBe('Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n');
  });

  it('an encoded message/rfc822 is a leaf: no HEADER or TEXT inside it', () => {
    const raw = crlf('Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', '', 'U3ViamVjdDogeA0KDQp4', '--b--');
    expect(body(raw, '1')).toBe('U3ViamVjdDogeA0KDQp4');
    expect(body(raw, '1.HEADER')).toBe('');
    expect(body(raw, '1.1')).toBe('');
  });
});

describe('HEADER.FIELDS and HEADER.FIELDS.NOT (RFC 9051 §6.4.5)', () => {
  const raw = crlf(
    'Received: from a',
    '\tby b; Tue, 2 Jan 2024 03:04:05 +0000',
    'Subject: one',
    'X-Thing: 1',
    'subject : two',
    'From: a@b.example',
    '',
    'body',
  );
  const s = stored(raw);
  const b = (spec: string) => body(raw, spec, s);

  it('gives the matching fields byte for byte in stored order, folding kept, then the blank line', () => {
    expect(b('HEADER.FIELDS (SUBJECT received)')).toBe(
      'Received: from a\r\n\tby b; Tue, 2 Jan 2024 03:04:05 +0000\r\nSubject: one\r\nsubject : two\r\n\r\n',
    );
  });

  it('gives the complement for HEADER.FIELDS.NOT', () => {
    expect(b('HEADER.FIELDS.NOT (SUBJECT RECEIVED)')).toBe('X-Thing: 1\r\nFrom: a@b.example\r\n\r\n');
  });

  it('gives only the blank line when nothing matches, the whole header when NOT matches nothing', () => {
    expect(b('HEADER.FIELDS (NOPE)')).toBe('\r\n');
    expect(b('HEADER.FIELDS.NOT (NOPE)')).toBe(b('HEADER'));
  });

  it('matches names case-insensitively in the ASCII range only', () => {
    expect(b('HEADER.FIELDS (x-thing)')).toBe('X-Thing: 1\r\n\r\n');
    // U+212A KELVIN SIGN lower-cases to "k" in Unicode; RFC 9051 matching is ASCII-range only.
    expect(b('HEADER.FIELDS (X-THIN\u212a)')).toBe('\r\n');
  });

  it('has no blank line for a message that has no body and no blank line', () => {
    const h = crlf('Subject: x', 'From: y@z.example', '');
    const hs = stored(h);
    expect(body(h, 'HEADER', hs)).toBe('Subject: x\r\nFrom: y@z.example\r\n');
    expect(body(h, 'HEADER.FIELDS (SUBJECT)', hs)).toBe('Subject: x\r\n');
    expect(body(h, 'TEXT', hs)).toBe('');
  });

  it('keeps a header whose last field has no line end', () => {
    const h = Buffer.from('Subject: x\r\nFrom: y');
    expect(body(h, 'HEADER.FIELDS (FROM SUBJECT)')).toBe('Subject: x\r\nFrom: y');
  });

  it('leaves out lines that are no header field', () => {
    const h = crlf('From nobody Mon Jan  1 00:00:00 2024', 'Subject: x', '', 'b');
    expect(body(h, 'HEADER.FIELDS.NOT (FROM)')).toBe('Subject: x\r\n\r\n');
    expect(body(h, 'HEADER')).toBe('From nobody Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\n');
  });

  it('keeps the line ends a message was stored with', () => {
    const lf = Buffer.from('Subject: x\nFrom: y\n\nbody');
    expect(body(lf, 'HEADER.FIELDS (SUBJECT)')).toBe('Subject: x\n\n');
  });
});

describe('trace fields prepended after parsing (StoredStructure.offset)', () => {
  const prefix = Buffer.from('Return-Path: <a@x.example>\r\nReceived: from x by y;\r\n Tue, 2 Jan 2024 03:04:05 +0000\r\n');

  it('shifts every section and counts the prefix as header', () => {
    const s = stored(COMPLEX, prefix.length);
    const raw = Buffer.concat([prefix, COMPLEX]);
    const plain = stored(COMPLEX);
    expect(s.offset).toBe(prefix.length);
    for (const spec of ['1', '1.1', '1.2', '2', '3', '3.HEADER', '3.TEXT', '3.1', '3.2', '1.MIME', '2.MIME', '3.2.MIME', 'TEXT', '3.HEADER.FIELDS (SUBJECT)']) {
      expect(body(raw, spec, s), spec).toBe(body(COMPLEX, spec, plain));
    }
    expect(body(raw, 'HEADER', s)).toBe(prefix.toString() + body(COMPLEX, 'HEADER', plain));
    expect(sectionBytes(raw, s, sec('')).equals(raw)).toBe(true);
    expect(body(raw, 'HEADER.FIELDS (RECEIVED)', s)).toBe('Received: from x by y;\r\n Tue, 2 Jan 2024 03:04:05 +0000\r\n\r\n');
    expect(body(raw, 'HEADER.FIELDS.NOT (RECEIVED RETURN-PATH)', s)).toBe(body(COMPLEX, 'HEADER', plain));
    expect(binarySection(raw, s, sec('3.2'))).toEqual({ data: Buffer.from([0x89, 0x50, 0x4e]) });
  });

  it('puts the prefix in the MIME header of part 1 of a non-multipart message', () => {
    const s = stored(PLAIN, prefix.length);
    const raw = Buffer.concat([prefix, PLAIN]);
    expect(body(raw, '1', s)).toBe('line one\r\nline two\r\n');
    expect(body(raw, '1.MIME', s)).toBe(`${prefix}From: a@example.org\r\nSubject: hi\r\n\r\n`);
    expect(body(raw, 'TEXT', s)).toBe('line one\r\nline two\r\n');
  });
});

describe('BINARY[section] (RFC 3516)', () => {
  const s = stored(COMPLEX);

  it('decodes quoted-printable and base64 parts', () => {
    expect(binarySection(COMPLEX, s, sec('1.1'))).toEqual({ data: Buffer.from('café') });
    expect(binarySection(COMPLEX, s, sec('2'))).toEqual({ data: Buffer.from('PDF') });
    expect(binarySection(COMPLEX, s, sec('3.2'))).toEqual({ data: Buffer.from([0x89, 0x50, 0x4e]) });
  });

  it('gives identity-encoded parts as they are', () => {
    expect(binarySection(COMPLEX, s, sec('1.2'))).toEqual({ data: Buffer.from('<p>caf</p>') });
  });

  it('gives composite parts and multipart messages as stored', () => {
    expect(binarySection(COMPLEX, s, sec('1'))).toEqual({ data: sectionBytes(COMPLEX, s, sec('1')) });
    expect(binarySection(COMPLEX, s, sec('3'))).toEqual({ data: Buffer.from(INNER_MESSAGE) });
    expect(binarySection(COMPLEX, s, sec(''))).toEqual({ data: COMPLEX });
  });

  it('refuses encodings it does not know with UNKNOWN-CTE', () => {
    const raw = crlf('Content-Type: application/octet-stream', 'Content-Transfer-Encoding: x-uuencode', '', 'begin 644 x');
    expect(binarySection(raw, stored(raw), sec('1'))).toEqual({ error: 'UNKNOWN-CTE' });
    expect(binarySection(raw, stored(raw), sec(''))).toEqual({ error: 'UNKNOWN-CTE' });
  });

  it('answers NONEXISTENT for a part that is not there, or a section that is no binary section', () => {
    expect(binarySection(COMPLEX, s, sec('4'))).toEqual({ error: 'NONEXISTENT' });
    expect(binarySection(COMPLEX, s, sec('1.1.1'))).toEqual({ error: 'NONEXISTENT' });
    expect(binarySection(COMPLEX, s, sec('3.HEADER'))).toEqual({ error: 'NONEXISTENT' });
  });

  it('decodes part 1 of a single-part message, soft line breaks and all', () => {
    const raw = crlf('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: Quoted-Printable', '', 'Gr=C3=BC=', '=C3=9Fe  ', 'x');
    expect(binarySection(raw, stored(raw), sec('1'))).toEqual({ data: Buffer.from('Grüße\r\nx') });
  });

  it('gives BINARY[] of an encoded single-part message with its encoding field rewritten to binary', () => {
    const raw = crlf('Subject: b', 'Content-Type: application/octet-stream', 'content-transfer-encoding: BASE64', 'X: y', '', 'AAEC');
    const r = binarySection(raw, stored(raw), sec(''));
    expect(r).toEqual({
      data: Buffer.concat([
        Buffer.from('Subject: b\r\nContent-Type: application/octet-stream\r\ncontent-transfer-encoding: binary\r\nX: y\r\n\r\n'),
        Buffer.from([0, 1, 2]),
      ]),
    });
  });
});

describe('partial (RFC 9051 §6.4.5)', () => {
  const data = Buffer.from('0123456789');

  it('cuts the substring, truncated at the end', () => {
    expect(partial(data, { offset: 2, length: 3 }).toString()).toBe('234');
    expect(partial(data, { offset: 8, length: 100 }).toString()).toBe('89');
    expect(partial(data, { offset: 0, length: 2048 }).toString()).toBe('0123456789');
  });

  it('is empty when the origin lies beyond the end', () => {
    expect(partial(data, { offset: 10, length: 1 }).length).toBe(0);
    expect(partial(data, { offset: 4294967295, length: 4294967295 }).length).toBe(0);
  });

  it('is the data itself without a partial', () => {
    expect(partial(data, undefined)).toBe(data);
  });

  it('applies after HEADER.FIELDS subsetting', () => {
    const raw = crlf('A: 1', 'B: 2', '', 'x');
    expect(partial(sectionBytes(raw, stored(raw), sec('HEADER.FIELDS (B)')), { offset: 0, length: 4 }).toString()).toBe('B: 2');
  });
});

// ---------------------------------------------------------------------------------------
// Property tests: arbitrary MIME trees

type Node =
  | { kind: 'leaf'; type: string; encoding: string | null; filename: string | null; body: string }
  | { kind: 'multi'; subtype: string; children: Node[] }
  | { kind: 'message'; subject: string; inner: Node };

const LEAF_TYPES = ['text/plain', 'text/html', 'application/octet-stream', 'image/png', 'message/delivery-status', 'text/plain; charset=utf-8'];
const ENCODINGS = [null, '7bit', '8bit', 'base64', 'quoted-printable', 'x-custom'];
const BODY_WORDS = ['', 'abc', 'x y', 'é', '=41=', 'SGVsbG8=', 'From me', '   ', '\t', 'ünï', '"q"'];

const headerText = fc.string({ unit: 'binary', maxLength: 40 }).map((t) => t.toWellFormed().replace(/[\r\n\0]/g, ' '));

const nodeArb: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({
      kind: fc.constant('leaf' as const),
      type: fc.constantFrom(...LEAF_TYPES),
      encoding: fc.constantFrom(...ENCODINGS),
      filename: fc.option(headerText, { nil: null }),
      body: fc.array(fc.constantFrom(...BODY_WORDS), { maxLength: 6 }).map((ws) => ws.join('\r\n')),
    }),
    fc.record({
      kind: fc.constant('multi' as const),
      subtype: fc.constantFrom('mixed', 'alternative', 'related', 'x-other'),
      children: fc.array(tie('node'), { minLength: 1, maxLength: 4 }),
    }),
    fc.record({ kind: fc.constant('message' as const), subject: headerText, inner: tie('node') }),
  ),
})).node;

/** RFC 2231 extended value of any text, which the parser decodes back. */
function rfc2231(v: string): string {
  return [...Buffer.from(v, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

interface Rendered {
  text: string;
  /** The header section, blank line included. */
  header: string;
}

/** One part a client can name, as RFC 9051 §6.4.5 numbers it, with the bytes the generator wrote for it. */
interface PartInfo {
  path: number[];
  node: Node;
  header: string;
  body: string;
  /** For a message/rfc822 part: the encapsulated message. */
  inner?: Rendered;
}

/** Writes a tree as a message and records the path and bytes of every numbered part. */
function build(tree: Node, extra: string[]): Rendered & { parts: PartInfo[] } {
  const parts: PartInfo[] = [];
  let counter = 0;
  // A message's root is part 1 unless it is a multipart, whose children are 1, 2, ...
  const asMessage = (n: Node, headers: string[], prefix: number[]): Rendered =>
    n.kind === 'multi' ? part(n, headers, null, prefix) : part(n, headers, [...prefix, 1], prefix);
  const part = (n: Node, extraHeaders: string[], path: number[] | null, prefix: number[]): Rendered => {
    const headers = [...extraHeaders];
    const base = path ?? prefix;
    let bodyText: string;
    let inner: Rendered | undefined;
    if (n.kind === 'leaf') {
      headers.push(`Content-Type: ${n.type}`);
      if (n.encoding !== null) headers.push(`Content-Transfer-Encoding: ${n.encoding}`);
      if (n.filename !== null) headers.push(`Content-Disposition: attachment; filename*=utf-8''${rfc2231(n.filename)}`);
      bodyText = n.body;
    } else if (n.kind === 'multi') {
      const b = `=_b${counter++}_`;
      headers.push(`Content-Type: multipart/${n.subtype}; boundary="${b}"`);
      bodyText = `${n.children.map((c, i) => `--${b}\r\n${part(c, [], [...base, i + 1], []).text}\r\n`).join('')}--${b}--`;
    } else {
      headers.push('Content-Type: message/rfc822');
      inner = asMessage(n.inner, [`Subject: ${n.subject}`], base);
      bodyText = inner.text;
    }
    const header = `${headers.join('\r\n')}\r\n\r\n`;
    if (path) parts.push({ path, node: n, header, body: bodyText, inner });
    return { text: header + bodyText, header };
  };
  return { ...asMessage(tree, extra, []), parts };
}

/** What BODYSTRUCTURE says of a node, read back from the s-expression; checks the grammar's shape as it goes. */
function shapeOf(x: SExp, ext: boolean): string {
  if (!Array.isArray(x)) throw new Error('body is no list');
  if (Array.isArray(x[0])) {
    let i = 0;
    const kids: string[] = [];
    while (Array.isArray(x[i])) kids.push(shapeOf(x[i++], ext));
    const subtype = x[i++];
    if (typeof subtype !== 'string') throw new Error('no subtype');
    if (x.length !== i + (ext ? 4 : 0)) throw new Error(`multipart with ${x.length} elements`);
    if (ext && !(x[i] === null || Array.isArray(x[i]))) throw new Error('multipart params');
    return `${subtype}(${kids.join(',')})`;
  }
  const [type, subtype, params, , , enc, size] = x;
  if (typeof type !== 'string' || typeof subtype !== 'string' || typeof enc !== 'string' || typeof size !== 'number') {
    throw new Error('body-fields');
  }
  if (!(params === null || (Array.isArray(params) && params.length > 0 && params.length % 2 === 0))) throw new Error('body-fld-param');
  let n = 7;
  let inner = '';
  if (type === 'MESSAGE' && (subtype === 'RFC822' || subtype === 'GLOBAL') && Array.isArray(x[7])) {
    if ((x[7] as SExp[]).length !== 10) throw new Error('envelope');
    inner = `(${shapeOf(x[8], ext)})`;
    if (typeof x[9] !== 'number') throw new Error('message lines');
    n = 10;
  } else if (type === 'TEXT') {
    if (typeof x[7] !== 'number') throw new Error('text lines');
    n = 8;
  }
  if (x.length !== n + (ext ? 4 : 0)) throw new Error(`${type}/${subtype} with ${x.length} elements`);
  return `${type}/${subtype}${inner}`;
}

function expectedShape(n: Node): string {
  if (n.kind === 'multi') return `${n.subtype.toUpperCase()}(${n.children.map(expectedShape).join(',')})`;
  if (n.kind === 'message') return `MESSAGE/RFC822(${expectedShape(n.inner)})`;
  return n.type.split(';')[0].toUpperCase();
}

function within(res: Buffer, raw: Buffer): boolean {
  if (res.length === 0) return true;
  return res.buffer === raw.buffer && res.byteOffset >= raw.byteOffset && res.byteOffset + res.length <= raw.byteOffset + raw.length;
}

const TEXTS: Section['text'][] = [null, 'HEADER', 'TEXT', 'MIME', 'HEADER.FIELDS', 'HEADER.FIELDS.NOT'];

describe('properties over arbitrary MIME trees', () => {
  it('BODYSTRUCTURE and BODY are balanced, grammatical, 7-bit outside literals, and describe the tree', () => {
    fc.assert(
      fc.property(nodeArb, headerText, fc.boolean(), fc.boolean(), (tree, subject, ext, utf8) => {
        const raw = Buffer.from(build(tree, [`Subject: ${subject}`, 'From: "Näme" <a@b.example>']).text, 'utf8');
        const s = stored(raw);
        const parts = bodyStructureParts(s, ext, utf8);
        if (!utf8) for (const p of parts) if (typeof p === 'string') expect(Buffer.from(p).every((c) => c < 0x80)).toBe(true);
        expect(shapeOf(readParts(parts), ext)).toBe(expectedShape(tree));
        const e = readParts(envelopeParts(s.envelope, utf8)) as SExp[];
        expect(e).toHaveLength(10);
        expect(e[1]).toBe(subject.replace(/^[ \t]+|[ \t]+$/g, ''));
      }),
      { numRuns: 300 },
    );
  });

  it('sectionBytes names each part as RFC 9051 numbers it, never throws, and stays within the message', () => {
    fc.assert(
      fc.property(
        nodeArb,
        fc.array(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 5 }), { maxLength: 10 }),
        fc.array(fc.constantFrom('subject', 'CONTENT-TYPE', 'from', 'x', 'received'), { maxLength: 3 }),
        fc.nat({ max: 300 }),
        (tree, randomPaths, fields, pad) => {
          // Trace fields prepended after parsing, as delivery does: every offset shifts.
          const prefix = Buffer.from(`Received: ${'x'.repeat(pad)}\r\n`);
          const msg = build(tree, ['Subject: s']);
          const s = stored(Buffer.from(msg.text, 'utf8'), prefix.length);
          const raw = Buffer.concat([prefix, Buffer.from(msg.text, 'utf8')]);
          const get = (part: number[], text: Section['text']) => sectionBytes(raw, s, { part, text }).toString('utf8');
          expect(get([], 'HEADER')).toBe(prefix.toString() + msg.header);
          for (const info of msg.parts) {
            // The generator knows each part's bytes: BODY[path] and BODY[path.MIME] must be exactly them.
            expect(get(info.path, null)).toBe(info.body);
            const rootPart = tree.kind !== 'multi' && info.path.length === 1;
            expect(get(info.path, 'MIME')).toBe(rootPart ? prefix.toString() + info.header : info.header);
            if (info.inner) {
              expect(get(info.path, 'HEADER')).toBe(info.inner.header);
              expect(get(info.path, 'TEXT')).toBe(info.inner.text.slice(info.inner.header.length));
            } else {
              expect(get(info.path, 'HEADER')).toBe('');
            }
            expect(sectionExists(s, { part: info.path, text: null })).toBe(true);
          }
          for (const path of [[], ...msg.parts.map((p) => p.path), ...randomPaths]) {
            for (const text of TEXTS) {
              const section: Section = text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT' ? { part: path, text, fields } : { part: path, text };
              const res = sectionBytes(raw, s, section);
              expect(res.length <= raw.length).toBe(true);
              if (text === 'HEADER.FIELDS') {
                // A subset and its complement together are the header, with the blank line twice.
                const not = sectionBytes(raw, s, { ...section, text: 'HEADER.FIELDS.NOT' });
                const whole = sectionBytes(raw, s, { part: path, text: 'HEADER' });
                expect(res.length + not.length).toBe(whole.length + (whole.length > 0 ? 2 : 0));
              } else if (text !== 'HEADER.FIELDS.NOT') {
                expect(within(res, raw)).toBe(true);
              }
              expect(res.length === 0 || sectionExists(s, section)).toBe(true);
            }
            const bin = binarySection(raw, s, { part: path, text: null });
            if ('data' in bin) expect(bin.data.length <= raw.length).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on a structure that does not match its bytes', () => {
    const s = stored(COMPLEX);
    fc.assert(
      fc.property(fc.nat({ max: COMPLEX.length }), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }), fc.constantFrom(...TEXTS), (cut, path, text) => {
        const raw = COMPLEX.subarray(0, cut);
        const section: Section = { part: path, text, fields: ['subject'] };
        expect(sectionBytes(raw, s, section).length <= raw.length).toBe(true);
        binarySection(raw, s, section);
      }),
    );
  });
});
