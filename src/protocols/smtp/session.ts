/**
 * One SMTP session, for reception (MX) and submission: turns the events of SmtpInput into
 * calls on core (Reception) and core results into replies with enhanced status codes.
 *
 * Invariants:
 * - Commands are handled one at a time, in order (PIPELINING, RFC 2920), and every reply is
 *   written in the order of its command.
 * - 250 after the data is sent only when the pipeline has committed the message for every
 *   accepted recipient (DESIGN.md: nothing acknowledged before it is durable).
 * - A bare CR or LF anywhere ends the session with 521 (no SMTP smuggling); bytes a client
 *   pipelined after STARTTLS are discarded (RFC 3207 §4.2).
 * - Authentication only over TLS; the reply to a failed login never says why.
 * - Core errors map to replies in one place, replyFor().
 */
import type { SessionGuard } from '../../core/sessions.ts';
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { SmtpInput, type InputEvent } from './input.ts';
import { SmtpSyntaxError, formatReply, parseCommand, type MailParams, type RcptParams, type SmtpCommand } from './parser.ts';
import type { Reception } from '../../core/mail/reception.ts';
import type { AccountInfo } from '../../core/directory/directory.ts';
import type { DeliveryRecipient } from '../../core/mail/delivery/types.ts';
import type { EnqueueRecipient } from '../../core/mail/queue/queue.ts';
import { DomainError } from '../../core/errors.ts';
import type { AuthThrottle } from '../../security/auth-throttle.ts';
import type { AuditEntry } from '../../security/audit.ts';
import type { SendRate } from '../../security/send-rate.ts';
import { passwordLogin } from '../../security/login.ts';
import type { Notices } from '../../core/mail/notices.ts';
import type { LogPrivacy } from '../../ops/log.ts';

export type SmtpMode = 'mx' | 'submission';

export interface SmtpSettings {
  hostname: string;
  mode: SmtpMode;
  maxMessageSize: number;
  maxRecipients: number;
  maxErrors: number;
  maxLine: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
  quotaPermanent: boolean;
  requireTls: boolean;
  revealClient: boolean;
  /** How addresses appear in logs (log.addresses: plain, pseudonymised or off; GW-LOG-3). */
  privacy?: LogPrivacy;
  /** TLS context for STARTTLS; undefined when there is no certificate. */
  secureContext?: tls.SecureContext;
}

export interface SmtpDeps {
  reception: Reception;
  throttle: AuthThrottle;
  /** Hourly sending limits per account on submission (GW-DOS-6). */
  sendRate?: SendRate;
  /** Notices to recipients of refused oversize mail (S 4.357). */
  notices?: Notices;
  /** Writes one entry to the security audit trail (the session never touches the store). */
  audit: (entry: AuditEntry) => Promise<void>;
  log: Logger;
  /** Ends authenticated sessions whose account is disabled or given a new password (optional in tests). */
  sessions?: SessionGuard;
}

interface Reply {
  code: number;
  enhanced: string | null;
  text: string | string[];
}

/** Octets a client may send while a command is being handled before reading pauses. */
const MAX_UNREAD = 256 * 1024;

const r = (code: number, enhanced: string | null, text: string | string[]): Reply => ({ code, enhanced, text });

/** The one place where core errors become SMTP replies (RFC 3463 codes). */
export function replyFor(e: unknown, where: 'rcpt' | 'data' | 'mail', quotaPermanent = false): Reply {
  if (e instanceof SmtpSyntaxError) return r(e.reply, e.enhanced, e.message);
  if (!(e instanceof DomainError)) return r(451, '4.3.0', 'Temporary local problem; try again later');
  switch (e.code) {
    case 'INVALID_INPUT':
      return where === 'rcpt' ? r(501, '5.1.3', 'Bad recipient address syntax') : r(501, '5.1.7', 'Bad sender address syntax');
    case 'RELAY_DENIED':
      return r(550, '5.7.1', 'Relaying denied');
    case 'NOT_FOUND':
      return r(550, '5.1.1', 'No such recipient here');
    case 'ACCOUNT_DISABLED':
      return r(550, '5.2.1', 'Mailbox disabled');
    case 'FORBIDDEN':
      return r(550, '5.7.1', e.detail || 'Not authorised');
    case 'SENDER_DENIED':
      return r(553, '5.7.1', 'Sender address not owned by the authenticated account');
    case 'LOOP_DETECTED':
      return r(550, '5.4.6', 'Routing loop detected');
    case 'LIMIT_EXCEEDED':
      return where === 'rcpt' ? r(452, '4.5.3', 'Too many recipients') : r(552, '5.3.4', 'Message too big for system');
    case 'QUOTA_EXCEEDED':
      return quotaPermanent ? r(552, '5.2.2', 'Mailbox full') : r(452, '4.2.2', 'Mailbox full; try again later');
    case 'STORAGE_FULL':
      return r(452, '4.3.1', 'Insufficient system storage; try again later');
    default:
      return e.temporary ? r(451, '4.3.0', 'Temporary local problem; try again later') : r(554, '5.3.0', 'Transaction failed');
  }
}

interface Transaction {
  from: string;
  params: MailParams;
  recipients: DeliveryRecipient[];
  /** External addresses to relay through the queue (submission, or forwarding aliases/lists). */
  external: EnqueueRecipient[];
  /** RCPT addresses accepted (for the count limit and the Received "for"). */
  accepted: string[];
  localParams: Map<string, { notify?: string[]; orcpt?: string }>;
  /** CHUNKING (RFC 3030): chunks received so far and their total size. */
  chunks: Buffer[];
  chunkSize: number;
}

export class SmtpSession {
  readonly id = crypto.randomBytes(6).toString('hex');
  #socket: net.Socket | tls.TLSSocket;
  readonly #s: SmtpSettings;
  readonly #d: SmtpDeps;
  readonly #log: Logger;
  readonly #input: SmtpInput;
  readonly #remote: string;
  #tls: boolean;
  #helo: string | null = null;
  #esmtp = false;
  #account: AccountInfo | null = null;
  #unguard: (() => void) | null = null;
  #tx: Transaction | null = null;
  #errors = 0;
  #queue: InputEvent[] = [];
  #busy = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #inData = false;
  #stopping = false;
  /** A multi-step AUTH waiting for the client's next line. */
  #authStep: ((line: string) => Promise<void>) | null = null;
  /** Octets received while busy (bounded: see #onData). */
  #unread = 0;
  /** Replies wait in the socket's buffer because the client does not read them (see #send). */
  #writeBlocked = false;
  // The session's own socket listeners, kept so that STARTTLS can remove exactly these and
  // leave the listener's (connection accounting) in place.
  readonly #onSocketData = (chunk: Buffer) => this.#onData(chunk);
  readonly #onSocketError = (err: Error) => this.#log.debug({ err: err.message }, 'smtp.socket_error');
  readonly #onSocketClose = () => this.#close();

  constructor(socket: net.Socket | tls.TLSSocket, settings: SmtpSettings, deps: SmtpDeps) {
    this.#socket = socket;
    this.#s = settings;
    this.#d = deps;
    this.#remote = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    this.#tls = socket instanceof tls.TLSSocket;
    this.#log = deps.log.child({ cid: this.id, proto: settings.mode === 'mx' ? 'smtp' : 'submission', remote: this.#remote });
    this.#input = new SmtpInput({ maxLine: settings.maxLine });
    this.#attach(socket);
  }

  /** An address as the log may show it. */
  #addr(a: string): string {
    return this.#s.privacy ? this.#s.privacy.address(a) : a;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(): void {
    this.#log.debug('smtp.connect');
    this.#send(r(220, null, `${this.#s.hostname} ESMTP Bulwark`));
    this.#arm(this.#s.commandTimeoutMs);
  }

  /** Refuses a connection over a limit, before any session state exists. */
  static refuse(socket: net.Socket, hostname: string, why: string): void {
    socket.on('error', () => {});
    socket.end(formatReply(421, '4.7.0', `${hostname} ${why}; try again later`));
    // end() only half-closes: a client that never closes its side would keep the refused
    // connection (which counts against no limit) open for good.
    socket.destroySoon();
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  /**
   * Server shutdown: an idle session gets 421 now; one that is receiving or delivering a
   * message finishes that first (the listener cuts it when the grace period ends).
   */
  shutdown(): void {
    if (this.#closed) return;
    this.#stopping = true;
    if (!this.#busy && !this.#inData) this.#goodbye();
  }

  #goodbye(): void {
    this.#send(r(421, '4.3.2', `${this.#s.hostname} Service shutting down`));
    this.#close();
  }

  /** Hard close when the grace period is over. */
  destroy(): void {
    if (!this.#closed) this.#close();
    this.#socket.destroy();
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', this.#onSocketData);
    socket.on('error', this.#onSocketError);
    socket.on('close', this.#onSocketClose);
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      // The timeouts bound how long the client keeps us waiting, not how long we work: a
      // slow delivery or a throttled login is not the client's idleness.
      if (this.#busy) return this.#arm(ms);
      this.#log.info({ ms }, 'smtp.timeout');
      this.#send(r(421, '4.4.2', `${this.#s.hostname} Timeout; closing connection`));
      this.#close();
    }, ms);
    this.#timer.unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#arm(this.#inData ? this.#s.dataTimeoutMs : this.#s.commandTimeoutMs);
    this.#queue.push(...this.#input.push(chunk));
    // Bounded memory: a client that floods commands waits until they are answered. Bytes
    // after a DATA or STARTTLS line stay in the input until the session acted on that line,
    // so they are counted too.
    if (this.#busy) this.#unread += chunk.length;
    if (this.#queue.length > 200 || this.#unread > MAX_UNREAD) this.#socket.pause();
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (!this.#closed) {
        let ev = this.#queue.shift();
        if (!ev) {
          // The input may hold bytes after a DATA/STARTTLS line until we said go on.
          const more = this.#input.push(Buffer.alloc(0));
          if (more.length === 0) break;
          this.#queue.push(...more);
          ev = this.#queue.shift()!;
        }
        await this.#handle(ev);
      }
    } catch (e) {
      this.#log.error({ err: e }, 'smtp.session_error');
      this.#send(r(421, '4.3.0', `${this.#s.hostname} Internal error; closing connection`));
      this.#close();
    } finally {
      this.#busy = false;
      this.#unread = 0;
      if (this.#stopping && !this.#inData && !this.#closed) this.#goodbye();
      if (!this.#closed && !this.#writeBlocked && this.#socket.isPaused() && this.#queue.length === 0) this.#socket.resume();
    }
  }

  #send(reply: Reply): void {
    if (this.#closed || this.#socket.destroyed) return;
    const socket = this.#socket;
    if (!socket.write(formatReply(reply.code, reply.enhanced, reply.text)) && !this.#writeBlocked) {
      // The client does not read its replies (a pipelining flood): stop reading its commands
      // until it does, or the replies would pile up in memory without bound.
      this.#writeBlocked = true;
      socket.pause();
      socket.once('drain', () => {
        this.#writeBlocked = false;
        if (!this.#closed && !this.#busy && socket === this.#socket) socket.resume();
      });
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unguard?.();
    this.#unguard = null;
    clearTimeout(this.#timer);
    this.#queue = [];
    this.#socket.end();
    this.#socket.destroySoon?.();
    setTimeout(() => this.#socket.destroy(), 2000).unref();
    this.#log.debug('smtp.close');
  }

  /** Counts a client error; too many end the session (GW-DOS-4). */
  #error(reply: Reply): void {
    this.#send(reply);
    if (++this.#errors >= this.#s.maxErrors) {
      this.#log.info({ errors: this.#errors }, 'smtp.too_many_errors');
      this.#send(r(421, '4.7.0', `${this.#s.hostname} Too many errors; closing connection`));
      this.#close();
    }
  }

  async #handle(ev: InputEvent): Promise<void> {
    switch (ev.type) {
      case 'error':
        return this.#inputError(ev.reason);
      case 'data':
        this.#inData = false;
        this.#arm(this.#s.commandTimeoutMs);
        return this.#endOfData(ev.body, ev.size, ev.oversize);
      case 'bdat':
        return this.#bdatChunk(ev.chunk, ev.last);
      case 'line':
        if (this.#authStep) {
          const step = this.#authStep;
          this.#authStep = null;
          return step(ev.line);
        }
        return this.#command(ev.line);
    }
  }

  #inputError(reason: 'bare-lf' | 'bare-cr' | 'line-too-long' | 'bad-utf8' | 'nul'): void {
    if (reason === 'bare-lf' || reason === 'bare-cr') {
      // Like Postfix's smtpd_forbid_bare_newline: only <CR><LF> ends a line; anything else
      // could smuggle a second message past a front end that reads lines differently.
      this.#log.info({ reason }, 'smtp.bare_newline');
      this.#send(r(521, '5.5.2', `Syntax error: bare <${reason === 'bare-lf' ? 'LF' : 'CR'}> received; lines must end with <CR><LF>`));
      this.#close();
      return;
    }
    if (reason === 'line-too-long') return this.#error(r(500, '5.5.6', 'Line too long'));
    // Fatal too: the input reads nothing after them, so the session cannot go on.
    this.#log.info({ reason }, 'smtp.bad_command_bytes');
    this.#send(r(500, '5.5.2', reason === 'nul' ? 'NUL character in command; closing connection' : 'Invalid UTF-8 in command; closing connection'));
    this.#close();
  }

  async #command(line: string): Promise<void> {
    let cmd: SmtpCommand;
    try {
      // RFC 6531 §3.5: UTF-8 in a RCPT path only within a transaction whose MAIL said SMTPUTF8.
      cmd = parseCommand(line, { smtputf8: !!this.#tx?.params.smtputf8 });
    } catch (e) {
      if (e instanceof SmtpSyntaxError) {
        this.#log.debug({ err: e.message }, 'smtp.syntax_error');
        return this.#error(r(e.reply, e.enhanced, e.message));
      }
      throw e;
    }
    switch (cmd.verb) {
      case 'EHLO':
      case 'HELO':
        return this.#ehlo(cmd.verb, cmd.domain);
      case 'STARTTLS':
        return this.#starttls();
      case 'AUTH':
        return this.#auth(cmd.mechanism, cmd.initial);
      case 'MAIL':
        return this.#mail(cmd.from, cmd.params);
      case 'RCPT':
        return this.#rcpt(cmd.to, cmd.params);
      case 'DATA':
        return this.#data();
      case 'BDAT':
        return this.#bdat(cmd.size, cmd.last);
      case 'RSET':
        this.#tx = null;
        return this.#send(r(250, '2.0.0', 'Ok'));
      case 'NOOP':
        return this.#send(r(250, '2.0.0', 'Ok'));
      case 'QUIT':
        this.#send(r(221, '2.0.0', `${this.#s.hostname} Bye`));
        return this.#close();
      case 'VRFY':
        // RFC 5321 §3.5.3: 252 when the server will not verify; we never reveal who exists.
        return this.#send(r(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'));
      case 'EXPN':
        return this.#send(r(502, '5.5.1', 'EXPN disabled'));
      case 'HELP':
        return this.#send(r(214, '2.0.0', 'See RFC 5321'));
    }
  }

  #capabilities(): string[] {
    const caps = [`${this.#s.hostname} Hello ${this.#helo ?? ''}`.trim()];
    caps.push('PIPELINING', `SIZE ${this.#s.maxMessageSize}`, '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'CHUNKING', 'BINARYMIME');
    if (!this.#tls && this.#s.secureContext) caps.push('STARTTLS');
    if (this.#s.mode === 'submission' && this.#tls) caps.push('AUTH PLAIN LOGIN');
    return caps;
  }

  #ehlo(verb: 'EHLO' | 'HELO', domain: string): void {
    this.#helo = domain;
    this.#esmtp = verb === 'EHLO';
    this.#tx = null;
    if (verb === 'HELO') return this.#send(r(250, null, this.#s.hostname));
    this.#send(r(250, null, this.#capabilities()));
  }

  #starttls(): void {
    if (this.#tls) return this.#error(r(503, '5.5.1', 'TLS already active'));
    if (!this.#s.secureContext) return this.#error(r(454, '4.7.0', 'TLS not available'));
    // RFC 3207 §4.2: anything the client sent after STARTTLS, before the handshake, is discarded.
    if (this.#input.pending() || this.#queue.length > 0) this.#log.info('smtp.starttls_pipelined_input_dropped');
    this.#queue = [];
    this.#input.reset();
    this.#send(r(220, '2.0.0', 'Ready to start TLS'));
    const plain = this.#socket;
    // Only our own data listener goes: the plain socket's 'close' still ends the session and
    // still releases the listener's connection slot (removing every 'close' listener leaked
    // one slot per STARTTLS session until the address was refused for good).
    plain.off('data', this.#onSocketData);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.#s.secureContext, minVersion: 'TLSv1.2' } as tls.TLSSocketOptions);
    this.#socket = secure;
    this.#tls = true;
    // RFC 3207 §4.2: the server MUST discard prior knowledge from the client (HELO, AUTH).
    this.#helo = null;
    this.#esmtp = false;
    this.#tx = null;
    this.#attach(secure);
    secure.on('secure', () => this.#log.debug({ protocol: secure.getProtocol(), cipher: secure.getCipher()?.name }, 'smtp.tls'));
  }

  #needHelo(): boolean {
    if (this.#helo) return false;
    this.#error(r(503, '5.5.1', 'Send EHLO first'));
    return true;
  }

  async #auth(mechanism: string, initial: string | undefined): Promise<void> {
    if (this.#s.mode !== 'submission') return this.#error(r(502, '5.5.1', 'AUTH not offered here; use the submission port'));
    if (this.#needHelo()) return;
    // RFC 3207 §4: 530 5.7.0 "Must issue a STARTTLS command first" (as Postfix answers, and
    // GW-CRY-1 expects); no mechanism is allowed in clear text, so it is not per mechanism (538).
    if (!this.#tls) return this.#error(r(530, '5.7.0', 'Must issue a STARTTLS command first'));
    if (this.#account) return this.#error(r(503, '5.5.1', 'Already authenticated'));
    if (this.#tx) return this.#error(r(503, '5.5.1', 'AUTH not allowed during a mail transaction'));
    const decode = (s: string): string | null => {
      if (s === '*') return null;
      if (s === '=') return '';
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
      return Buffer.from(s, 'base64').toString('utf8');
    };
    const cancelled = () => this.#error(r(501, '5.7.0', 'Authentication cancelled or malformed'));
    if (mechanism === 'PLAIN') {
      const finish = async (resp: string) => {
        const text = decode(resp.trim());
        if (text === null) return cancelled();
        const parts = text.split('\u0000');
        if (parts.length !== 3) return cancelled();
        const [authzid, authcid, passwd] = parts;
        // RFC 4616 §2: an authorization identity other than the login itself would mean
        // acting as someone else, which is not offered; it must fail, not be ignored.
        if (authzid !== '' && authzid.toLowerCase() !== authcid.toLowerCase()) {
          this.#log.info({ login: authcid.slice(0, 320) }, 'smtp.auth_authzid_refused');
          return this.#error(r(535, '5.7.8', 'Authentication credentials invalid'));
        }
        return this.#login(authcid, passwd);
      };
      if (initial !== undefined) return finish(initial);
      this.#authStep = finish;
      return this.#send(r(334, null, ''));
    }
    if (mechanism === 'LOGIN') {
      const askPassword = (user: string) => {
        this.#authStep = async (resp) => {
          const pw = decode(resp.trim());
          if (pw === null) return cancelled();
          return this.#login(user, pw);
        };
        this.#send(r(334, null, Buffer.from('Password:').toString('base64')));
      };
      if (initial !== undefined) {
        const user = decode(initial);
        if (user === null) return cancelled();
        return askPassword(user);
      }
      this.#authStep = async (resp) => {
        const user = decode(resp.trim());
        if (user === null) return cancelled();
        askPassword(user);
      };
      return this.#send(r(334, null, Buffer.from('Username:').toString('base64')));
    }
    return this.#error(r(504, '5.5.4', 'Unrecognized authentication type'));
  }

  async #login(login: string, password: string): Promise<void> {
    const res = await passwordLogin({ directory: this.#d.reception.directory, throttle: this.#d.throttle, audit: this.#d.audit }, login, password,
      { protocol: 'submission', remote: this.#remote, closed: () => this.#closed });
    if (this.#closed) return;
    if (!res.ok && res.reason === 'unavailable') {
      this.#log.warn({ err: res.error.message }, 'smtp.auth_unavailable');
      return this.#send(r(454, '4.7.0', 'Temporary authentication failure'));
    }
    if (!res.ok) {
      if (res.lockedNow) this.#log.info({ login: this.#addr(login.slice(0, 320)) }, 'smtp.auth_locked');
      return this.#error(r(535, '5.7.8', 'Authentication credentials invalid'));
    }
    this.#account = res.account;
    this.#unguard = this.#d.sessions?.add({
      accountId: res.account.id, since: Date.now(),
      end: (why) => { this.#log.info({ why }, 'smtp.revoked'); this.#send(r(421, '4.7.0', `Closing: ${why}`)); this.#close(); },
    }) ?? null;
    this.#log.info({ account: this.#addr(res.account.address) }, 'smtp.auth');
    this.#send(r(235, '2.7.0', 'Authentication successful'));
  }

  async #mail(from: string, params: MailParams): Promise<void> {
    if (this.#needHelo()) return;
    if (this.#tx) return this.#error(r(503, '5.5.1', 'Nested MAIL command'));
    if (this.#s.mode === 'mx' && this.#s.requireTls && !this.#tls) return this.#error(r(530, '5.7.0', 'Must issue a STARTTLS command first'));
    if (this.#s.mode === 'submission' && !this.#account) return this.#error(r(530, '5.7.0', 'Authentication required'));
    if (!this.#esmtp && Object.keys(params).length > 0) return this.#error(r(555, '5.5.4', 'MAIL parameters need EHLO'));
    if (params.size !== undefined && params.size > this.#s.maxMessageSize) {
      return this.#error(r(552, '5.3.4', `Message size exceeds fixed maximum message size of ${this.#s.maxMessageSize}`));
    }
    if (this.#account && from !== '') {
      let ok: boolean;
      try {
        ok = await this.#d.reception.maySendAs(this.#account, from);
      } catch (e) {
        // The directory could not answer: a temporary error, not a permanent 553.
        this.#log.warn({ err: (e as Error).message }, 'smtp.sender_check_failed');
        return this.#send(replyFor(e, 'mail'));
      }
      if (!ok) {
        this.#log.info({ account: this.#addr(this.#account.address), from: this.#addr(from.slice(0, 320)) }, 'smtp.sender_denied');
        return this.#error(replyFor(new DomainError('SENDER_DENIED'), 'mail'));
      }
    }
    if (this.#account && this.#d.sendRate?.check(this.#account.id, 0) === 'messages') return this.#rateLimited('messages');
    this.#tx = { from, params, recipients: [], external: [], accepted: [], localParams: new Map(), chunks: [], chunkSize: 0 };
    this.#send(r(250, '2.1.0', 'Ok'));
  }

  /** GW-DOS-6: a temporary refusal, and one alert per account and hour. */
  async #rateLimited(limit: 'messages' | 'recipients'): Promise<void> {
    const a = this.#account!;
    const usage = this.#d.sendRate!.usage(a.id);
    this.#log.info({ account: this.#addr(a.address), limit, usage }, 'smtp.rate_limited');
    if (this.#d.sendRate!.shouldAlert(a.id)) {
      this.#log.warn({ account: this.#addr(a.address), limit, usage }, 'alert.send_rate');
      await this.#d.audit({ event: 'rate.limit', actor: 'system:smtp', source: this.#remote, object: a.address, detail: { limit, usage } }).catch(() => {});
    }
    this.#send(r(451, '4.7.1', `Sending limit of ${limit} per hour reached; try again later`));
  }

  async #rcpt(to: string, params: RcptParams): Promise<void> {
    if (!this.#tx) return this.#error(r(503, '5.5.1', 'Need MAIL command first'));
    if (this.#tx.accepted.length >= this.#s.maxRecipients) return this.#send(r(452, '4.5.3', 'Too many recipients'));
    if (this.#account && this.#d.sendRate?.check(this.#account.id, this.#tx.accepted.length + 1) === 'recipients') return this.#rateLimited('recipients');
    try {
      // RFC 5321 §4.5.1: <Postmaster> without a domain must be accepted.
      const addr = to === 'postmaster' ? await this.#d.reception.postmasterAddress() : to;
      const check = await this.#d.reception.checkRecipient(addr, this.#tx.from, { authenticated: this.#account ?? undefined, remoteAddress: this.#remote });
      const notify = params.notify;
      const orcpt = params.orcpt ? `${params.orcpt.type};${params.orcpt.address}` : undefined;
      for (const x of check.external) {
        if (!this.#tx.external.some((e) => e.address === x)) this.#tx.external.push({ address: x, notify, orcpt });
      }
      for (const rc of check.recipients) this.#tx.localParams.set(rc.address, { notify, orcpt });
      this.#tx.recipients.push(...check.recipients);
      this.#tx.accepted.push(addr);
      this.#send(r(250, '2.1.5', 'Ok'));
    } catch (e) {
      const reply = replyFor(e, 'rcpt', this.#s.quotaPermanent);
      // Error texts name addresses: logged only where addresses may be (log.addresses = plain).
      const why = e instanceof DomainError ? e.code : 'error';
      this.#log.info({ rcpt: this.#addr(to.slice(0, 320)), code: reply.code, reason: why, ...(this.#s.privacy?.plain === false ? {} : { err: (e as Error).message }) }, 'smtp.rcpt_refused');
      if (reply.code >= 500) this.#error(reply);
      else this.#send(reply);
    }
  }

  #data(): void {
    if (!this.#tx) return this.#error(r(503, '5.5.1', 'Need MAIL command first'));
    if (this.#tx.accepted.length === 0) return this.#error(r(554, '5.5.1', 'No valid recipients'));
    // RFC 3030 §3: a BINARYMIME body goes with BDAT only; DATA after BDAT is out of sequence.
    if (this.#tx.params.body === 'BINARYMIME') return this.#error(r(503, '5.5.1', 'BINARYMIME requires BDAT'));
    if (this.#tx.chunks.length > 0 || this.#tx.chunkSize > 0) return this.#error(r(503, '5.5.1', 'DATA after BDAT'));
    this.#input.expectData(this.#s.maxMessageSize);
    this.#inData = true;
    this.#arm(this.#s.dataTimeoutMs);
    this.#send(r(354, null, 'End data with <CR><LF>.<CR><LF>'));
  }

  /** What the BDAT whose chunk is being read will answer, decided when the command came. */
  #bdatPending: { refuse: Reply | null; size: number; over: boolean } | null = null;

  /**
   * RFC 3030 CHUNKING: "BDAT n [LAST]" is followed by exactly n octets, whatever the reply,
   * so the chunk is read in every case (and dropped when refused or over the size limit);
   * the reply comes once the chunk is in. The data is length-delimited, so the bare CR/LF
   * rule of DATA does not apply (BINARYMIME bodies are arbitrary octets).
   */
  #bdat(size: number, last: boolean): void {
    const tx = this.#tx;
    let refuse: Reply | null = null;
    if (!tx) refuse = r(503, '5.5.1', 'Need MAIL command first');
    else if (tx.accepted.length === 0) refuse = r(554, '5.5.1', 'No valid recipients');
    if (refuse || !tx) {
      this.#input.expectBdat(size, last, 0);
      this.#bdatPending = { refuse, size, over: false };
      return;
    }
    tx.chunkSize += size;
    const over = tx.chunkSize > this.#s.maxMessageSize;
    this.#input.expectBdat(size, last, over ? 0 : size);
    this.#bdatPending = { refuse: null, size, over };
    this.#inData = true;
    this.#arm(this.#s.dataTimeoutMs);
  }

  async #bdatChunk(chunk: Buffer, last: boolean): Promise<void> {
    const p = this.#bdatPending;
    this.#bdatPending = null;
    this.#inData = false;
    this.#arm(this.#s.commandTimeoutMs);
    if (!p) return;
    if (p.refuse) return this.#error(p.refuse);
    const tx = this.#tx!;
    if (!p.over) tx.chunks.push(chunk);
    if (!last) return this.#send(r(250, '2.0.0', `${p.size} octets received`));
    const over = tx.chunkSize > this.#s.maxMessageSize; // any chunk, not only this one, may have gone over
    const body = over ? Buffer.alloc(0) : Buffer.concat(tx.chunks);
    tx.chunks = [];
    return this.#endOfData(body, tx.chunkSize, over);
  }

  async #endOfData(body: Buffer, size: number, oversize: boolean): Promise<void> {
    const tx = this.#tx;
    this.#tx = null;
    if (!tx) return this.#error(r(503, '5.5.1', 'No transaction'));
    if (oversize) {
      this.#log.info({ size, limit: this.#s.maxMessageSize }, 'smtp.message_too_big');
      this.#send(r(552, '5.3.4', `Message size exceeds fixed maximum message size of ${this.#s.maxMessageSize}`));
      // The sender learns it from the reply; the recipients from a short notice (S 4.357).
      if (this.#d.notices && tx.recipients.length > 0) await this.#d.notices.oversize(tx.recipients, tx.from, size, this.#s.maxMessageSize).catch(() => 0);
      return;
    }
    const id = crypto.randomBytes(8).toString('hex');
    const secure = this.#socket instanceof tls.TLSSocket ? this.#socket : null;
    try {
      const result = await this.#d.reception.accept({
        id,
        raw: body,
        from: tx.from,
        local: tx.recipients,
        external: tx.external,
        localParams: tx.localParams,
        envid: tx.params.envid,
        ret: tx.params.ret,
        smtputf8: tx.params.smtputf8,
        account: this.#account ?? undefined,
        receivedAt: Date.now(),
        withProtocol: `${this.#esmtp ? 'ESMTP' : 'SMTP'}${secure ? 'S' : ''}${this.#account ? 'A' : ''}`,
        source: {
          protocol: this.#s.mode === 'mx' ? 'smtp' : 'submission',
          remoteAddress: this.#remote,
          helo: this.#helo ?? undefined,
          tls: secure ? { protocol: secure.getProtocol() ?? 'TLS', cipher: secure.getCipher()?.name ?? '' } : undefined,
          authenticatedAs: this.#account?.address,
          revealClient: this.#s.mode === 'mx' || this.#s.revealClient,
        },
      });
      this.#log.info({ id, size, stored: result.stored, queued: result.queued }, 'smtp.accepted');
      if (this.#account) this.#d.sendRate?.record(this.#account.id, tx.accepted.length);
      this.#send(r(250, '2.0.0', `Ok: queued as ${id}`));
    } catch (e) {
      const reply = replyFor(e, 'data', this.#s.quotaPermanent);
      this.#log.info({ id, code: reply.code, err: (e as Error).message }, 'smtp.data_refused');
      this.#send(reply);
    }
  }
}
