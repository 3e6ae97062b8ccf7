/**
 * The shapes the MIME parser produces (pure data, no functions: every value here survives
 * JSON.stringify/JSON.parse unchanged, because the parse result is stored once at delivery
 * and later answers IMAP ENVELOPE/BODYSTRUCTURE/BODY[section] and JMAP without re-parsing).
 *
 * Invariants (parse.ts keeps them; the IMAP and JMAP layers may rely on them):
 * - Offsets are byte offsets into the raw message as received:
 *   0 <= headerStart <= headerEnd <= bodyEnd <= raw.length, and every child lies inside
 *   its parent's body [headerEnd, bodyEnd).
 * - `type === 'multipart'` exactly when `parts.length > 0`: a multipart that cannot be split
 *   (no boundary, no delimiter found, or beyond a limit) is reported as text/plain, the
 *   RFC 2045 §5.2 default for an unusable Content-Type, with its headers kept as written.
 * - `message` is non-null only for message/rfc822 and message/global bodies in an identity
 *   encoding (7bit, 8bit, binary); an encoded or over-limit one has `message === null` and is
 *   a basic body for BODYSTRUCTURE (RFC 9051 §7.5.2 allows "MESSAGE" as a basic type).
 */

/** One header field. */
export interface HeaderField {
  /** The field name as written (case kept; white space before the colon dropped, RFC 5322 §4.5.3). */
  name: string;
  /**
   * The field body, unfolded (RFC 5322 §2.2.3: each CRLF followed by WSP is removed, the WSP
   * stays), with leading and trailing white space trimmed; not RFC 2047 decoded. Bytes are
   * read as UTF-8 when they are valid UTF-8 (RFC 6532), otherwise as ISO-8859-1.
   */
  value: string;
  /** Offset of the field's first byte. */
  start: number;
  /** Offset after the field's last line ending (exclusive). */
  end: number;
}

export interface Disposition {
  /** Lower-case, e.g. "attachment" or "inline" (RFC 2183 §2). */
  type: string;
  /** Lower-case names; values RFC 2231 decoded. */
  params: Record<string, string>;
}

/**
 * One address structure of an IMAP ENVELOPE (RFC 9051 §7.5.2). Not to be confused with
 * lib/address.ts Address, which is a normalised local@domain of this server's directory.
 *
 * Group syntax (RFC 5322 §3.4) follows RFC 9051 §7.5.2: `host === null` marks a group;
 * a start-of-group marker has the group phrase (raw) in `mailbox` and its decoded form in
 * `name`, with `nameRaw === null`; an end-of-group marker has `mailbox === null` too.
 * An ordinary address has non-null `mailbox` and `host` ("" when the address lacks one).
 */
export interface Address {
  /** Display name, RFC 2047 decoded; null when there is none. */
  name: string | null;
  /** Display name as written (quotes and escapes removed), for IMAP's addr-name. */
  nameRaw: string | null;
  mailbox: string | null;
  host: string | null;
}

/** RFC 9051 §7.5.2 ENVELOPE. Strings are null when the field is absent, "" when present but empty. */
export interface Envelope {
  /** The Date field as written. */
  date: string | null;
  /** The Subject field as written (IMAP sends it undecoded). */
  subject: string | null;
  /** The Subject field, RFC 2047 decoded. */
  subjectDecoded: string | null;
  from: Address[] | null;
  /** Defaults to `from` when absent or empty, as RFC 9051 §7.5.2 requires of the server. */
  sender: Address[] | null;
  /** Defaults to `from` when absent or empty (RFC 9051 §7.5.2). */
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/** A message/rfc822 (or message/global) body parsed as a message of its own. */
export interface EmbeddedMessage {
  envelope: Envelope;
  /** Its root part: headerStart is the enclosing part's headerEnd. */
  part: MimePart;
}

export interface MimePart {
  headerStart: number;
  /** Offset of the first body byte, after the blank line (== bodyEnd when there is no blank line). */
  headerEnd: number;
  /** Exclusive end of the body. */
  bodyEnd: number;
  headers: HeaderField[];
  /** Lower-case media type, e.g. "text". */
  type: string;
  /** Lower-case subtype, e.g. "plain". */
  subtype: string;
  /** Content-Type parameters: lower-case names, RFC 2231 decoded and joined. */
  params: Record<string, string>;
  /** Content-ID as written (usually with its angle brackets). */
  id: string | null;
  /** Content-Description as written (not RFC 2047 decoded). */
  description: string | null;
  /** Content-Transfer-Encoding, lower-case; "7bit" when absent (RFC 2045 §6.1). */
  encoding: string;
  disposition: Disposition | null;
  /** Content-Language tags (RFC 3282 §2). */
  language: string[] | null;
  /** Content-Location (RFC 2557 §4.2). */
  location: string | null;
  /** Content-MD5 (RFC 1864). */
  md5: string | null;
  /** Body octets: bodyEnd - headerEnd. */
  size: number;
  /** Body lines: line feeds in the body, plus one for a last line without one; 0 for a multipart. */
  lines: number;
  /** Children of a multipart, in order. */
  parts: MimePart[];
  message: EmbeddedMessage | null;
}

export interface ParsedMessage {
  part: MimePart;
  envelope: Envelope;
  /** raw.length */
  size: number;
  /** Octets of the root header section, blank line included. */
  headerSize: number;
  /** Epoch milliseconds from Date:, or null when absent or unparseable. */
  sentDate: number | null;
  /** Subject, RFC 2047 decoded; "" when absent. */
  subject: string;
  /** Lower-case addr-specs (local@host) of From, To and Cc; group markers left out. */
  from: string[];
  to: string[];
  cc: string[];
  /** Message-ID without its angle brackets. */
  messageId: string | null;
  inReplyTo: string[];
  references: string[];
  hasAttachment: boolean;
  /** Up to 256 characters of the first text part, decoded, white space collapsed. */
  preview: string;
  /** True when a limit (depth, parts, header fields) cut the parse short. */
  limits: boolean;
}

export interface ParseOptions {
  /** Deepest nesting of parts below the root (default 32, at most 256). */
  maxDepth?: number;
  /** Most parts in the whole tree, root and embedded messages included (default 10,000). */
  maxParts?: number;
  /** Most header fields kept in the whole tree (default 100,000); later fields are skipped. */
  maxHeaderFields?: number;
}
