/**
 * POP3 listeners: one with STLS (port 110 in production) and one with implicit TLS (995,
 * RFC 8314). Connection limits, in total and per client address, shared by both (one
 * ConnectionLimiter), are checked before a session exists (GW-DOS-4). The listening itself
 * is protocols/listener.ts; close() lets idle sessions go with "-ERR [SYS/TEMP] ... shutting
 * down" and no session enters UPDATE.
 */
import type tls from 'node:tls';
import type { ConnectionLimiter } from '../connection-limiter.ts';
import { TcpListener } from '../listener.ts';
import { Pop3Session, type Pop3Deps, type Pop3Settings } from './session.ts';

export class Pop3Listener extends TcpListener<Pop3Session> {
  constructor(opts: { settings: Pop3Settings; deps: Pop3Deps; limiter: ConnectionLimiter; implicitTls?: tls.SecureContext }) {
    super({
      proto: 'pop3', log: opts.deps.log, limiter: opts.limiter, implicitTls: opts.implicitTls,
      handshakeMs: Math.min(opts.settings.idleTimeoutMs, 60_000),
      session: (socket) => new Pop3Session(socket, opts.settings, opts.deps),
      refuse: (socket, why) => Pop3Session.refuse(socket, why),
    });
  }
}
