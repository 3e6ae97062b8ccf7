// Partition migration 0006: dav_objects.instances, the index of an event's instances made at
// PUT (core/dav/instances.ts, JSON), so that a time-range query on events is answered from the
// row without parsing and expanding the data; null when the data must be evaluated.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export function partitionDavInstancesMigration(_kind: EngineKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('dav_objects').addColumn('instances', 'text').execute();
    },
  };
}
