/**
 * Who is asking, and what they may do. Every core operation that changes or reveals
 * directory data takes an Actor and checks its permission on its first line, so the rules
 * hold for every interface (CLI, admin API, JMAP, DAV), not only where a UI hides a button.
 *
 * Roles: user; domain-admin (manages its own domain); admin (everything); auditor (reads
 * the audit trail and reports, changes nothing). The system actor is the local operator at
 * the CLI, who already has the data directory in hand.
 */
import { DomainError } from './errors.ts';

export const ROLES = ['user', 'domain-admin', 'admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export type Actor =
  | { kind: 'system'; name: string }
  | { kind: 'account'; id: number; address: string; domainId: number; roles: readonly Role[] };

export function systemActor(name = 'cli'): Actor {
  return { kind: 'system', name };
}

export function actorLabel(a: Actor): string {
  return a.kind === 'system' ? `system:${a.name}` : a.address;
}

export function isAdmin(a: Actor): boolean {
  return a.kind === 'system' || a.roles.includes('admin');
}

/** Admin, or domain-admin of exactly this domain. */
export function canManageDomain(a: Actor, domainId: number): boolean {
  return isAdmin(a) || (a.kind === 'account' && a.roles.includes('domain-admin') && a.domainId === domainId);
}

/** Roles that a domain-admin may neither grant nor touch (GW-ADM-1: separation of duties). */
export const PRIVILEGED_ROLES: readonly Role[] = ['admin', 'auditor'];

export function hasPrivilegedRole(roles: readonly Role[]): boolean {
  return roles.some((r) => PRIVILEGED_ROLES.includes(r));
}

/**
 * Admin; or domain-admin of the account's domain when the account holds no admin or auditor
 * role. Without the second half a domain-admin could reset an admin's password in their
 * domain and log in as that admin, or lock the auditor out.
 */
export function canManageAccount(a: Actor, target: { domainId: number; roles: readonly Role[] }): boolean {
  if (isAdmin(a)) return true;
  return canManageDomain(a, target.domainId) && !hasPrivilegedRole(target.roles);
}

export function requireAccountManager(a: Actor, target: { domainId: number; roles: readonly Role[] }, what: string): void {
  if (canManageAccount(a, target)) return;
  if (canManageDomain(a, target.domainId)) throw new DomainError('FORBIDDEN', `${what} needs the admin role for an account with the admin or auditor role`);
  throw new DomainError('FORBIDDEN', `${what} needs the admin role or domain-admin of that domain`);
}

export function requireAdmin(a: Actor, what: string): void {
  if (!isAdmin(a)) throw new DomainError('FORBIDDEN', `${what} needs the admin role`);
}

export function requireDomainAdmin(a: Actor, domainId: number, what: string): void {
  if (!canManageDomain(a, domainId)) throw new DomainError('FORBIDDEN', `${what} needs the admin role or domain-admin of that domain`);
}

export function requireAuditor(a: Actor, what: string): void {
  if (!(isAdmin(a) || (a.kind === 'account' && a.roles.includes('auditor')))) {
    throw new DomainError('FORBIDDEN', `${what} needs the auditor or admin role`);
  }
}

export function parseRoles(input: unknown): Role[] {
  const arr = typeof input === 'string' ? input.split(',').map((s) => s.trim()).filter(Boolean) : input;
  if (!Array.isArray(arr) || arr.length === 0) throw new DomainError('INVALID_INPUT', `roles must be a non-empty list of ${ROLES.join(', ')}`);
  for (const r of arr) if (!ROLES.includes(r as Role)) throw new DomainError('INVALID_INPUT', `unknown role "${r}"; allowed: ${ROLES.join(', ')}`);
  return [...new Set(arr as Role[])];
}
