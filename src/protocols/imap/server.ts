/**
 * IMAP listeners: one with STARTTLS (port 143 in production) and one with implicit TLS (993,
 * RFC 8314). Connection limits, in total and per client address, shared by both, are checked
 * before a session exists (GW-DOS-4); the per-account limit is checked at login.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ConnectionLimiter } from '../connection-limiter.ts';
import { ImapSession } from './session.ts';
import type { ImapDeps, ImapSettings } from './context.ts';

export class ImapListener {
  readonly server: net.Server;
  readonly #sessions = new Set<ImapSession>();
  readonly #sockets = new Set<net.Socket>();
  readonly #log: Logger;

  constructor(opts: { settings: ImapSettings; deps: ImapDeps; limiter: ConnectionLimiter; implicitTls?: tls.SecureContext }) {
    this.#log = opts.deps.log;
    const onSocket = (socket: net.Socket) => {
      const ip = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
      const refused = opts.limiter.acquire(ip);
      if (refused) {
        this.#log.info({ remote: ip, reason: refused }, 'imap.connection_refused');
        ImapSession.refuse(socket, refused);
        return;
      }
      socket.setNoDelay(true);
      const session = new ImapSession(socket, opts.settings, opts.deps);
      this.#sessions.add(session);
      socket.once('close', () => {
        opts.limiter.release(ip);
        this.#sessions.delete(session);
      });
      session.start();
    };
    const implicitTls = opts.implicitTls;
    if (implicitTls) {
      // As for SMTP (protocols/smtp/server.ts): each connection is wrapped with our context;
      // a handshake that does not finish is cut and holds no slot.
      const handshakeMs = Math.min(opts.settings.loginTimeoutMs, 60_000);
      this.server = net.createServer((raw) => {
        const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: implicitTls, minVersion: 'TLSv1.2' } as tls.TLSSocketOptions);
        const timer = setTimeout(() => secure.destroy(), handshakeMs);
        timer.unref();
        const onError = (err: Error) => {
          clearTimeout(timer);
          this.#log.debug({ err: err.message, remote: raw.remoteAddress }, 'imap.tls_error');
          secure.destroy();
        };
        secure.on('error', onError);
        raw.on('error', (err) => this.#log.debug({ err: err.message }, 'imap.socket_error'));
        secure.once('secure', () => {
          clearTimeout(timer);
          secure.off('error', onError);
          onSocket(secure);
        });
      });
    } else {
      this.server = net.createServer(onSocket);
    }
    this.server.on('error', (err) => this.#log.error({ err }, 'imap.listener_error'));
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
      this.server.listen({ host, port, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting; idle sessions get BYE at once, busy ones after their command, the rest are cut at the deadline. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((res) => this.server.close(() => res()));
    for (const s of this.#sessions) s.shutdown();
    const deadline = Date.now() + graceMs;
    while ([...this.#sessions].some((s) => !s.closed) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    for (const s of this.#sessions) s.destroy();
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
