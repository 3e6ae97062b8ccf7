/**
 * Issue 4 point 4 (GW-DOS-4, GW-DOS-5, GW-EMG-3): limits and bad input. Command-line and
 * literal limits, connections per client address and per account, the idle and login
 * timeouts, throttled and locked-out logins with their audit trail, malformed input that
 * never disturbs another session, and an unavailable partition answered NO [UNAVAILABLE]
 * while other accounts are served.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, PASSWORD, addAccount, append, message, startImapServer, type ImapTestServer } from './harness.ts';
import { auditEvents } from '../smtp/harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { bulwark } from '../../harness/cli.ts';

describe('IMAP limits', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  beforeAll(async () => {
    ts = await startImapServer({
      BULWARK_IMAP_MAX_CONNECTIONS_PER_IP: '6',
      BULWARK_IMAP_MAX_CONNECTIONS_PER_ACCOUNT: '3',
      BULWARK_IMAP_MAX_LINE: '4096',
      BULWARK_IMAP_MAX_LITERAL: '8192',
    });
    alice = await addAccount(ts.app, 'alice');
  });
  afterAll(async () => ts?.cleanup());

  it('GW-DOS-4: a 10 MB command line gets a bounded error and BYE; a parallel session keeps working', async () => {
    const other = await ImapTestClient.login(ts.imapPort, alice);
    await other.ok('SELECT INBOX');
    const c = await ImapTestClient.connect(ts.imapPort);
    const chunk = Buffer.alloc(1024 * 1024, 'A');
    c.write('x1 LOGIN ');
    for (let i = 0; i < 10 && !c.closed; i++) c.write(chunk);
    await c.waitFor(/^\* BYE|^x1 BAD|^\* BAD/);
    await other.ok('NOOP');
    await append(other, 'INBOX', message({ subject: 'still fine' }));
    await other.close();
    await c.close();
  });

  it('GW-DOS-4: a literal over the limit is refused before it is sent (synchronising) or skipped (LITERAL+); the session goes on', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    c.write('l1 SEARCH TEXT {100000}\r\n');
    expect(await c.line()).toMatch(/^l1 (BAD|NO) /);
    c.write(`l2 SEARCH TEXT {9000+}\r\n${'y'.repeat(9000)}\r\n`);
    expect(await c.line()).toMatch(/^l2 (BAD|NO) /);
    await c.ok('SELECT INBOX');
    await c.close();
  });

  it('GW-DOS-4: the connections per client address are limited: one more gets BYE at once', async () => {
    const open: ImapTestClient[] = [];
    for (let i = 0; i < 6; i++) open.push(await ImapTestClient.connect(ts.imapPort, { localAddress: '127.0.0.3' }));
    const extra = await ImapTestClient.connect(ts.imapPort, { localAddress: '127.0.0.3', noGreeting: true });
    expect(await extra.line()).toMatch(/^\* BYE \[UNAVAILABLE\] Too many connections/);
    // Another address is not affected.
    const fine = await ImapTestClient.connect(ts.imapPort, { localAddress: '127.0.0.5' });
    await fine.ok('NOOP');
    for (const c of [...open, extra, fine]) await c.close();
  });

  it('GW-DOS-4: the sessions per account are limited: one more login gets NO [LIMIT]; after a logout it works again', async () => {
    const bob = await addAccount(ts.app, 'bob');
    const s = [];
    for (let i = 0; i < 3; i++) s.push(await ImapTestClient.login(ts.imapPort, bob, { localAddress: '127.0.0.6' }));
    const c = await ImapTestClient.connect(ts.imapPort, { localAddress: '127.0.0.7' });
    await c.no(`LOGIN ${bob.address} ${PASSWORD}`, 'LIMIT');
    await s[0].ok('LOGOUT');
    for (let i = 0; i < 50; i++) {
      const r = await c.cmd(`LOGIN ${bob.address} ${PASSWORD}`);
      if (r.status === 'OK') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    await c.ok('SELECT INBOX');
    for (const x of [...s, c]) await x.close();
  });

  it('GW-DOS-5: five wrong passwords from one address lock the pair; the right password then fails the same way; another address gets in; audited; bulwark account unlock lifts it', async () => {
    const carol = await addAccount(ts.app, 'carol');
    const X = '127.0.0.8';
    const c = await ImapTestClient.connect(ts.imapPort, { localAddress: X });
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push((await c.no(`LOGIN ${carol.address} wrong-${i}`, 'AUTHENTICATIONFAILED')).tagged.replace(/^\S+ /, ''));
    const locked = await c.no(`LOGIN ${carol.address} ${PASSWORD}`, 'AUTHENTICATIONFAILED');
    expect(locked.tagged.replace(/^\S+ /, '')).toBe(answers[0]);
    await c.close();
    const y = await ImapTestClient.login(ts.imapPort, carol, { localAddress: '127.0.0.9' });
    await y.close();
    const failures = (await auditEvents(ts.app, 'auth.login.failure')).filter((e) => e.object === carol.address && e.source === X);
    expect(failures.map((e) => (e.detail as { reason: string }).reason)).toEqual(['credentials', 'credentials', 'credentials', 'credentials', 'credentials', 'locked']);
    const lockouts = (await auditEvents(ts.app, 'auth.lockout')).filter((e) => e.object === carol.address);
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0].detail).toMatchObject({ protocol: 'imap' });
    const unlock = await bulwark(['--data', ts.dataDir, 'account', 'unlock', carol.address]);
    expect(unlock.code).toBe(0);
    const again = await ImapTestClient.login(ts.imapPort, carol, { localAddress: X });
    await again.close();
  });
});

describe('IMAP timeouts', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  beforeAll(async () => {
    ts = await startImapServer({ BULWARK_IMAP_IDLE_TIMEOUT_SECONDS: '5', BULWARK_IMAP_LOGIN_TIMEOUT_SECONDS: '5' });
    alice = await addAccount(ts.app, 'alice');
  });
  afterAll(async () => ts?.cleanup());

  it('GW-DOS-4: a connection that does not log in is closed after the login timeout; an idle session after the idle timeout, with BYE', async () => {
    const anon = await ImapTestClient.connect(ts.imapPort);
    const idle = await ImapTestClient.login(ts.imapPort, alice);
    expect(await anon.waitFor(/^\* BYE/, 15_000)).toMatch(/Autologout/);
    expect(await idle.waitFor(/^\* BYE/, 15_000)).toMatch(/Autologout/);
  });

  it('RFC 2177: a session in IDLE is logged out by the same timeout (clients renew IDLE before it)', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    await c.ok('SELECT INBOX');
    c.write('i IDLE\r\n');
    expect(await c.line()).toBe('+ idling');
    expect(await c.waitFor(/^\* BYE/, 15_000)).toMatch(/Autologout/);
  });
});

describe('IMAP with a partition down (GW-EMG-3)', () => {
  let ts: ImapTestServer;
  beforeAll(async () => {
    ts = await startImapServer({ BULWARK_PARTITIONS_P2: 'sqlite:p2.db' });
  });
  afterAll(async () => ts?.cleanup());

  it('an account on an unavailable partition logs in but gets NO [UNAVAILABLE]; accounts elsewhere are served; it recovers when the partition is back', async () => {
    const alice = await addAccount(ts.app, 'alice', { partition: 'main' });
    const dora = await addAccount(ts.app, 'dora', { partition: 'p2' });
    const file = path.join(ts.dataDir, 'p2.db');
    await ts.app.stores.partition('p2').engine?.close();
    const good = fs.readFileSync(file);
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
    fs.writeFileSync(file, 'this is not a database');
    ts.app.stores.partition('p2').markDown(new Error('test'));
    const d = await ImapTestClient.login(ts.imapPort, dora);
    await d.no('SELECT INBOX', 'UNAVAILABLE');
    await d.no('LIST "" "*"', 'UNAVAILABLE');
    const a = await ImapTestClient.login(ts.imapPort, alice);
    await a.ok('SELECT INBOX');
    await append(a, 'INBOX', message({ subject: 'unaffected' }));
    await a.close();
    fs.writeFileSync(file, good);
    let ok = false;
    for (let i = 0; i < 60 && !ok; i++) {
      ok = (await d.cmd('SELECT INBOX')).status === 'OK';
      if (!ok) await new Promise((res) => setTimeout(res, 200));
    }
    expect(ok).toBe(true);
    await d.close();
  });
});
