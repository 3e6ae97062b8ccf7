/**
 * Issue 6 point 4, last part: disabled accounts and changed passwords end existing sessions
 * within a bound (auth.revoke_check_seconds, here 1 s; core/sessions.ts). For one account whose
 * password is changed and one that is disabled, each with a session open on IMAP (in IDLE),
 * POP3 and authenticated SMTP submission: IMAP gets "* BYE [ALERT]" with the reason, POP3 is
 * closed, SMTP gets 421 4.7.0; CalDAV refuses the old credentials at the next request. A third
 * account's sessions go on untouched.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actor, addAccount, b64, ehloClient, startTestServer, PASSWORD, type TestServer } from '../protocols/smtp/harness.ts';
import { ImapTestClient } from '../protocols/imap/harness.ts';
import { Pop3Client } from '../protocols/pop3/harness.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

let ts: TestServer;
const port = (name: string) => ts.running.listening.find((l) => l.name === name)!.port;

beforeAll(async () => {
  ts = await startTestServer({ BULWARK_AUTH_REVOKE_CHECK_SECONDS: '1', BULWARK_AUTH_REQUIRE_TLS: 'false' });
}, 60_000);
afterAll(async () => ts?.cleanup());

const dav = (a: AccountInfo, password = PASSWORD) => new Promise<number>((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port: port('http'), method: 'PROPFIND', path: '/dav/', headers: {
    authorization: `Basic ${Buffer.from(`${a.address}:${password}`).toString('base64')}`, depth: '0',
  } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
  req.on('error', reject);
  req.end();
});

/** Sessions of one account on every protocol that keeps one. */
async function open(a: AccountInfo) {
  const imap = await ImapTestClient.login(port('imaps'), a, { tls: true });
  await imap.ok('SELECT INBOX');
  imap.write('i IDLE\r\n');
  expect(await imap.line()).toBe('+ idling');
  const pop3 = await Pop3Client.connect(port('pop3s'), { tls: true });
  expect(await pop3.login(a.address)).toMatch(/^\+OK/);
  const smtp = await ehloClient(port('submissions'), { tls: true });
  expect((await smtp.cmd(`AUTH PLAIN ${b64(`\0${a.address}\0${PASSWORD}`)}`)).code).toBe(235);
  expect(await dav(a)).toBe(207);
  return { imap, pop3, smtp };
}

describe('revoking access ends sessions within auth.revoke_check_seconds', () => {
  it('a changed password and a disabled account end their IMAP, POP3 and SMTP sessions; other accounts are untouched', async () => {
    const changed = await addAccount(ts.app, 'changed');
    const disabled = await addAccount(ts.app, 'disabled');
    const bystander = await addAccount(ts.app, 'bystander');
    const s1 = await open(changed);
    const s2 = await open(disabled);
    const s3 = await open(bystander);

    await ts.app.directory.setPassword(actor, changed.address, 'a brand new password 1');
    await ts.app.directory.setEnabled(actor, disabled.address, false);

    for (const [s, why] of [[s1, 'the password was changed'], [s2, 'the account is disabled']] as const) {
      expect(await s.imap.waitFor(/^\* BYE/, 10_000)).toBe(`* BYE [ALERT] Logged out: ${why}`);
      await s.pop3.closed;
      const bye = await s.smtp.read();
      expect(bye?.code).toBe(421);
      expect(bye?.enhanced).toBe('4.7.0');
      await s.smtp.waitClosed();
    }
    expect(await dav(changed)).toBe(401);
    expect(await dav(changed, 'a brand new password 1')).toBe(207);
    expect(await dav(disabled)).toBe(401);

    // The bystander's sessions went on: IDLE ends normally, POP3 and SMTP still answer.
    s3.imap.write('DONE\r\n');
    expect(await s3.imap.waitFor(/^i /)).toMatch(/^i OK/);
    expect(await s3.pop3.cmd('STAT')).toMatch(/^\+OK/);
    expect((await s3.smtp.cmd('NOOP')).code).toBe(250);
    expect(await dav(bystander)).toBe(207);
    await s3.imap.close();
    await s3.pop3.quit();
    await s3.smtp.quit();
  }, 60_000);
});
