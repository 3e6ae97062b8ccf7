/**
 * Delivery status notifications (RFC 3464, RFC 3461 §6): a multipart/report (RFC 6522) with a
 * human part, a machine-readable message/delivery-status part and the original message or
 * its headers. They are sent with the null reverse-path, so no DSN is ever sent about a DSN
 * (RFC 3461 §6.1), and carry Auto-Submitted: auto-replied (RFC 3834).
 *
 * Values passed in are already decoded: the ENVID and ORCPT as the SMTP parser decoded
 * them from xtext (RFC 3461 §6.3 wants them decoded in the report).
 */
import crypto from 'node:crypto';
import { rfc5322Date } from './delivery/trace.ts';

export interface DsnRecipient {
  address: string;
  /** The ORCPT parameter, decoded: "rfc822;user@example.org" (address type, ";", address). */
  orcpt?: string | null;
  action: 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';
  status: string; // e.g. 5.1.1
  diagnostic?: string | null; // the remote reply, e.g. "550 5.1.1 no such user"
  remoteMta?: string | null;
  willRetryUntil?: number;
  /** A sentence for the human part only (e.g. why the queue gave up). */
  note?: string;
}

export interface DsnInput {
  reportingMta: string;
  to: string; // the original envelope sender
  envid?: string | null;
  arrivalDate: number;
  recipients: DsnRecipient[];
  original: Buffer;
  ret?: 'FULL' | 'HDRS' | null;
  /** The original came with SMTPUTF8: the report may carry UTF-8 (RFC 6533). */
  smtputf8?: boolean;
  now?: number;
}

/** Original messages larger than this come back as headers only when RET did not ask. */
const FULL_RETURN_LIMIT = 256 * 1024;

function headerSection(msg: Buffer): Buffer {
  const i = msg.indexOf('\r\n\r\n');
  return i < 0 ? msg : msg.subarray(0, i + 2);
}

/** Keeps a value safe on one header/field line. */
function line(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e\u0080-\uffff]/g, '?').slice(0, 900);
}

/** The same, in US-ASCII only (message/delivery-status is ASCII, RFC 3464 §2.1.1). */
function ascii(s: string): string {
  return line(s).replace(/[^\x20-\x7e]/g, '?');
}

const nonAscii = (s: string | null | undefined) => !!s && /[^\x00-\x7f]/.test(s);

export function buildDsn(d: DsnInput): Buffer {
  const now = d.now ?? Date.now();
  const boundary = `=_bulwark_${crypto.randomBytes(12).toString('hex')}`;
  const failed = d.recipients.some((r) => r.action === 'failed');
  const delayed = !failed && d.recipients.some((r) => r.action === 'delayed');
  // RFC 6533 §3: an internationalised address is reported as message/global-delivery-status,
  // with address type utf-8; without SMTPUTF8 nothing non-ASCII may appear.
  const intl = !!d.smtputf8 && (nonAscii(d.to) || d.recipients.some((r) => nonAscii(r.address) || nonAscii(r.orcpt)));
  const field = intl ? line : ascii;
  const addr = (a: string) => (intl && nonAscii(a) ? `utf-8; ${line(a)}` : `rfc822; ${ascii(a)}`);
  const subject = failed ? 'Undelivered Mail Returned to Sender' : delayed ? 'Delayed Mail (still being retried)' : 'Successful Mail Delivery Report';
  const human: string[] = [`This is the mail system at ${d.reportingMta}.`, ''];
  if (failed) human.push('Your message could not be delivered to one or more recipients. It is attached below.');
  else if (delayed) human.push('Your message has not been delivered yet to one or more recipients. The mail system will keep trying; you need not send it again.');
  else human.push('Your message was delivered to the recipients listed below, or handed on to a system that does not report delivery.');
  human.push('');
  for (const r of d.recipients) {
    human.push(`<${line(r.address)}>: ${r.action}${r.diagnostic ? ` (${line(r.diagnostic)})` : ''}`);
    if (r.note) human.push(`    ${line(r.note)}`);
    if (r.willRetryUntil) human.push(`    will retry until ${rfc5322Date(r.willRetryUntil)}`);
  }
  // RFC 3464 §2.2: per-message fields, then one block per recipient, blank lines between.
  const status: string[] = [`Reporting-MTA: dns; ${ascii(d.reportingMta)}`];
  if (d.envid) status.push(`Original-Envelope-Id: ${field(d.envid)}`);
  status.push(`Arrival-Date: ${rfc5322Date(d.arrivalDate)}`);
  const per = d.recipients.map((r) => {
    const f: string[] = [];
    // RFC 3461 §6.3 (d): Original-Recipient exactly when ORCPT was given, from its value.
    if (r.orcpt) {
      const semi = r.orcpt.indexOf(';');
      f.push(`Original-Recipient: ${semi > 0 ? `${field(r.orcpt.slice(0, semi).trim())}; ${field(r.orcpt.slice(semi + 1).trim())}` : addr(r.orcpt)}`);
    }
    f.push(`Final-Recipient: ${addr(r.address)}`);
    f.push(`Action: ${r.action}`, `Status: ${ascii(r.status)}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${ascii(r.remoteMta)}`);
    if (r.diagnostic) f.push(`Diagnostic-Code: smtp; ${field(r.diagnostic)}`);
    f.push(`Last-Attempt-Date: ${rfc5322Date(now)}`);
    if (r.willRetryUntil) f.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    return f.join('\r\n');
  });
  // RFC 3461 §4.3: RET says what a "failed" report returns (FULL or HDRS; without RET the
  // reporting MTA chooses: the whole message unless it is large). A report without a
  // failure returns the headers only.
  const full = failed && (d.ret === 'FULL' || (d.ret !== 'HDRS' && d.original.byteLength <= FULL_RETURN_LIMIT));
  const returnedType = full ? (intl ? 'message/global' : 'message/rfc822') : intl ? 'message/global-headers' : 'text/rfc822-headers';
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${d.reportingMta}>`,
    `To: <${field(d.to)}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: <${crypto.randomBytes(12).toString('hex')}@${d.reportingMta}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated delivery status notification.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    ...human,
    '',
    `--${boundary}`,
    `Content-Type: ${intl ? 'message/global-delivery-status' : 'message/delivery-status'}`,
    '',
    status.join('\r\n'),
    '',
    per.join('\r\n\r\n'),
    '',
    `--${boundary}`,
    `Content-Type: ${returnedType}`,
    '',
    '',
  ].join('\r\n');
  const original = full ? d.original : headerSection(d.original);
  const tail = `${original.subarray(-2).toString() === '\r\n' ? '' : '\r\n'}--${boundary}--\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), original, Buffer.from(tail, 'utf8')]);
}
