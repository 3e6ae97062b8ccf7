/**
 * Authentication abuse (issue 6 point 5, GW-DOS-5), the same policy on every protocol that
 * takes a password: SMTP submission (AUTH PLAIN), IMAP (LOGIN), POP3 (USER/PASS) and
 * CalDAV/CardDAV (HTTP Basic). For each, from an address of its own:
 * - five wrong passwords, each refused with the protocol's one failure answer;
 * - then the right password from that address is refused too (the pair account/address is
 *   locked, and the answer is the same failure, telling the attacker nothing);
 * - the right password from another address works: an attacker cannot lock the owner out
 *   from everywhere;
 * - another account from the attacked address still gets in with its right password;
 * - an unknown account gets exactly the answer of a wrong password (no enumeration), after the
 *   same work: an argon2id verification against a hash with the parameters of real ones.
 * The lock is audited (auth.lockout) and shared by the protocols: locked through IMAP is locked
 * for CalDAV from the same address too. Credentials over an unencrypted connection are covered
 * by each protocol's own tests (LOGINDISABLED, AUTH only after STARTTLS, 403 on plain HTTP).
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, auditEvents, b64, ehloClient, startTestServer, PASSWORD, type TestServer } from '../protocols/smtp/harness.ts';
import { ImapTestClient } from '../protocols/imap/harness.ts';
import { Pop3Client } from '../protocols/pop3/harness.ts';
import { hashPassword } from '../../src/security/passwords.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

let ts: TestServer;
const port = (name: string) => ts.running.listening.find((l) => l.name === name)!.port;

/** One login attempt over a protocol, from a local address: the answer as the client sees it, and whether it let the client in. */
type Attempt = (login: string, password: string, from: string) => Promise<{ ok: boolean; answer: string }>;

const PROTOCOLS: Record<string, Attempt> = {
  'smtp submission': async (login, password, from) => {
    const c = await ehloClient(port('submissions'), { tls: true, localAddress: from });
    const r = await c.cmd(`AUTH PLAIN ${b64(`\0${login}\0${password}`)}`);
    await c.quit().catch(() => {});
    return { ok: r.code === 235, answer: `${r.code} ${r.enhanced} ${r.lines.join(' ')}` };
  },
  imap: async (login, password, from) => {
    const c = await ImapTestClient.connect(port('imaps'), { tls: true, localAddress: from });
    const r = await c.cmd(`LOGIN ${login} ${password}`);
    await c.close().catch(() => {});
    return { ok: r.status === 'OK', answer: r.tagged.replace(/^\S+ /, '') };
  },
  pop3: async (login, password, from) => {
    const c = await Pop3Client.connect(port('pop3s'), { tls: true, localAddress: from });
    const r = await c.login(login, password);
    await c.quit().catch(() => {});
    return { ok: r.startsWith('+OK'), answer: r };
  },
  caldav: (login, password, from) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: port('http'), localAddress: from, method: 'PROPFIND', path: '/dav/', headers: {
      authorization: `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`, depth: '0',
    } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ ok: res.statusCode === 207, answer: `${res.statusCode} ${body.trim()}` }));
    });
    req.on('error', reject);
    req.end();
  }),
};

beforeAll(async () => {
  // CalDAV over plain HTTP only for the test's own loopback client; the other protocols use TLS.
  ts = await startTestServer({ BULWARK_AUTH_REQUIRE_TLS: 'false' });
}, 60_000);
afterAll(async () => ts?.cleanup());

describe('brute force is slowed and locked out per account and address, the same on every protocol (GW-DOS-5)', () => {
  let n = 0;
  for (const [name, attempt] of Object.entries(PROTOCOLS)) {
    it(`${name}: five failures lock the pair; the owner still gets in from elsewhere; others from the address too`, async () => {
      const i = ++n;
      const victim = await addAccount(ts.app, `victim${i}`);
      const bystander = await addAccount(ts.app, `bystander${i}`);
      const attacker = `127.0.${i}.66`;
      const elsewhere = `127.0.${i}.99`;
      const failures: string[] = [];
      for (let k = 0; k < 5; k++) {
        const r = await attempt(victim.address, `wrong-${k}-password`, attacker);
        expect(r.ok).toBe(false);
        failures.push(r.answer);
      }
      expect(new Set(failures).size, 'one failure answer').toBe(1);
      // locked: the right password from the attacker's address is refused, with the same answer
      const locked = await attempt(victim.address, PASSWORD, attacker);
      expect(locked.ok).toBe(false);
      expect(locked.answer).toBe(failures[0]);
      // the owner, from another address, is not locked out
      expect((await attempt(victim.address, PASSWORD, elsewhere)).ok).toBe(true);
      // another account from the attacked address gets in (after the growing delay)
      expect((await attempt(bystander.address, PASSWORD, attacker)).ok).toBe(true);
      // an unknown account: the same answer as a wrong password
      const unknown = await attempt(`nobody${i}@example.org`, 'some-password-1', elsewhere);
      expect(unknown.ok).toBe(false);
      expect(unknown.answer).toBe(failures[0]);
      const lockouts = (await auditEvents(ts.app, 'auth.lockout')).filter((e) => e.object === victim.address && e.source === attacker);
      expect(lockouts).toHaveLength(1);
    }, 60_000);
  }

  it('a lock made through one protocol holds for the others from the same address', async () => {
    const victim: AccountInfo = await addAccount(ts.app, 'crossvictim');
    const from = '127.0.9.66';
    for (let k = 0; k < 5; k++) expect((await PROTOCOLS.imap(victim.address, `wrong-${k}-password`, from)).ok).toBe(false);
    expect((await PROTOCOLS.caldav(victim.address, PASSWORD, from)).ok).toBe(false);
    expect((await PROTOCOLS.pop3(victim.address, PASSWORD, from)).ok).toBe(false);
    expect((await PROTOCOLS['smtp submission'](victim.address, PASSWORD, from)).ok).toBe(false);
    expect((await PROTOCOLS.caldav(victim.address, PASSWORD, '127.0.9.99')).ok).toBe(true);
  }, 60_000);

  it('an unknown account costs the same verification as a wrong password: argon2id with the parameters of real hashes', async () => {
    const row = await ts.app.stores.dirRun('read hash', (db) => db.selectFrom('accounts').select('password_hash').limit(1).executeTakeFirstOrThrow());
    const params = (h: string) => /^\$argon2id\$v=\d+\$(m=\d+,t=\d+,p=\d+)\$/.exec(h)?.[1];
    expect(params(row.password_hash)).toBeTruthy();
    // the dummy hash verifyPassword uses for unknown accounts is made by the same hashPassword
    expect(params(await hashPassword('dummy-password-for-timing'))).toBe(params(row.password_hash));
  });
});
