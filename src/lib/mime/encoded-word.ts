/**
 * RFC 2047 encoded words ("=?charset?B|Q?text?=") in header text: decoding for display
 * (Subject, display names, JMAP). Never throws; a word that cannot be decoded (unknown
 * charset, characters outside the encoding's alphabet) is left exactly as written.
 */
import { TextDecoder } from 'node:util';
import { decodeBase64 } from './transfer-encoding.ts';
import { decoderFor } from './charset.ts';

// RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="; no white space
// and no "?" inside the text. RFC 2047 §5 limits where words may appear; like most readers we
// decode them anywhere (also inside quoted strings and glued to other text), as senders do
// put them there. Each match attempt stops at the next "?" or space, so the scan is linear.
const WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
const B_TEXT = /^[A-Za-z0-9+/]*=*$/;
const WSP_ONLY = /^[ \t\r\n]*$/;
const UTF8 = new TextEncoder();

function qBytes(text: string): Uint8Array {
  // RFC 2047 §4.2: "_" is 0x20, "=XX" an octet, other printable ASCII stands for itself.
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) out.push(0x20);
    else if (c === 0x3d && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) out.push(c);
    else for (const b of UTF8.encode(text[i])) out.push(b); // not valid Q; keep it readable
  }
  return Uint8Array.from(out);
}

function wordBytes(encoding: string, text: string): Uint8Array | null {
  if (encoding === 'b' || encoding === 'B') {
    if (!B_TEXT.test(text)) return null;
    // RFC 2047 §4.1 B is RFC 2045 base64; missing padding is forgiven.
    const ascii = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) ascii[i] = text.charCodeAt(i);
    return decodeBase64(ascii);
  }
  return qBytes(text);
}

/** Decodes the RFC 2047 encoded words in `s`, leaving everything else as it is. */
export function decodeEncodedWords(s: string): string {
  if (!s.includes('=?')) return s;
  let out = '';
  let last = 0;
  let prevWasWord = false;
  // A run of adjacent words in one charset is decoded as one byte string, because senders
  // split multi-byte characters across words (RFC 2047 §5 forbids it; Outlook and others do it).
  let run: { decoder: TextDecoder; chunks: Uint8Array[] } | null = null;
  const flush = () => {
    if (run) out += run.decoder.decode(concat(run.chunks));
    run = null;
  };
  for (const m of s.matchAll(WORD)) {
    const gap = s.slice(last, m.index);
    last = m.index + m[0].length;
    const decoder = decoderFor(m[1]);
    const bytes = decoder ? wordBytes(m[2], m[3]) : null;
    if (!decoder || !bytes) {
      flush();
      out += gap + m[0];
      prevWasWord = false;
      continue;
    }
    // RFC 2047 §6.2: "any 'linear-white-space' that separates a pair of adjacent
    // 'encoded-word's is ignored".
    if (!(prevWasWord && WSP_ONLY.test(gap))) {
      flush();
      out += gap;
    }
    // flush() resets `run` inside a closure, which TypeScript's narrowing cannot see.
    let current = run as { decoder: TextDecoder; chunks: Uint8Array[] } | null;
    if (current === null || current.decoder.encoding !== decoder.encoding) {
      flush();
      run = current = { decoder, chunks: [] };
    }
    current.chunks.push(bytes);
    prevWasWord = true;
  }
  flush();
  return out + s.slice(last);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
