/**
 * Sharing mailboxes between accounts: access control lists with the rights of RFC 4314
 * (one letter each), kept in the primary store (mailbox_acl) so that "what is shared with me"
 * can be answered whichever partitions the owners live in. Protocol-free: IMAP's ACL
 * commands and namespace, and later JMAP sharing, are views on it.
 *
 * Rules:
 * - Mailboxes are private by default (GW-ACC-3): only the owner has rights until the owner
 *   (or an identity holding "a" on the mailbox) grants some.
 * - The owner always holds every right; the owner's entry cannot be changed.
 * - Identifiers are addresses of accounts on this server, or "anyone" (every account).
 * - Every change is audited (mailbox.share, mailbox.unshare) in the transaction that makes it.
 * - Reading someone else's mailbox without the "l" right looks exactly like a missing one.
 */
import { appendAudit } from '../../security/audit.ts';
import type { Stores } from '../../store/stores.ts';
import { normaliseAddress } from '../../lib/address.ts';
import { DomainError, invalid } from '../errors.ts';
import type { AccountRef } from './mailstore.ts';

/** RFC 4314 §2.1, in the order the RFC lists them. */
export const ALL_RIGHTS = 'lrswipkxtea';
export const ANYONE = 'anyone';

/**
 * RFC 4314 §2.1.1: the obsolete "c" and "d" stand for the rights that replaced them (c = k x,
 * d = t e x... the RFC maps d to x t e and c to k x for servers that advertise RIGHTS=).
 */
export function normaliseRights(rights: string): string {
  let s = '';
  for (const ch of rights) {
    if (ch === 'c') s += 'kx';
    else if (ch === 'd') s += 'xte';
    else if (ALL_RIGHTS.includes(ch)) s += ch;
    else if (/[0-9]/.test(ch)) continue; // implementation-defined rights: none here, ignored (RFC 4314 §2.1)
    else throw invalid(`"${ch}" is not a right (RFC 4314 §2.1)`);
  }
  return [...ALL_RIGHTS].filter((c) => s.includes(c)).join('');
}

export function hasRight(rights: string, r: string): boolean {
  return rights.includes(r);
}

export interface AclEntry {
  identifier: string;
  rights: string;
}

export interface SharedMailboxRef {
  ownerId: number;
  mailboxId: number;
  rights: string;
}

export class Sharing {
  readonly #stores: Stores;
  constructor(stores: Stores) {
    this.#stores = stores;
  }

  /** The rights of an account on a mailbox of another account ("" when none). */
  async rightsOf(userAddress: string, ownerId: number, mailboxId: number): Promise<string> {
    const rows = await this.#stores.dirRun('read mailbox rights', (db) =>
      db.selectFrom('mailbox_acl').select('rights').where('owner_id', '=', ownerId).where('mailbox_id', '=', mailboxId)
        .where('grantee', 'in', [userAddress, ANYONE]).execute());
    return normaliseRights(rows.map((r) => r.rights).join(''));
  }

  /** The grants on a mailbox, the owner's own entry first (RFC 4314 GETACL). */
  async acl(ownerAddress: string, ownerId: number, mailboxId: number): Promise<AclEntry[]> {
    const rows = await this.#stores.dirRun('read mailbox acl', (db) =>
      db.selectFrom('mailbox_acl').select(['grantee', 'rights']).where('owner_id', '=', ownerId).where('mailbox_id', '=', mailboxId).orderBy('grantee').execute());
    return [{ identifier: ownerAddress, rights: ALL_RIGHTS }, ...rows.map((r) => ({ identifier: r.grantee, rights: r.rights }))];
  }

  /** Mailboxes other accounts have shared with this one (with "l"), by grant to it or to anyone. */
  async sharedWith(user: { id: number; address: string }): Promise<SharedMailboxRef[]> {
    const rows = await this.#stores.dirRun('read shared mailboxes', (db) =>
      db.selectFrom('mailbox_acl').select(['owner_id', 'mailbox_id', 'rights']).where('grantee', 'in', [user.address, ANYONE]).where('owner_id', '!=', user.id).execute());
    const byBox = new Map<string, SharedMailboxRef>();
    for (const r of rows) {
      const k = `${r.owner_id}:${r.mailbox_id}`;
      const prev = byBox.get(k);
      byBox.set(k, { ownerId: r.owner_id, mailboxId: r.mailbox_id, rights: normaliseRights((prev?.rights ?? '') + r.rights) });
    }
    return [...byBox.values()].filter((m) => hasRight(m.rights, 'l'));
  }

  /**
   * RFC 4314 SETACL: sets (or with mode add/remove, changes) the rights of one identifier.
   * `actorRights` are the actor's own rights on the mailbox; "a" is required.
   */
  async setRights(actor: { address: string; rights: string }, owner: { account: AccountRef; address: string }, mailbox: { id: number; name: string },
    identifierIn: string, rightsIn: string, mode: 'set' | 'add' | 'remove' = 'set'): Promise<string> {
    if (!hasRight(actor.rights, 'a')) throw new DomainError('FORBIDDEN', 'administering this mailbox needs the "a" right');
    const identifier = await this.#identifier(identifierIn);
    if (identifier === owner.address) throw new DomainError('FORBIDDEN', 'the owner always holds every right');
    const change = normaliseRights(rightsIn);
    return this.#stores.dirTx('set mailbox rights', async (trx) => {
      const prev = await trx.selectFrom('mailbox_acl').select('rights').where('owner_id', '=', owner.account.id).where('mailbox_id', '=', mailbox.id).where('grantee', '=', identifier).executeTakeFirst();
      const before = prev?.rights ?? '';
      const after = mode === 'set' ? change : mode === 'add' ? normaliseRights(before + change) : [...before].filter((c) => !change.includes(c)).join('');
      if (after === before) return after;
      if (after === '') {
        await trx.deleteFrom('mailbox_acl').where('owner_id', '=', owner.account.id).where('mailbox_id', '=', mailbox.id).where('grantee', '=', identifier).execute();
        await appendAudit(trx, { event: 'mailbox.unshare', actor: actor.address, object: owner.address, detail: { mailboxId: mailbox.id, mailbox: mailbox.name, grantee: identifier, before } });
        return after;
      }
      await trx.insertInto('mailbox_acl').values({ owner_id: owner.account.id, mailbox_id: mailbox.id, grantee: identifier, rights: after, updated_at: Date.now() })
        .onConflict((oc) => oc.columns(['owner_id', 'mailbox_id', 'grantee']).doUpdateSet({ rights: after, updated_at: Date.now() })).execute();
      await appendAudit(trx, { event: 'mailbox.share', actor: actor.address, object: owner.address, detail: { mailboxId: mailbox.id, mailbox: mailbox.name, grantee: identifier, before, after } });
      return after;
    });
  }

  /** RFC 4314 DELETEACL. */
  async deleteRights(actor: { address: string; rights: string }, owner: { account: AccountRef; address: string }, mailbox: { id: number; name: string }, identifierIn: string): Promise<void> {
    await this.setRights(actor, owner, mailbox, identifierIn, '', 'set');
  }

  /** Grants go with their mailbox. */
  async forget(ownerId: number, mailboxId: number): Promise<void> {
    await this.#stores.dirRun('forget mailbox grants', (db) => db.deleteFrom('mailbox_acl').where('owner_id', '=', ownerId).where('mailbox_id', '=', mailboxId).execute());
  }

  /** Every grant of an owner (the disclosure report, GW-ACC-3). */
  async grantsOf(ownerId: number): Promise<{ mailboxId: number; grantee: string; rights: string }[]> {
    const rows = await this.#stores.dirRun('read grants', (db) => db.selectFrom('mailbox_acl').select(['mailbox_id', 'grantee', 'rights']).where('owner_id', '=', ownerId).orderBy('mailbox_id').orderBy('grantee').execute());
    return rows.map((r) => ({ mailboxId: r.mailbox_id, grantee: r.grantee, rights: r.rights }));
  }

  async #identifier(id: string): Promise<string> {
    if (id.toLowerCase() === ANYONE) return ANYONE;
    let address: string;
    try {
      address = normaliseAddress(id);
    } catch {
      throw new DomainError('INVALID_INPUT', 'the identifier is neither "anyone" nor an account address');
    }
    const exists = await this.#stores.dirRun('check grantee', (db) => db.selectFrom('accounts').select('id').where('address', '=', address).executeTakeFirst());
    // Negative rights (RFC 4314 "-" identifiers) and groups are not offered.
    if (!exists) throw new DomainError('INVALID_INPUT', 'no account with that address here');
    return address;
  }
}
