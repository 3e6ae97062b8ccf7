/**
 * Issue 4 point 5: POP3 and IMAP share the INBOX. A POP3 DELE followed by QUIT is seen at
 * once by an IMAP session idling on that INBOX, and by a later IMAP SELECT; a DELE without
 * QUIT changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, deliver, message, startImapServer, PASSWORD, type ImapTestServer } from './harness.ts';
import { Pop3Client } from '../pop3/harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

describe('POP3 and IMAP on one INBOX', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  let pop3: number;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
    pop3 = ts.running.listening.find((l) => l.name === 'pop3')!.port;
    for (let i = 1; i <= 3; i++) await deliver(ts, alice.address, message({ subject: `pop ${i}` }));
  });
  afterAll(async () => ts?.cleanup());

  it('RFC 1939 §6: DELE then QUIT removes the message; an IDLE IMAP session gets EXPUNGE at once', async () => {
    const imap = await ImapTestClient.login(ts.imapPort, alice);
    expect((await imap.ok('SELECT INBOX')).lines).toContain('* 3 EXISTS');
    imap.write('i IDLE\r\n');
    expect(await imap.line()).toBe('+ idling');

    // A session that deletes but drops the connection without QUIT changes nothing (RFC 1939 §6).
    const quitter = await Pop3Client.connect(pop3);
    expect(await quitter.cmd(`USER ${alice.address}`)).toMatch(/^\+OK/);
    expect(await quitter.cmd(`PASS ${PASSWORD}`)).toMatch(/^\+OK/);
    expect(await quitter.cmd('DELE 1')).toMatch(/^\+OK/);
    quitter.socket.destroy();
    await quitter.closed;

    const p = await Pop3Client.connect(pop3);
    expect(await p.cmd(`USER ${alice.address}`)).toMatch(/^\+OK/);
    expect(await p.cmd(`PASS ${PASSWORD}`)).toMatch(/^\+OK/);
    expect(await p.cmd('STAT')).toMatch(/^\+OK 3 /);
    expect(await p.cmd('DELE 2')).toMatch(/^\+OK/);
    expect(await p.cmd('QUIT')).toMatch(/^\+OK/);
    expect(await imap.waitFor(/EXPUNGE$/)).toBe('* 2 EXPUNGE');
    imap.write('DONE\r\n');
    await imap.waitFor(/^i OK/);
    const f = await imap.ok('FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
    expect(f.lines.map((l) => /Subject: (.*)\r\n/.exec(l)![1])).toEqual(['pop 1', 'pop 3']);
    await imap.close();
  });
});
