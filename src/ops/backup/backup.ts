/**
 * `bulwark backup` (GW-BAK-1): a consistent online backup of the primary store, every
 * partition, their blobs and the configuration file, while the server keeps running.
 *
 * How it stays consistent without stopping anyone:
 * - Every database (distinct URL) is read inside one snapshot (dump.ts). All snapshots are
 *   opened before the first table is read, so they are taken within moments of each other;
 *   a database in two roles (the embedded default: directory and partition "main" in one
 *   SQLite file) is read once, in one snapshot, for both.
 * - The blobs copied are exactly those the snapshot references (blob_refs with refcount > 0,
 *   and every messages.blob_hash). Blobs are immutable and unreferenced ones are collected
 *   only after a grace period, so files can be copied after the snapshots close; blobs of
 *   the database backend are read inside the snapshot.
 * - The manifest is written last (manifest.ts); a run that fails removes what it wrote.
 *
 * The backup runs in its own process (the CLI), so it opens its own connections from the
 * configuration and never migrates the live databases.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { Stores, storeSettings, type StoreSettings } from '../../store/stores.ts';
import { engineKind, redactUrl, sqlitePath } from '../../store/engine.ts';
import { TABLES, type SchemaName } from '../../store/migrations/index.ts';
import { HybridBlobStore, sha256 } from '../../store/blob/index.ts';
import { recordAudit } from '../../security/audit.ts';
import { DomainError, isDomainError } from '../../core/errors.ts';
import { CONFIG_FILE } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { BACKUP_FORMAT, BackupWriter, CONFIG_ENTRY, type Manifest, type ManifestDatabase, type ManifestPartition } from './manifest.ts';
import { encodeRow, openSnapshot, type Snapshot } from './dump.ts';
import { bulwarkVersion } from '../version.ts';

export type Progress = (message: string) => void;

export interface BackupOptions {
  /** Data directory of the installation (relative sqlite: URLs and file blobs live here). */
  dataDir: string;
  /** Its effective configuration (file plus environment). */
  config: Config;
  /** New backup directory: must not exist or be empty. */
  dest: string;
  log?: Logger;
  progress?: Progress;
  /** Who asked, for the audit trail. */
  actor?: string;
}

/** One database and the roles it plays. */
export interface DatabaseGroup {
  url: string;
  directory: boolean;
  partitions: string[];
}

/** Identifies a database as the store does: SQLite by its absolute file, PostgreSQL by URL. */
export function databaseKey(url: string, dataDir: string): string {
  return engineKind(url) === 'sqlite' ? `sqlite:${path.resolve(sqlitePath(url, dataDir))}` : url;
}

/** Groups the configured roles by database; the primary store's database comes first. */
export function databaseGroups(s: Pick<StoreSettings, 'dataDir' | 'directoryUrl' | 'partitions'>): DatabaseGroup[] {
  const byKey = new Map<string, DatabaseGroup>();
  byKey.set(databaseKey(s.directoryUrl, s.dataDir), { url: s.directoryUrl, directory: true, partitions: [] });
  for (const [name, url] of Object.entries(s.partitions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const key = databaseKey(url, s.dataDir);
    let g = byKey.get(key);
    if (!g) byKey.set(key, (g = { url, directory: false, partitions: [] }));
    g.partitions.push(name);
  }
  return [...byKey.values()];
}

/** Where a group's partition tables go in the backup. */
export function partitionDumpDir(g: { partitions: string[] }): string {
  return `partitions/${g.partitions[0]}`;
}

/** Opening an SQLite URL creates the file: refuses a data directory without its databases. */
export function requireInstallation(s: Pick<StoreSettings, 'dataDir' | 'directoryUrl' | 'partitions'>): void {
  for (const g of databaseGroups(s)) {
    if (engineKind(g.url) === 'sqlite' && !fs.existsSync(sqlitePath(g.url, s.dataDir))) {
      throw new DomainError('INVALID_INPUT', `no database at ${sqlitePath(g.url, s.dataDir)}; is ${s.dataDir} the data directory of an installation?`);
    }
  }
}


const BLOB_BATCH = 50;

export async function createBackup(opts: BackupOptions): Promise<Manifest> {
  const started = Date.now();
  const dataDir = path.resolve(opts.dataDir);
  const progress: Progress = opts.progress ?? (() => {});
  const settings = storeSettings(opts.config, dataDir, opts.log);
  const groups = databaseGroups(settings);

  requireInstallation(settings);

  const writer = await BackupWriter.create(opts.dest);
  const snaps: Snapshot[] = [];
  let stores: Stores | undefined;
  let complete = false;
  try {
    stores = await Stores.open(settings, { migrate: false });
    for (const g of groups) {
      try {
        snaps.push(await openSnapshot(g.url, dataDir, { connectTimeoutMs: settings.connectTimeoutMs }));
      } catch (e) {
        if (isDomainError(e)) throw e;
        throw new DomainError('UNAVAILABLE', `cannot open ${redactUrl(g.url)} (${g.directory ? 'primary store' : `partition ${g.partitions.join(', ')}`}): ${(e as Error).message}`, { cause: e });
      }
    }
    progress(`snapshot taken of ${groups.length} database${groups.length === 1 ? '' : 's'}`);

    const databases: ManifestDatabase[] = [];
    const rows: Manifest['rows'] = {};
    const warnings: string[] = [];
    const accounts = new Map<string, { id: number; address: string }[]>();
    /** Per group: referenced blob hashes still to copy from files (after the snapshots). */
    const fileBlobs = new Map<DatabaseGroup, string[]>();
    // Large bodies in segment files: where each is, as the snapshot says.
    const segmentOf = new Map<string, { seg: string; off: number; len: number }>();
    const blobCount = new Map<string, number>();
    let blobBytes = 0;

    const warn = (msg: string) => {
      warnings.push(msg);
      opts.log?.warn({ problem: msg }, 'backup.warning');
      progress(`warning: ${msg}`);
    };

    /** Streams one table into <dir>/<table>.jsonl; returns the rows written. */
    const dumpTable = async (snap: Snapshot, dir: string, table: string, onRow?: (row: Record<string, unknown>) => void) => {
      const f = await writer.open(`${dir}/${table}.jsonl`);
      let n = 0;
      try {
        for await (const row of snap.rows(table)) {
          onRow?.(row);
          await f.write(encodeRow(row) + '\n');
          n++;
          if (n % 10_000 === 0) progress(`${dir}: ${table} ${n} rows…`);
        }
      } catch (e) {
        await f.abandon();
        throw e;
      }
      await f.close();
      progress(`${dir}: ${table} ${n} rows`);
      return n;
    };

    for (const [i, g] of groups.entries()) {
      const snap = snaps[i];
      const present = await snap.tables();
      const versions: ManifestDatabase['schema_versions'] = {};

      if (g.directory) {
        versions.directory = await snap.schemaVersion('directory');
        if (!versions.directory) throw new DomainError('INVALID_INPUT', `the primary store ${snap.label} holds no Bulwark directory`);
        const counts: Record<string, number> = {};
        for (const table of TABLES.directory) {
          if (!present.has(table)) continue;
          counts[table] = await dumpTable(snap, 'directory', table, table === 'accounts' ? (r) => {
            const list = accounts.get(String(r.partition)) ?? [];
            list.push({ id: Number(r.id), address: String(r.address) });
            accounts.set(String(r.partition), list);
          } : undefined);
        }
        rows.directory = counts;
      }

      if (g.partitions.length) {
        versions.partition = await snap.schemaVersion('partition');
        const dir = partitionDumpDir(g);
        const counts: Record<string, number> = {};
        const referenced = new Set<string>();
        if (versions.partition) {
          for (const table of TABLES.partition) {
            // Blob bytes become files under blobs/, never rows.
            if (table === 'blobs' || !present.has(table)) continue;
            const onRow = table === 'messages' ? (r: Record<string, unknown>) => referenced.add(String(r.blob_hash))
              : table === 'blob_refs' ? (r: Record<string, unknown>) => {
                if (Number(r.refcount) > 0) referenced.add(String(r.hash));
                if (r.seg) segmentOf.set(String(r.hash), { seg: String(r.seg), off: Number(r.seg_off), len: Number(r.seg_len) });
              }
              : undefined;
            counts[table] = await dumpTable(snap, dir, table, onRow);
          }
        }
        rows[dir] = counts;
        const hashes = [...referenced].sort();
        const first = g.partitions[0];
        const inline = stores.partition(first).blobs.kind === 'files' && present.has('blobs');
        if (stores.partition(first).blobs.kind === 'database' || inline) {
          // The bytes are rows of this snapshot: copy them now, a batch at a time.
          let done = 0;
          const missingInline: string[] = [];
          for (let k = 0; k < hashes.length; k += BLOB_BATCH) {
            const batch = hashes.slice(k, k + BLOB_BATCH);
            const found = await snap.db.selectFrom('blobs').select(['hash', 'data']).where('hash', 'in', batch).execute() as { hash: string; data: Uint8Array }[];
            const byHash = new Map(found.map((r) => [r.hash, r.data]));
            for (const h of batch) {
              const data = byHash.get(h);
              // Files backend with small bodies inline: what is not in the table is in a file.
              if (!data && inline) {
                missingInline.push(h);
                continue;
              }
              if (!data) warn(`blob ${h} referenced in partition ${g.partitions.join(', ')} is missing from table blobs`);
              else if (sha256(data) !== h) warn(`blob ${h} in partition ${g.partitions.join(', ')} is damaged (its bytes do not hash to its name); not copied`);
              else {
                await writer.writeFile(`blobs/${first}/${h}`, data);
                blobCount.set(first, (blobCount.get(first) ?? 0) + 1);
                blobBytes += data.byteLength;
              }
            }
            done += batch.length;
            if (done % 500 < BLOB_BATCH || done === hashes.length) progress(`blobs ${first}: ${done}/${hashes.length}`);
          }
          if (inline) fileBlobs.set(g, missingInline);
        } else {
          fileBlobs.set(g, hashes);
        }
      }
      databases.push({
        kind: engineKind(g.url),
        url: redactUrl(g.url),
        directory: g.directory,
        partitions: g.partitions,
        schema_versions: versions,
      });
    }

    // The snapshots have fixed what to copy; release them before the long file copy.
    await closeAll(snaps);

    for (const [g, hashes] of fileBlobs) {
      let done = 0;
      for (const h of hashes) {
        let copied = false;
        // Partitions sharing one database each have their own blob directory.
        for (const name of g.partitions) {
          let data: Buffer;
          try {
            const blobs = stores.partition(name).blobs;
            const loc = segmentOf.get(h);
            if (blobs instanceof HybridBlobStore && loc && blobs.segments.exists(loc.seg)) data = await blobs.segments.read(loc);
            else data = await (blobs instanceof HybridBlobStore ? blobs.files : blobs).get(h);
          } catch (e) {
            if (isDomainError(e, 'NOT_FOUND')) continue;
            throw e;
          }
          if (sha256(data) !== h) {
            warn(`blob ${h} in partition ${name} is damaged (its bytes do not hash to its name); not copied`);
          } else {
            await writer.writeFile(`blobs/${name}/${h}`, data);
            blobCount.set(name, (blobCount.get(name) ?? 0) + 1);
            blobBytes += data.byteLength;
          }
          copied = true;
          break;
        }
        if (!copied) warn(`blob ${h} referenced in partition ${g.partitions.join(', ')} is missing from its blob store`);
        if (++done % 500 === 0 || done === hashes.length) progress(`blobs ${g.partitions.join(', ')}: ${done}/${hashes.length}`);
      }
    }

    const configFile = path.join(dataDir, CONFIG_FILE);
    let config: string | null = null;
    if (fs.existsSync(configFile)) {
      await writer.writeFile(CONFIG_ENTRY, await fs.promises.readFile(configFile));
      config = CONFIG_ENTRY;
    } else {
      progress(`no ${CONFIG_FILE} in ${dataDir}: the backup holds no configuration file`);
    }

    const partitions: Record<string, ManifestPartition> = {};
    for (const [i, g] of groups.entries()) {
      for (const name of g.partitions) {
        partitions[name] = {
          kind: engineKind(g.url),
          url: redactUrl(g.url),
          database: i,
          dump: partitionDumpDir(g),
          blob_backend: stores.partition(name).blobs.kind,
          accounts: (accounts.get(name) ?? []).sort((a, b) => a.id - b.id),
          blobs: blobCount.get(name) ?? 0,
        };
      }
    }
    const totalBlobs = [...blobCount.values()].reduce((a, b) => a + b, 0);
    const manifest = await writer.finish({
      format: BACKUP_FORMAT,
      created_at: new Date(started).toISOString(),
      bulwark_version: bulwarkVersion(),
      node_version: process.version,
      config,
      databases,
      partitions,
      rows,
      blobs: { count: totalBlobs, bytes: blobBytes },
      warnings,
    });
    complete = true;

    const totalRows = Object.values(rows).flatMap((t) => Object.values(t)).reduce((a, b) => a + b, 0);
    const summary = {
      files: manifest.files.length, // besides manifest.json, as verify counts them
      rows: totalRows,
      blobs: totalBlobs,
      bytes: manifest.files.reduce((a, f) => a + f.size, 0),
      partitions: Object.keys(partitions),
      warnings: warnings.length,
      duration_ms: Date.now() - started,
    };
    opts.log?.info({ dest: writer.root, ...summary }, 'backup.create');
    progress(`backup complete: ${summary.files} files, ${totalRows} rows, ${totalBlobs} blobs in ${summary.duration_ms} ms`);
    try {
      await recordAudit(stores.directory, { event: 'backup.create', actor: opts.actor ?? 'system:cli', source: 'backup', object: writer.root, detail: summary });
    } catch (e) {
      throw new DomainError('UNAVAILABLE', `the backup in ${writer.root} is complete, but its audit entry could not be recorded: ${(e as Error).message}`, { cause: e });
    }
    return manifest;
  } catch (e) {
    await closeAll(snaps);
    if (!complete) await writer.discard().catch(() => {});
    throw e;
  } finally {
    await stores?.close();
  }
}

async function closeAll(snaps: Snapshot[]): Promise<void> {
  const all = snaps.splice(0);
  await Promise.allSettled(all.map((s) => s.close()));
}

/** The schemas a group's database holds. */
export function groupSchemas(g: { directory: boolean; partitions: string[] }): SchemaName[] {
  return [...(g.directory ? ['directory' as const] : []), ...(g.partitions.length ? ['partition' as const] : [])];
}
