/**
 * Where mail for a domain goes (RFC 5321 §5.1): the MX hosts in the order to try them, or
 * the final answer that there is nowhere to go (no such domain, null MX, a loop).
 * Addresses of the hosts are looked up later, one host at a time, by the transport.
 */
import net from 'node:net';
import type { DnsResolver } from '../../lib/dns.ts';

export interface RouteHost {
  /** Host name, or the address literal as written ("[192.0.2.1]"). */
  name: string;
  /** Known addresses (an address literal); otherwise looked up. */
  addresses?: string[];
}

export interface RouteFailure {
  status: 'temporary' | 'permanent';
  code: number;
  enhanced: string;
  message: string;
}

export type Route = { hosts: RouteHost[] } | { failure: RouteFailure };

export async function routeFor(domain: string, resolver: DnsResolver, ourHostname: string, random: () => number = Math.random): Promise<Route> {
  const name = domain.replace(/\.$/, '').toLowerCase();
  // RFC 5321 §4.1.3: a domain written as an address literal names the host itself, no DNS.
  const literal = /^\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]$/i.exec(name);
  if (literal) {
    if (!net.isIP(literal[1])) return { failure: { status: 'permanent', code: 550, enhanced: '5.1.2', message: `${domain} is not a valid address literal` } };
    return { hosts: [{ name: domain, addresses: [literal[1]] }] };
  }

  let records: Awaited<ReturnType<DnsResolver['mx']>>;
  try {
    records = await resolver.mx(name);
  } catch (e) {
    // RFC 3463 §3.5: X.4.3 "Directory server failure"; temporary, whatever the cause.
    return { failure: { status: 'temporary', code: 451, enhanced: '4.4.3', message: `DNS lookup of the MX records of ${name} failed: ${(e as Error).message}` } };
  }
  if (records === 'nxdomain') {
    // RFC 3463 §3.2: X.1.2 "Bad destination system address".
    return { failure: { status: 'permanent', code: 550, enhanced: '5.1.2', message: `domain ${name} does not exist` } };
  }
  const isRoot = (x: string) => x === '' || x === '.';
  // RFC 7505 §3: a null MX is one MX record with preference 0 and the root as exchange; §4.1:
  // the client "MUST NOT" try delivery and gives 556 5.1.10 (RFC 7504 §3, RFC 7505 §4.2).
  // A root exchange among other records is malformed; it names no host and is skipped.
  if (records.length > 0 && records.every((r) => isRoot(r.exchange))) {
    return { failure: { status: 'permanent', code: 556, enhanced: '5.1.10', message: `domain ${name} does not accept mail (null MX)` } };
  }
  let mx = records.filter((r) => !isRoot(r.exchange)).map((r) => ({ name: r.exchange.toLowerCase(), priority: r.priority }));
  // RFC 5321 §5.1: "If an empty list of MXs is returned, the address is treated as if it was
  // associated with an implicit MX RR, with a preference of 0, pointing to that host."
  if (mx.length === 0) return { hosts: [{ name }] };

  // RFC 5321 §5.1: if this host is an MX of the domain, records with a preference as high or
  // higher (numerically) are discarded; none left is an error (mail loops back to us).
  const self = ourHostname.toLowerCase().replace(/\.$/, '');
  const own = mx.filter((r) => r.name === self).map((r) => r.priority);
  if (own.length > 0) {
    const limit = Math.min(...own);
    mx = mx.filter((r) => r.priority < limit);
    if (mx.length === 0) {
      // RFC 3463 §3.5: X.4.6 "Routing loop detected".
      return { failure: { status: 'permanent', code: 554, enhanced: '5.4.6', message: `MX records of ${name} point back to this host (${self}): mail loops back to myself` } };
    }
  }

  // RFC 5321 §5.1: lowest preference first; "if there are multiple destinations with the same
  // preference ... the SMTP client SHOULD randomize them to spread the load".
  const shuffled = mx.map((r) => ({ ...r, key: random() }));
  shuffled.sort((a, b) => a.priority - b.priority || a.key - b.key);
  const seen = new Set<string>();
  const hosts: RouteHost[] = [];
  for (const r of shuffled) {
    if (seen.has(r.name)) continue;
    seen.add(r.name);
    hosts.push({ name: r.name });
  }
  return { hosts };
}
