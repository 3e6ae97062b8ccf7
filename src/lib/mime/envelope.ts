/**
 * IMAP ENVELOPE (RFC 9051 §7.5.2) from a header section, and the message identifiers of
 * RFC 5322 §3.6.4 (Message-ID, In-Reply-To, References) as lists for threading and JMAP.
 */
import { parseAddressList } from './address-list.ts';
import { decodeEncodedWords } from './encoded-word.ts';
import { getHeader } from './header.ts';
import type { Address, Envelope, HeaderField } from './types.ts';

function addresses(fields: readonly HeaderField[], name: string): Address[] | null {
  const v = getHeader(fields, name);
  if (v === null) return null;
  const list = parseAddressList(v);
  // RFC 9051 §7.5.2: env-from etc. are "(" 1*address ")" / nil; an empty list is NIL.
  return list.length > 0 ? list : null;
}

export function buildEnvelope(fields: readonly HeaderField[]): Envelope {
  const subject = getHeader(fields, 'subject');
  const from = addresses(fields, 'from');
  return {
    // RFC 9051 §7.5.2: absent fields are NIL; present but empty ones are the empty string.
    date: getHeader(fields, 'date'),
    subject,
    subjectDecoded: subject === null ? null : decodeEncodedWords(subject),
    from,
    // RFC 9051 §7.5.2: "If the Sender or Reply-To header lines are absent in the [RFC5322]
    // header, or are present but empty, the server sets the corresponding member of the
    // envelope to be the same value as the from member".
    sender: addresses(fields, 'sender') ?? from,
    replyTo: addresses(fields, 'reply-to') ?? from,
    to: addresses(fields, 'to'),
    cc: addresses(fields, 'cc'),
    bcc: addresses(fields, 'bcc'),
    inReplyTo: getHeader(fields, 'in-reply-to'),
    messageId: getHeader(fields, 'message-id'),
  };
}

/**
 * The msg-ids of a field (RFC 5322 §3.6.4), without angle brackets, in order. Comments and
 * phrases between them (obs-in-reply-to) are skipped; white space inside brackets is dropped.
 * A value with no brackets at all falls back to its words that look like id-left@id-right.
 */
export function parseMessageIds(value: string | null): string[] {
  if (value === null) return [];
  const out: string[] = [];
  for (const m of value.matchAll(/<([^<>]*)>/g)) {
    const id = m[1].replace(/[\s]+/g, '');
    if (id.length > 0) out.push(id);
  }
  if (out.length === 0 && !value.includes('<')) {
    for (const w of value.replace(/\([^()]*\)/g, ' ').split(/[\s,]+/)) if (w.includes('@')) out.push(w);
  }
  return out;
}
