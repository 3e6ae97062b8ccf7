/**
 * Disk full (issue 6 point 2): a server whose data directory is a small tmpfs, filled to the
 * last byte while it runs. Deliveries, appends and PUTs then fail with temporary errors (SMTP
 * 452 4.3.1, IMAP NO [OVERQUOTA], CalDAV 507), never a permanent refusal and never a crash;
 * what was stored before stays whole; and when space returns the same process serves again
 * without a restart. Small messages (stored in the database) and large ones (blob files) both.
 *
 * Mounting a tmpfs needs root, which the test machines and CI have; without it this test fails
 * (it is never skipped).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { bulwark } from '../harness/cli.ts';
import { hostPort, quickCheckDataDir, startServerProcess, type ServerProcess } from '../harness/server.ts';
import { tempDir } from '../harness/tmp.ts';

const DOMAIN = 'example.test';
const USER = `alice@${DOMAIN}`;
const PASSWORD = 'disk-full-password-1';
const ENV = { BULWARK_AUTH_REQUIRE_TLS: 'false', BULWARK_LOG_LEVEL: 'error' };
const message = (token: string, kb: number) => `From: sender@remote.example\r\nTo: ${USER}\r\nSubject: ${token}\r\nMessage-ID: <${token}@full>\r\n\r\ntoken ${token}\r\n${'x'.repeat(76).concat('\r\n').repeat(Math.ceil((kb * 1024) / 78))}end ${token}\r\n`;
const ics = (uid: string) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//full//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20260101T000000Z',
  'DTSTART:20260310T090000Z', 'DTEND:20260310T100000Z', `SUMMARY:${uid} ${'y'.repeat(2000)}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');

/** Writes a file until the file system is full; returns its path. */
function fill(dir: string): string {
  const f = path.join(dir, 'filler');
  const fd = fs.openSync(f, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  // the last bytes too, in small pieces
  const small = Buffer.alloc(512, 1);
  try {
    for (;;) fs.writeSync(fd, small);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
  return f;
}

describe('disk full (tmpfs as the data directory)', () => {
  const tmp = tempDir('bulwark-full-');
  const mnt = path.join(tmp.dir, 'mnt');
  let mounted = false;
  let server: ServerProcess | null = null;
  afterAll(async () => {
    await server?.stop().catch(() => {});
    if (mounted) execFileSync('umount', [mnt]);
    tmp.cleanup();
  });

  it('refuses with temporary errors while full, keeps what it had, and serves again when space returns', async () => {
    expect(process.getuid?.(), 'mounting a tmpfs needs root').toBe(0);
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mnt]);
    mounted = true;
    const dir = path.join(mnt, 'data');
    expect((await bulwark(['--data', dir, 'init', '--domain', DOMAIN])).code).toBe(0);
    expect((await bulwark(['--data', dir, 'account', 'add', USER, '--password-stdin', '--quota', '0'], { input: `${PASSWORD}\n` })).code).toBe(0);
    server = await startServerProcess(dir, ENV);
    const s = server;
    const smtp = nodemailer.createTransport({ ...hostPort(s.addresses.smtp), secure: false, ignoreTLS: true });
    const deliver = async (token: string, kb: number) => {
      try {
        await smtp.sendMail({ envelope: { from: 'sender@remote.example', to: [USER] }, raw: message(token, kb) });
        return 250;
      } catch (e) {
        return (e as { responseCode?: number; response?: string }).response ?? String(e);
      }
    };
    const imap = new ImapFlow({ ...hostPort(s.addresses.imap), secure: false, doSTARTTLS: false, auth: { user: USER, pass: PASSWORD }, logger: false });
    imap.on('error', () => {});
    await imap.connect();
    const put = (uid: string) => fetch(`${s.addresses.http}/dav/calendars/${USER}/calendar/${uid}.ics`, {
      method: 'PUT', headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`, 'content-type': 'text/calendar' }, body: ics(uid),
    });

    // Before: some of everything, kept for the end.
    const before = ['b1', 'b2'];
    for (const t of before) expect(await deliver(t, t === 'b1' ? 2 : 400)).toBe(250);
    expect((await put('before')).status).toBe(201);

    // Full. SQLite may still have room in pages it holds, so keep going until each path refuses;
    // every answer is a success or the temporary refusal, never anything else.
    const filler = fill(mnt);
    const smtpRefusals: string[] = [];
    for (const kb of [2, 300]) { // the database path (inline bodies) and the blob files
      let refused = 0;
      for (let i = 0; i < 40 && refused < 2; i++) {
        const r = await deliver(`f${kb}-${i}`, kb);
        if (r !== 250) { smtpRefusals.push(String(r)); refused++; }
      }
      expect(refused, `${kb} KiB deliveries refused`).toBeGreaterThan(0);
    }
    for (const r of smtpRefusals) expect(r).toMatch(/^452 4\.3\.1 /);

    const imapRefusals: string[] = [];
    for (let i = 0; i < 40 && imapRefusals.length < 2; i++) {
      try {
        const ok = await imap.append('INBOX', message(`i${i}`, i % 2 ? 300 : 2));
        if (!ok) imapRefusals.push('false');
      } catch (e) {
        imapRefusals.push(String((e as { responseText?: string; serverResponseCode?: string }).serverResponseCode ?? e));
      }
    }
    expect(imapRefusals.length).toBeGreaterThan(0);
    for (const r of imapRefusals) expect(r, s.stdout().slice(-3000)).toBe('OVERQUOTA');

    const davStatuses: number[] = [];
    for (let i = 0; i < 40 && !davStatuses.includes(507); i++) davStatuses.push((await put(`full-${i}`)).status);
    expect(davStatuses.filter((st) => st !== 201 && st !== 507), s.stdout().slice(-3000)).toEqual([]);
    expect(davStatuses).toContain(507);

    // The process is alive and reads still work while full.
    expect((await fetch(`${s.addresses.http}/healthz`)).status).toBe(200);
    const lock = await imap.getMailboxLock('INBOX');
    const before1 = await imap.fetchOne('1', { source: true });
    lock.release();
    expect(before1 && before1.source?.toString()).toContain('token b1');

    // Space returns: the same process serves again, with no restart.
    fs.rmSync(filler);
    expect(await deliver('after', 300)).toBe(250);
    expect(await deliver('after-small', 2)).toBe(250);
    expect(await imap.append('INBOX', message('after-append', 2))).toBeTruthy();
    expect((await put('after')).status).toBe(201);

    // Everything acknowledged is there and whole; nothing refused is there at all.
    const found = new Map<string, string>();
    const l2 = await imap.getMailboxLock('INBOX');
    for await (const m of imap.fetch('1:*', { source: true })) {
      const text = m.source!.toString('utf8');
      const token = /token (\S+)/.exec(text)?.[1] ?? '?';
      expect(found.has(token), `${token} twice`).toBe(false);
      found.set(token, text);
      expect(text, `${token} whole`).toMatch(new RegExp(`end ${token}\\r\\n$`));
    }
    l2.release();
    for (const t of [...before, 'after', 'after-small', 'after-append']) expect(found.has(t), t).toBe(true);
    await imap.logout();
    const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
    expect(await (await fetch(`${s.addresses.http}/dav/calendars/${USER}/calendar/before.ics`, { headers: auth })).text()).toBe(ics('before'));

    // The databases pass their check after a clean stop.
    expect(await s.stop()).toBe(0);
    server = null;
    await quickCheckDataDir(dir);
  }, 180_000);
});
