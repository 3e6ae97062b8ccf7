/**
 * SPF, DKIM, DMARC and ARC verification of received mail (RFC 7208, 6376, 7489/9989, 8617)
 * through mailauth, as the pipeline's "authenticate" stage and a recipient filter:
 * - Authentication-Results (RFC 8601) and Received-SPF are added under our authserv-id;
 *   Authentication-Results fields that claim our authserv-id are removed first (RFC 8601 §5:
 *   a forged one must not be trusted by anything downstream);
 * - a DMARC "reject" failure is refused (550 5.7.1) and "quarantine" goes to Junk, both
 *   configurable;
 * - a DNS failure (temperror) never refuses: the message is accepted and marked. A DMARC
 *   failure while SPF or a DKIM signature aligned with the From domain hit a temperror is not
 *   a definite failure: p=reject then goes to Junk instead of being refused;
 * - a DKIM body hash mismatch is reported as dkim=fail (RFC 6376 §6.1.3 step 3 is a PERMFAIL,
 *   which RFC 8601 §2.7.1 calls "fail"; mailauth's lenient mode says "neutral").
 * Authenticated submissions and local re-deliveries are not checked.
 */
import { Resolver } from 'node:dns/promises';
import type { authenticate as Authenticate } from 'mailauth';
import type { Logger } from 'pino';
import type { DeliveryContext, RecipientFilter } from '../core/mail/delivery/types.ts';
import { DomainError } from '../core/errors.ts';
import { removeHeaderFields } from '../lib/header-edit.ts';

export interface MailAuthOptions {
  authservId: string;
  dnsServers?: string[];
  dnsTimeoutMs?: number;
  dmarcReject: 'refuse' | 'junk' | 'accept';
  dmarcQuarantine: 'junk' | 'accept';
  log: Logger;
}

export function dnsResolveFunction(servers: string[] | undefined, timeoutMs: number) {
  const r = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers?.length) r.setServers(servers);
  return (name: string, rrtype: string) => r.resolve(name, rrtype as 'TXT');
}

const JUNK = Symbol('junk');

/** The header section (and the empty line) when no signature could cover the body. */
export function headerOnlyIfUnsigned(raw: Buffer): Buffer {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return raw;
  const head = raw.subarray(0, end + 4);
  return /^(dkim-signature|arc-seal|arc-message-signature)[ \t]*:/im.test(head.toString('latin1')) ? raw : head;
}

/**
 * The authserv-id of an Authentication-Results value (RFC 8601 §2.2: [CFWS] authserv-id
 * [CFWS authres-version] ...; authserv-id = token / quoted-string), lower-cased; '' when
 * there is none. Comments (nested, with quoted-pairs) before it are skipped, so that neither
 * "(x) ours;" nor "ours 1;" nor "\"ours\";" escapes the removal of forged fields.
 */
export function authservIdOf(value: string): string {
  let i = 0;
  const n = value.length;
  for (;;) {
    while (i < n && /\s/.test(value[i])) i++;
    if (value[i] !== '(') break;
    let depth = 0;
    for (; i < n; i++) {
      const c = value[i];
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) {
        i++;
        break;
      }
    }
  }
  let id = '';
  if (value[i] === '"') {
    for (i++; i < n && value[i] !== '"'; i++) id += value[i] === '\\' ? value[++i] ?? '' : value[i];
  } else {
    // RFC 2045 token: any CHAR but SPACE, CTLs and tspecials.
    while (i < n && !/[\s()<>@,;:\\"/[\]?=]/.test(value[i])) id += value[i++];
  }
  return id.trim().toLowerCase();
}

interface AuthResult {
  spf?: { domain?: string; status?: { result?: string } } | false;
  dkim?: { results?: { signingDomain?: string; status?: { result?: string } }[] };
}

/** Whether SPF or a DKIM signature of a domain aligned (relaxed) with the DMARC domain ended in temperror. */
function alignedTemperror(res: AuthResult, dmarcDomain: string): boolean {
  const org = dmarcDomain.toLowerCase().replace(/\.$/, '');
  if (!org) return false;
  const aligned = (d: string | undefined) => {
    const x = (d ?? '').toLowerCase().replace(/\.$/, '');
    return x === org || x.endsWith(`.${org}`);
  };
  if (res.spf && res.spf.status?.result === 'temperror' && aligned(res.spf.domain)) return true;
  return (res.dkim?.results ?? []).some((r) => r.status?.result === 'temperror' && aligned(r.signingDomain));
}

export function mailAuthHooks(o: MailAuthOptions): { authenticate: (ctx: DeliveryContext) => Promise<string | null>; filter: RecipientFilter } {
  const resolver = dnsResolveFunction(o.dnsServers, o.dnsTimeoutMs ?? 5000);
  const ours = (value: string) => authservIdOf(value) === o.authservId.toLowerCase();
  return {
    async authenticate(ctx) {
      const src = ctx.req.source;
      if (src.protocol !== 'smtp') return null;
      ctx.req.raw = removeHeaderFields(ctx.req.raw, (name, value) => name.toLowerCase() === 'authentication-results' && ours(value));
      // Without a DKIM-Signature or ARC set nothing needs the body (SPF and DMARC read the
      // envelope and the header): hand over the header alone and skip hashing the body.
      const authenticate = await mailauth();
      const res = await authenticate(headerOnlyIfUnsigned(ctx.req.raw), {
        ip: src.remoteAddress, helo: src.helo, sender: ctx.req.from, mta: o.authservId, resolver, disableBimi: true,
      } as Parameters<typeof authenticate>[1]);
      const dmarc = res.dmarc as { status?: { result?: string }; policy?: string; domain?: string } | false;
      if (dmarc && dmarc.status?.result === 'fail') {
        const policy = dmarc.policy;
        // An aligned identifier that could not be checked for a DNS failure might have passed:
        // the failure is not definite, and a DNS failure never refuses.
        const uncertain = alignedTemperror(res as unknown as AuthResult, dmarc.domain ?? '');
        o.log.info({ id: ctx.req.id, domain: dmarc.domain, policy, uncertain }, 'mailauth.dmarc_fail');
        if (policy === 'reject' && o.dmarcReject === 'refuse' && !uncertain) {
          throw new DomainError('FORBIDDEN', `message rejected by the DMARC policy of ${dmarc.domain ?? 'the sender domain'}`);
        }
        if ((policy === 'reject' && o.dmarcReject !== 'accept') || (policy === 'quarantine' && o.dmarcQuarantine === 'junk')) {
          (ctx as unknown as Record<symbol, boolean>)[JUNK] = true;
        }
      }
      const headers = String(res.headers ?? '')
        // RFC 6376 §6.1.3 step 3 (body hash mismatch) is a PERMFAIL: "fail" in RFC 8601 §2.7.1 terms.
        .replace(/\bdkim=neutral \(body hash did not verify\)/g, 'dkim=fail (body hash did not verify)');
      return headers.split(/\r?\n/).filter((l) => l.length > 0).join('\r\n') || null;
    },
    filter: {
      name: 'dmarc-quarantine',
      async apply(ctx, _r, decision) {
        if ((ctx as unknown as Record<symbol, boolean>)[JUNK]) decision.mailbox = 'Junk';
      },
    },
  };
}

let loaded: Promise<typeof Authenticate> | null = null;
/** mailauth on first use: some 40 MB a node serving only IMAP never needs (measured at start). */
function mailauth(): Promise<typeof Authenticate> {
  loaded ??= import('mailauth').then((m) => m.authenticate);
  return loaded;
}
