/**
 * Searching one mailbox (what IMAP SEARCH, SORT and THREAD, and later JMAP Email/query,
 * ask): a tree of criteria in core's terms, evaluated over the rows of the mailbox and what
 * delivery stored with them. Text criteria (IMAP BODY, TEXT) are answered by the full-text
 * index, never by reading bodies; header criteria read only the header sections.
 *
 * Semantics (documented for users in docs/rfc-support.md):
 * - Envelope and header criteria are case-insensitive substring matches on the decoded
 *   (RFC 2047) text, as RFC 9051 §6.4.4 asks.
 * - Text criteria match when every word of the search string starts a word of the message
 *   (full-text index semantics, as Dovecot's FTS); a string with no word in it (only
 *   punctuation) is matched as a substring of the decoded text parts instead.
 * - Dates compare calendar days in the server's time zone, except SENTBEFORE/SENTON/SENTSINCE,
 *   which take the day the Date: field itself names (RFC 9051: "disregarding time and
 *   timezone"); a message without a usable Date: field uses its internal date.
 */
import type { Kysely } from 'kysely';
import type { PartitionDB } from '../../store/schema.ts';
import { ftsSearch } from '../../store/fts.ts';
import { decodeEncodedWords, parseHeaderSection, parseMessage } from '../../lib/mime/index.ts';
import { extractText, searchTokens } from '../../lib/mime/text.ts';
import type { Address } from '../../lib/mime/types.ts';
import type { StoredStructure } from './delivery/meta.ts';
import { hasFlag, parseStoredFlags } from './flags.ts';
import type { AccountRef, MailStore } from './mailstore.ts';
import type { UidRanges } from './messages.ts';

export interface Day {
  year: number;
  month: number;
  day: number;
}

export type Criterion =
  | { k: 'all' }
  | { k: 'none' }
  | { k: 'and'; of: Criterion[] }
  | { k: 'or'; of: Criterion[] }
  | { k: 'not'; of: Criterion }
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'uids'; ranges: UidRanges }
  | { k: 'size'; cmp: 'lt' | 'gt'; n: number }
  | { k: 'date'; field: 'internal' | 'sent' | 'saved'; cmp: 'before' | 'on' | 'since'; day: Day }
  | { k: 'age'; cmp: 'older' | 'younger'; seconds: number }
  | { k: 'address'; field: 'from' | 'to' | 'cc' | 'bcc'; value: string }
  | { k: 'subject'; value: string }
  | { k: 'header'; field: string; value: string }
  | { k: 'text'; where: 'body' | 'text'; value: string }
  | { k: 'modseq'; n: number }
  | { k: 'emailid'; id: number }
  | { k: 'threadid'; id: number };

export interface SearchRow {
  id: number;
  uid: number;
  flags: string[];
  size: number;
  internalDate: number;
  saveDate: number;
  sentDate: number | null;
  subject: string | null;
  modseq: number;
  emailId: number;
  threadId: number;
  blobHash: string;
}

export interface SearchDeps {
  mail: MailStore;
  /** Indexes what is not indexed yet in this mailbox (search must never miss a new message). */
  catchUp(account: AccountRef, mailboxId: number): Promise<void>;
  /** The stored structures by blob hash. */
  structures(account: AccountRef, hashes: readonly string[]): Promise<Map<string, StoredStructure | null>>;
  body(account: AccountRef, hash: string): Promise<Buffer>;
  now?: () => number;
}

function fold(s: string): string {
  return s.normalize('NFKC').toLowerCase();
}

/** Calendar day as a comparable number (yyyymmdd). */
function dayKey(d: Day): number {
  return d.year * 10_000 + d.month * 100 + d.day;
}

function localDay(ms: number): number {
  const d = new Date(ms);
  return d.getFullYear() * 10_000 + (d.getMonth() + 1) * 100 + d.getDate();
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** The day a Date: field names, in its own zone (RFC 5322 §3.3 date = day month year). */
export function dayOfDateField(value: string | null): number | null {
  if (!value) return null;
  const m = /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})/.exec(value);
  if (!m) return null;
  const month = MONTHS.indexOf(m[2].toLowerCase());
  if (month < 0) return null;
  let year = Number(m[3]);
  // RFC 5322 §4.3 obsolete two- and three-digit years.
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  const day = Number(m[1]);
  if (day < 1 || day > 31) return null;
  return year * 10_000 + (month + 1) * 100 + day;
}

function compareDay(have: number, cmp: 'before' | 'on' | 'since', want: number): boolean {
  return cmp === 'before' ? have < want : cmp === 'on' ? have === want : have >= want;
}

function addressText(list: Address[] | null): string {
  if (!list) return '';
  return list.map((a) => `${a.name ?? ''} ${a.nameRaw ?? ''} <${a.mailbox ?? ''}@${a.host ?? ''}>`).join(', ');
}

function inRanges(uid: number, ranges: UidRanges): boolean {
  for (const [a, b] of ranges) if (uid >= a && uid <= b) return true;
  return false;
}

type Needs = { structure: boolean; headers: Set<string>; texts: Map<string, Criterion & { k: 'text' }> };

function collectNeeds(c: Criterion, n: Needs): void {
  switch (c.k) {
    case 'and': case 'or':
      for (const x of c.of) collectNeeds(x, n);
      return;
    case 'not':
      return collectNeeds(c.of, n);
    case 'address':
      n.structure = true;
      return;
    case 'date':
      if (c.field === 'sent') n.structure = true;
      return;
    case 'header':
      n.structure = true;
      n.headers.add(c.field.toLowerCase());
      return;
    case 'text':
      n.texts.set(`${c.where}\u0000${c.value}`, c);
      return;
    default:
  }
}

/** Rows of a mailbox as search and sort need them, ascending by UID. */
export async function searchRows(mail: MailStore, account: AccountRef, mailboxId: number): Promise<SearchRow[]> {
  const rows = await mail.partitionOf(account).run('read messages for search', (db: Kysely<PartitionDB>) =>
    db.selectFrom('messages').select([...SEARCH_COLUMNS]).where('account_id', '=', account.id).where('mailbox_id', '=', mailboxId).orderBy('uid').execute());
  return rows.map(toSearchRow);
}

/** More prefiltered ids than this and the mailbox is read whole instead (one scan beats many IN lists). */
const PREFILTER_MAX = 50_000;

/** Ids every match must be among, when a text criterion is ANDed at the top; null when none is. */
function prefilter(c: Criterion, hits: Map<string, Set<number>>): Set<number> | null {
  if (c.k === 'text') return c.value.length === 0 ? null : hits.get(`${c.where}\u0000${c.value}`) ?? null;
  if (c.k !== 'and') return null;
  let best: Set<number> | null = null;
  for (const x of c.of) {
    const h = prefilter(x, hits);
    if (h && (!best || h.size < best.size)) best = h;
  }
  return best;
}

const SEARCH_COLUMNS = ['id', 'uid', 'flags', 'size', 'internal_date', 'savedate', 'sent_date', 'subject', 'modseq', 'email_id', 'thread_id', 'blob_hash'] as const;

function toSearchRow(r: Pick<PartitionDB['messages'], (typeof SEARCH_COLUMNS)[number]>): SearchRow {
  return {
    id: r.id, uid: r.uid, flags: parseStoredFlags(r.flags), size: r.size, internalDate: r.internal_date, saveDate: r.savedate ?? r.internal_date,
    sentDate: r.sent_date, subject: r.subject, modseq: r.modseq, emailId: r.email_id ?? r.id, threadId: r.thread_id ?? r.id, blobHash: r.blob_hash,
  };
}

/**
 * Rows of a mailbox among some message ids, ascending by UID. Looked up by primary key
 * (account_id, id) and filtered to the mailbox here: with mailbox_id in the WHERE clause
 * SQLite prefers the (account_id, mailbox_id, ...) indexes and walks the whole mailbox for
 * every IN list (bench/RESULTS.md, IMAP full-text search).
 */
async function searchRowsById(mail: MailStore, account: AccountRef, mailboxId: number, ids: Set<number>): Promise<SearchRow[]> {
  const list = [...ids].sort((a, b) => a - b);
  const out: SearchRow[] = [];
  await mail.partitionOf(account).run('read messages for search', async (db: Kysely<PartitionDB>) => {
    for (let i = 0; i < list.length; i += 500) {
      const rows = await db.selectFrom('messages').select([...SEARCH_COLUMNS, 'mailbox_id']).where('account_id', '=', account.id)
        .where('id', 'in', list.slice(i, i + 500)).execute();
      for (const r of rows) if (r.mailbox_id === mailboxId) out.push(toSearchRow(r));
    }
  });
  return out.sort((a, b) => a.uid - b.uid);
}

export interface SearchResult {
  rows: SearchRow[];
  structures: Map<string, StoredStructure | null>;
}

/**
 * The rows of the mailbox that match, ascending by UID. `rows` may be given (a session that
 * read them for SORT); structures are returned when they were loaded, for SORT and THREAD.
 */
export async function search(deps: SearchDeps, account: AccountRef, mailboxId: number, criterion: Criterion, opts: { rows?: SearchRow[]; structures?: boolean } = {}): Promise<SearchResult> {
  const needs: Needs = { structure: opts.structures ?? false, headers: new Set(), texts: new Map() };
  collectNeeds(criterion, needs);

  // Full-text first: one index query per distinct text criterion, after the indexer caught
  // up. When the matches must be among one criterion's hits (it is ANDed at the top), only
  // those rows are read: a word search in a 100,000-message mailbox reads its hits, not the
  // mailbox.
  const textHits = new Map<string, Set<number>>();
  const scans: [string, Criterion & { k: 'text' }][] = [];
  if (needs.texts.size > 0) {
    await deps.catchUp(account, mailboxId);
    const part = deps.mail.partitionOf(account);
    for (const [key, c] of needs.texts) {
      const terms = searchTokens(c.value);
      if (c.value.length === 0) continue; // every message holds the empty string: see evalRow
      if (terms.length > 0) textHits.set(key, await part.run('full-text search', (db) => ftsSearch(db, part.engine!.kind, account.id, terms, c.where)));
      else scans.push([key, c]);
    }
  }
  let rows = opts.rows;
  if (!rows) {
    const pre = prefilter(criterion, textHits);
    rows = pre && pre.size <= PREFILTER_MAX ? await searchRowsById(deps.mail, account, mailboxId, pre) : await searchRows(deps.mail, account, mailboxId);
  }
  for (const [key, c] of scans) textHits.set(key, await substringScan(deps, account, rows, c));
  const structures = needs.structure ? await deps.structures(account, rows.map((r) => r.blobHash)) : new Map<string, StoredStructure | null>();

  // Header criteria read the header sections of the messages once.
  const headerValues = new Map<number, Map<string, string[]>>();
  if (needs.headers.size > 0) {
    for (const r of rows) {
      const s = structures.get(r.blobHash);
      const raw = await deps.body(account, r.blobHash);
      const end = s ? s.offset + s.part.headerEnd : raw.length;
      const fields = parseHeaderSection(raw.subarray(0, end), 0, end).fields;
      const m = new Map<string, string[]>();
      for (const f of fields) {
        const k = f.name.toLowerCase();
        if (!needs.headers.has(k)) continue;
        const list = m.get(k) ?? [];
        list.push(fold(decodeEncodedWords(f.value)));
        m.set(k, list);
      }
      headerValues.set(r.id, m);
    }
  }

  const now = (deps.now ?? Date.now)();
  const evalRow = (c: Criterion, r: SearchRow): boolean => {
    switch (c.k) {
      case 'all': return true;
      case 'none': return false;
      case 'and': return c.of.every((x) => evalRow(x, r));
      case 'or': return c.of.some((x) => evalRow(x, r));
      case 'not': return !evalRow(c.of, r);
      case 'flag': return hasFlag(r.flags, c.flag) === c.set;
      case 'uids': return inRanges(r.uid, c.ranges);
      case 'size': return c.cmp === 'lt' ? r.size < c.n : r.size > c.n;
      case 'date': {
        let have: number;
        if (c.field === 'internal') have = localDay(r.internalDate);
        else if (c.field === 'saved') have = localDay(r.saveDate);
        else have = dayOfDateField(structures.get(r.blobHash)?.envelope.date ?? null) ?? localDay(r.sentDate ?? r.internalDate);
        return compareDay(have, c.cmp, dayKey(c.day));
      }
      case 'age': {
        const age = (now - r.internalDate) / 1000;
        return c.cmp === 'older' ? age >= c.seconds : age <= c.seconds;
      }
      case 'address': {
        const env = structures.get(r.blobHash)?.envelope;
        if (!env) return false;
        return fold(addressText(env[c.field])).includes(fold(c.value));
      }
      case 'subject': return fold(r.subject ?? '').includes(fold(c.value));
      case 'header': {
        const vals = headerValues.get(r.id)?.get(c.field.toLowerCase());
        if (!vals) return false;
        const want = fold(c.value);
        return want === '' || vals.some((v) => v.includes(want));
      }
      case 'text': {
        if (c.value.length === 0) return true;
        const hit = textHits.get(`${c.where}\u0000${c.value}`);
        return hit?.has(r.id) ?? false;
      }
      case 'modseq': return r.modseq >= c.n;
      case 'emailid': return r.emailId === c.id;
      case 'threadid': return r.threadId === c.id;
    }
  };
  return { rows: rows.filter((r) => evalRow(criterion, r)), structures };
}

/** A search string without words: substring of the decoded text, read from the bodies. */
async function substringScan(deps: SearchDeps, account: AccountRef, rows: SearchRow[], c: Criterion & { k: 'text' }): Promise<Set<number>> {
  const want = fold(c.value);
  const out = new Set<number>();
  for (const r of rows) {
    const raw = await deps.body(account, r.blobHash);
    const t = extractText(raw, parseMessage(raw));
    const hay = fold(c.where === 'body' ? t.body : `${t.header}\n${t.body}`);
    if (hay.includes(want)) out.add(r.id);
  }
  return out;
}
