/**
 * A storage partition that is unavailable (GW-EMG-3) as SMTP sees it: its accounts get the
 * temporary 451 4.3.0 at RCPT, so the sender retries later, while accounts on the other
 * partitions are served as usual, in the same transaction.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { addAccount, ehloClient, inbox, message, startTestServer, DOMAIN, type TestServer } from './harness.ts';

describe('SMTP with an unavailable partition', () => {
  let s: TestServer;
  let alice: AccountInfo; // main
  let pat: AccountInfo; // p2

  beforeAll(async () => {
    s = await startTestServer({ BULWARK_PARTITIONS_P2: 'sqlite:p2.db', BULWARK_STORE_RETRY_AFTER_MS: '600000' });
    alice = await addAccount(s.app, 'alice', { partition: 'main' });
    pat = await addAccount(s.app, 'pat', { partition: 'p2' });
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('both partitions take mail while they are up', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.send('x@remote.example', [`alice@${DOMAIN}`, `pat@${DOMAIN}`], message(['Subject: both up', '', 'x']))).code).toBe(250);
    expect((await inbox(s.app, alice)).length).toBe(1);
    expect((await inbox(s.app, pat)).length).toBe(1);
    await c.quit();
  });

  it('GW-EMG-3: a recipient on a partition that cannot be opened gets 451 4.3.0 at RCPT; one on another partition gets 250 and the message', async () => {
    await s.stop();
    const p2 = path.join(s.dataDir, 'p2.db');
    for (const f of [`${p2}-wal`, `${p2}-shm`]) fs.rmSync(f, { force: true });
    fs.writeFileSync(p2, Buffer.alloc(8192, 'this is not an SQLite database. '));
    await s.restart();
    expect(s.app.stores.partition('p2').status).toBe('down');

    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    const down = await c.cmd(`RCPT TO:<pat@${DOMAIN}>`);
    expect([down.code, down.enhanced]).toEqual([451, '4.3.0']);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write('Subject: p2 down\r\n\r\nx\r\n.\r\n');
    expect((await c.reply()).code).toBe(250);
    const rows = await inbox(s.app, alice);
    expect(rows.map((r) => r.subject)).toEqual(['both up', 'p2 down']);

    // Temporary errors do not count towards max_errors: the session is still there.
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    for (let i = 0; i < 12; i++) expect((await c.cmd(`RCPT TO:<pat@${DOMAIN}>`)).code).toBe(451);
    expect((await c.cmd('NOOP')).code).toBe(250);
    await c.quit();
  });
});
