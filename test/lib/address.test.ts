/**
 * Address and domain normalisation (src/lib/address.ts): what one mailbox name is, so that
 * the directory's one-row-per-address rule (GW-DL-1) cannot be dodged by spelling.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  displayAddress, displayDomain, formatAddress, normaliseAddress, normaliseDomain, normaliseLocalPart, parseAddress, stripSubaddress,
} from '../../src/lib/address.ts';
import { DomainError } from '../../src/core/errors.ts';

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e instanceof DomainError ? e.code : `not a DomainError: ${String(e)}`;
  }
}

describe('normaliseDomain', () => {
  it.each([
    ['example.org', 'example.org'],
    ['Example.ORG', 'example.org'],
    ['example.org.', 'example.org'],
    ['  example.org\t', 'example.org'],
    ['sub.domain.example.co.uk', 'sub.domain.example.co.uk'],
    ['a-b.example', 'a-b.example'],
    ['1.2.3.example', '1.2.3.example'],
    ['Bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.EXAMPLE.', 'xn--bcher-kva.example'],
    ['bu\u0308cher.example', 'xn--bcher-kva.example'], // decomposed ü
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['XN--BCHER-KVA.example', 'xn--bcher-kva.example'],
    ['faß.de', 'xn--fa-hia.de'], // IDNA2008: ß stays ß
    ['例え.テスト', 'xn--r8jz45g.xn--zckzah'],
    ['example\u3002org', 'example.org'], // ideographic full stop is a label separator (UTS 46)
  ])('%j -> %j', (input, want) => {
    expect(normaliseDomain(input)).toBe(want);
  });

  it.each([
    ['', 'empty'],
    ['   ', 'blank'],
    ['localhost', 'single label'],
    ['example', 'single label'],
    ['.example.org', 'empty first label'],
    ['example..org', 'empty middle label'],
    ['example.org..', 'two trailing dots'],
    ['-example.org', 'label starts with a hyphen'],
    ['example-.org', 'label ends with a hyphen'],
    ['exa_mple.org', 'underscore'],
    ['exa mple.org', 'space'],
    ['exa/mple.org', 'slash'],
    ['user@example.org', 'an address, not a domain'],
    ['ex%41mple.org', 'percent-encoding is not a domain'],
    [`${'a'.repeat(64)}.org`, 'label longer than 63'],
    [`${`${'a'.repeat(63)}.`.repeat(4)}org`, 'longer than 253 octets'],
    ['1.2.3.4', 'IPv4 literal'],
    ['0x7f.1', 'IPv4 literal in hex'],
    ['[192.0.2.1]', 'bracketed address literal'],
    ['[IPv6:2001:db8::1]', 'IPv6 address literal'],
    ['example.123', 'numeric top-level label'],
    ['xn--zz.example', 'not a valid A-label'],
    ['xn--.example', 'empty punycode'],
    ['\u200b.org', 'only an ignored character in a label'],
  ])('refuses %j (%s)', (input) => {
    expect(codeOf(() => normaliseDomain(input))).toBe('INVALID_INPUT');
  });

  it('refuses non-strings with INVALID_INPUT', () => {
    expect(codeOf(() => normaliseDomain(undefined as unknown as string))).toBe('INVALID_INPUT');
    expect(codeOf(() => normaliseDomain(42 as unknown as string))).toBe('INVALID_INPUT');
  });

  it.each([
    ['xn--bcher-kva.example', 'bücher.example'],
    ['xn--r8jz45g.xn--zckzah', '例え.テスト'],
    ['example.org', 'example.org'],
  ])('displayDomain(%j) = %j and normalises back', (ascii, unicode) => {
    expect(displayDomain(ascii)).toBe(unicode);
    expect(normaliseDomain(displayDomain(ascii))).toBe(ascii);
  });
});

describe('normaliseLocalPart', () => {
  it.each([
    ['alice', 'alice'],
    ['Alice', 'alice'],
    ['ALICE.SMITH', 'alice.smith'],
    ['first.middle.last', 'first.middle.last'],
    ["o'brien", "o'brien"],
    ['user+tag', 'user+tag'],
    ["!#$%&'*+/=?^_`{|}~-", "!#$%&'*+/=?^_`{|}~-"],
    ['e\u0301', 'é'], // NFC: decomposed e + combining acute equals é
    ['É', 'é'],
    ['E\u0301COLE', 'école'],
    ['Ελένη', 'ελένη'],
    ['用户', '用户'],
    ['a'.repeat(64), 'a'.repeat(64)],
    ['é'.repeat(32), 'é'.repeat(32)], // 64 octets in UTF-8
  ])('%j -> %j', (input, want) => {
    expect(normaliseLocalPart(input)).toBe(want);
  });

  it('treats decomposed and composed forms as the same local part', () => {
    expect(normaliseLocalPart('jose\u0301')).toBe(normaliseLocalPart('josé'));
    expect(normaliseAddress('Jose\u0301@example.org')).toBe(normaliseAddress('josé@EXAMPLE.org'));
  });

  it.each([
    ['', 'empty'],
    ['.alice', 'leading dot'],
    ['alice.', 'trailing dot'],
    ['al..ice', 'double dot'],
    ['al ice', 'space'],
    ['al"ice', 'quote'],
    ['al(ice', 'parenthesis'],
    ['al,ice', 'comma'],
    ['al;ice', 'semicolon'],
    ['al:ice', 'colon'],
    ['al<ice', 'angle bracket'],
    ['al>ice', 'angle bracket'],
    ['al@ice', 'at sign'],
    ['al[ice', 'square bracket'],
    ['al\\ice', 'backslash'],
    ['al\u0000ice', 'NUL'],
    ['al\tice', 'tab'],
    ['al\r\nice', 'CRLF'],
    ['al\u007fice', 'DEL'],
    ['al\u0085ice', 'C1 control'],
    ['al\u00a0ice', 'no-break space'],
    ['al\u2028ice', 'line separator'],
    ['al\u202eice', 'bidi override (spoofing)'],
    ['al\u2066ice', 'bidi isolate'],
    ['al\ud800ice', 'lone surrogate'],
    ['a'.repeat(65), 'longer than 64 octets'],
    ['é'.repeat(33), 'longer than 64 octets in UTF-8'],
  ])('refuses %j (%s)', (input) => {
    expect(codeOf(() => normaliseLocalPart(input))).toBe('INVALID_INPUT');
  });
});

describe('parseAddress / normaliseAddress', () => {
  it.each([
    ['alice@example.org', 'alice', 'example.org'],
    ['<Alice@Example.org>', 'alice', 'example.org'],
    ['  bob@example.org  ', 'bob', 'example.org'],
    [' <bob@example.org> ', 'bob', 'example.org'],
    ['Alice@Bücher.Example.', 'alice', 'xn--bcher-kva.example'],
    ['user+tag@example.org', 'user+tag', 'example.org'],
  ])('%j -> %s @ %s', (input, local, domain) => {
    expect(parseAddress(input)).toEqual({ local, domain });
    expect(normaliseAddress(input)).toBe(`${local}@${domain}`);
    expect(formatAddress(parseAddress(input))).toBe(`${local}@${domain}`);
  });

  it.each([
    ['', 'empty'],
    ['alice', 'no at sign'],
    ['@example.org', 'no local part'],
    ['alice@', 'no domain'],
    ['<>', 'null reverse path'],
    ['<alice@example.org', 'unbalanced bracket'],
    ['Alice <alice@example.org>', 'display name'],
    ['a@b@example.org', 'two at signs'],
    ['alice@localhost', 'single-label domain'],
    ['alice@[192.0.2.1]', 'address literal'],
    ['alice@192.0.2.1', 'IP address'],
    ['"al ice"@example.org', 'quoted local part'],
    [`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.org`, 'longer than 254 octets'],
  ])('refuses %j (%s)', (input) => {
    expect(codeOf(() => parseAddress(input))).toBe('INVALID_INPUT');
    expect(codeOf(() => normaliseAddress(input))).toBe('INVALID_INPUT');
  });

  it('accepts an address of exactly 254 octets', () => {
    const a = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.org`;
    expect(Buffer.byteLength(a)).toBe(254);
    expect(normaliseAddress(a)).toBe(a);
  });

  it('displayAddress shows the domain in Unicode and leaves the local part alone', () => {
    expect(displayAddress('alice@xn--bcher-kva.example')).toBe('alice@bücher.example');
    expect(displayAddress('@xn--bcher-kva.example')).toBe('@bücher.example');
    expect(displayAddress('alice@example.org')).toBe('alice@example.org');
  });
});

describe('stripSubaddress (RFC 5233)', () => {
  it.each([
    ['user+tag', 'user'],
    ['user+', 'user'],
    ['user+a+b', 'user'],
    ['first.last+news', 'first.last'],
  ])('%j -> %j', (local, base) => {
    expect(stripSubaddress({ local, domain: 'example.org' })).toEqual({ local: base, domain: 'example.org' });
  });

  it.each(['user', '+tag', ''])('%j has no subaddress', (local) => {
    expect(stripSubaddress({ local, domain: 'example.org' })).toBeNull();
  });

  it('takes another separator', () => {
    expect(stripSubaddress({ local: 'user-tag', domain: 'example.org' }, '-')).toEqual({ local: 'user', domain: 'example.org' });
    expect(stripSubaddress({ local: 'user+tag', domain: 'example.org' }, '-')).toBeNull();
  });
});

describe('properties', () => {
  // Pieces that make plausible addresses, so the property reaches the accepting branch often;
  // the noisy alphabets and free strings then probe the refusing branch.
  const okLocalChar = fc.constantFrom('a', 'B', 'z', '0', '+', '-', '_', 'é', 'E\u0301', 'ß', 'İ', 'Σ', 'ς', '用', "'");
  const badLocalChar = fc.constantFrom('.', ' ', '"', '@', '\u0000', '\u00a0', '\ud800', '\u202e', '<');
  const localPart = fc.array(fc.oneof({ arbitrary: okLocalChar, weight: 12 }, { arbitrary: badLocalChar, weight: 1 }), { minLength: 1, maxLength: 20 })
    .map((a) => a.join(''));
  const okLabelChar = fc.constantFrom('a', 'Z', '0', '1', 'ü', 'u\u0308', 'ß', '例', 'ς');
  const badLabelChar = fc.constantFrom('-', '%', '_', '。', ' ', '\u200b');
  const label = fc.array(fc.oneof({ arbitrary: okLabelChar, weight: 12 }, { arbitrary: badLabelChar, weight: 1 }), { minLength: 1, maxLength: 12 })
    .map((a) => a.join(''));
  const domain = fc.tuple(fc.array(label, { minLength: 1, maxLength: 4 }), fc.constantFrom('org', 'example', 'xn--bcher-kva', 'XN--ZZ', '123'), fc.boolean())
    .map(([ls, tld, dot]) => `${[...ls, tld].join('.')}${dot ? '.' : ''}`);
  const plausible = fc.tuple(localPart, domain, fc.boolean()).map(([l, d, bracket]) => (bracket ? `<${l}@${d}>` : `${l}@${d}`));
  const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
  const inputs = fc.oneof(
    { arbitrary: plausible, weight: 4 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 60 }), weight: 1 },
    { arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }), weight: 1 },
    { arbitrary: anyUnits, weight: 1 },
  );

  function attempt(f: () => string): string | null {
    try {
      return f();
    } catch (e) {
      expect(e).toBeInstanceOf(DomainError);
      expect((e as DomainError).code).toBe('INVALID_INPUT');
      return null;
    }
  }

  it('normaliseAddress is idempotent on what it accepts and throws only INVALID_INPUT', () => {
    let accepted = 0;
    fc.assert(fc.property(inputs, (s) => {
      const n = attempt(() => normaliseAddress(s));
      if (n === null) return;
      accepted++;
      expect(normaliseAddress(n)).toBe(n);
      expect(n.isWellFormed()).toBe(true);
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(254);
      // The display form is another spelling of the same address.
      expect(normaliseAddress(displayAddress(n))).toBe(n);
    }), { numRuns: 3000 });
    expect(accepted).toBeGreaterThan(300); // the property must exercise the accepting branch
  });

  it('normaliseDomain is idempotent on what it accepts and throws only INVALID_INPUT', () => {
    let accepted = 0;
    fc.assert(fc.property(fc.oneof(domain, fc.string({ unit: 'binary', maxLength: 40 })), (s) => {
      const n = attempt(() => normaliseDomain(s));
      if (n === null) return;
      accepted++;
      expect(normaliseDomain(n)).toBe(n);
      expect(n).toMatch(/^[a-z0-9.-]+$/);
      expect(normaliseDomain(displayDomain(n))).toBe(n);
    }), { numRuns: 2000 });
    expect(accepted).toBeGreaterThan(200);
  });
});
