/**
 * The security audit trail, in the primary store: append-only and hash-chained (each entry
 * holds the SHA-256 of the previous entry and of its own content), so a changed or removed
 * entry shows up in verifyAuditChain(). Entries never hold passwords, tokens or message
 * contents: details are checked against a deny-list of field names before they are written.
 *
 * Invariant: appends are serialised through the single audit_head row, updated in the same
 * transaction as the entry, so two nodes can never fork the chain.
 */
import crypto from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { DirectoryDB } from '../store/schema.ts';

/** The event catalogue (GW-LOG-1): stable ids; docs/audit-events.md lists them. */
export const AUDIT_EVENTS = {
  'auth.login.success': 'a login succeeded (protocol, remote address)',
  'auth.login.failure': 'a login failed (protocol, remote address, no reason given to the client)',
  'rate.limit': 'an account hit its hourly sending limit (GW-DOS-6): a typical sign of a compromised account',
  'auth.unlock': 'an admin lifted a login lockout (GW-DOS-5)',
  'auth.lockout': 'repeated failures locked an (account, address) pair out for a while (GW-DOS-5)',
  'account.create': 'an account was created',
  'account.update': 'an account was changed (before/after)',
  'account.delete': 'an account was removed',
  'account.password': 'an account password was changed',
  'account.disable': 'an account was disabled',
  'account.enable': 'an account was enabled',
  'account.move': 'an account was moved to another partition',
  'domain.create': 'a domain was created',
  'domain.update': 'a domain was changed (before/after)',
  'domain.delete': 'a domain was removed',
  'dkim.generate': 'a DKIM signing key was generated for a domain and made its active key',
  'dkim.remove': 'a DKIM signing key of a domain was removed',
  'alias.create': 'an alias was created',
  'alias.update': 'an alias was changed (before/after targets)',
  'alias.delete': 'an alias was removed',
  'list.create': 'a distribution list was created',
  'list.update': 'a distribution list was changed (before/after members and policy)',
  'list.delete': 'a distribution list was removed',
  'block.create': 'a sender block rule was created (GW-FLT-1)',
  'block.delete': 'a sender block rule was removed (GW-FLT-1)',
  'mailbox.share': 'a mailbox owner granted or changed another identity\'s rights on a mailbox (GW-ACC-3)',
  'mailbox.unshare': 'a mailbox owner removed another identity\'s rights on a mailbox (GW-ACC-3)',
  'dav.share': 'an owner shared a calendar, task list or address book with an account or a list, or changed its access (GW-ACC-3)',
  'dav.unshare': 'an owner stopped sharing a calendar, task list or address book with an account or a list (GW-ACC-3)',
  'backup.create': 'a backup was made',
  'backup.verify': 'a backup was verified (verdict)',
  'backup.restore': 'a backup was restored',
  'service.start': 'the server started',
  'service.stop': 'the server stopped',
  'audit.prune': 'audit entries past their retention were deleted',
} as const;

export type AuditEvent = keyof typeof AUDIT_EVENTS;

export interface AuditEntry {
  event: AuditEvent;
  actor: string;
  source?: string;
  object?: string;
  detail?: Record<string, unknown>;
}

const FORBIDDEN_KEYS = /pass(word)?|secret|token|hash|body|content|authorization|cookie/i;

function scrub(v: unknown, depth = 0): unknown {
  if (depth > 6) return '[deep]';
  if (Array.isArray(v)) return v.map((x) => scrub(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = FORBIDDEN_KEYS.test(k) ? '[redacted]' : scrub(x, depth + 1);
    return out;
  }
  return v;
}

export function entryHash(prev: string, e: { ts: number; event: string; actor: string; source: string; object: string; detail: string }): string {
  return crypto.createHash('sha256')
    .update([prev, e.ts, e.event, e.actor, e.source, e.object, e.detail].join('\u0000')).digest('hex');
}

/** Appends inside the caller's transaction, so the entry commits with the change it records. */
export async function appendAudit(trx: Transaction<DirectoryDB>, entry: AuditEntry, now = Date.now()): Promise<void> {
  const head = await trx.updateTable('audit_head').set({ last_id: (eb) => eb('last_id', '+', 0) })
    .where('id', '=', 1).returning(['last_id', 'last_hash']).executeTakeFirstOrThrow();
  const row = {
    ts: now,
    event: entry.event,
    actor: entry.actor,
    source: entry.source ?? '',
    object: entry.object ?? '',
    detail: JSON.stringify(scrub(entry.detail ?? {})),
  };
  const hash = entryHash(head.last_hash, row);
  const ins = await trx.insertInto('audit').values({ ...row, prev_hash: head.last_hash, hash }).returning('id').executeTakeFirstOrThrow();
  await trx.updateTable('audit_head').set({ last_id: ins.id, last_hash: hash }).where('id', '=', 1).execute();
}

/** Appends in a transaction of its own. */
export async function recordAudit(db: Kysely<DirectoryDB>, entry: AuditEntry): Promise<void> {
  await db.transaction().execute((trx) => appendAudit(trx, entry));
}

export interface AuditRow {
  id: number; ts: number; event: string; actor: string; source: string; object: string; detail: unknown;
}

export async function readAudit(db: Kysely<DirectoryDB>, opts: { event?: string; since?: number; limit?: number } = {}): Promise<AuditRow[]> {
  let q = db.selectFrom('audit').selectAll().orderBy('id', 'asc');
  if (opts.event) q = q.where('event', '=', opts.event);
  if (opts.since) q = q.where('ts', '>=', opts.since);
  const rows = await q.limit(opts.limit ?? 10_000).execute();
  return rows.map((r) => ({ id: r.id, ts: r.ts, event: r.event, actor: r.actor, source: r.source, object: r.object, detail: JSON.parse(r.detail) }));
}

/**
 * Walks the chain; returns the id of the first entry that does not fit, or null.
 * Each entry must hash to its stored hash and name its predecessor's hash, and the chain
 * must end at the entry audit_head names, so removing entries from the end (which leaves a
 * chain that is consistent in itself) is found too; it is reported at the id the head
 * names (ids may have gaps, so that is the one missing id known for sure). After pruning,
 * the first remaining entry anchors the chain (pruning is itself recorded as audit.prune).
 *
 * The head is read first and only entries up to it are checked: an entry appended while
 * this runs (by a live server) commits together with its head update, so it is either
 * beyond the head read here or fully visible.
 */
export async function verifyAuditChain(db: Kysely<DirectoryDB>): Promise<{ ok: boolean; entries: number; brokenAt: number | null }> {
  const head = await db.selectFrom('audit_head').select(['last_id', 'last_hash']).where('id', '=', 1).executeTakeFirst();
  const upTo = head ? head.last_id : Number.MAX_SAFE_INTEGER;
  let q = db.selectFrom('audit').select((eb) => eb.fn.countAll<number>().as('n'));
  if (head) q = q.where('id', '<=', upTo);
  const entries = Number((await q.executeTakeFirstOrThrow()).n);
  const broken = (id: number) => ({ ok: false, entries, brokenAt: id });
  let prev: string | null = null;
  let last: { id: number; hash: string } | null = null;
  // In pages, so a long trail is not read into memory at once.
  for (let after = -1; ;) {
    const rows = await db.selectFrom('audit').selectAll().where('id', '>', after).where('id', '<=', upTo).orderBy('id', 'asc').limit(5000).execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      if (prev !== null && r.prev_hash !== prev) return broken(r.id);
      if (entryHash(r.prev_hash, r) !== r.hash) return broken(r.id);
      prev = r.hash;
      last = { id: r.id, hash: r.hash };
    }
    after = rows[rows.length - 1].id;
  }
  if (head && head.last_id > 0) {
    if (!last || last.id !== head.last_id) return broken(head.last_id);
    if (last.hash !== head.last_hash) return broken(last.id);
  }
  return { ok: true, entries, brokenAt: null };
}
