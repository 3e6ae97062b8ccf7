/**
 * Issue 3 (mail transport): the outbound queue (src/core/mail/queue/queue.ts) on both
 * engines: durable enqueue, relay through an OutboundTransport, retries with exponential
 * backoff, DSNs (RFC 3461, RFC 3464) for failure, delay, success and expiry, local retry
 * after a partition failure (GW-EMG-3), leases between two workers, and the operator's
 * hold/release/retry/delete/list/show.
 *
 * The SMTP client is tested elsewhere: here a recording transport stands in for it. It
 * records every attempt and answers with scripted outcomes. The worker is never started;
 * each test drives runOnce() with an injected clock, so no test depends on real time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'smol-toml';
import { openApp, type App } from '../../src/app.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { systemActor } from '../../src/core/actor.ts';
import { MailQueue, type EnqueueInput } from '../../src/core/mail/queue/queue.ts';
import type { OutboundAttempt, OutboundTransport, RecipientOutcome } from '../../src/core/mail/queue/transport.ts';
import { parseMessage, type MimePart } from '../../src/lib/mime/index.ts';
import { silentLogger } from '../../src/ops/log.ts';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';
import { TcpProxy } from '../harness/proxy.ts';
import { expectCode } from '../harness/app.ts';

type EngineName = 'sqlite' | 'postgres';
const ENGINES: EngineName[] = ['sqlite', 'postgres'];

const HOST = 'mx.test.example';
const PW = 'Queue-Test-Pw-3b8d1f0e';
const sys = systemActor('test');
const SEC = 1000;
const HOUR = 3_600_000;
/** The [queue] settings every test installation gets (the defaults, written out). */
const Q = { lifetime_hours: 120, delay_warning_hours: 4, retry_min_seconds: 300, retry_max_seconds: 4000, poll_seconds: 5 };
const RETRY_MIN = Q.retry_min_seconds * SEC;
const RETRY_MAX = Q.retry_max_seconds * SEC;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the recording transport

type Scripted = Omit<RecipientOutcome, 'address'>;
const DELIVERED: Scripted = { status: 'delivered', code: 250, enhanced: '2.0.0', message: 'Ok: queued', remoteMta: 'mx.remote.example' };
const TEMP: Scripted = { status: 'temporary', code: 451, enhanced: '4.4.1', message: 'try again later', remoteMta: 'mx.remote.example' };
const perm = (message = 'no such user'): Scripted => ({ status: 'permanent', code: 550, enhanced: '5.1.1', message, remoteMta: 'mx.remote.example' });

/** An OutboundTransport that records each attempt and answers per recipient from a script. */
class RecordingTransport implements OutboundTransport {
  attempts: OutboundAttempt[] = [];
  /** Outcome per recipient address; anything not scripted is delivered. */
  rules = new Map<string, Scripted>();
  async send(a: OutboundAttempt): Promise<RecipientOutcome[]> {
    this.attempts.push({ ...a, recipients: a.recipients.map((r) => ({ ...r })), body: Buffer.from(a.body) });
    return a.recipients.map((r) => ({ address: r.address, ...(this.rules.get(r.address) ?? DELIVERED) }));
  }
  async close(): Promise<void> {}
  reset(): void {
    this.attempts = [];
    this.rules.clear();
  }
  /** Attempts that carried this recipient. */
  for(address: string): OutboundAttempt[] {
    return this.attempts.filter((a) => a.recipients.some((r) => r.address === address));
  }
  /** DSNs relayed so far (the null sender). */
  get dsns(): OutboundAttempt[] {
    return this.attempts.filter((a) => a.from === '');
  }
}

// ------------------------------------------------------------------ PostgreSQL behind a proxy


// ------------------------------------------------------------------ installations

interface Env {
  engine: EngineName;
  app: App;
  dataDir: string;
  storeUrl: string;
  transport: RecordingTransport;
  alice: AccountInfo; // main
  bob: AccountInfo; // main
  /** Makes a broken partition p2 work again (when opened with brokenP2). */
  fixP2(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An installation as openApp builds it from a written bulwark.toml. With brokenP2, a second
 * partition p2 that cannot be opened: an SQLite file full of garbage, or a PostgreSQL
 * database reached through a stopped proxy.
 */
async function openEnv(engine: EngineName, opts: { brokenP2?: boolean } = {}): Promise<Env> {
  const tmp = tempDir('bulwark-queue-');
  const undo: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const u of undo.reverse()) await u().catch(() => {});
    tmp.cleanup();
  };
  try {
    let storeUrl: string;
    const partitions: Record<string, string> = {};
    let fixP2 = async () => {};
    if (engine === 'sqlite') {
      storeUrl = 'sqlite:bulwark.db';
      partitions.main = storeUrl;
      if (opts.brokenP2) {
        const file = path.join(tmp.dir, 'p2.db');
        fs.writeFileSync(file, 'this is not an SQLite database\n'.repeat(200));
        partitions.p2 = 'sqlite:p2.db';
        fixP2 = async () => {
          for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
        };
      }
    } else {
      const main = await createTestDatabase('bwq');
      undo.push(main.drop);
      storeUrl = main.url;
      partitions.main = main.url;
      if (opts.brokenP2) {
        const p2 = await createTestDatabase('bwq');
        undo.push(p2.drop);
        const proxy = new TcpProxy();
        await proxy.start();
        await proxy.stop(); // the port stays known; nothing listens on it
        undo.push(() => proxy.stop());
        const via = new URL(p2.url);
        via.port = String(proxy.port);
        partitions.p2 = via.toString();
        fixP2 = () => proxy.start();
      }
    }
    fs.writeFileSync(path.join(tmp.dir, 'bulwark.toml'), stringify({
      server: { hostname: HOST },
      store: { url: storeUrl, retry_after_ms: 100, connect_timeout_ms: 2000 },
      partitions,
      queue: Q,
    }));
    const app = await openApp(tmp.dir, { env: {} });
    undo.push(() => app.close());
    expect(app.stores.directoryEngine.kind).toBe(engine);
    const transport = new RecordingTransport();
    app.queue.setTransport(transport);
    await app.directory.addDomain(sys, 'a.example');
    const alice = await app.directory.addAccount(sys, { address: 'alice@a.example', password: PW, partition: 'main' });
    const bob = await app.directory.addAccount(sys, { address: 'bob@a.example', password: PW, partition: 'main' });
    return { engine, app, dataDir: tmp.dir, storeUrl, transport, alice, bob, fixP2, close: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

// ------------------------------------------------------------------ helpers

let serial = 0;
/** A small message with a unique Message-ID. */
function message(subject: string, opts: { from?: string; to?: string; body?: string } = {}): Buffer {
  serial++;
  return Buffer.from([
    `From: ${opts.from ?? 'alice@a.example'}`,
    `To: ${opts.to ?? 'someone@remote.example'}`,
    `Subject: ${subject}`,
    `Message-ID: <q${serial}.${Date.now()}@a.example>`,
    'Date: Mon, 1 Jan 2024 10:00:00 +0000',
    '',
    opts.body ?? `Body of ${subject}.`,
    '',
  ].join('\r\n'));
}

/** A message from a sender elsewhere, queued for relay (as if forwarded). */
function fromRemote(subject: string, recipients: EnqueueInput['recipients'], extra: Partial<EnqueueInput> = {}): EnqueueInput {
  return { from: 'sender@remote.example', body: message(subject, { from: 'sender@remote.example' }), recipients, origin: 'forward', ...extra };
}

async function queueRows(env: Env) {
  const db = env.app.stores.directory;
  return {
    messages: await db.selectFrom('queue_messages').selectAll().orderBy('created_at').execute(),
    recipients: await db.selectFrom('queue_recipients').selectAll().orderBy('address').execute(),
  };
}

async function recipientRow(env: Env, id: string, address: string) {
  return env.app.stores.directory.selectFrom('queue_recipients').selectAll().where('queue_id', '=', id).where('address', '=', address).executeTakeFirst();
}


/** Reads the queue rows of one message over another connection than the app's. */
async function readElsewhere(env: Env, id: string): Promise<{ message: Record<string, unknown> | undefined; recipients: Record<string, unknown>[] }> {
  if (env.engine === 'sqlite') {
    const db = new DatabaseSync(path.join(env.dataDir, 'bulwark.db'), { readOnly: true });
    try {
      return {
        message: db.prepare('select * from queue_messages where id = ?').get(id) as Record<string, unknown> | undefined,
        recipients: db.prepare('select * from queue_recipients where queue_id = ? order by address').all(id) as Record<string, unknown>[],
      };
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: env.storeUrl });
  await c.connect();
  try {
    return {
      message: (await c.query('select * from queue_messages where id = $1', [id])).rows[0],
      recipients: (await c.query('select * from queue_recipients where queue_id = $1 order by address', [id])).rows,
    };
  } finally {
    await c.end();
  }
}

const text = (raw: Buffer, p: MimePart) => raw.subarray(p.headerEnd, p.bodyEnd).toString('utf8');

/** Splits a message/delivery-status body into field maps: [per-message, ...per-recipient]. */
function statusBlocks(body: string): Map<string, string>[] {
  return body.replace(/\r\n[ \t]+/g, ' ').split(/\r\n\r\n+/).map((b) => b.trim()).filter(Boolean).map((b) => {
    const m = new Map<string, string>();
    for (const l of b.split('\r\n')) {
      const i = l.indexOf(':');
      m.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    return m;
  });
}

interface Dsn {
  raw: Buffer;
  subject: string;
  human: string;
  perMessage: Map<string, string>;
  perRecipient: Map<string, string>[];
  returnedType: string;
  returned: string;
}

/** Parses a DSN with src/lib/mime and checks its RFC 3464 / RFC 6522 shape on the way. */
function parseDsn(raw: Buffer): Dsn {
  const m = parseMessage(raw);
  expect(`${m.part.type}/${m.part.subtype}`).toBe('multipart/report');
  expect(m.part.params['report-type']).toBe('delivery-status');
  expect(m.part.parts).toHaveLength(3);
  const [human, status, returned] = m.part.parts;
  expect(`${human.type}/${human.subtype}`).toBe('text/plain');
  expect(`${status.type}/${status.subtype}`).toBe('message/delivery-status');
  const blocks = statusBlocks(text(raw, status));
  return {
    raw, subject: m.subject, human: text(raw, human), perMessage: blocks[0], perRecipient: blocks.slice(1),
    returnedType: `${returned.type}/${returned.subtype}`, returned: text(raw, returned),
  };
}

async function inbox(env: Env, account: AccountInfo): Promise<Buffer[]> {
  const rows = await env.app.mail.listMessages(account, 'INBOX');
  return Promise.all(rows.map((r) => env.app.mail.readMessage(account, r.id)));
}

// ------------------------------------------------------------------ the tests

describe.each(ENGINES)('mail queue on %s', (engine) => {
  let env: Env;
  let t: RecordingTransport;
  let q: MailQueue;

  beforeAll(async () => {
    env = await openEnv(engine);
    t = env.transport;
    q = env.app.queue;
  });

  afterAll(async () => {
    await env?.close();
  });

  // Each test starts with an empty queue and a fresh script.
  afterEach(async () => {
    await env.app.stores.directory.deleteFrom('queue_messages').execute();
    t.reset();
  });

  it('issue 3, durability (DESIGN: nothing acknowledged before it is committed): enqueue is durable and complete: message and recipient rows are committed when it returns (read over another connection)', async () => {
    const body = message('durable');
    const id = await q.enqueue({
      from: 'alice@a.example', body, envid: 'ENV-durable', ret: 'HDRS', smtputf8: false, origin: 'submission', accountId: env.alice.id,
      recipients: [
        { address: 'd1@remote.example' },
        { address: 'd2@other.example', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;d2@other.example' },
        { address: 'd1@remote.example' }, // a duplicate is kept once
      ],
    });
    const seen = await readElsewhere(env, id);
    expect(seen.message).toBeDefined();
    expect(seen.message).toMatchObject({ sender: 'alice@a.example', envid: 'ENV-durable', ret: 'HDRS', origin: 'submission', is_dsn: 0 });
    expect(Number(seen.message!.size)).toBe(body.byteLength);
    expect(Buffer.from(seen.message!.body as Uint8Array).equals(body)).toBe(true);
    expect(seen.recipients.map((r) => [r.address, r.domain, r.status, r.notify, r.orcpt, Number(r.attempts)])).toEqual([
      ['d1@remote.example', 'remote.example', 'pending', null, null, 0],
      ['d2@other.example', 'other.example', 'pending', 'SUCCESS,FAILURE', 'rfc822;d2@other.example', 0],
    ]);
  });

  it('refuses a message without recipients', async () => {
    await expectCode(q.enqueue({ from: 'alice@a.example', body: message('nobody'), recipients: [], origin: 'submission' }), 'INVALID_INPUT');
  });

  it('relay: one attempt per (message, domain) with all its recipients, body and envelope (from, ENVID, RET, NOTIFY, ORCPT) intact', async () => {
    const body = message('relay');
    const id = await q.enqueue({
      from: 'alice@a.example', body, envid: 'ENV-relay+1', ret: 'FULL', smtputf8: true, origin: 'submission', accountId: env.alice.id,
      recipients: [
        { address: 'r1@remote.example', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;R1@remote.example' },
        { address: 'r2@remote.example' },
        { address: 'r3@other.example', notify: ['NEVER'] },
      ],
    });
    t.rules.set('r3@other.example', TEMP);
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(3);
    expect(t.attempts).toHaveLength(2);
    const remote = t.attempts.find((a) => a.domain === 'remote.example')!;
    const other = t.attempts.find((a) => a.domain === 'other.example')!;
    expect(remote).toMatchObject({ from: 'alice@a.example', envid: 'ENV-relay+1', ret: 'FULL', smtputf8: true });
    expect(remote.body.equals(body)).toBe(true);
    expect(remote.recipients.sort((a, b) => a.address.localeCompare(b.address))).toEqual([
      { address: 'r1@remote.example', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;R1@remote.example' },
      { address: 'r2@remote.example', notify: undefined, orcpt: undefined },
    ]);
    expect(other.recipients).toEqual([{ address: 'r3@other.example', notify: ['NEVER'], orcpt: undefined }]);
    expect(other.body.equals(body)).toBe(true);

    // Delivered recipients are final; the message stays while one is pending.
    expect((await recipientRow(env, id, 'r1@remote.example'))).toMatchObject({ status: 'delivered', attempts: 1, last_code: 250, lease_owner: null });
    expect((await recipientRow(env, id, 'r2@remote.example'))?.status).toBe('delivered');
    expect((await recipientRow(env, id, 'r3@other.example'))).toMatchObject({ status: 'pending', attempts: 1, last_code: 451 });

    // The last one delivered: nothing pending, the message row is gone (and with it its recipients).
    t.rules.delete('r3@other.example');
    expect(await q.runOnce(now + RETRY_MIN)).toBe(1);
    expect(t.attempts).toHaveLength(3);
    expect(t.attempts[2].recipients.map((r) => r.address)).toEqual(['r3@other.example']);
    const rows = await queueRows(env);
    expect(rows.messages).toEqual([]);
    expect(rows.recipients).toEqual([]);
    expect(t.dsns).toEqual([]); // nobody asked for SUCCESS
  });

  it('temporary outcome: attempts+1, next attempt grows exponentially up to retry_max, nothing is tried before it is due; retry(id) makes it due now', async () => {
    const id = await q.enqueue(fromRemote('backoff', [{ address: 'slow@remote.example', notify: ['FAILURE'] }]));
    t.rules.set('slow@remote.example', TEMP);
    let now = Date.now();
    const waits: number[] = [];
    for (let i = 1; i <= 6; i++) {
      expect(await q.runOnce(now)).toBe(1);
      const r = (await recipientRow(env, id, 'slow@remote.example'))!;
      expect(r).toMatchObject({ status: 'pending', attempts: i, last_code: 451, last_enhanced: '4.4.1', last_attempt_at: now, lease_until: null });
      expect(r.last_error).toContain('451 4.4.1 try again later');
      waits.push(r.next_attempt_at - now);
      // Not due a millisecond earlier.
      expect(await q.runOnce(r.next_attempt_at - 1)).toBe(0);
      now = r.next_attempt_at;
    }
    expect(waits).toEqual([RETRY_MIN, 2 * RETRY_MIN, 4 * RETRY_MIN, 8 * RETRY_MIN, RETRY_MAX, RETRY_MAX]);
    expect(t.for('slow@remote.example')).toHaveLength(6);

    // retry: due at once (the clock has not reached next_attempt_at).
    const before = (await recipientRow(env, id, 'slow@remote.example'))!;
    expect(await q.runOnce(before.next_attempt_at - 1)).toBe(0);
    expect(await q.retry(id)).toBe(1);
    expect(await q.runOnce(before.next_attempt_at - 1)).toBe(1);
    expect((await recipientRow(env, id, 'slow@remote.example'))?.attempts).toBe(7);
    expect(t.dsns).toEqual([]); // NOTIFY=FAILURE: no delay report
    await expectCode(q.retry('no-such-entry'), 'NOT_FOUND');
  });

  it('issue 3, GW-DOS-2 (our users get a DSN): permanent outcome, local sender: status failed, one DSN with the null sender, delivered into the sender\'s INBOX as a multipart/report (RFC 3464)', async () => {
    const raw = message('Bounce me', { to: 'gone@remote.example', body: 'The original body text.' });
    await env.app.reception.accept({
      id: 'sub-bounce', raw, from: 'alice@a.example', local: [], external: [{ address: 'gone@remote.example', orcpt: 'rfc822;gone@remote.example' }],
      envid: 'ENV-42', account: env.alice, receivedAt: Date.now(), withProtocol: 'ESMTPSA',
      source: { protocol: 'submission', revealClient: false, authenticatedAs: env.alice.address },
    });
    t.rules.set('gone@remote.example', perm('<gone@remote.example>: Recipient address rejected'));
    const inboxBefore = (await inbox(env, env.alice)).length;
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(1);

    // The original is done with; one DSN waits in the queue, from <> to alice's account.
    let rows = await queueRows(env);
    expect(rows.messages).toHaveLength(1);
    expect(rows.messages[0]).toMatchObject({ sender: '', is_dsn: 1, origin: 'dsn' });
    expect(rows.recipients).toEqual([expect.objectContaining({ address: 'alice@a.example', account_id: env.alice.id, status: 'pending' })]);

    // The next run delivers it locally (no SMTP).
    expect(await q.runOnce(now)).toBe(1);
    expect(t.attempts).toHaveLength(1);
    rows = await queueRows(env);
    expect(rows.messages).toEqual([]);
    const mails = await inbox(env, env.alice);
    expect(mails).toHaveLength(inboxBefore + 1);
    const stored = mails.at(-1)!;
    expect(stored.toString('latin1')).toMatch(/^Return-Path: <>\r\n/); // the DSN's envelope sender is null
    const dsn = parseDsn(stored);
    expect(dsn.subject).toBe('Undelivered Mail Returned to Sender');
    expect(stored.toString()).toMatch(/\r\nAuto-Submitted: auto-replied\r\n/);
    expect(dsn.perMessage.get('reporting-mta')).toBe(`dns; ${HOST}`);
    expect(dsn.perMessage.get('original-envelope-id')).toBe('ENV-42');
    expect(dsn.perMessage.get('arrival-date')).toMatch(/\d{4} \d\d:\d\d:\d\d \+0000$/);
    expect(dsn.perRecipient).toHaveLength(1);
    const r = dsn.perRecipient[0];
    expect(r.get('final-recipient')).toBe('rfc822; gone@remote.example');
    expect(r.get('original-recipient')).toBe('rfc822; gone@remote.example');
    expect(r.get('action')).toBe('failed');
    expect(r.get('status')).toBe('5.1.1');
    expect(r.get('status')).toMatch(/^5\.\d+\.\d+$/);
    expect(r.get('remote-mta')).toBe('dns; mx.remote.example');
    expect(r.get('diagnostic-code')).toBe('smtp; 550 5.1.1 <gone@remote.example>: Recipient address rejected');
    // No RET: the whole (small) message comes back.
    expect(dsn.returnedType).toBe('message/rfc822');
    expect(dsn.returned).toContain('Subject: Bounce me');
    expect(dsn.returned).toContain('The original body text.');
  });

  it('permanent outcome with RET=HDRS returns the headers only, as text/rfc822-headers; the DSN goes out with MAIL FROM:<> and no RET/ENVID/NOTIFY', async () => {
    await q.enqueue(fromRemote('Headers only', [{ address: 'nobody@other.example' }], { ret: 'HDRS', envid: 'E-hdrs' }));
    t.rules.set('nobody@other.example', perm());
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(1);
    expect(await q.runOnce(now)).toBe(1); // the DSN, relayed to the remote sender
    expect(t.dsns).toHaveLength(1);
    const out = t.dsns[0];
    expect(out).toMatchObject({ from: '', domain: 'remote.example', envid: undefined, ret: undefined });
    expect(out.recipients).toEqual([{ address: 'sender@remote.example', notify: undefined, orcpt: undefined }]);
    const dsn = parseDsn(out.body);
    expect(dsn.returnedType).toBe('text/rfc822-headers');
    expect(dsn.returned).toContain('Subject: Headers only');
    expect(dsn.returned).not.toContain('Body of Headers only');
    expect(dsn.perMessage.get('original-envelope-id')).toBe('E-hdrs');
    expect(dsn.perRecipient[0].get('original-recipient')).toBeUndefined(); // no ORCPT given (RFC 3461 §6.3 d)
    expect(dsn.perRecipient[0].get('action')).toBe('failed');
  });

  it('RFC 3461 §6.1: a DSN is never answered with a DSN (undeliverable DSN to a remote sender)', async () => {
    await q.enqueue(fromRemote('twice', [{ address: 'nobody@other.example' }]));
    t.rules.set('nobody@other.example', perm());
    t.rules.set('sender@remote.example', perm('mailbox gone')); // the DSN bounces too
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(1); // original fails, DSN queued
    expect(await q.runOnce(now)).toBe(1); // DSN fails
    expect(await q.runOnce(now)).toBe(0); // and nothing follows
    expect(t.dsns).toHaveLength(1);
    expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });
  });

  it('RFC 3461 §6.1: a DSN is never answered with a DSN (undeliverable DSN to a local sender)', async () => {
    await q.enqueue({ from: 'bob@a.example', body: message('local twice', { from: 'bob@a.example' }), recipients: [{ address: 'x@other.example' }], origin: 'submission', accountId: env.bob.id });
    t.rules.set('x@other.example', perm());
    const inboxBefore = (await inbox(env, env.bob)).length;
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(1);
    const dsnRow = (await queueRows(env)).recipients;
    expect(dsnRow).toEqual([expect.objectContaining({ address: 'bob@a.example', account_id: env.bob.id })]);
    await env.app.directory.setEnabled(sys, 'bob@a.example', false);
    try {
      expect(await q.runOnce(now)).toBe(1); // the DSN fails: bob is disabled
      expect(await q.runOnce(now)).toBe(0);
      expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });
    } finally {
      await env.app.directory.setEnabled(sys, 'bob@a.example', true);
    }
    expect(await inbox(env, env.bob)).toHaveLength(inboxBefore);
    expect(t.attempts).toHaveLength(1);
  });

  it('RFC 3461 §4.1: NOTIFY=NEVER gives no DSN; NOTIFY without FAILURE gives no failure DSN', async () => {
    await q.enqueue(fromRemote('never', [{ address: 'n1@other.example', notify: ['NEVER'] }, { address: 'n2@other.example', notify: ['SUCCESS', 'DELAY'] }]));
    t.rules.set('n1@other.example', perm());
    t.rules.set('n2@other.example', perm());
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(2);
    expect(await q.runOnce(now)).toBe(0);
    expect(t.dsns).toEqual([]);
    expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });
  });

  it('RFC 3461 §5.2.2: NOTIFY=SUCCESS gives a success DSN ("relayed", 2.0.0, headers only), unless the next hop took the DSN request', async () => {
    await q.enqueue(fromRemote('success', [
      { address: 's1@other.example', notify: ['SUCCESS'], orcpt: 'rfc822;s1@other.example' },
      { address: 's2@other.example', notify: ['FAILURE'] },
      { address: 's3@third.example', notify: ['SUCCESS', 'FAILURE'] },
    ], { envid: 'E-ok' }));
    t.rules.set('s3@third.example', { ...DELIVERED, remoteDsn: true });
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(3);
    expect(await q.runOnce(now)).toBe(1);
    expect(t.dsns).toHaveLength(1);
    const dsn = parseDsn(t.dsns[0].body);
    expect(dsn.subject).toBe('Successful Mail Delivery Report');
    expect(dsn.perRecipient.map((r) => [r.get('final-recipient'), r.get('action'), r.get('status')])).toEqual([['rfc822; s1@other.example', 'relayed', '2.0.0']]);
    expect(dsn.perRecipient[0].get('original-recipient')).toBe('rfc822; s1@other.example');
    expect(dsn.perMessage.get('original-envelope-id')).toBe('E-ok');
    expect(dsn.returnedType).toBe('text/rfc822-headers');
    expect(dsn.human).not.toMatch(/not been delivered/);
  });

  it('NOTIFY=SUCCESS for a local recipient delivered from the queue gives Action: delivered', async () => {
    await q.enqueue(fromRemote('local success', [{ address: 'bob@a.example', accountId: env.bob.id, notify: ['SUCCESS'] }], { origin: 'local-retry' }));
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(1);
    expect(await q.runOnce(now)).toBe(1);
    expect(t.dsns).toHaveLength(1);
    const dsn = parseDsn(t.dsns[0].body);
    expect(dsn.perRecipient[0].get('action')).toBe('delivered');
    expect(dsn.perRecipient[0].get('status')).toBe('2.0.0');
  });

  it('NOTIFY=DELAY and no NOTIFY: one "delayed" DSN after delay_warning, only once; NOTIFY=FAILURE: none; expiry after lifetime: failed with 4.4.7', async () => {
    const id = await q.enqueue(fromRemote('delayed', [
      { address: 'dl1@other.example', notify: ['DELAY'] },
      { address: 'dl2@other.example' },
      { address: 'dl3@other.example', notify: ['FAILURE'] },
    ]));
    for (const a of ['dl1', 'dl2', 'dl3']) t.rules.set(`${a}@other.example`, TEMP);
    const created = (await queueRows(env)).messages[0].created_at;

    expect(await q.runOnce(created)).toBe(3);
    expect(await q.runOnce(created + 4 * HOUR - 1)).toBe(3);
    expect(await q.runOnce(created + 4 * HOUR - 1)).toBe(0);
    expect(t.dsns).toEqual([]); // not yet four hours

    const warn = created + 4 * HOUR + 10 * 60_000;
    expect(await q.runOnce(warn)).toBe(3);
    expect(await q.runOnce(warn)).toBe(1); // the delay DSN goes out
    expect(t.dsns).toHaveLength(1);
    const dsn = parseDsn(t.dsns[0].body);
    expect(dsn.subject).toMatch(/Delayed/);
    expect(dsn.perRecipient.map((r) => [r.get('final-recipient'), r.get('action'), r.get('status')]).sort()).toEqual([
      ['rfc822; dl1@other.example', 'delayed', '4.4.1'],
      ['rfc822; dl2@other.example', 'delayed', '4.4.1'],
    ]);
    expect(dsn.perRecipient[0].get('will-retry-until')).toBeDefined();
    expect(Date.parse(dsn.perRecipient[0].get('will-retry-until')!)).toBe(Math.floor((created + Q.lifetime_hours * HOUR) / 1000) * 1000);
    expect(dsn.returnedType).toBe('text/rfc822-headers');
    expect((await recipientRow(env, id, 'dl1@other.example'))?.delay_notified).toBe(1);
    expect((await recipientRow(env, id, 'dl3@other.example'))?.delay_notified).toBe(0);

    // Later attempts, still failing: no second delay DSN.
    for (const at of [warn + HOUR, warn + 10 * HOUR, warn + 50 * HOUR]) {
      expect(await q.runOnce(at)).toBe(3);
      expect(await q.runOnce(at)).toBe(0);
    }
    expect(t.dsns).toHaveLength(1);

    // Lifetime over: failed, with one DSN for those who want failures (dl2: default, dl3: FAILURE).
    const expire = created + Q.lifetime_hours * HOUR;
    expect(await q.runOnce(expire)).toBe(3);
    expect(await q.runOnce(expire)).toBe(1);
    expect(t.dsns).toHaveLength(2);
    const fail = parseDsn(t.dsns[1].body);
    expect(fail.subject).toBe('Undelivered Mail Returned to Sender');
    expect(fail.perRecipient.map((r) => [r.get('final-recipient'), r.get('action'), r.get('status')]).sort()).toEqual([
      ['rfc822; dl2@other.example', 'failed', '4.4.7'],
      ['rfc822; dl3@other.example', 'failed', '4.4.7'],
    ]);
    expect(fail.perRecipient[0].get('diagnostic-code')).toBe('smtp; 451 4.4.1 try again later');
    expect(fail.human).toMatch(/expired/);
    expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });
  });

  it('the last retry is never scheduled after the lifetime ends', async () => {
    const id = await q.enqueue(fromRemote('deadline', [{ address: 'late@other.example', notify: ['NEVER'] }]));
    t.rules.set('late@other.example', TEMP);
    const created = (await queueRows(env)).messages[0].created_at;
    const end = created + Q.lifetime_hours * HOUR;
    expect(await q.runOnce(end - 60_000)).toBe(1);
    expect((await recipientRow(env, id, 'late@other.example'))?.next_attempt_at).toBe(end);
    expect(await q.runOnce(end)).toBe(1);
    expect((await recipientRow(env, id, 'late@other.example'))).toBeUndefined(); // failed, message gone
  });

  it('RFC 3461 §6.1: a message with the null sender never gets a DSN (failure, delay or expiry)', async () => {
    await q.enqueue({ from: '', body: message('null sender'), recipients: [{ address: 'p@other.example' }, { address: 'w@other.example', notify: ['SUCCESS', 'FAILURE', 'DELAY'] }], origin: 'forward' });
    t.rules.set('p@other.example', perm());
    t.rules.set('w@other.example', TEMP);
    const created = (await queueRows(env)).messages[0].created_at;
    for (const at of [created, created + 5 * HOUR, created + Q.lifetime_hours * HOUR]) {
      expect(await q.runOnce(at)).toBeGreaterThan(0);
      expect(await q.runOnce(at)).toBe(0);
    }
    expect(t.attempts.every((a) => a.from === '')).toBe(true);
    expect(t.attempts.flatMap((a) => a.recipients.map((r) => r.address)).sort()).toEqual(['p@other.example', 'w@other.example', 'w@other.example', 'w@other.example']);
    expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });
  });

  it('a failing transport (it throws) counts as a temporary failure for the whole group', async () => {
    const id = await q.enqueue(fromRemote('throws', [{ address: 'th@other.example', notify: ['NEVER'] }]));
    const broken: OutboundTransport = { send: async () => { throw new Error('connection reset'); }, close: async () => {} };
    q.setTransport(broken);
    try {
      expect(await q.runOnce(Date.now())).toBe(1);
    } finally {
      q.setTransport(t);
    }
    expect((await recipientRow(env, id, 'th@other.example'))).toMatchObject({ status: 'pending', attempts: 1, last_code: 451, lease_owner: null });
  });

  it('hold / release / retry / delete / list / show', async () => {
    const a = await q.enqueue(fromRemote('held one', [{ address: 'h1@other.example' }, { address: 'h2@third.example' }]));
    const b = await q.enqueue(fromRemote('other one', [{ address: 'o1@other.example', notify: ['FAILURE'] }]));
    t.rules.set('o1@other.example', TEMP);

    expect(await q.hold(a)).toBe(2);
    const now = Date.now();
    expect(await q.runOnce(now)).toBe(1); // only b
    expect(t.attempts.map((x) => x.recipients[0].address)).toEqual(['o1@other.example']);

    const all = await q.list();
    expect(all.map((e) => e.id).sort()).toEqual([a, b].sort());
    const ea = all.find((e) => e.id === a)!;
    expect(ea).toMatchObject({ sender: 'sender@remote.example', origin: 'forward' });
    expect(ea.recipients.map((r) => [r.address, r.status, r.attempts, r.local])).toEqual([['h1@other.example', 'held', 0, false], ['h2@third.example', 'held', 0, false]]);
    const eb = all.find((e) => e.id === b)!;
    expect(eb.recipients[0]).toMatchObject({ status: 'pending', attempts: 1 });
    expect(eb.recipients[0].lastError).toContain('451');
    expect((await q.list({ status: 'held' })).map((e) => e.id)).toEqual([a]);
    expect((await q.list({ status: 'pending' })).map((e) => e.id)).toEqual([b]);
    expect(await q.list({ status: 'failed' })).toEqual([]);

    const shown = await q.show(a);
    expect(shown.id).toBe(a);
    expect(shown.recipients).toHaveLength(2);
    expect(shown.headers).toContain('Subject: held one');
    expect(shown.headers).not.toContain('Body of held one');

    // Held stays held through runs; release makes it due.
    expect(await q.runOnce(now + 10 * HOUR)).toBe(1); // b again, a still held
    expect(await q.release(a)).toBe(2);
    expect(await q.runOnce(now + 10 * HOUR)).toBe(2);
    expect(t.for('h1@other.example')).toHaveLength(1);
    expect(t.for('h2@third.example')).toHaveLength(1);
    await expectCode(q.show(a), 'NOT_FOUND'); // delivered, gone

    // Delete: gone without delivery and without a DSN.
    await q.remove(b);
    expect(await q.list()).toEqual([]);
    expect(await q.runOnce(now + 100 * HOUR)).toBe(0);
    expect(t.dsns).toEqual([]);
    await expectCode(q.remove(b), 'NOT_FOUND');
    await expectCode(q.show(b), 'NOT_FOUND');
    await expectCode(q.hold(b), 'NOT_FOUND');
    await expectCode(q.release(b), 'NOT_FOUND');
  });

  it('a recipient held while its attempt runs stays held; one deleted meanwhile gets no outcome and no DSN', async () => {
    const a = await q.enqueue(fromRemote('hold during', [{ address: 'hd@other.example' }]));
    const b = await q.enqueue(fromRemote('delete during', [{ address: 'dd@other.example' }]));
    t.rules.set('hd@other.example', TEMP);
    t.rules.set('dd@other.example', perm());
    const inner = t.send.bind(t);
    const racing: OutboundTransport = {
      send: async (x) => {
        if (x.recipients[0].address === 'hd@other.example') await q.hold(a);
        if (x.recipients[0].address === 'dd@other.example') await q.remove(b);
        return inner(x);
      },
      close: async () => {},
    };
    q.setTransport(racing);
    try {
      expect(await q.runOnce(Date.now())).toBe(2);
    } finally {
      q.setTransport(t);
    }
    expect(await recipientRow(env, a, 'hd@other.example')).toMatchObject({ status: 'held', attempts: 1 });
    expect(await recipientRow(env, b, 'dd@other.example')).toBeUndefined();
    expect(await q.runOnce(Date.now() + HOUR)).toBe(0);
    expect(t.dsns).toEqual([]);
  });

  it('one address standing for several local accounts (a list) keeps a queued copy for each', async () => {
    await q.enqueue(fromRemote('to the team', [
      { address: 'team@a.example', accountId: env.alice.id },
      { address: 'team@a.example', accountId: env.bob.id },
    ], { origin: 'local-retry' }));
    const before = [(await inbox(env, env.alice)).length, (await inbox(env, env.bob)).length];
    expect(await q.runOnce(Date.now())).toBe(2);
    expect([(await inbox(env, env.alice)).length, (await inbox(env, env.bob)).length]).toEqual([before[0] + 1, before[1] + 1]);
    expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });
  });

  it('issue 3, scale-out: leases: two MailQueue workers on the same store, running at once, attempt each recipient once per due time', async () => {
    // SQLite: a second worker over the same Stores (one process holds one connection per
    // file). PostgreSQL: a second installation opened on the same data directory, with its
    // own connection pool, as a second node would.
    let other: MailQueue;
    let second: App | null = null;
    if (engine === 'postgres') {
      second = await openApp(env.dataDir, { env: {} });
      other = second.queue;
    } else {
      const s = env.app.config.queue;
      other = new MailQueue({
        stores: env.app.stores, log: silentLogger(), transport: null,
        settings: { hostname: HOST, lifetimeMs: s.lifetime_hours * HOUR, delayWarningMs: s.delay_warning_hours * HOUR, retryMinMs: s.retry_min_seconds * SEC, retryMaxMs: s.retry_max_seconds * SEC, leaseMs: 10 * 60_000, pollMs: s.poll_seconds * SEC },
        deliverLocal: (req) => env.app.reception.deliver(req),
        accountById: (id) => env.app.directory.accountById(id),
        localAccountFor: async () => null,
      });
    }
    other.setTransport(t);
    try {
      const N = 40;
      const bobBefore = (await inbox(env, env.bob)).length;
      for (let i = 0; i < N; i++) {
        await q.enqueue({
          from: 'sender@remote.example', body: message(`lease ${i}`), origin: 'forward',
          recipients: [
            { address: `l${i}a@other.example`, notify: ['NEVER'] },
            { address: `l${i}b@other.example`, notify: ['NEVER'] },
            { address: `l${i}c@third.example`, notify: ['NEVER'] },
            { address: 'bob@a.example', accountId: env.bob.id, notify: ['NEVER'] },
          ],
        });
      }
      for (let i = 0; i < N; i++) t.rules.set(`l${i}a@other.example`, TEMP);
      const now = Date.now();
      const [n1, n2] = await Promise.all([q.runOnce(now), other.runOnce(now)]);
      expect(n1 + n2).toBe(4 * N);
      // Every relay recipient once, in an attempt of its own message and domain.
      const count = (addr: string) => t.attempts.flatMap((a) => a.recipients).filter((r) => r.address === addr).length;
      for (let i = 0; i < N; i++) {
        for (const x of [`l${i}a@other.example`, `l${i}b@other.example`, `l${i}c@third.example`]) expect(count(x), x).toBe(1);
      }
      expect(t.attempts).toHaveLength(2 * N);
      // Local copies: exactly one per message.
      expect((await inbox(env, env.bob)).length).toBe(bobBefore + N);

      // Second round, at the retry time: the temporary ones again, each once.
      for (let i = 0; i < N; i++) t.rules.delete(`l${i}a@other.example`);
      const [m1, m2] = await Promise.all([q.runOnce(now + RETRY_MIN), other.runOnce(now + RETRY_MIN)]);
      expect(m1 + m2).toBe(N);
      for (let i = 0; i < N; i++) expect(count(`l${i}a@other.example`)).toBe(2);
      expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });
      expect((await inbox(env, env.bob)).length).toBe(bobBefore + N);
    } finally {
      if (second) await second.close();
    }
  });
});

describe.each(ENGINES)('local retry on %s: a partition that is down (GW-EMG-3)', (engine) => {
  let env: Env;
  let carol: AccountInfo;

  beforeAll(async () => {
    env = await openEnv(engine, { brokenP2: true });
    carol = await env.app.directory.addAccount(sys, { address: 'carol@a.example', password: PW, partition: 'p2' });
    expect(carol.partition).toBe('p2');
  });

  afterAll(async () => {
    await env?.close();
  });

  it('accept() still takes the message: stored for main, queued as local-retry for p2; once p2 is back, runOnce delivers it exactly once', async () => {
    const raw = message('partition down', { from: 'sender@remote.example', to: 'alice@a.example, carol@a.example', body: 'Hello both.' });
    const aliceBefore = (await inbox(env, env.alice)).length;
    const res = await env.app.reception.accept({
      id: 'mx-1', raw, from: 'sender@remote.example', external: [],
      local: [{ address: 'alice@a.example', account: env.alice }, { address: 'carol@a.example', account: carol }],
      localParams: new Map([['carol@a.example', { notify: ['FAILURE'], orcpt: 'rfc822;carol@a.example' }]]),
      envid: 'E-local', receivedAt: Date.now(), withProtocol: 'ESMTP',
      source: { protocol: 'smtp', remoteAddress: '192.0.2.7', helo: 'client.remote.example', revealClient: true },
    });
    expect(res).toEqual({ queued: 1, stored: 1 });
    expect(await inbox(env, env.alice)).toHaveLength(aliceBefore + 1);

    const rows = await queueRows(env);
    expect(rows.messages).toEqual([expect.objectContaining({ origin: 'local-retry', sender: 'sender@remote.example', envid: 'E-local' })]);
    expect(rows.recipients).toEqual([expect.objectContaining({ address: 'carol@a.example', account_id: carol.id, status: 'pending', notify: 'FAILURE', orcpt: 'rfc822;carol@a.example' })]);
    const id = rows.messages[0].id;

    // Still down: a temporary failure, tried again later.
    const t0 = Date.now();
    expect(await env.app.queue.runOnce(t0)).toBe(1);
    expect(await recipientRow(env, id, 'carol@a.example')).toMatchObject({ status: 'pending', attempts: 1, last_code: 451 });
    expect(env.app.stores.partition('p2').status).toBe('down');

    // The partition comes back; after retry_after_ms it is tried again.
    await env.fixP2();
    await sleep(150);
    expect(await env.app.queue.runOnce(t0 + RETRY_MIN)).toBe(1);
    expect(env.app.stores.partition('p2').status).toBe('up');
    const mails = await inbox(env, carol);
    expect(mails).toHaveLength(1);
    expect(mails[0].toString()).toContain('Subject: partition down');
    expect(mails[0].toString()).toMatch(/^Return-Path: <sender@remote\.example>\r\n/);
    expect(await queueRows(env)).toEqual({ messages: [], recipients: [] });

    // Exactly once: later runs find nothing to do.
    expect(await env.app.queue.runOnce(t0 + 10 * HOUR)).toBe(0);
    expect(await inbox(env, carol)).toHaveLength(1);
    expect(env.transport.attempts).toEqual([]);
  });
});
