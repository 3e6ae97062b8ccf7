/**
 * The AUTHORIZATION state over raw sockets: the greeting, TLS before any credentials
 * (GW-CRY-1, RFC 2595), USER/PASS (RFC 1939 §7), AUTH PLAIN in all its forms (RFC 5034 §4),
 * one reply for every failed login and the audit trail (RFC 3206 §5, GW-DOS-5), and the
 * exclusive maildrop lock (RFC 1939 §4, RFC 2449 §8.1 IN-USE).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { addAccount, auditEvents, b64, deliver, message, Pop3Client, startPop3Server, DOMAIN, PASSWORD, type Pop3TestServer } from './harness.ts';

/** The protocol and reason an audit entry records. */
const detail = (e: { detail: unknown }) => e.detail as { protocol?: string; reason?: string };
const plain = (user: string, password = PASSWORD, authzid = '') => b64(`${authzid}\u0000${user}\u0000${password}`);

describe('POP3 AUTHORIZATION (auth.require_tls on, the default)', () => {
  let ts: Pop3TestServer;
  let alice: AccountInfo;
  const ALICE = `alice@${DOMAIN}`;
  const HI = message(['Subject: hi', '', 'hello']);
  const HI_SIZE = Buffer.byteLength(HI);

  beforeAll(async () => {
    ts = await startPop3Server();
    alice = await addAccount(ts.app, 'alice');
    await addAccount(ts.app, 'bob');
    await addAccount(ts.app, 'carol');
    await addAccount(ts.app, 'dave');
    await deliver(ts, alice, HI);
  });
  afterAll(async () => {
    await ts?.cleanup();
  });

  const tlsClient = async (opts: { localAddress?: string } = {}) => {
    const c = await Pop3Client.connect(ts.pop3Port, opts);
    expect(await c.stls()).toMatch(/^\+OK/);
    return c;
  };

  it('RFC 1939 §4: the greeting is +OK and has no APOP timestamp', async () => {
    const c = await Pop3Client.connect(ts.pop3Port);
    expect(c.greeting).toMatch(/^\+OK mail\.example\.org POP3 server ready$/);
    expect(c.greeting).not.toMatch(/<.*@.*>/);
    expect(await c.quit()).toMatch(/^\+OK/);
  });

  it('GW-CRY-1, RFC 2595 §4: before STLS, CAPA offers STLS but neither USER nor SASL, and USER, PASS and AUTH get -ERR [AUTH]; after STLS, USER and SASL PLAIN and no STLS', async () => {
    const c = await Pop3Client.connect(ts.pop3Port);
    const before = await c.multi('CAPA');
    expect(before.status).toMatch(/^\+OK/);
    expect(before.lines).toContain('STLS');
    expect(before.lines).toEqual(expect.arrayContaining(['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'IMPLEMENTATION Bulwark', 'EXPIRE NEVER', 'LOGIN-DELAY 0']));
    expect(before.lines).not.toContain('USER');
    expect(before.lines.some((l) => l.startsWith('SASL'))).toBe(false);
    const failuresBefore = (await auditEvents(ts.app, 'auth.login.failure')).length;
    expect(await c.cmd(`USER ${ALICE}`)).toMatch(/^-ERR \[AUTH\] .*STLS/);
    expect(await c.cmd(`PASS ${PASSWORD}`)).toMatch(/^-ERR \[AUTH\] .*STLS/);
    expect(await c.cmd(`AUTH PLAIN ${plain(ALICE)}`)).toMatch(/^-ERR \[AUTH\] .*STLS/);
    expect(await c.cmd('AUTH PLAIN')).toMatch(/^-ERR \[AUTH\] .*STLS/); // no "+ " to send the credentials to
    expect(await c.cmd('STAT')).toMatch(/^-ERR/); // still not logged in
    // Nothing was even tried: no password went anywhere.
    expect((await auditEvents(ts.app, 'auth.login.failure')).length).toBe(failuresBefore);

    expect(await c.stls()).toBe('+OK Begin TLS negotiation');
    const after = await c.multi('CAPA');
    expect(after.lines).toEqual(expect.arrayContaining(['USER', 'SASL PLAIN']));
    expect(after.lines).not.toContain('STLS');
    expect(await c.cmd('STLS')).toMatch(/^-ERR/);
    expect(await c.login(ALICE)).toMatch(/^\+OK Logged in; 1 messages/);
    expect(await c.quit()).toMatch(/^\+OK/);
  });

  it('RFC 2595 §4: commands pipelined after STLS are discarded, never run', async () => {
    const c = await Pop3Client.connect(ts.pop3Port);
    // In one write: had the session read the lines after STLS, it would answer them in clear
    // text before the handshake (and the client's TLS would fail).
    c.write('STLS\r\nCAPA\r\nNOOP\r\n');
    expect(await c.line()).toBe('+OK Begin TLS negotiation');
    expect(c.buffered.length).toBe(0); // nothing in clear text after the +OK
    await c.upgrade();
    // The first reply after the handshake is the one to this command.
    expect(await c.cmd('STAT')).toMatch(/^-ERR STAT is allowed only after login/);
    await c.quit();
  });

  it('RFC 1939 §7: USER and PASS after STLS log in; PASS without USER gets -ERR; auth.login.success is audited with protocol pop3', async () => {
    const c = await tlsClient();
    expect(await c.cmd('PASS x')).toBe('-ERR Send USER first');
    expect(await c.cmd(`USER ${ALICE}`)).toBe('+OK Send PASS');
    expect(await c.cmd(`PASS ${PASSWORD}`)).toBe(`+OK Logged in; 1 messages (${HI_SIZE} octets)`);
    expect(await c.quit()).toMatch(/^\+OK/);
    const ok = await auditEvents(ts.app, 'auth.login.success');
    expect(ok.some((e) => e.object === ALICE && detail(e).protocol === 'pop3')).toBe(true);
  });

  it('RFC 3206 §5, GW-DOS-5: a wrong password and an unknown account get the same -ERR [AUTH] Authentication failed; both are audited with protocol pop3; the session goes on', async () => {
    const c = await tlsClient();
    expect(await c.login(`bob@${DOMAIN}`, 'wrong-password')).toBe('-ERR [AUTH] Authentication failed');
    expect(await c.login(`nobody@${DOMAIN}`, 'wrong-password')).toBe('-ERR [AUTH] Authentication failed');
    expect(await c.cmd(`AUTH PLAIN ${plain(`bob@${DOMAIN}`, 'wrong-password')}`)).toBe('-ERR [AUTH] Authentication failed');
    const fails = (await auditEvents(ts.app, 'auth.login.failure')).filter((e) => detail(e).protocol === 'pop3');
    expect(fails.filter((e) => e.object === `bob@${DOMAIN}`).map((e) => detail(e).reason)).toEqual(['credentials', 'credentials']);
    expect(fails.filter((e) => e.object === `nobody@${DOMAIN}`).map((e) => detail(e).reason)).toEqual(['unknown']);
    // The right password still works afterwards on the same connection.
    expect(await c.login(`bob@${DOMAIN}`)).toMatch(/^\+OK Logged in/);
    await c.quit();
  });

  it('RFC 5034 §4: AUTH PLAIN with an initial response logs in', async () => {
    const c = await tlsClient();
    expect(await c.cmd(`AUTH PLAIN ${plain(ALICE)}`)).toMatch(/^\+OK Logged in/);
    expect(await c.cmd('STAT')).toBe(`+OK 1 ${HI_SIZE}`);
    await c.quit();
  });

  it('RFC 5034 §4: AUTH PLAIN with the "+ " continuation; "*" cancels with -ERR; "=" is an empty initial response; a malformed response, an authzid of someone else and an unknown mechanism get -ERR', async () => {
    const c = await tlsClient();
    expect(await c.cmd('AUTH PLAIN')).toBe('+ ');
    expect(await c.cmd('*')).toBe('-ERR Authentication cancelled');
    expect(await c.cmd('AUTH PLAIN')).toBe('+ ');
    expect(await c.cmd('not base64!')).toBe('-ERR Malformed authentication response');
    expect(await c.cmd('AUTH PLAIN =')).toBe('-ERR Malformed authentication response');
    expect(await c.cmd(`AUTH PLAIN ${plain(ALICE, PASSWORD, `bob@${DOMAIN}`)}`)).toBe('-ERR [AUTH] Authentication failed');
    expect(await c.cmd('AUTH CRAM-MD5')).toBe('-ERR Unsupported authentication mechanism');
    // "AUTH" alone lists the mechanisms (RFC 1734), as older clients expect.
    expect(await c.multi('AUTH')).toEqual({ status: '+OK SASL mechanisms follow', lines: ['PLAIN'], raw: 'PLAIN\r\n' });
    // A response longer than a command line may be (RFC 2449 §4) is fine after "+ ".
    const longPassword = 'p'.repeat(300);
    expect(await c.cmd('AUTH PLAIN')).toBe('+ ');
    expect(await c.cmd(plain(ALICE, longPassword))).toBe('-ERR [AUTH] Authentication failed');
    expect(await c.cmd('AUTH PLAIN')).toBe('+ ');
    expect(await c.cmd(plain(ALICE))).toMatch(/^\+OK Logged in/);
    await c.quit();
  });

  it('RFC 1939 §4, RFC 2449 §8.1: a second login to a maildrop in TRANSACTION gets -ERR [IN-USE]; the lock goes with QUIT, and with a dropped connection', async () => {
    const first = await tlsClient();
    expect(await first.login(`carol@${DOMAIN}`)).toMatch(/^\+OK Logged in/);
    const second = await tlsClient();
    expect(await second.login(`carol@${DOMAIN}`)).toBe('-ERR [IN-USE] The maildrop is in use by another POP3 session');
    // Over implicit TLS too: the two listeners share the lock.
    const third = await Pop3Client.connect(ts.pop3sPort, { tls: true });
    expect(await third.login(`carol@${DOMAIN}`)).toMatch(/^-ERR \[IN-USE\]/);
    // The refused session stays in AUTHORIZATION and may try again.
    expect(await second.cmd('STAT')).toMatch(/^-ERR STAT is allowed only after login/);
    expect(await first.quit()).toMatch(/^\+OK/);
    expect(await second.login(`carol@${DOMAIN}`)).toMatch(/^\+OK Logged in/);
    second.close();
    await second.closed;
    // The server notices the drop on its side; the next login then gets the maildrop.
    let r = '';
    for (let i = 0; i < 50; i++) {
      r = await third.login(`carol@${DOMAIN}`);
      if (!r.includes('IN-USE')) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(r).toMatch(/^\+OK Logged in/);
    await third.quit();
  });

  it('GW-DOS-5: five wrong passwords lock the (account, address) pair, and the right one then gets the same -ERR [AUTH]; the lock is audited', async () => {
    // From 127.0.0.2: the delays and the lock of this address do not slow the other tests.
    const c = await tlsClient({ localAddress: '127.0.0.2' });
    for (let i = 0; i < 5; i++) expect(await c.login(`dave@${DOMAIN}`, `wrong-${i}`)).toBe('-ERR [AUTH] Authentication failed');
    expect(await c.login(`dave@${DOMAIN}`)).toBe('-ERR [AUTH] Authentication failed');
    const locks = await auditEvents(ts.app, 'auth.lockout');
    expect(locks.some((e) => e.object === `dave@${DOMAIN}` && detail(e).protocol === 'pop3')).toBe(true);
    const failures = (await auditEvents(ts.app, 'auth.login.failure')).filter((e) => e.object === `dave@${DOMAIN}`);
    expect(failures.at(-1)?.detail).toEqual({ protocol: 'pop3', reason: 'locked' });
    await c.quit();
    // Another address still gets in.
    const other = await tlsClient();
    expect(await other.login(`dave@${DOMAIN}`)).toMatch(/^\+OK Logged in/);
    await other.quit();
  });
});
