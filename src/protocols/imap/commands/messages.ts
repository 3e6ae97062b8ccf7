/**
 * Commands that change messages of the selected mailbox or move them elsewhere: STORE (RFC
 * 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE), EXPUNGE and UID EXPUNGE (RFC 4315), CLOSE, UNSELECT
 * (RFC 3691), CHECK, COPY (RFC 4315 COPYUID) and MOVE (RFC 6851), and APPEND (RFC 9051
 * §6.3.12, RFC 3502 MULTIAPPEND, RFC 4315 APPENDUID, RFC 3516 literal8, RFC 6855 UTF8).
 */
import crypto from 'node:crypto';
import { DomainError } from '../../../core/errors.ts';
import { AUTHED, SELECTED, bad, command, no, ok, type Outcome, type Session } from '../context.ts';
import { requireRight, resolveBox, type Box } from '../boxes.ts';
import { mayChangeFlag } from '../selected.ts';
import { flagList, seqSet } from '../wire.ts';
import { fullName } from './mailbox.ts';
import { uidsOf } from './util.ts';

/** \Recent belongs to the session (IMAP4rev1) and is never stored: it is dropped from STORE and APPEND lists. */
function storable(flags: readonly string[]): string[] {
  return flags.filter((f) => f.toLowerCase() !== '\\recent');
}

function writable(s: Session): Outcome | null {
  // RFC 9051 §6.3.3: EXAMINE opens read-only; changing commands fail.
  return s.selected!.readOnly ? no('The mailbox is open read-only', 'READ-ONLY') : null;
}

const store = command({
  name: 'STORE', states: SELECTED,
  async run(s, c) {
    const sel = s.selected!;
    const refused = writable(s);
    if (refused) return refused;
    if (c.unchangedSince !== undefined) s.enable('CONDSTORE');
    const uids = uidsOf(s, c.set, c.uid);
    const flags = storable(c.action.flags);
    const rights = sel.box.rights;
    if (flags.length > 0 && !flags.some((f) => mayChangeFlag(rights, f))) return no('Changing these flags needs rights you do not have', 'NOPERM');
    const r = await s.deps.messages.store(sel.box.owner, sel.box.info.id, sel.ranges(uids), c.action.op, flags,
      { unchangedSince: c.unchangedSince === undefined ? undefined : Number(c.unchangedSince), allowed: (f) => mayChangeFlag(rights, f) });
    if (sel.learnKeywords(r.changed.flatMap((x) => x.flags))) for (const l of sel.flagLines()) await s.send(l);
    const condstore = s.condstore;
    const answered = [...r.changed, ...(c.action.silent ? [] : r.unchanged)].sort((a, b) => a.uid - b.uid);
    const changedUids = new Set(r.changed.map((x) => x.uid));
    for (const m of answered) {
      const msn = sel.msnOf(m.uid);
      if (msn === 0) continue;
      if (changedUids.has(m.uid)) sel.suppress.set(m.uid, m.modseq);
      // RFC 7162 §3.1.3: with CONDSTORE, a silent STORE still reports the new MODSEQ.
      if (c.action.silent) {
        if (condstore) await s.send(`* ${msn} FETCH (UID ${m.uid} MODSEQ (${m.modseq}))`);
        continue;
      }
      await s.send(`* ${msn} FETCH (UID ${m.uid} FLAGS ${flagList(m.flags)}${condstore ? ` MODSEQ (${m.modseq})` : ''})`);
    }
    if (r.conflicts.length > 0) {
      const ids = c.uid ? r.conflicts : r.conflicts.map((u) => sel.msnOf(u)).filter((n) => n > 0).sort((a, b) => a - b);
      return ok('Some messages were modified meanwhile', `MODIFIED ${seqSet(ids)}`);
    }
    return ok(`${c.uid ? 'UID STORE' : 'STORE'} completed`);
  },
});

/** Tells the client of messages this session removed itself. */
async function announceExpunged(s: Session, uids: readonly number[]): Promise<void> {
  const sel = s.selected!;
  if (uids.length === 0) return;
  if (s.qresync) {
    for (const u of uids) sel.remove(u);
    await s.send(`* VANISHED ${seqSet(uids)}`);
    return;
  }
  // Ascending UIDs: each removal shifts the numbers after it, so each msn is read afresh.
  for (const u of uids) {
    const msn = sel.remove(u);
    if (msn > 0) await s.send(`* ${msn} EXPUNGE`);
  }
}

async function expungeIn(s: Session, uidSet?: number[]): Promise<Outcome> {
  const sel = s.selected!;
  const refused = writable(s);
  if (refused) return refused;
  requireRight(sel.box, 'e', 'expunging');
  const r = await s.deps.messages.expunge(sel.box.owner, sel.box.info.id, uidSet ? sel.ranges(uidSet) : undefined);
  await announceExpunged(s, r.uids);
  return ok('EXPUNGE completed', s.condstore && r.modseq ? `HIGHESTMODSEQ ${r.modseq}` : undefined);
}

const expunge = command({
  name: 'EXPUNGE', states: SELECTED,
  async run(s) {
    return expungeIn(s);
  },
});

const uidExpunge = command({
  name: 'UID EXPUNGE', states: SELECTED,
  async run(s, c) {
    return expungeIn(s, uidsOf(s, c.set, true));
  },
});

const close = command({
  name: 'CLOSE', states: SELECTED,
  async run(s) {
    const sel = s.selected!;
    // RFC 9051 §6.4.1: expunge silently, unless read-only; then deselect.
    if (!sel.readOnly && sel.box.rights.includes('e')) {
      try {
        await s.deps.messages.expunge(sel.box.owner, sel.box.info.id);
      } finally {
        s.deselect();
      }
    } else {
      s.deselect();
    }
    return ok('CLOSE completed');
  },
});

const unselect = command({
  name: 'UNSELECT', states: SELECTED,
  async run(s) {
    s.deselect();
    return ok('UNSELECT completed');
  },
});

const check = command({
  name: 'CHECK', states: SELECTED,
  // IMAP4rev1 §6.4.1: everything is durable when answered anyway.
  async run() {
    return ok('CHECK completed');
  },
});

async function target(s: Session, name: string): Promise<Box | Outcome> {
  try {
    return await resolveBox(s, name);
  } catch (e) {
    // RFC 9051 §6.4.7: a target that does not exist is TRYCREATE.
    if (e instanceof DomainError && e.code === 'NOT_FOUND') return no('No such mailbox', 'TRYCREATE');
    throw e;
  }
}

const copyMove = (name: 'COPY' | 'MOVE') => command({
  name, states: SELECTED,
  async run(s, c) {
    const sel = s.selected!;
    const dst = await target(s, fullName(s, c.mailbox));
    if (!('owner' in dst)) return dst;
    requireRight(sel.box, 'r', 'copying');
    requireRight(dst, 'i', 'copying into a mailbox');
    const uids = uidsOf(s, c.set, c.uid);
    if (name === 'MOVE') {
      const refused = writable(s);
      if (refused) return refused;
      // RFC 6851 §3.3 with RFC 4314: moving out removes, which needs t and e.
      requireRight(sel.box, 't', 'moving');
      requireRight(sel.box, 'e', 'moving');
    }
    if (uids.length === 0) return ok(`${name} completed`);
    if (name === 'COPY') {
      const r = await s.deps.messages.copy(sel.box.owner, sel.box.info.id, sel.ranges(uids), dst.owner, dst.info.id);
      if (r.pairs.length === 0) return ok('COPY completed', undefined);
      return ok('COPY completed', `COPYUID ${r.uidvalidity} ${seqSet(r.pairs.map((p) => p[0]))} ${seqSet(r.pairs.map((p) => p[1]))}`);
    }
    const r = await s.deps.messages.move(sel.box.owner, sel.box.info.id, sel.ranges(uids), dst.owner, dst.info.id);
    // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
    if (r.pairs.length > 0) await s.send(`* OK [COPYUID ${r.uidvalidity} ${seqSet(r.pairs.map((p) => p[0]))} ${seqSet(r.pairs.map((p) => p[1]))}] Moved`);
    await announceExpunged(s, r.expunged);
    return ok('MOVE completed');
  },
});

const append = command({
  name: 'APPEND', states: AUTHED,
  async run(s, c) {
    const dst = await target(s, fullName(s, c.mailbox));
    if (!('owner' in dst)) return dst;
    requireRight(dst, 'i', 'appending');
    for (const m of c.messages) {
      // RFC 6855 §4: the UTF8 data item only after ENABLE UTF8=ACCEPT.
      if (m.utf8 && !s.utf8) return bad('APPEND UTF8 needs ENABLE UTF8=ACCEPT');
      if (m.data.length === 0) return no('The message is empty', 'CANNOT');
      if (m.data.length > s.settings.maxMessageSize) return no(`The message is larger than ${s.settings.maxMessageSize} octets`, 'TOOBIG');
    }
    const flagsAllowed = (f: string) => mayChangeFlag(dst.rights, f);
    const stored = await s.deps.pipeline.append(c.messages.map((m) => ({
      id: crypto.randomBytes(6).toString('hex'),
      account: dst.owner,
      mailboxId: dst.info.id,
      raw: m.data,
      // RFC 4314 §4: flags the user may not set are dropped, the message is still stored.
      flags: storable(m.flags).filter(flagsAllowed),
      internalDate: m.date,
    })));
    const uids = stored.map((x) => x.uid);
    return ok('APPEND completed', `APPENDUID ${dst.info.uidvalidity} ${seqSet(uids)}`);
  },
});

export const MESSAGE_COMMANDS = [store, expunge, uidExpunge, close, unselect, check, copyMove('COPY'), copyMove('MOVE'), append];
