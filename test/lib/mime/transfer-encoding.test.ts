/**
 * Content-Transfer-Encoding decoding (src/lib/mime/transfer-encoding.ts, RFC 2045 §6).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeBody } from '../../../src/lib/mime/index.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('decodeBody base64 (RFC 2045 §6.8)', () => {
  it.each([
    ['SGVsbG8sIHdvcmxkIQ==', 'Hello, world!'],
    ['SGVs\r\nbG8s\r\nIHdv\r\ncmxk\r\nIQ==\r\n', 'Hello, world!'],
    ['SGVsbG8', 'Hello'], // missing padding
    ['SGVsbG8sIHdvcmxkI', 'Hello, world'], // truncated: the partial quantum is dropped
    ['SGV*sb!G8\u0000', 'Hello'], // garbage outside the alphabet is ignored
    ['SGk=SGk=', 'HiHi'], // separately padded chunks glued together
    ['', ''],
    ['====', ''],
  ])('%j', (input, expected) => {
    expect(dec(decodeBody(enc(input), 'base64'))).toBe(expected);
    expect(dec(decodeBody(enc(input), ' BASE64 '))).toBe(expected);
  });

  it('round-trips with Buffer for any bytes, wrapped at 76 columns', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
        const b64 = Buffer.from(bytes).toString('base64').replace(/.{76}/g, '$&\r\n');
        expect(Buffer.from(decodeBody(enc(b64), 'base64')).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });
});

describe('decodeBody quoted-printable (RFC 2045 §6.7)', () => {
  it.each([
    ['caf=C3=A9', 'café'],
    ['caf=c3=a9', 'café'], // lower-case hex, rule (1) robustness
    ['soft=\r\nbreak', 'softbreak'],
    ['soft= \t\r\nbreak with padding', 'softbreak with padding'],
    ['soft=\nbare LF', 'softbare LF'],
    ['trailing spaces   \r\nare padding', 'trailing spaces\r\nare padding'],
    ['encoded space=20\r\nstays', 'encoded space \r\nstays'],
    ['a=ZZb =\tc', 'a=ZZb =\tc'], // "=" not followed by hex or line end is kept
    ['last line=', 'last line'],
    ['x=3', 'x=3'],
    ['1+1=3D2', '1+1=2'],
  ])('%j', (input, expected) => {
    expect(dec(decodeBody(enc(input), 'quoted-printable'))).toBe(expected);
  });

  it('passes identity encodings through unchanged', () => {
    const raw = enc('=C3 SGk=\r\n');
    for (const e of ['7bit', '8bit', 'binary', 'x-unknown', '']) expect(decodeBody(raw, e)).toBe(raw);
  });

  it('never throws and never grows the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(decodeBody(bytes, 'quoted-printable').length).toBeLessThanOrEqual(bytes.length);
        expect(decodeBody(bytes, 'base64').length).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});
