/**
 * Issue 3 (mail transport): reception (src/core/mail/reception.ts): stripBcc, which keeps
 * blind-copy recipients out of submitted messages (RFC 5322 §3.6.3), and accept() on both
 * engines: the From: header of a submission must be the account's own (GW-ACC-2), Bcc is
 * removed before anything is stored or queued, external recipients go into the queue with
 * their DSN parameters.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App } from '../../src/app.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { systemActor } from '../../src/core/actor.ts';
import { DomainError } from '../../src/core/errors.ts';
import { stripBcc, type Accepted } from '../../src/core/mail/reception.ts';
import { openTestApp } from '../harness/app.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('stripBcc (RFC 5322 §3.6.3)', () => {
  it('removes a Bcc field and nothing else', () => {
    const raw = b('From: a@a.example\r\nTo: b@b.example\r\nBcc: secret@c.example\r\nSubject: hi\r\n\r\nbody\r\n');
    expect(stripBcc(raw).toString('latin1')).toBe('From: a@a.example\r\nTo: b@b.example\r\nSubject: hi\r\n\r\nbody\r\n');
  });

  it('removes folded continuation lines with it', () => {
    const raw = b('From: a@a.example\r\nBcc: one@c.example,\r\n two@c.example,\r\n\tthree@c.example\r\nSubject: hi\r\n \tfolded subject\r\n\r\nbody\r\n');
    expect(stripBcc(raw).toString('latin1')).toBe('From: a@a.example\r\nSubject: hi\r\n \tfolded subject\r\n\r\nbody\r\n');
  });

  it('matches the field name in any case, with white space before the colon, empty or not, several times, first or last', () => {
    const raw = b('BCC: x@c.example\r\nFrom: a@a.example\r\nbcc :y@c.example\r\nbCc\t:\r\nTo: b@b.example\r\nBcc: z@c.example\r\n  continued\r\n\r\nbody\r\n');
    expect(stripBcc(raw).toString('latin1')).toBe('From: a@a.example\r\nTo: b@b.example\r\n\r\nbody\r\n');
  });

  it('keeps fields that only look alike, and "Bcc:" lines in the body', () => {
    const raw = b('From: a@a.example\r\nX-Bcc: keep@c.example\r\nBcc-Info: keep\r\nResent-Bcc: keep@c.example\r\nBccx: keep\r\n\r\nBcc: this is body text\r\n\r\nBcc: and this\r\n');
    const out = stripBcc(raw);
    expect(out.equals(raw)).toBe(true);
  });

  it('returns a message without Bcc unchanged: the same Buffer', () => {
    const raw = b('From: a@a.example\r\nTo: b@b.example\r\nSubject: nothing blind\r\n\r\nbody\r\n');
    expect(stripBcc(raw)).toBe(raw);
    const headerOnly = b('From: a@a.example\r\nSubject: no body');
    expect(stripBcc(headerOnly)).toBe(headerOnly);
  });

  it('works on a message without a body, and on one whose Bcc is the last line without CRLF', () => {
    expect(stripBcc(b('From: a@a.example\r\nBcc: s@c.example\r\n')).toString('latin1')).toBe('From: a@a.example\r\n');
    expect(stripBcc(b('From: a@a.example\r\nBcc: s@c.example')).toString('latin1')).toBe('From: a@a.example\r\n');
  });

  it('keeps 8-bit bytes of other fields and of the body exactly', () => {
    const raw = Buffer.concat([b('Subject: '), Buffer.from('grüße', 'utf8'), b('\r\nBcc: x@c.example\r\n\r\n'), Buffer.from([0xff, 0x00, 0xe4, 0x0d, 0x0a])]);
    const out = stripBcc(raw);
    expect(out.equals(Buffer.concat([b('Subject: '), Buffer.from('grüße', 'utf8'), b('\r\n\r\n'), Buffer.from([0xff, 0x00, 0xe4, 0x0d, 0x0a])]))).toBe(true);
  });

  it('property: the result is the message with exactly its Bcc fields (and their continuations) left out', () => {
    const name = fc.constantFrom('From', 'To', 'Cc', 'Subject', 'X-Bcc', 'Resent-Bcc', 'Bcc', 'bcc', 'BCC', 'Bcc ');
    const value = fc.stringMatching(/^[ -~]{0,30}$/);
    const field = fc.record({ name, value, folds: fc.array(fc.stringMatching(/^[ \t][ -~]{0,20}$/), { maxLength: 2 }) });
    const bodyLine = fc.oneof(fc.stringMatching(/^[ -~]{0,30}$/), fc.constant('Bcc: in the body'));
    fc.assert(fc.property(fc.array(field, { minLength: 1, maxLength: 8 }), fc.array(bodyLine, { maxLength: 4 }), (fields, body) => {
      const render = (f: { name: string; value: string; folds: string[] }) => [`${f.name}: ${f.value}`, ...f.folds].map((l) => `${l}\r\n`).join('');
      const isBcc = (f: { name: string }) => /^bcc\s*$/i.test(f.name);
      const tail = `\r\n${body.map((l) => `${l}\r\n`).join('')}`;
      const raw = b(fields.map(render).join('') + tail);
      const expected = fields.filter((f) => !isBcc(f)).map(render).join('') + tail;
      const out = stripBcc(raw);
      expect(out.toString('latin1')).toBe(expected);
      if (!fields.some(isBcc)) expect(out).toBe(raw);
    }));
  });
});

// ------------------------------------------------------------------ accept() on both engines

import type { EngineName } from '../harness/app.ts';
const ENGINES: EngineName[] = ['sqlite', 'postgres'];
const PW = 'Reception-Test-Pw-9c2e';
const sys = systemActor('test');


describe.each(ENGINES)('Reception.accept on %s', (engine) => {
  let env: { app: App; close(): Promise<void> };
  let app: App;
  let alice: AccountInfo;
  let bob: AccountInfo;

  beforeAll(async () => {
    env = await openTestApp(engine, 'bwrc');
    app = env.app;
    await app.directory.addDomain(sys, 'a.example');
    alice = await app.directory.addAccount(sys, { address: 'alice@a.example', password: PW });
    bob = await app.directory.addAccount(sys, { address: 'bob@a.example', password: PW });
    await app.directory.addAlias(sys, 'sales@a.example', ['alice@a.example']);
  });

  afterAll(async () => {
    await env?.close();
  });

  afterEach(async () => {
    await app.stores.directory.deleteFrom('queue_messages').execute();
  });

  let n = 0;
  function submission(raw: string, opts: { local?: AccountInfo[]; external?: Accepted['external']; account?: AccountInfo } = {}): Accepted {
    const account = opts.account ?? alice;
    return {
      id: `sub-${++n}`, raw: b(raw), from: account.address, account,
      local: (opts.local ?? []).map((a) => ({ address: a.address, account: a })),
      external: opts.external ?? [],
      receivedAt: Date.now(), withProtocol: 'ESMTPSA',
      source: { protocol: 'submission', revealClient: false, authenticatedAs: account.address },
    };
  }

  const countInbox = async (a: AccountInfo) => (await app.mail.listMessages(a, 'INBOX')).length;
  const queued = () => app.stores.directory.selectFrom('queue_messages').selectAll().execute();

  it('GW-ACC-2: a submission whose From: is not the account\'s own is refused with SENDER_DENIED, and nothing is stored or queued', async () => {
    const before = await countInbox(bob);
    const cases = [
      'From: bob@a.example\r\nTo: bob@a.example\r\nSubject: as bob\r\n\r\nx\r\n', // another account
      'From: Boss <boss@elsewhere.example>\r\nTo: bob@a.example\r\nSubject: foreign\r\n\r\nx\r\n', // a foreign address
      'From: alice@a.example, bob@a.example\r\nTo: bob@a.example\r\nSubject: two authors\r\n\r\nx\r\n', // one of two is not hers
      'To: bob@a.example\r\nSubject: no From at all\r\n\r\nx\r\n',
    ];
    for (const raw of cases) {
      let err: unknown;
      try {
        await app.reception.accept(submission(raw, { local: [bob], external: [{ address: 'x@remote.example' }] }));
      } catch (e) {
        err = e;
      }
      expect(err, raw).toBeInstanceOf(DomainError);
      expect((err as DomainError).code, raw).toBe('SENDER_DENIED');
    }
    expect(await countInbox(bob)).toBe(before);
    expect(await queued()).toEqual([]);
  });

  it('GW-ACC-2: the account\'s own address, a subaddress of it and an alias that delivers to it are accepted', async () => {
    for (const from of ['alice@a.example', 'Alice <ALICE@a.example>', 'alice+lists@a.example', 'sales@a.example']) {
      const res = await app.reception.accept(submission(`From: ${from}\r\nTo: bob@a.example\r\nSubject: ok\r\n\r\nx\r\n`, { local: [bob] }));
      expect(res, from).toEqual({ queued: 0, stored: 1 });
    }
  });

  it('a submission loses its Bcc before it is stored or queued; mail from another MTA is left as it came', async () => {
    const raw = 'From: alice@a.example\r\nTo: bob@a.example, x@remote.example\r\nBcc: hidden@a.example,\r\n  other@remote.example\r\nSubject: blind\r\n\r\nbody\r\n';
    const res = await app.reception.accept(submission(raw, { local: [bob], external: [{ address: 'x@remote.example' }, { address: 'other@remote.example' }] }));
    expect(res).toEqual({ queued: 2, stored: 1 });
    const rows = await app.mail.listMessages(bob, 'INBOX');
    const stored = (await app.mail.readMessage(bob, rows.at(-1)!.id)).toString();
    expect(stored).toContain('Subject: blind');
    expect(stored).not.toMatch(/bcc|hidden@|other@remote/i);
    const [q] = await queued();
    const body = Buffer.from(q.body).toString();
    expect(body).toContain('Subject: blind');
    expect(body).not.toMatch(/^bcc/im);
    expect(body).not.toContain('hidden@a.example');

    // MX: not ours to change.
    const mx: Accepted = {
      id: 'mx-1', raw: b(raw.replace('alice@a.example', 'someone@remote.example')), from: 'someone@remote.example',
      local: [{ address: 'bob@a.example', account: bob }], external: [], receivedAt: Date.now(), withProtocol: 'ESMTP',
      source: { protocol: 'smtp', remoteAddress: '192.0.2.1', helo: 'mx.remote.example', revealClient: true },
    };
    await app.reception.accept(mx);
    const last = await app.mail.readMessage(bob, (await app.mail.listMessages(bob, 'INBOX')).at(-1)!.id);
    expect(last.toString()).toContain('Bcc: hidden@a.example,\r\n  other@remote.example\r\n');
  });

  it('external recipients are queued durably with the envelope and DSN parameters, behind a Received trace field', async () => {
    const raw = 'From: alice@a.example\r\nTo: x@remote.example\r\nSubject: out\r\n\r\nbody\r\n';
    const a = submission(raw, { external: [{ address: 'x@remote.example', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;x@remote.example' }, { address: 'y@other.example' }] });
    const res = await app.reception.accept({ ...a, envid: 'ENV-7', ret: 'HDRS' });
    expect(res).toEqual({ queued: 2, stored: 0 });
    const [q] = await queued();
    expect(q).toMatchObject({ sender: 'alice@a.example', envid: 'ENV-7', ret: 'HDRS', origin: 'submission', account_id: alice.id, is_dsn: 0 });
    const body = Buffer.from(q.body).toString();
    expect(body).toMatch(/^Received: from authenticated-client\r\n\tby mx\.test\.example \(Bulwark\) with ESMTPSA id sub-\d+;\r\n\t.+\r\nFrom: alice@a\.example\r\n/);
    expect(body.endsWith(raw)).toBe(true);
    const rcpts = await app.stores.directory.selectFrom('queue_recipients').selectAll().where('queue_id', '=', q.id).orderBy('address').execute();
    expect(rcpts.map((r) => [r.address, r.account_id, r.notify, r.orcpt, r.status])).toEqual([
      ['x@remote.example', null, 'SUCCESS,FAILURE', 'rfc822;x@remote.example', 'pending'],
      ['y@other.example', null, null, null, 'pending'],
    ]);
  });

  // Reported, reception.ts is not this file's: the trace field of the relayed copy is built
  // with the LOCAL recipients, so with exactly one local recipient it says "for <that one>",
  // which tells the external recipients about a (possibly Bcc) local recipient. Flip to `it`
  // when fixed.
  it('the relayed copy does not name a local (Bcc) recipient in its Received field', async () => {
    const raw = 'From: alice@a.example\r\nTo: x@remote.example\r\nBcc: bob@a.example\r\nSubject: leak\r\n\r\nbody\r\n';
    await app.reception.accept(submission(raw, { local: [bob], external: [{ address: 'x@remote.example' }] }));
    const [q] = await queued();
    expect(Buffer.from(q.body).toString()).not.toContain('bob@a.example');
  });
});
