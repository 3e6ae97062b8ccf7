/**
 * Large bodies in segment files (issue 3 point 6 work): one write per body, one fsync per
 * batch, a location row per body. Bodies come back byte for byte, deduplicate, are collected
 * when unreferenced, and survive move, backup, verify and restore.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApp, type App } from '../../src/app.ts';
import { systemActor } from '../../src/core/actor.ts';
import { moveAccount } from '../../src/core/mail/move.ts';
import { createBackup } from '../../src/ops/backup/backup.ts';
import { verifyBackup } from '../../src/ops/backup/verify.ts';
import { restoreBackup } from '../../src/ops/backup/restore.ts';
import { renderConfig } from '../../src/ops/config/template.ts';
import { generateSecret } from '../../src/ops/init.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { tempDir } from '../harness/tmp.ts';

const sys = systemActor('test');
const body = (n: number, tag: string) => Buffer.from(`Subject: ${tag}\r\n\r\n${crypto.randomBytes(n).toString('base64')}\r\n`);

describe('segment store for large bodies', () => {
  const tmp = tempDir();
  const data = path.join(tmp.dir, 'data');
  let app: App;
  let alice: AccountInfo;
  beforeAll(async () => {
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'bulwark.toml'), renderConfig({
      server: { secret: generateSecret() },
      blobs: { inline_max_bytes: 1024 },
      partitions: { main: 'sqlite:bulwark.db', p2: 'sqlite:p2.db' },
    }));
    app = await openApp(data, { env: {} });
    await app.directory.addDomain(sys, 'example.org');
    alice = await app.directory.addAccount(sys, { address: 'alice@example.org', password: 'long enough secret', partition: 'main' });
  });
  afterAll(async () => {
    await app?.close();
    tmp.cleanup();
  });

  it('stores concurrent large bodies once each in segment files and reads them back exactly; small ones stay inline', async () => {
    const bodies = Array.from({ length: 30 }, (_, i) => body(4000 + i, `big ${i}`));
    const stored = await Promise.all(bodies.map((b) => app.mail.appendMessage(alice, 'INBOX', b)));
    const small = await app.mail.appendMessage(alice, 'INBOX', Buffer.from('Subject: s\r\n\r\nsmall\r\n'));
    for (let i = 0; i < bodies.length; i++) expect((await app.mail.readMessage(alice, stored[i].id)).equals(bodies[i])).toBe(true);
    const db = app.stores.partition('main').engine!.db;
    const locs = await db.selectFrom('blob_refs').selectAll().where('seg', 'is not', null).execute();
    expect(locs).toHaveLength(30);
    expect(await db.selectFrom('blobs').select('hash').where('hash', '=', small.hash).executeTakeFirst()).toBeDefined();
    const segDir = path.join(data, 'blobs', 'main', 'seg');
    expect(fs.readdirSync(segDir).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(0);
    // no per-body files
    expect(fs.existsSync(path.join(data, 'blobs', 'main', stored[0].hash.slice(0, 2)))).toBe(false);
  });

  it('deduplicates a large body and collects it once unreferenced', async () => {
    const b = body(5000, 'twice');
    const one = await app.mail.appendMessage(alice, 'INBOX', b);
    const two = await app.mail.appendMessage(alice, 'Archive', b);
    const db = app.stores.partition('main').engine!.db;
    expect((await db.selectFrom('blob_refs').select('refcount').where('hash', '=', one.hash).executeTakeFirstOrThrow()).refcount).toBe(2);
    expect((await db.selectFrom('blob_refs').selectAll().where('hash', '=', one.hash).executeTakeFirstOrThrow()).seg).not.toBeNull();
    await app.mail.deleteMessage(alice, one.id);
    await app.mail.deleteMessage(alice, two.id);
    await app.stores.partition('main').blobs.collect(0, Date.now() + 1000);
    expect(await db.selectFrom('blob_refs').selectAll().where('hash', '=', one.hash).execute()).toHaveLength(0);
    expect(await app.stores.partition('main').blobs.has(one.hash)).toBe(false);
  });

  it('moves to another partition with its large bodies', async () => {
    const b = body(6000, 'moving');
    const m = await app.mail.appendMessage(alice, 'INBOX', b);
    await moveAccount(app.stores, app.directory, sys, 'alice@example.org', 'p2');
    const moved = await app.directory.getAccount(sys, 'alice@example.org');
    expect(moved.partition).toBe('p2');
    expect((await app.mail.readMessage(moved, m.id)).equals(b)).toBe(true);
    alice = moved;
  });

  it('backup, verify and restore carry the large bodies', async () => {
    const b = body(7000, 'backed up');
    const m = await app.mail.appendMessage(alice, 'INBOX', b);
    const bak = path.join(tmp.dir, 'bak');
    await createBackup({ dataDir: data, config: app.config, dest: bak });
    const v = await verifyBackup({ src: bak });
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    const restored = path.join(tmp.dir, 'restored');
    await restoreBackup({ src: bak, dataDir: restored });
    const r = await openApp(restored, { env: {} });
    try {
      const a = await r.directory.getAccount(sys, 'alice@example.org');
      expect((await r.mail.readMessage(a, m.id)).equals(b)).toBe(true);
    } finally {
      await r.close();
    }
  });
});
