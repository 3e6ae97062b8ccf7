/**
 * FETCH and UID FETCH (RFC 9051 §6.4.5, §7.5.2), with RFC 3516 BINARY, RFC 7162 MODSEQ,
 * CHANGEDSINCE and VANISHED, RFC 8474 EMAILID/THREADID, RFC 8514 SAVEDATE and RFC 8970
 * PREVIEW. ENVELOPE and BODYSTRUCTURE come from the structure stored at delivery, never from
 * a new parse; only BODY[...] and BINARY[...] read the message bytes.
 *
 * Invariants:
 * - Responses are written message by message, each waiting for the client to read (the
 *   session's send), so FETCH 1:* BODY[] of a large mailbox holds one message in memory.
 * - Fetching a body without .PEEK sets \Seen (RFC 9051 §6.4.5) where the session may, and
 *   the new FLAGS go into that message's response.
 * - Messages another session expunged but this one was not told of yet answer nothing; the
 *   tagged OK says [EXPUNGEISSUED] (RFC 5530).
 */
import type { StoredStructure } from '../../../core/mail/delivery/meta.ts';
import { messageMeta } from '../../../core/mail/delivery/meta.ts';
import type { MessageRow } from '../../../core/mail/messages.ts';
import { SELECTED, bad, command, ok, type Outcome, type Session } from '../context.ts';
import { binarySection, bodyStructureParts, envelopeParts, partial, sectionBytes } from '../message-format.ts';
import { mayChangeFlag } from '../selected.ts';
import type { FetchAtt, Section, SeqSet } from '../types.ts';
import { Literal, astr, binaryLiteral, dateTime, flagList, quote, seqSet, str, type Part } from '../wire.ts';
import { emailId, threadId, uidsOf } from './util.ts';

const CHUNK = 250;

function sectionSpec(sec: Section): string {
  const parts = sec.part.join('.');
  let text = '';
  if (sec.text) {
    text = sec.text;
    if (sec.fields) text += ` (${sec.fields.map((f) => { const p = astr(f, false); return typeof p === 'string' ? p : quote(f); }).join(' ')})`;
  }
  return parts && text ? `${parts}.${text}` : parts || text;
}

function needsStructure(a: FetchAtt): boolean {
  return a.a === 'ENVELOPE' || a.a === 'BODYSTRUCTURE' || a.a === 'BODY' || a.a === 'BODY[]' || a.a === 'BINARY[]' || a.a === 'BINARY.SIZE'
    || a.a === 'RFC822.HEADER' || a.a === 'RFC822.TEXT' || a.a === 'PREVIEW';
}

function needsBody(a: FetchAtt): boolean {
  return a.a === 'BODY[]' || a.a === 'BINARY[]' || a.a === 'BINARY.SIZE' || a.a === 'RFC822' || a.a === 'RFC822.HEADER' || a.a === 'RFC822.TEXT';
}

/** Fetch items that set \Seen unless peeked (RFC 9051 §6.4.5). */
function setsSeen(a: FetchAtt): boolean {
  return ((a.a === 'BODY[]' || a.a === 'BINARY[]') && !a.peek) || a.a === 'RFC822' || a.a === 'RFC822.TEXT';
}

interface FetchOpts {
  uid: boolean;
  set: SeqSet;
  atts: FetchAtt[];
  changedSince?: bigint;
  vanished?: boolean;
}

export async function runFetch(s: Session, o: FetchOpts): Promise<Outcome> {
  const sel = s.selected!;
  if (o.vanished && (!o.uid || o.changedSince === undefined || !s.qresync)) {
    return bad('VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled (RFC 7162 §3.2.6)');
  }
  const atts = [...o.atts];
  // RFC 7162 §3.1: MODSEQ in FETCH, or CHANGEDSINCE, enables CONDSTORE.
  if (atts.some((a) => a.a === 'MODSEQ') || o.changedSince !== undefined) s.enable('CONDSTORE');
  if (o.changedSince !== undefined && !atts.some((a) => a.a === 'MODSEQ')) atts.push({ a: 'MODSEQ' });
  // RFC 9051 §6.4.8: UID FETCH always returns UID.
  if (o.uid && !atts.some((a) => a.a === 'UID')) atts.unshift({ a: 'UID' });
  const uids = uidsOf(s, o.set, o.uid);
  if (o.vanished && o.set.kind === 'set') {
    const since = Number(o.changedSince);
    const inSet = o.set.ranges;
    const gone = (await s.deps.messages.expungedSince(sel.box.owner, sel.box.info.id, since))
      .filter((u) => inSet.some(([a, b]) => u >= Math.min(a, b) && (a === -1 || b === -1 || u <= Math.max(a, b))));
    if (gone.length > 0) await s.send(`* VANISHED (EARLIER) ${seqSet(gone)}`);
  }
  const wantStructure = atts.some(needsStructure);
  const wantBody = atts.some(needsBody);
  const markSeen = !sel.readOnly && mayChangeFlag(sel.box.rights, '\\Seen') && atts.some(setsSeen);
  let missing = false;
  for (let i = 0; i < uids.length; i += CHUNK) {
    const chunk = uids.slice(i, i + CHUNK);
    let rows = await s.deps.messages.rows(sel.box.owner, sel.box.info.id, sel.ranges(chunk));
    if (rows.length < chunk.length) missing = true;
    if (o.changedSince !== undefined) rows = rows.filter((r) => r.modseq > Number(o.changedSince));
    const structures = wantStructure ? await s.deps.messages.structures(sel.box.owner, rows.map((r) => r.blobHash)) : new Map<string, StoredStructure | null>();
    const flagsChanged = new Set<number>();
    if (markSeen) {
      const unseen = rows.filter((r) => !r.flags.includes('\\Seen'));
      if (unseen.length > 0) {
        const res = await s.deps.messages.store(sel.box.owner, sel.box.info.id, sel.ranges(unseen.map((r) => r.uid)), 'add', ['\\Seen']);
        const byUid = new Map(res.changed.map((c) => [c.uid, c]));
        for (const r of rows) {
          const c = byUid.get(r.uid);
          if (!c) continue;
          r.flags = c.flags;
          r.modseq = c.modseq;
          flagsChanged.add(r.uid);
          sel.suppress.set(r.uid, c.modseq);
        }
      }
    }
    for (const row of rows) {
      const msn = sel.msnOf(row.uid);
      if (msn === 0) continue;
      let structure = structures.get(row.blobHash) ?? null;
      let raw: Buffer | null = null;
      if (wantBody || (wantStructure && !structure)) raw = await s.deps.messages.body(sel.box.owner, row.blobHash);
      // A body stored without its structure (never by this version): parse it now.
      if (wantStructure && !structure && raw) structure = messageMeta(raw).structure as StoredStructure;
      const parts = item(s, row, msn, atts, structure, raw, flagsChanged.has(row.uid));
      await s.send(parts);
    }
  }
  return missing ? ok('Some messages were expunged meanwhile', 'EXPUNGEISSUED') : ok(`${o.uid ? 'UID FETCH' : 'FETCH'} completed`);
}

function item(s: Session, row: MessageRow, msn: number, atts: FetchAtt[], st: StoredStructure | null, raw: Buffer | null, flagsChanged: boolean): Part[] {
  const box = s.selected!.box;
  const out: Part[] = [`* ${msn} FETCH (`];
  let first = true;
  const add = (...p: Part[]) => {
    if (!first) out.push(' ');
    first = false;
    out.push(...p);
  };
  let flagsSent = false;
  for (const a of atts) {
    switch (a.a) {
      case 'UID': add(`UID ${row.uid}`); break;
      case 'FLAGS': add(`FLAGS ${flagList(row.flags)}`); flagsSent = true; break;
      case 'INTERNALDATE': add(`INTERNALDATE ${dateTime(row.internalDate)}`); break;
      case 'RFC822.SIZE': add(`RFC822.SIZE ${row.size}`); break;
      case 'MODSEQ': add(`MODSEQ (${row.modseq})`); break;
      case 'EMAILID': add(`EMAILID (${emailId(box, row.emailId)})`); break;
      case 'THREADID': add(`THREADID (${threadId(box, row.threadId)})`); break;
      case 'SAVEDATE': add(`SAVEDATE ${dateTime(row.saveDate)}`); break;
      case 'ENVELOPE': add('ENVELOPE ', ...envelopeParts(st!.envelope, s.utf8)); break;
      case 'BODYSTRUCTURE': add('BODYSTRUCTURE ', ...bodyStructureParts(st!, true, s.utf8)); break;
      case 'BODY': add('BODY ', ...bodyStructureParts(st!, false, s.utf8)); break;
      case 'PREVIEW': add('PREVIEW ', str(st?.preview ?? '', true)); break;
      case 'RFC822': add('RFC822 ', new Literal(raw!)); break;
      case 'RFC822.HEADER': add('RFC822.HEADER ', new Literal(sectionBytes(raw!, st!, { part: [], text: 'HEADER' }))); break;
      case 'RFC822.TEXT': add('RFC822.TEXT ', new Literal(sectionBytes(raw!, st!, { part: [], text: 'TEXT' }))); break;
      case 'BODY[]': {
        const data = partial(sectionBytes(raw!, st!, a.section), a.partial);
        add(`BODY[${sectionSpec(a.section)}]${a.partial ? `<${a.partial.offset}>` : ''} `, new Literal(data));
        break;
      }
      case 'BINARY[]': {
        const r = binarySection(raw!, st!, a.section);
        // RFC 3516 §4.3: an undecodable part fails the whole command (UNKNOWN-CTE); a missing one is NIL.
        if ('error' in r) {
          if (r.error === 'UNKNOWN-CTE') throw new UnknownCte();
          add(`BINARY[${a.section.part.join('.')}] NIL`);
          break;
        }
        const data = partial(r.data, a.partial);
        add(`BINARY[${a.section.part.join('.')}]${a.partial ? `<${a.partial.offset}>` : ''} `, binaryLiteral(data));
        break;
      }
      case 'BINARY.SIZE': {
        const r = binarySection(raw!, st!, a.section);
        if ('error' in r) {
          if (r.error === 'UNKNOWN-CTE') throw new UnknownCte();
          add(`BINARY.SIZE[${a.section.part.join('.')}] NIL`);
          break;
        }
        add(`BINARY.SIZE[${a.section.part.join('.')}] ${r.data.length}`);
        break;
      }
    }
  }
  if (flagsChanged && !flagsSent) add(`FLAGS ${flagList(row.flags)}`);
  out.push(')');
  return out;
}

export class UnknownCte extends Error {}

const fetch = command({
  name: 'FETCH', states: SELECTED,
  async run(s, c) {
    try {
      return await runFetch(s, { uid: c.uid, set: c.set, atts: c.atts, changedSince: c.modifiers.changedSince, vanished: c.modifiers.vanished });
    } catch (e) {
      if (e instanceof UnknownCte) return { status: 'NO', code: 'UNKNOWN-CTE', text: 'A part has a content transfer encoding the server cannot decode' };
      throw e;
    }
  },
});

export const FETCH_COMMANDS = [fetch];
