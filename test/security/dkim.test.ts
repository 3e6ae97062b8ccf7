/**
 * Issue 3 point 2: DKIM signing per domain (RFC 6376; Ed25519 per RFC 8463), with keys made
 * by `bulwark domain dkim generate DOMAIN` (src/security/dkim.ts).
 *
 * - Keys on both engines, RSA and Ed25519: the TXT record printed and returned carries the
 *   public half of the private key that is stored; one active key per domain.
 * - Signing: a signed message verifies with mailauth's dkimVerify (dkim=pass) against a
 *   resolver that answers with the generated record; a message changed after signing fails.
 * - Outbound only: Reception.accept signs submitted mail for external recipients with the
 *   From domain's active key; local copies and forwarded mail are not signed.
 * - Permissions (core): admin or domain-admin of that domain; refused calls change nothing.
 *   Audited as dkim.generate / dkim.remove, never with the key.
 * - The CLI: generate / show / remove through the real `bulwark` command.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'smol-toml';
import { dkimVerify } from 'mailauth';
import { type App } from '../../src/app.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { systemActor, type Actor } from '../../src/core/actor.ts';
import { DomainError } from '../../src/core/errors.ts';
import type { Accepted } from '../../src/core/mail/reception.ts';
import { readAudit, verifyAuditChain } from '../../src/security/audit.ts';
import { dkimRecord, normaliseSelector, publicKeyValue, splitTxt, type DkimAlgorithm, type DkimKeyInfo } from '../../src/security/dkim.ts';
import { bulwark } from '../harness/cli.ts';
import { tempDir } from '../harness/tmp.ts';
import { expectCode, openTestApp } from '../harness/app.ts';

import type { EngineName } from '../harness/app.ts';
const ENGINES: EngineName[] = ['sqlite', 'postgres'];
const ALGORITHMS: DkimAlgorithm[] = ['rsa', 'ed25519'];
const PW = 'Dkim-Test-Pw-4b1d9e77';
const sys = systemActor('test');
const b = (s: string) => Buffer.from(s, 'latin1');

/** A resolver for dkimVerify that knows only the given records (name -> TXT strings). */
function resolverFor(records: Map<string, string[]>) {
  return async (name: string, rrtype: string): Promise<string[][]> => {
    const strings = rrtype.toUpperCase() === 'TXT' ? records.get(name.toLowerCase().replace(/\.$/, '')) : undefined;
    if (!strings) throw Object.assign(new Error(`no ${rrtype} record for ${name}`), { code: 'ENOTFOUND' });
    return [strings];
  };
}

function recordsOf(keys: DkimKeyInfo[]): Map<string, string[]> {
  return new Map(keys.map((k) => [k.name, k.strings]));
}

/** dkimVerify in strict mode by default (RFC 6376, 8301, 8463 exactly: a body hash mismatch is "fail", not "neutral"). */
async function verify(raw: Buffer, keys: DkimKeyInfo[], strict = true) {
  const res = await dkimVerify(raw, { resolver: resolverFor(recordsOf(keys)), strict });
  return res.results;
}

/** The DKIM-Signature field at the top of a signed message, unfolded. */
function signatureTags(raw: Buffer): Map<string, string> {
  const text = raw.toString('latin1');
  const m = /^DKIM-Signature:((?:.*\r\n[ \t].*)*.*)\r\n/im.exec(text);
  expect(m, 'a DKIM-Signature field').not.toBeNull();
  const value = m![1].replace(/\r\n[ \t]/g, ' ');
  return new Map(value.split(';').map((t) => t.trim()).filter(Boolean).map((t) => {
    const i = t.indexOf('=');
    return [t.slice(0, i).trim(), t.slice(i + 1).replace(/\s+/g, '')];
  }));
}

const MESSAGE = [
  'From: Alice <alice@a.example>',
  'To: Remote <x@remote.example>',
  'Cc: y@remote.example',
  'Reply-To: alice+replies@a.example',
  'Subject: Quarterly numbers',
  'Date: Mon, 01 Jun 2026 10:00:00 +0000',
  'Message-ID: <q1@a.example>',
  'In-Reply-To: <q0@remote.example>',
  'References: <q0@remote.example>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  'X-Unsigned: may change in transit',
  '',
  'Hello,',
  '',
  'the numbers are fine. Grüße',
  '',
].join('\r\n');



// ------------------------------------------------------------------ records

describe('issue 3 point 2: DKIM TXT records', () => {
  it('splits a value into character-strings of at most 255 octets that join to it', () => {
    const value = `v=DKIM1; k=rsa; p=${'A'.repeat(700)}`;
    const parts = splitTxt(value);
    expect(parts.length).toBe(3);
    expect(parts.every((p) => p.length <= 255)).toBe(true);
    expect(parts.join('')).toBe(value);
    expect(splitTxt('v=DKIM1; k=ed25519; p=abc')).toEqual(['v=DKIM1; k=ed25519; p=abc']);
  });

  it('prints "<selector>._domainkey.<domain> IN TXT" with quoted strings', () => {
    const r = dkimRecord('a.example', 'sel1', 'rsa', 'B'.repeat(400));
    expect(r.name).toBe('sel1._domainkey.a.example');
    expect(r.value).toBe(`v=DKIM1; k=rsa; p=${'B'.repeat(400)}`);
    expect(r.record).toBe(`sel1._domainkey.a.example IN TXT "${r.value.slice(0, 255)}" "${r.value.slice(255)}"`);
    expect(dkimRecord('a.example', 's', 'ed25519', 'Cw==').record).toBe('s._domainkey.a.example IN TXT "v=DKIM1; k=ed25519; p=Cw=="');
  });

  it('selectors are DNS labels (RFC 6376 §3.1), kept lower-case', () => {
    expect(normaliseSelector(' May2026 ')).toBe('may2026');
    expect(normaliseSelector('a.b-c')).toBe('a.b-c');
    for (const bad of ['', 'a b', 'a;b', '-a', 'a-', 'a..b', 'a_b', 'ä', 'x'.repeat(64), 'a"b']) {
      expect(() => normaliseSelector(bad), bad).toThrow(DomainError);
    }
  });
});

// ------------------------------------------------------------------ keys, signing, permissions on both engines

describe.each(ENGINES)('issue 3 point 2: DKIM keys and signing on %s', (engine) => {
  let env: { app: App; close(): Promise<void> };
  let app: App;
  let alice: AccountInfo;
  let bob: AccountInfo;
  let daA: Actor;
  let daB: Actor;
  let userA: Actor;
  let auditor: Actor;

  beforeAll(async () => {
    env = await openTestApp(engine, 'bwdkim');
    app = env.app;
    for (const d of ['a.example', 'b.example', 'c.example', 'perm.example']) await app.directory.addDomain(sys, d);
    alice = await app.directory.addAccount(sys, { address: 'alice@a.example', password: PW });
    bob = await app.directory.addAccount(sys, { address: 'bob@a.example', password: PW });
    const dir = app.directory;
    daA = dir.actorFor(await dir.addAccount(sys, { address: 'da@perm.example', password: PW, roles: ['domain-admin'] }));
    daB = dir.actorFor(await dir.addAccount(sys, { address: 'da@b.example', password: PW, roles: ['domain-admin'] }));
    userA = dir.actorFor(await dir.addAccount(sys, { address: 'user@perm.example', password: PW }));
    auditor = dir.actorFor(await dir.addAccount(sys, { address: 'auditor@b.example', password: PW, roles: ['auditor'] }));
  });

  afterAll(async () => {
    await env?.close();
  });

  const keyRows = (domain: string) => app.stores.directory.selectFrom('dkim_keys').innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
    .selectAll('dkim_keys').where('domains.name', '=', domain).orderBy('dkim_keys.id').execute();

  it.each(ALGORITHMS)('generate (%s): the TXT record returned holds the public key of the stored private key', async (algorithm) => {
    const domain = algorithm === 'rsa' ? 'a.example' : 'b.example';
    const k = await app.dkim.generate(sys, domain, { algorithm, selector: `gen-${algorithm}` });
    expect(k).toMatchObject({ domain, selector: `gen-${algorithm}`, algorithm, bits: algorithm === 'rsa' ? 2048 : 256, active: true });
    expect(k.name).toBe(`gen-${algorithm}._domainkey.${domain}`);
    expect(k.value).toBe(`v=DKIM1; k=${algorithm}; p=${k.publicKey}`);
    expect(k.record).toBe(`${k.name} IN TXT ${k.strings.map((s) => `"${s}"`).join(' ')}`);
    expect(k.record).toMatch(new RegExp(`^gen-${algorithm}\\._domainkey\\.${domain.replace('.', '\\.')} IN TXT "v=DKIM1; k=${algorithm}; p=[A-Za-z0-9+/=]+"( "[A-Za-z0-9+/=]+")*$`));
    expect(k.strings.every((s) => s.length <= 255)).toBe(true);
    expect(k.strings.join('')).toBe(k.value);
    if (algorithm === 'rsa') expect(k.strings.length).toBeGreaterThan(1); // a 2048-bit key does not fit one string
    // Nothing handed out holds the private key.
    expect(JSON.stringify(k)).not.toMatch(/PRIVATE KEY/);

    const [row] = await keyRows(domain);
    expect(row).toMatchObject({ selector: `gen-${algorithm}`, algorithm, active: 1 });
    expect(row.private_key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const priv = crypto.createPrivateKey(row.private_key);
    expect(priv.asymmetricKeyType).toBe(algorithm);
    if (algorithm === 'rsa') expect(priv.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(publicKeyValue(priv)).toBe(k.publicKey);
    // The published p= verifies what the stored key signs.
    const pub = algorithm === 'rsa'
      ? crypto.createPublicKey({ key: Buffer.from(k.publicKey, 'base64'), format: 'der', type: 'spki' })
      : crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(k.publicKey, 'base64').toString('base64url') }, format: 'jwk' });
    if (algorithm === 'ed25519') expect(Buffer.from(k.publicKey, 'base64').length).toBe(32); // RFC 8463 §4.2: the raw key
    const data = Buffer.from('proof of possession');
    const sig = crypto.sign(algorithm === 'rsa' ? 'sha256' : null, data, priv);
    expect(crypto.verify(algorithm === 'rsa' ? 'sha256' : null, data, pub, sig)).toBe(true);

    expect(await app.dkim.list(sys, domain)).toEqual([k]);
  });

  it.each(ALGORITHMS)('a message signed with the domain\'s %s key verifies with dkimVerify: dkim=pass, relaxed/relaxed, the usual fields', async (algorithm) => {
    const domain = algorithm === 'rsa' ? 'a.example' : 'b.example';
    const raw = b(MESSAGE.replace(/a\.example/g, domain));
    const keys = await app.dkim.list(sys, domain);
    const signed = await app.dkim.sign(raw, domain);
    expect(signed).toMatchObject({ domain, selector: `gen-${algorithm}` });
    expect(signed!.raw.subarray(signed!.raw.length - raw.length).equals(raw)).toBe(true); // prepended, nothing else changed
    const tags = signatureTags(signed!.raw);
    expect(tags.get('d')).toBe(domain);
    expect(tags.get('s')).toBe(`gen-${algorithm}`);
    expect(tags.get('a')).toBe(`${algorithm}-sha256`);
    expect(tags.get('c')).toBe('relaxed/relaxed');
    const h = tags.get('h')!.toLowerCase().split(':');
    for (const f of ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'reply-to', 'in-reply-to', 'references', 'mime-version', 'content-type', 'content-transfer-encoding']) {
      expect(h, f).toContain(f);
    }
    expect(h).not.toContain('x-unsigned');

    const results = await verify(signed!.raw, keys);
    expect(results).toHaveLength(1);
    expect(results[0].status.result).toBe('pass');
    expect(results[0].status.warnings ?? []).toEqual([]);
    expect((await verify(signed!.raw, keys, false))[0].status.result).toBe('pass');
    expect(results[0].signingDomain).toBe(domain);
    expect(results[0].selector).toBe(`gen-${algorithm}`);

    // Relaxed/relaxed: re-folding and white space changes in transit still pass; an unsigned field may change.
    const relaxed = Buffer.from(signed!.raw.toString('latin1').replace('Subject: Quarterly numbers', 'Subject:   Quarterly \t numbers ')
      .replace('X-Unsigned: may change in transit', 'X-Unsigned: changed').replace('the numbers are fine.', 'the numbers  are fine. \t'), 'latin1');
    expect((await verify(relaxed, keys))[0].status.result).toBe('pass');
  });

  it.each(ALGORITHMS)('a %s-signed message changed after signing fails', async (algorithm) => {
    const domain = algorithm === 'rsa' ? 'a.example' : 'b.example';
    const keys = await app.dkim.list(sys, domain);
    const signed = (await app.dkim.sign(b(MESSAGE.replace(/a\.example/g, domain)), domain))!.raw.toString('latin1');
    const tampered = [
      signed.replace('the numbers are fine.', 'the numbers are bad.'), // body
      signed.replace('Subject: Quarterly numbers', 'Subject: Quarterly numbers (urgent)'), // a signed field
      signed.replace('To: Remote <x@remote.example>', 'To: Other <z@remote.example>'),
      signed.replace('the numbers are fine. Grüße\r\n', 'the numbers are fine. Grüße\r\nP.S. send money\r\n'), // appended text
    ];
    for (const t of tampered) {
      expect(t).not.toBe(signed);
      const [r] = await verify(Buffer.from(t, 'latin1'), keys);
      expect(r.status.result, t.slice(-80)).toBe('fail');
      const [lenient] = await verify(Buffer.from(t, 'latin1'), keys, false);
      expect(lenient.status.result, t.slice(-80)).not.toBe('pass'); // "neutral" (body hash did not verify) or "fail"
    }
    // The record of another key: fails too.
    const other = dkimRecord(domain, `gen-${algorithm}`, algorithm, publicKeyValue(algorithm === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey : crypto.generateKeyPairSync('ed25519').publicKey));
    const [r] = await verify(Buffer.from(signed, 'latin1'), [{ ...keys[0], ...other }]);
    expect(r.status.result).toBe('fail');
  });

  it('one active key per domain: a new key replaces the active one, the old one stays (inactive) and still verifies', async () => {
    const before = await app.dkim.sign(b(MESSAGE), 'a.example');
    const k2 = await app.dkim.generate(sys, 'a.example', { algorithm: 'ed25519', selector: 'second' });
    expect(k2.active).toBe(true);
    const keys = await app.dkim.list(sys, 'a.example');
    expect(keys.map((k) => [k.selector, k.active])).toEqual([['second', true], ['gen-rsa', false]]);
    const rows = await keyRows('a.example');
    expect(rows.filter((r) => r.active === 1).map((r) => r.selector)).toEqual(['second']);
    const after = await app.dkim.sign(b(MESSAGE), 'a.example');
    expect(after!.selector).toBe('second');
    expect((await verify(after!.raw, keys))[0].status.result).toBe('pass');
    expect((await verify(before!.raw, keys))[0].status.result).toBe('pass');
    // The store itself refuses a second active key (two nodes racing).
    const domainId = rows[0].domain_id;
    let err: unknown;
    try {
      await app.stores.directory.insertInto('dkim_keys').values({
        domain_id: domainId, selector: 'racer', algorithm: 'rsa', bits: 2048, private_key: 'x', public_key: 'x', active: 1, created_at: 1, updated_at: 1,
      }).execute();
    } catch (e) {
      err = e;
    }
    expect(err).toBeDefined();
    // A selector is used once per domain; without one a fresh default is picked.
    await expectCode(app.dkim.generate(sys, 'a.example', { algorithm: 'ed25519', selector: 'SECOND' }), 'ALREADY_EXISTS');
    const d1 = await app.dkim.generate(sys, 'a.example', { algorithm: 'ed25519' });
    const d2 = await app.dkim.generate(sys, 'a.example', { algorithm: 'ed25519' });
    expect(d1.selector).toMatch(/^bw\d{8}$/);
    expect(d2.selector).toBe(`${d1.selector}-2`);
    expect((await app.dkim.list(sys, 'a.example')).filter((k) => k.active).map((k) => k.selector)).toEqual([d2.selector]);
    await app.dkim.remove(sys, 'a.example', d1.selector);
    await app.dkim.remove(sys, 'a.example', d2.selector);
    expect(await app.dkim.sign(b(MESSAGE), 'a.example')).toBeNull(); // the active one was removed: unsigned
    await app.dkim.remove(sys, 'a.example', 'second');
    await app.dkim.generate(sys, 'a.example', { algorithm: 'rsa', selector: 'outbound' });
  });

  it('refuses bad input: algorithm, key size, selector, unknown domain, unknown selector', async () => {
    await expectCode(app.dkim.generate(sys, 'c.example', { algorithm: 'dsa' }), 'INVALID_INPUT');
    await expectCode(app.dkim.generate(sys, 'c.example', { bits: 1024 }), 'INVALID_INPUT');
    await expectCode(app.dkim.generate(sys, 'c.example', { bits: 2047 }), 'INVALID_INPUT');
    await expectCode(app.dkim.generate(sys, 'c.example', { algorithm: 'ed25519', bits: 2048 }), 'INVALID_INPUT');
    await expectCode(app.dkim.generate(sys, 'c.example', { selector: 'bad selector' }), 'INVALID_INPUT');
    await expectCode(app.dkim.generate(sys, 'nowhere.example'), 'NOT_FOUND');
    await expectCode(app.dkim.list(sys, 'nowhere.example'), 'NOT_FOUND');
    await expectCode(app.dkim.remove(sys, 'c.example', 'nope'), 'NOT_FOUND');
    expect(await keyRows('c.example')).toEqual([]);
  });

  it('permissions (core): admin or domain-admin of that domain; others are refused and nothing changes', async () => {
    const auditCount = async () => (await readAudit(app.stores.directory)).length;
    const n0 = await auditCount();
    for (const actor of [daB, userA, auditor]) {
      await expectCode(app.dkim.generate(actor, 'perm.example', { algorithm: 'ed25519' }), 'FORBIDDEN');
      await expectCode(app.dkim.list(actor, 'perm.example'), 'FORBIDDEN');
    }
    expect(await keyRows('perm.example')).toEqual([]);
    expect(await auditCount()).toBe(n0);

    const k = await app.dkim.generate(daA, 'perm.example', { algorithm: 'ed25519', selector: 'da' });
    expect(k.active).toBe(true);
    expect((await app.dkim.list(daA, 'perm.example')).map((x) => x.selector)).toEqual(['da']);
    // The domain-admin of perm.example has no say over other domains.
    await expectCode(app.dkim.generate(daA, 'b.example', { algorithm: 'ed25519' }), 'FORBIDDEN');
    await expectCode(app.dkim.remove(daA, 'b.example', 'gen-ed25519'), 'FORBIDDEN');
    for (const actor of [daB, userA, auditor]) await expectCode(app.dkim.remove(actor, 'perm.example', 'da'), 'FORBIDDEN');
    expect((await keyRows('perm.example')).map((r) => r.selector)).toEqual(['da']);
    expect(await auditCount()).toBe(n0 + 1);
    await app.dkim.remove(daA, 'perm.example', 'da');
    expect(await keyRows('perm.example')).toEqual([]);
  });

  it('GW-LOG-1: generate and remove are audited with selector, algorithm and size, never the key', async () => {
    const k = await app.dkim.generate(sys, 'c.example', { algorithm: 'rsa', selector: 'audited' });
    const [row] = await keyRows('c.example');
    await app.dkim.remove(sys, 'c.example', 'audited');
    const gen = (await readAudit(app.stores.directory, { event: 'dkim.generate' })).filter((e) => e.object === 'c.example');
    const rem = (await readAudit(app.stores.directory, { event: 'dkim.remove' })).filter((e) => e.object === 'c.example');
    expect(gen).toHaveLength(1);
    expect(gen[0]).toMatchObject({ actor: 'system:test', object: 'c.example', detail: { selector: 'audited', algorithm: 'rsa', bits: 2048, replaced: null } });
    expect(rem).toHaveLength(1);
    expect(rem[0]).toMatchObject({ actor: 'system:test', object: 'c.example', detail: { selector: 'audited', algorithm: 'rsa', bits: 2048, wasActive: true } });
    const da = (await readAudit(app.stores.directory, { event: 'dkim.generate' })).find((e) => e.object === 'perm.example');
    expect(da?.actor).toBe('da@perm.example');
    // No trace of either half of any key anywhere in the trail.
    const trail = JSON.stringify(await app.stores.directory.selectFrom('audit').selectAll().execute());
    const pemBody = row.private_key.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const piece of [...pemBody.slice(0, 3), k.publicKey.slice(40, 80)]) expect(trail).not.toContain(piece);
    expect(trail).not.toMatch(/PRIVATE KEY/);
    expect((await verifyAuditChain(app.stores.directory)).ok).toBe(true);
  });

  it('removing a domain removes its keys', async () => {
    await app.directory.addDomain(sys, 'gone.example');
    await app.dkim.generate(sys, 'gone.example', { algorithm: 'ed25519', selector: 'g' });
    await app.directory.removeDomain(sys, 'gone.example');
    expect(await app.stores.directory.selectFrom('dkim_keys').select('selector').where('selector', '=', 'g').execute()).toEqual([]);
  });

  // ---------------------------------------------------------------- Reception.accept: outbound only

  describe('Reception.accept signs submitted mail for external recipients', () => {
    afterEach(async () => {
      await app.stores.directory.deleteFrom('queue_messages').execute();
    });

    let n = 0;
    function submission(raw: string, opts: { local?: AccountInfo[]; external?: string[] } = {}): Accepted {
      return {
        id: `dkim-${++n}`, raw: b(raw), from: alice.address, account: alice,
        local: (opts.local ?? []).map((a) => ({ address: a.address, account: a })),
        external: (opts.external ?? []).map((address) => ({ address })),
        receivedAt: Date.now(), withProtocol: 'ESMTPSA',
        source: { protocol: 'submission', revealClient: false, authenticatedAs: alice.address },
      };
    }
    const queued = () => app.stores.directory.selectFrom('queue_messages').selectAll().execute();

    it('the queued copy carries a signature of the From domain that passes; the local copy is not signed', async () => {
      const res = await app.reception.accept(submission(MESSAGE, { local: [bob], external: ['x@remote.example', 'y@remote.example'] }));
      expect(res).toEqual({ queued: 2, stored: 1 });
      const [q] = await queued();
      const body = Buffer.from(q.body);
      const text = body.toString('latin1');
      expect(text).toMatch(/^Received: [^]*?\r\nDKIM-Signature: /);
      expect(text.endsWith(MESSAGE)).toBe(true);
      expect(text.match(/^DKIM-Signature:/gim)).toHaveLength(1);
      const tags = signatureTags(Buffer.from(text.slice(text.indexOf('DKIM-Signature:')), 'latin1'));
      expect(tags.get('d')).toBe('a.example');
      expect(tags.get('s')).toBe('outbound');
      const [r] = await verify(body, await app.dkim.list(sys, 'a.example'));
      expect(r.status.result).toBe('pass');

      const rows = await app.mail.listMessages(bob, 'INBOX');
      const local = (await app.mail.readMessage(bob, rows.at(-1)!.id)).toString('latin1');
      expect(local).toContain('Subject: Quarterly numbers');
      expect(local).not.toMatch(/DKIM-Signature/i);
    });

    it('a key that cannot sign refuses the message whole with a temporary error: nothing stored, nothing queued', async () => {
      const [row] = (await keyRows('a.example')).filter((r) => r.active === 1);
      const before = (await app.mail.listMessages(bob, 'INBOX')).length;
      await app.stores.directory.updateTable('dkim_keys').set({ private_key: '-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n' }).where('id', '=', row.id).execute();
      try {
        await expectCode(app.reception.accept(submission(MESSAGE, { local: [bob], external: ['x@remote.example'] })), 'INTERNAL');
      } finally {
        await app.stores.directory.updateTable('dkim_keys').set({ private_key: row.private_key }).where('id', '=', row.id).execute();
      }
      expect(new DomainError('INTERNAL').temporary).toBe(true);
      expect((await app.mail.listMessages(bob, 'INBOX')).length).toBe(before);
      expect(await queued()).toEqual([]);
    });

    it('no key for the From domain: queued unchanged; forwarded mail (from another MTA) is never signed', async () => {
      await app.directory.addAccount(sys, { address: 'carol@c.example', password: PW });
      const carol = (await app.directory.listAccounts(sys, { domain: 'c.example' }))[0];
      const raw = MESSAGE.replace(/alice@a\.example/g, 'carol@c.example');
      await app.reception.accept({ ...submission(raw, { external: ['x@remote.example'] }), from: carol.address, account: carol });
      const [q] = await queued();
      expect(Buffer.from(q.body).toString('latin1')).not.toMatch(/DKIM-Signature/i);
      await app.stores.directory.deleteFrom('queue_messages').execute();

      // An MX hop that relays (e.g. to an alias's external target) is not ours to sign, even
      // when its From claims a domain we hold a key for.
      const mx: Accepted = {
        id: 'mx-dkim', raw: b(MESSAGE), from: 'someone@remote.example', local: [], external: [{ address: 'x@remote.example' }],
        receivedAt: Date.now(), withProtocol: 'ESMTP', source: { protocol: 'smtp', remoteAddress: '192.0.2.1', helo: 'mx.remote.example', revealClient: true },
      };
      await app.reception.accept(mx);
      const [f] = await queued();
      expect(f.origin).toBe('forward');
      expect(Buffer.from(f.body).toString('latin1')).not.toMatch(/DKIM-Signature/i);
    });
  });
});

// ------------------------------------------------------------------ CLI

describe('issue 3 point 2: bulwark domain dkim generate|show|remove', () => {
  const tmp = tempDir('bulwark-dkim-cli-');
  const data = path.join(tmp.dir, 'd');
  afterAll(() => tmp.cleanup());
  const run = (args: string[]) => bulwark(['--data', data, ...args]);
  const storedKey = (selector: string) => {
    const db = new DatabaseSync(path.join(data, 'bulwark.db'), { readOnly: true });
    try {
      return db.prepare('select k.private_key, k.active from dkim_keys k join domains d on d.id = k.domain_id where d.name = ? and k.selector = ?')
        .get('example.org', selector) as { private_key: string; active: number } | undefined;
    } finally {
      db.close();
    }
  };
  /** The p= value of a printed record. */
  const pOf = (record: string) => /^\S+ IN TXT (.*)$/.exec(record)![1].split(' "').map((s) => s.replace(/"/g, '')).join('').replace(/^.*p=/, '');

  beforeAll(async () => {
    expect((await run(['init', '--domain', 'example.org'])).code).toBe(0);
  });

  it('generate prints the TXT record of the stored key (RSA 2048 by default, ed25519 on request)', async () => {
    const r = await run(['domain', 'dkim', 'generate', 'example.org', '--selector', 'cli1']);
    expect(r.code, r.stderr).toBe(0);
    const record = r.stdout.trim();
    expect(record).toMatch(/^cli1\._domainkey\.example\.org IN TXT "v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+" "[A-Za-z0-9+/=]+"$/);
    expect(record.match(/"([^"]*)"/g)!.every((s) => s.length - 2 <= 255)).toBe(true);
    const row = storedKey('cli1')!;
    expect(row.active).toBe(1);
    const priv = crypto.createPrivateKey(row.private_key);
    expect(priv.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(pOf(record)).toBe(publicKeyValue(priv));
    expect(r.stdout + r.stderr).not.toMatch(/PRIVATE KEY/);

    const e = await run(['domain', 'dkim', 'generate', 'example.org', '--selector', 'cli2', '--algorithm', 'ed25519']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout.trim()).toMatch(/^cli2\._domainkey\.example\.org IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$/);
    expect(pOf(e.stdout.trim())).toBe(publicKeyValue(crypto.createPrivateKey(storedKey('cli2')!.private_key)));
    expect(storedKey('cli1')!.active).toBe(0);
  });

  it('show prints the records (text and --json); remove takes --selector; errors exit non-zero', async () => {
    const text = await run(['domain', 'dkim', 'show', 'example.org']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/selector\s+cli2 \(active\)/);
    expect(text.stdout).toMatch(/^cli2\._domainkey\.example\.org IN TXT "v=DKIM1; k=ed25519; p=.*"$/m);
    expect(text.stdout).toMatch(/^cli1\._domainkey\.example\.org IN TXT "v=DKIM1; k=rsa; p=.*"$/m);
    const json = JSON.parse((await run(['domain', 'dkim', 'show', 'example.org', '--json'])).stdout);
    expect(json.map((k: { selector: string; active: boolean }) => [k.selector, k.active])).toEqual([['cli2', true], ['cli1', false]]);
    expect(json[1].strings.join('')).toBe(json[1].value);
    expect(pOf(json[1].record)).toBe(publicKeyValue(crypto.createPrivateKey(storedKey('cli1')!.private_key)));
    expect(JSON.stringify(json)).not.toMatch(/PRIVATE KEY/);

    const rm = await run(['domain', 'dkim', 'remove', 'example.org', '--selector', 'cli1']);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toMatch(/cli1 of example\.org removed/);
    expect(storedKey('cli1')).toBeUndefined();
    expect((await run(['domain', 'dkim', 'remove', 'example.org', '--selector', 'cli1'])).code).toBe(1);
    expect((await run(['domain', 'dkim', 'remove', 'example.org'])).code).not.toBe(0); // --selector is required
    const bad = await run(['domain', 'dkim', 'generate', 'example.org', '--bits', '512']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^bulwark: the input is not valid: RSA key size/m);
    expect((await run(['domain', 'dkim', 'generate', 'example.org', '--algorithm', 'ed25519', '--bits', 'x'])).code).toBe(2);
    expect((await run(['domain', 'dkim', 'show', 'nowhere.example'])).code).toBe(1);
    const events = JSON.parse((await run(['audit', 'list', '--json', '--limit', '1000'])).stdout).map((e: { event: string }) => e.event);
    expect(events.filter((e: string) => e === 'dkim.generate')).toHaveLength(2);
    expect(events.filter((e: string) => e === 'dkim.remove')).toHaveLength(1);
    expect((await run(['audit', 'verify'])).stdout).toMatch(/audit trail intact/);
  });
});
