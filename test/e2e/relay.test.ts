/**
 * Issue 3 (mail transport), points 2, 3 and 5: a user submits through one Bulwark, which
 * relays over SMTP (MX found through a test DNS server on loopback) to a second Bulwark.
 * Local recipients get their copy at once, Bcc is removed, and a permanent refusal at the
 * other end (oversize, unknown recipient) comes back to the sender as a DSN (RFC 3464) in
 * their own INBOX — the sender is told what happened (S 4.357, GW-DOS-2).
 */
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/ops/lifecycle.ts';
import { initInstallation } from '../../src/ops/init.ts';
import { silentLogger } from '../../src/ops/log.ts';
import { systemActor } from '../../src/core/actor.ts';
import { parseMessage } from '../../src/lib/mime/index.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { LOOPBACK_LISTENERS } from '../harness/cli.ts';
import { startDns, type TestDns } from '../harness/dns.ts';
import { tempDir } from '../harness/tmp.ts';

const PW = 'a long enough secret';
const sys = systemActor('test');

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('relay between two Bulwark servers', () => {
  const tmp = tempDir();
  let dns: TestDns;
  let a: RunningServer;
  let b: RunningServer;
  let alice: AccountInfo;
  let bob: AccountInfo;
  let carol: AccountInfo;

  beforeAll(async () => {
    dns = await startDns({ 'example.net': { MX: [{ exchange: 'mx.example.net', priority: 10 }] }, 'mx.example.net': { A: ['127.0.0.1'] } });
    const env = { ...LOOPBACK_LISTENERS, BULWARK_DNS_SERVERS: dns.server, BULWARK_QUEUE_RETRY_MIN_SECONDS: '1', BULWARK_QUEUE_POLL_SECONDS: '1' };
    await initInstallation({ dataDir: path.join(tmp.dir, 'b'), domain: 'example.net', env: {} });
    b = await startServer(path.join(tmp.dir, 'b'), { env: { ...env, BULWARK_LIMITS_MAX_MESSAGE_SIZE: '20000' }, log: silentLogger() });
    const bPort = b.listening.find((l) => l.name === 'smtp')!.port;
    await initInstallation({ dataDir: path.join(tmp.dir, 'a'), domain: 'example.org', env: {} });
    a = await startServer(path.join(tmp.dir, 'a'), { env: { ...env, BULWARK_RELAY_PORT: String(bPort) }, log: silentLogger() });
    alice = await a.app.directory.addAccount(sys, { address: 'alice@example.org', password: PW });
    bob = await a.app.directory.addAccount(sys, { address: 'bob@example.org', password: PW });
    carol = await b.app.directory.addAccount(sys, { address: 'carol@example.net', password: PW });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dns?.close();
    tmp.cleanup();
  });

  function submit(msg: Parameters<ReturnType<typeof nodemailer.createTransport>['sendMail']>[0]) {
    const port = a.listening.find((l) => l.name === 'submission')!.port;
    const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.org', pass: PW } });
    return t.sendMail(msg).finally(() => t.close());
  }

  it('delivers locally at once and relays to the other server through the queue, without the Bcc header', async () => {
    const info = await submit({
      from: 'Alice <alice@example.org>', to: 'carol@example.net', cc: 'bob@example.org', bcc: 'carol@example.net',
      subject: 'Quarterly plan', text: 'See you on Monday.\n',
    });
    expect(info.accepted.sort()).toEqual(['bob@example.org', 'carol@example.net']);
    const local = await a.app.mail.listMessages(bob, 'INBOX');
    expect(local).toHaveLength(1);
    const remote = await waitFor('the relayed copy', async () => (await b.app.mail.listMessages(carol, 'INBOX'))[0]);
    const raw = await b.app.mail.readMessage(carol, remote.id);
    const p = parseMessage(raw);
    expect(p.subject).toBe('Quarterly plan');
    expect(raw.toString()).not.toMatch(/^bcc:/im);
    // Two Received lines: the relay's (which hides the client) and the receiving server's.
    expect(raw.toString().match(/^Received: /gm)).toHaveLength(2);
    expect(raw.toString()).toContain('from authenticated-client');
    expect(raw.toString()).toMatch(/^Return-Path: <alice@example\.org>/);
    expect(await a.app.queue.list()).toEqual([]);
  });

  it('an oversize refusal and an unknown recipient at the other end come back to the sender as DSNs', async () => {
    await submit({ from: 'alice@example.org', to: 'carol@example.net', subject: 'Big file', text: 'x'.repeat(30_000) });
    await submit({ from: 'alice@example.org', to: 'nobody@example.net', subject: 'Who?', text: 'hello\n' });
    const dsns = await waitFor('two DSNs', async () => {
      const inbox = await a.app.mail.listMessages(alice, 'INBOX');
      return inbox.length >= 2 ? inbox : null;
    });
    const reports = await Promise.all(dsns.map(async (m) => (await a.app.mail.readMessage(alice, m.id)).toString()));
    const big = reports.find((r) => r.includes('Status: 5.3.4'))!;
    expect(big).toBeDefined();
    expect(big).toMatch(/Content-Type: multipart\/report; report-type=delivery-status/);
    expect(big).toMatch(/Final-Recipient: rfc822; carol@example\.net/);
    expect(big).toMatch(/Action: failed/);
    expect(big).toMatch(/Diagnostic-Code: smtp; 552 5\.3\.4/);
    expect(big).toMatch(/^Return-Path: <>/);
    const unknown = reports.find((r) => r.includes('nobody@example.net'))!;
    expect(unknown).toMatch(/Status: 5\.1\.1/);
    expect(unknown).toContain('Subject: Who?'); // the original (or its headers) comes back
    expect(await b.app.mail.listMessages(carol, 'INBOX')).toHaveLength(1); // only the first message
  });

  it('issue 6 point 2: the remote MX is down: the message stays queued, is retried, and is delivered once the MX is back', async () => {
    const bDir = path.join(tmp.dir, 'b');
    const bPort = b.listening.find((l) => l.name === 'smtp')!.port;
    const before = (await b.app.mail.listMessages(carol, 'INBOX')).length;
    await b.stop();
    const info = await submit({ from: 'alice@example.org', to: 'carol@example.net', subject: 'While you were down', text: 'retry me\n' });
    expect(info.accepted).toEqual(['carol@example.net']);
    // Tried and refused by the network (connection refused): temporary, still pending, tried again.
    const tried = await waitFor('two failed attempts', async () => {
      const q = await a.app.queue.list();
      const r = q[0]?.recipients[0];
      return r && r.attempts >= 2 ? q : null;
    });
    expect(tried).toHaveLength(1);
    expect(tried[0].recipients[0].status).toBe('pending');
    expect(tried[0].recipients[0].lastError).toBeTruthy();
    // The MX comes back on the same port: the next retry delivers, and the queue is empty.
    b = await startServer(bDir, { env: { ...LOOPBACK_LISTENERS, BULWARK_DNS_SERVERS: dns.server, BULWARK_LISTEN_SMTP: `127.0.0.1:${bPort}` }, log: silentLogger() });
    const inbox = await waitFor('the delivered copy', async () => {
      const l = await b.app.mail.listMessages(carol, 'INBOX');
      return l.length > before ? l : null;
    }, 30_000);
    const raw = (await b.app.mail.readMessage(carol, inbox[inbox.length - 1].id)).toString();
    expect(raw).toContain('Subject: While you were down');
    await waitFor('an empty queue', async () => ((await a.app.queue.list()).length === 0 ? true : null));
  });
});
