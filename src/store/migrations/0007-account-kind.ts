// Directory migration 0007: what an account is for scheduling (RFC 6638 §2.4.2
// calendar-user-type): a person ('individual'), a room or another bookable resource. Rooms and
// resources answer invitations themselves: accepted when free, declined on a conflict.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { EngineKind } from '../engine.ts';

export const ACCOUNT_KINDS = ['individual', 'room', 'resource'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export function accountKindMigration(_kind: EngineKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('accounts').addColumn('kind', 'text', (c) => c.notNull().defaultTo('individual')).execute();
    },
  };
}
