/**
 * The mail queue, in the primary store: messages for external recipients (relayed over
 * SMTP through an OutboundTransport) and for local recipients whose partition could not take
 * them at once (delivered through the pipeline later). Every node runs a worker; recipients
 * are claimed with a lease, so two nodes never work on the same recipient at once.
 *
 * Invariants:
 * - enqueue() returns only after the message and all its recipients are committed: the
 *   caller may then acknowledge (SMTP 250).
 * - A recipient is claimed only while it is pending, due and not leased by anyone else; the
 *   lease is renewed while the attempt runs and an outcome is applied only by the lease's
 *   owner. A recipient is final (delivered or failed) only after the outcome is committed; a
 *   crash in between leaves it pending with an expired lease, so it is tried again
 *   (at-least-once, as SMTP itself: "none sent twice beyond what SMTP itself cannot avoid").
 * - An outcome and the DSN it calls for commit in one transaction: a failure, expiry,
 *   delay or (on request) success gives one DSN per message and occasion, never none and
 *   never two. DSNs go out with the null sender; nothing is ever sent about a message that
 *   had the null sender, or about a DSN (RFC 3461 §6.1, RFC 5321 §4.5.5).
 * - Deleting a message (operator) sends nothing; an attempt that was under way then finds
 *   no message and applies nothing.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Stores } from '../../../store/stores.ts';
import type { DirectoryDB, DirRow } from '../../../store/schema.ts';
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
  /** How addresses appear in the log (log.addresses). */
  address?: (a: string) => string;
  settings: QueueSettings;
  transport: OutboundTransport | null;
  deliverLocal: (req: DeliveryRequest) => Promise<DeliveryResult>;
  accountById: (id: number) => Promise<AccountInfo | null>;
  /**
   * The local account an address delivers to (for DSNs to local senders); null for an
   * address elsewhere (the DSN is relayed); 'nobody' for an address of our own domains that
   * reaches no single account (gone, or a list): no DSN, rather than relaying it to ourselves.
   */
  localAccountFor: (address: string) => Promise<number | null | 'nobody'>;
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
type Trx = Transaction<DirectoryDB>;
type DsnKind = 'failed' | 'delayed' | 'success';

/** What one attempt does to one recipient, decided before anything is written. */
interface Decision {
  r: Rcpt;
  status: Rcpt['status'];
  set: Partial<Rcpt>;
  dsn: { kind: DsnKind; entry: DsnRecipient } | null;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** The enhanced status of a reply when it is of the class wanted, else X.0.0 (RFC 3463 §3.1). */
function statusOf(enhanced: string | null, cls: '2' | '4' | '5'): string {
  return enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced) && enhanced[0] === cls ? enhanced : `${cls}.0.0`;
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
    const ids = await this.#d.stores.dirTx('enqueue', (trx) => this.#insert(trx, m, Date.now()));
    this.#d.log.info({ queueId: ids[0], parts: ids.length, recipients: m.recipients.length, size: m.body.byteLength, origin: m.origin }, 'queue.enqueued');
    this.kick();
    return ids[0];
  }

  /**
   * Writes a message and its recipients in the caller's transaction. A recipient row is keyed
   * by address, but one address may stand for several local accounts (a list whose members'
   * partition was down): such recipients go into a second row set of their own, so that none
   * is dropped. Exact duplicates (same address, same account) are kept once.
   */
  async #insert(trx: Trx, m: EnqueueInput, now: number): Promise<string[]> {
    const layers: EnqueueRecipient[][] = [];
    const seen = new Set<string>();
    for (const r of m.recipients) {
      const key = `${r.address}\u0000${r.accountId ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      let layer = layers.find((l) => !l.some((x) => x.address === r.address));
      if (!layer) layers.push((layer = []));
      layer.push(r);
    }
    const ids: string[] = [];
    for (const layer of layers) {
      const id = crypto.randomBytes(10).toString('hex');
      ids.push(id);
      await trx.insertInto('queue_messages').values({
        id, created_at: now, sender: m.from, body: m.body, size: m.body.byteLength, envid: m.envid ?? null, ret: m.ret ?? null,
        smtputf8: m.smtputf8 ? 1 : 0, origin: m.origin, account_id: m.accountId ?? null, is_dsn: m.isDsn ? 1 : 0,
      }).execute();
      for (const r of layer) {
        await trx.insertInto('queue_recipients').values({
          queue_id: id, address: r.address, domain: domainOf(r.address), account_id: r.accountId ?? null, status: 'pending',
          attempts: 0, next_attempt_at: now, last_attempt_at: null, last_code: null, last_enhanced: null, last_error: null,
          remote_mta: null, notify: r.notify?.length ? r.notify.map((n) => n.toUpperCase()).join(',') : null, orcpt: r.orcpt ?? null, delay_notified: 0,
          lease_owner: null, lease_until: null, updated_at: now,
        }).execute();
      }
    }
    return ids;
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

  /**
   * Works on every due recipient once; returns how many were attempted. `now` is the queue's
   * clock (tests move it); time spent in the run is added to it for the leases.
   */
  async runOnce(now = Date.now()): Promise<number> {
    const started = Date.now();
    const clock = () => now + Math.max(0, Date.now() - started);
    const groups = await this.#claim(now);
    if (groups.length === 0) return 0;
    // An attempt may take longer than a lease (SMTP timeouts are minutes): renew ours while
    // the run lasts, so that no other node takes a recipient we are still working on.
    const { leaseMs } = this.#d.settings;
    const heartbeat = setInterval(() => {
      void this.#db.updateTable('queue_recipients').set({ lease_until: clock() + leaseMs })
        .where('lease_owner', '=', this.#node).where('lease_until', 'is not', null).execute()
        .catch((e) => this.#d.log.warn({ err: (e as Error).message }, 'queue.lease_renew_failed'));
    }, Math.max(1000, Math.floor(leaseMs / 3)));
    heartbeat.unref();
    try {
      for (const group of groups) {
        const msg = await this.#db.selectFrom('queue_messages').selectAll().where('id', '=', group[0].queue_id).executeTakeFirst();
        if (!msg) continue; // deleted meanwhile; its recipients went with it
        let outcomes: RecipientOutcome[];
        try {
          outcomes = group[0].account_id !== null ? await this.#deliverLocal(msg, group) : await this.#relay(msg, group);
        } catch (e) {
          const text = e instanceof Error ? e.message : String(e);
          outcomes = group.map((r) => ({ address: r.address, status: 'temporary', code: 451, enhanced: '4.3.0', message: 'temporary local problem', remoteMta: null, detail: text }));
        }
        // One group's trouble (a store error while applying) must not stop the others; its
        // recipients keep their lease until it runs out and are tried again then.
        await this.#apply(msg, group, outcomes, now).catch((e) => {
          this.#d.log.error({ queueId: msg.id, err: (e as Error).message }, 'queue.apply_failed');
        });
      }
    } finally {
      clearInterval(heartbeat);
    }
    return groups.reduce((n, g) => n + g.length, 0);
  }

  /**
   * Takes the lease on what is due, one group (a message's recipients at one domain, or its
   * local ones) at a time and whole: the message row is locked first, so that two workers
   * never split one group between them (one would otherwise send the message twice to the
   * same domain), and the conditions are checked again in the statement that takes the lease.
   */
  async #claim(now: number): Promise<Rcpt[][]> {
    const due = await this.#db.selectFrom('queue_recipients').select(['queue_id', 'domain', 'account_id'])
      .where('status', '=', 'pending').where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('next_attempt_at').orderBy('queue_id').orderBy('address').limit(200).execute();
    const keys = new Map<string, { queueId: string; domain: string; local: boolean }>();
    for (const r of due) {
      const local = r.account_id !== null;
      keys.set(`${r.queue_id}\u0000${local ? '' : r.domain}`, { queueId: r.queue_id, domain: r.domain, local });
    }
    // In random order: workers that start together then mostly take different groups
    // instead of queueing behind each other on the same message rows.
    const order = [...keys.values()];
    for (let i = order.length - 1; i > 0; i--) {
      const j = crypto.randomInt(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const groups: Rcpt[][] = [];
    for (const k of order) {
      const rows = await this.#d.stores.dirTx('queue claim', async (trx) => {
        const touched = await trx.updateTable('queue_messages').set((eb) => ({ size: eb.ref('size') })).where('id', '=', k.queueId).executeTakeFirst();
        if (Number(touched.numUpdatedRows) === 0) return [];
        let q = trx.updateTable('queue_recipients')
          .set({ lease_owner: this.#node, lease_until: now + this.#d.settings.leaseMs })
          .where('queue_id', '=', k.queueId).where('status', '=', 'pending').where('next_attempt_at', '<=', now)
          .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]));
        q = k.local ? q.where('account_id', 'is not', null) : q.where('account_id', 'is', null).where('domain', '=', k.domain);
        return q.returningAll().execute();
      });
      if (rows.length > 0) groups.push(rows.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)));
    }
    return groups;
  }

  async #deliverLocal(msg: DirRow<'queue_messages'>, group: Rcpt[]): Promise<RecipientOutcome[]> {
    const out: RecipientOutcome[] = [];
    for (const r of group) {
      const account = await this.#d.accountById(r.account_id!);
      if (!account) {
        out.push({ address: r.address, status: 'permanent', code: 550, enhanced: '5.1.1', message: 'mailbox does not exist', remoteMta: null });
        continue;
      }
      if (!account.enabled) {
        out.push({ address: r.address, status: 'permanent', code: 550, enhanced: '5.2.1', message: 'mailbox disabled', remoteMta: null });
        continue;
      }
      const res = await this.#d.deliverLocal({
        id: msg.id, raw: Buffer.from(msg.body), from: msg.sender, recipients: [{ address: r.address, account }],
        receivedAt: msg.created_at, withProtocol: 'local', source: { protocol: 'local', revealClient: false },
      }).catch((e) => ({ id: msg.id, size: 0, recipients: [{ address: r.address, accountId: account.id, status: 'failed' as const, error: e instanceof DomainError ? e : new DomainError('INTERNAL', String(e)) }] }));
      const rr = res.recipients[0];
      // What the sender may read is generic (GW-FWD-2: nothing internal in reports); the
      // operator finds the error itself in the queue listing.
      const detail = rr?.error?.message;
      if (!rr || rr.status !== 'failed') {
        out.push({ address: r.address, status: 'delivered', code: 250, enhanced: '2.0.0', message: 'delivered to mailbox', remoteMta: null });
      } else if (rr.error?.code === 'QUOTA_EXCEEDED') {
        out.push({ address: r.address, status: 'temporary', code: 452, enhanced: '4.2.2', message: 'mailbox full', remoteMta: null, detail });
      } else if (rr.error?.temporary !== false) {
        out.push({ address: r.address, status: 'temporary', code: 451, enhanced: '4.3.0', message: 'mailbox temporarily unavailable', remoteMta: null, detail });
      } else if (rr.error.code === 'LIMIT_EXCEEDED') {
        out.push({ address: r.address, status: 'permanent', code: 552, enhanced: '5.3.4', message: 'message too big for the mailbox', remoteMta: null, detail });
      } else {
        out.push({ address: r.address, status: 'permanent', code: 550, enhanced: '5.0.0', message: 'message refused by the mailbox', remoteMta: null, detail });
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
    return Math.min(retryMaxMs, retryMinMs * 2 ** Math.max(0, Math.min(attempts - 1, 40)));
  }

  /** What an outcome does to a recipient (pure: nothing is written here). */
  #decide(msg: DirRow<'queue_messages'>, r: Rcpt, o: RecipientOutcome, now: number): Decision {
    const { lifetimeMs, delayWarningMs } = this.#d.settings;
    const notify = r.notify ? r.notify.split(',') : null;
    // RFC 3461 §4.1: no NOTIFY means FAILURE (and, at the MTA's choice, DELAY); NEVER means none.
    const wants = (k: 'SUCCESS' | 'FAILURE' | 'DELAY') => (notify === null ? k !== 'SUCCESS' : !notify.includes('NEVER') && notify.includes(k));
    const reply = `${o.code}${o.enhanced ? ` ${o.enhanced}` : ''} ${o.message}`.slice(0, 900);
    const set: Partial<Rcpt> = {
      attempts: r.attempts + 1, last_attempt_at: now, last_code: o.code, last_enhanced: o.enhanced,
      last_error: o.status === 'delivered' ? null : `${reply}${o.detail ? ` (${o.detail})` : ''}`.slice(0, 1000),
      remote_mta: o.remoteMta, lease_owner: null, lease_until: null, updated_at: now,
    };
    const base = { address: r.address, orcpt: r.orcpt, diagnostic: reply, remoteMta: o.remoteMta };
    if (o.status === 'delivered') {
      // RFC 3461 §5.2.2: a next hop that took the DSN parameters reports success itself;
      // otherwise "relayed" (or "delivered" into a local mailbox) for those who asked.
      const dsn = wants('SUCCESS') && !o.remoteDsn
        ? { kind: 'success' as const, entry: { ...base, action: r.account_id !== null ? 'delivered' as const : 'relayed' as const, status: statusOf(o.enhanced, '2') } }
        : null;
      return { r, status: 'delivered', set, dsn };
    }
    const expired = o.status === 'temporary' && now - msg.created_at >= lifetimeMs;
    if (o.status === 'permanent' || expired) {
      // RFC 3461 §5.2.6 (and §6.3): given up on is "failed", whatever the last reply was;
      // after the lifetime the status is 4.4.7 (RFC 3463: delivery time expired).
      const dsn = wants('FAILURE')
        ? { kind: 'failed' as const, entry: { ...base, action: 'failed' as const, status: expired ? '4.4.7' : statusOf(o.enhanced, '5'), ...(expired ? { note: 'delivery time expired; the message was not delivered and will not be tried again' } : {}) } }
        : null;
      return { r, status: 'failed', set, dsn };
    }
    const next = Math.min(now + this.#backoff(r.attempts + 1), Math.max(now, msg.created_at + lifetimeMs));
    let dsn: Decision['dsn'] = null;
    if (!r.delay_notified && now - msg.created_at >= delayWarningMs && wants('DELAY')) {
      dsn = { kind: 'delayed', entry: { ...base, action: 'delayed', status: statusOf(o.enhanced, '4'), willRetryUntil: msg.created_at + lifetimeMs } };
      set.delay_notified = 1;
    }
    return { r, status: 'pending', set: { ...set, next_attempt_at: next }, dsn };
  }

  async #apply(msg: DirRow<'queue_messages'>, group: Rcpt[], outcomes: RecipientOutcome[], now: number): Promise<void> {
    const byAddr = new Map(outcomes.map((o) => [o.address.toLowerCase(), o]));
    const decisions = group.map((r) => this.#decide(msg, r, byAddr.get(r.address.toLowerCase())
      ?? { address: r.address, status: 'temporary', code: 451, enhanced: '4.3.0', message: 'no outcome for this recipient', remoteMta: null }, now));
    // Never a DSN about a message with the null sender, or about a DSN (RFC 3461 §6.1).
    const wantsDsn = msg.sender !== '' && msg.is_dsn !== 1 && decisions.some((d) => d.dsn);
    const found = wantsDsn ? await this.#d.localAccountFor(msg.sender).catch(() => null) : null;
    const reportable = wantsDsn && found !== 'nobody';
    if (wantsDsn && !reportable) this.#d.log.info({ queueId: msg.id }, 'queue.dsn_no_local_sender');
    const senderAccount = found === 'nobody' ? null : found;
    const dsnIds: string[] = [];
    const applied = await this.#d.stores.dirTx('queue outcome', async (trx) => {
      // Locks the message row (PostgreSQL), so that two nodes finishing two domains of one
      // message at once cannot both miss the other's recipients and leave it behind; and
      // tells whether an operator deleted it meanwhile (then nothing is applied or sent).
      const touched = await trx.updateTable('queue_messages').set({ size: msg.size }).where('id', '=', msg.id).executeTakeFirst();
      if (Number(touched.numUpdatedRows) === 0) return [];
      const done: Decision[] = [];
      for (const d of decisions) {
        const cur = await trx.selectFrom('queue_recipients').select(['status', 'lease_owner'])
          .where('queue_id', '=', d.r.queue_id).where('address', '=', d.r.address).executeTakeFirst();
        // Lost the lease (another node holds it now) or no longer ours to change.
        if (!cur || cur.lease_owner !== this.#node || (cur.status !== 'pending' && cur.status !== 'held')) continue;
        // Held while the attempt ran: stays held unless the attempt ended it.
        const status = d.status === 'pending' && cur.status === 'held' ? 'held' : d.status;
        await trx.updateTable('queue_recipients').set({ ...d.set, status })
          .where('queue_id', '=', d.r.queue_id).where('address', '=', d.r.address).execute();
        done.push(d);
      }
      const open = await trx.selectFrom('queue_recipients').select('address').where('queue_id', '=', msg.id).where('status', 'in', ['pending', 'held']).limit(1).executeTakeFirst();
      if (!open) await trx.deleteFrom('queue_messages').where('id', '=', msg.id).execute();
      if (reportable) {
        for (const kind of ['failed', 'delayed', 'success'] as const) {
          const recipients = done.filter((d) => d.dsn?.kind === kind).map((d) => d.dsn!.entry);
          if (recipients.length === 0) continue;
          const body = buildDsn({
            reportingMta: this.#d.settings.hostname, to: msg.sender, envid: msg.envid, arrivalDate: msg.created_at,
            recipients, original: Buffer.from(msg.body), ret: msg.ret, smtputf8: msg.smtputf8 === 1, now,
          });
          // SMTPUTF8 only when the report carries UTF-8 (an ASCII report goes anywhere).
          const smtputf8 = msg.smtputf8 === 1 && body.some((c) => c > 0x7f);
          const ids = await this.#insert(trx, {
            from: '', body, recipients: [{ address: msg.sender, accountId: senderAccount }], origin: 'dsn', isDsn: true, smtputf8,
          }, now);
          dsnIds.push(...ids);
        }
      }
      return done;
    });
    for (const d of applied) {
      this.#d.log.info({ queueId: msg.id, rcpt: (this.#d.address ?? ((a: string) => a))(d.r.address), outcome: d.status, code: d.set.last_code, attempts: d.set.attempts }, 'queue.attempt');
    }
    if (applied.length < decisions.length) this.#d.log.warn({ queueId: msg.id, lost: decisions.length - applied.length }, 'queue.outcome_not_applied');
    for (const id of dsnIds) this.#d.log.info({ queueId: msg.id, dsnId: id, local: senderAccount !== null }, 'queue.dsn');
    if (dsnIds.length) this.kick();
  }

  // ------------------------------------------------------------------ administration

  async list(opts: { status?: Rcpt['status'] } = {}): Promise<QueueEntry[]> {
    const msgs = await this.#db.selectFrom('queue_messages').select(['id', 'created_at', 'sender', 'size', 'origin']).orderBy('created_at').orderBy('id').execute();
    const out: QueueEntry[] = [];
    for (const m of msgs) {
      const e = await this.#entry(m, opts.status);
      if (opts.status && e.recipients.length === 0) continue;
      out.push(e);
    }
    return out;
  }

  async #entry(m: Pick<DirRow<'queue_messages'>, 'id' | 'created_at' | 'sender' | 'size' | 'origin'>, status?: Rcpt['status']): Promise<QueueEntry> {
    let q = this.#db.selectFrom('queue_recipients').selectAll().where('queue_id', '=', m.id);
    if (status) q = q.where('status', '=', status);
    const rs = await q.orderBy('address').execute();
    return {
      id: m.id, createdAt: m.created_at, sender: m.sender, size: m.size, origin: m.origin,
      recipients: rs.map((r) => ({ address: r.address, status: r.status, attempts: r.attempts, nextAttemptAt: r.next_attempt_at, lastError: r.last_error, local: r.account_id !== null })),
    };
  }

  /** One message: its recipients and its header section (at most 64 KiB of it), never the body. */
  async show(id: string): Promise<QueueEntry & { headers: string }> {
    const m = await this.#db.selectFrom('queue_messages').selectAll().where('id', '=', id).executeTakeFirst();
    if (!m) throw new DomainError('NOT_FOUND', `queue entry ${id}`);
    const entry = await this.#entry(m);
    const body = Buffer.from(m.body);
    const end = body.indexOf('\r\n\r\n');
    return { ...entry, headers: body.subarray(0, Math.min(end < 0 ? body.length : end, 64 * 1024)).toString('utf8') };
  }

  async #setStatus(id: string, from: Rcpt['status'][], to: Rcpt['status'], extra: Partial<Rcpt> = {}): Promise<number> {
    const r = await this.#d.stores.dirRun('queue change', (db) => db.updateTable('queue_recipients').set({ status: to, updated_at: Date.now(), ...extra })
      .where('queue_id', '=', id).where('status', 'in', from).executeTakeFirst());
    const n = Number(r.numUpdatedRows);
    if (n === 0 && !(await this.#db.selectFrom('queue_messages').select('id').where('id', '=', id).executeTakeFirst())) throw new DomainError('NOT_FOUND', `queue entry ${id}`);
    this.#d.log.info({ queueId: id, status: to, recipients: n }, 'queue.changed');
    this.kick();
    return n;
  }

  /**
   * Makes the pending recipients due now. A lease is left alone: a recipient being attempted
   * right now is not handed to a second worker (the lease expires by itself after a crash).
   */
  retry(id: string): Promise<number> {
    return this.#setStatus(id, ['pending'], 'pending', { next_attempt_at: Date.now() });
  }

  hold(id: string): Promise<number> {
    return this.#setStatus(id, ['pending'], 'held');
  }

  release(id: string): Promise<number> {
    return this.#setStatus(id, ['held'], 'pending', { next_attempt_at: Date.now() });
  }

  async remove(id: string): Promise<void> {
    const r = await this.#d.stores.dirRun('queue delete', (db) => db.deleteFrom('queue_messages').where('id', '=', id).executeTakeFirst());
    if (Number(r.numDeletedRows) === 0) throw new DomainError('NOT_FOUND', `queue entry ${id}`);
    this.#d.log.info({ queueId: id }, 'queue.deleted');
  }
}
