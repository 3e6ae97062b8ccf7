/**
 * Notices to recipients about mail refused on their behalf (S 4.357: "the recipient and
 * sender are informed"; GW-DOS-2). The sender learns it from the SMTP reply; the recipient
 * gets one short notice naming sender, size, limit and time — never the content.
 * Notices are aggregated: at most one per (recipient, sender) per interval, so an attacker
 * cannot flood a mailbox with notices. No notice ever goes to the sender of a refused message
 * (that would be backscatter).
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { DeliveryRecipient, DeliveryRequest, DeliveryResult } from './delivery/types.ts';
import { rfc5322Date } from './delivery/trace.ts';

export interface NoticeSettings {
  enabled: boolean;
  intervalMs: number;
  hostname: string;
}

export class Notices {
  readonly #s: NoticeSettings;
  readonly #deliver: (req: DeliveryRequest) => Promise<DeliveryResult>;
  readonly #log: Logger;
  readonly #last = new Map<string, number>();
  readonly #now: () => number;

  constructor(s: NoticeSettings, deliver: (req: DeliveryRequest) => Promise<DeliveryResult>, log: Logger, now: () => number = Date.now) {
    this.#s = s;
    this.#deliver = deliver;
    this.#log = log;
    this.#now = now;
  }

  /** Tells each local recipient (once per sender and interval) that a message was too large. */
  async oversize(recipients: DeliveryRecipient[], sender: string, size: number, limit: number): Promise<number> {
    if (!this.#s.enabled) return 0;
    const now = this.#now();
    const seen = new Set<number>();
    let sent = 0;
    for (const r of recipients) {
      if (seen.has(r.account.id)) continue;
      seen.add(r.account.id);
      const key = `${r.account.id}\u0000${sender.toLowerCase()}`;
      const last = this.#last.get(key);
      if (last !== undefined && now - last < this.#s.intervalMs) continue;
      if (this.#last.size > 100_000) this.#last.delete(this.#last.keys().next().value!);
      this.#last.set(key, now);
      const shownSender = sender === '' ? '(no sender address)' : sender.replace(/[\r\n]/g, '');
      const body = [
        `From: Mail System <postmaster@${this.#s.hostname}>`,
        `To: <${r.account.address}>`,
        `Subject: A message to you was refused: too large`,
        `Date: ${rfc5322Date(now)}`,
        `Message-ID: <${crypto.randomBytes(12).toString('hex')}@${this.#s.hostname}>`,
        'Auto-Submitted: auto-generated',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        `A message for you was refused because it is larger than this server accepts.`,
        '',
        `  Sender:  ${shownSender}`,
        `  Size:    ${size} bytes`,
        `  Limit:   ${limit} bytes`,
        `  Time:    ${rfc5322Date(now)}`,
        '',
        'The sending server was told (SMTP reply 552 5.3.4), so the sender can learn of it.',
        'The message itself was not kept. Further refused messages from the same sender are',
        'not reported again for a while.',
        '',
      ].join('\r\n');
      try {
        await this.#deliver({
          id: crypto.randomBytes(8).toString('hex'), raw: Buffer.from(body, 'utf8'), from: '',
          recipients: [r], receivedAt: now, withProtocol: 'local', source: { protocol: 'local', revealClient: false },
        });
        sent++;
      } catch (e) {
        this.#log.warn({ err: (e as Error).message }, 'notice.oversize_failed');
      }
    }
    return sent;
  }
}
