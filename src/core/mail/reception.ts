/**
 * What SMTP (and later LMTP, JMAP submission) asks of core when mail comes in: is this
 * recipient ours and may this sender reach it, may this account send as this address, and
 * deliver the message. Protocols never look at the directory themselves.
 */
import type { Directory, AccountInfo } from '../directory/directory.ts';
import type { MailStore } from './mailstore.ts';
import type { DeliveryPipeline } from './delivery/pipeline.ts';
import type { DeliveryRecipient, DeliveryRequest, DeliveryResult } from './delivery/types.ts';
import { DomainError } from '../errors.ts';
import { systemActor } from '../actor.ts';
import { normaliseAddress, parseAddress, stripSubaddress } from '../../lib/address.ts';
import { parseMessage } from '../../lib/mime/index.ts';
import type { MailQueue, EnqueueRecipient } from './queue/queue.ts';
import { receivedHeader } from './delivery/trace.ts';
import { removeHeaderFields } from '../../lib/header-edit.ts';
import type { BlockRules } from './blocks.ts';

/** One accepted message as the protocol hands it over at the end of the data. */
export interface Accepted extends Omit<DeliveryRequest, 'recipients'> {
  local: DeliveryRecipient[];
  external: EnqueueRecipient[];
  /** Notify/ORCPT per local address, for DSNs if a local delivery has to wait in the queue. */
  localParams?: Map<string, { notify?: string[]; orcpt?: string }>;
  envid?: string;
  ret?: 'FULL' | 'HDRS';
  smtputf8?: boolean;
  account?: AccountInfo;
}

/**
 * Removes Bcc header fields (RFC 5322 §3.6.3) from a submitted message before it goes
 * anywhere: recipients must not learn who else got a blind copy.
 */
export function stripBcc(raw: Buffer): Buffer {
  return removeHeaderFields(raw, (name) => name.toLowerCase() === 'bcc');
}

/**
 * Signs a message leaving for other domains (DKIM, RFC 6376; security/dkim.ts implements
 * it): returns it with its signature prepended, or unchanged when its From domain has no key.
 */
export type OutboundSigner = (raw: Buffer) => Promise<Buffer>;

export interface RecipientCheck {
  /** Local accounts that will receive the message. */
  recipients: DeliveryRecipient[];
  /** External addresses the message must be relayed to. */
  external: string[];
}

export class Reception {
  readonly #directory: Directory;
  readonly #mail: MailStore;
  readonly #pipeline: DeliveryPipeline;
  readonly #queue: MailQueue;
  readonly #hostname: string;
  readonly #sign: OutboundSigner | undefined;
  readonly #blocks: BlockRules | undefined;

  constructor(directory: Directory, mail: MailStore, pipeline: DeliveryPipeline, queue: MailQueue, hostname: string, sign?: OutboundSigner, blocks?: BlockRules) {
    this.#directory = directory;
    this.#mail = mail;
    this.#pipeline = pipeline;
    this.#queue = queue;
    this.#hostname = hostname;
    this.#sign = sign;
    this.#blocks = blocks;
  }

  get directory(): Directory {
    return this.#directory;
  }

  /**
   * Checks one RCPT. Throws: INVALID_INPUT (syntax), RELAY_DENIED (not our domain and not
   * authenticated), NOT_FOUND (no such local recipient), ACCOUNT_DISABLED, FORBIDDEN (list
   * posting policy; a sender block rule, GW-FLT-1), LOOP_DETECTED, LIMIT_EXCEEDED,
   * QUOTA_EXCEEDED (a directly addressed account is full), UNAVAILABLE (storage or directory
   * down: temporary). remoteAddress: the client's IP, for block rules on networks.
   */
  async checkRecipient(address: string, sender: string, opts: { authenticated?: AccountInfo; remoteAddress?: string } = {}): Promise<RecipientCheck> {
    const addr = normaliseAddress(address);
    const { domain } = parseAddress(addr);
    if (!(await this.#directory.isLocalDomain(domain))) {
      if (!opts.authenticated) throw new DomainError('RELAY_DENIED', `${domain} is not served here`);
      return { recipients: [], external: [addr] };
    }
    const ex = await this.#directory.expand(addr, { sender: sender || null });
    if (this.#blocks) ex.accounts = await this.#blocks.screen(addr, ex.accounts, { sender: sender || null, remoteAddress: opts.remoteAddress });
    if (ex.accounts.length === 1 && ex.external.length === 0) {
      // A directly addressed full mailbox is refused now, not after the data (GW-DOS-3).
      const a = ex.accounts[0];
      if (a.quota_bytes > 0) {
        const st = await this.#mail.state(a).catch((e) => {
          if (e instanceof DomainError && e.code === 'UNAVAILABLE' && /not provisioned/.test(e.detail)) return null;
          throw e;
        });
        if (st && st.used_bytes >= a.quota_bytes) throw new DomainError('QUOTA_EXCEEDED', `${st.used_bytes} of ${a.quota_bytes} bytes used`);
      }
    }
    return { recipients: ex.accounts.map((account) => ({ address: addr, account })), external: ex.external };
  }

  /**
   * Whether an authenticated account may use this address as envelope sender or From:
   * its own address (and its +subaddresses), or an alias that delivers to it.
   */
  async maySendAs(account: AccountInfo, address: string): Promise<boolean> {
    let a: string;
    try {
      a = normaliseAddress(address);
    } catch {
      return false;
    }
    if (a === account.address) return true;
    const base = stripSubaddress(parseAddress(a));
    if (base && `${base.local}@${base.domain}` === account.address) return true;
    // The one alias of that exact address, if any, and whether it delivers to this account.
    try {
      const alias = await this.#directory.getAlias(systemActor('reception'), a);
      return alias.targets.includes(account.address);
    } catch (e) {
      if (e instanceof DomainError && e.code === 'NOT_FOUND') return false;
      throw e;
    }
  }

  /** Where mail to the bare <Postmaster> goes (RFC 5321 §4.5.1): postmaster@ of the first domain. */
  async postmasterAddress(): Promise<string> {
    const domains = await this.#directory.listDomains({ kind: 'system', name: 'smtp' });
    const d = domains.find((x) => x.enabled) ?? domains[0];
    if (!d) throw new DomainError('NOT_FOUND', 'no domain is configured');
    return `postmaster@${d.name}`;
  }

  deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    return this.#pipeline.deliver(req);
  }

  /**
   * Takes responsibility for a message: external recipients go into the queue, local ones
   * through the pipeline, and local ones whose storage is unavailable into the queue too.
   * Returns only when every recipient's copy is durable somewhere (mailbox or queue), so the
   * caller may answer 250. Throws (nothing acknowledged) when that cannot be promised.
   */
  async accept(a: Accepted): Promise<{ queued: number; stored: number }> {
    let raw = a.raw;
    if (a.source.protocol === 'submission') {
      raw = stripBcc(raw);
      // The From: header must be an address the account may use (GW-ACC-2).
      if (a.account) {
        const from = parseMessage(raw).from;
        if (from.length === 0) throw new DomainError('SENDER_DENIED', 'no From: header');
        for (const f of from) if (!(await this.maySendAs(a.account, f))) throw new DomainError('SENDER_DENIED', `From: ${f}`);
      }
    }
    // DKIM: submitted mail leaving for other domains is signed with its From domain's key (its
    // From was checked above); forwarded mail and local copies are not. Signed before anything
    // is stored, so that a signing failure refuses the message whole.
    const out = a.external.length > 0 && a.source.protocol === 'submission' && a.account && this.#sign ? await this.#sign(raw) : raw;
    // This hop's Received line for copies that go through the queue: no "for <...>", since it
    // must not name any other (possibly Bcc) recipient.
    const hop = receivedHeader({ ...a, raw, recipients: [] }, this.#hostname);
    // Local recipients first: a stage that refuses the message (content checks) refuses it
    // before anything was queued for relay.
    let queued = 0;
    let stored = 0;
    if (a.local.length > 0) {
      const res = await this.#pipeline.deliver({ ...a, raw, recipients: a.local });
      const failed = res.recipients.filter((x) => x.status === 'failed');
      stored = res.recipients.length - failed.length;
      // Nobody got it and nothing else is to be done: refuse with the (temporary) reason, so
      // the sender keeps the message and retries — e.g. 452 4.2.2 when the one recipient's
      // mailbox filled up between RCPT and the end of the data.
      if (stored === 0 && failed.length > 0 && a.external.length === 0 && failed.every((f) => f.error?.temporary)) {
        throw failed[0].error!;
      }
      if (failed.length > 0) {
        // Stored for the others; the rest waits in the queue (or bounces from there). The
        // queued copy keeps this hop's Received line (client address and HELO).
        await this.#queue.enqueue({
          from: a.from, body: Buffer.concat([Buffer.from(`${hop}\r\n`), raw]), origin: 'local-retry', envid: a.envid, ret: a.ret, smtputf8: a.smtputf8, accountId: a.account?.id,
          recipients: failed.map((f) => ({ address: f.address, accountId: f.accountId, ...(a.localParams?.get(f.address) ?? {}) })),
        });
        queued += failed.length;
      }
    }
    if (a.external.length > 0) {
      await this.#queue.enqueue({
        from: a.from, body: Buffer.concat([Buffer.from(`${hop}\r\n`), out]), recipients: a.external, envid: a.envid, ret: a.ret,
        smtputf8: a.smtputf8, origin: a.source.protocol === 'submission' ? 'submission' : 'forward', accountId: a.account?.id,
      });
      queued += a.external.length;
    }
    return { queued, stored };
  }
}
