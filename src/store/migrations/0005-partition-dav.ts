// Partition migration 0005: calendars, task lists and address books (CalDAV, CardDAV).
// - dav_collections: a collection of one account, in one of its homes ('calendars' holds
//   calendars, task lists and the scheduling inbox/outbox; 'addressbooks' holds address
//   books). `name` is the URL segment; ids come from the account's id sequence like every
//   other object, so the change log names them without ambiguity. `props` holds the dead
//   properties a client set with PROPPATCH (JSON: {"{ns}name": "<xml>"}). `sync_floor`: a
//   sync token at or below it is no longer answerable (tombstones below it were compacted).
// - dav_objects: one resource (an iCalendar object or a vCard), stored inline: these are
//   small (bounded by dav.max_resource_bytes) and read whole. uid is unique per collection
//   (CalDAV no-uid-conflict, CardDAV no-uid-conflict). first_start/last_end (ms UTC, null:
//   unbounded) are a coarse prefilter for time-range queries; the exact test runs on the data.
// - dav_tombstones: names deleted from a collection, with the modseq of the deletion, for
//   sync-collection (RFC 6578) reports.
// The account's modseq (account_state) orders every change, the same log IMAP reads.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function partitionDavMigration(_kind: EngineKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('dav_collections')
        .addColumn('account_id', 'bigint', (c) => c.notNull())
        .addColumn('id', 'bigint', (c) => c.notNull())
        .addColumn('home', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('color', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('sort_order', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('components', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('timezone', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('props', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('modseq', 'bigint', (c) => c.notNull())
        .addColumn('sync_floor', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('dav_collections_pk', ['account_id', 'id'])
        .addUniqueConstraint('dav_collections_name', ['account_id', 'home', 'name'])
        .execute();
      await db.schema.createTable('dav_objects')
        .addColumn('account_id', 'bigint', (c) => c.notNull())
        .addColumn('id', 'bigint', (c) => c.notNull())
        .addColumn('collection_id', 'bigint', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('uid', 'text', (c) => c.notNull())
        .addColumn('component', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('first_start', 'bigint')
        .addColumn('last_end', 'bigint')
        .addColumn('modseq', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('dav_objects_pk', ['account_id', 'id'])
        .addUniqueConstraint('dav_objects_name', ['account_id', 'collection_id', 'name'])
        .addUniqueConstraint('dav_objects_uid', ['account_id', 'collection_id', 'uid'])
        .execute();
      await db.schema.createIndex('dav_objects_modseq').on('dav_objects').columns(['account_id', 'collection_id', 'modseq']).execute();
      await db.schema.createTable('dav_tombstones')
        .addColumn('account_id', 'bigint', (c) => c.notNull())
        .addColumn('collection_id', 'bigint', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('modseq', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('dav_tombstones_pk', ['account_id', 'collection_id', 'name'])
        .execute();
      await db.schema.createIndex('dav_tombstones_modseq').on('dav_tombstones').columns(['account_id', 'collection_id', 'modseq']).execute();
    },
  };
}

export type DavHome = 'calendars' | 'addressbooks';
export type DavKind = 'calendar' | 'addressbook' | 'inbox' | 'outbox';

/** Tables this migration adds (merged into PartitionDB). */
export interface PartitionDavTables {
  dav_collections: {
    account_id: number; id: number; home: DavHome; name: string; kind: DavKind;
    display_name: string; description: string; color: string; sort_order: number; components: string; timezone: string;
    props: string; modseq: number; sync_floor: number; created_at: number;
  };
  dav_objects: {
    account_id: number; id: number; collection_id: number; name: string; uid: string; component: string;
    data: string; size: number; first_start: number | null; last_end: number | null; modseq: number; created_at: number; updated_at: number;
    /** Migration 0006: the instance index (core/dav/instances.ts), JSON, or null. */
    instances: string | null;
  };
  dav_tombstones: { account_id: number; collection_id: number; name: string; modseq: number };
}

/** Tables backups dump, account moves copy and account removal clears, with the columns that order their rows. */
export const TABLE_NAMES: string[] = ['dav_collections', 'dav_objects', 'dav_tombstones'];
export const ROW_ORDER: Record<string, string[]> = {
  dav_collections: ['id'], dav_objects: ['id'], dav_tombstones: ['collection_id', 'name'],
};
