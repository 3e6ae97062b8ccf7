/**
 * SMTP reception (the MX listener) end to end, in-process: capabilities, what is stored and
 * when the 250 comes, pipelining, the refusals at RCPT and after the data (GW-DOS-1, GW-ACC-2),
 * alias and list expansion, STARTTLS (RFC 3207), and nodemailer as a real client.
 */
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import {
  actor, addAccount, dotStuff, ehloClient, inbox, inboxMessages, message, splitTrace, startTestServer, storeCounts, SmtpClient,
  DOMAIN, HOSTNAME, type TestServer,
} from './harness.ts';

const MAX_SIZE = 64 * 1024;
const MAX_RCPT = 3;

describe('SMTP reception (MX)', () => {
  let s: TestServer;
  let alice: AccountInfo;
  let bob: AccountInfo;
  let carol: AccountInfo;
  let full: AccountInfo;

  beforeAll(async () => {
    s = await startTestServer({ BULWARK_LIMITS_MAX_MESSAGE_SIZE: String(MAX_SIZE), BULWARK_SMTP_MAX_RECIPIENTS: String(MAX_RCPT) });
    [alice, bob, carol, full] = await Promise.all(['alice', 'bob', 'carol', 'full'].map((l) => addAccount(s.app, l)));
    await addAccount(s.app, 'dave');
    await s.app.directory.setEnabled(actor, `dave@${DOMAIN}`, false);
    await s.app.directory.addAlias(actor, `team@${DOMAIN}`, [`alice@${DOMAIN}`, `bob@${DOMAIN}`]);
    // alice is reached twice (directly and through the alias), bob once through the alias.
    await s.app.directory.addList(actor, { address: `everyone@${DOMAIN}`, postPolicy: 'anyone', members: [`alice@${DOMAIN}`, `team@${DOMAIN}`, `carol@${DOMAIN}`] });
    await s.app.directory.addList(actor, { address: `staff@${DOMAIN}`, postPolicy: 'members', members: [`alice@${DOMAIN}`, `bob@${DOMAIN}`] });
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('GW-DOS-1: EHLO advertises SIZE <limit>, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN and STARTTLS, and no AUTH', async () => {
    const c = await ehloClient(s.port.smtp);
    expect(c.greeting.code).toBe(220);
    expect(c.greeting.lines[0]).toMatch(new RegExp(`^${HOSTNAME} ESMTP`));
    expect(c.ehlo.code).toBe(250);
    const caps = c.ehlo.lines.slice(1);
    expect(caps).toEqual(expect.arrayContaining(['PIPELINING', `SIZE ${MAX_SIZE}`, '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'STARTTLS']));
    expect(caps.some((l) => /^AUTH\b/i.test(l))).toBe(false);
    // No AUTH on the MX listener at all: use the submission port.
    const auth = await c.cmd('AUTH PLAIN');
    expect([auth.code, auth.enhanced]).toEqual([502, '5.5.1']);
    // HELO gets a plain 250 without extensions.
    const helo = await c.cmd('HELO client.example.net');
    expect(helo.code).toBe(250);
    expect(helo.lines).toHaveLength(1);
    await c.quit();
  });

  it('delivers into INBOX with Return-Path and Received prepended, the body byte-exact and dot-unstuffed, metadata parsed, and answers 250 only once stored', async () => {
    const body = Buffer.from(message([
      'From: "Sender Name" <sender@remote.example>',
      `To: alice@${DOMAIN}`,
      `Subject: =?UTF-8?B?${Buffer.from('Grüße aus Köln', 'utf8').toString('base64')}?=`,
      'Message-ID: <m1.test@remote.example>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      '.leading dot, stuffed on the wire',
      '.',
      '..two dots',
      'Grüße, 8-bit: \u00e9\u00e8',
      '  trailing spaces  ',
      '',
      '',
    ]), 'utf8');
    const before = (await inbox(s.app, alice)).length;
    const c = await ehloClient(s.port.smtp, { helo: 'relay.remote.example' });
    expect((await c.cmd('MAIL FROM:<sender@remote.example> BODY=8BITMIME')).code).toBe(250);
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    const d = await c.cmd('DATA');
    expect(d.code).toBe(354);
    c.write(Buffer.concat([dotStuff(body), Buffer.from('.\r\n')]));
    const done = await c.reply();
    // The row exists as soon as the 250 has arrived: nothing is acknowledged before it is stored.
    const rows = await inbox(s.app, alice);
    expect([done.code, done.enhanced]).toEqual([250, '2.0.0']);
    expect(rows).toHaveLength(before + 1);
    const queueId = /queued as (\S+)/.exec(done.lines[0])?.[1];
    expect(queueId).toBeTruthy();

    const row = rows[rows.length - 1];
    const raw = await s.app.mail.readMessage(alice, row.id);
    const t = splitTrace(raw);
    expect(t.returnPath).toBe('<sender@remote.example>');
    expect(t.received).toMatch(/^Received: from relay\.remote\.example \(\[127\.0\.0\.1\]\)\r\n\t/);
    expect(t.received).toContain(`by ${HOSTNAME} (Bulwark) with ESMTP id ${queueId}`);
    expect(t.received).toContain(`for <alice@${DOMAIN}>`);
    expect(t.rest.toString('latin1')).toBe(body.toString('latin1'));
    expect(t.rest.equals(body)).toBe(true);
    expect(row.size).toBe(raw.byteLength);
    expect(row.subject).toBe('Grüße aus Köln');
    expect(row.from_addr).toBe('sender@remote.example');
    expect(row.message_id).toBe('m1.test@remote.example');
    await c.quit();
  });

  it('null reverse-path: Return-Path <>', async () => {
    const c = await ehloClient(s.port.smtp);
    const r = await c.send('', [`carol@${DOMAIN}`], message(['Subject: bounce', '', 'x']));
    expect(r.code).toBe(250);
    const msgs = await inboxMessages(s.app, carol);
    expect(splitTrace(msgs[msgs.length - 1].raw).returnPath).toBe('<>');
    await c.quit();
  });

  it('PIPELINING: a whole transaction in one write gets its replies in order, and a second transaction follows', async () => {
    const before = { alice: (await inbox(s.app, alice)).length, bob: (await inbox(s.app, bob)).length, carol: (await inbox(s.app, carol)).length };
    const c = await SmtpClient.connect(s.port.smtp);
    c.write([
      'EHLO pipeline.example.net',
      'MAIL FROM:<pipe@remote.example>',
      `RCPT TO:<alice@${DOMAIN}>`,
      `RCPT TO:<nobody@${DOMAIN}>`,
      `RCPT TO:<bob@${DOMAIN}>`,
      'DATA',
      'Subject: pipelined one',
      '',
      'first',
      '.',
      'RSET',
      'MAIL FROM:<pipe@remote.example>',
      `RCPT TO:<carol@${DOMAIN}>`,
      'DATA',
      'Subject: pipelined two',
      '',
      'second',
      '.',
      'NOOP',
      'QUIT',
      '',
    ].join('\r\n'));
    const replies = await c.replies(14);
    expect(replies.map((r) => r.code)).toEqual([250, 250, 250, 550, 250, 354, 250, 250, 250, 250, 354, 250, 250, 221]);
    expect(replies[3].enhanced).toBe('5.1.1');
    expect(replies[0].lines).toContain('PIPELINING');
    await c.waitClosed();
    expect((await inbox(s.app, alice)).length).toBe(before.alice + 1);
    expect((await inbox(s.app, bob)).length).toBe(before.bob + 1);
    const carolMsgs = await inboxMessages(s.app, carol);
    expect(carolMsgs.length).toBe(before.carol + 1);
    expect(carolMsgs[carolMsgs.length - 1].row.subject).toBe('pipelined two');
  });

  it('GW-ACC-2: an unknown local recipient gets 550 5.1.1 and a foreign domain 550 5.7.1 (no open relay)', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<someone@remote.example>')).code).toBe(250);
    const unknown = await c.cmd(`RCPT TO:<nobody@${DOMAIN}>`);
    expect([unknown.code, unknown.enhanced]).toEqual([550, '5.1.1']);
    const relay = await c.cmd('RCPT TO:<victim@foreign.example>');
    expect([relay.code, relay.enhanced]).toEqual([550, '5.7.1']);
    // A sender claiming a local address does not open the relay either.
    await c.cmd('RSET');
    expect((await c.cmd(`MAIL FROM:<alice@${DOMAIN}>`)).code).toBe(250);
    const relay2 = await c.cmd('RCPT TO:<victim@foreign.example>');
    expect([relay2.code, relay2.enhanced]).toEqual([550, '5.7.1']);
    // Nothing accepted: DATA is refused.
    const data = await c.cmd('DATA');
    expect(data.code).toBe(554);
    await c.quit();
  });

  it('GW-DOS-1: MAIL with SIZE=limit+1 gets 552 5.3.4; SIZE=limit is accepted', async () => {
    const c = await ehloClient(s.port.smtp);
    const big = await c.cmd(`MAIL FROM:<x@remote.example> SIZE=${MAX_SIZE + 1}`);
    expect([big.code, big.enhanced]).toEqual([552, '5.3.4']);
    const ok = await c.cmd(`MAIL FROM:<x@remote.example> SIZE=${MAX_SIZE}`);
    expect(ok.code).toBe(250);
    await c.quit();
  });

  it('GW-DOS-1: a DATA body over the limit without SIZE gets 552 5.3.4 after the data, nothing is stored, and the session goes on', async () => {
    const before = await storeCounts(s.app);
    const inboxBefore = (await inbox(s.app, alice)).length;
    const c = await ehloClient(s.port.smtp);
    const line = `${'x'.repeat(998)}\r\n`;
    const body = `Subject: too big\r\n\r\n${line.repeat(Math.ceil(MAX_SIZE / line.length) + 1)}`;
    expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_SIZE);
    const r = await c.send('x@remote.example', [`alice@${DOMAIN}`], body);
    expect([r.code, r.enhanced]).toEqual([552, '5.3.4']);
    // Nothing of the refused message is stored; the recipient gets one short notice instead
    // (S 4.357; on by default), which is the only new message.
    const after = await storeCounts(s.app);
    expect(after.messages).toBe(before.messages + 1);
    const msgs = await inboxMessages(s.app, alice);
    expect(msgs).toHaveLength(inboxBefore + 1);
    const notice = msgs[msgs.length - 1].raw.toString();
    expect(notice).toContain('Subject: A message to you was refused: too large');
    expect(notice).not.toContain('x'.repeat(100));
    // The transaction is over, the session is not.
    expect((await c.cmd('NOOP')).code).toBe(250);
    const small = await c.send('x@remote.example', [`alice@${DOMAIN}`], message(['Subject: small', '', 'fits']));
    expect(small.code).toBe(250);
    await c.quit();
  });

  it(`GW-DOS-4: more than max_recipients (${MAX_RCPT}) RCPTs get 452 4.5.3; the message goes to the accepted ones`, async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    const rcpts = [];
    for (const l of ['alice', 'bob', 'carol', 'full']) rcpts.push(await c.cmd(`RCPT TO:<${l}@${DOMAIN}>`));
    expect(rcpts.map((r) => r.code)).toEqual([250, 250, 250, 452]);
    expect(rcpts[3].enhanced).toBe('4.5.3');
    const fullBefore = (await inbox(s.app, full)).length;
    expect((await c.cmd('DATA')).code).toBe(354);
    c.write('Subject: many\r\n\r\nx\r\n.\r\n');
    expect((await c.reply()).code).toBe(250);
    expect((await inbox(s.app, full)).length).toBe(fullBefore);
    await c.quit();
  });

  it('a mailbox over its quota is refused at RCPT with 452 4.2.2 (temporary by default)', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.send('x@remote.example', [`full@${DOMAIN}`], message(['Subject: fill', '', 'x']))).code).toBe(250);
    await s.app.directory.updateAccount(actor, `full@${DOMAIN}`, { quota: 10 });
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    const r = await c.cmd(`RCPT TO:<full@${DOMAIN}>`);
    expect([r.code, r.enhanced]).toEqual([452, '4.2.2']);
    // Others in the same transaction are still accepted.
    expect((await c.cmd(`RCPT TO:<alice@${DOMAIN}>`)).code).toBe(250);
    await c.quit();
  });

  it('a list whose posting policy refuses the sender gets 550 5.7.1 naming the policy; a member may post', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<outsider@remote.example>')).code).toBe(250);
    const r = await c.cmd(`RCPT TO:<staff@${DOMAIN}>`);
    expect([r.code, r.enhanced]).toEqual([550, '5.7.1']);
    expect(r.lines.join(' ')).toMatch(/staff@example\.org accepts posts only from its members/);
    await c.cmd('RSET');
    const bobBefore = (await inbox(s.app, bob)).length;
    expect((await c.send(`alice@${DOMAIN}`, [`staff@${DOMAIN}`], message(['Subject: staff', '', 'x']))).code).toBe(250);
    expect((await inbox(s.app, bob)).length).toBe(bobBefore + 1);
    await c.quit();
  });

  it('alias and list expansion deliver to every member exactly once', async () => {
    const before = await Promise.all([alice, bob, carol].map(async (a) => (await inbox(s.app, a)).length));
    const c = await ehloClient(s.port.smtp);
    // alice: directly, through team@ and through everyone@ (directly and through team@).
    const r = await c.send('x@remote.example', [`team@${DOMAIN}`, `everyone@${DOMAIN}`, `alice@${DOMAIN}`], message(['Subject: expansion', 'Message-ID: <exp@remote.example>', '', 'x']));
    expect(r.code).toBe(250);
    const after = await Promise.all([alice, bob, carol].map((a) => inboxMessages(s.app, a)));
    after.forEach((msgs, i) => {
      expect(msgs.length).toBe(before[i] + 1);
      expect(msgs[msgs.length - 1].row.message_id).toBe('exp@remote.example');
    });
    await c.quit();
  });

  it('a disabled account gets 550 5.2.1', async () => {
    const c = await ehloClient(s.port.smtp);
    expect((await c.cmd('MAIL FROM:<x@remote.example>')).code).toBe(250);
    const r = await c.cmd(`RCPT TO:<dave@${DOMAIN}>`);
    expect([r.code, r.enhanced]).toEqual([550, '5.2.1']);
    await c.quit();
  });

  it('RFC 3207: bytes pipelined after STARTTLS are discarded, and the EHLO state is reset by TLS', async () => {
    const c = await ehloClient(s.port.smtp);
    c.write('STARTTLS\r\nRSET\r\n');
    const r = await c.reply();
    expect([r.code, r.enhanced]).toEqual([220, '2.0.0']);
    await c.upgrade();
    // Had RSET been answered, its 250 would come now: instead MAIL gets its own reply, 503
    // because the EHLO before TLS no longer counts.
    const mail = await c.cmd('MAIL FROM:<x@remote.example>');
    expect([mail.code, mail.enhanced]).toEqual([503, '5.5.1']);
    const ehlo = await c.cmd('EHLO client.example.net');
    expect(ehlo.code).toBe(250);
    expect(ehlo.lines).not.toContain('STARTTLS');
    expect(ehlo.lines.some((l) => /^AUTH\b/.test(l))).toBe(false);
    const again = await c.cmd('STARTTLS');
    expect([again.code, again.enhanced]).toEqual([503, '5.5.1']);
    const before = (await inbox(s.app, alice)).length;
    expect((await c.send('tls@remote.example', [`alice@${DOMAIN}`], message(['Subject: over tls', '', 'x']))).code).toBe(250);
    const msgs = await inboxMessages(s.app, alice);
    expect(msgs.length).toBe(before + 1);
    const { received } = splitTrace(msgs[msgs.length - 1].raw);
    expect(received).toMatch(/with ESMTPS id/);
    expect(received).toMatch(/\(version=TLSv1\.[23] cipher=\S+\)/);
    await c.quit();
  });

  it('STARTTLS takes no argument (501) ', async () => {
    const c = await ehloClient(s.port.smtp);
    const r = await c.cmd('STARTTLS now');
    expect([r.code, r.enhanced]).toEqual([501, '5.5.4']);
    expect((await c.cmd('NOOP')).code).toBe(250);
    await c.quit();
  });

  it('nodemailer delivers in plain text to the smtp port', async () => {
    const before = (await inbox(s.app, bob)).length;
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: s.port.smtp, secure: false, ignoreTLS: true, name: 'nm.example.net' });
    try {
      const info = await t.sendMail({ from: 'nm@remote.example', to: `bob@${DOMAIN}`, subject: 'Hello from nodemailer', text: 'plain\r\n.dot line\r\n' });
      expect(info.accepted).toEqual([`bob@${DOMAIN}`]);
      expect(info.response).toMatch(/^250 2\.0\.0/);
      const msgs = await inboxMessages(s.app, bob);
      expect(msgs.length).toBe(before + 1);
      const m = msgs[msgs.length - 1];
      expect(m.row.subject).toBe('Hello from nodemailer');
      expect(m.row.message_id).toBe(info.messageId.replace(/^<|>$/g, ''));
      const { received, rest } = splitTrace(m.raw);
      expect(received).toMatch(/^Received: from nm\.example\.net \(\[127\.0\.0\.1\]\)/);
      expect(received).toMatch(/with ESMTP id/);
      expect(rest.toString('utf8')).toContain('\r\n.dot line\r\n');
    } finally {
      t.close();
    }
  });

  it('nodemailer delivers over STARTTLS to the smtp port', async () => {
    const before = (await inbox(s.app, carol)).length;
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: s.port.smtp, secure: false, requireTLS: true, name: 'nm.example.net', tls: { rejectUnauthorized: false } });
    try {
      const info = await t.sendMail({ from: 'nm@remote.example', to: `carol@${DOMAIN}`, subject: 'Hello over TLS', text: 'secret' });
      expect(info.accepted).toEqual([`carol@${DOMAIN}`]);
      const msgs = await inboxMessages(s.app, carol);
      expect(msgs.length).toBe(before + 1);
      const { received } = splitTrace(msgs[msgs.length - 1].raw);
      expect(received).toMatch(/with ESMTPS id/);
      expect(msgs[msgs.length - 1].row.subject).toBe('Hello over TLS');
    } finally {
      t.close();
    }
  });
});
