/**
 * One IMAP session (RFC 9051, serving IMAP4rev1 clients too): bytes in through the framer
 * (input.ts) and parser (parser.ts), one command at a time through the command table
 * (commands/*.ts), responses out through the writer, with STARTTLS, COMPRESS=DEFLATE, IDLE,
 * timeouts and error limits.
 *
 * Invariants:
 * - Commands run one at a time, in the order received; their tagged responses go out in that
 *   order. Untagged updates of the selected mailbox (other sessions, deliveries) are written
 *   before a command's tagged response, and only where RFC 9051 §7.5.1 allows them.
 * - Nothing is acknowledged (tagged OK) before core returned, i.e. before it is durable.
 * - A malformed command gets BAD with a reason; a core error maps to NO [CODE] in one place
 *   (outcomeFor); anything unexpected is logged with its stack and answered NO [SERVERBUG],
 *   and the session goes on. No input can throw out of the session.
 * - Backpressure both ways: reading pauses while many commands wait or the client does not
 *   read its responses; long responses (FETCH) wait for the socket to drain.
 * - Authentication only over TLS unless auth.require_tls is off (LOGINDISABLED before).
 */
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import type { Logger } from 'pino';
import { DomainError } from '../../core/errors.ts';
import type { AccountInfo } from '../../core/directory/directory.ts';
import { ImapInput, type InputEvent } from './input.ts';
import { parseCommand, tagOf } from './parser.ts';
import { ImapSyntaxError, type Command } from './types.ts';
import { renderParts, type Part } from './wire.ts';
import type { Outcome, ImapDeps, ImapSettings, ImapState, Session, CommandTable } from './context.ts';
import type { SelectedMailbox } from './selected.ts';
import { SeqError } from './selected.ts';
import { COMMANDS } from './commands/index.ts';
import { capabilities } from './capabilities.ts';

/** Commands after which expunges of other sessions may not be announced (RFC 9051 §7.5.1, §5.5). */
const NO_EXPUNGE = new Set(['FETCH', 'STORE', 'SEARCH', 'SORT', 'THREAD', 'COPY']);
/** Commands that look for changes even without a bus event. */
const FORCE_REFRESH = new Set(['NOOP', 'CHECK', 'IDLE']);
/** Most commands waiting (framed, not yet run) before reading pauses. */
const MAX_QUEUED = 64;
/** Output buffered in the socket before a response waits for it to drain. */
const HIGH_WATER = 1024 * 1024;
/** Octets a command's responses collect before they are written out (see #run). */
const OUTPUT_BATCH = 64 * 1024;
/** Input buffered while the framer is held before reading pauses. */
const MAX_HELD = 256 * 1024;

/** The one place where core errors become tagged responses (RFC 5530 codes, RFC 9208 OVERQUOTA). */
export function outcomeFor(e: unknown): Outcome & { fault?: boolean } {
  if (e instanceof SeqError) return { status: 'BAD', text: e.message };
  if (!(e instanceof DomainError)) return { status: 'NO', code: 'SERVERBUG', text: 'Internal error; try again later', fault: true };
  const d = e.detail ? e.detail.charAt(0).toUpperCase() + e.detail.slice(1) : '';
  switch (e.code) {
    case 'NOT_FOUND': return { status: 'NO', code: 'NONEXISTENT', text: d || 'No such mailbox' };
    case 'ALREADY_EXISTS': return { status: 'NO', code: 'ALREADYEXISTS', text: d || 'Mailbox exists already' };
    case 'HAS_CHILDREN': return { status: 'NO', code: 'HASCHILDREN', text: d || 'Mailbox has children' };
    case 'FORBIDDEN': return { status: 'NO', code: 'NOPERM', text: d || 'Permission denied' };
    case 'QUOTA_EXCEEDED': return { status: 'NO', code: 'OVERQUOTA', text: 'Quota exceeded' };
    case 'LIMIT_EXCEEDED': return { status: 'NO', code: /bytes exceeds/.test(e.detail) ? 'TOOBIG' : 'LIMIT', text: d || 'Limit exceeded' };
    case 'UNAVAILABLE': return { status: 'NO', code: 'UNAVAILABLE', text: 'Storage temporarily unavailable; try again later' };
    // RFC 5530 has no code for a full disk; OVERQUOTA (as Dovecot answers), with a text that says whose.
    case 'STORAGE_FULL': return { status: 'NO', code: 'OVERQUOTA', text: 'Not enough disk space on the server; try again later' };
    case 'CONFLICT': return { status: 'NO', code: 'INUSE', text: 'A concurrent change interfered; try again' };
    case 'INVALID_INPUT': return { status: 'NO', code: 'CANNOT', text: d || 'Not possible' };
    case 'AUTH_FAILED':
    case 'ACCOUNT_DISABLED': return { status: 'NO', code: 'AUTHENTICATIONFAILED', text: 'Authentication failed' };
    case 'LOOP_DETECTED': return { status: 'NO', code: 'CANNOT', text: 'Not possible' };
    default: return { status: 'NO', code: 'SERVERBUG', text: 'Internal error; try again later', fault: true };
  }
}

export class ImapSession implements Session {
  readonly id = crypto.randomBytes(6).toString('hex');
  readonly deps: ImapDeps;
  readonly settings: ImapSettings;
  readonly remote: string;
  /** Fields of the session's log lines; the child logger is made on first use (it costs memory per session). */
  #bindings: Record<string, string>;
  #log: Logger | null = null;
  state: ImapState = 'not-authenticated';
  user: AccountInfo | null = null;
  selected: SelectedMailbox | null = null;
  readonly enabled = new Set<string>();
  savedResult: number[] | null = null;
  idling = false;
  tag = '*';
  #socket: net.Socket | tls.TLSSocket;
  #tls: boolean;
  readonly #input: ImapInput;
  #queue: InputEvent[] = [];
  #busy = false;
  #closed = false;
  #stopping = false;
  #errors = 0;
  #timer: NodeJS.Timeout | undefined;
  #lineWaiter: ((line: string | null) => void) | null = null;
  #lines: string[] = [];
  /** Where responses go: the socket, or the deflate stream in front of it (COMPRESS). */
  #out: { write(b: Buffer): boolean; writableLength: number; once(ev: 'drain', fn: () => void): unknown } ;
  #deflate: zlib.DeflateRaw | null = null;
  #inflate: zlib.InflateRaw | null = null;
  #idleTag = '';
  #idleScheduled = false;
  #idleWork: Promise<void> = Promise.resolve();
  #slotAccount: number | null = null;
  #unguard: (() => void) | null = null;
  readonly #commands: CommandTable = COMMANDS;
  readonly #onSocketData = (chunk: Buffer) => this.#onData(chunk);
  readonly #onSocketError = (err: Error) => this.#debug({ err: err.message }, 'imap.socket_error');
  readonly #onSocketClose = () => this.#close();

  constructor(socket: net.Socket | tls.TLSSocket, settings: ImapSettings, deps: ImapDeps) {
    this.#socket = socket;
    this.#out = socket;
    this.settings = settings;
    this.deps = deps;
    this.remote = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    this.#tls = socket instanceof tls.TLSSocket;
    this.#bindings = { cid: this.id, proto: 'imap', remote: this.remote };
    this.#input = new ImapInput(settings.limits, (e) => this.#onEvent(e));
    this.#attach(socket);
  }

  get log(): Logger {
    return (this.#log ??= this.deps.log.child(this.#bindings));
  }
  /** Adds a field to every later log line of the session (the account, after login). */
  bind(key: string, value: string): void {
    this.#bindings = { ...this.#bindings, [key]: value };
    this.#log = null;
  }
  /** One log line with the session's fields, without keeping a child logger (the frequent info lines). */
  note(level: 'info' | 'warn' | 'debug', obj: Record<string, unknown>, msg: string): void {
    if (this.deps.log.isLevelEnabled(level)) this.deps.log[level]({ ...this.#bindings, ...obj }, msg);
  }
  #debug(obj: Record<string, unknown>, msg: string): void {
    if (this.deps.log.isLevelEnabled('debug')) this.log.debug(obj, msg);
  }

  get tls(): boolean {
    return this.#tls;
  }
  get utf8(): boolean {
    return this.enabled.has('UTF8=ACCEPT') || this.enabled.has('IMAP4REV2');
  }
  get rev2(): boolean {
    return this.enabled.has('IMAP4REV2');
  }
  get condstore(): boolean {
    return this.enabled.has('CONDSTORE') || this.enabled.has('QRESYNC');
  }
  get qresync(): boolean {
    return this.enabled.has('QRESYNC');
  }
  get closed(): boolean {
    return this.#closed;
  }
  get stopping(): boolean {
    return this.#stopping;
  }

  start(): void {
    this.#debug({}, 'imap.connect');
    void this.send(`* OK [CAPABILITY ${this.capabilities().join(' ')}] ${this.settings.hostname} Bulwark IMAP ready`);
    this.#arm();
  }

  /** Refuses a connection over a limit, before any session exists (RFC 9051 §7.1.5 BYE). */
  static refuse(socket: net.Socket, why: string): void {
    socket.on('error', () => {});
    socket.end(`* BYE [UNAVAILABLE] ${why}; try again later\r\n`);
    socket.destroySoon();
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  capabilities(): string[] {
    return capabilities({ state: this.state, tls: this.#tls, canStartTls: !!this.settings.secureContext, requireTls: this.settings.requireTls, compressed: !!this.#deflate, maxMessageSize: this.settings.maxMessageSize });
  }

  enable(cap: string): void {
    this.enabled.add(cap);
  }

  /** Server shutdown: an idle session gets BYE now, a busy one after its command. */
  shutdown(): void {
    if (this.#closed) return;
    this.#stopping = true;
    if (!this.#busy) this.#bye('Server shutting down');
  }

  destroy(): void {
    if (!this.#closed) this.#close();
    this.#socket.destroy();
  }

  closeSoon(): void {
    this.#close();
  }

  #bye(text: string, code = 'UNAVAILABLE'): void {
    void this.send(`* BYE [${code}] ${text}`);
    this.#close();
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', this.#onSocketData);
    socket.on('error', this.#onSocketError);
    socket.on('close', this.#onSocketClose);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    const ms = this.state === 'not-authenticated' ? this.settings.loginTimeoutMs : this.settings.idleTimeoutMs;
    this.#timer = setTimeout(() => {
      // The timeout bounds the client's silence, not our work (a slow command, a throttled login).
      if (this.#busy && !this.idling) return this.#arm();
      this.log.info({ ms }, 'imap.timeout');
      this.#bye('Autologout; idle for too long', 'UNAVAILABLE');
    }, ms);
    this.#timer.unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#arm();
    if (this.#inflate) this.#inflate.write(chunk);
    else this.#input.push(chunk);
    // Bytes wait in the framer while it is held (a slow login, STARTTLS): bounded.
    if (this.#input.held && this.#input.pending() > MAX_HELD) this.#socket.pause();
  }

  #onEvent(e: InputEvent): void {
    if (this.#closed) return;
    if (e.type === 'line') {
      // One line at a time: what follows it (DONE, then pipelined commands) waits in the
      // framer until the session has left line mode, so it is framed in the right mode.
      this.#input.hold();
      if (this.idling && !this.#lineWaiter) {
        void this.#endIdle(e.line);
        return;
      }
      if (this.#lineWaiter) {
        const w = this.#lineWaiter;
        this.#lineWaiter = null;
        w(e.line);
      } else {
        this.#lines.push(e.line);
      }
      return;
    }
    if (e.type === 'continue') {
      // RFC 9051 §7.5: the client waits for this before sending the literal.
      void this.send('+ Ready for literal data');
      return;
    }
    if (e.type === 'reject' && this.idling) void this.#endIdle(null);
    if (e.type === 'reject' && this.#lineWaiter) {
      // An oversized line in line mode ends the exchange that waits for it.
      const w = this.#lineWaiter;
      this.#lineWaiter = null;
      w(null);
    }
    this.#queue.push(e);
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
        if (this.#stopping && !this.#closed) this.#bye('Server shutting down');
      }
    } catch (e) {
      this.log.error({ err: e }, 'imap.session_error');
      this.#bye('Internal error', 'SERVERBUG');
    } finally {
      this.#busy = false;
      if (!this.#closed && this.#queue.length === 0 && this.#socket.isPaused() && this.#out.writableLength < HIGH_WATER) this.#socket.resume();
    }
  }

  async #handle(ev: InputEvent): Promise<void> {
    if (ev.type === 'reject') {
      this.log.info({ code: ev.code, fatal: ev.fatal }, 'imap.input_rejected');
      if (ev.fatal) return this.#bye(ev.text, ev.code === 'TOOBIG' ? 'TOOBIG' : 'LIMIT');
      if (ev.tag) await this.send(`${ev.tag} ${ev.code === 'TOOBIG' ? 'NO [TOOBIG]' : 'BAD [LIMIT]'} ${ev.text}`);
      else await this.send(`* BAD [LIMIT] ${ev.text}`);
      return this.#countError();
    }
    if (ev.type !== 'command') return;
    let cmd: Command;
    try {
      cmd = parseCommand(ev.bytes);
    } catch (e) {
      if (!(e instanceof ImapSyntaxError)) {
        this.log.error({ err: e }, 'imap.parser_fault');
      } else {
        this.#debug({ err: e.message }, 'imap.syntax_error');
      }
      const tag = e instanceof ImapSyntaxError ? e.tag : tagOf(ev.bytes);
      const text = e instanceof ImapSyntaxError ? e.message : 'Command not understood';
      // A held command (STARTTLS, COMPRESS, AUTHENTICATE, IDLE) that failed to parse must not stall input.
      this.resumeInput();
      await this.send(tag ? `${tag} BAD ${text}` : `* BAD ${text}`);
      return this.#countError();
    }
    await this.#run(cmd);
  }

  async #run(cmd: Command): Promise<void> {
    // A command's responses leave in as few writes as possible: corked until its tagged line
    // (send() uncorks every OUTPUT_BATCH octets), instead of one write per FETCH response.
    const sock = this.#socket;
    sock.cork();
    try {
      await this.#runCorked(cmd);
    } finally {
      // STARTTLS may have replaced the socket meanwhile: uncork the one that was corked.
      if (sock.writableCorked) sock.uncork();
    }
  }

  async #runCorked(cmd: Command): Promise<void> {
    const spec = this.#commands[cmd.name] as { states: readonly ImapState[]; run(s: Session, c: Command): Promise<Outcome> } | undefined;
    let out: Outcome & { fault?: boolean };
    const started = Date.now();
    this.tag = cmd.tag;
    if (!spec) {
      out = { status: 'BAD', text: `${cmd.name} is not supported` };
      this.resumeInput();
    } else if (!spec.states.includes(this.state)) {
      out = { status: 'BAD', text: `${cmd.name} is not allowed ${this.state === 'not-authenticated' ? 'before login' : this.state === 'authenticated' ? 'without a selected mailbox' : 'now'}` };
      this.resumeInput();
    } else {
      try {
        out = await spec.run(this, cmd);
      } catch (e) {
        out = outcomeFor(e);
        if (out.fault) this.log.error({ err: e, command: cmd.name }, 'imap.command_failed');
        else this.#debug({ err: (e as Error).message, command: cmd.name }, 'imap.command_refused');
        this.resumeInput();
      }
    }
    if (this.#closed) return;
    if (out.sent) return;
    // Updates of the selected mailbox go before the tagged response (RFC 9051 §7).
    if (this.selected && out.status !== 'BAD' && cmd.name !== 'LOGOUT') {
      const uidCmd = 'uid' in cmd && cmd.uid === true;
      try {
        await this.refresh({ allowExpunge: uidCmd || !NO_EXPUNGE.has(cmd.name), force: FORCE_REFRESH.has(cmd.name) });
      } catch (e) {
        this.#mailboxGone(e);
      }
    }
    if (this.#closed) return;
    await this.send(`${cmd.tag} ${out.status}${out.code ? ` [${out.code}]` : ''} ${out.text}`);
    this.#flush();
    this.#debug({ command: cmd.name, status: out.status, ms: Date.now() - started }, 'imap.command');
    if (out.status === 'BAD') this.#countError();
    if (cmd.name === 'LOGOUT') this.#close();
  }

  /** The selected mailbox vanished under the session (deleted elsewhere): RFC 9051 allows BYE. */
  #mailboxGone(e: unknown): void {
    if (e instanceof DomainError && e.code === 'NOT_FOUND') {
      this.log.info('imap.selected_mailbox_deleted');
      this.#bye('The selected mailbox was deleted', 'NONEXISTENT');
      return;
    }
    // Temporary trouble: the updates come with the next command.
    this.log.warn({ err: (e as Error).message }, 'imap.refresh_failed');
  }

  #countError(): void {
    if (++this.#errors >= this.settings.maxErrors) {
      this.log.info({ errors: this.#errors }, 'imap.too_many_errors');
      this.#bye('Too many errors', 'LIMIT');
    }
  }

  async refresh(opts: { allowExpunge: boolean; force?: boolean }): Promise<void> {
    if (this.selected) await this.selected.refresh(this, opts);
  }

  watch(ownerId: number): () => void {
    return this.deps.bus.on(ownerId, (ev) => {
      const sel = this.selected;
      if (!sel || sel.box.owner.id !== ownerId) return;
      if (ev.mailboxIds && !ev.mailboxIds.includes(sel.box.info.id)) return;
      sel.dirty = true;
      this.#idleRefresh();
    });
  }

  deselect(): void {
    if (!this.selected) return;
    this.selected.unwatch();
    this.selected = null;
    this.savedResult = null;
    if (this.state === 'selected') this.state = 'authenticated';
  }

  /**
   * RFC 2177 IDLE, without a suspended command: the session answers "+ idling", and from then
   * on bus events schedule refreshes and the client's next line ends it. Nothing waits in an
   * async chain meanwhile, which keeps an idle session small (issue 4 point 7: 10,000 of them).
   */
  async startIdle(): Promise<void> {
    this.#idleTag = this.tag;
    this.idling = true;
    this.lineMode(true);
    await this.send('+ idling');
    this.#flush();
    // Announce what is pending, then sleep until the bus says the mailbox changed.
    this.#idleRefresh(true);
    this.resumeInput();
  }

  #idleRefresh(force = false): void {
    if (!this.idling || this.#closed) return;
    if (this.#idleScheduled) return;
    this.#idleScheduled = true;
    this.#idleWork = this.#idleWork.then(async () => {
      this.#idleScheduled = false;
      if (!this.idling || this.#closed) return;
      try {
        await this.refresh({ allowExpunge: true, force });
      } catch (e) {
        this.#mailboxGone(e);
      }
      this.#flush();
    });
  }

  async #endIdle(line: string | null): Promise<void> {
    if (!this.idling) return;
    this.idling = false;
    this.lineMode(false);
    await this.#idleWork;
    if (this.#closed) return;
    const done = line !== null && line.trim().toUpperCase() === 'DONE';
    await this.send(`${this.#idleTag} ${done ? 'OK IDLE terminated' : 'BAD Expected DONE'}`);
    this.#flush();
    if (!done) this.#countError();
    this.resumeInput();
  }

  // ---- output

  send(line: string | readonly Part[]): Promise<void> {
    if (this.#closed || this.#socket.destroyed) return Promise.resolve();
    const buf = typeof line === 'string' ? Buffer.from(line + '\r\n', 'utf8') : Buffer.concat([renderParts(line), CRLF]);
    this.#out.write(buf);
    // A continuation ("+": AUTHENTICATE, literals, IDLE) is what the client waits for: out at once.
    if (this.#socket.writableCorked && (this.#socket.writableLength >= OUTPUT_BATCH || buf[0] === 0x2b /* + */)) {
      this.#socket.uncork();
      this.#socket.cork();
    }
    // Under COMPRESS a command's responses are flushed with its tagged line; anything the client
    // waits for before that must be flushed at once: a continuation ("+", RFC 9051 §7.5: IDLE,
    // literals) and the untagged updates sent during IDLE (RFC 2177). Found by imapflow, whose
    // IDLE hung: "+ idling" stayed in the deflate buffer.
    if (this.#deflate && (!this.#busy || this.idling || buf[0] === 0x2b /* + */)) this.#flush();
    if (this.#out.writableLength + this.#socket.writableLength < HIGH_WATER) return Promise.resolve();
    // The client does not read: stop reading its commands, and let the response wait.
    this.#socket.pause();
    return new Promise<void>((res) => {
      // Under COMPRESS the bytes may wait in the deflate stream, not the socket: a client that
      // reads fast never fills the socket, which then never emits 'drain' (imapflow's FETCH of a
      // 3 MB body hung here). Wait for whichever stream has bytes it must drain; the next send
      // checks again.
      const target = this.#deflate && !this.#socket.writableNeedDrain ? this.#deflate : this.#socket;
      const done = () => {
        clearInterval(poll);
        res();
      };
      // 'drain' of the socket, or the session's end: whichever comes first.
      target.once('drain', done);
      const poll = setInterval(() => { if (this.#closed) done(); }, 1000);
      poll.unref();
    });
  }

  #flush(): void {
    this.#deflate?.flush(zlib.constants.Z_SYNC_FLUSH);
  }

  // ---- input modes

  readLine(): Promise<string | null> {
    if (this.#closed) return Promise.resolve(null);
    this.resumeInput();
    const l = this.#lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((res) => (this.#lineWaiter = res));
  }

  lineMode(on: boolean): void {
    this.#input.lineMode(on);
  }

  resumeInput(): void {
    if (this.#input.held) this.#input.resume();
    if (!this.#closed && this.#socket.isPaused() && this.#queue.length <= MAX_QUEUED && this.#out.writableLength < HIGH_WATER) this.#socket.resume();
  }

  /** RFC 9051 §6.2.1 STARTTLS: bytes sent after the command, before the handshake, are discarded. */
  async startTls(): Promise<void> {
    const dropped = this.#input.takeBuffered();
    if (dropped.length > 0) this.log.info({ bytes: dropped.length }, 'imap.starttls_pipelined_input_dropped');
    const plain = this.#socket;
    // The tagged OK must be on the wire, in clear, before the first TLS byte (#run corks).
    while (plain.writableCorked) plain.uncork();
    plain.off('data', this.#onSocketData);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.settings.secureContext, minVersion: 'TLSv1.2' } as tls.TLSSocketOptions);
    this.#socket = secure;
    this.#out = secure;
    this.#tls = true;
    this.#attach(secure);
    secure.on('secure', () => this.log.debug({ protocol: secure.getProtocol(), cipher: secure.getCipher()?.name }, 'imap.tls'));
    this.#input.resume();
  }

  /** RFC 4978 COMPRESS=DEFLATE: from the next octet on, both directions are raw DEFLATE. */
  startCompression(): void {
    const deflate = zlib.createDeflateRaw({ level: 6, windowBits: 15 });
    const inflate = zlib.createInflateRaw({ windowBits: 15 });
    // Bounded expansion: a compression bomb stops at the framer's limits like any input.
    // Writes go on after the session closed: the last flush (LOGOUT's BYE and OK, a BYE) comes
    // out of zlib only then. The socket ends once the deflate stream has ended (#close).
    deflate.on('data', (d: Buffer) => { if (this.#socket.writable) this.#socket.write(d); });
    deflate.on('error', (e) => { this.log.warn({ err: e.message }, 'imap.deflate_error'); this.#close(); });
    inflate.on('data', (d: Buffer) => { if (!this.#closed) this.#input.push(d); });
    inflate.on('error', (e) => { this.log.info({ err: e.message }, 'imap.inflate_error'); this.#close(); });
    const pending = this.#input.takeBuffered();
    this.#deflate = deflate;
    this.#inflate = inflate;
    this.#out = deflate;
    this.#input.resume();
    if (pending.length > 0) inflate.write(pending);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#queue = [];
    this.deselect();
    if (this.#slotAccount !== null) {
      this.deps.accountSessions.release(this.#slotAccount);
      this.#slotAccount = null;
    }
    this.#unguard?.();
    this.#unguard = null;
    const w = this.#lineWaiter;
    this.#lineWaiter = null;
    w?.(null);
    try {
      if (this.#deflate) {
        // Under COMPRESS the final responses are still in zlib: end the socket only after the
        // deflate stream has written them (found by mbsync: "unexpected EOF" after LOGOUT).
        this.#deflate.once('end', () => this.#socket.destroySoon?.());
        this.#deflate.end();
      } else {
        this.#socket.end();
        this.#socket.destroySoon?.();
      }
    } catch { /* socket gone */ }
    setTimeout(() => this.#socket.destroy(), 2000).unref();
    this.#debug({}, 'imap.close');
  }

  /** Takes a per-account session slot at login (GW-DOS-4); false when the account has too many. */
  takeAccountSlot(accountId: number): boolean {
    if (!this.deps.accountSessions.acquire(accountId)) return false;
    this.#slotAccount = accountId;
    // From now on the session lasts only while the account may be used (core/sessions.ts).
    this.#unguard = this.deps.sessions?.add({
      accountId, since: Date.now(),
      end: (why) => { this.#debug({ why }, 'imap.revoked'); this.#bye(`Logged out: ${why}`, 'ALERT'); },
    }) ?? null;
    return true;
  }

  /** After login: the idle timeout replaces the login timeout. */
  rearm(): void {
    this.#arm();
  }
}

const CRLF = Buffer.from('\r\n');
