/**
 * Date header parsing (RFC 5322 §3.3 date-time, the obsolete forms of §4.3, and the broken
 * shapes common in real mail: missing day of week or seconds, full month names, asctime
 * order, ISO 8601, zone names and "GMT+0100"). Returns epoch milliseconds or null.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Zone names to offsets in minutes. */
const ZONES: Record<string, number> = {
  // RFC 5322 §4.3 obs-zone.
  ut: 0, gmt: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
  // Common in the wild though never standard.
  utc: 0, z: 0, wet: 0, west: 60, bst: 60, cet: 60, cest: 120, met: 60, mest: 120, eet: 120, eest: 180,
  msk: 180, jst: 540, kst: 540, hkt: 480, sgt: 480, aest: 600, aedt: 660, acst: 570, awst: 480,
  nzst: 720, nzdt: 780, hst: -600, akst: -540, akdt: -480, ast: -240, adt: -180, nst: -210, ndt: -150,
};

function stripComments(s: string): string {
  // RFC 5322 §3.2.2: CFWS may appear between the tokens; "(CET)" after the zone is common.
  let out = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (depth === 0) {
      if (c === '(') depth = 1;
      else out += c;
    } else if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) out += ' ';
  }
  return out;
}

function daysInMonth(year: number, month0: number): number {
  return new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();
}

function build(y: number, mo0: number, d: number, h: number, mi: number, s: number, zoneMinutes: number): number | null {
  if (!(y >= 1000 && y <= 9999) || !(mo0 >= 0 && mo0 <= 11)) return null;
  if (!(d >= 1 && d <= daysInMonth(y, mo0))) return null;
  // RFC 5322 §3.3: second may be 60 (a leap second); hours and minutes in their ranges.
  if (!(h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 60)) return null;
  const t = Date.UTC(y, mo0, d, h, mi, s) - zoneMinutes * 60_000;
  return Number.isFinite(t) ? t : null;
}

/** "+0100", "-05:00", "+1", "+01": minutes east of UTC, or null. */
function numericZone(tok: string): number | null {
  const m = /^([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(tok);
  if (!m) return null;
  // "+100" and "+0100" differ; four digits hhmm, one or two digits hh.
  const hh = Number(m[2]);
  const mm = m[3] === undefined ? 0 : Number(m[3]);
  if (hh > 23 || mm > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (hh * 60 + mm);
}

function year2(y: string): number {
  // RFC 5322 §4.3: a two-digit year is 1900+ when 50 or more, else 2000+; three digits, 1900+.
  const n = Number(y);
  if (y.length === 2) return n < 50 ? 2000 + n : 1900 + n;
  if (y.length === 3) return 1900 + n;
  return n;
}

const ISO = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*(z|utc|gmt|[+-]\d{2}(?::?\d{2})?)?$/i;

/** RFC 5322 §3.3 date-time (and its relatives) to epoch milliseconds; null when not a date. */
export function parseDate(value: string): number | null {
  if (typeof value !== 'string' || value.length > 1000) return null;
  const s = stripComments(value).trim().toLowerCase();
  const iso = ISO.exec(s);
  if (iso) {
    const z = iso[7] === undefined ? 0 : /^[+-]/.test(iso[7]) ? numericZone(iso[7]) : 0;
    if (z === null) return null;
    return build(Number(iso[1]), Number(iso[2]) - 1, Number(iso[3]), Number(iso[4] ?? 0), Number(iso[5] ?? 0), Number(iso[6] ?? 0), z);
  }
  let month = -1;
  let time: number[] | null = null;
  let zone: number | null = null;
  let pm: boolean | null = null;
  const numbers: string[] = [];
  // "Mon, 2 Jan 2024 ...", "2-Jan-2024", "Jan 2 2024": split at white space, commas and the
  // dashes of a dd-Mon-yyyy date (a zone's "-0500" keeps its sign: it follows white space).
  const tokens = s.replace(/(\d)-(?=[a-z])|([a-z])-(?=\d)/g, '$1$2 ').split(/[\s,]+/).filter((t) => t.length > 0);
  for (let tok of tokens) {
    // Time with a zone glued on: "03:04:05+0100", "03:04:05z".
    const tz = /^(\d{1,2}[:.]\d{1,2}(?:[:.]\d{1,2})?)([+-]\d{2}:?\d{2}|z)$/.exec(tok);
    if (tz) {
      tok = tz[1];
      zone = tz[2] === 'z' ? 0 : numericZone(tz[2]);
    }
    const tm = /^(\d{1,2})[:.](\d{1,2})(?:[:.](\d{1,2}))?(?:\.\d+)?$/.exec(tok);
    if (tm && time === null) {
      time = [Number(tm[1]), Number(tm[2]), Number(tm[3] ?? 0)];
      continue;
    }
    if (/^\d+$/.test(tok)) {
      numbers.push(tok);
      continue;
    }
    if (/^[+-]\d/.test(tok)) {
      if (zone === null) zone = numericZone(tok);
      continue;
    }
    const gz = /^(?:gmt|utc|ut)([+-]\d{1,2}(?::?\d{2})?)$/.exec(tok);
    if (gz) {
      if (zone === null) zone = numericZone(gz[1]);
      continue;
    }
    if (tok === 'am' || tok === 'pm') {
      pm = tok === 'pm';
      continue;
    }
    const word = tok.replace(/\.$/, '');
    if (month < 0 && word.length >= 3 && /^[a-z]+$/.test(word)) {
      const i = MONTHS.indexOf(word.slice(0, 3));
      if (i >= 0 && (word.length === 3 || 'january february march april may june july august september october november december'.split(' ')[i].startsWith(word))) {
        month = i;
        continue;
      }
    }
    if (zone === null && Object.hasOwn(ZONES, word)) {
      zone = ZONES[word];
      continue;
    }
    // RFC 5322 §4.3: military zones are ambiguous; "SHOULD all be considered equivalent to -0000".
    if (zone === null && /^[a-ik-z]$/.test(word)) {
      zone = 0;
      continue;
    }
    // Day names and other words are ignored.
  }
  if (month < 0 || numbers.length < 2) return null;
  // RFC 5322 order is day month year; asctime is month day time year. A four-digit number is
  // the year wherever it is; otherwise the first number is the day.
  let yi = numbers.findIndex((n) => n.length >= 3);
  if (yi < 0) yi = 1;
  const di = yi === 0 ? 1 : 0;
  if (numbers[di].length > 2) return null;
  const year = year2(numbers[yi]);
  const day = Number(numbers[di]);
  let [h, mi, sec] = time ?? [0, 0, 0];
  if (pm !== null && h >= 1 && h <= 12) h = (h % 12) + (pm ? 12 : 0);
  return build(year, month, day, h, mi, sec, zone ?? 0);
}
