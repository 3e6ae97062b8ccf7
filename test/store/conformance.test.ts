// Foundation issue, point 3: the store conformance suite. One suite, run against both
// engines (a fresh SQLite file, a fresh PostgreSQL database): migrations, error mapping,
// durability settings, change log, quota, content-addressed blobs, concurrent writers.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { Stores, type Partition, type StoreSettings } from '../../src/store/stores.ts';
import { openPostgres, openSqlite, type Engine } from '../../src/store/engine.ts';
import { migrate, pendingMigrations, schemaVersion, TABLES, migrationsFor, type SchemaName } from '../../src/store/migrations/index.ts';
import { FileBlobStore, sha256 } from '../../src/store/blob/index.ts';
import type { PartitionDB } from '../../src/store/schema.ts';
import { MailStore, DEFAULT_MAILBOXES, type AccountRef } from '../../src/core/mail/mailstore.ts';
import { DomainError } from '../../src/core/errors.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';

interface Env {
  kind: 'sqlite' | 'postgres';
  dataDir: string;
  stores: Stores;
  mail: MailStore;
  part: Partition;
  /** A database of its own, never migrated before the migration test. */
  scratch: Engine;
  cleanup(): Promise<void>;
}

function settings(dataDir: string, directoryUrl: string, p1: string): StoreSettings {
  return {
    dataDir, directoryUrl, partitions: { p1 }, blobBackend: 'auto', poolSize: 5, connectTimeoutMs: 3000, retryAfterMs: 500,
  };
}

async function sqliteEnv(): Promise<Env> {
  const tmp = tempDir('bulwark-conf-');
  const stores = await Stores.open(settings(tmp.dir, 'sqlite:directory.db', 'sqlite:p1.db'));
  const scratch = openSqlite(path.join(tmp.dir, 'scratch.db'));
  return {
    kind: 'sqlite', dataDir: tmp.dir, stores, mail: new MailStore(stores), part: stores.partition('p1'), scratch,
    async cleanup() {
      await scratch.close();
      await stores.close();
      tmp.cleanup();
    },
  };
}

async function postgresEnv(): Promise<Env> {
  const tmp = tempDir('bulwark-conf-');
  const dbs = await Promise.all([createTestDatabase('bwconf'), createTestDatabase('bwconf'), createTestDatabase('bwconf')]);
  const [dir, p1, scratchDb] = dbs;
  const stores = await Stores.open(settings(tmp.dir, dir.url, p1.url));
  const scratch = openPostgres(scratchDb.url, { poolSize: 2 });
  return {
    kind: 'postgres', dataDir: tmp.dir, stores, mail: new MailStore(stores), part: stores.partition('p1'), scratch,
    async cleanup() {
      await Promise.allSettled([scratch.close(), stores.close()]);
      await Promise.allSettled(dbs.map((d) => d.drop()));
      tmp.cleanup();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = (tag: string) => new TextEncoder().encode(`Subject: ${tag}\r\nMessage-ID: <${crypto.randomUUID()}@test>\r\n\r\nbody of ${tag}\r\n`);

async function caught(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    return e as DomainError;
  }
  throw new Error('expected the call to fail');
}

let nextAccountId = 1000;
function account(quota = 0): AccountRef {
  return { id: nextAccountId++, partition: 'p1', quota_bytes: quota };
}

async function count(db: Kysely<PartitionDB>, table: 'messages' | 'blob_refs' | 'blobs' | 'changes' | 'mailboxes', accountId?: number): Promise<number> {
  let q = (db as Kysely<any>).selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
  if (accountId !== undefined) q = q.where('account_id', '=', accountId);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

async function allBlobs(env: Env): Promise<string[]> {
  const out: string[] = [];
  for await (const h of env.part.blobs.list()) out.push(h);
  return out.sort();
}

async function refRow(env: Env, hash: string) {
  return (env.part.engine!.db as Kysely<PartitionDB>).selectFrom('blob_refs').selectAll().where('hash', '=', hash).executeTakeFirst();
}

describe.each([
  ['sqlite', sqliteEnv],
  ['postgres', postgresEnv],
] as const)('store conformance: %s', (kind, make) => {
  let env: Env;
  let pdb: Kysely<PartitionDB>;

  beforeAll(async () => {
    env = await make();
    await env.part.open();
    pdb = env.part.engine!.db as Kysely<PartitionDB>;
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it('applies the migrations of both schemas, and a second run applies nothing', async () => {
    const schemas: SchemaName[] = ['directory', 'partition'];
    for (const schema of schemas) {
      const all = Object.keys(migrationsFor(schema, env.scratch.kind));
      expect(all.length).toBeGreaterThan(0);
      expect(await pendingMigrations(env.scratch, schema)).toEqual(all);
      expect(await schemaVersion(env.scratch, schema)).toBeNull();
      expect(await migrate(env.scratch, schema)).toEqual(all);
      expect(await pendingMigrations(env.scratch, schema)).toEqual([]);
      expect(await migrate(env.scratch, schema)).toEqual([]);
      expect(await schemaVersion(env.scratch, schema)).toBe(all[all.length - 1]);
      for (const t of TABLES[schema]) {
        // Every table of the schema exists and can be read.
        await (env.scratch.db as Kysely<any>).selectFrom(t).selectAll().limit(1).execute();
      }
    }
    // The stores opened above were migrated on open (directory) and on first use (partition).
    expect(await pendingMigrations(env.stores.directoryEngine, 'directory')).toEqual([]);
    expect(await pendingMigrations(env.part.engine!, 'partition')).toEqual([]);
    expect(await migrate(env.stores.directoryEngine, 'directory')).toEqual([]);
    expect(await migrate(env.part.engine!, 'partition')).toEqual([]);
  });

  it('maps unique violations to ALREADY_EXISTS in both schemas', async () => {
    const now = Date.now();
    const domain = { name: `dup-${crypto.randomUUID()}.example`, enabled: 1, created_at: now, updated_at: now };
    await env.stores.dirTx('add domain', (trx) => trx.insertInto('domains').values(domain).execute());
    const e1 = await caught(env.stores.dirTx('add domain', (trx) => trx.insertInto('domains').values(domain).execute()));
    expect(e1.code).toBe('ALREADY_EXISTS');

    const a = account();
    await env.mail.provision(a);
    const e2 = await caught(env.part.tx('add mailbox', (trx) => trx.insertInto('mailboxes').values({
      account_id: a.id, id: 99, name: 'INBOX', special_use: null, uidvalidity: 1, uidnext: 1, modseq: 1, created_at: now,
    }).execute()));
    expect(e2.code).toBe('ALREADY_EXISTS');
    // A constraint violation says nothing about the partition's health.
    expect(env.part.status).toBe('up');
    expect((await env.mail.listMailboxes(a)).map((m) => m.name)).toEqual(DEFAULT_MAILBOXES.map((m) => m.name));
  });

  it('commits durably: SQLite WAL fsynced after every commit before it returns, PostgreSQL synchronous commit', async () => {
    if (kind === 'sqlite') {
      for (const e of [env.stores.directoryEngine, env.part.engine!, env.scratch]) {
        const jm = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(e.db);
        expect(jm.rows[0].journal_mode).toBe('wal');
        // NORMAL: SQLite itself does not fsync at commit; the driver does, off the event loop.
        const sync = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(e.db);
        expect(Number(sync.rows[0].synchronous)).toBe(1);
      }
      // Every committed write waited for a WAL fsync: a transaction, and a single statement.
      const e = env.scratch;
      await sql`create table if not exists durability_probe (n integer)`.execute(e.db);
      const before = e.walSyncs!();
      await e.db.transaction().execute((trx) => sql`insert into durability_probe values (1)`.execute(trx));
      const afterTx = e.walSyncs!();
      expect(afterTx).toBeGreaterThan(before);
      await sql`insert into durability_probe values (2)`.execute(e.db);
      expect(e.walSyncs!()).toBeGreaterThan(afterTx);
      // Reads do not fsync.
      const n = e.walSyncs!();
      await sql`select count(*) from durability_probe`.execute(e.db);
      expect(e.walSyncs!()).toBe(n);
    } else {
      for (const e of [env.stores.directoryEngine, env.part.engine!]) {
        const sc = await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(e.db);
        expect(sc.rows[0].synchronous_commit).toBe('on');
        const fsync = await sql<{ fsync: string }>`show fsync`.execute(e.db);
        expect(fsync.rows[0].fsync).toBe('on');
      }
    }
  });

  it('logs every change with a strictly increasing modseq and leaves destroy tombstones', async () => {
    const a = account();
    await env.mail.provision(a);
    await env.mail.provision(a); // idempotent
    expect(await env.mail.listMailboxes(a)).toHaveLength(DEFAULT_MAILBOXES.length);
    const base = (await env.mail.state(a)).modseq;
    const first = await env.mail.changesSince(a, 0);
    expect(first.modseq).toBe(base);
    expect(first.changes.filter((c) => c.objectType === 'mailbox' && c.op === 'create')).toHaveLength(DEFAULT_MAILBOXES.length);

    const appended = [];
    for (let i = 0; i < 3; i++) appended.push(await env.mail.appendMessage(a, 'INBOX', body(`change ${i}`)));
    await env.mail.deleteMessage(a, appended[1].id);
    const st = await env.mail.state(a);

    const seqs = [base, ...appended.map((m) => m.modseq), st.modseq];
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    expect(st.modseq).toBe(base + 4);
    expect(appended.map((m) => m.uid)).toEqual([1, 2, 3]);

    const since = await env.mail.changesSince(a, base);
    expect(since.modseq).toBe(st.modseq);
    expect(since.changes).toEqual([
      ...appended.map((m) => ({ modseq: m.modseq, objectType: 'message', objectId: m.id, op: 'create' })),
      { modseq: st.modseq, objectType: 'message', objectId: appended[1].id, op: 'destroy' },
    ]);
    expect((await env.mail.changesSince(a, st.modseq)).changes).toEqual([]);
    expect((await env.mail.listMessages(a, 'INBOX')).map((m) => m.id)).toEqual([appended[0].id, appended[2].id]);
    expect(st.used_messages).toBe(2);
    expect(st.used_bytes).toBe(appended[0].size + appended[2].size);
    const gone = await caught(env.mail.deleteMessage(a, appended[1].id));
    expect(gone.code).toBe('NOT_FOUND');
    expect((await env.mail.state(a)).modseq).toBe(st.modseq); // a failed change changes nothing
  });

  it('provisions an account on first use, and never again after its data was purged', async () => {
    const a = account();
    // Never provisioned (its partition was down when the account was made): first use does it.
    const m = await env.mail.appendMessage(a, 'INBOX', body('first use'));
    expect((await env.mail.listMailboxes(a)).map((x) => x.name)).toEqual(DEFAULT_MAILBOXES.map((x) => x.name));
    expect((await env.mail.listMessages(a, 'INBOX')).map((x) => x.id)).toEqual([m.id]);
    const b = account();
    expect(await env.mail.listMessages(b, 'INBOX')).toEqual([]);
    expect((await env.mail.state(b)).status).toBe('active');

    await env.mail.purge(a);
    expect(await count(pdb, 'messages', a.id)).toBe(0);
    expect(await count(pdb, 'mailboxes', a.id)).toBe(0);
    expect(await count(pdb, 'changes', a.id)).toBe(0);
    expect((await refRow(env, m.hash))?.refcount).toBe(0);
    // A delivery still holding the removed account is refused, not given a fresh mailbox.
    const e = await caught(env.mail.appendMessage(a, 'INBOX', body('after purge')));
    expect(e.code).toBe('UNAVAILABLE');
    expect((await caught(env.mail.listMessages(a, 'INBOX'))).code).toBe('NOT_FOUND');
    expect(await count(pdb, 'mailboxes', a.id)).toBe(0);
    expect((await env.mail.state(a)).status).toBe('moved');
  });

  it('GW-DOS-3: refuses an append beyond the quota with QUOTA_EXCEEDED and stores nothing', async () => {
    const a = account(1000);
    await env.mail.provision(a);
    const filler = (n: number, tag: string) => {
      const head = body(tag);
      const out = new Uint8Array(n).fill(0x78);
      out.set(head.subarray(0, Math.min(head.length, n)));
      return out;
    };
    await env.mail.appendMessage(a, 'INBOX', filler(600, 'q1'));
    const before = {
      messages: await count(pdb, 'messages', a.id), refs: await count(pdb, 'blob_refs'), blobs: (await allBlobs(env)).length,
      changes: await count(pdb, 'changes', a.id), state: await env.mail.state(a),
    };
    const over = filler(401, 'q2');
    const e = await caught(env.mail.appendMessage(a, 'INBOX', over));
    expect(e.code).toBe('QUOTA_EXCEEDED');
    expect(e.temporary).toBe(true);
    expect(await count(pdb, 'messages', a.id)).toBe(before.messages);
    expect(await count(pdb, 'blob_refs')).toBe(before.refs);
    expect((await allBlobs(env)).length).toBe(before.blobs);
    expect(await env.part.blobs.has(sha256(over))).toBe(false);
    expect(await count(pdb, 'changes', a.id)).toBe(before.changes);
    expect(await env.mail.state(a)).toEqual(before.state);
    // Exactly up to the quota is allowed.
    await env.mail.appendMessage(a, 'INBOX', filler(400, 'q3'));
    expect((await env.mail.state(a)).used_bytes).toBe(1000);
  });

  it('stores identical bodies once, counts references and collects only unreferenced blobs', async () => {
    const a = account();
    const b = account();
    await env.mail.provision(a);
    await env.mail.provision(b);
    const same = body('dedup');
    const hash = sha256(same);
    const keep = body('kept');
    const m1 = await env.mail.appendMessage(a, 'INBOX', same);
    const m2 = await env.mail.appendMessage(b, 'Archive', same);
    const m3 = await env.mail.appendMessage(a, 'INBOX', keep);
    expect(m1.hash).toBe(hash);
    expect(m2.hash).toBe(hash);
    expect((await allBlobs(env)).filter((h) => h === hash)).toHaveLength(1);
    expect((await refRow(env, hash))?.refcount).toBe(2);
    expect((await refRow(env, m3.hash))?.refcount).toBe(1);
    expect(Buffer.from(await env.mail.readMessage(b, m2.id)).equals(Buffer.from(same))).toBe(true);

    await env.mail.deleteMessage(a, m1.id);
    expect((await refRow(env, hash))?.refcount).toBe(1);
    expect((await refRow(env, hash))?.zero_since).toBeNull();
    await sleep(5);
    await env.part.blobs.collect(0);
    expect(await env.part.blobs.has(hash)).toBe(true);

    await env.mail.deleteMessage(b, m2.id);
    const zero = await refRow(env, hash);
    expect(zero?.refcount).toBe(0);
    expect(zero?.zero_since).toEqual(expect.any(Number));
    // Within the grace period nothing goes.
    expect(await env.part.blobs.collect(3_600_000)).toBe(0);
    expect(await env.part.blobs.has(hash)).toBe(true);
    await sleep(5);
    expect(await env.part.blobs.collect(0)).toBeGreaterThanOrEqual(1);
    expect(await env.part.blobs.has(hash)).toBe(false);
    expect(await refRow(env, hash)).toBeUndefined();
    expect(await env.part.blobs.has(m3.hash)).toBe(true);
    expect(Buffer.from(await env.mail.readMessage(a, m3.id)).equals(Buffer.from(keep))).toBe(true);
    const missing = await caught(env.part.blobs.get(hash));
    expect(missing.code).toBe('NOT_FOUND');
  });

  it('keeps a blob that a writer references again while a collection runs', async () => {
    const a = account();
    await env.mail.provision(a);
    const data = body('revived');
    const m = await env.mail.appendMessage(a, 'INBOX', data);
    await env.mail.deleteMessage(a, m.id);
    expect((await refRow(env, m.hash))?.refcount).toBe(0);
    await sleep(5);
    // A writer delivering the same body again, its transaction still open...
    const ref = await env.part.blobs.prepare(data);
    const trx = await pdb.startTransaction().execute();
    let collected: Promise<number> | undefined;
    try {
      await env.part.blobs.addRef(trx, ref);
      // ...while the collector considers the blob unreferenced since before its cut-off.
      collected = env.part.blobs.collect(0);
      await sleep(100);
      await trx.commit().execute();
    } catch (e) {
      await trx.rollback().execute();
      throw e;
    }
    await collected;
    expect((await refRow(env, m.hash))?.refcount).toBe(1);
    expect(await env.part.blobs.has(m.hash)).toBe(true);
    expect(Buffer.from(await env.part.blobs.get(m.hash)).equals(Buffer.from(data))).toBe(true);
  });

  it(`keeps bodies in the ${kind === 'sqlite' ? 'file' : 'database'} backend (blobs = auto)`, async () => {
    const a = account();
    await env.mail.provision(a);
    const data = body('backend');
    const m = await env.mail.appendMessage(a, 'INBOX', data);
    const file = path.join(env.dataDir, 'blobs', 'p1', m.hash.slice(0, 2), m.hash.slice(2, 4), m.hash);
    if (kind === 'sqlite') {
      expect(env.part.blobs.kind).toBe('files');
      expect((env.part.blobs as FileBlobStore).pathOf(m.hash)).toBe(file);
      expect(fs.existsSync(file)).toBe(true);
      expect(sha256(fs.readFileSync(file))).toBe(m.hash);
      expect(await count(pdb, 'blobs')).toBe(0);
    } else {
      expect(env.part.blobs.kind).toBe('database');
      const row = await pdb.selectFrom('blobs').selectAll().where('hash', '=', m.hash).executeTakeFirstOrThrow();
      expect(Buffer.from(row.data).equals(Buffer.from(data))).toBe(true);
      expect(sha256(row.data)).toBe(m.hash);
      expect(fs.existsSync(path.join(env.dataDir, 'blobs'))).toBe(false);
    }
  });

  it('collects a blob prepared but never committed only after the grace period', async () => {
    const data = body('orphan');
    const ref = await env.part.blobs.prepare(data);
    expect(ref.hash).toBe(sha256(data));
    if (env.part.blobs.kind === 'files') {
      const file = (env.part.blobs as FileBlobStore).pathOf(ref.hash);
      expect(fs.existsSync(file)).toBe(true);
      expect(await refRow(env, ref.hash)).toBeUndefined();
      await env.part.blobs.collect(60_000);
      expect(fs.existsSync(file)).toBe(true); // younger than the grace: a writer may be about to commit it
      const old = new Date(Date.now() - 120_000);
      fs.utimesSync(file, old, old);
      expect(await env.part.blobs.collect(60_000)).toBeGreaterThanOrEqual(1);
      expect(fs.existsSync(file)).toBe(false);
    } else {
      // The database backend writes the bytes in the transaction that references them:
      // a prepare() without a commit leaves nothing behind.
      expect(await env.part.blobs.has(ref.hash)).toBe(false);
      expect(await allBlobs(env)).not.toContain(ref.hash);
    }
    // A referenced blob survives any collection.
    const a = account();
    await env.mail.provision(a);
    const m = await env.mail.appendMessage(a, 'INBOX', body('referenced'));
    await sleep(5);
    await env.part.blobs.collect(0);
    expect(await env.part.blobs.has(m.hash)).toBe(true);
  });

  it('gives 20 concurrent appends to one account distinct uids and modseqs', async () => {
    const a = account();
    await env.mail.provision(a);
    const base = (await env.mail.state(a)).modseq;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => env.mail.appendMessage(a, 'INBOX', body(`parallel ${i}`))));
    const uids = results.map((r) => r.uid);
    const seqs = results.map((r) => r.modseq);
    const ids = results.map((r) => r.id);
    expect(new Set(uids).size).toBe(20);
    expect(new Set(seqs).size).toBe(20);
    expect(new Set(ids).size).toBe(20);
    expect([...uids].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => base + i + 1));
    const listed = await env.mail.listMessages(a, 'INBOX');
    expect(listed.map((m) => m.uid)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const st = await env.mail.state(a);
    expect(st.modseq).toBe(base + 20);
    expect(st.used_messages).toBe(20);
    const inbox = (await env.mail.listMailboxes(a)).find((m) => m.name === 'INBOX')!;
    expect(inbox.uidnext).toBe(21);
  });
});

describe('store conformance: sqlite file sharing', () => {
  it('opens one connection per SQLite file however its URL is spelt, shared by directory and partition', async () => {
    const tmp = tempDir('bulwark-conf-share-');
    const stores = await Stores.open(settings(tmp.dir, 'sqlite:bulwark.db', `sqlite:${path.join(tmp.dir, 'bulwark.db')}`));
    try {
      const part = stores.partition('p1');
      await part.open();
      // Two connections to one file would contend for its write lock (SQLITE_BUSY).
      expect(part.engine).toBe(stores.directoryEngine);
      const mail = new MailStore(stores);
      const a = account();
      await mail.provision(a);
      await mail.appendMessage(a, 'INBOX', body('shared file'));
      expect(await pendingMigrations(stores.directoryEngine, 'directory')).toEqual([]);
      expect(await pendingMigrations(stores.directoryEngine, 'partition')).toEqual([]);
    } finally {
      await stores.close();
      tmp.cleanup();
    }
  });
});
