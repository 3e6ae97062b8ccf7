/**
 * PostgreSQL LISTEN/NOTIFY on one channel, for what nodes tell each other (change events):
 * a dedicated connection (a pool connection cannot stay LISTENing), reconnected with a
 * growing pause when it fails. The store knows nothing of what the payloads mean.
 *
 * Invariants:
 * - After a reconnect, `onReconnect` runs: whatever was sent while the connection was gone
 *   is lost (NOTIFY is not queued for absent listeners), so the caller must catch up.
 * - notify() never throws: a failed notification is logged and dropped (its receivers catch
 *   up at their next command or reconnect); the data it announces is committed already.
 */
import pg from 'pg';
import type { Logger } from 'pino';

const MAX_PAYLOAD = 7900; // PostgreSQL's limit is 8000 bytes

export class PgNotifier {
  readonly #url: string;
  readonly #channel: string;
  readonly #log: Logger;
  readonly #onMessage: (payload: string) => void;
  readonly #onReconnect: () => void;
  #client: pg.Client | null = null;
  #connecting: Promise<void> | null = null;
  #closed = false;
  #retryMs = 200;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { url: string; channel: string; log: Logger; connectTimeoutMs?: number; onMessage: (payload: string) => void; onReconnect: () => void }) {
    if (!/^[a-z_][a-z0-9_]*$/.test(opts.channel)) throw new Error('channel names are lower-case identifiers');
    this.#url = opts.url;
    this.#channel = opts.channel;
    this.#log = opts.log;
    this.#onMessage = opts.onMessage;
    this.#onReconnect = opts.onReconnect;
  }

  /** Connects and LISTENs; resolves once listening (or rejects if the first attempt fails). */
  async start(): Promise<void> {
    await this.#connect(false);
  }

  #connect(reconnect: boolean): Promise<void> {
    this.#connecting ??= (async () => {
      const c = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000, keepAlive: true });
      c.on('error', (e) => this.#lost(c, e));
      c.on('end', () => this.#lost(c, new Error('connection ended')));
      c.on('notification', (m) => {
        if (m.channel === this.#channel && m.payload) this.#onMessage(m.payload);
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${this.#channel}`);
      } catch (e) {
        c.end().catch(() => {});
        throw e;
      }
      if (this.#closed) {
        await c.end().catch(() => {});
        return;
      }
      this.#client = c;
      this.#retryMs = 200;
      if (reconnect) {
        this.#log.info({ channel: this.#channel }, 'store.notify.reconnected');
        this.#onReconnect();
      }
    })().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  #lost(c: pg.Client, e: Error): void {
    if (this.#client !== c || this.#closed) return;
    this.#client = null;
    this.#log.warn({ channel: this.#channel, err: e.message }, 'store.notify.lost');
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    const wait = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, 10_000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect(true).catch((e) => {
        this.#log.warn({ channel: this.#channel, err: (e as Error).message }, 'store.notify.reconnect_failed');
        this.#schedule();
      });
    }, wait);
    this.#timer.unref();
  }

  notify(payload: string): void {
    const c = this.#client;
    if (!c || this.#closed) return;
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) {
      this.#log.warn({ bytes: Buffer.byteLength(payload) }, 'store.notify.payload_too_large');
      return;
    }
    c.query('SELECT pg_notify($1, $2)', [this.#channel, payload]).catch((e) => {
      this.#log.warn({ err: (e as Error).message }, 'store.notify.failed');
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const c = this.#client;
    this.#client = null;
    await c?.end().catch(() => {});
  }
}
