/**
 * Opens one database: an SQLite file (node:sqlite, WAL, the WAL fsynced by the driver after every commit) or a PostgreSQL
 * database (pg pool). Everything above talks to it through Kysely, so one migration
 * history and one set of queries serve both engines.
 *
 * Invariants: a transaction on SQLite starts with BEGIN IMMEDIATE; a commit returns only
 * after the WAL is fsynced (by the driver, in the thread pool: sqlite/dialect.ts) or PostgreSQL has committed (its own
 * synchronous_commit, which Bulwark never turns off).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Kysely, PostgresDialect, sql, type ColumnDefinitionBuilder } from 'kysely';
import pg from 'pg';
import { NodeSqliteDialect, WalSyncer } from './sqlite/dialect.ts';
import { DomainError } from '../core/errors.ts';

// int8 (count, bigint columns) as JS numbers: every value we keep fits in 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

export type EngineKind = 'sqlite' | 'postgres';

export interface EngineOptions {
  poolSize?: number;
  connectTimeoutMs?: number;
  /** SQLite: how long a write waits for another writer's lock before SQLITE_BUSY (default 5000). */
  busyTimeoutMs?: number;
  onError?: (err: Error) => void;
}

export interface Engine {
  readonly kind: EngineKind;
  /** URL without password, safe for logs. */
  readonly label: string;
  /** Absolute file path for SQLite. */
  readonly file?: string;
  readonly db: Kysely<any>;
  /** SQLite: how many WAL fsyncs the driver has made (each commit waits for one). */
  walSyncs?(): number;
  /** Throws when the database fails its integrity check. */
  quickCheck(): Promise<void>;
  close(): Promise<void>;
}

export function redactUrl(url: string): string {
  if (!url.startsWith('postgres')) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(invalid url)';
  }
}

export function sqlitePath(url: string, dataDir: string): string {
  const p = url.slice('sqlite:'.length);
  return path.isAbsolute(p) ? p : path.join(dataDir, p);
}

export function engineKind(url: string): EngineKind {
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgres';
  throw new DomainError('INVALID_INPUT', `unknown store URL scheme in ${redactUrl(url)}`);
}

export function openSqlite(file: string, opts: EngineOptions = {}): Engine {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const raw = new DatabaseSync(file);
  try {
    const busy = opts.busyTimeoutMs ?? 5000;
    if (!Number.isSafeInteger(busy) || busy < 0) throw new DomainError('INVALID_INPUT', 'busy timeout must be a whole number of milliseconds');
    raw.exec(`PRAGMA busy_timeout = ${busy}`);
    // journal_mode answers with the mode in force: a file system without shared memory
    // support silently keeps the rollback journal, which must not pass unnoticed.
    const mode = (raw.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined)?.journal_mode;
    if (String(mode).toLowerCase() !== 'wal') throw new DomainError('CONFIG_INVALID', `${file}: SQLite refused WAL mode (journal_mode is ${mode})`);
    // NORMAL, because the driver fsyncs the WAL itself after every commit, off the event
    // loop, before the commit returns (see sqlite/dialect.ts): FULL durability, group commit.
    raw.exec('PRAGMA synchronous = NORMAL');
    raw.exec('PRAGMA foreign_keys = ON');
  } catch (e) {
    // A file that is not a database (or cannot be locked) must not leak its handle.
    raw.close();
    throw e;
  }
  const syncer = new WalSyncer(file);
  const db = new Kysely<any>({ dialect: new NodeSqliteDialect(raw, syncer) });
  return {
    kind: 'sqlite',
    label: `sqlite:${file}`,
    file,
    db,
    walSyncs: () => syncer.count,
    async quickCheck() {
      const rows = await sql<{ quick_check: string }>`PRAGMA quick_check`.execute(db);
      const bad = rows.rows.map((r) => Object.values(r)[0]).filter((v) => v !== 'ok');
      if (bad.length) throw new DomainError('INTEGRITY', `${file}: ${bad.slice(0, 3).join('; ')}`);
    },
    async close() {
      await db.destroy();
    },
  };
}

export function openPostgres(url: string, opts: EngineOptions = {}): Engine {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 3000,
    idleTimeoutMillis: 30_000,
    // A partition on a dead server must fail a call, not hang it.
    query_timeout: 60_000,
    keepAlive: true,
  });
  // An idle client losing its server emits 'error' on the pool; unhandled it would crash
  // the process, and one partition's trouble must never take down the others.
  pool.on('error', (err) => opts.onError?.(err));
  // A client that is checked out (inside a transaction, between two statements) has no pool
  // listener: pg-pool removes its idle listener while the client is lent out, and the lost
  // connection is emitted as 'error' on the client itself. Without a listener of its own
  // that event would crash the process. The caller sees the failure on its next query, and
  // pg-pool discards the broken client on release, so this listener only has to exist.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  return {
    kind: 'postgres',
    label: redactUrl(url),
    db,
    async quickCheck() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

export function openEngine(url: string, dataDir: string, opts: EngineOptions = {}): Engine {
  return engineKind(url) === 'sqlite' ? openSqlite(sqlitePath(url, dataDir), opts) : openPostgres(url, opts);
}

/** Column helpers so one migration serves both engines. */
export function dialectTypes(kind: EngineKind) {
  return {
    id: kind === 'sqlite' ? ('integer' as const) : ('bigserial' as const),
    bytes: kind === 'sqlite' ? ('blob' as const) : ('bytea' as const),
    /** Primary key that counts up by itself: AUTOINCREMENT on SQLite, bigserial on PostgreSQL. */
    pk: (c: ColumnDefinitionBuilder) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()),
  };
}
