// Directory migration 0005: lockouts of (login, client address) pairs (GW-DOS-5), kept in the
// primary store so every node honours them and an admin can lift them.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function authLocksMigration(_kind: EngineKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('auth_locks')
        .addColumn('login', 'text', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('locked_until', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('auth_locks_pk', ['login', 'ip'])
        .execute();
    },
  };
}

/** Tables this migration adds (merged into DirectoryDB). */
export interface AuthLocksTables {
  auth_locks: { login: string; ip: string; locked_until: number; created_at: number };
}

/** Table names this migration adds, in foreign-key order (backups dump them). */
export const TABLE_NAMES: string[] = ['auth_locks'];
