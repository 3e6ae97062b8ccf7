/**
 * Account data in its partition: the account's state row (modseq, id counter, usage),
 * mailboxes, messages and the change log. This is the groundwork the delivery pipeline,
 * IMAP, POP3 and JMAP build on; it knows nothing of any protocol.
 *
 * Invariants:
 * - Every change runs in one partition transaction that first bumps account_state.modseq
 *   (which also serialises writers of one account) and writes one row per changed object
 *   into `changes`; deletions leave a 'destroy' row (the tombstone).
 * - A frozen (being moved) or moved-away account refuses writes with UNAVAILABLE, so the
 *   writer retries and finds the account in its new partition: nothing is lost in a move.
 * - Blob bytes are durable before the transaction that references them commits.
 * - An account whose partition was down when it was created has no state row yet; it is
 *   provisioned on first use (append, listing), as the directory promises.
 */
import type { Transaction } from 'kysely';
import type { Stores, Partition } from '../../store/stores.ts';
import type { PartitionDB } from '../../store/schema.ts';
import type { BlobRef } from '../../store/blob/index.ts';
import { DomainError, invalid } from '../errors.ts';
import { normaliseFlags } from './flags.ts';
import { removeMessages } from './messages.ts';
import { deleteAccountRows } from './move.ts';

export interface AccountRef {
  id: number;
  partition: string;
  quota_bytes: number;
}

export const DEFAULT_MAILBOXES: { name: string; specialUse: string | null }[] = [
  { name: 'INBOX', specialUse: null },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Junk', specialUse: '\\Junk' },
  { name: 'Trash', specialUse: '\\Trash' },
  { name: 'Archive', specialUse: '\\Archive' },
];

/** What delivery parsed once, stored with the message so listings never re-parse. */
export interface MessageMeta {
  subject: string | null;
  from: string | null;
  to: string | null;
  sentDate: number | null;
  messageId: string | null;
  hasAttachment: boolean;
  /** Message-IDs this message replies to or references (In-Reply-To, References): its thread. */
  parents?: string[];
  /** The MIME structure (JSON-able), kept once per distinct body. */
  structure?: unknown;
}

export interface NewMessage {
  account: AccountRef;
  /** By name (delivery), or by id (mail access, which holds the id already). */
  mailbox: string;
  mailboxId?: number;
  data: Uint8Array;
  flags?: string[];
  internalDate?: number;
  meta?: MessageMeta;
}

export interface StoredMessage {
  accountId: number;
  id: number;
  uid: number;
  mailboxId: number;
  modseq: number;
  hash: string;
  size: number;
}

export interface Change {
  modseq: number;
  objectType: string;
  objectId: number;
  op: 'create' | 'update' | 'destroy';
}

type Trx = Transaction<PartitionDB>;

/** The thread of the first referenced message this account holds (RFC 8474 THREADID), if any. */
async function threadOf(trx: Trx, accountId: number, parents: readonly string[] | undefined): Promise<number | null> {
  if (!parents || parents.length === 0) return null;
  const ids = parents.slice(-50); // the nearest ancestors are last in References
  const r = await trx.selectFrom('messages').select(['thread_id', 'id']).where('account_id', '=', accountId).where('message_id', 'in', ids).limit(1).executeTakeFirst();
  return r ? (r.thread_id ?? r.id) : null;
}

/**
 * Bumps the account's modseq by one and reserves `ids` new object ids. Refuses with
 * UNAVAILABLE when the account is frozen or has moved away from this partition.
 */
export async function beginChange(trx: Trx, accountId: number, ids = 0): Promise<{ modseq: number; firstId: number }> {
  const row = await trx.updateTable('account_state')
    .set((eb) => ({ modseq: eb('modseq', '+', 1), next_id: eb('next_id', '+', ids), updated_at: Date.now() }))
    .where('account_id', '=', accountId).where('status', '=', 'active')
    .returning(['modseq', 'next_id']).executeTakeFirst();
  if (!row) {
    const st = await trx.selectFrom('account_state').select('status').where('account_id', '=', accountId).executeTakeFirst();
    throw new DomainError('UNAVAILABLE', st ? `account is ${st.status === 'frozen' ? 'being moved' : 'not in this partition'}` : 'account storage is not provisioned');
  }
  return { modseq: row.modseq, firstId: row.next_id - ids };
}

export async function logChange(trx: Trx, accountId: number, modseq: number, objectType: string, objectId: number, op: Change['op']): Promise<void> {
  await trx.insertInto('changes').values({ account_id: accountId, modseq, object_type: objectType, object_id: objectId, op }).execute();
}

/** Reserves a UIDVALIDITY above all earlier ones: the clock's seconds when they are larger. */
export async function nextUidValidity(trx: Trx, accountId: number): Promise<number> {
  const st = await trx.selectFrom('account_state').select('uidvalidity_last').where('account_id', '=', accountId).executeTakeFirstOrThrow();
  const now = Math.floor(Date.now() / 1000) % 2 ** 31;
  const v = Math.max(now, st.uidvalidity_last + 1);
  // nz-number (RFC 9051 §9): at most 2^32-1; the clock stays below 2^31 until 2038, the counter far longer.
  if (v > 0xffff_ffff) throw new DomainError('INTERNAL', 'UIDVALIDITY space exhausted');
  await trx.updateTable('account_state').set({ uidvalidity_last: v }).where('account_id', '=', accountId).execute();
  return v;
}

export class MailStore {
  readonly #stores: Stores;
  constructor(stores: Stores) {
    this.#stores = stores;
  }

  partitionOf(account: AccountRef): Partition {
    return this.#stores.partition(account.partition);
  }

  /** Creates the account's state row and default mailboxes; harmless when done already. */
  async provision(account: AccountRef): Promise<void> {
    await this.partitionOf(account).tx('provision account', async (trx) => {
      const now = Date.now();
      // ON CONFLICT: two first uses racing (two deliveries on two nodes) both find no state
      // row; the second waits for the first and then leaves everything as it is.
      const ins = await trx.insertInto('account_state').values({
        account_id: account.id, modseq: 0, next_id: 1, used_bytes: 0, used_messages: 0, status: 'active', updated_at: now,
      }).onConflict((oc) => oc.column('account_id').doNothing()).returning('account_id').executeTakeFirst();
      if (!ins) return;
      const { modseq, firstId } = await beginChange(trx, account.id, DEFAULT_MAILBOXES.length);
      let id = firstId;
      for (const mb of DEFAULT_MAILBOXES) {
        await trx.insertInto('mailboxes').values({
          account_id: account.id, id, name: mb.name, special_use: mb.specialUse,
          uidvalidity: await nextUidValidity(trx, account.id), uidnext: 1, modseq, created_at: now,
        }).execute();
        await trx.insertInto('subscriptions').values({ account_id: account.id, name: mb.name }).onConflict((oc) => oc.columns(['account_id', 'name']).doNothing()).execute();
        await logChange(trx, account.id, modseq, 'mailbox', id, 'create');
        id++;
      }
    });
  }

  /** Provisions the account when this partition has no state row for it; true when it did. */
  async #provisionIfMissing(part: Partition, account: AccountRef): Promise<boolean> {
    const st = await part.run('read account state', (db) =>
      db.selectFrom('account_state').select('status').where('account_id', '=', account.id).executeTakeFirst());
    if (st) return false;
    await this.provision(account);
    return true;
  }

  async listMailboxes(account: AccountRef) {
    const part = this.partitionOf(account);
    const list = () => part.run('list mailboxes', (db) =>
      db.selectFrom('mailboxes').selectAll().where('account_id', '=', account.id).orderBy('id').execute());
    const rows = await list();
    if (rows.length === 0 && (await this.#provisionIfMissing(part, account))) return list();
    return rows;
  }

  async #mailboxById(trx: Trx, accountId: number, id: number) {
    const mb = await trx.selectFrom('mailboxes').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    if (!mb) throw new DomainError('NOT_FOUND', `mailbox ${id}`);
    return mb;
  }

  async #mailbox(trx: Trx, accountId: number, name: string) {
    const mb = await trx.selectFrom('mailboxes').selectAll().where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
    if (!mb) throw new DomainError('NOT_FOUND', `mailbox ${name}`);
    return mb;
  }

  /** Stores one message; returns once it is committed durably. */
  async appendMessage(account: AccountRef, mailbox: string, data: Uint8Array, opts: { flags?: string[]; internalDate?: number; maxSize?: number; meta?: MessageMeta } = {}): Promise<StoredMessage> {
    if (opts.maxSize && data?.byteLength > opts.maxSize) throw new DomainError('LIMIT_EXCEEDED', `message of ${data.byteLength} bytes exceeds the limit of ${opts.maxSize}`);
    const [r] = await this.storeBatch([{ account, mailbox, data, flags: opts.flags, internalDate: opts.internalDate, meta: opts.meta }]);
    return r;
  }

  /**
   * Stores several messages of one partition in ONE transaction: all commit durably together
   * or none does. The delivery pipeline uses it for all recipients of a message that share a
   * partition (and, later, for group commit across messages). Quota is checked per account,
   * counting what the batch itself adds.
   */
  async storeBatch(items: NewMessage[]): Promise<StoredMessage[]> {
    if (items.length === 0) return [];
    const part = this.partitionOf(items[0].account);
    for (const it of items) {
      if (it.account.partition !== part.name) throw invalid('a batch must stay within one partition');
      if (!(it.data instanceof Uint8Array) || it.data.byteLength === 0) throw invalid('message is empty');
      it.flags = normaliseFlags(it.flags ?? []);
    }
    // Quota before writing any bytes; checked again inside the transaction.
    const adding = new Map<number, { account: AccountRef; bytes: number }>();
    for (const it of items) {
      const a = adding.get(it.account.id) ?? { account: it.account, bytes: 0 };
      a.bytes += it.data.byteLength;
      adding.set(it.account.id, a);
    }
    for (const { account, bytes } of adding.values()) {
      const pre = await part.run('read usage', (db) => db.selectFrom('account_state').select('used_bytes').where('account_id', '=', account.id).executeTakeFirst());
      if (!pre) await this.provision(account);
      const used = pre?.used_bytes ?? 0;
      if (account.quota_bytes > 0 && used + bytes > account.quota_bytes) throw new DomainError('QUOTA_EXCEEDED', `${used} of ${account.quota_bytes} bytes used`);
    }
    await part.open();
    // Blob bytes are durable before the transaction; one body shared by many recipients is
    // hashed and written once.
    const refs = new Map<Uint8Array, BlobRef>();
    for (const it of items) {
      if (refs.has(it.data)) continue;
      const ref = await part.blobs.prepare(it.data);
      if (it.meta?.structure !== undefined) ref.meta = JSON.stringify(it.meta.structure);
      refs.set(it.data, ref);
    }
    return part.groupTx('store messages', async (trx) => {
      const out: StoredMessage[] = [];
      const checked = new Set<number>();
      for (const it of items) {
        const account = it.account;
        const ref = refs.get(it.data)!;
        const { modseq, firstId: id } = await beginChange(trx, account.id, 1);
        if (!checked.has(account.id)) {
          checked.add(account.id);
          const st = await trx.selectFrom('account_state').select('used_bytes').where('account_id', '=', account.id).executeTakeFirstOrThrow();
          const bytes = adding.get(account.id)!.bytes;
          if (account.quota_bytes > 0 && st.used_bytes + bytes > account.quota_bytes) {
            throw new DomainError('QUOTA_EXCEEDED', `${st.used_bytes} of ${account.quota_bytes} bytes used`);
          }
        }
        const mb = it.mailboxId !== undefined ? await this.#mailboxById(trx, account.id, it.mailboxId) : await this.#mailbox(trx, account.id, it.mailbox);
        const threadId = await threadOf(trx, account.id, it.meta?.parents);
        await trx.updateTable('mailboxes').set({ uidnext: mb.uidnext + 1, modseq }).where('account_id', '=', account.id).where('id', '=', mb.id).execute();
        const m = it.meta;
        await trx.insertInto('messages').values({
          account_id: account.id, id, mailbox_id: mb.id, uid: mb.uidnext, blob_hash: ref.hash, size: ref.size,
          flags: JSON.stringify(it.flags), internal_date: it.internalDate ?? Date.now(), modseq,
          subject: m?.subject ?? null, from_addr: m?.from ?? null, to_addr: m?.to ?? null, sent_date: m?.sentDate ?? null,
          message_id: m?.messageId ?? null, has_attachment: m?.hasAttachment ? 1 : 0,
          savedate: Date.now(), email_id: id, thread_id: threadId ?? id, text_indexed: 0,
        }).execute();
        await part.blobs.addRef(trx, ref);
        await trx.updateTable('account_state')
          .set((eb) => ({ used_bytes: eb('used_bytes', '+', ref.size), used_messages: eb('used_messages', '+', 1) }))
          .where('account_id', '=', account.id).execute();
        await logChange(trx, account.id, modseq, 'message', id, 'create');
        out.push({ accountId: account.id, id, uid: mb.uidnext, mailboxId: mb.id, modseq, hash: ref.hash, size: ref.size });
      }
      return out;
    });
  }

  async listMessages(account: AccountRef, mailbox: string) {
    const part = this.partitionOf(account);
    const list = () => part.run('list messages', async (db) => {
      const mb = await db.selectFrom('mailboxes').select('id').where('account_id', '=', account.id).where('name', '=', mailbox).executeTakeFirst();
      if (!mb) return null;
      const rows = await db.selectFrom('messages').selectAll().where('account_id', '=', account.id).where('mailbox_id', '=', mb.id).orderBy('uid').execute();
      return rows.map((r) => ({ ...r, flags: JSON.parse(r.flags) as string[] }));
    });
    const rows = (await list()) ?? ((await this.#provisionIfMissing(part, account)) ? await list() : null);
    if (!rows) throw new DomainError('NOT_FOUND', `mailbox ${mailbox}`);
    return rows;
  }

  async readMessage(account: AccountRef, id: number): Promise<Buffer> {
    const part = this.partitionOf(account);
    const row = await part.run('read message', (db) =>
      db.selectFrom('messages').select('blob_hash').where('account_id', '=', account.id).where('id', '=', id).executeTakeFirst());
    if (!row) throw new DomainError('NOT_FOUND', `message ${id}`);
    return part.blobs.get(row.blob_hash);
  }

  async deleteMessage(account: AccountRef, id: number): Promise<void> {
    const part = this.partitionOf(account);
    await part.tx('delete message', async (trx) => {
      const { modseq } = await beginChange(trx, account.id);
      const row = await trx.selectFrom('messages').select(['id', 'uid', 'blob_hash', 'size', 'mailbox_id']).where('account_id', '=', account.id).where('id', '=', id).executeTakeFirst();
      if (!row) throw new DomainError('NOT_FOUND', `message ${id}`);
      await removeMessages(trx, part, account.id, modseq, [row], { tombstones: true });
      await trx.updateTable('mailboxes').set({ modseq }).where('account_id', '=', account.id).where('id', '=', row.mailbox_id).execute();
    });
  }

  /**
   * Deletes all of an account's data in its partition (account removal). The state row stays
   * as a 'moved' marker (account ids are never reused), so a delivery still holding the old
   * account reference is refused instead of provisioning the removed account afresh.
   */
  async purge(account: AccountRef): Promise<void> {
    const part = this.partitionOf(account);
    await part.tx('purge account', async (trx) => {
      await deleteAccountRows(trx, part, account.id);
      await trx.deleteFrom('account_state').where('account_id', '=', account.id).execute();
      await trx.insertInto('account_state').values({
        account_id: account.id, modseq: 0, next_id: 1, used_bytes: 0, used_messages: 0, status: 'moved', updated_at: Date.now(),
      }).execute();
    });
  }

  async state(account: AccountRef) {
    const st = await this.partitionOf(account).run('read account state', (db) =>
      db.selectFrom('account_state').selectAll().where('account_id', '=', account.id).executeTakeFirst());
    if (!st) throw new DomainError('UNAVAILABLE', 'account storage is not provisioned');
    return st;
  }

  /** The change log since a modseq: what CONDSTORE/QRESYNC, WebDAV sync and JMAP read. */
  async changesSince(account: AccountRef, since: number, limit = 10_000): Promise<{ modseq: number; changes: Change[] }> {
    return this.partitionOf(account).run('read changes', async (db) => {
      const st = await db.selectFrom('account_state').select('modseq').where('account_id', '=', account.id).executeTakeFirst();
      const rows = await db.selectFrom('changes').selectAll().where('account_id', '=', account.id).where('modseq', '>', since)
        .orderBy('modseq').limit(limit).execute();
      return {
        modseq: st?.modseq ?? 0,
        changes: rows.map((r) => ({ modseq: r.modseq, objectType: r.object_type, objectId: r.object_id, op: r.op })),
      };
    });
  }
}
