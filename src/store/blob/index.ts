/**
 * Content-addressed blob store (SHA-256 of the bytes). Two backends behind one interface:
 * files under a directory (the embedded default) and a table inside the partition database
 * (PostgreSQL partitions, so that nodes share no disk).
 *
 * Invariants:
 * - A blob is durable before any row references it: put() returns only after the file is
 *   written to a temp name, fsynced, renamed and its directory fsynced (files), or the row
 *   is written in the same transaction as the reference (database).
 * - References are counted in blob_refs inside the transaction that adds or drops them.
 * - A blob is collected only when unreferenced for longer than the grace period, and a file
 *   that prepare() touched recently is never collected (prepare() of an existing blob
 *   refreshes its mtime), so a concurrent writer deduplicating onto it cannot lose it: the
 *   collector moves a file aside before its final age check, so a refresh either lands
 *   before that check (the file goes back) or finds no file and writes it anew.
 * - Database backend: a writer counts its reference before it writes the bytes, so its
 *   row lock orders it against a collector deleting the same blob.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { PartitionDB } from '../schema.ts';
import { DomainError } from '../../core/errors.ts';
import { isStorageFullError } from '../errors.ts';
import { mkdirDurable, writeDurably } from '../../lib/durable.ts';
import { SegmentWriter, type SegmentLocation } from './segments.ts';

export function sha256(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

const HASH_RE = /^[0-9a-f]{64}$/;

export interface BlobRef {
  hash: string;
  size: number;
  /** Kept only for the database backend, which writes the bytes inside the transaction. */
  data?: Uint8Array;
  /** The parsed structure of the body (JSON), kept once per distinct body. */
  meta?: string;
  /** Where a large body was appended (segment store); durable once addRef has run. */
  segment?: SegmentLocation;
}

export interface BlobStore {
  readonly kind: 'files' | 'database';
  /** Makes the bytes durable (files) or ready to write (database); call before the transaction. */
  prepare(data: Uint8Array): Promise<BlobRef>;
  /** Inside the transaction that references the blob: writes it (database) and counts the reference. */
  addRef(trx: Transaction<PartitionDB>, ref: BlobRef): Promise<void>;
  /** Inside the transaction that drops a reference. */
  dropRef(trx: Transaction<PartitionDB>, hash: string): Promise<void>;
  get(hash: string): Promise<Buffer>;
  has(hash: string): Promise<boolean>;
  /** Every stored hash (for GC, backup and verify). */
  list(): AsyncIterable<string>;
  /** Deletes blobs unreferenced for longer than graceMs; returns how many. */
  collect(graceMs: number, now?: number): Promise<number>;
  /** Stores bytes at once, outside any reference counting (restore: the counts come with the rows). */
  put(data: Uint8Array): Promise<string>;
}

async function addRefRow(trx: Transaction<PartitionDB>, ref: BlobRef): Promise<void> {
  const loc = ref.segment ? { seg: ref.segment.seg, seg_off: ref.segment.off, seg_len: ref.segment.len } : { seg: null, seg_off: null, seg_len: null };
  await trx.insertInto('blob_refs').values({ hash: ref.hash, size: ref.size, refcount: 1, zero_since: null, meta: ref.meta ?? null, ...loc })
    .onConflict((oc) => oc.column('hash').doUpdateSet({
      refcount: sql`blob_refs.refcount + 1`,
      zero_since: null,
      meta: sql`coalesce(blob_refs.meta, excluded.meta)`,
      // A body already located keeps its place; a new copy's bytes become dead space.
      seg: sql`coalesce(blob_refs.seg, excluded.seg)`,
      seg_off: sql`case when blob_refs.seg is null then excluded.seg_off else blob_refs.seg_off end`,
      seg_len: sql`case when blob_refs.seg is null then excluded.seg_len else blob_refs.seg_len end`,
    }))
    .execute();
}

async function dropRefRow(trx: Transaction<PartitionDB>, hash: string): Promise<void> {
  await trx.updateTable('blob_refs')
    .set({
      refcount: sql`refcount - 1`,
      // The cast: PostgreSQL cannot infer a parameter's type inside CASE (it would take text).
      zero_since: sql`case when refcount - 1 <= 0 then cast(${Date.now()} as bigint) else null end`,
    })
    .where('hash', '=', hash).execute();
}

/** Rows unreferenced since before the cut-off: candidates for collection. */
async function staleRefs(db: Kysely<PartitionDB>, cutoff: number): Promise<string[]> {
  const rows = await db.selectFrom('blob_refs').select('hash')
    .where('refcount', '<=', 0).where('zero_since', '<', cutoff).execute();
  return rows.map((r) => r.hash);
}

export class FileBlobStore implements BlobStore {
  readonly kind = 'files' as const;
  readonly dir: string;
  readonly #db: () => Kysely<PartitionDB>;
  constructor(dir: string, db: () => Kysely<PartitionDB>) {
    this.dir = dir;
    this.#db = db;
  }
  pathOf(hash: string): string {
    if (!HASH_RE.test(hash)) throw new DomainError('INVALID_INPUT', 'not a blob hash');
    return path.join(this.dir, hash.slice(0, 2), hash.slice(2, 4), hash);
  }
  async prepare(data: Uint8Array): Promise<BlobRef> {
    const hash = sha256(data);
    const file = this.pathOf(hash);
    const now = new Date();
    try {
      await fsp.utimes(file, now, now); // deduplicated: refresh, so GC leaves it alone
      return { hash, size: data.byteLength };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toTemporary(e);
    }
    try {
      await writeDurably(file, data, path.join(this.dir, 'tmp'));
    } catch (e) {
      throw toTemporary(e);
    }
    return { hash, size: data.byteLength };
  }
  async addRef(trx: Transaction<PartitionDB>, ref: BlobRef): Promise<void> {
    await addRefRow(trx, ref);
  }
  async put(data: Uint8Array): Promise<string> {
    return (await this.prepare(data)).hash;
  }
  async dropRef(trx: Transaction<PartitionDB>, hash: string): Promise<void> {
    await dropRefRow(trx, hash);
  }
  async get(hash: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.pathOf(hash));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DomainError('NOT_FOUND', `blob ${hash.slice(0, 12)}…`);
      throw toTemporary(e);
    }
  }
  async has(hash: string): Promise<boolean> {
    return fs.existsSync(this.pathOf(hash));
  }
  async *list(): AsyncIterable<string> {
    for (const a of await readdirOrEmpty(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue;
      for (const b of await readdirOrEmpty(path.join(this.dir, a))) {
        for (const h of await readdirOrEmpty(path.join(this.dir, a, b))) if (HASH_RE.test(h)) yield h;
      }
    }
  }
  async collect(graceMs: number, now = Date.now()): Promise<number> {
    const db = this.#db();
    const cutoff = now - graceMs;
    let n = 0;
    const referenced = new Set<string>();
    for (const hash of await staleRefs(db, cutoff)) {
      const gone = await db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('blob_refs').where('hash', '=', hash).where('refcount', '<=', 0).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      });
      if (gone && (await this.#unlinkIfOld(hash, cutoff))) n++;
    }
    // Files no row refers to (a writer crashed between prepare() and commit).
    const rows = await db.selectFrom('blob_refs').select('hash').execute();
    for (const r of rows) referenced.add(r.hash);
    for await (const h of this.list()) {
      if (!referenced.has(h) && (await this.#unlinkIfOld(h, cutoff))) n++;
    }
    // Temp files of writes that never finished (a crash between write and rename). At least
    // an hour old whatever the grace, so a write in progress keeps its temp file.
    const tmpDir = path.join(this.dir, 'tmp');
    const tmpCutoff = Math.min(cutoff, now - 3_600_000);
    for (const name of await readdirOrEmpty(tmpDir)) {
      if (!name.endsWith('.tmp')) continue;
      const f = path.join(tmpDir, name);
      const st = await fsp.stat(f).catch(() => null);
      if (st && st.mtimeMs < tmpCutoff) await fsp.unlink(f).catch(() => {});
    }
    return n;
  }
  async #unlinkIfOld(hash: string, cutoff: number): Promise<boolean> {
    const file = this.pathOf(hash);
    try {
      const st = await fsp.stat(file);
      if (st.mtimeMs >= cutoff) return false;
    } catch {
      return false;
    }
    // Move the file aside, then decide on the moved file: a prepare() that refreshed it
    // after the stat above shows in its mtime (same inode), and one that comes later finds
    // no file and writes it again. Checking and unlinking in place would race with it.
    const aside = path.join(this.dir, 'tmp', `gc-${process.pid}-${crypto.randomBytes(8).toString('hex')}.tmp`);
    try {
      await mkdirDurable(path.dirname(aside));
      await fsp.rename(file, aside);
    } catch {
      return false;
    }
    try {
      const st = await fsp.stat(aside);
      if (st.mtimeMs >= cutoff) {
        // Touched meanwhile: put it back (same content by construction if a writer has
        // written it anew in the meantime).
        await fsp.rename(aside, file);
        return false;
      }
      await fsp.unlink(aside);
      return true;
    } catch {
      return false;
    }
  }
}

export class DatabaseBlobStore implements BlobStore {
  readonly kind = 'database' as const;
  readonly #db: () => Kysely<PartitionDB>;
  constructor(db: () => Kysely<PartitionDB>) {
    this.#db = db;
  }
  async prepare(data: Uint8Array): Promise<BlobRef> {
    return { hash: sha256(data), size: data.byteLength, data };
  }
  async addRef(trx: Transaction<PartitionDB>, ref: BlobRef): Promise<void> {
    // Reference first: the upsert locks the blob_refs row (or waits for a collector that is
    // deleting it), so the bytes below are written after any concurrent collection is done.
    // The other order lets a collector delete the bytes between our "already there" and our
    // reference, leaving a message without its body.
    await addRefRow(trx, ref);
    if (ref.data) {
      await trx.insertInto('blobs').values({ hash: ref.hash, data: ref.data })
        .onConflict((oc) => oc.column('hash').doNothing()).execute();
    }
  }
  async dropRef(trx: Transaction<PartitionDB>, hash: string): Promise<void> {
    await dropRefRow(trx, hash);
  }
  async put(data: Uint8Array): Promise<string> {
    const hash = sha256(data);
    await this.#db().insertInto('blobs').values({ hash, data }).onConflict((oc) => oc.column('hash').doNothing()).execute();
    return hash;
  }
  async get(hash: string): Promise<Buffer> {
    const row = await this.#db().selectFrom('blobs').select('data').where('hash', '=', hash).executeTakeFirst();
    if (!row) throw new DomainError('NOT_FOUND', `blob ${hash.slice(0, 12)}…`);
    return Buffer.from(row.data);
  }
  async has(hash: string): Promise<boolean> {
    return !!(await this.#db().selectFrom('blobs').select('hash').where('hash', '=', hash).executeTakeFirst());
  }
  async *list(): AsyncIterable<string> {
    const rows = await this.#db().selectFrom('blobs').select('hash').orderBy('hash').execute();
    for (const r of rows) yield r.hash;
  }
  async collect(graceMs: number, now = Date.now()): Promise<number> {
    const db = this.#db();
    let n = 0;
    for (const hash of await staleRefs(db, now - graceMs)) {
      // Row and bytes go in one transaction: a writer adding a reference meanwhile either
      // sees the row (refcount > 0, nothing deleted) or re-inserts both.
      n += await db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('blob_refs').where('hash', '=', hash).where('refcount', '<=', 0).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return 0;
        await trx.deleteFrom('blobs').where('hash', '=', hash).execute();
        return 1;
      });
    }
    return n;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

function toTemporary(e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (isStorageFullError(e)) return new DomainError('STORAGE_FULL', `blob store: ${code}`, { cause: e });
  if (code && ['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EMFILE', 'ENFILE', 'EACCES', 'EPERM'].includes(code)) {
    return new DomainError('UNAVAILABLE', `blob store: ${code}`, { cause: e });
  }
  return e;
}

/**
 * Files for large bodies, the partition database for small ones (at most inlineMax octets).
 * A small body then becomes durable with the same WAL fsync as the rows that reference it, and
 * the group commit of the mail store shares that fsync among concurrent deliveries; a large
 * body is still written to its own file, fsynced, before the transaction. Reads look in the
 * table first, then in the files. Kind "files": backups copy every body through get().
 */
export class HybridBlobStore implements BlobStore {
  readonly kind = 'files' as const;
  readonly #files: FileBlobStore;
  readonly #rows: DatabaseBlobStore;
  readonly #db: () => Kysely<PartitionDB>;
  readonly segments: SegmentWriter;
  readonly inlineMax: number;
  constructor(files: FileBlobStore, db: () => Kysely<PartitionDB>, inlineMax: number) {
    this.#files = files;
    this.#rows = new DatabaseBlobStore(db);
    this.#db = db;
    this.inlineMax = inlineMax;
    this.segments = new SegmentWriter(path.join(files.dir, 'seg'));
  }
  get dir(): string {
    return this.#files.dir;
  }
  /** The file half alone (backups read the inline half from their snapshot). */
  get files(): FileBlobStore {
    return this.#files;
  }
  async prepare(data: Uint8Array): Promise<BlobRef> {
    if (data.byteLength <= this.inlineMax) return this.#rows.prepare(data);
    const hash = sha256(data);
    // Already stored (and referenced): nothing to write. The reference added below keeps it.
    const known = await this.#db().selectFrom('blob_refs').select('hash').where('hash', '=', hash).where('refcount', '>', 0).executeTakeFirst();
    if (known) return { hash, size: data.byteLength };
    try {
      const segment = await this.segments.append(data);
      // Synced here, before the transaction: concurrent deliveries share these fsyncs, and they
      // overlap with the commit of the batch before (addRef below only checks nothing is left).
      await this.segments.sync();
      return { hash, size: data.byteLength, segment };
    } catch (e) {
      throw toTemporary(e); // a full disk: STORAGE_FULL, a temporary refusal
    }
  }
  async addRef(trx: Transaction<PartitionDB>, ref: BlobRef): Promise<void> {
    if (ref.segment) {
      // The bytes are durable before the row that finds them (and its reference) commits;
      // the first reference of a batch syncs every append of the batch.
      await this.segments.sync();
    }
    await this.#rows.addRef(trx, ref); // writes the row when ref.data is set (inline), else only counts
  }
  dropRef(trx: Transaction<PartitionDB>, hash: string): Promise<void> {
    return dropRefRow(trx, hash);
  }
  async put(data: Uint8Array): Promise<string> {
    if (data.byteLength <= this.inlineMax) return this.#rows.put(data);
    const hash = sha256(data);
    const loc = await this.segments.append(data);
    await this.segments.sync();
    // Restore: the reference row from the backup names the old installation's segment; this is
    // the new one. (Without a reference row the bytes are unreferenced and will be collected.)
    await this.#db().updateTable('blob_refs').set({ seg: loc.seg, seg_off: loc.off, seg_len: loc.len }).where('hash', '=', hash).execute();
    return hash;
  }
  async #location(hash: string): Promise<SegmentLocation | null> {
    const r = await this.#db().selectFrom('blob_refs').select(['seg', 'seg_off', 'seg_len']).where('hash', '=', hash).executeTakeFirst();
    return r?.seg ? { seg: r.seg, off: r.seg_off!, len: r.seg_len! } : null;
  }
  async get(hash: string): Promise<Buffer> {
    const row = await this.#db().selectFrom('blobs').select('data').where('hash', '=', hash).executeTakeFirst();
    if (row) return Buffer.from(row.data);
    const loc = await this.#location(hash);
    if (loc && this.segments.exists(loc.seg)) return this.segments.read(loc);
    return this.#files.get(hash);
  }
  async has(hash: string): Promise<boolean> {
    if (await this.#rows.has(hash)) return true;
    const loc = await this.#location(hash);
    if (loc && this.segments.exists(loc.seg)) return true;
    return this.#files.has(hash);
  }
  async *list(): AsyncIterable<string> {
    yield* this.#rows.list();
    const rows = await this.#db().selectFrom('blob_refs').select(['hash', 'seg']).where('seg', 'is not', null).orderBy('hash').execute();
    for (const r of rows) if (r.seg && this.segments.exists(r.seg)) yield r.hash;
    yield* this.#files.list();
  }
  async collect(graceMs: number, now = Date.now()): Promise<number> {
    // Unreferenced rows go with their blob_refs row (the file store deletes those, locations
    // included, and any file); then bytes in the table that no blob_refs row names; then
    // segment files no reference points into any more.
    let n = await this.#files.collect(graceMs, now);
    const db = this.#db();
    n += await db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('blobs').where('hash', 'not in', trx.selectFrom('blob_refs').select('hash')).executeTakeFirst();
      return Number(r.numDeletedRows);
    });
    const live = new Set((await db.selectFrom('blob_refs').select('seg').where('seg', 'is not', null).distinct().execute()).map((r) => r.seg));
    for (const f of await this.segments.files()) {
      if (!live.has(f.name) && f.name !== this.segments.activeName && f.mtimeMs < now - graceMs) await this.segments.remove(f.name);
    }
    return n;
  }
}
