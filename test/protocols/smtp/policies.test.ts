/**
 * Issue 3 (mail transport), points 1 and 2: what happens to over-limit mail is told to the
 * recipient as well as the sender (S 4.357, GW-DOS-2), hourly sending limits per account
 * (GW-DOS-6), and postmaster@ for every domain (RFC 5321 §4.5.1, GW-DL-5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { actor, addAccount, auditEvents, b64, ehloClient, inbox, inboxMessages, message, startTestServer, DOMAIN, PASSWORD, type TestServer } from './harness.ts';

const plain = (user: string, pass: string) => b64(`\u0000${user}\u0000${pass}`);

describe('over-limit notices, sending limits and postmaster', () => {
  let s: TestServer;
  let alice: AccountInfo;
  let bob: AccountInfo;
  let carol: AccountInfo;
  beforeAll(async () => {
    s = await startTestServer({ BULWARK_LIMITS_MAX_MESSAGE_SIZE: '4096', BULWARK_SMTP_MAX_MESSAGES_PER_HOUR: '3', BULWARK_SMTP_MAX_RECIPIENTS_PER_HOUR: '5' });
    [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((l) => addAccount(s.app, l)));
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('GW-DOS-2: an oversize message gets 552 5.3.4 and the recipient one short notice naming sender, size and limit, once per sender', async () => {
    const big = message([`From: spammer@remote.example`, `To: bob@${DOMAIN}`, 'Subject: big', '', 'x'.repeat(6000)]);
    // GW-DOS-2: 50 oversize attempts from one sender within the interval give one notice.
    for (let i = 0; i < 50; i++) {
      const c = await ehloClient(s.port.smtp);
      const r = await c.send('spammer@remote.example', [`bob@${DOMAIN}`], big);
      expect(`${r.code} ${r.enhanced}`).toBe('552 5.3.4');
      await c.quit();
    }
    const notices = await inboxMessages(s.app, bob);
    expect(notices).toHaveLength(1);
    const text = notices[0].raw.toString();
    expect(text).toContain('Subject: A message to you was refused: too large');
    expect(text).toContain('Sender:  spammer@remote.example');
    expect(text).toMatch(/Limit: +4096 bytes/);
    expect(text).toMatch(/^Return-Path: <>/); // null sender: nothing ever bounces to it
    expect(text).not.toContain('xxxxxxxxxx'); // never the content
    // Another sender gets its own notice.
    const c = await ehloClient(s.port.smtp);
    await c.send('other@remote.example', [`bob@${DOMAIN}`], big);
    await c.quit();
    expect(await inbox(s.app, bob)).toHaveLength(2);
  });

  it('GW-DOS-6: past the hourly limit submission gets 451 4.7.1, and one alert lands in the audit trail', async () => {
    const c = await ehloClient(s.port.submission);
    expect((await c.starttls()).code).toBe(220);
    expect((await c.cmd('EHLO client.example.net')).code).toBe(250);
    expect((await c.cmd(`AUTH PLAIN ${plain(`alice@${DOMAIN}`, PASSWORD)}`)).code).toBe(235);
    const msg = message([`From: alice@${DOMAIN}`, `To: carol@${DOMAIN}`, 'Subject: hi', '', 'hello']);
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await c.send(`alice@${DOMAIN}`, [`carol@${DOMAIN}`], msg);
      codes.push(`${r.code} ${r.enhanced}`);
    }
    expect(codes.slice(0, 3)).toEqual(['250 2.0.0', '250 2.0.0', '250 2.0.0']);
    expect(codes.slice(3)).toEqual(['451 4.7.1', '451 4.7.1']);
    expect(await inbox(s.app, carol)).toHaveLength(3);
    const alerts = await auditEvents(s.app, 'rate.limit');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ object: `alice@${DOMAIN}` });
    await c.quit();
  });

  it('GW-DOS-3: quota is checked again at the end of the data: a message that does not fit gets 452 4.2.2 and nothing is stored', async () => {
    const dora = await addAccount(s.app, 'dora', { quota: 1500 });
    const c = await ehloClient(s.port.smtp);
    const fits = await c.send('x@remote.example', [`dora@${DOMAIN}`], message(['Subject: small', '', 'ok']));
    expect(fits.code).toBe(250);
    const r = await c.send('x@remote.example', [`dora@${DOMAIN}`], message(['Subject: too much', '', 'y'.repeat(2000)]));
    expect([r.code, r.enhanced]).toEqual([452, '4.2.2']);
    await c.quit();
    expect(await inbox(s.app, dora)).toHaveLength(1);
    expect(await s.app.queue.list()).toEqual([]);
  });

  it('a message with broken MIME is accepted, stored exactly as received and readable', async () => {
    const broken = [
      'From: =?utf-8?B?broken', 'To: carol@' + DOMAIN, 'Subject: =?x-unknown?Q?=ZZ?=', 'Content-Type: multipart/mixed; boundary="never-closed"',
      'Content-Transfer-Encoding: base64', 'X-Raw: caf\xe9 na\xefve', '', 'preamble', '--never-closed', 'Content-Type: text/plain; charset=nonsense',
      'Content-Transfer-Encoding: base64', '', '!!!not base64!!!', '--never-closed', 'Content-Type: message/rfc822', '', 'truncated inner header',
    ].join('\r\n') + '\r\n';
    const c = await ehloClient(s.port.smtp);
    const r = await c.send('x@remote.example', [`carol@${DOMAIN}`], Buffer.from(broken, 'latin1'));
    expect(r.code).toBe(250);
    await c.quit();
    const stored = (await inboxMessages(s.app, carol)).find((m) => m.raw.includes(Buffer.from('never-closed')))!;
    expect(stored).toBeDefined();
    // After our trace fields, the bytes are exactly those received.
    expect(stored.raw.subarray(stored.raw.length - Buffer.byteLength(broken, 'latin1')).equals(Buffer.from(broken, 'latin1'))).toBe(true);
    expect(stored.row.size).toBe(stored.raw.length);
  });

  it('GW-DL-5: <Postmaster> and postmaster@ / abuse@ of a domain reach the admins without any alias', async () => {
    const c = await ehloClient(s.port.smtp);
    for (const rcpt of ['Postmaster', `postmaster@${DOMAIN}`, `abuse@${DOMAIN}`]) {
      const r = await c.cmd('MAIL FROM:<someone@remote.example>');
      expect(r.code).toBe(250);
      expect((await c.cmd(`RCPT TO:<${rcpt}>`)).code).toBe(250);
      expect((await c.cmd('RSET')).code).toBe(250);
    }
    const r = await c.send('someone@remote.example', ['Postmaster'], message(['From: someone@remote.example', 'Subject: your server', '', 'hello']));
    expect(r.code).toBe(250);
    await c.quit();
    const admin = (await s.app.directory.listAccounts(actor)).find((a) => a.roles.includes('admin'))!;
    expect((await inbox(s.app, admin)).length).toBe(1);
    expect(alice).toBeDefined();
  });
});
