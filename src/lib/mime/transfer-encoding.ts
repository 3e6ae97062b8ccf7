/**
 * Content-Transfer-Encoding decoding (RFC 2045 §6): base64 and quoted-printable to bytes;
 * 7bit, 8bit, binary and anything unknown pass through. Both decoders are single passes
 * that never throw: broken mail is decoded as far as it makes sense.
 */

const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Decodes a body. For identity encodings the input itself is returned (no copy).
 */
export function decodeBody(raw: Uint8Array, encoding: string): Uint8Array {
  switch (encoding.trim().toLowerCase()) {
    case 'base64':
      return decodeBase64(raw);
    case 'quoted-printable':
      return decodeQuotedPrintable(raw);
    default:
      return raw;
  }
}

/**
 * RFC 2045 §6.8: "Any characters outside of the base64 alphabet are to be ignored". A "="
 * ends a quantum: leftover bits are dropped and decoding goes on, so that parts glued from
 * separately padded chunks decode whole. Missing padding at the end is tolerated.
 */
export function decodeBase64(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor((raw.length * 3) / 4) + 3);
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    const v = B64[c];
    if (v >= 0) {
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 0xff;
      }
    } else if (c === 0x3d) {
      acc = 0;
      bits = 0;
    }
  }
  return out.subarray(0, o);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57; // lower case: RFC 2045 §6.7 (1) lets a robust decoder accept it
  return -1;
}

/**
 * RFC 2045 §6.7: "=XX" is an octet, "=" at the end of a line (after optional transport
 * padding) is a soft line break, trailing white space on a line is padding to delete, and a
 * "=" followed by anything else is kept as it is (rule (1), "a robust implementation").
 * Line endings are kept as written (CRLF or bare LF).
 */
export function decodeQuotedPrintable(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.length);
  let o = 0;
  // Output before this index came from "=XX" and is not padding, even when it is a space.
  let kept = 0;
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const c = raw[i];
    if (c === 0x3d) {
      const h = i + 2 < n ? hexValue(raw[i + 1]) : -1;
      const l = i + 2 < n ? hexValue(raw[i + 2]) : -1;
      if (h >= 0 && l >= 0) {
        out[o++] = (h << 4) | l;
        kept = o;
        i += 2;
        continue;
      }
      let j = i + 1;
      while (j < n && (raw[j] === 0x20 || raw[j] === 0x09)) j++;
      if (j < n && raw[j] === 0x0d && j + 1 < n && raw[j + 1] === 0x0a) {
        i = j + 1; // soft line break, CRLF
        continue;
      }
      if (j < n && raw[j] === 0x0a) {
        i = j; // soft line break, bare LF
        continue;
      }
      if (j === n) break; // "=" (and padding) at the very end: a soft break before nothing
      out[o++] = c;
      kept = o;
      continue;
    }
    if (c === 0x0a || (c === 0x0d && i + 1 < n && raw[i + 1] === 0x0a)) {
      while (o > kept && (out[o - 1] === 0x20 || out[o - 1] === 0x09)) o--;
      if (c === 0x0d) {
        out[o++] = 0x0d;
        i++;
      }
      out[o++] = 0x0a;
      kept = o;
      continue;
    }
    out[o++] = c;
  }
  while (o > kept && (out[o - 1] === 0x20 || out[o - 1] === 0x09)) o--;
  return out.subarray(0, o);
}
