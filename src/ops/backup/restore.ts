/**
 * `bulwark restore` (GW-BAK-2): turns a backup back into a working installation in an empty
 * data directory. By default the result is embedded (SQLite) whatever the backup came from:
 * the primary store in bulwark.db, a partition that shared the primary database in it too,
 * every other partition in partitions/<name>.db. With keepUrls the databases named by the
 * backed-up configuration (plus environment overrides) are used instead; they must be empty.
 *
 * Invariants:
 * - Nothing is written unless the data directory is empty (or absent) and every target
 *   database is empty; a failed restore removes what it wrote to the data directory.
 * - Every backup file read is checked against the manifest's size and SHA-256 before what
 *   was read from it is committed (one transaction per table), so a damaged backup never
 *   restores silently.
 * - A backup from a newer schema than this code knows is refused. One from an older schema
 *   is restored at its own schema version and then migrated, as a live upgrade would be.
 * - After explicit ids went into PostgreSQL, its id sequences are moved past them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { parse as parseToml } from 'smol-toml';
import { Stores, storeSettings } from '../../store/stores.ts';
import { engineKind, openEngine, redactUrl, sqlitePath, type Engine } from '../../store/engine.ts';
import { TABLES, migrate, migrationsFor, type SchemaName } from '../../store/migrations/index.ts';
import { sha256 } from '../../store/blob/index.ts';
import { writeDurably } from '../../lib/durable.ts';
import { recordAudit } from '../../security/audit.ts';
import { DomainError } from '../../core/errors.ts';
import { CONFIG_FILE, loadConfig } from '../config/load.ts';
import { renderConfig } from '../config/template.ts';
import type { Config } from '../config/schema.ts';
import { entryPath, readManifest, type Manifest, type ManifestFile } from './manifest.ts';
import { decodeRow, migrationTable, readLines, type Row } from './dump.ts';
import { databaseGroups, databaseKey, groupSchemas, partitionDumpDir, type Progress } from './backup.ts';

export interface RestoreOptions {
  /** The backup directory. */
  src: string;
  /** The new data directory: must not exist or be empty. */
  dataDir: string;
  progress?: Progress;
  /**
   * Restore into the databases of the backed-up configuration (its file, with environment
   * overrides from `env`) instead of embedded SQLite. Those databases must be empty.
   */
  keepUrls?: boolean;
  /** Environment for keepUrls (default process.env); ignored otherwise. */
  env?: NodeJS.ProcessEnv;
  /** Record backup.restore in the restored audit trail (default true; verify turns it off). */
  audit?: boolean;
  actor?: string;
  log?: Logger;
}

type RawConfig = Record<string, Record<string, unknown>>;

/** Newest migration name per schema that this code knows. */
function latestKnown(schema: SchemaName): string {
  return Object.keys(migrationsFor(schema, 'sqlite')).sort().at(-1) ?? '';
}

/** Refuses manifests this code cannot restore: schema newer than known, broken layout. */
export function checkRestorable(m: Manifest): void {
  for (const db of m.databases) {
    for (const schema of ['directory', 'partition'] as const) {
      const v = db.schema_versions[schema];
      if (!v) continue;
      if (!Object.keys(migrationsFor(schema, 'sqlite')).includes(v)) {
        throw new DomainError('INVALID_INPUT', `the backup's ${schema} schema is at ${v}, newer than this version of Bulwark knows (${latestKnown(schema)}); restore it with the version that made it (${m.bulwark_version}) or newer`);
      }
    }
  }
  const dirs = m.databases.filter((d) => d.directory);
  if (dirs.length !== 1) throw new DomainError('INVALID_INPUT', `manifest.json: expected one primary store database, found ${dirs.length}`);
  const inDbs = m.databases.flatMap((d) => d.partitions).sort();
  const named = Object.keys(m.partitions).sort();
  if (inDbs.join() !== named.join()) throw new DomainError('INVALID_INPUT', 'manifest.json: the partition map and the database list disagree');
  for (const dir of Object.keys(m.rows)) {
    const schema: SchemaName = dir === 'directory' ? 'directory' : 'partition';
    for (const table of Object.keys(m.rows[dir])) {
      if (!TABLES[schema].includes(table)) throw new DomainError('INVALID_INPUT', `the backup holds table ${dir}/${table}, which this version of Bulwark does not know`);
    }
  }
}

/** The embedded layout: the primary database becomes bulwark.db, others partitions/<name>.db. */
function embeddedUrl(db: Manifest['databases'][number]): string {
  return db.directory ? 'sqlite:bulwark.db' : `sqlite:partitions/${db.partitions[0]}.db`;
}

/** At least 40 characters from a CSPRNG, as bulwark init makes them. */
function newSecret(): string {
  return crypto.randomBytes(36).toString('base64url');
}

/** Creates dataDir or checks it is empty; returns whether it was created. */
async function claimDataDir(dataDir: string): Promise<boolean> {
  try {
    const entries = await fsp.readdir(dataDir);
    if (entries.length) {
      throw new DomainError('INVALID_INPUT', `restore target ${dataDir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); restore only into a new or empty data directory`);
    }
    return false;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new DomainError('INVALID_INPUT', `restore target ${dataDir} is not a directory`);
    if (code !== 'ENOENT') throw e;
    await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
    return true;
  }
}

async function readChecked(src: string, f: ManifestFile): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await fsp.readFile(entryPath(src, f.path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DomainError('INTEGRITY', `backup file ${f.path} is missing`);
    throw e;
  }
  if (data.length !== f.size || sha256(data) !== f.sha256) {
    throw new DomainError('INTEGRITY', `backup file ${f.path} is damaged: its size or SHA-256 differs from the manifest`);
  }
  return data;
}

/** Brings a fresh database to the backup's schema version (the rows fit it exactly). */
async function migrateToVersion(engine: Engine, schema: SchemaName, version: string | null | undefined): Promise<void> {
  if (!version || version === latestKnown(schema)) {
    await migrate(engine, schema);
    return;
  }
  const migrator = new Migrator({
    db: engine.db,
    provider: { getMigrations: async () => migrationsFor(schema, engine.kind) },
    migrationTableName: migrationTable(schema),
    migrationLockTableName: `${migrationTable(schema)}_lock`,
  });
  const { error } = await migrator.migrateTo(version);
  if (error) throw error;
}

/** Rows per INSERT: stays well under both engines' bound-parameter limits. */
function batchSize(row: Row): number {
  return Math.max(1, Math.min(500, Math.floor(8000 / Math.max(1, Object.keys(row).length))));
}

export async function restoreBackup(opts: RestoreOptions): Promise<void> {
  const started = Date.now();
  const src = path.resolve(opts.src);
  const dataDir = path.resolve(opts.dataDir);
  const progress: Progress = opts.progress ?? (() => {});
  const manifest = await readManifest(src);
  checkRestorable(manifest);
  const files = new Map(manifest.files.map((f) => [f.path, f]));

  const created = await claimDataDir(dataDir);
  const engines: Engine[] = [];
  let stores: Stores | undefined;
  try {
    // ---- configuration
    let raw: RawConfig = {};
    let original: Buffer | null = null;
    if (manifest.config) {
      const entry = files.get(manifest.config);
      if (!entry) throw new DomainError('INTEGRITY', `manifest.json names ${manifest.config} as the configuration but does not list it`);
      original = await readChecked(src, entry);
      raw = parseToml(original.toString('utf8')) as RawConfig;
    } else {
      // Nothing to carry over: a default configuration with a new secret (sessions and
      // tokens of the old installation will not be valid).
      raw = { server: { secret: newSecret() } };
      progress('the backup holds no configuration file: writing a default one with a new secret');
    }
    let text: string;
    if (opts.keepUrls) {
      text = original ? original.toString('utf8') : renderConfig(raw);
    } else {
      const partitions: Record<string, string> = {};
      for (const db of manifest.databases) for (const name of db.partitions) partitions[name] = embeddedUrl(db);
      raw.store = { ...(raw.store ?? {}), url: 'sqlite:bulwark.db' };
      raw.partitions = partitions;
      text = renderConfig(raw);
    }
    await writeDurably(path.join(dataDir, CONFIG_FILE), Buffer.from(text, 'utf8'));
    // The embedded layout must not be redirected by whatever environment runs the restore.
    const config: Config = loadConfig(dataDir, opts.keepUrls ? (opts.env ?? process.env) : {}, { requireFile: true }).config;
    const settings = storeSettings(config, dataDir, opts.log);

    // ---- target databases: same layout as the backup, and empty
    const targets = databaseGroups(settings);
    const targetOf: string[] = manifest.databases.map((db) => {
      const roles = [...(db.directory ? [settings.directoryUrl] : []), ...db.partitions.map((p) => settings.partitions[p] ?? '')];
      if (roles.includes('') || new Set(roles.map((u) => databaseKey(u, dataDir))).size !== 1) {
        throw new DomainError('INVALID_INPUT', `the configuration must keep ${[...(db.directory ? ['the primary store'] : []), ...db.partitions.map((p) => `partition ${p}`)].join(' and ')} together in one database, as in the backup`);
      }
      return roles[0];
    });
    if (new Set(targetOf.map((u) => databaseKey(u, dataDir))).size !== targetOf.length || targets.length !== targetOf.length) {
      throw new DomainError('INVALID_INPUT', 'the configuration does not have the same databases and partitions as the backup');
    }
    for (const url of targetOf) await requireEmpty(url, dataDir, settings.connectTimeoutMs);

    // ---- rows
    let totalRows = 0;
    for (const [i, db] of manifest.databases.entries()) {
      const url = targetOf[i];
      const engine = openEngine(url, dataDir, { poolSize: 2, connectTimeoutMs: settings.connectTimeoutMs });
      engines.push(engine);
      for (const schema of groupSchemas(db)) {
        await migrateToVersion(engine, schema, db.schema_versions[schema]);
        const dir = schema === 'directory' ? 'directory' : partitionDumpDir(db);
        const counts = manifest.rows[dir] ?? {};
        for (const table of TABLES[schema]) {
          if (counts[table] === undefined) continue;
          const n = await restoreTable(engine, src, `${dir}/${table}.jsonl`, table, files, counts[table]);
          totalRows += n;
          progress(`${dir}: ${table} ${n} rows restored`);
        }
      }
      if (engine.kind === 'postgres') await resetSequences(engine);
      for (const schema of groupSchemas(db)) await migrate(engine, schema);
      // The full-text index is not in backups (derived data): the indexer rebuilds it.
      if (groupSchemas(db).includes('partition')) await engine.db.updateTable('messages' as never).set({ text_indexed: 0 } as never).execute();
    }
    await Promise.allSettled(engines.splice(0).map((e) => e.close()));

    // ---- blobs, through each partition's own blob store
    stores = await Stores.open(settings);
    let totalBlobs = 0;
    for (const name of Object.keys(manifest.partitions).sort()) {
      const prefix = `blobs/${name}/`;
      const entries = manifest.files.filter((f) => f.path.startsWith(prefix));
      if (!entries.length) continue;
      const part = stores.partition(name);
      await part.open();
      await part.open();
      let pending: { hash: string; data: Uint8Array }[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        const rows = pending;
        pending = [];
        pendingBytes = 0;
        if (rows.length) await part.tx('restore blobs', (trx) => trx.insertInto('blobs').values(rows).onConflict((oc) => oc.column('hash').doNothing()).execute());
      };
      let done = 0;
      for (const f of entries) {
        const hash = f.path.slice(prefix.length);
        if (!/^[0-9a-f]{64}$/.test(hash)) throw new DomainError('INVALID_INPUT', `backup file ${f.path} is not named by a blob hash`);
        const data = await readChecked(src, f);
        if (f.sha256 !== hash) throw new DomainError('INTEGRITY', `backup file ${f.path}: its bytes do not hash to its name`);
        if (part.blobs.kind === 'files') {
          await part.blobs.put(data);
        } else {
          pending.push({ hash, data });
          pendingBytes += data.byteLength;
          if (pending.length >= 100 || pendingBytes >= 16 << 20) await flush();
        }
        if (++done % 500 === 0 || done === entries.length) progress(`blobs ${name}: ${done}/${entries.length}`);
      }
      await flush();
      totalBlobs += done;
    }

    const detail = {
      backup_created_at: manifest.created_at,
      backup_version: manifest.bulwark_version,
      layout: opts.keepUrls ? 'configured databases' : 'embedded',
      rows: totalRows,
      blobs: totalBlobs,
      duration_ms: Date.now() - started,
    };
    if (opts.audit !== false) {
      await recordAudit(stores.directory, { event: 'backup.restore', actor: opts.actor ?? 'system:cli', source: 'restore', object: src, detail });
    }
    opts.log?.info({ src, dataDir, ...detail }, 'backup.restore');
    progress(`restore complete: ${totalRows} rows, ${totalBlobs} blobs in ${detail.duration_ms} ms`);
  } catch (e) {
    await Promise.allSettled(engines.splice(0).map((x) => x.close()));
    await stores?.close();
    stores = undefined;
    // Leave the data directory as it was found (databases named by keepUrls stay as they are).
    if (created) await fsp.rm(dataDir, { recursive: true, force: true }).catch(() => {});
    else for (const ent of await fsp.readdir(dataDir).catch(() => [])) await fsp.rm(path.join(dataDir, ent), { recursive: true, force: true }).catch(() => {});
    throw e;
  } finally {
    await stores?.close();
  }
}

/** Refuses a target database that holds anything. */
async function requireEmpty(url: string, dataDir: string, connectTimeoutMs: number): Promise<void> {
  if (engineKind(url) === 'sqlite') {
    const file = sqlitePath(url, dataDir);
    if (fs.existsSync(file) && fs.statSync(file).size > 0) throw new DomainError('INVALID_INPUT', `restore target database ${file} exists already; restore needs an empty one`);
    return;
  }
  const engine = openEngine(url, dataDir, { poolSize: 1, connectTimeoutMs });
  try {
    const r = await sql<{ n: number }>`select count(*) as n from information_schema.tables where table_schema = current_schema()`.execute(engine.db);
    if (Number(r.rows[0]?.n) > 0) throw new DomainError('INVALID_INPUT', `restore target database ${redactUrl(url)} is not empty; restore needs an empty one`);
  } finally {
    await engine.close();
  }
}

/** Inserts one table's rows in one transaction; the file is checked before the commit. */
async function restoreTable(engine: Engine, src: string, rel: string, table: string, files: Map<string, ManifestFile>, expected: number): Promise<number> {
  const entry = files.get(rel);
  if (!entry) throw new DomainError('INTEGRITY', `manifest.json counts rows of ${rel} but does not list the file`);
  const file = entryPath(src, rel);
  if (!fs.existsSync(file)) throw new DomainError('INTEGRITY', `backup file ${rel} is missing`);
  return engine.db.transaction().execute(async (trx) => {
    // A fresh schema may hold seed rows (audit_head); the backup's rows replace them.
    await trx.deleteFrom(table).execute();
    let batch: Row[] = [];
    let n = 0;
    for await (const line of readLines(file, rel, entry)) {
      let row: Row;
      try {
        row = decodeRow(line);
      } catch (e) {
        throw new DomainError('INTEGRITY', `backup file ${rel}, row ${n + 1}: ${(e as Error).message}`);
      }
      batch.push(row);
      n++;
      if (batch.length >= batchSize(batch[0])) {
        await trx.insertInto(table).values(batch).execute();
        batch = [];
      }
    }
    if (batch.length) await trx.insertInto(table).values(batch).execute();
    if (n !== expected) throw new DomainError('INTEGRITY', `backup file ${rel} holds ${n} rows, the manifest counts ${expected}`);
    return n;
  });
}

/** Moves every serial id sequence past the largest id restored. */
async function resetSequences(engine: Engine): Promise<void> {
  const r = await sql<{ table_name: string }>`select table_name from information_schema.columns
    where table_schema = current_schema() and column_name = 'id' and column_default like 'nextval(%'`.execute(engine.db);
  for (const { table_name } of r.rows) {
    await sql`select setval(pg_get_serial_sequence(${table_name}, 'id'), max(id)) from ${sql.table(table_name)} having max(id) is not null`.execute(engine.db);
  }
}
