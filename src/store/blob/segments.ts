/**
 * Segment files: large bodies are appended to one file per process and partition, each with
 * a single positioned write, and made durable together by one fsync per batch (the first
 * reference added in a transaction syncs whatever is pending) instead of a temp file, an
 * fsync, a rename and a directory fsync per body. Where each body is goes into the
 * body's reference row (blob_refs.seg, seg_off, seg_len) in the same transaction.
 *
 * Invariants: a body's bytes are fsynced before any row referencing them commits; a segment
 * is only ever appended to; a segment no row refers to any more is deleted by collection.
 * Space of dead bodies inside a live segment is reclaimed only when the whole segment dies
 * (todo: compaction of mostly-dead segments).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir, mkdirDurable } from '../../lib/durable.ts';

export interface SegmentLocation {
  seg: string;
  off: number;
  len: number;
}

const SEGMENT_MAX = 256 * 2 ** 20;
const NAME_RE = /^[0-9a-z-]+\.seg$/;

export class SegmentWriter {
  readonly dir: string;
  #active: { name: string; fh: fsp.FileHandle; size: number } | null = null;
  #opening: Promise<{ name: string; fh: fsp.FileHandle; size: number }> | null = null;
  /** Writes not yet covered by an fsync. */
  #pending = new Map<fsp.FileHandle, Promise<unknown>[]>();
  #syncing: Promise<void> | null = null;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The file currently appended to (never collected). */
  get activeName(): string | null {
    return this.#active?.name ?? null;
  }

  async #segment(len: number) {
    if (this.#active && this.#active.size + len <= SEGMENT_MAX) return this.#active;
    if (this.#opening) return this.#opening;
    this.#opening = (async () => {
      await mkdirDurable(this.dir);
      const name = `${Date.now().toString(36)}-${process.pid}-${crypto.randomBytes(4).toString('hex')}.seg`;
      const fh = await fsp.open(path.join(this.dir, name), 'wx', 0o600);
      await fsyncDir(this.dir); // the new file's name must survive a crash too
      this.#active = { name, fh, size: 0 };
      return this.#active;
    })().finally(() => (this.#opening = null));
    return this.#opening;
  }

  /** Appends; the bytes are durable only after the next sync(). */
  async append(data: Uint8Array): Promise<SegmentLocation> {
    let s = await this.#segment(data.byteLength);
    while (s.size + data.byteLength > SEGMENT_MAX && s.size > 0) s = await this.#segment(data.byteLength);
    const off = s.size;
    s.size += data.byteLength; // reserved before the write starts: concurrent appends never overlap
    const w = s.fh.write(data, 0, data.byteLength, off);
    const list = this.#pending.get(s.fh) ?? [];
    // A write that fails (a full disk) fails its own append, which no row will then refer to;
    // the next sync must not fail for it too: it waits for the write, not for its success.
    list.push(w.catch(() => undefined));
    this.#pending.set(s.fh, list);
    await w;
    return { seg: s.name, off, len: data.byteLength };
  }

  /** Makes every append so far durable (one fsync per segment file touched). */
  async sync(): Promise<void> {
    while (this.#syncing) await this.#syncing;
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#syncing = (async () => {
      for (const [fh, writes] of batch) {
        await Promise.all(writes);
        await fh.datasync(); // data and length (fdatasync, as SQLite does for its WAL)
      }
    })().finally(() => (this.#syncing = null));
    await this.#syncing;
  }

  async read(loc: SegmentLocation): Promise<Buffer> {
    if (!NAME_RE.test(loc.seg)) throw new Error('bad segment name');
    const fh = await fsp.open(path.join(this.dir, loc.seg), 'r');
    try {
      const buf = Buffer.allocUnsafe(loc.len);
      const { bytesRead } = await fh.read(buf, 0, loc.len, loc.off);
      if (bytesRead !== loc.len) throw Object.assign(new Error(`segment ${loc.seg} is shorter than expected`), { code: 'ENOENT' });
      return buf;
    } finally {
      await fh.close();
    }
  }

  exists(seg: string): boolean {
    return NAME_RE.test(seg) && fs.existsSync(path.join(this.dir, seg));
  }

  /** Segment files on disk, with their modification times. */
  async files(): Promise<{ name: string; mtimeMs: number }[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch {
      return [];
    }
    const out: { name: string; mtimeMs: number }[] = [];
    for (const n of names) {
      if (!NAME_RE.test(n)) continue;
      const st = await fsp.stat(path.join(this.dir, n)).catch(() => null);
      if (st) out.push({ name: n, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  async remove(seg: string): Promise<void> {
    if (seg === this.activeName || !NAME_RE.test(seg)) return;
    await fsp.unlink(path.join(this.dir, seg)).catch(() => {});
  }

  async close(): Promise<void> {
    await this.sync().catch(() => {});
    await this.#active?.fh.close().catch(() => {});
    this.#active = null;
  }
}
