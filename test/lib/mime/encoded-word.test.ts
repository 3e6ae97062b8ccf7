/**
 * RFC 2047 encoded words (src/lib/mime/encoded-word.ts): B and Q, any charset TextDecoder
 * knows, adjacent words joined, malformed words left as written.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeEncodedWords } from '../../../src/lib/mime/index.ts';

describe('decodeEncodedWords', () => {
  it.each([
    ['plain text', 'plain text'],
    ['UTF-8 B', '=?UTF-8?B?SsO2cmc=?=', 'Jörg'],
    ['ISO-8859-1 Q with _ for space (RFC 2047 §4.2)', '=?ISO-8859-1?Q?Andr=E9_Dupont?=', 'André Dupont'],
    ['lower-case encoding letter and charset', '=?utf-8?q?caf=c3=a9?=', 'café'],
    ['adjacent words: the white space between is dropped (RFC 2047 §6.2)', '=?UTF-8?Q?a?= =?UTF-8?Q?b?=', 'ab'],
    ['adjacent words across a fold', '=?UTF-8?Q?a?=\r\n =?ISO-8859-1?Q?=E9?=', 'aé'],
    ['text between words keeps its spaces', '=?UTF-8?Q?a?= and =?UTF-8?Q?b?=', 'a and b'],
    ['a word next to text keeps the space', 'Re: =?UTF-8?Q?caf=C3=A9?= now', 'Re: café now'],
    ['a multi-byte character split across two words', '=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=', '€'],
    ['missing base64 padding', '=?UTF-8?B?SsO2cmc?=', 'Jörg'],
    ['RFC 2231 §5 language suffix', '=?UTF-8*en?Q?hello?=', 'hello'],
    ['other charsets (windows-1252, koi8-r, iso-2022-jp)', '=?windows-1252?Q?=80?= =?koi8-r?B?8NLJ18XU?= =?iso-2022-jp?B?GyRCJEgbKEI=?=', '€Приветと'],
    ['an unknown charset is left as written', '=?x-unknown?Q?abc?=', '=?x-unknown?Q?abc?='],
    ['a B word with characters outside base64 is left as written', '=?UTF-8?B?a*b?=', '=?UTF-8?B?a*b?='],
    ['an unknown encoding is left as written', '=?UTF-8?X?abc?=', '=?UTF-8?X?abc?='],
    ['an unterminated word is left as written', '=?UTF-8?Q?abc', '=?UTF-8?Q?abc'],
    ['a malformed word between good ones keeps its spaces', '=?UTF-8?Q?a?= =?bogus?Q?b?= =?UTF-8?Q?c?=', 'a =?bogus?Q?b?= c'],
    ['an empty encoded text', '=?UTF-8?Q??=x', 'x'],
    ['"=" not followed by hex stays in Q', '=?UTF-8?Q?a=ZZb?=', 'a=ZZb'],
  ])('%s', (_name, input, expected = input) => {
    expect(decodeEncodedWords(input)).toBe(expected);
  });

  it('never throws and returns the input when there is no "=?"', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = decodeEncodedWords(s);
        if (!s.includes('=?')) expect(out).toBe(s);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom('=?', '?=', 'utf-8', '?B?', '?Q?', 'SGk=', '=E9', ' ', '_', '?', '=')), (bits) => {
        decodeEncodedWords(bits.join(''));
      }),
    );
  });

  it('is linear on hostile input', () => {
    const s = '=?'.repeat(200_000) + 'x'.repeat(200_000);
    expect(decodeEncodedWords(s)).toBe(s); // no complete encoded word: returned as it is
  });
});
