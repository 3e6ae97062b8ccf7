// Partition migration 0004: what mail access (IMAP, POP3, later JMAP) needs beyond delivery.
// - messages: SAVEDATE (RFC 8514), EMAILID and THREADID (RFC 8474; copies keep the EMAILID of
//   their original), text_indexed (whether the message is in the full-text index yet).
// - expunged: per-mailbox tombstones (mailbox, UID, modseq) for QRESYNC VANISHED (RFC 7162
//   §3.2.5.1) and for sessions catching up; the account-wide change log records the same
//   expunges as message destroys/updates.
// - subscriptions (RFC 9051 §6.3.7): names, which may outlive their mailboxes.
// - account_state.uidvalidity_last: UIDVALIDITY of a new mailbox is always above every
//   value handed out before, so a mailbox deleted and created again in the same second
//   still gets a new one (RFC 9051 §2.3.1.1).
// - message_text: the full-text index. SQLite: a contentless FTS5 table (contentless_delete,
//   SQLite >= 3.43) whose rowid is account_id * 2^32 + message id, so a query is confined to
//   one account by a rowid range that FTS5 applies while reading its doclists. PostgreSQL:
//   a tsvector per message (header terms weighted A, body terms B) under a GIN index. Both
//   are fed the same token stream (lib/mime/text.ts), already folded and split, and neither
//   tokenises it again (FTS5's ascii tokenizer keeps every non-ASCII run whole; PostgreSQL
//   gets the tokens as an array), so both engines match alike.
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function partitionImapMigration(kind: EngineKind): Migration {
  return {
    async up(db: Kysely<any>) {
      for (const col of ['savedate', 'email_id', 'thread_id'] as const) {
        await db.schema.alterTable('messages').addColumn(col, 'bigint').execute();
      }
      await db.schema.alterTable('messages').addColumn('text_indexed', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await sql`update messages set savedate = internal_date, email_id = id, thread_id = id`.execute(db);
      await db.schema.alterTable('account_state').addColumn('uidvalidity_last', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      // CONDSTORE: "changed since" within one mailbox.
      await db.schema.createIndex('messages_modseq').on('messages').columns(['account_id', 'mailbox_id', 'modseq']).execute();
      // Threading at delivery looks parents up by Message-ID.
      await db.schema.createIndex('messages_msgid').on('messages').columns(['account_id', 'message_id']).execute();
      // The indexer's queue: only the few rows not indexed yet are in this index.
      await sql`create index messages_unindexed on messages (account_id, mailbox_id) where text_indexed = 0`.execute(db);
      await db.schema.createTable('expunged')
        .addColumn('account_id', 'bigint', (c) => c.notNull())
        .addColumn('mailbox_id', 'bigint', (c) => c.notNull())
        .addColumn('uid', 'bigint', (c) => c.notNull())
        .addColumn('modseq', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('expunged_pk', ['account_id', 'mailbox_id', 'uid'])
        .execute();
      await db.schema.createIndex('expunged_modseq').on('expunged').columns(['account_id', 'mailbox_id', 'modseq']).execute();
      await db.schema.createTable('subscriptions')
        .addColumn('account_id', 'bigint', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('subscriptions_pk', ['account_id', 'name'])
        .execute();
      await sql`insert into subscriptions (account_id, name) select account_id, name from mailboxes`.execute(db);
      if (kind === 'sqlite') {
        await sql`create virtual table message_text using fts5(header, body, content='', contentless_delete=1, detail=column, tokenize='ascii')`.execute(db);
      } else {
        await db.schema.createTable('message_text')
          .addColumn('account_id', 'bigint', (c) => c.notNull())
          .addColumn('id', 'bigint', (c) => c.notNull())
          .addColumn('doc', sql`tsvector`, (c) => c.notNull())
          .addPrimaryKeyConstraint('message_text_pk', ['account_id', 'id'])
          .execute();
        await sql`create index message_text_doc on message_text using gin (doc)`.execute(db);
      }
    },
  };
}

/** Tables this migration adds (merged into PartitionDB). message_text is engine-specific and reached only through store/fts.ts. */
export interface PartitionImapTables {
  expunged: { account_id: number; mailbox_id: number; uid: number; modseq: number };
  subscriptions: { account_id: number; name: string };
}

/**
 * Tables backups dump. message_text is derived data: it is not dumped, and restore and
 * account moves mark the messages unindexed so the indexer rebuilds it.
 */
export const TABLE_NAMES: string[] = ['expunged', 'subscriptions'];
