/**
 * Mailbox names as core keeps them: full paths of Unicode (NFC) components separated by "/",
 * with INBOX spelled in upper case whatever the client wrote (RFC 9051 §5.1: INBOX is
 * case-insensitive). Protocols translate their own syntax (modified UTF-7, namespaces) to and
 * from this form; nothing here knows a protocol.
 */
import { invalid } from '../errors.ts';

export const SEPARATOR = '/';
export const INBOX = 'INBOX';
/** Longest name in characters: well inside every client's and engine's limits. */
export const MAX_NAME_CHARS = 512;
/** Deepest hierarchy. */
export const MAX_DEPTH = 32;

/** "inbox" and "Inbox/x" become "INBOX" and "INBOX/x"; everything else is NFC-normalised as given. */
export function canonicalName(name: string): string {
  const n = name.normalize('NFC');
  const first = n.indexOf(SEPARATOR);
  const head = first === -1 ? n : n.slice(0, first);
  return head.toUpperCase() === INBOX ? INBOX + (first === -1 ? '' : n.slice(first)) : n;
}

/** Refuses names a mailbox may not have; returns the canonical form. */
export function checkName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw invalid('the mailbox name is empty');
  const n = canonicalName(name);
  if (n.length > MAX_NAME_CHARS) throw invalid(`the mailbox name is longer than ${MAX_NAME_CHARS} characters`);
  // Control characters never belong in a name; % and * are LIST wildcards (RFC 9051 §5.1).
  if (/[\u0000-\u001f\u007f%*]/u.test(n)) throw invalid('the mailbox name holds a control character or a wildcard (% or *)');
  const parts = n.split(SEPARATOR);
  if (parts.length > MAX_DEPTH) throw invalid(`the mailbox hierarchy is deeper than ${MAX_DEPTH}`);
  if (parts.some((p) => p.length === 0)) throw invalid('the mailbox name has an empty level (a leading, trailing or doubled "/")');
  return n;
}

/** "a/b/c" -> ["a", "a/b"] */
export function parentsOf(name: string): string[] {
  const parts = name.split(SEPARATOR);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(SEPARATOR));
  return out;
}

export function isInside(name: string, ancestor: string): boolean {
  return name.startsWith(ancestor + SEPARATOR);
}
