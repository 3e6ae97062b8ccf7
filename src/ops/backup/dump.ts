/**
 * Reading a database inside one snapshot, and the engine-neutral row encoding of backup
 * files. Owned here: how a backup sees a consistent state of a database that is being
 * written to, and how a row becomes one JSON line and back.
 *
 * Invariants:
 * - A snapshot is one read transaction on one connection of its own, opened by this
 *   module: PostgreSQL REPEATABLE READ READ ONLY, SQLite a deferred BEGIN on a separate
 *   connection (WAL gives readers a snapshot). Neither blocks the server's writers; SQLite
 *   BEGIN IMMEDIATE would, so it is never used here.
 * - The snapshot point is fixed when the snapshot opens (a first read runs at once), not
 *   when the first table is read.
 * - Bytes and integers beyond 2^53 are tagged objects; nothing else in a row is an object,
 *   so decoding cannot mistake a value for a tag.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { sql, type Kysely } from 'kysely';
import { openPostgres, openSqlite, engineKind, sqlitePath, redactUrl, type Engine, type EngineKind } from '../../store/engine.ts';
import type { SchemaName } from '../../store/migrations/index.ts';
import { DomainError } from '../../core/errors.ts';

export type Row = Record<string, unknown>;

/** The migration bookkeeping table of a schema (must match store/migrations/index.ts). */
export function migrationTable(schema: SchemaName): string {
  return `bulwark_migrations_${schema}`;
}

// ------------------------------------------------------------------ row encoding

function encodeValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : { $int: v.toString() };
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number' && !Number.isFinite(v)) throw new DomainError('INTERNAL', `cannot back up the number ${v}`);
  return v;
}

function decodeValue(v: unknown): unknown {
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$b64 === 'string') return Buffer.from(o.$b64, 'base64');
    if (typeof o.$int === 'string') return BigInt(o.$int);
    throw new DomainError('INVALID_INPUT', `unknown tagged value ${JSON.stringify(v).slice(0, 60)}`);
  }
  return v;
}

/** One row as one JSON line (without the newline). */
export function encodeRow(row: Row): string {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = encodeValue(v);
  return JSON.stringify(out);
}

export function decodeRow(line: string): Row {
  const raw = JSON.parse(line) as Row;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new DomainError('INVALID_INPUT', 'a row is not a JSON object');
  const out: Row = {};
  for (const [k, v] of Object.entries(raw)) out[k] = decodeValue(v);
  return out;
}

/**
 * The lines of a JSON-lines file, streamed. When `expect` is given, the file's size and
 * SHA-256 are checked once it has been read to the end; a mismatch throws INTEGRITY
 * naming `label`, so a caller inside a transaction rolls back what it read.
 */
export async function* readLines(file: string, label: string, expect?: { size: number; sha256: string }): AsyncGenerator<string> {
  const h = crypto.createHash('sha256');
  const dec = new StringDecoder('utf8');
  let size = 0;
  let rest = '';
  for await (const chunk of fs.createReadStream(file)) {
    const buf = chunk as Buffer;
    h.update(buf);
    size += buf.length;
    const lines = (rest + dec.write(buf)).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l) yield l;
  }
  rest += dec.end();
  if (rest) yield rest;
  if (expect && (size !== expect.size || h.digest('hex') !== expect.sha256)) {
    throw new DomainError('INTEGRITY', `backup file ${label} is damaged: its size or SHA-256 differs from the manifest`);
  }
}

// ------------------------------------------------------------------ snapshots

export interface Snapshot {
  readonly kind: EngineKind;
  /** Redacted URL, for messages. */
  readonly label: string;
  /** Kysely bound to the snapshot's single connection: everything it runs sees the snapshot. */
  readonly db: Kysely<any>;
  /** Tables present in the database. */
  tables(): Promise<Set<string>>;
  /** Latest migration of a schema in the snapshot, or null when the schema is absent. */
  schemaVersion(schema: SchemaName): Promise<string | null>;
  /** Streams every row of a table. */
  rows(table: string): AsyncIterable<Row>;
  /** Ends the read transaction and closes the connection. */
  close(): Promise<void>;
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

async function versionIn(db: Kysely<any>, tables: Set<string>, schema: SchemaName): Promise<string | null> {
  const t = migrationTable(schema);
  // Checked first: on PostgreSQL a failing statement would abort the snapshot transaction.
  if (!tables.has(t)) return null;
  const r = await sql<{ name: string }>`select name from ${sql.table(t)} order by name desc limit 1`.execute(db);
  return r.rows[0]?.name ?? null;
}

/** A snapshot of an SQLite file on a connection of its own (the server's stays untouched). */
async function sqliteSnapshot(file: string): Promise<Snapshot> {
  if (!fs.existsSync(file)) throw new DomainError('INVALID_INPUT', `database file ${file} does not exist; is the data directory right?`);
  const engine = openSqlite(file);
  const db = engine.db;
  try {
    // Deferred: takes no lock until the first read, which then pins a WAL snapshot.
    await sql`begin`.execute(db);
    await sql`select count(*) from sqlite_master`.execute(db);
  } catch (e) {
    await engine.close();
    throw e;
  }
  let tableSet: Set<string> | undefined;
  const tables = async () => {
    tableSet ??= new Set((await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows.map((r) => r.name));
    return tableSet;
  };
  return {
    kind: 'sqlite',
    label: `sqlite:${file}`,
    db,
    tables,
    async schemaVersion(schema) {
      return versionIn(db, await tables(), schema);
    },
    async *rows(table) {
      let n = 0;
      for await (const row of db.selectFrom(table).selectAll().stream()) {
        yield row as Row;
        // node:sqlite reads synchronously: let the rest of the process breathe.
        if (++n % 500 === 0) await yieldToLoop();
      }
    },
    async close() {
      await sql`rollback`.execute(db).catch(() => {});
      await engine.close();
    },
  };
}

/** A REPEATABLE READ READ ONLY transaction held on one connection of a one-connection pool. */
async function postgresSnapshot(url: string, connectTimeoutMs: number): Promise<Snapshot> {
  const engine: Engine = openPostgres(url, { poolSize: 1, connectTimeoutMs });
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let held: Promise<void> | undefined;
  let conn: Kysely<any>;
  try {
    conn = await new Promise<Kysely<any>>((resolve, reject) => {
      held = engine.db.connection().execute(async (c) => {
        resolve(c);
        await released;
      });
      held.catch(reject);
    });
    await sql`begin isolation level repeatable read read only`.execute(conn);
    // PostgreSQL takes the snapshot at the first statement of the transaction.
    await sql`select 1`.execute(conn);
  } catch (e) {
    release();
    await held?.catch(() => {});
    await engine.close();
    throw e;
  }
  let tableSet: Set<string> | undefined;
  const tables = async () => {
    tableSet ??= new Set((await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema()`
      .execute(conn)).rows.map((r) => r.table_name));
    return tableSet;
  };
  let cursors = 0;
  return {
    kind: 'postgres',
    label: redactUrl(url),
    db: conn,
    tables,
    async schemaVersion(schema) {
      return versionIn(conn, await tables(), schema);
    },
    async *rows(table) {
      const cursor = sql.raw(`bulwark_dump_${++cursors}`);
      await sql`declare ${cursor} no scroll cursor for select * from ${sql.table(table)}`.execute(conn);
      try {
        for (;;) {
          const r = await sql<Row>`fetch forward 500 from ${cursor}`.execute(conn);
          if (!r.rows.length) break;
          for (const row of r.rows) yield row;
        }
      } finally {
        await sql`close ${cursor}`.execute(conn).catch(() => {});
      }
    },
    async close() {
      await sql`rollback`.execute(conn).catch(() => {});
      release();
      await held?.catch(() => {});
      await engine.close();
    },
  };
}

/** Opens a snapshot of the database at url (sqlite: paths are relative to dataDir). */
export function openSnapshot(url: string, dataDir: string, opts: { connectTimeoutMs?: number } = {}): Promise<Snapshot> {
  return engineKind(url) === 'sqlite' ? sqliteSnapshot(sqlitePath(url, dataDir)) : postgresSnapshot(url, opts.connectTimeoutMs ?? 3000);
}
