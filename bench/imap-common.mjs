// Shared pieces of the IMAP bench tools (issue 4 point 7): the helpers of ../shared/bench/load
// (argument parsing, loopback guard, statistics, the deterministic message generator) are
// imported from there unchanged, so our messages are the shared tools' messages; imapflow comes
// from this project's node_modules (../shared/bench has none installed, and is read-only).
//
// Also here: the synthetic "rare words" added to the messages of the full-text mailbox, so that
// searches can pick words of known, widely varying frequency (a Zipf distribution over a
// vocabulary of pronounceable non-words, none of which occurs anywhere else in the messages).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SHARED = process.env.SHARED_BENCH ?? path.resolve(here, '../../shared/bench');
export const lib = await import(pathToFileURL(path.join(SHARED, 'load/lib.mjs')).href);
export const smtpClient = await import(pathToFileURL(path.join(SHARED, 'load/smtp-client.mjs')).href);

// ---------- rare-word vocabulary ----------
// Words of four consonant-vowel syllables with consonants that the shared generator's
// vocabulary, names and domains do not put in such a pattern; each word is checked against
// every fixed string the generator uses, so a substring search (Dovecot without FTS) and a
// prefix search (Bulwark's FTS) find exactly the messages that carry the word.
const CONS = 'bdgkvzjx';
const VOWS = 'aeiou';
export const RARE_VOCAB_SIZE = 20000;
let VOCAB = null;
export function rareVocab() {
  if (VOCAB) return VOCAB;
  const syl = [];
  for (const c of CONS) for (const v of VOWS) syl.push(c + v);
  const out = [];
  const seen = new Set();
  const r = lib.rng(0x5eed);
  while (out.length < RARE_VOCAB_SIZE) {
    const w = r.pick(syl) + r.pick(syl) + r.pick(syl) + r.pick(syl);
    if (seen.has(w)) continue;
    seen.add(w);
    out.push(w);
  }
  return (VOCAB = out);
}
// Zipf (s = 1) over ranks 1..N: rank k drawn with probability 1 / (k * H_N).
let CDF = null;
function zipfCdf() {
  if (CDF) return CDF;
  const n = RARE_VOCAB_SIZE;
  CDF = new Float64Array(n);
  let h = 0;
  for (let k = 1; k <= n; k++) { h += 1 / k; CDF[k - 1] = h; }
  for (let k = 0; k < n; k++) CDF[k] /= h;
  return CDF;
}
export function zipfWord(r) {
  const cdf = zipfCdf();
  const x = r();
  let lo = 0, hi = cdf.length - 1;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] < x) lo = mid + 1; else hi = mid; }
  return rareVocab()[lo];
}

/**
 * Adds a line of `n` rare words to the text of a generated message: at the end of a
 * text/plain body, and in both alternatives of a multipart/alternative one (a reader, and
 * Bulwark's index, may take either). Attachment messages get it in their text part.
 */
export function withRareWords(raw, r, n) {
  if (n <= 0) return { raw, words: [] };
  const words = [];
  for (let i = 0; i < n; i++) words.push(zipfWord(r));
  const line = words.join(' ');
  const sep = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, sep);
  let body = raw.slice(sep + 4);
  const b = /boundary="([^"]+)"/.exec(head);
  if (!b) {
    body = body.replace(/\r\n$/, '') + `\r\n${line}\r\n`;
  } else {
    const delim = `\r\n\r\n--${b[1]}`;
    // body: preamble, delim text/plain part, delim second part (html or attachment), ...:
    // the line goes before the second delimiter (the end of the text part), and into the html
    // part before </body>.
    const first = body.indexOf(delim);
    const second = body.indexOf(delim, first + delim.length);
    if (second > 0) body = body.slice(0, second) + `\r\n${line}` + body.slice(second);
    if (/multipart\/alternative/i.test(head)) body = body.replace('\r\n</body></html>', `\r\n<p>${line}</p>\r\n</body></html>`);
  }
  return { raw: `${head}\r\n\r\n${body}`, words };
}

/**
 * Message i of a fill: the shared filler's message(i) (../shared/bench/load/imap-fill.mjs: the
 * same generator, seed, dates, flags), plus the text profile and the rare words. A pure
 * function of (opts, i), so every filler (IMAP APPEND, maildir files) makes the same mailbox.
 * opts: { seed, count, user, profile: 'realistic' | 'text', rareWords }
 */
export function fillMessage(opts, i) {
  const { rng, buildMessage, person, realisticSize } = lib;
  const r = rng((opts.seed * 1000003 + i) >>> 0);
  const start = Date.UTC(2024, 10, 1);
  const date = new Date(start + Math.floor((i / opts.count) * 730 * 86400e3) + r.int(0, 3600e3));
  const reply = i > 0 && r() < 0.2;
  let size;
  if (opts.profile === 'text') {
    const s = realisticSize(r);
    size = s > 30000 ? 6000 + (s % 24000) : s;
  }
  const m = buildMessage({
    r, to: opts.user, date, from: person(r), size,
    messageId: `<fill.${opts.seed}.${i}@bench.example.test>`,
    inReplyTo: reply ? `<fill.${opts.seed}.${r.int(Math.max(0, i - 50), i - 1)}@bench.example.test>` : undefined,
  });
  const flags = [];
  if (r() < 0.7) flags.push('\\Seen');
  if (r() < 0.1) flags.push('\\Answered');
  if (r() < 0.05) flags.push('\\Flagged');
  const rw = withRareWords(m.raw, r, opts.rareWords || 0);
  return { raw: rw.raw, words: rw.words, flags, date };
}

/** Document frequency of each rare word over messages 0..count-1, as bench/imap-fts.mjs reads it. */
export function writeFrequencies(file, opts) {
  const df = new Map();
  for (let i = 0; i < opts.count; i++) {
    for (const w of new Set(fillMessage(opts, i).words)) df.set(w, (df.get(w) || 0) + 1);
  }
  const rows = [...df].sort((a, b) => b[1] - a[1]);
  fs.writeFileSync(file, JSON.stringify({ messages: opts.count, seed: opts.seed, rare_words_per_message: opts.rareWords, df: Object.fromEntries(rows) }) + '\n');
  return rows.length;
}
