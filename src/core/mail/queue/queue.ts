/**
 * The mail queue, in the primary store: messages for external recipients (relayed over
 * SMTP through an OutboundTransport) and for local recipients whose partition could not take
 * them at once (delivered through the pipeline later). Every node runs a worker; recipients
 * are claimed with a lease, so two nodes never work on the same recipient at once.
 *
 * Invariants:
 * - enqueue() returns only after the message and all its recipients are committed: the
 *   caller may then acknowledge (SMTP 250).
 * - A recipient is final (delivered or failed) only after the outcome is committed; a crash
 *   in between leaves it pending with an expired lease, so it is tried again (at-least-once,
 *   as SMTP itself: "none sent twice beyond what SMTP itself cannot avoid").
 * - Failures, expiry and (on request) delays produce one DSN per message and occasion, sent
 *   with the null sender; nothing is ever sent about a message that had the null sender.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import type { Stores } from '../../../store/stores.ts';
import type { DirRow } from '../../../store/schema.ts';
import type { DeliveryRequest, DeliveryResult } from '../delivery/types.ts';
import type { AccountInfo } from '../../directory/directory.ts';
import { buildDsn, type DsnRecipient } from '../dsn.ts';
import { DomainError, invalid } from '../../errors.ts';
import type { OutboundTransport, RecipientOutcome } from './transport.ts';

export interface QueueSettings {
  hostname: string;
  lifetimeMs: number;
  delayWarningMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  leaseMs: number;
  pollMs: number;
}

export interface EnqueueRecipient {
  address: string;
  /** A local account (delivered through the pipeline); null/undefined for relay. */
  accountId?: number | null;
  notify?: string[] | null;
  orcpt?: string | null;
}

export interface EnqueueInput {
  from: string;
  body: Buffer;
  recipients: EnqueueRecipient[];
  envid?: string | null;
  ret?: 'FULL' | 'HDRS' | null;
  smtputf8?: boolean;
  origin: DirRow<'queue_messages'>['origin'];
  accountId?: number | null;
  isDsn?: boolean;
}

export interface QueueDeps {
  stores: Stores;
  log: Logger;
  settings: QueueSettings;
  transport: OutboundTransport | null;
  deliverLocal: (req: DeliveryRequest) => Promise<DeliveryResult>;
  accountById: (id: number) => Promise<AccountInfo | null>;
  /** The local account an address delivers to (for DSNs to local senders), or null. */
  localAccountFor: (address: string) => Promise<number | null>;
}

export interface QueueEntry {
  id: string;
  createdAt: number;
  sender: string;
  size: number;
  origin: string;
  recipients: { address: string; status: string; attempts: number; nextAttemptAt: number; lastError: string | null; local: boolean }[];
}

type Rcpt = DirRow<'queue_recipients'>;

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export class MailQueue {
  #d: QueueDeps;
  readonly #node = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | null = null;
  #stopped = true;
  #again = false;

  constructor(deps: QueueDeps) {
    this.#d = deps;
  }

  /** The SMTP client is a protocol module: the server hands it in at start. */
  setTransport(t: OutboundTransport | null): void {
    this.#d = { ...this.#d, transport: t };
  }

  get #db() {
    return this.#d.stores.directory;
  }

  /** Commits a message with its recipients; returns its id once durable. */
  async enqueue(m: EnqueueInput): Promise<string> {
    if (m.recipients.length === 0) throw invalid('a queued message needs recipients');
    const id = crypto.randomBytes(10).toString('hex');
    const now = Date.now();
    await this.#d.stores.dirTx('enqueue', async (trx) => {
      await trx.insertInto('queue_messages').values({
        id, created_at: now, sender: m.from, body: m.body, size: m.body.byteLength, envid: m.envid ?? null, ret: m.ret ?? null,
        smtputf8: m.smtputf8 ? 1 : 0, origin: m.origin, account_id: m.accountId ?? null, is_dsn: m.isDsn ? 1 : 0,
      }).execute();
      const seen = new Set<string>();
      for (const r of m.recipients) {
        if (seen.has(r.address)) continue;
        seen.add(r.address);
        await trx.insertInto('queue_recipients').values({
          queue_id: id, address: r.address, domain: domainOf(r.address), account_id: r.accountId ?? null, status: 'pending',
          attempts: 0, next_attempt_at: now, last_attempt_at: null, last_code: null, last_enhanced: null, last_error: null,
          remote_mta: null, notify: r.notify?.length ? r.notify.join(',') : null, orcpt: r.orcpt ?? null, delay_notified: 0,
          lease_owner: null, lease_until: null, updated_at: now,
        }).execute();
      }
    });
    this.#d.log.info({ queueId: id, recipients: m.recipients.length, size: m.body.byteLength, origin: m.origin }, 'queue.enqueued');
    this.kick();
    return id;
  }

  // ------------------------------------------------------------------ worker

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => 0);
    await this.#d.transport?.close().catch(() => {});
  }

  /** Something was queued or released: look soon. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#running) return;
    this.#running = this.runOnce().catch((e) => {
      this.#d.log.error({ err: (e as Error).message }, 'queue.run_failed');
      return 0;
    });
    const n = await this.#running;
    this.#running = null;
    if (this.#stopped) return;
    const again = this.#again || n > 0;
    this.#again = false;
    this.#schedule(again ? 0 : this.#d.settings.pollMs);
  }

  /** Works on every due recipient once; returns how many were attempted. */
  async runOnce(now = Date.now()): Promise<number> {
    const claimed = await this.#claim(now);
    if (claimed.length === 0) return 0;
    const groups = new Map<string, Rcpt[]>();
    for (const r of claimed) {
      const key = `${r.queue_id}\u0000${r.account_id !== null ? 'local' : r.domain}`;
      const g = groups.get(key) ?? [];
      g.push(r);
      groups.set(key, g);
    }
    for (const group of groups.values()) {
      const msg = await this.#db.selectFrom('queue_messages').selectAll().where('id', '=', group[0].queue_id).executeTakeFirst();
      if (!msg) continue;
      let outcomes: RecipientOutcome[];
      try {
        outcomes = group[0].account_id !== null ? await this.#deliverLocal(msg, group) : await this.#relay(msg, group);
      } catch (e) {
        const text = e instanceof Error ? e.message : String(e);
        outcomes = group.map((r) => ({ address: r.address, status: 'temporary', code: 451, enhanced: '4.3.0', message: text, remoteMta: null }));
      }
      await this.#apply(msg, group, outcomes, now);
    }
    return claimed.length;
  }

  async #claim(now: number): Promise<Rcpt[]> {
    const due = await this.#db.selectFrom('queue_recipients').selectAll()
      .where('status', '=', 'pending').where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('next_attempt_at').limit(200).execute();
    const mine: Rcpt[] = [];
    for (const r of due) {
      const res = await this.#db.updateTable('queue_recipients')
        .set({ lease_owner: this.#node, lease_until: now + this.#d.settings.leaseMs })
        .where('queue_id', '=', r.queue_id).where('address', '=', r.address).where('status', '=', 'pending')
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) mine.push(r);
    }
    return mine;
  }

  async #deliverLocal(msg: DirRow<'queue_messages'>, group: Rcpt[]): Promise<RecipientOutcome[]> {
    const out: RecipientOutcome[] = [];
    for (const r of group) {
      const account = await this.#d.accountById(r.account_id!);
      if (!account || !account.enabled) {
        out.push({ address: r.address, status: 'permanent', code: 550, enhanced: '5.1.1', message: 'recipient no longer exists or is disabled', remoteMta: null });
        continue;
      }
      const res = await this.#d.deliverLocal({
        id: msg.id, raw: Buffer.from(msg.body), from: msg.sender, recipients: [{ address: r.address, account }],
        receivedAt: msg.created_at, withProtocol: 'local', source: { protocol: 'local', revealClient: false },
      }).catch((e) => ({ id: msg.id, size: 0, recipients: [{ address: r.address, accountId: account.id, status: 'failed' as const, error: e instanceof DomainError ? e : new DomainError('INTERNAL', String(e)) }] }));
      const rr = res.recipients[0];
      if (!rr || rr.status !== 'failed') {
        out.push({ address: r.address, status: 'delivered', code: 250, enhanced: '2.0.0', message: 'delivered', remoteMta: null });
      } else if (rr.error?.temporary) {
        out.push({ address: r.address, status: 'temporary', code: rr.error.code === 'QUOTA_EXCEEDED' ? 452 : 451, enhanced: rr.error.code === 'QUOTA_EXCEEDED' ? '4.2.2' : '4.3.0', message: rr.error.message, remoteMta: null });
      } else {
        out.push({ address: r.address, status: 'permanent', code: 550, enhanced: '5.0.0', message: rr.error?.message ?? 'failed', remoteMta: null });
      }
    }
    return out;
  }

  async #relay(msg: DirRow<'queue_messages'>, group: Rcpt[]): Promise<RecipientOutcome[]> {
    if (!this.#d.transport) {
      return group.map((r) => ({ address: r.address, status: 'temporary', code: 451, enhanced: '4.4.1', message: 'no outbound transport configured', remoteMta: null }));
    }
    return this.#d.transport.send({
      domain: group[0].domain,
      from: msg.sender,
      recipients: group.map((r) => ({ address: r.address, notify: r.notify ? (r.notify.split(',') as ('NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY')[]) : undefined, orcpt: r.orcpt ?? undefined })),
      body: Buffer.from(msg.body),
      envid: msg.envid ?? undefined,
      ret: msg.ret ?? undefined,
      smtputf8: msg.smtputf8 === 1,
    });
  }

  #backoff(attempts: number): number {
    const { retryMinMs, retryMaxMs } = this.#d.settings;
    return Math.min(retryMaxMs, retryMinMs * 2 ** Math.max(0, attempts - 1));
  }

  async #apply(msg: DirRow<'queue_messages'>, group: Rcpt[], outcomes: RecipientOutcome[], now: number): Promise<void> {
    const { lifetimeMs, delayWarningMs } = this.#d.settings;
    const byAddr = new Map(outcomes.map((o) => [o.address, o]));
    const failedDsn: DsnRecipient[] = [];
    const delayedDsn: DsnRecipient[] = [];
    const successDsn: DsnRecipient[] = [];
    await this.#d.stores.dirTx('queue outcome', async (trx) => {
      for (const r of group) {
        const o = byAddr.get(r.address) ?? { address: r.address, status: 'temporary' as const, code: 451, enhanced: '4.3.0', message: 'no outcome', remoteMta: null };
        const notify = r.notify ? r.notify.split(',') : null;
        const diag = `${o.code}${o.enhanced ? ` ${o.enhanced}` : ''} ${o.message}`.slice(0, 900);
        const base = { last_attempt_at: now, last_code: o.code, last_enhanced: o.enhanced, last_error: o.status === 'delivered' ? null : diag, remote_mta: o.remoteMta, lease_owner: null, lease_until: null, updated_at: now, attempts: r.attempts + 1 };
        let status: Rcpt['status'] = 'pending';
        let next = now + this.#backoff(r.attempts + 1);
        let delayNotified = r.delay_notified;
        if (o.status === 'delivered') {
          status = 'delivered';
          if (notify?.includes('SUCCESS')) successDsn.push({ address: r.address, orcpt: r.orcpt, action: r.account_id !== null ? 'delivered' : 'relayed', status: '2.0.0', diagnostic: diag, remoteMta: o.remoteMta });
        } else if (o.status === 'permanent' || now - msg.created_at >= lifetimeMs) {
          status = 'failed';
          const expired = o.status !== 'permanent';
          if (!notify?.includes('NEVER') && (notify === null || notify.includes('FAILURE'))) {
            failedDsn.push({ address: r.address, orcpt: r.orcpt, action: 'failed', status: expired ? '4.4.7' : o.enhanced ?? '5.0.0', diagnostic: expired ? `delivery time expired; last error: ${diag}` : diag, remoteMta: o.remoteMta });
          }
        } else if (!r.delay_notified && now - msg.created_at >= delayWarningMs && (notify === null || notify.includes('DELAY'))) {
          delayNotified = 1;
          delayedDsn.push({ address: r.address, orcpt: r.orcpt, action: 'delayed', status: o.enhanced ?? '4.0.0', diagnostic: diag, remoteMta: o.remoteMta, willRetryUntil: msg.created_at + lifetimeMs });
        }
        if (status !== 'pending') next = r.next_attempt_at;
        await trx.updateTable('queue_recipients').set({ ...base, status, next_attempt_at: next, delay_notified: delayNotified })
          .where('queue_id', '=', r.queue_id).where('address', '=', r.address).execute();
        this.#d.log.info({ queueId: msg.id, rcpt: r.address, outcome: o.status, code: o.code, status }, 'queue.attempt');
      }
      const open = await trx.selectFrom('queue_recipients').select('address').where('queue_id', '=', msg.id).where('status', 'in', ['pending', 'held']).limit(1).executeTakeFirst();
      if (!open) await trx.deleteFrom('queue_messages').where('id', '=', msg.id).execute();
    });
    for (const [list] of [[failedDsn], [delayedDsn], [successDsn]] as const) {
      if (list.length) await this.#sendDsn(msg, list, now);
    }
  }

  async #sendDsn(msg: DirRow<'queue_messages'>, recipients: DsnRecipient[], now: number): Promise<void> {
    if (msg.sender === '' || msg.is_dsn === 1) return; // RFC 3461 §6.2: never a DSN about a DSN
    const body = buildDsn({
      reportingMta: this.#d.settings.hostname, to: msg.sender, envid: msg.envid, arrivalDate: msg.created_at,
      recipients, original: Buffer.from(msg.body), ret: msg.ret, now,
    });
    const accountId = await this.#d.localAccountFor(msg.sender).catch(() => null);
    await this.enqueue({ from: '', body, recipients: [{ address: msg.sender, accountId }], origin: 'dsn', isDsn: true });
    this.#d.log.info({ queueId: msg.id, to: 'sender', action: recipients[0].action, recipients: recipients.length }, 'queue.dsn');
  }

  // ------------------------------------------------------------------ administration

  async list(opts: { status?: Rcpt['status'] } = {}): Promise<QueueEntry[]> {
    const msgs = await this.#db.selectFrom('queue_messages').select(['id', 'created_at', 'sender', 'size', 'origin']).orderBy('created_at').execute();
    const out: QueueEntry[] = [];
    for (const m of msgs) {
      let q = this.#db.selectFrom('queue_recipients').selectAll().where('queue_id', '=', m.id);
      if (opts.status) q = q.where('status', '=', opts.status);
      const rs = await q.orderBy('address').execute();
      if (opts.status && rs.length === 0) continue;
      out.push({
        id: m.id, createdAt: m.created_at, sender: m.sender, size: m.size, origin: m.origin,
        recipients: rs.map((r) => ({ address: r.address, status: r.status, attempts: r.attempts, nextAttemptAt: r.next_attempt_at, lastError: r.last_error, local: r.account_id !== null })),
      });
    }
    return out;
  }

  async show(id: string): Promise<QueueEntry & { headers: string }> {
    const m = await this.#db.selectFrom('queue_messages').selectAll().where('id', '=', id).executeTakeFirst();
    if (!m) throw new DomainError('NOT_FOUND', `queue entry ${id}`);
    const entry = (await this.list()).find((e) => e.id === id)!;
    const body = Buffer.from(m.body);
    const end = body.indexOf('\r\n\r\n');
    return { ...entry, headers: body.subarray(0, end < 0 ? Math.min(body.length, 8192) : end).toString('utf8') };
  }

  async #setStatus(id: string, from: Rcpt['status'][], to: Rcpt['status'], extra: Partial<Rcpt> = {}): Promise<number> {
    const r = await this.#d.stores.dirRun('queue change', (db) => db.updateTable('queue_recipients').set({ status: to, updated_at: Date.now(), ...extra })
      .where('queue_id', '=', id).where('status', 'in', from).executeTakeFirst());
    const n = Number(r.numUpdatedRows);
    if (n === 0 && !(await this.#db.selectFrom('queue_messages').select('id').where('id', '=', id).executeTakeFirst())) throw new DomainError('NOT_FOUND', `queue entry ${id}`);
    this.kick();
    return n;
  }

  retry(id: string): Promise<number> {
    return this.#setStatus(id, ['pending'], 'pending', { next_attempt_at: Date.now(), lease_until: null });
  }

  hold(id: string): Promise<number> {
    return this.#setStatus(id, ['pending'], 'held');
  }

  release(id: string): Promise<number> {
    return this.#setStatus(id, ['held'], 'pending', { next_attempt_at: Date.now(), lease_until: null });
  }

  async remove(id: string): Promise<void> {
    const r = await this.#d.stores.dirRun('queue delete', (db) => db.deleteFrom('queue_messages').where('id', '=', id).executeTakeFirst());
    if (Number(r.numDeletedRows) === 0) throw new DomainError('NOT_FOUND', `queue entry ${id}`);
  }
}
