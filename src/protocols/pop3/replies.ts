/**
 * What a POP3 session answers beyond the obvious: the one place where core errors become
 * -ERR replies with response codes (RFC 2449 §8 RESP-CODES, RFC 3206 SYS and AUTH), the
 * fixed refusals of logins, and the CAPA list (RFC 2449 §5, §6).
 *
 * Response codes used:
 * - [AUTH] (RFC 3206 §5): the credentials were refused — a wrong password, an unknown or
 *   disabled account, a locked (account, address) pair all get the same reply — and also a
 *   login attempted before TLS while auth.require_tls is on, which RFC 3206 §5 covers as "an
 *   attempt to authenticate in violation of policy". POP3 has no code of its own for "use
 *   TLS first" (IMAP's PRIVACYREQUIRED, SMTP's 530 5.7.0); the text says what to do.
 * - [SYS/TEMP] (RFC 3206 §4): a failure of ours that may go away (storage unavailable, a
 *   fault, shutting down, too many connections): the client should try again later.
 * - [SYS/PERM] (RFC 3206 §4): a failure of ours that will not go away by retrying.
 * - [IN-USE] (RFC 2449 §8.1): another POP3 session holds the maildrop.
 */
import { DomainError } from '../../core/errors.ts';

export type RespCode = 'AUTH' | 'SYS/TEMP' | 'SYS/PERM' | 'IN-USE';

/** "-ERR [CODE] text" (RFC 2449 §8: the code right after "-ERR ", in brackets). */
export function err(code: RespCode | null, text: string): string {
  return code ? `-ERR [${code}] ${text}` : `-ERR ${text}`;
}

/** RFC 3206 §5; GW-DOS-5: one reply for every reason a login fails. */
export const AUTH_FAILED = err('AUTH', 'Authentication failed');
/** GW-CRY-1: no credentials in clear text. */
export const TLS_FIRST = err('AUTH', 'Authentication requires TLS; use STLS first');
export const AUTH_UNAVAILABLE = err('SYS/TEMP', 'Authentication temporarily unavailable; try again later');
export const IN_USE = err('IN-USE', 'The maildrop is in use by another POP3 session');
export const INTERNAL = err('SYS/TEMP', 'Internal error; try again later');

export interface ErrOutcome {
  code: RespCode | null;
  text: string;
  /** Not the client's doing and not expected: logged at error with the stack. */
  fault: boolean;
}

/** The one place where core errors become -ERR replies. */
export function errFor(e: unknown): ErrOutcome {
  if (!(e instanceof DomainError)) return { code: 'SYS/TEMP', text: 'Internal error; try again later', fault: true };
  switch (e.code) {
    case 'UNAVAILABLE':
      return { code: 'SYS/TEMP', text: 'Storage temporarily unavailable; try again later', fault: false };
    case 'STORAGE_FULL':
      return { code: 'SYS/TEMP', text: 'Not enough disk space on the server; try again later', fault: false };
    case 'CONFLICT':
      return { code: 'SYS/TEMP', text: 'A concurrent change interfered; try again', fault: false };
    case 'NOT_FOUND':
      return { code: null, text: 'No such message', fault: false };
    case 'AUTH_FAILED':
    case 'ACCOUNT_DISABLED':
      return { code: 'AUTH', text: 'Authentication failed', fault: false };
    case 'FORBIDDEN':
      return { code: 'SYS/PERM', text: 'Not permitted', fault: false };
    case 'INTERNAL':
      return { code: 'SYS/TEMP', text: 'Internal error; try again later', fault: true };
    case 'INTEGRITY':
      return { code: 'SYS/PERM', text: 'Stored data failed an integrity check', fault: true };
    default:
      return e.temporary
        ? { code: 'SYS/TEMP', text: 'Temporary failure; try again later', fault: false }
        : { code: 'SYS/PERM', text: 'The operation failed', fault: false };
  }
}

/**
 * The CAPA list (RFC 2449 §5). One list for both states: RFC 2449 §5 requires the
 * capabilities of the AUTHORIZATION state to be announced in the TRANSACTION state too.
 * USER and SASL PLAIN appear only where a login may succeed on this connection: over TLS, or
 * with auth.require_tls off (like IMAP's LOGINDISABLED, GW-CRY-1). STLS appears until TLS is
 * active, when a certificate exists (RFC 2595 §4). APOP is not offered.
 */
export function capabilities(o: { tls: boolean; canStartTls: boolean; loginAllowed: boolean }): string[] {
  const caps = [
    'TOP', // RFC 2449 §6.1
    'UIDL', // RFC 2449 §6.8
    'RESP-CODES', // RFC 2449 §6.4
    'AUTH-RESP-CODE', // RFC 3206 §6
    'PIPELINING', // RFC 2449 §6.6
  ];
  if (o.loginAllowed) caps.push('USER', 'SASL PLAIN'); // RFC 2449 §6.2, §6.3 (RFC 5034)
  if (!o.tls && o.canStartTls) caps.push('STLS'); // RFC 2595 §4
  caps.push(
    'EXPIRE NEVER', // RFC 2449 §6.7: we never delete mail on our own
    'LOGIN-DELAY 0', // RFC 2449 §6.5: no minimum time between logins
    'IMPLEMENTATION Bulwark', // RFC 2449 §6.9
  );
  return caps;
}
