/**
 * SMTP command parsing (pure: no I/O, no session state). One command line in, without its
 * CRLF (src/protocols/smtp/input.ts frames the lines), one typed command out, or an
 * SmtpSyntaxError that carries the reply code and enhanced status code to answer with.
 * Also owns the reply formatter and the xtext codec (RFC 3461 §4).
 *
 * What is the parser's business: the grammar of RFC 5321 §4.1 and of the extensions'
 * parameters (SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH, NOTIFY, ORCPT), length limits of
 * RFC 5321 §4.5.3.1, and non-ASCII in a path without SMTPUTF8 (RFC 6531 §3.5).
 * What is not: whether an extension is advertised (a parameter of an extension this server
 * does not offer is the session's 555), whether a SASL mechanism is supported (504),
 * whether a command is allowed in the current state (503), and address normalisation
 * (src/lib/address.ts): paths come back as written, minus any source route.
 *
 * Invariants
 * - Every rejected line throws SmtpSyntaxError, never anything else, so the session maps
 *   errors at one place.
 * - Verbs, keywords and fixed values are compared as ASCII only. "ſ" (U+017F) upper-cases to
 *   "S" in JavaScript, so "maiſ" must not become MAIL: nothing is upper-cased before it is
 *   known to be ASCII.
 */
import { isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';

export interface MailParams {
  size?: number;
  body?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  smtputf8?: boolean;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  auth?: string;
}

export interface RcptParams {
  notify?: ('NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY')[];
  orcpt?: { type: string; address: string };
}

export type SmtpCommand =
  | { verb: 'EHLO' | 'HELO'; domain: string }
  | { verb: 'MAIL'; from: string; params: MailParams }
  | { verb: 'RCPT'; to: string; params: RcptParams }
  | { verb: 'DATA' | 'RSET' | 'NOOP' | 'QUIT' | 'STARTTLS' | 'HELP' }
  // smtputf8: the client gave the SMTPUTF8 parameter (RFC 6531 §3.7.4.2): UTF-8 in the reply is allowed.
  | { verb: 'VRFY' | 'EXPN'; arg: string; smtputf8?: boolean }
  | { verb: 'AUTH'; mechanism: string; initial?: string }
  | { verb: 'BDAT'; size: number; last: boolean };

export class SmtpSyntaxError extends Error {
  readonly reply: number;
  readonly enhanced: string;
  constructor(reply: number, enhanced: string, message: string) {
    super(message);
    this.name = 'SmtpSyntaxError';
    this.reply = reply;
    this.enhanced = enhanced;
  }
}

export interface ParseOptions {
  /** Non-ASCII is allowed in paths: the transaction's MAIL carried SMTPUTF8 (RFC 6531 §3.4). */
  smtputf8?: boolean;
}

// RFC 3463 §3.6: X.5.2 syntax error, X.5.4 invalid command arguments; §3.2: X.1.3 bad
// destination mailbox address syntax, X.1.7 bad sender's mailbox address syntax.
const unknownCommand = () => new SmtpSyntaxError(500, '5.5.2', 'command not recognized');
const badArguments = (why: string) => new SmtpSyntaxError(501, '5.5.4', why);
const unknownParameter = (kw: string) => new SmtpSyntaxError(555, '5.5.4', `parameter ${kw} not recognized`);

type Role = 'sender' | 'recipient';
function badPath(role: Role, why: string): SmtpSyntaxError {
  return role === 'sender' ? new SmtpSyntaxError(501, '5.1.7', `bad sender address syntax: ${why}`) : new SmtpSyntaxError(501, '5.1.3', `bad recipient address syntax: ${why}`);
}

// C0 controls, DEL and C1 controls. NUL, CR and LF never get this far (input.ts), but the
// parser stands alone: a caller may hand it any string.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const VERB = /^[A-Za-z]+$/;

/**
 * Parses one command line (without CRLF). Throws SmtpSyntaxError.
 * opts.smtputf8: whether the transaction allows non-ASCII paths. For MAIL itself, its own
 * SMTPUTF8 parameter counts as well (RFC 6531 §3.4: the parameter is given with MAIL).
 */
export function parseCommand(line: string, opts: ParseOptions = {}): SmtpCommand {
  if (CONTROL.test(line)) throw new SmtpSyntaxError(501, '5.5.2', 'control characters are not allowed in a command');
  if (!line.isWellFormed()) throw new SmtpSyntaxError(501, '5.5.2', 'the command is not valid UTF-8');
  // Trailing spaces are tolerated (several clients send "DATA " or "QUIT "), as Postfix does.
  const text = line.replace(/ +$/, '');
  const sp = text.indexOf(' ');
  const word = sp === -1 ? text : text.slice(0, sp);
  if (!VERB.test(word)) throw unknownCommand();
  const verb = word.toUpperCase();
  const rest = sp === -1 ? '' : text.slice(sp + 1).replace(/^ +/, '');

  switch (verb) {
    case 'EHLO':
    case 'HELO':
      return { verb, domain: parseHeloArgument(verb, rest) };
    case 'MAIL':
      return parseMail(rest, opts);
    case 'RCPT':
      return parseRcpt(rest, opts);
    case 'DATA':
    case 'RSET':
    case 'QUIT':
    case 'STARTTLS':
      // RFC 5321 §4.1.1.4/§4.1.1.5/§4.1.1.10 and RFC 3207 §4 ("501 Syntax error (no parameters allowed)").
      if (rest !== '') throw badArguments(`${verb} takes no argument`);
      return { verb };
    case 'NOOP':
    case 'HELP':
      // RFC 5321 §4.1.1.9 (NOOP [SP String]: the argument has no meaning) and §4.1.1.8 (HELP [SP String]).
      return { verb };
    case 'VRFY':
    case 'EXPN':
      return parseVrfyExpn(verb, rest);
    case 'AUTH':
      return parseAuth(rest);
    case 'BDAT':
      return parseBdat(rest);
    default:
      throw unknownCommand();
  }
}

// ---------------------------------------------------------------------------------------
// EHLO / HELO

// RFC 5321 §4.1.1.1: ehlo = "EHLO" SP ( Domain / address-literal ); helo = "HELO" SP Domain.
// HELO gets the address literal too: clients without a name send "HELO [192.0.2.1]", and
// rejecting that would only push them into lying. RFC 6531 §3.7.1: the client "MUST send
// only ASCII (LDH label or A-label) domains in the EHLO command", so no U-labels here.
function parseHeloArgument(verb: string, arg: string): string {
  if (arg === '') throw badArguments(`${verb} needs a domain or an address literal`);
  if (arg.includes(' ')) throw badArguments(`${verb} takes one argument`);
  if (arg.startsWith('[')) {
    if (!isAddressLiteral(arg)) throw badArguments(`"${arg}" is not a valid address literal`);
    return arg;
  }
  // Tolerated beyond the grammar: "_" in a label. Windows machines named like "MY_PC" say so in
  // their EHLO; the name is informational (RFC 5321 §4.1.4: a server MUST NOT refuse mail
  // only because the EHLO name does not match), so a strict refusal here helps nobody.
  if (!isAsciiDomain(arg, true)) throw badArguments(`"${arg}" is not a valid domain`);
  return arg;
}

// ---------------------------------------------------------------------------------------
// Domains and address literals

// RFC 5321 §4.1.2: sub-domain = Let-dig [Ldh-str]; Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig.
// RFC 1035 §2.3.4: a label is at most 63 octets.
const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const LDH_LABEL_UNDERSCORE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function isAsciiDomain(d: string, allowUnderscore = false): boolean {
  if (d.length === 0 || d.length > 255) return false; // RFC 5321 §4.5.3.1.2: domain at most 255 octets
  const label = allowUnderscore ? LDH_LABEL_UNDERSCORE : LDH_LABEL;
  return d.split('.').every((l) => label.test(l));
}

// RFC 6531 §3.3: sub-domain =/ U-label. A label with non-ASCII must turn into one valid
// A-label. Labels are split on "." only; a label with a look-alike full stop (U+3002, U+FF0E)
// maps to two labels under UTS 46 and is refused rather than silently re-split. No "%" either:
// the WHATWG host parser behind domainToASCII percent-decodes (see src/lib/address.ts).
const ULABEL_CHARS = /^[A-Za-z0-9\u00a0-\u{10ffff}-]+$/u;
function isDomain(d: string, allowUtf8: boolean): boolean {
  if (d.length === 0 || Buffer.byteLength(d) > 255) return false;
  for (const l of d.split('.')) {
    if (LDH_LABEL.test(l)) continue;
    if (!allowUtf8 || !ULABEL_CHARS.test(l) || /^[\x00-\x7f]*$/.test(l)) return false;
    const a = domainToASCII(l);
    if (!a || !a.startsWith('xn--') || !LDH_LABEL.test(a)) return false;
  }
  return true;
}

// RFC 5321 §4.1.3: IPv4-address-literal = Snum 3("." Snum); IPv6-address-literal = "IPv6:" IPv6-addr;
// General-address-literal = Standardized-tag ":" 1*dcontent, where the tag "MUST be specified in
// a Standards-Track RFC and registered with IANA". None but IPv6 is, so general literals are refused.
function isAddressLiteral(lit: string): boolean {
  if (!lit.startsWith('[') || !lit.endsWith(']')) return false;
  const inner = lit.slice(1, -1);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(inner);
  if (v4) return v4.slice(1).every((n) => Number(n) <= 255); // Snum: 0 through 255
  if (/^IPv6:/i.test(inner)) {
    const addr = inner.slice(5);
    // isIPv6 accepts a zone ("fe80::1%eth0"), which is no part of IPv6-addr.
    return /^[0-9A-Fa-f:.]+$/.test(addr) && isIPv6(addr);
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// Paths

interface ParsedPath {
  address: string; // '' for the null path; source route stripped
  end: number; // index just past '>'
  nonAscii: boolean;
}

// RFC 5322 §3.2.3 atext (imported by RFC 5321 §4.1.2 Atom), plus RFC 6531 §3.3 atext =/ UTF8-non-ascii.
const ATEXT = /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\u00a0-\u{10ffff}-]$/u;

/**
 * RFC 5321 §4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">"; Reverse-path = Path / "<>".
 * Parsed with non-ASCII allowed wherever RFC 6531 §3.3 allows it; the caller then applies the
 * SMTPUTF8 policy, so plain syntax errors are reported the same whatever the policy.
 */
function parsePath(s: string, role: Role): ParsedPath {
  if (s[0] !== '<') throw badPath(role, 'the address must be enclosed in <>');
  let i = 1;
  if (s[i] === '>') return { address: '', end: 2, nonAscii: false };

  // RFC 5321 §4.1.2 A-d-l = At-domain *( "," At-domain ) and Appendix C: "SMTP servers MUST
  // ... accept and ignore" a source route. It is checked for syntax, then dropped.
  if (s[i] === '@') {
    for (;;) {
      if (s[i] !== '@') throw badPath(role, 'bad source route');
      const start = ++i;
      while (i < s.length && s[i] !== ',' && s[i] !== ':' && s[i] !== '>' && s[i] !== ' ') i++;
      if (!isDomain(s.slice(start, i), true)) throw badPath(role, 'bad domain in source route');
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === ':') {
        i++;
        break;
      }
      throw badPath(role, 'bad source route');
    }
  }

  const mailboxStart = i;
  // Local-part = Dot-string / Quoted-string
  if (s[i] === '"') {
    i++;
    for (;;) {
      if (i >= s.length) throw badPath(role, 'unterminated quoted string');
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        break;
      }
      if (c === 0x5c) {
        // quoted-pairSMTP = %d92 %d32-126
        const n = s.charCodeAt(i + 1);
        if (!(n >= 0x20 && n <= 0x7e)) throw badPath(role, 'bad quoted pair');
        i += 2;
        continue;
      }
      // qtextSMTP = %d32-33 / %d35-91 / %d93-126, =/ UTF8-non-ascii (RFC 6531 §3.3)
      if (c < 0x20 || (c > 0x7e && c < 0xa0)) throw badPath(role, 'bad character in quoted string');
      i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    }
  } else {
    // Dot-string = Atom *("." Atom)
    let prevDot = true;
    while (i < s.length) {
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      if (ch === '.') {
        if (prevDot) throw badPath(role, 'misplaced dot in local part');
        prevDot = true;
      } else if (ATEXT.test(ch)) {
        prevDot = false;
      } else {
        break;
      }
      i += ch.length;
    }
    if (i === mailboxStart) {
      throw badPath(role, s[i] === '>' ? 'empty address' : 'bad character in local part');
    }
    if (prevDot) throw badPath(role, 'misplaced dot in local part');
  }
  const local = s.slice(mailboxStart, i);
  // RFC 5321 §4.5.3.1.1: local-part at most 64 octets.
  if (Buffer.byteLength(local) > 64) throw badPath(role, 'local part longer than 64 octets');

  // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain is a valid recipient (case-insensitive).
  if (s[i] === '>' && role === 'recipient' && mailboxStart === 1 && local.toLowerCase() === 'postmaster') {
    return { address: 'postmaster', end: i + 1, nonAscii: false };
  }
  if (s[i] !== '@') throw badPath(role, s[i] === '>' ? 'the address has no domain' : 'bad character in local part');
  i++;

  const domainStart = i;
  if (s[i] === '[') {
    const close = s.indexOf(']', i);
    if (close === -1 || !isAddressLiteral(s.slice(i, close + 1))) throw badPath(role, 'bad address literal');
    i = close + 1;
  } else {
    while (i < s.length && s[i] !== '>' && s[i] !== ' ') i++;
    if (!isDomain(s.slice(domainStart, i), true)) throw badPath(role, 'bad domain');
  }
  if (s[i] !== '>') throw badPath(role, 'the address must end with >');
  // RFC 5321 §4.5.3.1.3: a path is at most 256 octets "including the punctuation and element separators".
  if (Buffer.byteLength(s.slice(0, i + 1)) > 256) throw badPath(role, 'path longer than 256 octets');
  const address = s.slice(mailboxStart, i);
  return { address, end: i + 1, nonAscii: /[^\x00-\x7f]/.test(address) };
}

// The rest after a path: empty, or SP then parameters.
function paramsText(s: string, end: number, role: Role): string {
  const tail = s.slice(end);
  if (tail === '') return '';
  if (tail[0] !== ' ') throw badPath(role, 'unexpected text after the address');
  return tail;
}

// ---------------------------------------------------------------------------------------
// Parameters

// RFC 5321 §4.1.2: esmtp-param = esmtp-keyword ["=" esmtp-value];
// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126),
// and RFC 6531 §3.3: esmtp-value =/ UTF8-non-ascii.
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ESMTP_VALUE = /^[\x21-\x3c\x3e-\x7e\u00a0-\u{10ffff}]+$/u;

function splitParams(text: string, known: readonly string[]): Map<string, string | null> {
  const out = new Map<string, string | null>();
  // Mail-parameters = esmtp-param *(SP esmtp-param); runs of spaces are tolerated.
  for (const token of text.split(' ')) {
    if (token === '') continue;
    const eq = token.indexOf('=');
    const kw = eq === -1 ? token : token.slice(0, eq);
    const value = eq === -1 ? null : token.slice(eq + 1);
    if (!KEYWORD.test(kw)) throw badArguments(`"${kw}" is not a valid parameter keyword`);
    if (value !== null && !ESMTP_VALUE.test(value)) throw badArguments(`bad value for parameter ${kw}`);
    const key = kw.toUpperCase();
    // RFC 5321 §4.1.1.11 / §4.2.3: 555 "MAIL FROM/RCPT TO parameters not recognized or not implemented".
    if (!known.includes(key)) throw unknownParameter(key);
    if (out.has(key)) throw badArguments(`parameter ${key} given twice`);
    out.set(key, value);
  }
  return out;
}

function requireValue(key: string, value: string | null): string {
  if (value === null) throw badArguments(`parameter ${key} needs a value`);
  return value;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

const MAIL_PARAMS = ['SIZE', 'BODY', 'SMTPUTF8', 'RET', 'ENVID', 'AUTH'] as const;
const RCPT_PARAMS = ['NOTIFY', 'ORCPT'] as const;

function parseMailParams(text: string): MailParams {
  const params: MailParams = {};
  for (const [key, value] of splitParams(text, MAIL_PARAMS)) {
    switch (key) {
      case 'SIZE': {
        // RFC 1870 §3: size-value ::= 1*20DIGIT
        const v = requireValue(key, value);
        if (!/^[0-9]{1,20}$/.test(v)) throw badArguments('SIZE must be a number of octets');
        params.size = Number(v);
        break;
      }
      case 'BODY': {
        // RFC 6152 §2 (7BIT / 8BITMIME), RFC 3030 §3 (BINARYMIME); ABNF literals are case-insensitive.
        const v = requireValue(key, value).toUpperCase();
        if (v !== '7BIT' && v !== '8BITMIME' && v !== 'BINARYMIME') throw badArguments('BODY must be 7BIT, 8BITMIME or BINARYMIME');
        params.body = v;
        break;
      }
      case 'SMTPUTF8':
        // RFC 6531 §3.4: "If this parameter is provided, it MUST not accept a value."
        if (value !== null) throw badArguments('SMTPUTF8 takes no value');
        params.smtputf8 = true;
        break;
      case 'RET': {
        // RFC 3461 §4.3: ret-value = "FULL" / "HDRS"
        const v = requireValue(key, value).toUpperCase();
        if (v !== 'FULL' && v !== 'HDRS') throw badArguments('RET must be FULL or HDRS');
        params.ret = v;
        break;
      }
      case 'ENVID': {
        // RFC 3461 §4.4: envid-parameter = "ENVID=" xtext, at most 100 characters, and the
        // decoded value is printable US-ASCII.
        const v = requireValue(key, value);
        if (v.length > 100) throw badArguments('ENVID is longer than 100 characters');
        const decoded = xtextDecode(v);
        if (!PRINTABLE_ASCII.test(decoded)) throw badArguments('ENVID must be printable US-ASCII');
        params.envid = decoded;
        break;
      }
      case 'AUTH':
        // RFC 4954 §5: auth-param = "AUTH=" xtext, the xtext of a Mailbox or "<>".
        params.auth = xtextDecode(requireValue(key, value));
        break;
    }
  }
  return params;
}

const NOTIFY_VALUES = ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'] as const;
type NotifyValue = (typeof NOTIFY_VALUES)[number];
// RFC 5322 §3.2.3 atom, for RFC 3461 §4.2 addr-type = atom.
const ATOM = /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]+$/;

function parseRcptParams(text: string): RcptParams {
  const params: RcptParams = {};
  for (const [key, value] of splitParams(text, RCPT_PARAMS)) {
    if (key === 'NOTIFY') {
      // RFC 3461 §4.1: notify-esmtp-value = "NEVER" / 1#notify-list-element, where
      // notify-list-element = "SUCCESS" / "FAILURE" / "DELAY".
      const list: NotifyValue[] = [];
      for (const item of requireValue(key, value).split(',')) {
        const v = item.toUpperCase();
        const known = NOTIFY_VALUES.find((n) => n === v);
        if (!known) throw badArguments('NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY');
        if (list.includes(known)) throw badArguments(`NOTIFY lists ${known} twice`);
        list.push(known);
      }
      if (list.includes('NEVER') && list.length > 1) throw badArguments('NOTIFY=NEVER cannot be combined with other values');
      params.notify = list;
    } else {
      // RFC 3461 §4.2: orcpt-parameter = "ORCPT=" original-recipient-address;
      // original-recipient-address = addr-type ";" xtext; at most 500 characters, and the
      // decoded address printable US-ASCII.
      // todo RFC 6533 §3: utf-8-addr-xtext / utf-8-addr-unitext for ORCPT=utf-8; under SMTPUTF8.
      const v = requireValue(key, value);
      if (v.length > 500) throw badArguments('ORCPT is longer than 500 characters');
      const semi = v.indexOf(';');
      const type = semi === -1 ? '' : v.slice(0, semi);
      if (!ATOM.test(type)) throw badArguments('ORCPT must be addr-type;address');
      const address = xtextDecode(v.slice(semi + 1));
      if (address === '' || !PRINTABLE_ASCII.test(address)) throw badArguments('ORCPT address must be printable US-ASCII');
      params.orcpt = { type, address };
    }
  }
  return params;
}

// ---------------------------------------------------------------------------------------
// MAIL / RCPT

// "MAIL FROM:" with any number of spaces after the colon: RFC 5321 §4.1.1.2 allows none,
// but "MAIL FROM: <a@b>" is common (Postfix accepts it too, unless strict_rfc821_envelopes).
function afterPrefix(rest: string, prefix: string, usage: string): string {
  if (rest.length < prefix.length || rest.slice(0, prefix.length).toUpperCase() !== prefix) throw badArguments(`syntax: ${usage}`);
  return rest.slice(prefix.length).replace(/^ +/, '');
}

function parseMail(rest: string, opts: ParseOptions): SmtpCommand {
  const s = afterPrefix(rest, 'FROM:', 'MAIL FROM:<address> [parameters]');
  const path = parsePath(s, 'sender');
  const params = parseMailParams(paramsText(s, path.end, 'sender'));
  // RFC 6531 §3.5: "When messages are rejected because the MAIL command requires an ASCII
  // address, the reply-code 550 is returned" with X.6.7.
  if (path.nonAscii && !opts.smtputf8 && !params.smtputf8) {
    throw new SmtpSyntaxError(550, '5.6.7', 'non-ASCII addresses are not permitted without SMTPUTF8');
  }
  return { verb: 'MAIL', from: path.address, params };
}

function parseRcpt(rest: string, opts: ParseOptions): SmtpCommand {
  const s = afterPrefix(rest, 'TO:', 'RCPT TO:<address> [parameters]');
  if (s.startsWith('<>')) throw badPath('recipient', 'the null path is not a recipient');
  const path = parsePath(s, 'recipient');
  const params = parseRcptParams(paramsText(s, path.end, 'recipient'));
  // RFC 6531 §3.5: "When messages are rejected because the RCPT command requires an ASCII
  // address, the reply-code 553 is returned" with X.6.7.
  if (path.nonAscii && !opts.smtputf8) {
    throw new SmtpSyntaxError(553, '5.6.7', 'non-ASCII addresses are not permitted without SMTPUTF8');
  }
  return { verb: 'RCPT', to: path.address, params };
}

// ---------------------------------------------------------------------------------------
// VRFY / EXPN, AUTH, BDAT

// RFC 5321 §4.1.1.6/§4.1.1.7: "VRFY" SP String; RFC 6531 §3.7.4.2 adds [SP "SMTPUTF8"] and
// "String may include Non-ASCII characters". The String is returned as written: servers take
// a user name, a full name or a mailbox here (§3.5.1), so no grammar beyond printable text.
function parseVrfyExpn(verb: 'VRFY' | 'EXPN', rest: string): SmtpCommand {
  let arg = rest;
  let smtputf8 = false;
  const m = / +SMTPUTF8$/i.exec(arg);
  if (m) {
    arg = arg.slice(0, m.index);
    smtputf8 = true;
  }
  if (arg === '') throw badArguments(`${verb} needs an argument`);
  return smtputf8 ? { verb, arg, smtputf8 } : { verb, arg };
}

// RFC 4954 §4: "AUTH" SP sasl-mech [SP initial-response]; sasl-mech (RFC 4422 §3.1) =
// 1*20 of upper-case letters, digits, "-" and "_" (lower case is tolerated and upper-cased);
// initial-response = base64 / "=". The "=" is returned as is: it means an empty response.
const MECH = /^[A-Za-z0-9_-]{1,20}$/;
const BASE64 = /^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=)?$/;
function parseAuth(rest: string): SmtpCommand {
  const parts = rest === '' ? [] : rest.split(/ +/);
  if (parts.length < 1 || parts.length > 2) throw badArguments('syntax: AUTH mechanism [initial-response]');
  const [mech, initial] = parts;
  if (!MECH.test(mech)) throw badArguments('bad SASL mechanism name');
  if (initial === undefined) return { verb: 'AUTH', mechanism: mech.toUpperCase() };
  // RFC 4954 §4: "If the server cannot [BASE64] decode any client response, it MUST reject
  // the AUTH command with a 501 reply (and an enhanced status code of 5.5.2)."
  if (initial !== '=' && (initial === '' || !BASE64.test(initial))) {
    throw new SmtpSyntaxError(501, '5.5.2', 'the initial response is not valid base64');
  }
  return { verb: 'AUTH', mechanism: mech.toUpperCase(), initial };
}

// RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT;
// end-marker = "LAST". The size must be exact (it says where the next command starts), so
// it is refused beyond Number.MAX_SAFE_INTEGER (9 PB), where a number would be rounded.
function parseBdat(rest: string): SmtpCommand {
  const m = /^([0-9]{1,20})(?: +(LAST))?$/i.exec(rest);
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw badArguments('syntax: BDAT size [LAST]');
  return { verb: 'BDAT', size: Number(m[1]), last: m[2] !== undefined };
}

// ---------------------------------------------------------------------------------------
// Replies

/**
 * Formats a reply (RFC 5321 §4.2): every line but the last "250-text", the last "250 text",
 * each CRLF-terminated; with an enhanced code, every line starts with it (RFC 2034 §4).
 * Line breaks inside a text become separate lines, and other control characters become "?",
 * so no text (an echoed address, a message from elsewhere) can forge a reply line.
 */
export function formatReply(code: number, enhanced: string | null, text: string | string[]): string {
  if (!Number.isInteger(code) || code < 200 || code > 599) throw new RangeError(`bad SMTP reply code ${code}`);
  if (enhanced !== null) {
    // RFC 3463 §2: class "2", "4" or "5", which must agree with the reply code's first digit (RFC 2034 §4).
    const m = /^([245])\.(\d{1,3})\.(\d{1,3})$/.exec(enhanced);
    if (!m || m[1] !== String(code)[0]) throw new RangeError(`enhanced code ${enhanced} does not fit reply ${code}`);
  }
  const lines = (Array.isArray(text) ? text : [text]).flatMap((t) => t.split(/\r\n|\r|\n/)).map((t) => t.replace(/[\u0000-\u001f\u007f]/g, '?'));
  if (lines.length === 0) lines.push('');
  const prefix = enhanced === null ? '' : `${enhanced} `;
  return lines
    .map((t, i) => {
      const sep = i === lines.length - 1 ? ' ' : '-';
      const body = `${prefix}${t}`;
      // Reply-line: Reply-code [ SP textstring ] CRLF; no trailing space when there is no text.
      return body === '' ? (sep === ' ' ? `${code}\r\n` : `${code}-\r\n`) : `${code}${sep}${body}\r\n`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------
// xtext (RFC 3461 §4)

/**
 * RFC 3461 §4: xtext = *( xchar / hexchar ); xchar = "!" (33) to "~" (126) except "+" and
 * "="; hexchar = "+" and two upper-case hexadecimal digits. Encodes the UTF-8 octets.
 */
export function xtextEncode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes xtext (RFC 3461 §4); the octets must be UTF-8. Throws SmtpSyntaxError 501 5.5.4. */
export function xtextDecode(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2b) {
      const hex = value.slice(i + 1, i + 3);
      // "two upper case hexadecimal digits"
      if (!/^[0-9A-F]{2}$/.test(hex)) throw badArguments('bad xtext: "+" must be followed by two upper-case hex digits');
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c >= 0x21 && c <= 0x7e && c !== 0x3d) {
      bytes.push(c);
    } else {
      throw badArguments('bad xtext: characters outside "!" to "~", or "=", must be encoded');
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw badArguments('bad xtext: the decoded value is not UTF-8');
  }
}
