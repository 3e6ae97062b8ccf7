/**
 * Logged-in sessions that must not outlive the right to them: a session whose account was
 * disabled (or its domain), removed, or given a new password after the login is ended. IMAP,
 * POP3 and authenticated SMTP register their sessions here at login; a sweep every
 * auth.revoke_check_seconds asks the directory about every account with a live session on
 * this node in one query, so the bound holds whatever node made the change. (HTTP needs none:
 * every DAV request checks its account.)
 */
import type { Directory } from './directory/directory.ts';

export interface LiveSession {
  accountId: number;
  /** When the session logged in (ms). */
  since: number;
  /** Ends the session, telling the client why where the protocol can. */
  end(reason: string): void;
}

type Log = { warn(o: object, msg: string): void; info(o: object, msg: string): void };

export class SessionGuard {
  readonly #byAccount = new Map<number, Set<LiveSession>>();
  readonly #directory: Directory;
  readonly #log: Log;
  #timer: NodeJS.Timeout | null = null;
  #running = false;

  constructor(directory: Directory, log: Log) {
    this.#directory = directory;
    this.#log = log;
  }

  /** Registers a session; the function returned unregisters it (call it when the session ends). */
  add(s: LiveSession): () => void {
    let set = this.#byAccount.get(s.accountId);
    if (!set) this.#byAccount.set(s.accountId, set = new Set());
    set.add(s);
    return () => {
      set.delete(s);
      if (set.size === 0 && this.#byAccount.get(s.accountId) === set) this.#byAccount.delete(s.accountId);
    };
  }

  /** One check of every live session; returns how many were ended. */
  async sweep(): Promise<number> {
    if (this.#running || this.#byAccount.size === 0) return 0;
    this.#running = true;
    try {
      const states = await this.#directory.sessionStates([...this.#byAccount.keys()]);
      let ended = 0;
      for (const [id, set] of [...this.#byAccount]) {
        const st = states.get(id);
        for (const s of [...set]) {
          const why = !st ? 'the account was removed' : !st.usable ? 'the account is disabled' : st.passwordChangedAt > s.since ? 'the password was changed' : null;
          if (!why) continue;
          set.delete(s);
          ended++;
          try {
            s.end(why);
          } catch { /* the session is going anyway */ }
        }
        if (set.size === 0) this.#byAccount.delete(id);
      }
      if (ended) this.#log.info({ ended }, 'sessions.revoked');
      return ended;
    } catch (e) {
      // The directory cannot be reached: try again at the next sweep.
      this.#log.warn({ err: (e as Error).message }, 'sessions.check_failed');
      return 0;
    } finally {
      this.#running = false;
    }
  }

  start(intervalMs: number): void {
    this.stop();
    this.#timer = setInterval(() => void this.sweep(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
