// Directory migration 0003: sender block rules (GW-FLT-1). Filled in by the block-rules work.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function blockRulesMigration(_kind: EngineKind): Migration {
  return { async up(_db: Kysely<any>) {} };
}

/** Tables this migration adds (merged into DirectoryDB). */
export interface BlockRulesTables {}

/** Table names this migration adds, in foreign-key order (backups dump them). */
export const TABLE_NAMES: string[] = [];
