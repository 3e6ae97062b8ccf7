/**
 * The selected mailbox of one session: the session's own view of the message sequence
 * (RFC 9051 §2.3.1.2) and how it catches up with changes made elsewhere.
 *
 * Invariants:
 * - `uids` is the session's view: ascending UIDs, message sequence number = index + 1. It
 *   changes only when the session tells the client: EXISTS for additions, EXPUNGE (or
 *   VANISHED under QRESYNC) for removals, so both sides always agree on every number.
 * - Expunges made elsewhere are announced only where RFC 9051 §7.5.1 allows them (not
 *   during FETCH, STORE or SEARCH, nor their sequence-number relatives); until then the
 *   UIDs stay in the view, remembered in `pendingExpunge`.
 * - `modseq` is the mailbox modseq up to which everything was looked at; a change with a
 *   higher modseq is either announced or pending. Changes made by this session itself are
 *   not announced again (`suppress`).
 */
import type { Part } from './wire.ts';
import { flagList, seqSet } from './wire.ts';
import type { Box } from './boxes.ts';
import { STAR, type SeqSet } from './types.ts';
import type { Session } from './context.ts';
import { toRanges, type UidRanges } from '../../core/mail/messages.ts';
import { SYSTEM_FLAGS } from '../../core/mail/flags.ts';

export class SeqError extends Error {}

export class SelectedMailbox {
  readonly box: Box;
  readonly readOnly: boolean;
  uidvalidity: number;
  uidnext: number;
  modseq: number;
  #uids: Uint32Array;
  #count: number;
  /** Keywords the client was told about (FLAGS), lower-case -> spelling. */
  readonly keywords = new Map<string, string>();
  readonly pendingExpunge = new Set<number>();
  /** UID -> modseq of flag changes this session made and answered itself. */
  readonly suppress = new Map<number, number>();
  dirty = false;
  unwatch: () => void = () => {};

  constructor(box: Box, readOnly: boolean, view: { uids: Uint32Array; uidvalidity: number; uidnext: number; modseq: number; keywords: string[] }) {
    this.box = box;
    this.readOnly = readOnly;
    this.#uids = view.uids;
    this.#count = view.uids.length;
    this.uidvalidity = view.uidvalidity;
    this.uidnext = view.uidnext;
    this.modseq = view.modseq;
    for (const k of view.keywords) this.keywords.set(k.toLowerCase(), k);
  }

  get count(): number {
    return this.#count;
  }

  get maxUid(): number {
    return this.#count > 0 ? this.#uids[this.#count - 1] : 0;
  }

  uidAt(msn: number): number {
    return this.#uids[msn - 1];
  }

  /** 1-based sequence number of a UID, 0 when not in the view. */
  msnOf(uid: number): number {
    let lo = 0;
    let hi = this.#count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.#uids[mid];
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  allUids(): Uint32Array {
    return this.#uids.subarray(0, this.#count);
  }

  /** New messages (UIDs above the view's highest, ascending). */
  append(uids: readonly number[]): void {
    if (uids.length === 0) return;
    const need = this.#count + uids.length;
    if (need > this.#uids.length) {
      const grown = new Uint32Array(Math.max(need, this.#uids.length * 2, 16));
      grown.set(this.#uids.subarray(0, this.#count));
      this.#uids = grown;
    }
    for (const u of uids) this.#uids[this.#count++] = u;
  }

  /** Removes a UID from the view; returns the sequence number it had (0 if absent). */
  remove(uid: number): number {
    const msn = this.msnOf(uid);
    if (msn === 0) return 0;
    this.#uids.copyWithin(msn - 1, msn, this.#count);
    this.#count--;
    this.pendingExpunge.delete(uid);
    this.suppress.delete(uid);
    return msn;
  }

  /**
   * UIDs in the view named by a sequence set: message sequence numbers (RFC 9051 §9: a number
   * beyond the mailbox is an error, unless lenient), or UIDs (those not in the view are ignored; "*" is the
   * highest UID in the view), or "$" (RFC 5182).
   */
  resolve(set: SeqSet, uid: boolean, saved: readonly number[] | null, lenient = false): number[] {
    if (set.kind === 'saved') {
      if (!saved) return [];
      return saved.filter((u) => this.msnOf(u) > 0);
    }
    const out: number[] = [];
    if (!uid) {
      for (const [a0, b0] of set.ranges) {
        const a = a0 === STAR ? this.#count : a0;
        const b = b0 === STAR ? this.#count : b0;
        let lo = Math.min(a, b);
        let hi = Math.max(a, b);
        if (lo < 1 || hi > this.#count) {
          // SEARCH keys only narrow a result: numbers beyond the mailbox match nothing there.
          if (!lenient) throw new SeqError('Invalid message sequence number');
          lo = Math.max(lo, 1);
          hi = Math.min(hi, this.#count);
        }
        for (let m = lo; m <= hi; m++) out.push(this.#uids[m - 1]);
      }
    } else {
      const max = this.maxUid;
      for (const [a0, b0] of set.ranges) {
        // RFC 9051 §9: "*" is the largest UID in use; n:* includes it even when n is larger.
        const a = a0 === STAR ? max : a0;
        const b = b0 === STAR ? max : b0;
        const lo = Math.min(a, b);
        const hi = Math.max(a, b);
        if (this.#count === 0 || hi < this.#uids[0] || lo > max) continue;
        // Walk the view, not the numbers: 1:4294967295 costs the view's size.
        let i = lowerBound(this.#uids, this.#count, lo);
        for (; i < this.#count && this.#uids[i] <= hi; i++) out.push(this.#uids[i]);
      }
    }
    if (set.ranges.length === 1) return out;
    out.sort((x, y) => x - y);
    return out.filter((u, i) => i === 0 || out[i - 1] !== u);
  }

  ranges(uids: readonly number[]): UidRanges {
    return toRanges(uids);
  }

  /** The FLAGS and PERMANENTFLAGS lines (RFC 9051 §7.3.5, §7.1). */
  flagLines(): string[] {
    const kws = [...this.keywords.values()];
    const flags = flagList([...SYSTEM_FLAGS, ...kws]);
    const perm = this.readOnly ? '()' : flagList([...permanentSystemFlags(this.box.rights), ...(this.box.rights.includes('w') ? [...kws, '\\*'] : [])]);
    return [`* FLAGS ${flags}`, `* OK [PERMANENTFLAGS ${perm}] Flags permitted`];
  }

  /** Learns keywords; true when the client must be told the new FLAGS. */
  learnKeywords(flags: readonly string[]): boolean {
    let added = false;
    for (const f of flags) {
      if (f.startsWith('\\')) continue;
      const k = f.toLowerCase();
      if (!this.keywords.has(k)) {
        this.keywords.set(k, f);
        added = true;
      }
    }
    return added;
  }

  /**
   * Catches up with the store: new messages (EXISTS), flag changes (FETCH) and, when allowed,
   * expunges (EXPUNGE / VANISHED). `force` reads the store even without a bus event (NOOP).
   */
  async refresh(s: Session, opts: { allowExpunge: boolean; force?: boolean }): Promise<void> {
    if (!this.dirty && !opts.force && !(opts.allowExpunge && this.pendingExpunge.size > 0)) return;
    this.dirty = false;
    const ch = await s.deps.messages.changes(this.box.owner, this.box.info.id, this.modseq);
    for (const u of ch.expunged) if (this.msnOf(u) > 0) this.pendingExpunge.add(u);
    const lines: (string | readonly Part[])[] = [];
    // Flag changes of messages in the view.
    const fresh: number[] = [];
    const max = this.maxUid;
    let newKeywords = false;
    const updates: { uid: number; flags: string[]; modseq: number }[] = [];
    for (const c of ch.changed) {
      if (c.uid > max) {
        fresh.push(c.uid);
        if (this.learnKeywords(c.flags)) newKeywords = true;
        continue;
      }
      if (this.pendingExpunge.has(c.uid)) continue;
      const msn = this.msnOf(c.uid);
      if (msn === 0) continue;
      if (this.suppress.get(c.uid) === c.modseq) continue;
      if (this.learnKeywords(c.flags)) newKeywords = true;
      updates.push(c);
    }
    this.suppress.clear();
    if (newKeywords) lines.push(...this.flagLines());
    // Expunges first (their numbers are those of the view as the client knows it), then EXISTS.
    if (opts.allowExpunge && this.pendingExpunge.size > 0) {
      const gone = [...this.pendingExpunge].sort((a, b) => a - b);
      if (s.qresync) {
        for (const u of gone) this.remove(u);
        lines.push(`* VANISHED ${seqSet(gone)}`);
      } else {
        for (const u of gone) lines.push(`* ${this.remove(u)} EXPUNGE`);
      }
    }
    // Flag updates carry the numbers as they are after the expunges above.
    for (const c of updates) {
      const msn = this.msnOf(c.uid);
      if (msn === 0) continue;
      lines.push(`* ${msn} FETCH (UID ${c.uid} FLAGS ${flagList(c.flags)}${s.condstore ? ` MODSEQ (${c.modseq})` : ''})`);
    }
    if (fresh.length > 0) {
      fresh.sort((a, b) => a - b);
      this.append(fresh.filter((u, i) => i === 0 || fresh[i - 1] !== u));
      lines.push(`* ${this.#count} EXISTS`);
      // IMAP4rev1 clients expect RECENT with EXISTS; Bulwark keeps no \Recent state (RFC 9051 removed it).
      if (!s.rev2) lines.push('* 0 RECENT');
    }
    this.modseq = Math.max(this.modseq, ch.modseq);
    this.uidnext = Math.max(this.uidnext, ch.uidnext);
    for (const l of lines) await s.send(l);
  }
}

function lowerBound(a: Uint32Array, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The system flags these rights let a client change (RFC 4314 §4: s for \Seen, t for \Deleted, w for the others). */
export function permanentSystemFlags(rights: string): string[] {
  const out: string[] = [];
  for (const f of SYSTEM_FLAGS) {
    if (f === '\\Seen' ? rights.includes('s') : f === '\\Deleted' ? rights.includes('t') : rights.includes('w')) out.push(f);
  }
  return out;
}

/** May these rights change this flag? */
export function mayChangeFlag(rights: string, flag: string): boolean {
  const f = flag.toLowerCase();
  if (f === '\\seen') return rights.includes('s');
  if (f === '\\deleted') return rights.includes('t');
  return rights.includes('w');
}
