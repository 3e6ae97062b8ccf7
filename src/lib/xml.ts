/**
 * The XML layer of WebDAV, CalDAV and CardDAV: parsing request bodies (PROPFIND, PROPPATCH,
 * REPORT, MKCOL, LOCK...) into a small namespace-aware tree, and writing response bodies.
 *
 * Invariants:
 * - Parsing refuses any DOCTYPE. WebDAV bodies never need a DTD, and RFC 4918 §20.6 warns
 *   that external entities leak files and nested internal entities ("billion laughs") exhaust
 *   memory, asking servers to have such requests "detected and rejected as early as
 *   possible". With no DTD only the five predefined entities and character references exist,
 *   so XXE and entity expansion cannot happen at all.
 * - Parsing is one linear pass (saxes, XML 1.0 5th edition, namespace-aware) under limits on
 *   input size, depth, element count, attributes per element and total character data; it
 *   stops at the first violation. Every failure is an XmlError whose reason the DAV layer maps
 *   to a status (400, or 413 for the size limits).
 * - Identity is (namespace URI, local name): prefixes never reach the tree.
 * - serializeXml always produces well-formed XML 1.0: names are checked, text and attribute
 *   values are escaped, characters XML 1.0 cannot carry become U+FFFD, and CR, TAB and LF
 *   are written as character references where a parser would otherwise normalise them away.
 *   There is no raw escape hatch, so no caller can make the output malformed.
 * - A parsed XmlElement is an XmlNode: dead properties stored by PROPPATCH serialize as-is.
 */
import { SaxesParser } from 'saxes';

export const NS = {
  DAV: 'DAV:',
  CALDAV: 'urn:ietf:params:xml:ns:caldav',
  CARDDAV: 'urn:ietf:params:xml:ns:carddav',
  CS: 'http://calendarserver.org/ns/',
  APPLE: 'http://apple.com/ns/ical/',
} as const;

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

export type XmlErrorReason =
  | 'not-well-formed'
  | 'doctype'
  | 'too-large'
  | 'too-deep'
  | 'too-many-elements'
  | 'too-many-attributes';

/** A refused XML body. `reason` is stable; the message is for logs, not for clients. */
export class XmlError extends Error {
  readonly reason: XmlErrorReason;

  constructor(reason: XmlErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'XmlError';
    this.reason = reason;
  }
}

export interface XmlLimits {
  /** UTF-8 length of the whole input. */
  maxBytes: number;
  /** Nesting depth; the root element is depth 1. */
  maxDepth: number;
  /** Elements in the whole document. */
  maxElements: number;
  /** Attributes on one element, namespace declarations included (they cost the same). */
  maxAttributes: number;
  /** UTF-8 length of all character data (text and CDATA) inside the root, summed. */
  maxTextBytes: number;
}

export const DEFAULT_XML_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxBytes: 1 << 20,
  maxDepth: 64,
  maxElements: 100_000,
  maxAttributes: 64,
  maxTextBytes: 1 << 20,
});

export interface XmlElement {
  ns: string;
  name: string;
  /** Key '{ns}local' for an attribute in a namespace, 'local' for one in none. */
  attrs: Map<string, string>;
  children: XmlElement[];
  /** Character data directly inside this element (CDATA included), untrimmed. */
  text: string;
}

// ---------------------------------------------------------------------------------------------
// Parsing

function isXmlSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Whether the prolog (what precedes the root: BOM, whitespace, XML declaration, PIs, comments)
 * holds a DOCTYPE. Checked before parsing so a DTD is refused before a byte of it is read;
 * a "<!DOCTYPE" anywhere later is markup saxes refuses as not well-formed anyway.
 */
function prologHasDoctype(s: string): boolean {
  let i = s.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    while (i < s.length && isXmlSpace(s.charCodeAt(i))) i++;
    let close: string;
    if (s.startsWith('<?', i)) close = '?>';
    else if (s.startsWith('<!--', i)) close = '-->';
    else return s.slice(i, i + 9).toUpperCase() === '<!DOCTYPE';
    const end = s.indexOf(close, i + close.length);
    if (end < 0) return false; // unterminated: saxes reports it
    i = end + close.length;
  }
}

/**
 * Parses one XML document into its root element. Comments and processing instructions are
 * ignored (XML lets a processor pass PIs to an application; DAV defines none). An encoding
 * named in the XML declaration is ignored: the HTTP layer has already decoded the body.
 */
export function parseXml(text: string, limits: Partial<XmlLimits> = {}): XmlElement {
  const lim: XmlLimits = { ...DEFAULT_XML_LIMITS, ...limits };
  // UTF-8 takes at least one byte per UTF-16 unit, so the first test is a safe shortcut.
  if (text.length > lim.maxBytes || Buffer.byteLength(text, 'utf8') > lim.maxBytes) {
    throw new XmlError('too-large', `XML body exceeds ${lim.maxBytes} bytes`);
  }
  if (prologHasDoctype(text)) throw new XmlError('doctype', 'DOCTYPE is not allowed');

  // XML 1.0 forced: a version="1.1" declaration must not re-admit control characters.
  const parser = new SaxesParser({ xmlns: true, forceXMLVersion: true, defaultXMLVersion: '1.0', position: false });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  let attributes = 0;
  let textBytes = 0;

  parser.on('error', (e) => {
    throw new XmlError('not-well-formed', e.message);
  });
  // Unreachable after prologHasDoctype; kept so a DTD can never slip through a gap there.
  parser.on('doctype', () => {
    throw new XmlError('doctype', 'DOCTYPE is not allowed');
  });
  parser.on('opentagstart', () => {
    if (stack.length >= lim.maxDepth) throw new XmlError('too-deep', `XML nested deeper than ${lim.maxDepth}`);
    if (++elements > lim.maxElements) {
      throw new XmlError('too-many-elements', `XML has more than ${lim.maxElements} elements`);
    }
    attributes = 0;
  });
  parser.on('attribute', () => {
    if (++attributes > lim.maxAttributes) {
      throw new XmlError('too-many-attributes', `XML element has more than ${lim.maxAttributes} attributes`);
    }
  });
  parser.on('opentag', (tag) => {
    const attrs = new Map<string, string>();
    for (const a of Object.values(tag.attributes)) {
      if (a.uri === XMLNS_NS) continue; // a namespace declaration, not an attribute
      attrs.set(a.uri === '' ? a.local : `{${a.uri}}${a.local}`, a.value);
    }
    const el: XmlElement = { ns: tag.uri, name: tag.local, attrs, children: [], text: '' };
    const parent = stack.at(-1);
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (t: string): void => {
    const parent = stack.at(-1);
    if (!parent) return; // whitespace around the root (anything else is an error in saxes)
    textBytes += Buffer.byteLength(t, 'utf8');
    if (textBytes > lim.maxTextBytes) {
      throw new XmlError('too-large', `XML character data exceeds ${lim.maxTextBytes} bytes`);
    }
    parent.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);

  try {
    parser.write(text).close();
  } catch (e) {
    if (e instanceof XmlError) throw e;
    throw new XmlError('not-well-formed', `XML parser failed: ${String(e)}`, { cause: e });
  }
  if (!root) throw new XmlError('not-well-formed', 'document must contain a root element');
  return root;
}

/** The first child element (ns, name), if any. */
export function child(el: XmlElement, ns: string, name: string): XmlElement | undefined {
  return el.children.find((c) => c.ns === ns && c.name === name);
}

/** All child elements (ns, name), in document order. */
export function children(el: XmlElement, ns: string, name: string): XmlElement[] {
  return el.children.filter((c) => c.ns === ns && c.name === name);
}

/** The element's own text with XML whitespace (space, TAB, CR, LF) trimmed at both ends. */
export function textOf(el: XmlElement): string {
  const s = el.text;
  let a = 0;
  let b = s.length;
  // Loops, not /\s+$/: that regex is quadratic on long runs of inner whitespace.
  while (a < b && isXmlSpace(s.charCodeAt(a))) a++;
  while (b > a && isXmlSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/**
 * The text of the element and all its descendants, untrimmed: own text first, then each child
 * in order. Mixed content is not interleaved as in the source (the tree keeps no positions);
 * DAV defines no mixed content.
 */
export function deepText(el: XmlElement): string {
  let out = el.text;
  for (const c of el.children) out += deepText(c);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Serialization

export type XmlAttrs = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** A node to serialize. Attribute keys as in XmlElement: '{ns}local' or 'local'. */
export interface XmlNode {
  readonly ns: string;
  readonly name: string;
  readonly attrs?: XmlAttrs;
  readonly children?: readonly XmlNode[];
  /** Written before the children: DAV has no mixed content. */
  readonly text?: string;
  /**
   * Text already escaped by escapeText, written as it is (instead of `text`): for large
   * content sent again and again (calendar data), escaped once and kept.
   */
  readonly escaped?: string;
}

/** What el() accepts as content: nodes, text (strings and numbers), nested arrays; null, undefined and false are skipped. */
export type XmlContent = XmlNode | string | number | null | undefined | false | readonly XmlContent[];

function collect(content: readonly XmlContent[], nodes: XmlNode[], text: string[]): void {
  for (const c of content) {
    if (c === null || c === undefined || c === false) continue;
    if (typeof c === 'string') text.push(c);
    else if (typeof c === 'number') text.push(String(c));
    else if (Array.isArray(c)) collect(c, nodes, text);
    else nodes.push(c as XmlNode);
  }
}

/** An element: `el(NS.DAV, 'response', el(NS.DAV, 'href', url), ...propstats)`. */
export function el(ns: string, name: string, ...content: XmlContent[]): XmlNode {
  const children: XmlNode[] = [];
  const text: string[] = [];
  collect(content, children, text);
  return { ns, name, children, text: text.join('') };
}

/** An element with attributes: `elAttrs(NS.CALDAV, 'comp', { name: 'VEVENT' })`. */
export function elAttrs(ns: string, name: string, attrs: XmlAttrs, ...content: XmlContent[]): XmlNode {
  return { ...el(ns, name, ...content), attrs };
}

const WELL_KNOWN_PREFIXES: ReadonlyMap<string, string> = new Map([
  [NS.DAV, 'd'],
  [NS.CALDAV, 'cal'],
  [NS.CARDDAV, 'card'],
  [NS.CS, 'cs'],
  [NS.APPLE, 'ical'],
]);

// XML 1.0 5th edition NameStartChar and NameChar, without ':' (Namespaces in XML: NCName).
const NAME_START = 'A-Z_a-z\\xC0-\\xD6\\xD8-\\xF6\\xF8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NCNAME = new RegExp(`^[${NAME_START}][${NAME_START}\\-.0-9\\xB7\\u0300-\\u036F\\u203F\\u2040]*$`, 'u');

// Without the u flag, so that lone surrogates are matched as code units.
const BAD_CHARS = '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\uFFFE\\uFFFF]|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';
const TEXT_ESCAPE = new RegExp(`[&<>\\r]|${BAD_CHARS}`, 'g');
const ATTR_ESCAPE = new RegExp(`[&<>"\\t\\n\\r]|${BAD_CHARS}`, 'g');
const ENTITY: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;', // always, so "]]>" can never appear in text
  '"': '&quot;',
  // As references, or a parser would turn CR/CRLF into LF (XML 1.0 §2.11) and, in attribute
  // values, TAB and LF into spaces (§3.3.3). iCalendar and vCard data keep their CRLF.
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};
const replaceChar = (c: string): string => ENTITY[c] ?? '\uFFFD';

/** Characters XML cannot carry (replaced by U+FFFD); rare, so tested for before the full pass. */
const UNCARRIABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
const TEXT_COMMON_TEST = /[&<>\r]/;

export function escapeText(s: string): string {
  // The common case (calendar data: CRLF, ASCII or well-formed UTF-16) with a simpler pattern;
  // the full one, with its surrogate look-arounds, only when something needs it.
  if (UNCARRIABLE.test(s)) return s.replace(TEXT_ESCAPE, replaceChar);
  // Native passes, no callback per character (calendar data has a CR on every line).
  if (!TEXT_COMMON_TEST.test(s)) return s;
  return flat(s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('\r', '&#13;'));
}

/**
 * The string with its pieces joined in memory. replaceAll answers with a tree of pieces
 * (a rope), which every later copy (join, send) walks again: four times slower than a flat
 * string. Converting to a number flattens a string in place in V8; the number is dropped.
 */
function flat(s: string): string {
  void Number(s);
  return s;
}

export function escapeAttr(s: string): string {
  return s.replace(ATTR_ESCAPE, replaceChar);
}

/** Namespace URI -> prefix, filled in the order namespaces are first met; `unknown` numbers the x0, x1... ones. */
interface Prefixes {
  readonly map: Map<string, string>;
  unknown: number;
}

/** Names that passed the NCName test: the same few are written again and again. Bounded. */
const GOOD_NAMES = new Set<string>();

function qname(prefixes: Prefixes, ns: string, local: string): string {
  if (!GOOD_NAMES.has(local)) {
    if (!NCNAME.test(local)) throw new TypeError(`not an XML name: ${JSON.stringify(local)}`);
    if (GOOD_NAMES.size >= 2048) GOOD_NAMES.clear();
    GOOD_NAMES.add(local);
  }
  if (ns === '') return local;
  if (ns === XML_NS) return `xml:${local}`;
  if (ns === XMLNS_NS) throw new TypeError('the xmlns namespace cannot be used for elements or attributes');
  let prefix = prefixes.map.get(ns);
  if (prefix === undefined) {
    prefix = WELL_KNOWN_PREFIXES.get(ns) ?? `x${prefixes.unknown++}`;
    prefixes.map.set(ns, prefix);
  }
  return `${prefix}:${local}`;
}

function attrEntries(attrs: XmlAttrs): Iterable<[string, string]> {
  return attrs instanceof Map ? attrs.entries() : Object.entries(attrs);
}

function writeAttrs(prefixes: Prefixes, attrs: XmlAttrs | undefined): string {
  if (!attrs) return '';
  let out = '';
  for (const [key, value] of attrEntries(attrs)) {
    let ns = '';
    let local = key;
    if (key.startsWith('{')) {
      const close = key.indexOf('}');
      if (close < 0) throw new TypeError(`bad attribute key: ${JSON.stringify(key)}`);
      ns = key.slice(1, close);
      local = key.slice(close + 1);
    }
    out += ` ${qname(prefixes, ns, local)}="${escapeAttr(value)}"`;
  }
  return out;
}

// The document is written as pieces into one array and joined once: a string grown by += is
// a tree of thousands of pieces, and flattening it when it is sent costs more than writing it.
function writeContent(prefixes: Prefixes, node: XmlNode, out: string[]): void {
  if (node.text) out.push(escapeText(node.text));
  else if (node.escaped) out.push(node.escaped);
  const kids = node.children;
  if (kids) for (let i = 0; i < kids.length; i++) writeElement(prefixes, kids[i], out);
}

const isEmpty = (node: XmlNode) => !node.text && !node.escaped && !node.children?.length;

/** Tags of an element without attributes, in a well-known namespace: the same few are written thousands of times. */
interface Tags {
  open: string;
  close: string;
  empty: string;
}
const WELL_KNOWN_TAGS = new Map<string, Map<string, Tags>>();

function tagsOf(prefixes: Prefixes, node: XmlNode): Tags | undefined {
  const prefix = WELL_KNOWN_PREFIXES.get(node.ns);
  if (prefix === undefined) return undefined;
  let byName = WELL_KNOWN_TAGS.get(node.ns);
  if (!byName) WELL_KNOWN_TAGS.set(node.ns, byName = new Map());
  let tags = byName.get(node.name);
  if (!tags) {
    const name = qname(prefixes, node.ns, node.name); // checks the name
    tags = { open: `<${name}>`, close: `</${name}>`, empty: `<${name}/>` };
    if (byName.size < 512) byName.set(node.name, tags);
  }
  if (!prefixes.map.has(node.ns)) prefixes.map.set(node.ns, prefix);
  return tags;
}

function writeElement(prefixes: Prefixes, node: XmlNode, out: string[]): void {
  const tags = node.attrs ? undefined : tagsOf(prefixes, node);
  if (tags) {
    if (isEmpty(node)) { out.push(tags.empty); return; }
    out.push(tags.open);
    writeContent(prefixes, node, out);
    out.push(tags.close);
    return;
  }
  const name = qname(prefixes, node.ns, node.name);
  const attrs = writeAttrs(prefixes, node.attrs);
  if (isEmpty(node)) { out.push(`<${name}${attrs}/>`); return; }
  out.push(`<${name}${attrs}>`);
  writeContent(prefixes, node, out);
  out.push(`</${name}>`);
}

/**
 * Writes a document piece by piece, for answers too large to build as one tree first: elements
 * as trees (node) or as open / text / close calls, then document() wraps them in the root.
 * The same output rules as serializeXml, which is a writer with one tree.
 */
export class XmlWriter {
  readonly #prefixes: Prefixes = { map: new Map(), unknown: 0 };
  readonly #out: string[] = [''];
  readonly #root: string;
  readonly #rootAttrs: string;

  /** The root element, written around everything else by document(). */
  constructor(root: { ns: string; name: string; attrs?: XmlAttrs }) {
    this.#root = qname(this.#prefixes, root.ns, root.name);
    this.#rootAttrs = writeAttrs(this.#prefixes, root.attrs);
  }

  /** What is inside a node (its text, or escaped text, then its children), without the node itself. */
  content(node: XmlNode): this {
    writeContent(this.#prefixes, node, this.#out);
    return this;
  }

  /** An element and everything in it. */
  node(node: XmlNode): this {
    writeElement(this.#prefixes, node, this.#out);
    return this;
  }

  open(ns: string, name: string): this {
    this.#out.push(this.#tags(ns, name).open);
    return this;
  }

  close(ns: string, name: string): this {
    this.#out.push(this.#tags(ns, name).close);
    return this;
  }

  /** An element holding only text (empty text: an empty element). */
  leaf(ns: string, name: string, text: string): this {
    const tags = this.#tags(ns, name);
    if (text === '') this.#out.push(tags.empty);
    else this.#out.push(tags.open, escapeText(text), tags.close);
    return this;
  }

  /** Text already escaped (escapeText), or markup made by this writer before (since). */
  raw(escaped: string): this {
    this.#out.push(escaped);
    return this;
  }

  /**
   * Declares a well-known namespace on the root as if an element in it had been written, for
   * raw markup that uses its prefix. Throws for a namespace without a well-known prefix (its
   * prefix would depend on the document).
   */
  declare(ns: string): this {
    const prefix = WELL_KNOWN_PREFIXES.get(ns);
    if (prefix === undefined) throw new TypeError(`${ns} has no well-known prefix`);
    if (!this.#prefixes.map.has(ns)) this.#prefixes.map.set(ns, prefix);
    return this;
  }

  /** A position in the output, for since(). */
  mark(): number {
    return this.#out.length;
  }

  /**
   * What was written since the mark, as one string (it stays written), or null when that used a
   * namespace without a well-known prefix, whose prefix is this document's own.
   */
  since(mark: number): string | null {
    if (this.#prefixes.unknown > 0) return null;
    return this.#out.slice(mark).join('');
  }

  #tags(ns: string, name: string): Tags {
    return tagsOf(this.#prefixes, { ns, name }) ?? plainTags(this.#prefixes, ns, name);
  }

  /**
   * The document: XML declaration, the root, what was written inside it, with every namespace
   * used anywhere declared once on the root (d, cal, card, cs, ical for the well-known ones,
   * x0, x1... for others). Elements in no namespace (ns '') are unprefixed, and no default
   * namespace is ever declared, so they really are in no namespace.
   */
  document(): string {
    const out = this.#out;
    const name = this.#root;
    const attrs = this.#rootAttrs;
    const empty = out.length === 1;
    if (!empty) out.push(`</${name}>`);
    let decls = '';
    for (const [uri, prefix] of this.#prefixes.map) decls += ` xmlns:${prefix}="${escapeAttr(uri)}"`;
    out[0] = `<?xml version="1.0" encoding="utf-8"?>\n<${name}${attrs}${decls}${empty ? '/>' : '>'}`;
    return out.join('');
  }
}

function plainTags(prefixes: Prefixes, ns: string, local: string): Tags {
  const name = qname(prefixes, ns, local);
  return { open: `<${name}>`, close: `</${name}>`, empty: `<${name}/>` };
}

/**
 * The document: XML declaration, then the tree (XmlWriter.document). Throws TypeError for a
 * name that is not an NCName.
 */
export function serializeXml(root: XmlNode): string {
  return new XmlWriter(root).content(root).document();
}
