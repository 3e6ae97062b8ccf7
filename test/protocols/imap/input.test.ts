/**
 * The byte-level IMAP input (src/protocols/imap/input.ts): where a command ends (lines,
 * literals of every kind, bare LF), the "+" for synchronising literals, the limits and how
 * each refusal keeps the input in step with the client, holds around STARTTLS, COMPRESS,
 * AUTHENTICATE and IDLE, line mode, and linear work whatever the chunking.
 */
import { describe, expect, it } from 'vitest';
import { ImapInput, type InputEvent, type InputLimits } from '../../../src/protocols/imap/input.ts';

const LIMITS: InputLimits = { maxLine: 1000, maxLiteral: 100, maxAppend: 500, maxAppendTotal: 800, maxCommand: 2000 };
const b = (s: string) => Buffer.from(s, 'latin1');

/** Events in a compact, comparable form. */
function show(e: InputEvent): string {
  switch (e.type) {
    case 'command':
      return `command ${JSON.stringify(e.bytes.toString('latin1'))}`;
    case 'line':
      return `line ${JSON.stringify(e.line)}`;
    case 'continue':
      return `continue ${e.tag}`;
    case 'reject':
      return `reject ${e.tag} ${e.code}${e.fatal ? ' fatal' : ''}`;
  }
}

/** Feeds the chunks; the session behaviour: resume() at once after every hold. */
function run(chunks: (string | Buffer)[], limits: Partial<InputLimits> = {}, opts: { autoResume?: boolean } = {}) {
  const events: InputEvent[] = [];
  const input: ImapInput = new ImapInput({ ...LIMITS, ...limits }, (e) => {
    events.push(e);
  });
  for (const c of chunks) {
    input.push(typeof c === 'string' ? b(c) : c);
    if (opts.autoResume !== false) while (input.held) input.resume();
  }
  return { events, shown: events.map(show), input };
}

function splitAt(s: Buffer, points: number[]): Buffer[] {
  const cuts = [0, ...[...points].sort((x, y) => x - y), s.length];
  const out: Buffer[] = [];
  for (let i = 0; i < cuts.length - 1; i++) out.push(s.subarray(cuts[i], cuts[i + 1]));
  return out;
}

describe('ImapInput: lines and commands (RFC 9051 §2.2.1)', () => {
  it('frames pipelined commands of one chunk', () => {
    const { shown, input } = run(['a1 NOOP\r\na2 CAPABILITY\r\na3 LOGOUT\r\n']);
    expect(shown).toEqual(['command "a1 NOOP\\r\\n"', 'command "a2 CAPABILITY\\r\\n"', 'command "a3 LOGOUT\\r\\n"']);
    expect(input.pending()).toBe(0);
  });

  it('accepts a bare LF as a line end and keeps it in the command bytes', () => {
    expect(run(['a1 NOOP\na2 NOOP\r\n']).shown).toEqual(['command "a1 NOOP\\n"', 'command "a2 NOOP\\r\\n"']);
  });

  it('treats a CR that is not before LF as an ordinary byte (the parser refuses it)', () => {
    expect(run(['a1 NO\rOP\r\n']).shown).toEqual(['command "a1 NO\\rOP\\r\\n"']);
  });

  it('skips empty lines between commands without an event', () => {
    expect(run(['\r\n\na1 NOOP\r\n\r\n', '\r', '\n', 'a2 NOOP\r\n']).shown).toEqual(['command "a1 NOOP\\r\\n"', 'command "a2 NOOP\\r\\n"']);
  });

  it('keeps an incomplete command buffered until its line end', () => {
    const { shown, input } = run(['a1 NO']);
    expect(shown).toEqual([]);
    expect(input.pending()).toBe(5);
    input.push(b('OP\r\n'));
    expect(input.pending()).toBe(0);
  });

  it('passes a line of non-UTF-8 octets and NULs through as bytes', () => {
    const { events } = run([Buffer.from([0x61, 0x20, 0xff, 0x00, 0x0d, 0x0a])]);
    expect(events).toHaveLength(1);
    expect((events[0] as { bytes: Buffer }).bytes).toEqual(Buffer.from([0x61, 0x20, 0xff, 0x00, 0x0d, 0x0a]));
  });
});

describe('ImapInput: literals (RFC 9051 §4.3, RFC 7888, RFC 3516)', () => {
  it('RFC 9051 §7.5: a synchronising literal gets one continue, then the command continues after it', () => {
    expect(run(['a1 LOGIN {3}\r\n', 'bob {6}\r\n', 'secret\r\n']).shown).toEqual([
      'continue a1',
      'continue a1',
      'command "a1 LOGIN {3}\\r\\nbob {6}\\r\\nsecret\\r\\n"',
    ]);
  });

  it('RFC 7888: a non-synchronising literal {n+} gets no continue', () => {
    expect(run(['a1 LOGIN {3+}\r\nbob {6+}\r\nsecret\r\n']).shown).toEqual(['command "a1 LOGIN {3+}\\r\\nbob {6+}\\r\\nsecret\\r\\n"']);
  });

  it('RFC 3516: literal8 ~{n} and ~{n+} are literals too', () => {
    expect(run(['a1 APPEND x ~{3}\r\n\x00\x01\x02 ~{2+}\r\nab\r\n']).shown).toEqual([
      'continue a1',
      'command "a1 APPEND x ~{3}\\r\\n\\u0000\\u0001\\u0002 ~{2+}\\r\\nab\\r\\n"',
    ]);
  });

  it('literal octets are never read as line ends or announcements', () => {
    const data = 'x\r\ny {5}\r\nz\n';
    expect(run([`a1 APPEND x {${data.length}+}\r\n${data}\r\na2 NOOP\r\n`]).shown).toEqual([
      `command ${JSON.stringify(`a1 APPEND x {${data.length}+}\r\n${data}\r\n`)}`,
      'command "a2 NOOP\\r\\n"',
    ]);
  });

  it('a zero-length literal {0} still needs its continue', () => {
    expect(run(['a1 LOGIN {0}\r\n {0+}\r\n\r\n']).shown).toEqual(['continue a1', 'command "a1 LOGIN {0}\\r\\n {0+}\\r\\n\\r\\n"']);
  });

  it('a literal ending in CR followed by a bare LF: the CR is literal, the LF ends the command', () => {
    expect(run(['a1 APPEND x {1+}\r\n\r', '\na2 NOOP\r\n']).shown).toEqual(['command "a1 APPEND x {1+}\\r\\n\\r\\n"', 'command "a2 NOOP\\r\\n"']);
  });

  it('accepts a bare LF after the literal header', () => {
    expect(run(['a1 LOGIN {3+}\nbob x\n']).shown).toEqual(['command "a1 LOGIN {3+}\\nbob x\\n"']);
  });

  it('leading zeros in the length are fine', () => {
    expect(run(['a1 LOGIN {003+}\r\nbob x\r\n']).shown).toEqual(['command "a1 LOGIN {003+}\\r\\nbob x\\r\\n"']);
  });

  it('"{n}" not at the end of the line, or malformed, announces nothing', () => {
    expect(run(['a1 LOGIN {3} x\r\na2 X {}\r\na3 X {+}\r\na4 X {1a}\r\na5 X "{3}"\r\n']).shown).toEqual([
      'command "a1 LOGIN {3} x\\r\\n"',
      'command "a2 X {}\\r\\n"',
      'command "a3 X {+}\\r\\n"',
      'command "a4 X {1a}\\r\\n"',
      'command "a5 X \\"{3}\\"\\r\\n"',
    ]);
  });

  it('the same events whatever the chunking: every split point, and every pair of them', () => {
    const wire = b('a1 LOGIN {3}\r\nbob {4+}\r\npa\r\n ~{2}\n\r\n\r\n\r\na2 APPEND x (\\Seen) ~{5+}\r\n12345 {1}\r\nZ\na3 NOOP\n');
    const expected = run([wire]).shown;
    expect(expected).toEqual([
      'continue a1',
      'continue a1',
      'command "a1 LOGIN {3}\\r\\nbob {4+}\\r\\npa\\r\\n ~{2}\\n\\r\\n\\r\\n"',
      'continue a2',
      'command "a2 APPEND x (\\\\Seen) ~{5+}\\r\\n12345 {1}\\r\\nZ\\n"',
      'command "a3 NOOP\\n"',
    ]);
    for (let i = 0; i <= wire.length; i++) {
      expect(run(splitAt(wire, [i])).shown).toEqual(expected);
      for (let j = i; j <= wire.length; j += 3) expect(run(splitAt(wire, [i, j])).shown).toEqual(expected);
    }
    expect(run([...wire].map((x) => Buffer.from([x]))).shown).toEqual(expected);
  });

  it('returns the command bytes as one slice of the chunk when it came in one piece', () => {
    const chunk = b('a1 NOOP\r\na2 NOOP\r\n');
    const { events } = run([chunk]);
    const bytes = (events[0] as { bytes: Buffer }).bytes;
    expect(bytes.buffer).toBe(chunk.buffer);
  });
});

describe('ImapInput: limits (RFC 7889 TOOBIG, RFC 5530 LIMIT)', () => {
  it('refuses a synchronising literal over maxLiteral without continue; the next command is read normally', () => {
    const { shown, events } = run(['a1 LOGIN {101}\r\na2 NOOP\r\n']);
    expect(shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
    expect(events[0]).toMatchObject({ fatal: false, text: 'Literal of 101 octets is larger than the limit of 100' });
  });

  it('accepts a literal of exactly maxLiteral', () => {
    expect(run([`a1 LOGIN {100+}\r\n${'x'.repeat(100)} y\r\n`]).shown).toHaveLength(1);
  });

  it('drops a refused non-synchronising literal and the rest of its command, then rejects', () => {
    const { shown, input } = run([`a1 LOGIN {150+}\r\n${'x'.repeat(150)} {5+}\r\n`, 'abcde\r\n', 'a2 NOOP\r\n']);
    expect(shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
    expect(input.pending()).toBe(0);
  });

  it('a refused command whose rest announces a synchronising literal ends there (no "+" will come)', () => {
    expect(run([`a1 X {150+}\r\n${'x'.repeat(150)} {5}\r\na2 NOOP\r\n`]).shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
  });

  it('does not buffer the octets it drops', () => {
    const events: InputEvent[] = [];
    const input = new ImapInput({ ...LIMITS, maxLiteral: 10 }, (e) => events.push(e));
    input.push(b('a1 X {1000000+}\r\n'));
    for (let i = 0; i < 100; i++) {
      input.push(Buffer.alloc(10_000, 0x41));
      expect(input.pending()).toBe(0);
    }
    input.push(b('\r\na2 NOOP\r\n'));
    expect(events.map(show)).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
  });

  it('maxCommand bounds a command of many small literals', () => {
    const limits = { maxLiteral: 100, maxCommand: 300 };
    const part = `{90+}\r\n${'x'.repeat(90)} `;
    const { shown } = run([`a1 X ${part}${part}${part}${part}\r\na2 NOOP\r\n`], limits);
    expect(shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
  });

  it('maxCommand also bounds line text after literals', () => {
    const { shown } = run([`a1 X {1+}\r\nx ${'y'.repeat(900)}\r\na2 X {1+}\r\nx ${'y'.repeat(900)} {1+}\r\nx ${'y'.repeat(900)} {1+}\r\nx ${'y'.repeat(900)}\r\na3 NOOP\r\n`], { maxCommand: 2000 });
    expect(shown).toEqual([expect.stringMatching(/^command "a1 X/), 'reject a2 LIMIT', 'command "a3 NOOP\\r\\n"']);
  });

  it('RFC 7889 §4: APPEND uses maxAppend, not maxLiteral, and refuses with TOOBIG', () => {
    const msg = 'm'.repeat(400);
    expect(run([`a1 APPEND INBOX {400}\r\n`, `${msg}\r\n`]).shown).toEqual(['continue a1', `command ${JSON.stringify(`a1 APPEND INBOX {400}\r\n${msg}\r\n`)}`]);
    expect(run(['a1 append INBOX {501}\r\na2 NOOP\r\n']).shown).toEqual(['reject a1 TOOBIG', 'command "a2 NOOP\\r\\n"']);
    expect(run([`a1 Append INBOX {501+}\r\n${'m'.repeat(501)}\r\na2 NOOP\r\n`]).shown).toEqual(['reject a1 TOOBIG', 'command "a2 NOOP\\r\\n"']);
  });

  it('RFC 3502: maxAppendTotal bounds all messages of a MULTIAPPEND together', () => {
    const m = 'm'.repeat(400);
    expect(run([`a1 APPEND INBOX {400+}\r\n${m} {400+}\r\n${m}\r\n`]).shown).toHaveLength(1);
    expect(run([`a1 APPEND INBOX {400}\r\n`, `${m} {401}\r\n`, 'a2 NOOP\r\n']).shown).toEqual(['continue a1', 'reject a1 TOOBIG', 'command "a2 NOOP\\r\\n"']);
  });

  it('only the verb makes an APPEND', () => {
    expect(run(['a1 SEARCH APPEND {101}\r\n']).shown).toEqual(['reject a1 LIMIT']);
    expect(run(['a1 UID APPEND {101}\r\n']).shown).toEqual(['reject a1 LIMIT']);
  });

  it('a line over maxLine is dropped through its line end and rejected; framing goes on', () => {
    const long = `a1 FETCH ${'1,'.repeat(600)}2 FLAGS\r\n`;
    const { shown, events } = run([long, 'a2 NOOP\r\n'], { maxLine: 1000 });
    expect(shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
    expect(events[0]).toMatchObject({ fatal: false, text: 'Line longer than 1000 octets' });
  });

  it('maxLine counts the CRLF: exactly maxLine is accepted, one more is not', () => {
    const line = (n: number) => `a1 X ${'y'.repeat(n - 7)}\r\n`;
    expect(line(100)).toHaveLength(100);
    expect(run([line(100)], { maxLine: 100 }).shown).toEqual([`command ${JSON.stringify(line(100))}`]);
    expect(run([line(101)], { maxLine: 100 }).shown).toEqual(['reject a1 LIMIT']);
    // With a bare LF, maxLine - 1 octets of text fit.
    expect(run([`a1 X ${'y'.repeat(94)}\n`], { maxLine: 100 }).shown).toHaveLength(1);
  });

  it('a too-long line announcing a literal: synchronising ends the command, non-synchronising is followed', () => {
    const pad = 'y'.repeat(1200);
    expect(run([`a1 X ${pad} {5}\r\na2 NOOP\r\n`]).shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
    expect(run([`a1 X ${pad} {5+}\r\n{5}\r\n x\r\na2 NOOP\r\n`]).shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
    // The announcement split from the rest of the long line, and itself split.
    const split = [`a1 X ${pad} {1`, '0', '+', '}', '\r', '\n0123456789\r\na2 NOOP\r\n'];
    expect(run(split).shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
  });

  it('a line that goes on without end past max(maxCommand, maxLine) is fatal, and nothing follows', () => {
    const { shown, input } = run([`a1 X ${'y'.repeat(2500)}`, '\r\na2 NOOP\r\n']);
    expect(shown).toEqual(['reject a1 LIMIT fatal']);
    expect(input.pending()).toBe(0);
    input.push(b('a3 NOOP\r\n'));
    input.resume();
    expect(input.pending()).toBe(0);
  });

  it('a non-synchronising literal of more than 2^32 octets is fatal', () => {
    expect(run(['a1 X {4294967297+}\r\nxxx']).shown).toEqual(['reject a1 LIMIT fatal']);
    expect(run(['a1 X {99999999999999999999999999+}\r\n']).shown).toEqual(['reject a1 LIMIT fatal']);
    // Synchronising: the client sends nothing of it, so it is an ordinary refusal.
    expect(run(['a1 X {99999999999999999999999999}\r\na2 NOOP\r\n']).shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
  });

  it('an announcement whose digits do not fit the kept tail counts as absurdly large', () => {
    const digits = '1'.repeat(200);
    expect(run([`a1 X {${digits}}\r\na2 NOOP\r\n`]).shown).toEqual(['reject a1 LIMIT', 'command "a2 NOOP\\r\\n"']);
  });

  it('reject and continue carry the tag only when it is valid', () => {
    expect(run(['* LOGIN {101}\r\n']).events[0]).toMatchObject({ type: 'reject', tag: null });
    expect(run(['+x LOGIN {5}\r\n']).events[0]).toEqual({ type: 'continue', tag: '' });
    expect(run([`${'t'.repeat(2000)} LOGIN {101}\r\n`], { maxLine: 5000, maxCommand: 5000 }).events[0]).toMatchObject({ type: 'reject', tag: null });
  });

  it('checks its limits at construction', () => {
    expect(() => new ImapInput({ ...LIMITS, maxLine: 0 }, () => {})).toThrow(RangeError);
    expect(() => new ImapInput({ ...LIMITS, maxLiteral: 1.5 }, () => {})).toThrow(RangeError);
  });
});

describe('ImapInput: holds (RFC 9051 §6.2.1 STARTTLS, RFC 4978 COMPRESS, §6.2.2 AUTHENTICATE, RFC 2177 IDLE)', () => {
  it.each(['STARTTLS', 'starttls', 'COMPRESS DEFLATE', 'AUTHENTICATE PLAIN', 'Authenticate PLAIN AGJvYgBzZWNyZXQ=', 'IDLE', 'UID IDLE'])('holds after %s', (verb) => {
    const events: InputEvent[] = [];
    const input = new ImapInput(LIMITS, (e) => events.push(e));
    input.push(b(`a1 ${verb}\r\na2 NOOP\r\n`));
    expect(events.map(show)).toEqual([`command "a1 ${verb}\\r\\n"`]);
    expect(input.held).toBe(true);
    expect(input.pending()).toBe(9);
    input.push(b('a3 NOOP\r\n'));
    expect(events).toHaveLength(1);
    input.resume();
    expect(input.held).toBe(false);
    expect(events.map(show).slice(1)).toEqual(['command "a2 NOOP\\r\\n"', 'command "a3 NOOP\\r\\n"']);
  });

  it.each(['IDLEX', 'NOOP IDLE', 'SELECT STARTTLS', 'UID FETCH 1 IDLE'])('does not hold after %s', (verb) => {
    const { input } = run([`a1 ${verb}\r\n`], {}, { autoResume: false });
    expect(input.held).toBe(false);
  });

  it('is held when the handler sees the command, and may resume from inside it', () => {
    const seen: string[] = [];
    const input: ImapInput = new ImapInput(LIMITS, (e) => {
      seen.push(`${show(e)} held=${input.held}`);
      if (input.held) input.resume();
    });
    input.push(b('a1 IDLE\r\na2 NOOP\r\n'));
    expect(seen).toEqual(['command "a1 IDLE\\r\\n" held=true', 'command "a2 NOOP\\r\\n" held=false']);
  });

  it('RFC 9051 §6.2.1: takeBuffered() after STARTTLS removes the bytes sent before the handshake', () => {
    const events: InputEvent[] = [];
    const input = new ImapInput(LIMITS, (e) => events.push(e));
    input.push(b('a1 STARTTLS\r\na2 LOGIN in jected\r\na3 NO'));
    expect(input.takeBuffered().toString()).toBe('a2 LOGIN in jected\r\na3 NO');
    expect(input.pending()).toBe(0);
    input.resume();
    input.push(b('a4 NOOP\r\n'));
    expect(events.map(show)).toEqual(['command "a1 STARTTLS\\r\\n"', 'command "a4 NOOP\\r\\n"']);
  });

  it('RFC 4978 §3: takeBuffered() after COMPRESS returns the compressed bytes to inflate and push back', () => {
    const events: InputEvent[] = [];
    const input = new ImapInput(LIMITS, (e) => events.push(e));
    input.push(b('a1 COMPRESS DEFLATE\r\n'));
    input.push(b('<deflated>'));
    const taken = input.takeBuffered();
    expect(taken.toString()).toBe('<deflated>');
    input.push(b('a2 NOOP\r\n')); // what inflating gave
    input.resume();
    expect(events.map(show)).toEqual(['command "a1 COMPRESS DEFLATE\\r\\n"', 'command "a2 NOOP\\r\\n"']);
  });

  it('takeBuffered() also returns an incomplete command', () => {
    const input = new ImapInput(LIMITS, () => {});
    input.push(b('a1 LOGIN {3+}\r\nbo'));
    expect(input.takeBuffered().toString()).toBe('a1 LOGIN {3+}\r\nbo');
    expect(input.pending()).toBe(0);
  });

  it('hold() stops framing after the current event until resume()', () => {
    const events: InputEvent[] = [];
    const input: ImapInput = new ImapInput(LIMITS, (e) => {
      events.push(e);
      input.hold();
    });
    input.push(b('a1 NOOP\r\na2 NOOP\r\n'));
    expect(events).toHaveLength(1);
    expect(input.held).toBe(true);
    input.resume();
    expect(events).toHaveLength(2);
  });
});

describe('ImapInput: line mode (RFC 2177 DONE, RFC 9051 §6.2.2 SASL responses)', () => {
  it('RFC 2177: IDLE, then DONE as a line, then commands again in the same chunk', () => {
    const events: InputEvent[] = [];
    const input: ImapInput = new ImapInput(LIMITS, (e) => {
      events.push(e);
      if (e.type === 'command' && e.bytes.toString().includes('IDLE')) input.lineMode(true);
      if (e.type === 'line' && e.line.toUpperCase() === 'DONE') input.lineMode(false);
      if (input.held) input.resume();
    });
    input.push(b('a1 IDLE\r\nDONE\r\na2 NOOP\r\n'));
    expect(events.map(show)).toEqual(['command "a1 IDLE\\r\\n"', 'line "DONE"', 'command "a2 NOOP\\r\\n"']);
  });

  it('a session that leaves line mode asynchronously holds on each line, so a pipelined command stays a command', async () => {
    const events: InputEvent[] = [];
    const input: ImapInput = new ImapInput(LIMITS, (e) => {
      events.push(e);
      if (e.type === 'line') input.hold(); // keep what follows until the session has switched modes
    });
    input.push(b('a1 IDLE\r\n'));
    input.lineMode(true);
    input.resume();
    input.push(b('DONE\r\na2 NOOP\r\n'));
    expect(events.map(show)).toEqual(['command "a1 IDLE\\r\\n"', 'line "DONE"']);
    await Promise.resolve(); // the session's await
    input.lineMode(false);
    input.resume();
    expect(events.map(show)).toEqual(['command "a1 IDLE\\r\\n"', 'line "DONE"', 'command "a2 NOOP\\r\\n"']);
  });

  it('emits every line, empty ones too, without CR or LF, literals meaning nothing', () => {
    const { events, input } = run([], {});
    input.lineMode(true);
    input.push(b('AGJvYgBzZWNyZXQ=\r\n\r\n{5}\r\nbare\nx\ry\r\n'));
    expect(events.map(show)).toEqual(['line "AGJvYgBzZWNyZXQ="', 'line ""', 'line "{5}"', 'line "bare"', 'line "x\\ry"']);
  });

  it('decodes lines as UTF-8, invalid octets becoming U+FFFD', () => {
    const { events, input } = run([]);
    input.lineMode(true);
    input.push(Buffer.concat([Buffer.from('grüß '), Buffer.from([0xff]), b('\r\n')]));
    expect(events).toEqual([{ type: 'line', line: 'grüß \ufffd' }]);
  });

  it('a line over maxLine is dropped and rejected (untagged), not fatal', () => {
    const { events, input } = run([]);
    input.lineMode(true);
    input.push(b(`${'x'.repeat(1500)}\r\nok\r\n`));
    expect(events.map(show)).toEqual(['reject null LIMIT', 'line "ok"']);
  });

  it('a switch in the middle of a line reads its bytes again in the new mode', () => {
    const { events, input } = run([]);
    input.push(b('a1 NO'));
    input.lineMode(true);
    input.push(b('OP\r\n'));
    expect(events.map(show)).toEqual(['line "a1 NOOP"']);
  });
});

describe('ImapInput: robustness', () => {
  it('an exception from the handler propagates and the input stays usable', () => {
    let throwNext = true;
    const seen: string[] = [];
    const input = new ImapInput(LIMITS, (e) => {
      seen.push(show(e));
      if (throwNext) {
        throwNext = false;
        throw new Error('handler bug');
      }
    });
    expect(() => input.push(b('a1 NOOP\r\na2 NOOP\r\n'))).toThrow('handler bug');
    input.push(b('a3 NOOP\r\n'));
    expect(seen).toEqual(['command "a1 NOOP\\r\\n"', 'command "a2 NOOP\\r\\n"', 'command "a3 NOOP\\r\\n"']);
  });

  it('push() from inside the handler queues, in order', () => {
    const seen: string[] = [];
    let once = true;
    const input: ImapInput = new ImapInput(LIMITS, (e) => {
      seen.push(show(e));
      if (once) {
        once = false;
        input.push(b('a3 NOOP\r\n'));
      }
    });
    input.push(b('a1 NOOP\r\na2 NOOP\r\n'));
    expect(seen).toEqual(['command "a1 NOOP\\r\\n"', 'command "a2 NOOP\\r\\n"', 'command "a3 NOOP\\r\\n"']);
  });
});

describe('ImapInput: linear work (bounded by completion, no timing assertions)', () => {
  it('a 50 MB APPEND literal in 64 KiB chunks', { timeout: 120_000 }, () => {
    const size = 50 * 1024 * 1024;
    const events: InputEvent[] = [];
    const input = new ImapInput({ ...LIMITS, maxAppend: 64 * 1024 * 1024, maxAppendTotal: 64 * 1024 * 1024 }, (e) => events.push(e));
    input.push(b(`a1 APPEND INBOX {${size}}\r\n`));
    const chunk = Buffer.alloc(64 * 1024, 0x0a); // all LFs: must not be scanned as lines
    let left = size;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      input.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      left -= n;
    }
    input.push(b(')\r\n'));
    expect(events.map((e) => e.type)).toEqual(['continue', 'command']);
    const bytes = (events[1] as { bytes: Buffer }).bytes;
    expect(bytes.length).toBe(`a1 APPEND INBOX {${size}}\r\n`.length + size + 3);
  });

  it('200,000 pipelined small commands in one chunk', { timeout: 120_000 }, () => {
    const n = 200_000;
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(`a${i} UID FETCH ${i + 1} (FLAGS)\r\n`);
    let count = 0;
    let last = '';
    const input = new ImapInput(LIMITS, (e) => {
      if (e.type === 'command') {
        count++;
        last = e.bytes.toString();
      }
    });
    input.push(Buffer.from(parts.join('')));
    expect(count).toBe(n);
    expect(last).toBe(`a${n - 1} UID FETCH ${n} (FLAGS)\r\n`);
  });

  it('20,000 commands with literals fed one byte at a time', { timeout: 120_000 }, () => {
    const wire = Buffer.from('a1 LOGIN {3+}\r\nbob {2+}\r\npw\r\n'.repeat(20_000));
    let count = 0;
    const input = new ImapInput(LIMITS, (e) => {
      if (e.type === 'command') count++;
    });
    for (let i = 0; i < wire.length; i++) input.push(wire.subarray(i, i + 1));
    expect(count).toBe(20_000);
  });
});
