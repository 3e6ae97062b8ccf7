/**
 * Address lists (src/lib/mime/address-list.ts): RFC 5322 §3.4 and §4.4, in the shape of
 * RFC 9051 §7.5.2 address structures.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseAddressList, type Address } from '../../../src/lib/mime/index.ts';

const a = (mailbox: string, host: string, nameRaw: string | null = null, name: string | null = nameRaw): Address => ({ name, nameRaw, mailbox, host });
const start = (phrase: string, name = phrase): Address => ({ name, nameRaw: null, mailbox: phrase, host: null });
const END: Address = { name: null, nameRaw: null, mailbox: null, host: null };

describe('parseAddressList', () => {
  it.each<[string, Address[]]>([
    ['user@example.org', [a('user', 'example.org')]],
    ['John Smith <john@example.org>', [a('john', 'example.org', 'John Smith')]],
    ['"Smith, John" <john@example.org>, jane@example.org', [a('john', 'example.org', 'Smith, John'), a('jane', 'example.org')]],
    ['"quoted \\"inner\\"" <q@x.y>', [a('q', 'x.y', 'quoted "inner"')]],
    ['John Q. Public <jqp@example.org>', [a('jqp', 'example.org', 'John Q. Public')]], // RFC 5322 §4.1 obs-phrase
    ['=?UTF-8?B?SsO2cmc=?= <j@x.y>', [a('j', 'x.y', '=?UTF-8?B?SsO2cmc=?=', 'Jörg')]],
    ['=?ISO-8859-1?Q?Andr=E9?= =?ISO-8859-1?Q?_D?= <a@x.y>', [a('a', 'x.y', '=?ISO-8859-1?Q?Andr=E9?= =?ISO-8859-1?Q?_D?=', 'André D')]],
    ['"=?UTF-8?Q?caf=C3=A9?=" <c@x.y>', [a('c', 'x.y', '=?UTF-8?Q?caf=C3=A9?=', 'café')]],
    ['john@example.org (John Smith)', [a('john', 'example.org', 'John Smith')]], // the old comment form
    ['<@relay1,@relay2:user@example.org>', [a('user', 'example.org')]], // RFC 5322 §4.4 obs-route
    ['"john doe"@example.org', [a('"john doe"', 'example.org')]],
    ['user @ example . org', [a('user', 'example.org')]], // RFC 5322 §4.4 obs-domain: CFWS around dots
    ['john . doe@x.y (John)', [a('john.doe', 'x.y', 'John')]],
    ['user@[192.0.2.1]', [a('user', '[192.0.2.1]')]],
    ['John Smith john@example.org', [a('john', 'example.org', 'John Smith')]], // brackets forgotten
    ['<>', [a('', '')]],
    ['undisclosed-recipients:;', [start('undisclosed-recipients'), END]],
    ['Team: a@x.y, "B" <b@x.y>; , c@x.y', [start('Team'), a('a', 'x.y'), a('b', 'x.y', 'B'), END, a('c', 'x.y')]],
    ['=?UTF-8?Q?=C3=89quipe?=: a@x.y;', [start('=?UTF-8?Q?=C3=89quipe?=', 'Équipe'), a('a', 'x.y'), END]],
    ['Open group: a@x.y', [start('Open group'), a('a', 'x.y'), END]], // a group left open is closed
    ['just-a-name', [a('just-a-name', '')]],
    ['', []],
    [' , ,, ', []],
    ['a@x.y,, b@x.y', [a('a', 'x.y'), a('b', 'x.y')]],
    // An unterminated quoted string swallows the rest of the field.
    ['"unterminated <u@x.y>', [a('"unterminated <u@x.y>"', '')]],
  ])('%j', (value, expected) => {
    expect(parseAddressList(value)).toEqual(expected);
  });

  it('never throws, and markers pair up', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', '@', 'b.c', ',', ';', ':', '<', '>', '"', '(', ')', '\\', ' ', '=?utf-8?q?x?=', '[', ']')), (bits) => {
        const list = parseAddressList(bits.join(''));
        let open = 0;
        for (const x of list) {
          if (x.host === null && x.mailbox !== null) open++;
          if (x.host === null && x.mailbox === null) open--;
          expect(open === 0 || open === 1).toBe(true);
          if (x.host !== null) expect(x.mailbox).not.toBeNull();
        }
        expect(open).toBe(0);
      }),
    );
  });
});
