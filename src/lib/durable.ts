/**
 * Durable file writes (pure helpers, no layer above lib/): a file is written to a temp name,
 * fsynced, renamed into place and its directory fsynced, so after a crash it is either
 * complete or absent; directories created on the way are fsynced into their parents.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await fsp.open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** Creates dir and its missing parents, fsyncing each parent that gained an entry. */
export async function mkdirDurable(dir: string): Promise<void> {
  if (fs.existsSync(dir)) return;
  await mkdirDurable(path.dirname(dir));
  try {
    await fsp.mkdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  await fsyncDir(path.dirname(dir));
}

/** Temp file in tmpDir, fsync, rename into place, fsync the directory. */
export async function writeDurably(file: string, data: Uint8Array, tmpDir = path.dirname(file)): Promise<void> {
  await mkdirDurable(tmpDir);
  await mkdirDurable(path.dirname(file));
  const tmp = path.join(tmpDir, `${process.pid}-${crypto.randomBytes(8).toString('hex')}.tmp`);
  const fd = await fsp.open(tmp, 'wx', 0o600);
  try {
    await fd.writeFile(data);
    await fd.sync();
  } catch (e) {
    await fd.close();
    await fsp.unlink(tmp).catch(() => {});
    throw e;
  } finally {
    await fd.close().catch(() => {});
  }
  await fsp.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}
