/**
 * Issue 4 point 6: interop with Debian's isync (mbsync), the two-way synchroniser between an
 * IMAP server and local Maildirs. It relies on things a casual client never checks: UIDs and
 * UIDVALIDITY that stay put, UIDPLUS (APPENDUID) for what it uploads, flags that round-trip
 * exactly, EXPUNGE, CREATE, STARTTLS with a pinned certificate, and COMPRESS=DEFLATE. The
 * flow is one account, and the tests run in order, each building on the last: sync down,
 * change and move locally, sync up, sync again (nothing left to do, on either side),
 * server-side changes down, a local folder up, a local deletion, and a second mirror over
 * implicit TLS.
 *
 * mbsync runs as a child process (asynchronously: the server runs in this process) with a
 * bounded time and its network trace (-Dn) in every failure message.
 */
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMAIN, ImapTestClient, PASSWORD, addAccount, deliver, message, startImapServer, type ImapTestServer } from '../protocols/imap/harness.ts';
import { tempDir } from '../harness/tmp.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

const MBSYNC = '/usr/bin/mbsync';

/** isync 1.5 renamed SSLType to TLSType; Debian bookworm ships 1.4. */
function tlsTypeKeyword(): string {
  const v = /isync (\d+)\.(\d+)/.exec(execFileSync(MBSYNC, ['--version'], { encoding: 'utf8' }));
  return v && (Number(v[1]) > 1 || Number(v[2]) >= 5) ? 'TLSType' : 'SSLType';
}

interface Run {
  code: number;
  out: string;
  /** Commands mbsync sent (from the -Dn trace), without tags. */
  commands: string[];
}

/** A Maildir message file: its folder, name and flags (the letters after ":2,"). */
interface MaildirFile {
  box: string;
  sub: 'cur' | 'new';
  name: string;
  file: string;
  flags: string;
  data: Buffer;
}

describe('mbsync (isync) against Bulwark (issue 4 point 6)', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let tmp: { dir: string; cleanup: () => void };
  let mail: string;
  let rc: string;

  function mbsync(): Promise<Run> {
    return new Promise((resolve) => {
      execFile(MBSYNC, ['-c', rc, '-Dn', '-a'], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HOME: tmp.dir } }, (err, stdout, stderr) => {
        const out = `${stdout}\n${stderr}`;
        const commands = [...stdout.matchAll(/^(?:\(\d+ in progress\) )?>>> \d+ (.*)$/gm)].map((m) => m[1]);
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out, commands });
      });
    });
  }

  /** Runs mbsync and fails with its trace unless it exits 0 without complaints. */
  async function sync(): Promise<Run> {
    const r = await mbsync();
    const why = `mbsync exited ${r.code}:\n${r.out.split('\n').slice(-80).join('\n')}`;
    expect(r.code, why).toBe(0);
    expect(r.out, why).not.toMatch(/error|unexpected|warning/i);
    return r;
  }

  /** Every message file of the local Maildirs (under root). */
  function maildir(root = mail): MaildirFile[] {
    const out: MaildirFile[] = [];
    const walk = (dir: string, box: string) => {
      for (const sub of ['cur', 'new'] as const) {
        const d = path.join(dir, sub);
        if (!fs.existsSync(d)) continue;
        for (const name of fs.readdirSync(d).sort()) {
          const file = path.join(d, name);
          out.push({ box, sub, name, file, flags: /:2,([A-Z]*)$/.exec(name)?.[1] ?? '', data: fs.readFileSync(file) });
        }
      }
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory() && !['cur', 'new', 'tmp'].includes(e.name)) walk(path.join(dir, e.name), box ? `${box}/${e.name}` : e.name);
      }
    };
    walk(root, '');
    return out;
  }

  /** A snapshot of the Maildirs (names and contents) and of the server's account state. */
  async function snapshot() {
    return {
      files: maildir().map((f) => `${f.box}/${f.sub}/${f.name} ${f.data.length}`),
      modseq: Number((await ts.app.mail.state(alice)).modseq),
      boxes: (await ts.app.mail.listMailboxes(alice)).map((b) => b.name).sort(),
    };
  }

  async function stored(mailbox: string) {
    const rows = await ts.app.mail.listMessages(alice, mailbox);
    return Promise.all(rows.map(async (r) => ({ uid: Number(r.uid), flags: [...r.flags].sort(), raw: await ts.app.mail.readMessage(alice, Number(r.id)) })));
  }

  /**
   * A message for comparison: Maildir keeps LF line ends (mbsync converts), the server CRLF;
   * and mbsync adds an "X-TUID:" header to every message it propagates, in either direction
   * (its own marker for finding a stored message again), which is no change of ours.
   */
  const lf = (b: Buffer) => b.toString('latin1').replace(/\r\n/g, '\n').replace(/^X-TUID: [^\n]*\n/m, '');
  const subjectOf = (b: Buffer) => /^Subject: (.*)$/m.exec(b.toString())?.[1].trim();

  /** Renames a Maildir file to cur/ with new flags, as a mail reader does. */
  function setFlags(f: MaildirFile, flags: string, toBox = f.box): string {
    let base = f.name.replace(/:2,[A-Z]*$/, '');
    // In another folder the file must not keep its UID (mbsync's native UID scheme, ",U=n").
    if (toBox !== f.box) base = base.replace(/,U=\d+/, '');
    const to = path.join(mail, toBox, 'cur', `${base}:2,${[...flags].sort().join('')}`);
    fs.renameSync(f.file, to);
    return to;
  }

  beforeAll(async () => {
    tmp = tempDir('bulwark-mbsync-');
    mail = path.join(tmp.dir, 'Mail');
    fs.mkdirSync(mail);
    ts = await startImapServer({ BULWARK_AUTH_REQUIRE_TLS: 'true' });
    alice = await addAccount(ts.app, 'alice');
    // The certificate init made names 127.0.0.1 (src/security/tls.ts), and mbsync trusts a
    // certificate given as CertificateFile as it is ("Host" certificate): no system CAs.
    const cert = path.join(ts.dataDir, 'tls', 'cert.pem');
    expect(fs.existsSync(cert)).toBe(true);
    rc = path.join(tmp.dir, 'mbsyncrc');
    fs.writeFileSync(rc, [
      'IMAPAccount bulwark',
      'Host 127.0.0.1',
      `Port ${ts.imapPort}`,
      `User ${alice.address}`,
      `Pass ${PASSWORD}`,
      `${tlsTypeKeyword()} STARTTLS`,
      'SystemCertificates no',
      `CertificateFile ${cert}`,
      '',
      'IMAPStore remote',
      'Account bulwark',
      '',
      'MaildirStore local',
      `Path ${mail}/`,
      `Inbox ${mail}/INBOX`,
      'SubFolders Verbatim',
      '',
      'Channel bulwark',
      'Far :remote:',
      'Near :local:',
      'Patterns *',
      'Create Both',
      'Expunge Both',
      'SyncState *',
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await ts?.cleanup();
    tmp?.cleanup();
  });

  it('issue 4 point 6: mbsync syncs every mailbox down over STARTTLS; the Maildir files are the stored messages', async () => {
    for (let i = 1; i <= 4; i++) await deliver(ts, alice.address, message({ subject: `down ${i}`, body: `Message number ${i}.` }));
    await ts.app.mail.appendMessage(alice, 'Archive', Buffer.from(message({ subject: 'archived, seen' })), { flags: ['\\Seen', '\\Flagged'] });
    // A large one too (through COMPRESS and mbsync's pipelined FETCHes).
    const big = Buffer.from(message({ subject: 'big', body: crypto.randomBytes(57 * 25_000).toString('base64').replace(/.{76}/g, '$&\r\n') }));
    await ts.app.mail.appendMessage(alice, 'Sent', big, { flags: ['\\Seen'] });
    const r = await sync();
    expect(r.out).toMatch(/STARTTLS/);
    const files = maildir();
    expect([...new Set(files.map((f) => f.box))].sort()).toEqual(['Archive', 'INBOX', 'Sent']);
    const [sent] = files.filter((f) => f.box === 'Sent');
    expect(sent.flags).toBe('S');
    expect(lf(sent.data)).toBe(lf(big));
    expect(fs.readdirSync(mail).sort()).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
    const inbox = await stored('INBOX');
    const local = files.filter((f) => f.box === 'INBOX');
    expect(local).toHaveLength(4);
    // Same messages, byte for byte (up to the line ends), each under its server UID.
    for (const m of inbox) {
      const f = local.find((x) => x.name.includes(`,U=${m.uid}`));
      expect(f, `no local file for UID ${m.uid}`).toBeTruthy();
      expect(lf(f!.data)).toBe(lf(m.raw));
      expect(f!.flags).toBe('');
    }
    const [arch] = files.filter((f) => f.box === 'Archive');
    expect(arch.flags).toBe('FS');
    expect(lf(arch.data)).toBe(lf((await stored('Archive'))[0].raw));
  });

  it('issue 4 point 6: mbsync pushes local flag changes and a move to another folder up; the server has them', async () => {
    const before = maildir().filter((f) => f.box === 'INBOX');
    const bySubject = (s: string) => before.find((f) => subjectOf(f.data) === s)!;
    setFlags(bySubject('down 1'), 'SF');
    setFlags(bySubject('down 2'), 'R');
    const movedName = setFlags(bySubject('down 3'), 'S', 'Archive');
    const movedBytes = fs.readFileSync(movedName);
    const r = await sync();
    expect(r.commands.some((c) => /^UID STORE .*\+FLAGS/.test(c))).toBe(true);
    expect(r.commands.some((c) => /^APPEND "?Archive"?/.test(c))).toBe(true);
    const inbox = await stored('INBOX');
    expect(inbox.map((m) => [subjectOf(m.raw), m.flags])).toEqual([
      ['down 1', ['\\Flagged', '\\Seen']],
      ['down 2', ['\\Answered']],
      ['down 4', []],
    ]);
    const archive = await stored('Archive');
    expect(archive.map((m) => [subjectOf(m.raw), m.flags])).toEqual([
      ['archived, seen', ['\\Flagged', '\\Seen']],
      ['down 3', ['\\Seen']],
    ]);
    // Uploaded as the local file was, with CRLF line ends on the server.
    expect(lf(archive[1].raw)).toBe(lf(movedBytes));
    expect(archive[1].raw.includes('\r\n')).toBe(true);
    // The uploaded message got its server UID locally (APPENDUID), so it is not uploaded again.
    const movedLocal = maildir().find((f) => f.box === 'Archive' && subjectOf(f.data) === 'down 3')!;
    expect(movedLocal.name).toContain(`,U=${archive[1].uid}`);
  });

  it('issue 4 point 6: mbsync syncs down, up, and then finds nothing left to do (no changing command, no change on either side)', async () => {
    const before = await snapshot();
    const r = await sync();
    const changing = r.commands.filter((c) => /^(UID )?(STORE|APPEND|EXPUNGE|MOVE|COPY|CREATE|DELETE)|BODY(\.PEEK)?\[/.test(c));
    expect(changing, r.out.split('\n').slice(-60).join('\n')).toEqual([]);
    expect(await snapshot()).toEqual(before);
    // And a third time, for good measure: still a fixed point.
    await sync();
    expect(await snapshot()).toEqual(before);
  });

  it('issue 4 point 6: changes made on the server (new mail, flags over IMAP, an expunge) come down with the next sync', async () => {
    await deliver(ts, alice.address, message({ subject: 'down 5' }));
    const inbox = await stored('INBOX');
    const four = inbox.find((m) => subjectOf(m.raw) === 'down 4')!;
    const two = inbox.find((m) => subjectOf(m.raw) === 'down 2')!;
    const c = await ImapTestClient.login(ts.imapsPort, alice, { tls: true });
    await c.ok('SELECT INBOX');
    await c.ok(`UID STORE ${four.uid} +FLAGS (\\Flagged $Work)`);
    await c.ok(`UID STORE ${two.uid} +FLAGS (\\Deleted)`);
    await c.ok('EXPUNGE');
    await c.ok('LOGOUT');
    await sync();
    const local = maildir().filter((f) => f.box === 'INBOX');
    expect(local.map((f) => [subjectOf(f.data), f.flags]).sort()).toEqual([['down 1', 'FS'], ['down 4', 'F'], ['down 5', '']]);
    const five = (await stored('INBOX')).find((m) => subjectOf(m.raw) === 'down 5')!;
    expect(lf(local.find((f) => subjectOf(f.data) === 'down 5')!.data)).toBe(lf(five.raw));
    // Keywords have no Maildir letter: mbsync leaves them on the server alone.
    expect((await stored('INBOX')).find((m) => m.uid === four.uid)!.flags).toEqual(['$Work', '\\Flagged']);
    const again = await snapshot();
    await sync();
    expect(await snapshot()).toEqual(again);
  });

  it('issue 4 point 6: a folder made locally is created on the server with its messages (Create Both)', async () => {
    const dir = path.join(mail, 'Projects', 'Bulwark');
    for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const text = `From: alice@${DOMAIN}\nTo: bob@${DOMAIN}\nSubject: local note\nDate: Tue, 1 Dec 2026 10:00:00 +0100\n\nWritten offline.\n`;
    fs.writeFileSync(path.join(dir, 'cur', '1700000000.1_1.localhost:2,DS'), text);
    const r = await sync();
    expect(r.commands.some((c) => /^CREATE "?Projects\/Bulwark"?/.test(c))).toBe(true);
    expect((await ts.app.mail.listMailboxes(alice)).map((b) => b.name)).toEqual(expect.arrayContaining(['Projects', 'Projects/Bulwark']));
    const [m] = await stored('Projects/Bulwark');
    expect(m.raw.includes('\r\n')).toBe(true);
    expect(lf(m.raw)).toBe(text);
    expect(m.flags).toEqual(['\\Draft', '\\Seen']);
    const again = await snapshot();
    await sync();
    expect(await snapshot()).toEqual(again);
  });

  it('issue 4 point 6: a message deleted locally (T flag, then expunge) disappears on the server', async () => {
    const victim = maildir().find((f) => f.box === 'INBOX' && subjectOf(f.data) === 'down 1')!;
    const uid = Number(/,U=(\d+)/.exec(victim.name)![1]);
    setFlags(victim, 'FST');
    const r = await sync();
    expect(r.commands.some((c) => /^UID STORE .*\\Deleted/.test(c))).toBe(true);
    // mbsync expunges with UID EXPUNGE (UIDPLUS) or by CLOSE.
    expect(r.commands.some((c) => /EXPUNGE|^CLOSE/.test(c))).toBe(true);
    expect(fs.existsSync(victim.file)).toBe(false);
    expect(maildir().some((f) => subjectOf(f.data) === 'down 1')).toBe(false);
    const inbox = await stored('INBOX');
    expect(inbox.map((m) => m.uid)).not.toContain(uid);
    expect(inbox.map((m) => subjectOf(m.raw)).sort()).toEqual(['down 4', 'down 5']);
    const again = await snapshot();
    await sync();
    expect(await snapshot()).toEqual(again);
  });
  it('issue 4 point 6: mbsync over implicit TLS (IMAPS) mirrors the same account into a second Maildir, message for message', async () => {
    const mirror = path.join(tmp.dir, 'Mirror');
    fs.mkdirSync(mirror);
    const rc2 = path.join(tmp.dir, 'mbsyncrc-imaps');
    fs.writeFileSync(rc2, fs.readFileSync(rc, 'utf8')
      .replace(`Port ${ts.imapPort}`, `Port ${ts.imapsPort}`)
      .replace(/(SSLType|TLSType) STARTTLS/, '$1 IMAPS')
      .replaceAll(`${mail}/`, `${mirror}/`));
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(MBSYNC, ['-c', rc2, '-a'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HOME: tmp.dir } }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: `${stdout}\n${stderr}` }));
    });
    expect(r.code, r.out).toBe(0);
    const key = (root: string) => maildir(root).map((f) => `${f.box} ${f.flags} ${lf(f.data)}`).sort();
    expect(key(mirror)).toEqual(key(mail));
  });
});
