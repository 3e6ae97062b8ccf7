/**
 * The DNS look-ups of outbound mail (MX and addresses), on node:dns's promise Resolver
 * (c-ares), with the answers reduced to what a mail client acts on: records, "the name does
 * not exist" (NXDOMAIN, a permanent answer) or a thrown DnsTemporaryError (timeout,
 * SERVFAIL, refused, unreachable server: try again later).
 *
 * Invariants
 * - A name that exists without records of the asked type ("NODATA", RFC 2308 §2.2) is an
 *   empty list, never 'nxdomain': for MX that is what sends a client to the implicit MX
 *   (RFC 5321 §5.1).
 * - Every failure that is not NXDOMAIN (or a name that cannot be asked about) is temporary:
 *   a bounce for a DNS hiccup loses mail, a retry costs only time.
 * - Imports nothing from above lib/.
 */
import { Resolver } from 'node:dns/promises';
import net from 'node:net';

export interface MxRecord {
  /** Host name without the trailing dot; '' or '.' is the root (a null MX, RFC 7505). */
  exchange: string;
  priority: number;
}

export interface DnsResolver {
  /** MX records as published (unsorted); [] when the name exists without MX records. */
  mx(domain: string): Promise<MxRecord[] | 'nxdomain'>;
  /** IPv4 addresses first, then IPv6; [] when the name has neither. An IP address is returned as is. */
  addresses(host: string): Promise<string[] | 'nxdomain'>;
}

export interface ResolverOptions {
  /** Name servers as "ip" or "ip:port" ("[ipv6]:port"); default: the system's. */
  servers?: string[];
  /** Time for one try of one query; default 5000 ms. */
  timeoutMs?: number;
  /** Tries per query and server; default 2. */
  tries?: number;
}

/** A failure that may go away: the caller retries later (RFC 5321 §4.5.4.1). */
export class DnsTemporaryError extends Error {
  readonly temporary = true;
  /** The c-ares code (ETIMEOUT, ESERVFAIL, ...). */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'DnsTemporaryError';
    this.code = code;
  }
}

type Answer<T> = T[] | 'nxdomain';

/**
 * Sorts an error of c-ares into the three answers. ENOTFOUND is c-ares's NXDOMAIN (RCODE 3,
 * RFC 1035 §4.1.1); ENODATA is NOERROR without records; EBADNAME is a name that cannot be
 * asked about at all, which is as final as a name that does not exist.
 */
function classify<T>(e: unknown, what: string): Answer<T> {
  const code = (e as NodeJS.ErrnoException | null)?.code ?? 'EUNKNOWN';
  if (code === 'ENODATA') return [];
  if (code === 'ENOTFOUND' || code === 'EBADNAME') return 'nxdomain';
  throw new DnsTemporaryError(code, `DNS lookup of ${what} failed: ${code}`);
}

export function createResolver(opts: ResolverOptions = {}): DnsResolver {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 });
  // node:dns accepts "127.0.0.1:5353" and "[::1]:5353" as they are.
  if (opts.servers && opts.servers.length > 0) resolver.setServers(opts.servers);

  const ask = async <T>(what: string, q: () => Promise<T[]>): Promise<Answer<T>> => {
    try {
      return await q();
    } catch (e) {
      return classify<T>(e, what);
    }
  };

  return {
    async mx(domain) {
      const name = domain.replace(/\.$/, '');
      const records = await ask(`${name} MX`, () => resolver.resolveMx(name));
      if (records === 'nxdomain') return records;
      // RFC 7505 §3: the null MX's exchange is the root; c-ares gives it as ''.
      return records.map((r) => ({ exchange: r.exchange.replace(/\.$/, ''), priority: r.priority }));
    },

    async addresses(host) {
      const name = host.replace(/\.$/, '');
      if (net.isIP(name)) return [name];
      // Both families at once; an answer of one is enough, a temporary failure of the other
      // only loses addresses we would try after the ones we have.
      const [v4, v6] = await Promise.allSettled([ask(`${name} A`, () => resolver.resolve4(name)), ask(`${name} AAAA`, () => resolver.resolve6(name))]);
      const found = [v4, v6].flatMap((r) => (r.status === 'fulfilled' && r.value !== 'nxdomain' ? r.value : []));
      // IPv4 first: on the small hosts this server is made for, IPv6 is the family more often
      // configured but not routed, and every unreachable address costs a connect timeout.
      if (found.length > 0) return found;
      const failed = [v4, v6].find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (v4.status === 'fulfilled' && v4.value === 'nxdomain') return 'nxdomain';
      if (v6.status === 'fulfilled' && v6.value === 'nxdomain') return 'nxdomain';
      return [];
    },
  };
}
