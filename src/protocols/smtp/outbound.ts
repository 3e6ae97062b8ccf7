/**
 * The outbound SMTP transport: what the queue (src/core/mail/queue/) calls to hand one
 * message to the next hop for the recipients of one domain, and the per-recipient outcome
 * of that attempt. Routes by MX (RFC 5321 §5.1) or through a smarthost, walks the hosts
 * and their addresses, speaks ESMTP with opportunistic STARTTLS (RFC 3207, RFC 7435), passes
 * on SIZE, BODY, SMTPUTF8 and the DSN parameters, and keeps idle connections for reuse.
 *
 * Files: outbound-route.ts (MX records to hosts), outbound-connection.ts (the I/O of one
 * connection), outbound-wire.ts (pure: replies, command lines, dot-stuffing).
 *
 * Invariants
 * - send() never throws and answers every recipient exactly once, in the order given.
 * - One transaction at a time per connection: a connection is either in the idle pool or
 *   owned by one send(), never both, and a reused one is RSET first.
 * - Failures before MAIL (no connection, greeting or EHLO refused, TLS required but not
 *   offered, AUTH refused) move on to the next address and host (RFC 5321 §5.1), and end
 *   the attempt as temporary when no host is left. Once MAIL is sent, the answers are the
 *   attempt's result: no second host gets the message in the same send().
 * - A connection lost mid-transaction is temporary for every recipient not yet answered,
 *   also after the data was sent: the message may then arrive twice (RFC 1047), never not at all.
 * - Every wait is bounded (connect, command and data timeouts) and so is every reply
 *   (outbound-wire.ts): a server that stalls or floods costs time, not memory.
 */
import type { Logger } from 'pino';
import type { DnsResolver } from '../../lib/dns.ts';
import { SmtpClientConnection } from './outbound-connection.ts';
import { routeFor } from './outbound-route.ts';
import { SmtpConnectionError, describeReply, encodeData, hasEightBit, mailCommand, rcptCommand, replyText, sizeLimit, type Reply } from './outbound-wire.ts';

// The port this transport implements is core's (core/mail/queue/transport.ts); the queue
// calls it without knowing SMTP.
import type { OutboundAttempt, OutboundRecipient, OutboundTransport, RecipientOutcome } from '../../core/mail/queue/transport.ts';
export type { OutboundAttempt, OutboundRecipient, OutboundTransport, RecipientOutcome };

export interface SmtpTransportOptions {
  /** Our EHLO name. */
  hostname: string;
  resolver: DnsResolver;
  /** Destination port, default 25 (tests use their sink's port). */
  port?: number;
  /** secure: implicit TLS. */
  /** verify: check its certificate (against ca, or the system CAs); TLS is then required. */
  smarthost?: { host: string; port: number; secure: boolean; auth?: { user: string; pass: string }; verify?: { ca?: string } };
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  dataTimeoutMs?: number;
  /** Keep connections for reuse this long (connection reuse per destination host). */
  maxIdleMs?: number;
  maxMessagesPerConnection?: number;
  /** Default false: opportunistic STARTTLS (certificate not verified; RFC 7435). */
  requireTls?: boolean;
  log: Logger;
}

// RFC 5321 §4.5.3.2: the client waits 5 minutes for the greeting, MAIL, RCPT and DATA
// replies, 3 minutes per data block and 10 minutes for the reply to the final ".".
const DEFAULTS = {
  port: 25,
  connectTimeoutMs: 30_000,
  commandTimeoutMs: 300_000,
  dataTimeoutMs: 600_000,
  // Long enough for the queue's next message to the same host, short enough not to hold
  // sockets that remote servers would time out themselves.
  maxIdleMs: 10_000,
  maxMessagesPerConnection: 100,
};

// RFC 5321 §5.1 asks to try at least two addresses; a domain with dozens of MX hosts must
// not stall its queue runner for dozens of connect timeouts.
const MAX_ADDRESSES_PER_ATTEMPT = 10;

type Result = Omit<RecipientOutcome, 'address'>;

/** The dot-stuffed wire form of a body, made once however many hosts are tried. */
const encoded = new WeakMap<Buffer, Buffer>();
function encodedBody(body: Buffer): Buffer {
  let e = encoded.get(body);
  if (!e) {
    e = encodeData(body);
    encoded.set(body, e);
  }
  return e;
}

const temporary = (code: number, enhanced: string | null, message: string, remoteMta: string | null): Result => ({ status: 'temporary', code, enhanced, message, remoteMta });
const permanent = (code: number, enhanced: string | null, message: string, remoteMta: string | null): Result => ({ status: 'permanent', code, enhanced, message, remoteMta });

/** What a reply means for the recipients it answers; success is the expected 2xx. */
function resultOf(r: Reply, remote: string): Result {
  const text = replyText(r) || describeReply(r);
  if (r.code >= 200 && r.code < 300) return { status: 'delivered', code: r.code, enhanced: r.enhanced, message: text, remoteMta: remote };
  if (r.code >= 400 && r.code < 500) return temporary(r.code, r.enhanced, text, remote);
  if (r.code >= 500) return permanent(r.code, r.enhanced, text, remote);
  // RFC 3463 §3.6: X.5.0 "Other or undefined protocol status": a 3xx where none belongs.
  return temporary(451, '4.5.0', `unexpected reply: ${describeReply(r)}`, remote);
}

/** A refusal before the transaction: temporary whatever its code, since another host or a later try may do. */
function refusal(r: Reply, remote: string, address: string, stage: string, fallback: string): Result {
  const enhanced = r.enhanced ? `4${r.enhanced.slice(1)}` : fallback;
  return temporary(r.code >= 400 && r.code < 500 ? r.code : 451, enhanced, `${remote}[${address}] answered ${stage} with ${describeReply(r)}`, remote);
}

// C0 controls and DEL would end or split the command line (SMTP command injection); angle
// brackets would end the path early.
const UNSAFE_PATH = /[\u0000-\u001f\u007f<>]/;
const NON_ASCII = /[^\x00-\x7f]/;

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);
}

/** The outcomes of one send(), filled in once each. */
class Outcomes {
  readonly #recipients: OutboundRecipient[];
  readonly #out: (RecipientOutcome | null)[];

  constructor(recipients: OutboundRecipient[]) {
    this.#recipients = recipients;
    this.#out = recipients.map(() => null);
  }

  /** Indexes of the recipients without an outcome. */
  open(): number[] {
    return this.#out.flatMap((o, i) => (o ? [] : [i]));
  }

  set(indexes: number[], r: Result): void {
    for (const i of indexes) if (!this.#out[i]) this.#out[i] = { address: this.#recipients[i].address, ...r };
  }

  done(): RecipientOutcome[] {
    // RFC 3463 §3.3: X.3.0 "Other or undefined mail system status"; only reached after a bug.
    this.set(this.open(), temporary(451, '4.3.0', 'internal error in the SMTP client', null));
    return this.#out as RecipientOutcome[];
  }
}

interface Target {
  name: string;
  port: number;
  implicitTls: boolean;
  addresses?: string[];
  auth?: { user: string; pass: string };
  /** Certificate checking (smarthost); implies that TLS is required. */
  verify?: { ca?: string };
  /** Pool key. */
  key: string;
}

interface Idle {
  conn: SmtpClientConnection;
  timer: NodeJS.Timeout;
}

export class SmtpTransport implements OutboundTransport {
  readonly #o: SmtpTransportOptions & typeof DEFAULTS;
  readonly #log: Logger;
  readonly #idle = new Map<string, Idle[]>();
  readonly #quits = new Set<Promise<void>>();
  #closed = false;

  constructor(o: SmtpTransportOptions) {
    this.#o = {
      ...o,
      port: o.port ?? DEFAULTS.port,
      connectTimeoutMs: o.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      commandTimeoutMs: o.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
      dataTimeoutMs: o.dataTimeoutMs ?? DEFAULTS.dataTimeoutMs,
      maxIdleMs: o.maxIdleMs ?? DEFAULTS.maxIdleMs,
      maxMessagesPerConnection: o.maxMessagesPerConnection ?? DEFAULTS.maxMessagesPerConnection,
    };
    // The caller may have named the protocol already; pino would repeat the key.
    this.#log = 'proto' in o.log.bindings() ? o.log : o.log.child({ proto: 'smtp-out' });
  }

  async send(a: OutboundAttempt): Promise<RecipientOutcome[]> {
    const out = new Outcomes(a.recipients);
    if (this.#closed) {
      // RFC 3463 §3.3: X.3.2 "System not accepting network messages".
      out.set(out.open(), temporary(451, '4.3.2', 'the SMTP client is shutting down', null));
      return out.done();
    }
    // Scanned and dot-stuffed once per send, not once per host tried.
    a = { ...a, eightBit: a.eightBit ?? hasEightBit(a.body) };
    try {
      await this.#deliver(a, out);
    } catch (e) {
      this.#log.error({ err: e, domain: a.domain }, 'smtp.out.internal_error');
    }
    return out.done();
  }

  /** QUITs the idle connections; connections in use QUIT when their transaction ends. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const list of this.#idle.values()) {
      for (const e of list) {
        clearTimeout(e.timer);
        e.conn.onDead = null;
        this.#quit(e.conn);
      }
    }
    this.#idle.clear();
    await Promise.allSettled([...this.#quits]);
  }

  async #deliver(a: OutboundAttempt, out: Outcomes): Promise<void> {
    // The envelope goes into command lines as it is; anything that could break out of them
    // is refused here. RFC 3463 §3.2: X.1.7 bad sender, X.1.3 bad destination address syntax.
    if (UNSAFE_PATH.test(a.from)) {
      out.set(out.open(), permanent(501, '5.1.7', 'the sender address has characters that cannot be sent', null));
      return;
    }
    a.recipients.forEach((r, i) => {
      // (ORCPT needs no check: it always goes xtext-encoded.)
      if (r.address === '' || UNSAFE_PATH.test(r.address)) {
        out.set([i], permanent(501, '5.1.3', 'the recipient address has characters that cannot be sent', null));
      }
    });
    if (out.open().length === 0) return;

    const targets = await this.#targets(a, out);
    if (!targets) return;

    let last: Result | null = null;
    let tried = 0;
    for (const t of targets) {
      let conn = await this.#reuse(t.key);
      if (!conn) {
        let addresses = t.addresses;
        if (!addresses) {
          try {
            const found = await this.#o.resolver.addresses(t.name);
            addresses = found === 'nxdomain' ? [] : found;
          } catch (e) {
            this.#log.info({ host: t.name, err: (e as Error).message }, 'smtp.out.dns_failed');
            last = temporary(451, '4.4.3', `DNS lookup of ${t.name} failed: ${(e as Error).message}`, null);
            continue;
          }
          if (addresses.length === 0) this.#log.info({ host: t.name }, 'smtp.out.no_address');
        }
        for (const address of addresses) {
          if (tried >= MAX_ADDRESSES_PER_ATTEMPT) break;
          tried++;
          const opened = await this.#open(t, address);
          if ('conn' in opened) {
            conn = opened.conn;
            break;
          }
          last = opened.failure;
        }
      }
      if (!conn) {
        if (tried >= MAX_ADDRESSES_PER_ATTEMPT) break;
        continue;
      }
      const reusable = await this.#transact(conn, a, out);
      this.#release(t.key, conn, reusable);
      return;
    }

    if (last) {
      out.set(out.open(), last);
    } else if (this.#o.smarthost) {
      // A smarthost without an address is a configuration or DNS problem of ours: retry.
      out.set(out.open(), temporary(451, '4.4.4', `smarthost ${this.#o.smarthost.host} has no address`, null));
    } else {
      // RFC 3463 §3.5: X.4.4 "Unable to route", permanent when DNS answered and gave no address.
      const what = targets.length === 1 && targets[0].name === a.domain.toLowerCase() ? `domain ${a.domain} has no MX and no address records` : `the mail exchangers of ${a.domain} have no address records`;
      out.set(out.open(), permanent(550, '5.4.4', what, null));
    }
  }

  /** The hosts to try, in order; null when the route itself is the outcome. */
  async #targets(a: OutboundAttempt, out: Outcomes): Promise<Target[] | null> {
    const s = this.#o.smarthost;
    if (s) return [{ name: s.host, port: s.port, implicitTls: s.secure, auth: s.auth, verify: s.verify, key: `smarthost|${s.host}:${s.port}` }];
    const route = await routeFor(a.domain, this.#o.resolver, this.#o.hostname);
    if ('failure' in route) {
      const f = route.failure;
      this.#log.info({ domain: a.domain, code: f.code, reason: f.message }, 'smtp.out.no_route');
      out.set(out.open(), { status: f.status, code: f.code, enhanced: f.enhanced, message: f.message, remoteMta: null });
      return null;
    }
    return route.hosts.map((h) => ({ name: h.name, port: this.#o.port, implicitTls: false, addresses: h.addresses, key: `mx|${h.name}:${this.#o.port}` }));
  }

  /**
   * Connects to one address and gets the session ready for MAIL: greeting, EHLO, STARTTLS
   * and EHLO again, AUTH. Any refusal is a failure of this address only.
   */
  async #open(t: Target, address: string): Promise<{ conn: SmtpClientConnection } | { failure: Result }> {
    const o = this.#o;
    const remote = t.name;
    let allowTls = true;
    for (;;) {
      let conn: SmtpClientConnection;
      try {
        conn = await SmtpClientConnection.connect({ host: t.name, address, port: t.port, implicitTls: t.implicitTls, verify: t.verify, connectTimeoutMs: o.connectTimeoutMs, log: this.#log });
      } catch (e) {
        if (!(e instanceof SmtpConnectionError)) throw e;
        this.#log.info({ host: t.name, address, err: e.message }, 'smtp.out.connect_failed');
        return { failure: temporary(451, e.enhanced, e.message, remote) };
      }
      const fail = (r: Result) => {
        conn.log.info({ reason: r.message }, 'smtp.out.host_refused');
        this.#quit(conn);
        return { failure: r };
      };
      try {
        // RFC 5321 §3.1: a 554 greeting means no service here; RFC 5321 §5.1: a 4xx greeting
        // (421 busy) is a reason to try the next host, as a failed connection is.
        const greeting = await conn.read(o.commandTimeoutMs, 'the greeting');
        if (greeting.code !== 220) return fail(refusal(greeting, remote, address, 'the connection', '4.3.2'));
        let refused = await conn.hello(o.hostname, o.commandTimeoutMs);
        if (refused) return fail(refusal(refused, remote, address, 'EHLO/HELO', '4.5.0'));

        // RFC 3207 §4; RFC 7435 §3: encrypt whenever the server offers it.
        if (!conn.tls && allowTls && conn.caps.has('STARTTLS')) {
          const r = await conn.command('STARTTLS', o.commandTimeoutMs);
          if (r.code === 220) {
            await conn.startTls(o.commandTimeoutMs);
            // RFC 3207 §4.2: "The client SHOULD send an EHLO command as the first command after a successful TLS negotiation."
            refused = await conn.hello(o.hostname, o.commandTimeoutMs);
            if (refused) return fail(refusal(refused, remote, address, 'EHLO after STARTTLS', '4.5.0'));
          } else {
            conn.log.info({ reply: describeReply(r) }, 'smtp.out.starttls_refused');
            if (r.code === 421) return fail(refusal(r, remote, address, 'STARTTLS', '4.7.0'));
          }
        }
        // RFC 3463 §3.8: X.7.4 "Security features not supported".
        if ((o.requireTls || t.verify) && !conn.tls) return fail(temporary(451, '4.7.4', `${remote}[${address}] does not offer STARTTLS, and TLS is required`, remote));

        if (t.auth) {
          // The password never goes in clear over a network (RFC 4954 §4 leaves it to policy).
          if (!conn.tls && !isLoopback(address)) return fail(temporary(451, '4.7.4', `${remote}[${address}] offers no TLS; the password is not sent in clear`, remote));
          if (!conn.caps.has('AUTH')) return fail(temporary(451, '4.7.4', `${remote}[${address}] does not offer AUTH`, remote));
          const r = await conn.auth(t.auth.user, t.auth.pass, o.commandTimeoutMs);
          // RFC 4954 §6: 235 2.7.0 on success; 535 5.7.8 bad credentials, a fault of our configuration:
          // temporary, so that the queue keeps the mail while the operator fixes it.
          if (r.code !== 235) return fail(refusal(r, remote, address, 'AUTH', '4.7.8'));
          conn.log.debug('smtp.out.authenticated');
        }
        conn.log.debug({ tls: conn.tls, esmtp: conn.esmtp }, 'smtp.out.session');
        return { conn };
      } catch (e) {
        conn.destroy();
        if (!(e instanceof SmtpConnectionError)) throw e;
        if (e.tls && allowTls && !o.requireTls && !t.verify) {
          // RFC 7435 §1.3: opportunistic TLS falls back to clear text; a broken TLS stack on
          // the other side must not make mail undeliverable. Once, on a new connection.
          conn.log.info({ err: e.message }, 'smtp.out.tls_failed_retrying_plain');
          allowTls = false;
          continue;
        }
        conn.log.info({ err: e.message }, 'smtp.out.session_failed');
        return { failure: temporary(451, e.enhanced, `${remote}[${address}]: ${e.message}`, remote) };
      }
    }
  }

  /**
   * One mail transaction (RFC 5321 §3.3) for the recipients still open. Returns whether the
   * connection may be used again.
   */
  async #transact(conn: SmtpClientConnection, a: OutboundAttempt, out: Outcomes): Promise<boolean> {
    const o = this.#o;
    const remote = conn.host;
    const idx = out.open();
    const caps = conn.caps;

    // RFC 6531 §3.2: a message that needs SMTPUTF8 goes only to a server that offers it,
    // else it is returned; RFC 6531 §3.5: X.6.7 "Non-ASCII addresses not permitted".
    const smtputf8 = !!a.smtputf8 || NON_ASCII.test(a.from) || idx.some((i) => NON_ASCII.test(a.recipients[i].address));
    if (smtputf8 && !caps.has('SMTPUTF8')) {
      out.set(idx, permanent(553, '5.6.7', `${remote} does not support SMTPUTF8, which the message needs`, remote));
      return true;
    }
    // RFC 1870 §6.1: a message larger than the server's fixed maximum is not sent;
    // RFC 3463 §3.4: X.3.4 "Message too big for system".
    const limit = sizeLimit(caps);
    if (limit > 0 && a.body.length > limit) {
      out.set(idx, permanent(552, '5.3.4', `message size ${a.body.length} exceeds the fixed maximum message size of ${remote} (${limit})`, remote));
      return true;
    }
    const eightBit = a.eightBit!;
    if (eightBit && !caps.has('8BITMIME')) {
      // todo RFC 6152 §3: a client "MUST NOT" send 8-bit data to a server without 8BITMIME;
      // it must downgrade (MIME-convert to 7 bit) or bounce. Sent as it is instead, as many
      // MTAs do: a downgrade breaks DKIM signatures, a bounce loses mail, and the servers
      // without 8BITMIME that are still about pass 8-bit octets unharmed.
      conn.log.debug('smtp.out.8bit_without_8bitmime');
    }
    const dsn = caps.has('DSN');
    // RFC 3461 §4.4: ENVID is at most 100 printable ASCII characters; anything else is left out.
    const envid = dsn && a.envid !== undefined && /^[\x20-\x7e]{1,100}$/.test(a.envid) ? a.envid : undefined;
    const mailLine = mailCommand(a.from, {
      size: caps.has('SIZE') ? a.body.length : undefined,
      // RFC 6531 §3.4: an SMTPUTF8 message is 8-bit content, announced as such where possible.
      eightBitMime: (eightBit || smtputf8) && caps.has('8BITMIME'),
      smtputf8,
      ret: dsn ? a.ret : undefined,
      envid,
    });
    // RFC 3461 §4.1, §4.2: NOTIFY and ORCPT only to a server that offers DSN. todo RFC 3461
    // §6.2: a "relayed" success DSN is ours to send only when the next hop has no DSN (else it
    // reports delivery itself); RecipientOutcome cannot tell the queue which it was.
    const rcptLines = idx.map((i) => rcptCommand(a.recipients[i].address, dsn ? { notify: a.recipients[i].notify, orcpt: a.recipients[i].orcpt } : {}));

    conn.transactions++;
    let stage = 'MAIL';
    try {
      // RFC 2920 §3.1: with PIPELINING, MAIL and the RCPTs go in one write; the replies come in order.
      const pipelining = caps.has('PIPELINING');
      if (pipelining) conn.write([mailLine, ...rcptLines]);
      const mail = pipelining ? await conn.read(o.commandTimeoutMs, 'MAIL') : await conn.command(mailLine, o.commandTimeoutMs);
      const mailOk = mail.code >= 200 && mail.code < 300;
      if (!mailOk) {
        conn.log.info({ reply: describeReply(mail) }, 'smtp.out.mail_refused');
        out.set(idx, resultOf(mail, remote));
      }
      if (!mailOk && !pipelining) return mail.code !== 421;

      stage = 'RCPT';
      const accepted: number[] = [];
      let closing = mail.code === 421;
      for (let k = 0; k < idx.length; k++) {
        // After a refused MAIL the pipelined RCPTs get 503s, read and dropped.
        const r = pipelining ? await conn.read(o.commandTimeoutMs, 'RCPT') : await conn.command(rcptLines[k], o.commandTimeoutMs);
        if (!mailOk) continue;
        if (r.code >= 200 && r.code < 300) {
          accepted.push(idx[k]);
        } else {
          // RFC 5321 §4.2.5 (and §3.3): each RCPT has its own answer; 5xx final, 4xx to retry.
          conn.log.info({ rcpt: a.recipients[idx[k]].address.slice(0, 320), reply: describeReply(r) }, 'smtp.out.rcpt_refused');
          out.set([idx[k]], resultOf(r, remote));
          if (r.code === 421) closing = true;
        }
      }
      if (!mailOk || accepted.length === 0) return !closing;

      stage = 'DATA';
      const go = await conn.command('DATA', o.commandTimeoutMs);
      if (go.code !== 354) {
        // RFC 5321 §4.1.1.4: anything but 354 ends the transaction; a 2xx here is nonsense.
        const r = go.code >= 400 ? resultOf(go, remote) : temporary(451, '4.5.0', `unexpected reply to DATA: ${describeReply(go)}`, remote);
        out.set(accepted, r);
        return go.code >= 400 && go.code !== 421;
      }
      stage = 'the data';
      try {
        await conn.writeData(encodedBody(a.body), o.dataTimeoutMs);
        stage = 'the end of the data';
      } catch (e) {
        // The server may have refused and hung up mid-data; its reply, if it came, says why (read below).
        if (!(e instanceof SmtpConnectionError)) throw e;
      }
      // RFC 5321 §4.1.1.4 and §3.3: the reply to "." is the one answer for every accepted recipient.
      const end = await conn.read(o.dataTimeoutMs, 'the end of the data');
      // RFC 3461 §6.2: when the next hop took the DSN request, success reports are its to send.
      out.set(accepted, end.code >= 200 && end.code < 300 ? { ...resultOf(end, remote), remoteDsn: dsn } : resultOf(end, remote));
      conn.log.info({ recipients: accepted.length, reply: describeReply(end), tls: conn.tls }, end.code < 300 ? 'smtp.out.sent' : 'smtp.out.data_refused');
      return end.code !== 421;
    } catch (e) {
      if (!(e instanceof SmtpConnectionError)) throw e;
      conn.log.info({ stage, err: e.message }, 'smtp.out.transaction_failed');
      out.set(idx, temporary(451, e.enhanced, `${remote}[${conn.address}]: ${e.message} (during ${stage})`, remote));
      return false;
    }
  }

  /** An idle connection to the same host, checked with RSET (RFC 5321 §4.1.1.5), or null. */
  async #reuse(key: string): Promise<SmtpClientConnection | null> {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const e = list.pop()!;
      if (list.length === 0) this.#idle.delete(key);
      clearTimeout(e.timer);
      e.conn.onDead = null;
      e.conn.idle = false;
      if (!e.conn.usable) {
        e.conn.destroy();
        continue;
      }
      try {
        const r = await e.conn.command('RSET', this.#o.commandTimeoutMs);
        if (r.code === 250) {
          e.conn.log.debug({ transactions: e.conn.transactions }, 'smtp.out.reuse');
          return e.conn;
        }
      } catch {
        // Gone while idle: open a new one.
      }
      e.conn.destroy();
    }
    return null;
  }

  #release(key: string, conn: SmtpClientConnection, reusable: boolean): void {
    const o = this.#o;
    if (!reusable || !conn.usable || this.#closed || o.maxIdleMs <= 0 || conn.transactions >= o.maxMessagesPerConnection) {
      this.#quit(conn);
      return;
    }
    const list = this.#idle.get(key) ?? [];
    this.#idle.set(key, list);
    const entry: Idle = {
      conn,
      timer: setTimeout(() => {
        drop();
        this.#quit(conn);
      }, o.maxIdleMs),
    };
    entry.timer.unref();
    const drop = () => {
      const l = this.#idle.get(key);
      const at = l?.indexOf(entry) ?? -1;
      if (at !== -1) l!.splice(at, 1);
      if (l && l.length === 0) this.#idle.delete(key);
    };
    // A server that closes an idle connection (its own timeout) takes it out of the pool.
    conn.onDead = () => {
      clearTimeout(entry.timer);
      drop();
    };
    conn.idle = true;
    list.push(entry);
  }

  #quit(conn: SmtpClientConnection): void {
    conn.onDead = null;
    conn.idle = false;
    const p = conn.quit(Math.min(this.#o.commandTimeoutMs, 5000));
    this.#quits.add(p);
    void p.finally(() => this.#quits.delete(p));
  }
}
