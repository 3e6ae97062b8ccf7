/**
 * Session and connection limits of the SMTP listeners (GW-DOS-4): maximum errors, idle and
 * data timeouts, connections per client address (with a parallel normal session that keeps
 * working, and slots that come back when sessions end, STARTTLS sessions included), the
 * permanent quota reply, and a graceful stop.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { openApp } from '../../../src/app.ts';
import { actor, addAccount, b64, ehloClient, inbox, message, startTestServer, SmtpClient, DOMAIN, PASSWORD, type TestServer } from './harness.ts';

const PER_IP = 3;

describe('connection and error limits', () => {
  let s: TestServer;
  let alice: AccountInfo;

  beforeAll(async () => {
    s = await startTestServer({
      BULWARK_SMTP_MAX_CONNECTIONS_PER_IP: String(PER_IP),
      BULWARK_SMTP_MAX_ERRORS: '3',
      BULWARK_SMTP_QUOTA_REPLY: 'permanent',
    });
    alice = await addAccount(s.app, 'alice');
    await addAccount(s.app, 'full');
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('GW-DOS-4: reaching max_errors gets 421 4.7.0 and the connection is closed', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('FOO')).code).toBe(500);
    expect((await c.cmd('BAR')).code).toBe(500);
    const third = await c.cmd('BAZ');
    expect([third.code, third.enhanced]).toEqual([500, '5.5.2']);
    const bye = await c.reply();
    expect([bye.code, bye.enhanced]).toEqual([421, '4.7.0']);
    await c.waitClosed();
  });

  it('GW-DOS-4: more connections from one address than allowed get 421 4.7.0, while a parallel normal session keeps working', async () => {
    const before = (await inbox(s.app, alice)).length;
    const normal = await ehloClient(s.port.smtp);
    const idle = [await SmtpClient.connect(s.port.smtp), await SmtpClient.connect(s.port.submission)]; // the limit is shared by all SMTP listeners
    expect(idle.map((c) => c.greeting.code)).toEqual([220, 220]);

    const refused = await SmtpClient.connect(s.port.smtp);
    expect([refused.greeting.code, refused.greeting.enhanced]).toEqual([421, '4.7.0']);
    await refused.waitClosed();
    const refusedTls = await SmtpClient.connect(s.port.submissions, { tls: true });
    expect([refusedTls.greeting.code, refusedTls.greeting.enhanced]).toEqual([421, '4.7.0']);
    await refusedTls.waitClosed();

    // Meanwhile the normal session is served as if nothing happened.
    expect((await normal.send('x@remote.example', [`alice@${DOMAIN}`], message(['Subject: parallel', '', 'x']))).code).toBe(250);
    expect((await inbox(s.app, alice)).length).toBe(before + 1);

    // A slot comes back when a session ends.
    await idle[0].quit();
    const next = await SmtpClient.connect(s.port.smtp);
    expect(next.greeting.code).toBe(220);
    for (const c of [next, idle[1], normal]) await c.quit();
  });

  it('GW-DOS-4: sessions that used STARTTLS give their connection slot back when they end', async () => {
    // More STARTTLS sessions, one after the other, than the per-address limit.
    for (let i = 0; i < PER_IP + 2; i++) {
      const c = await ehloClient(s.port.smtp);
      expect(c.greeting.code, `session ${i}`).toBe(220);
      expect((await c.starttls()).code).toBe(220);
      expect((await c.cmd('EHLO client.example.net')).code).toBe(250);
      await c.quit();
    }
    const last = await SmtpClient.connect(s.port.smtp);
    expect(last.greeting.code).toBe(220);
    await last.quit();
  });

  it('GW-DOS-4: a client that pipelines a flood of commands without reading the replies is served in order once it reads', async () => {
    // EHLO: a short command with a long (multi-line) reply, so the replies fill every buffer.
    const n = 60_000;
    const c = await ehloClient(s.port.smtp);
    c.socket.pause(); // read nothing: the server's replies back up, and it must stop reading too
    c.write(`${'EHLO a.example\r\n'.repeat(n)}QUIT\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    c.socket.resume();
    let ok = 0;
    for (let i = 0; i < n; i++) if ((await c.reply()).code === 250) ok++;
    expect(ok).toBe(n);
    expect((await c.reply()).code).toBe(221);
    await c.waitClosed();
  });

  it('over quota with smtp.quota_reply = permanent: 552 5.2.2 at RCPT', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.send('x@remote.example', [`full@${DOMAIN}`], message(['Subject: fill', '', 'x']))).code).toBe(250);
    await s.app.directory.updateAccount(actor, `full@${DOMAIN}`, { quota: 10 });
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    const r = await c.cmd(`RCPT TO:<full@${DOMAIN}>`);
    expect([r.code, r.enhanced]).toEqual([552, '5.2.2']);
    await c.quit();
  });
});

describe('timeouts', () => {
  let s: TestServer;
  let alice: AccountInfo;

  beforeAll(async () => {
    s = await startTestServer({ BULWARK_SMTP_COMMAND_TIMEOUT_SECONDS: '1', BULWARK_SMTP_DATA_TIMEOUT_SECONDS: '1' });
    alice = await addAccount(s.app, 'alice');
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('GW-DOS-4: an idle session is closed with 421 4.4.2 after the command timeout', async () => {
    const c = await ehloClient(s.port.smtp);
    const r = await c.reply(); // nothing sent: the next thing from the server is the timeout
    expect([r.code, r.enhanced]).toEqual([421, '4.4.2']);
    await c.waitClosed();
  });

  it('GW-DOS-4: a stalled DATA is closed with 421 4.4.2 after the data timeout, and nothing is stored', async () => {
    const before = (await inbox(s.app, alice)).length;
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write('Subject: stalled\r\n\r\nhalf a message');
    const r = await c.reply();
    expect([r.code, r.enhanced]).toEqual([421, '4.4.2']);
    await c.waitClosed();
    expect((await inbox(s.app, alice)).length).toBe(before);
  });

  it('GW-DOS-4: a connection to the implicit-TLS port that never completes the handshake is cut after the command timeout', async () => {
    const raw = net.connect(s.port.submissions, '127.0.0.1');
    const closed = new Promise<void>((r) => raw.on('close', () => r()));
    raw.on('error', () => {});
    await closed;
    // Plain text on the TLS port is no handshake either.
    const junk = net.connect(s.port.submissions, '127.0.0.1', () => junk.write('EHLO client.example.net\r\n'));
    junk.on('error', () => {});
    await new Promise<void>((r) => junk.on('close', () => r()));
    // The port still works.
    const c = await SmtpClient.connect(s.port.submissions, { tls: true });
    expect(c.greeting.code).toBe(220);
    await c.quit();
  });

  it('GW-DOS-4/GW-DOS-5: the command timeout does not run while the server itself makes the client wait (login throttling)', async () => {
    // Four failures from this address: the next attempt is answered only after a throttle
    // delay longer than the 1 s command timeout. The client is not idle; the server is busy.
    const c = await ehloClient(s.port.submissions, { tls: true, localAddress: '127.0.0.6' });
    for (let i = 0; i < 4; i++) expect((await c.cmd(`AUTH PLAIN ${b64(`\u0000alice@${DOMAIN}\u0000wrong-${i}`)}`)).code).toBe(535);
    const ok = await c.cmd(`AUTH PLAIN ${b64(`\u0000alice@${DOMAIN}\u0000${PASSWORD}`)}`);
    expect([ok.code, ok.enhanced]).toEqual([235, '2.7.0']);
    await c.quit();
  });
});

describe('graceful stop', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer();
    await addAccount(s.app, 'alice');
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('stop(): an idle session gets 421 4.3.2; a session in the middle of DATA finishes its message (250) first, then gets 421 4.3.2', async () => {
    const idle = await ehloClient(s.port.smtp);
    const busy = await ehloClient(s.port.submission);
    // A connection that has not finished its TLS handshake (and so has no session yet).
    const handshaking = net.connect(s.port.submissions, '127.0.0.1');
    handshaking.on('error', () => {});
    const handshakingClosed = new Promise<void>((r) => handshaking.on('close', () => r()));
    await new Promise<void>((r) => handshaking.on('connect', () => r()));
    const mx = await ehloClient(s.port.smtp);
    expect((await mx.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    expect((await mx.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    expect((await mx.cmd('DATA')).code).toBe(354);
    mx.write('Subject: during shutdown\r\n\r\nfirst half\r\n');

    const stopped = s.running.stop('test');
    const r = await idle.reply();
    expect([r.code, r.enhanced]).toEqual([421, '4.3.2']);
    await idle.waitClosed();
    const r2 = await busy.reply();
    expect([r2.code, r2.enhanced]).toEqual([421, '4.3.2']);

    mx.write('second half\r\n.\r\n');
    const done = await mx.reply();
    expect(done.code).toBe(250);
    const bye = await mx.reply();
    expect([bye.code, bye.enhanced]).toEqual([421, '4.3.2']);
    await mx.waitClosed();
    await stopped;
    await handshakingClosed;

    // The message finished during the stop is stored.
    const app = await openApp(s.dataDir, { env: {} });
    try {
      const alice = await app.directory.getAccount(actor, `alice@${DOMAIN}`);
      const rows = await app.mail.listMessages(alice, 'INBOX');
      expect(rows.map((m) => m.subject)).toEqual(['during shutdown']);
    } finally {
      await app.close();
    }
  });
});
