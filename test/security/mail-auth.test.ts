/**
 * Issue 3 point 1 (GW-CRY-3): SPF, DKIM, DMARC and ARC verification of received mail
 * (src/security/mail-auth.ts through mailauth), end to end: SMTP sessions from 127.0.0.1 to
 * the MX listener of an in-process server whose DNS resolver is the test DNS server
 * (test/harness/dns.ts) on 127.0.0.1.
 *
 * - SPF: pass and fail by the sender domain's TXT record; Authentication-Results under our
 *   authserv-id (mail.example.org) and Received-SPF are added.
 * - DKIM: a message signed with a key whose TXT record is published passes; the same message
 *   changed in the body fails (RFC 6376 §6.1.3 step 3, RFC 8601 §2.7.1).
 * - DMARC: p=reject is refused with 550 5.7.1 and nothing is stored (or goes to Junk when so
 *   configured); p=quarantine goes to Junk (or INBOX when so configured); an aligned SPF pass
 *   is dmarc=pass and goes to INBOX.
 * - Forged Authentication-Results with our authserv-id are removed; others stay (RFC 8601 §5).
 * - A DNS failure never refuses: 250, with temperror in the results.
 * - Authenticated submissions are not checked.
 *
 * Each scenario has a sender domain of its own, so no answer cached by a resolver can leak
 * from one test into another.
 */
import { Resolver } from 'node:dns/promises';
import { dkimSign } from 'mailauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { dkimRecord, generateDkimKey } from '../../src/security/dkim.ts';
import { authservIdOf } from '../../src/security/mail-auth.ts';
import { startDns, type TestDns, type Zone } from '../harness/dns.ts';
import {
  addAccount, b64, ehloClient, message, startTestServer, storeCounts, DOMAIN, HOSTNAME, PASSWORD, type Reply, type TestServer,
} from '../protocols/smtp/harness.ts';

const HELO = 'mx.remote.example';
const SELECTOR = 'sel1';
/** The client's address as the server sees it (every session comes from 127.0.0.1). */
const CLIENT_IP = '127.0.0.1';
const OTHER_IP = '192.0.2.1';

// ------------------------------------------------------------------ helpers

/** The header section's fields as [name, unfolded value], in order. */
function headerFields(raw: Buffer): [string, string][] {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  return head.replace(/\r\n(?=[ \t])/g, '').split('\r\n').filter(Boolean).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()] as [string, string];
  });
}

function fieldValues(raw: Buffer, name: string): string[] {
  return headerFields(raw).filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

/** The Authentication-Results fields whose authserv-id is ours. */
function ourResults(raw: Buffer): string[] {
  return fieldValues(raw, 'Authentication-Results').filter((v) => v.split(';')[0].trim().toLowerCase() === HOSTNAME);
}

/** The one Authentication-Results field of ours (there must be exactly one). */
function ourResult(raw: Buffer): string {
  const ours = ourResults(raw);
  expect(ours, 'exactly one Authentication-Results of ours').toHaveLength(1);
  return ours[0];
}

/** "spf" -> "pass" from an Authentication-Results value (the first resinfo of that method). */
function result(ar: string, method: string): string | null {
  const m = new RegExp(`(?:^|;)\\s*${method}=([a-z]+)`, 'i').exec(ar);
  return m ? m[1].toLowerCase() : null;
}

let seq = 0;

/** A message from the given address with a unique Message-ID (to find it again). */
function mail(from: string, opts: { extraHeaders?: string[]; body?: string[] } = {}): { raw: string; messageId: string } {
  const messageId = `<mail-auth-${process.pid}-${++seq}@${from.split('@')[1]}>`;
  const raw = message([
    ...(opts.extraHeaders ?? []),
    `From: Sender <${from}>`,
    `To: Alice <alice@${DOMAIN}>`,
    `Subject: sender authentication ${seq}`,
    'Date: Mon, 02 Jun 2025 10:00:00 +0000',
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...(opts.body ?? ['Hello Alice,', '', 'this message is about sender authentication.', '', '-- ', 'Sender']),
  ]);
  return { raw, messageId };
}

/** One SMTP transaction on the MX listener; returns the reply to the end of data. */
async function deliver(port: number, from: string, raw: string | Buffer, to = `alice@${DOMAIN}`): Promise<Reply> {
  const c = await ehloClient(port, { helo: HELO });
  try {
    return await c.send(from, [to], raw);
  } finally {
    await c.quit();
  }
}

/** The stored message with that Message-ID in the mailbox, or null. */
async function find(app: App, account: AccountInfo, mailbox: string, messageId: string): Promise<Buffer | null> {
  for (const row of await app.mail.listMessages(account, mailbox)) {
    const raw = await app.mail.readMessage(account, row.id);
    if (fieldValues(raw, 'Message-ID').includes(messageId)) return raw;
  }
  return null;
}

/** Where a message went: the mailbox that holds it (INBOX or Junk) and its bytes. */
async function locate(app: App, account: AccountInfo, messageId: string): Promise<{ mailbox: string; raw: Buffer }> {
  const found: { mailbox: string; raw: Buffer }[] = [];
  for (const mailbox of ['INBOX', 'Junk']) {
    const raw = await find(app, account, mailbox, messageId);
    if (raw) found.push({ mailbox, raw });
  }
  expect(found.map((f) => f.mailbox), `${messageId} stored exactly once`).toHaveLength(1);
  return found[0];
}

/** Signs with mailauth (relaxed/relaxed), as a remote domain's MTA would. */
async function sign(raw: string, domain: string, privateKey: string, algorithm?: string): Promise<Buffer> {
  // The signatures come from signatureData (the top-level fields only satisfy the type).
  const data = { signingDomain: domain, selector: SELECTOR, privateKey, canonicalization: 'relaxed/relaxed', ...(algorithm ? { algorithm } : {}) };
  const res = await dkimSign(raw, { ...data, signatureData: [data] });
  expect(res.errors).toEqual([]);
  expect(res.signatures).toMatch(/^DKIM-Signature: /);
  return Buffer.concat([Buffer.from(res.signatures, 'latin1'), Buffer.from(raw, 'latin1')]);
}

const spf = (ip: string) => `v=spf1 ip4:${ip} -all`;

/** Sessions come from 127.0.0.1; each domain is one scenario. */
function zoneFor(dkimTxt: string): Zone {
  return {
    // SPF pass, DKIM key published, no DMARC record.
    'remote.example': { TXT: [spf(CLIENT_IP)] },
    [`${SELECTOR}._domainkey.remote.example`]: { TXT: [dkimTxt] },
    // SPF fail, no DMARC record.
    'elsewhere.example': { TXT: [spf(OTHER_IP)] },
    // DMARC p=reject, SPF fails (and no DKIM).
    'reject.example': { TXT: [spf(OTHER_IP)] },
    '_dmarc.reject.example': { TXT: ['v=DMARC1; p=reject'] },
    // DMARC p=quarantine, SPF fails.
    'quarantine.example': { TXT: [spf(OTHER_IP)] },
    '_dmarc.quarantine.example': { TXT: ['v=DMARC1; p=quarantine'] },
    // DMARC p=reject, SPF passes and is aligned (MAIL FROM domain = From domain).
    'aligned.example': { TXT: [spf(CLIENT_IP)] },
    '_dmarc.aligned.example': { TXT: ['v=DMARC1; p=reject'] },
    // Every lookup fails (SERVFAIL).
    'broken.example': { fail: 'servfail' },
    '_dmarc.broken.example': { fail: 'servfail' },
    // The SPF lookup fails, the DMARC record (p=reject) is there.
    'flaky.example': { fail: 'servfail' },
    '_dmarc.flaky.example': { TXT: ['v=DMARC1; p=reject'] },
    // A third party whose DKIM key lookup fails: its signature is not aligned with any From here.
    [`${SELECTOR}._domainkey.unrelated.example`]: { fail: 'servfail' },
  };
}

// ------------------------------------------------------------------ fixtures

let dns: TestDns;
let dkimKey: { privateKey: string; publicKey: string };
let unrelatedKey: { privateKey: string; publicKey: string };

beforeAll(async () => {
  [dkimKey, unrelatedKey] = await Promise.all([generateDkimKey('rsa', 2048), generateDkimKey('ed25519', 256)]);
  const txt = dkimRecord('remote.example', SELECTOR, 'rsa', dkimKey.publicKey);
  // The record is longer than one character-string: the DNS server splits it (RFC 1035 §3.3.14).
  expect(txt.value.length).toBeGreaterThan(255);
  dns = await startDns(zoneFor(txt.value));
});
afterAll(async () => {
  await dns?.close();
});

describe('issue 3 point 1: building blocks', () => {
  it('GW-CRY-3: the test DNS server answers TXT records, a long one as several character-strings (RFC 1035 §3.3.14)', async () => {
    const r = new Resolver({ timeout: 2000, tries: 1 });
    r.setServers([dns.server]);
    const key = await r.resolveTxt(`${SELECTOR}._domainkey.remote.example`);
    expect(key).toHaveLength(1);
    expect(key[0].length).toBeGreaterThan(1);
    expect(key[0].slice(0, -1).every((part) => part.length === 255)).toBe(true);
    expect(key[0].join('')).toBe(dkimRecord('remote.example', SELECTOR, 'rsa', dkimKey.publicKey).value);
    expect(await r.resolveTxt('remote.example')).toEqual([[spf(CLIENT_IP)]]);
    await expect(r.resolveTxt('nowhere.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(r.resolveTxt('broken.example')).rejects.toMatchObject({ code: 'ESERVFAIL' });
  });

  it('GW-CRY-3: the authserv-id of an Authentication-Results value, as RFC 8601 §2.2 reads it', () => {
    expect(authservIdOf('mail.example.org; dkim=pass')).toBe('mail.example.org');
    expect(authservIdOf('MAIL.Example.ORG;\tspf=pass')).toBe('mail.example.org');
    expect(authservIdOf('mail.example.org 1; dkim=pass')).toBe('mail.example.org');
    expect(authservIdOf('"mail.example.org"; dkim=pass')).toBe('mail.example.org');
    expect(authservIdOf('(a (nested) comment \\) here) mail.example.org; dkim=pass')).toBe('mail.example.org');
    expect(authservIdOf('mail.example.org(comment); none')).toBe('mail.example.org');
    expect(authservIdOf('mail.example.org.evil.example; dkim=pass')).toBe('mail.example.org.evil.example');
    expect(authservIdOf('; dkim=pass')).toBe('');
  });
});

const verifyingEnv = () => ({ BULWARK_SMTP_VERIFY_SENDER_AUTH: 'true', BULWARK_DNS_SERVERS: dns.server, BULWARK_DNS_TIMEOUT_MS: '2000' });

describe('issue 3 point 1: SPF, DKIM, DMARC of received mail (default policy)', () => {
  let s: TestServer;
  let alice: AccountInfo;
  let bob: AccountInfo;

  beforeAll(async () => {
    s = await startTestServer(verifyingEnv());
    [alice, bob] = await Promise.all([addAccount(s.app, 'alice'), addAccount(s.app, 'bob')]);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('GW-CRY-3: SPF pass: Authentication-Results of mail.example.org with spf=pass and Received-SPF: pass are added, looked up at the configured DNS server', async () => {
    const m = mail('someone@remote.example');
    const r = await deliver(s.port.smtp, 'someone@remote.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    const ar = ourResult(raw);
    expect(result(ar, 'spf')).toBe('pass');
    expect(ar).toMatch(/smtp\.mailfrom=(?:someone@)?remote\.example/);
    expect(result(ar, 'dkim')).toBe('none');
    const received = fieldValues(raw, 'Received-SPF');
    expect(received).toHaveLength(1);
    expect(received[0]).toMatch(/^pass\b/);
    expect(received[0]).toContain(`client-ip=${CLIENT_IP}`);
    expect(dns.queries).toContain('remote.example TXT');
    // Our fields come before the message's own header (trace fields on top, RFC 8601 §5).
    const names = headerFields(raw).map(([n]) => n.toLowerCase());
    expect(names.indexOf('authentication-results')).toBeLessThan(names.indexOf('from'));
    expect(names.indexOf('received-spf')).toBeLessThan(names.indexOf('from'));
  });

  it('GW-CRY-3: SPF fail ("-all" without the client address): spf=fail, Received-SPF: fail, still delivered without a DMARC policy', async () => {
    const m = mail('someone@elsewhere.example');
    const r = await deliver(s.port.smtp, 'someone@elsewhere.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    expect(result(ourResult(raw), 'spf')).toBe('fail');
    expect(fieldValues(raw, 'Received-SPF')[0]).toMatch(/^fail\b/);
  });

  it('GW-CRY-3: DKIM: a message signed by remote.example with the key published at sel1._domainkey.remote.example gets dkim=pass', async () => {
    const m = mail('someone@remote.example');
    const signed = await sign(m.raw, 'remote.example', dkimKey.privateKey);
    const r = await deliver(s.port.smtp, 'someone@remote.example', signed);
    expect(r.code).toBe(250);
    const { raw } = await locate(s.app, alice, m.messageId);
    const ar = ourResult(raw);
    expect(result(ar, 'dkim')).toBe('pass');
    expect(ar).toMatch(/header\.(?:d=|i=@)remote\.example/);
    expect(ar).toContain(`header.s=${SELECTOR}`);
    expect(dns.queries).toContain(`${SELECTOR}._domainkey.remote.example TXT`);
    // The signature itself is kept as it came.
    expect(fieldValues(raw, 'DKIM-Signature')).toHaveLength(1);
  });

  it('GW-CRY-3: DKIM: the same signed message changed in the body gets dkim=fail (RFC 6376 §6.1.3, RFC 8601 §2.7.1)', async () => {
    const m = mail('someone@remote.example');
    const signed = (await sign(m.raw, 'remote.example', dkimKey.privateKey)).toString('latin1');
    const altered = signed.replace('this message is about sender authentication.', 'this message is about something else entirely.');
    expect(altered).not.toBe(signed);
    const r = await deliver(s.port.smtp, 'someone@remote.example', altered);
    expect(r.code).toBe(250);
    const { raw } = await locate(s.app, alice, m.messageId);
    expect(result(ourResult(raw), 'dkim')).toBe('fail');
  });

  it('GW-CRY-3: DKIM: the same signed message with a changed signed header field gets dkim=fail', async () => {
    const m = mail('someone@remote.example');
    const signed = (await sign(m.raw, 'remote.example', dkimKey.privateKey)).toString('latin1');
    const altered = signed.replace(/^Subject: .*$/m, 'Subject: changed on the way');
    expect(altered).not.toBe(signed);
    const r = await deliver(s.port.smtp, 'someone@remote.example', altered);
    expect(r.code).toBe(250);
    const { raw } = await locate(s.app, alice, m.messageId);
    expect(result(ourResult(raw), 'dkim')).toBe('fail');
  });

  it('GW-CRY-3: DMARC p=reject with failing SPF and no DKIM: 550 5.7.1 at the end of data, nothing stored', async () => {
    const before = await storeCounts(s.app);
    const m = mail('someone@reject.example');
    const r = await deliver(s.port.smtp, 'someone@reject.example', m.raw);
    expect([r.code, r.enhanced]).toEqual([550, '5.7.1']);
    expect(r.lines.join(' ')).toMatch(/DMARC/);
    expect(await storeCounts(s.app)).toEqual(before);
    expect(dns.queries).toContain('_dmarc.reject.example TXT');
  });

  it('GW-CRY-3: DMARC p=reject refuses for every recipient, in one reply', async () => {
    const before = await storeCounts(s.app);
    const m = mail('someone@reject.example');
    const c = await ehloClient(s.port.smtp, { helo: HELO });
    const r = await c.send('someone@reject.example', [`alice@${DOMAIN}`, `bob@${DOMAIN}`], m.raw);
    await c.quit();
    expect([r.code, r.enhanced]).toEqual([550, '5.7.1']);
    expect(await storeCounts(s.app)).toEqual(before);
    expect(await find(s.app, bob, 'INBOX', m.messageId)).toBeNull();
  });

  it('GW-CRY-3: DMARC p=reject with an unaligned DKIM signature whose key lookup fails is still refused (only aligned results count)', async () => {
    const m = mail('someone@reject.example');
    const signed = await sign(m.raw, 'unrelated.example', unrelatedKey.privateKey, 'ed25519-sha256');
    const r = await deliver(s.port.smtp, 'someone@reject.example', signed);
    expect([r.code, r.enhanced]).toEqual([550, '5.7.1']);
    expect(dns.queries).toContain(`${SELECTOR}._domainkey.unrelated.example TXT`);
    expect(await find(s.app, alice, 'INBOX', m.messageId)).toBeNull();
    expect(await find(s.app, alice, 'Junk', m.messageId)).toBeNull();
  });

  it('GW-CRY-3: DMARC p=quarantine with failing SPF goes to Junk (default dmarc_quarantine=junk)', async () => {
    const m = mail('someone@quarantine.example');
    const r = await deliver(s.port.smtp, 'someone@quarantine.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('Junk');
    const ar = ourResult(raw);
    expect(result(ar, 'dmarc')).toBe('fail');
    expect(result(ar, 'spf')).toBe('fail');
  });

  it('GW-CRY-3: DMARC pass by an aligned SPF pass (p=reject published): INBOX with dmarc=pass', async () => {
    const m = mail('someone@aligned.example');
    const r = await deliver(s.port.smtp, 'someone@aligned.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    const ar = ourResult(raw);
    expect(result(ar, 'spf')).toBe('pass');
    expect(result(ar, 'dmarc')).toBe('pass');
    expect(ar).toMatch(/header\.from=aligned\.example/);
  });

  it('GW-CRY-3: DMARC pass by an aligned DKIM pass while SPF fails (the envelope is another domain)', async () => {
    const m = mail('someone@remote.example');
    const signed = await sign(m.raw, 'remote.example', dkimKey.privateKey);
    const r = await deliver(s.port.smtp, 'bounces@elsewhere.example', signed);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    const ar = ourResult(raw);
    expect(result(ar, 'spf')).toBe('fail');
    expect(result(ar, 'dkim')).toBe('pass');
    // remote.example publishes no DMARC record.
    expect(result(ar, 'dmarc')).toBe('none');
  });

  it('GW-CRY-3: a forged "Authentication-Results: mail.example.org; dkim=pass" is removed (in any spelling); one of another authserv-id stays', async () => {
    const forged = [
      `Authentication-Results: ${HOSTNAME}; dkim=pass header.d=reject.example`,
      `Authentication-Results: ${HOSTNAME.toUpperCase()};`,
      '\tspf=pass smtp.mailfrom=reject.example',
      `Authentication-Results: "${HOSTNAME}"; dmarc=pass header.from=reject.example`,
      // RFC 8601 §2.2: authserv-id [CFWS authres-version]
      `Authentication-Results: ${HOSTNAME} 1; dmarc=pass header.from=reject.example`,
      // RFC 8601 §2.2: CFWS before the authserv-id
      `Authentication-Results: (checked upstream) ${HOSTNAME}; dkim=pass header.d=reject.example`,
    ];
    const foreign = 'Authentication-Results: mx.other.example; spf=pass smtp.mailfrom=remote.example';
    const m = mail('someone@remote.example', { extraHeaders: [...forged, foreign] });
    const r = await deliver(s.port.smtp, 'someone@remote.example', m.raw);
    expect(r.code).toBe(250);
    const { raw } = await locate(s.app, alice, m.messageId);
    const all = fieldValues(raw, 'Authentication-Results');
    expect(all).toHaveLength(2);
    const ar = ourResult(raw);
    // Ours, not the forged one: there is no DKIM signature at all.
    expect(result(ar, 'dkim')).toBe('none');
    expect(result(ar, 'spf')).toBe('pass');
    expect(all).toContain('mx.other.example; spf=pass smtp.mailfrom=remote.example');
    expect(raw.toString('latin1')).not.toContain('header.d=reject.example');
    expect(raw.toString('latin1')).not.toContain('header.from=reject.example');
    // The rest of the message is untouched.
    expect(raw.toString('latin1')).toContain('this message is about sender authentication.');
  });

  it('GW-CRY-3: a forged Authentication-Results in the body is not a header field and stays as it was', async () => {
    const line = `Authentication-Results: ${HOSTNAME}; dkim=pass (quoted in the body)`;
    const m = mail('someone@remote.example', { body: ['Look at this:', '', line] });
    expect((await deliver(s.port.smtp, 'someone@remote.example', m.raw)).code).toBe(250);
    const { raw } = await locate(s.app, alice, m.messageId);
    expect(raw.toString('latin1')).toContain(`\r\n${line}\r\n`);
    expect(result(ourResult(raw), 'dkim')).toBe('none');
  });

  it('GW-CRY-3: DNS failure (SERVFAIL) never refuses: 250, spf=temperror and dmarc=temperror, INBOX', async () => {
    const m = mail('someone@broken.example');
    const r = await deliver(s.port.smtp, 'someone@broken.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    const ar = ourResult(raw);
    expect(result(ar, 'spf')).toBe('temperror');
    expect(result(ar, 'dmarc')).toBe('temperror');
    expect(fieldValues(raw, 'Received-SPF')[0]).toMatch(/^temperror\b/);
  });

  it('GW-CRY-3: DNS failure of the SPF lookup under a p=reject DMARC record is not refused: 250, spf=temperror, kept in Junk', async () => {
    const m = mail('someone@flaky.example');
    const r = await deliver(s.port.smtp, 'someone@flaky.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('Junk');
    expect(result(ourResult(raw), 'spf')).toBe('temperror');
  });

  it('GW-CRY-3: the null reverse-path is checked by the HELO identity (RFC 7208 §2.4)', async () => {
    const m = mail('someone@remote.example');
    const c = await ehloClient(s.port.smtp, { helo: 'remote.example' });
    const r = await c.send('', [`alice@${DOMAIN}`], m.raw);
    await c.quit();
    expect(r.code).toBe(250);
    const { raw } = await locate(s.app, alice, m.messageId);
    const ar = ourResult(raw);
    expect(result(ar, 'spf')).toBe('pass');
    expect(ar).toMatch(/smtp\.helo=remote\.example/);
  });

  it('GW-CRY-3: authenticated submission is not checked: no Authentication-Results or Received-SPF added, no DNS lookups', async () => {
    const asked = dns.queries.length;
    const c = await ehloClient(s.port.submission);
    expect((await c.starttls()).code).toBe(220);
    expect((await c.cmd('EHLO client.example.net')).code).toBe(250);
    expect((await c.cmd(`AUTH PLAIN ${b64(`\u0000alice@${DOMAIN}\u0000${PASSWORD}`)}`)).code).toBe(235);
    const messageId = `<submitted-${process.pid}@${DOMAIN}>`;
    const raw = message([
      `From: Alice <alice@${DOMAIN}>`, `To: Bob <bob@${DOMAIN}>`, 'Subject: submitted', `Message-ID: ${messageId}`,
      `Authentication-Results: ${HOSTNAME}; dkim=pass header.d=${DOMAIN}`, '', 'Hello Bob.',
    ]);
    const r = await c.send(`alice@${DOMAIN}`, [`bob@${DOMAIN}`], raw);
    await c.quit();
    expect(r.code).toBe(250);
    const stored = await find(s.app, bob, 'INBOX', messageId);
    expect(stored).not.toBeNull();
    // Only the field the author wrote: nothing was verified or removed.
    expect(fieldValues(stored!, 'Authentication-Results')).toEqual([`${HOSTNAME}; dkim=pass header.d=${DOMAIN}`]);
    expect(fieldValues(stored!, 'Received-SPF')).toEqual([]);
    expect(dns.queries.slice(asked)).toEqual([]);
  });
});

describe('issue 3 point 1: DMARC handling as configured (dmarc_reject=junk, dmarc_quarantine=accept)', () => {
  let s: TestServer;
  let alice: AccountInfo;

  beforeAll(async () => {
    s = await startTestServer({ ...verifyingEnv(), BULWARK_SMTP_DMARC_REJECT: 'junk', BULWARK_SMTP_DMARC_QUARANTINE: 'accept' });
    alice = await addAccount(s.app, 'alice');
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('GW-CRY-3: DMARC p=reject with BULWARK_SMTP_DMARC_REJECT=junk: 250, stored in Junk with dmarc=fail', async () => {
    const m = mail('someone@reject.example');
    const r = await deliver(s.port.smtp, 'someone@reject.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('Junk');
    expect(result(ourResult(raw), 'dmarc')).toBe('fail');
  });

  it('GW-CRY-3: DMARC p=quarantine with BULWARK_SMTP_DMARC_QUARANTINE=accept: INBOX with dmarc=fail', async () => {
    const m = mail('someone@quarantine.example');
    const r = await deliver(s.port.smtp, 'someone@quarantine.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    expect(result(ourResult(raw), 'dmarc')).toBe('fail');
  });

  it('GW-CRY-3: dmarc_reject=accept delivers a p=reject failure to INBOX', async () => {
    await s.restart({ BULWARK_SMTP_DMARC_REJECT: 'accept' });
    const m = mail('someone@reject.example');
    const r = await deliver(s.port.smtp, 'someone@reject.example', m.raw);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    expect(result(ourResult(raw), 'dmarc')).toBe('fail');
  });
});

describe('issue 3 point 1: no DNS resolver reachable', () => {
  let s: TestServer;
  let alice: AccountInfo;

  beforeAll(async () => {
    // Nothing answers on 127.0.0.1:1: every lookup fails at once.
    s = await startTestServer({ BULWARK_SMTP_VERIFY_SENDER_AUTH: 'true', BULWARK_DNS_SERVERS: '127.0.0.1:1' });
    alice = await addAccount(s.app, 'alice');
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('GW-CRY-3: a DNS failure never refuses: a signed message is accepted (250) with spf, dkim and dmarc temperror', async () => {
    const m = mail('someone@reject.example');
    const signed = await sign(m.raw, 'remote.example', dkimKey.privateKey);
    const r = await deliver(s.port.smtp, 'someone@reject.example', signed);
    expect(r.code).toBe(250);
    const { mailbox, raw } = await locate(s.app, alice, m.messageId);
    expect(mailbox).toBe('INBOX');
    const ar = ourResult(raw);
    expect(result(ar, 'spf')).toBe('temperror');
    expect(result(ar, 'dkim')).toBe('temperror');
    expect(result(ar, 'dmarc')).toBe('temperror');
  });
});

describe('issue 3 point 1: verification off', () => {
  it('GW-CRY-3: with verify_sender_auth=false nothing is added and forged fields are not touched', async () => {
    const s = await startTestServer({ BULWARK_SMTP_VERIFY_SENDER_AUTH: 'false', BULWARK_DNS_SERVERS: dns.server });
    try {
      const alice = await addAccount(s.app, 'alice');
      const asked = dns.queries.length;
      const m = mail('someone@reject.example', { extraHeaders: [`Authentication-Results: ${HOSTNAME}; dkim=pass`] });
      expect((await deliver(s.port.smtp, 'someone@reject.example', m.raw)).code).toBe(250);
      const { mailbox, raw } = await locate(s.app, alice, m.messageId);
      expect(mailbox).toBe('INBOX');
      expect(fieldValues(raw, 'Authentication-Results')).toEqual([`${HOSTNAME}; dkim=pass`]);
      expect(fieldValues(raw, 'Received-SPF')).toEqual([]);
      expect(dns.queries.slice(asked).filter((q) => q.includes('reject.example'))).toEqual([]);
    } finally {
      await s.cleanup();
    }
  });
});
