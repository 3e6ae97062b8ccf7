/**
 * The configuration schema: one zod object per TOML section, a description on every key.
 * The commented bulwark.toml written by `bulwark init` and docs/config.md are generated
 * from it (ops/config/template.ts), so they cannot drift from what the server accepts.
 * Defaults are the secure ones: authentication only over TLS, admin on loopback, limits on.
 */
import { z } from 'zod';

const int = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v),
    z.number({ error: 'expected a whole number' }).int('expected a whole number')
      .min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const bool = () =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off'].includes(s)) return false;
    return v;
  }, z.boolean({ error: 'expected true or false' }));

const SIZE_RE = /^\s*(\d+)\s*(k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i;
/** A byte size: a number, or a string like "50M", "1 GiB" (binary multiples). */
export function parseSize(v: unknown): unknown {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return v;
  const m = SIZE_RE.exec(v);
  if (!m) return v;
  const mult: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  const unit = (m[2] ?? '').toLowerCase()[0];
  return Number(m[1]) * (unit ? mult[unit] : 1);
}
const size = (min: number, max: number) =>
  z.preprocess(parseSize, z.number({ error: 'expected a size such as 50M or 1G' }).int()
    .min(min, `must be at least ${min} bytes`).max(max, `must be at most ${max} bytes`));

/** "host:port", "[v6]:port", or "" (listener off). */
export const listenAddress = z.string({ error: 'expected "host:port" or "" to turn the listener off' }).refine((s) => {
  if (s === '') return true;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return false;
  const port = Number(m[3]);
  return port >= 0 && port <= 65535;
}, { message: 'expected "host:port" (e.g. 127.0.0.1:8080, [::1]:8080) or "" to turn the listener off' });

/** Secrets that must never be accepted (GW-INS-1): placeholders from docs and habit. */
export const KNOWN_PLACEHOLDERS = ['changeme', 'change-me', 'password', 'secret', 'admin', 'bulwark', 'example',
  'test', '123456', 'default', 'replace-me', 'xxxxxxxx', 'placeholder', 'letmein', 'qwerty', 'insecure'];

function isWeakSecret(s: string): string | null {
  const low = s.toLowerCase();
  if (KNOWN_PLACEHOLDERS.some((p) => low === p || low.includes(p) && s.length < 24)) return 'is a known placeholder';
  if (s.length < 32) return 'is shorter than 32 characters (bulwark init generates a strong one)';
  if (new Set(s).size < 10) return 'has too few distinct characters';
  return null;
}
export const secret = z.string().superRefine((s, ctx) => {
  const why = isWeakSecret(s);
  if (why) ctx.addIssue({ code: 'custom', message: `the secret ${why}` });
});

const storeUrl = z.string().superRefine((s, ctx) => {
  if (/^sqlite:.+/.test(s)) return;
  if (/^postgres(ql)?:\/\//.test(s)) {
    try {
      const u = new URL(s);
      if (!u.username) ctx.addIssue({ code: 'custom', message: 'needs a user name: postgres://USER@host:port/database' });
      if (u.pathname.length <= 1) ctx.addIssue({ code: 'custom', message: 'needs a database name: postgres://USER@host:port/database' });
      const pw = decodeURIComponent(u.password);
      const low = pw.toLowerCase();
      if (pw && KNOWN_PLACEHOLDERS.some((p) => low.includes(p)))
        ctx.addIssue({ code: 'custom', message: 'the database password is a known placeholder' });
      else if (pw && pw.length < 12)
        ctx.addIssue({ code: 'custom', message: 'the database password is shorter than 12 characters' });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a valid postgres:// URL' });
    }
    return;
  }
  ctx.addIssue({ code: 'custom', message: 'expected sqlite:PATH (relative to the data directory) or postgres://user@host:port/database' });
});

export const PARTITION_NAME = /^[a-z][a-z0-9]{0,31}$/;

export const configSchema = z.strictObject({
  server: z.strictObject({
    hostname: z.string().regex(/^[A-Za-z0-9.-]+$/, 'expected a host name').default('localhost')
      .describe('The name this server gives itself in greetings and generated documents.'),
    secret: secret.optional()
      .describe('Key for session cookies and tokens; bulwark init generates it. Known placeholders and weak values are refused.'),
    shutdown_grace_seconds: int(0, 3600).default(15)
      .describe('On SIGTERM, how long in-flight work may take before connections are cut.'),
  }).prefault({}).describe('The server itself.'),
  listen: z.strictObject({
    http: listenAddress.default('127.0.0.1:8080')
      .describe('Plain HTTP: health (/healthz, /readyz) and, later, the admin API. Loopback by default.'),
    https: listenAddress.default('0.0.0.0:8443')
      .describe('HTTPS: health now; DAV, JMAP and the web client as they arrive.'),
    smtp: listenAddress.default('0.0.0.0:2525')
      .describe('SMTP reception (MX), STARTTLS offered. Port 25 in production (see the admin guide for binding it without root).'),
    submission: listenAddress.default('0.0.0.0:5587')
      .describe('Message submission (RFC 6409) with STARTTLS required before AUTH. Port 587 in production.'),
    submissions: listenAddress.default('0.0.0.0:5465')
      .describe('Message submission over implicit TLS (RFC 8314). Port 465 in production.'),
    imap: listenAddress.default('0.0.0.0:1143')
      .describe('IMAP with STARTTLS (login only after STARTTLS unless auth.require_tls is off). Port 143 in production.'),
    imaps: listenAddress.default('0.0.0.0:1993')
      .describe('IMAP over implicit TLS (RFC 8314). Port 993 in production.'),
    pop3: listenAddress.default('0.0.0.0:1110')
      .describe('POP3 with STLS (login only after STLS unless auth.require_tls is off). Port 110 in production.'),
    pop3s: listenAddress.default('0.0.0.0:1995')
      .describe('POP3 over implicit TLS (RFC 8314). Port 995 in production.'),
  }).prefault({}).describe('One "host:port" per service; "" turns a listener off. Override with BULWARK_LISTEN_<SERVICE>.'),
  tls: z.strictObject({
    cert: z.string().min(1).default('tls/cert.pem').describe('PEM certificate chain (relative to the data directory).'),
    key: z.string().min(1).default('tls/key.pem').describe('PEM private key (relative to the data directory).'),
  }).prefault({}).describe('TLS certificate; bulwark init makes a self-signed one to replace with a real one.'),
  store: z.strictObject({
    url: storeUrl.default('sqlite:bulwark.db')
      .describe('The primary store (directory, audit trail, partition map): sqlite:PATH or postgres://...'),
    pool_size: int(1, 200).default(10).describe('PostgreSQL connections per database and node.'),
    connect_timeout_ms: int(100, 120_000).default(3000)
      .describe('How long to wait for a database before calls fail with a temporary error.'),
    retry_after_ms: int(100, 600_000).default(2000)
      .describe('After a partition failed to connect, calls fail fast for this long before it is tried again.'),
  }).prefault({}).describe('The primary store.'),
  partitions: z.record(z.string(), storeUrl).superRefine((rec, ctx) => {
    for (const name of Object.keys(rec)) {
      if (!PARTITION_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'partition names are lower-case letters and digits, starting with a letter (at most 32)' });
    }
    if (Object.keys(rec).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one partition is needed' });
  })
    .default({ main: 'sqlite:bulwark.db' })
    .describe('Storage partitions for account data: name = URL. Each is its own database; new accounts go to the one with the fewest accounts. Override with BULWARK_PARTITIONS_<NAME>.'),
  placement: z.strictObject({
    closed: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
      z.array(z.string())).default([])
      .describe('Partitions that take no new accounts (e.g. before a server is retired).'),
  }).prefault({}).describe('Where new accounts are placed.'),
  blobs: z.strictObject({
    backend: z.enum(['auto', 'files', 'database']).default('auto')
      .describe('Where message bodies go: files under the data directory, or inside the partition database. auto: files for SQLite partitions, database for PostgreSQL ones (so nodes share nothing on disk).'),
    inline_max_bytes: size(0, 16 * 2 ** 20).default(64 * 1024)
      .describe('With the files backend, bodies up to this size are kept inside the partition database (made durable by the same commit as their rows); larger ones are appended to segment files, one fsync per batch. 0 = no inline bodies.'),
    gc_grace_hours: int(0, 24 * 365).default(24)
      .describe('An unreferenced blob is collected only after it has been unreferenced this long.'),
  }).prefault({}).describe('The content-addressed blob store.'),
  limits: z.strictObject({
    max_message_size: size(1024, 2 ** 31).default(50 * 2 ** 20).describe('Largest message or object accepted on any path.'),
    default_quota: size(0, 2 ** 50).default(2 ** 30).describe('Storage quota for new accounts (0 = unlimited, not recommended).'),
    max_list_depth: int(1, 32).default(8).describe('How deeply distribution lists may nest before expansion stops.'),
    max_expansion: int(1, 1_000_000).default(10_000).describe('Most recipients one address may expand to.'),
    notify_recipients_oversize: bool().default(true)
      .describe('Tell local recipients (one short notice in the inbox) when a message to them was refused as too large (S 4.357, GW-DOS-2).'),
    notice_interval_minutes: int(1, 7 * 24 * 60).default(60)
      .describe('At most one such notice per recipient and sender in this interval.'),
  }).prefault({}).describe('Limits against denial of service (GW-DOS-*); all on by default.'),
  smtp: z.strictObject({
    max_recipients: int(1, 100_000).default(100).describe('Recipients per message; more get 452 4.5.3.'),
    max_connections: int(1, 1_000_000).default(1000).describe('Concurrent SMTP connections in total (all SMTP listeners); more get 421 4.7.0.'),
    max_connections_per_ip: int(1, 100_000).default(20).describe('Concurrent SMTP connections per client address.'),
    max_errors: int(1, 1000).default(10).describe('Protocol errors a session may make before it is disconnected with 421.'),
    command_timeout_seconds: int(1, 3600).default(300).describe('How long a session may wait before its next command (RFC 5321 §4.5.3.2: at least 5 minutes).'),
    data_timeout_seconds: int(1, 3600).default(180).describe('How long the message data may stall between two chunks.'),
    max_line: int(512, 65536).default(2048).describe('Longest command line, CRLF included.'),
    quota_reply: z.enum(['temporary', 'permanent']).default('temporary')
      .describe('Over quota: temporary (452 4.2.2, the sender retries) or permanent (552 5.2.2).'),
    require_tls: bool().default(false)
      .describe('Refuse mail on the MX listener before STARTTLS (APP.5.3.A2). Off by default: servers that cannot do TLS would lose mail; the self-check reports it.'),
    max_messages_per_hour: int(1, 1_000_000).default(200)
      .describe('Messages one account may submit per hour; more get 451 4.7.1 and the admins are alerted (GW-DOS-6).'),
    max_recipients_per_hour: int(1, 10_000_000).default(2000)
      .describe('Recipients one account may submit to per hour.'),
    verify_sender_auth: bool().default(true)
      .describe('Verify SPF, DKIM, DMARC and ARC of received mail and add Authentication-Results.'),
    dmarc_reject: z.enum(['refuse', 'junk', 'accept']).default('refuse')
      .describe('What to do with mail failing DMARC whose domain publishes p=reject: refuse (550 5.7.1), deliver to Junk, or accept.'),
    dmarc_quarantine: z.enum(['junk', 'accept']).default('junk')
      .describe('What to do with mail failing DMARC whose domain publishes p=quarantine.'),
    reveal_client_on_submission: bool().default(false)
      .describe('Whether the Received header of submitted mail shows the client address and HELO name.'),
  }).prefault({}).describe('SMTP reception and submission limits (GW-DOS-1, GW-DOS-4).'),
  imap: z.strictObject({
    max_connections: int(1, 1_000_000).default(20_000).describe('Concurrent IMAP connections in total (both IMAP listeners); more get BYE.'),
    max_connections_per_ip: int(1, 1_000_000).default(500)
      .describe('Concurrent IMAP connections per client address (offices behind one NAT address need many).'),
    max_connections_per_account: int(1, 10_000).default(50)
      .describe('Concurrent IMAP sessions per account (GW-DOS-4); a login beyond it gets NO [LIMIT].'),
    idle_timeout_seconds: int(5, 86_400).default(1800)
      .describe('An authenticated session that sends nothing for this long is logged out (RFC 9051 §5.4 asks for at least 30 minutes; IDLE clients renew within 29).'),
    login_timeout_seconds: int(5, 3600).default(60).describe('How long a connection may stay without logging in.'),
    max_line: size(1024, 16 * 2 ** 20).default(64 * 1024).describe('Longest command line outside literals (CRLF included); longer ones end the session with BYE.'),
    max_literal: size(1024, 16 * 2 ** 20).default(64 * 1024).describe('Largest literal in commands other than APPEND (APPEND takes up to limits.max_message_size).'),
    max_command: size(4096, 64 * 2 ** 20).default(2 ** 20).describe('Largest command other than APPEND, literals included.'),
    max_errors: int(1, 10_000).default(50).describe('Bad commands a session may send before it is disconnected.'),
  }).prefault({}).describe('IMAP (GW-DOS-4 limits).'),
  pop3: z.strictObject({
    max_connections: int(1, 1_000_000).default(2000).describe('Concurrent POP3 connections in total.'),
    max_connections_per_ip: int(1, 1_000_000).default(200).describe('Concurrent POP3 connections per client address.'),
    idle_timeout_seconds: int(5, 86_400).default(600).describe('A session idle this long is closed (RFC 1939 §3: at least 10 minutes).'),
    max_errors: int(1, 1000).default(20).describe('Bad commands a session may send before it is disconnected.'),
  }).prefault({}).describe('POP3 (GW-DOS-4 limits).'),
  dav: z.strictObject({
    max_resource_bytes: int(1024, 64 * 1024 * 1024).default(1024 * 1024)
      .describe('Largest calendar object or vCard (CALDAV:max-resource-size, CARDDAV:max-resource-size).'),
    max_request_bytes: int(1024, 256 * 1024 * 1024).default(4 * 1024 * 1024)
      .describe('Largest WebDAV request body (PROPFIND, REPORT, PUT); more gets 413.'),
    max_resources_per_collection: int(1, 10_000_000).default(50_000).describe('Resources one calendar, task list or address book may hold.'),
    max_collections: int(1, 100_000).default(200).describe('Calendars, task lists and address books one account may have.'),
    max_report_results: int(10, 1_000_000).default(10_000)
      .describe('Most resources one REPORT or depth-1 PROPFIND answers with (sync-collection then continues with a new token).'),
  }).prefault({}).describe('CalDAV and CardDAV (GW-DOS-4 limits).'),
  queue: z.strictObject({
    lifetime_hours: int(1, 24 * 60).default(120).describe('How long a message may wait in the queue before it bounces (RFC 5321 §4.5.4.1: at least 4-5 days).'),
    delay_warning_hours: int(0, 24 * 60).default(4).describe('After this long the sender gets one "delayed" DSN (unless NOTIFY excluded DELAY); 0 = never.'),
    retry_min_seconds: int(1, 86_400).default(300).describe('First retry after this long; the wait doubles after each attempt.'),
    retry_max_seconds: int(1, 86_400).default(4000).describe('Longest wait between two attempts.'),
    poll_seconds: int(1, 3600).default(5).describe('How often a node looks for due queue entries when it was not woken.'),
  }).prefault({}).describe('The outbound queue.'),
  relay: z.strictObject({
    smarthost: z.string().regex(/^$|^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected "host:port" or ""').default('')
      .describe('Send all outbound mail through this server instead of looking up MX records ("" = direct delivery).'),
    smarthost_tls: z.enum(['starttls', 'implicit']).default('starttls').describe('How to reach the smarthost: STARTTLS on a plain port, or implicit TLS (port 465).'),
    smarthost_user: z.string().default('').describe('User name for AUTH at the smarthost ("" = no authentication).'),
    smarthost_password: z.string().default('').describe('Password for AUTH at the smarthost.'),
    smarthost_verify: bool().default(true)
      .describe('Check the smarthost\'s TLS certificate (and require TLS): the AUTH password must not go to an impostor.'),
    smarthost_ca: z.string().default('').describe('PEM file with the CA(s) to check the smarthost against ("" = the system CAs); relative to the data directory.'),
    port: int(1, 65535).default(25).describe('Destination port for direct delivery (25; changed only for tests).'),
    require_tls: bool().default(false).describe('Refuse to relay to servers that do not offer STARTTLS (default: opportunistic TLS, RFC 7435).'),
  }).prefault({}).describe('Outbound delivery.'),
  dns: z.strictObject({
    servers: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
      z.array(z.string().regex(/^[0-9a-fA-F.:\[\]]+$/, 'expected an IP address, optionally with :port'))).default([])
      .describe('DNS resolvers for MX and authentication lookups, e.g. ["127.0.0.1:53"] ([] = the system resolvers).'),
    timeout_ms: int(100, 60_000).default(5000).describe('Time for one DNS query.'),
  }).prefault({}).describe('DNS.'),
  auth: z.strictObject({
    require_tls: bool().default(true).describe('Refuse authentication on connections without TLS.'),
    revoke_check_seconds: int(1, 3600).default(30)
      .describe('How often logged-in IMAP, POP3 and SMTP sessions are checked against their account: a session whose account was disabled (or its domain), removed, or given a new password since the login is ended within this bound.'),
  }).prefault({}).describe('Authentication.'),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').describe('Log level.'),
    audit_retention_days: int(1, 36500).default(365).describe('How long audit trail entries are kept; older ones are pruned daily and the prune is itself audited.'),
    addresses: z.enum(['plain', 'pseudonymised', 'off']).default('plain')
      .describe('E-mail addresses in operational logs: plain, pseudonymised (keyed hash, stable per address) or off.'),
    subjects: z.enum(['off', 'plain']).default('off').describe('Subject lines in operational logs.'),
  }).prefault({}).describe('Logging.'),
  backup: z.strictObject({
    progress: bool().default(true).describe('Show progress of long backup, restore and verify runs on standard error.'),
  }).prefault({}).describe('Backup.'),
});

export type Config = z.infer<typeof configSchema>;
