/**
 * Issue 4 point 1 (ACL, RFC 4314, with a shared namespace) and GW-ACC-3: a mailbox is private
 * until its owner grants rights; the grantee finds it under "Shared/<owner>/", with exactly
 * the rights granted; what is not shared does not exist for others (NONEXISTENT, never
 * NOPERM); live updates cross accounts; every grant is audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, append, message, startImapServer, type ImapTestServer } from './harness.ts';
import { auditEvents } from '../smtp/harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

describe('IMAP ACL and shared mailboxes', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let bob: AccountInfo;
  let a: ImapTestClient;
  let b: ImapTestClient;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
    bob = await addAccount(ts.app, 'bob');
    a = await ImapTestClient.login(ts.imapPort, alice);
    b = await ImapTestClient.login(ts.imapPort, bob);
    await a.ok('CREATE Projects/Apollo');
    await append(a, 'Projects/Apollo', message({ subject: 'launch plan' }));
    await append(a, 'Projects/Apollo', message({ subject: 'budget' }));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await ts?.cleanup();
  });

  const shared = `"Shared/alice@example.org/Projects/Apollo"`;

  it('GW-ACC-3: before any grant, bob sees nothing of alice\'s and every command on her mailbox answers NONEXISTENT', async () => {
    expect((await b.ok('LIST "" "Shared*"')).lines).toEqual([]);
    await b.no(`SELECT ${shared}`, 'NONEXISTENT');
    await b.no(`STATUS ${shared} (MESSAGES)`, 'NONEXISTENT');
    await b.no(`MYRIGHTS ${shared}`, 'NONEXISTENT');
    await b.no('SELECT "Shared/alice@example.org/INBOX"', 'NONEXISTENT');
  });

  it('RFC 4314 §3.1-3.6: the owner grants "lr"; GETACL, LISTRIGHTS and MYRIGHTS answer; the grant is audited', async () => {
    await a.ok('SETACL Projects/Apollo bob@example.org lr');
    expect((await a.ok('GETACL Projects/Apollo')).lines).toEqual(['* ACL "Projects/Apollo" "alice@example.org" lrswipkxtea "bob@example.org" lr']);
    expect((await a.ok('MYRIGHTS Projects/Apollo')).lines).toEqual(['* MYRIGHTS "Projects/Apollo" lrswipkxtea']);
    expect((await a.ok('LISTRIGHTS Projects/Apollo bob@example.org')).lines).toEqual(['* LISTRIGHTS "Projects/Apollo" "bob@example.org" "" l r s w i p k x t e a']);
    const ev = await auditEvents(ts.app, 'mailbox.share');
    expect(ev.at(-1)).toMatchObject({ actor: 'alice@example.org', object: 'alice@example.org', detail: { grantee: 'bob@example.org', before: '', after: 'lr', mailbox: 'Projects/Apollo' } });
    await a.no('SETACL Projects/Apollo nobody@example.org lr', 'CANNOT');
    await a.no('SETACL Projects/Apollo bob@example.org lrz', 'CANNOT');
  });

  it('RFC 2342, RFC 4314 §4: bob finds it under Shared/, reads it read-only, and cannot change flags, expunge, append or administer', async () => {
    const list = await b.ok('LIST "" "*"');
    expect(list.lines).toEqual(expect.arrayContaining([
      '* LIST (\\Noselect \\HasChildren) "/" "Shared"',
      '* LIST (\\Noselect \\HasChildren) "/" "Shared/alice@example.org"',
      '* LIST (\\Noselect \\HasChildren) "/" "Shared/alice@example.org/Projects"',
      '* LIST (\\HasNoChildren) "/" "Shared/alice@example.org/Projects/Apollo"',
    ]));
    expect((await b.ok(`MYRIGHTS ${shared}`)).lines).toEqual([`* MYRIGHTS ${shared} lr`]);
    const sel = await b.ok(`SELECT ${shared}`);
    expect(sel.tagged).toMatch(/\[READ-ONLY\]/);
    expect(sel.lines).toContain('* 2 EXISTS');
    const f = await b.ok('FETCH 1:2 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])');
    expect(f.lines[0]).toContain('Subject: launch plan');
    // Read-only: no implicit \Seen for bob (and alice's flags are untouched).
    expect((await a.ok('EXAMINE Projects/Apollo')).lines.join('\n')).toMatch(/\* OK \[UNSEEN 1\]/);
    await b.no('STORE 1 +FLAGS (\\Seen)', 'READ-ONLY');
    await b.no('EXPUNGE', 'READ-ONLY');
    await b.no(`GETACL ${shared}`, 'NOPERM');
    await b.no(`SETACL ${shared} bob@example.org lrswi`, 'NOPERM');
    const data = Buffer.from(message({ subject: 'from bob' }));
    const r = await b.cmd(Buffer.concat([Buffer.from(`APPEND ${shared} {${data.length}+}\r\n`), data]));
    expect(r.tagged).toMatch(/NO \[NOPERM\]/);
    await b.no(`DELETE ${shared}`, 'NOPERM');
  });

  it('RFC 4314: with "+sw i" bob may set \\Seen and keywords and append, but not \\Deleted; alice sees his changes live', async () => {
    await a.ok('SETACL Projects/Apollo bob@example.org +swi');
    expect((await b.ok(`MYRIGHTS ${shared}`)).lines).toEqual([`* MYRIGHTS ${shared} lrswi`]);
    await b.ok(`SELECT ${shared}`);
    await a.ok('SELECT Projects/Apollo');
    const st = await b.ok('STORE 1 +FLAGS ($Reviewed \\Seen)');
    expect(st.lines).toContain('* 1 FETCH (UID 1 FLAGS ($Reviewed \\Seen))');
    // The new keyword is announced, with the flags bob's rights let him change (no \Deleted without "t").
    expect(st.lines).toContain('* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Draft $Reviewed \\*)] Flags permitted');
    // \Deleted needs "t": refused when it is all that was asked.
    await b.no('STORE 2 +FLAGS (\\Deleted)', 'NOPERM');
    const noop = await a.ok('NOOP');
    expect(noop.lines).toContain('* 1 FETCH (UID 1 FLAGS ($Reviewed \\Seen))');
    const data = Buffer.from(message({ subject: 'from bob' }));
    const r = await b.ok(Buffer.concat([Buffer.from(`APPEND ${shared} {${data.length}+}\r\n`), data]));
    expect(r.tagged).toMatch(/\[APPENDUID \d+ 3\]/);
    expect((await a.ok('NOOP')).lines).toContain('* 3 EXISTS');
    // Copying out to his own INBOX works with "r".
    const cp = await b.ok('COPY 1 INBOX');
    expect(cp.tagged).toMatch(/\[COPYUID \d+ 1 1\]/);
    await b.no('MOVE 1 INBOX', 'NOPERM');
  });

  it('GW-ACC-3: revoking "l" hides the mailbox again; DELETEACL removes the grant and is audited', async () => {
    await a.ok('SETACL Projects/Apollo bob@example.org -l');
    expect((await b.ok('LIST "" "Shared*"')).lines).toEqual([]);
    await a.ok('DELETEACL Projects/Apollo bob@example.org');
    await b.no(`STATUS ${shared} (MESSAGES)`, 'NONEXISTENT');
    const ev = await auditEvents(ts.app, 'mailbox.unshare');
    expect(ev.at(-1)).toMatchObject({ detail: { grantee: 'bob@example.org', mailbox: 'Projects/Apollo' } });
  });

  it('RFC 4314 §2: "anyone" shares with every account; the owner\'s own rights cannot be changed', async () => {
    await a.ok('SETACL Projects/Apollo anyone lr');
    expect((await b.ok(`MYRIGHTS ${shared}`)).lines).toEqual([`* MYRIGHTS ${shared} lr`]);
    await a.no('SETACL Projects/Apollo alice@example.org lr', 'NOPERM');
    await a.ok('DELETEACL Projects/Apollo anyone');
  });

  it('a deleted mailbox takes its grants along', async () => {
    await a.ok('CREATE Temp');
    await a.ok('SETACL Temp bob@example.org lr');
    expect((await b.ok('LIST "" "Shared/alice@example.org/Temp"')).lines).toHaveLength(1);
    await a.ok('DELETE Temp');
    await a.ok('CREATE Temp');
    expect((await b.ok('LIST "" "Shared/alice@example.org/Temp"')).lines).toEqual([]);
    expect(await ts.app.sharing.grantsOf(alice.id)).toEqual([]);
  });
});
