/**
 * Password hashing: argon2id only (RFC 9106 second recommended option, tuned for a small
 * server: 19 MiB, t=2, p=1, as OWASP suggests). Verification of an unknown account still
 * runs a full hash against a dummy, so timing does not reveal whether an account exists.
 */
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { invalid } from '../core/errors.ts';

const OPTIONS = { algorithm: 2 /* Algorithm.Argon2id (a const enum) */, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 };

export const MIN_PASSWORD_LENGTH = 10;

export function checkPasswordStrength(pw: string): void {
  if (typeof pw !== 'string') throw invalid('password must be a string');
  pw = prepare(pw);
  if (pw.length < MIN_PASSWORD_LENGTH) throw invalid(`password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (pw.length > 1024) throw invalid('password is longer than 1024 characters');
  if (new Set(pw).size < 4) throw invalid('password has too few distinct characters');
  if (/^(password|changeme|123456|qwerty|letmein)/i.test(pw)) throw invalid('password is a well-known one');
}

/**
 * RFC 8265 §4.2 (OpaqueString): passwords are compared in NFC, so "é" typed as one code
 * point (Windows, Linux) and as e + U+0301 (macOS keyboards, some mobile clients) are the
 * same password.
 */
function prepare(pw: string): string {
  return pw.normalize('NFC');
}

export async function hashPassword(pw: string): Promise<string> {
  return hash(prepare(pw), OPTIONS);
}

let dummy: Promise<string> | undefined;

/** Constant work whether or not there is a stored hash. */
export async function verifyPassword(stored: string | null | undefined, pw: string): Promise<boolean> {
  if (!stored) {
    dummy ??= hashPassword('dummy-password-for-timing');
    await verify(await dummy, prepare(pw)).catch(() => false);
    return false;
  }
  try {
    return await verify(stored, prepare(pw));
  } catch {
    return false;
  }
}

/**
 * Logins that succeeded recently, so that a client reconnecting all day (Thunderbird opens
 * several connections, phones reconnect on every network change) does not cost a full
 * argon2id run each time. What is kept is an HMAC, under a key that lives only in this
 * process, of the stored hash and the password: never the password. A hit needs the right
 * password for the hash stored now, so a password change (a new hash) ends it at once, and a
 * guess never hits (failures are not cached, and they still cost the full hash). Bounded in
 * size and time.
 */
export class VerifiedPasswords {
  readonly #key = randomBytes(32);
  readonly #m = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  constructor(opts: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 15 * 60_000;
    this.#max = opts.max ?? 20_000;
    this.#now = opts.now ?? Date.now;
  }
  #k(stored: string, pw: string): string {
    return createHmac('sha256', this.#key).update(stored).update('\u0000').update(prepare(pw)).digest('base64');
  }
  has(stored: string, pw: string): boolean {
    const k = this.#k(stored, pw);
    const until = this.#m.get(k);
    if (until === undefined) return false;
    if (until < this.#now()) {
      this.#m.delete(k);
      return false;
    }
    return true;
  }
  add(stored: string, pw: string): void {
    const k = this.#k(stored, pw);
    this.#m.delete(k);
    if (this.#m.size >= this.#max) this.#m.delete(this.#m.keys().next().value!); // oldest first
    this.#m.set(k, this.#now() + this.#ttlMs);
  }
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.+!*';

/**
 * A password for generated accounts: 20 characters from a 63-symbol alphabet without the
 * look-alikes I, O, l, 0, 1 (about 119 bits). randomInt draws without modulo bias.
 */
export function generatePassword(): string {
  return Array.from({ length: 20 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
}
