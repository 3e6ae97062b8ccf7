/**
 * The lock store of the authentication throttle, in the primary store (table auth_locks):
 * a lock set on one node holds on all, and `bulwark account unlock` lifts it (GW-DOS-5).
 */
import type { Stores } from '../store/stores.ts';
import type { LockStore } from './auth-throttle.ts';

export class DirectoryLockStore implements LockStore {
  readonly #stores: Stores;
  constructor(stores: Stores) {
    this.#stores = stores;
  }
  async lockedUntil(login: string, ip: string): Promise<number> {
    const r = await this.#stores.dirRun('read lock', (db) => db.selectFrom('auth_locks').select('locked_until').where('login', '=', login).where('ip', '=', ip).executeTakeFirst());
    return r?.locked_until ?? 0;
  }
  async lock(login: string, ip: string, until: number): Promise<void> {
    await this.#stores.dirRun('lock', (db) => db.insertInto('auth_locks').values({ login, ip, locked_until: until, created_at: Date.now() })
      .onConflict((oc) => oc.columns(['login', 'ip']).doUpdateSet({ locked_until: until })).execute());
  }
  async unlock(login: string, ip?: string): Promise<number> {
    const r = await this.#stores.dirRun('unlock', (db) => {
      let q = db.deleteFrom('auth_locks').where('login', '=', login);
      if (ip !== undefined) q = q.where('ip', '=', ip);
      return q.executeTakeFirst();
    });
    return Number(r.numDeletedRows);
  }
  /** Current locks (for the CLI). */
  async list(login?: string): Promise<{ login: string; ip: string; lockedUntil: number }[]> {
    const now = Date.now();
    const rows = await this.#stores.dirRun('list locks', (db) => {
      let q = db.selectFrom('auth_locks').selectAll().where('locked_until', '>', now);
      if (login) q = q.where('login', '=', login);
      return q.orderBy('login').execute();
    });
    return rows.map((r) => ({ login: r.login, ip: r.ip, lockedUntil: r.locked_until }));
  }
}
