// Foundation issue, point 4: moving an account between partitions (GW-EMG-3: "accounts can be
// moved to a healthy partition"), between two SQLite partitions and between two PostgreSQL
// partitions: every row and blob arrives with its ids, uids and modseqs, the source keeps
// only a 'moved' state row, the directory points to the target, the move is audited, and a
// writer appending all through the move loses nothing.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { Stores, type StoreSettings } from '../../src/store/stores.ts';
import type { PartitionDB } from '../../src/store/schema.ts';
import { sha256 } from '../../src/store/blob/index.ts';
import { MailStore } from '../../src/core/mail/mailstore.ts';
import { moveAccount } from '../../src/core/mail/move.ts';
import { Directory, type AccountInfo } from '../../src/core/directory/directory.ts';
import { systemActor } from '../../src/core/actor.ts';
import { DomainError, isDomainError } from '../../src/core/errors.ts';
import { readAudit } from '../../src/security/audit.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';

const PASSWORD = 'tr0ub4dor-and-3-staples';
const actor = systemActor('test');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let serial = 0;
const msg = (tag: string) => new TextEncoder().encode(`Subject: ${tag}\r\nX-Serial: ${++serial}\r\n\r\n${tag}\r\n`);

interface Env {
  kind: 'sqlite' | 'postgres';
  dataDir: string;
  stores: Stores;
  mail: MailStore;
  directory: Directory;
  cleanup(): Promise<void>;
}

function settings(dataDir: string, directoryUrl: string, p1: string, p2: string): StoreSettings {
  return {
    dataDir, directoryUrl, partitions: { p1, p2 }, blobBackend: 'auto', poolSize: 5, connectTimeoutMs: 3000, retryAfterMs: 500,
  };
}

async function build(kind: Env['kind'], dataDir: string, s: StoreSettings, drop: () => Promise<void>): Promise<Env> {
  const stores = await Stores.open(s);
  const mail = new MailStore(stores);
  const directory = new Directory(stores, mail, { limits: { defaultQuota: 0, maxListDepth: 8, maxExpansion: 1000 } });
  await directory.addDomain(actor, 'example.org');
  return {
    kind, dataDir, stores, mail, directory,
    async cleanup() {
      try {
        await stores.close();
      } finally {
        await drop();
      }
    },
  };
}

async function sqliteEnv(): Promise<Env> {
  const tmp = tempDir('bulwark-move-');
  return build('sqlite', tmp.dir, settings(tmp.dir, 'sqlite:directory.db', 'sqlite:p1.db', 'sqlite:p2.db'), async () => tmp.cleanup());
}

async function postgresEnv(): Promise<Env> {
  const tmp = tempDir('bulwark-move-');
  const dbs = await Promise.all([createTestDatabase('bwmove'), createTestDatabase('bwmove'), createTestDatabase('bwmove')]);
  return build('postgres', tmp.dir, settings(tmp.dir, dbs[0].url, dbs[1].url, dbs[2].url), async () => {
    await Promise.allSettled(dbs.map((d) => d.drop()));
    tmp.cleanup();
  });
}

function pdb(env: Env, name: string): Kysely<PartitionDB> {
  const e = env.stores.partition(name).engine;
  if (!e) throw new Error(`partition ${name} is not open`);
  return e.db as Kysely<PartitionDB>;
}

/** Everything the account has in one partition, in a stable order. */
async function snapshot(env: Env, part: string, accountId: number) {
  const db = pdb(env, part);
  return {
    state: await db.selectFrom('account_state').selectAll().where('account_id', '=', accountId).executeTakeFirst(),
    mailboxes: await db.selectFrom('mailboxes').selectAll().where('account_id', '=', accountId).orderBy('id').execute(),
    messages: await db.selectFrom('messages').selectAll().where('account_id', '=', accountId).orderBy('id').execute(),
    changes: await db.selectFrom('changes').selectAll().where('account_id', '=', accountId)
      .orderBy('modseq').orderBy('object_type').orderBy('object_id').execute(),
  };
}

async function refcount(env: Env, part: string, hash: string): Promise<number | undefined> {
  return (await pdb(env, part).selectFrom('blob_refs').select('refcount').where('hash', '=', hash).executeTakeFirst())?.refcount;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe.each([
  ['sqlite', sqliteEnv],
  ['postgres', postgresEnv],
] as const)('GW-EMG-3: moving an account between %s partitions', (kind, make) => {
  let env: Env;

  beforeAll(async () => {
    env = await make();
    await env.stores.openPartitions();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it('GW-EMG-3: moves every mailbox, message, change, modseq, uid and blob, and leaves only a moved marker behind', async () => {
    const erin = await env.directory.addAccount(actor, { address: 'erin@example.org', password: PASSWORD, partition: 'p1' });
    const frank = await env.directory.addAccount(actor, { address: 'frank@example.org', password: PASSWORD, partition: 'p1' });
    const shared = msg('shared with frank');
    const twice = msg('stored twice by erin');
    const bodies = new Map<number, Uint8Array>();
    const put = async (mailbox: string, data: Uint8Array, flags?: string[]) => {
      const r = await env.mail.appendMessage(erin, mailbox, data, { flags });
      bodies.set(r.id, data);
      return r;
    };
    for (let i = 0; i < 5; i++) await put('INBOX', msg(`inbox ${i}`), i % 2 ? ['\\Seen'] : []);
    await put('Archive', msg('archived'), ['\\Flagged', '$Label1']);
    const dup1 = await put('INBOX', twice);
    await put('Sent', twice);
    const sharedMsg = await put('INBOX', shared);
    const frankShared = await env.mail.appendMessage(frank, 'INBOX', shared);
    const gone = await put('Trash', msg('deleted before the move'));
    await env.mail.deleteMessage(erin, gone.id);
    bodies.delete(gone.id);
    const erinOnly = dup1.hash;
    expect(await refcount(env, 'p1', erinOnly)).toBe(2);
    expect(await refcount(env, 'p1', sharedMsg.hash)).toBe(2);

    const before = await snapshot(env, 'p1', erin.id);
    expect(before.messages).toHaveLength(9);
    const progress: string[] = [];
    const report = await moveAccount(env.stores, env.directory, actor, 'erin@example.org', 'p2', (m) => progress.push(m));
    expect(report).toMatchObject({ account: 'erin@example.org', from: 'p1', to: 'p2', blobs: 8 });
    expect(report.rows).toMatchObject({ messages: 9, mailboxes: before.mailboxes.length, changes: before.changes.length });
    expect(progress.length).toBeGreaterThan(0);

    // The directory points to the target.
    const moved = await env.directory.getAccount(actor, 'erin@example.org');
    expect(moved.partition).toBe('p2');

    // Everything arrived unchanged.
    const after = await snapshot(env, 'p2', erin.id);
    expect(after.mailboxes).toEqual(before.mailboxes);
    expect(after.messages).toEqual(before.messages);
    expect(after.changes).toEqual(before.changes);
    expect(after.changes.some((c) => c.op === 'destroy' && c.object_id === gone.id)).toBe(true);
    expect({ ...after.state, updated_at: 0 }).toEqual({ ...before.state, status: 'active', updated_at: 0 });
    for (const [id, data] of bodies) {
      expect(Buffer.from(await env.mail.readMessage(moved, id)).equals(Buffer.from(data))).toBe(true);
    }
    expect(await refcount(env, 'p2', erinOnly)).toBe(2);
    expect(await refcount(env, 'p2', sharedMsg.hash)).toBe(1);
    if (kind === 'sqlite') {
      for (const m of after.messages) {
        const file = path.join(env.dataDir, 'blobs', 'p2', m.blob_hash.slice(0, 2), m.blob_hash.slice(2, 4), m.blob_hash);
        expect(sha256(fs.readFileSync(file))).toBe(m.blob_hash);
      }
    } else {
      const rows = await pdb(env, 'p2').selectFrom('blobs').select(['hash', 'data']).execute();
      for (const m of after.messages) {
        const row = rows.find((r) => r.hash === m.blob_hash);
        expect(row && sha256(row.data)).toBe(m.blob_hash);
      }
    }

    // The source keeps only the 'moved' marker; its blob references are dropped.
    const src = await snapshot(env, 'p1', erin.id);
    expect(src.mailboxes).toEqual([]);
    expect(src.messages).toEqual([]);
    expect(src.changes).toEqual([]);
    expect(src.state).toMatchObject({ status: 'moved', used_bytes: 0, used_messages: 0 });
    expect(await refcount(env, 'p1', erinOnly)).toBe(0);
    expect(await refcount(env, 'p1', sharedMsg.hash)).toBe(1); // frank still has it
    await sleep(5);
    await env.stores.partition('p1').blobs.collect(0);
    expect(await env.stores.partition('p1').blobs.has(erinOnly)).toBe(false);
    expect(Buffer.from(await env.mail.readMessage(frank, frankShared.id)).equals(Buffer.from(shared))).toBe(true);

    // GW-LOG-1: the move is in the audit trail.
    const audit = await readAudit(env.stores.directory, { event: 'account.move' });
    const entry = audit.find((a) => a.object === 'erin@example.org');
    expect(entry).toBeDefined();
    expect(entry!.actor).toBe('system:test');
    expect(entry!.detail).toMatchObject({ from: 'p1', to: 'p2', messages: 9 });

    // A writer with the old view is refused (temporary), one with the new view carries on.
    const stale = await env.mail.appendMessage(erin, 'INBOX', msg('stale')).catch((e) => e);
    expect(isDomainError(stale, 'UNAVAILABLE')).toBe(true);
    expect((stale as DomainError).temporary).toBe(true);
    const next = await env.mail.appendMessage(moved, 'INBOX', msg('after the move'));
    const inboxUids = before.messages.filter((m) => m.mailbox_id === next.mailboxId).map((m) => m.uid);
    expect(next.uid).toBe(Math.max(...inboxUids) + 1);
    expect(next.modseq).toBe(before.state!.modseq + 1);
    expect(next.id).toBe(before.state!.next_id);
  });

  it('GW-EMG-3: a writer appending throughout the move loses nothing and duplicates nothing', async () => {
    const address = 'gina@example.org';
    const gina = await env.directory.addAccount(actor, { address, password: PASSWORD, partition: 'p1' });
    for (let i = 0; i < 20; i++) await env.mail.appendMessage(gina, 'INBOX', msg(`seed ${i}`));

    const acked: { id: number; hash: string }[] = [];
    let stop = false;
    const writer = (async () => {
      let acct: AccountInfo = await env.directory.getAccount(actor, address);
      let n = 0;
      while (!stop) {
        try {
          const r = await env.mail.appendMessage(acct, 'INBOX', msg(`writer ${n}`));
          acked.push({ id: r.id, hash: r.hash });
          n++;
        } catch (e) {
          if (!isDomainError(e, 'UNAVAILABLE')) throw e;
          acct = await env.directory.getAccount(actor, address); // where is it now?
        }
        await sleep(1);
      }
    })();

    let duringMove: Promise<unknown> | undefined;
    try {
      await waitFor('appends before the move', () => acked.length >= 5);
      const report = await moveAccount(env.stores, env.directory, actor, address, 'p2', (m) => {
        // While the data is copied the source is frozen: a write there must be refused.
        if (m.startsWith('copying') && !duringMove) duringMove = env.mail.appendMessage(gina, 'INBOX', msg('during the copy')).catch((e) => e);
      });
      expect(report.to).toBe('p2');
      const atSwitch = acked.length;
      await waitFor('appends after the move', () => acked.length >= atSwitch + 5);
    } finally {
      stop = true;
      await writer;
    }

    expect(duringMove).toBeDefined();
    const refusedDuring = await duringMove;
    expect(isDomainError(refusedDuring, 'UNAVAILABLE')).toBe(true);

    const moved = await env.directory.getAccount(actor, address);
    expect(moved.partition).toBe('p2');
    const target = await env.mail.listMessages(moved, 'INBOX');
    const ids = target.map((m) => m.id);
    const hashes = target.map((m) => m.blob_hash);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(hashes).size).toBe(hashes.length); // every body is unique: no message twice
    for (const a of acked) {
      expect(target.filter((m) => m.id === a.id && m.blob_hash === a.hash)).toHaveLength(1);
    }
    // Nothing that was refused got stored: seeds plus acknowledged appends, nothing else.
    expect(target).toHaveLength(20 + acked.length);
    const uids = target.map((m) => m.uid);
    expect(uids).toEqual(Array.from({ length: uids.length }, (_, i) => i + 1));
    const st = await env.mail.state(moved);
    expect(st.status).toBe('active');
    expect(st.used_messages).toBe(target.length);
    const src = await snapshot(env, 'p1', gina.id);
    expect(src.messages).toEqual([]);
    expect(src.state?.status).toBe('moved');
  });

  it('GW-EMG-3: a move that fails before the switch leaves the account where it was, active and complete', async () => {
    const ivan = await env.directory.addAccount(actor, { address: 'ivan@example.org', password: PASSWORD, partition: 'p1' });
    for (let i = 0; i < 3; i++) await env.mail.appendMessage(ivan, 'INBOX', msg(`ivan ${i}`));
    const before = await snapshot(env, 'p1', ivan.id);
    class FailingDirectory extends Directory {
      override async switchPartition(): Promise<void> {
        throw new DomainError('UNAVAILABLE', 'primary store went away');
      }
    }
    const failing = new FailingDirectory(env.stores, env.mail, { limits: { defaultQuota: 0, maxListDepth: 8, maxExpansion: 1000 } });
    const e = await moveAccount(env.stores, failing, actor, 'ivan@example.org', 'p2').catch((x) => x);
    expect(isDomainError(e, 'UNAVAILABLE')).toBe(true);
    expect((await env.directory.getAccount(actor, 'ivan@example.org')).partition).toBe('p1');
    expect(await snapshot(env, 'p1', ivan.id)).toEqual({ ...before, state: { ...before.state, updated_at: expect.any(Number) } });
    expect((await env.mail.state(ivan)).status).toBe('active');
    const copy = await snapshot(env, 'p2', ivan.id);
    expect(copy.state).toBeUndefined();
    expect(copy.messages).toEqual([]);
    for (const m of before.messages) expect(await refcount(env, 'p2', m.blob_hash)).toBe(0); // the partial copy's references are gone
    await env.mail.appendMessage(ivan, 'INBOX', msg('ivan still writes to p1'));
    // And the move can simply be run again.
    await moveAccount(env.stores, env.directory, actor, 'ivan@example.org', 'p2');
    const moved = await env.directory.getAccount(actor, 'ivan@example.org');
    expect(moved.partition).toBe('p2');
    expect(await env.mail.listMessages(moved, 'INBOX')).toHaveLength(4);
  });

  it('GW-EMG-3: a switch whose answer was lost after it committed still completes the move', async () => {
    const jo = await env.directory.addAccount(actor, { address: 'jo@example.org', password: PASSWORD, partition: 'p1' });
    const m = await env.mail.appendMessage(jo, 'INBOX', msg('jo'));
    class LostAnswerDirectory extends Directory {
      override async switchPartition(...args: Parameters<Directory['switchPartition']>): Promise<void> {
        await super.switchPartition(...args);
        throw new DomainError('UNAVAILABLE', 'connection lost after COMMIT');
      }
    }
    const lossy = new LostAnswerDirectory(env.stores, env.mail, { limits: { defaultQuota: 0, maxListDepth: 8, maxExpansion: 1000 } });
    const report = await moveAccount(env.stores, lossy, actor, 'jo@example.org', 'p2');
    expect(report.to).toBe('p2');
    const moved = await env.directory.getAccount(actor, 'jo@example.org');
    expect(moved.partition).toBe('p2');
    expect((await env.mail.state(moved)).status).toBe('active');
    expect((await env.mail.listMessages(moved, 'INBOX')).map((x) => x.id)).toEqual([m.id]);
    expect((await snapshot(env, 'p1', jo.id)).state?.status).toBe('moved');
  });

  it('GW-EMG-3: running the move again finishes one interrupted after the switch (target frozen, old rows left)', async () => {
    const kim = await env.directory.addAccount(actor, { address: 'kim@example.org', password: PASSWORD, partition: 'p1' });
    const m = await env.mail.appendMessage(kim, 'INBOX', msg('kim'));
    await moveAccount(env.stores, env.directory, actor, 'kim@example.org', 'p2');
    // Put both sides back into the state a crash after the switch leaves behind.
    await env.stores.partition('p2').tx('freeze', (trx) => trx.updateTable('account_state').set({ status: 'frozen' }).where('account_id', '=', kim.id).execute());
    await env.stores.partition('p1').tx('leftover', async (trx) => {
      await trx.updateTable('account_state').set({ status: 'frozen' }).where('account_id', '=', kim.id).execute();
      await trx.insertInto('mailboxes').values({ account_id: kim.id, id: 999, name: 'Leftover', special_use: null, uidvalidity: 1, uidnext: 1, modseq: 1, created_at: 0 }).execute();
    });
    const moved = await env.directory.getAccount(actor, 'kim@example.org');
    await expect(env.mail.appendMessage(moved, 'INBOX', msg('refused while frozen'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const r = await moveAccount(env.stores, env.directory, actor, 'kim@example.org', 'p2');
    expect(r).toMatchObject({ resumed: true, from: 'p1', to: 'p2' });
    expect((await env.mail.state(moved)).status).toBe('active');
    expect((await env.mail.listMessages(moved, 'INBOX')).map((x) => x.id)).toEqual([m.id]);
    await env.mail.appendMessage(moved, 'INBOX', msg('writable again'));
    const left = await snapshot(env, 'p1', kim.id);
    expect(left.state?.status).toBe('moved');
    expect(left.mailboxes).toEqual([]);
    // nothing to finish now: a plain "already there"
    expect(isDomainError(await moveAccount(env.stores, env.directory, actor, 'kim@example.org', 'p2').catch((x) => x), 'INVALID_INPUT')).toBe(true);
  });

  it('refuses a move to the same partition or an unknown one with INVALID_INPUT and changes nothing', async () => {
    const hana = await env.directory.addAccount(actor, { address: 'hana@example.org', password: PASSWORD, partition: 'p1' });
    const m = await env.mail.appendMessage(hana, 'INBOX', msg('stays'));
    for (const to of ['p1', 'nowhere']) {
      const e = await moveAccount(env.stores, env.directory, actor, 'hana@example.org', to).catch((x) => x);
      expect(isDomainError(e, 'INVALID_INPUT')).toBe(true);
    }
    expect((await env.directory.getAccount(actor, 'hana@example.org')).partition).toBe('p1');
    expect((await env.mail.state(hana)).status).toBe('active');
    expect((await env.mail.listMessages(hana, 'INBOX')).map((x) => x.id)).toEqual([m.id]);
    await env.mail.appendMessage(hana, 'INBOX', msg('still writable'));
    const audit = await readAudit(env.stores.directory, { event: 'account.move' });
    expect(audit.some((a) => a.object === 'hana@example.org')).toBe(false);
  });
});
