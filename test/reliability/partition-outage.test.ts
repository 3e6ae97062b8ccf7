/**
 * One PostgreSQL partition unreachable (issue 6 point 2, GW-EMG-3), seen through every
 * protocol by many accounts at once: 24 accounts, half on the main partition (SQLite), half on
 * a PostgreSQL partition reached through a TCP proxy that the test stops. While it is down the
 * accounts on it get temporary errors only (SMTP 451 4.3.0 at RCPT, IMAP NO [UNAVAILABLE],
 * POP3 -ERR [SYS/TEMP], CalDAV 503 with Retry-After), every other account is served as before,
 * and when the partition is back its accounts are served again without a restart, nothing
 * refused having been stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, ehloClient, message, startTestServer, type TestServer } from '../protocols/smtp/harness.ts';
import { ImapTestClient } from '../protocols/imap/harness.ts';
import { Pop3Client } from '../protocols/pop3/harness.ts';
import { DavClient } from '../protocols/dav/harness.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { TcpProxy } from '../harness/proxy.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

const N = 12; // accounts per partition
const RETRY_AFTER_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a PostgreSQL partition down, through SMTP, IMAP, POP3 and CalDAV, for many accounts', () => {
  const proxy = new TcpProxy();
  const drops: (() => Promise<void>)[] = [];
  let ts: TestServer;
  let up: AccountInfo[];
  let down: AccountInfo[];
  const port = (name: string) => ts.running.listening.find((l) => l.name === name)!.port;

  beforeAll(async () => {
    const db = await createTestDatabase('bwout');
    drops.push(db.drop);
    await proxy.start();
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    ts = await startTestServer({ BULWARK_PARTITIONS_PG: viaProxy.toString(), BULWARK_AUTH_REQUIRE_TLS: 'false', BULWARK_STORE_RETRY_AFTER_MS: String(RETRY_AFTER_MS), BULWARK_STORE_CONNECT_TIMEOUT_MS: '1000' });
    up = [];
    down = [];
    for (let i = 0; i < N; i++) {
      up.push(await addAccount(ts.app, `up${i}`, { partition: 'main' }));
      down.push(await addAccount(ts.app, `down${i}`, { partition: 'pg' }));
    }
  }, 120_000);
  afterAll(async () => {
    await ts?.cleanup();
    await proxy.stop();
    for (const d of drops) await d().catch(() => {});
  });

  /** One SMTP transaction to every account: the RCPT replies, then DATA for those accepted. */
  async function deliverToAll(subject: string) {
    const c = await ehloClient(ts.port.smtp);
    const rcpt = new Map<string, string>();
    expect((await c.cmd('MAIL FROM:<sender@example.net>')).code).toBe(250);
    for (const a of [...up, ...down]) { const r = await c.cmd(`RCPT TO:<${a.address}>`); rcpt.set(a.address, `${r.code} ${r.enhanced ?? ''}`); }
    const accepted = [...rcpt].filter(([, r]) => r.startsWith('250')).map(([a]) => a);
    if (accepted.length) {
      expect((await c.cmd('DATA')).code).toBe(354);
      c.write(`${message([`Subject: ${subject}`, '', subject])}\r\n.\r\n`);
      expect((await c.reply()).code).toBe(250);
    }
    await c.quit();
    return rcpt;
  }

  const dav = (a: AccountInfo) => new DavClient(port('http'), a.address).req('PROPFIND', `/dav/calendars/${a.address}/calendar/`, {
    headers: { depth: '0' }, body: '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:displayname/></d:prop></d:propfind>',
  });

  it('only the accounts of the unreachable partition get temporary errors, on every protocol; all recover', async () => {
    for (const r of (await deliverToAll('all up')).values()) expect(r).toMatch(/^250/);

    await proxy.stop();

    // SMTP: 451 4.3.0 at RCPT for each account on the partition, 250 and the message for the others.
    const rcpt = await deliverToAll('pg down');
    for (const a of up) expect(rcpt.get(a.address), a.address).toMatch(/^250/);
    for (const a of down) expect(rcpt.get(a.address), a.address).toMatch(/^451 4\.3\.0/);

    for (let i = 0; i < N; i++) {
      // IMAP: login works (the directory is elsewhere), the mailbox is temporarily unavailable.
      const d = await ImapTestClient.login(port('imap'), down[i]);
      await d.no('SELECT INBOX', 'UNAVAILABLE');
      await d.close();
      const u = await ImapTestClient.login(port('imap'), up[i]);
      expect((await u.ok('SELECT INBOX')).lines.join('\n')).toMatch(/\* 2 EXISTS/);
      await u.close();

      // POP3: -ERR [SYS/TEMP] at the maildrop; the others get it.
      const pd = await Pop3Client.connect(port('pop3'));
      expect(await pd.login(down[i].address)).toMatch(/^-ERR \[SYS\/TEMP\]/);
      await pd.quit();
      const pu = await Pop3Client.connect(port('pop3'));
      expect(await pu.login(up[i].address)).toMatch(/^\+OK/);
      expect(await pu.cmd('STAT')).toMatch(/^\+OK 2 /);
      await pu.quit();

      // CalDAV: 503 with Retry-After; the others 207.
      const rd = await dav(down[i]);
      expect(rd.status).toBe(503);
      expect(rd.headers['retry-after']).toBeTruthy();
      expect((await dav(up[i])).status).toBe(207);
    }

    await proxy.start();
    await sleep(RETRY_AFTER_MS + 300);
    for (const r of (await deliverToAll('all up again')).values()) expect(r).toMatch(/^250/);
    for (const a of down) {
      const c = await ImapTestClient.login(port('imap'), a);
      const sel = await c.ok('SELECT INBOX');
      // the message from before and the one after: the refused one was never stored
      expect(sel.lines.join('\n')).toMatch(/\* 2 EXISTS/);
      await c.close();
      expect((await dav(a)).status).toBe(207);
    }
  }, 240_000);
});
