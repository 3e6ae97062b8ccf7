/**
 * The wire form of POP3 multi-line responses (RFC 1939 §3), pure: a stored message (RETR,
 * TOP) or a list of lines (CAPA, LIST, UIDL) as the chunks to write, ending with the
 * terminating ".CRLF".
 *
 * Invariants
 * - Every line ends with CRLF on the wire. A bare LF or a bare CR in the stored message is a
 *   line end too and goes out as CRLF, so no CR or LF reaches the client outside a CRLF pair
 *   and no client can read the framing differently from us. A last line without a line end
 *   gets one.
 * - A line that starts with "." gets one more "." in front (byte-stuffing, RFC 1939 §3), so
 *   the terminating ".CRLF" is the only line that is a dot alone.
 * - No needless copies of the message: runs of the stored bytes that need no change go out
 *   as slices of the one buffer read from the store; only pieces smaller than SMALL (a line
 *   that needed a CRLF or a dot) are copied, into chunks of up to CHUNK octets, so that a
 *   bare-LF message does not become one socket write per line. No chunk is larger than CHUNK,
 *   so the writer's backpressure applies every CHUNK octets.
 * - Linear in the message size: each byte is looked at a bounded number of times
 *   (Buffer.indexOf from the current position).
 */

export const CHUNK = 64 * 1024;
const SMALL = 8 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const DOT_BYTE = 0x2e;
const CRLF = Buffer.from('\r\n');
const DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');

/**
 * The pieces of a message as sent, before coalescing: slices of `raw`, CRLF and DOT.
 * bodyLines: TOP (RFC 1939 §7) — the header, the blank line after it and this many lines of
 * the body; undefined for the whole message (RETR).
 */
export function* messagePieces(raw: Buffer, bodyLines?: number): Generator<Buffer> {
  const len = raw.length;
  let runStart = 0; // start of the stored bytes not yet handed out
  let i = 0; // start of the current line
  let inBody = false;
  let body = 0; // body lines sent so far
  let nextCR = -2;
  let nextLF = -2;
  while (i < len) {
    if (bodyLines !== undefined && inBody && body >= bodyLines) break;
    if (raw[i] === DOT_BYTE) {
      // RFC 1939 §3: "the response ... is byte-stuffed by pre-pending the termination octet".
      if (i > runStart) yield raw.subarray(runStart, i);
      yield DOT;
      runStart = i;
    }
    if (nextCR !== -1 && nextCR < i) nextCR = raw.indexOf(CR, i);
    if (nextLF !== -1 && nextLF < i) nextLF = raw.indexOf(LF, i);
    const end = nextCR === -1 ? nextLF : nextLF === -1 ? nextCR : Math.min(nextCR, nextLF);
    let next: number;
    if (end === -1) {
      // The last line has no line end: it gets one.
      yield raw.subarray(runStart, len);
      yield CRLF;
      runStart = len;
      next = len;
    } else if (raw[end] === CR && end + 1 < len && raw[end + 1] === LF) {
      next = end + 2; // CRLF: the stored bytes go out as they are
    } else {
      // A bare CR or LF: a line end, sent as CRLF.
      if (end > runStart) yield raw.subarray(runStart, end);
      yield CRLF;
      runStart = end + 1;
      next = end + 1;
    }
    const empty = end === i;
    if (inBody) body++;
    else if (empty) inBody = true; // the blank line that ends the header section
    i = next;
  }
  if (i > runStart) yield raw.subarray(runStart, i);
  yield END;
}

/** Coalesces small pieces into chunks of up to CHUNK octets; large pieces go out as slices. */
export function* coalesce(pieces: Iterable<Buffer>, max = CHUNK): Generator<Buffer> {
  let staged: Buffer[] = [];
  let stagedLen = 0;
  const flush = () => {
    const b = staged.length === 1 ? staged[0] : Buffer.concat(staged, stagedLen);
    staged = [];
    stagedLen = 0;
    return b;
  };
  for (const p of pieces) {
    if (p.length === 0) continue;
    if (p.length >= SMALL) {
      if (stagedLen > 0) yield flush();
      for (let off = 0; off < p.length; off += max) yield p.subarray(off, Math.min(p.length, off + max));
      continue;
    }
    if (stagedLen + p.length > max) yield flush();
    staged.push(p);
    stagedLen += p.length;
  }
  if (stagedLen > 0) yield flush();
}

/** A message (RETR) or its top (TOP) as chunks to write, the terminating ".CRLF" included. */
export function messageChunks(raw: Buffer, bodyLines?: number): Generator<Buffer> {
  return coalesce(messagePieces(raw, bodyLines));
}

/**
 * A multi-line response of text lines (CAPA, LIST, UIDL): the status line, the lines
 * (byte-stuffed, though ours never start with "."), and the terminating ".CRLF".
 */
export function* lineChunks(status: string, lines: Iterable<string>): Generator<Buffer> {
  function* pieces(): Generator<Buffer> {
    yield Buffer.from(`${status}\r\n`);
    for (const l of lines) yield Buffer.from(l.startsWith('.') ? `.${l}\r\n` : `${l}\r\n`);
    yield END;
  }
  yield* coalesce(pieces());
}
