/**
 * Foundation issue, point 6: the `bulwark` command, run as a child process as an operator
 * would. Every command prints a clear message and exits non-zero on error; listings take
 * --json; passwords come from standard input or are generated and shown once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, bulwark, cleanEnv } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp.ts';
import { migrationsFor } from '../../src/store/migrations/index.ts';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function dir(name: string): string {
  return path.join(tmp.dir, name);
}

describe('bulwark init (GW-INS-1)', () => {
  it('two inits generate different secrets and admin passwords; only an argon2id hash is stored', async () => {
    const a = await bulwark(['--data', dir('i1'), 'init', '--domain', 'example.org']);
    const b = await bulwark(['--data', dir('i2'), 'init', '--domain', 'example.org']);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const pw = (r: { stdout: string }) => /admin password: (\S+)/.exec(r.stdout)![1];
    const secret = (d: string) => /^secret = "(.+)"$/m.exec(fs.readFileSync(path.join(d, 'bulwark.toml'), 'utf8'))![1];
    expect(pw(a)).not.toBe(pw(b));
    expect(secret(dir('i1'))).not.toBe(secret(dir('i2')));
    const db = new DatabaseSync(path.join(dir('i1'), 'bulwark.db'), { readOnly: true });
    const row = db.prepare('select password_hash, roles from accounts where address = ?').get('admin@example.org') as { password_hash: string; roles: string };
    db.close();
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    expect(row.password_hash).not.toContain(pw(a));
    expect(JSON.parse(row.roles)).toContain('admin');
  });

  it('refuses a directory that is initialised already or not empty', async () => {
    const again = await bulwark(['--data', dir('i1'), 'init', '--domain', 'example.org']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^bulwark: .*exists already/m);
    fs.mkdirSync(dir('full'));
    fs.writeFileSync(path.join(dir('full'), 'x'), 'x');
    const full = await bulwark(['--data', dir('full'), 'init']);
    expect(full.code).toBe(2);
    expect(full.stderr).toMatch(/not empty/);
  });

  it('refuses an invalid domain with a clear message and leaves the directory re-usable', async () => {
    const r = await bulwark(['--data', dir('bad'), 'init', '--domain', 'not a domain']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^bulwark: the input is not valid: .*not a domain/m);
    expect(fs.existsSync(path.join(dir('bad'), 'bulwark.toml'))).toBe(false);
  });
});

describe('bulwark config check and serve refuse bad configuration', () => {
  beforeAll(async () => {
    expect((await bulwark(['--data', dir('c'), 'init'])).code).toBe(0);
  });

  it('config check passes on what init wrote', async () => {
    const r = await bulwark(['--data', dir('c'), 'config', 'check']);
    expect(r.stdout).toMatch(/configuration OK/);
    expect(r.code).toBe(0);
  });

  it('a bad environment override gives one line naming the key and exit 2', async () => {
    const r = await bulwark(['--data', dir('c'), 'config', 'check'], { env: { BULWARK_LISTEN_HTTP: '127.0.0.1' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/listen\.http: expected "host:port"/);
  });

  it('GW-INS-1: serve refuses to start with a placeholder secret, naming the key', async () => {
    const r = await bulwark(['--data', dir('c'), 'serve'], { env: { BULWARK_SERVER_SECRET: 'changeme' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/server\.secret: the secret is a known placeholder/);
    expect(r.stderr).not.toMatch(/listening/);
  });
});

describe('bulwark on an older system Node', () => {
  it('hands over to the Node 24 that npm ci installed, and works', async () => {
    // The system node (v20 on these machines): bin/bulwark.js re-executes itself on Node 24.
    const system = (process.env.PATH ?? '').split(path.delimiter).filter((p) => !p.includes('node_modules'))
      .map((p) => path.join(p, 'node')).find((p) => fs.existsSync(p)) ?? process.execPath;
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(system, [BIN, '--data', dir('i1'), 'domain', 'list', '--json'], { env: cleanEnv(), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).map((d: { name: string }) => d.name)).toEqual(['example.org']);
  });
});

describe('bulwark migrate', () => {
  it('--dry-run shows pending migrations without applying them; migrate applies them', async () => {
    const d = dir('m');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'bulwark.toml'), `[server]\nsecret = "${'k9'.repeat(10)}abcdefghijklmnopqrstuv"\n[partitions]\nmain = "sqlite:bulwark.db"\np2 = "sqlite:p2.db"\n`);
    const dry = await bulwark(['--data', d, 'migrate', '--dry-run']);
    expect(dry.code).toBe(0);
    const dirN = Object.keys(migrationsFor('directory', 'sqlite')).length;
    const partN = Object.keys(migrationsFor('partition', 'sqlite')).length;
    const total = dirN + 2 * partN; // directory, and partitions main and p2
    expect(dry.stdout).toMatch(/directory .*: 0001_directory/);
    expect(dry.stdout).toMatch(/partition p2 .*: 0001_partition/);
    expect(dry.stdout).toContain(`${total} migration(s) would run`);
    const again = await bulwark(['--data', d, 'migrate', '--dry-run']);
    expect(again.stdout).toContain(`${total} migration(s) would run`);
    const real = await bulwark(['--data', d, 'migrate']);
    expect(real.stdout).toContain(`${total} migration(s) applied`);
    const after = await bulwark(['--data', d, 'migrate', '--dry-run']);
    expect(after.stdout).toMatch(/0 migration\(s\) would run/);
  });
});

describe('bulwark domain|account|alias|list', () => {
  const d = dir('dir');
  const run = (args: string[], input?: string) => bulwark(['--data', d, ...args], { input });
  beforeAll(async () => {
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'bulwark.toml'), `[server]\nsecret = "${'x7'.repeat(10)}ABCDEFGHIJKLMNOPQRSTUV"\n[partitions]\nmain = "sqlite:bulwark.db"\np2 = "sqlite:partitions/p2.db"\n`);
  });

  it('domains: add (IDN), list --json, show, update, remove; errors exit non-zero', async () => {
    expect((await run(['domain', 'add', 'Bücher.Example'])).stdout).toMatch(/domain bücher\.example added \(xn--bcher-kva\.example\)/);
    expect((await run(['domain', 'add', 'example.org'])).code).toBe(0);
    const dup = await run(['domain', 'add', 'EXAMPLE.org']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/exists already/);
    const list = JSON.parse((await run(['domain', 'list', '--json'])).stdout);
    expect(list).toEqual([
      { name: 'example.org', display: 'example.org', enabled: true },
      { name: 'xn--bcher-kva.example', display: 'bücher.example', enabled: true },
    ]);
    expect((await run(['domain', 'update', 'bücher.example', '--enabled', 'false'])).stdout).toMatch(/disabled/);
    expect((await run(['domain', 'update', 'bücher.example', '--enabled', 'maybe'])).code).toBe(2);
    expect((await run(['domain', 'remove', 'bücher.example'])).code).toBe(0);
    expect((await run(['domain', 'show', 'bücher.example'])).code).toBe(1);
  });

  it('accounts: --password-stdin, generated password shown once, show/update/passwd/disable/enable/remove', async () => {
    const add = await run(['account', 'add', 'Alice@Example.org', '--password-stdin', '--name', 'Alice', '--quota', '500M'], 'a long enough secret\n');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/account alice@example\.org added/);
    expect(add.stdout).not.toMatch(/password:/);
    const gen = await run(['account', 'add', 'bob@example.org']);
    expect(gen.stdout).toMatch(/password: \S{20}\n/);
    const weak = await run(['account', 'add', 'carol@example.org', '--password-stdin'], 'short\n');
    expect(weak.code).toBe(2);
    expect(weak.stderr).toMatch(/at least 10 characters/);
    const bad = await run(['account', 'add', 'no-at-sign', '--password-stdin'], 'a long enough secret\n');
    expect(bad.code).toBe(2);
    const show = JSON.parse((await run(['account', 'show', 'alice@example.org', '--json'])).stdout);
    expect(show).toMatchObject({ address: 'alice@example.org', name: 'Alice', quota: 500 * 2 ** 20, enabled: true, messages: 0 });
    // placement: fewest accounts, so alice and bob are in different partitions
    const accounts = JSON.parse((await run(['account', 'list', '--json'])).stdout);
    expect(new Set(accounts.map((a: { partition: string }) => a.partition))).toEqual(new Set(['main', 'p2']));
    expect((await run(['account', 'update', 'alice@example.org', '--role', 'user,domain-admin'])).code).toBe(0);
    expect((await run(['account', 'update', 'alice@example.org', '--role', 'overlord'])).stderr).toMatch(/unknown role "overlord"/);
    expect((await run(['account', 'passwd', 'alice@example.org', '--password-stdin'], 'another long secret\n')).code).toBe(0);
    expect((await run(['account', 'disable', 'alice@example.org'])).stdout).toMatch(/disabled/);
    expect(JSON.parse((await run(['account', 'show', 'alice@example.org', '--json'])).stdout).enabled).toBe(false);
    expect((await run(['account', 'enable', 'alice@example.org'])).code).toBe(0);
    expect((await run(['account', 'remove', 'bob@example.org'])).code).toBe(0);
    expect((await run(['account', 'show', 'bob@example.org'])).code).toBe(1);
  });

  it('account move copies, verifies and switches between partitions', async () => {
    const before = JSON.parse((await run(['account', 'show', 'alice@example.org', '--json'])).stdout);
    const to = before.partition === 'main' ? 'p2' : 'main';
    const mv = await run(['account', 'move', 'alice@example.org', '--to', to]);
    expect(mv.stderr).toMatch(/move: /);
    expect(mv.stdout).toMatch(new RegExp(`moved from ${before.partition} to ${to}: 0 messages, 6 mailboxes`));
    expect(JSON.parse((await run(['account', 'show', 'alice@example.org', '--json'])).stdout).partition).toBe(to);
    expect((await run(['account', 'move', 'alice@example.org', '--to', 'nowhere'])).code).toBe(2);
  });

  it('aliases and lists: add, show --json, update, remove; shared address namespace', async () => {
    expect((await run(['alias', 'add', 'info@example.org', 'alice@example.org', 'ext@partner.test'])).code).toBe(0);
    expect((await run(['alias', 'add', '@example.org', 'alice@example.org'])).stdout).toMatch(/alias @example\.org/);
    expect((await run(['alias', 'add', 'alice@example.org', 'x@partner.test'])).stderr).toMatch(/already in use by an account/);
    expect(JSON.parse((await run(['alias', 'show', 'info@example.org', '--json'])).stdout).targets).toEqual(['alice@example.org', 'ext@partner.test']);
    expect((await run(['alias', 'update', 'info@example.org', '--remove', 'ext@partner.test'])).stdout).toMatch(/-> alice@example\.org$/m);
    expect((await run(['list', 'add', 'team@example.org', '--member', 'alice@example.org,info@example.org', '--member', 'guest@partner.test', '--policy', 'members', '--public'])).code).toBe(0);
    expect((await run(['list', 'add', 'x@example.org', '--policy', 'everyone'])).stderr).toMatch(/post policy must be one of/);
    const show = JSON.parse((await run(['list', 'show', 'team@example.org', '--json', '--expand'])).stdout);
    expect(show).toMatchObject({ postPolicy: 'members', public: true, members: ['alice@example.org', 'guest@partner.test', 'info@example.org'] });
    expect(show.recipients).toEqual(['alice@example.org', 'guest@partner.test']); // alice once, though reached twice
    expect((await run(['list', 'update', 'team@example.org', '--remove-member', 'guest@partner.test', '--policy', 'domain'])).stdout).toMatch(/1 members|2 members/);
    expect((await run(['list', 'remove', 'team@example.org'])).code).toBe(0);
    expect((await run(['alias', 'remove', 'info@example.org'])).code).toBe(0);
    expect(JSON.parse((await run(['alias', 'list', '--json'])).stdout).map((a: { address: string }) => a.address)).toEqual(['@example.org']);
  });

  it('every change is in the audit trail, whose chain verifies', async () => {
    const events = JSON.parse((await run(['audit', 'list', '--json', '--limit', '1000'])).stdout).map((e: { event: string }) => e.event);
    for (const e of ['domain.create', 'domain.update', 'domain.delete', 'account.create', 'account.update', 'account.password', 'account.disable', 'account.enable', 'account.delete', 'account.move', 'alias.create', 'alias.update', 'alias.delete', 'list.create', 'list.update', 'list.delete']) {
      expect(events).toContain(e);
    }
    const v = await run(['audit', 'verify']);
    expect(v.stdout).toMatch(/audit trail intact/);
    const all = fs.readdirSync(d, { recursive: true }).map(String);
    for (const f of all.filter((f) => f.endsWith('.db'))) {
      expect(fs.readFileSync(path.join(d, f)).includes('a long enough secret')).toBe(false);
    }
  });

  it('usage errors exit 2 with a hint', async () => {
    const r = await run(['account', 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command|--help/);
  });
});
