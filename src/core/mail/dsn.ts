/**
 * Delivery status notifications (RFC 3464, RFC 3461): a multipart/report with a human part,
 * a machine-readable message/delivery-status part and the original message or its headers.
 * They are sent with the null reverse-path, so no DSN is ever sent about a DSN (RFC 3461 §6.2),
 * and carry Auto-Submitted: auto-replied (RFC 3834).
 */
import crypto from 'node:crypto';
import { rfc5322Date } from './delivery/trace.ts';

export interface DsnRecipient {
  address: string;
  orcpt?: string | null;
  action: 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';
  status: string; // e.g. 5.1.1
  diagnostic?: string | null; // the remote reply, e.g. "550 5.1.1 no such user"
  remoteMta?: string | null;
  willRetryUntil?: number;
}

export interface DsnInput {
  reportingMta: string;
  to: string; // the original envelope sender
  envid?: string | null;
  arrivalDate: number;
  recipients: DsnRecipient[];
  original: Buffer;
  ret?: 'FULL' | 'HDRS' | null;
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

export function buildDsn(d: DsnInput): Buffer {
  const now = d.now ?? Date.now();
  const boundary = `=_bulwark_${crypto.randomBytes(12).toString('hex')}`;
  const failed = d.recipients.some((r) => r.action === 'failed');
  const subject = failed ? 'Undelivered Mail Returned to Sender' : d.recipients.some((r) => r.action === 'delayed') ? 'Delayed Mail (still being retried)' : 'Successful Mail Delivery Report';
  const human: string[] = [
    `This is the mail system at ${d.reportingMta}.`,
    '',
    failed
      ? 'Your message could not be delivered to one or more recipients. It is attached below.'
      : 'Your message has not been delivered yet to one or more recipients. The mail system will keep trying.',
    '',
  ];
  for (const r of d.recipients) {
    human.push(`<${line(r.address)}>: ${r.action}${r.diagnostic ? ` (${line(r.diagnostic)})` : ''}`);
    if (r.willRetryUntil) human.push(`    will retry until ${rfc5322Date(r.willRetryUntil)}`);
  }
  const status: string[] = [`Reporting-MTA: dns; ${line(d.reportingMta)}`];
  if (d.envid) status.push(`Original-Envelope-Id: ${line(d.envid)}`);
  status.push(`Arrival-Date: ${rfc5322Date(d.arrivalDate)}`);
  const per = d.recipients.map((r) => {
    const f = [`Final-Recipient: rfc822; ${line(r.address)}`];
    if (r.orcpt) f.push(`Original-Recipient: ${line(r.orcpt.includes(';') ? r.orcpt : `rfc822; ${r.orcpt}`)}`);
    f.push(`Action: ${r.action}`, `Status: ${r.status}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${line(r.remoteMta)}`);
    if (r.diagnostic) f.push(`Diagnostic-Code: smtp; ${line(r.diagnostic)}`);
    f.push(`Last-Attempt-Date: ${rfc5322Date(now)}`);
    if (r.willRetryUntil) f.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    return f.join('\r\n');
  });
  const full = d.ret === 'FULL' || (d.ret !== 'HDRS' && d.original.byteLength <= FULL_RETURN_LIMIT);
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${d.reportingMta}>`,
    `To: <${line(d.to)}>`,
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
    'Content-Type: message/delivery-status',
    '',
    status.join('\r\n'),
    '',
    per.join('\r\n\r\n'),
    '',
    `--${boundary}`,
    `Content-Type: ${full ? 'message/rfc822' : 'text/rfc822-headers'}`,
    '',
    '',
  ].join('\r\n');
  const original = full ? d.original : headerSection(d.original);
  const tail = `${original.subarray(-2).toString() === '\r\n' ? '' : '\r\n'}--${boundary}--\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), original, Buffer.from(tail, 'utf8')]);
}
