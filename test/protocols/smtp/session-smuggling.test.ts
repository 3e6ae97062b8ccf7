/**
 * SMTP smuggling and malformed input, over real sockets: every fake end-of-data variant and
 * every bare CR or LF, in data and in commands, ends the session with 521 5.5.2 and stores
 * nothing (in particular no second, smuggled message); overlong and malformed command lines
 * get 500/501 with enhanced codes and the session goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { addAccount, ehloClient, inbox, inboxMessages, message, startTestServer, storeCounts, SmtpClient, DOMAIN, type TestServer } from './harness.ts';

describe('SMTP smuggling and malformed input', () => {
  let s: TestServer;
  let alice: AccountInfo;

  beforeAll(async () => {
    s = await startTestServer();
    alice = await addAccount(s.app, 'alice');
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  /** Expects 521 5.5.2 as the next reply, then the close, and no further reply. */
  async function expect521AndClose(c: SmtpClient): Promise<void> {
    const r = await c.reply();
    expect([r.code, r.enhanced]).toEqual([521, '5.5.2']);
    await c.waitClosed();
    expect(await c.read()).toBeNull();
  }

  const SMUGGLED = [
    'MAIL FROM:<ceo@example.org>',
    `RCPT TO:<alice@${DOMAIN}>`,
    'DATA',
    'From: ceo@example.org',
    'Subject: smuggled',
    '',
    'Please wire the money.',
    '.',
    'QUIT',
    '',
  ].join('\r\n');

  // Each fake end-of-data that some receiver somewhere has taken for <CRLF>.<CRLF>.
  const VARIANTS: [string, string][] = [
    ['<LF>.<LF>', '\n.\n'],
    ['<LF>.<CR><LF>', '\n.\r\n'],
    ['<CR><LF>.<LF>', '\r\n.\n'],
    ['<CR>.<CR>', '\r.\r'],
    ['<CR><LF>.<CR>', '\r\n.\r'],
    ['<CR>.<CR><LF>', '\r.\r\n'],
    ['<CR>.<LF>', '\r.\n'],
  ];

  for (const [name, fake] of VARIANTS) {
    it(`smuggling with ${name}: 521 5.5.2, the connection is closed, and no message (neither the first nor a smuggled one) is stored`, async () => {
      const before = await storeCounts(s.app);
      const c = await ehloClient(s.port.smtp);
      expect((await c.cmd('MAIL FROM:<attacker@remote.example>')).code).toBe(250);
      expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
      expect((await c.cmd('DATA')).code).toBe(354);
      // The first message, the fake end, and a whole second transaction in one write.
      c.write(`From: attacker@remote.example\r\nSubject: innocent\r\n\r\nhello${fake}${SMUGGLED}`);
      await expect521AndClose(c);
      expect(await storeCounts(s.app)).toEqual(before);
    });
  }

  it('smuggling: the fake end and the smuggled transaction in separate writes change nothing', async () => {
    const before = await storeCounts(s.app);
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<attacker@remote.example>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write('Subject: innocent\r\n\r\nhello\n');
    c.write(`.\n${SMUGGLED}`);
    await expect521AndClose(c);
    expect(await storeCounts(s.app)).toEqual(before);
  });

  it('a bare LF inside an ordinary data line: 521 5.5.2, nothing stored', async () => {
    const before = (await inbox(s.app, alice)).length;
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write('Subject: lf\r\n\r\nline one\nline two\r\n.\r\n');
    await expect521AndClose(c);
    expect((await inbox(s.app, alice)).length).toBe(before);
  });

  it('a bare CR inside an ordinary data line: 521 5.5.2, nothing stored', async () => {
    const before = (await inbox(s.app, alice)).length;
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write('Subject: cr\r\n\r\nline one\rline two\r\n.\r\n');
    await expect521AndClose(c);
    expect((await inbox(s.app, alice)).length).toBe(before);
  });

  it('a command line ending in a bare LF: 521 5.5.2 and close; the rest is not read as commands', async () => {
    const c = await SmtpClient.connect(s.port.smtp);
    c.write('EHLO client.example.net\nNOOP\r\n');
    await expect521AndClose(c);
  });

  it('a bare CR in a command line: 521 5.5.2 and close', async () => {
    const c = await ehloClient(s.port.smtp);
    c.write('NOOP\rRSET\r\n');
    await expect521AndClose(c);
  });

  it('a bare LF between pipelined commands ends the session before the transaction after it', async () => {
    const before = await storeCounts(s.app);
    const c = await ehloClient(s.port.smtp);
    c.write(`RSET\r\nNOOP\n${SMUGGLED}`);
    const rset = await c.reply();
    expect(rset.code).toBe(250);
    await expect521AndClose(c);
    expect(await storeCounts(s.app)).toEqual(before);
  });

  it('a well-formed message after all that is still delivered (dot-stuffing intact)', async () => {
    const before = (await inbox(s.app, alice)).length;
    const c = await ehloClient(s.port.smtp);
    const r = await c.send('x@remote.example', [`alice@${DOMAIN}`], message(['Subject: fine', '', '.', '..', 'end']));
    expect(r.code).toBe(250);
    expect((await inbox(s.app, alice)).length).toBe(before + 1);
    await c.quit();
  });

  it('GW-DOS-4: an overlong command line gets 500 5.5.6 and the session goes on', async () => {
    const c = await ehloClient(s.port.smtp);
    const r = await c.cmd(`NOOP ${'a'.repeat(5000)}`);
    expect([r.code, r.enhanced]).toEqual([500, '5.5.6']);
    expect((await c.cmd('NOOP')).code).toBe(250);
    // An overlong MAIL does not start a transaction.
    const long = await c.cmd(`MAIL FROM:<${'b'.repeat(3000)}@remote.example>`);
    expect([long.code, long.enhanced]).toEqual([500, '5.5.6']);
    const rcpt = await c.cmd(`RCPT TO:<alice@${DOMAIN}>`);
    expect([rcpt.code, rcpt.enhanced]).toEqual([503, '5.5.1']);
    await c.quit();
  });

  it('malformed and out-of-order commands get 500/501/503/555 with enhanced codes, and the session goes on', async () => {
    const c = await SmtpClient.connect(s.port.smtp);
    const expectReply = async (line: string, code: number, enhanced: string) => {
      const r = await c.cmd(line);
      expect([r.code, r.enhanced], line).toEqual([code, enhanced]);
    };
    await expectReply('MAIL FROM:<x@remote.example>', 503, '5.5.1'); // before EHLO
    await expectReply('EHLO', 501, '5.5.4');
    await expectReply('FROBNICATE', 500, '5.5.2');
    expect((await c.cmd('EHLO client.example.net')).code).toBe(250);
    await expectReply(`RCPT TO:<alice@${DOMAIN}>`, 503, '5.5.1'); // before MAIL
    await expectReply('MAIL FROM:x@remote.example', 501, '5.1.7');
    await expectReply('MAIL FROM:<x@remote.example> FOO=bar', 555, '5.5.4');
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    await expectReply('MAIL FROM:<y@remote.example>', 503, '5.5.1'); // nested
    await expectReply('RCPT TO:<alice@>', 501, '5.1.3');
    await expectReply('RSET now', 501, '5.5.4');
    // Nine errors so far; max_errors is 10 by default. RSET clears the transaction, not the count.
    expect((await c.cmd('RSET')).code).toBe(250);
    expect((await c.cmd('NOOP')).code).toBe(250);
    const vrfy = await c.cmd(`VRFY alice@${DOMAIN}`);
    expect(vrfy.code).toBe(252);
    await c.quit();
  });

  it('a NUL in a command line gets 500 5.5.2 and the connection is closed', async () => {
    const c = await ehloClient(s.port.smtp);
    c.write('NOOP\u0000\r\nNOOP\r\n');
    const r = await c.reply();
    expect([r.code, r.enhanced]).toEqual([500, '5.5.2']);
    await c.waitClosed();
    expect(await c.read()).toBeNull();
  });

  it('a command line that is not UTF-8 gets 500 5.5.2 and the connection is closed', async () => {
    const c = await ehloClient(s.port.smtp);
    c.write(Buffer.from([0x4e, 0x4f, 0x4f, 0x50, 0x20, 0xff, 0xfe, 0x0d, 0x0a]));
    const r = await c.reply();
    expect([r.code, r.enhanced]).toEqual([500, '5.5.2']);
    await c.waitClosed();
  });

  it('RFC 3030 CHUNKING: BDAT chunks are length-delimited, so command-like bytes inside them are data, never commands', async () => {
    const c = await ehloClient(s.port.smtp);
    expect(c.ehlo.lines).toContain('CHUNKING');
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    const before = (await inbox(s.app, alice)).length;
    const part1 = 'Subject: chunked\r\n\r\nQUIT\r\nRSET\r\n';
    const part2 = '.\r\nMAIL FROM:<smuggled@evil.example>\r\n';
    c.write(`BDAT ${part1.length}\r\n${part1}`);
    const r1 = await c.reply();
    expect([r1.code, r1.enhanced]).toEqual([250, '2.0.0']);
    c.write(`BDAT ${part2.length} LAST\r\n${part2}NOOP\r\n`);
    const r2 = await c.reply();
    expect(r2.code).toBe(250);
    expect((await c.reply()).lines[0]).toBe('Ok'); // the NOOP
    await c.quit();
    const msgs = await inboxMessages(s.app, alice);
    expect(msgs).toHaveLength(before + 1);
    expect(msgs.at(-1)!.raw.toString().endsWith(part1 + part2)).toBe(true);
  });

  it('RFC 3030: BDAT before RCPT is refused after its chunk is read; DATA after BDAT and DATA with BODY=BINARYMIME are out of sequence', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    c.write('BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n');
    expect((await c.reply()).code).toBe(554);
    expect((await c.reply()).code).toBe(250); // the NOOP: "QUIT" was data of the refused chunk
    expect((await c.cmd('RSET')).code).toBe(250);
    expect((await c.cmd('MAIL FROM:<x@remote.example> BODY=BINARYMIME')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(503);
    expect((await c.cmd('RSET')).code).toBe(250);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    c.write('BDAT 3\r\nabc');
    expect((await c.reply()).code).toBe(250);
    expect((await c.cmd('DATA')).code).toBe(503);
    await c.quit();
  });
});
