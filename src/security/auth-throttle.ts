/**
 * Slows down and locks out password guessing (ORP.4.A13, GW-DOS-5). Each failure from an
 * address adds a growing delay before the answer; after max_failures failures for the same
 * (account, address) pair within the window, that pair is locked for lock_minutes. The lock
 * is per pair, not per account, so an attacker who knows an address cannot lock its owner out
 * from everywhere (REQUIREMENTS.md §2.7). Failure counts and delays are per node and in
 * memory (bounded); the locks themselves go to a LockStore (the primary store in the server),
 * so every node honours them and `bulwark account unlock` lifts them.
 */
import { normaliseAddress } from '../lib/address.ts';

/** Where locks are kept; in memory when none is given. */
export interface LockStore {
  lockedUntil(login: string, ip: string): Promise<number>;
  lock(login: string, ip: string, until: number): Promise<void>;
  /** Lifts the locks of a login (all addresses, or one); returns how many. */
  unlock(login: string, ip?: string): Promise<number>;
}
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

/**
 * One spelling per login: Alice@EXAMPLE.org, alice@example.org and a Unicode/punycode or NFC
 * variant of the same address count (and lock) together; a login that is not an address is
 * lower-cased.
 */
function loginKey(login: string): string {
  try {
    return normaliseAddress(login);
  } catch {
    return login.toLowerCase();
  }
}

function pairKey(login: string, ip: string): string {
  return `${loginKey(login)}\u0000${ip}`;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { maxFailures: 5, lockMs: 15 * 60_000, windowMs: 15 * 60_000, baseDelayMs: 250, maxDelayMs: 8000 };

export class AuthThrottle {
  readonly #o: ThrottleOptions;
  readonly #pairs = new Map<string, Entry>();
  readonly #ips = new Map<string, Entry>();
  readonly #now: () => number;

  readonly #store: LockStore | null;

  constructor(o: Partial<ThrottleOptions> = {}, now: () => number = Date.now, store: LockStore | null = null) {
    this.#o = { ...DEFAULT_THROTTLE, ...o };
    this.#now = now;
    this.#store = store;
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

  async isLocked(login: string, ip: string): Promise<boolean> {
    // With a lock store it alone decides (an admin may have lifted the lock on another node).
    if (this.#store) return (await this.#store.lockedUntil(loginKey(login), ip)) > this.#now();
    const e = this.#get(this.#pairs, pairKey(login, ip));
    return !!e && e.lockedUntil > this.#now();
  }

  /** Records a failure; returns true when this failure locked the pair. */
  async failure(login: string, ip: string): Promise<boolean> {
    this.#bump(this.#ips, ip);
    const e = this.#bump(this.#pairs, pairKey(login, ip));
    if (e.failures >= this.#o.maxFailures && e.lockedUntil <= this.#now()) {
      const until = this.#now() + this.#o.lockMs;
      if (this.#store) {
        // The store holds the lock; the count starts again, so after an unlock it takes
        // another max_failures failures to lock the pair again.
        await this.#store.lock(loginKey(login), ip, until);
        e.failures = 0;
      } else {
        e.lockedUntil = until;
      }
      return true;
    }
    return false;
  }

  success(login: string, ip: string): void {
    this.#pairs.delete(pairKey(login, ip));
    this.#ips.delete(ip);
  }

  /** Lifts a lock (admin unlock): here and in the lock store. */
  async unlock(login: string, ip?: string): Promise<number> {
    const prefix = `${loginKey(login)}\u0000`;
    let n = 0;
    for (const k of [...this.#pairs.keys()]) {
      if (k.startsWith(prefix) && (ip === undefined || k === prefix + ip)) {
        this.#pairs.delete(k);
        n++;
      }
    }
    return this.#store ? this.#store.unlock(loginKey(login), ip) : n;
  }
}
