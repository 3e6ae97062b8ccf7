/**
 * Mailbox names between the wire and core (RFC 9051 §5.1, RFC 2342 NAMESPACE):
 * - Encoding: modified UTF-7 (RFC 3501 §5.1.3) unless the client enabled UTF8=ACCEPT or
 *   IMAP4rev2, then UTF-8 (RFC 6855 §3, RFC 9051 §5.1).
 * - Namespaces: the personal one ("" with "/"), and other users' mailboxes under
 *   "Shared/<owner address>/<owner's name>" (RFC 2342 "Other Users' Namespace"). "Shared" and
 *   "Shared/<owner>" are hierarchy levels only (\Noselect).
 * - LIST patterns (RFC 9051 §6.3.9): "*" matches anything, "%" anything but the delimiter.
 */
import { Utf7Error, decodeMailboxName, encodeMailboxName } from '../../lib/utf7.ts';
import { canonicalName, SEPARATOR } from '../../core/mail/names.ts';
import { invalid } from '../../core/errors.ts';

export const DELIMITER = SEPARATOR;
export const SHARED_PREFIX = 'Shared';

export type Located =
  | { ns: 'personal'; name: string }
  /** name is the owner's own name for the mailbox; '' for the owner level "Shared/<owner>". */
  | { ns: 'shared'; owner: string; name: string }
  /** "Shared" itself. */
  | { ns: 'shared-root' };

/** A name as sent to its Unicode form (no namespace interpretation). */
export function fromWire(raw: string, utf8: boolean): string {
  // Non-ASCII octets can only be UTF-8 (a client ignoring the modified UTF-7 rule, or one in
  // UTF-8 mode); pure ASCII is modified UTF-7 unless the client enabled UTF-8.
  // eslint-disable-next-line no-control-regex
  if (utf8 || /[^\u0000-\u007f]/.test(raw)) return raw.normalize('NFC');
  try {
    return decodeMailboxName(raw);
  } catch (e) {
    if (e instanceof Utf7Error) throw invalid('the mailbox name is not valid modified UTF-7');
    throw e;
  }
}

export function toWire(name: string, utf8: boolean): string {
  return utf8 ? name : encodeMailboxName(name);
}

/** Where a full (Unicode) name lives. */
export function locate(full: string): Located {
  const n = canonicalName(full);
  if (n === SHARED_PREFIX) return { ns: 'shared-root' };
  if (n.startsWith(SHARED_PREFIX + DELIMITER)) {
    const rest = n.slice(SHARED_PREFIX.length + 1);
    const i = rest.indexOf(DELIMITER);
    if (i === -1) return { ns: 'shared', owner: rest.toLowerCase(), name: '' };
    return { ns: 'shared', owner: rest.slice(0, i).toLowerCase(), name: canonicalName(rest.slice(i + 1)) };
  }
  return { ns: 'personal', name: n };
}

export function sharedName(owner: string, name: string): string {
  return `${SHARED_PREFIX}${DELIMITER}${owner}${name ? DELIMITER + name : ''}`;
}

/**
 * A LIST pattern (reference and mailbox joined, RFC 9051 §6.3.9) as a matcher. Matching is
 * exact but for INBOX, which matches in any case; wildcards never cross into nothing: "%" stops
 * at the delimiter.
 */
export function patternMatcher(pattern: string): (name: string) => boolean {
  const p = [...canonicalName(pattern)];
  return (name: string) => globMatch(p, [...name]);
}

/**
 * Simulates the pattern as an automaton over the set of pattern positions: O(|p| * |s|),
 * never exponential, whatever the client sends. "*" matches any run, "%" any run without
 * the delimiter.
 */
function globMatch(p: string[], s: string[]): boolean {
  const n = p.length;
  let cur = new Uint8Array(n + 1);
  let next = new Uint8Array(n + 1);
  const close = (set: Uint8Array) => {
    for (let i = 0; i < n; i++) if (set[i] && (p[i] === '*' || p[i] === '%')) set[i + 1] = 1;
  };
  cur[0] = 1;
  close(cur);
  for (const c of s) {
    next.fill(0);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (!cur[i]) continue;
      const pc = p[i];
      if (pc === '*' || (pc === '%' && c !== DELIMITER)) {
        next[i] = 1;
        any = true;
      } else if (pc === c) {
        next[i + 1] = 1;
        any = true;
      }
    }
    if (!any) return false;
    close(next);
    [cur, next] = [next, cur];
  }
  return cur[n] === 1;
}
