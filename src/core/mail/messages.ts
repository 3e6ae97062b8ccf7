/**
 * The messages of a mailbox as mail access sees them: views for a session, rows by UID,
 * bodies and stored structures, flag changes, expunge, copy and move, and the per-mailbox
 * change feed (what changed since a modseq). Protocol-free: IMAP, POP3 and later JMAP use it.
 *
 * Invariants:
 * - Every write is one partition transaction opened by beginChange (which serialises the
 *   account's writers and gives the change its modseq); the mailbox's modseq is raised to it,
 *   each message touched gets it, and the change log and the expunge tombstones are written
 *   in the same transaction. Announced on the bus after the commit.
 * - UIDs are handed out from mailboxes.uidnext under that serialisation, so they become
 *   visible in ascending order: a reader that has seen UID n has seen every UID below it.
 * - A flag change that changes nothing leaves the message's modseq alone (RFC 7162 §3.1.3).
 * - Copies reference the same blob (one more reference), keep the original's EMAILID and
 *   THREADID within an account (RFC 8474 §5.1), and wait for the indexer for their text.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Partition } from '../../store/stores.ts';
import type { PartitionDB } from '../../store/schema.ts';
import { ftsDelete } from '../../store/fts.ts';
import type { ChangeBus } from '../changes/bus.ts';
import { DomainError } from '../errors.ts';
import type { StoredStructure } from './delivery/meta.ts';
import { applyFlags, normaliseFlags, parseStoredFlags, sameFlags } from './flags.ts';
import { beginChange, type AccountRef, type MailStore } from './mailstore.ts';

type Trx = Transaction<PartitionDB>;

/** Ascending, non-overlapping inclusive UID ranges. */
export type UidRanges = readonly (readonly [number, number])[];

export interface MessageRow {
  id: number;
  uid: number;
  flags: string[];
  internalDate: number;
  size: number;
  modseq: number;
  saveDate: number;
  emailId: number;
  threadId: number;
  blobHash: string;
}

export interface MailboxView {
  mailboxId: number;
  uidvalidity: number;
  uidnext: number;
  /** The mailbox's highest modseq when the view was read. */
  modseq: number;
  /** Every UID, ascending. */
  uids: Uint32Array;
  /** Keywords in use in the mailbox (for FLAGS / PERMANENTFLAGS). */
  keywords: string[];
  /** UID of the first message without \Seen, or 0. */
  firstUnseen: number;
}

export interface FlagChange {
  uid: number;
  flags: string[];
  modseq: number;
}

export interface MailboxChanges {
  /** The mailbox's modseq when read (read first: nothing older is missed). */
  modseq: number;
  uidnext: number;
  /** Messages changed or added after `since`, ascending by UID. */
  changed: FlagChange[];
  /** UIDs expunged after `since`, ascending. */
  expunged: number[];
}

export interface CopyResult {
  uidvalidity: number;
  /** [source UID, new UID], in source UID order. */
  pairs: [number, number][];
}

type Row = Pick<PartitionDB['messages'], 'id' | 'uid' | 'flags' | 'internal_date' | 'size' | 'modseq' | 'savedate' | 'email_id' | 'thread_id' | 'blob_hash'>;

const ROW_COLUMNS = ['id', 'uid', 'flags', 'internal_date', 'size', 'modseq', 'savedate', 'email_id', 'thread_id', 'blob_hash'] as const;

function toRow(r: Row): MessageRow {
  return {
    id: r.id, uid: r.uid, flags: parseStoredFlags(r.flags), internalDate: r.internal_date, size: r.size, modseq: r.modseq,
    saveDate: r.savedate ?? r.internal_date, emailId: r.email_id ?? r.id, threadId: r.thread_id ?? r.id, blobHash: r.blob_hash,
  };
}

/** Ranges as SQL: up to this many ranges become OR-ed BETWEENs; more are read as one span and filtered. */
const MAX_SQL_RANGES = 32;
const CHUNK = 500;

function inRanges(uid: number, ranges: UidRanges): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = ranges[mid];
    if (uid < a) hi = mid - 1;
    else if (uid > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Sorted unique UIDs to ranges. */
export function toRanges(uids: ArrayLike<number>): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < uids.length; i++) {
    const u = uids[i];
    const last = out[out.length - 1];
    if (last && u === last[1] + 1) last[1] = u;
    else out.push([u, u]);
  }
  return out;
}

/**
 * Removes message rows with everything that hangs on them: blob references, usage, full-text
 * documents, change-log destroys and (unless the whole mailbox goes) expunge tombstones.
 */
export async function removeMessages(trx: Trx, part: Partition, accountId: number, modseq: number,
  rows: readonly { id: number; uid: number; blob_hash: string; size: number; mailbox_id: number }[], opts: { tombstones: boolean }): Promise<void> {
  if (rows.length === 0) return;
  let bytes = 0;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await trx.deleteFrom('messages').where('account_id', '=', accountId).where('id', 'in', chunk.map((r) => r.id)).execute();
    await trx.insertInto('changes').values(chunk.map((r) => ({ account_id: accountId, modseq, object_type: 'message', object_id: r.id, op: 'destroy' as const }))).execute();
    if (opts.tombstones) {
      await trx.insertInto('expunged').values(chunk.map((r) => ({ account_id: accountId, mailbox_id: r.mailbox_id, uid: r.uid, modseq })))
        .onConflict((oc) => oc.columns(['account_id', 'mailbox_id', 'uid']).doUpdateSet({ modseq })).execute();
    }
  }
  for (const r of rows) {
    await part.blobs.dropRef(trx, r.blob_hash);
    bytes += r.size;
  }
  await ftsDelete(trx, part.engine!.kind, accountId, rows.map((r) => r.id));
  await trx.updateTable('account_state')
    .set((eb) => ({ used_bytes: eb('used_bytes', '-', bytes), used_messages: eb('used_messages', '-', rows.length) }))
    .where('account_id', '=', accountId).execute();
}

type RowWithMailbox = Row & { mailbox_id: number };

/** Rows of a mailbox within UID ranges, ascending by UID. */
async function selectRows(db: Kysely<PartitionDB> | Trx, accountId: number, mailboxId: number, ranges: UidRanges): Promise<RowWithMailbox[]> {
  if (ranges.length === 0) return [];
  const q = db.selectFrom('messages').select([...ROW_COLUMNS, 'mailbox_id']).where('account_id', '=', accountId).where('mailbox_id', '=', mailboxId);
  if (ranges.length <= MAX_SQL_RANGES) {
    return q.where((eb) => eb.or(ranges.map(([a, b]) => (a === b ? eb('uid', '=', a) : eb.between('uid', a, b))))).orderBy('uid').execute();
  }
  const rows = await q.where('uid', '>=', ranges[0][0]).where('uid', '<=', ranges[ranges.length - 1][1]).orderBy('uid').execute();
  return rows.filter((r) => inRanges(r.uid, ranges));
}

export interface StoreResult {
  modseq: number;
  /** Messages whose flags changed, with their new flags and modseq. */
  changed: FlagChange[];
  /** Messages in the set whose flags were already as asked (RFC 9051 still answers FETCH for them). */
  unchanged: FlagChange[];
  /** UNCHANGEDSINCE failed for these (RFC 7162 §3.1.3 MODIFIED). */
  conflicts: number[];
}

export class Messages {
  readonly #mail: MailStore;
  readonly #bus: ChangeBus;
  /** Called after a commit that left messages unindexed (copies): the indexer picks them up. */
  onUnindexed?: (account: AccountRef) => void;

  constructor(mail: MailStore, bus: ChangeBus) {
    this.#mail = mail;
    this.#bus = bus;
  }

  #part(account: AccountRef): Partition {
    return this.#mail.partitionOf(account);
  }

  /** What a session needs to select a mailbox (RFC 9051 §6.3.2). */
  async view(account: AccountRef, mailboxId: number): Promise<MailboxView> {
    return this.#part(account).run('read mailbox view', async (db) => {
      const mb = await db.selectFrom('mailboxes').select(['uidvalidity', 'uidnext', 'modseq']).where('account_id', '=', account.id).where('id', '=', mailboxId).executeTakeFirst();
      if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
      const rows = await db.selectFrom('messages').select(['uid', 'flags']).where('account_id', '=', account.id).where('mailbox_id', '=', mailboxId).orderBy('uid').execute();
      const uids = new Uint32Array(rows.length);
      const keywords = new Map<string, string>();
      let firstUnseen = 0;
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        uids[i] = r.uid;
        if (r.flags === '[]') {
          if (!firstUnseen) firstUnseen = r.uid;
          continue;
        }
        const flags = parseStoredFlags(r.flags);
        let seen = false;
        for (const f of flags) {
          if (f === '\\Seen') seen = true;
          else if (!f.startsWith('\\') && !keywords.has(f.toLowerCase())) keywords.set(f.toLowerCase(), f);
        }
        if (!seen && !firstUnseen) firstUnseen = r.uid;
      }
      return { mailboxId, uidvalidity: mb.uidvalidity, uidnext: mb.uidnext, modseq: mb.modseq, uids, keywords: [...keywords.values()], firstUnseen };
    });
  }

  /** Rows for UID ranges, ascending by UID (missing UIDs are simply absent). */
  async rows(account: AccountRef, mailboxId: number, ranges: UidRanges): Promise<MessageRow[]> {
    const rows = await this.#part(account).run('read messages', (db) => selectRows(db, account.id, mailboxId, ranges));
    return rows.map(toRow);
  }

  /** The stored structures (parsed at delivery) of these bodies, by blob hash. */
  async structures(account: AccountRef, hashes: readonly string[]): Promise<Map<string, StoredStructure | null>> {
    const out = new Map<string, StoredStructure | null>();
    const uniq = [...new Set(hashes)];
    await this.#part(account).run('read structures', async (db) => {
      for (let i = 0; i < uniq.length; i += CHUNK) {
        const rows = await db.selectFrom('blob_refs').select(['hash', 'meta']).where('hash', 'in', uniq.slice(i, i + CHUNK)).execute();
        for (const r of rows) out.set(r.hash, r.meta ? (JSON.parse(r.meta) as StoredStructure) : null);
      }
    });
    return out;
  }

  async body(account: AccountRef, blobHash: string): Promise<Buffer> {
    return this.#part(account).blobs.get(blobHash);
  }

  /**
   * RFC 9051 §6.4.6 STORE and RFC 7162 §3.1.3 UNCHANGEDSINCE. `allowed` filters the flags the
   * actor may change (RFC 4314 rights s, t, w); flags outside it are left as they are.
   */
  async store(account: AccountRef, mailboxId: number, ranges: UidRanges, op: 'set' | 'add' | 'remove', flagsIn: readonly string[],
    opts: { unchangedSince?: number; allowed?: (flag: string) => boolean } = {}): Promise<StoreResult> {
    const flags = normaliseFlags(flagsIn);
    const allowed = opts.allowed ?? (() => true);
    const part = this.#part(account);
    const r = await part.tx('store flags', async (trx) => {
      const { modseq } = await beginChange(trx, account.id);
      const rows = await selectRows(trx, account.id, mailboxId, ranges);
      const changed: FlagChange[] = [];
      const unchanged: FlagChange[] = [];
      const conflicts: number[] = [];
      const groups = new Map<string, { flags: string[]; ids: number[] }>();
      for (const row of rows) {
        const cur = parseStoredFlags(row.flags);
        if (opts.unchangedSince !== undefined && row.modseq > opts.unchangedSince) {
          conflicts.push(row.uid);
          continue;
        }
        // Only what the actor may change: the others stay as they are.
        const wanted = applyFlags(cur, op, flags);
        const dedup = normaliseFlags([...cur.filter((f) => !allowed(f)), ...wanted.filter((f) => allowed(f))]);
        if (sameFlags(cur, dedup)) {
          unchanged.push({ uid: row.uid, flags: cur, modseq: row.modseq });
          continue;
        }
        const key = JSON.stringify(dedup);
        const g = groups.get(key) ?? { flags: dedup, ids: [] };
        g.ids.push(row.id);
        groups.set(key, g);
        changed.push({ uid: row.uid, flags: dedup, modseq });
      }
      if (changed.length > 0) {
        for (const [key, g] of groups) {
          for (let i = 0; i < g.ids.length; i += CHUNK) {
            await trx.updateTable('messages').set({ flags: key, modseq }).where('account_id', '=', account.id).where('id', 'in', g.ids.slice(i, i + CHUNK)).execute();
          }
        }
        const ids = [...groups.values()].flatMap((g) => g.ids);
        for (let i = 0; i < ids.length; i += CHUNK) {
          await trx.insertInto('changes').values(ids.slice(i, i + CHUNK).map((id) => ({ account_id: account.id, modseq, object_type: 'message', object_id: id, op: 'update' as const }))).execute();
        }
        await trx.updateTable('mailboxes').set({ modseq }).where('account_id', '=', account.id).where('id', '=', mailboxId).execute();
      }
      return { modseq, changed, unchanged, conflicts };
    });
    if (r.changed.length > 0) this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['message'], mailboxIds: [mailboxId] });
    return r;
  }

  /**
   * RFC 9051 §6.4.3 EXPUNGE and RFC 4315 §2.1 UID EXPUNGE: removes the messages flagged
   * \Deleted (within `ranges` when given). Returns their UIDs, ascending.
   */
  async expunge(account: AccountRef, mailboxId: number, ranges?: UidRanges): Promise<{ modseq: number; uids: number[] }> {
    const part = this.#part(account);
    const r = await part.tx('expunge', async (trx) => {
      const all = ranges
        ? await selectRows(trx, account.id, mailboxId, ranges)
        : await trx.selectFrom('messages').select([...ROW_COLUMNS, 'mailbox_id']).where('account_id', '=', account.id).where('mailbox_id', '=', mailboxId)
          .where('flags', 'like', '%Deleted%').orderBy('uid').execute();
      const doomed = all.filter((m) => parseStoredFlags(m.flags).includes('\\Deleted'));
      if (doomed.length === 0) return { modseq: 0, uids: [] };
      const { modseq } = await beginChange(trx, account.id);
      await removeMessages(trx, part, account.id, modseq, doomed, { tombstones: true });
      await trx.updateTable('mailboxes').set({ modseq }).where('account_id', '=', account.id).where('id', '=', mailboxId).execute();
      return { modseq, uids: doomed.map((m) => m.uid) };
    });
    if (r.uids.length > 0) this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['message'], mailboxIds: [mailboxId] });
    return r;
  }

  /** Removes messages by id whatever their flags (POP3 DELE at QUIT). Returns the UIDs removed. */
  async remove(account: AccountRef, mailboxId: number, ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const part = this.#part(account);
    const r = await part.tx('remove messages', async (trx) => {
      const rows: RowWithMailbox[] = [];
      for (let i = 0; i < ids.length; i += CHUNK) {
        rows.push(...await trx.selectFrom('messages').select([...ROW_COLUMNS, 'mailbox_id']).where('account_id', '=', account.id)
          .where('mailbox_id', '=', mailboxId).where('id', 'in', ids.slice(i, i + CHUNK)).execute());
      }
      if (rows.length === 0) return { modseq: 0, uids: [] as number[] };
      const { modseq } = await beginChange(trx, account.id);
      await removeMessages(trx, part, account.id, modseq, rows, { tombstones: true });
      await trx.updateTable('mailboxes').set({ modseq }).where('account_id', '=', account.id).where('id', '=', mailboxId).execute();
      return { modseq, uids: rows.map((m) => m.uid).sort((a, b) => a - b) };
    });
    if (r.uids.length > 0) this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['message'], mailboxIds: [mailboxId] });
    return r.uids;
  }

  /** Changes in a mailbox after `since` (RFC 7162): flag changes and new messages, and expunged UIDs. */
  async changes(account: AccountRef, mailboxId: number, since: number): Promise<MailboxChanges> {
    return this.#part(account).run('read mailbox changes', async (db) => {
      // The mailbox row first: anything committed after this read is reported next time.
      const mb = await db.selectFrom('mailboxes').select(['modseq', 'uidnext']).where('account_id', '=', account.id).where('id', '=', mailboxId).executeTakeFirst();
      if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
      if (mb.modseq <= since) return { modseq: mb.modseq, uidnext: mb.uidnext, changed: [], expunged: [] };
      const rows = await db.selectFrom('messages').select(['uid', 'flags', 'modseq']).where('account_id', '=', account.id).where('mailbox_id', '=', mailboxId)
        .where('modseq', '>', since).orderBy('uid').execute();
      const gone = await db.selectFrom('expunged').select('uid').where('account_id', '=', account.id).where('mailbox_id', '=', mailboxId)
        .where('modseq', '>', since).orderBy('uid').execute();
      return {
        modseq: mb.modseq, uidnext: mb.uidnext,
        changed: rows.map((r) => ({ uid: r.uid, flags: parseStoredFlags(r.flags), modseq: r.modseq })),
        expunged: gone.map((g) => g.uid),
      };
    });
  }

  /** Every UID expunged from the mailbox after `since` within `ranges` (QRESYNC VANISHED (EARLIER)). */
  async expungedSince(account: AccountRef, mailboxId: number, since: number): Promise<number[]> {
    const rows = await this.#part(account).run('read expunged', (db) =>
      db.selectFrom('expunged').select('uid').where('account_id', '=', account.id).where('mailbox_id', '=', mailboxId).where('modseq', '>', since).orderBy('uid').execute());
    return rows.map((r) => r.uid);
  }

  /**
   * RFC 9051 §6.4.7 COPY (with RFC 4315 COPYUID data): copies into a mailbox of the same or
   * another account. Within a partition the copy references the same blob; across
   * partitions the bytes are copied.
   */
  async copy(src: AccountRef, srcMailbox: number, ranges: UidRanges, dst: AccountRef, dstMailbox: number): Promise<CopyResult> {
    const rows = await this.#part(src).run('read messages to copy', (db) => selectRows(db, src.id, srcMailbox, ranges));
    return this.#insertCopies(src, rows, dst, dstMailbox);
  }

  async #insertCopies(src: AccountRef, rows: Row[], dst: AccountRef, dstMailbox: number): Promise<CopyResult> {
    const srcPart = this.#part(src);
    const dstPart = this.#part(dst);
    const samePartition = srcPart === dstPart;
    if (rows.length === 0) {
      const mb = await dstPart.run('read mailbox', (db) => db.selectFrom('mailboxes').select('uidvalidity').where('account_id', '=', dst.id).where('id', '=', dstMailbox).executeTakeFirst());
      if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
      return { uidvalidity: mb.uidvalidity, pairs: [] };
    }
    // Metadata columns travel with the copy; bodies from another partition are copied first
    // (durable before the transaction that references them, like any delivery).
    const full = await srcPart.run('read messages to copy', async (db) => {
      const out: Selectable<PartitionDB['messages']>[] = [];
      for (let i = 0; i < rows.length; i += CHUNK) {
        out.push(...await db.selectFrom('messages').selectAll().where('account_id', '=', src.id).where('id', 'in', rows.slice(i, i + CHUNK).map((r) => r.id)).execute());
      }
      const byId = new Map(out.map((m) => [m.id, m]));
      return rows.map((r) => byId.get(r.id)!).filter(Boolean);
    });
    const foreign = new Map<string, Awaited<ReturnType<Partition['blobs']['prepare']>>>();
    if (!samePartition) {
      const metas = await this.structures(src, full.map((m) => m.blob_hash));
      for (const m of full) {
        if (foreign.has(m.blob_hash)) continue;
        const ref = await dstPart.blobs.prepare(await srcPart.blobs.get(m.blob_hash));
        const meta = metas.get(m.blob_hash);
        if (meta) ref.meta = JSON.stringify(meta);
        foreign.set(m.blob_hash, ref);
      }
    }
    const bytes = full.reduce((n, m) => n + m.size, 0);
    const r = await dstPart.tx('copy messages', async (trx) => {
      const { modseq, firstId } = await beginChange(trx, dst.id, full.length);
      const st = await trx.selectFrom('account_state').select('used_bytes').where('account_id', '=', dst.id).executeTakeFirstOrThrow();
      if (dst.quota_bytes > 0 && st.used_bytes + bytes > dst.quota_bytes) throw new DomainError('QUOTA_EXCEEDED', `${st.used_bytes} of ${dst.quota_bytes} bytes used`);
      const mb = await trx.selectFrom('mailboxes').select(['uidnext', 'uidvalidity']).where('account_id', '=', dst.id).where('id', '=', dstMailbox).executeTakeFirst();
      if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
      const now = Date.now();
      const pairs: [number, number][] = [];
      let uid = mb.uidnext;
      let id = firstId;
      const sameAccount = src.id === dst.id;
      for (let i = 0; i < full.length; i += CHUNK) {
        const chunk = full.slice(i, i + CHUNK);
        const values = chunk.map((m) => {
          const v = {
            ...m, account_id: dst.id, id, mailbox_id: dstMailbox, uid, modseq, savedate: now, text_indexed: 0,
            email_id: sameAccount ? (m.email_id ?? m.id) : id, thread_id: sameAccount ? (m.thread_id ?? m.id) : id,
          };
          pairs.push([m.uid, uid]);
          id++;
          uid++;
          return v;
        });
        await trx.insertInto('messages').values(values).execute();
        await trx.insertInto('changes').values(values.map((v) => ({ account_id: dst.id, modseq, object_type: 'message', object_id: v.id, op: 'create' as const }))).execute();
      }
      for (const m of full) {
        if (samePartition) await addExistingRef(trx, m.blob_hash);
        else await dstPart.blobs.addRef(trx, foreign.get(m.blob_hash)!);
      }
      await trx.updateTable('account_state')
        .set((eb) => ({ used_bytes: eb('used_bytes', '+', bytes), used_messages: eb('used_messages', '+', full.length) }))
        .where('account_id', '=', dst.id).execute();
      await trx.updateTable('mailboxes').set({ uidnext: uid, modseq }).where('account_id', '=', dst.id).where('id', '=', dstMailbox).execute();
      return { modseq, uidvalidity: mb.uidvalidity, pairs };
    });
    this.#bus.emit({ accountId: dst.id, modseq: r.modseq, kinds: ['message'], mailboxIds: [dstMailbox] });
    this.onUnindexed?.(dst);
    return { uidvalidity: r.uidvalidity, pairs: r.pairs };
  }

  /**
   * RFC 6851 MOVE. Within one account the rows move (same message id, new UID, tombstones in
   * the source), atomically. To another account it is a copy, then the removal of the
   * originals: a failure in between leaves a duplicate, never a loss.
   */
  async move(src: AccountRef, srcMailbox: number, ranges: UidRanges, dst: AccountRef, dstMailbox: number): Promise<CopyResult & { expunged: number[] }> {
    if (src.id !== dst.id) {
      const rows = await this.#part(src).run('read messages to move', (db) => selectRows(db, src.id, srcMailbox, ranges));
      const copied = await this.#insertCopies(src, rows, dst, dstMailbox);
      const expunged = await this.remove(src, srcMailbox, rows.map((r) => r.id));
      return { ...copied, expunged };
    }
    const part = this.#part(src);
    const r = await part.tx('move messages', async (trx) => {
      const { modseq } = await beginChange(trx, src.id);
      const rows = await selectRows(trx, src.id, srcMailbox, ranges);
      const mb = await trx.selectFrom('mailboxes').select(['uidnext', 'uidvalidity']).where('account_id', '=', dst.id).where('id', '=', dstMailbox).executeTakeFirst();
      if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
      if (rows.length === 0) return { modseq: 0, uidvalidity: mb.uidvalidity, pairs: [] as [number, number][], expunged: [] as number[] };
      let uid = mb.uidnext;
      const pairs: [number, number][] = [];
      const now = Date.now();
      for (const m of rows) {
        await trx.updateTable('messages').set({ mailbox_id: dstMailbox, uid, modseq, savedate: now }).where('account_id', '=', src.id).where('id', '=', m.id).execute();
        pairs.push([m.uid, uid]);
        uid++;
      }
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        await trx.insertInto('expunged').values(chunk.map((m) => ({ account_id: src.id, mailbox_id: srcMailbox, uid: m.uid, modseq })))
          .onConflict((oc) => oc.columns(['account_id', 'mailbox_id', 'uid']).doUpdateSet({ modseq })).execute();
        await trx.insertInto('changes').values(chunk.map((m) => ({ account_id: src.id, modseq, object_type: 'message', object_id: m.id, op: 'update' as const }))).execute();
      }
      await trx.updateTable('mailboxes').set({ uidnext: uid, modseq }).where('account_id', '=', dst.id).where('id', '=', dstMailbox).execute();
      await trx.updateTable('mailboxes').set({ modseq }).where('account_id', '=', src.id).where('id', '=', srcMailbox).execute();
      return { modseq, uidvalidity: mb.uidvalidity, pairs, expunged: rows.map((m) => m.uid) };
    });
    if (r.pairs.length > 0) this.#bus.emit({ accountId: src.id, modseq: r.modseq, kinds: ['message'], mailboxIds: [srcMailbox, dstMailbox] });
    return r;
  }

  /** Storage used and allowed (RFC 9208 STORAGE and MESSAGE resources). */
  async quota(account: AccountRef): Promise<{ usedBytes: number; limitBytes: number; usedMessages: number }> {
    const st = await this.#mail.state(account);
    return { usedBytes: st.used_bytes, limitBytes: account.quota_bytes, usedMessages: st.used_messages };
  }
}

/** One more reference to a body this partition holds already (a copy). */
async function addExistingRef(trx: Trx, hash: string): Promise<void> {
  await trx.updateTable('blob_refs').set({ refcount: sql`refcount + 1`, zero_since: null }).where('hash', '=', hash).execute();
}
