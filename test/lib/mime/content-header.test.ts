/**
 * Content-Type and Content-Disposition parameters (src/lib/mime/content-header.ts):
 * RFC 2045 §5.1 syntax and RFC 2231 continuations, charsets and languages.
 */
import { describe, expect, it } from 'vitest';
import { filenameOf, parseContentType, parseDisposition, parseEncoding, parseLanguage } from '../../../src/lib/mime/index.ts';

describe('parseContentType', () => {
  it.each<[string, string, string, Record<string, string>]>([
    ['text/plain', 'text', 'plain', {}],
    ['Text/HTML; Charset=UTF-8', 'text', 'html', { charset: 'UTF-8' }],
    ['multipart/mixed; boundary="----=_Part_0_1.2"', 'multipart', 'mixed', { boundary: '----=_Part_0_1.2' }],
    ['text/plain; name="a \\"quoted\\" ; name.txt"', 'text', 'plain', { name: 'a "quoted" ; name.txt' }],
    ['text/plain (comment) ; charset = "utf-8" (another)', 'text', 'plain', { charset: 'utf-8' }],
    ['application/octet-stream; name=report(1).pdf', 'application', 'octet-stream', { name: 'report(1).pdf' }],
    ['text/plain; charset=utf-8; charset=latin1', 'text', 'plain', { charset: 'utf-8' }],
    ['text/plain;; ;charset=utf-8;', 'text', 'plain', { charset: 'utf-8' }],
    ['text/plain; name="unterminated', 'text', 'plain', { name: 'unterminated' }],
    ['text/plain; __proto__=x; constructor=y', 'text', 'plain', { ['__proto__']: 'x', constructor: 'y' }],
    ['text / plain', 'text', 'plain', {}],
    ['text/plain charset=utf-8; format=flowed', 'text', 'plain', { charset: 'utf-8', format: 'flowed' }], // a forgotten ";"

  ])('%j', (value, type, subtype, params) => {
    const ct = parseContentType(value)!;
    expect([ct.type, ct.subtype]).toEqual([type, subtype]);
    expect({ ...ct.params }).toEqual(params);
    expect(Object.keys(ct.params).sort()).toEqual(Object.keys(params).sort());
  });

  it.each(['text', '', 'text/', '/plain', 'te xt/plain', 'text/pl"ain', 'text/plain junk', 'a/b/c'])('rejects %j (RFC 2045 §5.2 default applies)', (value) => {
    expect(parseContentType(value)).toBeNull();
  });
});

describe('RFC 2231 parameters', () => {
  it.each<[string, Record<string, string>]>([
    // RFC 2231 §3 continuations, §4 charset'language'%XX, and both mixed.
    [`attachment; filename*0*=UTF-8''%E2%82%AC; filename*1=.txt`, { filename: '€.txt' }],
    [`attachment; filename*=iso-8859-1'fr'caf%E9.txt`, { filename: 'café.txt' }],
    [`attachment; filename*1="b.txt"; filename*0="a "`, { filename: 'a b.txt' }],
    [`attachment; filename*0*=UTF-8''J%C3; filename*1*=%B6rg`, { filename: 'Jörg' }], // a character split across pieces
    [`attachment; filename="old.txt"; filename*=UTF-8''new%20name.txt`, { filename: 'new name.txt' }],
    [`attachment; filename*=''no%20charset`, { filename: 'no charset' }],
    [`attachment; filename*=no-quotes%41`, { filename: 'no-quotesA' }],
    [`attachment; filename*0*=UTF-8''a; filename*2=c`, { filename: 'ac' }], // a gap: the pieces present, in order
    [`attachment; filename*=x-bogus''%E9t%E9`, { filename: 'été' }], // unknown charset: latin1
    [`attachment; filename*=UTF-8''%ZZ%4`, { filename: '%ZZ%4' }],
  ])('%s', (value, params) => {
    expect({ ...parseDisposition(value)!.params }).toEqual(params);
  });
});

describe('parseDisposition, parseEncoding, parseLanguage, filenameOf', () => {
  it('reads the disposition type case-insensitively (RFC 2183 §2)', () => {
    expect(parseDisposition('INLINE')).toEqual({ type: 'inline', params: {} });
    expect(parseDisposition('attachment filename=x')!.type).toBe('attachment');
    expect(parseDisposition('; filename=x.txt')).toEqual({ type: 'attachment', params: { filename: 'x.txt' } });
    expect(parseDisposition('')).toBeNull();
  });

  it('reads the transfer encoding (RFC 2045 §6.1)', () => {
    expect(parseEncoding(null)).toBe('7bit');
    expect(parseEncoding('')).toBe('7bit');
    expect(parseEncoding(' Base64 (comment)')).toBe('base64');
    expect(parseEncoding('QUOTED-PRINTABLE')).toBe('quoted-printable');
  });

  it('reads Content-Language (RFC 3282 §2)', () => {
    expect(parseLanguage('en, fr-CA (Canadian)')).toEqual(['en', 'fr-CA']);
    expect(parseLanguage(' , ')).toBeNull();
    expect(parseLanguage(null)).toBeNull();
  });

  it('names a part by its filename, else its name, RFC 2047 decoded', () => {
    const p = (ct: string, disp: string | null) => ({ params: parseContentType(ct)!.params, disposition: disp === null ? null : parseDisposition(disp) });
    expect(filenameOf(p('application/pdf; name="=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?="', null))).toBe('résumé.pdf');
    expect(filenameOf(p('application/pdf; name=a.pdf', 'attachment; filename=b.pdf'))).toBe('b.pdf');
    expect(filenameOf(p('application/pdf', 'attachment'))).toBeNull();
  });
});
