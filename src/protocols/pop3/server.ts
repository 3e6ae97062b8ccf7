/**
 * POP3 listeners: one with STLS (port 110 in production) and one with implicit TLS (995,
 * RFC 8314). Connection limits, in total and per client address, shared by both (one
 * ConnectionLimiter), are checked before a session exists (GW-DOS-4); graceful close.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ConnectionLimiter } from '../connection-limiter.ts';
import { Pop3Session, type Pop3Deps, type Pop3Settings } from './session.ts';

export class Pop3Listener {
  readonly server: net.Server;
  readonly #sessions = new Set<Pop3Session>();
  /** Every open TCP connection, with or without a session (refused, or in a TLS handshake). */
  readonly #sockets = new Set<net.Socket>();
  readonly #log: Logger;

  constructor(opts: { settings: Pop3Settings; deps: Pop3Deps; limiter: ConnectionLimiter; implicitTls?: tls.SecureContext }) {
    this.#log = opts.deps.log;
    const onSocket = (socket: net.Socket) => {
      const ip = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
      const refused = opts.limiter.acquire(ip);
      if (refused) {
        this.#log.info({ remote: ip, reason: refused }, 'pop3.connection_refused');
        Pop3Session.refuse(socket, refused);
        return;
      }
      socket.setNoDelay(true);
      const session = new Pop3Session(socket, opts.settings, opts.deps);
      this.#sessions.add(session);
      socket.once('close', () => {
        opts.limiter.release(ip);
        this.#sessions.delete(session);
      });
      session.start();
    };
    const implicitTls = opts.implicitTls;
    if (implicitTls) {
      // As for SMTP and IMAP: each connection is wrapped here with our context (tls.createServer
      // ignores a secureContext option); a handshake that does not finish holds no session and
      // no slot, and is cut after at most a minute.
      const handshakeMs = Math.min(opts.settings.idleTimeoutMs, 60_000);
      this.server = net.createServer((raw) => {
        const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: implicitTls, minVersion: 'TLSv1.2' } as tls.TLSSocketOptions);
        const timer = setTimeout(() => secure.destroy(), handshakeMs);
        timer.unref();
        const onError = (e: Error) => {
          clearTimeout(timer);
          this.#log.debug({ err: e.message, remote: raw.remoteAddress }, 'pop3.tls_error');
          secure.destroy();
        };
        // 'on', not 'once': an error after the first must not find the socket without a listener.
        secure.on('error', onError);
        raw.on('error', (e) => this.#log.debug({ err: e.message }, 'pop3.socket_error'));
        secure.once('secure', () => {
          clearTimeout(timer);
          secure.off('error', onError);
          onSocket(secure);
        });
      });
    } else {
      this.server = net.createServer(onSocket);
    }
    this.server.on('error', (e) => this.#log.error({ err: e }, 'pop3.listener_error'));
    this.server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /**
   * Stops accepting; idle sessions get "-ERR [SYS/TEMP] ... shutting down" at once, busy ones
   * after their command; what is left at the deadline is cut. No session enters UPDATE.
   */
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
