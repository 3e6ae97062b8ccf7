/**
 * The port through which the queue relays mail to other servers. Core defines it; the SMTP
 * client in protocols/smtp/outbound.ts implements it (core never speaks SMTP itself).
 */
export interface OutboundRecipient {
  address: string;
  notify?: ('NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY')[];
  /** RFC 3461 §4.2: "addr-type;address" (decoded) or a bare address, taken as rfc822. */
  orcpt?: string;
}

export interface OutboundAttempt {
  /** A-label; all recipients share it. */
  domain: string;
  /** '' for the null sender. */
  from: string;
  recipients: OutboundRecipient[];
  /** The message with CRLF line ends, not dot-stuffed. */
  body: Buffer;
  envid?: string;
  ret?: 'FULL' | 'HDRS';
  smtputf8?: boolean;
  /** The body has 8-bit octets; when absent the transport looks for itself. */
  eightBit?: boolean;
}

export interface RecipientOutcome {
  address: string;
  status: 'delivered' | 'temporary' | 'permanent';
  code: number;
  enhanced: string | null;
  /** The remote reply text, or our diagnosis. */
  message: string;
  /** Host name we talked to. */
  remoteMta: string | null;
  /**
   * True when the next hop advertised DSN and took NOTIFY/ORCPT for this recipient: it then
   * owns any success report (RFC 3461 §5.2.2), so no "relayed" DSN is sent from here.
   */
  remoteDsn?: boolean;
  /** Internal detail for the operator (queue listing, logs); never sent to the sender. */
  detail?: string;
}

export interface OutboundTransport {
  send(a: OutboundAttempt): Promise<RecipientOutcome[]>;
  close(): Promise<void>;
}
