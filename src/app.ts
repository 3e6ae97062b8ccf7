/**
 * Wires one installation together: configuration, stores, core services. The CLI and the
 * server both start here, so they see the same directory through the same rules.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { loadConfig, type LoadedConfig } from './ops/config/load.ts';
import type { Config } from './ops/config/schema.ts';
import { Stores, storeSettings } from './store/stores.ts';
import { MailStore } from './core/mail/mailstore.ts';
import { Directory } from './core/directory/directory.ts';
import { logPrivacy, silentLogger, type LogPrivacy } from './ops/log.ts';
import { ChangeBus } from './core/changes/bus.ts';
import { DeliveryPipeline } from './core/mail/delivery/pipeline.ts';
import { Reception } from './core/mail/reception.ts';
import { BlockRules } from './core/mail/blocks.ts';
import { AuthThrottle } from './security/auth-throttle.ts';
import { DirectoryLockStore } from './security/auth-locks.ts';
import { MailQueue } from './core/mail/queue/queue.ts';
import { mailAuthHooks } from './security/mail-auth.ts';
import { DkimKeys } from './security/dkim.ts';
import { Notices } from './core/mail/notices.ts';
import { SendRate } from './security/send-rate.ts';
import { Mailboxes } from './core/mail/mailboxes.ts';
import { Messages } from './core/mail/messages.ts';
import { Sharing } from './core/mail/sharing.ts';
import { TextIndexer } from './core/mail/indexer.ts';
import { DavStore } from './core/dav/store.ts';
import { DavSharing } from './core/dav/sharing.ts';
import { davValidators } from './core/dav/resources.ts';
import { Scheduler } from './core/dav/scheduling.ts';
import { imipMessage } from './core/dav/imip.ts';
import { imipHook } from './core/dav/imip-in.ts';

export interface App {
  config: Config;
  dataDir: string;
  configFile: string | null;
  log: Logger;
  stores: Stores;
  mail: MailStore;
  directory: Directory;
  bus: ChangeBus;
  reception: Reception;
  /** The one path for new messages (delivery, and APPEND through append()). */
  pipeline: DeliveryPipeline;
  mailboxes: Mailboxes;
  messages: Messages;
  sharing: Sharing;
  indexer: TextIndexer;
  /** Calendars, task lists and address books (CalDAV, CardDAV). */
  dav: DavStore;
  /** Implicit scheduling (RFC 6638) after calendar changes. */
  scheduler: Scheduler;
  /** Calendars, task lists and address books shared between accounts. */
  davSharing: DavSharing;
  queue: MailQueue;
  /** DKIM signing keys per domain; signs submitted mail that leaves for other domains. */
  dkim: DkimKeys;
  notices: Notices;
  sendRate: SendRate;
  /** How operational logs show addresses and subjects (log.addresses, log.subjects). */
  privacy: LogPrivacy;
  throttle: AuthThrottle;
  close(): Promise<void>;
}

export function directoryOptions(config: Config) {
  return {
    limits: {
      defaultQuota: config.limits.default_quota,
      maxListDepth: config.limits.max_list_depth,
      maxExpansion: config.limits.max_expansion,
    },
    closedPartitions: config.placement.closed,
  };
}

export async function openApp(dataDir: string, opts: { env?: NodeJS.ProcessEnv; log?: Logger; loaded?: LoadedConfig; requireConfig?: boolean; migrate?: boolean } = {}): Promise<App> {
  const loaded = opts.loaded ?? loadConfig(dataDir, opts.env ?? process.env, { requireFile: opts.requireConfig ?? true });
  const log = opts.log ?? silentLogger();
  const stores = await Stores.open(storeSettings(loaded.config, dataDir, log), { migrate: opts.migrate });
  const mail = new MailStore(stores);
  const directory = new Directory(stores, mail, directoryOptions(loaded.config));
  const bus = new ChangeBus();
  const indexer = new TextIndexer(mail, stores, log);
  const sharing = new Sharing(stores);
  const mailboxes = new Mailboxes(mail, bus);
  mailboxes.onDeleted = (account, id) => sharing.forget(account.id, id).catch((e) => log.warn({ err: (e as Error).message }, 'sharing.forget.failed'));
  const messages = new Messages(mail, bus);
  messages.onUnindexed = (account) => indexer.kick(account.partition);
  const auth = loaded.config.smtp.verify_sender_auth
    ? mailAuthHooks({
      authservId: loaded.config.server.hostname,
      dnsServers: loaded.config.dns.servers,
      dnsTimeoutMs: loaded.config.dns.timeout_ms,
      dmarcReject: loaded.config.smtp.dmarc_reject,
      dmarcQuarantine: loaded.config.smtp.dmarc_quarantine,
      log,
    })
    : null;
  const pipeline = new DeliveryPipeline({
    mail, bus, log, onStored: (partition) => indexer.kick(partition),
    hooks: { authenticate: auth?.authenticate, contentChecks: [], filters: auth ? [auth.filter] : [], stored: [imipHook(() => scheduler)] },
    hostname: loaded.config.server.hostname,
    maxMessageSize: loaded.config.limits.max_message_size,
  });
  const c = loaded.config;
  const privacy = logPrivacy({ addresses: c.log.addresses, subjects: c.log.subjects, secret: c.server.secret });
  const queue = new MailQueue({
    stores, log, transport: null, address: (a) => privacy.address(a),
    settings: {
      hostname: c.server.hostname,
      lifetimeMs: c.queue.lifetime_hours * 3_600_000,
      delayWarningMs: c.queue.delay_warning_hours > 0 ? c.queue.delay_warning_hours * 3_600_000 : Number.MAX_SAFE_INTEGER,
      retryMinMs: c.queue.retry_min_seconds * 1000,
      retryMaxMs: c.queue.retry_max_seconds * 1000,
      leaseMs: 10 * 60_000,
      pollMs: c.queue.poll_seconds * 1000,
    },
    deliverLocal: (req) => pipeline.deliver(req),
    accountById: (id) => directory.accountById(id),
    localAccountFor: async (address) => {
      const ex = await directory.expand(address).catch(() => null);
      if (ex && ex.accounts.length === 1 && ex.external.length === 0) return ex.accounts[0].id;
      const domain = address.slice(address.lastIndexOf('@') + 1);
      return (await directory.isLocalDomain(domain).catch(() => false)) ? 'nobody' : null;
    },
  });
  const dkim = new DkimKeys(stores, { log });
  const dav = new DavStore(mail, bus, davValidators(), {
    maxResourceBytes: c.dav.max_resource_bytes, maxResourcesPerCollection: c.dav.max_resources_per_collection, maxCollections: c.dav.max_collections,
  }, async (accountId) => {
    const a = await directory.accountById(accountId);
    return a ? directory.domainListing(a.domainId) : null;
  });
  const reception = new Reception(directory, mail, pipeline, queue, c.server.hostname, (raw) => dkim.signOutbound(raw), new BlockRules(stores, directory, { log, address: (a) => privacy.address(a) }));
  const scheduler = new Scheduler({
    dav, log,
    resolve: async (address) => {
      const ex = await directory.expand(address).catch(() => null);
      if (ex && ex.accounts.length === 1 && ex.external.length === 0) return { kind: 'local', account: ex.accounts[0] };
      const domain = address.slice(address.lastIndexOf('@') + 1);
      if (await directory.isLocalDomain(domain)) return { kind: 'unknown' };
      return { kind: 'external', address };
    },
    isOwnAddress: async (account, address) => address === account.address.toLowerCase() || (await reception.maySendAs(account, address).catch(() => false)),
    sendImip: async (from, to, method, ical, summary) => {
      const raw = imipMessage({ from: from.address, fromName: from.displayName, to, method, ical, summary, hostname: c.server.hostname });
      await reception.accept({
        id: `imip.${randomUUID()}`, raw, from: from.address, local: [], external: [{ address: to, accountId: null }], account: from,
        source: { protocol: 'submission', revealClient: false, authenticatedAs: from.address }, receivedAt: Date.now(), withProtocol: 'HTTPSA',
      });
    },
  });
  return {
    config: loaded.config,
    dataDir,
    configFile: loaded.file,
    log,
    stores,
    mail,
    directory,
    bus,
    pipeline,
    mailboxes,
    messages,
    sharing,
    indexer,
    dav,
    reception,
    scheduler,
    davSharing: new DavSharing(stores, directory),
    queue,
    dkim,
    privacy,
    notices: new Notices({ enabled: c.limits.notify_recipients_oversize, intervalMs: c.limits.notice_interval_minutes * 60_000, hostname: c.server.hostname }, (req) => pipeline.deliver(req), log),
    sendRate: new SendRate({ messagesPerHour: c.smtp.max_messages_per_hour, recipientsPerHour: c.smtp.max_recipients_per_hour }),
    throttle: new AuthThrottle({}, Date.now, new DirectoryLockStore(stores)),
    close: async () => {
      await queue.stop();
      await indexer.stop();
      await stores.close();
    },
  };
}
