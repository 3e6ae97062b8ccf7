/**
 * The set of databases one node uses: the primary store (directory, audit trail, partition
 * map) and the storage partitions that hold account data. Each partition is its own
 * database and fails alone: while one cannot be reached, calls for its accounts fail fast
 * with UNAVAILABLE (a temporary error) and every other partition keeps working.
 *
 * Invariants:
 * - A partition that failed is not retried before retry_after_ms, so a dead server costs
 *   callers nothing but the error; the first call after that tries again.
 * - Migrations run before a database is used; a partition that cannot be migrated counts
 *   as unavailable.
 */
import path from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import { engineKind, openEngine, sqlitePath, type Engine } from './engine.ts';
import { migrate } from './migrations/index.ts';
import { mapDbError } from './errors.ts';
import { DatabaseBlobStore, FileBlobStore, HybridBlobStore, type BlobStore } from './blob/index.ts';
import type { DirectoryDB, PartitionDB } from './schema.ts';
import { DomainError } from '../core/errors.ts';
import type { Config } from '../ops/config/schema.ts';

export interface StoreSettings {
  dataDir: string;
  directoryUrl: string;
  partitions: Record<string, string>;
  blobBackend: 'auto' | 'files' | 'database';
  poolSize: number;
  connectTimeoutMs: number;
  retryAfterMs: number;
  /** SQLite busy_timeout; 5000 ms when not given. */
  busyTimeoutMs?: number;
  /** Bodies up to this size go into the partition database even with the files backend (0: never). */
  inlineBlobMax?: number;
  log?: Logger;
}

export function storeSettings(config: Config, dataDir: string, log?: Logger): StoreSettings {
  return {
    dataDir,
    directoryUrl: config.store.url,
    partitions: config.partitions,
    blobBackend: config.blobs.backend,
    poolSize: config.store.pool_size,
    connectTimeoutMs: config.store.connect_timeout_ms,
    retryAfterMs: config.store.retry_after_ms,
    inlineBlobMax: config.blobs.inline_max_bytes,
    log,
  };
}

/**
 * Engines shared by database: the embedded default has one SQLite file in both roles. SQLite
 * URLs are keyed by their absolute file, so `sqlite:bulwark.db` and the same file spelled
 * as an absolute path share one connection (two would contend for the write lock).
 */
class EnginePool {
  readonly #engines = new Map<string, Engine>();
  readonly #pinned = new Set<string>();
  readonly #s: StoreSettings;
  constructor(s: StoreSettings) {
    this.#s = s;
  }
  key(url: string): string {
    return engineKind(url) === 'sqlite' ? `sqlite:${path.resolve(sqlitePath(url, this.#s.dataDir))}` : url;
  }
  get(url: string): Engine {
    const k = this.key(url);
    let e = this.#engines.get(k);
    if (!e) {
      e = openEngine(url, this.#s.dataDir, {
        poolSize: this.#s.poolSize,
        connectTimeoutMs: this.#s.connectTimeoutMs,
        busyTimeoutMs: this.#s.busyTimeoutMs,
        onError: (err) => this.#s.log?.warn({ err: err.message }, 'store.connection.error'),
      });
      this.#engines.set(k, e);
    }
    return e;
  }
  /** Keeps an engine open whatever a partition sharing it does (the primary store's). */
  pin(url: string): void {
    this.#pinned.add(this.key(url));
  }
  /** Closes an engine so that the next get() reopens it; never one that is pinned. */
  drop(url: string): void {
    const k = this.key(url);
    if (this.#pinned.has(k)) return;
    const e = this.#engines.get(k);
    this.#engines.delete(k);
    e?.close().catch(() => {});
  }
  async closeAll(): Promise<void> {
    const all = [...this.#engines.values()];
    this.#engines.clear();
    await Promise.allSettled(all.map((e) => e.close()));
  }
}

export type PartitionStatus = 'unknown' | 'up' | 'down';

export class Partition {
  readonly name: string;
  readonly url: string;
  readonly blobs: BlobStore;
  #status: PartitionStatus = 'unknown';
  #retryAt = 0;
  #lastError = '';
  #engine?: Engine;
  #opening?: Promise<Engine>;
  readonly #pool: EnginePool;
  readonly #s: StoreSettings;

  constructor(name: string, url: string, pool: EnginePool, s: StoreSettings) {
    this.name = name;
    this.url = url;
    this.#pool = pool;
    this.#s = s;
    const backend = s.blobBackend === 'auto' ? (url.startsWith('sqlite:') ? 'files' : 'database') : s.blobBackend;
    const db = () => {
      if (!this.#engine) throw new DomainError('UNAVAILABLE', `partition ${name} is not open`);
      return this.#engine.db as Kysely<PartitionDB>;
    };
    const files = () => new FileBlobStore(path.join(s.dataDir, 'blobs', name), db);
    this.blobs = backend === 'database' ? new DatabaseBlobStore(db) : (s.inlineBlobMax ?? 0) > 0 ? new HybridBlobStore(files(), db, s.inlineBlobMax!) : files();
  }

  get status(): PartitionStatus {
    return this.#status;
  }
  get lastError(): string {
    return this.#lastError;
  }
  get engine(): Engine | undefined {
    return this.#engine;
  }

  /** Opens and migrates on first use; fails fast while a failed partition waits for its retry. */
  async open(): Promise<Engine> {
    if (this.#engine && this.#status === 'up') return this.#engine;
    if (this.#status === 'down' && Date.now() < this.#retryAt) {
      throw new DomainError('UNAVAILABLE', `partition ${this.name} is unavailable`);
    }
    if (!this.#opening) {
      // Cleared once settled, never before it is stored: an attempt that fails before its
      // first await (an SQLite file that is not a database) settles synchronously, and a
      // `finally` inside it would run before the assignment, leaving a rejected promise
      // cached for good and the partition never retried.
      const opening = this.#openOnce();
      this.#opening = opening;
      const clear = () => {
        if (this.#opening === opening) this.#opening = undefined;
      };
      opening.then(clear, clear);
    }
    return this.#opening;
  }

  async #openOnce(): Promise<Engine> {
    try {
      const e = this.#engine ?? this.#pool.get(this.url);
      this.#engine = e;
      await migrate(e, 'partition');
      this.#markUp();
      return e;
    } catch (err) {
      this.markDown(err);
      if (this.#engine?.kind === 'sqlite') {
        this.#pool.drop(this.url); // reopen the file next time
        this.#engine = undefined;
      }
      throw new DomainError('UNAVAILABLE', `partition ${this.name} is unavailable`, { cause: err });
    }
  }

  #markUp(): void {
    if (this.#status !== 'up') this.#s.log?.info({ partition: this.name }, 'store.partition.up');
    this.#status = 'up';
    this.#lastError = '';
  }

  markDown(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    if (this.#status !== 'down') this.#s.log?.error({ partition: this.name, err: msg }, 'store.partition.down');
    this.#status = 'down';
    this.#lastError = msg;
    this.#retryAt = Date.now() + this.#s.retryAfterMs;
  }

  /** Runs fn on the partition; connection trouble marks it down and becomes UNAVAILABLE. */
  async run<T>(what: string, fn: (db: Kysely<PartitionDB>) => Promise<T>): Promise<T> {
    const e = await this.open();
    try {
      return await fn(e.db as Kysely<PartitionDB>);
    } catch (err) {
      const mapped = mapDbError(err, `${what} (partition ${this.name})`);
      if (mapped instanceof DomainError && mapped.code === 'UNAVAILABLE' && !(err instanceof DomainError)) this.markDown(err);
      throw mapped;
    }
  }

  /** One transaction: everything in fn commits durably together, or nothing does. */
  async tx<T>(what: string, fn: (trx: Transaction<PartitionDB>) => Promise<T>): Promise<T> {
    return this.run(what, (db) => db.transaction().execute(fn));
  }

  readonly #group: { fn: (trx: Transaction<PartitionDB>) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  #groupRunning = false;

  /**
   * Group commit: like tx(), but on SQLite the work of callers that arrive together runs in
   * ONE transaction (each inside its own savepoint), so one WAL fsync makes all of them
   * durable. Every caller still learns its own outcome: a savepoint rolled back for one
   * (say, over quota) leaves the others in; all resolve only after the COMMIT returned.
   * Durability is unchanged; only the transaction is shared: one BEGIN/COMMIT and one WAL
   * fdatasync per batch (the driver's WalSyncer also coalesces fdatasyncs of separate
   * commits; batching additionally saves the per-transaction work on the event loop).
   * On PostgreSQL each caller gets its own transaction: the server overlaps those commits.
   */
  async groupTx<T>(what: string, fn: (trx: Transaction<PartitionDB>) => Promise<T>): Promise<T> {
    const e = await this.open();
    if (e.kind !== 'sqlite') return this.tx(what, fn);
    return new Promise<T>((resolve, reject) => {
      this.#group.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#groupRunning) {
        this.#groupRunning = true;
        setImmediate(() => void this.#flushGroup(what));
      }
    });
  }

  async #flushGroup(what: string): Promise<void> {
    const batch = this.#group.splice(0, 256);
    try {
      await this.run(what, async (db) => {
        const trx = await db.startTransaction().execute();
        const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
        try {
          for (let i = 0; i < batch.length; i++) {
            const sp = await trx.savepoint(`g${i}`).execute();
            try {
              results.push({ ok: true, value: await batch[i].fn(sp) });
              await sp.releaseSavepoint(`g${i}`).execute();
            } catch (err) {
              try {
                await sp.rollbackToSavepoint(`g${i}`).execute();
                await sp.releaseSavepoint(`g${i}`).execute();
              } catch {
                // No savepoint left: the engine rolled the whole transaction back (SQLite does on
                // SQLITE_FULL, SQLITE_IOERR): every caller of the batch gets the error that did it.
                throw err;
              }
              results.push({ ok: false, error: err });
            }
          }
          await trx.commit().execute();
        } catch (err) {
          await trx.rollback().execute().catch(() => {});
          throw err;
        }
        results.forEach((r, i) => (r.ok ? batch[i].resolve(r.value) : batch[i].reject(mapDbError(r.error, what))));
      });
    } catch (err) {
      for (const b of batch) b.reject(err);
    } finally {
      if (this.#group.length > 0) setImmediate(() => void this.#flushGroup(what));
      else this.#groupRunning = false;
    }
  }
}

export class Stores {
  readonly settings: StoreSettings;
  readonly directoryEngine: Engine;
  readonly partitions: ReadonlyMap<string, Partition>;
  readonly #pool: EnginePool;

  private constructor(s: StoreSettings, pool: EnginePool) {
    this.settings = s;
    this.#pool = pool;
    this.directoryEngine = pool.get(s.directoryUrl);
    // A partition in the same database as the directory must not close it when it fails.
    pool.pin(s.directoryUrl);
    const parts = new Map<string, Partition>();
    for (const [name, url] of Object.entries(s.partitions)) parts.set(name, new Partition(name, url, pool, s));
    this.partitions = parts;
  }

  /** Opens the primary store and migrates it; partitions open on first use (or via openPartitions). */
  static async open(s: StoreSettings, opts: { migrate?: boolean } = {}): Promise<Stores> {
    const pool = new EnginePool(s);
    try {
      const stores = new Stores(s, pool);
      if (opts.migrate !== false) await migrate(stores.directoryEngine, 'directory');
      return stores;
    } catch (e) {
      await pool.closeAll();
      throw mapDbError(e, 'primary store');
    }
  }

  get directory(): Kysely<DirectoryDB> {
    return this.directoryEngine.db as Kysely<DirectoryDB>;
  }

  partition(name: string): Partition {
    const p = this.partitions.get(name);
    if (!p) throw new DomainError('UNAVAILABLE', `partition ${name} is not configured on this node`);
    return p;
  }

  /** Tries every partition once; returns those that could not be opened. */
  async openPartitions(): Promise<{ name: string; error: string }[]> {
    const failed: { name: string; error: string }[] = [];
    await Promise.all([...this.partitions.values()].map(async (p) => {
      try {
        await p.open();
      } catch {
        failed.push({ name: p.name, error: p.lastError });
      }
    }));
    return failed;
  }

  /** Runs fn in one directory transaction; engine errors become catalogue errors. */
  async dirTx<T>(what: string, fn: (trx: Transaction<DirectoryDB>) => Promise<T>): Promise<T> {
    try {
      return await this.directory.transaction().execute(fn);
    } catch (e) {
      throw mapDbError(e, what);
    }
  }

  async dirRun<T>(what: string, fn: (db: Kysely<DirectoryDB>) => Promise<T>): Promise<T> {
    try {
      return await fn(this.directory);
    } catch (e) {
      throw mapDbError(e, what);
    }
  }

  async close(): Promise<void> {
    await this.#pool.closeAll();
  }
}
