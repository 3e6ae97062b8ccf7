/**
 * One client connection to one SMTP server address: connect (plain or implicit TLS), read
 * replies with a timeout, EHLO with fallback to HELO, STARTTLS, AUTH, the data, QUIT.
 * What to send and what the replies mean for the recipients is outbound.ts's business.
 *
 * Invariants
 * - Every wait has a timer: a server that never answers costs at most the timeout, then the
 *   connection is destroyed and the wait fails with SmtpConnectionError.
 * - After the first failure the connection is dead: every later read or write fails at once
 *   with the same error, and the socket is destroyed.
 * - One reader at a time (the caller runs one command, or one pipelined group, at a time).
 * - Nothing the server sent before the TLS handshake is used after it (RFC 3207 §4.2).
 * - AUTH payloads never reach the log.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { ReplyReader, SmtpConnectionError, parseCapabilities, replyText, type Reply } from './outbound-wire.ts';

export interface ConnectOptions {
  /** The host name (MX exchange or smarthost), for logs, SNI and the outcome's remoteMta. */
  host: string;
  address: string;
  port: number;
  /** Implicit TLS from the first byte (RFC 8314 §3.3), for a smarthost on port 465. */
  implicitTls: boolean;
  /** Check the server's certificate (a configured smarthost): against these CAs, or the system's. */
  verify?: { ca?: string };
  connectTimeoutMs: number;
  log: Logger;
}

// Opportunistic TLS (RFC 7435 §1.3): any certificate is taken, since an MX host name from
// unauthenticated DNS proves nothing a certificate check could confirm; encryption still
// defeats passive listeners. Authenticated TLS needs DANE or MTA-STS (todo RFC 8461).
// A smarthost is a known server whose name we were given: its certificate is checked (RFC
// 8314 §4.2 / RFC 6125), unless the operator turned that off.
const tlsOptions = (host: string, verify?: { ca?: string }): tls.ConnectionOptions => ({
  rejectUnauthorized: !!verify,
  ...(verify?.ca ? { ca: verify.ca } : {}),
  servername: net.isIP(host) ? undefined : host,
});

export class SmtpClientConnection {
  readonly id = crypto.randomBytes(6).toString('hex');
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly log: Logger;
  /** EHLO keywords after the last EHLO; empty after HELO. */
  caps = new Map<string, string>();
  esmtp = false;
  /** Transactions begun on this connection (MAIL sent). */
  transactions = 0;
  /** Called once when the connection dies (for the idle pool). */
  onDead: (() => void) | null = null;
  #socket: net.Socket | tls.TLSSocket;
  readonly #reader = new ReplyReader();
  #replies: Reply[] = [];
  #waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;
  #failure: SmtpConnectionError | null = null;
  #quitting = false;
  readonly #verify?: { ca?: string };

  private constructor(socket: net.Socket | tls.TLSSocket, o: ConnectOptions) {
    this.#socket = socket;
    this.#verify = o.verify;
    this.host = o.host;
    this.address = o.address;
    this.port = o.port;
    this.log = o.log.child({ cid: this.id, remote: `${o.host}[${o.address}]:${o.port}` });
    this.#attach(socket);
  }

  /** Connects (and for implicit TLS, shakes hands). Throws SmtpConnectionError 4.4.1. */
  static async connect(o: ConnectOptions): Promise<SmtpClientConnection> {
    const socket = o.implicitTls ? tls.connect({ host: o.address, port: o.port, ...tlsOptions(o.host, o.verify) }) : net.connect({ host: o.address, port: o.port });
    const ready = o.implicitTls ? 'secureConnect' : 'connect';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no connection within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.removeListener(ready, ok);
        socket.on('error', () => {}); // a late second error must not go unhandled
        socket.destroy();
        reject(new SmtpConnectionError('4.4.1', `connect to ${o.host}[${o.address}]:${o.port} failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      };
      const ok = () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        resolve();
      };
      socket.once(ready, ok);
      socket.once('error', fail);
    });
    socket.setNoDelay(true);
    return new SmtpClientConnection(socket, o);
  }

  get tls(): boolean {
    return this.#socket instanceof tls.TLSSocket;
  }

  /** Alive, and nothing arrived that nobody asked for (a 421 while idle, say). */
  get usable(): boolean {
    return !this.#failure && this.#replies.length === 0 && !this.#reader.pending && !this.#socket.destroyed;
  }

  /** While idle in the pool the socket does not keep the process alive. */
  set idle(idle: boolean) {
    if (idle) this.#socket.unref();
    else this.#socket.ref();
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => this.#fail(new SmtpConnectionError('4.4.2', `connection error: ${e.code ?? e.message}`)));
    socket.on('close', () => this.#fail(new SmtpConnectionError('4.4.2', 'connection closed by the server')));
  }

  #onData(chunk: Buffer): void {
    if (this.#failure) return;
    let replies: Reply[];
    try {
      replies = this.#reader.push(chunk);
    } catch (e) {
      this.#fail(e as SmtpConnectionError);
      return;
    }
    for (const r of replies) {
      this.log.trace({ code: r.code, text: replyText(r) }, 'smtp.out.reply');
      const w = this.#waiter;
      if (w) {
        this.#waiter = null;
        w.resolve(r);
      } else {
        this.#replies.push(r);
      }
    }
  }

  #fail(e: SmtpConnectionError, ours = false): void {
    if (this.#failure) return;
    this.#failure = e;
    if (ours || this.#quitting) this.log.debug('smtp.out.close');
    else this.log.debug({ err: e.message }, 'smtp.out.connection_failed');
    const w = this.#waiter;
    this.#waiter = null;
    w?.reject(e);
    this.#socket.destroy();
    const dead = this.onDead;
    this.onDead = null;
    dead?.();
  }

  /**
   * The next reply. Throws SmtpConnectionError (also on timeout, which kills the connection).
   * A reply that arrived before the connection died is still returned: a server that says
   * "552 too big" and hangs up mid-data has said why.
   */
  read(timeoutMs: number, what: string): Promise<Reply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiter) return Promise.reject(new Error('smtp client: two readers on one connection'));
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new SmtpConnectionError('4.4.2', `no reply to ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /**
   * Writes command lines (several at once under PIPELINING, RFC 2920 §3.1). shown: what
   * the trace log gets instead of the line (for AUTH).
   */
  write(lines: string[], shown?: string): void {
    if (this.#failure) throw this.#failure;
    for (const l of lines) this.log.trace({ line: shown ?? l }, 'smtp.out.send');
    this.#socket.write(lines.map((l) => `${l}\r\n`).join(''));
  }

  async command(line: string, timeoutMs: number, shown?: string): Promise<Reply> {
    this.write([line], shown);
    return this.read(timeoutMs, (shown ?? line).split(' ')[0]);
  }

  /** Writes the (encoded) data, waiting for the socket to drain, each wait bounded. */
  async writeData(data: Buffer, timeoutMs: number): Promise<void> {
    const CHUNK = 64 * 1024;
    for (let off = 0; off < data.length; off += CHUNK) {
      if (this.#failure) throw this.#failure;
      if (this.#socket.write(data.subarray(off, off + CHUNK))) continue;
      await new Promise<void>((resolve, reject) => {
        const done = (e?: Error) => {
          clearTimeout(timer);
          this.#socket.removeListener('drain', ok);
          this.#socket.removeListener('close', closed);
          if (e) reject(e);
          else resolve();
        };
        const ok = () => done();
        const closed = () => done(this.#failure ?? new SmtpConnectionError('4.4.2', 'connection closed during the data'));
        const timer = setTimeout(() => {
          this.#fail(new SmtpConnectionError('4.4.2', `the server took no data for ${timeoutMs} ms`));
          done(this.#failure!);
        }, timeoutMs);
        this.#socket.once('drain', ok);
        this.#socket.once('close', closed);
      });
    }
  }

  /**
   * EHLO, or HELO when the server does not know EHLO (RFC 5321 §3.2). Returns null on
   * success, else the refusing reply. Throws SmtpConnectionError.
   */
  async hello(name: string, timeoutMs: number): Promise<Reply | null> {
    const ehlo = await this.command(`EHLO ${name}`, timeoutMs);
    if (ehlo.code === 250) {
      this.esmtp = true;
      this.caps = parseCapabilities(ehlo);
      return null;
    }
    this.esmtp = false;
    this.caps = new Map();
    // RFC 5321 §4.1.4: a 5xx to EHLO (502 "command not implemented" from an old server) means
    // HELO; a 4xx (421, service not available) is the server's no for now.
    if (ehlo.code < 500) return ehlo;
    const helo = await this.command(`HELO ${name}`, timeoutMs);
    return helo.code === 250 ? null : helo;
  }

  /** The TLS handshake after "220" to STARTTLS (RFC 3207 §4). Throws SmtpConnectionError (tls = true). */
  async startTls(timeoutMs: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    const plain = this.#socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    plain.on('error', () => {}); // the TLS socket reports it
    // RFC 3207 §4.2: whatever the server said before the handshake is discarded.
    this.#reader.reset();
    this.#replies = [];
    const secure = tls.connect({ socket: plain, ...tlsOptions(this.host, this.#verify) });
    secure.on('error', () => {}); // reported through the handshake promise, then through #attach
    this.#socket = secure;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no handshake within ${timeoutMs} ms`)), timeoutMs);
        secure.once('secureConnect', () => {
          clearTimeout(timer);
          resolve();
        });
        secure.once('error', (e: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(e);
        });
        plain.once('close', () => {
          clearTimeout(timer);
          reject(new Error('connection closed during the handshake'));
        });
      });
    } catch (e) {
      const err = new SmtpConnectionError('4.7.0', `TLS handshake failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, true);
      this.#fail(err);
      throw err;
    }
    this.#attach(secure);
    this.caps = new Map();
    this.esmtp = false;
    this.log.debug({ protocol: secure.getProtocol(), cipher: secure.getCipher()?.name }, 'smtp.out.tls');
  }

  /**
   * AUTH PLAIN (RFC 4616) when offered, else LOGIN; returns the final reply. Throws
   * SmtpConnectionError. The credentials are never logged.
   */
  async auth(user: string, pass: string, timeoutMs: number): Promise<Reply> {
    const mechanisms = (this.caps.get('AUTH') ?? '').toUpperCase().split(/\s+/);
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    if (mechanisms.includes('PLAIN') || !mechanisms.includes('LOGIN')) {
      // RFC 4954 §4: the initial response saves a round trip; "=" stands for an empty one.
      return this.command(`AUTH PLAIN ${b64(`\u0000${user}\u0000${pass}`)}`, timeoutMs, 'AUTH PLAIN <redacted>');
    }
    let r = await this.command('AUTH LOGIN', timeoutMs);
    if (r.code !== 334) return r;
    r = await this.command(b64(user), timeoutMs, 'AUTH <redacted user name>');
    if (r.code !== 334) return r;
    return this.command(b64(pass), timeoutMs, 'AUTH <redacted password>');
  }

  /** QUIT, a short wait for "221", then the end (RFC 5321 §4.1.1.10). Never throws. */
  async quit(timeoutMs: number): Promise<void> {
    if (!this.#failure) {
      this.#quitting = true;
      try {
        await this.command('QUIT', timeoutMs);
      } catch {
        // Closing anyway.
      }
    }
    this.destroy();
  }

  destroy(): void {
    this.#fail(new SmtpConnectionError('4.4.2', 'connection closed by us'), true);
  }
}
