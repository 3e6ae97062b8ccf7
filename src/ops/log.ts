/**
 * Structured JSON logs (pino). The message is the event name ("store.partition.down");
 * one child logger per connection or command carries {cid, proto, remote, account}.
 * Secrets never reach a log line: the redact list below covers every field name that can
 * carry one, and callers never log message bodies.
 */
import crypto from 'node:crypto';
import { pino, type Logger, type DestinationStream } from 'pino';

export const REDACT_PATHS = [
  'password', '*.password', 'pass', '*.pass', 'secret', '*.secret', 'token', '*.token',
  'authorization', '*.authorization', 'headers.authorization', 'headers.cookie', 'cookie', '*.cookie',
  'password_hash', '*.password_hash', 'body', '*.body', 'data', '*.data', 'url', '*.url',
];

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino({
    level: opts.level ?? process.env.BULWARK_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }, opts.destination ?? pino.destination({ fd: 1, sync: false }));
}

/** A logger that writes nothing (tests, and CLI commands that print for humans). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * What operational logs may say about people (GW-LOG-3): addresses plain, pseudonymised with
 * a keyed hash (the same address always gives the same token, so a case can still be traced
 * by someone who holds the server secret) or left out; subject lines off unless enabled.
 */
export interface LogPrivacy {
  /** Whether addresses appear as they are (free-text error details may then be logged too). */
  readonly plain: boolean;
  address(a: string): string;
  subject(s: string): string | undefined;
}

export function logPrivacy(opts: { addresses: 'plain' | 'pseudonymised' | 'off'; subjects: 'off' | 'plain'; secret?: string }): LogPrivacy {
  const key = opts.secret ?? crypto.randomBytes(32).toString('hex');
  return {
    plain: opts.addresses === 'plain',
    address(a) {
      if (opts.addresses === 'plain') return a;
      if (opts.addresses === 'off') return '[address]';
      return `anon:${crypto.createHmac('sha256', key).update(a.toLowerCase()).digest('hex').slice(0, 16)}`;
    },
    subject(s) {
      return opts.subjects === 'plain' ? s : undefined;
    },
  };
}

export type { Logger };
