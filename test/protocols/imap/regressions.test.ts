/**
 * Regressions found by the interop suites (test/interop: imapflow, Python's imaplib, isync's
 * mbsync), each pinned here with our own raw client so that it stays fixed without the real
 * client. Each test names the client that found it.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient, addAccount, append, deliver, message, startImapServer, type ImapTestServer } from './harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

/** A logged-in session after COMPRESS DEFLATE (RFC 4978): raw DEFLATE both ways, text decoded as latin1. */
async function compressed(port: number, account: AccountInfo) {
  const c = await ImapTestClient.login(port, account);
  c.write('z1 COMPRESS DEFLATE\r\n');
  expect(await c.line()).toMatch(/^z1 OK/);
  const inflate = zlib.createInflateRaw();
  const deflate = zlib.createDeflateRaw();
  const socket = c.socket;
  socket.removeAllListeners('data');
  const out = { text: '', bytes: 0 };
  inflate.on('data', (d: Buffer) => {
    out.bytes += d.length;
    out.text += d.toString('latin1');
  });
  socket.on('data', (d: Buffer) => inflate.write(d));
  deflate.on('data', (d: Buffer) => socket.write(d));
  const send = (s: string) => {
    deflate.write(s);
    deflate.flush(zlib.constants.Z_SYNC_FLUSH);
  };
  /** Waits (bounded) until the decompressed output matches. */
  const waitFor = async (re: RegExp, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!re.test(out.text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got ${out.bytes} octets ending ${JSON.stringify(out.text.slice(-300))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { c, out, send, waitFor };
}

describe('IMAP regressions found by real clients', () => {
  let ts: ImapTestServer;
  let alice: AccountInfo;
  beforeAll(async () => {
    ts = await startImapServer();
    alice = await addAccount(ts.app, 'alice');
  });
  afterAll(async () => ts?.cleanup());

  it('imapflow: under COMPRESS=DEFLATE the IDLE continuation and the updates during IDLE are flushed at once (RFC 4978, RFC 2177)', async () => {
    const z = await compressed(ts.imapPort, alice);
    z.send('z2 SELECT INBOX\r\n');
    await z.waitFor(/z2 OK/);
    z.send('z3 IDLE\r\n');
    // Before the fix "+ idling" stayed in the deflate buffer until the tagged response: a deadlock.
    await z.waitFor(/\r\n\+ [^\r\n]*\r\n$/);
    await deliver(ts, alice.address, message({ subject: 'while idling, compressed' }));
    await z.waitFor(/\* \d+ EXISTS\r\n/);
    z.send('DONE\r\n');
    await z.waitFor(/z3 OK/);
    await z.c.close();
  });

  it('mbsync: under COMPRESS=DEFLATE, LOGOUT still sends BYE and the tagged OK before the connection closes (RFC 9051 §6.1.3, RFC 4978)', async () => {
    const z = await compressed(ts.imapPort, alice);
    let ended = false;
    z.c.socket.on('end', () => (ended = true));
    z.send('z2 LOGOUT\r\n');
    // Before the fix the final deflate output was dropped (the session counted as closed) and
    // the socket ended at once: mbsync reported "unexpected EOF" after every sync.
    await z.waitFor(/\* BYE [^\r\n]*\r\nz2 OK [^\r\n]*\r\n/);
    for (let i = 0; i < 100 && !ended; i++) await new Promise((r) => setTimeout(r, 20));
    expect(ended).toBe(true);
  });

  it('imapflow: under COMPRESS=DEFLATE a FETCH of a body larger than the output high-water mark completes for a client that reads at once', async () => {
    const c = await ImapTestClient.login(ts.imapPort, alice);
    await c.ok('CREATE Big');
    // Random base64: deflate shrinks it only to about three quarters, so megabytes go through.
    const raw = message({ subject: 'big', body: crypto.randomBytes(57 * 40_000).toString('base64').replace(/.{76}/g, '$&\r\n') });
    await append(c, 'Big', raw);
    await c.close();
    const z = await compressed(ts.imapPort, alice);
    z.send('z2 SELECT Big\r\nz3 FETCH 1 BODY.PEEK[]\r\n');
    // Before the fix the session waited for a 'drain' of the socket, which never filled.
    await z.waitFor(/z3 OK/, 20_000);
    const at = z.out.text.indexOf(`BODY[] {${Buffer.byteLength(raw)}}\r\n`);
    expect(at).toBeGreaterThan(0);
    const start = z.out.text.indexOf('\r\n', at) + 2;
    expect(z.out.text.slice(start, start + Buffer.byteLength(raw))).toBe(raw);
    await z.c.close();
  });
});
