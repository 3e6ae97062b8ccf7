/**
 * Crash consistency (issue 6 point 1): a real server process under load is killed with
 * SIGKILL at random moments, 20 times a run, and restarted each time; then an independent
 * client checks that everything acknowledged is there exactly once and whole, that nothing
 * unacknowledged is half there or there twice, that the outbound queue still holds every
 * message it accepted, and that the store passes its integrity check. On SQLite and on
 * PostgreSQL.
 *
 * The load, all at once between kills: SMTP deliveries to a local mailbox (acknowledged by the
 * 250 after DATA); submissions to an address whose domain has no DNS (they stay queued;
 * acknowledged by the 250); IMAP APPEND, then for some of the appended messages STORE
 * \Flagged, MOVE to another mailbox or STORE \Deleted + EXPUNGE (each acknowledged by its OK);
 * CalDAV PUTs of new events (acknowledged by the 201). An operation cut off by the kill has an
 * unknown outcome: it may have happened or not, but never half and never twice.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { bulwark } from '../harness/cli.ts';
import { hostPort, quickCheckDataDir, startServerProcess, type ServerProcess } from '../harness/server.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';
import { renderConfig } from '../../src/ops/config/template.ts';
import { generateSecret } from '../../src/ops/init.ts';
import { makeSelfSigned } from '../../src/security/tls.ts';

const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const DOMAIN = 'example.test';
const USER = `alice@${DOMAIN}`;
const PASSWORD = 'crash-test-password-1';
const ENV = { BULWARK_AUTH_REQUIRE_TLS: 'false', BULWARK_LOG_LEVEL: 'error' };

type Outcome = 'acked' | 'maybe';
interface Ledger {
  /** token -> outcome of its SMTP delivery to INBOX */
  delivered: Map<string, Outcome>;
  /** recipient address -> outcome of its submission (stays queued) */
  queued: Map<string, Outcome>;
  /** token -> outcome of its APPEND to Crash, and what was done to it after */
  appended: Map<string, { append: Outcome; flag?: Outcome; move?: Outcome; expunge?: Outcome }>;
  /** uid -> outcome of its PUT */
  events: Map<string, Outcome>;
}

const body = (token: string) => `token ${token}\r\n${`${token} `.repeat(200).trimEnd()}\r\nend ${token}\r\n`;
const tokenOf = (text: string) => /token (\w+)/.exec(text)?.[1] ?? null;
const ics = (uid: string) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//crash//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20260101T000000Z',
  'DTSTART:20260310T090000Z', 'DTEND:20260310T100000Z', `SUMMARY:event ${uid} ${'x'.repeat(300)}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function install(kind: 'sqlite' | 'postgres', dir: string, cleanups: (() => Promise<void>)[]): Promise<void> {
  if (kind === 'sqlite') {
    const r = await bulwark(['--data', dir, 'init', '--domain', DOMAIN]);
    expect(r.code, r.stderr).toBe(0);
  } else {
    const primary = await createTestDatabase('bwcrash');
    cleanups.push(primary.drop);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'bulwark.toml'), renderConfig({
      server: { hostname: `mail.${DOMAIN}`, secret: generateSecret() }, store: { url: primary.url }, partitions: { main: primary.url },
    }));
    await makeSelfSigned(path.join(dir, 'tls/cert.pem'), path.join(dir, 'tls/key.pem'), `mail.${DOMAIN}`);
    const r = await bulwark(['--data', dir, 'domain', 'add', DOMAIN]);
    expect(r.code, r.stderr).toBe(0);
  }
  const a = await bulwark(['--data', dir, 'account', 'add', USER, '--password-stdin', '--quota', '0'], { input: `${PASSWORD}\n` });
  expect(a.code, a.stderr).toBe(0);
}

/** One kind of load, looping until `stop` says so; each operation's outcome goes in the ledger. */
type Loop = (s: ServerProcess, stop: () => boolean, ledger: Ledger) => Promise<void>;

const smtpLoop: Loop = async (s, stop, ledger) => {
  const t = nodemailer.createTransport({ ...hostPort(s.addresses.smtp), secure: false, ignoreTLS: true, pool: false, socketTimeout: 10_000 });
  while (!stop()) {
    const token = `d${crypto.randomBytes(6).toString('hex')}`;
    ledger.delivered.set(token, 'maybe');
    try {
      await t.sendMail({ envelope: { from: `sender@remote.example`, to: [USER] }, raw: `From: sender@remote.example\r\nTo: ${USER}\r\nSubject: ${token}\r\nMessage-ID: <${token}@crash>\r\n\r\n${body(token)}` });
      ledger.delivered.set(token, 'acked');
    } catch { return; }
  }
};

const submitLoop: Loop = async (s, stop, ledger) => {
  // Submission offers AUTH only after STARTTLS (the server's certificate is self-signed here).
  const t = nodemailer.createTransport({ ...hostPort(s.addresses.submission), secure: false, requireTLS: true, tls: { rejectUnauthorized: false },
    auth: { user: USER, pass: PASSWORD }, socketTimeout: 10_000 });
  while (!stop()) {
    const rcpt = `q${crypto.randomBytes(6).toString('hex')}@nowhere.invalid`;
    ledger.queued.set(rcpt, 'maybe');
    try {
      await t.sendMail({ from: USER, to: rcpt, subject: rcpt, text: body(rcpt.slice(0, 13)) });
      ledger.queued.set(rcpt, 'acked');
    } catch (e) { if (process.env.CRASH_DEBUG) console.error('submit', e); return; }
  }
};

const imapLoop: Loop = async (s, stop, ledger) => {
  const c = new ImapFlow({ ...hostPort(s.addresses.imap), secure: false, doSTARTTLS: false, auth: { user: USER, pass: PASSWORD }, logger: false });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.mailboxCreate('Crash').catch(() => {});
    await c.mailboxCreate('Moved').catch(() => {});
    for (let i = 0; !stop(); i++) {
      const token = `a${crypto.randomBytes(6).toString('hex')}`;
      const entry: Ledger['appended'] extends Map<string, infer V> ? V : never = { append: 'maybe' };
      ledger.appended.set(token, entry);
      const r = await c.append('Crash', `From: ${USER}\r\nSubject: ${token}\r\n\r\n${body(token)}`);
      if (!r) break; // imapflow answers false, not an error, when the APPEND fails
      entry.append = 'acked';
      const uid = r && typeof r === 'object' && 'uid' in r ? Number(r.uid) : null;
      if (!uid) continue;
      const lock = await c.getMailboxLock('Crash');
      try {
        const what = i % 4;
        // imapflow answers false (it does not throw) when the command fails or the connection drops.
        if (what === 1) { entry.flag = 'maybe'; if (await c.messageFlagsAdd(String(uid), ['\\Flagged'], { uid: true })) entry.flag = 'acked'; }
        if (what === 2) { entry.move = 'maybe'; if (await c.messageMove(String(uid), 'Moved', { uid: true })) entry.move = 'acked'; }
        if (what === 3) { entry.expunge = 'maybe'; if (await c.messageDelete(String(uid), { uid: true })) entry.expunge = 'acked'; }
        if (!c.usable) break;
      } finally {
        lock.release();
      }
    }
    await c.logout().catch(() => {});
  } catch { /* the server went away */ } finally {
    c.close();
  }
};

const davLoop: Loop = async (s, stop, ledger) => {
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  while (!stop()) {
    const uid = `e${crypto.randomBytes(6).toString('hex')}`;
    ledger.events.set(uid, 'maybe');
    try {
      const r = await fetch(`${s.addresses.http}/dav/calendars/${USER}/calendar/${uid}.ics`, {
        method: 'PUT', headers: { authorization: auth, 'content-type': 'text/calendar', 'if-none-match': '*' }, body: ics(uid), signal: AbortSignal.timeout(10_000),
      });
      if (r.status !== 201) throw new Error(`PUT ${r.status}`);
      ledger.events.set(uid, 'acked');
    } catch { return; }
  }
};

/** What an independent client finds: messages by mailbox (token -> copies, whole?, flagged?), events, queue. */
async function inspect(s: ServerProcess, dir: string) {
  const c = new ImapFlow({ ...hostPort(s.addresses.imap), secure: false, doSTARTTLS: false, auth: { user: USER, pass: PASSWORD }, logger: false });
  await c.connect();
  const boxes: Record<string, Map<string, { copies: number; whole: boolean; flagged: boolean }>> = {};
  for (const box of ['INBOX', 'Crash', 'Moved']) {
    const seen = new Map<string, { copies: number; whole: boolean; flagged: boolean }>();
    const lock = await c.getMailboxLock(box);
    try {
      if ((c.mailbox as { exists: number }).exists > 0) {
        for await (const m of c.fetch('1:*', { source: true, flags: true })) {
          const text = m.source!.toString('utf8');
          const token = tokenOf(text) ?? `(no token: ${text.slice(0, 80)})`;
          const e = seen.get(token) ?? { copies: 0, whole: true, flagged: false };
          e.copies++;
          e.whole &&= text.replace(/\r\n/g, '\n').endsWith(body(token).replace(/\r\n/g, '\n'));
          e.flagged ||= m.flags?.has('\\Flagged') ?? false;
          seen.set(token, e);
        }
      }
    } finally {
      lock.release();
    }
    boxes[box] = seen;
  }
  await c.logout();
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const event = async (uid: string) => {
    const r = await fetch(`${s.addresses.http}/dav/calendars/${USER}/calendar/${uid}.ics`, { headers: { authorization: auth } });
    return r.status === 200 ? (await r.text()) : r.status;
  };
  const q = await bulwark(['--data', dir, 'queue', 'list', '--json']);
  expect(q.code, q.stderr).toBe(0);
  const queued = new Set((JSON.parse(q.stdout) as { recipients: { address: string }[] }[]).flatMap((e) => e.recipients.map((r) => r.address.toLowerCase())));
  return { boxes, event, queued };
}

describe.each(['sqlite', 'postgres'] as const)('crash consistency under SIGKILL: %s', (kind) => {
  const tmp = tempDir('bulwark-crash-');
  const cleanups: (() => Promise<void>)[] = [];
  let server: ServerProcess | null = null;
  afterAll(async () => {
    await server?.stop().catch(() => {});
    for (const c of cleanups) await c().catch(() => {});
    tmp.cleanup();
  });

  it(`${KILLS} kills at random moments lose nothing acknowledged and leave nothing half-done`, async () => {
    const dir = path.join(tmp.dir, 'data');
    await install(kind, dir, cleanups);
    const ledger: Ledger = { delivered: new Map(), queued: new Map(), appended: new Map(), events: new Map() };
    let kills = 0;
    const logs: string[] = [];
    for (let round = 0; round < KILLS; round++) {
      server = await startServerProcess(dir, ENV);
      let stopped = false;
      const loops = [smtpLoop, submitLoop, imapLoop, davLoop, davLoop].map((l) => l(server!, () => stopped, ledger));
      // A random moment: early in some rounds (during connection set-up), late in others.
      await sleep(150 + Math.floor(Math.random() * 1200));
      server.child.kill('SIGKILL');
      kills++;
      await new Promise((r) => server!.child.once('exit', r));
      stopped = true;
      await Promise.allSettled(loops);
      logs.push(server.stderr().slice(-2000));
      server = null;
    }
    expect(kills).toBe(KILLS);

    // After the last kill: a clean start (the store's own checks run at start), then an independent client.
    server = await startServerProcess(dir, ENV);
    const { boxes, event, queued } = await inspect(server, dir);
    const acked = (m: Map<string, Outcome>) => [...m].filter(([, o]) => o === 'acked').map(([k]) => k);
    // enough happened for the test to mean something
    expect(acked(ledger.delivered).length).toBeGreaterThan(KILLS);
    expect([...ledger.appended.values()].filter((e) => e.append === 'acked').length).toBeGreaterThan(KILLS);
    expect(acked(ledger.events).length).toBeGreaterThan(KILLS);
    expect(acked(ledger.queued).length).toBeGreaterThan(KILLS / 2);

    const counts = { delivered: acked(ledger.delivered).length, queued: acked(ledger.queued).length, appended: [...ledger.appended.values()].filter((e) => e.append === 'acked').length,
      moved: [...ledger.appended.values()].filter((e) => e.move === 'acked').length, expunged: [...ledger.appended.values()].filter((e) => e.expunge === 'acked').length,
      events: acked(ledger.events).length, cutOff: [ledger.delivered, ledger.queued, ledger.events].reduce((n, m) => n + [...m.values()].filter((o) => o === 'maybe').length, 0) };
    console.log(`crash ${kind}: ${kills} kills; acknowledged ${JSON.stringify(counts)}`);
    // One acknowledgement of each kind that never happened: the checks must name each of them,
    // which shows they would see a real loss.
    ledger.delivered.set('dghost', 'acked');
    ledger.appended.set('aghost', { append: 'acked' });
    ledger.events.set('eghost', 'acked');
    ledger.queued.set('qghost@nowhere.invalid', 'acked');
    const ghosts = ['delivered dghost acknowledged but missing', 'appended aghost acknowledged but missing', 'event eghost acknowledged but GET is 404',
      'submission to qghost@nowhere.invalid acknowledged but not in the queue'];
    const problems: string[] = [];
    for (const [token, o] of ledger.delivered) {
      const e = boxes.INBOX.get(token);
      if (o === 'acked' && !e) problems.push(`delivered ${token} acknowledged but missing`);
      if (e && e.copies !== 1) problems.push(`delivered ${token} ${e.copies} times`);
      if (e && !e.whole) problems.push(`delivered ${token} not whole`);
    }
    for (const [token, e] of ledger.appended) {
      const inCrash = boxes.Crash.get(token);
      const inMoved = boxes.Moved.get(token);
      const copies = (inCrash?.copies ?? 0) + (inMoved?.copies ?? 0);
      if (copies > 1) problems.push(`appended ${token} ${copies} times`);
      if ((inCrash && !inCrash.whole) || (inMoved && !inMoved.whole)) problems.push(`appended ${token} not whole`);
      if (e.expunge === 'acked') { if (copies) problems.push(`appended ${token} expunged (acknowledged) but still there`); continue; }
      if (e.append === 'acked' && e.expunge === undefined && copies !== 1) problems.push(`appended ${token} acknowledged but missing`);
      if (e.move === 'acked' && (!inMoved || inCrash)) problems.push(`appended ${token} moved (acknowledged) but not only in Moved`);
      if (e.flag === 'acked' && !(inCrash?.flagged || inMoved?.flagged)) problems.push(`appended ${token} flagged (acknowledged) but not flagged`);
    }
    for (const key of boxes.INBOX.keys()) if (!ledger.delivered.has(key)) problems.push(`INBOX holds a message nobody sent: ${key}`);
    for (const [uid, o] of ledger.events) {
      const got = await event(uid);
      if (o === 'acked' && typeof got !== 'string') problems.push(`event ${uid} acknowledged but GET is ${got}`);
      if (typeof got === 'string' && got.replace(/\r\n/g, '\n') !== ics(uid).replace(/\r\n/g, '\n')) problems.push(`event ${uid} not whole`);
    }
    for (const [rcpt, o] of ledger.queued) if (o === 'acked' && !queued.has(rcpt)) problems.push(`submission to ${rcpt} acknowledged but not in the queue`);
    expect(problems.filter((p) => !ghosts.includes(p)), logs.join('\n---\n').slice(-4000)).toEqual([]);
    expect(problems.filter((p) => ghosts.includes(p)).sort()).toEqual([...ghosts].sort());

    // The store's integrity check, with the server stopped.
    expect(await server.stop()).toBe(0);
    server = null;
    if (kind === 'sqlite') await quickCheckDataDir(dir);
  }, 600_000);
});
