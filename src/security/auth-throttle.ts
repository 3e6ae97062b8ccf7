/**
 * Slows down and locks out password guessing (ORP.4.A13, GW-DOS-5). Each failure from an
 * address adds a growing delay before the answer; after max_failures failures for the same
 * (account, address) pair within the window, that pair is locked for lock_minutes. The lock
 * is per pair, not per account, so an attacker who knows an address cannot lock its owner out
 * from everywhere (REQUIREMENTS.md §2.7). State is per node and in memory; it is bounded.
 */
export interface ThrottleOptions {
  maxFailures: number;
  lockMs: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxEntries?: number;
}

interface Entry {
  failures: number;
  first: number;
  lockedUntil: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { maxFailures: 5, lockMs: 15 * 60_000, windowMs: 15 * 60_000, baseDelayMs: 250, maxDelayMs: 8000 };

export class AuthThrottle {
  readonly #o: ThrottleOptions;
  readonly #pairs = new Map<string, Entry>();
  readonly #ips = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(o: Partial<ThrottleOptions> = {}, now: () => number = Date.now) {
    this.#o = { ...DEFAULT_THROTTLE, ...o };
    this.#now = now;
  }

  #get(map: Map<string, Entry>, key: string): Entry | undefined {
    const e = map.get(key);
    if (!e) return undefined;
    const now = this.#now();
    if (e.lockedUntil < now && now - e.first > this.#o.windowMs) {
      map.delete(key);
      return undefined;
    }
    return e;
  }

  #bump(map: Map<string, Entry>, key: string): Entry {
    let e = this.#get(map, key);
    if (!e) {
      if (map.size >= (this.#o.maxEntries ?? 100_000)) map.delete(map.keys().next().value!); // oldest first
      e = { failures: 0, first: this.#now(), lockedUntil: 0 };
      map.set(key, e);
    }
    e.failures++;
    return e;
  }

  /** How long to wait before answering an attempt from this address (grows with its failures). */
  delayMs(ip: string): number {
    const e = this.#get(this.#ips, ip);
    if (!e || e.failures === 0) return 0;
    return Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (e.failures - 1));
  }

  isLocked(login: string, ip: string): boolean {
    const e = this.#get(this.#pairs, `${login.toLowerCase()}\u0000${ip}`);
    return !!e && e.lockedUntil > this.#now();
  }

  /** Records a failure; returns true when this failure locked the pair. */
  failure(login: string, ip: string): boolean {
    this.#bump(this.#ips, ip);
    const e = this.#bump(this.#pairs, `${login.toLowerCase()}\u0000${ip}`);
    if (e.failures >= this.#o.maxFailures && e.lockedUntil <= this.#now()) {
      e.lockedUntil = this.#now() + this.#o.lockMs;
      return true;
    }
    return false;
  }

  success(login: string, ip: string): void {
    this.#pairs.delete(`${login.toLowerCase()}\u0000${ip}`);
    this.#ips.delete(ip);
  }

  /** Lifts a lock (admin unlock). */
  unlock(login: string, ip?: string): void {
    const prefix = `${login.toLowerCase()}\u0000`;
    for (const k of [...this.#pairs.keys()]) if (k.startsWith(prefix) && (ip === undefined || k === prefix + ip)) this.#pairs.delete(k);
  }
}
