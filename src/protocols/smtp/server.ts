/**
 * SMTP listeners: reception (MX, STARTTLS offered), submission (STARTTLS required before
 * AUTH) and submissions (implicit TLS, RFC 8314). Connection limits — total and per client
 * address, shared by all SMTP listeners — are checked before a session exists (GW-DOS-4);
 * the listening itself is protocols/listener.ts.
 */
import type tls from 'node:tls';
import { SmtpSession, type SmtpDeps, type SmtpSettings } from './session.ts';
import type { ConnectionLimiter } from '../connection-limiter.ts';
import { TcpListener } from '../listener.ts';

export class SmtpListener extends TcpListener<SmtpSession> {
  constructor(opts: { settings: SmtpSettings; deps: SmtpDeps; limiter: ConnectionLimiter; implicitTls?: tls.SecureContext }) {
    super({
      proto: 'smtp', log: opts.deps.log, limiter: opts.limiter, implicitTls: opts.implicitTls,
      // A client that never finishes the handshake is cut after a command timeout (at most a minute).
      handshakeMs: Math.min(opts.settings.commandTimeoutMs, 60_000),
      session: (socket) => new SmtpSession(socket, opts.settings, opts.deps),
      refuse: (socket, why) => SmtpSession.refuse(socket, opts.settings.hostname, why),
    });
  }
}
