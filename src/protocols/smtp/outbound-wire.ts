/**
 * The bytes of the SMTP client (pure: no I/O): reading replies with bounded lines, the
 * EHLO capabilities, MAIL and RCPT command lines with their extension parameters, and the
 * message data with dot-stuffing. src/protocols/smtp/outbound-connection.ts does the I/O.
 *
 * Invariants
 * - A reply never grows without bound: a line longer than maxLine, or a reply of more than
 *   maxLines lines, is a protocol error (a server that streams garbage cannot exhaust memory).
 * - No command line carries CR, LF or another control character: values from the envelope
 *   are checked before they get here (outbound.ts) and encoded as xtext where the RFC says so.
 * - The data ends in CRLF "." CRLF, and no line of it begins with "." unless doubled, so the
 *   message cannot end early or smuggle a second one (RFC 5321 §4.5.2).
 */
import { xtextEncode } from './parser.ts';

export interface Reply {
  code: number;
  /** RFC 3463 status code from the first line, when the server gave one (RFC 2034 §4). */
  enhanced: string | null;
  /** The text of each line, without the code and without the enhanced code. */
  lines: string[];
}

/** The server broke the protocol, the connection failed or timed out: nothing more can be said on it. */
export class SmtpConnectionError extends Error {
  /** RFC 3463: 4.4.1 no answer from host, 4.4.2 bad connection, 4.5.0 protocol error, 4.7.0 TLS. */
  readonly enhanced: string;
  /** The TLS handshake failed (opportunistic TLS may try again without). */
  readonly tls: boolean;
  constructor(enhanced: string, message: string, tls = false) {
    super(message);
    this.name = 'SmtpConnectionError';
    this.enhanced = enhanced;
    this.tls = tls;
  }
}

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with its CRLF. Servers exceed it
// (long EHLO keyword lists, long rejection texts), so the bound is generous, but a bound.
export const MAX_REPLY_LINE = 4096;
export const MAX_REPLY_LINES = 100;

// RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF,
// Reply-code = %x32-35 %x30-35 %x30-39.
const REPLY_LINE = /^([2-5][0-5][0-9])(?:([ -])(.*))?$/;
// RFC 2034 §4: status-code = class "." subject "." detail, followed by SP.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: +|$)/;

/** Splits the server's byte stream into replies. */
export class ReplyReader {
  readonly #maxLine: number;
  readonly #maxLines: number;
  #buf: Buffer = Buffer.alloc(0);
  #lines: string[] = [];
  #code = 0;

  constructor(maxLine = MAX_REPLY_LINE, maxLines = MAX_REPLY_LINES) {
    this.#maxLine = maxLine;
    this.#maxLines = maxLines;
  }

  /** Whether bytes of an unfinished reply are waiting. */
  get pending(): boolean {
    return this.#buf.length > 0 || this.#lines.length > 0;
  }

  /** Forgets everything buffered (after STARTTLS, RFC 3207 §4.2). */
  reset(): void {
    this.#buf = Buffer.alloc(0);
    this.#lines = [];
    this.#code = 0;
  }

  /** Takes bytes, returns the replies they complete. Throws SmtpConnectionError. */
  push(chunk: Buffer): Reply[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: Reply[] = [];
    let start = 0;
    for (;;) {
      const lf = this.#buf.indexOf(0x0a, start);
      if (lf === -1) break;
      // Lenient about a bare LF: a client gains nothing from refusing a server's sloppy line end.
      const end = lf > start && this.#buf[lf - 1] === 0x0d ? lf - 1 : lf;
      if (lf + 1 - start > this.#maxLine) throw new SmtpConnectionError('4.5.0', `reply line longer than ${this.#maxLine} octets`);
      const reply = this.#line(this.#buf.toString('utf8', start, end));
      if (reply) out.push(reply);
      start = lf + 1;
    }
    this.#buf = this.#buf.subarray(start);
    if (this.#buf.length > this.#maxLine) throw new SmtpConnectionError('4.5.0', `reply line longer than ${this.#maxLine} octets`);
    return out;
  }

  #line(line: string): Reply | null {
    const m = REPLY_LINE.exec(line);
    if (!m) throw new SmtpConnectionError('4.5.0', `malformed reply line: ${clean(line).slice(0, 100)}`);
    const code = Number(m[1]);
    if (this.#lines.length > 0 && code !== this.#code) throw new SmtpConnectionError('4.5.0', `reply code changed within a reply (${this.#code}, then ${code})`);
    this.#code = code;
    this.#lines.push(m[3] ?? '');
    if (this.#lines.length > this.#maxLines) throw new SmtpConnectionError('4.5.0', `reply longer than ${this.#maxLines} lines`);
    if (m[2] === '-') return null;
    const lines = this.#lines;
    this.#lines = [];
    this.#code = 0;
    return parseEnhanced(code, lines);
  }
}

function parseEnhanced(code: number, lines: string[]): Reply {
  const first = ENHANCED.exec(lines[0]);
  // RFC 3463 §2: the class of the enhanced code matches the first digit of the reply code.
  const enhanced = first && Number(first[1]) === Math.floor(code / 100) ? `${first[1]}.${Number(first[2])}.${Number(first[3])}` : null;
  return { code, enhanced, lines: enhanced ? lines.map((l) => l.replace(ENHANCED, '')) : lines };
}

/** C0 controls and DEL out of remote text, so that it is safe in logs and DSN fields. */
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** The reply's text on one line, bounded (for outcomes and DSN diagnostics). */
export function replyText(r: Reply): string {
  return clean(r.lines.join(' ').trim()).slice(0, 800);
}

/** "550 5.1.1 text", for diagnoses that quote the server. */
export function describeReply(r: Reply): string {
  return `${r.code}${r.enhanced ? ` ${r.enhanced}` : ''} ${replyText(r)}`.trim();
}

/**
 * EHLO keywords and their parameters (RFC 5321 §4.1.1.1: ehlo-line = ehlo-keyword
 * *( SP ehlo-param )). The first line is the server's greeting, not a keyword.
 */
export function parseCapabilities(ehlo: Reply): Map<string, string> {
  const caps = new Map<string, string>();
  for (const line of ehlo.lines.slice(1)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    // The first line of a keyword counts: old servers repeat AUTH as "AUTH=LOGIN" after the real one.
    if (m && !caps.has(m[1].toUpperCase())) caps.set(m[1].toUpperCase(), (m[2] ?? '').trim());
  }
  return caps;
}

/** RFC 1870 §4: "SIZE" [SP size-value]; 0 or absent means no fixed limit. */
export function sizeLimit(caps: Map<string, string>): number {
  const v = caps.get('SIZE');
  return v && /^\d{1,20}$/.test(v) ? Number(v) : 0;
}

export interface MailOptions {
  size?: number;
  /** RFC 6152 §2: BODY=8BITMIME. */
  eightBitMime?: boolean;
  /** RFC 6531 §3.4: the SMTPUTF8 parameter. */
  smtputf8?: boolean;
  /** RFC 3461 §4.3 and §4.4, only when the server offers DSN. */
  ret?: 'FULL' | 'HDRS';
  envid?: string;
}

export function mailCommand(from: string, o: MailOptions): string {
  let line = `MAIL FROM:<${from}>`;
  if (o.size !== undefined) line += ` SIZE=${o.size}`;
  if (o.eightBitMime) line += ' BODY=8BITMIME';
  if (o.smtputf8) line += ' SMTPUTF8';
  if (o.ret) line += ` RET=${o.ret}`;
  if (o.envid !== undefined) line += ` ENVID=${xtextEncode(o.envid)}`;
  return line;
}

export interface RcptOptions {
  notify?: ('NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY')[];
  orcpt?: string;
}

export function rcptCommand(to: string, o: RcptOptions): string {
  let line = `RCPT TO:<${to}>`;
  if (o.notify && o.notify.length > 0) {
    // RFC 3461 §4.1: "NEVER" or a comma-separated list of the other three, each once.
    const notify = o.notify.includes('NEVER') ? ['NEVER'] : [...new Set(o.notify)];
    line += ` NOTIFY=${notify.join(',')}`;
  }
  if (o.orcpt) line += ` ORCPT=${formatOrcpt(o.orcpt)}`;
  return line;
}

/**
 * RFC 3461 §4.2: ORCPT=addr-type ";" xtext. The queue keeps it as "type;address" or as a
 * bare address (rfc822), decoded. A non-ASCII address goes as addr-type utf-8 in the ASCII
 * form of RFC 6533 §3 (utf-8-addr-xtext), which any DSN server can carry.
 */
export function formatOrcpt(orcpt: string): string {
  const typed = /^([A-Za-z0-9-]+);\s*(.*)$/s.exec(orcpt);
  const type = typed ? typed[1] : 'rfc822';
  const address = typed ? typed[2] : orcpt;
  if (/^[\x20-\x7e]*$/.test(address) && type.toLowerCase() !== 'utf-8') return `${type};${xtextEncode(address)}`;
  return `utf-8;${utf8AddrXtext(address)}`;
}

// RFC 6533 §3: utf-8-addr-xtext = 1*(QCHAR / EmbeddedUnicodeChar); QCHAR is "!" to "~" but
// "+", "=" and "\"; EmbeddedUnicodeChar = "\x{" HEXPOINT "}", upper-case hex, no leading zeros.
function utf8AddrXtext(address: string): string {
  let out = '';
  for (const ch of address) {
    const cp = ch.codePointAt(0)!;
    const q = cp >= 0x21 && cp <= 0x7e && ch !== '+' && ch !== '=' && ch !== '\\';
    out += q ? ch : `\\x{${cp.toString(16).toUpperCase().padStart(2, '0')}}`;
  }
  return out;
}

const CRLF = Buffer.from('\r\n');
const DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');

/**
 * The message as it goes after DATA: every line that begins with "." gets another one
 * (RFC 5321 §4.5.2), a bare CR or LF becomes CRLF (§2.3.8: "<CR> and <LF> MUST only occur
 * together as CRLF"; a receiver that took a bare LF for a line end could otherwise be told
 * that the message ended early: SMTP smuggling), the last line is ended, and "." CRLF follows.
 */
export function encodeData(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  let lineStart = true;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (lineStart && c === 0x2e) {
      parts.push(body.subarray(start, i), DOT);
      start = i;
    }
    lineStart = false;
    if (c === 0x0d) {
      if (body[i + 1] === 0x0a) {
        i++;
        lineStart = true;
        continue;
      }
      parts.push(body.subarray(start, i), CRLF);
      start = i + 1;
      lineStart = true;
    } else if (c === 0x0a) {
      parts.push(body.subarray(start, i), CRLF);
      start = i + 1;
      lineStart = true;
    }
  }
  parts.push(body.subarray(start));
  if (!lineStart) parts.push(CRLF);
  parts.push(END);
  return Buffer.concat(parts);
}

/** Whether any octet has the high bit set (RFC 6152: content that needs 8BITMIME). */
export function hasEightBit(body: Buffer): boolean {
  for (let i = 0; i < body.length; i++) if (body[i] > 0x7f) return true;
  return false;
}
