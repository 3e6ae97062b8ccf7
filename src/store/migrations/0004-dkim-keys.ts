/**
 * Directory migration 0004: DKIM signing keys per domain (RFC 6376, RFC 8463), made by
 * `bulwark domain dkim generate` (src/security/dkim.ts).
 *
 * One row per (domain, selector). At most one key of a domain is active, the one outbound
 * mail is signed with: a partial unique index enforces it in both engines, so two nodes
 * generating at once cannot leave a domain with two active keys. Older keys stay (inactive)
 * until removed, so their DNS records can outlive the mail signed with them.
 *
 * The private key is kept as PKCS#8 PEM in the clear, like everything else in the primary
 * store; encryption at rest comes with key management (GW-CRY-5). Removing a domain removes
 * its keys (cascade).
 */
import { sql, type Generated, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { dialectTypes, type EngineKind } from '../engine.ts';

export function dkimKeysMigration(kind: EngineKind): Migration {
  const t = dialectTypes(kind);
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('dkim_keys')
        .addColumn('id', t.id, t.pk)
        .addColumn('domain_id', 'bigint', (c) => c.notNull().references('domains.id').onDelete('cascade'))
        .addColumn('selector', 'text', (c) => c.notNull())
        .addColumn('algorithm', 'text', (c) => c.notNull())
        .addColumn('bits', 'integer', (c) => c.notNull())
        // GW-CRY-5: stored unencrypted for now; at-rest encryption comes with key management.
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('active', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('dkim_keys_selector', ['domain_id', 'selector'])
        .execute();
      await db.schema.createIndex('dkim_keys_active').on('dkim_keys').column('domain_id').unique()
        .where(sql.ref('active'), '=', sql.lit(1)).execute();
    },
  };
}

/** Tables this migration adds (merged into DirectoryDB). */
export interface DkimKeysTables {
  dkim_keys: {
    id: Generated<number>;
    domain_id: number;
    /** RFC 6376 §3.1 selector, lower case: the DNS name is <selector>._domainkey.<domain>. */
    selector: string;
    algorithm: 'rsa' | 'ed25519';
    /** Modulus length for RSA, 256 for ed25519. */
    bits: number;
    /** PKCS#8 PEM; not encrypted at rest yet (GW-CRY-5). Never leaves src/security/dkim.ts. */
    private_key: string;
    /** The p= value of the DNS record (base64): SubjectPublicKeyInfo for RSA, the 32 raw octets for ed25519 (RFC 8463 §4.2). */
    public_key: string;
    /** 1 for the key outbound mail is signed with (at most one per domain), else 0. */
    active: number;
    created_at: number;
    updated_at: number;
  };
}

/** Table names this migration adds, in foreign-key order (backups dump them). */
export const TABLE_NAMES: string[] = ['dkim_keys'];
