/**
 * One migration history per schema (directory, partition), the same for both engines: each
 * step is written once against Kysely's schema builder, with dialectTypes() where the two
 * engines name a type differently. Steps are append-only: never edit a released one.
 */
import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationInfo } from 'kysely/migration';
import { dialectTypes, type Engine, type EngineKind } from '../engine.ts';
import { blockRulesMigration, TABLE_NAMES as BLOCK_TABLES } from './0003-block-rules.ts';
import { dkimKeysMigration, TABLE_NAMES as DKIM_TABLES } from './0004-dkim-keys.ts';
import { authLocksMigration, TABLE_NAMES as LOCK_TABLES } from './0005-auth-locks.ts';
import { mailboxAclMigration, TABLE_NAMES as ACL_TABLES } from './0006-mailbox-acl.ts';
import { accountKindMigration } from './0007-account-kind.ts';
import { davSharesMigration, TABLE_NAMES as SHARE_TABLES } from './0008-dav-shares.ts';
import { partitionImapMigration, TABLE_NAMES as IMAP_TABLES } from './0004-partition-imap.ts';
import { partitionDavMigration, TABLE_NAMES as DAV_TABLES } from './0005-partition-dav.ts';
import { partitionDavInstancesMigration } from './0006-partition-dav-instances.ts';

export type SchemaName = 'directory' | 'partition';

function directoryMigrations(kind: EngineKind): Record<string, Migration> {
  const t = dialectTypes(kind);
  return {
    '0001_directory': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('domains')
          .addColumn('id', t.id, t.pk)
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('addresses')
          .addColumn('address', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('domain_id', 'bigint', (c) => c.notNull().references('domains.id'))
          .execute();
        await db.schema.createTable('accounts')
          .addColumn('id', t.id, t.pk)
          .addColumn('domain_id', 'bigint', (c) => c.notNull().references('domains.id'))
          .addColumn('local_part', 'text', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull().unique())
          .addColumn('display_name', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('quota_bytes', 'bigint', (c) => c.notNull())
          .addColumn('roles', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('partition', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('accounts_partition').on('accounts').column('partition').execute();
        await db.schema.createTable('aliases')
          .addColumn('id', t.id, t.pk)
          .addColumn('domain_id', 'bigint', (c) => c.notNull().references('domains.id'))
          .addColumn('address', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('alias_targets')
          .addColumn('alias_id', 'bigint', (c) => c.notNull().references('aliases.id').onDelete('cascade'))
          .addColumn('target', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('alias_targets_pk', ['alias_id', 'target'])
          .execute();
        await db.schema.createIndex('alias_targets_target').on('alias_targets').column('target').execute();
        await db.schema.createTable('lists')
          .addColumn('id', t.id, t.pk)
          .addColumn('domain_id', 'bigint', (c) => c.notNull().references('domains.id'))
          .addColumn('address', 'text', (c) => c.notNull().unique())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('post_policy', 'text', (c) => c.notNull())
          .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        for (const [table, col] of [['list_members', 'member'], ['list_senders', 'sender']] as const) {
          await db.schema.createTable(table)
            .addColumn('list_id', 'bigint', (c) => c.notNull().references('lists.id').onDelete('cascade'))
            .addColumn(col, 'text', (c) => c.notNull())
            .addPrimaryKeyConstraint(`${table}_pk`, ['list_id', col])
            .execute();
          await db.schema.createIndex(`${table}_${col}`).on(table).column(col).execute();
        }
        await db.schema.createTable('audit')
          .addColumn('id', t.id, t.pk)
          .addColumn('ts', 'bigint', (c) => c.notNull())
          .addColumn('event', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('object', 'text', (c) => c.notNull())
          .addColumn('detail', 'text', (c) => c.notNull())
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_ts').on('audit').column('ts').execute();
        await db.schema.createIndex('audit_event').on('audit').columns(['event', 'ts']).execute();
        await db.schema.createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('last_id', 'bigint', (c) => c.notNull())
          .addColumn('last_hash', 'text', (c) => c.notNull())
          .execute();
        await db.insertInto('audit_head').values({ id: 1, last_id: 0, last_hash: '0'.repeat(64) }).execute();
      },
    },
    // The outbound queue: messages waiting for relay (and local recipients whose partition
    // was down), in the primary store so that every node can work on it. Bodies are kept in
    // the row: one commit makes a queued message durable.
    '0002_queue': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('queue_messages')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('sender', 'text', (c) => c.notNull())
          .addColumn('body', t.bytes, (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('envid', 'text')
          .addColumn('ret', 'text')
          .addColumn('smtputf8', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('origin', 'text', (c) => c.notNull())
          .addColumn('account_id', 'bigint')
          .addColumn('is_dsn', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.createTable('queue_recipients')
          .addColumn('queue_id', 'text', (c) => c.notNull().references('queue_messages.id').onDelete('cascade'))
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('domain', 'text', (c) => c.notNull())
          .addColumn('account_id', 'bigint')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
          .addColumn('last_attempt_at', 'bigint')
          .addColumn('last_code', 'integer')
          .addColumn('last_enhanced', 'text')
          .addColumn('last_error', 'text')
          .addColumn('remote_mta', 'text')
          .addColumn('notify', 'text')
          .addColumn('orcpt', 'text')
          .addColumn('delay_notified', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', 'bigint')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('queue_recipients_pk', ['queue_id', 'address'])
          .execute();
        await db.schema.createIndex('queue_recipients_due').on('queue_recipients').columns(['status', 'next_attempt_at']).execute();
      },
    },
    '0003_block_rules': blockRulesMigration(kind),
    '0004_dkim_keys': dkimKeysMigration(kind),
    '0005_auth_locks': authLocksMigration(kind),
    '0006_mailbox_acl': mailboxAclMigration(kind),
    '0007_account_kind': accountKindMigration(kind),
    '0008_dav_shares': davSharesMigration(kind),
  };
}

function partitionMigrations(kind: EngineKind): Record<string, Migration> {
  const t = dialectTypes(kind);
  return {
    '0001_partition': {
      async up(db: Kysely<any>) {
        await db.schema.createTable('account_state')
          .addColumn('account_id', 'bigint', (c) => c.primaryKey())
          .addColumn('modseq', 'bigint', (c) => c.notNull())
          .addColumn('next_id', 'bigint', (c) => c.notNull())
          .addColumn('used_bytes', 'bigint', (c) => c.notNull())
          .addColumn('used_messages', 'bigint', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('mailboxes')
          .addColumn('account_id', 'bigint', (c) => c.notNull())
          .addColumn('id', 'bigint', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('special_use', 'text')
          .addColumn('uidvalidity', 'bigint', (c) => c.notNull())
          .addColumn('uidnext', 'bigint', (c) => c.notNull())
          .addColumn('modseq', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('mailboxes_pk', ['account_id', 'id'])
          .addUniqueConstraint('mailboxes_name', ['account_id', 'name'])
          .execute();
        await db.schema.createTable('messages')
          .addColumn('account_id', 'bigint', (c) => c.notNull())
          .addColumn('id', 'bigint', (c) => c.notNull())
          .addColumn('mailbox_id', 'bigint', (c) => c.notNull())
          .addColumn('uid', 'bigint', (c) => c.notNull())
          .addColumn('blob_hash', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('flags', 'text', (c) => c.notNull())
          .addColumn('internal_date', 'bigint', (c) => c.notNull())
          .addColumn('modseq', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('messages_pk', ['account_id', 'id'])
          .addUniqueConstraint('messages_uid', ['account_id', 'mailbox_id', 'uid'])
          .execute();
        await db.schema.createIndex('messages_blob').on('messages').column('blob_hash').execute();
        await db.schema.createTable('changes')
          .addColumn('account_id', 'bigint', (c) => c.notNull())
          .addColumn('modseq', 'bigint', (c) => c.notNull())
          .addColumn('object_type', 'text', (c) => c.notNull())
          .addColumn('object_id', 'bigint', (c) => c.notNull())
          .addColumn('op', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('changes_pk', ['account_id', 'modseq', 'object_type', 'object_id'])
          .execute();
        await db.schema.createTable('blob_refs')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('refcount', 'bigint', (c) => c.notNull())
          .addColumn('zero_since', 'bigint')
          .execute();
        await db.schema.createTable('blobs')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('data', t.bytes, (c) => c.notNull())
          .execute();
      },
    },
    // Parsed at delivery, once: the fields listings sort and search on live on the message;
    // the MIME structure (for ENVELOPE/BODYSTRUCTURE) lives once per distinct body.
    '0002_message_meta': {
      async up(db: Kysely<any>) {
        for (const [col, type] of [['subject', 'text'], ['from_addr', 'text'], ['to_addr', 'text'], ['sent_date', 'bigint'], ['message_id', 'text']] as const) {
          await db.schema.alterTable('messages').addColumn(col, type).execute();
        }
        await db.schema.alterTable('messages').addColumn('has_attachment', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable('blob_refs').addColumn('meta', 'text').execute();
        await db.schema.createIndex('messages_mailbox_date').on('messages').columns(['account_id', 'mailbox_id', 'internal_date']).execute();
      },
    },
    // Large bodies appended to segment files (one write each, one fsync per batch): where each
    // is, on the reference row itself (no second tree to update per delivery).
    '0003_blob_segments': {
      async up(db: Kysely<any>) {
        await db.schema.alterTable('blob_refs').addColumn('seg', 'text').execute();
        await db.schema.alterTable('blob_refs').addColumn('seg_off', 'bigint').execute();
        await db.schema.alterTable('blob_refs').addColumn('seg_len', 'bigint').execute();
        // No query looks messages up by body; the index only cost a random page per delivery.
        await db.schema.dropIndex('messages_blob').execute();
      },
    },
    '0004_imap': partitionImapMigration(kind),
    '0005_dav': partitionDavMigration(kind),
    '0006_dav_instances': partitionDavInstancesMigration(kind),
  };
}

export function migrationsFor(schema: SchemaName, kind: EngineKind): Record<string, Migration> {
  return schema === 'directory' ? directoryMigrations(kind) : partitionMigrations(kind);
}

function migrator(engine: Engine, schema: SchemaName): Migrator {
  const migrations = migrationsFor(schema, engine.kind);
  return new Migrator({
    db: engine.db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: `bulwark_migrations_${schema}`,
    migrationLockTableName: `bulwark_migrations_${schema}_lock`,
  });
}

export async function pendingMigrations(engine: Engine, schema: SchemaName): Promise<string[]> {
  const all: readonly MigrationInfo[] = await migrator(engine, schema).getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}

export async function migrate(engine: Engine, schema: SchemaName): Promise<string[]> {
  const { error, results } = await migrator(engine, schema).migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** The tables of a schema, in an order that satisfies foreign keys on insert. */
export const TABLES: Record<SchemaName, string[]> = {
  directory: ['domains', 'addresses', 'accounts', 'aliases', 'alias_targets', 'lists', 'list_members', 'list_senders', 'audit', 'audit_head', 'queue_messages', 'queue_recipients', ...BLOCK_TABLES, ...DKIM_TABLES, ...LOCK_TABLES, ...ACL_TABLES, ...SHARE_TABLES],
  partition: ['account_state', 'mailboxes', 'messages', 'changes', 'blob_refs', 'blobs', ...IMAP_TABLES, ...DAV_TABLES],
};

export async function schemaVersion(engine: Engine, schema: SchemaName): Promise<string | null> {
  const r = await sql<{ name: string }>`select name from ${sql.table(`bulwark_migrations_${schema}`)} order by name desc limit 1`
    .execute(engine.db).catch(() => ({ rows: [] as { name: string }[] }));
  return r.rows[0]?.name ?? null;
}
