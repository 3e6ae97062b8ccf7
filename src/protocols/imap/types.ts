/**
 * The parsed form of IMAP commands (RFC 9051 §6, RFC 3501 §6 and the extensions Bulwark
 * offers). parser.ts turns the bytes of one complete command (its literals included) into
 * a `Command`; session.ts dispatches on `name`. A discriminated union, so that a command
 * without a handler fails to compile.
 *
 * Conventions:
 * - Mailbox names are as sent: `MailboxArg.raw` holds the astring's bytes decoded as UTF-8
 *   (lossless for modified UTF-7, which is ASCII). The session decides how to read them
 *   (modified UTF-7, or UTF-8 once UTF8=ACCEPT or IMAP4rev2 is enabled); the parser never does.
 * - Strings (astring, string, nstring) are Buffers when they may hold arbitrary octets
 *   (APPEND message literals, search strings before charset decoding) and JS strings
 *   otherwise (UTF-8 decoded).
 * - Atoms that are keywords (command names, fetch items, search keys) are upper-cased by
 *   the parser; flags keep their case (they compare case-insensitively, RFC 9051 §2.3.2).
 * - Sequence sets keep '*' unresolved (STAR); the session resolves them against its view.
 */

/** '*' in a sequence set: the largest number in use (RFC 9051 §9 seq-number). */
export const STAR = -1;

/** One range of a sequence set; a single number n is [n, n]. Either end may be STAR. Unordered as sent ("5:2" is 2..5). */
export type SeqRange = readonly [number, number];

/** A sequence-set, or "$" (the saved search result, RFC 5182 SEARCHRES). */
export type SeqSet = { kind: 'set'; ranges: SeqRange[] } | { kind: 'saved' };

/** An IMAP date (date-day "-" date-month "-" date-year) as written, normalised. */
export interface ImapDay {
  year: number;
  /** 1-12 */
  month: number;
  /** 1-31 */
  day: number;
}

/** A mailbox name argument, undecoded (see the conventions above). "INBOX" in any case is returned as "INBOX". */
export interface MailboxArg {
  raw: string;
}

// ---------------------------------------------------------------------------------------
// SEARCH (RFC 9051 §6.4.4; RFC 7162 MODSEQ; RFC 8514 SAVEDATE; RFC 8474 EMAILID/THREADID;
// RFC 5032 OLDER/YOUNGER; RFC 5182 "$")

export type SearchKey =
  | { k: 'all' }
  | { k: 'and'; keys: SearchKey[] } // a parenthesised list, or the implicit AND of the top level
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'not'; key: SearchKey }
  /** ANSWERED/DELETED/DRAFT/FLAGGED/SEEN (set: true) and the UN- forms (set: false), KEYWORD/UNKEYWORD. */
  | { k: 'flag'; flag: string; set: boolean }
  /** RECENT, NEW, OLD (IMAP4rev1; Bulwark keeps no \Recent state, see session.ts). */
  | { k: 'recent'; which: 'recent' | 'new' | 'old' }
  | { k: 'seq'; set: SeqSet }
  | { k: 'uid'; set: SeqSet }
  | { k: 'larger'; n: number }
  | { k: 'smaller'; n: number }
  /** BEFORE/ON/SINCE (internal date), SENTBEFORE/SENTON/SENTSINCE (Date: header), SAVEDBEFORE/SAVEDON/SAVEDSINCE. */
  | { k: 'date'; field: 'internal' | 'sent' | 'saved'; cmp: 'before' | 'on' | 'since'; day: ImapDay }
  | { k: 'savedatesupported' }
  /** OLDER/YOUNGER n seconds (RFC 5032 WITHIN). */
  | { k: 'age'; cmp: 'older' | 'younger'; seconds: number }
  /** BCC/CC/FROM/TO/SUBJECT: the envelope field; value as sent (octets, before charset decoding). */
  | { k: 'envelope'; field: 'bcc' | 'cc' | 'from' | 'to' | 'subject'; value: Buffer }
  /** HEADER field-name string; field name as sent. */
  | { k: 'header'; field: string; value: Buffer }
  /** BODY (body only) and TEXT (header and body). */
  | { k: 'text'; where: 'body' | 'text'; value: Buffer }
  /** MODSEQ [entry-name entry-type] n (RFC 7162 §3.1.5); the entry is parsed and ignored, as the RFC allows. */
  | { k: 'modseq'; n: bigint; entry?: { name: string; type: 'priv' | 'shared' | 'all' } }
  | { k: 'emailid'; id: string }
  | { k: 'threadid'; id: string };

/** RETURN options of ESEARCH (RFC 4731) and SEARCHRES (RFC 5182). Empty RETURN () means ALL. */
export type SearchReturn = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

// ---------------------------------------------------------------------------------------
// FETCH (RFC 9051 §6.4.5; RFC 3516 BINARY; RFC 7162 MODSEQ/CHANGEDSINCE/VANISHED;
// RFC 8474 EMAILID/THREADID; RFC 8514 SAVEDATE)

/** A section-spec of BODY[...] / BINARY[...] (RFC 9051 §6.4.5). */
export interface Section {
  /** Part numbers, e.g. [1, 2] for "1.2"; empty for the whole message. */
  part: number[];
  /**
   * What of that part: the whole part (null), HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT,
   * TEXT or MIME (MIME needs a part number). BINARY sections have only part numbers.
   */
  text: null | 'HEADER' | 'TEXT' | 'MIME' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT';
  /** Field names for HEADER.FIELDS[.NOT], as sent (compare case-insensitively). */
  fields?: string[];
}

export type FetchAtt =
  | { a: 'ENVELOPE' }
  | { a: 'FLAGS' }
  | { a: 'INTERNALDATE' }
  | { a: 'RFC822.SIZE' }
  | { a: 'UID' }
  | { a: 'BODYSTRUCTURE' }
  /** BODY without a section: the non-extensible BODYSTRUCTURE. */
  | { a: 'BODY' }
  /** RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT] (IMAP4rev1). */
  | { a: 'RFC822' }
  | { a: 'RFC822.HEADER' }
  | { a: 'RFC822.TEXT' }
  /** BODY[section]<partial> and BODY.PEEK[...]; BINARY[...] and BINARY.PEEK[...]. */
  | { a: 'BODY[]'; peek: boolean; section: Section; partial?: { offset: number; length: number } }
  | { a: 'BINARY[]'; peek: boolean; section: Section; partial?: { offset: number; length: number } }
  | { a: 'BINARY.SIZE'; section: Section }
  | { a: 'MODSEQ' }
  | { a: 'EMAILID' }
  | { a: 'THREADID' }
  | { a: 'SAVEDATE' }
  /** RFC 8970 PREVIEW (parsed so clients get a clean BAD-free answer; optional). */
  | { a: 'PREVIEW'; lazy: boolean };

export interface FetchModifiers {
  /** CHANGEDSINCE modseq (RFC 7162 §3.1.4). */
  changedSince?: bigint;
  /** VANISHED (RFC 7162 §3.2.6), UID FETCH only, with CHANGEDSINCE. */
  vanished?: boolean;
}

// ---------------------------------------------------------------------------------------
// LIST (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE)

export type ListSelect = 'SUBSCRIBED' | 'REMOTE' | 'RECURSIVEMATCH' | 'SPECIAL-USE';

export type StatusItem =
  | 'MESSAGES' | 'UIDNEXT' | 'UIDVALIDITY' | 'UNSEEN' | 'DELETED' | 'SIZE' | 'RECENT'
  | 'HIGHESTMODSEQ' | 'APPENDLIMIT' | 'MAILBOXID' | 'DELETED-STORAGE';

export interface ListReturn {
  subscribed?: boolean;
  children?: boolean;
  specialUse?: boolean;
  status?: StatusItem[];
  /** RFC 5465 NOTIFY/MYRIGHTS-style extras are not offered; unknown return options are a BAD. */
}

// ---------------------------------------------------------------------------------------
// SELECT/EXAMINE parameters (RFC 7162 CONDSTORE, QRESYNC)

export interface QresyncParams {
  uidValidity: number;
  modseq: bigint;
  /** known-uids */
  knownUids?: SeqSet;
  /** seq-match-data: (known-sequence-set known-uid-set) */
  seqMatch?: { seqs: SeqSet; uids: SeqSet };
}

// ---------------------------------------------------------------------------------------
// APPEND (RFC 9051 §6.3.12, RFC 3502 MULTIAPPEND, RFC 3516 literal8, RFC 6855 UTF8)

export interface AppendMessage {
  flags: string[];
  /** The date-time as epoch milliseconds, when given. */
  date?: number;
  /** The message octets. */
  data: Buffer;
  /** Sent as a literal8 (~{n}) or inside UTF8 (...): may hold NUL and 8-bit octets (RFC 3516 §4.4). */
  binary: boolean;
  /** Sent as UTF8 (literal) (RFC 6855 §4). */
  utf8: boolean;
}

// ---------------------------------------------------------------------------------------
// SORT and THREAD (RFC 5256)

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

// ---------------------------------------------------------------------------------------
// STORE (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE)

export interface StoreAction {
  op: 'set' | 'add' | 'remove';
  silent: boolean;
  flags: string[];
}

// ---------------------------------------------------------------------------------------
// The commands

interface Tagged {
  tag: string;
}

export type Command = Tagged & (
  // any state
  | { name: 'CAPABILITY' }
  | { name: 'NOOP' }
  | { name: 'LOGOUT' }
  /** RFC 2971: parameters as pairs, or null for NIL. */
  | { name: 'ID'; params: [string, string | null][] | null }
  // not authenticated
  | { name: 'STARTTLS' }
  /** initial response: base64 text as sent, "=" for an empty one (RFC 4959), undefined if absent. */
  | { name: 'AUTHENTICATE'; mechanism: string; initial?: string }
  | { name: 'LOGIN'; user: string; password: string }
  // authenticated
  | { name: 'ENABLE'; capabilities: string[] }
  | { name: 'SELECT' | 'EXAMINE'; mailbox: MailboxArg; condstore: boolean; qresync?: QresyncParams }
  | { name: 'CREATE'; mailbox: MailboxArg; specialUse: string[] }
  | { name: 'DELETE'; mailbox: MailboxArg }
  | { name: 'RENAME'; from: MailboxArg; to: MailboxArg }
  | { name: 'SUBSCRIBE' | 'UNSUBSCRIBE'; mailbox: MailboxArg }
  /**
   * LIST, basic or extended. Patterns are raw (like mailbox names). `extended` is true when
   * selection options, several patterns or return options were given (RFC 5258 §3).
   */
  | { name: 'LIST'; reference: string; patterns: string[]; select: ListSelect[]; ret: ListReturn; extended: boolean }
  | { name: 'LSUB'; reference: string; pattern: string }
  | { name: 'NAMESPACE' }
  | { name: 'STATUS'; mailbox: MailboxArg; items: StatusItem[] }
  | { name: 'APPEND'; mailbox: MailboxArg; messages: AppendMessage[] }
  | { name: 'IDLE' }
  | { name: 'COMPRESS'; mechanism: string }
  | { name: 'GETQUOTA'; root: string }
  | { name: 'GETQUOTAROOT'; mailbox: MailboxArg }
  | { name: 'SETQUOTA'; root: string; limits: [string, bigint][] }
  | { name: 'SETACL'; mailbox: MailboxArg; identifier: string; rights: string }
  | { name: 'DELETEACL'; mailbox: MailboxArg; identifier: string }
  | { name: 'GETACL'; mailbox: MailboxArg }
  | { name: 'LISTRIGHTS'; mailbox: MailboxArg; identifier: string }
  | { name: 'MYRIGHTS'; mailbox: MailboxArg }
  // selected
  | { name: 'CHECK' }
  | { name: 'CLOSE' }
  | { name: 'UNSELECT' }
  | { name: 'EXPUNGE' }
  /** uid: true for UID SEARCH. charset as sent (upper-cased), null when absent. */
  | { name: 'SEARCH'; uid: boolean; charset: string | null; ret: SearchReturn[] | null; key: SearchKey }
  | { name: 'FETCH'; uid: boolean; set: SeqSet; atts: FetchAtt[]; modifiers: FetchModifiers; macro?: 'ALL' | 'FAST' | 'FULL' }
  | { name: 'STORE'; uid: boolean; set: SeqSet; unchangedSince?: bigint; action: StoreAction }
  | { name: 'COPY' | 'MOVE'; uid: boolean; set: SeqSet; mailbox: MailboxArg }
  | { name: 'UID EXPUNGE'; set: SeqSet }
  | { name: 'SORT'; uid: boolean; criteria: SortCriterion[]; charset: string; key: SearchKey; ret: SearchReturn[] | null }
  | { name: 'THREAD'; uid: boolean; algorithm: 'ORDEREDSUBJECT' | 'REFERENCES'; charset: string; key: SearchKey }
);

export type CommandName = Command['name'];

/** A syntax error: the session answers BAD (tagged when the tag could be read). */
export class ImapSyntaxError extends Error {
  /** The tag, when the command got that far; null means answer with an untagged BAD. */
  readonly tag: string | null;
  constructor(message: string, tag: string | null) {
    super(message);
    this.name = 'ImapSyntaxError';
    this.tag = tag;
  }
}
