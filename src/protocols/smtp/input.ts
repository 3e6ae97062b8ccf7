/**
 * The byte-level input of an SMTP session (pure: no sockets). The session pushes socket
 * chunks in and acts on the events that come out: command lines, the end of a DATA body, a
 * BDAT chunk, or an error. This is the module that makes SMTP smuggling impossible: it is
 * the one place that decides where a line, and where a message, ends.
 *
 * Invariants
 * - Only CRLF ends a line, in commands and in DATA alike (RFC 5321 §2.3.8: "Conforming
 *   implementations MUST NOT recognize or generate any other character or character sequence
 *   as a line terminator"). A bare LF or a bare CR anywhere is an 'error' event, and after it
 *   the input is dead: it produces nothing more, so no byte after an ambiguous line end can
 *   ever be read as a command or as a second message. This is stricter than RFC 5321 asks,
 *   like Postfix's smtpd_forbid_bare_newline: every smuggling variant (<LF>.<LF>,
 *   <CR>.<CR>, <LF>.<CR><LF>, ...) relies on some receiver reading a bare CR or LF as a line
 *   end, and a receiver that refuses them all cannot disagree with anyone.
 * - DATA ends at exactly <CRLF>.<CRLF>, where the first CRLF is the one that ended the last
 *   line or the DATA command itself (RFC 5321 §4.1.1.4).
 * - Chunk boundaries carry no meaning: the result is the same however the bytes are split.
 * - Work and memory are linear in the input: each byte is looked at a bounded number of times
 *   (Buffer.indexOf from the current position, never from the start), a body is kept as
 *   Buffer slices joined once at its end, and past the size limit nothing is kept at all.
 * - After a line naming DATA, BDAT or STARTTLS, push() stops and keeps the rest of the input
 *   buffered: those commands change how the following bytes are read, and only the session
 *   knows whether it accepted them. See push().
 *
 * Errors: 'bare-lf', 'bare-cr', 'nul' (in a command) and 'bad-utf8' (a command that is not
 * UTF-8) are fatal: the session answers 521 5.5.2 (or 500) and closes. 'line-too-long' is
 * the one error the input recovers from: the long line is discarded through its CRLF, the
 * event comes at that CRLF, and the next line is read normally, so a pipelining client's
 * replies stay in step (the session answers 500 5.5.6, RFC 4954 §4 / RFC 3463 §3.6, and may
 * go on or close).
 */

export type InputEvent =
  | { type: 'line'; line: string }
  | { type: 'data'; body: Buffer; size: number; oversize: boolean }
  | { type: 'bdat'; chunk: Buffer; last: boolean }
  | { type: 'error'; reason: 'bare-lf' | 'bare-cr' | 'line-too-long' | 'bad-utf8' | 'nul' };

type ErrorReason = Extract<InputEvent, { type: 'error' }>['reason'];

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);

// Reading modes.
const COMMAND = 0;
const DATA = 1;
const BDAT = 2;
const DEAD = 3;

// States inside DATA (RFC 5321 §4.5.2). LINE_START: just after CRLF (or after the 354);
// AFTER_DOT: a '.' at a line start, not yet known to be stuffing or the end; DOT_CR: ".<CR>"
// at a line start, which only <LF> may follow; IN_LINE: inside a line; AFTER_CR: a CR inside
// or ending a line, which only <LF> may follow.
const LINE_START = 0;
const AFTER_DOT = 1;
const DOT_CR = 2;
const IN_LINE = 3;
const AFTER_CR = 4;

// Verbs after which the input must wait for the session (see push()).
const BARRIER_VERBS = new Set(['DATA', 'BDAT', 'STARTTLS']);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Collects body bytes. Runs of at least DIRECT_MIN octets are kept as slices of the pushed
 * chunks (no copy); shorter runs, which dot-stuffed lines produce one per line, are copied
 * into a staging buffer, so that a body of "..\r\n" lines costs octets, not one Buffer
 * object per line. The body is joined with one Buffer.concat at the end.
 */
const DIRECT_MIN = 4096;
const STAGE_SIZE = 64 * 1024;

class BodyCollector {
  private parts: Buffer[] = [];
  private stage: Buffer | null = null;
  private staged = 0;
  length = 0;

  add(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.length += n;
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
    this.flushStage();
    const body = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    this.clear();
    return body;
  }

  clear(): void {
    this.parts = [];
    this.stage = null;
    this.staged = 0;
    this.length = 0;
  }
}

export class SmtpInput {
  private maxLine: number;
  private mode = COMMAND;
  /** Pushed bytes not yet read: queue[0] from offset on, then the rest. */
  private queue: Buffer[] = [];
  private offset = 0;
  private stopped = false;

  // COMMAND
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  private lineCR = false; // the last byte read was a CR ending the line content
  private skipping = false; // inside a line that is already too long

  // DATA and BDAT
  private dataState = LINE_START;
  private body = new BodyCollector();
  private bodySize = 0;
  private maxSize = 0;
  private oversize = false;
  private bdatRemaining = 0;
  private bdatLast = false;

  constructor(opts: { maxLine: number }) {
    this.maxLine = SmtpInput.checkMaxLine(opts.maxLine);
  }

  private static checkMaxLine(n: number): number {
    // RFC 5321 §4.5.3.1.4: a command line is at least 512 octets with its CRLF.
    if (!Number.isInteger(n) || n < 512) throw new RangeError(`maxLine must be an integer of at least 512, not ${n}`);
    return n;
  }

  /**
   * Changes the line limit, for instance to 12288 octets while a SASL exchange is running
   * (RFC 4954 §4: responses can be much longer than commands), and back after it.
   */
  setMaxLine(maxLine: number): void {
    this.maxLine = SmtpInput.checkMaxLine(maxLine);
  }

  /**
   * Reads a chunk and returns the events it completes, in order. Several lines may come out
   * of one chunk (PIPELINING, RFC 2920). The input takes the chunk over: do not modify it
   * afterwards (body slices may point into it).
   *
   * After a 'line' event whose verb is DATA, BDAT or STARTTLS, push() returns at once and keeps
   * the remaining bytes: the session must first act on that line (expectData() after its 354,
   * expectBdat() for an accepted BDAT, the TLS handshake or reset() for STARTTLS) and then call
   * push(Buffer.alloc(0)) to read on, repeating while events come out. Until then the input
   * holds: expectData(), expectBdat(), reset() or an empty push release it, and a non-empty
   * push meanwhile (a socket chunk arriving while the session still handles the line) only
   * queues its bytes, so they are never read in the wrong mode. pending() tells, right
   * after such a line, whether the client sent more without waiting for the reply: after
   * STARTTLS those bytes must be discarded (RFC 3207 §4.2, the CVE-2011-0411 injection), and
   * before the 354 they are improper pipelining (RFC 2920 §3.1: DATA ends a command group).
   * A BDAT chunk, in contrast, legitimately follows its command at once (RFC 3030 §4).
   */
  push(chunk: Buffer): InputEvent[] {
    const out: InputEvent[] = [];
    if (this.mode === DEAD) return out;
    if (chunk.length > 0) this.queue.push(chunk);
    else this.stopped = false; // an empty push is the session's "go on" after a barrier line
    for (;;) {
      if (this.mode === BDAT && this.bdatRemaining === 0) {
        this.finishBdat(out);
        continue;
      }
      if (this.stopped || this.mode === DEAD || this.queue.length === 0) break;
      const buf = this.queue[0];
      if (this.offset >= buf.length) {
        this.queue.shift();
        this.offset = 0;
        continue;
      }
      if (this.mode === COMMAND) this.offset = this.readCommand(buf, this.offset, out);
      else if (this.mode === DATA) this.offset = this.readData(buf, this.offset, out);
      else this.offset = this.readBdat(buf, this.offset);
    }
    if (this.mode === DEAD) this.dropAll();
    else if (this.queue.length > 0 && this.offset >= this.queue[0].length) {
      this.queue.shift();
      this.offset = 0;
    }
    return out;
  }

  /**
   * After the session replied 354 to DATA: the following bytes are message data up to
   * <CRLF>.<CRLF>. maxSize: octets of (unstuffed) body to keep; beyond that the body is read
   * and counted but not kept, and the 'data' event says oversize.
   */
  expectData(maxSize: number): void {
    if (this.mode === DEAD) return;
    if (this.mode !== COMMAND) throw new Error('expectData() outside command mode');
    this.mode = DATA;
    this.stopped = false;
    this.dataState = LINE_START;
    this.startBody(maxSize);
  }

  /**
   * RFC 3030 §2 (CHUNKING): the next `size` octets are raw data, with no line structure, no
   * dot-stuffing and no bare CR/LF rule (BINARYMIME bodies are arbitrary octets). When size
   * is larger than maxSize the octets are read and dropped, and the chunk in the 'bdat' event
   * is empty. Call this for every syntactically valid BDAT, even one the session refuses:
   * the chunk follows its command whatever the reply, and must not be read as commands.
   */
  expectBdat(size: number, last: boolean, maxSize: number): void {
    if (this.mode === DEAD) return;
    if (this.mode !== COMMAND) throw new Error('expectBdat() outside command mode');
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad BDAT size ${size}`);
    this.mode = BDAT;
    this.stopped = false;
    this.bdatRemaining = size;
    this.bdatLast = last;
    this.startBody(maxSize);
    this.oversize = size > maxSize;
  }

  /** Bytes are buffered that do not form an event yet. */
  pending(): boolean {
    if (this.mode === DEAD) return false;
    if (this.queue.length > 1 || (this.queue.length === 1 && this.offset < this.queue[0].length)) return true;
    if (this.mode === COMMAND) return this.lineLength > 0 || this.lineCR || this.skipping;
    if (this.mode === DATA) return this.bodySize > 0 || this.dataState !== LINE_START;
    return this.bodySize > 0;
  }

  /** Drops every buffered byte and returns to reading commands (after STARTTLS, RFC 3207 §4.2). */
  reset(): void {
    if (this.mode === DEAD) return;
    this.dropAll();
    this.mode = COMMAND;
    this.stopped = false;
  }

  // -------------------------------------------------------------------------------------

  private dropAll(): void {
    this.queue = [];
    this.offset = 0;
    this.lineParts = [];
    this.lineLength = 0;
    this.lineCR = false;
    this.skipping = false;
    this.body.clear();
    this.bodySize = 0;
    this.bdatRemaining = 0;
  }

  private fail(out: InputEvent[], reason: ErrorReason): number {
    out.push({ type: 'error', reason });
    this.mode = DEAD;
    return 0;
  }

  private startBody(maxSize: number): void {
    if (!Number.isFinite(maxSize) || maxSize < 0) throw new RangeError(`bad maxSize ${maxSize}`);
    this.body.clear();
    this.bodySize = 0;
    this.maxSize = maxSize;
    this.oversize = false;
  }

  /** Adds body octets buf[start, end): counted always, kept while within maxSize. */
  private addBody(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.bodySize += end - start;
    if (this.oversize) return;
    if (this.bodySize > this.maxSize) {
      // From here on nothing is kept: memory stays bounded whatever the client sends.
      this.oversize = true;
      this.body.clear();
      return;
    }
    this.body.add(buf, start, end);
  }

  // ---- commands -------------------------------------------------------------------------

  /** Reads command bytes from buf[i]; returns where it stopped. */
  private readCommand(buf: Buffer, i: number, out: InputEvent[]): number {
    const len = buf.length;
    // The next LF and NUL at or after i, found once and reused until passed, so a chunk with
    // many pipelined lines is scanned once, not once per line.
    let nextLF = -2;
    let nextNUL = -2;
    while (i < len) {
      if (this.lineCR) {
        // RFC 5321 §2.3.8: CR must be followed by LF.
        if (buf[i] !== LF) return this.fail(out, 'bare-cr');
        i++;
        this.lineCR = false;
        this.endLine(out);
        if (this.mode !== COMMAND || this.stopped) return i;
        continue;
      }
      const cr = buf.indexOf(CR, i);
      const end = cr === -1 ? len : cr;
      if (nextLF !== -1 && nextLF < i) nextLF = buf.indexOf(LF, i);
      if (nextNUL !== -1 && nextNUL < i) nextNUL = buf.indexOf(NUL, i);
      const lfHere = nextLF !== -1 && nextLF < end;
      const nulHere = nextNUL !== -1 && nextNUL < end;
      if (lfHere && (!nulHere || nextLF < nextNUL)) return this.fail(out, 'bare-lf');
      if (nulHere) return this.fail(out, 'nul');
      this.addLine(buf, i, end);
      if (cr === -1) return len;
      this.lineCR = true;
      i = cr + 1;
    }
    return i;
  }

  private addLine(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    if (this.skipping) return;
    const n = end - start;
    // maxLine counts the CRLF (RFC 5321 §4.5.3.1.4 counts it too).
    if (this.lineLength + n > this.maxLine - 2) {
      this.lineParts = [];
      this.lineLength = 0;
      this.skipping = true;
      return;
    }
    this.lineParts.push(buf.subarray(start, end));
    this.lineLength += n;
  }

  private endLine(out: InputEvent[]): void {
    if (this.skipping) {
      this.skipping = false;
      out.push({ type: 'error', reason: 'line-too-long' });
      return;
    }
    const bytes = this.lineParts.length === 1 ? this.lineParts[0] : Buffer.concat(this.lineParts, this.lineLength);
    this.lineParts = [];
    this.lineLength = 0;
    let line: string;
    try {
      line = utf8.decode(bytes);
    } catch {
      this.fail(out, 'bad-utf8');
      return;
    }
    out.push({ type: 'line', line });
    const sp = line.indexOf(' ');
    const word = sp === -1 ? line : line.slice(0, sp);
    // ASCII-tested before upper-casing, as in the parser ("ſ" upper-cases to "S").
    if (/^[A-Za-z]{4,8}$/.test(word) && BARRIER_VERBS.has(word.toUpperCase())) this.stopped = true;
  }

  // ---- DATA -----------------------------------------------------------------------------

  /** Reads DATA bytes from buf[i]; returns where it stopped (after the terminator, if found). */
  private readData(buf: Buffer, i: number, out: InputEvent[]): number {
    const len = buf.length;
    let runStart = i; // body octets buf[runStart, i) not yet added
    let state = this.dataState;
    while (i < len) {
      if (state === IN_LINE) {
        const cr = buf.indexOf(CR, i);
        const end = cr === -1 ? len : cr;
        // In a valid line the first LF is the one right after its CR, so this scan stops at
        // end + 1; it goes further only when the input is about to fail anyway.
        const lf = buf.indexOf(LF, i);
        if (lf !== -1 && lf < end) return this.fail(out, 'bare-lf');
        if (cr === -1) {
          i = len;
          break;
        }
        i = cr + 1;
        state = AFTER_CR;
        continue;
      }
      const b = buf[i];
      if (state === LINE_START) {
        if (b === DOT) {
          // RFC 5321 §4.5.2: "If the first character is a period and there are other
          // characters on the line, the first character is deleted." Either way the dot is
          // not body: stuffing, or the start of the terminator.
          this.addBody(buf, runStart, i);
          i++;
          runStart = i;
          state = AFTER_DOT;
        } else {
          state = IN_LINE;
        }
      } else if (state === AFTER_DOT) {
        if (b === CR) {
          i++;
          runStart = i; // the CR of ".<CR><LF>" is no body either
          state = DOT_CR;
        } else if (b === LF) {
          return this.fail(out, 'bare-lf'); // <CRLF>.<LF>
        } else {
          state = IN_LINE; // the dot was stuffing; b starts the line's content
        }
      } else if (state === DOT_CR) {
        if (b !== LF) return this.fail(out, 'bare-cr'); // <CRLF>.<CR>x
        i++;
        this.finishData(out);
        return i;
      } else {
        // AFTER_CR
        if (b !== LF) return this.fail(out, 'bare-cr');
        i++;
        state = LINE_START;
      }
    }
    this.addBody(buf, runStart, i);
    this.dataState = state;
    return i;
  }

  private finishData(out: InputEvent[]): void {
    const size = this.bodySize;
    const oversize = this.oversize;
    const body = oversize ? EMPTY : this.body.take();
    this.body.clear();
    this.bodySize = 0;
    this.mode = COMMAND;
    out.push({ type: 'data', body, size, oversize });
  }

  // ---- BDAT -----------------------------------------------------------------------------

  private readBdat(buf: Buffer, i: number): number {
    const n = Math.min(this.bdatRemaining, buf.length - i);
    if (this.oversize) this.bodySize += n;
    else this.addBody(buf, i, i + n);
    this.bdatRemaining -= n;
    return i + n;
  }

  private finishBdat(out: InputEvent[]): void {
    const chunk = this.oversize ? EMPTY : this.body.take();
    this.body.clear();
    this.bodySize = 0;
    this.mode = COMMAND;
    out.push({ type: 'bdat', chunk, last: this.bdatLast });
  }
}
