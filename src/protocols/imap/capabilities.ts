/**
 * The CAPABILITY list (RFC 9051 §7.2.2) by session state: before login only what a client
 * needs to log in safely (STARTTLS, the SASL mechanisms, LOGINDISABLED while credentials
 * would travel in clear), after login every extension Bulwark implements. Each entry names
 * the RFC that defines it; docs/rfc-support.md lists the same.
 */
import type { ImapState } from './context.ts';

const AUTHENTICATED = [
  'IMAP4rev1', // RFC 3501
  'IMAP4rev2', // RFC 9051
  'LITERAL+', // RFC 7888
  'ID', // RFC 2971
  'ENABLE', // RFC 5161
  'IDLE', // RFC 2177
  'NAMESPACE', // RFC 2342
  'UIDPLUS', // RFC 4315
  'MOVE', // RFC 6851
  'UNSELECT', // RFC 3691
  'CHILDREN', // RFC 3348
  'SPECIAL-USE', // RFC 6154
  'CREATE-SPECIAL-USE', // RFC 6154
  'LIST-EXTENDED', // RFC 5258
  'LIST-STATUS', // RFC 5819
  'CONDSTORE', // RFC 7162
  'QRESYNC', // RFC 7162
  'ESEARCH', // RFC 4731
  'SEARCHRES', // RFC 5182
  'SORT', // RFC 5256
  'SORT=DISPLAY', // RFC 5957
  'THREAD=ORDEREDSUBJECT', // RFC 5256
  'THREAD=REFERENCES', // RFC 5256
  'QUOTA', // RFC 9208
  'QUOTA=RES-STORAGE', // RFC 9208 §5.1
  'UTF8=ACCEPT', // RFC 6855
  'BINARY', // RFC 3516
  'STATUS=SIZE', // RFC 8438
  'SAVEDATE', // RFC 8514
  'OBJECTID', // RFC 8474
  'ACL', // RFC 4314
  'RIGHTS=texk', // RFC 4314 §2.1
  'WITHIN', // RFC 5032
  'ESORT', // RFC 5267 (SORT RETURN)
  'MULTIAPPEND', // RFC 3502
  'SASL-IR', // RFC 4959
];

export function capabilities(o: { state: ImapState; tls: boolean; canStartTls: boolean; requireTls: boolean; compressed: boolean; maxMessageSize: number }): string[] {
  const limit = `APPENDLIMIT=${o.maxMessageSize}`; // RFC 7889
  if (o.state === 'not-authenticated') {
    const caps = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', limit];
    if (!o.tls && o.canStartTls) caps.push('STARTTLS');
    // RFC 9051 §6.2.3: LOGINDISABLED (and no AUTH= mechanism) while login is refused.
    if (!o.tls && o.requireTls) caps.push('LOGINDISABLED');
    else caps.push('AUTH=PLAIN', 'AUTH=LOGIN');
    return caps;
  }
  const caps = [...AUTHENTICATED, limit];
  if (!o.compressed) caps.push('COMPRESS=DEFLATE'); // RFC 4978 §3: not offered once active
  return caps;
}
