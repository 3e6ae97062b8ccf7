/**
 * Issue 4 point 6: interop with Python's imaplib (the standard library's IMAP4rev1 client, as
 * scripts, cron jobs and many tools use it). Each test writes a small Python script, runs it
 * with python3 and reads one JSON object from its stdout; the script's protocol trace
 * (imaplib's debug output on stderr) goes into the failure message. The server requires TLS
 * before login, so every script uses IMAP4.starttls() or IMAP4_SSL, with a context that does
 * not verify the self-signed certificate.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMAIN, PASSWORD, addAccount, deliver, startImapServer, type ImapTestServer } from '../protocols/imap/harness.ts';
import { tempDir } from '../harness/tmp.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

const PRELUDE = String.raw`
import base64, imaplib, json, os, ssl, sys, time

HOST = '127.0.0.1'
PORT = int(os.environ['IMAP_PORT'])
SPORT = int(os.environ['IMAPS_PORT'])
USER = os.environ['IMAP_USER']
PASS = os.environ['IMAP_PASS']
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def starttls(login=True):
    M = imaplib.IMAP4(HOST, PORT, timeout=20)
    M.debug = 4  # the protocol trace, on stderr
    M.starttls(ssl_context=ctx)
    if login:
        M.login(USER, PASS)
    return M

def implicit(login=True):
    M = imaplib.IMAP4_SSL(HOST, SPORT, ssl_context=ctx, timeout=20)
    M.debug = 4
    if login:
        M.login(USER, PASS)
    return M

def t(x):
    """bytes (also inside lists and tuples) as text, for JSON."""
    if isinstance(x, bytes):
        return x.decode('utf-8', 'replace')
    if isinstance(x, (list, tuple)):
        return [t(y) for y in x]
    return x

def b64(x):
    return base64.b64encode(x).decode('ascii')

def ok(r):
    typ, data = r
    if typ != 'OK':
        raise Exception('not OK: %r %r' % (typ, data))
    return data

out = {}
`;

describe("Python's imaplib against Bulwark (issue 4 point 6)", () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let bob: AccountInfo;
  let tmp: { dir: string; cleanup: () => void };
  let n = 0;

  /** Runs a script (after PRELUDE) and returns the JSON it printed last. */
  function py(script: string, user: AccountInfo = alice): Promise<Record<string, any>> {
    const file = path.join(tmp.dir, `s${++n}.py`);
    fs.writeFileSync(file, `${PRELUDE}\n${script}\nprint(json.dumps(out))\n`);
    const env = { ...process.env, IMAP_PORT: String(ts.imapPort), IMAPS_PORT: String(ts.imapsPort), IMAP_USER: user.address, IMAP_PASS: PASSWORD, PYTHONIOENCODING: 'utf-8' };
    return new Promise((resolve, reject) => {
      execFile('python3', [file], { env, timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        const trace = stderr.split('\n').slice(-60).join('\n');
        if (err) return reject(new Error(`python3 failed (${err.code ?? err.signal}):\n${trace}`));
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop()!));
        } catch {
          reject(new Error(`no JSON on stdout: ${stdout.slice(-500)}\n${trace}`));
        }
      });
    });
  }

  async function stored(account: AccountInfo, mailbox: string) {
    const rows = await ts.app.mail.listMessages(account, mailbox);
    return Promise.all(rows.map(async (r) => ({ uid: Number(r.uid), flags: [...r.flags].sort(), internalDate: Number(r.internal_date), raw: await ts.app.mail.readMessage(account, Number(r.id)) })));
  }

  beforeAll(async () => {
    tmp = tempDir('bulwark-imaplib-');
    ts = await startImapServer({ BULWARK_AUTH_REQUIRE_TLS: 'true' });
    alice = await addAccount(ts.app, 'alice', { quota: 20 * 1024 * 1024 });
    bob = await addAccount(ts.app, 'bob');
  });
  afterAll(async () => {
    await ts?.cleanup();
    tmp?.cleanup();
  });

  it('issue 4 point 6: imaplib logs in after starttls() and over IMAP4_SSL; NAMESPACE, LIST and LOGOUT parse', async () => {
    const r = await py(String.raw`
M = imaplib.IMAP4(HOST, PORT, timeout=20)
M.debug = 4
out['before'] = sorted(M.capabilities)
try:
    M.login(USER, PASS)
    out['clear_login'] = 'accepted'
except imaplib.IMAP4.error as e:
    out['clear_login'] = str(e)
M.starttls(ssl_context=ctx)
out['after'] = sorted(M.capabilities)
out['login'] = t(ok(M.login(USER, PASS)))
out['state'] = M.state
out['namespace'] = t(ok(M.namespace()))
out['list'] = t(ok(M.list()))
# imaplib quotes nothing: the empty reference must be given as '""' (its default).
out['list_pattern'] = t(ok(M.list('""', 'Tr*')))
out['logout'] = M.logout()[0]
S = implicit()
out['ssl_state'] = S.state
out['ssl_version'] = S.sock.version()
out['ssl_select'] = t(ok(S.select('INBOX', readonly=True)))
out['ssl_logout'] = S.logout()[0]
`);
    expect(r.before).toEqual(expect.arrayContaining(['IMAP4REV1', 'STARTTLS', 'LOGINDISABLED']));
    expect(r.clear_login).toMatch(/PRIVACYREQUIRED|LOGINDISABLED/);
    expect(r.after).toEqual(expect.arrayContaining(['IMAP4REV1', 'AUTH=PLAIN']));
    expect(r.after).not.toContain('STARTTLS');
    expect(r.login[0]).toMatch(/Logged in/);
    expect(r.state).toBe('AUTH');
    expect(r.namespace).toEqual(['(("" "/")) (("Shared/" "/")) NIL']);
    expect(r.list).toEqual([
      '(\\HasNoChildren) "/" "INBOX"',
      '(\\HasNoChildren \\Drafts) "/" "Drafts"',
      '(\\HasNoChildren \\Sent) "/" "Sent"',
      '(\\HasNoChildren \\Junk) "/" "Junk"',
      '(\\HasNoChildren \\Trash) "/" "Trash"',
      '(\\HasNoChildren \\Archive) "/" "Archive"',
    ]);
    expect(r.list_pattern).toEqual(['(\\HasNoChildren \\Trash) "/" "Trash"']);
    expect(r.logout).toBe('BYE');
    expect(r.ssl_state).toBe('AUTH');
    expect(r.ssl_version).toMatch(/^TLSv1\.[23]$/);
    expect(r.ssl_select).toEqual([expect.stringMatching(/^\d+$/)]);
    expect(r.ssl_logout).toBe('BYE');
  });

  it('issue 4 point 6: imaplib APPENDs with flags and a date; STATUS, SELECT and FETCH of RFC822, BODY[], BODYSTRUCTURE and ENVELOPE match what is stored', async () => {
    const msg = [
      'From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.net>',
      `To: Alice <alice@${DOMAIN}>`,
      'Subject: Python append',
      'Date: Wed, 2 Dec 2026 09:30:00 +0100',
      'Message-ID: <py-append-1@example.net>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Grüße',
      '--b1',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Grüße</p>',
      '--b1--',
      '',
    ].join('\r\n');
    fs.writeFileSync(path.join(tmp.dir, 'append.eml'), msg);
    const r = await py(String.raw`
M = starttls()
out['create'] = t(ok(M.create('Python')))
raw = open(os.path.join(os.path.dirname(__file__), 'append.eml'), 'rb').read()
date = imaplib.Time2Internaldate(time.mktime(time.strptime('2026-11-20 08:15:30', '%Y-%m-%d %H:%M:%S')) - time.timezone)
out['date'] = date
out['append'] = t(ok(M.append('Python', r'(\Flagged $Label1)', date, raw)))
out['status'] = t(ok(M.status('Python', '(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)')))
out['select'] = t(ok(M.select('Python')))
out['uidvalidity'] = t(M.response('UIDVALIDITY')[1])
typ, data = M.fetch('1', '(RFC822)')
out['rfc822_head'] = t(data[0][0])
out['rfc822'] = b64(data[0][1])
typ, data = M.fetch('1', '(BODY.PEEK[] FLAGS)')
out['body'] = b64(data[0][1])
out['body_head'] = t(data[0][0]) + t(data[1])
typ, data = M.fetch('1', '(BODYSTRUCTURE ENVELOPE INTERNALDATE RFC822.SIZE UID)')
out['meta'] = t(data)
out['internaldate'] = time.mktime(imaplib.Internaldate2tuple(data[0])) - time.timezone
typ, data = M.fetch('1', '(BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])')
out['part1'] = t([d for d in data if isinstance(d, tuple)])
M.close()
M.logout()
`);
    const [row] = await stored(alice, 'Python');
    expect(row.raw.toString()).toBe(msg);
    // RFC822 (not PEEK) set \Seen, in the store too.
    expect(row.flags).toEqual(['$Label1', '\\Flagged', '\\Seen']);
    expect(row.internalDate).toBe(Date.UTC(2026, 10, 20, 8, 15, 30));
    expect(r.date).toBe('"20-Nov-2026 08:15:30 +0000"');
    expect(r.append[0]).toMatch(new RegExp(`^\\[APPENDUID \\d+ ${row.uid}\\] APPEND completed`));
    expect(r.status).toEqual([expect.stringMatching(new RegExp(`^"Python" \\(MESSAGES 1 UNSEEN 1 UIDNEXT ${row.uid + 1} UIDVALIDITY \\d+\\)$`))]);
    expect(r.select).toEqual(['1']);
    expect(r.rfc822_head).toBe(`1 (RFC822 {${Buffer.byteLength(msg)}}`);
    expect(Buffer.from(r.rfc822, 'base64').equals(row.raw)).toBe(true);
    expect(Buffer.from(r.body, 'base64').equals(row.raw)).toBe(true);
    expect(r.body_head).toMatch(/FLAGS \(.*\\Seen.*\)/);
    const meta = r.meta.join('');
    expect(meta).toContain(`UID ${row.uid}`);
    expect(meta).toContain(`RFC822.SIZE ${Buffer.byteLength(msg)}`);
    expect(meta).toContain('INTERNALDATE "20-Nov-2026 08:15:30 +0000"');
    expect(meta).toContain('ENVELOPE ("Wed, 2 Dec 2026 09:30:00 +0100" "Python append" (("=?UTF-8?Q?J=C3=B6rg?=" NIL "joerg" "example.net"))');
    expect(meta).toContain('"<py-append-1@example.net>")');
    expect(meta).toMatch(/BODYSTRUCTURE \(\("TEXT" "PLAIN" \("CHARSET" "utf-8"\) NIL NIL "8BIT" 7 1 NIL NIL NIL NIL\)\("TEXT" "HTML" \("CHARSET" "utf-8"\) NIL NIL "7BIT" 14 1 NIL NIL NIL NIL\) "ALTERNATIVE" \("BOUNDARY" "b1"\) NIL NIL NIL\)/i);
    expect(r.internaldate).toBe(Date.UTC(2026, 10, 20, 8, 15, 30) / 1000);
    const fields = 'From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.net>\r\nSubject: Python append\r\n\r\n';
    expect(r.part1).toEqual([
      ['1 (BODY[1] {7}', 'Grüße'],
      [` BODY[HEADER.FIELDS (SUBJECT FROM)] {${fields.length}}`, fields],
    ]);
  });

  it('issue 4 point 6: imaplib SEARCH with CHARSET UTF-8 and a non-ASCII literal, and ASCII searches, by sequence number and UID', async () => {
    const mails = [
      { subject: 'Grüße aus Köln', body: 'Viele Grüße' },
      { subject: 'Invoice 7', body: 'Amount due: 42 EUR' },
      { subject: 'Re: Grüße aus Köln', body: 'Danke!' },
    ];
    for (const m of mails) {
      await deliver(ts, bob.address, [
        'From: Sender <sender@example.net>', `To: bob@${DOMAIN}`, `Subject: =?UTF-8?B?${Buffer.from(m.subject).toString('base64')}?=`,
        'Date: Tue, 1 Dec 2026 10:00:00 +0100', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', m.body, '',
      ].join('\r\n'));
    }
    const r = await py(String.raw`
M = implicit()
ok(M.select('INBOX'))
M.literal = 'Grüße'.encode('utf-8')
out['subject_utf8'] = t(ok(M.search('UTF-8', 'SUBJECT')))
M.literal = 'Köln'.encode('utf-8')
out['uid_subject_utf8'] = t(ok(M.uid('SEARCH', 'CHARSET', 'UTF-8', 'SUBJECT')))
M.literal = 'Grüße'.encode('utf-8')
out['body_utf8'] = t(ok(M.search('UTF-8', 'BODY')))
out['ascii'] = t(ok(M.search(None, 'BODY', '"42 EUR"')))
out['unseen'] = t(ok(M.search(None, 'UNSEEN')))
out['or'] = t(ok(M.search(None, 'OR', 'SUBJECT', 'invoice', 'BODY', 'danke')))
out['since'] = t(ok(M.search(None, 'SINCE', '1-Jan-2020', 'NOT', 'SUBJECT', 'invoice')))
out['uid_all'] = t(ok(M.uid('SEARCH', 'ALL')))
out['uid_range'] = t(ok(M.uid('SEARCH', 'UID', '2:*')))
typ, data = M.search('KOI8-R', 'ALL')
out['bad_charset'] = [typ, t(data)]
M.logout()
`, bob);
    const rows = await stored(bob, 'INBOX');
    const uids = rows.map((x) => x.uid);
    expect(r.subject_utf8).toEqual(['1 3']);
    expect(r.uid_subject_utf8).toEqual([`${uids[0]} ${uids[2]}`]);
    expect(r.body_utf8).toEqual(['1']);
    expect(r.ascii).toEqual(['2']);
    expect(r.unseen).toEqual(['1 2 3']);
    expect(r.or).toEqual(['2 3']);
    expect(r.since).toEqual(['1 3']);
    expect(r.uid_all).toEqual([uids.join(' ')]);
    expect(r.uid_range).toEqual([uids.filter((u) => u >= 2).join(' ')]);
    expect(r.bad_charset[0]).toBe('NO');
    expect(r.bad_charset[1][0]).toMatch(/BADCHARSET/);
  });

  it('issue 4 point 6: imaplib STORE, COPY, EXPUNGE and their UID forms (with MOVE) change the store as told', async () => {
    const r = await py(String.raw`
M = starttls()
ok(M.create('Work'))
ok(M.create('Done'))
for i in range(1, 6):
    msg = ('From: a@example.net\r\nSubject: item %d\r\n\r\nbody %d\r\n' % (i, i)).encode()
    ok(M.append('Work', None, None, msg))
ok(M.select('Work'))
out['store'] = t(ok(M.store('1:2', '+FLAGS', r'(\Seen \Flagged)')))
out['store_silent'] = t(ok(M.store('2', '-FLAGS.SILENT', r'(\Flagged)')))
out['copy'] = t(ok(M.copy('1:2', 'Done')))
out['copy_code'] = t(M.response('COPYUID'))
out['store_deleted'] = t(ok(M.store('1', '+FLAGS', r'(\Deleted)')))
out['expunge'] = t(ok(M.expunge()))
typ, data = M.uid('SEARCH', 'ALL')
uids = data[0].split()
out['uids_after_expunge'] = t(uids)
out['uid_store'] = t(ok(M.uid('STORE', uids[-1], '+FLAGS', '(Custom1)')))
# imaplib's uid() returns untagged FETCH data, not the tagged line with COPYUID: ask for that directly.
out['uid_copy'] = t(ok(M._simple_command('UID', 'COPY', uids[-1], 'Done')))
out['uid_move'] = t(ok(M._simple_command('UID', 'MOVE', uids[0], 'Done')))
out['move_copyuid'] = t(M.response('COPYUID'))
out['move_expunge'] = t(M.response('EXPUNGE'))
out['uid_fetch'] = t(ok(M.uid('FETCH', '1:*', '(FLAGS)')))
ok(M.uid('STORE', uids[1], '+FLAGS.SILENT', r'(\Deleted)'))
ok(M.uid('EXPUNGE', uids[1]))
out['uid_expunge'] = t(M.response('EXPUNGE'))
out['remaining'] = t(ok(M.uid('SEARCH', 'ALL')))
out['copy_missing'] = t(M.copy('1', 'Nowhere'))
M.close()
M.logout()
`);
    const work = await stored(alice, 'Work');
    const done = await stored(alice, 'Done');
    const subj = (raw: Buffer) => /Subject: (.*)\r\n/.exec(raw.toString())![1];
    expect(r.store).toEqual(['1 (UID 1 FLAGS (\\Seen \\Flagged))', '2 (UID 2 FLAGS (\\Seen \\Flagged))']);
    expect(r.store_silent).toEqual([null]);
    expect(r.copy[0]).toMatch(/^\[COPYUID \d+ 1:2 1:2\] COPY completed/);
    expect(r.expunge).toEqual(['1']);
    expect(r.uids_after_expunge).toEqual(['2', '3', '4', '5']);
    expect(r.uid_store).toEqual(['4 (UID 5 FLAGS (Custom1))']);
    expect(r.uid_copy[0]).toMatch(/^\[COPYUID \d+ 5 3\]/);
    // MOVE's untagged OK [COPYUID] and EXPUNGE come before the tagged OK (RFC 6851).
    expect(r.uid_move).toEqual([expect.stringMatching(/MOVE completed/)]);
    // imaplib collects every COPYUID of the session (UID COPY's tagged one, then MOVE's untagged one).
    expect(r.move_copyuid).toEqual(['COPYUID', [expect.stringMatching(/^\d+ 5 3$/), expect.stringMatching(/^\d+ 2 4$/)]]);
    expect(r.move_expunge).toEqual(['EXPUNGE', ['1']]);
    expect(r.uid_fetch).toEqual(['1 (UID 3 FLAGS ())', '2 (UID 4 FLAGS ())', '3 (UID 5 FLAGS (Custom1))']);
    expect(r.uid_expunge).toEqual(['EXPUNGE', ['1']]);
    expect(r.remaining).toEqual(['4 5']);
    expect(r.copy_missing[0]).toBe('NO');
    expect(r.copy_missing[1][0]).toMatch(/TRYCREATE/);
    expect(work.map((m) => [m.uid, subj(m.raw), m.flags])).toEqual([[4, 'item 4', []], [5, 'item 5', ['Custom1']]]);
    expect(done.map((m) => [m.uid, subj(m.raw), m.flags])).toEqual([
      [1, 'item 1', ['\\Flagged', '\\Seen']],
      [2, 'item 2', ['\\Seen']],
      [3, 'item 5', ['Custom1']],
      [4, 'item 2', ['\\Seen']],
    ]);
  });

  it('issue 4 point 6: imaplib mailbox names in modified UTF-7 and, after ENABLE UTF8=ACCEPT, in UTF-8; SORT and THREAD', async () => {
    const r = await py(String.raw`
M = starttls()
# Without UTF8=ACCEPT names travel in modified UTF-7 (RFC 3501 §5.1.3); imaplib leaves that to the caller.
out['create_utf7'] = t(ok(M.create('"&AMQ-rger"')))
out['list_utf7'] = t(ok(M.list('""', '"&AMQ-rger"')))
ok(M.create('Threads'))
mails = [
    ('Alpha plan', 'Mon, 1 Jun 2026 10:00:00 +0000', 'Message-ID: <a1@example.net>', '"01-Jun-2026 10:00:00 +0000"'),
    ('Beta', 'Wed, 3 Jun 2026 10:00:00 +0000', 'Message-ID: <b1@example.net>', '"03-Jun-2026 10:00:00 +0000"'),
    ('Re: Alpha plan', 'Tue, 2 Jun 2026 10:00:00 +0000', 'Message-ID: <a2@example.net>\r\nIn-Reply-To: <a1@example.net>\r\nReferences: <a1@example.net>', '"02-Jun-2026 10:00:00 +0000"'),
]
for subject, date, ids, idate in mails:
    ok(M.append('Threads', None, idate, ('From: a@example.net\r\nSubject: %s\r\nDate: %s\r\n%s\r\n\r\nbody\r\n' % (subject, date, ids)).encode()))
M.logout()

M = starttls()
ok(M.enable('UTF8=ACCEPT'))
out['enable'] = t(M.response('ENABLED'))
out['utf8_enabled'] = M.utf8_enabled
out['create_utf8'] = t(ok(M.create('"Entwürfe/Übersicht"')))
out['list_utf8'] = t(ok(M.list('""', '"Entwürfe/*"')))
out['status_utf8'] = t(ok(M.status('"Ärger"', '(MESSAGES)')))
out['select_utf8'] = t(ok(M.select('"Entwürfe/Übersicht"')))
M.logout()

M = implicit()
ok(M.select('Threads'))
out['sort'] = t(ok(M.sort('(REVERSE DATE)', 'UTF-8', 'ALL')))
out['sort_subject'] = t(ok(M.sort('(SUBJECT)', 'UTF-8', 'ALL')))
out['uid_sort'] = t(ok(M.uid('SORT', '(ARRIVAL)', 'UTF-8', 'ALL')))
out['thread'] = t(ok(M.thread('REFERENCES', 'UTF-8', 'ALL')))
out['thread_subject'] = t(ok(M.thread('ORDEREDSUBJECT', 'UTF-8', 'ALL')))
M.logout()
`);
    expect(r.create_utf7[0]).toMatch(/CREATE completed/);
    expect(r.list_utf7).toEqual(['(\\HasNoChildren) "/" "&AMQ-rger"']);
    expect(r.enable).toEqual(['ENABLED', ['UTF8=ACCEPT']]);
    expect(r.utf8_enabled).toBe(true);
    expect(r.list_utf8).toEqual(['(\\HasNoChildren) "/" "Entwürfe/Übersicht"']);
    expect(r.status_utf8).toEqual(['"Ärger" (MESSAGES 0)']);
    expect(r.select_utf8).toEqual(['0']);
    const names = (await ts.app.mail.listMailboxes(alice)).map((b) => b.name);
    expect(names).toEqual(expect.arrayContaining(['Ärger', 'Entwürfe', 'Entwürfe/Übersicht']));
    const uids = (await stored(alice, 'Threads')).map((m) => m.uid);
    // Sent dates 1, 3, 2 June; message 3 answers message 1 (References).
    expect(r.sort).toEqual(['2 3 1']);
    expect(r.sort_subject).toEqual(['1 3 2']);
    expect(r.uid_sort).toEqual([[uids[0], uids[2], uids[1]].join(' ')]);
    expect(r.thread).toEqual(['(1 3)(2)']);
    expect(r.thread_subject).toEqual(['(1 3)(2)']);
  });

  it('issue 4 point 6: imaplib GETQUOTAROOT, GETACL and MYRIGHTS, and STATUS of several mailboxes', async () => {
    const r = await py(String.raw`
M = starttls()
typ, data = M.getquotaroot('INBOX')
out['quotaroot'] = [typ, t(data)]
out['getquota'] = t(ok(M.getquota('""')))
out['getacl'] = t(ok(M.getacl('INBOX')))
out['myrights'] = t(ok(M.myrights('INBOX')))
out['setacl'] = t(ok(M.setacl('Archive', 'bob@example.org', 'lr')))
out['getacl_archive'] = t(ok(M.getacl('Archive')))
out['status_inbox'] = t(ok(M.status('INBOX', '(MESSAGES)')))
out['status_trash'] = t(ok(M.status('Trash', '(MESSAGES UIDNEXT UNSEEN)')))
out['status_missing'] = t(M.status('Nope', '(MESSAGES)'))
M.logout()
`);
    const used = (await ts.app.messages.quota(alice)).usedBytes;
    // RFC 4314 §2.1: every right of the owner (no obsolete c/d).
    const ALL = 'lrswipkxtea';
    const inbox = await stored(alice, 'INBOX');
    expect(r.quotaroot[0]).toBe('OK');
    expect(r.quotaroot[1]).toEqual([['"INBOX" ""'], [`"" (STORAGE ${Math.ceil(used / 1024)} ${20 * 1024})`]]);
    expect(r.getquota).toEqual([`"" (STORAGE ${Math.ceil(used / 1024)} ${20 * 1024})`]);
    expect(r.getacl).toEqual([`"INBOX" "alice@${DOMAIN}" ${ALL}`]);
    expect(r.myrights).toEqual([`"INBOX" ${ALL}`]);
    expect(r.getacl_archive).toEqual([`"Archive" "alice@${DOMAIN}" ${ALL} "bob@${DOMAIN}" lr`]);
    expect(r.status_inbox).toEqual([`"INBOX" (MESSAGES ${inbox.length})`]);
    expect(r.status_trash).toEqual([expect.stringMatching(/^"Trash" \(MESSAGES 0 UIDNEXT \d+ UNSEEN 0\)$/)]);
    expect(r.status_missing[0]).toBe('NO');
    expect(r.status_missing[1][0]).toMatch(/NONEXISTENT/);
  });

  it('issue 4 point 6: imaplib sees a mailbox another account shared (SETACL) under Shared/, reads it, and cannot change it', async () => {
    const raw = Buffer.from('From: x@example.net\r\nSubject: shared one\r\n\r\nshared body\r\n');
    await ts.app.mail.appendMessage(alice, 'Archive', raw);
    await py("M = starttls()\nok(M.setacl('Archive', 'bob@example.org', 'lr'))\nM.logout()");
    const r = await py(String.raw`
M = implicit()
out['list'] = t(ok(M.list('""', 'Shared/*')))
out['select'] = t(ok(M.select('"Shared/alice@example.org/Archive"', readonly=True)))
out['myrights'] = t(ok(M.myrights('"Shared/alice@example.org/Archive"')))
typ, data = M.fetch('1', '(BODY.PEEK[])')
out['body'] = b64(data[0][1])
out['store'] = t(M.store('1', '+FLAGS', r'(\Seen)'))
M.logout()
`, bob);
    expect(r.list).toEqual(expect.arrayContaining([`(\\HasNoChildren \\Archive) "/" "Shared/alice@${DOMAIN}/Archive"`]));
    expect(r.select).toEqual(['1']);
    expect(r.myrights).toEqual([`"Shared/alice@${DOMAIN}/Archive" lr`]);
    expect(Buffer.from(r.body, 'base64').equals(raw)).toBe(true);
    // Opened read-only (EXAMINE), and bob has no "s" right anyway.
    expect(r.store[0]).toBe('NO');
    expect((await stored(alice, 'Archive'))[0].flags).toEqual([]);
  });
});
