/**
 * QUOTA (RFC 9208) and ACL (RFC 4314). Each account has one quota root, "" (its whole
 * storage); quotas are set by administrators (`bulwark account update --quota`), so SETQUOTA is
 * refused. ACL commands act on a mailbox's grants through core's sharing rules.
 */
import { DomainError } from '../../../core/errors.ts';
import { ALL_RIGHTS, hasRight } from '../../../core/mail/sharing.ts';
import { AUTHED, command, no, ok, type Session } from '../context.ts';
import { resolveBox, type Box } from '../boxes.ts';
import { locate } from '../names.ts';
import { str } from '../wire.ts';
import { fullName, nameOut } from './mailbox.ts';

async function quotaLine(s: Session): Promise<string> {
  const q = await s.deps.messages.quota(s.user!);
  // RFC 9208 §5.1: STORAGE in units of 1024 octets, rounded up; only limited resources are listed.
  const used = Math.ceil(q.usedBytes / 1024);
  if (q.limitBytes > 0) return `* QUOTA "" (STORAGE ${used} ${Math.floor(q.limitBytes / 1024)})`;
  return '* QUOTA "" ()';
}

const getquotaroot = command({
  name: 'GETQUOTAROOT', states: AUTHED,
  async run(s, c) {
    const full = fullName(s, c.mailbox);
    const box = await resolveBox(s, full);
    if (box.shared) {
      // Another account's quota is its own business: the mailbox has no root this user may read.
      await s.send(['* QUOTAROOT ', nameOut(s, box.fullName)]);
      return ok('GETQUOTAROOT completed');
    }
    await s.send(['* QUOTAROOT ', nameOut(s, box.fullName), ' ""']);
    await s.send(await quotaLine(s));
    return ok('GETQUOTAROOT completed');
  },
});

const getquota = command({
  name: 'GETQUOTA', states: AUTHED,
  async run(s, c) {
    if (c.root !== '') return no('No such quota root', 'NONEXISTENT');
    await s.send(await quotaLine(s));
    return ok('GETQUOTA completed');
  },
});

const setquota = command({
  name: 'SETQUOTA', states: AUTHED,
  async run() {
    return no('Quotas are set by the administrators', 'NOPERM');
  },
});

/** The mailbox an ACL command names; the user must at least see it (RFC 4314 §4). */
async function aclBox(s: Session, m: { raw: string }): Promise<Box> {
  const full = fullName(s, m);
  const loc = locate(full);
  if (loc.ns === 'shared-root' || (loc.ns === 'shared' && loc.name === '')) throw new DomainError('NOT_FOUND', 'no such mailbox');
  return resolveBox(s, full);
}

function identifierOut(s: Session, id: string) {
  return str(id, s.utf8);
}

const getacl = command({
  name: 'GETACL', states: AUTHED,
  async run(s, c) {
    const box = await aclBox(s, c.mailbox);
    if (!hasRight(box.rights, 'a')) return no('Reading the access list needs the "a" right', 'NOPERM');
    const acl = await s.deps.sharing.acl(box.ownerAddress, box.owner.id, box.info.id);
    const line: (string | ReturnType<typeof str>)[] = ['* ACL ', nameOut(s, box.fullName)];
    for (const e of acl) line.push(' ', identifierOut(s, e.identifier), ' ', e.rights);
    await s.send(line);
    return ok('GETACL completed');
  },
});

const myrights = command({
  name: 'MYRIGHTS', states: AUTHED,
  async run(s, c) {
    const box = await aclBox(s, c.mailbox);
    await s.send(['* MYRIGHTS ', nameOut(s, box.fullName), ` ${box.rights}`]);
    return ok('MYRIGHTS completed');
  },
});

const listrights = command({
  name: 'LISTRIGHTS', states: AUTHED,
  async run(s, c) {
    const box = await aclBox(s, c.mailbox);
    if (!hasRight(box.rights, 'a')) return no('Listing rights needs the "a" right', 'NOPERM');
    // RFC 4314 §3.7: the owner always has every right; anyone else none by force, each one grantable.
    const owner = c.identifier.toLowerCase() === box.ownerAddress;
    const rights = owner ? ` ${ALL_RIGHTS}` : ` "" ${[...ALL_RIGHTS].join(' ')}`;
    await s.send(['* LISTRIGHTS ', nameOut(s, box.fullName), ' ', identifierOut(s, c.identifier), rights]);
    return ok('LISTRIGHTS completed');
  },
});

const setacl = command({
  name: 'SETACL', states: AUTHED,
  async run(s, c) {
    const box = await aclBox(s, c.mailbox);
    // RFC 4314 §3.1: "+" adds, "-" removes, otherwise the rights replace the old ones.
    const mode = c.rights.startsWith('+') ? 'add' : c.rights.startsWith('-') ? 'remove' : 'set';
    const rights = mode === 'set' ? c.rights : c.rights.slice(1);
    if (c.identifier.startsWith('-')) return no('Negative rights are not supported', 'CANNOT');
    await s.deps.sharing.setRights({ address: s.user!.address, rights: box.rights }, { account: box.owner, address: box.ownerAddress },
      { id: box.info.id, name: box.info.name }, c.identifier, rights, mode);
    return ok('SETACL completed');
  },
});

const deleteacl = command({
  name: 'DELETEACL', states: AUTHED,
  async run(s, c) {
    const box = await aclBox(s, c.mailbox);
    await s.deps.sharing.deleteRights({ address: s.user!.address, rights: box.rights }, { account: box.owner, address: box.ownerAddress },
      { id: box.info.id, name: box.info.name }, c.identifier);
    return ok('DELETEACL completed');
  },
});

export const ADMIN_COMMANDS = [getquotaroot, getquota, setquota, getacl, myrights, listrights, setacl, deleteacl];
