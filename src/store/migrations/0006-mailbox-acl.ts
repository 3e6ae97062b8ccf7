// Directory migration 0006: who may use whose mailbox (RFC 4314 rights). Kept in the primary
// store, not in the owner's partition: "which mailboxes are shared with me" must be answered
// for an account whatever partition the owners live in.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function mailboxAclMigration(_kind: EngineKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('mailbox_acl')
        .addColumn('owner_id', 'bigint', (c) => c.notNull())
        .addColumn('mailbox_id', 'bigint', (c) => c.notNull())
        // A normalised account address, or "anyone" (RFC 4314 §2).
        .addColumn('grantee', 'text', (c) => c.notNull())
        .addColumn('rights', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('mailbox_acl_pk', ['owner_id', 'mailbox_id', 'grantee'])
        .execute();
      await db.schema.createIndex('mailbox_acl_grantee').on('mailbox_acl').column('grantee').execute();
    },
  };
}

/** Tables this migration adds (merged into DirectoryDB). */
export interface MailboxAclTables {
  mailbox_acl: { owner_id: number; mailbox_id: number; grantee: string; rights: string; updated_at: number };
}

/** Table names this migration adds, in foreign-key order (backups dump them). */
export const TABLE_NAMES: string[] = ['mailbox_acl'];
