/**
 * Bytes to text for MIME: charset labels to TextDecoder (the WHATWG Encoding Standard list,
 * which covers the charsets real mail uses), with a fallback for labels it does not know,
 * and the byte-exact reading of header bytes the parser needs.
 */
import { TextDecoder } from 'node:util';
import { Buffer, isAscii, isUtf8 } from 'node:buffer';

const decoders = new Map<string, TextDecoder | null>();

/** A non-fatal decoder for a charset label, or null when TextDecoder does not know it. */
export function decoderFor(charset: string): TextDecoder | null {
  // RFC 2231 §5: a charset in an encoded word may carry "*language"; quotes are a common slip.
  const label = charset.replace(/\*.*$/s, '').replace(/^["'\s]+|["'\s]+$/g, '').toLowerCase();
  let d = decoders.get(label);
  if (d === undefined) {
    try {
      d = label === '' ? null : new TextDecoder(label);
    } catch {
      d = null; // RangeError: not a label the Encoding Standard knows (utf-7, x-unknown, ...)
    }
    // The map is bounded by what senders write; keep it small against label spraying.
    if (decoders.size < 256) decoders.set(label, d);
  }
  return d;
}

/** windows-1252, which the Encoding Standard also answers to "latin1" and "us-ascii". */
const LATIN1 = new TextDecoder('windows-1252');

/**
 * Decodes body or parameter bytes in `charset`. Unknown labels fall back to latin1.
 * us-ascii (and a missing charset) is read as UTF-8 when the bytes are valid UTF-8, since
 * 8-bit text mislabelled as ASCII is nearly always UTF-8 today.
 */
export function decodeCharset(bytes: Uint8Array, charset: string | null | undefined): string {
  const label = (charset ?? '').trim().toLowerCase();
  if (label === '' || label === 'us-ascii' || label === 'ascii') {
    if (isAscii(bytes)) return latin1(bytes);
    return isUtf8(bytes) ? utf8(bytes) : LATIN1.decode(bytes);
  }
  const d = decoderFor(label);
  return d ? d.decode(bytes) : LATIN1.decode(bytes);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function latin1(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('latin1');
}

export function utf8(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('utf8');
}

/**
 * Header bytes as text: UTF-8 when valid (RFC 6532 §3.2), else ISO-8859-1 so that every
 * byte maps to one code point and the text can be turned back into the same bytes.
 */
export function headerText(bytes: Uint8Array): { text: string; latin1: boolean } {
  if (isAscii(bytes)) return { text: latin1(bytes), latin1: false };
  if (isUtf8(bytes)) return { text: utf8(bytes), latin1: false };
  return { text: latin1(bytes), latin1: true };
}

/** The inverse of headerText for one piece of its text. */
export function headerBytes(text: string, wasLatin1: boolean): Uint8Array {
  return Buffer.from(text, wasLatin1 ? 'latin1' : 'utf8');
}
