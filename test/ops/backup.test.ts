/**
 * Backup, restore and verify (GW-BAK-1, GW-BAK-2) on both engines. The "server" is a worker
 * thread appending (and deleting) mail through its own connections for as long as the
 * backup runs, as a running server would while the backup CLI works beside it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { Stores, storeSettings } from '../../src/store/stores.ts';
import { TABLES, migrationsFor } from '../../src/store/migrations/index.ts';
import { sha256 } from '../../src/store/blob/index.ts';
import { MailStore, type AccountRef } from '../../src/core/mail/mailstore.ts';
import { readAudit, recordAudit } from '../../src/security/audit.ts';
import { loadConfig } from '../../src/ops/config/load.ts';
import { renderConfig } from '../../src/ops/config/template.ts';
import type { Config } from '../../src/ops/config/schema.ts';
import { createBackup } from '../../src/ops/backup/backup.ts';
import { restoreBackup } from '../../src/ops/backup/restore.ts';
import { verifyBackup } from '../../src/ops/backup/verify.ts';
import { BACKUP_FORMAT, listFiles, type Manifest } from '../../src/ops/backup/manifest.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';

const src = (p: string) => new URL(`../../src/${p}`, import.meta.url).href;

/** The server stand-in: appends until told to stop, deletes every third of its own messages. */
const SERVER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { loadConfig } = await import(workerData.modules.load);
  const { Stores, storeSettings } = await import(workerData.modules.stores);
  const { MailStore } = await import(workerData.modules.mail);
  const { config } = loadConfig(workerData.dataDir, {});
  const stores = await Stores.open(storeSettings(config, workerData.dataDir));
  const mail = new MailStore(stores);
  let stop = false;
  parentPort.on('message', (m) => { if (m === 'stop') stop = true; });
  const deleted = [];
  let appended = 0;
  for (let k = 0; !stop; k++) {
    const acct = workerData.accounts[k % workerData.accounts.length];
    const r = await mail.appendMessage(acct, 'INBOX', Buffer.from('Subject: live ' + k + '\\r\\n\\r\\nwritten during the backup, ' + k + '\\r\\n'));
    appended++;
    if (k % 3 === 2) {
      await mail.deleteMessage(acct, r.id);
      deleted.push(acct.id + ':' + r.id);
    }
    parentPort.postMessage({ type: 'tick', appended });
  }
  await stores.close();
  parentPort.postMessage({ type: 'done', appended, deleted });
})().catch((e) => parentPort.postMessage({ type: 'error', message: String((e && e.stack) || e) }));
`;

interface Server {
  appended(): number;
  waitFor(n: number): Promise<void>;
  stop(): Promise<{ appended: number; deleted: string[] }>;
}

function startServer(dataDir: string, accounts: AccountRef[]): Server {
  const w = new Worker(SERVER, {
    eval: true,
    workerData: { dataDir, accounts, modules: { load: src('ops/config/load.ts'), stores: src('store/stores.ts'), mail: src('core/mail/mailstore.ts') } },
  });
  let appended = 0;
  let failure: string | undefined;
  const waiters: (() => void)[] = [];
  const done = new Promise<{ appended: number; deleted: string[] }>((resolve, reject) => {
    w.on('message', (m: { type: string; appended?: number; deleted?: string[]; message?: string }) => {
      if (m.type === 'tick') appended = m.appended!;
      if (m.type === 'done') resolve({ appended: m.appended!, deleted: m.deleted! });
      if (m.type === 'error') {
        failure = m.message;
        reject(new Error(`server worker failed: ${m.message}`));
      }
      for (const f of waiters.splice(0)) f();
    });
    w.on('error', reject);
  });
  done.catch(() => {});
  return {
    appended: () => appended,
    async waitFor(n) {
      while (appended < n) {
        if (failure) throw new Error(failure);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    async stop() {
      w.postMessage('stop');
      try {
        return await done;
      } finally {
        await w.terminate();
      }
    },
  };
}

interface Installation {
  dataDir: string;
  config: Config;
  stores: Stores;
  mail: MailStore;
  accounts: AccountRef[];
  partitionNames: string[];
}

function open(dataDir: string, env: NodeJS.ProcessEnv = {}) {
  const { config } = loadConfig(dataDir, env, { requireFile: true });
  return { config, stores: Stores.open(storeSettings(config, dataDir)) };
}

/** A domain, four accounts over two partitions, messages with shared (deduplicated) bodies. */
async function populate(dataDir: string, values: Record<string, Record<string, unknown>>): Promise<Installation> {
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(path.join(dataDir, 'bulwark.toml'), renderConfig(values));
  const o = open(dataDir);
  const stores = await o.stores;
  expect(await stores.openPartitions()).toEqual([]);
  const mail = new MailStore(stores);
  const partitionNames = Object.keys(o.config.partitions).sort();
  const now = Date.now();
  const dom = await stores.directory.insertInto('domains').values({ name: 'example.org', enabled: 1, created_at: now, updated_at: now })
    .returning('id').executeTakeFirstOrThrow();
  const accounts: AccountRef[] = [];
  for (let i = 0; i < 4; i++) {
    const address = `user${i}@example.org`;
    const partition = partitionNames[i % partitionNames.length];
    await stores.directory.insertInto('addresses').values({ address, kind: 'account', domain_id: dom.id }).execute();
    const row = await stores.directory.insertInto('accounts').values({
      domain_id: dom.id, local_part: `user${i}`, address, display_name: `User ${i}`, password_hash: '$argon2id$not-a-real-hash',
      quota_bytes: 0, roles: '["user"]', enabled: 1, partition, created_at: now, updated_at: now, password_changed_at: now,
    }).returning('id').executeTakeFirstOrThrow();
    await recordAudit(stores.directory, { event: 'account.create', actor: 'system:test', object: address });
    const ref = { id: row.id, partition, quota_bytes: 0 };
    await mail.provision(ref);
    accounts.push(ref);
  }
  const shared = Buffer.from('Subject: to everyone\r\n\r\nthe same bytes for all, stored once per partition\r\n');
  for (const [i, a] of accounts.entries()) {
    for (let m = 0; m < 6; m++) {
      const data = m % 2 === 0 ? shared : Buffer.from(`Subject: ${i}/${m}\r\n\r\nonly for user${i}: ${crypto.randomBytes(64).toString('hex')}\r\n`);
      await mail.appendMessage(a, m === 5 ? 'Archive' : 'INBOX', data, { flags: m === 1 ? ['\\Seen'] : [] });
    }
  }
  return { dataDir, config: o.config, stores, mail, accounts, partitionNames };
}

/** account:id -> blob hash, over every partition. */
async function messagesOf(stores: Stores): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of stores.partitions.values()) {
    const rows = await p.run('test', (db) => db.selectFrom('messages').select(['account_id', 'id', 'blob_hash']).execute());
    for (const r of rows) out.set(`${r.account_id}:${r.id}`, r.blob_hash);
  }
  return out;
}

async function count(db: Kysely<any>, table: string): Promise<number> {
  const r = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

function copyBackup(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

function readManifestFile(dir: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

describe.each(['sqlite', 'postgres'] as const)('backup on %s', (engine) => {
  const tmp = tempDir('bulwark-backup-');
  const drops: (() => Promise<void>)[] = [];
  let live: Installation;
  let manifest: Manifest;
  const backupDir = path.join(tmp.dir, 'backup-1');
  let before: Map<string, string>;
  let deletedDuring: Set<string>;
  let appendedDuring = 0;
  const progress: string[] = [];

  beforeAll(async () => {
    const secret = crypto.randomBytes(36).toString('base64url');
    let values: Record<string, Record<string, unknown>>;
    if (engine === 'sqlite') {
      // "main" shares the primary database (the embedded default), "p2" has its own file.
      values = { server: { secret }, partitions: { main: 'sqlite:bulwark.db', p2: 'sqlite:partitions/p2.db' } };
    } else {
      // p1 shares the primary store's database, p2 lives in another database.
      const a = await createTestDatabase();
      const b = await createTestDatabase();
      drops.push(a.drop, b.drop);
      values = { server: { secret }, store: { url: a.url }, partitions: { p1: a.url, p2: b.url } };
    }
    live = await populate(path.join(tmp.dir, 'live'), values);

    const server = startServer(live.dataDir, live.accounts);
    try {
      await server.waitFor(3);
      // Everything committed now must be in the backup (unless the server deletes it meanwhile).
      before = await messagesOf(live.stores);
      const atStart = server.appended();
      manifest = await createBackup({ dataDir: live.dataDir, config: live.config, dest: backupDir, progress: (m) => progress.push(m) });
      appendedDuring = server.appended() - atStart;
    } finally {
      const r = await server.stop();
      deletedDuring = new Set(r.deleted);
    }
  });

  afterAll(async () => {
    await live?.stores.close();
    for (const d of drops) await d();
    tmp.cleanup();
  });

  it('GW-BAK-1: the manifest lists every file with its hash, the versions and the partition map', async () => {
    expect(manifest.format).toBe(BACKUP_FORMAT);
    expect(manifest.node_version).toBe(process.version);
    expect(manifest.bulwark_version).toMatch(/^\d+\.\d+\.\d+/);
    const onDisk = (await listFiles(backupDir)).filter((f) => f !== 'manifest.json');
    expect(manifest.files.map((f) => f.path).sort()).toEqual(onDisk);
    for (const f of manifest.files) {
      const data = fs.readFileSync(path.join(backupDir, f.path));
      expect({ path: f.path, size: data.length, sha256: sha256(data) }).toEqual(f);
    }
    expect(manifest.config).toBe('config/bulwark.toml');
    expect(onDisk).toContain('config/bulwark.toml');
    expect(onDisk).toContain('directory/accounts.jsonl');
    expect(onDisk.some((f) => f.endsWith('/blobs.jsonl'))).toBe(false);
    // One database in two roles is dumped once; the map says where each partition lives.
    expect(manifest.databases).toHaveLength(2);
    expect(manifest.databases[0]).toMatchObject({ kind: engine, directory: true, partitions: [live.partitionNames[0]] });
    const latest = (schema: 'directory' | 'partition') => Object.keys(migrationsFor(schema, 'sqlite')).sort().at(-1);
    expect(manifest.databases[0].schema_versions).toEqual({ directory: latest('directory'), partition: latest('partition') });
    expect(Object.keys(manifest.partitions).sort()).toEqual(live.partitionNames);
    for (const [name, p] of Object.entries(manifest.partitions)) {
      expect(p.kind).toBe(engine);
      expect(p.blob_backend).toBe(engine === 'sqlite' ? 'files' : 'database');
      expect(p.accounts.map((a) => a.id).sort()).toEqual(live.accounts.filter((a) => a.partition === name).map((a) => a.id).sort());
    }
    expect(manifest.rows.directory.accounts).toBe(4);
    expect(manifest.blobs.count).toBe(manifest.files.filter((f) => f.path.startsWith('blobs/')).length);
    expect(manifest.warnings).toEqual([]);
    expect(progress.some((m) => /^directory: accounts 4 rows$/.test(m))).toBe(true);
    expect(progress.some((m) => /^blobs .*: \d+\/\d+$/.test(m))).toBe(true);
    // The backup is in the live audit trail, without secrets.
    const audit = await readAudit(live.stores.directory, { event: 'backup.create' });
    expect(audit).toHaveLength(1);
    expect(audit[0].object).toBe(backupDir);
    expect(JSON.stringify(audit[0].detail)).not.toContain(live.config.server.secret!);
  });

  it('GW-BAK-1: a backup taken while mail is delivered restores consistently', async () => {
    expect(before.size).toBeGreaterThanOrEqual(24);
    expect(appendedDuring).toBeGreaterThan(0); // the server really wrote during the backup
    const dataDir = path.join(tmp.dir, 'restored-1');
    await restoreBackup({ src: backupDir, dataDir });
    const r = open(dataDir);
    // The restored installation is embedded, keeps the secret and the partition names.
    expect(r.config.store.url).toBe('sqlite:bulwark.db');
    expect(r.config.server.secret).toBe(live.config.server.secret);
    expect(r.config.partitions).toEqual({ [live.partitionNames[0]]: 'sqlite:bulwark.db', p2: 'sqlite:partitions/p2.db' });
    const stores = await r.stores;
    try {
      expect(await stores.openPartitions()).toEqual([]);
      const restored = await messagesOf(stores);
      for (const [key, hash] of before) {
        if (deletedDuring.has(key)) continue;
        expect(restored.get(key), `message ${key} committed before the backup`).toBe(hash);
      }
      // No message without its blob, and every blob intact.
      const mail = new MailStore(stores);
      const accounts = await stores.directory.selectFrom('accounts').select(['id', 'partition', 'quota_bytes']).execute();
      expect(accounts).toHaveLength(4);
      for (const [key, hash] of restored) {
        const [acct, id] = key.split(':').map(Number);
        const a = accounts.find((x) => x.id === acct)!;
        const data = await mail.readMessage(a, id);
        expect(sha256(data)).toBe(hash);
      }
      // Row counts equal the manifest.
      const db0 = manifest.databases[0];
      for (const table of TABLES.directory) {
        // The restore adds its own entry to the audit trail it restored.
        const extra = table === 'audit' ? 1 : 0;
        expect(await count(stores.directory, table), table).toBe(manifest.rows.directory[table] + extra);
      }
      for (const name of live.partitionNames) {
        const db = (await stores.partition(name).open()).db;
        for (const table of TABLES.partition.filter((t) => t !== 'blobs')) {
          expect(await count(db, table), `${name}/${table}`).toBe(manifest.rows[`partitions/${name}`][table]);
        }
      }
      expect(db0.directory).toBe(true);
      // Usage and counters came along: the restored installation keeps working.
      for (const a of accounts) {
        const st = await mail.state(a);
        const msgs = [...restored.keys()].filter((k) => k.startsWith(`${a.id}:`));
        expect(st.used_messages).toBe(msgs.length);
        const added = await mail.appendMessage(a, 'INBOX', Buffer.from('Subject: after restore\r\n\r\nhello\r\n'));
        expect(added.id).toBeGreaterThan(Math.max(...msgs.map((k) => Number(k.split(':')[1]))));
      }
      const audit = await readAudit(stores.directory, { event: 'backup.restore' });
      expect(audit).toHaveLength(1);
    } finally {
      await stores.close();
    }
  });

  it('GW-BAK-2: verify restores into scratch space and passes an intact backup', async () => {
    const report = await verifyBackup({ src: backupDir, dataDir: live.dataDir, config: live.config });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.files).toBe(manifest.files.length);
    expect(report.blobs).toBe(manifest.blobs.count);
    expect(report.rows).toBe(Object.entries(manifest.rows).flatMap(([, t]) => Object.values(t)).reduce((a, b) => a + b, 0));
    expect(report.durationMs).toBeGreaterThan(0);
    const audit = await readAudit(live.stores.directory, { event: 'backup.verify' });
    expect(audit.at(-1)?.detail).toMatchObject({ ok: true, problems: 0 });
  });

  it.each(['directory/accounts.jsonl', 'a blob file'])('GW-BAK-2: one corrupted byte in %s fails verify, naming the file', async (which) => {
    const dir = copyBackup(backupDir, path.join(tmp.dir, `corrupt-${crypto.randomBytes(4).toString('hex')}`));
    const rel = which === 'a blob file' ? manifest.files.find((f) => f.path.startsWith('blobs/'))!.path : which;
    const file = path.join(dir, rel);
    const data = fs.readFileSync(file);
    data[Math.floor(data.length / 2)] ^= 0x20;
    fs.writeFileSync(file, data);
    const report = await verifyBackup({ src: dir });
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.includes(rel))).toBe(true);
    // Restoring it is refused too, naming the file.
    await expect(restoreBackup({ src: dir, dataDir: path.join(dir, '..', `r-${path.basename(dir)}`) })).rejects.toThrow(rel);
    expect(fs.existsSync(path.join(dir, '..', `r-${path.basename(dir)}`))).toBe(false);
  });

  it('GW-BAK-2: a referenced blob missing from the backup fails verify, naming the blob', async () => {
    const dir = copyBackup(backupDir, path.join(tmp.dir, 'missing-blob'));
    const m = readManifestFile(dir);
    const victim = m.files.find((f) => f.path.startsWith('blobs/'))!;
    const hash = victim.path.split('/').at(-1)!;
    fs.rmSync(path.join(dir, victim.path));
    // The manifest is "fixed up" so that only the blob reference check can notice.
    m.files = m.files.filter((f) => f !== victim);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
    const report = await verifyBackup({ src: dir });
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.includes(hash) && p.includes('missing'))).toBe(true);
    expect(report.problems.some((p) => p.includes('listed') || p.includes('damaged'))).toBe(false);
  });

  it('GW-BAK-2: restore into a non-empty directory is refused and touches nothing', async () => {
    const dataDir = path.join(tmp.dir, 'occupied');
    fs.mkdirSync(dataDir);
    fs.writeFileSync(path.join(dataDir, 'keep.txt'), 'mine');
    await expect(restoreBackup({ src: backupDir, dataDir })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('not empty') });
    expect(fs.readdirSync(dataDir)).toEqual(['keep.txt']);
  });

  it('GW-BAK-2: a backup of an unknown format or a newer schema is refused', async () => {
    const dir = copyBackup(backupDir, path.join(tmp.dir, 'future'));
    const m = readManifestFile(dir);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, format: 'bulwark-backup/99' }));
    await expect(restoreBackup({ src: dir, dataDir: path.join(tmp.dir, 'future-r1') })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('unknown backup format') });
    m.databases[0].schema_versions.partition = '9999_from_the_future';
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    await expect(restoreBackup({ src: dir, dataDir: path.join(tmp.dir, 'future-r2') })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('newer') });
    expect(fs.existsSync(path.join(tmp.dir, 'future-r2'))).toBe(false);
    const report = await verifyBackup({ src: dir });
    expect(report.ok).toBe(false);
  });

  it('GW-BAK-1: a backup never overwrites: a non-empty destination is refused', async () => {
    await expect(createBackup({ dataDir: live.dataDir, config: live.config, dest: backupDir })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(readManifestFile(backupDir)).toEqual(manifest);
  });

  it('GW-BAK-2: keepUrls restores into the configured (empty) databases', async () => {
    const dataDir = path.join(tmp.dir, 'restored-keep');
    let env: NodeJS.ProcessEnv = {};
    if (engine === 'postgres') {
      // The live databases are not empty: refused.
      await expect(restoreBackup({ src: backupDir, dataDir, keepUrls: true, env: {} })).rejects.toThrow(/not empty/);
      expect(fs.existsSync(dataDir)).toBe(false);
      const c = await createTestDatabase();
      const d = await createTestDatabase();
      drops.push(c.drop, d.drop);
      env = { BULWARK_STORE_URL: c.url, BULWARK_PARTITIONS_P1: c.url, BULWARK_PARTITIONS_P2: d.url };
    }
    await restoreBackup({ src: backupDir, dataDir, keepUrls: true, env });
    // The configuration file is the backed-up one, byte for byte.
    expect(fs.readFileSync(path.join(dataDir, 'bulwark.toml'))).toEqual(fs.readFileSync(path.join(backupDir, 'config/bulwark.toml')));
    const r = open(dataDir, env);
    const stores = await r.stores;
    try {
      expect(await stores.openPartitions()).toEqual([]);
      expect(await count(stores.directory, 'accounts')).toBe(4);
      expect(await count(stores.directory, 'audit')).toBe(manifest.rows.directory.audit + 1);
      const restored = await messagesOf(stores);
      const mail = new MailStore(stores);
      for (const [key, hash] of [...restored].slice(0, 10)) {
        const [acct, id] = key.split(':').map(Number);
        const a = live.accounts.find((x) => x.id === acct)!;
        expect(sha256(await mail.readMessage(a, id))).toBe(hash);
      }
      // Ids keep counting past the restored ones (PostgreSQL sequences were moved).
      const now = Date.now();
      const dom = await stores.directory.insertInto('domains').values({ name: 'new.example', enabled: 1, created_at: now, updated_at: now })
        .returning('id').executeTakeFirstOrThrow();
      expect(dom.id).toBeGreaterThan(1);
    } finally {
      await stores.close();
    }
  });
});
