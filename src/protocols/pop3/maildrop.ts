/**
 * The maildrop of one POP3 session: a snapshot of the account's INBOX taken at login
 * (RFC 1939 §4: the server locks and opens the maildrop when the client has identified itself), the deletion
 * marks of DELE and the messages RETR sent, and the exclusive-access lock (RFC 1939 §4, §8).
 *
 * Invariants
 * - Message numbers are 1..n in UID order and stay fixed for the session, whatever other
 *   sessions do meanwhile (RFC 1939 §5: numbers refer to the maildrop as opened). A message
 *   IMAP expunges meanwhile keeps its number; the session finds it gone when it reads it.
 * - Sizes are the stored sizes (RFC 822 size, i.e. with the CRLF line ends SMTP delivers).
 *   RFC 1939 §11 counts octets as sent, with CRLF line ends, and warns that a server's local
 *   line-end convention can make the two differ: for mail delivered by SMTP (CRLF only; our
 *   reader refuses anything else) they are the same; a message APPENDed over IMAP with bare
 *   LFs is a few octets longer on the wire than announced.
 * - The unique-id of UIDL is "<uidvalidity>.<uid>" (RFC 1939 §7: 1-70 characters of
 *   0x21-0x7E, never reused for another message in the maildrop). UIDVALIDITY of INBOX never
 *   changes (renaming INBOX keeps it) and UIDs are never reused, so the id is stable across
 *   sessions.
 * - Nothing here writes to the store: the session's UPDATE step does, once, at QUIT.
 */
import type { AccountRef } from '../../core/mail/mailstore.ts';
import type { Mailboxes } from '../../core/mail/mailboxes.ts';
import type { Messages } from '../../core/mail/messages.ts';
import { DomainError } from '../../core/errors.ts';

export interface DropMessage {
  readonly id: number;
  readonly uid: number;
  readonly size: number;
  readonly blobHash: string;
  deleted: boolean;
  /** Sent whole by RETR: gets \Seen at UPDATE (unless deleted). */
  retrieved: boolean;
}

export class Maildrop {
  readonly mailboxId: number;
  readonly uidvalidity: number;
  readonly #msgs: DropMessage[];
  #count: number;
  #size: number;

  constructor(mailboxId: number, uidvalidity: number, rows: readonly { id: number; uid: number; size: number; blobHash: string }[]) {
    this.mailboxId = mailboxId;
    this.uidvalidity = uidvalidity;
    this.#msgs = rows.map((r) => ({ id: r.id, uid: r.uid, size: r.size, blobHash: r.blobHash, deleted: false, retrieved: false }));
    this.#count = this.#msgs.length;
    this.#size = this.#msgs.reduce((n, m) => n + m.size, 0);
  }

  /** Reads the INBOX (Mailboxes.find provisions a new account's mailboxes on first use). */
  static async open(mailboxes: Mailboxes, messages: Messages, account: AccountRef): Promise<Maildrop> {
    const inbox = await mailboxes.find(account, 'INBOX');
    // INBOX always exists (it cannot be deleted): its absence is a fault, not a user error.
    if (!inbox) throw new DomainError('INTERNAL', 'the account has no INBOX');
    // Rows come ascending by UID: message n is the n-th lowest UID.
    const rows = await messages.rows(account, inbox.id, [[1, 0xffffffff]]);
    return new Maildrop(inbox.id, inbox.uidvalidity, rows);
  }

  /** Messages not marked deleted (STAT, RFC 1939 §5). */
  get count(): number {
    return this.#count;
  }

  /** Their total size in octets. */
  get size(): number {
    return this.#size;
  }

  /** Message n, or why there is none: RFC 1939 §5 — a deleted message may not be referred to. */
  get(n: number): DropMessage | 'no-such' | 'deleted' {
    const m = n >= 1 && n <= this.#msgs.length ? this.#msgs[n - 1] : undefined;
    if (!m) return 'no-such';
    return m.deleted ? 'deleted' : m;
  }

  uniqueId(m: DropMessage): string {
    return `${this.uidvalidity}.${m.uid}`;
  }

  delete(m: DropMessage): void {
    if (m.deleted) return;
    m.deleted = true;
    this.#count--;
    this.#size -= m.size;
  }

  /** RSET (RFC 1939 §5): every deletion mark goes. */
  reset(): void {
    for (const m of this.#msgs) m.deleted = false;
    this.#count = this.#msgs.length;
    this.#size = this.#msgs.reduce((n, m) => n + m.size, 0);
  }

  /** [number, message] of every message not deleted, in order (LIST and UIDL without argument). */
  *live(): Generator<[number, DropMessage]> {
    for (let i = 0; i < this.#msgs.length; i++) if (!this.#msgs[i].deleted) yield [i + 1, this.#msgs[i]];
  }

  /** Ids of the messages marked deleted (UPDATE removes them). */
  deletedIds(): number[] {
    return this.#msgs.filter((m) => m.deleted).map((m) => m.id);
  }

  /** UIDs, ascending, of the messages RETR sent and that are not deleted (UPDATE sets \Seen). */
  seenUids(): number[] {
    return this.#msgs.filter((m) => m.retrieved && !m.deleted).map((m) => m.uid);
  }
}

/**
 * RFC 1939 §4: "the POP3 server then acquires an exclusive-access lock on the maildrop".
 * The lock is held from the login until the session ends, and a second login to the same
 * account meanwhile is refused with [IN-USE] (RFC 2449 §8.1).
 *
 * The lock lives in this process's memory, so it holds per node: a second session on another
 * node is not refused. That costs no data: each session works on its own snapshot, UPDATE
 * removes by message id (removing what is gone already is a no-op), and RETR of a message
 * the other session removed answers -ERR. A lock shared by the nodes (in the primary store,
 * like the login lockouts) is left for when several nodes serve POP3.
 */
export class MaildropLocks {
  readonly #held = new Set<number>();

  acquire(accountId: number): boolean {
    if (this.#held.has(accountId)) return false;
    this.#held.add(accountId);
    return true;
  }

  release(accountId: number): void {
    this.#held.delete(accountId);
  }
}

/**
 * One lock table per installation served by this process, keyed by its Messages service:
 * the POP3 and POP3S listeners of a node share it (they are given the same services), and two
 * installations in one process (tests) do not see each other's account ids.
 */
const TABLES = new WeakMap<object, MaildropLocks>();

export function locksFor(key: object): MaildropLocks {
  let t = TABLES.get(key);
  if (!t) {
    t = new MaildropLocks();
    TABLES.set(key, t);
  }
  return t;
}
