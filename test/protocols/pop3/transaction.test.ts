/**
 * The TRANSACTION and UPDATE states over raw sockets (RFC 1939 §5-§7): the maildrop as a
 * snapshot numbered in UID order, STAT/LIST/UIDL, RETR and TOP on the wire (CRLF, dot-
 * stuffing), DELE/RSET, QUIT's UPDATE (removal announced to IMAP, \Seen for what RETR sent),
 * nothing deleted without QUIT, and messages that other sessions remove meanwhile.
 * auth.require_tls is off here, so sessions log in without STLS (TLS has its own tests).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import type { ChangeEvent } from '../../../src/core/changes/bus.ts';
import { addAccount, deliver, inboxId, message, Pop3Client, startPop3Server, DOMAIN, type Pop3TestServer } from './harness.ts';

describe('POP3 TRANSACTION and UPDATE', () => {
  let ts: Pop3TestServer;
  let n = 0;

  beforeAll(async () => {
    ts = await startPop3Server({ BULWARK_AUTH_REQUIRE_TLS: 'false' });
  });
  afterAll(async () => {
    await ts?.cleanup();
  });

  /** A fresh account with these messages in its INBOX, and a session logged in to it. */
  async function session(msgs: (string | Buffer)[]): Promise<{ c: Pop3Client; account: AccountInfo; address: string }> {
    const local = `user${++n}`;
    const account = await addAccount(ts.app, local);
    for (const m of msgs) await deliver(ts, account, m);
    const c = await Pop3Client.connect(ts.pop3Port);
    const address = `${local}@${DOMAIN}`;
    expect(await c.login(address)).toMatch(/^\+OK Logged in/);
    return { c, account, address };
  }

  const size = (m: string) => Buffer.byteLength(m, 'latin1');
  const A = message(['Subject: a', '', 'aaa']);
  const B = message(['Subject: bb', '', 'bbbbbb', 'b']);
  const C = message(['Subject: ccc', '', 'c']);

  it('RFC 1939 §5: STAT, LIST and LIST n count the messages as stored, numbered 1..n in UID order', async () => {
    const { c } = await session([A, B, C]);
    expect(await c.cmd('STAT')).toBe(`+OK 3 ${size(A) + size(B) + size(C)}`);
    expect(await c.multi('LIST')).toMatchObject({ status: `+OK 3 messages (${size(A) + size(B) + size(C)} octets)`, lines: [`1 ${size(A)}`, `2 ${size(B)}`, `3 ${size(C)}`] });
    expect(await c.cmd('LIST 2')).toBe(`+OK 2 ${size(B)}`);
    expect(await c.cmd('LIST 4')).toBe('-ERR No such message');
    expect(await c.cmd('LIST 0')).toBe('-ERR No such message');
    expect(await c.quit()).toMatch(/^\+OK/);
  });

  it('RFC 1939 §7: UIDL gives "<uidvalidity>.<uid>", the same in every session, and UIDL n one of them', async () => {
    const { c, account, address } = await session([A, B]);
    const inbox = await ts.app.mailboxes.get(account, 'INBOX');
    const rows = await ts.app.messages.rows(account, inbox.id, [[1, 0xffffffff]]);
    const first = await c.multi('UIDL');
    expect(first.lines).toEqual(rows.map((r, i) => `${i + 1} ${inbox.uidvalidity}.${r.uid}`));
    expect(await c.cmd('UIDL 2')).toBe(`+OK 2 ${inbox.uidvalidity}.${rows[1].uid}`);
    await c.quit();
    const again = await Pop3Client.connect(ts.pop3Port);
    await again.login(address);
    expect((await again.multi('UIDL')).lines).toEqual(first.lines);
    // RFC 1939 §7: 1 to 70 characters of 0x21-0x7E.
    for (const l of first.lines) expect(l.split(' ')[1]).toMatch(/^[\x21-\x7e]{1,70}$/);
    await again.quit();
  });

  it('RFC 1939 §3: RETR sends the message byte-exact, with "+OK <size> octets", and dot-stuffs a line that starts with "."', async () => {
    const dotted = message(['Subject: dots', '', 'before', '.', '.hidden', '..two', 'after.']);
    const { c } = await session([dotted]);
    const r = await c.multi('RETR 1');
    expect(r.status).toBe(`+OK ${size(dotted)} octets`);
    expect(r.raw).toBe('Subject: dots\r\n\r\nbefore\r\n..\r\n..hidden\r\n...two\r\nafter.\r\n');
    expect(r.lines).toEqual(['Subject: dots', '', 'before', '.', '.hidden', '..two', 'after.']);
    await c.quit();
  });

  it('RFC 1939 §3: a message stored with bare LF line ends goes out with CRLF', async () => {
    const lf = Buffer.from('Subject: lf\n\nline one\n.dot line\nlast line', 'latin1');
    const { c } = await session([lf]);
    const r = await c.multi('RETR 1');
    expect(r.raw).toBe('Subject: lf\r\n\r\nline one\r\n..dot line\r\nlast line\r\n');
    await c.quit();
  });

  it('RFC 1939 §7: TOP n lines sends the header, the blank line and n lines of the body; TOP 0 the header alone', async () => {
    const m = message(['From: x@example.net', 'Subject: top', '', 'one', '.two', 'three', 'four']);
    const { c } = await session([m]);
    expect(await c.multi('TOP 1 2')).toEqual({ status: '+OK Top of message follows', lines: ['From: x@example.net', 'Subject: top', '', 'one', '.two'], raw: 'From: x@example.net\r\nSubject: top\r\n\r\none\r\n..two\r\n' });
    expect((await c.multi('TOP 1 0')).lines).toEqual(['From: x@example.net', 'Subject: top', '']);
    expect((await c.multi('TOP 1 100')).lines).toEqual(['From: x@example.net', 'Subject: top', '', 'one', '.two', 'three', 'four']);
    expect(await c.cmd('TOP 2 1')).toBe('-ERR No such message');
    await c.quit();
  });

  it('RFC 1939 §5: a DELE\'d message is refused by RETR, TOP, LIST, UIDL and DELE and not counted by STAT; RSET unmarks it', async () => {
    const { c } = await session([A, B, C]);
    expect(await c.cmd('DELE 2')).toBe('+OK Message 2 deleted');
    expect(await c.cmd('STAT')).toBe(`+OK 2 ${size(A) + size(C)}`);
    for (const cmd of ['RETR 2', 'TOP 2 0', 'LIST 2', 'UIDL 2', 'DELE 2']) expect(await c.cmd(cmd), cmd).toBe('-ERR Message 2 is deleted');
    expect((await c.multi('LIST')).lines).toEqual([`1 ${size(A)}`, `3 ${size(C)}`]);
    expect((await c.multi('UIDL')).lines.map((l) => l.split(' ')[0])).toEqual(['1', '3']);
    expect(await c.cmd('RSET')).toBe(`+OK Maildrop has 3 messages (${size(A) + size(B) + size(C)} octets)`);
    expect((await c.multi('RETR 2')).raw).toBe(B);
    expect(await c.cmd('NOOP')).toBe('+OK');
    // QUIT after RSET deletes nothing.
    expect(await c.quit()).toMatch(/^\+OK/);
  });

  it('RFC 1939 §6: DELE then QUIT removes the message in UPDATE; a new session no longer sees it; the change bus announces the expunge (IMAP sees it); what RETR sent gets \\Seen', async () => {
    const { c, account, address } = await session([A, B, C]);
    const inbox = await inboxId(ts, account);
    const events: ChangeEvent[] = [];
    const off = ts.app.bus.on(account.id, (e) => events.push(e));
    expect((await c.multi('RETR 1')).raw).toBe(A);
    expect((await c.multi('TOP 3 0')).status).toMatch(/^\+OK/);
    expect(await c.cmd('DELE 2')).toMatch(/^\+OK/);
    // Nothing changes before QUIT.
    expect((await ts.app.messages.rows(account, inbox, [[1, 0xffffffff]])).length).toBe(3);
    expect(events).toEqual([]);
    expect(await c.quit()).toBe('+OK mail.example.org signing off (2 messages left)');
    off();
    const rows = await ts.app.messages.rows(account, inbox, [[1, 0xffffffff]]);
    expect(rows.length).toBe(2);
    expect(rows.map((r) => r.flags.includes('\\Seen'))).toEqual([true, false]); // RETR 1 yes, TOP 3 no
    expect(events.some((e) => e.kinds.includes('message') && e.mailboxIds?.includes(inbox))).toBe(true);
    // The change feed IMAP reads says which UID went.
    const changes = await ts.app.messages.changes(account, inbox, 0);
    expect(changes.expunged.length).toBe(1);

    const next = await Pop3Client.connect(ts.pop3Port);
    expect(await next.login(address)).toBe(`+OK Logged in; 2 messages (${size(A) + size(C)} octets)`);
    expect((await next.multi('RETR 2')).raw).toBe(C);
    await next.quit();
  });

  it('RFC 1939 §6: a connection that ends without QUIT deletes nothing', async () => {
    const { c, account, address } = await session([A, B]);
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await c.cmd('DELE 2')).toMatch(/^\+OK/);
    c.close();
    await c.closed;
    const inbox = await inboxId(ts, account);
    // The server must have noticed the drop (the lock is gone) before we look.
    let r = '';
    for (let i = 0; i < 50 && !r.startsWith('+OK'); i++) {
      const again = await Pop3Client.connect(ts.pop3Port);
      r = await again.login(address);
      await again.quit();
      if (!r.startsWith('+OK')) await new Promise((res) => setTimeout(res, 20));
    }
    expect(r).toMatch(/^\+OK Logged in; 2 messages/);
    expect((await ts.app.messages.rows(account, inbox, [[1, 0xffffffff]])).length).toBe(2);
  });

  it('RFC 1939 §5: a message removed through core meanwhile (an IMAP expunge): RETR and TOP answer -ERR, the session goes on, and QUIT still works', async () => {
    const { c, account } = await session([A, B]);
    const inbox = await inboxId(ts, account);
    const [first] = await ts.app.messages.rows(account, inbox, [[1, 0xffffffff]]);
    await ts.app.messages.remove(account, inbox, [first.id]);
    expect(await c.cmd('RETR 1')).toBe('-ERR Message 1 was removed by another session');
    expect(await c.cmd('TOP 1 0')).toBe('-ERR Message 1 was removed by another session');
    // The snapshot keeps its numbering (RFC 1939 §5): message 2 is still message 2.
    expect((await c.multi('RETR 2')).raw).toBe(B);
    expect(await c.cmd('NOOP')).toBe('+OK');
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await c.quit()).toMatch(/^\+OK/);
    const rows = await ts.app.messages.rows(account, inbox, [[1, 0xffffffff]]);
    expect(rows.map((r) => r.flags.includes('\\Seen'))).toEqual([true]);
  });

  it('RFC 2449 §6.6 PIPELINING: a whole session in one write gets its replies in order', async () => {
    const local = `user${++n}`;
    const account = await addAccount(ts.app, local);
    await deliver(ts, account, A);
    await deliver(ts, account, B);
    const c = await Pop3Client.connect(ts.pop3Port);
    c.write(`CAPA\r\nUSER ${local}@${DOMAIN}\r\nPASS tr0ub4dor-and-3-staples\r\nSTAT\r\nLIST\r\nRETR 2\r\nDELE 1\r\nUIDL 1\r\nNOOP\r\nQUIT\r\n`);
    expect((await c.readMulti()).lines).toContain('PIPELINING');
    expect(await c.line()).toBe('+OK Send PASS');
    expect(await c.line()).toMatch(/^\+OK Logged in; 2 messages/);
    expect(await c.line()).toBe(`+OK 2 ${size(A) + size(B)}`);
    expect((await c.readMulti()).lines).toEqual([`1 ${size(A)}`, `2 ${size(B)}`]);
    expect((await c.readMulti()).raw).toBe(B);
    expect(await c.line()).toBe('+OK Message 1 deleted');
    expect(await c.line()).toBe('-ERR Message 1 is deleted');
    expect(await c.line()).toBe('+OK');
    expect(await c.line()).toMatch(/^\+OK .*signing off \(1 messages left\)/);
    await c.closed;
    expect((await ts.app.messages.rows(account, await inboxId(ts, account), [[1, 0xffffffff]])).length).toBe(1);
  });

  it('RFC 2449 §5: CAPA works in TRANSACTION and lists the same capabilities; AUTHORIZATION commands are refused there, TRANSACTION ones before login', async () => {
    const c0 = await Pop3Client.connect(ts.pop3Port);
    const before = (await c0.multi('CAPA')).lines;
    for (const cmd of ['STAT', 'LIST', 'RETR 1', 'DELE 1', 'NOOP', 'RSET', 'TOP 1 1', 'UIDL']) {
      expect(await c0.cmd(cmd), cmd).toBe(`-ERR ${cmd.split(' ')[0]} is allowed only after login`);
    }
    await c0.quit();
    const { c } = await session([A]);
    expect((await c.multi('CAPA')).lines).toEqual(before);
    expect(await c.cmd('USER x')).toBe('-ERR USER is not allowed after login');
    expect(await c.cmd('STLS')).toBe('-ERR STLS is not allowed after login');
    expect(await c.cmd('AUTH PLAIN')).toBe('-ERR AUTH is not allowed after login');
    await c.quit();
  });

  it('RFC 1939 §4: QUIT in AUTHORIZATION closes without touching the maildrop', async () => {
    const c = await Pop3Client.connect(ts.pop3Port);
    expect(await c.quit()).toBe('+OK mail.example.org signing off');
    expect(c.ended).toBe(true);
  });

  it('GW-DOS-4: a large message is streamed with backpressure to a slow reader and arrives intact', async () => {
    const body = Array.from({ length: 40_000 }, (_, i) => `${i % 7 === 0 ? '.' : ''}line ${i} ${'z'.repeat(100)}`);
    const big = message(['Subject: big', '', ...body]);
    const { c } = await session([big]);
    // Stop reading for a while: the server must wait for the socket instead of buffering all.
    c.socket.pause();
    c.write('RETR 1\r\n');
    await new Promise((res) => setTimeout(res, 200));
    c.socket.resume();
    const r = await c.readMulti();
    expect(r.status).toBe(`+OK ${size(big)} octets`);
    expect(r.lines.length).toBe(body.length + 2);
    expect(r.lines.slice(2)).toEqual(body);
    expect(await c.cmd('NOOP')).toBe('+OK');
    await c.quit();
  });
});
