/**
 * Retention of what Bulwark keeps about its own operation (GW-LOG-3). The audit trail keeps
 * entries for log.audit_retention_days; older entries are deleted by pruneAudit(), which runs
 * at server start and daily, and records each run that deleted anything as an "audit.prune" entry (how many, up to
 * which entry), so a gap at the start of the chain is explained by the trail itself.
 * Operational logs go to standard output; their retention belongs to the collector
 * (journald, a log shipper), as the admin guide says.
 */
import type { Kysely } from 'kysely';
import type { DirectoryDB } from '../store/schema.ts';
import { appendAudit } from '../security/audit.ts';

export interface PruneResult {
  deleted: number;
  cutoff: number;
  lastDeletedId: number | null;
}

export async function pruneAudit(db: Kysely<DirectoryDB>, retentionDays: number, opts: { now?: number; actor?: string } = {}): Promise<PruneResult> {
  const now = opts.now ?? Date.now();
  const cutoff = now - retentionDays * 86_400_000;
  return db.transaction().execute(async (trx) => {
    const last = await trx.selectFrom('audit').select((eb) => eb.fn.max('id').as('id')).where('ts', '<', cutoff).executeTakeFirst();
    const lastId = last?.id == null ? null : Number(last.id);
    let deleted = 0;
    if (lastId !== null) {
      const r = await trx.deleteFrom('audit').where('id', '<=', lastId).executeTakeFirst();
      deleted = Number(r.numDeletedRows);
    }
    if (deleted === 0) return { deleted, cutoff, lastDeletedId: lastId };
    await appendAudit(trx, {
      event: 'audit.prune',
      actor: opts.actor ?? 'system:retention',
      object: 'audit',
      detail: { deleted, retentionDays, cutoff: new Date(cutoff).toISOString(), lastDeletedId: lastId },
    }, now);
    return { deleted, cutoff, lastDeletedId: lastId };
  });
}
