/**
 * SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and
 * MODSEQ (RFC 7162 §3.1.5); SORT (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO, RFC 5267 ESORT)
 * and THREAD=ORDEREDSUBJECT / THREAD=REFERENCES (RFC 5256). The IMAP search keys become
 * core's criteria here (message numbers and "$" turned into UIDs of the session's view);
 * core evaluates them (core/mail/search.ts).
 */
import { search, type Criterion, type SearchRow } from '../../../core/mail/search.ts';
import type { StoredStructure } from '../../../core/mail/delivery/meta.ts';
import { baseSubject, formatThreads, subjectKey, threadOrderedSubject, threadReferences, type ThreadInput } from '../../../core/mail/threading.ts';
import { parseMessageIds } from '../../../lib/mime/index.ts';
import { SELECTED, command, no, ok, type Outcome, type Session } from '../context.ts';
import type { SearchKey, SearchReturn, SortCriterion } from '../types.ts';
import { quote, seqSet } from '../wire.ts';
import { CHARSETS, decodeSearchString, parseObjectId } from './util.ts';

const NONE: Criterion = { k: 'none' };
const MAX_DEPTH = 100;

/** IMAP search keys to core criteria (throws for nesting beyond MAX_DEPTH; the parser bounds it already). */
export function toCriterion(s: Session, key: SearchKey, charset: string | null, depth = 0): Criterion {
  if (depth > MAX_DEPTH) throw new Error('search nesting too deep');
  const sel = s.selected!;
  const str = (b: Buffer) => decodeSearchString(b, charset);
  const sub = (k: SearchKey) => toCriterion(s, k, charset, depth + 1);
  switch (key.k) {
    case 'all': return { k: 'all' };
    case 'and': return { k: 'and', of: key.keys.map(sub) };
    case 'or': return { k: 'or', of: [sub(key.a), sub(key.b)] };
    case 'not': return { k: 'not', of: sub(key.key) };
    case 'flag': return { k: 'flag', flag: key.flag, set: key.set };
    // No \Recent state (IMAP4rev2 dropped it): nothing is recent, everything is old.
    case 'recent': return key.which === 'old' ? { k: 'all' } : NONE;
    case 'seq': return { k: 'uids', ranges: sel.ranges(sel.resolve(key.set, false, s.savedResult, true)) };
    case 'uid': return { k: 'uids', ranges: sel.ranges(sel.resolve(key.set, true, s.savedResult)) };
    case 'larger': return { k: 'size', cmp: 'gt', n: key.n };
    case 'smaller': return { k: 'size', cmp: 'lt', n: key.n };
    case 'date': return { k: 'date', field: key.field, cmp: key.cmp, day: key.day };
    case 'savedatesupported': return { k: 'all' };
    case 'age': return { k: 'age', cmp: key.cmp, seconds: key.seconds };
    case 'envelope':
      return key.field === 'subject' ? { k: 'subject', value: str(key.value) } : { k: 'address', field: key.field, value: str(key.value) };
    case 'header': return { k: 'header', field: key.field, value: str(key.value) };
    case 'text': return { k: 'text', where: key.where, value: str(key.value) };
    case 'modseq':
      s.enable('CONDSTORE');
      return { k: 'modseq', n: Number(key.n) };
    case 'emailid': {
      const id = parseObjectId(sel.box, 'M', key.id);
      return id === null ? NONE : { k: 'emailid', id };
    }
    case 'threadid': {
      const id = parseObjectId(sel.box, 'T', key.id);
      return id === null ? NONE : { k: 'threadid', id };
    }
  }
}

function usesModseq(key: SearchKey): boolean {
  switch (key.k) {
    case 'modseq': return true;
    case 'and': return key.keys.some(usesModseq);
    case 'or': return usesModseq(key.a) || usesModseq(key.b);
    case 'not': return usesModseq(key.key);
    default: return false;
  }
}

function badCharset(charset: string | null): Outcome | null {
  if (charset === null || CHARSETS.includes(charset.toUpperCase())) return null;
  return no('Charset not supported', `BADCHARSET (${CHARSETS.join(' ')})`);
}

function deps(s: Session) {
  const d = s.deps;
  return {
    mail: d.mail,
    catchUp: (a: Parameters<typeof d.indexer.catchUp>[0], id: number) => d.indexer.catchUp(a, id),
    structures: (a: Parameters<typeof d.messages.structures>[0], h: readonly string[]) => d.messages.structures(a, h),
    body: (a: Parameters<typeof d.messages.body>[0], h: string) => d.messages.body(a, h),
  };
}

/** Matching rows restricted to the session's view (messages it has not been told of yet are not in any result). */
async function matching(s: Session, criterion: Criterion, structures: boolean): Promise<{ rows: SearchRow[]; structures: Map<string, StoredStructure | null> }> {
  const sel = s.selected!;
  const r = await search(deps(s), sel.box.owner, sel.box.info.id, criterion, { structures });
  return { rows: r.rows.filter((x) => sel.msnOf(x.uid) > 0), structures: r.structures };
}

/** Numbers of a result as the command asks: UIDs, or message numbers of the view. */
function numbers(s: Session, uid: boolean, uids: readonly number[]): number[] {
  return uid ? [...uids] : uids.map((u) => s.selected!.msnOf(u));
}

const searchCmd = command({
  name: 'SEARCH', states: SELECTED,
  async run(s, c) {
    const cs = badCharset(c.charset);
    if (cs) {
      // RFC 5182 §2.1: a SEARCH that fails leaves "$" empty.
      if (c.ret?.includes('SAVE')) s.savedResult = [];
      return cs;
    }
    let rows: SearchRow[];
    try {
      rows = (await matching(s, toCriterion(s, c.key, c.charset), false)).rows;
    } catch (e) {
      // RFC 5182 §2.1: a SEARCH that fails leaves "$" empty.
      if (c.ret?.includes('SAVE')) s.savedResult = [];
      throw e;
    }
    const uids = rows.map((r) => r.uid);
    const nums = numbers(s, c.uid, uids);
    const modseq = usesModseq(c.key) && rows.length > 0 ? Math.max(...rows.map((r) => r.modseq)) : 0;
    const ret = c.ret ?? (s.rev2 ? ['ALL' as SearchReturn] : null);
    if (ret === null) {
      await s.send(`* SEARCH${nums.map((n) => ` ${n}`).join('')}${modseq ? ` (MODSEQ ${modseq})` : ''}`);
      return ok(`${c.uid ? 'UID SEARCH' : 'SEARCH'} completed`);
    }
    await esearch(s, c.uid, ret.length === 0 ? ['ALL'] : ret, nums, uids, modseq, false);
    return ok(`${c.uid ? 'UID SEARCH' : 'SEARCH'} completed`);
  },
});

/** RFC 4731 §3.1 ESEARCH response, RFC 5182 SAVE, RFC 5267 for SORT (ALL in sorted order). */
async function esearch(s: Session, uid: boolean, ret: readonly SearchReturn[], nums: number[], uids: number[], modseq: number, sorted: boolean): Promise<void> {
  const want = new Set(ret);
  if (want.has('SAVE')) {
    // RFC 5182 §2.1: with MIN or MAX, only those are saved.
    if (want.has('MIN') || want.has('MAX')) {
      const keep: number[] = [];
      if (uids.length > 0) {
        const sortedU = [...uids].sort((a, b) => a - b);
        if (want.has('MIN')) keep.push(sortedU[0]);
        if (want.has('MAX') && sortedU[sortedU.length - 1] !== keep[0]) keep.push(sortedU[sortedU.length - 1]);
      }
      s.savedResult = keep;
    } else {
      s.savedResult = [...uids].sort((a, b) => a - b);
    }
    // RFC 5182 §2.1: SAVE alone gives no ESEARCH response.
    if (want.size === 1) return;
  }
  const items: string[] = [`* ESEARCH (TAG ${quote(s.tag)})`];
  if (uid) items.push('UID');
  const asc = [...nums].sort((a, b) => a - b);
  if (want.has('MIN') && asc.length > 0) items.push(`MIN ${asc[0]}`);
  if (want.has('MAX') && asc.length > 0) items.push(`MAX ${asc[asc.length - 1]}`);
  if (want.has('ALL') && nums.length > 0) items.push(`ALL ${sorted ? orderedSet(nums) : seqSet(asc)}`);
  if (want.has('COUNT')) items.push(`COUNT ${nums.length}`);
  if (modseq) items.push(`MODSEQ ${modseq}`);
  await s.send(items.join(' '));
}

/** A list in a given order, with runs of consecutive ascending numbers as ranges. */
function orderedSet(nums: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < nums.length; i++) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    out.push(j > i ? `${nums[i]}:${nums[j]}` : `${nums[i]}`);
    i = j;
  }
  return out.join(',');
}

// ---- SORT (RFC 5256 §3)

function firstAddress(st: StoredStructure | null | undefined, field: 'from' | 'to' | 'cc'): { mailbox: string; display: string } {
  const a = st?.envelope[field]?.find((x) => x.host !== null);
  if (!a) return { mailbox: '', display: '' };
  const mailbox = (a.mailbox ?? '').toLowerCase();
  const addr = a.host ? `${a.mailbox}@${a.host}` : a.mailbox ?? '';
  // RFC 5957 §3: the display name, or the address when there is none.
  return { mailbox, display: (a.name && a.name.trim() ? a.name : addr).toLowerCase() };
}

function sortKey(c: SortCriterion, r: SearchRow, st: StoredStructure | null | undefined): string | number {
  switch (c.key) {
    case 'ARRIVAL': return r.internalDate;
    case 'DATE': return r.sentDate ?? r.internalDate;
    case 'SIZE': return r.size;
    // The same key THREAD groups by, so SORT and THREAD agree.
    case 'SUBJECT': return subjectKey(baseSubject(r.subject ?? ''));
    case 'FROM': return firstAddress(st, 'from').mailbox;
    case 'TO': return firstAddress(st, 'to').mailbox;
    case 'CC': return firstAddress(st, 'cc').mailbox;
    case 'DISPLAYFROM': return firstAddress(st, 'from').display;
    case 'DISPLAYTO': return firstAddress(st, 'to').display;
  }
}

const sortCmd = command({
  name: 'SORT', states: SELECTED,
  async run(s, c) {
    const cs = badCharset(c.charset);
    if (cs) return cs;
    const sel = s.selected!;
    const needEnvelope = c.criteria.some((x) => !['ARRIVAL', 'DATE', 'SIZE', 'SUBJECT'].includes(x.key));
    const { rows, structures } = await matching(s, toCriterion(s, c.key, c.charset), needEnvelope);
    const keyed = rows.map((r) => ({ r, msn: sel.msnOf(r.uid), keys: c.criteria.map((k) => sortKey(k, r, structures.get(r.blobHash))) }));
    keyed.sort((a, b) => {
      for (let i = 0; i < c.criteria.length; i++) {
        const x = a.keys[i];
        const y = b.keys[i];
        const d = x < y ? -1 : x > y ? 1 : 0;
        if (d !== 0) return c.criteria[i].reverse ? -d : d;
      }
      // RFC 5256 §3: ties in sequence order.
      return a.msn - b.msn;
    });
    const nums = keyed.map((k) => (c.uid ? k.r.uid : k.msn));
    if (c.ret) {
      await esearch(s, c.uid, c.ret.length === 0 ? ['ALL'] : c.ret, nums, keyed.map((k) => k.r.uid), 0, true);
    } else {
      await s.send(`* SORT${nums.map((n) => ` ${n}`).join('')}`);
    }
    return ok(`${c.uid ? 'UID SORT' : 'SORT'} completed`);
  },
});

// ---- THREAD (RFC 5256 §3)

const threadCmd = command({
  name: 'THREAD', states: SELECTED,
  async run(s, c) {
    const cs = badCharset(c.charset);
    if (cs) return cs;
    const sel = s.selected!;
    const { rows, structures } = await matching(s, toCriterion(s, c.key, c.charset), true);
    const inputs: ThreadInput[] = [];
    for (const r of rows) {
      const st = structures.get(r.blobHash);
      const env = st?.envelope;
      inputs.push({
        id: c.uid ? r.uid : sel.msnOf(r.uid),
        messageId: env?.messageId ? (parseMessageIds(env.messageId)[0] ?? null) : null,
        inReplyTo: env?.inReplyTo ? (parseMessageIds(env.inReplyTo)[0] ?? null) : null,
        references: st?.references ?? [],
        subject: r.subject ?? '',
        date: r.sentDate ?? r.internalDate,
      });
    }
    const tree = c.algorithm === 'REFERENCES' ? threadReferences(inputs) : threadOrderedSubject(inputs);
    const text = formatThreads(tree);
    await s.send(`* THREAD${text ? ` ${text}` : ''}`);
    return ok(`${c.uid ? 'UID THREAD' : 'THREAD'} completed`);
  },
});

export const SEARCH_COMMANDS = [searchCmd, sortCmd, threadCmd];
