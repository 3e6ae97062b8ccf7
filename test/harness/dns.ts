/**
 * A tiny authoritative DNS server for tests: UDP on 127.0.0.1, port 0, answering A, AAAA, MX
 * (null MX included) and TXT queries from a zone object, NXDOMAIN for names not in the zone, and
 * SERVFAIL or silence for names marked so. The message format (RFC 1035 §4.1) is written
 * here by hand: a header, the question echoed, the answers; no compression but the one
 * pointer from each answer's owner name back to the question (RFC 1035 §4.1.4).
 *
 * The zone object is read at every query, so a test may change it while the server runs.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface ZoneEntry {
  A?: string[];
  AAAA?: string[];
  /** exchange "." (or "") with priority 0 is a null MX (RFC 7505). */
  MX?: { exchange: string; priority: number }[];
  /**
   * One TXT record per string (SPF, DKIM keys, DMARC policies). A string longer than 255
   * octets is sent as several character-strings of one record (RFC 1035 §3.3.14), which
   * resolvers hand back as parts to be joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
   */
  TXT?: string[];
  /** 'servfail': answer RCODE 2 (RFC 1035 §4.1.1); 'silent': never answer (a timeout). */
  fail?: 'servfail' | 'silent';
}

/** Owner names without the trailing dot, in any case. */
export type Zone = Record<string, ZoneEntry>;

export interface TestDns {
  /** "127.0.0.1:port", for createResolver({ servers: [...] }). */
  server: string;
  port: number;
  /** Every question asked, in order ("example.net MX"). */
  queries: string[];
  close(): Promise<void>;
}

// RFC 1035 §3.2.2 (TYPE values), RFC 3596 §2.1 (AAAA).
const TYPE = { A: 1, MX: 15, TXT: 16, AAAA: 28 } as const;
const TYPE_NAME: Record<number, string> = { 1: 'A', 15: 'MX', 16: 'TXT', 28: 'AAAA' };
// RFC 1035 §4.1.1: RCODE.
const NOERROR = 0;
const FORMERR = 1;
const SERVFAIL = 2;
const NXDOMAIN = 3;
const NOTIMP = 4;

export async function startDns(zone: Zone): Promise<TestDns> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, peer) => {
    const answer = respond(zone, msg, queries);
    if (answer) socket.send(answer, peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const port = socket.address().port;
  return {
    server: `127.0.0.1:${port}`,
    port,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** The reply to one query message, or null to stay silent. Exported for unit tests. */
export function respond(zone: Zone, msg: Buffer, log: string[] = []): Buffer | null {
  // RFC 1035 §4.1.1: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT (16 bits each).
  if (msg.length < 12) return null;
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return null; // a response, not a query
  const opcode = (flags >> 11) & 0xf;
  const header = (rcode: number, ancount: number, withQuestion: boolean): Buffer => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    // QR=1, the query's OPCODE, AA=1, the query's RD, RA=0.
    h.writeUInt16BE(0x8000 | (opcode << 11) | 0x0400 | (flags & 0x0100) | rcode, 2);
    h.writeUInt16BE(withQuestion ? 1 : 0, 4);
    h.writeUInt16BE(ancount, 6);
    return h;
  };
  if (opcode !== 0) return header(NOTIMP, 0, false);
  if (msg.readUInt16BE(4) !== 1) return header(FORMERR, 0, false);
  // QNAME: labels, each a length octet and that many octets, ending with the root's 0 (§4.1.2).
  const labels: string[] = [];
  let p = 12;
  for (;;) {
    if (p >= msg.length) return header(FORMERR, 0, false);
    const len = msg[p];
    if (len === 0) {
      p++;
      break;
    }
    if (len > 63 || p + 1 + len > msg.length) return header(FORMERR, 0, false);
    labels.push(msg.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  if (p + 4 > msg.length) return header(FORMERR, 0, false);
  const qtype = msg.readUInt16BE(p);
  const question = msg.subarray(12, p + 4); // echoed byte for byte (case included, for 0x20 randomisation)
  const name = labels.join('.').toLowerCase();
  log.push(`${name} ${TYPE_NAME[qtype] ?? qtype}`);

  const entry = Object.entries(zone).find(([owner]) => owner.toLowerCase().replace(/\.$/, '') === name)?.[1];
  if (entry?.fail === 'silent') return null;
  if (entry?.fail === 'servfail') return Buffer.concat([header(SERVFAIL, 0, true), question]);
  if (!entry) return Buffer.concat([header(NXDOMAIN, 0, true), question]);

  const rdatas: Buffer[] = [];
  if (qtype === TYPE.A) for (const a of entry.A ?? []) rdatas.push(ipv4(a));
  if (qtype === TYPE.AAAA) for (const a of entry.AAAA ?? []) rdatas.push(ipv6(a));
  if (qtype === TYPE.MX) {
    for (const mx of entry.MX ?? []) {
      // RFC 1035 §3.3.9: PREFERENCE (16 bits), EXCHANGE (a domain name).
      const pref = Buffer.alloc(2);
      pref.writeUInt16BE(mx.priority);
      rdatas.push(Buffer.concat([pref, encodeName(mx.exchange)]));
    }
  }
  if (qtype === TYPE.TXT) for (const t of entry.TXT ?? []) rdatas.push(txtRdata(t));
  // No records of the type: NOERROR with an empty answer ("NODATA", RFC 2308 §2.2).
  const answers = rdatas.map((rdata) => {
    // RFC 1035 §4.1.3: NAME (a pointer to offset 12, the question's name), TYPE, CLASS IN, TTL, RDLENGTH, RDATA.
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(qtype, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header(NOERROR, answers.length, true), question, ...answers]);
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    if (label === '') continue; // the root: "." or ""
    const b = Buffer.from(label, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** RFC 1035 §3.3.14: TXT-DATA is one or more <character-string>s, each a length octet and at most 255 octets. */
export function txtRdata(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let i = 0;
  do {
    const chunk = b.subarray(i, i + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
    i += 255;
  } while (i < b.length); // an empty string is one empty character-string
  return Buffer.concat(parts);
}

function ipv4(a: string): Buffer {
  if (!net.isIPv4(a)) throw new Error(`not an IPv4 address: ${a}`);
  return Buffer.from(a.split('.').map(Number));
}

function ipv6(a: string): Buffer {
  if (!net.isIPv6(a)) throw new Error(`not an IPv6 address: ${a}`);
  let text = a;
  // A dotted IPv4 tail ("::ffff:192.0.2.1") becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number);
    text = text.slice(0, v4.index) + `${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
