/**
 * Builds the outbound transport the queue relays through, from the [relay] and [dns]
 * configuration: direct MX delivery, or a smarthost.
 */
import type { Logger } from 'pino';
import type { Config } from '../../ops/config/schema.ts';
import type { OutboundTransport } from '../../core/mail/queue/transport.ts';
import { SmtpTransport, type SmtpTransportOptions } from './outbound.ts';
import { createResolver } from '../../lib/dns.ts';

/** smarthostCa: the PEM text named by relay.smarthost_ca (read by the caller), if any. */
export function createTransport(config: Config, log: Logger, smarthostCa?: string): OutboundTransport {
  const r = config.relay;
  let smarthost: SmtpTransportOptions['smarthost'];
  if (r.smarthost) {
    const i = r.smarthost.lastIndexOf(':');
    smarthost = {
      host: r.smarthost.slice(0, i),
      port: Number(r.smarthost.slice(i + 1)),
      secure: r.smarthost_tls === 'implicit',
      auth: r.smarthost_user ? { user: r.smarthost_user, pass: r.smarthost_password } : undefined,
      verify: r.smarthost_verify ? { ca: smarthostCa } : undefined,
    };
  }
  return new SmtpTransport({
    hostname: config.server.hostname,
    resolver: createResolver({ servers: config.dns.servers.length ? config.dns.servers : undefined, timeoutMs: config.dns.timeout_ms }),
    port: r.port,
    smarthost,
    requireTls: r.require_tls,
    log: log.child({ proto: 'smtp-out' }),
  });
}

