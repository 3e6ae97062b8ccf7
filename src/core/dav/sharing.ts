/**
 * Sharing calendars, task lists and address books with other accounts or with lists (issue 5
 * point 6; GW-ACC-3). Grants live in the primary store (dav_shares). Protocol-free: the DAV
 * server mounts what is shared with an account in its homes and checks the access on every
 * request; JMAP and the web client can use the same grants.
 *
 * Rules:
 * - Private by default: only the owner sees a collection until the owner shares it.
 * - Access is `read` or `read-write`; an account's access is the best of the grants to it and
 *   to the lists it is a direct member of.
 * - Grantees are local accounts or lists; the owner cannot share with itself.
 * - Every change is audited (dav.share, dav.unshare) in the transaction that makes it.
 */
import { appendAudit } from '../../security/audit.ts';
import type { Stores } from '../../store/stores.ts';
import type { DavAccess } from '../../store/migrations/0008-dav-shares.ts';
import { normaliseAddress } from '../../lib/address.ts';
import type { AccountInfo, Directory } from '../directory/directory.ts';
import { DomainError } from '../errors.ts';

export type { DavAccess };

export interface ShareGrant {
  grantee: string;
  access: DavAccess;
}

export interface SharedCollectionRef {
  ownerId: number;
  collectionId: number;
  access: DavAccess;
}

const better = (a: DavAccess | null, b: DavAccess): DavAccess => (a === 'read-write' || b === 'read-write' ? 'read-write' : 'read');

export class DavSharing {
  readonly #stores: Stores;
  readonly #directory: Directory;
  constructor(stores: Stores, directory: Directory) {
    this.#stores = stores;
    this.#directory = directory;
  }

  /** Sets (or with access null removes) one grantee's access to a collection of the owner. */
  async share(owner: AccountInfo, collection: { id: number; name: string }, granteeIn: string, access: DavAccess | null): Promise<void> {
    let grantee: string;
    try {
      grantee = normaliseAddress(granteeIn.replace(/^mailto:/i, ''));
    } catch {
      throw new DomainError('INVALID_INPUT', 'a sharee is an account or list address');
    }
    if (grantee === owner.address.toLowerCase()) throw new DomainError('FORBIDDEN', 'the owner has every right already');
    const kind = (await this.#directory.lookup(grantee))?.kind;
    if (access !== null && kind !== 'account' && kind !== 'list') throw new DomainError('NOT_FOUND', `${grantee} is no account or list here`);
    await this.#stores.dirTx('share collection', async (trx) => {
      const prev = await trx.selectFrom('dav_shares').select('access').where('owner_id', '=', owner.id).where('collection_id', '=', collection.id).where('grantee', '=', grantee).executeTakeFirst();
      const before = prev?.access ?? null;
      if (before === access) return;
      const detail = { collectionId: collection.id, collection: collection.name, grantee, before };
      if (access === null) {
        await trx.deleteFrom('dav_shares').where('owner_id', '=', owner.id).where('collection_id', '=', collection.id).where('grantee', '=', grantee).execute();
        await appendAudit(trx, { event: 'dav.unshare', actor: owner.address, object: owner.address, detail });
        return;
      }
      await trx.insertInto('dav_shares').values({ owner_id: owner.id, collection_id: collection.id, grantee, access, updated_at: Date.now() })
        .onConflict((oc) => oc.columns(['owner_id', 'collection_id', 'grantee']).doUpdateSet({ access, updated_at: Date.now() })).execute();
      await appendAudit(trx, { event: 'dav.share', actor: owner.address, object: owner.address, detail: { ...detail, after: access } });
    });
  }

  /** The grants on one collection (CS:invite). */
  async grants(ownerId: number, collectionId: number): Promise<ShareGrant[]> {
    const rows = await this.#stores.dirRun('read shares', (db) =>
      db.selectFrom('dav_shares').select(['grantee', 'access']).where('owner_id', '=', ownerId).where('collection_id', '=', collectionId).orderBy('grantee').execute());
    return rows.map((r) => ({ grantee: r.grantee, access: r.access }));
  }

  /** Every collection shared with the account, directly or through a list it is a member of. */
  async sharedWith(account: AccountInfo): Promise<SharedCollectionRef[]> {
    const rows = await this.#stores.dirRun('read shared collections', async (db) => {
      const lists = await db.selectFrom('list_members').innerJoin('lists', 'lists.id', 'list_members.list_id').select('lists.address')
        .where('list_members.member', '=', account.address.toLowerCase()).execute();
      const who = [account.address.toLowerCase(), ...lists.map((l) => l.address)];
      return db.selectFrom('dav_shares').select(['owner_id', 'collection_id', 'access']).where('grantee', 'in', who).where('owner_id', '!=', account.id).execute();
    });
    const by = new Map<string, SharedCollectionRef>();
    for (const r of rows) {
      const k = `${r.owner_id}:${r.collection_id}`;
      by.set(k, { ownerId: r.owner_id, collectionId: r.collection_id, access: better(by.get(k)?.access ?? null, r.access) });
    }
    return [...by.values()].sort((a, b) => a.ownerId - b.ownerId || a.collectionId - b.collectionId);
  }

  /** The account's access to another account's collection, or null. */
  async accessFor(account: AccountInfo, ownerId: number, collectionId: number): Promise<DavAccess | null> {
    return (await this.sharedWith(account)).find((s) => s.ownerId === ownerId && s.collectionId === collectionId)?.access ?? null;
  }

  /** Grants go with their collection. */
  async forget(ownerId: number, collectionId: number): Promise<void> {
    await this.#stores.dirRun('forget shares', (db) => db.deleteFrom('dav_shares').where('owner_id', '=', ownerId).where('collection_id', '=', collectionId).execute());
  }
}
