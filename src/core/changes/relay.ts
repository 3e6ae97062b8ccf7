/**
 * Change events between nodes: every event emitted on this node's bus goes out as a
 * PostgreSQL notification, and notifications from other nodes are emitted on this bus, so an
 * IMAP IDLE on one node hears of a delivery stored by another (DESIGN.md: "across nodes they
 * travel over PostgreSQL LISTEN/NOTIFY").
 *
 * Invariants:
 * - An event is relayed once: events that came from another node carry its origin and are
 *   not sent out again.
 * - Commit, then notify (the bus is told after the commit), so a node that hears of a change
 *   can read it.
 * - When the connection was lost, every listener on this node is woken once it is back
 *   (events in between are lost; the listeners re-read the store).
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { PgNotifier } from '../../store/postgres/notify.ts';
import type { ChangeBus, ChangeEvent } from './bus.ts';

export const CHANNEL = 'bulwark_changes';

interface Wire {
  /** origin node */
  o: string;
  a: number;
  m: number;
  k: ChangeEvent['kinds'];
  b?: number[];
}

export class ChangeRelay {
  readonly node = crypto.randomBytes(6).toString('hex');
  readonly #bus: ChangeBus;
  readonly #notifier: PgNotifier;
  #off: (() => void) | null = null;

  constructor(bus: ChangeBus, opts: { url: string; log: Logger }) {
    this.#bus = bus;
    this.#notifier = new PgNotifier({
      url: opts.url, channel: CHANNEL, log: opts.log,
      onMessage: (p) => this.#receive(p, opts.log),
      onReconnect: () => bus.wakeAll(),
    });
  }

  async start(): Promise<void> {
    await this.#notifier.start();
    this.#off = this.#bus.on('*', (e) => {
      if (e.origin) return;
      const w: Wire = { o: this.node, a: e.accountId, m: e.modseq, k: e.kinds, ...(e.mailboxIds ? { b: e.mailboxIds.slice(0, 500) } : {}) };
      this.#notifier.notify(JSON.stringify(w));
    });
  }

  #receive(payload: string, log: Logger): void {
    let w: Wire;
    try {
      w = JSON.parse(payload) as Wire;
    } catch {
      log.warn('changes.relay.bad_payload');
      return;
    }
    if (w.o === this.node || typeof w.a !== 'number') return;
    this.#bus.emit({ accountId: w.a, modseq: w.m, kinds: w.k, mailboxIds: w.b, origin: w.o });
  }

  async stop(): Promise<void> {
    this.#off?.();
    await this.#notifier.close();
  }
}
