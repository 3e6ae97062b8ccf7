/**
 * The POP3 framer (src/protocols/pop3/input.ts): lines from any chunking, bare LF accepted,
 * long lines dropped and reported in step, a flood without line end cut (GW-DOS-4).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Pop3Input, type InputEvent } from '../../../src/protocols/pop3/input.ts';

const frame = (chunks: (string | Buffer)[], maxLine = 64, flood = 1024): InputEvent[] => {
  const input = new Pop3Input({ maxLine, flood });
  return chunks.flatMap((c) => input.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
};
const lines = (evs: InputEvent[]) => evs.map((e) => (e.type === 'line' ? e.text : `<${e.type}>`));

describe('Pop3Input', () => {
  it('frames pipelined commands of one chunk, in order (RFC 2449 §6.6 PIPELINING)', () => {
    expect(lines(frame(['USER a\r\nPASS b c\r\nSTAT\r\n']))).toEqual(['USER a', 'PASS b c', 'STAT']);
  });

  it('takes a bare LF as a line end, and a CR elsewhere as an ordinary byte', () => {
    expect(lines(frame(['NOOP\nSTAT\r\nA\rB\r\n']))).toEqual(['NOOP', 'STAT', 'A\rB']);
  });

  it('gives the same events however the bytes are split', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('USER x', 'PASS  y ', '', 'A'.repeat(80), 'RETR 1'), { maxLength: 8 }), fc.array(fc.nat(200), { maxLength: 6 }), (ls, cuts) => {
      const text = Buffer.from(ls.map((l) => `${l}\r\n`).join(''), 'latin1');
      const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let prev = 0;
      for (const p of points) {
        chunks.push(text.subarray(prev, p));
        prev = p;
      }
      chunks.push(text.subarray(prev));
      expect(frame(chunks)).toEqual(frame([text]));
    }));
  });

  it('accepts maxLine octets before the line end and refuses one more, in step with the next line', () => {
    const ok = 'x'.repeat(64);
    expect(frame([`${ok}\r\n`])).toEqual([{ type: 'line', text: ok, octets: 64 }]);
    expect(frame([`${ok}x\r\nNOOP\r\n`])).toEqual([{ type: 'too-long', octets: 65 }, { type: 'line', text: 'NOOP', octets: 4 }]);
    // Dropped as it arrives, across chunks.
    expect(lines(frame(['y'.repeat(50), 'y'.repeat(50), '\r\nSTAT\r\n']))).toEqual(['<too-long>', 'STAT']);
  });

  it('counts octets, not characters (RFC 2449 §4)', () => {
    const [e] = frame([Buffer.concat([Buffer.from('PASS '), Buffer.from('pässwörd', 'utf8'), Buffer.from('\r\n')])]);
    expect(e).toEqual({ type: 'line', text: 'PASS pässwörd', octets: 15 });
  });

  it('GW-DOS-4: a flood without a line end is cut, and nothing is read after it', () => {
    const input = new Pop3Input({ maxLine: 64, flood: 1024 });
    expect(input.push(Buffer.alloc(1000, 0x41))).toEqual([]);
    expect(input.pending()).toBe(1000);
    expect(input.push(Buffer.alloc(100, 0x41))).toEqual([{ type: 'flood' }]);
    expect(input.dead).toBe(true);
    expect(input.push(Buffer.from('\r\nNOOP\r\n'))).toEqual([]);
  });

  it('reset() forgets a line begun (RFC 2595 §4: bytes after STLS are not commands)', () => {
    const input = new Pop3Input({ maxLine: 64, flood: 1024 });
    expect(input.push(Buffer.from('USER mall'))).toEqual([]);
    expect(input.pending()).toBe(9);
    input.reset();
    expect(input.push(Buffer.from('ory\r\nCAPA\r\n')).map((e) => (e.type === 'line' ? e.text : e.type))).toEqual(['ory', 'CAPA']);
  });
});
