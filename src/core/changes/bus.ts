/**
 * The change bus: after a change commits, core announces it here, and whoever waits on an
 * account (IMAP IDLE, JMAP push, WebDAV) hears it. One in-process bus; across nodes the
 * same events will travel over PostgreSQL LISTEN/NOTIFY (a relay subscribes here and
 * publishes there). Invariant: commit, then emit — a listener never hears of a change it
 * cannot read yet.
 */
import { EventEmitter } from 'node:events';

export interface ChangeEvent {
  accountId: number;
  modseq: number;
  /** What changed, coarsely: listeners re-read the change log for details. */
  kinds: ('message' | 'mailbox' | 'dav')[];
  /** The mailboxes touched, when known; listeners of other mailboxes need not look. */
  mailboxIds?: number[];
  /** Set on events relayed from another node (core/changes/relay.ts), which are not relayed again. */
  origin?: string;
}

export class ChangeBus {
  readonly #em = new EventEmitter();
  constructor() {
    this.#em.setMaxListeners(0); // one listener per idle session is normal
  }
  emit(e: ChangeEvent): void {
    this.#em.emit(`a:${e.accountId}`, e);
    this.#em.emit('*', e);
  }
  /** Wakes every listener of every account (after events may have been missed: a lost relay connection). */
  wakeAll(): void {
    for (const name of this.#em.eventNames()) {
      if (typeof name !== 'string' || !name.startsWith('a:')) continue;
      this.#em.emit(name, { accountId: Number(name.slice(2)), modseq: 0, kinds: ['message', 'mailbox'] } satisfies ChangeEvent);
    }
  }

  /** Subscribes to one account (or '*'); returns the unsubscribe function. */
  on(accountId: number | '*', fn: (e: ChangeEvent) => void): () => void {
    const key = accountId === '*' ? '*' : `a:${accountId}`;
    this.#em.on(key, fn);
    return () => this.#em.off(key, fn);
  }
}
