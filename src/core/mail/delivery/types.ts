/**
 * The shapes that flow through the delivery pipeline. A protocol (SMTP, submission, later
 * JMAP, NNTP, iMIP) hands in a DeliveryRequest with the recipients it has already resolved
 * against the directory; the pipeline answers with one result per recipient.
 */
import type { AccountInfo } from '../../directory/directory.ts';
import type { MessageMeta, StoredMessage } from '../mailstore.ts';
import type { DomainError } from '../../errors.ts';

export interface DeliveryRecipient {
  /** The address the sender used (after normalisation). */
  address: string;
  account: AccountInfo;
}

export interface DeliverySource {
  protocol: 'smtp' | 'submission' | 'local';
  /** Client's IP address and the name it gave in HELO/EHLO. */
  remoteAddress?: string;
  remoteName?: string;
  helo?: string;
  /** "TLSv1.3" and the cipher, when the session used TLS. */
  tls?: { protocol: string; cipher: string };
  /** The account that authenticated (submission). */
  authenticatedAs?: string;
  /** Whether trace headers may show the client's address (off for submission by default). */
  revealClient: boolean;
}

export interface DeliveryRequest {
  /** Queue/delivery id, shown in the Received header and logs. */
  id: string;
  /** The message; stages before "store" may replace it (e.g. to drop forged header fields). */
  raw: Buffer;
  /** Envelope sender; '' for the null reverse-path. */
  from: string;
  recipients: DeliveryRecipient[];
  source: DeliverySource;
  receivedAt: number;
  /** "with" protocol for the Received header (RFC 3848): ESMTP, ESMTPS, ESMTPSA, ... */
  withProtocol: string;
}

export interface RecipientDecision {
  mailbox: string;
  flags: string[];
  /** A filter may discard (never silently: the pipeline logs it). */
  discard: boolean;
}

export interface RecipientResult {
  address: string;
  accountId: number;
  status: 'stored' | 'discarded' | 'failed';
  stored?: StoredMessage;
  mailbox?: string;
  error?: DomainError;
}

export interface DeliveryResult {
  id: string;
  size: number;
  recipients: RecipientResult[];
}

export interface DeliveryContext {
  req: DeliveryRequest;
  meta?: MessageMeta;
  /** Header fields (CRLF-separated, complete with names) produced by the authentication stage. */
  authResults?: string;
  decisions: Map<string, RecipientDecision>;
  results: RecipientResult[];
}

/** A content check (anti-virus, active content) — may refuse the whole message. */
export interface ContentCheck {
  name: string;
  check(ctx: DeliveryContext): Promise<void>;
}

/** A per-recipient filter (Sieve, DMARC quarantine) — may change mailbox and flags, or discard. */
export interface RecipientFilter {
  name: string;
  apply(ctx: DeliveryContext, recipient: DeliveryRecipient, decision: RecipientDecision): Promise<void>;
}

export interface DeliveryHooks {
  /** Verifies SPF/DKIM/DMARC/ARC; returns header fields to add (Authentication-Results), or null. It may replace ctx.req.raw (to drop forged results). */
  authenticate?: (ctx: DeliveryContext) => Promise<string | null>;
  contentChecks: ContentCheck[];
  filters: RecipientFilter[];
  /**
   * After the message is stored and announced: work that follows from it (iMIP into the
   * recipient's calendar). Failures are logged and never undo or refuse the delivery.
   */
  stored?: StoredHook[];
}

export interface StoredHook {
  name: string;
  after(ctx: DeliveryContext): Promise<void>;
}
