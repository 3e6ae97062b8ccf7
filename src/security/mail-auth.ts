/**
 * SPF, DKIM, DMARC and ARC verification of received mail (RFC 7208, 6376, 7489/9989, 8617)
 * through mailauth, as the pipeline's "authenticate" stage and a recipient filter:
 * - Authentication-Results (RFC 8601) and Received-SPF are added under our authserv-id;
 *   Authentication-Results fields that claim our authserv-id are removed first (RFC 8601 §5:
 *   a forged one must not be trusted by anything downstream);
 * - a DMARC "reject" failure is refused (550 5.7.1) and "quarantine" goes to Junk, both
 *   configurable;
 * - a DNS failure (temperror) never refuses: the message is accepted and marked.
 * Authenticated submissions and local re-deliveries are not checked.
 */
import { Resolver } from 'node:dns/promises';
import { authenticate } from 'mailauth';
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

export function mailAuthHooks(o: MailAuthOptions): { authenticate: (ctx: DeliveryContext) => Promise<string | null>; filter: RecipientFilter } {
  const resolver = dnsResolveFunction(o.dnsServers, o.dnsTimeoutMs ?? 5000);
  const ours = (value: string) => value.split(';')[0].trim().replace(/^"|"$/g, '').toLowerCase() === o.authservId.toLowerCase();
  return {
    async authenticate(ctx) {
      const src = ctx.req.source;
      if (src.protocol !== 'smtp') return null;
      ctx.req.raw = removeHeaderFields(ctx.req.raw, (name, value) => name.toLowerCase() === 'authentication-results' && ours(value));
      const res = await authenticate(ctx.req.raw, {
        ip: src.remoteAddress, helo: src.helo, sender: ctx.req.from, mta: o.authservId, resolver, disableBimi: true,
      } as Parameters<typeof authenticate>[1]);
      const dmarc = res.dmarc as { status?: { result?: string }; policy?: string; domain?: string } | false;
      if (dmarc && dmarc.status?.result === 'fail') {
        const policy = dmarc.policy;
        o.log.info({ id: ctx.req.id, domain: dmarc.domain, policy }, 'mailauth.dmarc_fail');
        if (policy === 'reject' && o.dmarcReject === 'refuse') {
          throw new DomainError('FORBIDDEN', `message rejected by the DMARC policy of ${dmarc.domain ?? 'the sender domain'}`);
        }
        if ((policy === 'reject' && o.dmarcReject === 'junk') || (policy === 'quarantine' && o.dmarcQuarantine === 'junk')) {
          (ctx as unknown as Record<symbol, boolean>)[JUNK] = true;
        }
      }
      return String(res.headers ?? '').split(/\r?\n/).filter((l) => l.length > 0).join('\r\n') || null;
    },
    filter: {
      name: 'dmarc-quarantine',
      async apply(ctx, _r, decision) {
        if ((ctx as unknown as Record<symbol, boolean>)[JUNK]) decision.mailbox = 'Junk';
      },
    },
  };
}
