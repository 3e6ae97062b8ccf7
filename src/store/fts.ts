/**
 * The full-text index of one partition (table message_text, migration 0004): the only SQL
 * that differs between the engines. Callers hand in token streams made by
 * lib/mime/text.ts (letters and digits only, lower-case, space-separated), so SQLite FTS5 and
 * PostgreSQL tsvector index the same terms and answer the same queries.
 *
 * Semantics: a query is a list of terms, all of which must occur (AND); each term matches
 * any indexed word it is a prefix of. Header terms and body terms are kept apart so that
 * IMAP BODY (body only) and TEXT (header or body) can be told apart.
 *
 * Invariants:
 * - A document is keyed by (account, message id); ids are below 2^32 per account (SQLite
 *   rowid = account_id * 2^32 + id), so a query never sees another account's documents.
 * - Writes run inside the caller's transaction.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { EngineKind } from './engine.ts';
import type { PartitionDB } from './schema.ts';

type Db = Kysely<PartitionDB> | Transaction<PartitionDB>;

const SHIFT = 32n;
const ID_MASK = 0xffff_ffffn;

function rowid(accountId: number, id: number): bigint {
  return (BigInt(accountId) << SHIFT) + BigInt(id);
}

export interface TextDoc {
  /** Space-separated header terms. */
  header: string;
  /** Space-separated body terms. */
  body: string;
}

export async function ftsInsert(db: Db, kind: EngineKind, accountId: number, id: number, doc: TextDoc): Promise<void> {
  if (id > 0xffff_ffff) return; // beyond the key space: stays unindexed (searches fall back to no hit)
  if (kind === 'sqlite') {
    // A stale document under this rowid (an index run interrupted between its writes) is replaced.
    await sql`delete from message_text where rowid = ${rowid(accountId, id)}`.execute(db);
    await sql`insert into message_text (rowid, header, body) values (${rowid(accountId, id)}, ${doc.header}, ${doc.body})`.execute(db);
  } else {
    // The tokens go in as tsvector literals ('term':1A), cast rather than parsed, so no text
    // search configuration changes them and PostgreSQL indexes exactly what SQLite does. One
    // position per term and column carries the weight (A header, B body) that BODY queries
    // filter on; weights live on positions, so the vector cannot be stripped of them.
    await sql`insert into message_text (account_id, id, doc)
      values (${accountId}, ${id}, cast(${tsvectorLiteral(doc.header, 'A')} as tsvector) || cast(${tsvectorLiteral(doc.body, 'B')} as tsvector))
      on conflict (account_id, id) do update set doc = excluded.doc`.execute(db);
  }
}

/** Distinct terms per document and column on PostgreSQL: keeps a vector far below tsvector's 1 MB limit. */
const PG_MAX_TERMS = 40_000;

function tsvectorLiteral(tokens: string, weight: 'A' | 'B'): string {
  const uniq = new Set<string>();
  for (const t of tokens.split(' ')) {
    if (t && /^[\p{L}\p{N}]+$/u.test(t)) uniq.add(t);
    if (uniq.size >= PG_MAX_TERMS) break;
  }
  return [...uniq].map((t) => `'${t}':1${weight}`).join(' ');
}

export async function ftsDelete(db: Db, kind: EngineKind, accountId: number, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  if (kind === 'sqlite') {
    for (const id of ids) await sql`delete from message_text where rowid = ${rowid(accountId, id)}`.execute(db);
  } else {
    for (let i = 0; i < ids.length; i += 1000) {
      await sql`delete from message_text where account_id = ${accountId} and id in (${sql.join(ids.slice(i, i + 1000))})`.execute(db);
    }
  }
}

/** Every document of an account (account removal, moves). */
export async function ftsDeleteAccount(db: Db, kind: EngineKind, accountId: number): Promise<void> {
  if (kind === 'sqlite') {
    await sql`delete from message_text where rowid between ${rowid(accountId, 0)} and ${rowid(accountId, 0) + ID_MASK}`.execute(db);
  } else {
    await sql`delete from message_text where account_id = ${accountId}`.execute(db);
  }
}

/**
 * Ids of the account's messages whose text holds every term (as a word prefix): in the
 * body only, or in header or body. An empty term list matches nothing.
 */
export async function ftsSearch(db: Db, kind: EngineKind, accountId: number, terms: readonly string[], where: 'body' | 'text'): Promise<Set<number>> {
  const clean = terms.filter((t) => /^[\p{L}\p{N}]+$/u.test(t));
  if (clean.length === 0 || clean.length !== terms.length) return new Set();
  if (kind === 'sqlite') {
    // FTS5 query syntax: each term quoted (no operator can sneak in) with * for prefix;
    // terms in sequence are ANDed; {body} : (...) limits them to the body column.
    const expr = clean.map((t) => `"${t}"*`).join(' ');
    const q = where === 'body' ? `{body} : (${expr})` : expr;
    const lo = rowid(accountId, 0);
    const r = await sql<{ id: number }>`select rowid - ${lo} as id from message_text where message_text match ${q} and rowid between ${lo} and ${lo + ID_MASK}`.execute(db);
    return new Set(r.rows.map((x) => Number(x.id)));
  }
  // A tsquery literal ('term':* is a prefix match, :*B only among body lexemes), cast rather
  // than parsed by to_tsquery, so no text search configuration changes the terms. Terms hold
  // only letters and digits, so quoting them is safe.
  const q = clean.map((t) => (where === 'body' ? `'${t}':*B` : `'${t}':*`)).join(' & ');
  const r = await sql<{ id: number }>`select id from message_text where account_id = ${accountId} and doc @@ cast(${q} as tsquery)`.execute(db);
  return new Set(r.rows.map((x) => Number(x.id)));
}
