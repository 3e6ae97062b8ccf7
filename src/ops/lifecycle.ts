/**
 * Start and stop order of `bulwark serve`.
 *
 * Start: configuration (refuse on any bad key) -> primary store (migrations, integrity check)
 * -> partitions (each opened and migrated; one that fails is reported and its accounts get
 * temporary errors, the node still starts) -> TLS material -> listeners in the fixed order of
 * LISTENER_ORDER -> audit "service.start". Every listening address is printed.
 *
 * Stop (SIGTERM/SIGINT): stop accepting on every listener, let in-flight work finish within
 * server.shutdown_grace_seconds, then cut what remains, record "service.stop" and close the
 * stores cleanly (SQLite checkpoints its WAL on close).
 */
import { SessionGuard } from '../core/sessions.ts';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { SmtpListener } from '../protocols/smtp/server.ts';
import { ConnectionLimiter } from '../protocols/connection-limiter.ts';
import type { SmtpSettings } from '../protocols/smtp/session.ts';
import { createTransport } from '../protocols/smtp/transport-factory.ts';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { loadConfig, dataPath } from './config/load.ts';
import { openApp, type App } from '../app.ts';
import { loadTls } from '../security/tls.ts';
import { recordAudit, type AuditEntry } from '../security/audit.ts';
import { runMaintenance, scheduleMaintenance } from './maintenance.ts';
import { buildHttpServer, type HealthSource } from '../protocols/http/server.ts';
import { DomainError } from '../core/errors.ts';
import { ImapListener } from '../protocols/imap/server.ts';
import { AccountSessions, type ImapDeps, type ImapSettings } from '../protocols/imap/context.ts';
import { Pop3Listener } from '../protocols/pop3/server.ts';
import type { Pop3Deps, Pop3Settings } from '../protocols/pop3/session.ts';
import { bulwarkVersion } from './version.ts';
import { ChangeRelay } from '../core/changes/relay.ts';

/** Services in the order they start (and the reverse of the order they stop). */
export const LISTENER_ORDER = ['http', 'https', 'smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s'] as const;
export type ListenerName = (typeof LISTENER_ORDER)[number];

export interface Listening {
  name: ListenerName;
  url: string;
  host: string;
  port: number;
}

export interface RunningServer {
  app: App;
  listening: Listening[];
  stop(reason?: string): Promise<void>;
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  if (!m) throw new DomainError('CONFIG_INVALID', `bad listen address ${value}`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

function formatUrl(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function startServer(dataDir: string, opts: { env?: NodeJS.ProcessEnv; log: Logger; print?: (line: string) => void }): Promise<RunningServer> {
  const print = opts.print ?? (() => {});
  const log = opts.log;
  const loaded = loadConfig(dataDir, opts.env ?? process.env, { requireFile: true });
  const { config } = loaded;
  if (!config.server.secret) throw new DomainError('CONFIG_INVALID', 'server.secret: missing; bulwark init generates one (or set BULWARK_SERVER_SECRET)');
  const app = await openApp(dataDir, { loaded, log });
  let stopping = false;
  const servers: { name: ListenerName; server: FastifyInstance }[] = [];
  const smtpListeners: SmtpListener[] = [];
  const mailListeners: (ImapListener | Pop3Listener)[] = [];
  let relay: ChangeRelay | null = null;
  try {
    await app.stores.directoryEngine.quickCheck();
    log.info({ store: app.stores.directoryEngine.label }, 'store.ready');
    const failed = await app.stores.openPartitions();
    for (const p of app.stores.partitions.values()) {
      if (p.status === 'up') await p.engine!.quickCheck();
    }
    for (const f of failed) print(`warning: partition ${f.name} is unavailable (${f.error}); its accounts get temporary errors until it is back`);
    // Several nodes share a PostgreSQL primary store: change events travel between them.
    if (app.stores.directoryEngine.kind === 'postgres') {
      relay = new ChangeRelay(app.bus, { url: config.store.url, log: log.child({ component: 'relay' }) });
      await relay.start();
      log.info({ node: relay.node }, 'changes.relay.started');
    }

    const needTls = (['https', 'smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s'] as const).some((n) => config.listen[n] !== '');
    const tls = needTls ? loadTls(dataPath(dataDir, config.tls.cert), dataPath(dataDir, config.tls.key)) : undefined;
    if (tls?.selfSigned) print(`note: the TLS certificate is self-signed (${tls.subject}); replace tls.cert and tls.key with a real one`);

    const health: HealthSource = {
      live: () => ({ status: 'ok' }),
      ready: async () => {
        let directory = 'up';
        try {
          await app.stores.directoryEngine.quickCheck();
        } catch {
          directory = 'down';
        }
        const partitions: Record<string, string> = {};
        for (const p of app.stores.partitions.values()) partitions[p.name] = p.status;
        const ready = !stopping && directory === 'up';
        return { ready, status: stopping ? 'stopping' : ready ? 'ready' : 'unavailable', directory, partitions };
      },
    };

    const secureContext = tls ? createSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }) : undefined;
    const limiter = new ConnectionLimiter(config.smtp.max_connections, config.smtp.max_connections_per_ip);
    const smtpSettings = (mode: 'mx' | 'submission'): SmtpSettings => ({
      hostname: config.server.hostname,
      mode,
      maxMessageSize: config.limits.max_message_size,
      maxRecipients: config.smtp.max_recipients,
      maxErrors: config.smtp.max_errors,
      maxLine: config.smtp.max_line,
      commandTimeoutMs: config.smtp.command_timeout_seconds * 1000,
      dataTimeoutMs: config.smtp.data_timeout_seconds * 1000,
      quotaPermanent: config.smtp.quota_reply === 'permanent',
      requireTls: config.smtp.require_tls,
      revealClient: config.smtp.reveal_client_on_submission,
      privacy: app.privacy,
      secureContext,
    });
    // Logged-in sessions end when their account is disabled, removed or given a new password.
    const sessions = new SessionGuard(app.directory, log.child({ component: 'sessions' }));
    sessions.start(config.auth.revoke_check_seconds * 1000);
    const smtpDeps = {
      reception: app.reception, throttle: app.throttle, sendRate: app.sendRate, notices: app.notices, sessions,
      audit: (entry: AuditEntry) => recordAudit(app.stores.directory, entry),
    };


    const audit = (entry: AuditEntry) => recordAudit(app.stores.directory, entry);
    const imapLimiter = new ConnectionLimiter(config.imap.max_connections, config.imap.max_connections_per_ip);
    const imapSettings: ImapSettings = {
      hostname: config.server.hostname,
      version: bulwarkVersion(),
      maxMessageSize: config.limits.max_message_size,
      requireTls: config.auth.require_tls,
      idleTimeoutMs: config.imap.idle_timeout_seconds * 1000,
      loginTimeoutMs: config.imap.login_timeout_seconds * 1000,
      maxErrors: config.imap.max_errors,
      limits: {
        maxLine: config.imap.max_line,
        maxLiteral: config.imap.max_literal,
        maxAppend: config.limits.max_message_size,
        // MULTIAPPEND: a few messages at the size limit, not an unbounded stream.
        maxAppendTotal: config.limits.max_message_size * 4,
        maxCommand: config.imap.max_command,
      },
      secureContext,
      privacy: app.privacy,
    };
    const imapDeps = (name: string): ImapDeps => ({
      directory: app.directory, mail: app.mail, mailboxes: app.mailboxes, messages: app.messages, sharing: app.sharing,
      pipeline: app.pipeline, indexer: app.indexer, bus: app.bus, throttle: app.throttle, audit,
      accountSessions: imapSessions, sessions, log: log.child({ listener: name }),
    });
    const imapSessions = new AccountSessions(config.imap.max_connections_per_account);
    const pop3Limiter = new ConnectionLimiter(config.pop3.max_connections, config.pop3.max_connections_per_ip);
    const pop3Settings: Pop3Settings = {
      hostname: config.server.hostname,
      requireTls: config.auth.require_tls,
      idleTimeoutMs: config.pop3.idle_timeout_seconds * 1000,
      maxErrors: config.pop3.max_errors,
      secureContext,
      privacy: app.privacy,
    };
    const pop3Deps = (name: string): Pop3Deps => ({
      directory: app.directory, mailboxes: app.mailboxes, messages: app.messages, throttle: app.throttle, audit, sessions, log: log.child({ listener: name }),
    });

    const listening: Listening[] = [];
    for (const name of LISTENER_ORDER) {
      const value = config.listen[name];
      if (!value) continue;
      const { host, port } = parseListen(value);
      if (name === 'imap' || name === 'imaps' || name === 'pop3' || name === 'pop3s') {
        const implicitTls = name === 'imaps' || name === 'pop3s' ? secureContext : undefined;
        const listener = name.startsWith('imap')
          ? new ImapListener({ settings: imapSettings, deps: imapDeps(name), limiter: imapLimiter, implicitTls })
          : new Pop3Listener({ settings: pop3Settings, deps: pop3Deps(name), limiter: pop3Limiter, implicitTls });
        const addr = await listener.listen(host, port);
        mailListeners.push(listener);
        const l = { name, host: addr.address, port: addr.port, url: formatUrl(name, addr.address, addr.port) };
        listening.push(l);
        log.info({ listener: name, address: l.url }, 'listen');
        print(`listening: ${name} ${l.url}`);
        continue;
      }
      if (name === 'smtp' || name === 'submission' || name === 'submissions') {
        const listener = new SmtpListener({
          settings: smtpSettings(name === 'smtp' ? 'mx' : 'submission'),
          deps: { ...smtpDeps, log: log.child({ listener: name }) },
          limiter,
          implicitTls: name === 'submissions' ? secureContext : undefined,
        });
        const addr = await listener.listen(host, port);
        smtpListeners.push(listener);
        const l = { name, host: addr.address, port: addr.port, url: formatUrl(name === 'submissions' ? 'smtps' : 'smtp', addr.address, addr.port) };
        listening.push(l);
        log.info({ listener: name, address: l.url }, 'listen');
        print(`listening: ${name} ${l.url}`);
        continue;
      }
      const server = buildHttpServer({
        health,
        log: log.child({ proto: name }),
        tls: name === 'https' ? tls : undefined,
        bodyLimit: config.limits.max_message_size,
        dav: {
          directory: app.directory, throttle: app.throttle, audit, dav: app.dav, scheduler: app.scheduler, sharing: app.davSharing, log: log.child({ listener: name, proto: 'dav' }),
          requireTls: config.auth.require_tls, maxRequestBytes: config.dav.max_request_bytes, maxReportResults: config.dav.max_report_results,
        },
      });
      await server.listen({ host, port });
      servers.push({ name, server });
      const addr = server.server.address() as AddressInfo;
      const l = { name, host: addr.address, port: addr.port, url: formatUrl(name === 'https' ? 'https' : 'http', addr.address, addr.port) };
      listening.push(l);
      log.info({ listener: name, address: l.url }, 'listen');
      print(`listening: ${name} ${l.url}`);
    }
    // The queue worker: relays through the SMTP client, delivers local retries.
    const smarthostCa = config.relay.smarthost_ca ? readPem(dataPath(dataDir, config.relay.smarthost_ca), 'relay.smarthost_ca') : undefined;
    app.queue.setTransport(createTransport(config, log, smarthostCa));
    app.queue.start();
    // Messages not in the full-text index yet (after a restore, an account move, an upgrade
    // from before the index, or a crash between a delivery and its indexing) are indexed in
    // the background; searches catch up on their own mailbox anyway.
    for (const p of app.stores.partitions.values()) if (p.status === 'up') app.indexer.kick(p.name);
    // Retention (GW-LOG-3) and blob collection: now, then daily.
    const firstMaintenance = runMaintenance(app, log);
    const stopMaintenance = scheduleMaintenance(app, log);
    await recordAudit(app.stores.directory, { event: 'service.start', actor: 'system:serve', object: config.server.hostname, detail: { listeners: listening.map((l) => `${l.name} ${l.url}`), pid: process.pid } });

    let stopped: Promise<void> | undefined;
    const stop = (reason = 'stop') => {
      stopped ??= (async () => {
        stopping = true;
        stopMaintenance();
        sessions.stop();
        await app.queue.stop();
        await firstMaintenance;
        log.info({ reason }, 'service.stopping');
        const graceMs = config.server.shutdown_grace_seconds * 1000;
        const closing = Promise.allSettled([
          ...[...mailListeners].reverse().map((l) => l.close(graceMs)),
          ...[...smtpListeners].reverse().map((l) => l.close(graceMs)),
          ...[...servers].reverse().map((s) => s.server.close()),
        ]);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          closing.then(() => false),
          new Promise<boolean>((r) => { timer = setTimeout(() => r(true), graceMs); }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          log.warn({ graceMs }, 'service.stop.grace_exceeded');
          for (const s of servers) s.server.server.closeAllConnections?.();
        }
        await relay?.stop();
        await recordAudit(app.stores.directory, { event: 'service.stop', actor: 'system:serve', object: config.server.hostname, detail: { reason } })
          .catch((e) => log.error({ err: (e as Error).message }, 'audit.write_failed'));
        await app.close();
        log.info({}, 'service.stopped');
      })();
      return stopped;
    };
    return { app, listening, stop };
  } catch (e) {
    await Promise.allSettled([...servers.map((s) => s.server.close()), ...smtpListeners.map((l) => l.close(0)), ...mailListeners.map((l) => l.close(0)), relay?.stop()]);
    await app.close();
    throw e;
  }
}

/** Reads a PEM file named in the configuration; a missing file is a configuration error. */
function readPem(file: string, key: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DomainError('CONFIG_INVALID', `${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`);
  }
}
