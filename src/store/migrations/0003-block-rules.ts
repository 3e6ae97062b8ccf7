// Directory migration 0003: sender block rules (GW-FLT-1), see src/core/mail/blocks.ts.
import type { Generated, Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { dialectTypes, type EngineKind } from '../engine.ts';

export function blockRulesMigration(kind: EngineKind): Migration {
  const t = dialectTypes(kind);
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('block_rules')
        .addColumn('id', t.id, t.pk)
        .addColumn('scope', 'text', (c) => c.notNull())
        // 0 for the global scope, the domain's or the account's id otherwise.
        .addColumn('scope_id', 'bigint', (c) => c.notNull())
        // '' for the global scope, the domain (A-label) or the account address otherwise.
        .addColumn('scope_name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('subdomains', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_at', 'bigint')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('note', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
      // Every RCPT reads the rules of (global, 0), (domain, d) and (account, a).
      await db.schema.createIndex('block_rules_scope').on('block_rules').columns(['scope', 'scope_id']).execute();
    },
  };
}

/** Tables this migration adds (merged into DirectoryDB). */
export interface BlockRulesTables {
  block_rules: {
    id: Generated<number>;
    scope: 'global' | 'domain' | 'account';
    scope_id: number;
    scope_name: string;
    kind: 'address' | 'domain' | 'ip';
    /** Normalised: an address, a domain (A-label) or a CIDR network ("192.0.2.0/24", "2001:db8::/32"). */
    value: string;
    subdomains: number;
    expires_at: number | null;
    created_by: string;
    created_at: number;
    note: string;
  };
}

/** Table names this migration adds, in foreign-key order (backups dump them). */
export const TABLE_NAMES: string[] = ['block_rules'];
