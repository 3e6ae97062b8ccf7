/**
 * `bulwark backup verify` (GW-BAK-2): proves a backup restores, by restoring it. Stages:
 *   1. manifest.json exists and parses; every listed file exists with its size and SHA-256;
 *      no file is there that the manifest does not list.
 *   2. restoreBackup into a scratch directory (embedded SQLite), timed.
 *   3. In the restored installation: row counts per table equal the manifest's; every blob
 *      referenced (messages.blob_hash, blob_refs with refcount > 0) is in its partition's
 *      blob store and hashes to its name; every message's blob is counted in blob_refs;
 *      the partition map's accounts match the directory; PRAGMA quick_check passes; the
 *      audit hash chain verifies.
 * The verdict is a list of problems, each naming the file, table or blob concerned; no
 * problem at all means ok. The scratch directory is always removed.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Stores, storeSettings } from '../../store/stores.ts';
import { TABLES } from '../../store/migrations/index.ts';
import { sha256 } from '../../store/blob/index.ts';
import { recordAudit, verifyAuditChain } from '../../security/audit.ts';
import { isDomainError } from '../../core/errors.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { MANIFEST_FILE, entryPath, hashFile, listFiles, readManifest, type Manifest } from './manifest.ts';
import { groupSchemas, partitionDumpDir, requireInstallation, type Progress } from './backup.ts';
import { restoreBackup } from './restore.ts';

export interface VerifyReport {
  ok: boolean;
  problems: string[];
  /** Files checked against the manifest. */
  files: number;
  /** Rows found in the restored databases. */
  rows: number;
  /** Blobs checked in the restored blob stores. */
  blobs: number;
  durationMs: number;
  /** How long the restore into scratch space took (0 when it was not attempted). */
  restoreMs: number;
  /** Set when the verdict could not be written to the live audit trail. */
  auditError?: string;
}

export interface VerifyOptions {
  src: string;
  progress?: Progress;
  /** Data directory of a live installation: the verdict is recorded in its audit trail. */
  dataDir?: string;
  /** That installation's configuration (default: loaded from dataDir). */
  config?: Config;
  /** Where the scratch directory goes (default: the system temp directory). */
  scratchDir?: string;
  actor?: string;
  log?: Logger;
}

function message(e: unknown): string {
  return isDomainError(e) ? e.detail || e.message : e instanceof Error ? e.message : String(e);
}

export async function verifyBackup(opts: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const src = path.resolve(opts.src);
  const progress: Progress = opts.progress ?? (() => {});
  const problems: string[] = [];
  let files = 0;
  let rows = 0;
  let blobs = 0;
  let restoreMs = 0;

  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(src);
  } catch (e) {
    problems.push(`${MANIFEST_FILE}: ${message(e)}`);
  }

  if (manifest) {
    // ---- stage 1: the files are those the manifest lists, unchanged
    const present = new Set(await listFiles(src).catch(() => [] as string[]));
    present.delete(MANIFEST_FILE);
    for (const f of manifest.files) {
      files++;
      if (!present.delete(f.path)) {
        problems.push(`${f.path}: listed in the manifest but missing`);
        continue;
      }
      const st = await hashFile(entryPath(src, f.path));
      if (st.size !== f.size) problems.push(`${f.path}: ${st.size} bytes, the manifest says ${f.size} (the file is damaged)`);
      else if (st.sha256 !== f.sha256) problems.push(`${f.path}: SHA-256 differs from the manifest (the file is damaged)`);
      if (files % 1000 === 0) progress(`checked ${files}/${manifest.files.length} files`);
    }
    for (const p of present) problems.push(`${p}: present but not listed in the manifest`);
    progress(`checked ${files} files: ${problems.length ? `${problems.length} problem(s)` : 'all match the manifest'}`);

    // ---- stages 2 and 3: restore into scratch space and look at the result
    if (problems.length) {
      problems.push('restore not attempted: the backup files do not match the manifest');
    } else {
      const scratch = await fsp.mkdtemp(path.join(opts.scratchDir ?? os.tmpdir(), 'bulwark-verify-'));
      try {
        const target = path.join(scratch, 'data');
        const t0 = Date.now();
        try {
          await restoreBackup({ src, dataDir: target, audit: false, log: opts.log, progress: (m) => progress(`restore: ${m}`) });
          restoreMs = Date.now() - t0;
          progress(`restored in ${restoreMs} ms; checking the restored installation`);
          const found = await checkRestored(target, manifest, problems, progress);
          rows = found.rows;
          blobs = found.blobs;
        } catch (e) {
          problems.push(`restore failed: ${message(e)}`);
        }
      } finally {
        await fsp.rm(scratch, { recursive: true, force: true });
      }
    }
  }

  const report: VerifyReport = { ok: problems.length === 0, problems, files, rows, blobs, durationMs: Date.now() - started, restoreMs };
  opts.log?.[report.ok ? 'info' : 'error']({ src, ok: report.ok, problems: problems.length, files, rows, blobs, duration_ms: report.durationMs }, 'backup.verify');
  progress(report.ok ? `backup verified: ${files} files, ${rows} rows, ${blobs} blobs in ${report.durationMs} ms` : `backup FAILED verification: ${problems.length} problem(s)`);

  if (opts.dataDir) {
    try {
      await recordVerdict(opts, src, report);
    } catch (e) {
      report.auditError = message(e);
      opts.log?.warn({ err: report.auditError }, 'backup.verify.audit_failed');
      progress(`warning: the verdict could not be recorded in the audit trail: ${report.auditError}`);
    }
  }
  return report;
}

async function recordVerdict(opts: VerifyOptions, src: string, r: VerifyReport): Promise<void> {
  const dataDir = path.resolve(opts.dataDir!);
  const config = opts.config ?? loadConfig(dataDir).config;
  const settings = storeSettings(config, dataDir, opts.log);
  requireInstallation(settings);
  const live = await Stores.open(settings, { migrate: false });
  try {
    await recordAudit(live.directory, {
      event: 'backup.verify', actor: opts.actor ?? 'system:cli', source: 'verify', object: src,
      detail: { ok: r.ok, problems: r.problems.length, first_problems: r.problems.slice(0, 5), files: r.files, rows: r.rows, blobs: r.blobs, duration_ms: r.durationMs, restore_ms: r.restoreMs },
    });
  } finally {
    await live.close();
  }
}

async function countRows(db: Kysely<any>, table: string): Promise<number> {
  const r = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Stage 3: compares the restored installation with the manifest; adds to problems. */
async function checkRestored(dataDir: string, m: Manifest, problems: string[], progress: Progress): Promise<{ rows: number; blobs: number }> {
  const { config } = loadConfig(dataDir, {}, { requireFile: true });
  const stores = await Stores.open(storeSettings(config, dataDir));
  let rows = 0;
  let blobs = 0;
  try {
    for (const db of m.databases) {
      for (const schema of groupSchemas(db)) {
        const dir = schema === 'directory' ? 'directory' : partitionDumpDir(db);
        const engine = schema === 'directory' ? stores.directoryEngine : await stores.partition(db.partitions[0]).open();
        const kdb = engine.db as Kysely<any>;
        for (const table of TABLES[schema]) {
          if (table === 'blobs') continue; // bytes are files in the backup, checked below
          const expected = m.rows[dir]?.[table] ?? 0;
          const n = await countRows(kdb, table);
          rows += n;
          if (n !== expected) problems.push(`${dir}/${table}.jsonl: ${n} rows restored, the manifest counts ${expected}`);
        }
        try {
          await engine.quickCheck();
        } catch (e) {
          problems.push(`${dir}: the restored database fails its integrity check: ${message(e)}`);
        }
        if (schema === 'partition') blobs += await checkBlobs(stores, db.partitions, kdb, problems, progress);
      }
    }

    // The partition map in the manifest against the restored directory.
    const accounts = await stores.directory.selectFrom('accounts').select(['id', 'partition']).execute();
    for (const [name, p] of Object.entries(m.partitions)) {
      const restored = accounts.filter((a) => a.partition === name).map((a) => a.id).sort((a, b) => a - b).join(',');
      const listed = p.accounts.map((a) => a.id).sort((a, b) => a - b).join(',');
      if (restored !== listed) problems.push(`directory/accounts.jsonl: the accounts of partition ${name} differ from the manifest's partition map`);
    }

    const chain = await verifyAuditChain(stores.directory);
    if (!chain.ok) problems.push(`directory/audit.jsonl: the audit hash chain breaks at entry ${chain.brokenAt}`);
    progress(`checked ${rows} rows, ${blobs} blobs, audit chain of ${chain.entries} entries`);
  } finally {
    await stores.close();
  }
  return { rows, blobs };
}

/** Every referenced blob is present in one of the partitions' stores and intact. */
async function checkBlobs(stores: Stores, names: string[], db: Kysely<any>, problems: string[], progress: Progress): Promise<number> {
  const fromMessages = new Set((await db.selectFrom('messages').select('blob_hash').distinct().execute()).map((r) => String(r.blob_hash)));
  const counted = new Set((await db.selectFrom('blob_refs').select('hash').where('refcount', '>', 0).execute()).map((r) => String(r.hash)));
  const label = names.join(', ');
  for (const h of fromMessages) {
    if (!counted.has(h)) problems.push(`partitions/${names[0]}/blob_refs.jsonl: blob ${h} is used by a message but not counted in blob_refs`);
  }
  const all = [...new Set([...fromMessages, ...counted])].sort();
  let n = 0;
  for (const h of all) {
    let data: Buffer | undefined;
    for (const name of names) {
      const store = stores.partition(name).blobs;
      if (await store.has(h)) {
        data = await store.get(h);
        break;
      }
    }
    if (!data) problems.push(`blobs/${names[0]}/${h}: blob referenced in partition ${label} is missing`);
    else if (sha256(data) !== h) problems.push(`blobs/${names[0]}/${h}: blob in partition ${label} does not hash to its name`);
    if (++n % 500 === 0) progress(`checked ${n}/${all.length} blobs of partition ${label}`);
  }
  return n;
}
