/**
 * Message structure (src/lib/mime/parse.ts): part boundaries by byte offset (RFC 2046 §5.1.1),
 * MIME header fields (RFC 2045), embedded messages (RFC 2046 §5.2.1), and the message-level
 * fields derived from the root header. Every body is checked by slicing the raw bytes.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage, type MimePart } from '../../../src/lib/mime/index.ts';
import { bodyText, eml, emlLf, expectSound, headerText, text } from './helpers.ts';

interface Shape {
  ct: string;
  body?: string;
  parts?: Shape[];
  message?: Shape;
}

/** The tree as content types, with each leaf's body read back from the raw bytes. */
function shape(raw: Uint8Array, p: MimePart): Shape {
  const s: Shape = { ct: `${p.type}/${p.subtype}` };
  if (p.parts.length > 0) s.parts = p.parts.map((c) => shape(raw, c));
  else if (p.message) s.message = shape(raw, p.message.part);
  else s.body = bodyText(raw, p);
  return s;
}

const NESTED = eml(
  'From: a@example.org',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  'This is a preamble.',
  '--outer',
  'Content-Type: multipart/alternative; boundary=alt',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'plain body',
  '--alt',
  'Content-Type: multipart/related; boundary="rel"; type="text/html"',
  '',
  '--rel',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>html <img src="cid:img1"></p>',
  '--rel',
  'Content-Type: image/png',
  'Content-ID: <img1>',
  'Content-Transfer-Encoding: base64',
  '',
  'iVBORw0KGgo=',
  '--rel--',
  '',
  '--alt--',
  '--outer',
  'Content-Type: application/pdf; name="a.pdf"',
  'Content-Disposition: attachment; filename="a.pdf"',
  '',
  'PDFDATA',
  '',
  '--outer--',
  'epilogue',
  '',
);

const EMBEDDED = eml(
  'From: outer@example.org',
  'Subject: Fwd: inner',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  '',
  'See below.',
  '--b1',
  'Content-Type: message/rfc822',
  'Content-Disposition: inline',
  '',
  'From: Inner Person <inner@example.net>',
  'Subject: inner',
  'Date: Tue, 2 Jan 2024 10:00:00 +0000',
  'Content-Type: multipart/alternative; boundary="b2"',
  '',
  '--b2',
  'Content-Type: text/plain',
  '',
  'inner text',
  '--b2',
  'Content-Type: text/html',
  '',
  '<b>inner</b>',
  '--b2--',
  '--b1--',
);

const DIGEST = eml(
  'Content-Type: multipart/digest; boundary=d',
  '',
  '--d',
  '',
  'Subject: one',
  '',
  'first',
  '--d',
  'Content-Type: text/plain',
  '',
  'not a message',
  '--d--',
);

describe('parseMessage structure', () => {
  it.each<[string, Uint8Array, Shape]>([
    ['a single text part (RFC 2045 §5.2 default type)', eml('Subject: hi', '', 'Hello', 'world', ''), { ct: 'text/plain', body: 'Hello\r\nworld\r\n' }],
    ['a header without body (no blank line: all header)', eml('Subject: hi', 'From: a@b.c'), { ct: 'text/plain', body: '' }],
    ['a header and a blank line but no body', eml('Subject: hi', '', ''), { ct: 'text/plain', body: '' }],
    ['an empty message', new Uint8Array(0), { ct: 'text/plain', body: '' }],
    ['a message starting with its blank line', eml('', 'body only'), { ct: 'text/plain', body: 'body only' }],
    [
      'nested multipart/mixed + alternative + related; preamble and epilogue ignored',
      NESTED,
      {
        ct: 'multipart/mixed',
        parts: [
          {
            ct: 'multipart/alternative',
            parts: [
              { ct: 'text/plain', body: 'plain body' },
              {
                ct: 'multipart/related',
                parts: [
                  { ct: 'text/html', body: '<p>html <img src="cid:img1"></p>' },
                  { ct: 'image/png', body: 'iVBORw0KGgo=' },
                ],
              },
            ],
          },
          // RFC 2046 §5.1.1: only the CRLF right before the delimiter belongs to it.
          { ct: 'application/pdf', body: 'PDFDATA\r\n' },
        ],
      },
    ],
    [
      'message/rfc822 inside a multipart, parsed recursively',
      EMBEDDED,
      {
        ct: 'multipart/mixed',
        parts: [
          { ct: 'text/plain', body: 'See below.' },
          {
            ct: 'message/rfc822',
            message: {
              ct: 'multipart/alternative',
              parts: [
                { ct: 'text/plain', body: 'inner text' },
                { ct: 'text/html', body: '<b>inner</b>' },
              ],
            },
          },
        ],
      },
    ],
    [
      'multipart/digest: parts default to message/rfc822 (RFC 2046 §5.1.5)',
      DIGEST,
      { ct: 'multipart/digest', parts: [{ ct: 'message/rfc822', message: { ct: 'text/plain', body: 'first' } }, { ct: 'text/plain', body: 'not a message' }] },
    ],
    [
      'a missing close-delimiter: the last part runs to the end of the parent',
      eml('Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'first', '--b', 'Content-Type: text/html', '', 'second', 'and more', ''),
      { ct: 'multipart/mixed', parts: [{ ct: 'text/plain', body: 'first' }, { ct: 'text/html', body: 'second\r\nand more\r\n' }] },
    ],
    [
      'a truncated inner multipart ends at the outer delimiter',
      eml(
        'Content-Type: multipart/mixed; boundary=out',
        '',
        '--out',
        'Content-Type: multipart/alternative; boundary=in',
        '',
        '--in',
        '',
        'cut short',
        '--out',
        '',
        'after',
        '--out--',
      ),
      { ct: 'multipart/mixed', parts: [{ ct: 'multipart/alternative', parts: [{ ct: 'text/plain', body: 'cut short' }] }, { ct: 'text/plain', body: 'after' }] },
    ],
    [
      'transport padding after a delimiter; "--b" followed by other text is not one',
      eml('Content-Type: multipart/mixed; boundary=b', '', '--b \t', '', 'x', '--bb', '--b-', '--b--  ', 'epilogue'),
      { ct: 'multipart/mixed', parts: [{ ct: 'text/plain', body: 'x\r\n--bb\r\n--b-' }] },
    ],
    [
      'an outer boundary that prefixes the inner one',
      eml('Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: multipart/mixed; boundary=b2', '', '--b2', '', 'in', '--b2--', '--b--'),
      { ct: 'multipart/mixed', parts: [{ ct: 'multipart/mixed', parts: [{ ct: 'text/plain', body: 'in' }] }] },
    ],
    [
      'empty parts between adjacent delimiters',
      eml('Content-Type: multipart/mixed; boundary=b', '', '--b', '--b', '', '--b--'),
      { ct: 'multipart/mixed', parts: [{ ct: 'text/plain', body: '' }, { ct: 'text/plain', body: '' }] },
    ],
    [
      'a multipart without boundary parameter is one opaque part',
      eml('Content-Type: multipart/mixed', '', '--x', '', 'y', '--x--'),
      { ct: 'text/plain', body: '--x\r\n\r\ny\r\n--x--' },
    ],
    [
      'a multipart whose delimiters never appear is one opaque part',
      eml('Content-Type: multipart/mixed; boundary=nothere', '', 'just text'),
      { ct: 'text/plain', body: 'just text' },
    ],
    [
      'a multipart with only a close-delimiter is one opaque part',
      eml('Content-Type: multipart/mixed; boundary=b', '', 'text', '--b--'),
      { ct: 'text/plain', body: 'text\r\n--b--' },
    ],
    [
      'bare LF line endings (a message from a file)',
      emlLf('Subject: lf', 'Content-Type: multipart/alternative; boundary="z"', '', '--z', 'Content-Type: text/plain', '', 'one', 'two', '--z', '', 'three', '--z--', ''),
      { ct: 'multipart/alternative', parts: [{ ct: 'text/plain', body: 'one\ntwo' }, { ct: 'text/plain', body: 'three' }] },
    ],
    [
      'a message/rfc822 in base64 is not parsed (RFC 2046 §5.2.1 allows 7bit/8bit/binary only)',
      eml('Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', '', 'U3ViamVjdDogeA0KDQp5'),
      { ct: 'message/rfc822', body: 'U3ViamVjdDogeA0KDQp5' },
    ],
  ])('%s', (_name, raw, expected) => {
    const m = parseMessage(raw);
    expect(shape(raw, m.part)).toEqual(expected);
    expectSound(m, raw);
    expect(m.limits).toBe(false);
  });

  it('reports offsets of headers and bodies exactly', () => {
    const m = parseMessage(NESTED);
    const [alt, pdf] = m.part.parts;
    expect(headerText(NESTED, pdf)).toBe('Content-Type: application/pdf; name="a.pdf"\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\n');
    expect(m.headerSize).toBe(text(NESTED, 0, NESTED.length).indexOf('\r\n\r\n') + 4);
    // A multipart's body holds its delimiters; its children lie inside it.
    const related = alt.parts[1];
    expect(bodyText(NESTED, related).startsWith('--rel\r\n')).toBe(true);
    expect(bodyText(NESTED, related).endsWith('--rel--\r\n')).toBe(true);
    expect(related.params).toEqual({ boundary: 'rel', type: 'text/html' });
    const png = related.parts[1];
    expect(png).toMatchObject({ id: '<img1>', encoding: 'base64', size: 12, lines: 1 });
    expect(pdf.disposition).toEqual({ type: 'attachment', params: { filename: 'a.pdf' } });
    expect(pdf.lines).toBe(1); // "PDFDATA\r\n": one line, ended
  });

  it('keeps header fields as written, unfolded (RFC 5322 §2.2.3), with their byte ranges', () => {
    const raw = eml('Subject: a', '  folded\tline', 'X-Empty:', 'From : a@b.c', 'not a field', 'Bad Name: x', '', 'body');
    const m = parseMessage(raw);
    expect(m.part.headers.map((h) => [h.name, h.value])).toEqual([
      ['Subject', 'a  folded\tline'],
      ['X-Empty', ''],
      ['From', 'a@b.c'],
    ]);
    const subject = m.part.headers[0];
    expect(text(raw, subject.start, subject.end)).toBe('Subject: a\r\n  folded\tline\r\n');
    expect(m.envelope.subject).toBe('a  folded\tline');
  });

  it('reads header bytes as UTF-8 when valid (RFC 6532) and as ISO-8859-1 otherwise', () => {
    const raw = Uint8Array.from([...new TextEncoder().encode('Subject: Gr\u00fc\u00dfe\r\nX-Latin: '), 0xe9, 0x74, 0xe9, 0x0d, 0x0a, 0x0d, 0x0a]);
    const m = parseMessage(raw);
    expect(m.subject).toBe('Grüße');
    expect(m.part.headers[1].value).toBe('été');
  });

  it('matches a boundary written in 8-bit ISO-8859-1 against the raw bytes', () => {
    const head = new TextEncoder().encode('Content-Type: multipart/mixed; boundary="b');
    const rest = new TextEncoder().encode('"\r\n\r\n--b');
    const mid = new TextEncoder().encode('\r\n\r\npart\r\n--b');
    const end = new TextEncoder().encode('--\r\n');
    const raw = Uint8Array.from([...head, 0xe9, ...rest, 0xe9, ...mid, 0xe9, ...end]);
    const m = parseMessage(raw);
    expect(m.part.parts.map((p) => bodyText(raw, p))).toEqual(['part']);
  });

  it('reads the MIME header fields (RFC 2045 §5-8, RFC 2183, RFC 3282, RFC 2557, RFC 1864)', () => {
    const raw = eml(
      'Content-Type: TEXT/Plain (a comment); CharSet="ISO-8859-1"; Format=flowed',
      'Content-Transfer-Encoding: Quoted-Printable',
      'Content-ID: <part1@example.org>',
      'Content-Description: =?UTF-8?Q?caf=C3=A9?=',
      'Content-Disposition: INLINE; filename="a b.txt"; size=12',
      'Content-Language: en, de-CH (Swiss)',
      'Content-Location: http://example.org/',
      '  a/b.txt',
      'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
      '',
      'caf=E9',
    );
    const p = parseMessage(raw).part;
    expect(p).toMatchObject({
      type: 'text',
      subtype: 'plain',
      params: { charset: 'ISO-8859-1', format: 'flowed' },
      encoding: 'quoted-printable',
      id: '<part1@example.org>',
      description: '=?UTF-8?Q?caf=C3=A9?=',
      disposition: { type: 'inline', params: { filename: 'a b.txt', size: '12' } },
      language: ['en', 'de-CH'],
      location: 'http://example.org/a/b.txt',
      md5: 'Q2hlY2sgSW50ZWdyaXR5IQ==',
    });
    expect(parseMessage(raw).preview).toBe('café');
  });

  it.each([
    ['absent', null, { charset: 'us-ascii' }],
    ['without a subtype', 'text; charset=utf-8', { charset: 'utf-8' }],
    ['empty', '', { charset: 'us-ascii' }],
    ['garbage', '/// ;;; ===', { charset: 'us-ascii' }],
  ])('a Content-Type %s means text/plain (RFC 2045 §5.2)', (_n, value, params) => {
    const raw = eml(...(value === null ? [] : [`Content-Type: ${value}`]), 'Subject: x', '', 'body');
    const p = parseMessage(raw).part;
    expect([p.type, p.subtype, p.params, p.encoding]).toEqual(['text', 'plain', params, '7bit']);
  });

  it('parses the embedded message envelope', () => {
    const m = parseMessage(EMBEDDED);
    const inner = m.part.parts[1].message!;
    expect(inner.envelope).toMatchObject({
      subject: 'inner',
      date: 'Tue, 2 Jan 2024 10:00:00 +0000',
      from: [{ name: 'Inner Person', nameRaw: 'Inner Person', mailbox: 'inner', host: 'example.net' }],
    });
    expect(inner.part.headerStart).toBe(m.part.parts[1].headerEnd);
    expect(m.part.parts[1].lines).toBe(text(EMBEDDED, m.part.parts[1].headerEnd, m.part.parts[1].bodyEnd).split('\r\n').length);
    expect(m.hasAttachment).toBe(true);
    expect(m.preview).toBe('See below.');
  });
});

describe('parseMessage message fields', () => {
  const raw = eml(
    'From: =?UTF-8?B?SsO2cmc=?= <Jorg@Example.ORG>',
    'Sender: ',
    'To: undisclosed-recipients:;',
    'Cc: Team: "Doe, Jane" <jane@example.org>, bob@example.org;, =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>',
    'Subject: =?ISO-8859-1?Q?Caf=E9?= =?UTF-8?B?IOKCrA==?=',
    '  =?UTF-8?Q?_ok?= done',
    'Date: Tue, 2 Jan 2024 03:04:05 +0100 (CET)',
    'Message-ID: <id1@example.org>',
    'In-Reply-To: <id0@example.org> (comment)',
    'References: <a@x>',
    '  <b@y> <id0@example.org>',
    '',
    'Hi',
  );
  const m = parseMessage(raw);

  it('decodes the subject, keeps the raw one for IMAP (RFC 9051 §7.5.2)', () => {
    expect(m.subject).toBe('Café € ok done');
    expect(m.envelope.subject).toBe('=?ISO-8859-1?Q?Caf=E9?= =?UTF-8?B?IOKCrA==?=  =?UTF-8?Q?_ok?= done');
    expect(m.envelope.subjectDecoded).toBe(m.subject);
  });

  it('fills the envelope: Sender and Reply-To default to From; absent fields are NIL', () => {
    const from = [{ name: 'Jörg', nameRaw: '=?UTF-8?B?SsO2cmc=?=', mailbox: 'Jorg', host: 'Example.ORG' }];
    expect(m.envelope).toMatchObject({ from, sender: from, replyTo: from, bcc: null, date: 'Tue, 2 Jan 2024 03:04:05 +0100 (CET)' });
    expect(m.envelope.messageId).toBe('<id1@example.org>');
    expect(m.envelope.inReplyTo).toBe('<id0@example.org> (comment)');
  });

  it('represents groups with NIL host, and the end with NIL mailbox too (RFC 9051 §7.5.2)', () => {
    expect(m.envelope.to).toEqual([
      { name: 'undisclosed-recipients', nameRaw: null, mailbox: 'undisclosed-recipients', host: null },
      { name: null, nameRaw: null, mailbox: null, host: null },
    ]);
    expect(m.envelope.cc).toEqual([
      { name: 'Team', nameRaw: null, mailbox: 'Team', host: null },
      { name: 'Doe, Jane', nameRaw: 'Doe, Jane', mailbox: 'jane', host: 'example.org' },
      { name: null, nameRaw: null, mailbox: 'bob', host: 'example.org' },
      { name: null, nameRaw: null, mailbox: null, host: null },
      { name: 'André', nameRaw: '=?ISO-8859-1?Q?Andr=E9?=', mailbox: 'andre', host: 'example.fr' },
    ]);
  });

  it('derives the lower-case address lists, ids and date', () => {
    expect(m.from).toEqual(['jorg@example.org']);
    expect(m.to).toEqual([]);
    expect(m.cc).toEqual(['jane@example.org', 'bob@example.org', 'andre@example.fr']);
    expect(m.messageId).toBe('id1@example.org');
    expect(m.inReplyTo).toEqual(['id0@example.org']);
    expect(m.references).toEqual(['a@x', 'b@y', 'id0@example.org']);
    expect(m.sentDate).toBe(Date.UTC(2024, 0, 2, 2, 4, 5));
    expect(m.preview).toBe('Hi');
    expect(m.hasAttachment).toBe(false);
  });

  it('gives NIL for absent fields and "" for empty ones; no Date means no sentDate', () => {
    const e = parseMessage(eml('Subject:', 'X: y', '', '')).envelope;
    expect(e).toEqual({
      date: null, subject: '', subjectDecoded: '', from: null, sender: null, replyTo: null, to: null, cc: null, bcc: null,
      inReplyTo: null, messageId: null,
    });
    const m2 = parseMessage(eml('Date: yesterday', 'Message-ID: bare@id', '', ''));
    expect(m2.sentDate).toBeNull();
    expect(m2.messageId).toBe('bare@id');
    expect(m2.subject).toBe('');
  });

  it('uses the first of repeated fields', () => {
    const m2 = parseMessage(eml('Subject: one', 'Subject: two', 'Content-Type: text/html', 'Content-Type: text/plain', '', ''));
    expect([m2.subject, m2.part.subtype]).toEqual(['one', 'html']);
  });
});
