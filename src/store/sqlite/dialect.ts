/**
 * Kysely dialect for the built-in node:sqlite (SQLite 3.5x with WAL and FTS5), so the
 * embedded store needs no native addon. Differences from Kysely's own SqliteDialect:
 * node:sqlite takes positional parameters as arguments, not as an array; booleans become
 * 0/1; and write transactions start with BEGIN IMMEDIATE, so two processes (server and
 * CLI) never deadlock on a read-to-write upgrade but wait on busy_timeout instead.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';

function bind(params: readonly unknown[]): any[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p === undefined ? null : p));
}

class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, StatementSync>();
  constructor(db: DatabaseSync) {
    this.#db = db;
  }
  #prepare(sql: string): StatementSync {
    let s = this.#cache.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      if (this.#cache.size > 500) this.#cache.clear();
      this.#cache.set(sql, s);
    }
    return s;
  }
  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.#prepare(q.sql);
    const params = bind(q.parameters);
    if (stmt.columns().length > 0) return { rows: stmt.all(...params) as R[] };
    const { changes, lastInsertRowid } = stmt.run(...params);
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
  }
  async *streamQuery<R>(q: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const stmt = this.#db.prepare(q.sql);
    for (const row of stmt.iterate(...bind(q.parameters))) yield { rows: [row as R] };
  }
}

class NodeSqliteDriver extends SqliteDriver {
  readonly #db: DatabaseSync;
  #conn?: NodeSqliteConnection;
  constructor(db: DatabaseSync) {
    super({ database: db as any });
    this.#db = db;
  }
  override async init(): Promise<void> {
    this.#conn = new NodeSqliteConnection(this.#db);
  }
  override async acquireConnection(): Promise<DatabaseConnection> {
    return this.#conn!;
  }
  override async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('begin immediate'));
  }
  override async destroy(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

export class NodeSqliteDialect extends SqliteDialect {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    super({ database: db as any });
    this.#db = db;
  }
  override createDriver(): Driver {
    return new NodeSqliteDriver(this.#db);
  }
}
