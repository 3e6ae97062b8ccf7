/**
 * One POP3 session (RFC 1939) on the account's INBOX, with CAPA and the response codes
 * (RFC 2449, RFC 3206), STLS (RFC 2595), AUTH PLAIN (RFC 5034) and PIPELINING: bytes in
 * through the framer (input.ts) and parser (parser.ts), one command at a time, replies out
 * in command order; messages out through wire.ts.
 *
 * States (RFC 1939 §3): AUTHORIZATION until a login succeeds and the maildrop is locked and
 * read (maildrop.ts); TRANSACTION; UPDATE only after QUIT in TRANSACTION.
 *
 * Invariants
 * - Commands run one at a time, in the order received, each answered once, in order.
 * - Nothing in the store changes before QUIT: DELE only marks. UPDATE removes the marked
 *   messages in one call (Messages.remove, one transaction, announced on the change bus so
 *   IMAP sessions see the expunge) and only then answers +OK; if the removal fails nothing
 *   was removed and the answer is -ERR. A connection that ends without QUIT (drop, timeout,
 *   shutdown, too many errors) removes nothing (RFC 1939 §6).
 * - Logins only over TLS unless auth.require_tls is off (GW-CRY-1); every failed login gets
 *   the same reply (GW-DOS-5), through security/login.ts (delay, lockout, audit).
 * - Core errors become replies in one place (replies.ts errFor). No input throws out of the
 *   session: an unexpected error is logged with its stack and answered -ERR [SYS/TEMP], and
 *   the session goes on — except in the middle of a multi-line response, where a reply can
 *   no longer be told apart from the data, so the connection is closed instead.
 * - Bounded: a command line is at most MAX_COMMAND octets, a SASL response MAX_SASL; lines
 *   queue up to MAX_QUEUED before reading pauses; a client that does not read its replies
 *   stops being read, and a message is written chunk by chunk, each after the previous one
 *   drained (GW-DOS-4).
 * - The log never sees a password or an AUTH payload: lines are logged by keyword only.
 */
import type { SessionGuard } from '../../core/sessions.ts';
import crypto from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { AccountInfo, Directory } from '../../core/directory/directory.ts';
import type { Mailboxes } from '../../core/mail/mailboxes.ts';
import { toRanges, type Messages } from '../../core/mail/messages.ts';
import { isDomainError } from '../../core/errors.ts';
import type { AuthThrottle } from '../../security/auth-throttle.ts';
import type { AuditEntry } from '../../security/audit.ts';
import { passwordLogin } from '../../security/login.ts';
import type { LogPrivacy } from '../../ops/log.ts';
import { Pop3Input, type InputEvent } from './input.ts';
import { Pop3SyntaxError, parseCommand, type Pop3Command, type Verb } from './parser.ts';
import { Maildrop, locksFor, type DropMessage, type MaildropLocks } from './maildrop.ts';
import { AUTH_FAILED, AUTH_UNAVAILABLE, IN_USE, INTERNAL, TLS_FIRST, capabilities, err, errFor } from './replies.ts';
import { lineChunks, messageChunks } from './wire.ts';

export interface Pop3Settings {
  hostname: string;
  /** Refuse USER/PASS/AUTH before TLS (auth.require_tls). */
  requireTls: boolean;
  /** RFC 1939 §3 autologout: at least 10 minutes by default (pop3.idle_timeout_seconds). */
  idleTimeoutMs: number;
  /** Bad commands before the session is closed (GW-DOS-4). */
  maxErrors: number;
  /** TLS context for STLS; undefined when there is no certificate. */
  secureContext?: tls.SecureContext;
  /** How addresses appear in logs (GW-LOG-3). */
  privacy?: LogPrivacy;
}

export interface Pop3Deps {
  directory: Directory;
  mailboxes: Mailboxes;
  messages: Messages;
  throttle: AuthThrottle;
  /** Writes one entry to the security audit trail. */
  audit: (entry: AuditEntry) => Promise<void>;
  log: Logger;
  /** The maildrop locks of this node; by default one table per Messages service (maildrop.ts). */
  locks?: MaildropLocks;
  /** Ends logged-in sessions whose account is disabled or given a new password (optional in tests). */
  sessions?: SessionGuard;
}

export type Pop3State = 'authorization' | 'transaction' | 'update';

/** RFC 2449 §4: a command is at most 255 octets with its CRLF; we accept 255 before the CRLF. */
export const MAX_COMMAND = 255;
/**
 * A SASL response line (RFC 5034 §4). A PLAIN response with a long address and password does
 * not fit into 255 octets, which is why a client sends it after "+ " instead of as an initial
 * response; 4 KiB holds any real one. It is also what the framer keeps of any line at most.
 */
export const MAX_SASL = 4096;
/** Octets without a line end after which the connection is cut. */
const FLOOD = 64 * 1024;
/** Lines waiting to be handled before reading pauses. */
const MAX_QUEUED = 32;

/** The states in which each command is allowed (RFC 1939 §4-§7, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4). */
const STATES: Record<Verb, readonly Pop3State[]> = {
  USER: ['authorization'],
  PASS: ['authorization'],
  AUTH: ['authorization'],
  STLS: ['authorization'],
  CAPA: ['authorization', 'transaction'],
  QUIT: ['authorization', 'transaction'],
  STAT: ['transaction'],
  LIST: ['transaction'],
  RETR: ['transaction'],
  DELE: ['transaction'],
  NOOP: ['transaction'],
  RSET: ['transaction'],
  TOP: ['transaction'],
  UIDL: ['transaction'],
};

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export class Pop3Session {
  readonly id = crypto.randomBytes(6).toString('hex');
  #socket: net.Socket | tls.TLSSocket;
  readonly #s: Pop3Settings;
  readonly #d: Pop3Deps;
  #log: Logger;
  readonly #input = new Pop3Input({ maxLine: MAX_SASL, flood: FLOOD });
  readonly #remote: string;
  readonly #locks: MaildropLocks;
  #tls: boolean;
  #state: Pop3State = 'authorization';
  #account: AccountInfo | null = null;
  #drop: Maildrop | null = null;
  /** The account whose maildrop lock this session holds. */
  #lockedId: number | null = null;
  #unguard: (() => void) | null = null;
  /** The name of a USER command, waiting for its PASS. */
  #user: string | null = null;
  /** An AUTH exchange waiting for the client's response line. */
  #sasl: ((line: string) => Promise<void>) | null = null;
  #errors = 0;
  #queue: InputEvent[] = [];
  #busy = false;
  #closed = false;
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  /** Waiting for the client to read what we wrote: its idleness, not our work (#arm). */
  #waitingForClient = false;
  /** Replies wait in the socket's buffer because the client does not read them (#send). */
  #writeBlocked = false;
  /** A multi-line response has begun: no -ERR can follow it any more. */
  #inResponse = false;
  // The session's own socket listeners, kept so that STLS removes exactly these and leaves
  // the listener's (connection accounting) in place.
  readonly #onSocketData = (chunk: Buffer) => this.#onData(chunk);
  readonly #onSocketError = (e: Error) => this.#log.debug({ err: e.message }, 'pop3.socket_error');
  readonly #onSocketClose = () => this.#close();

  constructor(socket: net.Socket | tls.TLSSocket, settings: Pop3Settings, deps: Pop3Deps) {
    this.#socket = socket;
    this.#s = settings;
    this.#d = deps;
    this.#remote = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    this.#tls = socket instanceof tls.TLSSocket;
    this.#locks = deps.locks ?? locksFor(deps.messages);
    this.#log = deps.log.child({ cid: this.id, proto: 'pop3', remote: this.#remote });
    this.#attach(socket);
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(): void {
    this.#log.debug({ tls: this.#tls }, 'pop3.connect');
    // RFC 1939 §4 greeting; no APOP timestamp, since APOP is not offered.
    this.#send(`+OK ${this.#s.hostname} POP3 server ready`);
    this.#arm();
  }

  /** Refuses a connection over a limit, before any session exists (GW-DOS-4). */
  static refuse(socket: net.Socket, why: string): void {
    socket.on('error', () => {});
    socket.end(`${err('SYS/TEMP', `${why}; try again later`)}\r\n`);
    // end() only half-closes: a client that never closes its side would keep the slot-less
    // connection open for good.
    socket.destroySoon();
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  /**
   * Server shutdown: an idle session is told now and closed; a busy one finishes its command
   * first (the listener cuts it when the grace period ends). Neither enters UPDATE.
   */
  shutdown(): void {
    if (this.#closed) return;
    this.#stopping = true;
    if (!this.#busy) this.#goodbye();
  }

  /** Hard close when the grace period is over. */
  destroy(): void {
    if (!this.#closed) this.#close();
    this.#socket.destroy();
  }

  #goodbye(): void {
    this.#log.info({ state: this.#state }, 'pop3.shutdown');
    this.#send(err('SYS/TEMP', `${this.#s.hostname} shutting down; try again later`));
    this.#close();
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', this.#onSocketData);
    socket.on('error', this.#onSocketError);
    socket.on('close', this.#onSocketClose);
  }

  /** The autologout timer (RFC 1939 §3), re-armed by every byte in and every drain out. */
  #arm(): void {
    clearTimeout(this.#timer);
    const ms = this.#s.idleTimeoutMs;
    this.#timer = setTimeout(() => {
      // It bounds the client's silence, not our work (a slow store, a throttled login); a
      // client that stops reading a long RETR is silent too.
      if (this.#busy && !this.#waitingForClient) return this.#arm();
      this.#log.info({ ms, state: this.#state }, 'pop3.timeout');
      if (this.#waitingForClient) {
        // Our output cannot drain: nothing more can be said, and end() would wait for it.
        this.#close();
        this.#socket.destroy();
        return;
      }
      // RFC 1939 §3: an autologout closes without entering UPDATE.
      this.#send(err(null, 'Autologout; idle for too long'));
      this.#close();
    }, ms);
    this.#timer.unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#arm();
    const events = this.#input.push(chunk);
    for (const e of events) this.#queue.push(e);
    // Bounded memory: a client that floods commands waits until they are answered.
    if (this.#queue.length > MAX_QUEUED) this.#socket.pause();
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (!this.#closed) {
        const ev = this.#queue.shift();
        if (!ev) break;
        await this.#handle(ev);
        if (this.#stopping && !this.#closed) this.#goodbye();
      }
    } catch (e) {
      // Not reached by design (#command catches); kept so that nothing escapes the session.
      this.#log.error({ err: e }, 'pop3.session_error');
      if (!this.#inResponse) this.#send(INTERNAL);
      this.#close();
    } finally {
      this.#busy = false;
      if (this.#stopping && !this.#closed) this.#goodbye();
      if (!this.#closed && !this.#writeBlocked && this.#queue.length === 0 && this.#socket.isPaused()) this.#socket.resume();
    }
  }

  // ---- output

  /** One response line (CRLF added). Reading pauses while the client does not read. */
  #send(line: string): void {
    if (this.#closed || this.#socket.destroyed) return;
    const socket = this.#socket;
    if (!socket.write(`${line}\r\n`) && !this.#writeBlocked) {
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

  /** Writes chunks, each after the previous one drained; false when the session ended meanwhile. */
  async #stream(chunks: Iterable<Buffer>): Promise<boolean> {
    for (const c of chunks) {
      if (this.#closed || this.#socket.destroyed) return false;
      if (!this.#socket.write(c)) await this.#drained();
    }
    return !this.#closed;
  }

  #drained(): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed) return Promise.resolve();
    this.#waitingForClient = true;
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        this.#waitingForClient = false;
        if (!this.#closed) this.#arm();
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  /** A multi-line response: the status line, the chunks, the terminator (in the chunks). */
  async #multiline(chunks: Iterable<Buffer>): Promise<boolean> {
    this.#inResponse = true;
    try {
      return await this.#stream(chunks);
    } finally {
      this.#inResponse = false;
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unguard?.();
    this.#unguard = null;
    clearTimeout(this.#timer);
    this.#queue = [];
    this.#sasl = null;
    if (this.#lockedId !== null) {
      this.#locks.release(this.#lockedId);
      this.#lockedId = null;
    }
    try {
      this.#socket.end();
    } catch { /* socket gone */ }
    this.#socket.destroySoon?.();
    setTimeout(() => this.#socket.destroy(), 2000).unref();
    this.#log.debug({ state: this.#state }, 'pop3.close');
  }

  /**
   * A client error: logged (user mistakes at debug; the reply never echoes what the client
   * sent), answered, counted; too many end the session (GW-DOS-4).
   */
  #error(reply: string, fields: Record<string, unknown> = {}): void {
    this.#log.debug({ ...fields, reply, errors: this.#errors + 1 }, 'pop3.bad_command');
    if (++this.#errors >= this.#s.maxErrors) {
      this.#log.info({ errors: this.#errors }, 'pop3.too_many_errors');
      this.#send(`${reply}; too many errors, closing connection`);
      this.#close();
      return;
    }
    this.#send(reply);
  }

  // ---- input

  async #handle(ev: InputEvent): Promise<void> {
    if (ev.type === 'flood') {
      this.#log.info('pop3.line_flood');
      this.#send(err(null, 'Line too long; closing connection'));
      this.#close();
      return;
    }
    const sasl = this.#sasl;
    this.#sasl = null;
    if (ev.type === 'too-long') {
      this.#log.info({ octets: ev.octets, sasl: !!sasl }, 'pop3.line_too_long');
      return this.#error(err(null, sasl ? 'Authentication response too long' : 'Line too long'));
    }
    if (sasl) return this.#guard('AUTH', () => sasl(ev.text));
    if (ev.octets === 0) {
      // An empty line is no command: some clients send an extra CRLF, and answering it would
      // put every later reply of a pipelining client out of step.
      this.#log.debug('pop3.empty_line');
      return;
    }
    if (ev.octets > MAX_COMMAND) {
      this.#log.info({ octets: ev.octets }, 'pop3.line_too_long');
      return this.#error(err(null, `Line too long (at most ${MAX_COMMAND} octets)`));
    }
    return this.#command(ev.text);
  }

  async #command(line: string): Promise<void> {
    let cmd: Pop3Command;
    try {
      cmd = parseCommand(line);
    } catch (e) {
      if (!(e instanceof Pop3SyntaxError)) throw e;
      // The keyword only, and only a known one: an unknown "command" may be a password.
      return this.#error(err(null, e.message), { command: e.verb ?? '(unknown)' });
    }
    if (cmd.verb !== 'PASS') this.#user = null;
    if (!STATES[cmd.verb].includes(this.#state)) {
      return this.#error(err(null, this.#state === 'authorization' ? `${cmd.verb} is allowed only after login` : `${cmd.verb} is not allowed after login`),
        { command: cmd.verb, state: this.#state });
    }
    this.#log.debug({ command: cmd.verb }, 'pop3.command');
    return this.#guard(cmd.verb, () => this.#run(cmd));
  }

  /** Runs a handler; a core error or a fault becomes the -ERR of errFor. */
  async #guard(verb: Verb, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      const out = errFor(e);
      if (out.fault) this.#log.error({ err: e, command: verb }, 'pop3.command_failed');
      else this.#log.info({ err: (e as Error).message, command: verb }, 'pop3.command_refused');
      if (this.#closed) return;
      if (this.#inResponse) {
        // Part of a multi-line response is out: the client would read an -ERR as data.
        this.#close();
        return;
      }
      this.#send(err(out.code, out.text));
    } finally {
      this.#inResponse = false;
    }
  }

  async #run(cmd: Pop3Command): Promise<void> {
    switch (cmd.verb) {
      case 'CAPA':
        await this.#multiline(lineChunks('+OK Capability list follows', this.#capabilities()));
        return;
      case 'QUIT':
        return this.#quit();
      case 'STLS':
        return this.#stls();
      case 'USER':
        return this.#userCommand(cmd.name);
      case 'PASS':
        return this.#pass(cmd.password);
      case 'AUTH':
        return this.#auth(cmd.mechanism, cmd.initial);
      case 'STAT':
        // RFC 1939 §5: "+OK nn mm", deleted messages not counted.
        return this.#send(`+OK ${this.#drop!.count} ${this.#drop!.size}`);
      case 'LIST':
        return this.#list(cmd.msg);
      case 'UIDL':
        return this.#uidl(cmd.msg);
      case 'RETR':
        return this.#retrieve(cmd.msg, undefined);
      case 'TOP':
        return this.#retrieve(cmd.msg, cmd.lines);
      case 'DELE':
        return this.#dele(cmd.msg);
      case 'NOOP':
        return this.#send('+OK');
      case 'RSET': {
        // RFC 1939 §5: messages marked deleted are unmarked.
        const drop = this.#drop!;
        drop.reset();
        return this.#send(`+OK Maildrop has ${drop.count} messages (${drop.size} octets)`);
      }
    }
  }

  #capabilities(): string[] {
    return capabilities({ tls: this.#tls, canStartTls: !!this.#s.secureContext, loginAllowed: this.#loginAllowed() });
  }

  // ---- AUTHORIZATION

  #loginAllowed(): boolean {
    return this.#tls || !this.#s.requireTls;
  }

  /** GW-CRY-1: no credentials before TLS (unless auth.require_tls is off). */
  #refuseBeforeTls(): boolean {
    if (this.#loginAllowed()) return false;
    this.#log.info('pop3.login_before_tls');
    this.#error(TLS_FIRST);
    return true;
  }

  /** RFC 2595 §4 STLS. */
  #stls(): void {
    if (this.#tls) return this.#error(err(null, 'TLS is active already'));
    if (!this.#s.secureContext) return this.#error(err(null, 'TLS is not available'));
    // RFC 2595 §4: the client must not send more before the handshake, and whatever it did
    // send is dropped, never read as commands (the CVE-2011-0411 class of injection).
    const pending = this.#input.pending();
    if (this.#queue.length > 0 || pending > 0) this.#log.info({ lines: this.#queue.length, octets: pending }, 'pop3.stls_pipelined_input_dropped');
    this.#queue = [];
    this.#input.reset();
    this.#user = null;
    this.#send('+OK Begin TLS negotiation');
    const plain = this.#socket;
    // Only our data listener goes; 'close' of the plain socket still ends the session and
    // releases the listener's connection slot.
    plain.off('data', this.#onSocketData);
    const secure = new tls.TLSSocket(plain as net.Socket, { isServer: true, secureContext: this.#s.secureContext, minVersion: 'TLSv1.2' } as tls.TLSSocketOptions);
    this.#socket = secure;
    this.#tls = true;
    this.#attach(secure);
    secure.on('secure', () => this.#log.debug({ protocol: secure.getProtocol(), cipher: secure.getCipher()?.name }, 'pop3.tls'));
  }

  /** RFC 1939 §7 USER. The reply never says whether the account exists. */
  #userCommand(name: string): void {
    if (this.#refuseBeforeTls()) return;
    this.#user = name;
    this.#send('+OK Send PASS');
  }

  /** RFC 1939 §7 PASS: right after a USER. */
  async #pass(password: string): Promise<void> {
    if (this.#refuseBeforeTls()) return;
    const user = this.#user;
    this.#user = null;
    if (user === null) return this.#error(err(null, 'Send USER first'));
    return this.#login(user, password);
  }

  /** RFC 5034 §4 AUTH, with PLAIN (RFC 4616) the one mechanism. */
  async #auth(mechanism: string | null, initial: string | null): Promise<void> {
    if (this.#refuseBeforeTls()) return;
    if (mechanism === null) {
      // "AUTH" alone: the mechanism listing of RFC 1734 that older clients still ask for.
      await this.#multiline(lineChunks('+OK SASL mechanisms follow', ['PLAIN']));
      return;
    }
    if (mechanism !== 'PLAIN') return this.#error(err(null, 'Unsupported authentication mechanism'));
    // RFC 5034 §4: "=" is an empty initial response.
    if (initial !== null) return this.#plain(initial === '=' ? '' : initial);
    this.#sasl = (line) => this.#plain(line);
    // RFC 5034 §4: a challenge is "+" SP base64; PLAIN's is empty.
    this.#send('+ ');
  }

  async #plain(response: string): Promise<void> {
    const r = response.trim();
    // RFC 5034 §4: "*" cancels the exchange, and the server rejects the AUTH with -ERR.
    if (r === '*') {
      this.#log.debug('pop3.auth_cancelled');
      return this.#send(err(null, 'Authentication cancelled'));
    }
    if (!BASE64.test(r) || r.length % 4 !== 0) return this.#error(err(null, 'Malformed authentication response'));
    const parts = Buffer.from(r, 'base64').toString('utf8').split('\u0000');
    if (parts.length !== 3) return this.#error(err(null, 'Malformed authentication response'));
    const [authzid, authcid, passwd] = parts;
    // RFC 4616 §2: acting as another identity is not offered, so such a request fails.
    if (authzid !== '' && authzid.toLowerCase() !== authcid.toLowerCase()) {
      this.#log.info('pop3.auth_authzid_refused');
      return this.#error(AUTH_FAILED);
    }
    return this.#login(authcid, passwd);
  }

  async #login(login: string, password: string): Promise<void> {
    const res = await passwordLogin({ directory: this.#d.directory, throttle: this.#d.throttle, audit: this.#d.audit }, login, password,
      { protocol: 'pop3', remote: this.#remote, closed: () => this.#closed });
    if (this.#closed) return;
    if (!res.ok && res.reason === 'unavailable') {
      // RFC 3206 §4: store trouble is ours, not the credentials'.
      this.#log.warn({ err: res.error.message }, 'pop3.auth_unavailable');
      return this.#send(AUTH_UNAVAILABLE);
    }
    if (!res.ok) {
      this.#log.info({ locked: res.lockedNow || undefined }, 'pop3.auth_failed');
      return this.#error(AUTH_FAILED);
    }
    return this.#openMaildrop(res.account);
  }

  /** RFC 1939 §4: lock and open the maildrop, then TRANSACTION. */
  async #openMaildrop(account: AccountInfo): Promise<void> {
    const who = this.#s.privacy ? this.#s.privacy.address(account.address) : account.address;
    if (!this.#locks.acquire(account.id)) {
      this.#log.info({ account: who }, 'pop3.maildrop_in_use');
      return this.#send(IN_USE);
    }
    this.#lockedId = account.id;
    let drop: Maildrop;
    try {
      drop = await Maildrop.open(this.#d.mailboxes, this.#d.messages, account);
    } catch (e) {
      // Back to AUTHORIZATION, unlocked; the client may try again.
      this.#locks.release(account.id);
      this.#lockedId = null;
      throw e;
    }
    if (this.#closed) return; // #close released the lock
    this.#account = account;
    this.#drop = drop;
    this.#state = 'transaction';
    // POP3 has no way to tell a client mid-session; the connection just ends (nothing is deleted without QUIT).
    this.#unguard = this.#d.sessions?.add({ accountId: account.id, since: Date.now(), end: (why) => { this.#log.info({ why }, 'pop3.revoked'); this.#close(); } }) ?? null;
    this.#log = this.#log.child({ account: who });
    this.#log.info({ messages: drop.count, octets: drop.size }, 'pop3.login');
    this.#send(`+OK Logged in; ${drop.count} messages (${drop.size} octets)`);
  }

  // ---- TRANSACTION

  /** Message n for a command that names one, or the -ERR sent (not counted: no bad command). */
  #message(n: number): DropMessage | null {
    const m = this.#drop!.get(n);
    if (typeof m === 'string') this.#log.debug({ msg: n, reason: m }, 'pop3.no_such_message');
    if (m === 'no-such') {
      this.#send(err(null, 'No such message'));
      return null;
    }
    if (m === 'deleted') {
      this.#send(err(null, `Message ${n} is deleted`));
      return null;
    }
    return m;
  }

  /** RFC 1939 §5 LIST: "n size" per message not deleted, or of one. */
  async #list(n: number | null): Promise<void> {
    const drop = this.#drop!;
    if (n !== null) {
      const m = this.#message(n);
      if (m) this.#send(`+OK ${n} ${m.size}`);
      return;
    }
    const lines = (function* () {
      for (const [i, m] of drop.live()) yield `${i} ${m.size}`;
    })();
    await this.#multiline(lineChunks(`+OK ${drop.count} messages (${drop.size} octets)`, lines));
  }

  /** RFC 1939 §7 UIDL: "n unique-id". */
  async #uidl(n: number | null): Promise<void> {
    const drop = this.#drop!;
    if (n !== null) {
      const m = this.#message(n);
      if (m) this.#send(`+OK ${n} ${drop.uniqueId(m)}`);
      return;
    }
    const lines = (function* () {
      for (const [i, m] of drop.live()) yield `${i} ${drop.uniqueId(m)}`;
    })();
    await this.#multiline(lineChunks('+OK Unique-ID listing follows', lines));
  }

  /** RFC 1939 §5 RETR (bodyLines undefined) and §7 TOP. */
  async #retrieve(n: number, bodyLines: number | undefined): Promise<void> {
    const m = this.#message(n);
    if (!m) return;
    const account = this.#account!;
    const drop = this.#drop!;
    // The snapshot may be out of date: IMAP (or a POP3 session on another node) may have
    // expunged the message since the login. Its body could still be readable for a while
    // (blobs are collected after a grace period), so ask for the row.
    const rows = await this.#d.messages.rows(account, drop.mailboxId, [[m.uid, m.uid]]);
    let raw: Buffer | null = null;
    if (rows.length === 1 && rows[0].id === m.id) {
      try {
        raw = await this.#d.messages.body(account, m.blobHash);
      } catch (e) {
        if (!isDomainError(e, 'NOT_FOUND')) throw e;
      }
    }
    if (this.#closed) return;
    if (raw === null) {
      this.#log.info({ msg: n }, 'pop3.message_gone');
      return this.#send(err(null, `Message ${n} was removed by another session`));
    }
    // The message is read once and written as slices of that one buffer (wire.ts).
    this.#send(bodyLines === undefined ? `+OK ${m.size} octets` : '+OK Top of message follows');
    const complete = await this.#multiline(messageChunks(raw, bodyLines));
    if (complete && bodyLines === undefined) m.retrieved = true;
    this.#log.debug({ msg: n, octets: raw.length, top: bodyLines, complete }, 'pop3.retrieve');
  }

  /** RFC 1939 §5 DELE: only a mark; the message goes at UPDATE. */
  #dele(n: number): void {
    const m = this.#message(n);
    if (!m) return;
    this.#drop!.delete(m);
    this.#send(`+OK Message ${n} deleted`);
  }

  /** RFC 1939 §4 QUIT in AUTHORIZATION, §6 QUIT in TRANSACTION (the UPDATE state). */
  async #quit(): Promise<void> {
    if (this.#state === 'authorization') {
      this.#send(`+OK ${this.#s.hostname} signing off`);
      return this.#close();
    }
    this.#state = 'update';
    const account = this.#account!;
    const drop = this.#drop!;
    const doomed = drop.deletedIds();
    if (doomed.length > 0) {
      try {
        await this.#d.messages.remove(account, drop.mailboxId, doomed);
      } catch (e) {
        // One transaction: nothing was removed. RFC 1939 §6: "-ERR some deleted messages not removed".
        const out = errFor(e);
        if (out.fault) this.#log.error({ err: e }, 'pop3.update_failed');
        else this.#log.warn({ err: (e as Error).message }, 'pop3.update_failed');
        this.#send(err(out.code, 'Deleted messages were not removed; nothing was changed, try again later'));
        return this.#close();
      }
    }
    const seen = drop.seenUids();
    if (seen.length > 0) {
      // What RETR sent counts as read, as an IMAP client would have marked it. Losing this
      // loses no mail, so a failure here does not turn the QUIT into an -ERR.
      try {
        await this.#d.messages.store(account, drop.mailboxId, toRanges(seen), 'add', ['\\Seen']);
      } catch (e) {
        this.#log.warn({ err: (e as Error).message }, 'pop3.seen_failed');
      }
    }
    this.#log.info({ deleted: doomed.length, seen: seen.length }, 'pop3.update');
    this.#send(`+OK ${this.#s.hostname} signing off (${drop.count} messages left)`);
    this.#close();
  }
}
