/**
 * DKIM signing of outbound mail (RFC 6376; Ed25519 keys per RFC 8463), with keys per domain
 * made by `bulwark domain dkim generate DOMAIN`.
 *
 * - Keys: generated with node:crypto (RSA 2048 by default, 3072 or 4096 on request, or
 *   Ed25519), stored in the primary store per (domain, selector), PKCS#8 PEM. The private key
 *   never leaves this module: callers get the public half and the DNS record only. It is not
 *   encrypted at rest yet; that comes with key management (GW-CRY-5).
 * - One active key per domain: generating makes the new key the active one, the previous key
 *   stays (inactive) until removed, so its DNS record can stay published while mail signed
 *   with it is still on its way. Removing the active key leaves the domain unsigned.
 * - Permissions: only an admin or the domain-admin of that domain may generate, show or
 *   remove keys, checked here (core) whatever interface calls. Each change is audited in the
 *   transaction that makes it, with selector, algorithm and size, never the key.
 * - Signing: relaxed/relaxed, the header fields of mailauth's default list (From, Sender,
 *   Reply-To, Subject, Date, Message-ID, To, Cc, MIME-Version, Content-Type,
 *   Content-Transfer-Encoding, In-Reply-To, References, List-*, ...), d= the domain of the
 *   From address when it has an active key. Only submitted mail leaving for other domains is
 *   signed (core/mail/reception.ts); local delivery gets the message unchanged.
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type { dkimSign as DkimSign } from 'mailauth';
import type { Logger } from 'pino';
import type { Transaction } from 'kysely';
import type { Stores } from '../store/stores.ts';
import type { DirectoryDB, DirRow } from '../store/schema.ts';
import { actorLabel, requireDomainAdmin, type Actor } from '../core/actor.ts';
import { DomainError, invalid } from '../core/errors.ts';
import { displayDomain, normaliseDomain, parseAddress } from '../lib/address.ts';
import { parseMessage } from '../lib/mime/index.ts';
import { appendAudit } from './audit.ts';

export type DkimAlgorithm = 'rsa' | 'ed25519';
export const DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ['rsa', 'ed25519'];
/** RFC 8301 §3.2 asks for at least 2048 bits for signers; longer keys are allowed. */
export const RSA_BITS: readonly number[] = [2048, 3072, 4096];
export const DEFAULT_RSA_BITS = 2048;

/** RFC 1035 §3.3.14: one <character-string> holds at most 255 octets. */
const TXT_STRING_MAX = 255;

export interface DkimRecord {
  /** The DNS owner name, <selector>._domainkey.<domain> (A-label). */
  name: string;
  /** The TXT value: v=DKIM1; k=...; p=... */
  value: string;
  /** The value cut into character-strings of at most 255 octets, as DNS needs. */
  strings: string[];
  /** The zone-file line: name IN TXT "..." "..." */
  record: string;
}

export interface DkimKeyInfo extends DkimRecord {
  /** A-label. */
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  bits: number;
  active: boolean;
  createdAt: number;
  /** The p= value (base64). */
  publicKey: string;
}

export interface GenerateOptions {
  selector?: string;
  algorithm?: string;
  bits?: number;
}

// ------------------------------------------------------------------ keys and records

/** RFC 6376 §3.1: selector = sub-domain *( "." sub-domain ); kept lower-case, LDH labels. */
const SELECTOR_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function normaliseSelector(input: string): string {
  const s = String(input ?? '').trim().toLowerCase();
  if (!s) throw invalid('DKIM selector is empty');
  if (s.length > 63) throw invalid(`DKIM selector "${input}" is longer than 63 characters`);
  if (!s.split('.').every((l) => SELECTOR_LABEL.test(l))) {
    throw invalid(`DKIM selector "${input}" may hold only letters, digits and hyphens (dots between labels)`);
  }
  return s;
}

function checkAlgorithm(input: string | undefined): DkimAlgorithm {
  const a = String(input ?? 'rsa').trim().toLowerCase();
  if (!(DKIM_ALGORITHMS as readonly string[]).includes(a)) throw invalid(`DKIM algorithm "${input}" is not one of ${DKIM_ALGORITHMS.join(', ')}`);
  return a as DkimAlgorithm;
}

function checkBits(algorithm: DkimAlgorithm, bits: number | undefined): number {
  if (algorithm === 'ed25519') {
    if (bits !== undefined && bits !== 256) throw invalid('an ed25519 key has a fixed size; leave out the key size');
    return 256;
  }
  const b = bits ?? DEFAULT_RSA_BITS;
  if (!RSA_BITS.includes(b)) throw invalid(`RSA key size must be one of ${RSA_BITS.join(', ')} bits`);
  return b;
}

/** The p= value for a key (either half): RSA as SubjectPublicKeyInfo, Ed25519 as its 32 raw octets (RFC 8463 §4.2). */
export function publicKeyValue(key: crypto.KeyObject): string {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  if (pub.asymmetricKeyType === 'ed25519') {
    const jwk = pub.export({ format: 'jwk' });
    return Buffer.from(String(jwk.x), 'base64url').toString('base64');
  }
  if (pub.asymmetricKeyType === 'rsa') return pub.export({ type: 'spki', format: 'der' }).toString('base64');
  throw invalid(`unsupported DKIM key type ${pub.asymmetricKeyType}`);
}

const generateKeyPairAsync = promisify(crypto.generateKeyPair);

/** A new key pair: the private key as PKCS#8 PEM and the p= value of its public key. */
export async function generateDkimKey(algorithm: DkimAlgorithm, bits: number): Promise<{ privateKey: string; publicKey: string }> {
  const pair = algorithm === 'rsa'
    ? await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 })
    : await generateKeyPairAsync('ed25519', {});
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKeyValue(pair.publicKey),
  };
}

/** Cuts a TXT value into character-strings of at most 255 octets (the value is ASCII). */
export function splitTxt(value: string, max = TXT_STRING_MAX): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += max) out.push(value.slice(i, i + max));
  return out.length ? out : [''];
}

/** The DNS record that publishes a key (RFC 6376 §3.6.1, §3.6.2.2). */
export function dkimRecord(domain: string, selector: string, algorithm: DkimAlgorithm, publicKey: string): DkimRecord {
  const name = `${selector}._domainkey.${domain}`;
  const value = `v=DKIM1; k=${algorithm}; p=${publicKey}`;
  const strings = splitTxt(value);
  return { name, value, strings, record: `${name} IN TXT ${strings.map((s) => `"${s}"`).join(' ')}` };
}

function toInfo(domain: string, r: DirRow<'dkim_keys'>): DkimKeyInfo {
  return {
    domain, selector: r.selector, algorithm: r.algorithm, bits: r.bits, active: r.active === 1, createdAt: r.created_at, publicKey: r.public_key,
    ...dkimRecord(domain, r.selector, r.algorithm, r.public_key),
  };
}

/** bw + the UTC date, e.g. bw20250611: a new name for each key, so rotation never reuses a DNS record. */
function defaultSelector(now: number): string {
  return `bw${new Date(now).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

// ------------------------------------------------------------------ keys per domain

type Trx = Transaction<DirectoryDB>;

export interface DkimOptions {
  log?: Logger;
}

export class DkimKeys {
  readonly #stores: Stores;
  readonly #log: Logger | undefined;

  constructor(stores: Stores, opts: DkimOptions = {}) {
    this.#stores = stores;
    this.#log = opts.log;
  }

  async #domain(db: Pick<Trx, 'selectFrom'>, name: string): Promise<DirRow<'domains'>> {
    const d = await db.selectFrom('domains').selectAll().where('name', '=', normaliseDomain(name)).executeTakeFirst();
    if (!d) throw new DomainError('NOT_FOUND', `domain ${name}`);
    return d;
  }

  /**
   * Generates a key for the domain and makes it the active one (the previous active key stays,
   * inactive). Returns the key's DNS record; the private key stays in the store.
   */
  async generate(actor: Actor, domain: string, opts: GenerateOptions = {}): Promise<DkimKeyInfo> {
    const algorithm = checkAlgorithm(opts.algorithm);
    const bits = checkBits(algorithm, opts.bits);
    const wanted = opts.selector === undefined ? undefined : normaliseSelector(opts.selector);
    // Checked before generating too, so that a caller without the right cannot make us spend
    // the CPU of an RSA key; checked again in the transaction that writes.
    const d0 = await this.#stores.dirRun('generate DKIM key', (db) => this.#domain(db, domain));
    requireDomainAdmin(actor, d0.id, 'generating a DKIM key');
    // Outside the transaction: RSA generation takes a while and must not hold the write lock.
    const key = await generateDkimKey(algorithm, bits);
    return this.#stores.dirTx('generate DKIM key', async (trx) => {
      const d = await this.#domain(trx, domain);
      requireDomainAdmin(actor, d.id, 'generating a DKIM key');
      const now = Date.now();
      const taken = new Set((await trx.selectFrom('dkim_keys').select('selector').where('domain_id', '=', d.id).execute()).map((r) => r.selector));
      let selector: string;
      if (wanted !== undefined) {
        if (taken.has(wanted)) throw new DomainError('ALREADY_EXISTS', `DKIM selector ${wanted} of ${displayDomain(d.name)}`);
        selector = wanted;
      } else {
        const base = defaultSelector(now);
        selector = base;
        for (let n = 2; taken.has(selector); n++) selector = `${base}-${n}`;
      }
      const before = await trx.selectFrom('dkim_keys').select('selector').where('domain_id', '=', d.id).where('active', '=', 1).executeTakeFirst();
      await trx.updateTable('dkim_keys').set({ active: 0, updated_at: now }).where('domain_id', '=', d.id).where('active', '=', 1).execute();
      const row = await trx.insertInto('dkim_keys').values({
        domain_id: d.id, selector, algorithm, bits, private_key: key.privateKey, public_key: key.publicKey, active: 1, created_at: now, updated_at: now,
      }).returningAll().executeTakeFirstOrThrow();
      await appendAudit(trx, { event: 'dkim.generate', actor: actorLabel(actor), object: d.name, detail: { selector, algorithm, bits, replaced: before?.selector ?? null } });
      return toInfo(d.name, row);
    });
  }

  /** The domain's keys with their DNS records, the active one first, then newest first. */
  async list(actor: Actor, domain: string): Promise<DkimKeyInfo[]> {
    return this.#stores.dirRun('list DKIM keys', async (db) => {
      const d = await this.#domain(db, domain);
      requireDomainAdmin(actor, d.id, 'reading DKIM keys');
      const rows = await db.selectFrom('dkim_keys').selectAll().where('domain_id', '=', d.id)
        .orderBy('active', 'desc').orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
      return rows.map((r) => toInfo(d.name, r));
    });
  }

  /** Removes one key. Removing the active key leaves the domain's mail unsigned. */
  async remove(actor: Actor, domain: string, selector: string): Promise<DkimKeyInfo> {
    const s = normaliseSelector(selector);
    return this.#stores.dirTx('remove DKIM key', async (trx) => {
      const d = await this.#domain(trx, domain);
      requireDomainAdmin(actor, d.id, 'removing a DKIM key');
      const row = await trx.selectFrom('dkim_keys').selectAll().where('domain_id', '=', d.id).where('selector', '=', s).executeTakeFirst();
      if (!row) throw new DomainError('NOT_FOUND', `DKIM selector ${s} of ${displayDomain(d.name)}`);
      await trx.deleteFrom('dkim_keys').where('id', '=', row.id).execute();
      await appendAudit(trx, { event: 'dkim.remove', actor: actorLabel(actor), object: d.name, detail: { selector: s, algorithm: row.algorithm, bits: row.bits, wasActive: row.active === 1 } });
      return toInfo(d.name, row);
    });
  }

  // ---------------------------------------------------------------- signing

  /** The active key of a domain (A-label), for signing. */
  async #activeKey(domain: string): Promise<{ selector: string; privateKey: string } | null> {
    const r = await this.#stores.dirRun('look up DKIM key', (db) => db.selectFrom('dkim_keys')
      .innerJoin('domains', 'domains.id', 'dkim_keys.domain_id')
      .select(['dkim_keys.selector as selector', 'dkim_keys.private_key as privateKey'])
      .where('domains.name', '=', domain).where('dkim_keys.active', '=', 1).executeTakeFirst());
    return r ?? null;
  }

  /**
   * Signs a message with the active key of `domain`; prepends the DKIM-Signature field.
   * Returns null when the domain has no active key. Throws INTERNAL (temporary) when signing
   * fails, so that mail meant to be signed never leaves unsigned.
   */
  async sign(raw: Buffer, domain: string): Promise<{ raw: Buffer; domain: string; selector: string } | null> {
    const d = normaliseDomain(domain);
    const key = await this.#activeKey(d);
    if (!key) return null;
    // mailauth on first use (see security/mail-auth.ts).
    const { dkimSign } = await import('mailauth') as { dkimSign: typeof DkimSign };
    const res = await dkimSign(raw, {
      signingDomain: d, selector: key.selector, privateKey: key.privateKey, canonicalization: 'relaxed/relaxed',
      signatureData: [{ signingDomain: d, selector: key.selector, privateKey: key.privateKey, canonicalization: 'relaxed/relaxed' }],
    });
    if (!res.signatures || res.errors.length > 0) {
      const why = res.errors.map((e) => `${e.err?.code ?? ''} ${e.err?.message ?? ''}`.trim()).join('; ') || 'no signature made';
      this.#log?.error({ domain: d, selector: key.selector, err: why }, 'dkim.sign_failed');
      throw new DomainError('INTERNAL', `DKIM signing for ${d} failed: ${why}`);
    }
    this.#log?.debug({ domain: d, selector: key.selector }, 'dkim.signed');
    return { raw: Buffer.concat([Buffer.from(res.signatures, 'latin1'), raw]), domain: d, selector: key.selector };
  }

  /**
   * Signs outbound mail with the key of its From domain (the first From address whose domain
   * has an active key); returns the message unchanged when there is none.
   */
  async signOutbound(raw: Buffer): Promise<Buffer> {
    const domains: string[] = [];
    for (const f of parseMessage(raw).from) {
      try {
        const d = parseAddress(f).domain;
        if (!domains.includes(d)) domains.push(d);
      } catch {
        // not an address with a domain: nothing to sign for
      }
    }
    for (const d of domains) {
      const signed = await this.sign(raw, d);
      if (signed) return signed.raw;
    }
    return raw;
  }
}
