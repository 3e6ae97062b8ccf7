/**
 * Message flags as core keeps them (RFC 9051 §2.3.2): the system flags in their canonical
 * spelling, and keywords (atoms) compared case-insensitively and kept as first written.
 * Stored as a JSON array of strings on the message row.
 */
import { invalid } from '../errors.ts';

export const SEEN = '\\Seen';
export const ANSWERED = '\\Answered';
export const FLAGGED = '\\Flagged';
export const DELETED = '\\Deleted';
export const DRAFT = '\\Draft';
export const SYSTEM_FLAGS = [SEEN, ANSWERED, FLAGGED, DELETED, DRAFT] as const;
const SYSTEM_BY_LOWER = new Map(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));

/** Most keywords one message may carry, and most distinct ones per mailbox a client is told about. */
export const MAX_FLAGS_PER_MESSAGE = 128;
/** Longest flag, in characters. */
export const MAX_FLAG_LENGTH = 128;

// atom-char (RFC 9051 §9): any CHAR except atom-specials ( ) { SP CTL % * " \ ]
const KEYWORD_RE = /^[!#$&'+-[^-z|}~]+$/;

/** Canonical spelling of one flag; throws INVALID_INPUT for a flag that is not one. */
export function canonicalFlag(f: string): string {
  if (typeof f !== 'string' || f.length === 0 || f.length > MAX_FLAG_LENGTH) throw invalid('a flag is empty or too long');
  if (f.startsWith('\\')) {
    const sys = SYSTEM_BY_LOWER.get(f.toLowerCase());
    // \Recent is session state (IMAP4rev1) and never stored; other \-flags are not defined.
    if (!sys) throw invalid(`${f.slice(0, 40)} is not a flag that can be stored`);
    return sys;
  }
  if (!KEYWORD_RE.test(f)) throw invalid(`keyword ${JSON.stringify(f.slice(0, 40))} is not an atom`);
  return f;
}

/** Canonical, de-duplicated (case-insensitively), in first-seen order. */
export function normaliseFlags(flags: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const f of flags) {
    const c = canonicalFlag(f);
    const k = c.toLowerCase();
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(c);
  }
  if (out.length > MAX_FLAGS_PER_MESSAGE) throw invalid(`more than ${MAX_FLAGS_PER_MESSAGE} flags on one message`);
  return out;
}

export function hasFlag(flags: readonly string[], f: string): boolean {
  const k = f.toLowerCase();
  return flags.some((x) => x.toLowerCase() === k);
}

/** The result of a STORE-style change (RFC 9051 §6.4.6). */
export function applyFlags(current: readonly string[], op: 'set' | 'add' | 'remove', flags: readonly string[]): string[] {
  if (op === 'set') return [...flags];
  if (op === 'add') {
    const out = [...current];
    for (const f of flags) if (!hasFlag(out, f)) out.push(f);
    return out;
  }
  const drop = new Set(flags.map((f) => f.toLowerCase()));
  return current.filter((f) => !drop.has(f.toLowerCase()));
}

export function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a.map((f) => f.toLowerCase()));
  return b.every((f) => s.has(f.toLowerCase()));
}

export function parseStoredFlags(json: string): string[] {
  return JSON.parse(json) as string[];
}
