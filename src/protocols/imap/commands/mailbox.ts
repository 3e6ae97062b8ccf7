/**
 * Mailbox commands: SELECT/EXAMINE (with CONDSTORE and QRESYNC, RFC 7162), CREATE (RFC 6154
 * CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 5258 LIST-EXTENDED,
 * RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3348 CHILDREN), LSUB, NAMESPACE
 * (RFC 2342) and STATUS (RFC 8438 SIZE, RFC 8474 MAILBOXID, RFC 7162 HIGHESTMODSEQ).
 */
import { DomainError } from '../../../core/errors.ts';
import { INBOX, isInside, parentsOf } from '../../../core/mail/names.ts';
import { AUTHED, command, no, ok, type Outcome, type Session } from '../context.ts';
import { requireRight, resolveBox, visibleNames, type Box, type VisibleName } from '../boxes.ts';
import { fromWire, locate, patternMatcher, toWire, DELIMITER, SHARED_PREFIX } from '../names.ts';
import { SelectedMailbox } from '../selected.ts';
import { flagList, seqSet, str, type Part } from '../wire.ts';
import type { ListReturn, MailboxArg, QresyncParams, StatusItem } from '../types.ts';
import { mailboxId } from './util.ts';

export function fullName(s: Session, m: MailboxArg | string): string {
  return fromWire(typeof m === 'string' ? m : m.raw, s.utf8);
}

export function nameOut(s: Session, full: string): Part {
  return str(toWire(full, s.utf8), s.utf8);
}

/** Refuses names in the shared namespace for operations that create or remove own mailboxes. */
function personal(full: string, what: string): string {
  const loc = locate(full);
  if (loc.ns !== 'personal') throw new DomainError('FORBIDDEN', `${what} in other users' folders is not offered`);
  return loc.name;
}

// ---- SELECT / EXAMINE

const select = command({
  name: 'SELECT', states: AUTHED,
  async run(s, c) {
    return openMailbox(s, c, false);
  },
});

const examine = command({
  name: 'EXAMINE', states: AUTHED,
  async run(s, c) {
    return openMailbox(s, c, true);
  },
});

async function openMailbox(s: Session, c: { mailbox: MailboxArg; condstore: boolean; qresync?: QresyncParams }, examineOnly: boolean): Promise<Outcome> {
  // RFC 9051 §6.3.2: a SELECT while selected closes the current mailbox first (no expunge),
  // announced by [CLOSED] (RFC 7162 §3.2.11; required by RFC 9051).
  if (s.selected) {
    s.deselect();
    await s.send('* OK [CLOSED] Previous mailbox closed');
  }
  if (c.qresync && !s.qresync) return { status: 'BAD', text: 'QRESYNC must be enabled first (RFC 7162 §3.2.5)' };
  if (c.condstore) s.enable('CONDSTORE');
  const full = fullName(s, c.mailbox);
  const box = await resolveBox(s, full);
  requireRight(box, 'r', 'selecting');
  const readOnly = examineOnly || !/[swite]/.test(box.rights);
  const view = await s.deps.messages.view(box.owner, box.info.id);
  const sel = new SelectedMailbox(box, readOnly, view);
  sel.unwatch = s.watch(box.owner.id);
  s.selected = sel;
  s.state = 'selected';
  s.savedResult = null;
  for (const l of sel.flagLines()) await s.send(l);
  await s.send(`* ${sel.count} EXISTS`);
  if (!s.rev2) {
    await s.send('* 0 RECENT');
    if (view.firstUnseen) await s.send(`* OK [UNSEEN ${sel.msnOf(view.firstUnseen)}] First unseen`);
  }
  await s.send(`* OK [UIDVALIDITY ${sel.uidvalidity}] UIDs valid`);
  await s.send(`* OK [UIDNEXT ${sel.uidnext}] Predicted next UID`);
  await s.send(`* OK [HIGHESTMODSEQ ${sel.modseq}] Highest`);
  await s.send(`* OK [MAILBOXID (${mailboxId(box)})] Ok`);
  if (s.rev2) await s.send(['* LIST () "/" ', nameOut(s, box.fullName)]);
  if (c.qresync && c.qresync.uidValidity === sel.uidvalidity) await qresyncSelect(s, sel, c.qresync);
  return ok(`${examineOnly ? 'EXAMINE' : 'SELECT'} completed`, readOnly ? 'READ-ONLY' : 'READ-WRITE');
}

/** RFC 7162 §3.2.5.1: what changed since the client's last sync, in the same response. */
async function qresyncSelect(s: Session, sel: SelectedMailbox, q: QresyncParams): Promise<void> {
  const since = Number(q.modseq);
  let known: ((u: number) => boolean) | null = null;
  if (q.knownUids && q.knownUids.kind === 'set') {
    const ranges = q.knownUids.ranges.map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const);
    known = (u) => ranges.some(([a, b]) => u >= a && (b === -1 || u <= b));
  }
  const gone = (await s.deps.messages.expungedSince(sel.box.owner, sel.box.info.id, since)).filter((u) => !known || known(u));
  if (gone.length > 0) await s.send(`* VANISHED (EARLIER) ${seqSet(gone)}`);
  const ch = await s.deps.messages.changes(sel.box.owner, sel.box.info.id, since);
  for (const m of ch.changed) {
    const msn = sel.msnOf(m.uid);
    if (msn === 0) continue;
    await s.send(`* ${msn} FETCH (UID ${m.uid} FLAGS ${flagList(m.flags)} MODSEQ (${m.modseq}))`);
  }
}

// ---- CREATE / DELETE / RENAME / (UN)SUBSCRIBE

const create = command({
  name: 'CREATE', states: AUTHED,
  async run(s, c) {
    const full = fullName(s, c.mailbox);
    // RFC 9051 §6.3.3: a trailing delimiter only says the client means to create children.
    const trimmed = full.endsWith(DELIMITER) ? full.slice(0, -1) : full;
    if (trimmed.toUpperCase() === SHARED_PREFIX.toUpperCase()) return no('The name is reserved for shared folders', 'CANNOT');
    const name = personal(trimmed, 'Creating mailboxes');
    try {
      await s.deps.mailboxes.create(s.user!, name, c.specialUse);
    } catch (e) {
      // RFC 6154 §3: an unsupported special-use attribute is USEATTR.
      if (e instanceof DomainError && e.code === 'INVALID_INPUT' && /special use/.test(e.detail)) return no(e.detail, 'USEATTR');
      throw e;
    }
    return ok('CREATE completed');
  },
});

const del = command({
  name: 'DELETE', states: AUTHED,
  async run(s, c) {
    const full = fullName(s, c.mailbox);
    const name = personal(full, 'Deleting mailboxes');
    if (name === INBOX) return no('INBOX cannot be deleted', 'CANNOT');
    // Deleting the selected mailbox: the session leaves it (RFC 9051 leaves this open; Dovecot does the same).
    if (s.selected && !s.selected.box.shared && s.selected.box.info.name === name) s.deselect();
    await s.deps.mailboxes.delete(s.user!, name);
    return ok('DELETE completed');
  },
});

const rename = command({
  name: 'RENAME', states: AUTHED,
  async run(s, c) {
    const from = personal(fullName(s, c.from), 'Renaming mailboxes');
    const toFull = fullName(s, c.to);
    if (toFull.toUpperCase() === SHARED_PREFIX.toUpperCase() || toFull.toUpperCase().startsWith(SHARED_PREFIX.toUpperCase() + DELIMITER)) {
      return no('Mailboxes cannot be renamed into the shared namespace', 'CANNOT');
    }
    await s.deps.mailboxes.rename(s.user!, from, personal(toFull, 'Renaming mailboxes'));
    return ok('RENAME completed');
  },
});

const subscribe = command({
  name: 'SUBSCRIBE', states: AUTHED,
  async run(s, c) {
    const full = fullName(s, c.mailbox);
    // RFC 9051 §6.3.7 lets the server refuse names that do not exist; shared ones must exist.
    if (locate(full).ns !== 'personal') await resolveBox(s, full);
    await s.deps.mailboxes.subscribe(s.user!, full);
    return ok('SUBSCRIBE completed');
  },
});

const unsubscribe = command({
  name: 'UNSUBSCRIBE', states: AUTHED,
  async run(s, c) {
    await s.deps.mailboxes.unsubscribe(s.user!, fullName(s, c.mailbox));
    return ok('UNSUBSCRIBE completed');
  },
});

// ---- LIST / LSUB

function attributes(n: VisibleName, names: Set<string>, subscribed: Set<string>, ret: ListReturn): string[] {
  const a: string[] = [];
  if (n.noselect) a.push('\\Noselect');
  // RFC 3348/5258: one of \HasChildren and \HasNoChildren, always (CHILDREN is advertised).
  const hasChildren = [...names].some((x) => isInside(x, n.fullName));
  a.push(hasChildren ? '\\HasChildren' : '\\HasNoChildren');
  if (ret.subscribed && subscribed.has(n.fullName)) a.push('\\Subscribed');
  // RFC 6154 §2: special-use attributes in every LIST response (clients rely on them without asking).
  if (n.box?.info.specialUse) a.push(n.box.info.specialUse);
  return a;
}

async function statusLine(s: Session, box: Box, items: readonly StatusItem[]): Promise<string[]> {
  const st = await s.deps.mailboxes.status(box.owner, box.info.id);
  const out: string[] = [];
  for (const it of items) {
    switch (it) {
      case 'MESSAGES': out.push(`MESSAGES ${st.messages}`); break;
      case 'UIDNEXT': out.push(`UIDNEXT ${st.uidnext}`); break;
      case 'UIDVALIDITY': out.push(`UIDVALIDITY ${st.uidvalidity}`); break;
      case 'UNSEEN': out.push(`UNSEEN ${st.unseen}`); break;
      case 'DELETED': out.push(`DELETED ${st.deleted}`); break;
      case 'SIZE': out.push(`SIZE ${st.size}`); break;
      case 'RECENT': out.push('RECENT 0'); break;
      case 'HIGHESTMODSEQ': out.push(`HIGHESTMODSEQ ${st.highestModseq}`); s.enable('CONDSTORE'); break;
      case 'APPENDLIMIT': out.push(`APPENDLIMIT ${s.settings.maxMessageSize}`); break;
      case 'MAILBOXID': out.push(`MAILBOXID (${mailboxId(box)})`); break;
      case 'DELETED-STORAGE': out.push('DELETED-STORAGE 0'); break;
    }
  }
  return out;
}

async function sendStatus(s: Session, box: Box, items: readonly StatusItem[]): Promise<void> {
  const parts = await statusLine(s, box, items);
  await s.send(['* STATUS ', nameOut(s, box.fullName), ` (${parts.join(' ')})`]);
}

/** RFC 9051 §6.3.9 reference + pattern: the pattern is appended to the reference (with a delimiter when needed). */
function joinPattern(reference: string, pattern: string): string {
  if (reference === '' || pattern.startsWith(DELIMITER)) return pattern;
  return reference.endsWith(DELIMITER) ? reference + pattern : reference + DELIMITER + pattern;
}

const list = command({
  name: 'LIST', states: AUTHED,
  async run(s, c) {
    const ref = fullName(s, c.reference);
    // RFC 9051 §6.3.9: LIST "" "" asks for the delimiter and the root.
    if (c.patterns.length === 1 && c.patterns[0] === '' && !c.extended) {
      await s.send(['* LIST (\\Noselect) "/" ', str(ref === '' ? '' : toWire(ref.split(DELIMITER)[0], s.utf8), s.utf8)]);
      return ok('LIST completed');
    }
    const matchers = c.patterns.map((p) => patternMatcher(joinPattern(ref, fullName(s, p))));
    const matches = (n: string) => matchers.some((m) => m(n));
    const sel = new Set(c.select);
    const ret = { ...c.ret };
    // RFC 5258 §3.1: SUBSCRIBED selection implies the SUBSCRIBED return option.
    if (sel.has('SUBSCRIBED')) ret.subscribed = true;
    const visible = await visibleNames(s);
    const names = new Set(visible.map((v) => v.fullName));
    const subscribed = new Set(ret.subscribed || sel.has('SUBSCRIBED') ? await s.deps.mailboxes.subscriptions(s.user!) : []);
    const emit = async (fullName: string, attrs: string[], extra = '') => {
      await s.send([`* LIST (${attrs.join(' ')}) "/" `, nameOut(s, fullName), extra]);
    };
    if (sel.has('SUBSCRIBED')) {
      // Subscribed names, existing or not (RFC 5258 §3.1 \NonExistent); with RECURSIVEMATCH,
      // parents of matching subscriptions are listed with CHILDINFO (RFC 5258 §3.5).
      const byName = new Map(visible.map((v) => [v.fullName, v]));
      const childInfo = new Set<string>();
      if (sel.has('RECURSIVEMATCH')) {
        for (const sub of subscribed) for (const p of parentsOf(sub)) if (matches(p) && !subscribed.has(p)) childInfo.add(p);
      }
      const all = [...new Set([...subscribed, ...childInfo])].sort();
      for (const n of all) {
        if (!matches(n)) continue;
        const v = byName.get(n);
        if (sel.has('SPECIAL-USE') && !v?.box?.info.specialUse) continue;
        const attrs = v ? attributes(v, names, subscribed, ret) : ['\\NonExistent', ...(subscribed.has(n) ? ['\\Subscribed'] : [])];
        await emit(n, attrs, childInfo.has(n) ? ' ("CHILDINFO" ("SUBSCRIBED"))' : '');
        if (ret.status && v?.box && !v.noselect) await sendStatus(s, v.box, ret.status);
      }
      return ok('LIST completed');
    }
    for (const v of visible) {
      if (!matches(v.fullName)) continue;
      if (sel.has('SPECIAL-USE') && !v.box?.info.specialUse) continue;
      await emit(v.fullName, attributes(v, names, subscribed, ret));
      // RFC 5819 §2: the STATUS of each selectable mailbox right after its LIST line.
      if (ret.status && v.box && !v.noselect) {
        try {
          await sendStatus(s, v.box, ret.status);
        } catch (e) {
          if (!(e instanceof DomainError && e.code === 'UNAVAILABLE')) throw e;
        }
      }
    }
    return ok('LIST completed');
  },
});

const lsub = command({
  name: 'LSUB', states: AUTHED,
  async run(s, c) {
    const m = patternMatcher(joinPattern(fullName(s, c.reference), fullName(s, c.pattern)));
    const visible = await visibleNames(s);
    const byName = new Map(visible.map((v) => [v.fullName, v]));
    const names = new Set(visible.map((v) => v.fullName));
    for (const n of await s.deps.mailboxes.subscriptions(s.user!)) {
      if (!m(n)) continue;
      const v = byName.get(n);
      // RFC 3501 §6.3.9: a subscribed name that does not exist is shown \Noselect.
      const attrs = v ? attributes(v, names, new Set(), {}) : ['\\Noselect'];
      await s.send([`* LSUB (${attrs.join(' ')}) "/" `, nameOut(s, n)]);
    }
    return ok('LSUB completed');
  },
});

const namespace = command({
  name: 'NAMESPACE', states: AUTHED,
  async run(s) {
    // RFC 2342 §5: personal, other users', shared (none yet).
    await s.send(['* NAMESPACE (("" "/")) ((', str(`${SHARED_PREFIX}/`, s.utf8), ' "/")) NIL']);
    return ok('NAMESPACE completed');
  },
});

const status = command({
  name: 'STATUS', states: AUTHED,
  async run(s, c) {
    const box = await resolveBox(s, fullName(s, c.mailbox));
    requireRight(box, 'r', 'STATUS');
    await sendStatus(s, box, c.items);
    return ok('STATUS completed');
  },
});

export const MAILBOX_COMMANDS = [select, examine, create, del, rename, subscribe, unsubscribe, list, lsub, namespace, status];
