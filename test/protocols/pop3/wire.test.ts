/**
 * The wire form of RETR and TOP (src/protocols/pop3/wire.ts): CRLF line ends, byte-stuffing
 * and the terminator (RFC 1939 §3), TOP's header + n body lines (RFC 1939 §7), and the
 * large-message path that writes slices of the stored buffer in bounded chunks.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CHUNK, coalesce, lineChunks, messageChunks, messagePieces } from '../../../src/protocols/pop3/wire.ts';

const wire = (raw: string, top?: number) => Buffer.concat([...messageChunks(Buffer.from(raw, 'latin1'), top)]).toString('latin1');

/** What a client reads back: the lines up to the terminator, unstuffed. */
function unstuff(w: string): string[] {
  expect(w.endsWith('\r\n.\r\n') || w === '.\r\n').toBe(true);
  const body = w === '.\r\n' ? '' : w.slice(0, -3);
  return body === '' ? [] : body.slice(0, -2).split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l));
}

describe('RETR wire form (RFC 1939 §3)', () => {
  it('a CRLF message without dot lines goes out byte-exact, then ".CRLF"', () => {
    const m = 'Subject: x\r\n\r\nhello\r\nworld\r\n';
    expect(wire(m)).toBe(`${m}.\r\n`);
  });

  it('byte-stuffs every line that starts with "."', () => {
    expect(wire('A: b\r\n\r\n.\r\n..x\r\n.y\r\nz.\r\n')).toBe('A: b\r\n\r\n..\r\n...x\r\n..y\r\nz.\r\n.\r\n');
    expect(wire('.first\r\n')).toBe('..first\r\n.\r\n');
  });

  it('bare LF and bare CR line ends become CRLF; a last line without line end gets one', () => {
    expect(wire('A: b\n\nline1\nline2')).toBe('A: b\r\n\r\nline1\r\nline2\r\n.\r\n');
    expect(wire('A: b\r\rx\r\n.dot\n')).toBe('A: b\r\n\r\nx\r\n..dot\r\n.\r\n');
    expect(wire('')).toBe('.\r\n');
    expect(wire('\r\n')).toBe('\r\n.\r\n');
  });

  it('no CR or LF leaves outside a CRLF pair, and the client reads back the lines (property)', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('a', '.', '\r', '\n', '\r\n', 'x.y', ' '), { maxLength: 40 }), (parts) => {
      const raw = parts.join('');
      const w = wire(raw);
      expect(w.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      const expected = raw === '' ? [] : raw.split(/\r\n|\r|\n/);
      if (expected.length && expected[expected.length - 1] === '' && /[\r\n]$/.test(raw)) expected.pop();
      expect(unstuff(w)).toEqual(expected);
      // The only line that is a dot alone is the terminator.
      expect(w.slice(0, -3).split('\r\n').includes('.')).toBe(false);
    }));
  });
});

describe('TOP wire form (RFC 1939 §7)', () => {
  const m = 'From: a\r\nSubject: s\r\n\r\nb1\r\n.b2\r\nb3\r\n';
  it('sends the header, the blank line and n body lines', () => {
    expect(wire(m, 0)).toBe('From: a\r\nSubject: s\r\n\r\n.\r\n');
    expect(wire(m, 2)).toBe('From: a\r\nSubject: s\r\n\r\nb1\r\n..b2\r\n.\r\n');
    expect(wire(m, 99)).toBe(`From: a\r\nSubject: s\r\n\r\nb1\r\n..b2\r\nb3\r\n.\r\n`);
  });
  it('counts bare-LF lines too, and sends a message without body whole', () => {
    expect(wire('A: 1\n\nx\ny\n', 1)).toBe('A: 1\r\n\r\nx\r\n.\r\n');
    expect(wire('A: 1\r\nB: 2\r\n', 0)).toBe('A: 1\r\nB: 2\r\n.\r\n');
  });
});

describe('large messages', () => {
  it('a clean message goes out as slices of the stored buffer, no chunk larger than CHUNK', () => {
    const line = `${'x'.repeat(998)}\r\n`;
    const raw = Buffer.from(`Subject: big\r\n\r\n${line.repeat(3000)}`, 'latin1');
    const chunks = [...messageChunks(raw)];
    expect(chunks.every((c) => c.length <= CHUNK)).toBe(true);
    // All but the terminator share the stored buffer's memory (no copy).
    expect(chunks.slice(0, -1).every((c) => c.buffer === raw.buffer)).toBe(true);
    expect(Buffer.concat(chunks).equals(Buffer.concat([raw, Buffer.from('.\r\n')]))).toBe(true);
  });

  it('a bare-LF message is coalesced into few chunks instead of one per line', () => {
    const raw = Buffer.from(`Subject: lf\n\n${'line\n'.repeat(50_000)}`, 'latin1');
    const pieces = [...messagePieces(raw)].length;
    const chunks = [...messageChunks(raw)];
    expect(pieces).toBeGreaterThan(100_000);
    expect(chunks.length).toBeLessThan(10);
    expect(chunks.every((c) => c.length <= CHUNK)).toBe(true);
    expect(Buffer.concat(chunks).toString('latin1')).toBe(`Subject: lf\r\n\r\n${'line\r\n'.repeat(50_000)}.\r\n`);
  });

  it('coalesce keeps the bytes and their order', () => {
    fc.assert(fc.property(fc.array(fc.nat(20_000), { maxLength: 30 }), (sizes) => {
      const pieces = sizes.map((n, i) => Buffer.alloc(n, i % 251));
      const out = [...coalesce(pieces, 16_384)];
      expect(out.every((c) => c.length <= 16_384 && c.length > 0)).toBe(true);
      expect(Buffer.concat(out).equals(Buffer.concat(pieces))).toBe(true);
    }));
  });
});

describe('lineChunks', () => {
  it('a status line, the lines and the terminator', () => {
    expect(Buffer.concat([...lineChunks('+OK 2 messages', ['1 10', '2 20'])]).toString()).toBe('+OK 2 messages\r\n1 10\r\n2 20\r\n.\r\n');
    expect(Buffer.concat([...lineChunks('+OK', [])]).toString()).toBe('+OK\r\n.\r\n');
  });
});
