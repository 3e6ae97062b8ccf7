/**
 * The DAV XML layer (src/lib/xml.ts): namespace-aware parsing, the refusal of every DTD
 * (XXE and billion laughs, RFC 4918 §20.6), the limits, well-formedness errors, the writer's
 * prefixes and escaping, and two properties: serialize then parse is the identity on any tree,
 * and no input makes the parser throw anything but an XmlError.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_XML_LIMITS,
  NS,
  XmlError,
  child,
  children,
  deepText,
  el,
  elAttrs,
  parseXml,
  serializeXml,
  XmlWriter,
  escapeText,
  textOf,
  type XmlElement,
  type XmlLimits,
} from '../../src/lib/xml.ts';

function reasonOf(text: string, limits?: Partial<XmlLimits>): string | null {
  try {
    parseXml(text, limits);
    return null;
  } catch (e) {
    return e instanceof XmlError ? e.reason : `not an XmlError: ${String(e)}`;
  }
}

function elem(ns: string, name: string, extra: Partial<XmlElement> = {}): XmlElement {
  return { ns, name, attrs: new Map(), children: [], text: '', ...extra };
}

/** What the writer must turn a string into: every code unit XML 1.0 cannot carry becomes U+FFFD. */
function xmlSafe(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i] + s[i + 1];
      i++;
    } else if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || (c >= 0xd800 && c <= 0xdfff) || c === 0xfffe || c === 0xffff) {
      out += '\uFFFD';
    } else {
      out += s[i];
    }
  }
  return out;
}

describe('parseXml: namespaces', () => {
  it('identity is (namespace, local name): the prefix, or none, makes no difference', () => {
    const forms = [
      '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"/></D:prop></D:propfind>',
      '<propfind xmlns="DAV:"><prop><getetag/><calendar-data xmlns="urn:ietf:params:xml:ns:caldav"/></prop></propfind>',
      '<?xml version="1.0" encoding="utf-8"?>\n<zz:propfind xmlns:zz="DAV:" xmlns:q="urn:ietf:params:xml:ns:caldav">\n<zz:prop><zz:getetag></zz:getetag><q:calendar-data/></zz:prop></zz:propfind>',
    ];
    const [a, b, c] = forms.map((f) => parseXml(f));
    const expected = elem(NS.DAV, 'propfind', {
      children: [elem(NS.DAV, 'prop', { children: [elem(NS.DAV, 'getetag'), elem(NS.CALDAV, 'calendar-data')] })],
    });
    expect(a).toEqual(expected);
    expect(b).toEqual(expected);
    // The third differs only in whitespace text, which is kept as it is.
    expect({ ...c, text: '' }).toEqual({ ...expected, text: '' });
    expect(c.text).toBe('\n');
  });

  it('an element with no prefix and no default namespace is in no namespace; a default can be undone with xmlns=""', () => {
    expect(parseXml('<a/>').ns).toBe('');
    const root = parseXml('<a xmlns="DAV:"><b xmlns=""><c/></b></a>');
    expect(root.ns).toBe(NS.DAV);
    expect(root.children[0].ns).toBe('');
    expect(root.children[0].children[0].ns).toBe('');
  });

  it('attributes: "{ns}local" keys, no default namespace for unprefixed ones, xml: predeclared, xmlns declarations left out', () => {
    const root = parseXml('<C:comp xmlns="urn:default" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:x="urn:x" name="VEVENT" x:flag="1" xml:lang="de"/>');
    expect([...root.attrs]).toEqual([
      ['name', 'VEVENT'],
      ['{urn:x}flag', '1'],
      ['{http://www.w3.org/XML/1998/namespace}lang', 'de'],
    ]);
  });

  it('the same expanded attribute name twice is a duplicate, whatever the prefixes', () => {
    expect(reasonOf('<a xmlns:p="urn:x" xmlns:q="urn:x" p:b="1" q:b="2"/>')).toBe('not-well-formed');
    expect(parseXml('<a xmlns:p="urn:x" b="1" p:b="2"/>').attrs.size).toBe(2);
  });
});

describe('parseXml: character data', () => {
  it('text is the character data directly inside, CDATA and references decoded, whitespace kept', () => {
    const root = parseXml('<a> x &amp; &lt;&gt;&quot;&apos; &#233;&#x1F600; <b>inner</b><![CDATA[<not> &amp; markup]]> <!-- c --></a>');
    expect(root.text).toBe(' x & <>"\' é😀 <not> &amp; markup ');
    expect(child(root, '', 'b')?.text).toBe('inner');
  });

  it('line ends are normalised to LF (XML 1.0 §2.11) unless written as references', () => {
    expect(parseXml('<a>1\r\n2\r3</a>').text).toBe('1\n2\n3');
    expect(parseXml('<a>1&#13;&#10;2</a>').text).toBe('1\r\n2');
  });

  it('textOf trims XML whitespace only; deepText adds the descendants\' text', () => {
    const root = parseXml('<a>\r\n\t x\u00a0 \n<b> y <c>z</c></b></a>');
    expect(textOf(root)).toBe('x\u00a0');
    expect(deepText(root)).toBe('\n\t x\u00a0 \n y z');
    expect(textOf(parseXml('<a>   </a>'))).toBe('');
  });

  it('a leading BOM, the XML declaration, comments and processing instructions are accepted and ignored', () => {
    const root = parseXml('\uFEFF<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<!-- before --><?app before?>\n<a><?app inside?>x<!-- inside -->y</a>\n<!-- after --><?app after?>\n');
    expect(root).toEqual(elem('', 'a', { text: 'xy' }));
  });
});

describe('parseXml: helpers', () => {
  it('child finds the first match, children all of them, by namespace and name', () => {
    const root = parseXml('<d:prop xmlns:d="DAV:" xmlns:x="urn:x"><d:href>1</d:href><x:href>2</x:href><d:href>3</d:href></d:prop>');
    expect(child(root, NS.DAV, 'href')?.text).toBe('1');
    expect(child(root, 'urn:x', 'href')?.text).toBe('2');
    expect(child(root, NS.DAV, 'missing')).toBeUndefined();
    expect(children(root, NS.DAV, 'href').map((e) => e.text)).toEqual(['1', '3']);
    expect(children(root, '', 'href')).toEqual([]);
  });
});

describe('parseXml: no DTD, ever (RFC 4918 §20.6)', () => {
  it('XXE: an external entity is refused before anything is read', () => {
    const xxe = '<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>';
    expect(reasonOf(xxe)).toBe('doctype');
  });

  it('billion laughs: nested internal entities are refused', () => {
    const defs = ['<!ENTITY lol "lol">'];
    for (let i = 1; i <= 9; i++) defs.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
    const bomb = `<?xml version="1.0"?>\n<!DOCTYPE lolz [\n${defs.join('\n')}\n]>\n<lolz>&lol9;</lolz>`;
    expect(reasonOf(bomb)).toBe('doctype');
  });

  it.each([
    ['bare', '<!DOCTYPE a><a/>'],
    ['after a comment and a PI', '<!-- c --><?pi x?>\n<!DOCTYPE a SYSTEM "http://evil.example/a.dtd"><a/>'],
    ['after a BOM', '\uFEFF<!DOCTYPE a><a/>'],
    ['in lower case', '<!doctype a><a/>'],
    ['unterminated', '<!DOCTYPE a [<!ENTITY x "'],
  ])('a DOCTYPE %s is refused as doctype', (_label, text) => {
    expect(reasonOf(text)).toBe('doctype');
  });

  it('"<!DOCTYPE" as text (CDATA, a comment) is fine, and as markup inside the root is not well-formed', () => {
    expect(parseXml('<a><![CDATA[<!DOCTYPE a>]]><!-- <!DOCTYPE b> --></a>').text).toBe('<!DOCTYPE a>');
    expect(reasonOf('<a><!DOCTYPE a></a>')).toBe('not-well-formed');
  });

  it('only the five predefined entities exist', () => {
    expect(reasonOf('<a>&foo;</a>')).toBe('not-well-formed');
    expect(reasonOf('<a b="&foo;"/>')).toBe('not-well-formed');
    expect(reasonOf('<a>&nbsp;</a>')).toBe('not-well-formed');
    // Names an object prototype would answer for.
    expect(reasonOf('<a>&constructor;</a>')).toBe('not-well-formed');
    expect(reasonOf('<a>&__proto__;</a>')).toBe('not-well-formed');
  });
});

describe('parseXml: well-formedness', () => {
  it.each([
    ['empty document', ''],
    ['whitespace only', ' \n\t'],
    ['declaration only', '<?xml version="1.0"?>'],
    ['mismatched tags', '<a><b></a></b>'],
    ['unclosed tag', '<a><b></b>'],
    ['close without open', '<a></a></b>'],
    ['undeclared element prefix', '<x:a/>'],
    ['undeclared attribute prefix', '<a x:b="1"/>'],
    ['text after the root', '<a/>x'],
    ['text before the root', 'x<a/>'],
    ['two roots', '<a/><b/>'],
    ['"]]>" in text', '<a>]]></a>'],
    ['"<" in an attribute value', '<a b="<"/>'],
    ['unquoted attribute', '<a b=1/>'],
    ['attribute without value', '<a b/>'],
    ['duplicate attribute', '<a b="1" b="2"/>'],
    ['undeclaring a prefix (XML 1.0)', '<a xmlns:p="urn:x"><p:b xmlns:p=""/></a>'],
    ['xmlns as an element prefix', '<xmlns:a/>'],
    ['XML declaration not at the start', ' <?xml version="1.0"?><a/>'],
    ['raw control character', '<a>\u0001</a>'],
    ['control character reference', '<a>&#1;</a>'],
    ['control character reference under version="1.1"', '<?xml version="1.1"?><a>&#x1;</a>'],
    ['reference to a surrogate', '<a>&#xD800;</a>'],
    ['unterminated reference', '<a>&amp</a>'],
    ['unterminated comment', '<a/><!-- x'],
    ['unterminated CDATA', '<a><![CDATA[x</a>'],
    ['truncated tag', '<a><b'],
  ])('%s is not-well-formed', (_label, text) => {
    expect(reasonOf(text)).toBe('not-well-formed');
  });
});

describe('parseXml: limits', () => {
  const nested = (depth: number, inner = ''): string => '<a>'.repeat(depth) + inner + '</a>'.repeat(depth);

  it('defaults are 1 MiB, depth 64, 100000 elements, 64 attributes, 1 MiB of text', () => {
    expect(DEFAULT_XML_LIMITS).toEqual({ maxBytes: 1 << 20, maxDepth: 64, maxElements: 100_000, maxAttributes: 64, maxTextBytes: 1 << 20 });
  });

  it('depth: 64 is accepted, 65 and 70 are too-deep', () => {
    expect(deepText(parseXml(nested(64, 'x')))).toBe('x');
    expect(reasonOf(nested(65))).toBe('too-deep');
    expect(reasonOf(nested(70))).toBe('too-deep');
    expect(reasonOf(nested(5), { maxDepth: 4 })).toBe('too-deep');
  });

  it('size: a 2 MiB document is too-large, and the limit counts UTF-8 bytes, not UTF-16 units', () => {
    expect(reasonOf(`<a>${'x'.repeat(2 << 20)}</a>`)).toBe('too-large');
    const eAcute = `<a>${'é'.repeat(600_000)}</a>`; // 600k units, 1.2 MB of UTF-8
    expect(eAcute.length).toBeLessThan(1 << 20);
    expect(reasonOf(eAcute)).toBe('too-large');
    expect(reasonOf('<a>xxxx</a>', { maxBytes: 10 })).toBe('too-large');
    expect(reasonOf('<a>xxx</a>', { maxBytes: 10 })).toBeNull();
  });

  it('text: all character data counts, CDATA included; markup does not', () => {
    expect(reasonOf('<a><b>12345</b><![CDATA[67890]]></a>', { maxTextBytes: 10 })).toBeNull();
    expect(reasonOf('<a><b>12345</b><![CDATA[678901]]></a>', { maxTextBytes: 10 })).toBe('too-large');
    expect(reasonOf('<a>ééééé&#233;</a>', { maxTextBytes: 11 })).toBe('too-large');
  });

  it('elements: the limit counts every element in the document', () => {
    const flat = (n: number): string => `<r>${'<e/>'.repeat(n - 1)}</r>`;
    expect(parseXml(flat(100_000)).children).toHaveLength(99_999);
    expect(reasonOf(flat(100_001))).toBe('too-many-elements');
    expect(reasonOf(flat(11), { maxElements: 10 })).toBe('too-many-elements');
  });

  it('attributes: 64 per element are accepted, 65 are not, namespace declarations included', () => {
    const attrs = (n: number): string => Array.from({ length: n }, (_, i) => ` a${i}="${i}"`).join('');
    expect(parseXml(`<r${attrs(64)}/>`).attrs.size).toBe(64);
    expect(reasonOf(`<r${attrs(65)}/>`)).toBe('too-many-attributes');
    expect(reasonOf(`<r xmlns="DAV:"${attrs(64)}/>`)).toBe('too-many-attributes');
    // Per element, not per document.
    expect(parseXml(`<r${attrs(64)}><c${attrs(64)}/></r>`).children[0].attrs.size).toBe(64);
  });

  it('parsing stops at the first violation: a later error is never reached', () => {
    expect(reasonOf(`${'<a>'.repeat(65)}</b>`)).toBe('too-deep');
    expect(reasonOf(`<r>${'<e/>'.repeat(20)}</wrong>`, { maxElements: 10 })).toBe('too-many-elements');
    expect(reasonOf(`<r>${'<e/>'.repeat(20)}</wrong>`, { maxElements: 100 })).toBe('not-well-formed');
  });

  it('is linear: inputs at the limits parse quickly', () => {
    const inputs = [
      `<r>${'<e/>'.repeat(99_999)}</r>`,
      `<r>${'&amp;'.repeat(200_000)}</r>`,
      `<r><![CDATA[${']'.repeat(1_000_000)}]]></r>`,
      `<r>${'<e a="&lt;&#x10000;"></e>'.repeat(40_000)}</r>`,
      `<r>${'<!---->'.repeat(140_000)}</r>`,
      `<r>${' '.repeat(1_000_000)}x</r>`,
    ];
    for (const text of inputs) {
      const start = performance.now();
      const root = parseXml(text);
      // A generous bound for a loaded machine; a quadratic pass over 1 MiB takes minutes.
      expect(performance.now() - start).toBeLessThan(5_000);
      expect(textOf(root).length).toBeLessThanOrEqual(1 << 20);
    }
  });
});

describe('XmlWriter', () => {
  it('writes what serializeXml writes, and markup kept with since() is reused under declare()d namespaces', () => {
    const response = (h: string) => el(NS.DAV, 'response', el(NS.DAV, 'href', h), el(NS.CALDAV, 'calendar-data', 'A & B\r\n'));
    const w = new XmlWriter({ ns: NS.DAV, name: 'multistatus' });
    const m = w.mark();
    w.node(response('/a'));
    const kept = w.since(m)!;
    expect(kept).toBe('<d:response><d:href>/a</d:href><cal:calendar-data>A &amp; B&#13;\n</cal:calendar-data></d:response>');
    w.open(NS.DAV, 'response').leaf(NS.DAV, 'href', '/b').leaf(NS.DAV, 'status', '').close(NS.DAV, 'response');
    expect(w.document()).toBe(serializeXml(el(NS.DAV, 'multistatus', response('/a'), el(NS.DAV, 'response', el(NS.DAV, 'href', '/b'), el(NS.DAV, 'status')))));
    // reused in another document: its namespaces must be declared there
    const w2 = new XmlWriter({ ns: NS.DAV, name: 'multistatus' });
    w2.declare(NS.CALDAV).raw(kept);
    const again = parseXml(w2.document());
    expect(child(child(again, NS.DAV, 'response')!, NS.CALDAV, 'calendar-data')!.text).toBe('A & B\r\n');
    expect(() => w2.declare('urn:mine')).toThrow(TypeError);
  });

  it('since() refuses markup that used a namespace without a well-known prefix (x0 is the document\'s own)', () => {
    const w = new XmlWriter({ ns: NS.DAV, name: 'multistatus' });
    const m = w.mark();
    w.node(el('urn:mine', 'thing', 'x'));
    expect(w.since(m)).toBeNull();
  });

  it('escapeText gives flat strings equal to a plain replacement', () => {
    const s = 'BEGIN:VCALENDAR\r\nSUMMARY:a < b & c > d\r\n'.repeat(50);
    expect(escapeText(s)).toBe(s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;'));
  });
});

describe('serializeXml', () => {
  it('writes the declaration and declares each namespace once, on the root, with the well-known prefixes', () => {
    const doc = el(NS.DAV, 'multistatus',
      el(NS.DAV, 'response',
        el(NS.DAV, 'href', '/dav/calendars/alice/home/'),
        el(NS.DAV, 'propstat',
          el(NS.DAV, 'prop',
            el(NS.CS, 'getctag', 'c1'),
            el(NS.APPLE, 'calendar-color', '#ff0000'),
            el(NS.CARDDAV, 'addressbook-description'),
            el(NS.CALDAV, 'supported-calendar-component-set', elAttrs(NS.CALDAV, 'comp', { name: 'VEVENT' }))),
          el(NS.DAV, 'status', 'HTTP/1.1 200 OK'))));
    expect(serializeXml(doc)).toBe(
      '<?xml version="1.0" encoding="utf-8"?>\n' +
      '<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/" xmlns:ical="http://apple.com/ns/ical/"' +
      ' xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cal="urn:ietf:params:xml:ns:caldav">' +
      '<d:response><d:href>/dav/calendars/alice/home/</d:href><d:propstat><d:prop><cs:getctag>c1</cs:getctag>' +
      '<ical:calendar-color>#ff0000</ical:calendar-color><card:addressbook-description/>' +
      '<cal:supported-calendar-component-set><cal:comp name="VEVENT"/></cal:supported-calendar-component-set>' +
      '</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>');
  });

  it('unknown namespaces get x0, x1... in order of first use, attribute namespaces included', () => {
    const out = serializeXml(el(NS.DAV, 'prop', el('urn:one', 'a'), elAttrs('urn:two', 'b', { '{urn:three}k': 'v', '{urn:one}j': 'w' })));
    expect(out).toBe(
      '<?xml version="1.0" encoding="utf-8"?>\n<d:prop xmlns:d="DAV:" xmlns:x0="urn:one" xmlns:x1="urn:two" xmlns:x2="urn:three">' +
      '<x0:a/><x1:b x2:k="v" x0:j="w"/></d:prop>');
  });

  it('elements in no namespace stay in no namespace: no prefix, and never a default namespace', () => {
    const out = serializeXml(el(NS.DAV, 'prop', el('', 'plain', el('', 'inner')), elAttrs('', 'other', new Map([['k', 'v']]))));
    expect(out).not.toContain('xmlns=');
    const root = parseXml(out);
    expect(root.children.map((c) => c.ns)).toEqual(['', '']);
    expect(root.children[0].children[0]).toEqual(elem('', 'inner'));
    expect(serializeXml(el('', 'root'))).toBe('<?xml version="1.0" encoding="utf-8"?>\n<root/>');
  });

  it('the xml namespace uses its reserved prefix and is not declared', () => {
    const out = serializeXml(elAttrs(NS.DAV, 'displayname', { '{http://www.w3.org/XML/1998/namespace}lang': 'en' }, 'Home'));
    expect(out).toBe('<?xml version="1.0" encoding="utf-8"?>\n<d:displayname xml:lang="en" xmlns:d="DAV:">Home</d:displayname>');
  });

  it('escapes markup characters in text and attributes', () => {
    const out = serializeXml(elAttrs('', 'a', { q: '"<&>\'' }, 'x < y && z > w ]]> "\''));
    expect(out).toBe('<?xml version="1.0" encoding="utf-8"?>\n<a q="&quot;&lt;&amp;&gt;\'">x &lt; y &amp;&amp; z &gt; w ]]&gt; "\'</a>');
  });

  it('keeps CR, LF and TAB through a parser: CRLF of calendar data, whitespace in attributes', () => {
    const ics = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\tfolded\r\nEND:VCALENDAR\r\n';
    const root = parseXml(serializeXml(elAttrs(NS.CALDAV, 'calendar-data', { v: 'a\tb\nc\r\nd' }, ics)));
    expect(root.text).toBe(ics);
    expect(root.attrs.get('v')).toBe('a\tb\nc\r\nd');
  });

  it('never emits a character XML 1.0 cannot carry: each becomes U+FFFD', () => {
    const bad = ['\u0000', '\u0008', '\u000B', '\u000C', '\u000E', '\u001F', '\uD800', '\uDFFF', '\uDC00\uD800', '\uFFFE', '\uFFFF'];
    for (const b of bad) {
      const out = serializeXml(elAttrs('', 'a', { k: `[${b}]` }, `[${b}]`));
      const expected = `[${'\uFFFD'.repeat(b.length)}]`;
      expect(out).toBe(`<?xml version="1.0" encoding="utf-8"?>\n<a k="${expected}">${expected}</a>`);
    }
    // Allowed: astral characters as surrogate pairs, U+FFFD itself, DEL and C1 controls, non-characters below U+FFFE.
    const fine = '😀\uFFFD\u007F\u0085\uFDD0';
    expect(parseXml(serializeXml(el('', 'a', fine))).text).toBe(fine);
  });

  it('el(): strings and numbers are text, arrays are flattened, null/undefined/false are skipped; empty is self-closing', () => {
    const node = el(NS.DAV, 'prop', 'a', 1, [el('', 'x'), [el('', 'y'), null]], undefined, false, 'b');
    expect(node).toEqual({ ns: NS.DAV, name: 'prop', children: [el('', 'x'), el('', 'y')], text: 'a1b' });
    expect(serializeXml(el(NS.DAV, 'prop', ''))).toBe('<?xml version="1.0" encoding="utf-8"?>\n<d:prop xmlns:d="DAV:"/>');
  });

  it.each([
    ['an element name with a space', () => el('', 'a b')],
    ['an element name starting with a digit', () => el(NS.DAV, '1a')],
    ['an element name with a colon', () => el(NS.DAV, 'd:href')],
    ['an empty element name', () => el(NS.DAV, '')],
    ['an attribute name with markup', () => elAttrs('', 'a', { 'b="x" c': '1' })],
    ['an unterminated attribute key', () => elAttrs('', 'a', { '{urn:x': '1' })],
    ['the xmlns namespace', () => elAttrs('', 'a', { '{http://www.w3.org/2000/xmlns/}p': 'urn:x' })],
  ])('refuses %s with a TypeError', (_label, make) => {
    expect(() => serializeXml(el(NS.DAV, 'prop', make()))).toThrow(TypeError);
  });

  it('echoes a parsed element (a dead property from PROPPATCH) as it was received', () => {
    const body = '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://ns.example.com/z/"><D:set><D:prop>' +
      '<Z:Authors Z:kind="list" lang="en"><Z:Author>Jim &amp; Roy</Z:Author><Z:Author><![CDATA[<Roy>]]></Z:Author><plain/></Z:Authors>' +
      '</D:prop></D:set></D:propertyupdate>';
    const dead = child(child(child(parseXml(body), NS.DAV, 'set')!, NS.DAV, 'prop')!, 'http://ns.example.com/z/', 'Authors')!;
    const out = serializeXml(el(NS.DAV, 'prop', dead));
    expect(out).toBe(
      '<?xml version="1.0" encoding="utf-8"?>\n<d:prop xmlns:d="DAV:" xmlns:x0="http://ns.example.com/z/">' +
      '<x0:Authors x0:kind="list" lang="en"><x0:Author>Jim &amp; Roy</x0:Author><x0:Author>&lt;Roy&gt;</x0:Author><plain/></x0:Authors></d:prop>');
    expect(parseXml(out).children[0]).toEqual(dead);
  });
});

describe('properties', () => {
  // Any UTF-16 unit, lone surrogates and forbidden controls included, besides whole code points.
  const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const anyString = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.string({ unit: anyUnit, maxLength: 12 }),
    fc.string({ unit: fc.constantFrom('<', '>', '&', '"', "'", ']]>', '\r', '\n', '\r\n', '\t', ' ', 'a', '&amp;'), maxLength: 12 }),
  );
  const ns = fc.constantFrom('', NS.DAV, NS.CALDAV, NS.CARDDAV, NS.CS, NS.APPLE, 'urn:x', 'http://example.com/?a=1&b="2"', 'http://www.w3.org/XML/1998/namespace');
  const name = fc.oneof(
    fc.stringMatching(/^[A-Za-z_][A-Za-z0-9._-]{0,8}$/),
    fc.constantFrom('href', 'prop', 'ünïcödé', '日本語', 'a·b', '_\u0300', 'x\u{10000}'),
  );
  const attrs = fc.uniqueArray(fc.tuple(ns, name, anyString), { maxLength: 4, selector: ([n, l]) => (n === '' ? l : `{${n}}${l}`) })
    .map((list) => new Map(list.map(([n, l, v]): [string, string] => [n === '' ? l : `{${n}}${l}`, v])));
  const tree = fc.letrec<{ node: XmlElement }>((tie) => ({
    node: fc.record({
      ns: ns.filter((n) => n !== 'http://www.w3.org/XML/1998/namespace'),
      name,
      attrs,
      children: fc.oneof({ maxDepth: 5, depthIdentifier: 'tree' }, fc.constant<XmlElement[]>([]), fc.array(tie('node'), { maxLength: 4, depthIdentifier: 'tree' })),
      text: anyString,
    }),
  })).node;

  function safe(node: XmlElement): XmlElement {
    return {
      ...node,
      attrs: new Map([...node.attrs].map(([k, v]) => [k, xmlSafe(v)])),
      children: node.children.map(safe),
      text: xmlSafe(node.text),
    };
  }

  it('serialize then parse gives the same tree (forbidden characters as U+FFFD)', () => {
    fc.assert(
      fc.property(tree, (root) => {
        expect(parseXml(serializeXml(root))).toEqual(safe(root));
      }),
      { numRuns: 500 },
    );
  });

  const SAMPLE = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop a="1" C:b=\'&amp;\'>' +
    '<C:calendar-data><![CDATA[x]]>&#xE9;</C:calendar-data><!-- c --><?pi x?></D:prop></D:propfind>';
  const token = fc.constantFrom('<a>', '</a>', '<b:c xmlns:b="urn:b">', '</b:c>', '<a/>', ' x="1"', '>', '<', '/', '=', '"', "'",
    '&amp;', '&#', '&#x', ';', '&', '<![CDATA[', ']]>', '<!--', '-->', '<?', '?>', '<?xml version="1.0"?>', '<!DOCTYPE', '<!ENTITY',
    '[', ']', 'xmlns', ':', 'text', ' ', '\r\n', '\u0000', '\uD800', '\uFFFE', '😀');
  const garbage = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.string({ unit: anyUnit, maxLength: 200 }),
    fc.array(token, { maxLength: 60 }).map((t) => t.join('')),
    // Mutations of a valid body: a cut, an insertion, a deletion.
    fc.tuple(fc.nat(SAMPLE.length), fc.nat(SAMPLE.length), fc.array(token, { maxLength: 3 })).map(([i, j, ins]) =>
      SAMPLE.slice(0, Math.min(i, j)) + ins.join('') + SAMPLE.slice(Math.max(i, j))),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('utf8')),
  );
  const smallLimits = fc.record(
    { maxBytes: fc.integer({ min: 0, max: 300 }), maxDepth: fc.integer({ min: 0, max: 4 }), maxElements: fc.integer({ min: 0, max: 6 }),
      maxAttributes: fc.integer({ min: 0, max: 2 }), maxTextBytes: fc.integer({ min: 0, max: 20 }) },
    { requiredKeys: [] },
  );

  it('on any input, and under any limits, the parser returns a tree or throws an XmlError, nothing else', () => {
    fc.assert(
      fc.property(garbage, fc.option(smallLimits, { nil: undefined }), (text, limits) => {
        try {
          const root = parseXml(text, limits);
          expect(typeof root.name).toBe('string');
        } catch (e) {
          if (!(e instanceof XmlError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
