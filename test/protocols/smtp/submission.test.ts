/**
 * Message submission (RFC 6409) on the submission port (STARTTLS, then AUTH) and the
 * submissions port (implicit TLS, RFC 8314): authentication only over TLS, throttling and
 * lockout (GW-DOS-5), envelope sender and From: ownership (GW-ACC-2), the trace header that
 * does not reveal the client, and nodemailer as a real client.
 *
 * Each test that fails logins uses a loopback address of its own (127.0.0.x), because the
 * throttle's delay grows per client address.
 */
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import {
  actor, addAccount, auditEvents, b64, ehloClient, inbox, inboxMessages, message, splitTrace, startTestServer, SmtpClient,
  DOMAIN, PASSWORD, type TestServer,
} from './harness.ts';
import { bulwark } from '../../harness/cli.ts';

const plain = (user: string, pass: string, authzid = '') => b64(`${authzid}\u0000${user}\u0000${pass}`);

describe('SMTP submission', () => {
  let s: TestServer;
  let alice: AccountInfo;
  let bob: AccountInfo;

  beforeAll(async () => {
    s = await startTestServer();
    [alice, bob] = await Promise.all(['alice', 'bob', 'carol', 'erin'].map((l) => addAccount(s.app, l)));
    await s.app.directory.addAlias(actor, `sales@${DOMAIN}`, [`alice@${DOMAIN}`]);
    await s.app.directory.addAlias(actor, `boss@${DOMAIN}`, [`bob@${DOMAIN}`]);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  /** A submission session on the submission port after STARTTLS and EHLO, logged in unless told otherwise. */
  async function session(opts: { login?: string | null; localAddress?: string } = {}): Promise<SmtpClient> {
    const c = await ehloClient(s.port.submission, { localAddress: opts.localAddress });
    expect((await c.starttls()).code).toBe(220);
    expect((await c.cmd('EHLO client.example.net')).code).toBe(250);
    const login = opts.login === undefined ? `alice@${DOMAIN}` : opts.login;
    if (login) expect((await c.cmd(`AUTH PLAIN ${plain(login, PASSWORD)}`)).code).toBe(235);
    return c;
  }

  it('EHLO before TLS offers STARTTLS and no AUTH; AUTH before TLS gets 530 5.7.0; after TLS AUTH PLAIN LOGIN is offered and STARTTLS is not', async () => {
    const c = await ehloClient(s.port.submission);
    expect(c.ehlo.lines).toContain('STARTTLS');
    expect(c.ehlo.lines.some((l) => /^AUTH\b/.test(l))).toBe(false);
    const early = await c.cmd(`AUTH PLAIN ${plain(`alice@${DOMAIN}`, PASSWORD)}`);
    expect([early.code, early.enhanced]).toEqual([530, '5.7.0']);
    const mail = await c.cmd(`MAIL FROM:<alice@${DOMAIN}>`);
    expect([mail.code, mail.enhanced]).toEqual([530, '5.7.0']);
    expect((await c.starttls()).code).toBe(220);
    const ehlo = await c.cmd('EHLO client.example.net');
    expect(ehlo.lines).toContain('AUTH PLAIN LOGIN');
    expect(ehlo.lines).not.toContain('STARTTLS');
    expect(ehlo.lines).toContain('SIZE 52428800');
    await c.quit();
  });

  it('MAIL before AUTH gets 530 5.7.0', async () => {
    const c = await session({ login: null });
    const r = await c.cmd(`MAIL FROM:<alice@${DOMAIN}>`);
    expect([r.code, r.enhanced]).toEqual([530, '5.7.0']);
    await c.quit();
  });

  it('GW-DOS-5: a wrong password gets 535 5.7.8 and an auth.login.failure audit entry', async () => {
    const c = await session({ login: null, localAddress: '127.0.0.3' });
    const r = await c.cmd(`AUTH PLAIN ${plain(`bob@${DOMAIN}`, 'wrong-password-123')}`);
    expect([r.code, r.enhanced]).toEqual([535, '5.7.8']);
    // An unknown user gets the very same answer.
    const unknown = await c.cmd(`AUTH PLAIN ${plain(`nobody@${DOMAIN}`, 'wrong-password-123')}`);
    expect(unknown.raw).toBe(r.raw);
    const failures = (await auditEvents(s.app, 'auth.login.failure')).filter((e) => e.object === `bob@${DOMAIN}`);
    expect(failures).toHaveLength(1);
    expect(failures[0].source).toBe('127.0.0.3');
    expect(failures[0].detail).toMatchObject({ protocol: 'submission' });
    // The right password still works from here (two failures are far from a lock).
    expect((await c.cmd(`AUTH PLAIN ${plain(`bob@${DOMAIN}`, PASSWORD)}`)).code).toBe(235);
    await c.quit();
  });

  it('AUTH LOGIN step by step; AUTH PLAIN without initial response; "*" cancels with 501', async () => {
    const c = await session({ login: null });
    const cancel = await c.cmd('AUTH LOGIN');
    expect(cancel.code).toBe(334);
    expect(Buffer.from(cancel.lines[0], 'base64').toString()).toBe('Username:');
    const cancelled = await c.cmd('*');
    expect([cancelled.code, cancelled.enhanced]).toEqual([501, '5.7.0']);
    expect((await c.cmd('AUTH PLAIN')).code).toBe(334);
    expect((await c.cmd('*')).code).toBe(501);

    expect((await c.cmd('AUTH LOGIN')).code).toBe(334);
    const pw = await c.cmd(b64(`alice@${DOMAIN}`));
    expect(pw.code).toBe(334);
    expect(Buffer.from(pw.lines[0], 'base64').toString()).toBe('Password:');
    const ok = await c.cmd(b64(PASSWORD));
    expect([ok.code, ok.enhanced]).toEqual([235, '2.7.0']);
    const again = await c.cmd(`AUTH PLAIN ${plain(`alice@${DOMAIN}`, PASSWORD)}`);
    expect([again.code, again.enhanced]).toEqual([503, '5.5.1']);
    await c.quit();
  });

  it('AUTH PLAIN with an authorization identity other than the login is refused (no acting as someone else)', async () => {
    const c = await session({ login: null, localAddress: '127.0.0.5' });
    const r = await c.cmd(`AUTH PLAIN ${plain(`alice@${DOMAIN}`, PASSWORD, `bob@${DOMAIN}`)}`);
    expect([r.code, r.enhanced]).toEqual([535, '5.7.8']);
    // The login itself as authorization identity is fine.
    expect((await c.cmd(`AUTH PLAIN ${plain(`alice@${DOMAIN}`, PASSWORD, `alice@${DOMAIN}`)}`)).code).toBe(235);
    await c.quit();
  });

  it('GW-ACC-2: an envelope sender the account does not own gets 553 5.7.1; its own address, a subaddress and an alias pointing to it are accepted', async () => {
    const c = await session();
    const foreign = await c.cmd(`MAIL FROM:<bob@${DOMAIN}>`);
    expect([foreign.code, foreign.enhanced]).toEqual([553, '5.7.1']);
    const otherAlias = await c.cmd(`MAIL FROM:<boss@${DOMAIN}>`);
    expect([otherAlias.code, otherAlias.enhanced]).toEqual([553, '5.7.1']);
    const outside = await c.cmd('MAIL FROM:<alice@remote.example>');
    expect([outside.code, outside.enhanced]).toEqual([553, '5.7.1']);
    for (const from of [`alice@${DOMAIN}`, `alice+news@${DOMAIN}`, `sales@${DOMAIN}`]) {
      expect((await c.cmd(`MAIL FROM:<${from}>`)).code, from).toBe(250);
      expect((await c.cmd('RSET')).code).toBe(250);
    }
    await c.quit();
  });

  it('GW-ACC-2: a From: header the account does not own gets 553 5.7.1 after the data, and nothing is stored', async () => {
    const before = (await inbox(s.app, bob)).length;
    const c = await session();
    const r = await c.send(`alice@${DOMAIN}`, [`bob@${DOMAIN}`], message([`From: boss@${DOMAIN}`, `To: bob@${DOMAIN}`, 'Subject: wire money', '', 'x']));
    expect([r.code, r.enhanced]).toEqual([553, '5.7.1']);
    expect((await inbox(s.app, bob)).length).toBe(before);
    await c.quit();
  });

  it('submitted mail is delivered locally; its Received header shows neither the client address nor the HELO name', async () => {
    const before = (await inbox(s.app, bob)).length;
    const c = await ehloClient(s.port.submission, { helo: 'secret-laptop.home.example' });
    expect((await c.starttls()).code).toBe(220);
    expect((await c.cmd('EHLO secret-laptop.home.example')).code).toBe(250);
    expect((await c.cmd(`AUTH PLAIN ${plain(`alice@${DOMAIN}`, PASSWORD)}`)).code).toBe(235);
    const body = message([`From: Alice <alice@${DOMAIN}>`, `To: bob@${DOMAIN}`, 'Subject: hi bob', 'Message-ID: <sub1@example.org>', '', 'hello', '.dot']);
    const r = await c.send(`alice@${DOMAIN}`, [`bob@${DOMAIN}`], body);
    expect(r.code).toBe(250);
    const msgs = await inboxMessages(s.app, bob);
    expect(msgs.length).toBe(before + 1);
    const m = msgs[msgs.length - 1];
    const t = splitTrace(m.raw);
    expect(t.returnPath).toBe(`<alice@${DOMAIN}>`);
    expect(t.received).toMatch(/^Received: from authenticated-client\r\n\t/);
    expect(t.received).toMatch(/with ESMTPSA id/);
    expect(t.received).not.toContain('127.0.0.1');
    expect(t.received).not.toContain('secret-laptop');
    expect(m.raw.toString('latin1')).not.toContain('secret-laptop');
    expect(t.rest.toString('latin1')).toBe(body);
    expect(m.row.subject).toBe('hi bob');
    await c.quit();
  });

  it('GW-DOS-5: five wrong passwords from one address lock (account, address): the right password then gets the same 535; another address still gets in; audit has the failures and one lockout', async () => {
    const X = '127.0.0.2';
    const Y = '127.0.0.4';
    const login = `carol@${DOMAIN}`;
    const c = await session({ login: null, localAddress: X });
    const failures: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await c.cmd(`AUTH PLAIN ${plain(login, `wrong-password-${i}`)}`);
      expect([r.code, r.enhanced]).toEqual([535, '5.7.8']);
      failures.push(r.raw);
    }
    const locked = await c.cmd(`AUTH PLAIN ${plain(login, PASSWORD)}`);
    expect(locked.raw).toBe(failures[0]);
    await c.quit();

    const y = await session({ login: null, localAddress: Y });
    expect((await y.cmd(`AUTH PLAIN ${plain(login, PASSWORD)}`)).code).toBe(235);
    await y.quit();

    const audit = (await auditEvents(s.app, 'auth.login.failure')).filter((e) => e.object === login);
    expect(audit.filter((e) => e.source === X && (e.detail as { reason?: string }).reason === 'credentials')).toHaveLength(5);
    const lockouts = (await auditEvents(s.app, 'auth.lockout')).filter((e) => e.object === login);
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0].source).toBe(X);
    expect(lockouts[0].detail).toMatchObject({ protocol: 'submission' });

    // The lock is in the primary store (every node sees it); `bulwark account unlock` lifts it.
    const lockList = await bulwark(['--data', s.dataDir, 'account', 'locks', '--json']);
    expect(JSON.parse(lockList.stdout)).toEqual([expect.objectContaining({ login, ip: X })]);
    const unlock = await bulwark(['--data', s.dataDir, 'account', 'unlock', login]);
    expect(unlock.stdout).toMatch(/1 lock\(s\) lifted/);
    const again = await session({ login: null, localAddress: X });
    expect((await again.cmd(`AUTH PLAIN ${plain(login, PASSWORD)}`)).code).toBe(235);
    await again.quit();
    expect((await auditEvents(s.app, 'auth.unlock')).filter((e) => e.object === login)).toHaveLength(1);
  });

  describe('nodemailer as the client', () => {
    const transport = (port: number, secure: boolean, authMethod: 'PLAIN' | 'LOGIN') => nodemailer.createTransport({
      host: '127.0.0.1', port, secure, requireTLS: !secure, name: 'nm.example.net', authMethod,
      auth: { user: `alice@${DOMAIN}`, pass: PASSWORD },
      tls: { rejectUnauthorized: false },
    });

    for (const [label, port, secure, method] of [
      ['submission, STARTTLS + AUTH PLAIN', 'submission', false, 'PLAIN'],
      ['submission, STARTTLS + AUTH LOGIN', 'submission', false, 'LOGIN'],
      ['submissions, implicit TLS + AUTH PLAIN', 'submissions', true, 'PLAIN'],
    ] as const) {
      it(`sends through ${label}`, async () => {
        const before = (await inbox(s.app, bob)).length;
        const t = transport(s.port[port], secure, method);
        try {
          const info = await t.sendMail({ from: `alice@${DOMAIN}`, to: `bob@${DOMAIN}`, subject: `via ${label}`, text: 'hello\n.\nbye' });
          expect(info.accepted).toEqual([`bob@${DOMAIN}`]);
          expect(info.response).toMatch(/^250 2\.0\.0/);
        } finally {
          t.close();
        }
        const msgs = await inboxMessages(s.app, bob);
        expect(msgs.length).toBe(before + 1);
        const m = msgs[msgs.length - 1];
        expect(m.row.subject).toBe(`via ${label}`);
        const { received } = splitTrace(m.raw);
        expect(received).toMatch(/with ESMTPSA id/);
        expect(received).not.toContain('nm.example.net');
        expect(received).not.toContain('127.0.0.1');
      });
    }

    it('a wrong password is refused (535) through nodemailer too', async () => {
      const t = nodemailer.createTransport({
        host: '127.0.0.1', port: s.port.submissions, secure: true, authMethod: 'PLAIN',
        auth: { user: `erin@${DOMAIN}`, pass: 'not-the-password-1' }, tls: { rejectUnauthorized: false },
      });
      try {
        const err = await t.sendMail({ from: `erin@${DOMAIN}`, to: `bob@${DOMAIN}`, subject: 'x', text: 'x' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect((err as { responseCode?: number }).responseCode).toBe(535);
      } finally {
        t.close();
      }
    });
  });
});
