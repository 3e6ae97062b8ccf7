/**
 * GW-FLT-1: sender block rules (src/core/mail/blocks.ts) against both engines: who may keep
 * rules at which level (global: admin; domain: admin or its domain-admin; account: itself or
 * whoever manages it), what a rule matches (address, sender domain and subdomains, IPv4 and
 * IPv6 networks), expiry, how Reception.checkRecipient applies the rules per recipient
 * (accounts, lists) and the audit entries of creating and removing a rule.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'smol-toml';
import { openApp, type App } from '../../src/app.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { systemActor, type Actor, type Role } from '../../src/core/actor.ts';
import { DomainError, type ErrorCode } from '../../src/core/errors.ts';
import { BLOCKED_TEXT, BlockRules, blockRuleMatches, parseCidr, type BlockRule } from '../../src/core/mail/blocks.ts';
import { readAudit, verifyAuditChain } from '../../src/security/audit.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';

type EngineName = 'sqlite' | 'postgres';
const ENGINES: EngineName[] = ['sqlite', 'postgres'];
const PW = 'Blocks-Test-Pw-4d2a9c';
const sys: Actor = systemActor('test');

async function openEnv(engine: EngineName): Promise<{ app: App; close(): Promise<void> }> {
  const tmp = tempDir('bulwark-blocks-');
  let drop: (() => Promise<void>) | null = null;
  try {
    let url = 'sqlite:bulwark.db';
    if (engine === 'postgres') {
      const db = await createTestDatabase('bwblk');
      drop = db.drop;
      url = db.url;
    }
    fs.writeFileSync(path.join(tmp.dir, 'bulwark.toml'), stringify({ store: { url }, partitions: { main: url } }));
    const app = await openApp(tmp.dir, { env: {} });
    expect(app.stores.directoryEngine.kind).toBe(engine);
    return {
      app,
      close: async () => {
        await app.close();
        await drop?.();
        tmp.cleanup();
      },
    };
  } catch (e) {
    await drop?.();
    tmp.cleanup();
    throw e;
  }
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    expect(e.code, e.message).toBe(code);
    return e;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

describe.each(ENGINES)('GW-FLT-1: block rules on %s', (engine) => {
  let env: { app: App; close(): Promise<void> };
  let app: App;
  let blocks: BlockRules;
  const acc: Record<string, AccountInfo> = {};
  const as = (name: string): Actor => app.directory.actorFor(acc[name]);

  beforeAll(async () => {
    env = await openEnv(engine);
    app = env.app;
    blocks = new BlockRules(app.stores, app.directory);
    await app.directory.addDomain(sys, 'a.example');
    await app.directory.addDomain(sys, 'b.example');
    const make: [string, string, Role[]][] = [
      ['admin', 'admin@a.example', ['admin']],
      ['daA', 'da@a.example', ['domain-admin']],
      ['userA', 'user@a.example', ['user']],
      ['otherA', 'other@a.example', ['user']],
      ['daB', 'da@b.example', ['domain-admin']],
      ['userB', 'user@b.example', ['user']],
    ];
    for (const [name, address, roles] of make) acc[name] = await app.directory.addAccount(sys, { address, password: PW, roles });
    await app.directory.addList(sys, { address: 'team@a.example', postPolicy: 'anyone', members: ['user@a.example', 'other@a.example', 'user@b.example', 'someone@external.example'] });
  });
  afterAll(async () => {
    await env?.close();
  });

  /** Whether a mail from sender (client ip) to rcpt is refused at RCPT by a block rule. */
  async function refused(rcpt: string, sender: string, ip = '198.51.100.7'): Promise<boolean> {
    try {
      await app.reception.checkRecipient(rcpt, sender, { remoteAddress: ip });
      return false;
    } catch (e) {
      if (e instanceof DomainError && e.code === 'FORBIDDEN' && e.detail === BLOCKED_TEXT) return true;
      throw e;
    }
  }

  async function cleanup(rules: BlockRule[]): Promise<void> {
    for (const r of rules) await blocks.remove(sys, r.id);
  }

  describe('permissions', () => {
    it('GW-FLT-1: a user manages only its own rules', async () => {
      const own = await blocks.add(as('userA'), { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'pest@spam.example', note: 'mine' });
      expect(own).toMatchObject({ scope: 'account', target: 'user@a.example', kind: 'address', value: 'pest@spam.example', createdBy: 'user@a.example', note: 'mine', expired: false });
      // Another account (in its own domain too) is invisible: same answer as a missing one.
      await expectCode(blocks.add(as('userA'), { scope: 'account', account: 'other@a.example' }, { kind: 'address', value: 'pest@spam.example' }), 'NOT_FOUND');
      await expectCode(blocks.add(as('userA'), { scope: 'account', account: 'user@b.example' }, { kind: 'address', value: 'pest@spam.example' }), 'NOT_FOUND');
      await expectCode(blocks.add(as('userA'), { scope: 'domain', domain: 'a.example' }, { kind: 'address', value: 'pest@spam.example' }), 'FORBIDDEN');
      await expectCode(blocks.add(as('userA'), { scope: 'global' }, { kind: 'address', value: 'pest@spam.example' }), 'FORBIDDEN');
      const theirs = await blocks.add(sys, { scope: 'account', account: 'other@a.example' }, { kind: 'ip', value: '192.0.2.1' });
      const global = await blocks.add(sys, { scope: 'global' }, { kind: 'ip', value: '203.0.113.0/24' });
      const domain = await blocks.add(sys, { scope: 'domain', domain: 'a.example' }, { kind: 'domain', value: 'junk.example' });
      // Listing: its own rules only; other scopes are refused.
      expect((await blocks.list(as('userA'))).map((r) => r.id)).toEqual([own.id]);
      expect((await blocks.list(as('userA'), { scope: 'account', account: 'user@a.example' })).map((r) => r.id)).toEqual([own.id]);
      await expectCode(blocks.list(as('userA'), { scope: 'account', account: 'other@a.example' }), 'NOT_FOUND');
      await expectCode(blocks.list(as('userA'), { scope: 'global' }), 'FORBIDDEN');
      await expectCode(blocks.list(as('userA'), { scope: 'domain', domain: 'a.example' }), 'FORBIDDEN');
      await expectCode(blocks.get(as('userA'), theirs.id), 'NOT_FOUND');
      // Removing: its own yes, the others no (and they stay).
      for (const r of [theirs, global, domain]) await expectCode(blocks.remove(as('userA'), r.id), 'FORBIDDEN');
      await blocks.remove(as('userA'), own.id);
      await expectCode(blocks.remove(as('userA'), own.id), 'NOT_FOUND');
      expect((await blocks.list(sys)).map((r) => r.id)).toEqual([theirs.id, global.id, domain.id]);
      await cleanup([theirs, global, domain]);
    });

    it('GW-FLT-1: a domain-admin manages its own domain and its accounts, nothing else', async () => {
      const d = await blocks.add(as('daA'), { scope: 'domain', domain: 'a.example' }, { kind: 'domain', value: 'junk.example', subdomains: true });
      const u = await blocks.add(as('daA'), { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'x@junk.example' });
      const self = await blocks.add(as('daA'), { scope: 'account', account: 'da@a.example' }, { kind: 'address', value: 'y@junk.example' });
      await expectCode(blocks.add(as('daA'), { scope: 'domain', domain: 'b.example' }, { kind: 'domain', value: 'junk.example' }), 'FORBIDDEN');
      await expectCode(blocks.add(as('daA'), { scope: 'account', account: 'user@b.example' }, { kind: 'domain', value: 'junk.example' }), 'NOT_FOUND');
      await expectCode(blocks.add(as('daA'), { scope: 'global' }, { kind: 'domain', value: 'junk.example' }), 'FORBIDDEN');
      // An admin's account in its domain is not its to manage (GW-ADM-1).
      await expectCode(blocks.add(as('daA'), { scope: 'account', account: 'admin@a.example' }, { kind: 'domain', value: 'junk.example' }), 'FORBIDDEN');
      const bDomain = await blocks.add(as('daB'), { scope: 'domain', domain: 'b.example' }, { kind: 'domain', value: 'junk.example' });
      const bUser = await blocks.add(as('userB'), { scope: 'account', account: 'user@b.example' }, { kind: 'domain', value: 'junk.example' });
      const global = await blocks.add(as('admin'), { scope: 'global' }, { kind: 'domain', value: 'junk.example' });
      const adminOwn = await blocks.add(as('admin'), { scope: 'account', account: 'admin@a.example' }, { kind: 'domain', value: 'junk.example' });
      expect((await blocks.list(as('daA'))).map((r) => r.id)).toEqual([d.id, u.id, self.id]);
      expect((await blocks.list(as('daB'))).map((r) => r.id)).toEqual([bDomain.id, bUser.id]);
      await expectCode(blocks.list(as('daA'), { scope: 'domain', domain: 'b.example' }), 'FORBIDDEN');
      for (const r of [bDomain, bUser, global, adminOwn]) await expectCode(blocks.remove(as('daA'), r.id), 'FORBIDDEN');
      // Its users' rules are its to remove.
      await blocks.remove(as('daA'), u.id);
      await cleanup([d, self, bDomain, bUser, global, adminOwn]);
    });

    it('GW-FLT-1: an admin manages every scope', async () => {
      const admin = as('admin');
      const rules = [
        await blocks.add(admin, { scope: 'global' }, { kind: 'ip', value: '2001:db8::/32' }),
        await blocks.add(admin, { scope: 'domain', domain: 'b.example' }, { kind: 'address', value: 'a@junk.example' }),
        await blocks.add(admin, { scope: 'account', account: 'user@b.example' }, { kind: 'address', value: 'a@junk.example' }),
      ];
      expect((await blocks.list(admin)).map((r) => r.id)).toEqual(rules.map((r) => r.id));
      expect((await blocks.list(admin, { scope: 'global' })).map((r) => r.id)).toEqual([rules[0].id]);
      expect((await blocks.list(admin, { scope: 'domain', domain: 'B.Example' })).map((r) => r.id)).toEqual([rules[1].id]);
      for (const r of rules) await blocks.remove(admin, r.id);
      expect(await blocks.list(admin)).toEqual([]);
    });

    it('refuses malformed rules, unknown scopes and duplicates', async () => {
      const acct = { scope: 'account', account: 'user@a.example' } as const;
      await expectCode(blocks.add(sys, acct, { kind: 'address', value: 'not-an-address' }), 'INVALID_INPUT');
      await expectCode(blocks.add(sys, acct, { kind: 'domain', value: 'nodots' }), 'INVALID_INPUT');
      await expectCode(blocks.add(sys, acct, { kind: 'ip', value: '10.0.0.0/33' }), 'INVALID_INPUT');
      await expectCode(blocks.add(sys, acct, { kind: 'ip', value: 'example.org' }), 'INVALID_INPUT');
      await expectCode(blocks.add(sys, acct, { kind: 'address', value: 'a@b.example', subdomains: true }), 'INVALID_INPUT');
      await expectCode(blocks.add(sys, acct, { kind: 'address', value: 'a@b.example', note: 'line\nbreak' }), 'INVALID_INPUT');
      await expectCode(blocks.add(sys, acct, { kind: 'address', value: 'a@b.example', expiresAt: Date.now() - 1000 }), 'INVALID_INPUT');
      await expectCode(blocks.add(sys, { scope: 'domain', domain: 'nowhere.example' }, { kind: 'address', value: 'a@b.example' }), 'NOT_FOUND');
      await expectCode(blocks.add(sys, { scope: 'account', account: 'nobody@a.example' }, { kind: 'address', value: 'a@b.example' }), 'NOT_FOUND');
      const r = await blocks.add(sys, acct, { kind: 'address', value: 'A@B.Example' });
      expect(r.value).toBe('a@b.example');
      await expectCode(blocks.add(sys, acct, { kind: 'address', value: 'a@b.example' }), 'ALREADY_EXISTS');
      await cleanup([r]);
    });
  });

  describe('matching', () => {
    it('GW-FLT-1: an address rule matches that sender exactly (normalised), nothing else', async () => {
      const r = await blocks.add(as('userA'), { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'Pest@Spam.Example' });
      expect(await refused('user@a.example', 'pest@spam.example')).toBe(true);
      expect(await refused('User@A.Example', 'PEST@SPAM.EXAMPLE')).toBe(true);
      expect(await refused('user+tag@a.example', 'pest@spam.example')).toBe(true); // the account by subaddress
      expect(await refused('user@a.example', 'pest2@spam.example')).toBe(false);
      expect(await refused('user@a.example', 'pest@other.spam.example')).toBe(false);
      expect(await refused('user@a.example', '')).toBe(false); // the null sender
      // Only this account's recipients: another account of the domain still gets the mail.
      expect(await refused('other@a.example', 'pest@spam.example')).toBe(false);
      await cleanup([r]);
      expect(await refused('user@a.example', 'pest@spam.example')).toBe(false);
    });

    it('GW-FLT-1: a domain rule matches the domain, and its subdomains only when it says so', async () => {
      const exact = await blocks.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'domain', value: 'spam.example' });
      const subs = await blocks.add(sys, { scope: 'account', account: 'other@a.example' }, { kind: 'domain', value: '@spam.example', subdomains: true });
      expect(subs.value).toBe('spam.example');
      expect(await refused('user@a.example', 'x@spam.example')).toBe(true);
      expect(await refused('user@a.example', 'x@SPAM.example')).toBe(true);
      expect(await refused('user@a.example', 'x@mx.spam.example')).toBe(false);
      expect(await refused('user@a.example', 'x@notspam.example')).toBe(false);
      expect(await refused('other@a.example', 'x@spam.example')).toBe(true);
      expect(await refused('other@a.example', 'x@mx.spam.example')).toBe(true);
      expect(await refused('other@a.example', 'x@deep.mx.spam.example')).toBe(true);
      expect(await refused('other@a.example', 'x@notspam.example')).toBe(false);
      await cleanup([exact, subs]);
    });

    it('GW-FLT-1: IP rules match IPv4 and IPv6 networks (CIDR) against the client address', async () => {
      const v4 = await blocks.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'ip', value: '192.0.2.77/24' });
      const v6 = await blocks.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'ip', value: '2001:DB8:AB::/48' });
      const host = await blocks.add(sys, { scope: 'account', account: 'other@a.example' }, { kind: 'ip', value: '198.51.100.9' });
      expect([v4.value, v6.value, host.value]).toEqual(['192.0.2.0/24', '2001:db8:ab::/48', '198.51.100.9/32']);
      expect(await refused('user@a.example', 'a@ok.example', '192.0.2.1')).toBe(true);
      expect(await refused('user@a.example', 'a@ok.example', '192.0.2.255')).toBe(true);
      expect(await refused('user@a.example', 'a@ok.example', '::ffff:192.0.2.5')).toBe(true);
      expect(await refused('user@a.example', 'a@ok.example', '192.0.3.1')).toBe(false);
      expect(await refused('user@a.example', 'a@ok.example', '2001:db8:ab:ffff::1')).toBe(true);
      expect(await refused('user@a.example', 'a@ok.example', '2001:db8:ac::1')).toBe(false);
      expect(await refused('other@a.example', 'a@ok.example', '198.51.100.9')).toBe(true);
      expect(await refused('other@a.example', 'a@ok.example', '198.51.100.10')).toBe(false);
      // No client address known (another caller): IP rules cannot match.
      await expect(app.reception.checkRecipient('user@a.example', 'a@ok.example')).resolves.toBeTruthy();
      await cleanup([v4, v6, host]);
    });

    it('GW-FLT-1: the matcher and the CIDR parser on their own', () => {
      expect(parseCidr('10.1.2.3/8').text).toBe('10.0.0.0/8');
      expect(parseCidr('::ffff:10.1.2.3/120').text).toBe('::ffff:10.1.2.0/120');
      expect(parseCidr('2001:db8:1:2:3:4:5:6/64').text).toBe('2001:db8:1:2::/64');
      expect(parseCidr('::/0').text).toBe('::/0');
      expect(blockRuleMatches({ kind: 'ip', value: '0.0.0.0/0', subdomains: false }, 'a@b.example', '203.0.113.1')).toBe(true);
      expect(blockRuleMatches({ kind: 'ip', value: '0.0.0.0/0', subdomains: false }, 'a@b.example', 'not-an-ip')).toBe(false);
      expect(blockRuleMatches({ kind: 'domain', value: 'b.example', subdomains: true }, '<a@X.B.Example>', undefined)).toBe(true);
      expect(blockRuleMatches({ kind: 'address', value: 'a@b.example', subdomains: false }, null, '203.0.113.1')).toBe(false);
    });

    it('GW-FLT-1: a recipient is checked against the global, its domain\'s and its own rules only', async () => {
      const global = await blocks.add(sys, { scope: 'global' }, { kind: 'address', value: 'g@spam.example' });
      const domA = await blocks.add(sys, { scope: 'domain', domain: 'a.example' }, { kind: 'address', value: 'd@spam.example' });
      const own = await blocks.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'u@spam.example' });
      for (const rcpt of ['user@a.example', 'other@a.example', 'user@b.example']) expect(await refused(rcpt, 'g@spam.example'), rcpt).toBe(true);
      expect(await refused('user@a.example', 'd@spam.example')).toBe(true);
      expect(await refused('other@a.example', 'd@spam.example')).toBe(true);
      expect(await refused('user@b.example', 'd@spam.example')).toBe(false);
      expect(await refused('user@a.example', 'u@spam.example')).toBe(true);
      expect(await refused('other@a.example', 'u@spam.example')).toBe(false);
      expect(await refused('user@b.example', 'u@spam.example')).toBe(false);
      await cleanup([global, domA, own]);
    });

    it('GW-FLT-1: a list is refused by the global and its domain\'s rules; members that block the sender are skipped', async () => {
      const members = async (sender: string) => (await app.reception.checkRecipient('team@a.example', sender, { remoteAddress: '198.51.100.7' }));
      const all = await members('x@spam.example');
      expect(all.recipients.map((r) => r.account.address).sort()).toEqual(['other@a.example', 'user@a.example', 'user@b.example']);
      expect(all.external).toEqual(['someone@external.example']);
      const userA = await blocks.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'x@spam.example' });
      const domB = await blocks.add(sys, { scope: 'domain', domain: 'b.example' }, { kind: 'domain', value: 'spam.example' });
      const some = await members('x@spam.example');
      expect(some.recipients.map((r) => r.account.address)).toEqual(['other@a.example']);
      expect(some.external).toEqual(['someone@external.example']);
      // The list's own domain (or the global scope) refuses the list address as a whole.
      const domA = await blocks.add(sys, { scope: 'domain', domain: 'a.example' }, { kind: 'ip', value: '198.51.100.0/24' });
      expect(await refused('team@a.example', 'x@ok.example')).toBe(true);
      await cleanup([userA, domB, domA]);
      expect((await members('x@spam.example')).recipients).toHaveLength(3);
    });
  });

  describe('expiry', () => {
    it('GW-FLT-1: a rule matches until it expires, then never (injected clock)', async () => {
      let now = Date.now();
      const clocked = new BlockRules(app.stores, app.directory, { now: () => now });
      const r = await clocked.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'late@spam.example', expiresAt: now + 60_000 });
      const screen = () => clocked.screen('user@a.example', [acc.userA], { sender: 'late@spam.example', remoteAddress: '198.51.100.7' });
      await expectCode(screen(), 'FORBIDDEN');
      now += 59_999;
      await expectCode(screen(), 'FORBIDDEN');
      now += 1;
      expect(await screen()).toEqual([acc.userA]);
      const [listed] = await clocked.list(sys, { scope: 'account', account: 'user@a.example' });
      expect(listed).toMatchObject({ id: r.id, expired: true, expiresAt: r.expiresAt });
      // An expired rule does not stand in the way of a new one for the same sender.
      const again = await clocked.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'late@spam.example' });
      await cleanup([r, again]);
    });

    it('GW-FLT-1: a rule whose expiry has passed no longer matches at RCPT', async () => {
      // Made by a clock an hour behind, so that its expiry (ten minutes "later") is already past.
      const behind = new BlockRules(app.stores, app.directory, { now: () => Date.now() - 3_600_000 });
      const past = await behind.add(sys, { scope: 'global' }, { kind: 'address', value: 'old@spam.example', expiresAt: Date.now() - 3_000_000 });
      const future = await blocks.add(sys, { scope: 'global' }, { kind: 'address', value: 'new@spam.example', expiresAt: Date.now() + 3_600_000 });
      expect(await refused('user@a.example', 'old@spam.example')).toBe(false);
      expect(await refused('user@a.example', 'new@spam.example')).toBe(true);
      expect((await blocks.get(sys, past.id)).expired).toBe(true);
      await cleanup([past, future]);
    });
  });

  describe('audit', () => {
    it('GW-FLT-1: creating and removing a rule is audited with who and what; a refused change writes nothing', async () => {
      const before = (await readAudit(app.stores.directory, { limit: 100_000 })).length;
      const r = await blocks.add(as('daA'), { scope: 'domain', domain: 'a.example' }, { kind: 'domain', value: 'spam.example', subdomains: true, note: 'campaign 42', expiresAt: Date.parse('2099-01-01T00:00:00Z') });
      await expectCode(blocks.add(as('userA'), { scope: 'domain', domain: 'a.example' }, { kind: 'domain', value: 'other.example' }), 'FORBIDDEN');
      await expectCode(blocks.remove(as('userB'), r.id), 'FORBIDDEN');
      await blocks.remove(as('admin'), r.id);
      const rows = (await readAudit(app.stores.directory, { limit: 100_000 })).slice(before);
      expect(rows.map((x) => x.event)).toEqual(['block.create', 'block.delete']);
      const detail = { id: r.id, scope: 'domain', kind: 'domain', value: 'spam.example', subdomains: true, expiresAt: '2099-01-01T00:00:00.000Z', note: 'campaign 42' };
      expect(rows[0]).toMatchObject({ actor: 'da@a.example', object: 'a.example', detail });
      expect(rows[1]).toMatchObject({ actor: 'admin@a.example', object: 'a.example', detail });
      const g = await blocks.add(sys, { scope: 'global' }, { kind: 'ip', value: '203.0.113.0/24' });
      await blocks.remove(sys, g.id);
      const last = (await readAudit(app.stores.directory, { event: 'block.delete' })).at(-1)!;
      expect(last).toMatchObject({ actor: 'system:test', object: '(global)', detail: { id: g.id, scope: 'global', kind: 'ip', value: '203.0.113.0/24' } });
      expect((await verifyAuditChain(app.stores.directory)).ok).toBe(true);
    });
  });

  it('GW-FLT-1: a rule written by another instance (CLI, another node) applies at the next RCPT: no stale cache', async () => {
    const other = new BlockRules(app.stores, app.directory);
    expect(await refused('user@a.example', 'fresh@spam.example')).toBe(false);
    const r = await other.add(sys, { scope: 'account', account: 'user@a.example' }, { kind: 'address', value: 'fresh@spam.example' });
    expect(await refused('user@a.example', 'fresh@spam.example')).toBe(true);
    await other.remove(sys, r.id);
    expect(await refused('user@a.example', 'fresh@spam.example')).toBe(false);
  });
});
