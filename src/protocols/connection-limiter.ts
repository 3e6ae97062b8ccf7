/**
 * Connection slots, in total and per client address, taken before a session exists and
 * given back when its socket closes (GW-DOS-4). One limiter is shared by the listeners of a
 * protocol (SMTP's three, IMAP's two, POP3's two).
 */
export class ConnectionLimiter {
  #total = 0;
  readonly #perIp = new Map<string, number>();
  readonly max: number;
  readonly maxPerIp: number;
  constructor(max: number, maxPerIp: number) {
    this.max = max;
    this.maxPerIp = maxPerIp;
  }
  /** Takes a slot, or says why not. */
  acquire(ip: string): string | null {
    if (this.#total >= this.max) return 'Too many connections';
    const n = this.#perIp.get(ip) ?? 0;
    if (n >= this.maxPerIp) return 'Too many connections from your address';
    this.#total++;
    this.#perIp.set(ip, n + 1);
    return null;
  }
  release(ip: string): void {
    this.#total--;
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }
  get total(): number {
    return this.#total;
  }
}
