// Directory migration 0008: calendars, task lists and address books shared with other
// accounts or with lists (issue 5 point 6). In the primary store, like mailbox_acl, so that
// "what is shared with me" is answered whatever partitions the owners live in.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function davSharesMigration(_kind: EngineKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('dav_shares')
        .addColumn('owner_id', 'bigint', (c) => c.notNull())
        .addColumn('collection_id', 'bigint', (c) => c.notNull())
        // A normalised account or list address.
        .addColumn('grantee', 'text', (c) => c.notNull())
        .addColumn('access', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('dav_shares_pk', ['owner_id', 'collection_id', 'grantee'])
        .execute();
      await db.schema.createIndex('dav_shares_grantee').on('dav_shares').column('grantee').execute();
    },
  };
}

export type DavAccess = 'read' | 'read-write';

/** Tables this migration adds (merged into DirectoryDB). */
export interface DavSharesTables {
  dav_shares: { owner_id: number; collection_id: number; grantee: string; access: DavAccess; updated_at: number };
}

export const TABLE_NAMES: string[] = ['dav_shares'];
