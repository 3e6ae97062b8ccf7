/**
 * Issue 4 points 1 and 2: commands that change messages — STORE (with .SILENT and CONDSTORE
 * UNCHANGEDSINCE / MODIFIED), EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT, COPY with COPYUID, MOVE,
 * APPEND (APPENDUID, flags and date, MULTIAPPEND all-or-nothing, literal8, TRYCREATE,
 * APPENDLIMIT, quota) over the wire.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, append, message, startImapServer, type ImapTestServer } from './harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

describe('IMAP message commands', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let c: ImapTestClient;
  let n = 0;
  beforeAll(async () => {
    ts = await startImapServer({ BULWARK_LIMITS_MAX_MESSAGE_SIZE: '64K' });
    alice = await addAccount(ts.app, 'alice', { quota: 2 * 1024 * 1024 });
    c = await ImapTestClient.login(ts.imapPort, alice);
  });
  afterAll(async () => {
    await c?.close();
    await ts?.cleanup();
  });

  /** A fresh mailbox with `count` messages, selected. */
  async function fresh(count: number, flags = ''): Promise<string> {
    const name = `Box${++n}`;
    await c.ok(`CREATE ${name}`);
    for (let i = 1; i <= count; i++) await append(c, name, message({ subject: `m${i}` }), flags);
    await c.ok(`SELECT ${name}`);
    return name;
  }

  it('RFC 9051 §6.4.6: STORE FLAGS, +FLAGS, -FLAGS answer FETCH FLAGS; .SILENT answers nothing; keywords appear in FLAGS', async () => {
    await fresh(3);
    expect((await c.ok('STORE 1:2 +FLAGS (\\Seen $Label1)')).lines).toEqual([
      '* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Label1)',
      '* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Label1 \\*)] Flags permitted',
      '* 1 FETCH (UID 1 FLAGS (\\Seen $Label1))',
      '* 2 FETCH (UID 2 FLAGS (\\Seen $Label1))',
    ]);
    expect((await c.ok('STORE 2 -FLAGS ($label1)')).lines).toEqual(['* 2 FETCH (UID 2 FLAGS (\\Seen))']);
    expect((await c.ok('STORE 3 FLAGS.SILENT (\\Flagged)')).lines).toEqual([]);
    expect((await c.ok('FETCH 1:3 FLAGS')).lines).toEqual(['* 1 FETCH (FLAGS (\\Seen $Label1))', '* 2 FETCH (FLAGS (\\Seen))', '* 3 FETCH (FLAGS (\\Flagged))']);
    expect((await c.ok('UID STORE 3 +FLAGS (\\Answered)')).lines).toEqual(['* 3 FETCH (UID 3 FLAGS (\\Flagged \\Answered))']);
    await c.bad('STORE 1 +FLAGS (\\Bogus');
    await c.no('STORE 1 +FLAGS (\\NoSuchSystemFlag)', 'CANNOT');
  });

  it('RFC 7162 §3.1.3: STORE (UNCHANGEDSINCE) changes what is unchanged, reports MODIFIED for the rest, and answers MODSEQ', async () => {
    await fresh(2);
    const m = await c.ok('FETCH 1:2 (MODSEQ)');
    const modseq = Number(/MODSEQ \((\d+)\)/.exec(m.lines[0])![1]);
    await c.ok('STORE 2 +FLAGS (\\Seen)');
    const r = await c.ok(`STORE 1:2 (UNCHANGEDSINCE ${modseq}) +FLAGS (\\Flagged)`);
    expect(r.tagged).toMatch(/OK \[MODIFIED 2\]/);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^\* 1 FETCH \(UID \d+ FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$/);
    const silent = await c.ok('STORE 1 +FLAGS.SILENT (\\Draft)');
    expect(silent.lines[0]).toMatch(/^\* 1 FETCH \(UID \d+ MODSEQ \(\d+\)\)$/);
    const u = await c.ok(`UID STORE 1:* (UNCHANGEDSINCE 1) +FLAGS (\\Answered)`);
    expect(u.tagged).toMatch(/OK \[MODIFIED 1:2\]/);
  });

  it('RFC 9051 §6.4.3: EXPUNGE sends one EXPUNGE per removed message with the numbers as they shift', async () => {
    await fresh(5);
    await c.ok('STORE 2,3,5 +FLAGS.SILENT (\\Deleted)');
    const r = await c.ok('EXPUNGE');
    expect(r.lines).toEqual(['* 2 EXPUNGE', '* 2 EXPUNGE', '* 3 EXPUNGE']);
    expect((await c.ok('FETCH 1:* UID')).lines).toEqual(['* 1 FETCH (UID 1)', '* 2 FETCH (UID 4)']);
  });

  it('RFC 4315 §2.1: UID EXPUNGE removes only the named \\Deleted messages', async () => {
    await fresh(3, '\\Deleted');
    expect((await c.ok('UID EXPUNGE 2:3')).lines).toEqual(['* 2 EXPUNGE', '* 2 EXPUNGE']);
    expect((await c.ok('FETCH 1:* UID')).lines).toEqual(['* 1 FETCH (UID 1)']);
  });

  it('RFC 9051 §6.4.1-2: CLOSE expunges silently and deselects; UNSELECT deselects without expunging; EXAMINE+CLOSE expunges nothing', async () => {
    const name = await fresh(2, '\\Deleted');
    const r = await c.ok('CLOSE');
    expect(r.lines).toEqual([]);
    await c.bad('FETCH 1 FLAGS');
    expect((await c.ok(`STATUS ${name} (MESSAGES)`)).lines[0]).toContain('MESSAGES 0');
    const other = await fresh(2, '\\Deleted');
    await c.ok('UNSELECT');
    expect((await c.ok(`STATUS ${other} (MESSAGES)`)).lines[0]).toContain('MESSAGES 2');
    await c.ok(`EXAMINE ${other}`);
    await c.ok('CLOSE');
    expect((await c.ok(`STATUS ${other} (MESSAGES)`)).lines[0]).toContain('MESSAGES 2');
  });

  it('RFC 4315 §3: COPY answers COPYUID with the target UIDVALIDITY and matching UID sets; a missing target is TRYCREATE', async () => {
    await c.ok('CREATE CopyTarget');
    await append(c, 'CopyTarget', message({ subject: 'already there' }));
    const st = await c.ok('STATUS CopyTarget (UIDVALIDITY)');
    const uv = /UIDVALIDITY (\d+)/.exec(st.lines[0])![1];
    await fresh(4);
    const r = await c.ok('COPY 2:4 CopyTarget');
    expect(r.tagged).toContain(`[COPYUID ${uv} 2:4 2:4]`);
    const u = await c.ok('UID COPY 1,3 CopyTarget');
    expect(u.tagged).toContain(`[COPYUID ${uv} 1,3 5:6]`);
    await c.no('COPY 1 NoSuchBox', 'TRYCREATE');
    expect((await c.ok('STATUS CopyTarget (MESSAGES)')).lines[0]).toContain('MESSAGES 6');
  });

  it('RFC 6851: MOVE answers COPYUID first, then EXPUNGE for each moved message; UID MOVE too', async () => {
    await c.ok('CREATE MoveTarget');
    await fresh(4);
    const r = await c.ok('MOVE 2:3 MoveTarget');
    expect(r.lines[0]).toMatch(/^\* OK \[COPYUID \d+ 2:3 1:2\]/);
    expect(r.lines.slice(1)).toEqual(['* 2 EXPUNGE', '* 2 EXPUNGE']);
    const u = await c.ok('UID MOVE 4 MoveTarget');
    expect(u.lines[0]).toMatch(/^\* OK \[COPYUID \d+ 4 3\]/);
    expect(u.lines[1]).toBe('* 2 EXPUNGE');
    expect((await c.ok('FETCH 1:* UID')).lines).toEqual(['* 1 FETCH (UID 1)']);
    expect((await c.ok('STATUS MoveTarget (MESSAGES)')).lines[0]).toContain('MESSAGES 3');
  });

  it('RFC 4315 §3 / RFC 9051 §6.3.12: APPEND keeps flags and date and answers APPENDUID; a missing mailbox is TRYCREATE', async () => {
    await c.ok('CREATE AppendBox');
    const st = await c.ok('STATUS AppendBox (UIDVALIDITY)');
    const uv = /UIDVALIDITY (\d+)/.exec(st.lines[0])![1];
    const data = Buffer.from(message({ subject: 'dated' }));
    const r = await c.ok(Buffer.concat([Buffer.from(`APPEND AppendBox (\\Seen $Work) "14-Jul-2026 12:34:56 +0200" {${data.length}+}\r\n`), data]));
    expect(r.tagged).toContain(`[APPENDUID ${uv} 1]`);
    await c.ok('EXAMINE AppendBox');
    const f = await c.ok('FETCH 1 (FLAGS INTERNALDATE)');
    expect(f.lines[0]).toBe('* 1 FETCH (FLAGS (\\Seen $Work) INTERNALDATE "14-Jul-2026 10:34:56 +0000")');
    const no = await c.cmd(Buffer.concat([Buffer.from(`APPEND NoSuchBox {${data.length}+}\r\n`), data]));
    expect(no.tagged).toMatch(/NO \[TRYCREATE\]/);
  });

  it('RFC 3502: MULTIAPPEND stores all messages in one go (APPENDUID with a set); one bad message stores none', async () => {
    await c.ok('CREATE Multi');
    const a = Buffer.from(message({ subject: 'a' }));
    const b = Buffer.from(message({ subject: 'b' }));
    const r = await c.ok(Buffer.concat([Buffer.from(`APPEND Multi {${a.length}+}\r\n`), a, Buffer.from(` (\\Flagged) {${b.length}+}\r\n`), b]));
    expect(r.tagged).toMatch(/\[APPENDUID \d+ 1:2\]/);
    const empty = Buffer.alloc(0);
    const bad = await c.cmd(Buffer.concat([Buffer.from(`APPEND Multi {${a.length}+}\r\n`), a, Buffer.from(` {${empty.length}+}\r\n`), empty]));
    expect(bad.tagged).toMatch(/ NO /);
    expect((await c.ok('STATUS Multi (MESSAGES)')).lines[0]).toContain('MESSAGES 2');
  });

  it('RFC 3516 §4.4: APPEND with a literal8 stores NUL octets byte for byte', async () => {
    await c.ok('CREATE Binary');
    const data = Buffer.concat([Buffer.from('Subject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'), Buffer.from([0, 1, 2, 0, 255]), Buffer.from('\r\n')]);
    await c.ok(Buffer.concat([Buffer.from(`APPEND Binary ~{${data.length}+}\r\n`), data]));
    await c.ok('EXAMINE Binary');
    await c.ok('FETCH 1 BODY.PEEK[]');
    expect(c.literals[c.literals.length - 1].equals(data)).toBe(true);
  });

  it('RFC 7889: APPEND over APPENDLIMIT is refused with NO [TOOBIG] before the literal is sent; the session goes on', async () => {
    const caps = (await c.ok('CAPABILITY')).lines[0];
    expect(caps).toContain('APPENDLIMIT=65536');
    c.write('big APPEND INBOX {70000}\r\n');
    expect(await c.line()).toMatch(/^big NO \[TOOBIG\]/);
    await c.ok('NOOP');
  });

  it('RFC 9208 §4.3: an APPEND beyond the quota is NO [OVERQUOTA]; GETQUOTAROOT reports usage and the limit in KiB', async () => {
    const q = await c.ok('GETQUOTAROOT INBOX');
    expect(q.lines[0]).toBe('* QUOTAROOT "INBOX" ""');
    expect(q.lines[1]).toMatch(/^\* QUOTA "" \(STORAGE \d+ 2048\)$/);
    const chunk = Buffer.from(message({ subject: 'filler', body: 'x'.repeat(60_000) }));
    let refused = false;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await c.cmd(Buffer.concat([Buffer.from(`APPEND INBOX {${chunk.length}+}\r\n`), chunk]));
      if (r.status === 'NO') {
        expect(r.tagged).toMatch(/NO \[OVERQUOTA\]/);
        refused = true;
      }
    }
    expect(refused).toBe(true);
    await c.no('SETQUOTA "" (STORAGE 1)', 'NOPERM');
    expect((await c.ok('GETQUOTA ""')).lines[0]).toMatch(/^\* QUOTA "" \(STORAGE \d+ 2048\)$/);
  });
});
