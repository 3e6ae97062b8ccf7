/**
 * The delivery pipeline: one path for every new message, whatever brought it. The order of
 * the stages is written here, in STAGES, and nowhere else:
 *
 *   limits -> parse -> authenticate -> content checks -> per-recipient filters -> store -> announce
 *
 * Each stage is small; hooks (anti-virus, Sieve, SPF/DKIM/DMARC) plug in through
 * DeliveryHooks without the pipeline knowing them.
 *
 * Invariants:
 * - A stage before "store" that refuses throws a DomainError and nothing is stored.
 * - "store" writes all recipients that share a partition in one transaction; a recipient
 *   whose partition fails gets a temporary error, the others are stored. The caller (SMTP)
 *   turns results into replies; nothing is acknowledged before "store" returned.
 * - "announce" runs after the commit (commit, then broadcast).
 */
import type { Logger } from 'pino';
import type { AccountRef, MailStore, NewMessage, StoredMessage } from '../mailstore.ts';
import type { ChangeBus } from '../../changes/bus.ts';
import { DomainError, isDomainError } from '../../errors.ts';
import { messageMeta } from './meta.ts';
import { receivedHeader, returnPathHeader } from './trace.ts';
import type { DeliveryContext, DeliveryHooks, DeliveryRequest, DeliveryResult, RecipientResult } from './types.ts';

export interface PipelineDeps {
  mail: MailStore;
  bus: ChangeBus;
  /** Told of each partition that received messages (the full-text indexer picks them up). */
  onStored?: (partition: string) => void;
  hooks: DeliveryHooks;
  log: Logger;
  hostname: string;
  maxMessageSize: number;
}

export interface AppendRequest {
  id: string;
  account: AccountRef;
  mailboxId: number;
  raw: Buffer;
  flags: string[];
  internalDate?: number;
}

type Stage = (ctx: DeliveryContext, deps: PipelineDeps) => Promise<void>;

/** Refuses what is too large before anything else looks at it (GW-DOS-1). */
const limits: Stage = async (ctx, deps) => {
  if (ctx.req.raw.byteLength > deps.maxMessageSize) {
    throw new DomainError('LIMIT_EXCEEDED', `message of ${ctx.req.raw.byteLength} bytes exceeds the limit of ${deps.maxMessageSize}`);
  }
  if (ctx.req.recipients.length === 0) throw new DomainError('INVALID_INPUT', 'no recipients');
};

/** Parses once; the result is stored with the message so listings never re-parse. */
const parse: Stage = async (ctx) => {
  ctx.meta = messageMeta(ctx.req.raw);
};

const authenticate: Stage = async (ctx, deps) => {
  if (!deps.hooks.authenticate) return;
  const before = ctx.req.raw;
  const r = await deps.hooks.authenticate(ctx);
  if (r) ctx.authResults = r;
  // Forged results were removed: the stored structure must describe the bytes we keep.
  if (ctx.req.raw !== before) ctx.meta = messageMeta(ctx.req.raw);
};

const content: Stage = async (ctx, deps) => {
  for (const c of deps.hooks.contentChecks) await c.check(ctx);
};

const filters: Stage = async (ctx, deps) => {
  for (const r of ctx.req.recipients) {
    const d = { mailbox: 'INBOX', flags: [] as string[], discard: false };
    for (const f of deps.hooks.filters) await f.apply(ctx, r, d);
    ctx.decisions.set(r.address, d);
  }
};

const store: Stage = async (ctx, deps) => {
  const { req } = ctx;
  // Return-Path, then the results of our checks above our own Received line (RFC 8601 §5:
  // Authentication-Results is prepended like a trace field, by the hop that did the checks).
  const head = [returnPathHeader(req.from)];
  if (ctx.authResults) head.push(ctx.authResults);
  head.push(receivedHeader(req, deps.hostname));
  const prefix = Buffer.from(head.join('\r\n') + '\r\n', 'utf8');
  const data = Buffer.concat([prefix, req.raw]);
  const structure = ctx.meta?.structure as { offset: number } | undefined;
  if (structure) structure.offset = prefix.byteLength;
  // One entry per account (an account reached through two addresses gets one copy).
  const seen = new Set<number>();
  const byPartition = new Map<string, { item: NewMessage; address: string }[]>();
  for (const r of req.recipients) {
    const d = ctx.decisions.get(r.address)!;
    if (seen.has(r.account.id)) continue;
    seen.add(r.account.id);
    if (d.discard) {
      deps.log.info({ id: req.id, recipient: r.address }, 'delivery.discarded');
      ctx.results.push({ address: r.address, accountId: r.account.id, status: 'discarded' });
      continue;
    }
    const list = byPartition.get(r.account.partition) ?? [];
    list.push({ address: r.address, item: { account: r.account, mailbox: d.mailbox, data, flags: d.flags, internalDate: req.receivedAt, meta: ctx.meta } });
    byPartition.set(r.account.partition, list);
  }
  await Promise.all([...byPartition.values()].map(async (group) => {
    try {
      const stored = await deps.mail.storeBatch(group.map((g) => g.item));
      group.forEach((g, i) => ctx.results.push({ address: g.address, accountId: g.item.account.id, status: 'stored', stored: stored[i], mailbox: g.item.mailbox }));
    } catch (e) {
      // A batch failing on one account's quota: retry the others alone, so one full
      // mailbox does not refuse the message for everyone in the partition.
      if (group.length > 1 && isDomainError(e, 'QUOTA_EXCEEDED')) {
        for (const g of group) {
          try {
            const [s] = await deps.mail.storeBatch([g.item]);
            ctx.results.push({ address: g.address, accountId: g.item.account.id, status: 'stored', stored: s, mailbox: g.item.mailbox });
          } catch (e2) {
            ctx.results.push({ address: g.address, accountId: g.item.account.id, status: 'failed', error: asDomainError(e2) });
          }
        }
        return;
      }
      for (const g of group) ctx.results.push({ address: g.address, accountId: g.item.account.id, status: 'failed', error: asDomainError(e) });
    }
  }));
};

const announce: Stage = async (ctx, deps) => {
  const partitions = new Set<string>();
  for (const r of ctx.results) {
    if (r.status === 'stored' && r.stored) {
      deps.bus.emit({ accountId: r.accountId, modseq: r.stored.modseq, kinds: ['message'], mailboxIds: [r.stored.mailboxId] });
      const rcpt = ctx.req.recipients.find((x) => x.account.id === r.accountId);
      if (rcpt) partitions.add(rcpt.account.partition);
    }
  }
  for (const p of partitions) deps.onStored?.(p);
  for (const h of deps.hooks.stored ?? []) {
    try {
      await h.after(ctx);
    } catch (e) {
      deps.log.warn({ id: ctx.req.id, hook: h.name, err: (e as Error).message }, 'delivery.stored_hook_failed');
    }
  }
};

function asDomainError(e: unknown): DomainError {
  if (e instanceof DomainError) return e;
  return new DomainError('INTERNAL', 'delivery failed', { cause: e });
}

/** The order, in one place. */
export const STAGES: readonly [string, Stage][] = [
  ['limits', limits],
  ['parse', parse],
  ['authenticate', authenticate],
  ['content', content],
  ['filters', filters],
  ['store', store],
  ['announce', announce],
];

export class DeliveryPipeline {
  readonly #deps: PipelineDeps;
  constructor(deps: PipelineDeps) {
    this.#deps = deps;
  }

  /**
   * Messages a client stores itself (IMAP APPEND, later JMAP Email/import): the same limits,
   * parse and content checks as delivery, but no authentication results, no filters and no
   * trace fields; stored with the given flags and dates into the given mailboxes, all in one
   * transaction (RFC 3502 MULTIAPPEND: all or none). The requests must share a partition.
   */
  async append(reqs: AppendRequest[]): Promise<StoredMessage[]> {
    const deps = this.#deps;
    const items: NewMessage[] = [];
    for (const req of reqs) {
      if (req.raw.byteLength > deps.maxMessageSize) {
        throw new DomainError('LIMIT_EXCEEDED', `message of ${req.raw.byteLength} bytes exceeds the limit of ${deps.maxMessageSize}`);
      }
      const ctx: DeliveryContext = {
        req: { id: req.id, raw: req.raw, from: '', recipients: [], source: { protocol: 'local', revealClient: false }, receivedAt: req.internalDate ?? Date.now(), withProtocol: 'local' },
        decisions: new Map(), results: [],
      };
      ctx.meta = messageMeta(req.raw);
      for (const c of deps.hooks.contentChecks) await c.check(ctx);
      items.push({ account: req.account, mailbox: '', mailboxId: req.mailboxId, data: req.raw, flags: req.flags, internalDate: req.internalDate, meta: ctx.meta });
    }
    const stored = await deps.mail.storeBatch(items);
    for (const [i, st] of stored.entries()) {
      deps.bus.emit({ accountId: st.accountId, modseq: st.modseq, kinds: ['message'], mailboxIds: [st.mailboxId] });
      deps.log.info({ id: reqs[i].id, size: reqs[i].raw.byteLength, account: st.accountId }, 'append.done');
    }
    if (reqs.length > 0) deps.onStored?.(reqs[0].account.partition);
    return stored;
  }

  async deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    const ctx: DeliveryContext = { req, decisions: new Map(), results: [] };
    for (const [name, stage] of STAGES) {
      try {
        await stage(ctx, this.#deps);
      } catch (e) {
        this.#deps.log.info({ id: req.id, stage: name, err: (e as Error).message }, 'delivery.refused');
        throw e instanceof DomainError ? e : new DomainError('INTERNAL', `delivery failed in ${name}`, { cause: e });
      }
    }
    const failed = ctx.results.filter((r) => r.status === 'failed');
    this.#deps.log.info({ id: req.id, size: req.raw.byteLength, stored: ctx.results.length - failed.length, failed: failed.length }, 'delivery.done');
    return { id: req.id, size: req.raw.byteLength, recipients: ctx.results };
  }
}

export type { RecipientResult };
