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
import { normaliseAddress, parseAddress, stripSubaddress } from '../../lib/address.ts';

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

  constructor(directory: Directory, mail: MailStore, pipeline: DeliveryPipeline) {
    this.#directory = directory;
    this.#mail = mail;
    this.#pipeline = pipeline;
  }

  get directory(): Directory {
    return this.#directory;
  }

  /**
   * Checks one RCPT. Throws: INVALID_INPUT (syntax), RELAY_DENIED (not our domain and not
   * authenticated), NOT_FOUND (no such local recipient), ACCOUNT_DISABLED, FORBIDDEN (list
   * posting policy), LOOP_DETECTED, LIMIT_EXCEEDED, QUOTA_EXCEEDED (a directly addressed
   * account is full), UNAVAILABLE (storage or directory down: temporary).
   */
  async checkRecipient(address: string, sender: string, opts: { authenticated?: AccountInfo } = {}): Promise<RecipientCheck> {
    const addr = normaliseAddress(address);
    const { domain } = parseAddress(addr);
    if (!(await this.#directory.isLocalDomain(domain))) {
      if (!opts.authenticated) throw new DomainError('RELAY_DENIED', `${domain} is not served here`);
      return { recipients: [], external: [addr] };
    }
    const ex = await this.#directory.expand(addr, { sender: sender || null });
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
    const aliases = await this.#directory.listAliases(this.#directory.actorFor(account));
    return aliases.some((al) => al.address === a && al.targets.includes(account.address));
  }

  deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    return this.#pipeline.deliver(req);
  }
}
