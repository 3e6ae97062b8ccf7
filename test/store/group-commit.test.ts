// Issue 6 point 2 (faults): when the engine itself rolls back a group-commit transaction
// (SQLite does on SQLITE_FULL and SQLITE_IOERR inside a statement), every caller of the batch
// must learn of it with the error that did it, mapped as usual (here a full disk:
// STORAGE_FULL, temporary), not with the "no such savepoint" of the cleanup after it.
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { Stores } from '../../src/store/stores.ts';
import { DomainError } from '../../src/core/errors.ts';
import { tempDir } from '../harness/tmp.ts';

describe('group commit when the engine rolled the transaction back', () => {
  const tmp = tempDir('bulwark-group-');
  let stores: Stores;
  afterAll(async () => {
    await stores?.close();
    tmp.cleanup();
  });

  it('gives every caller of the batch the original error, mapped, and the partition works on', async () => {
    stores = await Stores.open({ dataDir: tmp.dir, directoryUrl: 'sqlite:directory.db', partitions: { p1: 'sqlite:p1.db' }, blobBackend: 'auto', poolSize: 2, connectTimeoutMs: 3000, retryAfterMs: 500 });
    const part = stores.partition('p1');
    await part.open();
    // The first caller's work ends the transaction the way SQLite does, then fails like a full disk.
    const full = Object.assign(new Error('database or disk is full'), { code: 'ERR_SQLITE_ERROR', errcode: 13 });
    const results = await Promise.allSettled([
      part.groupTx('a', async (trx) => { await sql`select 1`.execute(trx); await sql`rollback`.execute(trx); throw full; }),
      part.groupTx('b', async (trx) => sql`select 2 as n`.execute(trx)),
    ]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason;
      expect(e).toBeInstanceOf(DomainError);
      expect((e as DomainError).code).toBe('STORAGE_FULL');
      expect((e as DomainError).temporary).toBe(true);
    }
    // nothing is left open: the next batch commits
    await expect(part.groupTx('c', async (trx) => (await sql<{ n: number }>`select 3 as n`.execute(trx)).rows[0].n)).resolves.toBe(3);
  });
});
