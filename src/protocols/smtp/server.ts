/**
 * SMTP listeners: reception (MX, STARTTLS offered), submission (STARTTLS required before
 * AUTH) and submissions (implicit TLS, RFC 8314). Connection limits — total and per client
 * address, shared by all SMTP listeners — are checked before a session exists (GW-DOS-4).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { SmtpSession, type SmtpDeps, type SmtpSettings } from './session.ts';
import type { ConnectionLimiter } from '../connection-limiter.ts';

export class SmtpListener {
  readonly server: net.Server;
  readonly #sessions = new Set<SmtpSession>();
  /** Every open TCP connection, with or without a session (refused, or in a TLS handshake). */
  readonly #sockets = new Set<net.Socket>();
  readonly #log: Logger;

  constructor(opts: { settings: SmtpSettings; deps: SmtpDeps; limiter: ConnectionLimiter; implicitTls?: tls.SecureContext }) {
    this.#log = opts.deps.log;
    const onSocket = (socket: net.Socket) => {
      const ip = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
      const refused = opts.limiter.acquire(ip);
      if (refused) {
        this.#log.info({ remote: ip, reason: refused }, 'smtp.connection_refused');
        SmtpSession.refuse(socket, opts.settings.hostname, refused);
        return;
      }
      socket.setNoDelay(true);
      const session = new SmtpSession(socket, opts.settings, opts.deps);
      this.#sessions.add(session);
      socket.once('close', () => {
        opts.limiter.release(ip);
        this.#sessions.delete(session);
      });
      session.start();
    };
    const implicitTls = opts.implicitTls;
    if (implicitTls) {
      // RFC 8314 implicit TLS. Each connection is wrapped here with the context we were given:
      // tls.createServer() ignores a `secureContext` option (it builds its own context from
      // key/cert options), so every handshake on it failed. A client that never finishes the
      // handshake holds no session and no slot, and is cut after a command timeout (at most
      // a minute).
      const handshakeMs = Math.min(opts.settings.commandTimeoutMs, 60_000);
      this.server = net.createServer((raw) => {
        const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: implicitTls } as tls.TLSSocketOptions);
        const timer = setTimeout(() => secure.destroy(), handshakeMs);
        timer.unref();
        const onError = (err: Error) => {
          clearTimeout(timer);
          this.#log.debug({ err: err.message, remote: raw.remoteAddress }, 'smtp.tls_error');
          secure.destroy();
        };
        // 'on', not 'once': an error after the first must not find the socket without a listener.
        secure.on('error', onError);
        raw.on('error', (err) => this.#log.debug({ err: err.message }, 'smtp.socket_error'));
        secure.once('secure', () => {
          clearTimeout(timer);
          secure.off('error', onError);
          onSocket(secure);
        });
      });
    } else {
      this.server = net.createServer(onSocket);
    }
    this.server.on('error', (err) => this.#log.error({ err }, 'smtp.listener_error'));
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
   * Stops accepting; idle sessions get 421 at once, sessions in the middle of a message
   * finish it (and get 421 after their reply) or are cut when the grace period ends.
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
