/**
 * The directory: domains, accounts, aliases and distribution lists, in the primary store.
 * Server-side aliases and lists are authoritative for incoming mail (GW-DL-1); users may read
 * the aliases and lists they belong to and public lists, only admins (domain-admins for their
 * domain) may change them (GW-DL-2). Every check happens here, in core, on the first line of
 * each operation, whatever interface called it.
 *
 * Invariants:
 * - One directory transaction per operation, and the audit entry commits in it: a change
 *   without its audit record (or the reverse) cannot exist.
 * - Every address in use has one row in `addresses`, so an account, an alias and a list can
 *   never share an address, even when two nodes race.
 * - Account data lives in a partition (another database): an account is created in the
 *   directory first and provisioned in its partition after; removal goes the other way.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Stores } from '../../store/stores.ts';
import type { DirectoryDB, DirRow } from '../../store/schema.ts';
import { appendAudit, type AuditEvent } from '../../security/audit.ts';
import { checkPasswordStrength, hashPassword, verifyPassword, VerifiedPasswords } from '../../security/passwords.ts';
import { displayAddress, displayDomain, normaliseAddress, normaliseDomain, parseAddress, stripSubaddress } from '../../lib/address.ts';
import {
  actorLabel, canManageAccount, canManageDomain, hasPrivilegedRole, isAdmin, parseRoles, requireAccountManager, requireAdmin, requireDomainAdmin,
  type Actor, type Role,
} from '../actor.ts';
import { DomainError, invalid } from '../errors.ts';
import { mapDbError } from '../../store/errors.ts';
import type { MailStore, AccountRef } from '../mail/mailstore.ts';
import { ACCOUNT_KINDS, type AccountKind } from '../../store/migrations/0007-account-kind.ts';

export type { AccountKind };

export interface DirectoryLimits {
  defaultQuota: number;
  maxListDepth: number;
  maxExpansion: number;
}

export interface DirectoryOptions {
  limits: DirectoryLimits;
  /** Partitions that take no new accounts. */
  closedPartitions?: string[];
}

export type PostPolicy = 'anyone' | 'members' | 'domain' | 'senders';
export const POST_POLICIES: PostPolicy[] = ['anyone', 'members', 'domain', 'senders'];

export interface DomainInfo {
  id: number;
  name: string; // A-label
  display: string; // Unicode
  enabled: boolean;
  createdAt: number;
}

export interface AccountInfo extends AccountRef {
  address: string;
  displayAddress: string;
  domainId: number;
  displayName: string;
  roles: Role[];
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** A person, or a room or resource that answers invitations itself (scheduling). */
  kind: AccountKind;
}

export interface AliasInfo {
  id: number;
  address: string; // "@domain" for a catch-all
  domainId: number;
  catchAll: boolean;
  targets: string[];
}

export interface ListInfo {
  id: number;
  address: string;
  domainId: number;
  description: string;
  postPolicy: PostPolicy;
  public: boolean;
  members: string[];
  senders: string[];
}

export interface AuthContext {
  protocol: string;
  remote?: string;
}

export interface Expansion {
  /** Local accounts that receive the message, each once. */
  accounts: AccountInfo[];
  /** External addresses to relay to, each once. */
  external: string[];
  /** Addresses met again while expanding (loops and duplicates), for the log. */
  skipped: string[];
}

type Trx = Transaction<DirectoryDB>;
type AccountRow = DirRow<'accounts'>;

function toAccount(r: AccountRow): AccountInfo {
  return {
    id: r.id,
    partition: r.partition,
    quota_bytes: r.quota_bytes,
    address: r.address,
    displayAddress: displayAddress(r.address),
    domainId: r.domain_id,
    displayName: r.display_name,
    roles: JSON.parse(r.roles),
    enabled: r.enabled === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    kind: (r.kind ?? 'individual') as AccountKind,
  };
}

function catchAllAddress(domain: string): string {
  return `@${domain}`;
}

/** An alias address: local@domain, or @domain for the domain's catch-all. */
function normaliseAliasAddress(input: string): string {
  const s = String(input ?? '').trim();
  if (s.startsWith('@')) return catchAllAddress(normaliseDomain(s.slice(1)));
  return normaliseAddress(s);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

export class Directory {
  readonly #stores: Stores;
  readonly #mail: MailStore;
  readonly #opts: DirectoryOptions;
  /** Recently verified logins (security/passwords.ts VerifiedPasswords): reconnects skip argon2id. */
  readonly #verified = new VerifiedPasswords();

  constructor(stores: Stores, mail: MailStore, opts: DirectoryOptions) {
    this.#stores = stores;
    this.#mail = mail;
    this.#opts = opts;
  }

  get #db(): Kysely<DirectoryDB> {
    return this.#stores.directory;
  }

  async #audit(trx: Trx, actor: Actor, event: AuditEvent, object: string, detail: Record<string, unknown> = {}, source = ''): Promise<void> {
    await appendAudit(trx, { event, actor: actorLabel(actor), object, detail, source });
  }

  // ---------------------------------------------------------------- domains

  async #domainRow(db: Kysely<DirectoryDB> | Trx, name: string) {
    const d = await db.selectFrom('domains').selectAll().where('name', '=', normaliseDomain(name)).executeTakeFirst();
    if (!d) throw new DomainError('NOT_FOUND', `domain ${name}`);
    return d;
  }

  #domainInfo(d: DirRow<'domains'>): DomainInfo {
    return { id: d.id, name: d.name, display: displayDomain(d.name), enabled: d.enabled === 1, createdAt: d.created_at };
  }

  async addDomain(actor: Actor, name: string): Promise<DomainInfo> {
    requireAdmin(actor, 'adding a domain');
    const n = normaliseDomain(name);
    return this.#stores.dirTx('add domain', async (trx) => {
      const now = Date.now();
      const exists = await trx.selectFrom('domains').select('id').where('name', '=', n).executeTakeFirst();
      if (exists) throw new DomainError('ALREADY_EXISTS', `domain ${displayDomain(n)}`);
      const row = await trx.insertInto('domains').values({ name: n, enabled: 1, created_at: now, updated_at: now }).returningAll().executeTakeFirstOrThrow();
      await this.#audit(trx, actor, 'domain.create', n);
      return this.#domainInfo(row);
    });
  }

  async listDomains(actor: Actor): Promise<DomainInfo[]> {
    const rows = await this.#stores.dirRun('list domains', (db) => db.selectFrom('domains').selectAll().orderBy('name').execute());
    return rows.filter((d) => canManageDomain(actor, d.id) || (actor.kind === 'account' && actor.domainId === d.id)).map((d) => this.#domainInfo(d));
  }

  async getDomain(actor: Actor, name: string): Promise<DomainInfo & { accounts: number; aliases: number; lists: number }> {
    const d = await this.#stores.dirRun('get domain', (db) => this.#domainRow(db, name));
    if (!canManageDomain(actor, d.id)) throw new DomainError('FORBIDDEN', 'reading a domain needs the admin role or domain-admin of that domain');
    const count = async (t: 'accounts' | 'aliases' | 'lists') => Number((await this.#stores.dirRun('get domain', (db) =>
      db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).where('domain_id', '=', d.id).executeTakeFirstOrThrow())).n);
    return { ...this.#domainInfo(d), accounts: await count('accounts'), aliases: await count('aliases'), lists: await count('lists') };
  }

  async updateDomain(actor: Actor, name: string, patch: { enabled?: boolean }): Promise<DomainInfo> {
    requireAdmin(actor, 'changing a domain');
    return this.#stores.dirTx('update domain', async (trx) => {
      const before = await this.#domainRow(trx, name);
      const enabled = patch.enabled === undefined ? before.enabled : patch.enabled ? 1 : 0;
      const after = await trx.updateTable('domains').set({ enabled, updated_at: Date.now() }).where('id', '=', before.id).returningAll().executeTakeFirstOrThrow();
      await this.#audit(trx, actor, 'domain.update', before.name, { before: { enabled: before.enabled === 1 }, after: { enabled: after.enabled === 1 } });
      return this.#domainInfo(after);
    });
  }

  async removeDomain(actor: Actor, name: string): Promise<void> {
    requireAdmin(actor, 'removing a domain');
    await this.#stores.dirTx('remove domain', async (trx) => {
      const d = await this.#domainRow(trx, name);
      const used = await trx.selectFrom('addresses').select('address').where('domain_id', '=', d.id).limit(1).executeTakeFirst();
      if (used) throw invalid(`domain ${displayDomain(d.name)} still has accounts, aliases or lists; remove them first`);
      await trx.deleteFrom('domains').where('id', '=', d.id).execute();
      await this.#audit(trx, actor, 'domain.delete', d.name);
    });
  }

  /** Whether mail for this domain is ours (used by SMTP to refuse relaying). */
  async isLocalDomain(domain: string): Promise<boolean> {
    let n: string;
    try {
      n = normaliseDomain(domain);
    } catch {
      return false;
    }
    const d = await this.#stores.dirRun('look up domain', (db) => db.selectFrom('domains').select('enabled').where('name', '=', n).executeTakeFirst());
    return !!d && d.enabled === 1;
  }

  // ---------------------------------------------------------------- accounts

  /** The open partition with the fewest accounts (ties: by name). */
  async placeAccount(trx?: Trx): Promise<string> {
    const db = trx ?? this.#db;
    const closed = new Set(this.#opts.closedPartitions ?? []);
    const names = [...this.#stores.partitions.keys()].filter((n) => !closed.has(n)).sort();
    if (names.length === 0) throw new DomainError('CONFIG_INVALID', 'no partition is open for new accounts');
    const counts = await db.selectFrom('accounts').select(['partition', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('partition').execute();
    const by = new Map(counts.map((c) => [c.partition, Number(c.n)]));
    return names.reduce((best, n) => ((by.get(n) ?? 0) < (by.get(best) ?? 0) ? n : best), names[0]);
  }

  async #accountRow(db: Kysely<DirectoryDB> | Trx, address: string) {
    const a = await db.selectFrom('accounts').selectAll().where('address', '=', normaliseAddress(address)).executeTakeFirst();
    if (!a) throw new DomainError('NOT_FOUND', `account ${address}`);
    return a;
  }

  async #claimAddress(trx: Trx, address: string, kind: 'account' | 'alias' | 'list', domainId: number): Promise<void> {
    const taken = await trx.selectFrom('addresses').select('kind').where('address', '=', address).executeTakeFirst();
    if (taken) throw new DomainError('ALREADY_EXISTS', `${displayAddress(address)} is already in use by ${taken.kind === 'list' ? 'a list' : `an ${taken.kind}`}`);
    await trx.insertInto('addresses').values({ address, kind, domain_id: domainId }).execute();
  }

  async addAccount(actor: Actor, input: { address: string; password: string; displayName?: string; quota?: number; roles?: Role[] | string; partition?: string; kind?: AccountKind }): Promise<AccountInfo> {
    const address = normaliseAddress(input.address);
    const { local, domain } = parseAddress(address);
    const roles = input.roles === undefined ? (['user'] as Role[]) : parseRoles(input.roles);
    checkPasswordStrength(input.password);
    const quota = input.quota ?? this.#opts.limits.defaultQuota;
    if (!Number.isSafeInteger(quota) || quota < 0) throw invalid('quota must be a whole number of bytes, 0 or more');
    const displayName = String(input.displayName ?? '').trim();
    if (displayName.length > 256) throw invalid('display name is longer than 256 characters');
    const kind = input.kind ?? 'individual';
    if (!(ACCOUNT_KINDS as readonly string[]).includes(kind)) throw invalid(`kind must be one of ${ACCOUNT_KINDS.join(', ')}`);
    if (input.partition !== undefined && !this.#stores.partitions.has(input.partition)) {
      throw invalid(`partition "${input.partition}" is not configured; known: ${[...this.#stores.partitions.keys()].join(', ')}`);
    }
    const mayAdd = (domainId: number) => {
      requireDomainAdmin(actor, domainId, 'adding an account');
      if (!isAdmin(actor) && hasPrivilegedRole(roles)) throw new DomainError('FORBIDDEN', 'only an admin may grant the admin or auditor role');
    };
    // Checked before hashing too, so that a caller without the right cannot make us spend an
    // argon2 hash; checked again in the transaction that writes.
    mayAdd((await this.#stores.dirRun('add account', (db) => this.#domainRow(db, domain))).id);
    const hash = await hashPassword(input.password);
    const account = await this.#stores.dirTx('add account', async (trx) => {
      const d = await this.#domainRow(trx, domain);
      mayAdd(d.id);
      await this.#claimAddress(trx, address, 'account', d.id);
      const partition = input.partition ?? (await this.placeAccount(trx));
      const now = Date.now();
      const row = await trx.insertInto('accounts').values({
        domain_id: d.id, local_part: local, address, display_name: displayName, password_hash: hash, quota_bytes: quota,
        roles: JSON.stringify(roles), enabled: 1, partition, created_at: now, updated_at: now, password_changed_at: now, kind,
      }).returningAll().executeTakeFirstOrThrow();
      await this.#audit(trx, actor, 'account.create', address, { partition, roles, quota, displayName, ...(kind !== 'individual' ? { kind } : {}) });
      return toAccount(row);
    });
    // Provisioning may fail while the partition is down; the account then gets its
    // mailboxes on first use (MailStore.provision is idempotent).
    await this.#mail.provision(account).catch(() => {});
    return account;
  }

  async listAccounts(actor: Actor, opts: { domain?: string } = {}): Promise<AccountInfo[]> {
    let q = this.#db.selectFrom('accounts').selectAll().orderBy('address');
    if (opts.domain) {
      const d = await this.#stores.dirRun('list accounts', (db) => this.#domainRow(db, opts.domain!));
      requireDomainAdmin(actor, d.id, 'listing accounts');
      q = q.where('domain_id', '=', d.id);
    } else if (!isAdmin(actor)) {
      if (actor.kind !== 'account' || !actor.roles.includes('domain-admin')) throw new DomainError('FORBIDDEN', 'listing accounts needs an admin role');
      q = q.where('domain_id', '=', actor.domainId);
    }
    const rows = await this.#stores.dirRun('list accounts', () => q.execute());
    return rows.map(toAccount);
  }

  /** An account as the actor may see it: itself, or any account in a domain it manages. */
  async getAccount(actor: Actor, address: string): Promise<AccountInfo> {
    const a = toAccount(await this.#stores.dirRun('get account', (db) => this.#accountRow(db, address)));
    if (!(canManageDomain(actor, a.domainId) || (actor.kind === 'account' && actor.id === a.id))) {
      // Same answer as for a missing account: do not reveal who exists.
      throw new DomainError('NOT_FOUND', `account ${address}`);
    }
    return a;
  }

  /**
   * The enabled accounts of a domain, by address, at most `limit`: for principal searches of
   * the domain's users (scheduling looks attendees up this way) and the global address list.
   * Internal: the caller shows them only to users of the domain.
   */
  async domainAccounts(domainId: number, limit = 100_000): Promise<AccountInfo[]> {
    const rows = await this.#stores.dirRun('list domain accounts', (db) =>
      db.selectFrom('accounts').selectAll().where('domain_id', '=', domainId).where('enabled', '=', 1).orderBy('address').limit(Math.max(1, limit)).execute());
    return rows.map(toAccount);
  }

  /** What the global address list shows of a domain: its enabled accounts and its public lists. */
  async domainListing(domainId: number): Promise<{ accounts: AccountInfo[]; lists: { id: number; address: string; description: string }[] }> {
    const lists = await this.#stores.dirRun('list public lists', (db) =>
      db.selectFrom('lists').select(['id', 'address', 'description']).where('domain_id', '=', domainId).where('public', '=', 1).orderBy('address').execute());
    return { accounts: await this.domainAccounts(domainId), lists };
  }

  /**
   * For live sessions (core/sessions.ts): of these accounts, whether each may still be used
   * (it exists and it and its domain are enabled) and when its password last changed, in one
   * query. An account missing from the answer is gone.
   */
  async sessionStates(ids: number[]): Promise<Map<number, { usable: boolean; passwordChangedAt: number }>> {
    const out = new Map<number, { usable: boolean; passwordChangedAt: number }>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.#stores.dirRun('check sessions', (db) => db.selectFrom('accounts').innerJoin('domains', 'domains.id', 'accounts.domain_id')
        .select(['accounts.id as id', 'accounts.enabled as enabled', 'domains.enabled as domainEnabled', 'accounts.password_changed_at as changed'])
        .where('accounts.id', 'in', ids.slice(i, i + 500)).execute());
      for (const r of rows) out.set(Number(r.id), { usable: r.enabled === 1 && r.domainEnabled === 1, passwordChangedAt: Number(r.changed) });
    }
    return out;
  }

  /** Internal lookup for protocols after authentication or for delivery (no actor). */
  async accountById(id: number): Promise<AccountInfo | null> {
    const r = await this.#stores.dirRun('get account', (db) => db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst());
    return r ? toAccount(r) : null;
  }

  async updateAccount(actor: Actor, address: string, patch: { displayName?: string; quota?: number; roles?: Role[] | string }): Promise<AccountInfo> {
    const roles = patch.roles === undefined ? undefined : parseRoles(patch.roles);
    if (patch.quota !== undefined && (!Number.isSafeInteger(patch.quota) || patch.quota < 0)) throw invalid('quota must be a whole number of bytes, 0 or more');
    if (patch.displayName !== undefined && String(patch.displayName).length > 256) throw invalid('display name is longer than 256 characters');
    return this.#stores.dirTx('update account', async (trx) => {
      const before = await this.#accountRow(trx, address);
      requireAccountManager(actor, { domainId: before.domain_id, roles: JSON.parse(before.roles) }, 'changing an account');
      if (roles && !isAdmin(actor) && hasPrivilegedRole(roles)) throw new DomainError('FORBIDDEN', 'only an admin may grant the admin or auditor role');
      const after = await trx.updateTable('accounts').set({
        display_name: patch.displayName === undefined ? before.display_name : String(patch.displayName).trim(),
        quota_bytes: patch.quota ?? before.quota_bytes,
        roles: roles ? JSON.stringify(roles) : before.roles,
        updated_at: Date.now(),
      }).where('id', '=', before.id).returningAll().executeTakeFirstOrThrow();
      const view = (r: typeof before) => ({ displayName: r.display_name, quota: r.quota_bytes, roles: JSON.parse(r.roles) });
      await this.#audit(trx, actor, 'account.update', before.address, { before: view(before), after: view(after) });
      return toAccount(after);
    });
  }

  /** Changes a password: the account itself, or an admin of its domain. */
  async setPassword(actor: Actor, address: string, password: string): Promise<void> {
    const may = (a: AccountRow) => {
      if (actor.kind === 'account' && actor.id === a.id) return;
      if (!canManageAccount(actor, { domainId: a.domain_id, roles: JSON.parse(a.roles) })) {
        throw new DomainError('FORBIDDEN', 'changing a password needs the account itself or an admin of its domain (the admin role for an admin or auditor)');
      }
    };
    may(await this.#stores.dirRun('set password', (db) => this.#accountRow(db, address)));
    checkPasswordStrength(password);
    const hash = await hashPassword(password);
    await this.#stores.dirTx('set password', async (trx) => {
      const a = await this.#accountRow(trx, address);
      may(a);
      const now = Date.now();
      await trx.updateTable('accounts').set({ password_hash: hash, password_changed_at: now, updated_at: now }).where('id', '=', a.id).execute();
      await this.#audit(trx, actor, 'account.password', a.address);
    });
  }

  async setEnabled(actor: Actor, address: string, enabled: boolean): Promise<AccountInfo> {
    return this.#stores.dirTx('enable/disable account', async (trx) => {
      const a = await this.#accountRow(trx, address);
      requireAccountManager(actor, { domainId: a.domain_id, roles: JSON.parse(a.roles) }, enabled ? 'enabling an account' : 'disabling an account');
      if (!enabled && actor.kind === 'account' && actor.id === a.id) throw invalid('an admin cannot disable their own account');
      const after = await trx.updateTable('accounts').set({ enabled: enabled ? 1 : 0, updated_at: Date.now() }).where('id', '=', a.id).returningAll().executeTakeFirstOrThrow();
      await this.#audit(trx, actor, enabled ? 'account.enable' : 'account.disable', a.address, { before: { enabled: a.enabled === 1 }, after: { enabled } });
      return toAccount(after);
    });
  }

  /** Removes an account and all its data. Refused while its partition is unavailable. */
  async removeAccount(actor: Actor, address: string): Promise<void> {
    const a = toAccount(await this.#stores.dirRun('remove account', (db) => this.#accountRow(db, address)));
    requireAccountManager(actor, a, 'removing an account');
    if (actor.kind === 'account' && actor.id === a.id) throw invalid('an admin cannot remove their own account');
    await this.#mail.purge(a);
    await this.#stores.dirTx('remove account', async (trx) => {
      await trx.deleteFrom('accounts').where('id', '=', a.id).execute();
      await trx.deleteFrom('addresses').where('address', '=', a.address).execute();
      await this.#audit(trx, actor, 'account.delete', a.address, { partition: a.partition });
    });
  }

  /**
   * Checks a login. Returns the account or null; the caller answers the same generic failure
   * for a wrong password, an unknown name and a disabled account. Both outcomes are audited.
   */
  async authenticate(login: string, password: string, ctx: AuthContext): Promise<AccountInfo | null> {
    let row: AccountRow | undefined;
    // A login that is no address is recorded as such, never verbatim: users type their
    // password into the user name field, and the trail must not keep it (GW-LOG-3).
    let address: string | null = null;
    try {
      address = normaliseAddress(String(login ?? '').slice(0, 320));
    } catch (e) {
      if (!(e instanceof DomainError && e.code === 'INVALID_INPUT')) throw e;
    }
    if (address !== null) {
      // Store trouble is an error (UNAVAILABLE), not a failed login.
      row = await this.#stores.dirRun('authenticate', (db) => db.selectFrom('accounts').selectAll().where('address', '=', address!).executeTakeFirst());
    }
    const pw = String(password ?? '');
    const ok = row !== undefined && this.#verified.has(row.password_hash, pw) ? true : await verifyPassword(row?.password_hash, pw);
    if (ok && row) this.#verified.add(row.password_hash, pw);
    const enabled = ok && row !== undefined && row.enabled === 1 && (await this.#stores.dirRun('authenticate', (db) =>
      db.selectFrom('domains').select('enabled').where('id', '=', row!.domain_id).executeTakeFirst()))?.enabled === 1;
    const result = ok && enabled;
    const reason = address === null ? 'invalid' : !row ? 'unknown' : !ok ? 'credentials' : 'disabled';
    await this.#stores.dirTx('audit login', (trx) => appendAudit(trx, {
      event: result ? 'auth.login.success' : 'auth.login.failure',
      actor: address ?? '(invalid login)',
      source: ctx.remote ?? '',
      object: address ?? '',
      detail: { protocol: ctx.protocol, ...(result ? {} : { reason }) },
    }));
    return result ? toAccount(row!) : null;
  }

  /** The actor for a logged-in account. */
  actorFor(a: AccountInfo): Actor {
    return { kind: 'account', id: a.id, address: a.address, domainId: a.domainId, roles: a.roles };
  }

  /** Points an account at another partition (used by the move, after copying and verifying). */
  async switchPartition(actor: Actor, accountId: number, from: string, to: string, detail: Record<string, unknown>): Promise<void> {
    requireAdmin(actor, 'moving an account');
    await this.#stores.dirTx('switch partition', async (trx) => {
      const r = await trx.updateTable('accounts').set({ partition: to, updated_at: Date.now() })
        .where('id', '=', accountId).where('partition', '=', from).returning('address').executeTakeFirst();
      if (!r) throw new DomainError('CONFLICT', 'the account changed partition meanwhile');
      await this.#audit(trx, actor, 'account.move', r.address, { from, to, ...detail });
    });
  }

  // ---------------------------------------------------------------- aliases

  async #aliasInfo(db: Kysely<DirectoryDB> | Trx, row: { id: number; address: string; domain_id: number }): Promise<AliasInfo> {
    const targets = await db.selectFrom('alias_targets').select('target').where('alias_id', '=', row.id).orderBy('target').execute();
    return { id: row.id, address: row.address, domainId: row.domain_id, catchAll: row.address.startsWith('@'), targets: targets.map((t) => t.target) };
  }

  #normaliseTargets(targets: string[]): string[] {
    if (!Array.isArray(targets) || targets.length === 0) throw invalid('an alias needs at least one target address');
    if (targets.length > 1000) throw invalid('an alias may have at most 1000 targets');
    return [...new Set(targets.map((t) => normaliseAddress(t)))].sort();
  }

  async addAlias(actor: Actor, address: string, targets: string[]): Promise<AliasInfo> {
    const addr = normaliseAliasAddress(address);
    const list = this.#normaliseTargets(targets);
    if (list.includes(addr)) throw invalid('an alias cannot point to itself');
    return this.#stores.dirTx('add alias', async (trx) => {
      const d = await this.#domainRow(trx, domainOf(addr));
      requireDomainAdmin(actor, d.id, 'adding an alias');
      await this.#claimAddress(trx, addr, 'alias', d.id);
      const now = Date.now();
      const row = await trx.insertInto('aliases').values({ domain_id: d.id, address: addr, created_at: now, updated_at: now }).returningAll().executeTakeFirstOrThrow();
      for (const t of list) await trx.insertInto('alias_targets').values({ alias_id: row.id, target: t }).execute();
      await this.#audit(trx, actor, 'alias.create', addr, { targets: list });
      return this.#aliasInfo(trx, row);
    });
  }

  async #aliasRow(db: Kysely<DirectoryDB> | Trx, address: string) {
    const r = await db.selectFrom('aliases').selectAll().where('address', '=', normaliseAliasAddress(address)).executeTakeFirst();
    if (!r) throw new DomainError('NOT_FOUND', `alias ${address}`);
    return r;
  }

  async updateAlias(actor: Actor, address: string, change: { targets?: string[]; add?: string[]; remove?: string[] }): Promise<AliasInfo> {
    return this.#stores.dirTx('update alias', async (trx) => {
      const row = await this.#aliasRow(trx, address);
      requireDomainAdmin(actor, row.domain_id, 'changing an alias');
      const before = (await this.#aliasInfo(trx, row)).targets;
      let next = change.targets ? this.#normaliseTargets(change.targets) : [...before];
      if (change.add) next = [...new Set([...next, ...change.add.map((t) => normaliseAddress(t))])];
      if (change.remove) {
        const rm = new Set(change.remove.map((t) => normaliseAddress(t)));
        next = next.filter((t) => !rm.has(t));
      }
      next = this.#normaliseTargets(next);
      if (next.includes(row.address)) throw invalid('an alias cannot point to itself');
      await trx.deleteFrom('alias_targets').where('alias_id', '=', row.id).execute();
      for (const t of next) await trx.insertInto('alias_targets').values({ alias_id: row.id, target: t }).execute();
      await trx.updateTable('aliases').set({ updated_at: Date.now() }).where('id', '=', row.id).execute();
      await this.#audit(trx, actor, 'alias.update', row.address, { before, after: next });
      return this.#aliasInfo(trx, row);
    });
  }

  async removeAlias(actor: Actor, address: string): Promise<void> {
    await this.#stores.dirTx('remove alias', async (trx) => {
      const row = await this.#aliasRow(trx, address);
      requireDomainAdmin(actor, row.domain_id, 'removing an alias');
      const before = (await this.#aliasInfo(trx, row)).targets;
      await trx.deleteFrom('alias_targets').where('alias_id', '=', row.id).execute();
      await trx.deleteFrom('aliases').where('id', '=', row.id).execute();
      await trx.deleteFrom('addresses').where('address', '=', row.address).execute();
      await this.#audit(trx, actor, 'alias.delete', row.address, { before });
    });
  }

  /** Admins see their domains' aliases; a user sees the aliases that point to them. */
  async listAliases(actor: Actor, opts: { domain?: string } = {}): Promise<AliasInfo[]> {
    return this.#stores.dirRun('list aliases', async (db) => {
      let q = db.selectFrom('aliases').selectAll().orderBy('address');
      if (opts.domain) q = q.where('domain_id', '=', (await this.#domainRow(db, opts.domain)).id);
      const rows = await q.execute();
      const out: AliasInfo[] = [];
      for (const r of rows) {
        const info = await this.#aliasInfo(db, r);
        if (canManageDomain(actor, r.domain_id) || (actor.kind === 'account' && info.targets.includes(actor.address))) out.push(info);
      }
      return out;
    });
  }

  async getAlias(actor: Actor, address: string): Promise<AliasInfo> {
    return this.#stores.dirRun('get alias', async (db) => {
      const info = await this.#aliasInfo(db, await this.#aliasRow(db, address));
      if (!(canManageDomain(actor, info.domainId) || (actor.kind === 'account' && info.targets.includes(actor.address)))) {
        throw new DomainError('NOT_FOUND', `alias ${address}`);
      }
      return info;
    });
  }

  // ---------------------------------------------------------------- lists

  async #listInfo(db: Kysely<DirectoryDB> | Trx, row: DirRow<'lists'>): Promise<ListInfo> {
    const members = await db.selectFrom('list_members').select('member').where('list_id', '=', row.id).orderBy('member').execute();
    const senders = await db.selectFrom('list_senders').select('sender').where('list_id', '=', row.id).orderBy('sender').execute();
    return {
      id: row.id, address: row.address, domainId: row.domain_id, description: row.description, postPolicy: row.post_policy,
      public: row.public === 1, members: members.map((m) => m.member), senders: senders.map((s) => s.sender),
    };
  }

  async #listRow(db: Kysely<DirectoryDB> | Trx, address: string) {
    const r = await db.selectFrom('lists').selectAll().where('address', '=', normaliseAddress(address)).executeTakeFirst();
    if (!r) throw new DomainError('NOT_FOUND', `list ${address}`);
    return r;
  }

  #checkPolicy(p: unknown): PostPolicy {
    if (!POST_POLICIES.includes(p as PostPolicy)) throw invalid(`post policy must be one of ${POST_POLICIES.join(', ')}`);
    return p as PostPolicy;
  }

  #normaliseMembers(members: string[] | undefined, what: string): string[] {
    const list = [...new Set((members ?? []).map((m) => normaliseAddress(m)))].sort();
    if (list.length > 100_000) throw invalid(`too many ${what}`);
    return list;
  }

  async addList(actor: Actor, input: { address: string; description?: string; postPolicy?: PostPolicy; public?: boolean; members?: string[]; senders?: string[] }): Promise<ListInfo> {
    const addr = normaliseAddress(input.address);
    const policy = this.#checkPolicy(input.postPolicy ?? 'members');
    const members = this.#normaliseMembers(input.members, 'members');
    const senders = this.#normaliseMembers(input.senders, 'senders');
    if (members.includes(addr)) throw invalid('a list cannot be its own member');
    const description = String(input.description ?? '').trim();
    if (description.length > 1024) throw invalid('description is longer than 1024 characters');
    return this.#stores.dirTx('add list', async (trx) => {
      const d = await this.#domainRow(trx, domainOf(addr));
      requireDomainAdmin(actor, d.id, 'adding a list');
      await this.#claimAddress(trx, addr, 'list', d.id);
      const now = Date.now();
      const row = await trx.insertInto('lists').values({
        domain_id: d.id, address: addr, description, post_policy: policy, public: input.public ? 1 : 0, created_at: now, updated_at: now,
      }).returningAll().executeTakeFirstOrThrow();
      for (const m of members) await trx.insertInto('list_members').values({ list_id: row.id, member: m }).execute();
      for (const s of senders) await trx.insertInto('list_senders').values({ list_id: row.id, sender: s }).execute();
      const info = await this.#listInfo(trx, row);
      await this.#audit(trx, actor, 'list.create', addr, { after: { members, senders, postPolicy: policy, public: info.public, description } });
      return info;
    });
  }

  async updateList(actor: Actor, address: string, change: {
    description?: string; postPolicy?: PostPolicy; public?: boolean;
    members?: string[]; addMembers?: string[]; removeMembers?: string[]; senders?: string[];
  }): Promise<ListInfo> {
    if (change.description !== undefined && String(change.description).trim().length > 1024) throw invalid('description is longer than 1024 characters');
    return this.#stores.dirTx('update list', async (trx) => {
      const row = await this.#listRow(trx, address);
      requireDomainAdmin(actor, row.domain_id, 'changing a list');
      const before = await this.#listInfo(trx, row);
      let members = change.members ? this.#normaliseMembers(change.members, 'members') : [...before.members];
      if (change.addMembers) members = [...new Set([...members, ...this.#normaliseMembers(change.addMembers, 'members')])].sort();
      if (change.removeMembers) {
        const rm = new Set(this.#normaliseMembers(change.removeMembers, 'members'));
        members = members.filter((m) => !rm.has(m));
      }
      if (members.includes(row.address)) throw invalid('a list cannot be its own member');
      const senders = change.senders ? this.#normaliseMembers(change.senders, 'senders') : before.senders;
      const policy = change.postPolicy === undefined ? before.postPolicy : this.#checkPolicy(change.postPolicy);
      const description = change.description === undefined ? before.description : String(change.description).trim();
      await trx.updateTable('lists').set({
        description, post_policy: policy, public: change.public === undefined ? row.public : change.public ? 1 : 0, updated_at: Date.now(),
      }).where('id', '=', row.id).execute();
      await trx.deleteFrom('list_members').where('list_id', '=', row.id).execute();
      for (const m of members) await trx.insertInto('list_members').values({ list_id: row.id, member: m }).execute();
      await trx.deleteFrom('list_senders').where('list_id', '=', row.id).execute();
      for (const s of senders) await trx.insertInto('list_senders').values({ list_id: row.id, sender: s }).execute();
      const after = await this.#listInfo(trx, (await this.#listRow(trx, row.address)));
      const view = (l: ListInfo) => ({ members: l.members, senders: l.senders, postPolicy: l.postPolicy, public: l.public, description: l.description });
      await this.#audit(trx, actor, 'list.update', row.address, { before: view(before), after: view(after) });
      return after;
    });
  }

  async removeList(actor: Actor, address: string): Promise<void> {
    await this.#stores.dirTx('remove list', async (trx) => {
      const row = await this.#listRow(trx, address);
      requireDomainAdmin(actor, row.domain_id, 'removing a list');
      const before = await this.#listInfo(trx, row);
      await trx.deleteFrom('list_members').where('list_id', '=', row.id).execute();
      await trx.deleteFrom('list_senders').where('list_id', '=', row.id).execute();
      await trx.deleteFrom('lists').where('id', '=', row.id).execute();
      await trx.deleteFrom('addresses').where('address', '=', row.address).execute();
      await this.#audit(trx, actor, 'list.delete', row.address, { before: { members: before.members, senders: before.senders, postPolicy: before.postPolicy } });
    });
  }

  #mayReadList(actor: Actor, l: ListInfo): boolean {
    return canManageDomain(actor, l.domainId) || l.public || (actor.kind === 'account' && l.members.includes(actor.address));
  }

  /** Admins see their domains' lists; users see public lists and those they belong to. */
  async listLists(actor: Actor, opts: { domain?: string } = {}): Promise<ListInfo[]> {
    return this.#stores.dirRun('list lists', async (db) => {
      let q = db.selectFrom('lists').selectAll().orderBy('address');
      if (opts.domain) q = q.where('domain_id', '=', (await this.#domainRow(db, opts.domain)).id);
      const out: ListInfo[] = [];
      for (const r of await q.execute()) {
        const info = await this.#listInfo(db, r);
        if (this.#mayReadList(actor, info)) out.push(info);
      }
      return out;
    });
  }

  async getList(actor: Actor, address: string): Promise<ListInfo> {
    return this.#stores.dirRun('get list', async (db) => {
      const info = await this.#listInfo(db, await this.#listRow(db, address));
      if (!this.#mayReadList(actor, info)) throw new DomainError('NOT_FOUND', `list ${address}`);
      return info;
    });
  }

  // ---------------------------------------------------------------- resolution

  /**
   * What one address is, for delivery: the exact address, then user+tag@ subaddressing
   * (RFC 5233), then the domain's catch-all alias. Null when the domain is not ours or
   * nothing matches.
   */
  async lookup(address: string): Promise<{ kind: 'account' | 'alias' | 'list'; address: string } | null> {
    let a: string;
    try {
      a = normaliseAddress(address);
    } catch {
      return null;
    }
    return this.#stores.dirRun('look up address', async (db) => {
      const find = (x: string) => db.selectFrom('addresses').select(['kind', 'address']).where('address', '=', x).executeTakeFirst();
      const exact = await find(a);
      if (exact) return exact;
      const { local, domain } = parseAddress(a);
      const plus = local.indexOf('+');
      if (plus > 0) {
        const base = await find(`${local.slice(0, plus)}@${domain}`);
        if (base) return base;
      }
      const catchAll = await find(catchAllAddress(domain));
      return catchAll ?? null;
    });
  }

  /**
   * Expands an address to the accounts and external addresses that receive mail sent to it,
   * following aliases and nested lists, each recipient once (GW-DL-4).
   *
   * - Posting policy: checked for the sender (when opts.sender is given) on the list that is
   *   addressed, directly, by subaddress, or through aliases (an alias is only another name
   *   for it, so it must not open a members-only list to everyone). Lists nested in a list
   *   take the mail as part of it, and their policies do not apply.
   * - Loops end quietly: each address is expanded once; meeting it again is a "skip".
   * - Depth: the addressed list or alias is at depth 0; what it contains is nested one level
   *   deeper. A list or alias nested more than max_list_depth levels gives LOOP_DETECTED, so
   *   max_list_depth = 1 allows a list inside a list and no more.
   * - Size: more than max_expansion distinct recipients (accounts and external addresses;
   *   the lists and aliases on the way are not recipients) gives LIMIT_EXCEEDED.
   */
  async expand(address: string, opts: { sender?: string | null } = {}): Promise<Expansion> {
    const { maxListDepth, maxExpansion } = this.#opts.limits;
    const accounts = new Map<number, AccountInfo>();
    const external = new Set<string>();
    const skipped: string[] = [];
    const seen = new Set<string>();
    const db = this.#db;
    let recipients = 0;
    let localDomains: Map<string, boolean> | undefined;
    /** undefined: not ours; true/false: ours, enabled or not. */
    const domainEnabled = async (domain: string) => {
      localDomains ??= new Map((await db.selectFrom('domains').select(['name', 'enabled']).execute()).map((d) => [d.name, d.enabled === 1]));
      return localDomains.get(domain);
    };
    const isLocal = async (domain: string) => (await domainEnabled(domain)) !== undefined;
    const addRecipient = () => {
      if (++recipients > maxExpansion) throw new DomainError('LIMIT_EXCEEDED', `${displayAddress(address)} expands to more than ${maxExpansion} recipients`);
    };

    /** top: the address as given; policy: still on the path the sender addressed (top and aliases). */
    const visit = async (addr: string, depth: number, top: boolean, policy: boolean): Promise<void> => {
      if (seen.has(addr)) {
        skipped.push(addr);
        return;
      }
      seen.add(addr);
      const hit = await this.lookup(addr);
      if (!hit) {
        if (await isLocal(domainOf(addr))) {
          // RFC 5321 §4.5.1 and RFC 2142: postmaster@ (and abuse@) exist for every domain we
          // serve. Without an explicit address they reach the domain's admins, else the admins.
          const role = addr.slice(0, addr.lastIndexOf('@'));
          if (top && (role === 'postmaster' || role === 'abuse')) {
            for (const a of await this.#roleRecipients(domainOf(addr))) {
              if (!accounts.has(a.id)) {
                addRecipient();
                accounts.set(a.id, a);
              }
            }
            if (accounts.size > 0) return;
          }
          if (top) throw new DomainError('NOT_FOUND', `no such recipient ${displayAddress(addr)}`);
          skipped.push(addr); // a stale member of a list or alias: skip, do not bounce the whole list
          return;
        }
        addRecipient();
        external.add(addr);
        return;
      }
      if ((await domainEnabled(domainOf(hit.address))) === false) {
        // A disabled domain takes no mail: refused when addressed, skipped inside a list.
        if (top) throw new DomainError('ACCOUNT_DISABLED', `domain ${displayDomain(domainOf(hit.address))} is disabled`);
        skipped.push(addr);
        return;
      }
      if (hit.address !== addr) {
        if (seen.has(hit.address)) {
          skipped.push(addr);
          return;
        }
        seen.add(hit.address);
      }
      if (hit.kind === 'account') {
        const r = await db.selectFrom('accounts').selectAll().where('address', '=', hit.address).executeTakeFirst();
        if (!r) return;
        if (r.enabled !== 1) {
          if (top) throw new DomainError('ACCOUNT_DISABLED', displayAddress(r.address));
          skipped.push(r.address);
          return;
        }
        if (!accounts.has(r.id)) {
          addRecipient();
          accounts.set(r.id, toAccount(r));
        }
        return;
      }
      if (depth > maxListDepth) throw new DomainError('LOOP_DETECTED', `${displayAddress(address)} nests lists or aliases more than ${maxListDepth} levels deep`);
      if (hit.kind === 'alias') {
        const al = await db.selectFrom('aliases').select('id').where('address', '=', hit.address).executeTakeFirstOrThrow();
        const targets = await db.selectFrom('alias_targets').select('target').where('alias_id', '=', al.id).orderBy('target').execute();
        for (const t of targets) await visit(t.target, depth + 1, false, policy);
        return;
      }
      const row = await db.selectFrom('lists').selectAll().where('address', '=', hit.address).executeTakeFirstOrThrow();
      const info = await this.#listInfo(db, row);
      if (policy && opts.sender !== undefined) await this.#checkPost(info, opts.sender);
      for (const m of info.members) await visit(m, depth + 1, false, false);
    };

    let start: string;
    try {
      start = normaliseAddress(address);
    } catch {
      throw invalid(`"${address}" is not a valid address`);
    }
    try {
      await visit(start, 0, true, true);
    } catch (e) {
      if (e instanceof DomainError) throw e;
      throw mapDbError(e, 'expand address');
    }
    return { accounts: [...accounts.values()], external: [...external].sort(), skipped };
  }

  /** Enabled domain-admins of a domain, or else enabled admins: who gets postmaster@ mail. */
  async #roleRecipients(domain: string): Promise<AccountInfo[]> {
    const rows = (await this.#db.selectFrom('accounts').selectAll().where('enabled', '=', 1).orderBy('id').execute()).map(toAccount);
    const d = await this.#db.selectFrom('domains').select('id').where('name', '=', domain).executeTakeFirst();
    const domainAdmins = rows.filter((a) => a.domainId === d?.id && a.roles.includes('domain-admin'));
    return domainAdmins.length > 0 ? domainAdmins : rows.filter((a) => a.roles.includes('admin'));
  }

  /** Refuses with FORBIDDEN when the sender may not post to the list. */
  async #checkPost(list: ListInfo, sender: string | null): Promise<void> {
    if (list.postPolicy === 'anyone') return;
    let s: string | null = null;
    try {
      s = sender ? normaliseAddress(sender) : null;
    } catch {
      s = null;
    }
    const deny = (why: string) => new DomainError('FORBIDDEN', `${displayAddress(list.address)} accepts posts only ${why}`);
    if (!s) throw deny('from identified senders');
    // alice+lists@example.org posts as alice@example.org (RFC 5233 subaddress).
    const parsed = parseAddress(s);
    const base = stripSubaddress(parsed);
    const ids = base ? [s, `${base.local}@${base.domain}`] : [s];
    if (list.postPolicy === 'domain') {
      if (domainOf(s) !== domainOf(list.address)) throw deny(`from its own domain ${displayDomain(domainOf(list.address))}`);
      return;
    }
    if (list.postPolicy === 'senders') {
      if (!ids.some((x) => list.senders.includes(x))) throw deny('from named senders');
      return;
    }
    // members: a direct member, or an account reached through the list's expansion.
    if (ids.some((x) => list.members.includes(x))) return;
    const inner = await this.expand(list.address, {});
    if (ids.some((x) => inner.external.includes(x) || inner.accounts.some((a) => a.address === x))) return;
    throw deny('from its members');
  }

  /** Whether the sender may post to the list (for SMTP to answer at RCPT). */
  async mayPost(listAddress: string, sender: string | null): Promise<{ ok: true } | { ok: false; reason: string }> {
    const info = await this.#stores.dirRun('check list policy', async (db) => this.#listInfo(db, await this.#listRow(db, listAddress)));
    try {
      await this.#checkPost(info, sender);
      return { ok: true };
    } catch (e) {
      if (e instanceof DomainError && e.code === 'FORBIDDEN') return { ok: false, reason: e.message };
      throw e;
    }
  }

  /** Counts of accounts per partition (for placement reports and the move command). */
  async partitionCounts(): Promise<Record<string, number>> {
    const rows = await this.#stores.dirRun('count accounts', (db) =>
      db.selectFrom('accounts').select(['partition', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('partition').execute());
    const out: Record<string, number> = {};
    for (const name of this.#stores.partitions.keys()) out[name] = 0;
    for (const r of rows) out[r.partition] = Number(r.n);
    return out;
  }
}
