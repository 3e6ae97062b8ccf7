/**
 * IMAP listeners: one with STARTTLS (port 143 in production) and one with implicit TLS (993,
 * RFC 8314). Connection limits, in total and per client address, shared by both, are checked
 * before a session exists (GW-DOS-4); the per-account limit is checked at login. The listening
 * itself is protocols/listener.ts.
 */
import type tls from 'node:tls';
import type { ConnectionLimiter } from '../connection-limiter.ts';
import { TcpListener } from '../listener.ts';
import { ImapSession } from './session.ts';
import type { ImapDeps, ImapSettings } from './context.ts';

export class ImapListener extends TcpListener<ImapSession> {
  constructor(opts: { settings: ImapSettings; deps: ImapDeps; limiter: ConnectionLimiter; implicitTls?: tls.SecureContext }) {
    super({
      proto: 'imap', log: opts.deps.log, limiter: opts.limiter, implicitTls: opts.implicitTls,
      handshakeMs: Math.min(opts.settings.loginTimeoutMs, 60_000),
      session: (socket) => new ImapSession(socket, opts.settings, opts.deps),
      refuse: (socket, why) => ImapSession.refuse(socket, why),
      // Many clients reconnect at once after a restart (10,000 IDLE sessions in the bench).
      backlog: 4096,
    });
  }
}
