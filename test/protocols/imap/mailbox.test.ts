/**
 * Issue 4 points 1 and 2: mailbox commands over the wire — LIST (basic, LIST-EXTENDED,
 * LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, CREATE (with CREATE-SPECIAL-USE and missing
 * parents), DELETE, RENAME, SUBSCRIBE, NAMESPACE, STATUS (RFC 8438 SIZE, RFC 8474 MAILBOXID,
 * RFC 7162 HIGHESTMODSEQ), SELECT/EXAMINE responses for IMAP4rev1 and IMAP4rev2, and
 * mailbox names in modified UTF-7 and in UTF-8.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, append, message, startImapServer, type ImapTestServer } from './harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

describe('IMAP mailboxes', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let c: ImapTestClient;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
    c = await ImapTestClient.login(ts.imapPort, alice);
  });
  afterAll(async () => {
    await c?.close();
    await ts?.cleanup();
  });

  it('RFC 6154 §2: LIST shows the default mailboxes with their special-use attributes and CHILDREN attributes', async () => {
    const r = await c.ok('LIST "" "*"');
    expect(r.lines).toEqual([
      '* LIST (\\HasNoChildren) "/" "INBOX"',
      '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
      '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
      '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
      '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
      '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
    ]);
  });

  it('RFC 9051 §6.3.9: LIST "" "" gives the delimiter; "%" stops at the delimiter, "*" does not; INBOX matches in any case', async () => {
    expect((await c.ok('LIST "" ""')).lines).toEqual(['* LIST (\\Noselect) "/" ""']);
    await c.ok('CREATE Work/Reports/2026');
    expect((await c.ok('LIST "" %')).lines.map((l) => l.split('"/" ')[1])).toEqual(['"INBOX"', '"Drafts"', '"Sent"', '"Junk"', '"Trash"', '"Archive"', '"Work"']);
    expect((await c.ok('LIST "" "Work/*"')).lines.map((l) => l.split('"/" ')[1])).toEqual(['"Work/Reports"', '"Work/Reports/2026"']);
    expect((await c.ok('LIST "" "Work/%"')).lines).toEqual(['* LIST (\\HasChildren) "/" "Work/Reports"']);
    expect((await c.ok('LIST "Work/" "%"')).lines).toEqual(['* LIST (\\HasChildren) "/" "Work/Reports"']);
    expect((await c.ok('LIST "" "inbox"')).lines).toEqual(['* LIST (\\HasNoChildren) "/" "INBOX"']);
  });

  it('RFC 9051 §6.3.3 / RFC 6154 §3: CREATE with USE; an unsupported attribute is NO [USEATTR]; an existing name NO [ALREADYEXISTS]', async () => {
    await c.ok('CREATE "My Archive" (USE (\\Archive))');
    const l = await c.ok('LIST "" "My Archive"');
    expect(l.lines).toEqual(['* LIST (\\HasNoChildren \\Archive) "/" "My Archive"']);
    await c.no('CREATE Flagged (USE (\\Flagged))', 'USEATTR');
    await c.no('CREATE "My Archive"', 'ALREADYEXISTS');
    await c.no('CREATE INBOX', 'ALREADYEXISTS');
    await c.no('CREATE "a//b"', 'CANNOT');
    await c.no('CREATE Shared', 'CANNOT');
    // RFC 9051 §6.3.3: a trailing delimiter only announces children.
    await c.ok('CREATE Trailing/');
    expect((await c.ok('LIST "" Trailing')).lines).toHaveLength(1);
  });

  it('RFC 6154 §2, RFC 5258: LIST (SPECIAL-USE) lists only special-use mailboxes; RETURN (SPECIAL-USE) is accepted', async () => {
    const r = await c.ok('LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)');
    expect(r.lines.map((l) => l.split('"/" ')[1])).toEqual(['"Drafts"', '"Sent"', '"Junk"', '"Trash"', '"Archive"', '"My Archive"']);
  });

  it('RFC 9051 §6.3.4: DELETE refuses INBOX, a missing mailbox and one with children; deletes a leaf', async () => {
    await c.no('DELETE INBOX', 'CANNOT');
    await c.no('DELETE Nope', 'NONEXISTENT');
    await c.no('DELETE Work', 'HASCHILDREN');
    await c.ok('DELETE Work/Reports/2026');
    expect((await c.ok('LIST "" "Work/*"')).lines).toEqual(['* LIST (\\HasNoChildren) "/" "Work/Reports"']);
  });

  it('RFC 9051 §6.3.6: RENAME renames the children too and keeps UIDVALIDITY; renaming INBOX leaves it empty', async () => {
    await c.ok('CREATE Work/Reports/Old');
    const before = await c.ok('STATUS Work/Reports/Old (UIDVALIDITY MAILBOXID)');
    await c.ok('RENAME Work Job');
    expect((await c.ok('LIST "" "Job*"')).lines.map((l) => l.split('"/" ')[1])).toEqual(['"Job"', '"Job/Reports"', '"Job/Reports/Old"']);
    const after = await c.ok('STATUS Job/Reports/Old (UIDVALIDITY MAILBOXID)');
    expect(after.lines[0].replace('Job', 'Work')).toBe(before.lines[0]);
    await c.no('RENAME Nope Other', 'NONEXISTENT');
    await c.no('RENAME Job Drafts', 'ALREADYEXISTS');

    await append(c, 'INBOX', message({ subject: 'keep me' }));
    await c.ok('RENAME INBOX "Old Mail"');
    expect((await c.ok('STATUS INBOX (MESSAGES)')).lines).toEqual(['* STATUS "INBOX" (MESSAGES 0)']);
    expect((await c.ok('STATUS "Old Mail" (MESSAGES)')).lines).toEqual(['* STATUS "Old Mail" (MESSAGES 1)']);
  });

  it('RFC 9051 §6.3.7-8, RFC 5258 §3: SUBSCRIBE/UNSUBSCRIBE, LSUB, and LIST (SUBSCRIBED RECURSIVEMATCH) with \\NonExistent and CHILDINFO', async () => {
    await c.ok('CREATE Lists/Team');
    await c.ok('SUBSCRIBE Lists/Team');
    await c.ok('SUBSCRIBE Ghost');
    expect((await c.ok('LSUB "" "Lists/*"')).lines).toEqual(['* LSUB (\\HasNoChildren) "/" "Lists/Team"']);
    const sub = await c.ok('LIST (SUBSCRIBED) "" "*"');
    expect(sub.lines).toContain('* LIST (\\NonExistent \\Subscribed) "/" "Ghost"');
    expect(sub.lines).toContain('* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Team"');
    expect(sub.lines).not.toContain('* LIST (\\HasChildren) "/" "Lists"');
    const rec = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"');
    expect(rec.lines).toContain('* LIST (\\HasChildren) "/" "Lists" ("CHILDINFO" ("SUBSCRIBED"))');
    await c.ok('UNSUBSCRIBE Ghost');
    await c.no('UNSUBSCRIBE Ghost', 'NONEXISTENT');
    const ret = await c.ok('LIST "" "Lists*" RETURN (SUBSCRIBED CHILDREN)');
    expect(ret.lines).toEqual(['* LIST (\\HasChildren) "/" "Lists"', '* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Team"']);
  });

  it('RFC 5819: LIST ... RETURN (STATUS (MESSAGES UNSEEN)) sends STATUS after each selectable mailbox', async () => {
    await append(c, 'Lists/Team', message({ subject: 'one' }));
    await append(c, 'Lists/Team', message({ subject: 'two' }), '\\Seen');
    const r = await c.ok('LIST "" "Lists/*" RETURN (STATUS (MESSAGES UNSEEN SIZE))');
    expect(r.lines[0]).toBe('* LIST (\\HasNoChildren) "/" "Lists/Team"');
    expect(r.lines[1]).toMatch(/^\* STATUS "Lists\/Team" \(MESSAGES 2 UNSEEN 1 SIZE \d+\)$/);
  });

  it('RFC 9051 §6.3.11: STATUS with every item, including SIZE, DELETED, HIGHESTMODSEQ, APPENDLIMIT and MAILBOXID', async () => {
    const r = await c.ok('STATUS Lists/Team (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT MAILBOXID)');
    expect(r.lines[0]).toMatch(/^\* STATUS "Lists\/Team" \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 1 DELETED 0 SIZE \d+ HIGHESTMODSEQ \d+ APPENDLIMIT \d+ MAILBOXID \(F\d+_\d+\)\)$/);
    await c.no('STATUS Nope (MESSAGES)', 'NONEXISTENT');
  });

  it('RFC 2342: NAMESPACE has the personal namespace and the other users\' one', async () => {
    expect((await c.ok('NAMESPACE')).lines).toEqual(['* NAMESPACE (("" "/")) (("Shared/" "/")) NIL']);
  });

  it('RFC 3501 §5.1.3: names travel in modified UTF-7; RFC 6855/9051: in UTF-8 once enabled; both name the same mailbox', async () => {
    await c.ok('CREATE "Entw&APw-rfe"');
    expect((await c.ok('LIST "" "Entw*"')).lines).toEqual(['* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"']);
    await c.no('CREATE "bad&name"', 'CANNOT');
    const c2 = await ImapTestClient.login(ts.imapPort, alice);
    await c2.ok('ENABLE UTF8=ACCEPT');
    expect((await c2.ok('LIST "" "Entw*"')).lines).toEqual(['* LIST (\\HasNoChildren) "/" "Entwürfe"']);
    await c2.ok('CREATE "日本語"');
    expect((await c.ok('LIST "" "&ZeVnLIqe-"')).lines).toEqual(['* LIST (\\HasNoChildren) "/" "&ZeVnLIqe-"']);
    await c2.close();
  });

  it('RFC 3501 §6.3.1: SELECT for an IMAP4rev1 client: FLAGS, EXISTS, RECENT, UNSEEN, PERMANENTFLAGS, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, READ-WRITE', async () => {
    const r = await c.ok('SELECT Lists/Team');
    expect(r.tagged).toMatch(/OK \[READ-WRITE\]/);
    const t = r.lines.join('\n');
    expect(t).toMatch(/^\* FLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft\)$/m);
    expect(t).toMatch(/^\* OK \[PERMANENTFLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft \\\*\)\]/m);
    expect(t).toMatch(/^\* 2 EXISTS$/m);
    expect(t).toMatch(/^\* 0 RECENT$/m);
    expect(t).toMatch(/^\* OK \[UNSEEN 1\]/m);
    expect(t).toMatch(/^\* OK \[UIDVALIDITY \d+\]/m);
    expect(t).toMatch(/^\* OK \[UIDNEXT 3\]/m);
    expect(t).toMatch(/^\* OK \[HIGHESTMODSEQ \d+\]/m);
  });

  it('RFC 9051 §6.3.2: an IMAP4rev2 client gets no RECENT and a LIST line; EXAMINE is READ-ONLY with no PERMANENTFLAGS; the previous mailbox is [CLOSED]', async () => {
    const c2 = await ImapTestClient.login(ts.imapPort, alice);
    await c2.ok('ENABLE IMAP4rev2');
    await c2.ok('SELECT INBOX');
    const r = await c2.ok('EXAMINE Lists/Team');
    expect(r.tagged).toMatch(/OK \[READ-ONLY\]/);
    expect(r.lines[0]).toBe('* OK [CLOSED] Previous mailbox closed');
    const t = r.lines.join('\n');
    expect(t).not.toMatch(/RECENT/);
    expect(t).toMatch(/^\* LIST \(\) "\/" "Lists\/Team"$/m);
    expect(t).toMatch(/^\* OK \[PERMANENTFLAGS \(\)\]/m);
    await c2.no('STORE 1 +FLAGS (\\Seen)', 'READ-ONLY');
    await c2.no('SELECT Nope', 'NONEXISTENT');
    // A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
    await c2.bad('FETCH 1 FLAGS');
    await c2.close();
  });
});
