/**
 * Issue 4 points 1 and 4: the IMAP session itself — greeting and capabilities by state,
 * TLS before authentication (STARTTLS, implicit TLS, LOGINDISABLED), LOGIN and AUTHENTICATE
 * PLAIN/LOGIN (SASL-IR), failures and lockout in the audit trail, ID, ENABLE, COMPRESS,
 * and bad input answered with BAD without disturbing the session.
 */
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../smtp/harness.ts';
import { ImapTestClient, PASSWORD, addAccount, startImapServer, type ImapTestServer } from './harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

describe('IMAP session (TLS required, the default)', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  beforeAll(async () => {
    ts = await startImapServer({ BULWARK_AUTH_REQUIRE_TLS: 'true' });
    alice = await addAccount(ts.app, 'alice');
  });
  afterAll(async () => ts?.cleanup());

  it('RFC 9051 §6.2.3, GW-CRY-1: before TLS the greeting offers STARTTLS and LOGINDISABLED, and LOGIN/AUTHENTICATE are refused', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    const caps = await c.ok('CAPABILITY');
    const line = caps.lines.find((l) => l.startsWith('* CAPABILITY'))!;
    expect(line).toContain('STARTTLS');
    expect(line).toContain('LOGINDISABLED');
    expect(line).not.toContain('AUTH=PLAIN');
    expect(line).toContain('IMAP4rev2');
    await c.no(`LOGIN ${alice.address} ${PASSWORD}`, 'PRIVACYREQUIRED');
    await c.no('AUTHENTICATE PLAIN ' + Buffer.from(`\0${alice.address}\0${PASSWORD}`).toString('base64'), 'PRIVACYREQUIRED');
    await c.close();
  });

  it('RFC 9051 §6.2.1: STARTTLS, then the capabilities change and LOGIN works; the login is audited', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    await c.ok('STARTTLS');
    await c.upgrade();
    const caps = (await c.ok('CAPABILITY')).lines.join('\n');
    expect(caps).not.toContain('STARTTLS');
    expect(caps).not.toContain('LOGINDISABLED');
    expect(caps).toContain('AUTH=PLAIN');
    const r = await c.ok(`LOGIN ${alice.address} ${PASSWORD}`);
    expect(r.tagged).toMatch(/\[CAPABILITY IMAP4rev1 IMAP4rev2 .*IDLE.*QRESYNC.*\]/);
    await c.ok('LOGOUT');
    const ok = await auditEvents(ts.app, 'auth.login.success');
    expect(ok.some((e) => (e.detail as { protocol: string }).protocol === 'imap')).toBe(true);
  });

  it('RFC 9051 §6.2.1: bytes pipelined after STARTTLS are discarded, not run after the handshake', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    c.write('a1 STARTTLS\r\na2 LOGIN x y\r\n');
    expect(await c.line()).toMatch(/^a1 OK/);
    await c.upgrade();
    const r = await c.ok('NOOP');
    expect(r.lines.join('\n')).not.toContain('a2');
    await c.close();
  });

  it('RFC 8314: the implicit-TLS port serves TLS from the first byte and allows login at once', async () => {
    const c = await ImapTestClient.connect(ts.imapsPort, { tls: true });
    await c.ok(`LOGIN ${alice.address} ${PASSWORD}`);
    await c.ok('SELECT INBOX');
    await c.close();
  });
});

describe('IMAP session', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
  });
  afterAll(async () => ts?.cleanup());

  it('RFC 9051 §7.1.1: the greeting is an untagged OK with the capabilities', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    expect(c.received[0]).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 [^\]]*\] /);
    await c.close();
  });

  it('RFC 4616, RFC 4959: AUTHENTICATE PLAIN with an initial response, and with a continuation', async () => {
    const b64 = Buffer.from(`\0${alice.address}\0${PASSWORD}`).toString('base64');
    const c1 = await ImapTestClient.connect(ts.imapPort);
    await c1.ok(`AUTHENTICATE PLAIN ${b64}`);
    await c1.close();
    const c2 = await ImapTestClient.connect(ts.imapPort);
    c2.write('a1 AUTHENTICATE PLAIN\r\n');
    expect(await c2.line()).toBe('+ ');
    c2.write(`${b64}\r\n`);
    expect(await c2.line()).toMatch(/^a1 OK \[CAPABILITY /);
    await c2.close();
  });

  it('AUTHENTICATE LOGIN asks for user name and password in base64', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    c.write('a1 AUTHENTICATE LOGIN\r\n');
    expect(await c.line()).toBe(`+ ${Buffer.from('Username:').toString('base64')}`);
    c.write(`${Buffer.from(alice.address).toString('base64')}\r\n`);
    expect(await c.line()).toBe(`+ ${Buffer.from('Password:').toString('base64')}`);
    c.write(`${Buffer.from(PASSWORD).toString('base64')}\r\n`);
    expect(await c.line()).toMatch(/^a1 OK/);
    await c.close();
  });

  it('RFC 9051 §6.2.2: "*" cancels AUTHENTICATE with BAD; an unknown mechanism is NO; the session goes on', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    c.write('a1 AUTHENTICATE PLAIN\r\n');
    await c.line();
    c.write('*\r\n');
    expect(await c.line()).toMatch(/^a1 BAD/);
    await c.no('AUTHENTICATE CRAM-MD5');
    await c.ok(`LOGIN ${alice.address} ${PASSWORD}`);
    await c.close();
  });

  it('DONE and a command in one packet after IDLE: both are handled (the framer holds after each line)', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    await c.ok('SELECT INBOX');
    c.write('i1 IDLE\r\n');
    expect(await c.line()).toBe('+ idling');
    c.write('DONE\r\ni2 NOOP\r\n');
    expect(await c.waitFor(/^i1 /)).toMatch(/^i1 OK/);
    expect(await c.waitFor(/^i2 /)).toMatch(/^i2 OK/);
    await c.close();
  });

  it('GW-DOS-5: a wrong password gets NO [AUTHENTICATIONFAILED], the same as an unknown account; both are audited with their reasons', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    const wrong = await c.no(`LOGIN ${alice.address} not-the-password`, 'AUTHENTICATIONFAILED');
    const unknown = await c.no('LOGIN nobody@example.org whatever', 'AUTHENTICATIONFAILED');
    expect(wrong.tagged.replace(/^\S+/, '')).toBe(unknown.tagged.replace(/^\S+/, ''));
    const failures = (await auditEvents(ts.app, 'auth.login.failure')).filter((e) => (e.detail as { protocol: string }).protocol === 'imap');
    expect(failures.map((e) => (e.detail as { reason: string }).reason)).toEqual(expect.arrayContaining(['credentials', 'unknown']));
    await c.close();
  });

  it('RFC 2971: ID answers with the server name; RFC 5161: ENABLE answers ENABLED for what it turned on, only once', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    const id = await c.ok('ID ("name" "test" "version" "1")');
    expect(id.lines[0]).toMatch(/^\* ID \("name" "Bulwark"/);
    const e1 = await c.ok('ENABLE CONDSTORE UTF8=ACCEPT X-UNKNOWN');
    expect(e1.lines).toEqual(['* ENABLED CONDSTORE UTF8=ACCEPT']);
    const e2 = await c.ok('ENABLE CONDSTORE IMAP4rev2');
    expect(e2.lines).toEqual(['* ENABLED IMAP4rev2']);
    await c.close();
  });

  it('RFC 9051 §6.1: commands in the wrong state get BAD and the session goes on', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    await c.bad('SELECT INBOX');
    await c.bad('FETCH 1 FLAGS');
    await c.ok(`LOGIN ${alice.address} ${PASSWORD}`);
    await c.bad(`LOGIN ${alice.address} ${PASSWORD}`);
    await c.bad('FETCH 1 FLAGS');
    await c.ok('SELECT INBOX');
    await c.bad('ENABLE CONDSTORE'); // authenticated state only (RFC 5161 §3.1)
    await c.ok('NOOP');
    await c.close();
  });

  it('GW-DOS-4: malformed commands get BAD with a reason; an untagged garbage line gets * BAD; the session keeps working', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    const r1 = await c.bad('FETCH');
    expect(r1.tagged.length).toBeGreaterThan(10);
    await c.bad('SELECT');
    await c.bad('NOSUCHCOMMAND x y');
    await c.bad('UID FETCH 1:* (FLAGS');
    c.write('\u0001\u0002 \r\n');
    expect(await c.line()).toMatch(/^\* BAD|^\S+ BAD/);
    await c.ok('SELECT INBOX');
    await c.bad('FETCH 5 FLAGS'); // beyond the mailbox (RFC 9051 §9 seq-number)
    await c.ok('NOOP');
    await c.close();
  });

  it('GW-DOS-4: after max_errors bad commands the session ends with BYE', async () => {
    const c = await ImapTestClient.connect(ts.imapPort);
    for (let i = 0; i < 60 && !c.closed; i++) c.write(`x${i} BOGUS\r\n`);
    await c.waitFor(/^\* BYE /);
    await new Promise((r) => setTimeout(r, 200));
    expect(c.closed).toBe(true);
  });

  it('RFC 4978: COMPRESS DEFLATE; after the OK both directions are raw DEFLATE', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    c.write('z1 COMPRESS DEFLATE\r\n');
    expect(await c.line()).toMatch(/^z1 OK/);
    const inflate = zlib.createInflateRaw();
    const deflate = zlib.createDeflateRaw();
    const socket = c.socket;
    socket.removeAllListeners('data');
    let text = '';
    inflate.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('data', (d: Buffer) => inflate.write(d));
    deflate.on('data', (d: Buffer) => socket.write(d));
    deflate.write('z2 SELECT INBOX\r\nz3 CAPABILITY\r\n');
    deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    for (let i = 0; i < 100 && !/z3 OK/.test(text); i++) await new Promise((r) => setTimeout(r, 50));
    expect(text).toMatch(/z2 OK \[READ-WRITE\]/);
    expect(text).toMatch(/\* CAPABILITY /);
    expect(text).not.toMatch(/COMPRESS=DEFLATE/); // RFC 4978 §3: not offered again
    expect(text).toMatch(/z3 OK/);
    await c.close();
  });

  it('RFC 9051 §6.1.3: LOGOUT answers BYE, then OK, and closes', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    const r = await c.ok('LOGOUT');
    expect(r.lines[0]).toMatch(/^\* BYE/);
    await new Promise((res) => setTimeout(res, 200));
    expect(c.closed).toBe(true);
  });
});
