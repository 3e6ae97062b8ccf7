/**
 * Which mailboxes a session can see and what it may do with them: its own (every right), and
 * those other accounts shared with it (RFC 4314 rights, under "Shared/<owner>/", names.ts).
 * A shared mailbox the user may not look up ("l") does not exist for it: NONEXISTENT, never
 * NOPERM (nothing is revealed).
 */
import type { AccountRef } from '../../core/mail/mailstore.ts';
import type { MailboxInfo } from '../../core/mail/mailboxes.ts';
import { ALL_RIGHTS } from '../../core/mail/sharing.ts';
import { DomainError } from '../../core/errors.ts';
import { parentsOf } from '../../core/mail/names.ts';
import type { Session } from './context.ts';
import { locate, sharedName, SHARED_PREFIX } from './names.ts';

export interface Box {
  owner: AccountRef;
  ownerAddress: string;
  shared: boolean;
  info: MailboxInfo;
  /** The name as this session sees it (namespace included), Unicode. */
  fullName: string;
  rights: string;
}

/** One name of the hierarchy the session sees, for LIST. */
export interface VisibleName {
  fullName: string;
  box: Box | null;
  /** \Noselect: a level of the hierarchy that is no mailbox (Shared, Shared/<owner>, levels above a shared mailbox). */
  noselect: boolean;
}

function ownBox(s: Session, info: MailboxInfo): Box {
  const u = s.user!;
  return { owner: u, ownerAddress: u.address, shared: false, info, fullName: info.name, rights: ALL_RIGHTS };
}

/** Mailboxes others shared with the session's user, with their owners. */
async function sharedBoxes(s: Session): Promise<Box[]> {
  const u = s.user!;
  const refs = await s.deps.sharing.sharedWith(u);
  const out: Box[] = [];
  const owners = new Map<number, Awaited<ReturnType<Session['deps']['directory']['accountById']>>>();
  for (const r of refs) {
    if (!owners.has(r.ownerId)) owners.set(r.ownerId, await s.deps.directory.accountById(r.ownerId));
    const owner = owners.get(r.ownerId);
    if (!owner || !owner.enabled) continue;
    let info: MailboxInfo | null;
    try {
      info = await s.deps.mailboxes.byId(owner, r.mailboxId);
    } catch (e) {
      // The owner's partition is down: their mailboxes are missing from the list, not an error for ours.
      if (e instanceof DomainError && e.code === 'UNAVAILABLE') continue;
      throw e;
    }
    if (!info) continue;
    out.push({ owner, ownerAddress: owner.address, shared: true, info, fullName: sharedName(owner.address, info.name), rights: r.rights });
  }
  return out;
}

/** The mailbox a full name refers to, or NOT_FOUND. */
export async function resolveBox(s: Session, fullName: string): Promise<Box> {
  const loc = locate(fullName);
  if (loc.ns === 'personal') {
    const info = await s.deps.mailboxes.find(s.user!, loc.name);
    if (!info) throw new DomainError('NOT_FOUND', 'no such mailbox');
    return ownBox(s, info);
  }
  if (loc.ns === 'shared' && loc.name !== '') {
    const hit = (await sharedBoxes(s)).find((b) => b.ownerAddress === loc.owner && b.info.name === loc.name);
    if (hit) return hit;
  }
  throw new DomainError('NOT_FOUND', 'no such mailbox');
}

/** Every name the session sees, own mailboxes first, with the hierarchy levels they need. */
export async function visibleNames(s: Session, opts: { shared?: boolean } = {}): Promise<VisibleName[]> {
  const own = (await s.deps.mailboxes.list(s.user!)).map((i) => ownBox(s, i));
  const out: VisibleName[] = own.map((b) => ({ fullName: b.fullName, box: b, noselect: false }));
  if (opts.shared === false) return out;
  let shared: Box[] = [];
  try {
    shared = await sharedBoxes(s);
  } catch (e) {
    if (!(e instanceof DomainError && e.code === 'UNAVAILABLE')) throw e;
  }
  if (shared.length === 0) return out;
  const seen = new Set<string>();
  const levels: VisibleName[] = [];
  const level = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    levels.push({ fullName: n, box: null, noselect: true });
  };
  level(SHARED_PREFIX);
  for (const b of shared) seen.add(b.fullName);
  for (const b of shared) {
    level(sharedName(b.ownerAddress, ''));
    for (const p of parentsOf(b.info.name)) level(sharedName(b.ownerAddress, p));
  }
  const all = [...levels, ...shared.map((b) => ({ fullName: b.fullName, box: b, noselect: false }))];
  all.sort((a, b) => (a.fullName < b.fullName ? -1 : a.fullName > b.fullName ? 1 : 0));
  return [...out, ...all];
}

export function requireRight(box: Box, right: string, what: string): void {
  if (!box.rights.includes(right)) throw new DomainError('FORBIDDEN', `${what} needs the "${right}" right on this mailbox`);
}
