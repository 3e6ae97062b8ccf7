/**
 * Moves an account's data from one partition to another: freeze, copy, verify, switch,
 * delete. Nothing written during the move is lost: while the account is frozen its writers
 * get UNAVAILABLE (a temporary error: SMTP senders and clients retry) and after the switch
 * they find the account in its new partition.
 *
 * Steps, each one transaction:
 * 1. freeze the source (status 'frozen'; waits for in-flight writers, which hold the
 *    account_state row lock from their first statement);
 * 2. copy every row and blob into the target (state 'frozen' there too);
 * 3. verify: row counts and a digest of every row equal on both sides, every blob present;
 * 4. switch the directory to the target (audited) and unfreeze the target;
 * 5. delete the data from the source, leaving a 'moved' state row so that a writer with a
 *    stale view is refused there instead of recreating the account.
 * A failure before step 4 unfreezes the source and removes the partial copy, unless the
 * directory shows that the switch did commit (its answer was lost): then the move finishes.
 * When even that cannot be told, both sides stay frozen and the move can be run again.
 */
import crypto from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Stores, Partition } from '../../store/stores.ts';
import type { PartitionDB } from '../../store/schema.ts';
import type { Directory, AccountInfo } from '../directory/directory.ts';
import { requireAdmin, type Actor } from '../actor.ts';
import { DomainError, invalid } from '../errors.ts';
import { ftsDeleteAccount } from '../../store/fts.ts';
import { ROW_ORDER as DAV_ROW_ORDER } from '../../store/migrations/0005-partition-dav.ts';

const ACCOUNT_TABLES = ['mailboxes', 'messages', 'changes', 'expunged', 'subscriptions', 'dav_collections', 'dav_objects', 'dav_tombstones'] as const;
type AccountTable = (typeof ACCOUNT_TABLES)[number];

export interface MoveReport {
  account: string;
  from: string;
  to: string;
  rows: Record<string, number>;
  blobs: number;
  bytes: number;
  /** True when this run finished an earlier, interrupted move. */
  resumed?: boolean;
}

async function readAccount(db: Kysely<PartitionDB> | Transaction<PartitionDB>, accountId: number) {
  const state = await db.selectFrom('account_state').selectAll().where('account_id', '=', accountId).executeTakeFirst();
  const rows = Object.fromEntries(ACCOUNT_TABLES.map((t) => [t, []])) as unknown as Record<AccountTable, Record<string, unknown>[]>;
  const order: Record<string, string[]> = {
    mailboxes: ['id'], messages: ['id'], changes: ['modseq', 'object_type', 'object_id'], expunged: ['mailbox_id', 'uid'], subscriptions: ['name'],
    ...DAV_ROW_ORDER,
  };
  for (const t of ACCOUNT_TABLES) {
    let q = (db as Kysely<any>).selectFrom(t).selectAll().where('account_id', '=', accountId);
    for (const c of order[t]) q = q.orderBy(c);
    rows[t] = await q.execute();
  }
  return { state, rows };
}

function digest(rows: Record<string, unknown>[]): string {
  const h = crypto.createHash('sha256');
  for (const r of rows) {
    const keys = Object.keys(r).sort();
    h.update(JSON.stringify(keys.map((k) => [k, typeof r[k] === 'bigint' ? Number(r[k]) : r[k]])));
    h.update('\n');
  }
  return h.digest('hex');
}

/** Every row of the account in the partition (blob references dropped), but not its state row. */
export async function deleteAccountRows(trx: Transaction<PartitionDB>, part: Partition, accountId: number): Promise<void> {
  const msgs = await trx.deleteFrom('messages').where('account_id', '=', accountId).returning('blob_hash').execute();
  for (const m of msgs) await part.blobs.dropRef(trx, m.blob_hash);
  for (const t of ACCOUNT_TABLES) {
    if (t !== 'messages') await (trx as Transaction<any>).deleteFrom(t).where('account_id', '=', accountId).execute();
  }
  await ftsDeleteAccount(trx, part.engine!.kind, accountId);
}

async function setStatus(part: Partition, accountId: number, from: string[], to: string): Promise<boolean> {
  return part.tx('set account status', async (trx) => {
    const r = await trx.updateTable('account_state').set({ status: to as 'active' | 'frozen' | 'moved', updated_at: Date.now() })
      .where('account_id', '=', accountId).where('status', 'in', from as ('active' | 'frozen' | 'moved')[]).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  });
}

/**
 * A move that failed after the directory switch (while unfreezing the target or cleaning the
 * source) left the account frozen in its new partition. Running the move again finishes it:
 * the target is unfrozen and any other partition still holding the account's rows is
 * cleaned. Returns null when there was nothing to finish.
 */
async function finishInterruptedMove(stores: Stores, account: AccountInfo, progress: (msg: string) => void): Promise<MoveReport | null> {
  const dst = stores.partition(account.partition);
  const st = await dst.run('read state', (db) => db.selectFrom('account_state').select('status').where('account_id', '=', account.id).executeTakeFirst());
  if (st?.status !== 'frozen') return null;
  progress(`finishing an interrupted move of ${account.address} into ${account.partition}`);
  await setStatus(dst, account.id, ['frozen'], 'active');
  let from = '';
  for (const p of stores.partitions.values()) {
    if (p.name === account.partition) continue;
    await p.open();
    if (p.engine === dst.engine) continue;
    const left = await p.run('read state', (db) => db.selectFrom('account_state').select('status').where('account_id', '=', account.id).executeTakeFirst());
    if (!left || left.status === 'moved') continue;
    from = p.name;
    progress(`removing the account's old data from ${p.name}`);
    await p.tx('delete moved account', async (trx) => {
      await deleteAccountRows(trx, p, account.id);
      await trx.updateTable('account_state').set({ status: 'moved', used_bytes: 0, used_messages: 0, updated_at: Date.now() })
        .where('account_id', '=', account.id).execute();
    });
  }
  return { account: account.address, from, to: account.partition, rows: {}, blobs: 0, bytes: 0, resumed: true };
}

export async function moveAccount(
  stores: Stores, directory: Directory, actor: Actor, address: string, to: string,
  progress: (msg: string) => void = () => {},
): Promise<MoveReport> {
  requireAdmin(actor, 'moving an account');
  const account: AccountInfo = await directory.getAccount(actor, address);
  const from = account.partition;
  if (!stores.partitions.has(to)) throw invalid(`partition "${to}" is not configured; known: ${[...stores.partitions.keys()].join(', ')}`);
  if (from === to) {
    const resumed = await finishInterruptedMove(stores, account, progress);
    if (resumed) return resumed;
    throw invalid(`${account.address} is already in partition ${to}`);
  }
  const src = stores.partition(from);
  const dst = stores.partition(to);
  await src.open();
  await dst.open();
  if (src.engine === dst.engine) throw invalid(`partitions ${from} and ${to} are the same database`);

  progress(`freezing ${account.address} in ${from}`);
  if (!(await setStatus(src, account.id, ['active'], 'frozen'))) {
    const st = await src.run('read state', (db) => db.selectFrom('account_state').select('status').where('account_id', '=', account.id).executeTakeFirst());
    if (st?.status !== 'frozen') throw new DomainError('CONFLICT', `${account.address} has no active data in ${from}`);
    progress('the account was left frozen by an interrupted move; continuing');
  }
  let switched = false;
  let undecided = false;
  try {
    const data = await src.run('read account', (db) => readAccount(db, account.id));
    if (!data.state) throw new DomainError('CONFLICT', 'account state vanished during the move');
    const hashes = [...new Set(data.rows.messages.map((m) => m.blob_hash as string))];

    // Blobs first: durable in the target before any row there references them.
    const refs = new Map<string, Awaited<ReturnType<typeof dst.blobs.prepare>>>();
    let bytes = 0;
    let i = 0;
    for (const h of hashes) {
      const buf = await src.blobs.get(h);
      refs.set(h, await dst.blobs.prepare(buf));
      bytes += buf.byteLength;
      if (++i % 500 === 0) progress(`blobs ${i}/${hashes.length}`);
    }
    progress(`copying ${data.rows.messages.length} messages, ${data.rows.mailboxes.length} mailboxes, ${hashes.length} blobs`);
    await dst.tx('copy account', async (trx) => {
      await deleteAccountRows(trx, dst, account.id);
      await trx.deleteFrom('account_state').where('account_id', '=', account.id).execute();
      await trx.insertInto('account_state').values({ ...data.state!, status: 'frozen', updated_at: Date.now() }).execute();
      for (const t of ACCOUNT_TABLES) {
        for (const r of data.rows[t]) await (trx as Transaction<any>).insertInto(t).values(r).execute();
      }
      for (const m of data.rows.messages) await dst.blobs.addRef(trx, refs.get(m.blob_hash as string)!);
    });

    progress('verifying the copy');
    const copy = await dst.run('read copy', (db) => readAccount(db, account.id));
    const counts: Record<string, number> = {};
    for (const t of ACCOUNT_TABLES) {
      counts[t] = data.rows[t].length;
      if (copy.rows[t].length !== data.rows[t].length || digest(copy.rows[t]) !== digest(data.rows[t])) {
        throw new DomainError('INTEGRITY', `copy of ${t} differs from the source`);
      }
    }
    if (copy.state?.modseq !== data.state.modseq || copy.state?.next_id !== data.state.next_id) throw new DomainError('INTEGRITY', 'account state differs after copy');
    for (const h of hashes) {
      if (!(await dst.blobs.has(h))) throw new DomainError('INTEGRITY', `blob ${h.slice(0, 12)}… missing in ${to}`);
    }

    try {
      await directory.switchPartition(actor, account.id, from, to, { messages: counts.messages, blobs: hashes.length, bytes });
    } catch (e) {
      // The switch may have committed although its answer was lost (a connection dropped
      // after COMMIT). Removing the copy then would leave the directory pointing at an empty
      // partition, so look first. When the directory cannot be read either, leave both sides
      // frozen (writers get UNAVAILABLE, nothing is lost) for the operator to run the move again.
      let pointsTo: string | null | undefined;
      try {
        pointsTo = (await directory.accountById(account.id))?.partition ?? null;
      } catch {
        undecided = true;
        throw e;
      }
      if (pointsTo !== to) throw e;
    }
    switched = true;
    // The full-text index is derived data and does not travel: the target's indexer rebuilds it.
    await dst.run('mark moved messages unindexed', (db) => db.updateTable('messages').set({ text_indexed: 0 }).where('account_id', '=', account.id).execute());
    await setStatus(dst, account.id, ['frozen'], 'active');
    progress(`switched ${account.address} to ${to}; removing the data from ${from}`);

    await src.tx('delete moved account', async (trx) => {
      await deleteAccountRows(trx, src, account.id);
      await trx.updateTable('account_state').set({ status: 'moved', used_bytes: 0, used_messages: 0, updated_at: Date.now() })
        .where('account_id', '=', account.id).execute();
    });
    return { account: account.address, from, to, rows: counts, blobs: hashes.length, bytes };
  } catch (e) {
    if (!switched && !undecided) {
      await dst.tx('remove partial copy', async (trx) => {
        await deleteAccountRows(trx, dst, account.id);
        await trx.deleteFrom('account_state').where('account_id', '=', account.id).where('status', '=', 'frozen').execute();
      }).catch(() => {});
      await setStatus(src, account.id, ['frozen'], 'active').catch(() => {});
    }
    throw e;
  }
}
