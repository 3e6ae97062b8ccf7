/**
 * The byte-level input of a POP3 session (pure: no sockets, no timers): frames what a client
 * sends into lines. The session pushes socket chunks in and acts on the events that come out.
 *
 * Invariants
 * - A line ends at LF; one CR right before it belongs to the line end. A bare LF is accepted
 *   as a line end (as in imap/input.ts): POP3 has no client data phase, so there is nothing
 *   to smuggle past another server, and every command is one line with one reply.
 * - At most maxLine octets of a line (line end excluded) are kept. The bytes of a longer line
 *   are dropped as they arrive and the line is reported as 'too-long' when its LF comes, so a
 *   pipelining client's replies stay in step. A line that goes on for more than `flood`
 *   octets without an LF is 'flood', after which the input is dead (it produces nothing
 *   more): no client sends that, and reading on would only cost us.
 * - Chunk boundaries carry no meaning: the events are the same however the bytes are split.
 * - Work and memory are linear in the input: each byte is looked at a bounded number of times
 *   (Buffer.indexOf from the current position), and the kept part of a line is copied out of
 *   the chunk, so a short partial line never keeps a large chunk alive.
 * - push() never throws.
 */

export type InputEvent =
  /** A complete line without its line end; `octets` is its length in bytes (RFC 2449 §4 counts octets). */
  | { type: 'line'; text: string; octets: number }
  /** A line longer than maxLine ended; its bytes were dropped. */
  | { type: 'too-long'; octets: number }
  /** More than `flood` octets without a line end: the input is dead. */
  | { type: 'flood' };

const LF = 0x0a;
const CR = 0x0d;

export class Pop3Input {
  readonly #maxLine: number;
  readonly #flood: number;
  #parts: Buffer[] = [];
  #kept = 0;
  /** Octets of the current line when it is being dropped (over maxLine), else -1. */
  #dropped = -1;
  /** The last octet of the current line so far is a CR (the line end's, if an LF follows). */
  #lastCR = false;
  #dead = false;

  constructor(opts: { maxLine: number; flood: number }) {
    this.#maxLine = opts.maxLine;
    this.#flood = Math.max(opts.flood, opts.maxLine + 2);
  }

  get dead(): boolean {
    return this.#dead;
  }

  push(chunk: Buffer): InputEvent[] {
    const out: InputEvent[] = [];
    if (this.#dead) return out;
    let pos = 0;
    while (pos < chunk.length) {
      const lf = chunk.indexOf(LF, pos);
      const end = lf === -1 ? chunk.length : lf;
      const n = end - pos;
      if (n > 0) this.#lastCR = chunk[end - 1] === CR;
      if (this.#dropped >= 0) {
        this.#dropped += n;
      } else if (this.#kept + n > this.#maxLine + 1) {
        // +1: the last kept octet may be the CR of the line end, known only when the LF comes.
        this.#dropped = this.#kept + n;
        this.#parts = [];
        this.#kept = 0;
      } else if (n > 0) {
        this.#parts.push(Buffer.from(chunk.subarray(pos, end)));
        this.#kept += n;
      }
      if (this.#dropped > this.#flood) {
        this.#dead = true;
        this.#parts = [];
        out.push({ type: 'flood' });
        return out;
      }
      if (lf === -1) break;
      pos = lf + 1;
      out.push(this.#endLine());
    }
    return out;
  }

  #endLine(): InputEvent {
    if (this.#dropped >= 0) {
      const octets = this.#dropped - (this.#lastCR ? 1 : 0);
      this.#dropped = -1;
      this.#lastCR = false;
      return { type: 'too-long', octets };
    }
    let line = this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts, this.#kept);
    this.#parts = [];
    this.#kept = 0;
    this.#lastCR = false;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.#maxLine) return { type: 'too-long', octets: line.length };
    return { type: 'line', text: line.toString('utf8'), octets: line.length };
  }

  /** Octets of a line begun and not ended yet (STLS discards them). */
  pending(): number {
    return this.#dropped >= 0 ? this.#dropped : this.#kept;
  }

  /** Forgets a line begun (RFC 2595 §4: bytes after STLS are not commands). */
  reset(): void {
    this.#parts = [];
    this.#kept = 0;
    this.#dropped = -1;
    this.#lastCR = false;
  }
}
