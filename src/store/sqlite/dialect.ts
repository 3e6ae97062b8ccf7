/**
 * Kysely dialect for the built-in node:sqlite (SQLite 3.5x with WAL and FTS5), so the
 * embedded store needs no native addon. Differences from Kysely's own SqliteDialect:
 * node:sqlite takes positional parameters as arguments, not as an array; booleans become
 * 0/1; and write transactions start with BEGIN IMMEDIATE, so two processes (server and
 * CLI) never deadlock on a read-to-write upgrade but wait on busy_timeout instead.
 *
 * Durability without stalling the event loop: node:sqlite runs synchronously, so with
 * synchronous=FULL every COMMIT would fsync the WAL on the event loop. Instead the connection
 * runs with synchronous=NORMAL (in WAL mode: no fsync at commit, checkpoints still synced,
 * never corrupt) and this driver fsyncs the WAL file itself, in the thread pool, after every
 * COMMIT and every write outside a transaction — and only then returns to the caller.
 *
 * Invariant: no write returns (so nothing is acknowledged) before the WAL bytes holding it
 * are fsynced. Commits that arrive while an fsync runs share the next one (group commit).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';

function bind(params: readonly unknown[]): any[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p === undefined ? null : p));
}

/** fsyncs one database's WAL file; calls made while one runs share the next. */
export class WalSyncer {
  readonly #wal: string;
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;
  #dirSynced = false;
  /** How many fsyncs ran (for tests). */
  count = 0;
  constructor(file: string) {
    this.#wal = `${file}-wal`;
  }
  sync(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#fsync().finally(() => (this.#running = null));
      return this.#running;
    }
    // An fsync is under way, but it may have started before our write: wait for the next.
    this.#next ??= this.#running.catch(() => {}).then(() => {
      this.#next = null;
      return this.sync();
    });
    return this.#next;
  }
  async #fsync(): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.#wal, 'r');
    } catch (e) {
      // No WAL file: everything is in the main file, which SQLite synced at its checkpoint.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      // fdatasync, as SQLite itself uses: it flushes the data and the metadata needed to read
      // it back (the file's new length), not the timestamps.
      await fh.datasync();
      this.count++;
    } finally {
      await fh.close();
    }
    if (!this.#dirSynced) {
      // The WAL file's own directory entry must survive a crash too (once per process).
      const dir = await fsp.open(path.dirname(this.#wal), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.#dirSynced = true;
    }
  }
}

/** Statements that never write; anything else outside a transaction is synced after it ran. */
const READ_ONLY = /^\s*(select|pragma\s+(quick_check|integrity_check|table_info|index_list|journal_mode|synchronous|busy_timeout)\s*(;|$)|begin|commit|rollback|savepoint|release)\b/i;

class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, { stmt: StatementSync; rows: boolean }>();
  readonly syncer: WalSyncer | null;
  inTransaction = false;
  constructor(db: DatabaseSync, syncer: WalSyncer | null) {
    this.#db = db;
    this.syncer = syncer;
  }
  #prepare(sql: string): { stmt: StatementSync; rows: boolean } {
    let s = this.#cache.get(sql);
    if (!s) {
      const stmt = this.#db.prepare(sql);
      // Whether it answers rows, asked once: columns() builds its description on every call.
      s = { stmt, rows: stmt.columns().length > 0 };
      if (this.#cache.size > 500) this.#cache.clear();
      this.#cache.set(sql, s);
    }
    return s;
  }
  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const { stmt, rows } = this.#prepare(q.sql);
    const params = bind(q.parameters);
    let result: QueryResult<R>;
    if (rows) result = { rows: stmt.all(...params) as R[] };
    else {
      const { changes, lastInsertRowid } = stmt.run(...params);
      result = { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
    }
    // A write outside a transaction committed just now: durable before it returns.
    if (!this.inTransaction && this.syncer && !READ_ONLY.test(q.sql)) await this.syncer.sync();
    return result;
  }
  async *streamQuery<R>(q: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const stmt = this.#db.prepare(q.sql);
    for (const row of stmt.iterate(...bind(q.parameters))) yield { rows: [row as R] };
  }
}

class NodeSqliteDriver extends SqliteDriver {
  readonly #db: DatabaseSync;
  readonly #syncer: WalSyncer | null;
  #conn?: NodeSqliteConnection;
  constructor(db: DatabaseSync, syncer: WalSyncer | null) {
    super({ database: db as any });
    this.#db = db;
    this.#syncer = syncer;
  }
  override async init(): Promise<void> {
    this.#conn = new NodeSqliteConnection(this.#db, this.#syncer);
  }
  override async acquireConnection(): Promise<DatabaseConnection> {
    return this.#conn!;
  }
  override async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('begin immediate'));
    (conn as NodeSqliteConnection).inTransaction = true;
  }
  override async commitTransaction(conn: DatabaseConnection): Promise<void> {
    const c = conn as NodeSqliteConnection;
    try {
      await conn.executeQuery(CompiledQuery.raw('commit'));
    } finally {
      c.inTransaction = false;
    }
    // The commit is in the WAL; it is acknowledged only once the WAL is on disk.
    await c.syncer?.sync();
  }
  override async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    try {
      // SQLite has rolled back already after some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM
      // in a statement): a ROLLBACK then fails and would hide the error that caused it.
      if (!this.#db.isTransaction) return;
      await conn.executeQuery(CompiledQuery.raw('rollback'));
    } finally {
      (conn as NodeSqliteConnection).inTransaction = false;
    }
  }
  override async destroy(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

export class NodeSqliteDialect extends SqliteDialect {
  readonly #db: DatabaseSync;
  readonly #syncer: WalSyncer | null;
  /** syncer: set when the connection runs with synchronous=NORMAL and this driver fsyncs the WAL. */
  constructor(db: DatabaseSync, syncer: WalSyncer | null = null) {
    super({ database: db as any });
    this.#db = db;
    this.#syncer = syncer;
  }
  override createDriver(): Driver {
    return new NodeSqliteDriver(this.#db, this.#syncer);
  }
}
