/**
 * Issue 4 point 2: FETCH over the wire — ENVELOPE and BODYSTRUCTURE from the stored
 * structure for nested multiparts, message/rfc822, encoded words and RFC 2231 parameters;
 * BODY[section]<partial> and BINARY[] byte-exact (also for mail delivered over SMTP, whose
 * stored bytes carry our trace fields); implicit \Seen; the RFC 8474, RFC 8514 and RFC 7162
 * items; sequence sets and "*".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, append, deliver, startImapServer, type ImapTestServer } from './harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

const NESTED = [
  'From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.net>',
  'To: "Team, All" <team@example.org>, bob@example.org',
  'Cc: group: carol@example.org;',
  'Subject: =?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=',
  'Date: Wed, 2 Dec 2026 09:30:00 +0100',
  'Message-ID: <nested-1@example.net>',
  'In-Reply-To: <parent@example.net>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  'This is a multi-part message.',
  '--outer',
  'Content-Type: multipart/alternative; boundary=alt',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Gr=C3=BC=C3=9Fe',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Gr\u00fc\u00dfe</p>',
  '--alt--',
  '--outer',
  'Content-Type: application/pdf',
  'Content-Disposition: attachment;',
  ' filename*0*=utf-8\'\'Bericht%20%C3%9C;',
  ' filename*1=".pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('%PDF-1.4 fake\n').toString('base64'),
  '--outer',
  'Content-Type: message/rfc822',
  '',
  'From: inner@example.net',
  'Subject: Inner',
  'Content-Type: text/plain',
  '',
  'inner body',
  '--outer--',
  '',
].join('\r\n');

/** A literal as it appears on the wire: {octets} CRLF content. */
const lit = (content: string) => `{${Buffer.byteLength(content)}}\r\n${content}`;

describe('IMAP FETCH', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let c: ImapTestClient;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
    c = await ImapTestClient.login(ts.imapPort, alice);
    await append(c, 'INBOX', NESTED);
    await c.ok('SELECT INBOX');
  });
  afterAll(async () => {
    await c?.close();
    await ts?.cleanup();
  });

  it('RFC 9051 §7.5.2: ENVELOPE keeps encoded words and groups as written; BODYSTRUCTURE describes the nested tree exactly', async () => {
    const r = await c.ok('FETCH 1 (ENVELOPE BODYSTRUCTURE)');
    const line = r.lines[0];
    expect(line).toContain('ENVELOPE ("Wed, 2 Dec 2026 09:30:00 +0100" "=?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=" (("=?UTF-8?Q?J=C3=B6rg?=" NIL "joerg" "example.net"))');
    expect(line).toContain('(("Team, All" NIL "team" "example.org")(NIL NIL "bob" "example.org"))');
    expect(line).toContain('((NIL NIL "group" NIL)(NIL NIL "carol" "example.org")(NIL NIL NIL NIL))');
    expect(line).toContain('"<parent@example.net>" "<nested-1@example.net>")');
    expect(line).toContain('BODYSTRUCTURE ((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 1 NIL NIL NIL NIL)("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" ');
    expect(line).toContain('"ALTERNATIVE" ("BOUNDARY" "alt") NIL NIL NIL)');
    // RFC 2231 continuations joined; the non-ASCII value in the extended form for a 7-bit client.
    expect(line).toContain('("ATTACHMENT" ("FILENAME*" "utf-8\'\'Bericht%20%C3%9C.pdf"))');
    expect(line).toMatch(/\("MESSAGE" "RFC822" NIL NIL NIL "7BIT" \d+ \(NIL "Inner" \(\(NIL NIL "inner" "example.net"\)\)/);
    expect(line).toContain('"MIXED" ("BOUNDARY" "outer") NIL NIL NIL)');
  });

  it('RFC 9051 §6.4.5: BODY[section] for parts of a nested multipart and of an embedded message, and partial fetches, byte-exact', async () => {
    const r = await c.ok('FETCH 1 (BODY.PEEK[1.1] BODY.PEEK[1.2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1] BODY.PEEK[]<0.4> BODY.PEEK[TEXT]<5.10>)');
    const t = r.lines[0];
    expect(t).toContain(`BODY[1.1] ${lit('Gr=C3=BC=C3=9Fe')}`);
    expect(t).toContain(`BODY[1.2.MIME] ${lit('Content-Type: text/html; charset=utf-8\r\n\r\n')}`);
    expect(t).toContain(`BODY[3.HEADER] ${lit('From: inner@example.net\r\nSubject: Inner\r\nContent-Type: text/plain\r\n\r\n')}`);
    expect(t).toContain(`BODY[3.TEXT] ${lit('inner body')}`);
    expect(t).toContain(`BODY[3.1] ${lit('inner body')}`);
    expect(t).toContain(`BODY[]<0> ${lit('From')}`);
    expect(t).toContain(`BODY[TEXT]<5> ${lit('is a multi')}`);
  });

  it('RFC 9051 §6.4.5: HEADER.FIELDS and HEADER.FIELDS.NOT keep the fields as stored, with the blank line', async () => {
    const r = await c.ok('FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT message-id)] BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID In-Reply-To Content-Type)])');
    const t = r.lines[0];
    expect(t).toContain(`BODY[HEADER.FIELDS (SUBJECT message-id)] ${lit('Subject: =?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=\r\nMessage-ID: <nested-1@example.net>\r\n\r\n')}`);
    expect(t).toContain(`BODY[HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID In-Reply-To Content-Type)] ${lit('MIME-Version: 1.0\r\n\r\n')}`);
  });

  it('RFC 3516: BINARY[] decodes quoted-printable and base64; BINARY.SIZE is the decoded size; BINARY of a message part is as stored', async () => {
    const r = await c.ok('FETCH 1 (BINARY.PEEK[1.1] BINARY.SIZE[2] BINARY.PEEK[2])');
    const t = r.lines[0];
    expect(t).toContain(`BINARY[1.1] ${lit('Grüße')}`);
    expect(t).toContain('BINARY.SIZE[2] 14');
    expect(t).toContain(`BINARY[2] ${lit('%PDF-1.4 fake\n')}`);
  });

  it('RFC 9051 §6.4.5: fetching BODY[] without PEEK sets \\Seen and reports the new FLAGS; PEEK does not', async () => {
    await append(c, 'INBOX', 'Subject: second\r\n\r\nplain\r\n');
    await c.ok('NOOP');
    const peek = await c.ok('FETCH 2 (FLAGS BODY.PEEK[TEXT])');
    expect(peek.lines[0]).toMatch(/^\* 2 FETCH \(FLAGS \(\) BODY\[TEXT\] \{7\}/);
    const seen = await c.ok('FETCH 2 BODY[TEXT]');
    expect(seen.lines[0]).toMatch(/^\* 2 FETCH \(BODY\[TEXT\] \{7\}\r\nplain\r\n FLAGS \(\\Seen\)\)$/);
    const again = await c.ok('FETCH 2 FLAGS');
    expect(again.lines).toEqual(['* 2 FETCH (FLAGS (\\Seen))']);
  });

  it('RFC 9051 §6.4.8: UID FETCH always includes UID; "*" and ranges in either order; the macros ALL, FAST, FULL', async () => {
    const r = await c.ok('UID FETCH 2:1 FLAGS');
    expect(r.lines).toEqual(['* 1 FETCH (UID 1 FLAGS ())', '* 2 FETCH (UID 2 FLAGS (\\Seen))']);
    expect((await c.ok('FETCH * UID')).lines).toEqual(['* 2 FETCH (UID 2)']);
    expect((await c.ok('UID FETCH 100:* UID')).lines).toEqual(['* 2 FETCH (UID 2)']);
    expect((await c.ok('UID FETCH 50 UID')).lines).toEqual([]);
    const fast = await c.ok('FETCH 2 FAST');
    expect(fast.lines[0]).toMatch(/^\* 2 FETCH \(FLAGS \(\\Seen\) INTERNALDATE "[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d \+0000" RFC822.SIZE 26\)$/);
    const full = await c.ok('FETCH 2 FULL');
    expect(full.lines[0]).toMatch(/ENVELOPE \(NIL "second" NIL NIL NIL NIL NIL NIL NIL NIL\) BODY \("TEXT" "PLAIN" \("CHARSET" "US-ASCII"\) NIL NIL "7BIT" 7 1\)\)$/);
  });

  it('RFC 8474, RFC 8514, RFC 7162, RFC 8970: EMAILID, THREADID, SAVEDATE, MODSEQ and PREVIEW', async () => {
    const r = await c.ok('FETCH 1 (EMAILID THREADID SAVEDATE MODSEQ PREVIEW)');
    expect(r.lines[0]).toMatch(/^\* 1 FETCH \(EMAILID \(M\d+_\d+\) THREADID \(T\d+_\d+\) SAVEDATE "[^"]+" MODSEQ \(\d+\) PREVIEW "Grüße"\)$/);
  });

  it('RFC822, RFC822.HEADER, RFC822.TEXT (IMAP4rev1) and RFC822.SIZE match the stored bytes', async () => {
    const r = await c.ok('FETCH 1 (RFC822.SIZE RFC822.HEADER)');
    const size = Number(/RFC822.SIZE (\d+)/.exec(r.lines[0])![1]);
    expect(size).toBe(Buffer.byteLength(NESTED));
    const whole = await c.ok('FETCH 1 RFC822');
    expect(c.literals[c.literals.length - 1].toString()).toBe(NESTED);
    expect(whole.lines[0]).toContain(`RFC822 {${size}}`);
  });

  it('mail delivered over SMTP: the trace fields are part of the header; sections and sizes still line up', async () => {
    await deliver(ts, alice.address, 'Subject: via smtp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n--b--\r\n', 'x@example.net');
    await c.ok('NOOP');
    const f = await c.ok('FETCH 3 (BODY.PEEK[HEADER] BODY.PEEK[1] BODYSTRUCTURE RFC822.SIZE)');
    const t = f.lines[0];
    expect(t).toMatch(/BODY\[HEADER\] \{\d+\}\r\nReturn-Path: <x@example.net>\r\nReceived: /);
    expect(t).toContain('Subject: via smtp\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n');
    expect(t).toContain(`BODY[1] ${lit('part one')}`);
  });
});
