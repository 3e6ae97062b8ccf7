/**
 * Mailboxes of one account: list, create (with special use), delete, rename, subscriptions
 * and status counts. Protocol-free: IMAP, POP3 and later JMAP call these with names in core's
 * form (names.ts).
 *
 * Invariants:
 * - Every change runs in one partition transaction opened by beginChange (the account's
 *   modseq, which also serialises the account's writers), logs the mailbox in `changes`, and
 *   is announced on the bus after the commit.
 * - UIDVALIDITY of a new mailbox is above every value the account handed out before
 *   (account_state.uidvalidity_last), so a name deleted and created again never reuses one
 *   (RFC 9051 §2.3.1.1). A renamed mailbox keeps its id and UIDVALIDITY (RFC 8474 MAILBOXID).
 * - Every level of a hierarchy is a real mailbox: CREATE "a/b" creates "a" when missing
 *   (RFC 9051 §6.3.3 lets the server do so), and DELETE refuses a mailbox with children
 *   (HASCHILDREN) instead of leaving \Noselect placeholders behind.
 * - INBOX cannot be deleted; renaming it moves its messages to the new mailbox and leaves it
 *   empty (RFC 9051 §6.3.6).
 */
import type { PartitionDB } from '../../store/schema.ts';
import type { ChangeBus } from '../changes/bus.ts';
import { DomainError, invalid } from '../errors.ts';
import { beginChange, logChange, nextUidValidity, type AccountRef, type MailStore } from './mailstore.ts';
import { INBOX, checkName, isInside, parentsOf } from './names.ts';
import { removeMessages } from './messages.ts';

/** The special-use attributes a mailbox may carry (RFC 6154 §2; \All and \Flagged would be virtual mailboxes, not offered). */
export const SPECIAL_USES = ['\\Archive', '\\Drafts', '\\Junk', '\\Sent', '\\Trash'] as const;

export interface MailboxInfo {
  id: number;
  name: string;
  specialUse: string | null;
  uidvalidity: number;
  uidnext: number;
  /** Highest modseq of anything in the mailbox. */
  modseq: number;
  createdAt: number;
}

export interface MailboxStatus {
  messages: number;
  unseen: number;
  deleted: number;
  /** Sum of RFC822.SIZE (RFC 8438 STATUS=SIZE). */
  size: number;
  uidnext: number;
  uidvalidity: number;
  highestModseq: number;
}

type MailboxRow = PartitionDB['mailboxes'];

function info(r: MailboxRow): MailboxInfo {
  return { id: r.id, name: r.name, specialUse: r.special_use, uidvalidity: r.uidvalidity, uidnext: r.uidnext, modseq: r.modseq, createdAt: r.created_at };
}

export class Mailboxes {
  readonly #mail: MailStore;
  readonly #bus: ChangeBus;
  /** Called after a mailbox is deleted (its sharing grants go with it). */
  onDeleted?: (account: AccountRef, mailboxId: number) => Promise<void>;

  constructor(mail: MailStore, bus: ChangeBus) {
    this.#mail = mail;
    this.#bus = bus;
  }

  async list(account: AccountRef): Promise<MailboxInfo[]> {
    return (await this.#mail.listMailboxes(account)).map(info);
  }

  async find(account: AccountRef, name: string): Promise<MailboxInfo | null> {
    const n = checkName(name);
    const rows = await this.#mail.listMailboxes(account); // provisions a new account on first use
    const r = rows.find((m) => m.name === n);
    return r ? info(r) : null;
  }

  async get(account: AccountRef, name: string): Promise<MailboxInfo> {
    const mb = await this.find(account, name);
    if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
    return mb;
  }

  async byId(account: AccountRef, id: number): Promise<MailboxInfo | null> {
    const r = await this.#mail.partitionOf(account).run('read mailbox', (db) =>
      db.selectFrom('mailboxes').selectAll().where('account_id', '=', account.id).where('id', '=', id).executeTakeFirst());
    return r ? info(r) : null;
  }

  async subscriptions(account: AccountRef): Promise<string[]> {
    await this.#mail.listMailboxes(account);
    const rows = await this.#mail.partitionOf(account).run('read subscriptions', (db) =>
      db.selectFrom('subscriptions').select('name').where('account_id', '=', account.id).orderBy('name').execute());
    return rows.map((r) => r.name);
  }

  /** RFC 9051 §6.3.3 CREATE, with RFC 6154 §3 CREATE-SPECIAL-USE. Missing parents are created too. */
  async create(account: AccountRef, name: string, specialUse: readonly string[] = []): Promise<MailboxInfo> {
    const n = checkName(name);
    if (n === INBOX) throw new DomainError('ALREADY_EXISTS', 'INBOX exists always');
    if (specialUse.length > 1) throw invalid('at most one special use per mailbox');
    const use = specialUse[0] ?? null;
    if (use !== null && !(SPECIAL_USES as readonly string[]).includes(use)) throw new DomainError('INVALID_INPUT', `special use ${use} is not supported`);
    await this.#mail.listMailboxes(account);
    const created = await this.#mail.partitionOf(account).tx('create mailbox', async (trx) => {
      const existing = new Set((await trx.selectFrom('mailboxes').select('name').where('account_id', '=', account.id).execute()).map((r) => r.name));
      if (existing.has(n)) throw new DomainError('ALREADY_EXISTS', 'the mailbox exists already');
      const missing = [...parentsOf(n).filter((p) => !existing.has(p)), n];
      const { modseq, firstId } = await beginChange(trx, account.id, missing.length);
      let id = firstId;
      let last: MailboxRow | undefined;
      for (const m of missing) {
        const row: MailboxRow = {
          account_id: account.id, id, name: m, special_use: m === n ? use : null,
          uidvalidity: await nextUidValidity(trx, account.id), uidnext: 1, modseq, created_at: Date.now(),
        };
        await trx.insertInto('mailboxes').values(row).execute();
        await logChange(trx, account.id, modseq, 'mailbox', id, 'create');
        last = row;
        id++;
      }
      return { row: last!, modseq };
    });
    this.#bus.emit({ accountId: account.id, modseq: created.modseq, kinds: ['mailbox'] });
    return info(created.row);
  }

  /** RFC 9051 §6.3.4 DELETE: the mailbox and its messages; refused for INBOX and for a mailbox with children. */
  async delete(account: AccountRef, name: string): Promise<void> {
    const n = checkName(name);
    if (n === INBOX) throw new DomainError('FORBIDDEN', 'INBOX cannot be deleted');
    const part = this.#mail.partitionOf(account);
    const r = await part.tx('delete mailbox', async (trx) => {
      const mb = await trx.selectFrom('mailboxes').selectAll().where('account_id', '=', account.id).where('name', '=', n).executeTakeFirst();
      if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
      const names = await trx.selectFrom('mailboxes').select('name').where('account_id', '=', account.id).execute();
      if (names.some((c) => isInside(c.name, n))) throw new DomainError('HAS_CHILDREN', 'the mailbox has child mailboxes');
      const { modseq } = await beginChange(trx, account.id);
      const rows = await trx.selectFrom('messages').select(['id', 'uid', 'blob_hash', 'size', 'mailbox_id']).where('account_id', '=', account.id).where('mailbox_id', '=', mb.id).execute();
      await removeMessages(trx, part, account.id, modseq, rows, { tombstones: false });
      await trx.deleteFrom('expunged').where('account_id', '=', account.id).where('mailbox_id', '=', mb.id).execute();
      await trx.deleteFrom('mailboxes').where('account_id', '=', account.id).where('id', '=', mb.id).execute();
      await logChange(trx, account.id, modseq, 'mailbox', mb.id, 'destroy');
      return { id: mb.id, modseq };
    });
    this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['mailbox', 'message'], mailboxIds: [r.id] });
    await this.onDeleted?.(account, r.id);
  }

  /** RFC 9051 §6.3.6 RENAME, children included; INBOX's messages move to the new name. */
  async rename(account: AccountRef, from: string, to: string): Promise<void> {
    const f = checkName(from);
    const t = checkName(to);
    if (t === INBOX) throw new DomainError('ALREADY_EXISTS', 'INBOX exists always');
    if (f === t) throw new DomainError('ALREADY_EXISTS', 'the mailbox exists already');
    if (isInside(t, f)) throw invalid('a mailbox cannot be renamed into itself');
    await this.#mail.listMailboxes(account);
    const part = this.#mail.partitionOf(account);
    const r = await part.tx('rename mailbox', async (trx) => {
      const all = await trx.selectFrom('mailboxes').selectAll().where('account_id', '=', account.id).execute();
      const byName = new Map(all.map((m) => [m.name, m]));
      const src = byName.get(f);
      if (!src) throw new DomainError('NOT_FOUND', 'no such mailbox');
      if (byName.has(t)) throw new DomainError('ALREADY_EXISTS', 'the target mailbox exists already');
      const moving = f === INBOX ? [src] : all.filter((m) => m.name === f || isInside(m.name, f));
      const missingParents = parentsOf(t).filter((p) => !byName.has(p) && p !== f && !isInside(p, f));
      const newIds = missingParents.length + (f === INBOX ? 1 : 0);
      const { modseq, firstId } = await beginChange(trx, account.id, newIds);
      let id = firstId;
      for (const p of missingParents) {
        await trx.insertInto('mailboxes').values({ account_id: account.id, id, name: p, special_use: null, uidvalidity: await nextUidValidity(trx, account.id), uidnext: 1, modseq, created_at: Date.now() }).execute();
        await logChange(trx, account.id, modseq, 'mailbox', id, 'create');
        id++;
      }
      const touched: number[] = [];
      if (f === INBOX) {
        // A new mailbox takes INBOX's messages with their UIDs; INBOX keeps its UIDVALIDITY and
        // UIDNEXT (its UIDs are never reused) and records them as expunged.
        const target = id;
        await trx.insertInto('mailboxes').values({ account_id: account.id, id: target, name: t, special_use: null, uidvalidity: await nextUidValidity(trx, account.id), uidnext: src.uidnext, modseq, created_at: Date.now() }).execute();
        await logChange(trx, account.id, modseq, 'mailbox', target, 'create');
        const msgs = await trx.selectFrom('messages').select(['id', 'uid']).where('account_id', '=', account.id).where('mailbox_id', '=', src.id).execute();
        for (const m of msgs) {
          await trx.insertInto('expunged').values({ account_id: account.id, mailbox_id: src.id, uid: m.uid, modseq }).onConflict((oc) => oc.columns(['account_id', 'mailbox_id', 'uid']).doUpdateSet({ modseq })).execute();
          await logChange(trx, account.id, modseq, 'message', m.id, 'update');
        }
        await trx.updateTable('messages').set({ mailbox_id: target, modseq }).where('account_id', '=', account.id).where('mailbox_id', '=', src.id).execute();
        await trx.updateTable('mailboxes').set({ modseq }).where('account_id', '=', account.id).where('id', '=', src.id).execute();
        touched.push(src.id, target);
      } else {
        for (const m of moving) {
          const name = t + m.name.slice(f.length);
          await trx.updateTable('mailboxes').set({ name, modseq }).where('account_id', '=', account.id).where('id', '=', m.id).execute();
          await logChange(trx, account.id, modseq, 'mailbox', m.id, 'update');
          touched.push(m.id);
        }
      }
      return { modseq, touched };
    });
    this.#bus.emit({ accountId: account.id, modseq: r.modseq, kinds: ['mailbox', 'message'], mailboxIds: r.touched });
  }

  /** RFC 9051 §6.3.7 SUBSCRIBE: any valid name, whether or not the mailbox exists. */
  async subscribe(account: AccountRef, name: string): Promise<void> {
    const n = checkName(name);
    await this.#mail.listMailboxes(account);
    await this.#mail.partitionOf(account).run('subscribe', (db) =>
      db.insertInto('subscriptions').values({ account_id: account.id, name: n }).onConflict((oc) => oc.columns(['account_id', 'name']).doNothing()).execute());
  }

  /** RFC 9051 §6.3.8 UNSUBSCRIBE; NOT_FOUND when the name was not subscribed. */
  async unsubscribe(account: AccountRef, name: string): Promise<void> {
    const n = checkName(name);
    const r = await this.#mail.partitionOf(account).run('unsubscribe', (db) =>
      db.deleteFrom('subscriptions').where('account_id', '=', account.id).where('name', '=', n).executeTakeFirst());
    if (Number(r.numDeletedRows) === 0) throw new DomainError('NOT_FOUND', 'the name is not subscribed');
  }

  /** Counts for STATUS (RFC 9051 §6.3.11) in one read. */
  async status(account: AccountRef, mailboxId: number): Promise<MailboxStatus> {
    return this.#mail.partitionOf(account).run('mailbox status', async (db) => {
      const mb = await db.selectFrom('mailboxes').selectAll().where('account_id', '=', account.id).where('id', '=', mailboxId).executeTakeFirst();
      if (!mb) throw new DomainError('NOT_FOUND', 'no such mailbox');
      const rows = await db.selectFrom('messages').select(['flags', 'size']).where('account_id', '=', account.id).where('mailbox_id', '=', mailboxId).execute();
      let unseen = 0;
      let deleted = 0;
      let size = 0;
      for (const r of rows) {
        // Flags are a JSON array of atoms; a substring test is exact for the quoted system flag.
        if (!r.flags.includes('"\\\\Seen"')) unseen++;
        if (r.flags.includes('"\\\\Deleted"')) deleted++;
        size += r.size;
      }
      return { messages: rows.length, unseen, deleted, size, uidnext: mb.uidnext, uidvalidity: mb.uidvalidity, highestModseq: mb.modseq };
    });
  }
}
