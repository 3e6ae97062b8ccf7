/**
 * Blocking individual senders (GW-FLT-1): rules that refuse a sender address, a sender
 * domain (optionally with its subdomains) or a client IP network at RCPT, kept at three
 * levels: global (admin), per domain (admin or domain-admin of the domain) and per account
 * (the account itself, or whoever may manage the account). Every permission check happens
 * here, in core, whatever interface called.
 *
 * At RCPT (Reception.checkRecipient → screen()):
 * - An address that is an account (directly or by +subaddress): the rules of the global
 *   scope, of the account's domain and of the account are checked against the envelope
 *   sender and the client IP. A match refuses exactly that recipient (FORBIDDEN, which SMTP
 *   answers with 550 5.7.1 "sender blocked by recipient policy"; the rule is not revealed)
 *   and is logged as 'smtp.rcpt_blocked' with the rule id.
 * - An alias or list address (or a catch-all): the global rules and those of the addressed
 *   address's domain are checked, and a match refuses the whole address as above. Then each
 *   local account the address expands to is checked against its own account rules (and its
 *   domain's rules when that is another domain): a member that blocks the sender is skipped
 *   quietly (logged with the rule id), it simply does not get the message; the others do,
 *   and the sender sees a 250. External members are not affected.
 *
 * Invariants:
 * - No cache: the rules are read from the primary store at every RCPT (one indexed query),
 *   so a rule added or removed through the CLI or on another node applies at once.
 * - Expired rules never match (checked in the query and again against the injected clock).
 * - A rule names its scope by id and by name; it matches only while both still fit, so a
 *   rule of a removed account or domain can never apply to another one that reuses the id.
 * - Creating and removing a rule commit with their audit entry (block.create, block.delete).
 */
import net from 'node:net';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Stores } from '../../store/stores.ts';
import type { DirectoryDB, DirRow } from '../../store/schema.ts';
import type { AccountInfo, Directory } from '../directory/directory.ts';
import { appendAudit, type AuditEvent } from '../../security/audit.ts';
import { normaliseAddress, normaliseDomain, parseAddress } from '../../lib/address.ts';
import { actorLabel, canManageAccount, canManageDomain, isAdmin, requireAccountManager, requireAdmin, requireDomainAdmin, type Actor, type Role } from '../actor.ts';
import { DomainError, invalid } from '../errors.ts';

export type BlockScope = 'global' | 'domain' | 'account';
export type BlockKind = 'address' | 'domain' | 'ip';
export const BLOCK_KINDS: readonly BlockKind[] = ['address', 'domain', 'ip'];

/** Where a rule lives: the whole server, one domain, or one account. */
export type BlockScopeRef = { scope: 'global' } | { scope: 'domain'; domain: string } | { scope: 'account'; account: string };

export interface BlockRule {
  id: number;
  scope: BlockScope;
  /** '' for the global scope, the domain (A-label) or the account address otherwise. */
  target: string;
  kind: BlockKind;
  /** A normalised address, a domain (A-label) or a CIDR network. */
  value: string;
  /** Domain rules: the subdomains of the domain match too. */
  subdomains: boolean;
  expiresAt: number | null;
  createdBy: string;
  createdAt: number;
  note: string;
  /** Past its expiry: kept for the record, never matches. */
  expired: boolean;
}

export interface NewBlockRule {
  kind: BlockKind;
  value: string;
  subdomains?: boolean;
  /** Epoch ms; must lie in the future. Null or absent: never expires. */
  expiresAt?: number | null;
  note?: string;
}

export interface BlockRulesOptions {
  log?: Logger;
  /** How addresses appear in the log (log.addresses). */
  address?: (a: string) => string;
  /** The clock for expiry (tests inject one). */
  now?: () => number;
}

/** What the refused client is told: the rule (and whose it is) stays private. */
export const BLOCKED_TEXT = 'sender blocked by recipient policy';

const MAX_NOTE = 1024;

type Row = DirRow<'block_rules'>;
type Db = Kysely<DirectoryDB> | Transaction<DirectoryDB>;

// ---------------------------------------------------------------- networks

function ipv4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function ipv6Bytes(ip: string): number[] {
  let s = ip;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 address ("::ffff:192.0.2.1") is the last two groups.
    const v4 = ipv4Bytes(s.slice(lastColon + 1));
    s = `${s.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const double = s.indexOf('::');
  const part = (x: string) => (x ? x.split(':').map((g) => parseInt(g, 16)) : []);
  let groups: number[];
  if (double < 0) {
    groups = part(s);
  } else {
    const h = part(s.slice(0, double));
    const r = part(s.slice(double + 2));
    groups = [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  }
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * A network in canonical form: "192.0.2.0/24", "2001:db8::/32". A bare address is a /32
 * or /128; host bits are cleared ("192.0.2.7/24" is 192.0.2.0/24).
 */
export function parseCidr(input: string): { network: string; prefix: number; family: 'ipv4' | 'ipv6'; text: string } {
  const s = String(input ?? '').trim();
  const slash = s.indexOf('/');
  const ip = (slash < 0 ? s : s.slice(0, slash)).toLowerCase();
  const v = net.isIP(ip);
  if (v === 0 || ip.includes('%')) throw invalid(`"${input}" is not an IP address or CIDR network`);
  const family = v === 4 ? 'ipv4' : 'ipv6';
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max) throw invalid(`"${input}": the prefix length must be 0 to ${max}`);
    prefix = Number(p);
  }
  const bytes = v === 4 ? ipv4Bytes(ip) : ipv6Bytes(ip);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, prefix - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  let network: string;
  if (v === 4) {
    network = bytes.join('.');
  } else {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
    network = new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
  }
  return { network, prefix, family, text: `${network}/${prefix}` };
}

/** The client address as the rules see it: IPv4-mapped IPv6 as IPv4; null when not an IP. */
function clientIp(remote: string | undefined): { ip: string; family: 'ipv4' | 'ipv6' } | null {
  if (!remote) return null;
  let ip = remote.trim().toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped) ip = mapped[1];
  const v = net.isIP(ip);
  return v === 0 ? null : { ip, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** The envelope sender, normalised as far as it goes; the null sender has neither part. */
function senderOf(sender: string | null | undefined): { address: string | null; domain: string | null } {
  const s = String(sender ?? '').trim().replace(/^<(.*)>$/, '$1');
  if (!s) return { address: null, domain: null };
  try {
    const a = parseAddress(s);
    return { address: `${a.local}@${a.domain}`, domain: a.domain };
  } catch {
    // Not an address we could normalise: compare what can be compared, case-folded.
    const at = s.lastIndexOf('@');
    let domain: string | null = null;
    if (at >= 0) {
      try {
        domain = normaliseDomain(s.slice(at + 1));
      } catch {
        domain = s.slice(at + 1).toLowerCase();
      }
    }
    return { address: s.toLowerCase(), domain };
  }
}

interface MatchInput {
  sender: { address: string | null; domain: string | null };
  ip: { ip: string; family: 'ipv4' | 'ipv6' } | null;
}

/** Whether one rule matches a sender and client (expiry aside). */
function ruleMatches(r: Pick<Row, 'kind' | 'value' | 'subdomains'>, m: MatchInput): boolean {
  switch (r.kind) {
    case 'address':
      return m.sender.address !== null && m.sender.address === r.value;
    case 'domain': {
      const d = m.sender.domain;
      if (d === null) return false;
      return d === r.value || (r.subdomains === 1 && d.endsWith(`.${r.value}`));
    }
    case 'ip': {
      if (!m.ip) return false;
      try {
        const { network, prefix, family } = parseCidr(r.value);
        const list = new net.BlockList();
        list.addSubnet(network, prefix, family);
        return list.check(m.ip.ip, m.ip.family);
      } catch {
        return false;
      }
    }
    default:
      return false;
  }
}

/** Matches a rule against a sender and client IP (for tests and tools). */
export function blockRuleMatches(rule: Pick<BlockRule, 'kind' | 'value' | 'subdomains'>, sender: string | null, remoteAddress?: string): boolean {
  return ruleMatches({ kind: rule.kind, value: rule.value, subdomains: rule.subdomains ? 1 : 0 }, { sender: senderOf(sender), ip: clientIp(remoteAddress) });
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

function normaliseValue(kind: BlockKind, value: string, subdomains: boolean): string {
  if (!BLOCK_KINDS.includes(kind)) throw invalid(`block rule kind must be one of ${BLOCK_KINDS.join(', ')}`);
  if (subdomains && kind !== 'domain') throw invalid('subdomains applies to sender domain rules only');
  const v = String(value ?? '').trim();
  if (!v) throw invalid('a block rule needs a value');
  if (kind === 'address') return normaliseAddress(v);
  if (kind === 'domain') return normaliseDomain(v.startsWith('@') ? v.slice(1) : v);
  return parseCidr(v).text;
}

// ---------------------------------------------------------------- the service

export class BlockRules {
  readonly #stores: Stores;
  readonly #directory: Directory;
  readonly #log: Logger | undefined;
  readonly #opts: BlockRulesOptions;
  readonly #now: () => number;

  constructor(stores: Stores, directory: Directory, opts: BlockRulesOptions = {}) {
    this.#stores = stores;
    this.#directory = directory;
    this.#log = opts.log;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  #view(r: Row, now = this.#now()): BlockRule {
    return {
      id: r.id, scope: r.scope, target: r.scope_name, kind: r.kind, value: r.value, subdomains: r.subdomains === 1,
      expiresAt: r.expires_at, createdBy: r.created_by, createdAt: r.created_at, note: r.note,
      expired: r.expires_at !== null && r.expires_at <= now,
    };
  }

  #auditDetail(r: Row): Record<string, unknown> {
    return {
      id: r.id, scope: r.scope, kind: r.kind, value: r.value, subdomains: r.subdomains === 1,
      expiresAt: r.expires_at === null ? null : new Date(r.expires_at).toISOString(), note: r.note,
    };
  }

  async #audit(trx: Transaction<DirectoryDB>, actor: Actor, event: AuditEvent, r: Row): Promise<void> {
    await appendAudit(trx, { event, actor: actorLabel(actor), object: r.scope === 'global' ? '(global)' : r.scope_name, detail: this.#auditDetail(r) });
  }

  /**
   * The scope a reference names, after the permission check. An account the actor may not
   * manage, in a domain it does not manage, is NOT_FOUND (as Directory.getAccount: do not
   * reveal who exists).
   */
  async #scope(db: Db, actor: Actor, ref: BlockScopeRef, what: string): Promise<{ scope: BlockScope; id: number; name: string }> {
    switch (ref?.scope) {
      case 'global':
        requireAdmin(actor, `${what} of the global scope`);
        return { scope: 'global', id: 0, name: '' };
      case 'domain': {
        const name = normaliseDomain(ref.domain);
        const d = await db.selectFrom('domains').select(['id', 'name']).where('name', '=', name).executeTakeFirst();
        if (!d) throw new DomainError('NOT_FOUND', `domain ${ref.domain}`);
        requireDomainAdmin(actor, d.id, what);
        return { scope: 'domain', id: d.id, name: d.name };
      }
      case 'account': {
        const address = normaliseAddress(ref.account);
        const a = await db.selectFrom('accounts').select(['id', 'address', 'domain_id', 'roles']).where('address', '=', address).executeTakeFirst();
        if (!a) throw new DomainError('NOT_FOUND', `account ${ref.account}`);
        const self = actor.kind === 'account' && actor.id === a.id;
        if (!self) {
          if (!canManageDomain(actor, a.domain_id)) throw new DomainError('NOT_FOUND', `account ${ref.account}`);
          requireAccountManager(actor, { domainId: a.domain_id, roles: JSON.parse(a.roles) as Role[] }, what);
        }
        return { scope: 'account', id: a.id, name: a.address };
      }
      default:
        throw invalid('a block rule scope is global, a domain or an account');
    }
  }

  /** Whether the actor may see and change a rule (accounts: id → domain and roles). */
  #mayManage(actor: Actor, r: Row, accounts: Map<number, { domainId: number; roles: Role[] }>): boolean {
    if (isAdmin(actor)) return true;
    if (r.scope === 'global') return false;
    if (r.scope === 'domain') return canManageDomain(actor, r.scope_id);
    if (actor.kind === 'account' && actor.id === r.scope_id) return true;
    const a = accounts.get(r.scope_id);
    return !!a && canManageAccount(actor, a);
  }

  async #accountsOf(db: Db, rows: Row[]): Promise<Map<number, { domainId: number; roles: Role[] }>> {
    const ids = [...new Set(rows.filter((r) => r.scope === 'account').map((r) => r.scope_id))];
    const out = new Map<number, { domainId: number; roles: Role[] }>();
    if (ids.length === 0) return out;
    const found = await db.selectFrom('accounts').select(['id', 'domain_id', 'roles']).where('id', 'in', ids).execute();
    for (const a of found) out.set(a.id, { domainId: a.domain_id, roles: JSON.parse(a.roles) as Role[] });
    return out;
  }

  async add(actor: Actor, ref: BlockScopeRef, input: NewBlockRule): Promise<BlockRule> {
    const subdomains = input.subdomains === true;
    const value = normaliseValue(input.kind, input.value, subdomains);
    const note = String(input.note ?? '').trim();
    if (note.length > MAX_NOTE) throw invalid(`the note is longer than ${MAX_NOTE} characters`);
    if (/\p{Cc}/u.test(note)) throw invalid('the note has a control character');
    const now = this.#now();
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt !== null) {
      if (!Number.isSafeInteger(expiresAt)) throw invalid('the expiry must be a point in time');
      if (expiresAt <= now) throw invalid('the expiry lies in the past');
    }
    return this.#stores.dirTx('add block rule', async (trx) => {
      const scope = await this.#scope(trx, actor, ref, 'adding a block rule');
      const same = await trx.selectFrom('block_rules').select('id')
        .where('scope', '=', scope.scope).where('scope_id', '=', scope.id).where('kind', '=', input.kind).where('value', '=', value)
        .where('subdomains', '=', subdomains ? 1 : 0)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirst();
      if (same) throw new DomainError('ALREADY_EXISTS', `block rule ${same.id} already blocks ${value} there`);
      const row = await trx.insertInto('block_rules').values({
        scope: scope.scope, scope_id: scope.id, scope_name: scope.name, kind: input.kind, value, subdomains: subdomains ? 1 : 0,
        expires_at: expiresAt, created_by: actorLabel(actor), created_at: now, note,
      }).returningAll().executeTakeFirstOrThrow();
      await this.#audit(trx, actor, 'block.create', row);
      return this.#view(row, now);
    });
  }

  /**
   * Rules of one scope, or (without one) every rule the actor may manage: all for an admin;
   * for a domain-admin its domain's rules and those of the accounts it manages; for a user
   * its own. Expired rules are listed too (marked expired).
   */
  async list(actor: Actor, ref?: BlockScopeRef): Promise<BlockRule[]> {
    return this.#stores.dirRun('list block rules', async (db) => {
      const now = this.#now();
      if (ref) {
        const scope = await this.#scope(db, actor, ref, 'reading block rules');
        const rows = await db.selectFrom('block_rules').selectAll().where('scope', '=', scope.scope).where('scope_id', '=', scope.id).orderBy('id').execute();
        return rows.map((r) => this.#view(r, now));
      }
      let q = db.selectFrom('block_rules').selectAll().orderBy('id');
      if (!isAdmin(actor)) q = q.where('scope', '!=', 'global');
      const rows = await q.execute();
      const accounts = await this.#accountsOf(db, rows);
      return rows.filter((r) => this.#mayManage(actor, r, accounts)).map((r) => this.#view(r, now));
    });
  }

  async get(actor: Actor, id: number): Promise<BlockRule> {
    return this.#stores.dirRun('get block rule', async (db) => {
      const r = await db.selectFrom('block_rules').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r || !this.#mayManage(actor, r, await this.#accountsOf(db, [r]))) throw new DomainError('NOT_FOUND', `block rule ${id}`);
      return this.#view(r);
    });
  }

  async remove(actor: Actor, id: number): Promise<BlockRule> {
    if (!Number.isSafeInteger(id) || id <= 0) throw invalid(`"${id}" is not a block rule id`);
    return this.#stores.dirTx('remove block rule', async (trx) => {
      const r = await trx.selectFrom('block_rules').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) throw new DomainError('NOT_FOUND', `block rule ${id}`);
      if (!this.#mayManage(actor, r, await this.#accountsOf(trx, [r]))) {
        throw new DomainError('FORBIDDEN', `removing block rule ${id} needs the right to manage its ${r.scope === 'global' ? 'global scope (admin role)' : r.scope}`);
      }
      await trx.deleteFrom('block_rules').where('id', '=', id).execute();
      await this.#audit(trx, actor, 'block.delete', r);
      return this.#view(r);
    });
  }

  // ---------------------------------------------------------------- matching

  /** Unexpired rules of the global scope, these domains and these accounts, oldest first. */
  async #activeRules(domainIds: number[], accountIds: number[], now: number): Promise<Row[]> {
    const domains = [...new Set(domainIds)];
    const accounts = [...new Set(accountIds)];
    return this.#stores.dirRun('read block rules', (db) => db.selectFrom('block_rules').selectAll()
      .where((eb) => {
        const scopes = [eb('scope', '=', 'global')];
        if (domains.length) scopes.push(eb.and([eb('scope', '=', 'domain'), eb('scope_id', 'in', domains)]));
        if (accounts.length) scopes.push(eb.and([eb('scope', '=', 'account'), eb('scope_id', 'in', accounts)]));
        return eb.or(scopes);
      })
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('id')
      .execute());
  }

  /** The first of these rules that matches, within the scopes named. */
  #first(rules: Row[], m: MatchInput, now: number, scopes: { domains: { id: number; name: string }[]; account?: { id: number; name: string } }): Row | null {
    for (const r of rules) {
      if (r.expires_at !== null && r.expires_at <= now) continue;
      const inScope = r.scope === 'global'
        || (r.scope === 'domain' && scopes.domains.some((d) => d.id === r.scope_id && d.name === r.scope_name))
        || (r.scope === 'account' && !!scopes.account && scopes.account.id === r.scope_id && scopes.account.name === r.scope_name);
      if (inScope && ruleMatches(r, m)) return r;
    }
    return null;
  }

  /**
   * The block check of one RCPT, after the directory expanded the address: throws
   * FORBIDDEN (550 5.7.1) when the address itself is blocked for this sender and client;
   * otherwise returns the accounts that receive the message, without list and alias members
   * whose own rules block the sender. See the head of this file.
   */
  async screen(address: string, accounts: AccountInfo[], ctx: { sender: string | null; remoteAddress?: string }): Promise<AccountInfo[]> {
    const hit = await this.#directory.lookup(address);
    if (!hit) return accounts;
    const m: MatchInput = { sender: senderOf(ctx.sender), ip: clientIp(ctx.remoteAddress) };
    const now = this.#now();
    const blocked = (r: Row, extra: Record<string, unknown> = {}) => {
      const shown = this.#opts.address ?? ((a: string) => a);
      const member = typeof extra.member === 'string' ? { member: shown(extra.member) } : {};
      this.#log?.info({ ruleId: r.id, scope: r.scope, rcpt: shown(address), from: shown(ctx.sender ?? ''), remote: ctx.remoteAddress, ...extra, ...member }, 'smtp.rcpt_blocked');
    };
    if (hit.kind === 'account') {
      const a = accounts.find((x) => x.address === hit.address);
      if (!a) return accounts;
      const rules = await this.#activeRules([a.domainId], [a.id], now);
      const r = this.#first(rules, m, now, { domains: [{ id: a.domainId, name: domainOf(a.address) }], account: { id: a.id, name: a.address } });
      if (r) {
        blocked(r);
        throw new DomainError('FORBIDDEN', BLOCKED_TEXT);
      }
      return accounts;
    }
    // An alias, a list or a catch-all: its own domain's rules decide for the address as a whole.
    const listDomainName = domainOf(hit.address);
    const d = await this.#stores.dirRun('read block rules', (db) => db.selectFrom('domains').select(['id', 'name']).where('name', '=', listDomainName).executeTakeFirst());
    const listDomain = d ? [{ id: d.id, name: d.name }] : [];
    const rules = await this.#activeRules([...listDomain.map((x) => x.id), ...accounts.map((a) => a.domainId)], accounts.map((a) => a.id), now);
    const r = this.#first(rules, m, now, { domains: listDomain });
    if (r) {
      blocked(r);
      throw new DomainError('FORBIDDEN', BLOCKED_TEXT);
    }
    // Members: their own account rules, and their domain's when that is another domain.
    return accounts.filter((a) => {
      const own = this.#first(rules.filter((x) => x.scope !== 'global'), m, now, {
        domains: d && d.id === a.domainId ? [] : [{ id: a.domainId, name: domainOf(a.address) }],
        account: { id: a.id, name: a.address },
      });
      if (!own) return true;
      blocked(own, { member: a.address });
      return false;
    });
  }
}
