// Foundation issue, point 4: partition isolation (GW-EMG-3). While one partition cannot be
// reached, calls for its accounts fail with UNAVAILABLE (temporary) and every other
// partition keeps working; once the partition is back and retry_after_ms has passed, its
// accounts work again. (a) two real PostgreSQL partitions, the second reached through a TCP
// proxy that the test stops and restarts; (b) two SQLite files.
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stores, type StoreSettings } from '../../src/store/stores.ts';
import { MailStore, DEFAULT_MAILBOXES } from '../../src/core/mail/mailstore.ts';
import { Directory, type AccountInfo } from '../../src/core/directory/directory.ts';
import { systemActor } from '../../src/core/actor.ts';
import { DomainError } from '../../src/core/errors.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';
import { TcpProxy } from '../harness/proxy.ts';

const RETRY_AFTER_MS = 600;
const PASSWORD = 'tr0ub4dor-and-3-staples';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const msg = (tag: string) => new TextEncoder().encode(`Subject: ${tag}\r\n\r\n${tag} ${Math.random()}\r\n`);

/** Expects the call to fail with UNAVAILABLE, a temporary error. */
async function expectUnavailable(p: Promise<unknown>): Promise<DomainError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'the call should have failed').toBeInstanceOf(DomainError);
  const de = err as DomainError;
  expect(de.code).toBe('UNAVAILABLE');
  expect(de.temporary).toBe(true);
  return de;
}


function directoryFor(stores: Stores, mail: MailStore): Directory {
  return new Directory(stores, mail, { limits: { defaultQuota: 0, maxListDepth: 8, maxExpansion: 1000 } });
}

describe('GW-EMG-3: a PostgreSQL partition down affects only its accounts', () => {
  const proxy = new TcpProxy();
  const dbs: { drop: () => Promise<void> }[] = [];
  const tmp = tempDir('bulwark-pdown-');
  let stores: Stores;
  let mail: MailStore;
  let directory: Directory;
  let alice: AccountInfo; // p1
  let bob: AccountInfo; // p2, behind the proxy

  beforeAll(async () => {
    const [dir, p1, p2] = await Promise.all([createTestDatabase('bwpd'), createTestDatabase('bwpd'), createTestDatabase('bwpd')]);
    dbs.push(dir, p1, p2);
    await proxy.start();
    const viaProxy = new URL(p2.url);
    viaProxy.port = String(proxy.port);
    const s: StoreSettings = {
      dataDir: tmp.dir, directoryUrl: dir.url, partitions: { p1: p1.url, p2: viaProxy.toString() },
      blobBackend: 'auto', poolSize: 4, connectTimeoutMs: 2000, retryAfterMs: RETRY_AFTER_MS,
    };
    stores = await Stores.open(s);
    mail = new MailStore(stores);
    directory = directoryFor(stores, mail);
    const actor = systemActor('test');
    await directory.addDomain(actor, 'example.org');
    alice = await directory.addAccount(actor, { address: 'alice@example.org', password: PASSWORD, partition: 'p1' });
    bob = await directory.addAccount(actor, { address: 'bob@example.org', password: PASSWORD, partition: 'p2' });
    expect(alice.partition).toBe('p1');
    expect(bob.partition).toBe('p2');
  });

  afterAll(async () => {
    await proxy.stop();
    await stores?.close().catch(() => {});
    await Promise.allSettled(dbs.map((d) => d.drop()));
    tmp.cleanup();
  });

  it('GW-EMG-3: stopping p2 fails its calls with UNAVAILABLE while p1 keeps working; p2 recovers after retry_after_ms', async () => {
    await mail.appendMessage(alice, 'INBOX', msg('alice before'));
    const bobBefore = await mail.appendMessage(bob, 'INBOX', msg('bob before'));
    expect(stores.partition('p2').status).toBe('up');

    await proxy.stop();

    await expectUnavailable(mail.appendMessage(bob, 'INBOX', msg('bob while down')));
    await expectUnavailable(mail.listMessages(bob, 'INBOX'));
    await expectUnavailable(mail.appendMessage(bob, 'INBOX', msg('bob while down 2')));
    expect(stores.partition('p2').status).toBe('down');
    expect(stores.partition('p2').lastError).not.toBe('');

    // The other partition and the directory are untouched.
    const a = await mail.appendMessage(alice, 'INBOX', msg('alice while p2 down'));
    const aliceList = await mail.listMessages(alice, 'INBOX');
    expect(aliceList.map((m) => m.id)).toContain(a.id);
    expect(aliceList).toHaveLength(2);
    expect(stores.partition('p1').status).toBe('up');
    expect((await directory.getAccount(systemActor('test'), 'bob@example.org')).partition).toBe('p2');
    expect((await stores.openPartitions()).map((f) => f.name)).toEqual(['p2']);

    await proxy.start();
    await sleep(RETRY_AFTER_MS + 200);

    const after = await mail.appendMessage(bob, 'INBOX', msg('bob after'));
    expect(stores.partition('p2').status).toBe('up');
    const bobList = await mail.listMessages(bob, 'INBOX');
    // Nothing that failed was stored; everything acknowledged is there.
    expect(bobList.map((m) => m.id)).toEqual([bobBefore.id, after.id]);
    expect(after.uid).toBe(bobBefore.uid + 1);
  });

  it('GW-EMG-3: a connection lost inside a transaction fails that call with UNAVAILABLE and nothing else', async () => {
    const p2 = stores.partition('p2');
    await mail.appendMessage(bob, 'INBOX', msg('bob warm-up'));
    const before = (await mail.state(bob)).modseq;
    const inFlight = p2.tx('test transaction', async (trx) => {
      await trx.updateTable('account_state').set({ updated_at: Date.now() }).where('account_id', '=', bob.id).execute();
      // The server goes away while this client is lent out to the transaction.
      await proxy.stop();
      await sleep(100);
      await trx.selectFrom('account_state').selectAll().where('account_id', '=', bob.id).execute();
    });
    await expectUnavailable(inFlight);
    await expectUnavailable(mail.listMessages(bob, 'INBOX'));

    const a = await mail.appendMessage(alice, 'INBOX', msg('alice after lost connection'));
    expect((await mail.listMessages(alice, 'INBOX')).map((m) => m.id)).toContain(a.id);

    await proxy.start();
    await sleep(RETRY_AFTER_MS + 200);
    expect((await mail.state(bob)).modseq).toBe(before);
    await mail.appendMessage(bob, 'INBOX', msg('bob after lost connection'));
    expect((await mail.state(bob)).modseq).toBe(before + 1);
  });
});

describe('GW-EMG-3: a SQLite partition down affects only its accounts', () => {
  const tmp = tempDir('bulwark-pdown-sqlite-');
  const p2File = path.join(tmp.dir, 'p2.db');
  let stores: Stores;
  let mail: MailStore;
  let directory: Directory;
  let carol: AccountInfo; // p1
  let dave: AccountInfo; // p2

  beforeAll(async () => {
    // p2 starts out as a file that is not a database at all.
    fs.writeFileSync(p2File, Buffer.alloc(8192, 'this is not an SQLite database. '));
    stores = await Stores.open({
      dataDir: tmp.dir, directoryUrl: 'sqlite:directory.db', partitions: { p1: 'sqlite:p1.db', p2: 'sqlite:p2.db' },
      blobBackend: 'auto', poolSize: 1, connectTimeoutMs: 2000, retryAfterMs: RETRY_AFTER_MS, busyTimeoutMs: 100,
    });
    mail = new MailStore(stores);
    directory = directoryFor(stores, mail);
    const actor = systemActor('test');
    await directory.addDomain(actor, 'example.net');
    carol = await directory.addAccount(actor, { address: 'carol@example.net', password: PASSWORD, partition: 'p1' });
    // Created in the directory although its partition cannot be opened: provisioned on first use.
    dave = await directory.addAccount(actor, { address: 'dave@example.net', password: PASSWORD, partition: 'p2' });
  });

  afterAll(async () => {
    await stores?.close();
    tmp.cleanup();
  });

  it('GW-EMG-3: a partition file that is not a database gives UNAVAILABLE; p1 works; p2 recovers once fixed', async () => {
    await expectUnavailable(mail.appendMessage(dave, 'INBOX', msg('dave broken')));
    await expectUnavailable(mail.listMessages(dave, 'INBOX'));
    expect(stores.partition('p2').status).toBe('down');

    const c = await mail.appendMessage(carol, 'INBOX', msg('carol'));
    expect((await mail.listMessages(carol, 'INBOX')).map((m) => m.id)).toEqual([c.id]);

    // The operator replaces the broken file.
    fs.rmSync(p2File);
    await sleep(RETRY_AFTER_MS + 200);
    const d = await mail.appendMessage(dave, 'INBOX', msg('dave fixed'));
    expect(stores.partition('p2').status).toBe('up');
    expect((await mail.listMailboxes(dave)).map((m) => m.name)).toEqual(DEFAULT_MAILBOXES.map((m) => m.name));
    expect((await mail.listMessages(dave, 'INBOX')).map((m) => m.id)).toEqual([d.id]);
  });

  it('GW-EMG-3: a partition whose write lock another process holds gives UNAVAILABLE; p1 works; p2 recovers', async () => {
    const before = await mail.listMessages(dave, 'INBOX');
    const locker = new DatabaseSync(p2File);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      await expectUnavailable(mail.appendMessage(dave, 'INBOX', msg('dave locked')));
      await expectUnavailable(mail.listMessages(dave, 'INBOX'));
      expect(stores.partition('p2').status).toBe('down');

      const c = await mail.appendMessage(carol, 'INBOX', msg('carol while p2 locked'));
      expect((await mail.listMessages(carol, 'INBOX')).map((m) => m.id)).toContain(c.id);
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
    await sleep(RETRY_AFTER_MS + 200);
    const d = await mail.appendMessage(dave, 'INBOX', msg('dave unlocked'));
    expect((await mail.listMessages(dave, 'INBOX')).map((m) => m.id)).toEqual([...before.map((m) => m.id), d.id]);
  });
});
