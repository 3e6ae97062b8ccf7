/**
 * Periodic housekeeping a running node does: prune the audit trail past its retention
 * (GW-LOG-3) and collect blobs that have been unreferenced for longer than the grace period.
 * Each job runs at start and then on its interval; a failure is logged and retried next time
 * (a partition that is down is simply skipped).
 */
import type { Logger } from 'pino';
import type { App } from '../app.ts';
import { pruneAudit } from './retention.ts';

export async function runMaintenance(app: App, log: Logger): Promise<void> {
  try {
    const r = await pruneAudit(app.stores.directory, app.config.log.audit_retention_days);
    if (r.deleted) log.info({ deleted: r.deleted }, 'audit.pruned');
  } catch (e) {
    log.error({ err: (e as Error).message }, 'audit.prune_failed');
  }
  const graceMs = app.config.blobs.gc_grace_hours * 3_600_000;
  for (const p of app.stores.partitions.values()) {
    if (p.status !== 'up') continue;
    try {
      const n = await p.blobs.collect(graceMs);
      if (n) log.info({ partition: p.name, collected: n }, 'blobs.collected');
    } catch (e) {
      log.error({ partition: p.name, err: (e as Error).message }, 'blobs.collect_failed');
    }
  }
}

/** Starts the daily maintenance timer; returns a function that stops it. */
export function scheduleMaintenance(app: App, log: Logger, intervalMs = 86_400_000): () => void {
  const t = setInterval(() => void runMaintenance(app, log), intervalMs);
  t.unref();
  return () => clearInterval(t);
}
