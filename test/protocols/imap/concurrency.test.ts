/**
 * Issue 4 points 2 and 3: several sessions on one mailbox. Untagged EXISTS, EXPUNGE (or
 * VANISHED under QRESYNC) and FETCH FLAGS reach the other sessions only where RFC 9051 §7.5.1
 * allows (never during FETCH, STORE or SEARCH), their message numbers stay consistent, IDLE
 * and NOOP sessions see new mail, flag changes and expunges made by other sessions and by
 * delivery, and QRESYNC resynchronises a reconnecting client (RFC 7162 §3.2.5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, append, deliver, message, startImapServer, type ImapTestServer } from './harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

describe('IMAP sessions on one mailbox', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let n = 0;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
  });
  afterAll(async () => ts?.cleanup());

  async function box(count: number): Promise<string> {
    const name = `Shared${++n}`;
    const c = await ImapTestClient.login(ts.imapPort, alice);
    await c.ok(`CREATE ${name}`);
    for (let i = 1; i <= count; i++) await append(c, name, message({ subject: `m${i}` }));
    await c.close();
    return name;
  }

  it('RFC 9051 §7.5.1: an expunge by another session is announced at NOOP, not during FETCH, STORE or SEARCH; numbers stay consistent', async () => {
    const name = await box(4);
    const a = await ImapTestClient.login(ts.imapPort, alice);
    const b = await ImapTestClient.login(ts.imapPort, alice);
    await a.ok(`SELECT ${name}`);
    await b.ok(`SELECT ${name}`);
    await b.ok('STORE 2 +FLAGS.SILENT (\\Deleted)');
    await b.ok('EXPUNGE');
    // a still counts 4 messages: FETCH, STORE and SEARCH must not announce the expunge.
    const f = await a.ok('FETCH 1:4 UID');
    expect(f.lines.filter((l) => /EXPUNGE/.test(l))).toEqual([]);
    expect(f.lines.filter((l) => /^\* \d+ FETCH/.test(l)).map((l) => l.replace(/\s+$/, ''))).toEqual(['* 1 FETCH (UID 1)', '* 3 FETCH (UID 3)', '* 4 FETCH (UID 4)']);
    expect(f.tagged).toMatch(/OK \[EXPUNGEISSUED\]/);
    const s = await a.ok('SEARCH ALL');
    expect(s.lines.some((l) => /EXPUNGE/.test(l))).toBe(false);
    const st = await a.ok('STORE 4 +FLAGS (\\Flagged)');
    expect(st.lines.some((l) => /EXPUNGE/.test(l))).toBe(false);
    expect(st.lines).toContain('* 4 FETCH (UID 4 FLAGS (\\Flagged))');
    // UID commands and NOOP may announce it.
    const noop = await a.ok('NOOP');
    expect(noop.lines).toContain('* 2 EXPUNGE');
    expect((await a.ok('FETCH 1:* UID')).lines).toEqual(['* 1 FETCH (UID 1)', '* 2 FETCH (UID 3)', '* 3 FETCH (UID 4)']);
    await a.close();
    await b.close();
  });

  it('RFC 9051 §7.4.1: new messages appear as EXISTS, flag changes as FETCH with UID (and MODSEQ under CONDSTORE)', async () => {
    const name = await box(1);
    const a = await ImapTestClient.login(ts.imapPort, alice);
    const b = await ImapTestClient.login(ts.imapPort, alice);
    await a.ok('ENABLE CONDSTORE');
    await a.ok(`SELECT ${name}`);
    await b.ok(`SELECT ${name}`);
    await append(b, name, message({ subject: 'new one' }));
    await b.ok('STORE 1 +FLAGS ($Important)');
    const noop = await a.ok('NOOP');
    expect(noop.lines).toContain('* 2 EXISTS');
    expect(noop.lines.some((l) => /^\* 1 FETCH \(UID 1 FLAGS \(\$Important\) MODSEQ \(\d+\)\)$/.test(l))).toBe(true);
    expect(noop.lines.some((l) => /^\* FLAGS .*\$Important/.test(l))).toBe(true);
    // Nothing is told twice.
    expect((await a.ok('NOOP')).lines).toEqual([]);
    // b's own STORE answer is not repeated to b at its next command.
    expect((await b.ok('NOOP')).lines.filter((l) => /FETCH/.test(l))).toEqual([]);
    await a.close();
    await b.close();
  });

  it('issue 4 point 3: an IDLE session sees a delivery made over SMTP, another session\'s flag change and its expunge, each as it happens', async () => {
    const a = await ImapTestClient.login(ts.imapPort, alice);
    const sel = await a.ok('SELECT INBOX');
    const exists = Number(/\* (\d+) EXISTS/.exec(sel.lines.join('\n'))![1]);
    a.write('idle1 IDLE\r\n');
    expect(await a.line()).toBe('+ idling');
    await deliver(ts, alice.address, message({ subject: 'while idling' }));
    expect(await a.waitFor(/EXISTS$/)).toBe(`* ${exists + 1} EXISTS`);
    const b = await ImapTestClient.login(ts.imapPort, alice);
    await b.ok('SELECT INBOX');
    await b.ok(`STORE ${exists + 1} +FLAGS (\\Seen)`);
    expect(await a.waitFor(/FETCH/)).toMatch(new RegExp(`^\\* ${exists + 1} FETCH \\(UID \\d+ FLAGS \\(\\\\Seen\\)\\)$`));
    await b.ok(`STORE ${exists + 1} +FLAGS.SILENT (\\Deleted)`);
    await b.ok('EXPUNGE');
    expect(await a.waitFor(/EXPUNGE$/)).toBe(`* ${exists + 1} EXPUNGE`);
    a.write('DONE\r\n');
    expect(await a.waitFor(/^idle1 /)).toMatch(/^idle1 OK/);
    await a.close();
    await b.close();
  });

  it('RFC 2177: IDLE in the authenticated state waits quietly and ends with DONE; a line other than DONE is BAD', async () => {
    const a = await ImapTestClient.login(ts.imapPort, alice);
    a.write('i1 IDLE\r\n');
    expect(await a.line()).toBe('+ idling');
    a.write('NOPE\r\n');
    expect(await a.waitFor(/^i1 /)).toMatch(/^i1 BAD/);
    await a.ok('NOOP');
    await a.close();
  });

  it('RFC 7162 §3.2.5.1: SELECT (QRESYNC ...) reports VANISHED (EARLIER) and changed flags since the client\'s modseq; later expunges come as VANISHED', async () => {
    const name = await box(5);
    const a = await ImapTestClient.login(ts.imapPort, alice);
    await a.ok('ENABLE QRESYNC');
    const sel = await a.ok(`SELECT ${name}`);
    const uv = /UIDVALIDITY (\d+)/.exec(sel.lines.join('\n'))![1];
    const hm = /HIGHESTMODSEQ (\d+)/.exec(sel.lines.join('\n'))![1];
    await a.ok('UNSELECT');
    const b = await ImapTestClient.login(ts.imapPort, alice);
    await b.ok(`SELECT ${name}`);
    await b.ok('STORE 1 +FLAGS (\\Seen)');
    await b.ok('STORE 2,4 +FLAGS.SILENT (\\Deleted)');
    await b.ok('EXPUNGE');
    const re = await a.ok(`SELECT ${name} (QRESYNC (${uv} ${hm} 1:5))`);
    expect(re.lines).toContain('* VANISHED (EARLIER) 2,4');
    expect(re.lines.some((l) => /^\* 1 FETCH \(UID 1 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$/.test(l))).toBe(true);
    expect(re.lines.some((l) => /UID [24] /.test(l))).toBe(false);
    await b.ok('STORE 3 +FLAGS.SILENT (\\Deleted)');
    await b.ok('EXPUNGE');
    expect((await a.ok('NOOP')).lines).toContain('* VANISHED 5');
    // UID FETCH (CHANGEDSINCE VANISHED) gives the same picture.
    const f = await a.ok(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${hm} VANISHED)`);
    expect(f.lines[0]).toBe('* VANISHED (EARLIER) 2:5'.replace('2:5', '2,4:5'));
    await a.close();
    await b.close();
  });

  it('RFC 9051 §5.2: twenty sessions append, flag and expunge concurrently; every session ends with the same view as the store', async () => {
    const name = await box(10);
    const sessions = await Promise.all(Array.from({ length: 20 }, () => ImapTestClient.login(ts.imapPort, alice)));
    for (const s of sessions) await s.ok(`SELECT ${name}`);
    await Promise.all(sessions.map(async (s, i) => {
      await append(s, name, message({ subject: `from ${i}` }));
      await s.ok(`UID STORE ${(i % 10) + 1} +FLAGS ($S${i})`);
      if (i % 5 === 0) {
        await s.ok(`UID STORE ${i + 1} +FLAGS.SILENT (\\Deleted)`);
        await s.ok(`UID EXPUNGE ${i + 1}`);
      }
    }));
    const truth = await ts.app.messages.view(alice, (await ts.app.mailboxes.get(alice, name)).id);
    for (const s of sessions) {
      await s.ok('NOOP');
      const uids = (await s.ok('FETCH 1:* UID')).lines.filter((l) => / FETCH /.test(l)).map((l) => Number(/UID (\d+)/.exec(l)![1]));
      expect(uids).toEqual([...truth.uids]);
    }
    await Promise.all(sessions.map((s) => s.close()));
  });
});
