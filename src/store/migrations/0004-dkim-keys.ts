// Directory migration 0004: DKIM signing keys per domain. Filled in by the DKIM work.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function dkimKeysMigration(_kind: EngineKind): Migration {
  return { async up(_db: Kysely<any>) {} };
}

/** Tables this migration adds (merged into DirectoryDB). */
export interface DkimKeysTables {}

/** Table names this migration adds, in foreign-key order (backups dump them). */
export const TABLE_NAMES: string[] = [];
