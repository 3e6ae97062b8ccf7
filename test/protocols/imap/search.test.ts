/**
 * Issue 4 point 2: SEARCH with every key of RFC 9051 §6.4.4 and CHARSET UTF-8; BODY and
 * TEXT from the full-text index; ESEARCH (RFC 4731), SEARCHRES (RFC 5182), MODSEQ (RFC 7162),
 * OBJECTID and SAVEDATE keys, WITHIN; SORT (RFC 5256, RFC 5957, RFC 5267) and THREAD (RFC 5256).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, startImapServer, type ImapTestServer } from './harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

function msg(o: { from: string; to?: string; cc?: string; subject: string; date: string; body: string; id: string; refs?: string; extra?: string[] }): Buffer {
  return Buffer.from([
    `From: ${o.from}`, `To: ${o.to ?? 'alice@example.org'}`, ...(o.cc ? [`Cc: ${o.cc}`] : []), `Subject: ${o.subject}`, `Date: ${o.date}`,
    `Message-ID: <${o.id}@example.net>`, ...(o.refs ? [`In-Reply-To: <${o.refs}@example.net>`, `References: <${o.refs}@example.net>`] : []),
    ...(o.extra ?? []), 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', o.body, '',
  ].join('\r\n'));
}

describe('IMAP SEARCH, SORT and THREAD', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let c: ImapTestClient;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
    c = await ImapTestClient.login(ts.imapPort, alice);
    await c.ok('CREATE S');
    const msgs: [Buffer, string, string][] = [
      [msg({ from: 'Zoe Adams <zoe@example.net>', subject: 'Budget 2027', date: 'Mon, 30 Nov 2026 08:00:00 +0000', body: 'Please review the budget draft.', id: 'a' }), '(\\Seen)', '"30-Nov-2026 08:00:00 +0000"'],
      [msg({ from: 'Bob Brown <bob@example.net>', cc: 'carol@example.org', subject: 'Re: Budget 2027', date: 'Tue, 1 Dec 2026 09:00:00 +0000', body: 'Looks fine. Grüße aus München', id: 'b', refs: 'a' }), '(\\Flagged)', '"01-Dec-2026 09:00:00 +0000"'],
      [msg({ from: 'alice@example.org', subject: 'Lunch', date: 'Tue, 1 Dec 2026 23:30:00 -0500', body: 'Pizza?', id: 'c', extra: ['X-Priority: 1'] }), '(\\Seen \\Answered $Food)', '"02-Dec-2026 04:30:00 +0000"'],
      [msg({ from: 'Anna <anna@example.net>', subject: '[team] Fwd: Budget 2027', date: 'Wed, 2 Dec 2026 10:00:00 +0000', body: 'x'.repeat(3000), id: 'd', refs: 'b' }), '(\\Deleted)', '"02-Dec-2026 10:00:00 +0000"'],
    ];
    for (const [data, flags, date] of msgs) {
      await c.ok(Buffer.concat([Buffer.from(`APPEND S ${flags} ${date} {${data.length}+}\r\n`), data]));
    }
    await c.ok('SELECT S');
  });
  afterAll(async () => {
    await c?.close();
    await ts?.cleanup();
  });

  const search = async (keys: string) => {
    const r = await c.ok(`SEARCH ${keys}`);
    const line = r.lines.find((l) => l.startsWith('* SEARCH'))!;
    return line.slice('* SEARCH'.length).trim().split(' ').filter(Boolean).map(Number);
  };

  it.each([
    ['ALL', [1, 2, 3, 4]],
    ['SEEN', [1, 3]], ['UNSEEN', [2, 4]], ['FLAGGED', [2]], ['UNFLAGGED', [1, 3, 4]], ['ANSWERED', [3]], ['UNANSWERED', [1, 2, 4]],
    ['DELETED', [4]], ['UNDELETED', [1, 2, 3]], ['DRAFT', []], ['UNDRAFT', [1, 2, 3, 4]], ['KEYWORD $Food', [3]], ['UNKEYWORD $food', [1, 2, 4]],
    ['RECENT', []], ['NEW', []], ['OLD', [1, 2, 3, 4]],
    ['FROM bob', [2]], ['FROM "zoe adams"', [1]], ['TO alice', [1, 2, 3, 4]], ['CC carol', [2]], ['BCC carol', []],
    ['SUBJECT budget', [1, 2, 4]], ['SUBJECT "re: budget"', [2]], ['HEADER X-Priority 1', [3]], ['HEADER X-Priority ""', [3]], ['HEADER Message-ID <c@', [3]],
    ['BODY review', [1]], ['BODY "münchen"', [2]], ['BODY munchen', [2]], ['TEXT lunch', [3]], ['TEXT pizza', [3]], ['BODY lunch', []],
    ['LARGER 2000', [4]], ['SMALLER 2000', [1, 2, 3]],
    ['BEFORE 1-Dec-2026', [1]], ['ON 1-Dec-2026', [2]], ['SINCE 2-Dec-2026', [3, 4]],
    ['SENTBEFORE 1-Dec-2026', [1]], ['SENTON 1-Dec-2026', [2, 3]], ['SENTSINCE 2-Dec-2026', [4]],
    ['2:3', [2, 3]], ['UID 1,4', [1, 4]], ['UID 3:*', [3, 4]], ['3:*', [3, 4]],
    ['NOT SEEN', [2, 4]], ['OR FLAGGED ANSWERED', [2, 3]], ['(SEEN SUBJECT lunch)', [3]], ['NOT (OR SEEN DELETED)', [2]],
    ['SEEN UNDELETED SUBJECT budget', [1]],
    ['SAVEDATESUPPORTED', [1, 2, 3, 4]], ['SAVEDSINCE 1-Jan-2000', [1, 2, 3, 4]], ['SAVEDBEFORE 1-Jan-2000', []],
    ['YOUNGER 999999999', [1, 2, 3, 4]], ['OLDER 999999999', []],
  ])('RFC 9051 §6.4.4: SEARCH %s', async (keys, want) => {
    expect(await search(keys as string)).toEqual(want);
  });

  it('RFC 9051 §6.4.4: CHARSET UTF-8 with a literal; an unknown charset is NO [BADCHARSET (UTF-8 US-ASCII)]', async () => {
    const word = Buffer.from('Grüße');
    const r = await c.ok(Buffer.concat([Buffer.from(`SEARCH CHARSET UTF-8 BODY {${word.length}+}\r\n`), word]));
    expect(r.lines).toContain('* SEARCH 2');
    const bad = await c.no('SEARCH CHARSET KOI8-R BODY x', 'BADCHARSET');
    expect(bad.tagged).toContain('[BADCHARSET (UTF-8 US-ASCII)]');
  });

  it('the full-text index answers BODY by words, so a fragment inside a word is not found (not a scan); an empty string matches all', async () => {
    expect(await search('BODY udget')).toEqual([]);
    expect(await search('BODY budg')).toEqual([1]);
    expect(await search('BODY ""')).toEqual([1, 2, 3, 4]);
  });

  it('RFC 8474: EMAILID and THREADID search keys; a reply is in its parent\'s thread', async () => {
    const f = await c.ok('FETCH 1:2 (EMAILID THREADID)');
    const e1 = /EMAILID \(([^)]+)\)/.exec(f.lines[0])![1];
    const t1 = /THREADID \(([^)]+)\)/.exec(f.lines[0])![1];
    const t2 = /THREADID \(([^)]+)\)/.exec(f.lines[1])![1];
    expect(t2).toBe(t1);
    expect(await search(`EMAILID ${e1}`)).toEqual([1]);
    expect(await search(`THREADID ${t1}`)).toEqual([1, 2, 4]);
    expect(await search('EMAILID M999_1')).toEqual([]);
  });

  it('RFC 4731: SEARCH RETURN (MIN MAX COUNT ALL) answers ESEARCH with the tag; UID SEARCH answers UIDs', async () => {
    const r = await c.ok('SEARCH RETURN (MIN MAX COUNT ALL) UNDELETED');
    expect(r.lines[0]).toMatch(/^\* ESEARCH \(TAG "T\d+"\) MIN 1 MAX 3 ALL 1:3 COUNT 3$/);
    const u = await c.ok('UID SEARCH RETURN () FLAGGED');
    expect(u.lines[0]).toMatch(/^\* ESEARCH \(TAG "T\d+"\) UID ALL 2$/);
    const none = await c.ok('SEARCH RETURN (MIN COUNT) DRAFT');
    expect(none.lines[0]).toMatch(/^\* ESEARCH \(TAG "T\d+"\) COUNT 0$/);
  });

  it('RFC 5182: RETURN (SAVE) keeps the result for "$"; SAVE alone sends no ESEARCH; a failed SEARCH leaves "$" empty', async () => {
    const r = await c.ok('SEARCH RETURN (SAVE) SUBJECT budget');
    expect(r.lines).toEqual([]);
    expect((await c.ok('FETCH $ UID')).lines).toEqual(['* 1 FETCH (UID 1)', '* 2 FETCH (UID 2)', '* 4 FETCH (UID 4)']);
    expect(await search('$ SEEN')).toEqual([1]);
    await c.ok('SEARCH RETURN (SAVE MIN) SUBJECT budget');
    expect((await c.ok('UID FETCH $ UID')).lines).toEqual(['* 1 FETCH (UID 1)']);
    await c.no('SEARCH RETURN (SAVE) CHARSET BOGUS ALL');
    expect((await c.ok('FETCH $ UID')).lines).toEqual([]);
  });

  it('RFC 7162 §3.1.5: SEARCH MODSEQ answers the highest MODSEQ of the matches', async () => {
    const r = await c.ok('SEARCH MODSEQ 1');
    expect(r.lines[0]).toMatch(/^\* SEARCH 1 2 3 4 \(MODSEQ \d+\)$/);
  });

  it('RFC 9051 §6.4.4: for an IMAP4rev2 client SEARCH answers ESEARCH', async () => {
    const c2 = await ImapTestClient.login(ts.imapPort, alice);
    await c2.ok('ENABLE IMAP4rev2');
    await c2.ok('EXAMINE S');
    const r = await c2.ok('SEARCH SEEN');
    expect(r.lines[0]).toMatch(/^\* ESEARCH \(TAG "T\d+"\) ALL 1,3$/);
    await c2.close();
  });

  it.each([
    ['(ARRIVAL)', [1, 2, 3, 4]], ['(REVERSE ARRIVAL)', [4, 3, 2, 1]], ['(DATE)', [1, 2, 3, 4]], ['(SIZE)', [3, 1, 2, 4]],
    ['(SUBJECT)', [1, 2, 4, 3]], ['(FROM)', [3, 4, 2, 1]], ['(DISPLAYFROM)', [3, 4, 2, 1]], ['(REVERSE SUBJECT ARRIVAL)', [3, 1, 2, 4]],
    ['(CC REVERSE DATE)', [4, 3, 1, 2]],
  ])('RFC 5256 §3, RFC 5957: SORT %s', async (criteria, want) => {
    const r = await c.ok(`SORT ${criteria} UTF-8 ALL`);
    expect(r.lines[0]).toBe(`* SORT ${(want as number[]).join(' ')}`);
  });

  it('RFC 5256: UID SORT answers UIDs; RFC 5267: SORT RETURN (COUNT ALL) answers ESEARCH in sorted order', async () => {
    expect((await c.ok('UID SORT (REVERSE SIZE) UTF-8 UNDELETED')).lines[0]).toBe('* SORT 2 1 3');
    const r = await c.ok('SORT RETURN (COUNT ALL) (REVERSE ARRIVAL) UTF-8 ALL');
    expect(r.lines[0]).toMatch(/^\* ESEARCH \(TAG "T\d+"\) ALL 4,3,2,1 COUNT 4$/);
  });

  it('RFC 5256 §3: THREAD=REFERENCES links replies; THREAD=ORDEREDSUBJECT groups by base subject', async () => {
    expect((await c.ok('THREAD REFERENCES UTF-8 ALL')).lines[0]).toBe('* THREAD (1 2 4)(3)');
    expect((await c.ok('THREAD ORDEREDSUBJECT UTF-8 ALL')).lines[0]).toBe('* THREAD (1 (2)(4))(3)');
    expect((await c.ok('UID THREAD REFERENCES UTF-8 SUBJECT lunch')).lines[0]).toBe('* THREAD (3)');
    expect((await c.ok('THREAD REFERENCES UTF-8 DRAFT')).lines[0]).toBe('* THREAD');
  });
});
