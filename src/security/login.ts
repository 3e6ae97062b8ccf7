/**
 * A password login, the same on every protocol (SMTP submission, IMAP, POP3, later HTTP):
 * the progressive delay per client address, the lockout per (login, address), the check
 * itself (Directory.authenticate, which audits success and failure), and the audit entries of
 * a refused locked pair and of a new lockout (GW-DOS-5).
 *
 * Invariants:
 * - The caller learns only ok / failed / unavailable; a locked pair, an unknown account, a
 *   wrong password and a disabled account all answer "failed" (the reason is in the trail).
 * - A locked pair is refused without checking the password: guessing cannot go on.
 * - Store trouble is "unavailable" (a temporary error for the client), never "failed".
 */
import type { AccountInfo, Directory } from '../core/directory/directory.ts';
import type { AuditEntry } from './audit.ts';
import type { AuthThrottle } from './auth-throttle.ts';

export interface LoginDeps {
  directory: Directory;
  throttle: AuthThrottle;
  audit: (entry: AuditEntry) => Promise<void>;
}

export type LoginResult =
  | { ok: true; account: AccountInfo }
  /** lockedNow: this failure locked the pair (the caller may log it). */
  | { ok: false; reason: 'failed'; lockedNow: boolean }
  | { ok: false; reason: 'unavailable'; error: Error };

/** Longest login kept in the trail (an address is at most 254 octets; more is noise). */
const MAX_LOGIN = 320;

export async function passwordLogin(deps: LoginDeps, login: string, password: string, ctx: { protocol: string; remote: string; closed?: () => boolean }): Promise<LoginResult> {
  const t = deps.throttle;
  const delay = t.delayMs(ctx.remote);
  if (delay) await new Promise((res) => setTimeout(res, delay));
  if (ctx.closed?.()) return { ok: false, reason: 'failed', lockedNow: false };
  const who = String(login ?? '').slice(0, MAX_LOGIN);
  if (await t.isLocked(who, ctx.remote).catch(() => false)) {
    await deps.audit({ event: 'auth.login.failure', actor: who, source: ctx.remote, object: who, detail: { protocol: ctx.protocol, reason: 'locked' } }).catch(() => {});
    return { ok: false, reason: 'failed', lockedNow: false };
  }
  let account: AccountInfo | null;
  try {
    account = await deps.directory.authenticate(who, password, { protocol: ctx.protocol, remote: ctx.remote });
  } catch (e) {
    return { ok: false, reason: 'unavailable', error: e as Error };
  }
  if (!account) {
    const lockedNow = await t.failure(who, ctx.remote).catch(() => false);
    if (lockedNow) {
      await deps.audit({ event: 'auth.lockout', actor: 'system:throttle', source: ctx.remote, object: who, detail: { protocol: ctx.protocol } }).catch(() => {});
    }
    return { ok: false, reason: 'failed', lockedNow };
  }
  t.success(who, ctx.remote);
  return { ok: true, account };
}
