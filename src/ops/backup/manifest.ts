/**
 * The backup format "bulwark-backup/1": its manifest, the file layout and the writer that
 * puts files into a backup. A backup is a directory:
 *
 *   manifest.json                        written last; lists every other file with SHA-256
 *   config/bulwark.toml                  the configuration file, when the installation had one
 *   directory/<table>.jsonl              primary store tables, one JSON row per line
 *   partitions/<name>/<table>.jsonl      partition tables (a database shared by several
 *                                        partitions is dumped once, under the first name)
 *   blobs/<partition>/<sha256>           blob bytes, whatever backend held them
 *
 * Rows are engine-neutral JSON; bytes are {"$b64": "..."} and integers beyond 2^53 are
 * {"$int": "..."} (see dump.ts), so a backup of PostgreSQL restores into SQLite and back.
 *
 * Invariants:
 * - Every file is fsynced before the manifest is written, and the manifest is written
 *   durably last: a backup directory without manifest.json is incomplete and never valid.
 * - The manifest lists every file but itself, with size and SHA-256; verify treats a
 *   missing, changed or unlisted file as damage.
 * - Nothing in the manifest is secret: database URLs are redacted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { fsyncDir, writeDurably } from '../../lib/durable.ts';
import { DomainError } from '../../core/errors.ts';

export const BACKUP_FORMAT = 'bulwark-backup/1';
export const MANIFEST_FILE = 'manifest.json';
export const CONFIG_ENTRY = 'config/bulwark.toml';

const fileEntry = z.strictObject({
  path: z.string().min(1),
  size: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

const engineKind = z.enum(['sqlite', 'postgres']);

const manifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  created_at: z.string(),
  bulwark_version: z.string(),
  node_version: z.string(),
  /** Path of the configuration file inside the backup, or null when there was none. */
  config: z.string().nullable(),
  /** One entry per database (URL); the embedded default has one database in both roles. */
  databases: z.array(z.object({
    kind: engineKind,
    url: z.string(),
    /** Holds the primary store (directory tables). */
    directory: z.boolean(),
    /** Partitions whose tables live in this database. */
    partitions: z.array(z.string()),
    /** Latest migration applied per schema; null when the schema was never created. */
    schema_versions: z.object({
      directory: z.string().nullable().optional(),
      partition: z.string().nullable().optional(),
    }),
  })),
  /** The partition map at backup time. */
  partitions: z.record(z.string(), z.object({
    kind: engineKind,
    url: z.string(),
    /** Index into databases. */
    database: z.number().int().min(0),
    /** Dump directory holding this partition's tables ("partitions/<name>"). */
    dump: z.string(),
    blob_backend: z.enum(['files', 'database']),
    accounts: z.array(z.object({ id: z.number(), address: z.string() })),
    blobs: z.number().int().min(0),
  })),
  /** Row counts: dump directory ("directory", "partitions/<name>") -> table -> rows. */
  rows: z.record(z.string(), z.record(z.string(), z.number().int().min(0))),
  blobs: z.object({ count: z.number().int().min(0), bytes: z.number().int().min(0) }),
  /** Trouble found in the live installation while backing up (e.g. a missing blob). */
  warnings: z.array(z.string()),
  files: z.array(fileEntry),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestFile = z.infer<typeof fileEntry>;
export type ManifestDatabase = Manifest['databases'][number];
export type ManifestPartition = Manifest['partitions'][string];

/** Reads and validates manifest.json; throws INVALID_INPUT naming what is wrong. */
export async function readManifest(src: string): Promise<Manifest> {
  const file = path.join(src, MANIFEST_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DomainError('INVALID_INPUT', `${file} does not exist: not a backup, or an incomplete one`);
    }
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DomainError('INVALID_INPUT', `${MANIFEST_FILE}: not valid JSON: ${(e as Error).message}`);
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (format !== BACKUP_FORMAT) {
    throw new DomainError('INVALID_INPUT', `${MANIFEST_FILE}: unknown backup format ${JSON.stringify(format)}; this version of Bulwark reads ${BACKUP_FORMAT}`);
  }
  const res = manifestSchema.safeParse(raw);
  if (!res.success) {
    const i = res.error.issues[0];
    throw new DomainError('INVALID_INPUT', `${MANIFEST_FILE}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  return res.data;
}

/** Size and SHA-256 of a file, read as a stream. */
export async function hashFile(file: string): Promise<{ size: number; sha256: string }> {
  const h = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(file)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: h.digest('hex') };
}

/** Every file under root, as relative paths with forward slashes, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() && !e.isSymbolicLink()) continue;
    out.push(path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
  }
  return out.sort();
}

/** Resolves a manifest path inside the backup; refuses paths that would leave it. */
export function entryPath(root: string, rel: string): string {
  const p = path.resolve(root, ...rel.split('/'));
  if (!p.startsWith(path.resolve(root) + path.sep)) throw new DomainError('INVALID_INPUT', `backup path ${rel} leaves the backup directory`);
  return p;
}

/** A file being written into the backup; hashes and counts as it goes. */
export class BackupFile {
  readonly rel: string;
  readonly #fd: fsp.FileHandle;
  readonly #hash = crypto.createHash('sha256');
  readonly #onClose: (f: ManifestFile) => void;
  #size = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(rel: string, fd: fsp.FileHandle, onClose: (f: ManifestFile) => void) {
    this.rel = rel;
    this.#fd = fd;
    this.#onClose = onClose;
  }

  async write(data: string | Uint8Array): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#hash.update(buf);
    this.#size += buf.length;
    this.#pending.push(buf);
    this.#pendingBytes += buf.length;
    if (this.#pendingBytes >= 1 << 20) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (!this.#pendingBytes) return;
    const buf = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#fd.write(buf);
  }

  /** Flushes, fsyncs and closes; the file then counts as part of the backup. */
  async close(): Promise<ManifestFile> {
    try {
      await this.#flush();
      await this.#fd.sync();
    } finally {
      await this.#fd.close();
    }
    const entry = { path: this.rel, size: this.#size, sha256: this.#hash.digest('hex') };
    this.#onClose(entry);
    return entry;
  }

  /** Closes without recording (the backup is being abandoned). */
  async abandon(): Promise<void> {
    await this.#fd.close().catch(() => {});
  }
}

/**
 * Writes files into a new backup directory and collects the manifest's file list. The
 * directory must be empty or not exist: a backup never overwrites anything.
 */
export class BackupWriter {
  readonly root: string;
  readonly files: ManifestFile[] = [];
  readonly #dirs = new Set<string>();
  readonly #created: boolean;

  private constructor(root: string, created: boolean) {
    this.root = root;
    this.#created = created;
  }

  static async create(dest: string): Promise<BackupWriter> {
    const root = path.resolve(dest);
    let created = false;
    try {
      const entries = await fsp.readdir(root);
      if (entries.length) throw new DomainError('INVALID_INPUT', `backup destination ${root} is not empty; a backup never overwrites anything, choose a new directory`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new DomainError('INVALID_INPUT', `backup destination ${root} is not a directory`);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await fsp.mkdir(root, { recursive: true, mode: 0o700 });
      created = true;
    }
    const w = new BackupWriter(root, created);
    w.#dirs.add(root);
    return w;
  }

  async #mkdir(rel: string): Promise<string> {
    const file = entryPath(this.root, rel);
    const dir = path.dirname(file);
    if (!this.#dirs.has(dir)) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      for (let d = dir; d.startsWith(this.root) && !this.#dirs.has(d); d = path.dirname(d)) this.#dirs.add(d);
    }
    return file;
  }

  /** Opens a new file for streaming writes (exclusive: never replaces a file). */
  async open(rel: string): Promise<BackupFile> {
    const file = await this.#mkdir(rel);
    const fd = await fsp.open(file, 'wx', 0o600);
    return new BackupFile(rel, fd, (f) => this.files.push(f));
  }

  /** Writes a whole file durably and records it. */
  async writeFile(rel: string, data: string | Uint8Array): Promise<ManifestFile> {
    const f = await this.open(rel);
    try {
      await f.write(data);
    } catch (e) {
      await f.abandon();
      throw e;
    }
    return f.close();
  }

  /** Fsyncs every directory created, then writes manifest.json durably, last. */
  async finish(manifest: Omit<Manifest, 'files'>): Promise<Manifest> {
    const dirs = [...this.#dirs].sort((a, b) => b.length - a.length); // deepest first
    for (const d of dirs) await fsyncDir(d);
    if (this.#created) await fsyncDir(path.dirname(this.root));
    const full: Manifest = { ...manifest, files: [...this.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
    await writeDurably(path.join(this.root, MANIFEST_FILE), Buffer.from(JSON.stringify(full, null, 2) + '\n', 'utf8'));
    return full;
  }

  /** Removes what this writer wrote (a failed backup leaves nothing half-made behind). */
  async discard(): Promise<void> {
    if (this.#created) {
      await fsp.rm(this.root, { recursive: true, force: true });
      return;
    }
    for (const e of await fsp.readdir(this.root)) await fsp.rm(path.join(this.root, e), { recursive: true, force: true });
  }
}
