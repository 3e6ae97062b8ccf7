/**
 * The directory (src/core/directory/directory.ts) against both engines: domains, accounts,
 * aliases, lists, their expansion and posting policies, the permission rules enforced in
 * core (GW-DL-2, GW-ADM-1) and the audit trail they write (GW-LOG-1..3).
 *
 * Each engine gets an installation opened the way the server opens it (openApp on a data
 * directory with a bulwark.toml): SQLite in a temporary directory, PostgreSQL in a fresh
 * database that is both the primary store and partition "main".
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { stringify } from 'smol-toml';
import { directoryOptions, openApp, type App } from '../../src/app.ts';
import { Directory, type AccountInfo, type DirectoryLimits, type PostPolicy } from '../../src/core/directory/directory.ts';
import { systemActor, type Actor } from '../../src/core/actor.ts';
import { DomainError, type ErrorCode } from '../../src/core/errors.ts';
import { readAudit, verifyAuditChain, type AuditRow } from '../../src/security/audit.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';

type EngineName = 'sqlite' | 'postgres';
const ENGINES: EngineName[] = ['sqlite', 'postgres'];

/** Canary passwords: they must never show up anywhere but as the argon2id hash (GW-LOG-3). */
const PW = 'Canary-Pw-7f3a9e21-ÄÖÜ';
const WRONG_PW = 'Wrong-Canary-91b2c3d4';
const NEW_PW = 'Fresh-Canary-5e6f7a8b';

const sys: Actor = systemActor('test');

interface Env {
  app: App;
  dir: Directory;
  close(): Promise<void>;
}

/** An installation as openApp builds it, with the directory limits these tests rely on. */
async function openEnv(engine: EngineName, opts: { partitions?: string[] } = {}): Promise<Env> {
  const tmp = tempDir('bulwark-directory-');
  const drops: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const d of drops) await d();
    tmp.cleanup();
  };
  try {
    const names = opts.partitions ?? ['main'];
    const partitions: Record<string, string> = {};
    let storeUrl: string;
    if (engine === 'sqlite') {
      storeUrl = 'sqlite:bulwark.db';
      for (const n of names) partitions[n] = n === 'main' ? storeUrl : `sqlite:${n}.db`;
    } else {
      const main = await createTestDatabase('bwdir');
      drops.push(main.drop);
      storeUrl = main.url;
      for (const n of names) {
        if (n === 'main') {
          partitions[n] = main.url;
        } else {
          const db = await createTestDatabase('bwdir');
          drops.push(db.drop);
          partitions[n] = db.url;
        }
      }
    }
    fs.writeFileSync(path.join(tmp.dir, 'bulwark.toml'), stringify({
      store: { url: storeUrl },
      partitions,
      limits: { max_list_depth: 3, max_expansion: 50 },
    }));
    const app = await openApp(tmp.dir, { env: {} });
    expect(app.stores.directoryEngine.kind).toBe(engine);
    return {
      app,
      dir: app.directory,
      close: async () => {
        await app.close();
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Another Directory over the same stores, with other limits. */
function withLimits(env: Env, limits: Partial<DirectoryLimits>, closedPartitions?: string[]): Directory {
  const base = directoryOptions(env.app.config);
  return new Directory(env.app.stores, env.app.mail, { limits: { ...base.limits, ...limits }, closedPartitions: closedPartitions ?? base.closedPartitions });
}

async function failure(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<DomainError> {
  const e = await failure(p);
  expect(e.code, e.message).toBe(code);
  return e;
}

const addresses = (accounts: AccountInfo[]) => accounts.map((a) => a.address).sort();

async function auditRows(env: Env, event?: string): Promise<AuditRow[]> {
  return readAudit(env.app.stores.directory, { event, limit: 100_000 });
}

async function auditCount(env: Env): Promise<number> {
  const r = await env.app.stores.directory.selectFrom('audit').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Every row of every table of the primary store, as text (for grepping). */
async function dumpDirectory(env: Env): Promise<string> {
  const db = env.app.stores.directory;
  const out: unknown[] = [];
  for (const t of ['domains', 'addresses', 'accounts', 'aliases', 'alias_targets', 'lists', 'list_members', 'list_senders', 'audit', 'audit_head'] as const) {
    out.push(await db.selectFrom(t).selectAll().execute());
  }
  return JSON.stringify(out);
}

describe.each(ENGINES)('directory on %s', (engine) => {
  let env: Env;
  let dir: Directory;
  // Actors of the permission tests.
  let adminA: AccountInfo;
  let daA: AccountInfo;
  let userA: AccountInfo;
  let otherA: AccountInfo;
  let daB: AccountInfo;
  let userB: AccountInfo;
  const actor = (a: AccountInfo): Actor => dir.actorFor(a);

  beforeAll(async () => {
    env = await openEnv(engine);
    dir = env.dir;
    await dir.addDomain(sys, 'a.example');
    await dir.addDomain(sys, 'b.example');
    adminA = await dir.addAccount(sys, { address: 'admin@a.example', password: PW, roles: ['admin'] });
    daA = await dir.addAccount(sys, { address: 'da@a.example', password: PW, roles: ['domain-admin'] });
    userA = await dir.addAccount(sys, { address: 'user@a.example', password: PW });
    otherA = await dir.addAccount(sys, { address: 'other@a.example', password: PW });
    daB = await dir.addAccount(sys, { address: 'da@b.example', password: PW, roles: 'domain-admin' });
    userB = await dir.addAccount(sys, { address: 'user@b.example', password: PW });
  });

  afterAll(async () => {
    await env?.close();
  });

  // ------------------------------------------------------------------ domains

  describe('domains', () => {
    it('stores an IDN domain as punycode and lists it in Unicode', async () => {
      const d = await dir.addDomain(sys, 'Bücher.example');
      expect(d).toMatchObject({ name: 'xn--bcher-kva.example', display: 'bücher.example', enabled: true });
      const raw = await env.app.stores.directory.selectFrom('domains').select('name').where('id', '=', d.id).executeTakeFirstOrThrow();
      expect(raw.name).toBe('xn--bcher-kva.example');
      const listed = (await dir.listDomains(sys)).find((x) => x.id === d.id);
      expect(listed).toMatchObject({ name: 'xn--bcher-kva.example', display: 'bücher.example' });
      expect(await dir.isLocalDomain('BÜCHER.example.')).toBe(true);
      expect(await dir.isLocalDomain('xn--bcher-kva.example')).toBe(true);
      expect(await dir.isLocalDomain('elsewhere.example')).toBe(false);
      expect(await dir.isLocalDomain('not a domain')).toBe(false);
    });

    it('refuses the same domain in another spelling with ALREADY_EXISTS', async () => {
      await dir.addDomain(sys, 'dup.example');
      for (const spelling of ['dup.example', 'DUP.Example.', ' dup.example ']) {
        await expectCode(dir.addDomain(sys, spelling), 'ALREADY_EXISTS');
      }
      await dir.addDomain(sys, 'müller.example');
      for (const spelling of ['MÜLLER.example', 'mu\u0308ller.example', 'xn--mller-kva.example']) {
        await expectCode(dir.addDomain(sys, spelling), 'ALREADY_EXISTS');
      }
      const rows = await env.app.stores.directory.selectFrom('domains').select('name').where('name', 'in', ['dup.example', 'xn--mller-kva.example']).execute();
      expect(rows.map((r) => r.name).sort()).toEqual(['dup.example', 'xn--mller-kva.example']);
    });

    it('refuses an invalid domain with INVALID_INPUT', async () => {
      for (const bad of ['localhost', '192.0.2.1', 'exa mple.org', '']) await expectCode(dir.addDomain(sys, bad), 'INVALID_INPUT');
    });

    it('refuses to remove a domain while it has accounts, aliases or lists', async () => {
      await dir.addDomain(sys, 'gone.example');
      await dir.addAccount(sys, { address: 'someone@gone.example', password: PW });
      await dir.addAlias(sys, '@gone.example', ['someone@elsewhere.example']);
      await dir.addList(sys, { address: 'team@gone.example', members: ['someone@gone.example'] });
      const removals: [string, () => Promise<void>][] = [
        ['account', () => dir.removeAccount(sys, 'someone@gone.example')],
        ['catch-all', () => dir.removeAlias(sys, '@gone.example')],
        ['list', () => dir.removeList(sys, 'team@gone.example')],
      ];
      for (const [what, remove] of removals) {
        const e = await expectCode(dir.removeDomain(sys, 'gone.example'), 'INVALID_INPUT');
        expect(e.message, what).toMatch(/still has/);
        expect((await dir.getDomain(sys, 'gone.example')).name).toBe('gone.example');
        await remove();
      }
      await dir.removeDomain(sys, 'gone.example');
      await expectCode(dir.getDomain(sys, 'gone.example'), 'NOT_FOUND');
      const del = (await auditRows(env, 'domain.delete')).filter((r) => r.object === 'gone.example');
      expect(del).toHaveLength(1);
    });

    it('GW-ADM-1: only an admin adds, changes or removes a domain', async () => {
      for (const a of [userA, daA, daB]) {
        await expectCode(dir.addDomain(actor(a), 'new.example'), 'FORBIDDEN');
        await expectCode(dir.updateDomain(actor(a), 'a.example', { enabled: false }), 'FORBIDDEN');
        await expectCode(dir.removeDomain(actor(a), 'b.example'), 'FORBIDDEN');
      }
      await expectCode(dir.getDomain(sys, 'new.example'), 'NOT_FOUND');
      expect((await dir.getDomain(sys, 'a.example')).enabled).toBe(true);
      const d = await dir.addDomain(actor(adminA), 'by-admin.example');
      expect(d.name).toBe('by-admin.example');
    });
  });

  // ------------------------------------------------------------------ accounts

  describe('accounts', () => {
    it('GW-INS-1: the stored account row holds an $argon2id$ hash, never the password', async () => {
      const a = await dir.addAccount(sys, { address: 'hash.test@a.example', password: PW });
      const row = await env.app.stores.directory.selectFrom('accounts').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow();
      expect(row.password_hash.startsWith('$argon2id$')).toBe(true);
      expect(row.password_hash).not.toContain(PW);
      expect(JSON.stringify(row)).not.toContain(PW);
      expect(JSON.stringify(a)).not.toContain('argon2');
    });

    it.each([
      ['too short', 'Sh0rt!x'],
      ['too few distinct characters', 'aaaaaaaaaaaa'],
      ['too few distinct characters', 'abababababab'],
      ['a well-known password', 'password1234'],
      ['a well-known password', 'Changeme-2024!'],
      ['a well-known password', 'qwerty123456'],
      ['too long', `Ab1!${'x'.repeat(1100)}`],
    ])('GW-INS-1: refuses a weak password (%s) and creates nothing', async (_why, weak) => {
      const auditBefore = await auditCount(env);
      await expectCode(dir.addAccount(sys, { address: 'weak@a.example', password: weak }), 'INVALID_INPUT');
      expect(await env.app.stores.directory.selectFrom('addresses').select('address').where('address', '=', 'weak@a.example').executeTakeFirst()).toBeUndefined();
      expect(await auditCount(env)).toBe(auditBefore);
    });

    it('normalises the address: case, IDN and Unicode forms name one account', async () => {
      const a = await dir.addAccount(sys, { address: ' Jose\u0301.Smith@MÜLLER.Example. ', password: PW, displayName: '  José  ' });
      expect(a.address).toBe('josé.smith@xn--mller-kva.example');
      expect(a.displayAddress).toBe('josé.smith@müller.example');
      expect(a.displayName).toBe('José');
      for (const spelling of ['JOSÉ.SMITH@müller.example', 'josé.smith@xn--mller-kva.example', '<jose\u0301.smith@MU\u0308LLER.EXAMPLE>']) {
        expect((await dir.getAccount(sys, spelling)).id).toBe(a.id);
      }
      await expectCode(dir.addAccount(sys, { address: 'JOSÉ.Smith@müller.example', password: PW }), 'ALREADY_EXISTS');
      await expectCode(dir.addAccount(sys, { address: 'no-domain@unknown.example', password: PW }), 'NOT_FOUND');
      await expectCode(dir.addAccount(sys, { address: 'not an address', password: PW }), 'INVALID_INPUT');
      await expectCode(dir.addAccount(sys, { address: 'x@a.example', password: PW, roles: ['root'] as never }), 'INVALID_INPUT');
    });

    it('GW-DL-1: accounts, aliases and lists share one address space', async () => {
      await dir.addAccount(sys, { address: 'shared@a.example', password: PW });
      await expectCode(dir.addAlias(sys, 'Shared@A.example', ['user@a.example']), 'ALREADY_EXISTS');
      await expectCode(dir.addList(sys, { address: 'SHARED@a.example', members: ['user@a.example'] }), 'ALREADY_EXISTS');

      await dir.addAlias(sys, 'alias-ns@a.example', ['user@a.example']);
      await expectCode(dir.addAccount(sys, { address: 'Alias-NS@a.example', password: PW }), 'ALREADY_EXISTS');
      await expectCode(dir.addList(sys, { address: 'alias-ns@a.example' }), 'ALREADY_EXISTS');

      await dir.addList(sys, { address: 'list-ns@a.example', members: ['user@a.example'] });
      await expectCode(dir.addAccount(sys, { address: 'list-ns@A.EXAMPLE', password: PW }), 'ALREADY_EXISTS');
      await expectCode(dir.addAlias(sys, 'list-ns@a.example', ['user@a.example']), 'ALREADY_EXISTS');

      expect(await dir.lookup('shared@a.example')).toEqual({ kind: 'account', address: 'shared@a.example' });
      expect(await dir.lookup('alias-ns@a.example')).toEqual({ kind: 'alias', address: 'alias-ns@a.example' });
      expect(await dir.lookup('list-ns@a.example')).toEqual({ kind: 'list', address: 'list-ns@a.example' });
      const accounts = await env.app.stores.directory.selectFrom('accounts').select('address').where('address', 'in', ['alias-ns@a.example', 'list-ns@a.example']).execute();
      expect(accounts).toEqual([]);
    });

    it('GW-DL-1: an account, an alias and a list racing for one address: exactly one wins', async () => {
      const auditBefore = await auditCount(env);
      const results = await Promise.allSettled([
        dir.addAlias(sys, 'race@a.example', ['user@a.example']),
        dir.addList(sys, { address: 'RACE@a.example', members: ['user@a.example'] }),
        dir.addAccount(sys, { address: 'race@A.example', password: PW }),
        dir.addAlias(sys, 'Race@a.example', ['other@a.example']),
        dir.addList(sys, { address: 'race@a.example', members: ['other@a.example'] }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as DomainError).code).toBe('ALREADY_EXISTS');
      }
      const db = env.app.stores.directory;
      expect(await db.selectFrom('addresses').select('kind').where('address', '=', 'race@a.example').execute()).toHaveLength(1);
      const owners = [
        ...(await db.selectFrom('accounts').select('id').where('address', '=', 'race@a.example').execute()),
        ...(await db.selectFrom('aliases').select('id').where('address', '=', 'race@a.example').execute()),
        ...(await db.selectFrom('lists').select('id').where('address', '=', 'race@a.example').execute()),
      ];
      expect(owners).toHaveLength(1);
      expect(await auditCount(env)).toBe(auditBefore + 1);
    });

    it('authenticates: only a correct password of an enabled account succeeds, and both outcomes are audited', async () => {
      const login = await dir.addAccount(sys, { address: 'login@a.example', password: PW });
      await dir.addAccount(sys, { address: 'off@a.example', password: PW });
      await dir.setEnabled(sys, 'off@a.example', false);
      const ctx = { protocol: 'imap', remote: '192.0.2.10' };
      const failuresBefore = (await auditRows(env, 'auth.login.failure')).length;

      const ok = await dir.authenticate('Login@A.Example', PW, ctx);
      expect(ok?.id).toBe(login.id);
      expect(ok?.address).toBe('login@a.example');

      const attempts: [string, string, string][] = [
        ['login@a.example', WRONG_PW, 'credentials'],
        ['login@a.example', '', 'credentials'],
        ['off@a.example', PW, 'disabled'],
        ['ghost@a.example', PW, 'unknown'],
        ['ghost@elsewhere.example', WRONG_PW, 'unknown'],
        [PW, PW, 'invalid'], // the password typed into the user name field
        ['', WRONG_PW, 'invalid'],
      ];
      for (const [user, pw] of attempts) expect(await dir.authenticate(user, pw, ctx), user).toBeNull();

      const success = (await auditRows(env, 'auth.login.success')).filter((r) => r.object === 'login@a.example');
      expect(success).toHaveLength(1);
      expect(success[0]).toMatchObject({ actor: 'login@a.example', source: '192.0.2.10', detail: { protocol: 'imap' } });

      const failures = (await auditRows(env, 'auth.login.failure')).slice(failuresBefore);
      expect(failures).toHaveLength(attempts.length);
      failures.forEach((f, i) => {
        expect(f.source).toBe('192.0.2.10');
        expect(f.detail).toMatchObject({ protocol: 'imap', reason: attempts[i][2] });
      });
      expect(failures.map((f) => f.object).slice(0, 5)).toEqual(['login@a.example', 'login@a.example', 'off@a.example', 'ghost@a.example', 'ghost@elsewhere.example']);

      // GW-LOG-3: no trace of any password in the trail or anywhere else in the primary store.
      const all = await dumpDirectory(env);
      for (const canary of [PW, WRONG_PW]) expect(all).not.toContain(canary);
      expect(JSON.stringify(await auditRows(env))).not.toContain(PW);
    });

    it('refuses a login for a disabled domain', async () => {
      await dir.addDomain(sys, 'paused.example');
      await dir.addAccount(sys, { address: 'p@paused.example', password: PW });
      expect(await dir.authenticate('p@paused.example', PW, { protocol: 'smtp' })).not.toBeNull();
      await dir.updateDomain(sys, 'paused.example', { enabled: false });
      expect(await dir.authenticate('p@paused.example', PW, { protocol: 'smtp' })).toBeNull();
      expect(await dir.isLocalDomain('paused.example')).toBe(false);
      const last = (await auditRows(env, 'auth.login.failure')).at(-1)!;
      expect(last).toMatchObject({ object: 'p@paused.example', detail: { protocol: 'smtp', reason: 'disabled' } });
      // and takes no mail: refused when addressed, skipped inside a list elsewhere
      await expectCode(dir.expand('p@paused.example'), 'ACCOUNT_DISABLED');
      await dir.addList(sys, { address: 'with-paused@a.example', members: ['p@paused.example', 'user@a.example'] });
      const ex = await dir.expand('with-paused@a.example');
      expect(ex.accounts.map((a) => a.address)).toEqual(['user@a.example']);
      expect(ex.skipped).toContain('p@paused.example');
      await dir.updateDomain(sys, 'paused.example', { enabled: true });
      expect((await dir.expand('p@paused.example')).accounts.map((a) => a.address)).toEqual(['p@paused.example']);
    });

    it('a user changes their own password but no one else\'s; the change is audited without the password', async () => {
      const u = await dir.addAccount(sys, { address: 'pwchange@a.example', password: PW });
      await dir.setPassword(dir.actorFor(u), 'pwchange@a.example', NEW_PW);
      expect(await dir.authenticate('pwchange@a.example', NEW_PW, { protocol: 'test' })).not.toBeNull();
      expect(await dir.authenticate('pwchange@a.example', PW, { protocol: 'test' })).toBeNull();
      await expectCode(dir.setPassword(dir.actorFor(u), 'user@a.example', NEW_PW), 'FORBIDDEN');
      await expectCode(dir.setPassword(dir.actorFor(u), 'pwchange@a.example', 'weak'), 'INVALID_INPUT');
      expect(await dir.authenticate('user@a.example', PW, { protocol: 'test' })).not.toBeNull();
      const changes = (await auditRows(env, 'account.password')).filter((r) => r.object === 'pwchange@a.example');
      expect(changes).toHaveLength(1);
      expect(changes[0].actor).toBe('pwchange@a.example');
      expect(await dumpDirectory(env)).not.toContain(NEW_PW);
    });

    it('a password typed in another Unicode normalisation form still logs in', async () => {
      await dir.addAccount(sys, { address: 'nfc@a.example', password: 'Crème-brûlée-2024' });
      expect(await dir.authenticate('nfc@a.example', 'Cre\u0300me-bru\u0302le\u0301e-2024', { protocol: 'test' })).not.toBeNull();
    });
  });

  // ------------------------------------------------------------------ aliases

  describe('aliases', () => {
    it('normalises, deduplicates and sorts targets, and refuses bad ones', async () => {
      const al = await dir.addAlias(sys, 'Info@A.example', ['Other@A.EXAMPLE', 'other@a.example', 'Ext@Other.Example.', '<user@a.example>']);
      expect(al).toMatchObject({ address: 'info@a.example', catchAll: false, targets: ['ext@other.example', 'other@a.example', 'user@a.example'] });
      expect((await dir.getAlias(sys, 'INFO@a.example')).targets).toEqual(al.targets);
      await expectCode(dir.addAlias(sys, 'bad-target@a.example', ['not an address']), 'INVALID_INPUT');
      await expectCode(dir.addAlias(sys, 'no-target@a.example', []), 'INVALID_INPUT');
      await expectCode(dir.addAlias(sys, 'self@a.example', ['Self@a.example']), 'INVALID_INPUT');
      await expectCode(dir.addAlias(sys, 'x@unknown.example', ['user@a.example']), 'NOT_FOUND');
      const updated = await dir.updateAlias(sys, 'info@a.example', { add: ['NEW@Other.Example'], remove: ['OTHER@a.example'] });
      expect(updated.targets).toEqual(['ext@other.example', 'new@other.example', 'user@a.example']);
      await expectCode(dir.updateAlias(sys, 'info@a.example', { targets: ['info@a.example'] }), 'INVALID_INPUT');
    });

    it('a catch-all receives the unknown local parts of its domain, and only those', async () => {
      await dir.addDomain(sys, 'catch.example');
      await dir.addAccount(sys, { address: 'catcher@catch.example', password: PW });
      await dir.addAccount(sys, { address: 'known@catch.example', password: PW });
      await expectCode(dir.expand('random@catch.example'), 'NOT_FOUND');
      const al = await dir.addAlias(sys, '@Catch.Example', ['catcher@catch.example']);
      expect(al).toMatchObject({ address: '@catch.example', catchAll: true });
      expect(await dir.lookup('Random@catch.example')).toEqual({ kind: 'alias', address: '@catch.example' });
      expect(addresses((await dir.expand('random@catch.example')).accounts)).toEqual(['catcher@catch.example']);
      expect(addresses((await dir.expand('known@catch.example')).accounts)).toEqual(['known@catch.example']);
      // Another domain's unknown addresses are not caught.
      await expectCode(dir.expand('random@a.example'), 'NOT_FOUND');
    });

    it('GW-DL-1: user+tag@ subaddressing resolves to user, before any catch-all', async () => {
      expect(await dir.lookup('User+Newsletter@A.example')).toEqual({ kind: 'account', address: 'user@a.example' });
      expect(addresses((await dir.expand('user+news@a.example')).accounts)).toEqual(['user@a.example']);
      expect(addresses((await dir.expand('known+tag@catch.example')).accounts)).toEqual(['known@catch.example']);
      expect(addresses((await dir.expand('nobody+tag@catch.example')).accounts)).toEqual(['catcher@catch.example']);
      await expectCode(dir.expand('nobody+tag@a.example'), 'NOT_FOUND');
    });

    it('an alias to an external address expands to that external address', async () => {
      await dir.addAlias(sys, 'fwd@a.example', ['Someone@Elsewhere.Example', 'user@a.example']);
      const x = await dir.expand('fwd@a.example');
      expect(x.external).toEqual(['someone@elsewhere.example']);
      expect(addresses(x.accounts)).toEqual(['user@a.example']);
      const direct = await dir.expand('Stranger@Elsewhere.Example');
      expect(direct).toMatchObject({ accounts: [], external: ['stranger@elsewhere.example'] });
      await expectCode(dir.expand('not an address'), 'INVALID_INPUT');
    });
  });

  // ------------------------------------------------------------------ lists

  describe('lists', () => {
    const L = (local: string) => `${local}@l.example`;
    let dis: AccountInfo;

    beforeAll(async () => {
      await dir.addDomain(sys, 'l.example');
      for (const u of ['u1', 'u2', 'u3', 'u4']) await dir.addAccount(sys, { address: L(u), password: PW });
      dis = await dir.addAccount(sys, { address: L('dis'), password: PW });
      await dir.setEnabled(sys, L('dis'), false);
    });

    it('GW-DL-4: a nested list reaching the same member twice delivers once', async () => {
      await dir.addList(sys, { address: L('team'), members: [L('u1'), L('u2'), L('sub')] });
      await dir.addList(sys, { address: L('sub'), members: [L('u2'), L('u3'), 'U1@L.Example', 'Ext@Outside.Example'] });
      const x = await dir.expand(L('team'));
      expect(addresses(x.accounts)).toEqual([L('u1'), L('u2'), L('u3')]);
      expect(new Set(x.accounts.map((a) => a.id)).size).toBe(3);
      expect(x.external).toEqual(['ext@outside.example']);
      expect(x.skipped).toEqual(expect.arrayContaining([L('u1'), L('u2')]));
    });

    it('GW-DL-4: a loop A->B->A ends and each account appears once', async () => {
      await dir.addList(sys, { address: L('loop-a'), members: [L('u1'), L('loop-b')] });
      await dir.addList(sys, { address: L('loop-b'), members: [L('u2'), L('loop-a')] });
      for (const start of [L('loop-a'), L('loop-b')]) {
        const x = await dir.expand(start);
        expect(addresses(x.accounts)).toEqual([L('u1'), L('u2')]);
        expect(x.skipped).toContain(start);
      }
      // Through aliases too.
      await dir.addAlias(sys, L('ping'), [L('pong'), L('u3')]);
      await dir.addAlias(sys, L('pong'), [L('ping'), L('u4')]);
      expect(addresses((await dir.expand(L('ping'))).accounts)).toEqual([L('u3'), L('u4')]);
    });

    it('GW-DL-4: lists nested deeper than max_list_depth give LOOP_DETECTED', async () => {
      // max_list_depth = 3 (bulwark.toml): d0 holds d1 holds d2 holds d3, three levels of nesting.
      await dir.addList(sys, { address: L('d0'), members: [L('d1')] });
      await dir.addList(sys, { address: L('d1'), members: [L('d2')] });
      await dir.addList(sys, { address: L('d2'), members: [L('d3')] });
      await dir.addList(sys, { address: L('d3'), members: [L('u1')] });
      expect(addresses((await dir.expand(L('d0'))).accounts)).toEqual([L('u1')]);
      // One level more.
      await dir.addList(sys, { address: L('e0'), members: [L('d0'), L('u2')] });
      const e = await expectCode(dir.expand(L('e0')), 'LOOP_DETECTED');
      expect(e.message).toContain('3 levels');
      // Alias hops count as nesting as well.
      await dir.addAlias(sys, L('to-d0'), [L('d0')]);
      await expectCode(dir.expand(L('to-d0')), 'LOOP_DETECTED');
      // The smallest setting allows one level of nesting and no more.
      const shallow = withLimits(env, { maxListDepth: 1 });
      expect(addresses((await shallow.expand(L('d2'))).accounts)).toEqual([L('u1')]);
      await expectCode(shallow.expand(L('d1')), 'LOOP_DETECTED');
    });

    it('GW-DL-4: more recipients than max_expansion give LIMIT_EXCEEDED', async () => {
      const small = withLimits(env, { maxExpansion: 3 });
      await dir.addList(sys, { address: L('three'), members: [L('u1'), L('u2'), 'x@outside.example'] });
      await dir.addList(sys, { address: L('four'), members: [L('u1'), L('u2'), L('u3'), 'x@outside.example'] });
      await dir.addList(sys, { address: L('three-nested'), members: [L('three'), L('u1')] }); // u1 again: still three
      await dir.addList(sys, { address: L('four-nested'), members: [L('three'), L('u4')] });
      const three = await small.expand(L('three'));
      expect(addresses(three.accounts).length + three.external.length).toBe(3);
      expect(addresses((await small.expand(L('three-nested'))).accounts)).toEqual([L('u1'), L('u2')]);
      await expectCode(small.expand(L('four')), 'LIMIT_EXCEEDED');
      await expectCode(small.expand(L('four-nested')), 'LIMIT_EXCEEDED');
      // The configured limit (50) lets them through.
      expect((await dir.expand(L('four'))).accounts).toHaveLength(3);
    });

    it('GW-DL-4: external posting to an internal list is off by default', async () => {
      const l = await dir.addList(sys, { address: L('default-policy'), members: [L('u1')] });
      expect(l.postPolicy).toBe('members');
      expect(await dir.mayPost(L('default-policy'), 'someone@outside.example')).toMatchObject({ ok: false });
      expect(await dir.mayPost(L('default-policy'), L('u1'))).toEqual({ ok: true });
    });

    describe('GW-DL-4: posting policies', () => {
      beforeAll(async () => {
        await dir.addList(sys, { address: L('p-anyone'), postPolicy: 'anyone', members: [L('u1')] });
        await dir.addList(sys, { address: L('p-inner'), postPolicy: 'anyone', members: [L('u2')] });
        await dir.addList(sys, { address: L('p-members'), postPolicy: 'members', members: [L('u1'), L('p-inner'), 'Friend@Outside.Example'] });
        await dir.addList(sys, { address: L('p-domain'), postPolicy: 'domain', members: [L('u1')] });
        await dir.addList(sys, { address: L('p-senders'), postPolicy: 'senders', members: [L('u1')], senders: ['Boss@Outside.Example'] });
      });

      const cases: [string, PostPolicy, string | null, boolean][] = [
        ['p-anyone', 'anyone', 'stranger@outside.example', true],
        ['p-anyone', 'anyone', null, true],
        ['p-members', 'members', 'u1@l.example', true],
        ['p-members', 'members', 'U1@L.EXAMPLE', true],
        ['p-members', 'members', 'u2@l.example', true], // through the nested list
        ['p-members', 'members', 'friend@outside.example', true], // an external member
        ['p-members', 'members', 'u1+lists@l.example', true], // a member's subaddress (RFC 5233)
        ['p-senders', 'senders', 'boss+x@outside.example', true],
        ['p-members', 'members', 'u3@l.example', false],
        ['p-members', 'members', 'stranger@outside.example', false],
        ['p-members', 'members', null, false],
        ['p-members', 'members', 'not an address', false],
        ['p-domain', 'domain', 'u3@l.example', true],
        ['p-domain', 'domain', 'user@a.example', false],
        ['p-domain', 'domain', null, false],
        ['p-senders', 'senders', 'boss@outside.example', true],
        ['p-senders', 'senders', 'u1@l.example', false], // a member, but not a named sender
        ['p-senders', 'senders', 'stranger@outside.example', false],
      ];

      it.each(cases)('%s (%s) from %s: allowed=%s', async (list, policy, sender, allowed) => {
        expect((await dir.getList(sys, L(list))).postPolicy).toBe(policy);
        const verdict = await dir.mayPost(L(list), sender);
        expect(verdict.ok).toBe(allowed);
        if (allowed) {
          expect((await dir.expand(L(list), { sender })).accounts.length).toBeGreaterThan(0);
        } else {
          expect(verdict.ok === false && verdict.reason).toMatch(/accepts posts only/);
          await expectCode(dir.expand(L(list), { sender }), 'FORBIDDEN');
          // Without a sender (an internal expansion, e.g. `bulwark list show --expand`) no policy applies.
          expect((await dir.expand(L(list))).accounts.length).toBeGreaterThan(0);
        }
      });

      it('the policy holds when the list is addressed through an alias or a subaddress', async () => {
        await dir.addAlias(sys, L('p-alias'), [L('p-members')]);
        await expectCode(dir.expand(L('p-alias'), { sender: 'stranger@outside.example' }), 'FORBIDDEN');
        expect(addresses((await dir.expand(L('p-alias'), { sender: L('u1') })).accounts)).toEqual([L('u1'), L('u2')]);
        await expectCode(dir.expand('p-members+tag@l.example', { sender: 'stranger@outside.example' }), 'FORBIDDEN');
      });

      it('a list nested in an open list takes the mail as part of it', async () => {
        await dir.addList(sys, { address: L('p-open-outer'), postPolicy: 'anyone', members: [L('p-senders')] });
        expect(addresses((await dir.expand(L('p-open-outer'), { sender: 'stranger@outside.example' })).accounts)).toEqual([L('u1')]);
      });

      it('refuses an unknown policy', async () => {
        await expectCode(dir.addList(sys, { address: L('p-bad'), postPolicy: 'everyone' as PostPolicy }), 'INVALID_INPUT');
        await expectCode(dir.updateList(sys, L('p-anyone'), { postPolicy: 'nobody' as PostPolicy }), 'INVALID_INPUT');
      });
    });

    it('a disabled account is refused as a direct recipient and skipped inside a list or alias', async () => {
      const e = await expectCode(dir.expand(L('dis')), 'ACCOUNT_DISABLED');
      expect(e.message).toContain('dis@l.example');
      await expectCode(dir.expand('dis+tag@l.example'), 'ACCOUNT_DISABLED');
      await dir.addList(sys, { address: L('with-dis'), members: [L('u1'), L('dis')] });
      const x = await dir.expand(L('with-dis'));
      expect(addresses(x.accounts)).toEqual([L('u1')]);
      expect(x.accounts.map((a) => a.id)).not.toContain(dis.id);
      expect(x.skipped).toContain(L('dis'));
      await dir.addAlias(sys, L('to-dis'), [L('dis'), L('u2')]);
      expect(addresses((await dir.expand(L('to-dis'))).accounts)).toEqual([L('u2')]);
    });

    it('a stale member (an unknown address of our own domain) is skipped, not bounced', async () => {
      await dir.addList(sys, { address: L('stale'), members: [L('u1'), L('left-long-ago')] });
      const x = await dir.expand(L('stale'));
      expect(addresses(x.accounts)).toEqual([L('u1')]);
      expect(x.external).toEqual([]);
      expect(x.skipped).toContain(L('left-long-ago'));
    });

    it('refuses a list that is its own member and normalises members', async () => {
      await expectCode(dir.addList(sys, { address: L('selfish'), members: ['SELFISH@l.example'] }), 'INVALID_INPUT');
      const l = await dir.addList(sys, { address: 'Norm@L.Example', members: ['U2@L.EXAMPLE', 'u2@l.example', 'U1@l.example'] });
      expect(l).toMatchObject({ address: L('norm'), members: [L('u1'), L('u2')] });
      await expectCode(dir.updateList(sys, L('norm'), { addMembers: [L('norm')] }), 'INVALID_INPUT');
      await expectCode(dir.updateList(sys, L('norm'), { description: 'x'.repeat(2000) }), 'INVALID_INPUT');
    });
  });

  // ------------------------------------------------------------------ permissions

  describe('GW-DL-2: permissions enforced in core', () => {
    beforeAll(async () => {
      await dir.addList(sys, { address: 'pub@a.example', public: true, members: ['other@a.example'] });
      await dir.addList(sys, { address: 'mine@a.example', members: ['user@a.example', 'other@a.example'] });
      await dir.addList(sys, { address: 'secret@a.example', members: ['other@a.example'] });
      await dir.addList(sys, { address: 'blist@b.example', members: ['user@b.example'] });
      await dir.addAlias(sys, 'perm-alias@a.example', ['other@a.example']);
    });

    it('GW-DL-2: a user reads public lists and the lists they belong to, and nothing else', async () => {
      const u = actor(userA);
      expect((await dir.getList(u, 'pub@a.example')).members).toEqual(['other@a.example']);
      expect((await dir.getList(u, 'MINE@a.example')).members).toEqual(['other@a.example', 'user@a.example']);
      await expectCode(dir.getList(u, 'secret@a.example'), 'NOT_FOUND');
      await expectCode(dir.getList(u, 'blist@b.example'), 'NOT_FOUND');
      const visible = (await dir.listLists(u)).map((l) => l.address);
      expect(visible).toEqual(expect.arrayContaining(['pub@a.example', 'mine@a.example']));
      expect(visible).not.toContain('secret@a.example');
      expect(visible).not.toContain('blist@b.example');
      // Aliases: only those pointing to the user.
      await expectCode(dir.getAlias(u, 'perm-alias@a.example'), 'NOT_FOUND');
      expect((await dir.getAlias(actor(otherA), 'perm-alias@a.example')).targets).toEqual(['other@a.example']);
    });

    it('GW-DL-2: a user cannot change a list or an alias (FORBIDDEN in core)', async () => {
      const u = actor(userA);
      const before = await auditCount(env);
      await expectCode(dir.updateList(u, 'mine@a.example', { addMembers: ['user@b.example'] }), 'FORBIDDEN');
      await expectCode(dir.updateList(u, 'pub@a.example', { public: false }), 'FORBIDDEN');
      await expectCode(dir.removeList(u, 'mine@a.example'), 'FORBIDDEN');
      await expectCode(dir.addList(u, { address: 'mylist@a.example', members: ['user@a.example'] }), 'FORBIDDEN');
      await expectCode(dir.addAlias(u, 'myalias@a.example', ['user@a.example']), 'FORBIDDEN');
      await expectCode(dir.updateAlias(u, 'perm-alias@a.example', { add: ['user@a.example'] }), 'FORBIDDEN');
      await expectCode(dir.removeAlias(u, 'perm-alias@a.example'), 'FORBIDDEN');
      expect((await dir.getList(sys, 'mine@a.example')).members).toEqual(['other@a.example', 'user@a.example']);
      expect((await dir.getList(sys, 'pub@a.example')).public).toBe(true);
      expect((await dir.getAlias(sys, 'perm-alias@a.example')).targets).toEqual(['other@a.example']);
      expect(await dir.lookup('mylist@a.example')).toBeNull();
      expect(await auditCount(env)).toBe(before);
    });

    it('GW-ADM-1: a user cannot manage accounts, not even to raise their own roles', async () => {
      const u = actor(userA);
      await expectCode(dir.updateAccount(u, 'user@a.example', { roles: ['admin'] }), 'FORBIDDEN');
      await expectCode(dir.updateAccount(u, 'user@a.example', { roles: ['domain-admin'] }), 'FORBIDDEN');
      await expectCode(dir.addAccount(u, { address: 'sock@a.example', password: PW }), 'FORBIDDEN');
      await expectCode(dir.setEnabled(u, 'other@a.example', false), 'FORBIDDEN');
      await expectCode(dir.removeAccount(u, 'other@a.example'), 'FORBIDDEN');
      await expectCode(dir.listAccounts(u), 'FORBIDDEN');
      await expectCode(dir.getDomain(u, 'a.example'), 'FORBIDDEN');
      await expectCode(dir.getAccount(u, 'other@a.example'), 'NOT_FOUND');
      expect((await dir.getAccount(u, 'user@a.example')).roles).toEqual(['user']);
      expect((await dir.getAccount(sys, 'other@a.example')).enabled).toBe(true);
    });

    it('GW-DL-2: a domain-admin manages the lists, aliases and accounts of their own domain', async () => {
      const da = actor(daA);
      const l = await dir.addList(da, { address: 'da-list@a.example', members: ['user@a.example'] });
      expect(l.members).toEqual(['user@a.example']);
      expect((await dir.updateList(da, 'da-list@a.example', { addMembers: ['other@a.example'] })).members).toEqual(['other@a.example', 'user@a.example']);
      expect((await dir.updateList(da, 'secret@a.example', { description: 'reviewed' })).description).toBe('reviewed');
      await dir.addAlias(da, 'da-alias@a.example', ['user@a.example']);
      expect((await dir.updateAlias(da, 'da-alias@a.example', { targets: ['other@a.example'] })).targets).toEqual(['other@a.example']);
      await dir.removeAlias(da, 'da-alias@a.example');
      const acc = await dir.addAccount(da, { address: 'da-made@a.example', password: PW, roles: ['user', 'domain-admin'] });
      expect(acc.roles).toEqual(['user', 'domain-admin']);
      expect((await dir.updateAccount(da, 'da-made@a.example', { displayName: 'Made by DA' })).displayName).toBe('Made by DA');
      await dir.setPassword(da, 'da-made@a.example', NEW_PW);
      expect((await dir.setEnabled(da, 'da-made@a.example', false)).enabled).toBe(false);
      await dir.removeAccount(da, 'da-made@a.example');
      await dir.removeList(da, 'da-list@a.example');
      expect(await dir.lookup('da-made@a.example')).toBeNull();
      const own = await dir.listAccounts(da);
      expect(own.length).toBeGreaterThan(0);
      expect(own.every((a) => a.address.endsWith('@a.example'))).toBe(true);
      expect((await dir.getDomain(da, 'a.example')).name).toBe('a.example');
      // A domain-admin reads every list of their domain, private ones too.
      expect((await dir.getList(da, 'secret@a.example')).members).toEqual(['other@a.example']);
    });

    it('GW-DL-2: a domain-admin of another domain is refused', async () => {
      const db = actor(daB);
      const before = await auditCount(env);
      await expectCode(dir.updateList(db, 'pub@a.example', { addMembers: ['user@b.example'] }), 'FORBIDDEN');
      await expectCode(dir.updateList(db, 'mine@a.example', { removeMembers: ['user@a.example'] }), 'FORBIDDEN');
      await expectCode(dir.removeList(db, 'pub@a.example'), 'FORBIDDEN');
      await expectCode(dir.addList(db, { address: 'intruder@a.example' }), 'FORBIDDEN');
      await expectCode(dir.addAlias(db, 'intruder@a.example', ['da@b.example']), 'FORBIDDEN');
      await expectCode(dir.addAlias(db, '@a.example', ['da@b.example']), 'FORBIDDEN');
      await expectCode(dir.updateAlias(db, 'perm-alias@a.example', { add: ['da@b.example'] }), 'FORBIDDEN');
      await expectCode(dir.removeAlias(db, 'perm-alias@a.example'), 'FORBIDDEN');
      await expectCode(dir.addAccount(db, { address: 'intruder@a.example', password: PW }), 'FORBIDDEN');
      await expectCode(dir.updateAccount(db, 'user@a.example', { displayName: 'x' }), 'FORBIDDEN');
      await expectCode(dir.setPassword(db, 'user@a.example', NEW_PW), 'FORBIDDEN');
      await expectCode(dir.setEnabled(db, 'user@a.example', false), 'FORBIDDEN');
      await expectCode(dir.removeAccount(db, 'user@a.example'), 'FORBIDDEN');
      await expectCode(dir.listAccounts(db, { domain: 'a.example' }), 'FORBIDDEN');
      await expectCode(dir.getDomain(db, 'a.example'), 'FORBIDDEN');
      await expectCode(dir.getList(db, 'secret@a.example'), 'NOT_FOUND');
      expect(await auditCount(env)).toBe(before);
      expect(await dir.lookup('intruder@a.example')).toBeNull();
      expect(await dir.authenticate('user@a.example', PW, { protocol: 'test' })).not.toBeNull();
      // Their own domain works.
      expect((await dir.updateList(db, 'blist@b.example', { addMembers: ['da@b.example'] })).members).toEqual(['da@b.example', 'user@b.example']);
      expect((await dir.listAccounts(db)).every((a) => a.address.endsWith('@b.example'))).toBe(true);
    });

    it('GW-ADM-1: a domain-admin cannot grant the admin or auditor role', async () => {
      const da = actor(daA);
      for (const roles of [['admin'], ['auditor'], 'user,admin', ['user', 'auditor']] as const) {
        await expectCode(dir.addAccount(da, { address: 'would-be@a.example', password: PW, roles: roles as never }), 'FORBIDDEN');
      }
      expect(await dir.lookup('would-be@a.example')).toBeNull();
      await expectCode(dir.updateAccount(da, 'user@a.example', { roles: ['user', 'admin'] }), 'FORBIDDEN');
      await expectCode(dir.updateAccount(da, 'other@a.example', { roles: ['auditor'] }), 'FORBIDDEN');
      await expectCode(dir.updateAccount(da, 'da@a.example', { roles: ['domain-admin', 'admin'] }), 'FORBIDDEN');
      expect((await dir.getAccount(sys, 'user@a.example')).roles).toEqual(['user']);
      expect((await dir.getAccount(sys, 'da@a.example')).roles).toEqual(['domain-admin']);
      // An admin may.
      const aud = await dir.addAccount(actor(adminA), { address: 'auditor@a.example', password: PW, roles: ['auditor'] });
      expect(aud.roles).toEqual(['auditor']);
    });

    it('GW-ADM-1: a domain-admin cannot take over or lock out an admin or auditor of their domain', async () => {
      const da = actor(daA);
      await dir.addAccount(sys, { address: 'auditor2@a.example', password: PW, roles: ['auditor'] });
      for (const target of ['admin@a.example', 'auditor2@a.example']) {
        await expectCode(dir.setPassword(da, target, NEW_PW), 'FORBIDDEN');
        await expectCode(dir.setEnabled(da, target, false), 'FORBIDDEN');
        await expectCode(dir.updateAccount(da, target, { displayName: 'pwned', quota: 1 }), 'FORBIDDEN');
        await expectCode(dir.removeAccount(da, target), 'FORBIDDEN');
        expect(await dir.authenticate(target, PW, { protocol: 'test' }), target).not.toBeNull();
      }
      // An admin still can.
      await dir.setPassword(actor(adminA), 'auditor2@a.example', NEW_PW);
      expect(await dir.authenticate('auditor2@a.example', NEW_PW, { protocol: 'test' })).not.toBeNull();
    });

    it('GW-DL-2: an admin change of a list is audited with who, what and the before/after member lists', async () => {
      const admin = actor(adminA);
      const after = await dir.updateList(admin, 'pub@a.example', { addMembers: ['user@a.example', 'Guest@Outside.Example'], removeMembers: ['other@a.example'] });
      expect(after.members).toEqual(['guest@outside.example', 'user@a.example']);
      const entry = (await auditRows(env, 'list.update')).filter((r) => r.object === 'pub@a.example').at(-1)!;
      expect(entry.actor).toBe('admin@a.example');
      expect(entry.detail).toMatchObject({
        before: { members: ['other@a.example'], public: true },
        after: { members: ['guest@outside.example', 'user@a.example'], public: true },
      });
      // Alias changes likewise.
      await dir.updateAlias(admin, 'perm-alias@a.example', { targets: ['user@a.example'] });
      const al = (await auditRows(env, 'alias.update')).filter((r) => r.object === 'perm-alias@a.example').at(-1)!;
      expect(al).toMatchObject({ actor: 'admin@a.example', detail: { before: ['other@a.example'], after: ['user@a.example'] } });
      // And the system actor (the local CLI operator) is named as such.
      await dir.updateList(sys, 'pub@a.example', { description: 'public list' });
      expect((await auditRows(env, 'list.update')).at(-1)!.actor).toBe('system:test');
    });
  });

  // ------------------------------------------------------------------ audit

  describe('GW-LOG-2: the audit trail', () => {
    it('a refused or failed operation leaves no audit entry; a successful one leaves exactly one', async () => {
      let n = await auditCount(env);
      await expectCode(dir.addDomain(sys, 'a.example'), 'ALREADY_EXISTS');
      await expectCode(dir.addList(sys, { address: 'user@a.example' }), 'ALREADY_EXISTS');
      await expectCode(dir.removeList(sys, 'nope@a.example'), 'NOT_FOUND');
      expect(await auditCount(env)).toBe(n);
      await dir.addList(sys, { address: 'counted@a.example', members: ['user@a.example'] });
      expect(await auditCount(env)).toBe(++n);
      await dir.updateList(sys, 'counted@a.example', { addMembers: ['other@a.example'] });
      expect(await auditCount(env)).toBe(++n);
      await dir.removeList(sys, 'counted@a.example');
      expect(await auditCount(env)).toBe(++n);
      const last = (await auditRows(env)).at(-1)!;
      expect(last).toMatchObject({ event: 'list.delete', object: 'counted@a.example', detail: { before: { members: ['other@a.example', 'user@a.example'] } } });
    });

    it('verifyAuditChain holds after many operations', async () => {
      const r = await verifyAuditChain(env.app.stores.directory);
      expect(r).toEqual({ ok: true, entries: await auditCount(env), brokenAt: null });
      expect(r.entries).toBeGreaterThan(50);
    });
  });

  describe('GW-LOG-2: tampering', () => {
    let t: Env;
    beforeAll(async () => {
      t = await openEnv(engine);
      const d = t.dir;
      await d.addDomain(sys, 't.example');
      await d.addAccount(sys, { address: 'alice@t.example', password: PW });
      await d.addAlias(sys, 'info@t.example', ['alice@t.example']);
      await d.updateAlias(sys, 'info@t.example', { add: ['bob@outside.example'] });
      await d.addList(sys, { address: 'team@t.example', members: ['alice@t.example'] });
      await d.updateList(sys, 'team@t.example', { addMembers: ['info@t.example'] });
      await d.authenticate('alice@t.example', PW, { protocol: 'imap', remote: '198.51.100.7' });
      await d.authenticate('alice@t.example', WRONG_PW, { protocol: 'imap', remote: '198.51.100.7' });
      await d.removeList(sys, 'team@t.example');
      await d.updateDomain(sys, 't.example', { enabled: true });
    });
    afterAll(async () => {
      await t?.close();
    });

    const ids = async () => (await t.app.stores.directory.selectFrom('audit').select('id').orderBy('id').execute()).map((r) => r.id);

    it('GW-LOG-2: changing one stored entry makes verify report that entry', async () => {
      const db = t.app.stores.directory;
      expect(await verifyAuditChain(db)).toMatchObject({ ok: true, brokenAt: null, entries: 10 });
      const all = await ids();
      const victim = all[4];
      const orig = await db.selectFrom('audit').selectAll().where('id', '=', victim).executeTakeFirstOrThrow();

      await sql`update audit set detail = ${'{"protocol":"imap"}'} where id = ${victim}`.execute(db);
      expect(await verifyAuditChain(db)).toEqual({ ok: false, entries: 10, brokenAt: victim });

      await sql`update audit set detail = ${orig.detail}, actor = ${'someone-else'} where id = ${victim}`.execute(db);
      expect(await verifyAuditChain(db)).toMatchObject({ ok: false, brokenAt: victim });

      await sql`update audit set actor = ${orig.actor}, ts = ${orig.ts + 1} where id = ${victim}`.execute(db);
      expect(await verifyAuditChain(db)).toMatchObject({ ok: false, brokenAt: victim });

      await sql`update audit set ts = ${orig.ts} where id = ${victim}`.execute(db);
      expect(await verifyAuditChain(db)).toMatchObject({ ok: true, brokenAt: null });
    });

    it('GW-LOG-2: removing an entry in the middle or at the end is detected', async () => {
      const db = t.app.stores.directory;
      const all = await ids();
      const last = await db.selectFrom('audit').selectAll().where('id', '=', all.at(-1)!).executeTakeFirstOrThrow();
      await sql`delete from audit where id = ${last.id}`.execute(db);
      const tail = await verifyAuditChain(db);
      expect(tail.ok).toBe(false);
      expect(tail.brokenAt).toBe(last.id);
      await db.insertInto('audit').values({ ...last }).execute();
      expect((await verifyAuditChain(db)).ok).toBe(true);

      await sql`delete from audit where id = ${all[3]}`.execute(db);
      expect(await verifyAuditChain(db)).toMatchObject({ ok: false, brokenAt: all[4] });
    });
  });
});

describe.each(ENGINES)('account placement on %s', (engine) => {
  let env: Env;
  beforeAll(async () => {
    env = await openEnv(engine, { partitions: ['main', 'spare'] });
    await env.dir.addDomain(sys, 'place.example');
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a new account goes to the open partition with the fewest accounts (ties by name)', async () => {
    const dir = env.dir;
    const add = (local: string, partition?: string) => dir.addAccount(sys, { address: `${local}@place.example`, password: PW, partition });
    expect(await dir.partitionCounts()).toEqual({ main: 0, spare: 0 });
    await add('m1', 'main');
    await add('m2', 'main');
    const placed = [];
    for (const n of ['a1', 'a2', 'a3', 'a4']) placed.push((await add(n)).partition);
    expect(placed).toEqual(['spare', 'spare', 'main', 'spare']);
    expect(await dir.partitionCounts()).toEqual({ main: 3, spare: 3 });
    await expectCode(add('nowhere', 'unknown'), 'INVALID_INPUT');

    // Each account was provisioned in its own partition, and only there.
    for (const a of await dir.listAccounts(sys, { domain: 'place.example' })) {
      const mailboxes = await env.app.mail.listMailboxes(a);
      expect(mailboxes.map((m) => m.name)).toContain('INBOX');
      const other = env.app.stores.partition(a.partition === 'main' ? 'spare' : 'main');
      const there = await other.run('probe', (db) => db.selectFrom('account_state').select('account_id').where('account_id', '=', a.id).executeTakeFirst());
      expect(there, `${a.address} in ${a.partition}`).toBeUndefined();
    }

    // A closed partition takes no new accounts, however empty.
    const closing = withLimits(env, {}, ['spare']);
    expect(await closing.placeAccount()).toBe('main');
    const c = await closing.addAccount(sys, { address: 'c1@place.example', password: PW });
    expect(c.partition).toBe('main');
    await expectCode(withLimits(env, {}, ['main', 'spare']).placeAccount(), 'CONFIG_INVALID');
  });
});
