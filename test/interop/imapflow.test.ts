/**
 * Issue 4 point 6: interop with imapflow, the IMAP client library many Node applications
 * (and our bench) use, as an independent real client. Every call goes through imapflow's own
 * command building and response parsing; what comes back is compared with what core stored.
 * The server requires TLS before login (the default), so every session goes through
 * STARTTLS or the implicit-TLS port, and imapflow turns on COMPRESS=DEFLATE, ENABLE
 * (CONDSTORE, QRESYNC, UTF8=ACCEPT) and IMAP4rev2 as it finds them offered.
 */
import crypto from 'node:crypto';
import { ImapFlow, type ImapFlowOptions, type FetchMessageObject } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DOMAIN, PASSWORD, addAccount, deliver, startImapServer, type ImapTestServer } from '../protocols/imap/harness.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

/** imapflow's log, kept to explain a failure (its debug entries are the protocol lines). */
const trace: string[] = [];
const record = (level: string) => (o: unknown) => {
  const e = o as { msg?: string; src?: string; err?: unknown };
  trace.push(`${level} ${e.src ?? ''} ${e.msg ?? ''}${e.err ? ` ${String(e.err)}` : ''}`);
  if (trace.length > 400) trace.shift();
};
const logger = { trace: record('trace'), debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error'), fatal: record('fatal') };

/** A message with a known body and headers, CRLF line ends. */
function mail(o: { subject: string; from?: string; body?: string; date?: string; extra?: string[] }): Buffer {
  return Buffer.from([
    `From: ${o.from ?? 'Sender One <sender@example.net>'}`,
    `To: Alice <alice@${DOMAIN}>`,
    `Subject: ${o.subject}`,
    `Date: ${o.date ?? 'Tue, 1 Dec 2026 10:00:00 +0100'}`,
    `Message-ID: <${o.subject.replace(/\W+/g, '-')}-${Math.random().toString(36).slice(2)}@example.net>`,
    ...(o.extra ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    o.body ?? 'Hello there.',
    '',
  ].join('\r\n'));
}

const MULTIPART = Buffer.from([
  'From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.net>',
  `To: alice@${DOMAIN}`,
  'Cc: Carol <carol@example.org>',
  'Subject: =?UTF-8?B?UXVhcnRhbHNiZXJpY2h0IMOcYmVyc2ljaHQ=?=',
  'Date: Wed, 2 Dec 2026 09:30:00 +0100',
  'Message-ID: <multi-1@example.net>',
  'In-Reply-To: <parent-1@example.net>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  '--outer',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Gr=C3=BC=C3=9Fe aus dem Quartalsbericht',
  '--outer',
  'Content-Type: application/pdf; name="report.pdf"',
  'Content-Disposition: attachment; filename="report.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('%PDF-1.4 not really a pdf\n').toString('base64'),
  '--outer--',
  '',
].join('\r\n'));

const QUOTA = 50 * 1024 * 1024;

describe('imapflow against Bulwark (issue 4 point 6)', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  const open: ImapFlow[] = [];

  /** A connected client; STARTTLS on the plain port unless `secure`. */
  async function connect(o: Partial<ImapFlowOptions> = {}): Promise<ImapFlow> {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: o.secure ? ts.imapsPort : ts.imapPort,
      secure: false,
      doSTARTTLS: o.secure ? undefined : true,
      tls: { rejectUnauthorized: false },
      auth: { user: alice.address, pass: PASSWORD },
      logger,
      disableAutoIdle: true,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 60_000,
      ...o,
    });
    c.on('error', (e) => trace.push(`client error ${String(e)}`));
    open.push(c);
    await c.connect();
    return c;
  }

  /** STATUS through imapflow (false only when not authenticated). */
  async function status(c: ImapFlow, path: string, q: Parameters<ImapFlow['status']>[1]) {
    const st = await c.status(path, q);
    if (!st) throw new Error(`STATUS ${path} failed`);
    return st;
  }

  /** Stored messages of a mailbox of alice's, with their bytes, in UID order. */
  async function stored(mailbox: string) {
    const rows = await ts.app.mail.listMessages(alice, mailbox);
    return Promise.all(rows.map(async (r) => ({ uid: Number(r.uid), flags: r.flags, size: Number(r.size), internalDate: Number(r.internal_date), raw: await ts.app.mail.readMessage(alice, Number(r.id)) })));
  }

  /** Waits (bounded) for a condition that a server push makes true. */
  async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${trace.slice(-40).join('\n')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  beforeAll(async () => {
    ts = await startImapServer({ BULWARK_AUTH_REQUIRE_TLS: 'true' });
    alice = await addAccount(ts.app, 'alice', { quota: QUOTA });
  });
  afterEach(async (ctx) => {
    for (const c of open.splice(0)) {
      try {
        if (c.usable) await c.logout();
      } catch { /* closed already */ }
      c.close();
    }
    if (ctx.task.result?.state === 'fail') console.error(`imapflow trace of "${ctx.task.name}":\n${trace.slice(-80).join('\n')}`);
    trace.length = 0;
  });
  afterAll(async () => ts?.cleanup());

  it('issue 4 point 6: imapflow logs in after STARTTLS and over implicit TLS, with COMPRESS=DEFLATE and the extensions it enables', async () => {
    const c = await connect();
    expect(c.secureConnection).toBe(true);
    expect(c.authenticated).toBeTruthy();
    expect(c.capabilities.has('IMAP4rev2')).toBe(true);
    expect(c.capabilities.has('COMPRESS=DEFLATE') || c.capabilities.has('COMPRESS')).toBe(true);
    // imapflow wraps the socket in inflate/deflate once COMPRESS succeeded.
    expect((c as unknown as { _deflate?: unknown })._deflate).toBeTruthy();
    expect([...c.enabled]).toEqual(expect.arrayContaining(['CONDSTORE']));
    expect(c.serverInfo?.name).toBe('Bulwark');
    const s = await connect({ secure: true });
    expect(s.secureConnection).toBe(true);
    expect(s.tls && s.tls.version).toMatch(/^TLSv1\.[23]$/);
    const box = await s.mailboxOpen('INBOX');
    expect(box.path).toBe('INBOX');
  });

  it('issue 4 point 6: imapflow lists with STATUS and sees the special-use mailboxes', async () => {
    const c = await connect();
    await c.append('Archive', mail({ subject: 'Archived one' }));
    const list = await c.list({ statusQuery: { messages: true, unseen: true, uidNext: true, uidValidity: true, highestModseq: true, size: true } });
    const byPath = new Map(list.map((l) => [l.path, l]));
    expect([...byPath.keys()]).toEqual(expect.arrayContaining(['INBOX', 'Drafts', 'Sent', 'Junk', 'Trash', 'Archive']));
    expect(byPath.get('Sent')!.specialUse).toBe('\\Sent');
    expect(byPath.get('Trash')!.specialUse).toBe('\\Trash');
    expect(byPath.get('INBOX')!.specialUse).toBe('\\Inbox');
    expect(byPath.get('Archive')!.delimiter).toBe('/');
    const st = byPath.get('Archive')!.status!;
    const archived = await stored('Archive');
    expect(st.messages).toBe(1);
    expect(st.unseen).toBe(1);
    expect(st.uidNext).toBe(archived[0].uid + 1);
    expect(typeof st.uidValidity).toBe('bigint');
    expect(st.highestModseq).toBeGreaterThan(0n);
  });

  it('issue 4 point 6: imapflow APPENDs with flags and a date; FETCH returns envelope, structure, source, flags, uid, date, size, headers and parts as stored', async () => {
    const c = await connect();
    await c.mailboxCreate('Fetch');
    const date = new Date('2026-11-20T08:15:30Z');
    const ap = await c.append('Fetch', MULTIPART, ['\\Seen', '$Important'], date);
    expect(ap).toBeTruthy();
    if (!ap) return;
    expect(ap.destination).toBe('Fetch');
    const [row] = await stored('Fetch');
    expect(ap.uid).toBe(row.uid);
    expect(row.raw.equals(MULTIPART)).toBe(true);
    expect(row.flags.sort()).toEqual(['$Important', '\\Seen']);
    expect(row.internalDate).toBe(date.getTime());

    const box = await c.mailboxOpen('Fetch');
    expect(box.exists).toBe(1);
    expect(box.uidValidity).toBe(ap.uidValidity);
    const m = await c.fetchOne('1', { envelope: true, bodyStructure: true, source: true, flags: true, uid: true, internalDate: true, size: true, headers: ['subject', 'in-reply-to'], bodyParts: ['1', '2'] });
    expect(m).toBeTruthy();
    if (!m) return;
    expect(m.uid).toBe(row.uid);
    expect(m.source!.equals(MULTIPART)).toBe(true);
    expect(m.size).toBe(MULTIPART.length);
    expect(new Date(m.internalDate!).getTime()).toBe(date.getTime());
    expect([...m.flags!].sort()).toEqual(['$Important', '\\Seen']);
    expect(m.envelope!.subject).toBe('Quartalsbericht Übersicht');
    expect(m.envelope!.from).toEqual([{ name: 'Jörg Müller', address: 'joerg@example.net' }]);
    expect(m.envelope!.cc).toEqual([{ name: 'Carol', address: 'carol@example.org' }]);
    expect(m.envelope!.messageId).toBe('<multi-1@example.net>');
    expect(m.envelope!.inReplyTo).toBe('<parent-1@example.net>');
    expect(new Date(m.envelope!.date!).toISOString()).toBe('2026-12-02T08:30:00.000Z');
    const bs = m.bodyStructure!;
    expect(bs.type).toBe('multipart/mixed');
    expect(bs.childNodes!.map((n) => n.type)).toEqual(['text/plain', 'application/pdf']);
    expect(bs.childNodes![0].part).toBe('1');
    expect(bs.childNodes![0].encoding).toBe('quoted-printable');
    expect(bs.childNodes![0].parameters).toEqual({ charset: 'utf-8' });
    expect(bs.childNodes![1].disposition).toBe('attachment');
    expect(bs.childNodes![1].dispositionParameters).toEqual({ filename: 'report.pdf' });
    expect(m.headers!.toString()).toBe('Subject: =?UTF-8?B?UXVhcnRhbHNiZXJpY2h0IMOcYmVyc2ljaHQ=?=\r\nIn-Reply-To: <parent-1@example.net>\r\n\r\n');
    expect(m.bodyParts!.get('1')!.toString()).toBe('Gr=C3=BC=C3=9Fe aus dem Quartalsbericht');
    expect(m.bodyParts!.get('2')!.toString()).toBe(Buffer.from('%PDF-1.4 not really a pdf\n').toString('base64'));
    // download() decodes the part (BINARY where offered).
    const dl = await c.download('1', '2');
    const chunks: Buffer[] = [];
    for await (const ch of dl.content!) chunks.push(ch as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('%PDF-1.4 not really a pdf\n');
    expect(dl.meta!.filename).toBe('report.pdf');
  });

  it('issue 4 point 6: imapflow fetches a mailbox delivered over SMTP byte for byte, in UID order', async () => {
    const c = await connect();
    const sent = [mail({ subject: 'Delivered 1' }), mail({ subject: 'Delivered 2' }), mail({ subject: 'Delivered 3' })];
    const before = (await stored('INBOX')).length;
    for (const raw of sent) await deliver(ts, alice.address, raw);
    await c.mailboxOpen('INBOX');
    const got: FetchMessageObject[] = [];
    for await (const m of c.fetch('1:*', { uid: true, source: true, flags: true, size: true })) got.push(m);
    const rows = await stored('INBOX');
    expect(got.map((m) => m.uid)).toEqual(rows.map((r) => r.uid));
    for (const [i, m] of got.entries()) {
      expect(m.source!.equals(rows[i].raw)).toBe(true);
      expect(m.size).toBe(rows[i].size);
    }
    // What was delivered ends every stored message (the server prepends only trace fields).
    for (const [i, raw] of sent.entries()) expect(rows[before + i].raw.subarray(-raw.length).equals(raw)).toBe(true);
    const all = await c.fetchAll('1:*', { envelope: true, headers: true });
    expect(all.slice(before).map((m) => m.envelope!.subject)).toEqual(['Delivered 1', 'Delivered 2', 'Delivered 3']);
    // headers: true is BODY.PEEK[HEADER]: the stored header block with its blank line.
    for (const [i, m] of all.entries()) {
      const raw = rows[i].raw;
      expect(m.headers!.equals(raw.subarray(0, raw.indexOf('\r\n\r\n') + 4))).toBe(true);
    }
  });

  it('issue 4 point 6: imapflow moves a 3 MB message through COMPRESS=DEFLATE both ways intact', async () => {
    const c = await connect();
    expect((c as unknown as { _deflate?: unknown })._deflate).toBeTruthy();
    await c.mailboxCreate('Big');
    // Poorly compressible content, so the deflate streams really carry megabytes.
    const body = crypto.randomBytes(57 * 40_000).toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = mail({ subject: 'Big one', body, extra: ['Content-Transfer-Encoding: 7bit'] });
    const ap = await c.append('Big', raw);
    expect(ap && ap.uid).toBeTruthy();
    const [row] = await stored('Big');
    expect(row.raw.equals(raw)).toBe(true);
    await c.mailboxOpen('Big');
    const m = await c.fetchOne('1', { source: true, size: true });
    expect(m && m.size).toBe(raw.length);
    expect(m && m.source!.equals(raw)).toBe(true);
  });

  it('issue 4 point 6: imapflow SEARCH by subject, from, body, seen, since and UID ranges', async () => {
    const c = await connect();
    await c.mailboxCreate('Search');
    const a = await c.append('Search', mail({ subject: 'Invoice March', from: 'Billing <billing@shop.example>', body: 'Please pay the amount of 42 EUR.' }), [], new Date('2026-03-10T12:00:00Z'));
    const b = await c.append('Search', mail({ subject: 'Lunch on Friday', from: 'Bob <bob@example.org>', body: 'Pizza or pasta?' }), ['\\Seen'], new Date('2026-05-01T12:00:00Z'));
    const d = await c.append('Search', mail({ subject: 'Invoice April', from: 'Billing <billing@shop.example>', body: 'Reminder: 42 EUR are due.' }), ['\\Seen'], new Date('2026-06-01T12:00:00Z'));
    const e = await c.append('Search', mail({ subject: 'Grüße aus München', from: 'Jörg <joerg@example.net>', body: 'Schöne Grüße!' }), [], new Date('2026-07-01T12:00:00Z'));
    if (!a || !b || !d || !e) throw new Error('append failed');
    await c.mailboxOpen('Search');
    const uid = { uid: true };
    expect(await c.search({ subject: 'invoice' }, uid)).toEqual([a.uid, d.uid]);
    expect(await c.search({ from: 'billing@shop.example' }, uid)).toEqual([a.uid, d.uid]);
    expect(await c.search({ from: 'bob' }, uid)).toEqual([b.uid]);
    expect(await c.search({ body: '42 EUR' }, uid)).toEqual([a.uid, d.uid]);
    expect(await c.search({ seen: true }, uid)).toEqual([b.uid, d.uid]);
    expect(await c.search({ seen: false }, uid)).toEqual([a.uid, e.uid]);
    expect(await c.search({ since: new Date('2026-05-15T00:00:00Z') }, uid)).toEqual([d.uid, e.uid]);
    expect(await c.search({ before: new Date('2026-05-15T00:00:00Z') }, uid)).toEqual([a.uid, b.uid]);
    expect(await c.search({ uid: `${b.uid}:${d.uid}` }, uid)).toEqual([b.uid, d.uid]);
    expect(await c.search({ uid: `${d.uid}:*` }, uid)).toEqual([d.uid, e.uid]);
    expect(await c.search({ or: [{ subject: 'lunch' }, { seen: false }] }, uid)).toEqual([a.uid, b.uid, e.uid]);
    expect(await c.search({ subject: 'invoice', not: { seen: true } }, uid)).toEqual([a.uid]);
    // Non-ASCII search terms: imapflow sends them as UTF-8 (literal, or CHARSET UTF-8).
    expect(await c.search({ subject: 'Grüße' }, uid)).toEqual([e.uid]);
    expect(await c.search({ body: 'Schöne' }, uid)).toEqual([e.uid]);
    // Sequence numbers when uid is not asked for.
    expect(await c.search({ subject: 'invoice' })).toEqual([1, 3]);
    expect(await c.search({ all: true })).toEqual([1, 2, 3, 4]);
  });

  it('issue 4 point 6: imapflow messageFlagsAdd/Remove/Set change exactly the stored flags', async () => {
    const c = await connect();
    await c.mailboxCreate('Flags');
    const one = await c.append('Flags', mail({ subject: 'f1' }));
    const two = await c.append('Flags', mail({ subject: 'f2' }), ['\\Draft']);
    if (!one || !two) throw new Error('append failed');
    await c.mailboxOpen('Flags');
    expect(await c.messageFlagsAdd({ all: true }, ['\\Flagged', 'Project-X'])).toBe(true);
    let rows = await stored('Flags');
    expect(rows.map((r) => [...r.flags].sort())).toEqual([['Project-X', '\\Flagged'], ['Project-X', '\\Draft', '\\Flagged']]);
    expect(await c.messageFlagsRemove(String(two.uid), ['\\Flagged'], { uid: true })).toBe(true);
    expect(await c.messageFlagsSet('1', ['\\Seen', '\\Answered'])).toBe(true);
    rows = await stored('Flags');
    expect(rows.map((r) => [...r.flags].sort())).toEqual([['\\Answered', '\\Seen'], ['Project-X', '\\Draft']]);
    const back = await c.fetchAll('1:*', { flags: true, uid: true });
    expect(back.map((m) => [m.uid, [...m.flags!].sort()])).toEqual([[one.uid, ['\\Answered', '\\Seen']], [two.uid, ['Project-X', '\\Draft']]]);
    expect(c.mailbox && c.mailbox.permanentFlags?.has('\\*')).toBe(true);
  });

  it('issue 4 point 6: imapflow messageCopy and messageMove get a uidMap from COPYUID that matches the stored UIDs; messageDelete expunges', async () => {
    const c = await connect();
    await c.mailboxCreate('Src');
    await c.mailboxCreate('Dst');
    const raws = [mail({ subject: 'm1' }), mail({ subject: 'm2' }), mail({ subject: 'm3' })];
    const uids: number[] = [];
    for (const r of raws) {
      const x = await c.append('Src', r);
      if (!x || !x.uid) throw new Error('no APPENDUID');
      uids.push(x.uid);
    }
    await c.mailboxOpen('Src');
    const cp = await c.messageCopy(`${uids[0]}:${uids[1]}`, 'Dst', { uid: true });
    expect(cp).toBeTruthy();
    if (!cp) return;
    expect(cp.destination).toBe('Dst');
    let dst = await stored('Dst');
    expect(dst.map((m) => m.raw.toString())).toEqual([raws[0].toString(), raws[1].toString()]);
    expect([...cp.uidMap!.entries()]).toEqual([[uids[0], dst[0].uid], [uids[1], dst[1].uid]]);
    const dstStatus = await status(c, 'Dst', { uidValidity: true, messages: true });
    expect(cp.uidValidity).toBe(dstStatus.uidValidity);
    expect(dstStatus.messages).toBe(2);

    const mv = await c.messageMove(String(uids[2]), 'Dst', { uid: true });
    expect(mv).toBeTruthy();
    if (!mv) return;
    dst = await stored('Dst');
    expect(dst).toHaveLength(3);
    expect([...mv.uidMap!.entries()]).toEqual([[uids[2], dst[2].uid]]);
    expect(dst[2].raw.equals(raws[2])).toBe(true);
    expect((await stored('Src')).map((m) => m.uid)).toEqual([uids[0], uids[1]]);
    expect(c.mailbox && c.mailbox.exists).toBe(2);

    expect(await c.messageDelete(String(uids[0]), { uid: true })).toBe(true);
    expect((await stored('Src')).map((m) => m.uid)).toEqual([uids[1]]);
    expect(c.mailbox && c.mailbox.exists).toBe(1);
  });

  it('issue 4 point 6: imapflow mailboxCreate, mailboxRename and mailboxDelete, nested and with non-ASCII names', async () => {
    const c = await connect();
    const cr = await c.mailboxCreate(['Projekte', 'Übersicht']);
    expect(cr.path).toBe('Projekte/Übersicht');
    expect(cr.created).toBe(true);
    expect((await ts.app.mail.listMailboxes(alice)).map((m) => m.name)).toEqual(expect.arrayContaining(['Projekte', 'Projekte/Übersicht']));
    await c.append('Projekte/Übersicht', mail({ subject: 'kept across rename' }));
    const rn = await c.mailboxRename('Projekte', 'Projekte 2026');
    expect(rn.newPath).toBe('Projekte 2026');
    const names = (await c.list()).map((l) => l.path);
    expect(names).toEqual(expect.arrayContaining(['Projekte 2026', 'Projekte 2026/Übersicht']));
    expect(names).not.toContain('Projekte');
    expect((await stored('Projekte 2026/Übersicht')).map((m) => m.raw.toString())).toEqual([expect.stringContaining('Subject: kept across rename')]);
    const st = await status(c, 'Projekte 2026/Übersicht', { messages: true, unseen: true, uidNext: true });
    expect(st.messages).toBe(1);
    expect(st.unseen).toBe(1);
    const del = await c.mailboxDelete('Projekte 2026/Übersicht');
    expect(del.path).toBe('Projekte 2026/Übersicht');
    expect((await c.list()).map((l) => l.path)).not.toContain('Projekte 2026/Übersicht');
    await expect(c.mailboxOpen('Projekte 2026/Übersicht')).rejects.toThrow();
  });

  it('issue 4 point 6: imapflow BINARY: an APPEND with a NUL octet goes as literal8 and FETCH BINARY returns decoded parts', async () => {
    const c = await connect();
    await c.mailboxCreate('Binary');
    const payload = Buffer.from([0x00, 0x01, 0x02, 0xff, 0x0d, 0x0a, 0x00, 0x41]);
    const raw = Buffer.concat([
      Buffer.from('From: a@example.net\r\nSubject: binary\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\ntext part\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
      payload,
      Buffer.from('\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'),
      Buffer.from(payload.toString('base64') + '\r\n'),
      Buffer.from('--b--\r\n'),
    ]);
    const ap = await c.append('Binary', raw);
    expect(ap && ap.uid).toBeTruthy();
    const [row] = await stored('Binary');
    expect(row.raw.equals(raw)).toBe(true);
    await c.mailboxOpen('Binary');
    const m = await c.fetchOne('1', { bodyParts: ['2', '3'] }, { binary: true });
    expect(m).toBeTruthy();
    if (!m) return;
    expect([...m.binaryParts ?? []].sort()).toEqual(['2', '3']);
    expect(m.bodyParts!.get('2')!.equals(payload)).toBe(true);
    expect(m.bodyParts!.get('3')!.equals(payload)).toBe(true);
  });

  it('issue 4 point 6: imapflow read-only open (EXAMINE), subscriptions and listTree, EMAILID/THREADID and UNCHANGEDSINCE', async () => {
    const c = await connect();
    await c.mailboxCreate(['Tree', 'Leaf']);
    await c.mailboxCreate(['Tree', 'Other']);
    expect(await c.mailboxUnsubscribe('Tree/Other')).toBe(true);
    const listed = await c.list();
    expect(listed.find((l) => l.path === 'Tree/Leaf')!.subscribed).toBe(true);
    expect(listed.find((l) => l.path === 'Tree/Other')!.subscribed).toBeFalsy();
    const tree = await c.listTree();
    const node = tree.folders!.find((f) => f.path === 'Tree')!;
    expect(node.folders!.map((f) => f.path).sort()).toEqual(['Tree/Leaf', 'Tree/Other']);

    const first = await c.append('Tree/Leaf', mail({ subject: 'thread start' }));
    if (!first) throw new Error('append failed');
    const ro = await c.mailboxOpen('Tree/Leaf', { readOnly: true });
    expect(ro.readOnly).toBe(true);
    await expect(c.messageFlagsAdd('1', ['\\Seen'])).resolves.toBe(false);
    expect((await stored('Tree/Leaf'))[0].flags).toEqual([]);
    const box = await c.mailboxOpen('Tree/Leaf');
    expect(box.readOnly).toBe(false);
    const m = await c.fetchOne('1', { uid: true, threadId: true, flags: true });
    expect(m && m.emailId).toMatch(/^M\d+_\d+$/);
    expect(m && m.threadId).toMatch(/^T\d+_\d+$/);
    if (!m) return;
    expect(await c.search({ emailId: m.emailId })).toEqual([1]);
    expect(await c.search({ threadId: m.threadId })).toEqual([1]);
    // UNCHANGEDSINCE below the message's MODSEQ: the server refuses the change ([MODIFIED]).
    await c.messageFlagsAdd('1', ['\\Flagged'], { unchangedSince: m.modseq! - 1n });
    expect((await stored('Tree/Leaf'))[0].flags).toEqual([]);
    await c.messageFlagsAdd('1', ['\\Flagged'], { unchangedSince: m.modseq! });
    expect((await stored('Tree/Leaf'))[0].flags).toEqual(['\\Flagged']);
  });

  it('issue 4 point 6: imapflow IDLE sees a delivery over SMTP as an "exists" event', async () => {
    const c = await connect();
    const box = await c.mailboxOpen('INBOX');
    const before = box.exists;
    const events: { count: number; prevCount: number }[] = [];
    c.on('exists', (e) => events.push(e));
    const idling = c.idle();
    await until('IDLE to start', () => c.idling);
    await deliver(ts, alice.address, mail({ subject: 'While idling' }));
    await until('an exists event', () => events.length > 0);
    expect(events[0]).toMatchObject({ count: before + 1, prevCount: before });
    // Any command ends IDLE (imapflow sends DONE first).
    const m = await c.fetchOne('*', { envelope: true });
    await idling;
    expect(m && m.envelope!.subject).toBe('While idling');
  });

  it('issue 4 point 6: imapflow in IDLE gets "flags" and "expunge" events for changes another session makes', async () => {
    const watcher = await connect();
    const actor = await connect();
    await actor.mailboxCreate('Shared work');
    const x = await actor.append('Shared work', mail({ subject: 'e1' }));
    const y = await actor.append('Shared work', mail({ subject: 'e2' }));
    if (!x || !y) throw new Error('append failed');
    await watcher.mailboxOpen('Shared work');
    const flags: { seq: number; uid?: number; flags: Set<string> }[] = [];
    const expunged: { seq?: number; uid?: number }[] = [];
    watcher.on('flags', (e) => flags.push(e));
    watcher.on('expunge', (e) => expunged.push(e));
    const idling = watcher.idle();
    await until('IDLE to start', () => watcher.idling);
    await actor.mailboxOpen('Shared work');
    await actor.messageFlagsAdd(String(x.uid), ['\\Flagged'], { uid: true });
    await until('a flags event', () => flags.length > 0);
    expect(flags[0].seq).toBe(1);
    expect([...flags[0].flags]).toEqual(['\\Flagged']);
    await actor.messageDelete(String(x.uid), { uid: true });
    await until('an expunge event', () => expunged.length > 0);
    // QRESYNC is enabled by imapflow only with its qresync option: EXPUNGE with a sequence number.
    expect(expunged).toEqual([expect.objectContaining({ seq: 1, vanished: false })]);
    await watcher.noop();
    await idling;
    expect(watcher.mailbox && watcher.mailbox.exists).toBe(1);
  });

  it('issue 4 point 6: imapflow getQuota reports the account quota in bytes', async () => {
    const c = await connect();
    const q = await c.getQuota('INBOX');
    expect(q).toBeTruthy();
    if (!q) return;
    expect(q.path).toBe('INBOX');
    const { usedBytes, limitBytes } = await ts.app.messages.quota(alice);
    expect(limitBytes).toBe(QUOTA);
    expect(usedBytes).toBeGreaterThan(0);
    // The wire carries units of 1024 octets (RFC 9208 §5.1); imapflow turns them into bytes.
    expect(q.storage!.limit).toBe(QUOTA);
    expect(q.storage!.usage).toBe(Math.ceil(usedBytes / 1024) * 1024);
  });

  it('issue 4 point 6: imapflow CONDSTORE: MODSEQ on every message and FETCH CHANGEDSINCE returns only what changed', async () => {
    const c = await connect();
    await c.mailboxCreate('Cond');
    for (const s of ['c1', 'c2', 'c3']) await c.append('Cond', mail({ subject: s }));
    const box = await c.mailboxOpen('Cond');
    expect(box.highestModseq).toBeGreaterThan(0n);
    const mark = box.highestModseq!;
    const all = await c.fetchAll('1:*', { flags: true, uid: true });
    expect(all.every((m) => typeof m.modseq === 'bigint' && m.modseq <= mark)).toBe(true);
    await c.messageFlagsAdd('2', ['\\Seen']);
    const changed = await c.fetchAll('1:*', { flags: true, uid: true }, { changedSince: mark });
    expect(changed.map((m) => m.seq)).toEqual([2]);
    expect(changed[0].modseq).toBeGreaterThan(mark);
    expect([...changed[0].flags!]).toEqual(['\\Seen']);
    const st = await status(c, 'Cond', { highestModseq: true });
    expect(st.highestModseq).toBe(changed[0].modseq);
  });

  it('issue 4 point 6: imapflow with qresync: true gets VANISHED as expunge events with UIDs, and a re-open with changedSince reports what changed meanwhile', async () => {
    const c = await connect({ qresync: true });
    expect(c.enabled.has('QRESYNC')).toBe(true);
    await c.mailboxCreate('QR');
    const uids: number[] = [];
    for (const s of ['q1', 'q2', 'q3', 'q4']) {
      const r = await c.append('QR', mail({ subject: s }));
      if (!r || !r.uid) throw new Error('append failed');
      uids.push(r.uid);
    }
    const box = await c.mailboxOpen('QR');
    const mark = box.highestModseq!;
    const validity = box.uidValidity;
    const expunged: { uid?: number; vanished: boolean; earlier?: boolean }[] = [];
    c.on('expunge', (e) => expunged.push(e));
    await c.messageDelete(String(uids[0]), { uid: true });
    expect(expunged).toEqual([expect.objectContaining({ uid: uids[0], vanished: true })]);
    await c.mailboxClose();

    // Changes made by another session while this one is away.
    const other = await connect();
    await other.mailboxOpen('QR');
    await other.messageFlagsAdd(String(uids[2]), ['\\Answered'], { uid: true });
    await other.messageDelete(String(uids[3]), { uid: true });
    await other.logout();

    const flags: { uid?: number; flags: Set<string> }[] = [];
    c.on('flags', (e) => flags.push(e));
    expunged.length = 0;
    const again = await c.mailboxOpen('QR', { changedSince: mark, uidValidity: validity });
    expect(again.exists).toBe(2);
    expect(expunged.map((e) => e.uid!).sort((p, q) => p - q)).toEqual([uids[0], uids[3]]);
    expect(expunged.every((e) => e.vanished && e.earlier)).toBe(true);
    expect(flags.map((f) => [f.uid, [...f.flags]])).toEqual([[uids[2], ['\\Answered']]]);

    // In IDLE, another session's expunge arrives as VANISHED (not EARLIER) with the UID.
    expunged.length = 0;
    const idling = c.idle();
    await until('IDLE to start', () => c.idling);
    const third = await connect();
    await third.mailboxOpen('QR');
    await third.messageDelete(String(uids[1]), { uid: true });
    await until('a VANISHED expunge event', () => expunged.length > 0);
    expect(expunged).toEqual([expect.objectContaining({ uid: uids[1], vanished: true })]);
    expect(expunged[0].earlier).toBeFalsy();
    await c.noop();
    await idling;
    expect(c.mailbox && c.mailbox.exists).toBe(1);
  });
});
