/**
 * Outbound sending limits per account (GW-DOS-6, issue 3 point 2): messages and recipients
 * per hour on submission. A compromised account is the typical reason to hit them, so the
 * first refusal in a window raises an alert (log at warn and an audit entry) once.
 * Counts are kept per node in memory over a sliding hour (bucketed by minute).
 */
export interface SendRateLimits {
  messagesPerHour: number;
  recipientsPerHour: number;
}

interface Window {
  buckets: Map<number, { messages: number; recipients: number }>;
  alerted: number; // minute of the last alert
}

const MINUTE = 60_000;

export class SendRate {
  readonly #limits: SendRateLimits;
  readonly #now: () => number;
  readonly #accounts = new Map<number, Window>();

  constructor(limits: SendRateLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  #window(accountId: number): Window {
    let w = this.#accounts.get(accountId);
    if (!w) {
      w = { buckets: new Map(), alerted: -Infinity };
      this.#accounts.set(accountId, w);
    }
    const cutoff = Math.floor(this.#now() / MINUTE) - 60;
    for (const k of w.buckets.keys()) if (k <= cutoff) w.buckets.delete(k);
    return w;
  }

  usage(accountId: number): { messages: number; recipients: number } {
    let messages = 0;
    let recipients = 0;
    for (const b of this.#window(accountId).buckets.values()) {
      messages += b.messages;
      recipients += b.recipients;
    }
    return { messages, recipients };
  }

  /** Whether one more message with `recipients` more recipients fits; null if so, else which limit. */
  check(accountId: number, recipients: number): 'messages' | 'recipients' | null {
    const u = this.usage(accountId);
    if (u.messages + 1 > this.#limits.messagesPerHour) return 'messages';
    if (u.recipients + recipients > this.#limits.recipientsPerHour) return 'recipients';
    return null;
  }

  record(accountId: number, recipients: number): void {
    const w = this.#window(accountId);
    const m = Math.floor(this.#now() / MINUTE);
    const b = w.buckets.get(m) ?? { messages: 0, recipients: 0 };
    b.messages++;
    b.recipients += recipients;
    w.buckets.set(m, b);
  }

  /** True once per hour and account: the caller alerts the admins. */
  shouldAlert(accountId: number): boolean {
    const w = this.#window(accountId);
    const m = Math.floor(this.#now() / MINUTE);
    if (m - w.alerted < 60) return false;
    w.alerted = m;
    return true;
  }
}
