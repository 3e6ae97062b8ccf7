/**
 * The byte-level input of an IMAP session (pure: no sockets, no timers). The session pushes
 * socket chunks in and acts on the events that come out: one complete command with its
 * literals, a "+" to send for a synchronising literal, a line (in line mode: IDLE's DONE,
 * AUTHENTICATE responses), or a refusal of something over a limit. This module is the one
 * place that decides where an IMAP command ends; src/protocols/imap/parser.ts parses it.
 *
 * What a command is (RFC 9051 §2.2.1, §4.3): a line; when the line ends in a literal
 * announcement "{n}", "{n+}" (RFC 7888 LITERAL+/LITERAL-), "~{n}" or "~{n+}" (RFC 3516
 * literal8), n octets of literal follow the line end, and then the command goes on with more
 * line text, until a line end that is not preceded by an announcement. The 'command' event
 * carries every byte from the first byte of the tag through that final line end, literals
 * and their "{n}\r\n" headers inline, exactly as sent.
 *
 * Invariants
 * - A line ends at LF. A CR right before it belongs to the line end; a CR anywhere else is
 *   an ordinary byte (the parser rejects it). A bare LF is accepted as a line end: some
 *   clients send one, and unlike SMTP (see smtp/input.ts) IMAP has nothing to smuggle, since
 *   a command is only ever read by this server and every command is tagged and answered.
 *   So 'command' bytes end with "\r\n" or "\n", and a literal header is "{n}\r\n" or "{n}\n";
 *   the parser accepts both.
 * - In command mode an empty line (CRLF alone, no command begun) is skipped without an event:
 *   some clients send an extra CRLF after a command, and answering it would put a BAD out of
 *   step with nothing. In line mode an empty line is a 'line' event (an empty SASL response).
 * - Chunk boundaries carry no meaning: the events are the same however the bytes are split.
 * - Work and memory are linear in the input: each byte is looked at a bounded number of
 *   times (Buffer.indexOf from the current position, literal octets are counted, not
 *   scanned), a command is kept as slices of the pushed chunks (small pieces are copied into
 *   a staging buffer so that one-byte chunks do not make one Buffer each) and joined once at
 *   its end, and refused bytes are never kept at all.
 * - Every limit is checked before the bytes it concerns are kept: a literal is refused when
 *   it is announced, a line when it grows past maxLine, whatever has arrived of it.
 * - Line mode: a session that decides asynchronously when a line-mode exchange ends (after
 *   checking a SASL response, or when IDLE's DONE has been handled) should call hold() from
 *   the handler of each 'line' event and resume() once it has set the mode for what follows;
 *   otherwise a command the client pipelined right after DONE arrives as another 'line'.
 * - While held, push() queues without limit: the session bounds that by pausing the socket
 *   (pending() tells how much is waiting).
 * - push() never throws for any input. Events are delivered synchronously from push() or
 *   resume(); the state is consistent before each event, so the handler may call lineMode(),
 *   hold(), resume(), takeBuffered() and push() from inside it, and they take effect for the
 *   bytes right after that event. An exception thrown by the handler propagates to the caller
 *   of push()/resume() and leaves the input usable.
 *
 * Limits (InputLimits) and what happens when they are passed
 * - A synchronising literal over its limit: 'reject' (TOOBIG in APPEND, RFC 7889 §4; LIMIT
 *   elsewhere, RFC 5530 §3), fatal: false, and the command is over: the client, having had no
 *   "+", sends nothing of the literal (RFC 9051 §7.5) and goes on with its next command. The
 *   session answers the tag NO or BAD and must not send "+".
 * - A non-synchronising literal over its limit: its octets are read and dropped as they
 *   arrive, then the rest of the command (further lines, further literals) likewise through
 *   its final line end, and only then comes the 'reject' (fatal: false), so that the reply is
 *   in step with a pipelining client. More than 2^32 octets to drop is fatal.
 * - A line over maxLine is not fatal either: its bytes are dropped through its line end, and
 *   the command is then treated like one with a refused literal. This is safe because the
 *   end of the dropped line is still examined (the last TAIL_SIZE octets are kept): if it
 *   announces a synchronising literal the client waits for a "+" that never comes, so the
 *   command ends there; if it announces a non-synchronising one, the literal is dropped and
 *   the command followed to its real end. A line that goes on without a line end for more
 *   than max(maxCommand, maxLine) octets is fatal: no client sends that.
 * - maxCommand bounds all bytes of a non-APPEND command; for APPEND it bounds the line text
 *   outside the literals (the literals are bounded by maxAppend and maxAppendTotal), so that
 *   a MULTIAPPEND of many empty messages cannot grow without end either.
 *
 * Holds: after a 'command' whose verb (after the tag, and after "UID ") is STARTTLS,
 * COMPRESS, AUTHENTICATE or IDLE, the input stops framing (`held` is true before the event
 * is delivered) and keeps the following bytes until resume(), whatever the command's fate:
 * the session must call resume() after every such command, accepted or not. Meanwhile it may
 * switch to line mode, or take the buffered bytes (takeBuffered()): after STARTTLS they must
 * be dropped (RFC 9051 §6.2.1, the CVE-2011-0411 class of injection), after COMPRESS they
 * are compressed data to be inflated and pushed again (RFC 4978 §3).
 */

import { tagOf } from './parser.ts';

export interface InputLimits {
  /** Longest line outside literals, CRLF included (default 65536). */
  maxLine: number;
  /** Largest literal in commands other than APPEND (default 65536). */
  maxLiteral: number;
  /** Largest single literal in APPEND (the APPENDLIMIT, RFC 7889). */
  maxAppend: number;
  /** All literals of one APPEND (RFC 3502 MULTIAPPEND) together. */
  maxAppendTotal: number;
  /** All bytes of one non-APPEND command together (lines and literals; default 1 MiB). */
  maxCommand: number;
}

export type InputEvent =
  /** One complete command: first byte of the tag through the final line end, literals inline as sent. */
  | { type: 'command'; bytes: Buffer }
  /** Line mode only: one line without its line end, decoded as UTF-8 (invalid octets become U+FFFD). */
  | { type: 'line'; line: string }
  /** A synchronising literal was accepted: the session must send "+ ..." now. tag is '' when the command has no valid tag. */
  | { type: 'continue'; tag: string }
  /**
   * A line or literal over a limit. fatal: false: the offending command has been skipped
   * whole, and framing goes on with the next command. fatal: true: the session must answer
   * BYE and close; the input is dead and produces nothing more.
   */
  | { type: 'reject'; tag: string | null; code: 'TOOBIG' | 'LIMIT'; text: string; fatal: boolean };

type RejectCode = 'TOOBIG' | 'LIMIT';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const EMPTY = Buffer.alloc(0);

/** Octets of the start of a command's first line kept to learn its tag and verb. */
const HEAD_SIZE = 1024;
/** Octets of the end of a line kept to recognise a literal announcement across chunks. */
const TAIL_SIZE = 64;
/** More than this to drop for one command is fatal: a literal's length is a 32-bit number (RFC 9051 §9 number), no client needs more. */
const DISCARD_MAX = 2 ** 32;

/** Verbs after which the input holds (see the module comment). */
const HOLD_VERBS = new Set(['STARTTLS', 'COMPRESS', 'AUTHENTICATE', 'IDLE']);

/**
 * Collects the bytes of one command or line. Runs of at least DIRECT_MIN octets are kept as
 * slices of the pushed chunks (no copy); shorter runs are copied into a staging buffer, so a
 * client sending one byte per segment costs octets, not one Buffer object per byte. A
 * command that arrived in one piece is returned as that one slice, without any copy.
 */
const DIRECT_MIN = 4096;
const STAGE_SIZE = 16 * 1024;

class Collector {
  private parts: Buffer[] = [];
  private single: Buffer | null = null;
  private stage: Buffer | null = null;
  private staged = 0;
  length = 0;

  add(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    if (this.length === 0) {
      this.single = src.subarray(start, end);
      this.length = n;
      return;
    }
    if (this.single !== null) {
      const s = this.single;
      this.single = null;
      this.put(s, 0, s.length);
    }
    this.length += n;
    this.put(src, start, end);
  }

  private put(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n >= DIRECT_MIN) {
      this.flushStage();
      this.parts.push(src.subarray(start, end));
      return;
    }
    if (this.stage === null) this.stage = Buffer.allocUnsafe(STAGE_SIZE);
    if (this.staged + n > STAGE_SIZE) this.flushStage();
    src.copy(this.stage, this.staged, start, end);
    this.staged += n;
  }

  private flushStage(): void {
    if (this.stage === null || this.staged === 0) return;
    // Copied out at its exact length, so the staging buffer is reused and no allocation
    // outlives its content.
    this.parts.push(Buffer.from(this.stage.subarray(0, this.staged)));
    this.staged = 0;
  }

  take(): Buffer {
    if (this.single !== null) {
      const s = this.single;
      this.clear();
      return s;
    }
    this.flushStage();
    const out = this.parts.length === 0 ? EMPTY : this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    this.clear();
    return out;
  }

  clear(): void {
    this.parts = [];
    this.single = null;
    this.stage = null;
    this.staged = 0;
    this.length = 0;
  }
}

/** What the start of a command's first line says. */
interface HeadInfo {
  tag: string | null;
  /** The command is an APPEND: its literals are messages (maxAppend, maxAppendTotal). */
  append: boolean;
  /** The input holds after this command. */
  hold: boolean;
}

/** The word of `head` starting at i (up to SP, CR or the end), upper-cased if it is ASCII letters. */
function wordAt(head: Buffer, i: number, len: number): { word: string; end: number } {
  let j = i;
  while (j < len && head[j] !== SP && head[j] !== CR) j++;
  let word = '';
  // Only ASCII letters are upper-cased: "ſ" (U+017F) upper-cases to "S" in JavaScript.
  for (let k = i; k < j; k++) {
    const c = head[k];
    if (c >= 0x61 && c <= 0x7a) word += String.fromCharCode(c - 0x20);
    else if (c >= 0x41 && c <= 0x5a) word += String.fromCharCode(c);
    else return { word: '', end: j };
  }
  return { word, end: j };
}

function describeHead(head: Buffer, len: number, complete: boolean): HeadInfo {
  const sp = head.subarray(0, len).indexOf(SP);
  // Without a space in the kept head of a longer line, the tag is longer than HEAD_SIZE: unknown.
  const tag = sp === -1 && !complete ? null : tagOf(head.subarray(0, len));
  if (sp === -1) return { tag, append: false, hold: false };
  const verb = wordAt(head, sp + 1, len);
  let hold = HOLD_VERBS.has(verb.word);
  if (verb.word === 'UID' && verb.end < len && head[verb.end] === SP) hold = HOLD_VERBS.has(wordAt(head, verb.end + 1, len).word);
  return { tag, append: verb.word === 'APPEND', hold };
}

function octets(n: number): string {
  return Number.isSafeInteger(n) ? `${n} octets` : 'an absurd number of octets';
}

export class ImapInput {
  private readonly limits: InputLimits;
  private readonly onEvent: (e: InputEvent) => void;
  /** A line without end longer than this is fatal (see the module comment). */
  private readonly skipCap: number;

  /** Pushed bytes not yet read: queue[qHead] from off on, then the rest. */
  private queue: Buffer[] = [];
  private qHead = 0;
  private off = 0;

  private isHeld = false;
  private dead = false;
  private running = false;
  private lines = false;

  // The command (or, in line mode, the line) being read.
  private parts = new Collector();
  /** All bytes of the command so far, lines and literals. */
  private cmdLen = 0;
  /** Bytes of the current line so far, without its LF (a CR before the LF included). */
  private lineLen = 0;
  /** Lines of the command completed. */
  private lineNo = 0;
  /**
   * The first HEAD_SIZE octets of the command's first line, and the last TAIL_SIZE octets of
   * the current line before the segment being read. Allocated while a command is read and
   * dropped when it is complete: an idle session holds none (issue 4: 10,000 IDLE sessions).
   */
  private headBuf: Buffer | null = null;
  private headLen = 0;
  private tailBuf: Buffer | null = null;
  private tailLen = 0;
  private get head(): Buffer {
    return (this.headBuf ??= Buffer.allocUnsafe(HEAD_SIZE));
  }
  private get tail(): Buffer {
    return (this.tailBuf ??= Buffer.allocUnsafe(TAIL_SIZE));
  }
  /** Known once the first line has ended. */
  private info: HeadInfo | null = null;
  /** Octets of the current literal still to come. */
  private literalLeft = 0;
  /** APPEND: literal octets so far, and line octets so far. */
  private literalTotal = 0;
  private textTotal = 0;
  /** The command is being dropped, to be refused at its end. */
  private refusal: { code: RejectCode; text: string } | null = null;
  private discarded = 0;
  /** Line mode: the current line is over maxLine and being dropped. */
  private skipLine = false;

  constructor(limits: InputLimits, onEvent: (e: InputEvent) => void) {
    for (const key of ['maxLine', 'maxLiteral', 'maxAppend', 'maxAppendTotal', 'maxCommand'] as const) {
      const v = limits[key];
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${key} must be a positive integer, not ${v}`);
    }
    // A line must hold at least a tag, a short command and the CRLF.
    if (limits.maxLine < 16) throw new RangeError(`maxLine must be at least 16, not ${limits.maxLine}`);
    this.limits = { ...limits };
    this.onEvent = onEvent;
    this.skipCap = Math.max(limits.maxCommand, limits.maxLine);
  }

  /** True after a STARTTLS, COMPRESS, AUTHENTICATE or IDLE command (or hold()) until resume(). */
  get held(): boolean {
    return this.isHeld;
  }

  /**
   * Feeds bytes as they arrive. The input takes the chunk over: do not modify it afterwards
   * ('command' bytes may be slices of it). While held, the bytes are only queued.
   */
  push(chunk: Buffer): void {
    if (this.dead) return;
    if (chunk.length > 0) this.queue.push(chunk);
    this.run();
  }

  /**
   * In line mode every LF-terminated line is a 'line' event and literal announcements mean
   * nothing. Switch from inside the event handler or while held, so that no byte is read in
   * the wrong mode; bytes of a line begun in the old mode are read again in the new one.
   */
  lineMode(on: boolean): void {
    if (this.dead || this.lines === on) return;
    const partial = this.partialBytes();
    this.resetCommand();
    if (partial.length > 0) {
      if (this.qHead < this.queue.length) {
        this.queue[this.qHead] = this.queue[this.qHead].subarray(this.off);
        this.off = 0;
      }
      this.queue.splice(this.qHead, 0, partial);
    }
    this.lines = on;
  }

  /**
   * Stops framing after the current event, as after a hold verb, until resume(). For the
   * session to call from inside the handler, e.g. after an AUTHENTICATE response line while
   * it checks the credentials and does not yet know whether another response line follows.
   */
  hold(): void {
    if (!this.dead) this.isHeld = true;
  }

  /** Goes on framing after a hold; events come from inside this call. */
  resume(): void {
    if (this.dead) return;
    this.isHeld = false;
    this.run();
  }

  /** Bytes buffered but not yet framed: the queued input and the incomplete command or line. */
  pending(): number {
    if (this.dead) return 0;
    let n = this.refusal === null && !this.skipLine ? this.parts.length : 0;
    for (let i = this.qHead; i < this.queue.length; i++) n += this.queue[i].length - (i === this.qHead ? this.off : 0);
    return n;
  }

  /**
   * Removes and returns every byte not yet framed (an incomplete command's included) and
   * starts afresh at a command boundary. Meant for use while held: after STARTTLS (drop
   * them) and COMPRESS (inflate them and push the result).
   */
  takeBuffered(): Buffer {
    if (this.dead) return EMPTY;
    const list: Buffer[] = [];
    const partial = this.partialBytes();
    if (partial.length > 0) list.push(partial);
    for (let i = this.qHead; i < this.queue.length; i++) list.push(i === this.qHead ? this.queue[i].subarray(this.off) : this.queue[i]);
    this.resetCommand();
    this.queue = [];
    this.qHead = 0;
    this.off = 0;
    return list.length === 1 ? list[0] : Buffer.concat(list);
  }

  // -------------------------------------------------------------------------------------

  private emit(e: InputEvent): void {
    this.onEvent(e);
  }

  private run(): void {
    if (this.running) return; // a call from inside the handler: the outer loop goes on
    this.running = true;
    try {
      while (!this.isHeld && !this.dead && this.qHead < this.queue.length) {
        const buf = this.queue[this.qHead];
        if (this.off >= buf.length) {
          this.qHead++;
          this.off = 0;
          // Drop consumed chunks now and then, so that the queue array stays small.
          if (this.qHead >= 64 && this.qHead * 2 >= this.queue.length) {
            this.queue = this.queue.slice(this.qHead);
            this.qHead = 0;
          }
          continue;
        }
        // Each step reads bytes of buf and delivers at most one event, as its last action.
        if (this.lines) this.stepLine(buf);
        else this.stepCommand(buf);
      }
      if (this.qHead >= this.queue.length && !this.dead) {
        this.queue = [];
        this.qHead = 0;
        this.off = 0;
      }
    } finally {
      this.running = false;
    }
  }

  private partialBytes(): Buffer {
    return this.refusal === null && !this.skipLine ? this.parts.take() : EMPTY;
  }

  private resetCommand(): void {
    this.parts.clear();
    this.cmdLen = 0;
    this.lineLen = 0;
    this.lineNo = 0;
    this.headLen = 0;
    this.tailLen = 0;
    this.headBuf = null;
    this.tailBuf = null;
    this.info = null;
    this.literalLeft = 0;
    this.literalTotal = 0;
    this.textTotal = 0;
    this.refusal = null;
    this.discarded = 0;
    this.skipLine = false;
  }

  private fatal(text: string): void {
    const tag = this.info !== null ? this.info.tag : this.headLen > 0 ? describeHead(this.head, this.headLen, false).tag : null;
    this.dead = true;
    this.isHeld = false;
    this.resetCommand();
    this.queue = [];
    this.qHead = 0;
    this.off = 0;
    this.emit({ type: 'reject', tag, code: 'LIMIT', text, fatal: true });
  }

  /** From here on the command is dropped, and refused at its end. */
  private refuse(code: RejectCode, text: string): void {
    this.refusal = { code, text };
    this.parts.clear();
  }

  /** Keeps the last TAIL_SIZE octets of the line, buf[start, end) being its latest bytes. */
  private keepTail(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    if (n >= TAIL_SIZE) {
      buf.copy(this.tail, 0, end - TAIL_SIZE, end);
      this.tailLen = TAIL_SIZE;
      return;
    }
    const keep = Math.min(this.tailLen, TAIL_SIZE - n);
    if (keep < this.tailLen) this.tail.copyWithin(0, this.tailLen - keep, this.tailLen);
    buf.copy(this.tail, keep, start, end);
    this.tailLen = keep + n;
  }

  // ---- command mode ---------------------------------------------------------------------

  private stepCommand(buf: Buffer): void {
    if (this.literalLeft > 0) {
      // Literal octets are counted, never scanned (RFC 9051 §4.3: any octets).
      const n = Math.min(this.literalLeft, buf.length - this.off);
      if (this.refusal === null) this.parts.add(buf, this.off, this.off + n);
      else this.discarded += n;
      this.cmdLen += n;
      this.literalLeft -= n;
      this.off += n;
      return;
    }
    const start = this.off;
    const lf = buf.indexOf(LF, start);
    const end = lf === -1 ? buf.length : lf;
    const seg = end - start;
    const stored = lf === -1 ? seg : seg + 1;
    if (this.lineNo === 0 && this.headLen < HEAD_SIZE && seg > 0) {
      const n = Math.min(HEAD_SIZE - this.headLen, seg);
      buf.copy(this.head, this.headLen, start, start + n);
      this.headLen += n;
    }
    this.lineLen += seg;
    this.cmdLen += stored;
    if (this.info !== null && this.info.append) this.textTotal += stored;
    if (this.refusal === null) {
      // maxLine counts the line end; at least an LF is still to come.
      if (this.lineLen + 1 > this.limits.maxLine) this.refuse('LIMIT', `Line longer than ${this.limits.maxLine} octets`);
      else if (this.info !== null) this.checkSize();
    }
    if (this.refusal === null) {
      this.parts.add(buf, start, start + stored);
    } else {
      this.discarded += stored;
      if (this.lineLen > this.skipCap) return this.fatal(`Line longer than ${this.skipCap} octets`);
      if (this.discarded > DISCARD_MAX) return this.fatal('Command too long to skip');
    }
    if (lf === -1) {
      this.keepTail(buf, start, end);
      this.off = end;
      return;
    }
    this.off = lf + 1;
    this.endLine(buf, start, lf);
  }

  /** maxCommand (see the module comment); called once the verb is known. */
  private checkSize(): void {
    const info = this.info as HeadInfo;
    if (info.append ? this.textTotal > this.limits.maxCommand : this.cmdLen > this.limits.maxCommand) {
      this.refuse('LIMIT', `Command longer than ${this.limits.maxCommand} octets`);
    }
  }

  /**
   * The literal announced at the end of the line whose last segment is buf[segStart, lf),
   * earlier octets being in the tail: "{" 1*DIGIT ["+"] "}" with an optional "~" before it
   * (RFC 9051 §9 literal, RFC 7888 §8 literal-nonsync, RFC 3516 §6 literal8). n is Infinity
   * when the digits do not fit the tail or the number is absurd.
   */
  private announcement(buf: Buffer, segStart: number, lf: number): { n: number; sync: boolean } | null {
    const segLen = lf - segStart;
    const avail = segLen + this.tailLen;
    const tail = this.tail;
    const tailLen = this.tailLen;
    const at = (k: number): number => (k < segLen ? buf[lf - 1 - k] : tail[tailLen - 1 - (k - segLen)]);
    let k = 0;
    if (avail > 0 && at(0) === CR) k = 1;
    if (k >= avail || at(k) !== 0x7d /* } */) return null;
    k++;
    let sync = true;
    if (k < avail && at(k) === 0x2b /* + */) {
      sync = false;
      k++;
    }
    const digits = k;
    let n = 0;
    let scale = 1;
    while (k < avail) {
      const c = at(k);
      if (c < 0x30 || c > 0x39) break;
      // Leading zeros add nothing (and must not make 0 * Infinity).
      if (c !== 0x30) n += (c - 0x30) * scale;
      scale *= 10;
      k++;
    }
    if (k === digits) return null;
    if (k >= avail) {
      // The digits reach back past what is kept: a literal of absurd size, or no literal
      // at all if they reach the start of the line.
      return avail < this.lineLen ? { n: Infinity, sync } : null;
    }
    if (at(k) !== 0x7b /* { */) return null;
    if (!Number.isSafeInteger(n)) n = Infinity;
    return { n, sync };
  }

  private endLine(buf: Buffer, segStart: number, lf: number): void {
    const lit = this.announcement(buf, segStart, lf);
    if (this.lineNo === 0) {
      const lastIsCR = lf > segStart ? buf[lf - 1] === CR : this.tailLen > 0 && this.tail[this.tailLen - 1] === CR;
      if (this.refusal === null && (this.lineLen === 0 || (this.lineLen === 1 && lastIsCR))) {
        this.resetCommand(); // an empty line between commands: skipped (module comment)
        return;
      }
      this.info = describeHead(this.head, this.headLen, this.lineLen <= HEAD_SIZE);
      if (this.info.append) this.textTotal = this.cmdLen;
      if (this.refusal === null) this.checkSize();
    }
    this.lineNo++;
    this.lineLen = 0;
    this.tailLen = 0;
    if (lit === null) return this.finish();
    if (this.refusal === null) {
      const why = this.checkLiteral(lit.n);
      if (why === null) {
        if ((this.info as HeadInfo).append) this.literalTotal += lit.n;
        this.literalLeft = lit.n;
        // RFC 9051 §7.5: the client sends a synchronising literal only after "+".
        if (lit.sync) this.emit({ type: 'continue', tag: (this.info as HeadInfo).tag ?? '' });
        return;
      }
      this.refuse(why.code, why.text);
    }
    // A refused command: a synchronising literal is never sent (no "+"), so the command ends
    // here; a non-synchronising one is on its way and is dropped as it comes.
    if (lit.sync) return this.finish();
    if (!(this.discarded + lit.n <= DISCARD_MAX)) return this.fatal(`Literal of ${octets(lit.n)} is too large to skip`);
    this.literalLeft = lit.n;
  }

  private checkLiteral(n: number): { code: RejectCode; text: string } | null {
    const l = this.limits;
    if ((this.info as HeadInfo).append) {
      // RFC 7889 §4: a message over the APPENDLIMIT is refused with [TOOBIG].
      if (n > l.maxAppend) return { code: 'TOOBIG', text: `Message of ${octets(n)} is larger than the limit of ${l.maxAppend}` };
      if (this.literalTotal + n > l.maxAppendTotal) return { code: 'TOOBIG', text: `Messages larger than ${l.maxAppendTotal} octets together` };
      return null;
    }
    // RFC 5530 §3: [LIMIT] for a command the server will not handle for its size.
    if (n > l.maxLiteral) return { code: 'LIMIT', text: `Literal of ${octets(n)} is larger than the limit of ${l.maxLiteral}` };
    if (this.cmdLen + n > l.maxCommand) return { code: 'LIMIT', text: `Command longer than ${l.maxCommand} octets` };
    return null;
  }

  private finish(): void {
    const refusal = this.refusal;
    const info = this.info as HeadInfo;
    if (refusal !== null) {
      this.resetCommand();
      this.emit({ type: 'reject', tag: info.tag, code: refusal.code, text: refusal.text, fatal: false });
      return;
    }
    const bytes = this.parts.take();
    this.resetCommand();
    // Held before the event, so that the handler sees it (and may resume() at once).
    if (info.hold) this.isHeld = true;
    this.emit({ type: 'command', bytes });
  }

  // ---- line mode ------------------------------------------------------------------------

  private stepLine(buf: Buffer): void {
    const start = this.off;
    const lf = buf.indexOf(LF, start);
    const end = lf === -1 ? buf.length : lf;
    this.lineLen += end - start;
    if (!this.skipLine && this.lineLen + 1 > this.limits.maxLine) {
      this.skipLine = true;
      this.parts.clear();
    }
    if (this.skipLine) {
      if (this.lineLen > this.skipCap) return this.fatal(`Line longer than ${this.skipCap} octets`);
    } else {
      this.parts.add(buf, start, end);
    }
    if (lf === -1) {
      this.off = end;
      return;
    }
    this.off = lf + 1;
    if (this.skipLine) {
      this.resetCommand();
      this.emit({ type: 'reject', tag: null, code: 'LIMIT', text: `Line longer than ${this.limits.maxLine} octets`, fatal: false });
      return;
    }
    let bytes = this.parts.take();
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    this.resetCommand();
    this.emit({ type: 'line', line: bytes.toString('utf8') });
  }
}
