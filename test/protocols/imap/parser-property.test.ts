/**
 * Properties of the IMAP input and parser (src/protocols/imap/input.ts, parser.ts) under
 * arbitrary and mutated input: parseCommand only ever throws ImapSyntaxError, the framer
 * never throws and only emits well-formed events, and framing then parsing gives back what
 * was sent however the bytes are chunked.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ImapInput, type InputEvent, type InputLimits } from '../../../src/protocols/imap/input.ts';
import { parseCommand, tagOf } from '../../../src/protocols/imap/parser.ts';
import { ImapSyntaxError } from '../../../src/protocols/imap/types.ts';
import { mutations } from '../../harness/mutate.ts';

/** parseCommand returns a command or throws ImapSyntaxError; anything else fails the property. */
function parsesOrRefuses(bytes: Buffer): void {
  let cmd;
  try {
    cmd = parseCommand(bytes);
  } catch (e) {
    if (!(e instanceof ImapSyntaxError)) throw e;
    expect(e.tag === null || typeof e.tag === 'string').toBe(true);
    // Never more than a short excerpt of the client's bytes in the message.
    expect(e.message.length).toBeLessThan(200);
    return;
  }
  expect(typeof cmd.name).toBe('string');
  expect(cmd.tag).toBe(tagOf(bytes));
}

const VALID = [
  'a1 CAPABILITY\r\n',
  'a1 LOGIN {3}\r\nbob "se\\"cret"\r\n',
  'a1 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n',
  'a1 ID ("name" "x" "version" NIL)\r\n',
  'a1 SELECT INBOX (CONDSTORE QRESYNC (1 2 1:5 (1:2 3:4)))\r\n',
  'a1 CREATE x (USE (\\Drafts))\r\n',
  'a1 LIST (SUBSCRIBED RECURSIVEMATCH) "" (a %) RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n',
  'a1 STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)\r\n',
  'a1 APPEND INBOX (\\Seen) " 1-Jan-2024 10:00:00 +0100" {3}\r\nabc ~{2+}\r\nx\0 UTF8 (~{1}\r\nz)\r\n',
  'a1 SETQUOTA "" (STORAGE 512)\r\n',
  'a1 SETACL INBOX bob +lrs\r\n',
  'a1 UID FETCH 1:*,7 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> BINARY[1]<0.5> PREVIEW (LAZY)) (CHANGEDSINCE 5 VANISHED)\r\n',
  'a1 FETCH $ FULL\r\n',
  'a1 UID STORE 1,3 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\\Seen $Junk)\r\n',
  'a1 UID SEARCH RETURN (MIN SAVE) CHARSET UTF-8 OR NOT (SEEN FROM {3}\r\nbob) HEADER X "y" SINCE 1-Feb-2024 MODSEQ "/flags/\\\\seen" all 5 UID $\r\n',
  'a1 SEARCH EMAILID M1 OLDER 5 LARGER 10 SAVEDATESUPPORTED 1:3,5\r\n',
  'a1 UID SORT RETURN (COUNT) (REVERSE DATE SUBJECT) UTF-8 ALL\r\n',
  'a1 THREAD REFERENCES UTF-8 (SEEN UNSEEN)\r\n',
  'a1 UID EXPUNGE 1:3\r\n',
  'a1 UID MOVE 1:* Trash\r\n',
].map((s) => Buffer.from(s, 'latin1'));

/** Tokens that steer random input into the grammar's interesting corners. */
const TOKENS = [
  'a1', ' ', '  ', '(', ')', '[', ']', '<', '>', '.', ':', ',', '*', '$', '"', '\\', '{', '}', '+', '~', '\r\n', '\n', '\r', '\0',
  '{3}\r\n', '{0}\r\n', '{2+}\r\n', '~{1}\r\n', '{99}\r\n', '0', '1', '4294967296', '9223372036854775808', 'NIL', 'UID', 'FETCH',
  'SEARCH', 'STORE', 'APPEND', 'LIST', 'SELECT', 'LOGIN', 'ID', 'NOT', 'OR', 'BODY', 'BODY.PEEK', 'BINARY', 'HEADER.FIELDS', 'MIME',
  'RETURN', 'CHARSET', 'MODSEQ', 'UTF8', 'FLAGS', '+FLAGS', '\\Seen', '\\*', 'INBOX', '1-Jan-2024', '"01-Jan-2024 00:00:00 +0000"',
  'QRESYNC', 'CONDSTORE', 'SORT', 'THREAD', 'PREVIEW', 'LAZY', 'SETACL', 'ä', '\xff',
];
const tokenCommand = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((ts) => Buffer.from(ts.join(''), 'latin1'));

/** Mutations of a valid command: replace, insert, delete, duplicate, truncate or insert a token. */
const mutated = mutations(VALID, TOKENS.map((t) => Buffer.from(t, 'latin1')), { maxLen: 40, maxOps: 4 });

describe('parseCommand: only ImapSyntaxError, for any input', () => {
  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => parsesOrRefuses(Buffer.from(bytes))), { numRuns: 8000 });
  });

  it('arbitrary sequences of IMAP tokens', () => {
    fc.assert(fc.property(tokenCommand, (bytes) => parsesOrRefuses(bytes)), { numRuns: 8000 });
  });

  it('mutations of valid commands', () => {
    for (const v of VALID) expect(() => parseCommand(v)).not.toThrow();
    fc.assert(fc.property(mutated, (bytes) => parsesOrRefuses(bytes)), { numRuns: 10000 });
  });

  it('deep nesting and long lists built at random', () => {
    const nested = fc.tuple(fc.constantFrom('(', 'NOT ', 'OR ALL ', 'OR ('), fc.integer({ min: 1, max: 5000 })).map(([t, n]) => Buffer.from(`a SEARCH ${t.repeat(n)}ALL\r\n`));
    fc.assert(fc.property(nested, (bytes) => parsesOrRefuses(bytes)), { numRuns: 300 });
  });
});

// ---------------------------------------------------------------------------------------

function wellFormed(e: InputEvent): void {
  switch (e.type) {
    case 'command':
      expect(Buffer.isBuffer(e.bytes)).toBe(true);
      expect(e.bytes.length).toBeGreaterThan(0);
      expect(e.bytes[e.bytes.length - 1]).toBe(0x0a);
      // Never an empty line (those are skipped).
      expect(e.bytes.equals(Buffer.from('\r\n')) || e.bytes.equals(Buffer.from('\n'))).toBe(false);
      break;
    case 'line':
      expect(typeof e.line).toBe('string');
      break;
    case 'continue':
      expect(typeof e.tag).toBe('string');
      break;
    case 'reject':
      expect(['TOOBIG', 'LIMIT']).toContain(e.code);
      expect(e.tag === null || typeof e.tag === 'string').toBe(true);
      expect(typeof e.fatal).toBe('boolean');
      expect(e.text.length).toBeGreaterThan(0);
      break;
    default:
      throw new Error(`unknown event ${JSON.stringify(e)}`);
  }
}

const limitsArb: fc.Arbitrary<InputLimits> = fc.record({
  maxLine: fc.integer({ min: 16, max: 200 }),
  maxLiteral: fc.integer({ min: 1, max: 100 }),
  maxAppend: fc.integer({ min: 1, max: 300 }),
  maxAppendTotal: fc.integer({ min: 1, max: 500 }),
  maxCommand: fc.integer({ min: 1, max: 600 }),
});

/** Bytes biased towards literal announcements, line ends and hold verbs. */
const streamPiece = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    '{5}\r\n', '{3+}\r\n', '~{2}\n', '{0}\r\n', '{4294967297+}\r\n', '{200+}\r\n', '{99999999999999999999}\r\n', '\r\n', '\n', '\r',
    'a1 APPEND x ', 'a2 LOGIN ', 'a3 IDLE\r\n', 'a4 STARTTLS\r\n', 'a5 AUTHENTICATE PLAIN\r\n', 'a6 COMPRESS DEFLATE\r\n', 'DONE\r\n',
    'a7 UID IDLE\r\n', '* ', '+ ', 'x'.repeat(150), 'y'.repeat(700),
  ).map((s) => Buffer.from(s, 'latin1')),
);

type Op = { push: Buffer } | { lineMode: boolean } | { resume: true } | { take: true } | { hold: true };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: streamPiece.map((push): Op => ({ push })) },
  { weight: 1, arbitrary: fc.boolean().map((lineMode): Op => ({ lineMode })) },
  { weight: 2, arbitrary: fc.constant<Op>({ resume: true }) },
  { weight: 1, arbitrary: fc.constant<Op>({ take: true }) },
  { weight: 1, arbitrary: fc.constant<Op>({ hold: true }) },
);

describe('ImapInput: never throws, only well-formed events', () => {
  it('random limits, random bytes, random session calls (also from inside the handler)', () => {
    fc.assert(
      fc.property(limitsArb, fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 0, max: 3 }), (limits, ops, reentry) => {
        const events: InputEvent[] = [];
        let dead = false;
        const input: ImapInput = new ImapInput(limits, (e) => {
          expect(dead).toBe(false); // nothing after a fatal reject
          wellFormed(e);
          events.push(e);
          if (e.type === 'reject' && e.fatal) dead = true;
          // Some runs act from inside the handler, as a session may.
          if (reentry === 1 && input.held) input.resume();
          if (reentry === 2 && e.type === 'command') input.lineMode(e.bytes.includes('IDLE'));
          if (reentry === 3 && e.type === 'line') input.lineMode(false);
        });
        for (const op of ops) {
          if ('push' in op) input.push(op.push);
          else if ('lineMode' in op) input.lineMode(op.lineMode);
          else if ('resume' in op) input.resume();
          else if ('take' in op) expect(Buffer.isBuffer(input.takeBuffered())).toBe(true);
          else input.hold();
          const p = input.pending();
          expect(Number.isSafeInteger(p) && p >= 0).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('every command it frames parses or is refused with ImapSyntaxError', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(streamPiece, tokenCommand, mutated), { maxLength: 12 }), (chunks) => {
        const input = new ImapInput({ maxLine: 1000, maxLiteral: 1000, maxAppend: 1000, maxAppendTotal: 2000, maxCommand: 4000 }, (e) => {
          wellFormed(e);
          if (e.type === 'command') parsesOrRefuses(e.bytes);
        });
        for (const c of chunks) {
          input.push(c);
          while (input.held) input.resume();
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('framing then parsing gives back what was sent, however it is chunked', () => {
  /** A MULTIAPPEND of random messages, as synchronising, non-synchronising or literal8 literals. */
  const appendArb = fc.array(
    fc.record({
      data: fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
      kind: fc.constantFrom('{', '{+', '~{', '~{+'),
      flags: fc.subarray(['\\Seen', '\\Draft', '$Junk']),
    }),
    { minLength: 1, maxLength: 4 },
  );

  it('APPEND messages of arbitrary octets survive framing and parsing', () => {
    fc.assert(
      fc.property(appendArb, fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (msgs, cuts, bareLf) => {
        const nl = bareLf ? '\n' : '\r\n';
        const parts: Buffer[] = [Buffer.from('t1 APPEND INBOX')];
        const expected = msgs.map((m) => {
          // A plain literal may not hold NUL (CHAR8): such messages go as literal8.
          const binary = m.kind.startsWith('~') || m.data.includes(0);
          const open = binary && !m.kind.startsWith('~') ? `~${m.kind}` : m.kind;
          const sync = !open.endsWith('+');
          parts.push(Buffer.from(` (${m.flags.join(' ')}) ${open.replace('+', '')}${m.data.length}${sync ? '' : '+'}}${nl}`), m.data);
          return { flags: m.flags, data: m.data, binary, utf8: false };
        });
        parts.push(Buffer.from(`${nl}t2 NOOP${nl}`));
        const wire = Buffer.concat(parts);
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const commands: Buffer[] = [];
        const input = new ImapInput({ maxLine: 1000, maxLiteral: 10, maxAppend: 100, maxAppendTotal: 1000, maxCommand: 1000 }, (e) => {
          if (e.type === 'command') commands.push(e.bytes);
          else expect(e.type).toBe('continue');
        });
        let from = 0;
        for (const p of [...points, wire.length]) {
          input.push(wire.subarray(from, p));
          from = p;
        }
        expect(commands).toHaveLength(2);
        expect(Buffer.concat(commands).equals(wire)).toBe(true);
        expect(parseCommand(commands[0])).toEqual({ tag: 't1', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: expected });
        expect(parseCommand(commands[1])).toEqual({ tag: 't2', name: 'NOOP' });
      }),
      { numRuns: 3000 },
    );
  });
});
