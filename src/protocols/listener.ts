/**
 * A TCP listener for a line protocol (SMTP, IMAP, POP3): connection limits in total and per
 * client address checked before a session exists (GW-DOS-4), implicit TLS (RFC 8314) when
 * given a context, and a graceful close. Each protocol supplies how to make a session and
 * how to refuse a connection; everything else is the same for all of them.
 *
 * Invariants:
 * - A connection over a limit gets the protocol's refusal and never a session; its slot is
 *   never taken.
 * - Implicit TLS: each connection is wrapped with our context here (tls.createServer ignores
 *   a `secureContext` option and builds its own), and a handshake that does not finish holds
 *   no session and no slot and is cut after `handshakeMs`.
 * - close(): stop accepting, let idle sessions go at once and busy ones finish, then cut what
 *   remains at the deadline, including connections that never became a session.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ConnectionLimiter } from './connection-limiter.ts';

export interface ListenedSession {
  start(): void;
  /** Ends the session politely: at once when idle, after its current command when busy. */
  shutdown(): void;
  /** Ends it now. */
  destroy(): void;
  readonly closed: boolean;
}

export interface ListenerOptions<S extends ListenedSession> {
  /** Prefix of log events: "smtp", "imap", "pop3". */
  proto: string;
  log: Logger;
  limiter: ConnectionLimiter;
  implicitTls?: tls.SecureContext;
  handshakeMs: number;
  session(socket: net.Socket | tls.TLSSocket): S;
  refuse(socket: net.Socket, why: string): void;
  backlog?: number;
}

export class TcpListener<S extends ListenedSession> {
  readonly server: net.Server;
  readonly #sessions = new Set<S>();
  /** Every open TCP connection, with or without a session (refused, or in a TLS handshake). */
  readonly #sockets = new Set<net.Socket>();
  readonly #o: ListenerOptions<S>;

  constructor(o: ListenerOptions<S>) {
    this.#o = o;
    const log = o.log;
    const onSocket = (socket: net.Socket) => {
      const ip = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
      const refused = o.limiter.acquire(ip);
      if (refused) {
        log.info({ remote: ip, reason: refused }, `${o.proto}.connection_refused`);
        o.refuse(socket, refused);
        return;
      }
      socket.setNoDelay(true);
      const session = o.session(socket);
      this.#sessions.add(session);
      socket.once('close', () => {
        o.limiter.release(ip);
        this.#sessions.delete(session);
      });
      session.start();
    };
    const implicitTls = o.implicitTls;
    if (implicitTls) {
      this.server = net.createServer((raw) => {
        const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: implicitTls, minVersion: 'TLSv1.2' } as tls.TLSSocketOptions);
        const timer = setTimeout(() => secure.destroy(), o.handshakeMs);
        timer.unref();
        const onError = (err: Error) => {
          clearTimeout(timer);
          log.debug({ err: err.message, remote: raw.remoteAddress }, `${o.proto}.tls_error`);
          secure.destroy();
        };
        // 'on', not 'once': an error after the first must not find the socket without a listener.
        secure.on('error', onError);
        raw.on('error', (err) => log.debug({ err: err.message }, `${o.proto}.socket_error`));
        secure.once('secure', () => {
          clearTimeout(timer);
          secure.off('error', onError);
          onSocket(secure);
        });
      });
    } else {
      this.server = net.createServer(onSocket);
    }
    this.server.on('error', (err) => log.error({ err }, `${o.proto}.listener_error`));
    this.server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: this.#o.backlog ?? 511 }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((res) => this.server.close(() => res()));
    for (const s of this.#sessions) s.shutdown();
    const deadline = Date.now() + graceMs;
    while ([...this.#sessions].some((s) => !s.closed) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    for (const s of this.#sessions) s.destroy();
    // server.close() waits for every connection, also those that never became a session.
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
