/**
 * Preview text and the attachment flag (src/lib/mime/preview.ts).
 */
import { describe, expect, it } from 'vitest';
import { htmlToText, parseMessage } from '../../../src/lib/mime/index.ts';
import { eml } from './helpers.ts';

const multipart = (...parts: string[][]) =>
  eml('Content-Type: multipart/mixed; boundary=b', '', ...parts.flatMap((p) => ['--b', ...p]), '--b--');

describe('preview', () => {
  it.each<[string, Uint8Array, string]>([
    ['plain text, white space collapsed', eml('', '  Hello\r\n\r\n\tworld  '), 'Hello world'],
    ['quoted-printable UTF-8', eml('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', 'caf=C3=A9 =', 'soft'), 'café soft'],
    ['base64 ISO-8859-1', eml('Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: base64', '', Buffer.from('d\xe9j\xe0 vu', 'latin1').toString('base64')), 'déjà vu'],
    ['an unknown charset falls back to latin1', eml('Content-Type: text/plain; charset=x-bogus', 'Content-Transfer-Encoding: quoted-printable', '', '=E9t=E9'), 'été'],
    ['us-ascii holding UTF-8 reads as UTF-8', eml('', 'Gr\u00fc\u00dfe'), 'Grüße'],
    ['the first text/plain of an alternative', eml('Content-Type: multipart/alternative; boundary=a', '', '--a', 'Content-Type: text/plain', '', 'the plain', '--a', 'Content-Type: text/html', '', '<p>the html</p>', '--a--'), 'the plain'],
    ['HTML when there is no plain text', eml('Content-Type: text/html', '', '<html><head><title>T</title><style>p{}</style></head><body><!-- c --><p>One&nbsp;&amp;<b>two</b></p><p>three&#8364;&#x20AC;</p><script>x()</script></body></html>'), 'One &two three€€'],
    ['attachments are skipped', multipart(['Content-Disposition: attachment; filename=a.txt', '', 'attached'], ['', 'body']), 'body'],
    ['an empty plain part yields to HTML', eml('Content-Type: multipart/alternative; boundary=a', '', '--a', '', '', '--a', 'Content-Type: text/html', '', '<i>rich</i>', '--a--'), 'rich'],
    ['a forwarded message is read when there is nothing else', eml('Content-Type: message/rfc822', '', 'Subject: inner', '', 'inner body'), 'inner body'],
    ['no text at all', eml('Content-Type: image/png', '', 'xx'), ''],
  ])('%s', (_n, raw, expected) => {
    expect(parseMessage(raw).preview).toBe(expected);
  });

  it('is at most 256 characters and cuts no surrogate pair', () => {
    const p = parseMessage(eml('Content-Type: text/plain; charset=utf-8', '', '😀'.repeat(1000))).preview;
    expect([...p].length).toBe(256);
    expect(p.isWellFormed()).toBe(true);
  });

  it('decodes only a prefix of a huge body', () => {
    const raw = eml('Content-Type: text/plain; charset=utf-8', '', 'é'.repeat(5_000_000));
    const p = parseMessage(raw).preview;
    expect(p).toBe('é'.repeat(256));
  });

  it('strips HTML in one linear pass however broken', () => {
    expect(htmlToText('a<b')).toBe('a');
    expect(htmlToText('a<!-- never closed')).toBe('a');
    expect(htmlToText('x<style>never closed')).toBe('x');
    const hostile = '<!--'.repeat(50_000) + '<style'.repeat(50_000) + '<'.repeat(50_000);
    expect(htmlToText(hostile)).toBe('');
  });
});

describe('hasAttachment', () => {
  it.each<[string, Uint8Array, boolean]>([
    ['plain text', eml('', 'hi'), false],
    ['alternative text and HTML', eml('Content-Type: multipart/alternative; boundary=a', '', '--a', '', 'x', '--a', 'Content-Type: text/html', '', 'y', '--a--'), false],
    ['Content-Disposition: attachment (RFC 2183 §2.2)', multipart(['', 'body'], ['Content-Disposition: attachment; filename=a.txt', '', 'x']), true],
    ['a PDF without disposition', multipart(['', 'body'], ['Content-Type: application/pdf', '', 'x']), true],
    ['an embedded message', multipart(['', 'body'], ['Content-Type: message/rfc822', '', 'Subject: x', '', 'y']), true],
    ['an inline image of a multipart/related (RFC 2387)', eml('Content-Type: multipart/related; boundary=r', '', '--r', 'Content-Type: text/html', '', '<img src="cid:i">', '--r', 'Content-Type: image/png', 'Content-ID: <i>', '', 'x', '--r--'), false],
    ['a signature of multipart/signed (RFC 1847)', eml('Content-Type: multipart/signed; boundary=s; protocol="application/pgp-signature"', '', '--s', '', 'signed', '--s', 'Content-Type: application/pgp-signature', '', 'sig', '--s--'), false],
    ['a message that is only a PDF', eml('Content-Type: application/pdf', '', 'x'), true],
  ])('%s', (_n, raw, expected) => {
    expect(parseMessage(raw).hasAttachment).toBe(expected);
  });
});
