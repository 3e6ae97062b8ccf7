/**
 * Address lists (RFC 5322 §3.4, with the obsolete forms of §4.4) parsed into the address
 * structures of IMAP ENVELOPE (RFC 9051 §7.5.2), group syntax included. Tolerant: anything
 * is accepted, nothing throws; what cannot be an address is skipped.
 */
import { decodeEncodedWords } from './encoded-word.ts';
import type { Address } from './types.ts';

type TokenKind = 'atom' | 'quoted' | 'comment' | 'angle' | 'special';

interface Token {
  kind: TokenKind;
  /** atom: as written; quoted/comment: content unescaped; angle: inner text; special: the character. */
  text: string;
  /** White space or a comment came before it. */
  space: boolean;
}

// RFC 5322 §3.2.3 specials, less "." (kept inside atoms so that "john.doe" and the obs-phrase
// "John Q. Public" stay whole) and less the brackets, which open their own tokens.
const SPECIALS = new Set([',', ';', ':', '@', '>', ')']);

function isWs(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  const n = s.length;
  let space = false;
  let i = 0;
  while (i < n) {
    const c = s[i];
    if (isWs(c)) {
      space = true;
      i++;
    } else if (c === '(') {
      // RFC 5322 §3.2.2: comments nest and may hold quoted-pairs.
      let depth = 0;
      let text = '';
      let j = i;
      for (; j < n; j++) {
        const d = s[j];
        if (d === '\\' && j + 1 < n) {
          text += s[++j];
          continue;
        }
        if (d === '(') {
          if (depth++ === 0) continue;
        } else if (d === ')' && --depth === 0) break;
        text += d;
      }
      out.push({ kind: 'comment', text, space });
      space = true;
      i = j + 1;
    } else if (c === '"') {
      // RFC 5322 §3.2.4 quoted-string; an unterminated one runs to the end.
      let text = '';
      let j = i + 1;
      for (; j < n && s[j] !== '"'; j++) {
        if (s[j] === '\\' && j + 1 < n) j++;
        text += s[j];
      }
      out.push({ kind: 'quoted', text, space });
      space = false;
      i = j + 1;
    } else if (c === '<') {
      // RFC 5322 §3.4 angle-addr, kept whole: its route (obs-route) may hold "," and ":".
      let j = i + 1;
      while (j < n && s[j] !== '>') {
        if (s[j] === '"') {
          j++;
          while (j < n && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
        }
        j++;
      }
      out.push({ kind: 'angle', text: s.slice(i + 1, Math.min(j, n)), space });
      space = false;
      i = j + 1;
    } else if (c === '[') {
      // RFC 5322 §3.4.1 domain-literal.
      const j = s.indexOf(']', i);
      const end = j < 0 ? n : j + 1;
      out.push({ kind: 'atom', text: s.slice(i, end), space });
      space = false;
      i = end;
    } else if (SPECIALS.has(c)) {
      out.push({ kind: 'special', text: c, space });
      space = false;
      i++;
    } else {
      let j = i + 1;
      while (j < n && !isWs(s[j]) && !SPECIALS.has(s[j]) && s[j] !== '(' && s[j] !== '"' && s[j] !== '<' && s[j] !== '[') j++;
      out.push({ kind: 'atom', text: s.slice(i, j), space });
      space = false;
      i = j;
    }
  }
  return out;
}

/** Words of a phrase joined as written: one space wherever the source had white space. */
function phraseText(tokens: Token[]): string | null {
  let out = '';
  for (const t of tokens) {
    if (t.kind === 'comment' || t.kind === 'angle') continue;
    if (out.length > 0 && t.space) out += ' ';
    out += t.text;
  }
  return out.length > 0 ? out : null;
}

function quoteLocal(t: Token): string {
  if (t.kind !== 'quoted') return t.text;
  // A quoted local part stays quoted so that the address can be written back unchanged.
  return /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\u0080-\u{10ffff}-]+$/u.test(t.text) && !/^\.|\.\.|\.$/.test(t.text)
    ? t.text
    : `"${t.text.replace(/(["\\])/g, '\\$1')}"`;
}

function named(nameRaw: string | null, mailbox: string, host: string): Address {
  return { name: nameRaw === null ? null : decodeEncodedWords(nameRaw), nameRaw, mailbox, host };
}

/** Parses an addr-spec ("local@domain") held in an angle-addr, dropping an obs-route. */
function parseAngle(inner: string): { mailbox: string; host: string } {
  let s = inner.trim();
  // RFC 5322 §4.4 obs-route: "@a,@b:" before the addr-spec.
  if (s.startsWith('@')) {
    const colon = s.indexOf(':');
    s = colon < 0 ? '' : s.slice(colon + 1);
  }
  const tokens = tokenize(s).filter((t) => t.kind !== 'comment');
  let at = -1;
  for (let i = tokens.length - 1; i >= 0; i--) {
    if (tokens[i].kind === 'special' && tokens[i].text === '@') {
      at = i;
      break;
    }
  }
  const render = (ts: Token[]) => ts.map(quoteLocal).join('');
  if (at < 0) return { mailbox: render(tokens), host: '' };
  return { mailbox: render(tokens.slice(0, at)), host: render(tokens.slice(at + 1)) };
}

function firstComment(tokens: Token[]): string | null {
  for (const t of tokens) {
    if (t.kind === 'comment') {
      const c = t.text.trim();
      if (c.length > 0) return c;
    }
  }
  return null;
}

/** One mailbox (RFC 5322 §3.4): name-addr, addr-spec, or the broken shapes seen in the wild. */
function parseMailbox(seg: Token[]): Address | null {
  const angle = seg.findIndex((t) => t.kind === 'angle');
  if (angle >= 0) {
    const { mailbox, host } = parseAngle(seg[angle].text);
    // "Name <a@b>"; and when there is no phrase, the old "<a@b> (Name)" comment form.
    const nameRaw = phraseText(seg.slice(0, angle)) ?? firstComment(seg);
    return named(nameRaw, mailbox, host);
  }
  const words = seg.filter((t) => t.kind !== 'comment');
  if (words.length === 0) return null;
  let at = -1;
  for (let i = words.length - 1; i >= 0; i--) {
    if (words[i].kind === 'special' && words[i].text === '@') {
      at = i;
      break;
    }
  }
  const end = at < 0 ? words.length : at;
  // The local part is the run of words glued to the "@"; words before it, separated by
  // white space, are a display name a sender forgot to bracket ("John Smith john@x").
  // RFC 5322 §4.4 lets CFWS surround the dots (obs-local-part, obs-domain), so a word
  // next to a dot belongs to the run whatever the spacing.
  const glued = (prev: Token, next: Token) => !next.space || prev.text.endsWith('.') || next.text.startsWith('.');
  let localStart = Math.max(0, end - 1);
  while (localStart > 0 && words[localStart - 1].kind !== 'special' && glued(words[localStart - 1], words[localStart])) localStart--;
  let hostEnd = at + 1;
  while (at >= 0 && hostEnd < words.length && words[hostEnd].kind !== 'special' && (hostEnd === at + 1 || glued(words[hostEnd - 1], words[hostEnd]))) hostEnd++;
  const mailbox = words.slice(localStart, end).map(quoteLocal).join('');
  const host = at < 0 ? '' : words.slice(at + 1, hostEnd).map(quoteLocal).join('');
  const nameRaw = phraseText(words.slice(0, localStart)) ?? firstComment(seg);
  if (mailbox.length === 0 && host.length === 0) return null;
  return named(nameRaw, mailbox, host);
}

/**
 * Parses an address-list (RFC 5322 §3.4). A group "name: a, b;" becomes a start marker,
 * its members and an end marker (RFC 9051 §7.5.2); a group left open is closed at the end.
 */
export function parseAddressList(value: string): Address[] {
  const tokens = tokenize(value);
  const out: Address[] = [];
  let inGroup = false;
  let seg: Token[] = [];
  // Kept as a flag: scanning `seg` at each ":" would be quadratic on "<a> x : x : x ...".
  let segHasAngle = false;
  const flush = () => {
    const a = parseMailbox(seg);
    if (a) out.push(a);
    seg = [];
    segHasAngle = false;
  };
  for (const t of tokens) {
    if (t.kind === 'special' && t.text === ',') {
      flush();
    } else if (t.kind === 'special' && t.text === ':' && !inGroup && seg.length > 0 && !segHasAngle) {
      // RFC 5322 §3.4 group = display-name ":" [group-list] ";"
      const nameRaw = phraseText(seg) ?? '';
      out.push({ name: decodeEncodedWords(nameRaw), nameRaw: null, mailbox: nameRaw, host: null });
      inGroup = true;
      seg = [];
      segHasAngle = false;
    } else if (t.kind === 'special' && t.text === ';') {
      flush();
      if (inGroup) out.push({ name: null, nameRaw: null, mailbox: null, host: null });
      inGroup = false;
    } else if (t.kind === 'special' && (t.text === ':' || t.text === '>' || t.text === ')')) {
      // A nested group (RFC 5322 has none), stray closers: nothing to keep.
    } else {
      seg.push(t);
      if (t.kind === 'angle') segHasAngle = true;
    }
  }
  flush();
  if (inGroup) out.push({ name: null, nameRaw: null, mailbox: null, host: null });
  return out;
}

/** The lower-case "local@host" of each ordinary address (group markers left out). */
export function addrSpecs(list: readonly Address[] | null): string[] {
  if (!list) return [];
  const out: string[] = [];
  for (const a of list) {
    if (a.host === null || a.mailbox === null) continue;
    if (a.mailbox === '' && a.host === '') continue;
    out.push((a.host === '' ? a.mailbox : `${a.mailbox}@${a.host}`).toLowerCase());
  }
  return out;
}
