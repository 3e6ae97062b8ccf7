/**
 * Trace headers (RFC 5321 §4.4): Return-Path at final delivery and one Received line per
 * hop. A submission's Received does not reveal the client's address or HELO name unless
 * configured (privacy of the sender's network); an MX hop records them, as RFC 5321 asks.
 */
import type { DeliveryRequest } from './types.ts';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 §3.3 date-time, in UTC with a numeric zone. */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** Keeps client-supplied words safe inside a header: printable ASCII, no comments or breaks. */
function safe(s: string | undefined, max = 255): string {
  return (s ?? '').replace(/[^\x21-\x7e]/g, '').replace(/[()\\]/g, '').slice(0, max) || 'unknown';
}

export function receivedHeader(req: DeliveryRequest, hostname: string): string {
  const s = req.source;
  const parts: string[] = [];
  if (s.revealClient) {
    const ip = s.remoteAddress ? `[${safe(s.remoteAddress.replace(/^::ffff:/, ''), 64)}]` : '';
    parts.push(`from ${safe(s.helo)} (${s.remoteName ? `${safe(s.remoteName)} ` : ''}${ip})`.replace(' ()', ''));
  } else {
    parts.push('from authenticated-client');
  }
  parts.push(`by ${safe(hostname)} (Bulwark) with ${req.withProtocol} id ${safe(req.id, 64)}`);
  if (s.tls) parts.push(`(version=${safe(s.tls.protocol, 32)} cipher=${safe(s.tls.cipher, 128)})`);
  if (req.recipients.length === 1) parts.push(`for <${req.recipients[0].address}>`);
  return `Received: ${parts.join('\r\n\t')};\r\n\t${rfc5322Date(req.receivedAt)}`;
}

export function returnPathHeader(from: string): string {
  return `Return-Path: <${from}>`;
}
