/**
 * The full-text indexer: puts the text of messages into the partition's index
 * (store/fts.ts) after they are stored, in its own transactions, so that delivery never waits
 * for it. Messages carry text_indexed = 0 until they are in; a search first indexes whatever
 * of its mailbox is still pending (catchUp), so an index that lags never makes a search miss.
 *
 * Invariants:
 * - A document is written in the same transaction that sets text_indexed = 1, and only when
 *   that update found the row still unindexed: a message deleted or indexed meanwhile
 *   (another node, another pass) gets no stray document.
 * - Bounded work per transaction (BATCH messages, at most BATCH_BYTES of bodies read).
 * - Background passes run one at a time per partition; failures are logged and retried on
 *   the next kick, never thrown at the caller.
 */
import type { Logger } from 'pino';
import type { Partition, Stores } from '../../store/stores.ts';
import { ftsInsert } from '../../store/fts.ts';
import { parseMessage } from '../../lib/mime/index.ts';
import { extractText, indexDocument } from '../../lib/mime/text.ts';
import type { AccountRef, MailStore } from './mailstore.ts';

const BATCH = 200;
const BATCH_BYTES = 16 * 1024 * 1024;

export class TextIndexer {
  readonly #mail: MailStore;
  readonly #stores: Stores;
  readonly #log: Logger;
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  #stopped = false;

  constructor(mail: MailStore, stores: Stores, log: Logger) {
    this.#mail = mail;
    this.#stores = stores;
    this.#log = log;
  }

  /** Schedules a background pass over the partition (after a delivery or copy). */
  kick(partition: string): void {
    if (this.#stopped) return;
    if (this.#running.has(partition)) {
      this.#again.add(partition);
      return;
    }
    const p = new Promise<void>((res) => setTimeout(res, 20))
      .then(async () => { await this.#drain(this.#stores.partition(partition)); })
      .catch((e) => this.#log.warn({ partition, err: (e as Error).message }, 'fts.index.failed'))
      .finally(() => {
        this.#running.delete(partition);
        if (this.#again.delete(partition)) this.kick(partition);
      });
    this.#running.set(partition, p);
  }

  /** Indexes everything pending in one mailbox now. */
  async catchUp(account: AccountRef, mailboxId: number): Promise<void> {
    const part = this.#mail.partitionOf(account);
    while ((await this.#pass(part, { accountId: account.id, mailboxId })).more) { /* next batch */ }
  }

  /** Indexes everything pending in a partition (maintenance, after restore or a move). */
  async indexAll(partition: string): Promise<number> {
    return this.#drain(this.#stores.partition(partition));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#running.values()]);
  }

  async #drain(part: Partition): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.#stopped) return total;
      const r = await this.#pass(part, {});
      total += r.done;
      if (!r.more) return total;
    }
  }

  /** One transaction's worth: how many it indexed, and whether more may be pending. */
  async #pass(part: Partition, where: { accountId?: number; mailboxId?: number }): Promise<{ done: number; more: boolean }> {
    const rows = await part.run('read unindexed messages', (db) => {
      let q = db.selectFrom('messages').select(['account_id', 'id', 'blob_hash', 'size']).where('text_indexed', '=', 0);
      if (where.accountId !== undefined) q = q.where('account_id', '=', where.accountId);
      if (where.mailboxId !== undefined) q = q.where('mailbox_id', '=', where.mailboxId);
      return q.limit(BATCH).execute();
    });
    if (rows.length === 0) return { done: 0, more: false };
    const docs: { accountId: number; id: number; header: string; body: string }[] = [];
    let bytes = 0;
    for (const r of rows) {
      if (bytes > BATCH_BYTES && docs.length > 0) break;
      let raw: Buffer;
      try {
        raw = await part.blobs.get(r.blob_hash);
      } catch (e) {
        // A body that cannot be read is indexed empty rather than retried forever; verify reports it.
        this.#log.warn({ partition: part.name, account: r.account_id, id: r.id, err: (e as Error).message }, 'fts.index.unreadable');
        raw = Buffer.alloc(0);
      }
      bytes += raw.byteLength;
      const doc = indexDocument(extractText(raw, parseMessage(raw)));
      docs.push({ accountId: r.account_id, id: r.id, ...doc });
    }
    await part.tx('index messages', async (trx) => {
      for (const d of docs) {
        const u = await trx.updateTable('messages').set({ text_indexed: 1 }).where('account_id', '=', d.accountId).where('id', '=', d.id).where('text_indexed', '=', 0).executeTakeFirst();
        if (Number(u.numUpdatedRows) === 0) continue;
        await ftsInsert(trx, part.engine!.kind, d.accountId, d.id, d);
      }
    });
    return { done: docs.length, more: rows.length === BATCH || docs.length < rows.length };
  }
}
