/**
 * Operations commands: serve, init, config check, migrate, backup/restore/verify, audit.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { dataDirOf, out, printJson, printTable, withApp } from './util.ts';
import { loadConfig, dataPath, CONFIG_FILE } from '../ops/config/load.ts';
import { createLogger } from '../ops/log.ts';
import { startServer } from '../ops/lifecycle.ts';
import { initInstallation } from '../ops/init.ts';
import { loadTls, makeSelfSigned } from '../security/tls.ts';
import { Stores, storeSettings } from '../store/stores.ts';
import { openEngine, type Engine } from '../store/engine.ts';
import { migrate, pendingMigrations } from '../store/migrations/index.ts';
import { readAudit, verifyAuditChain } from '../security/audit.ts';
import { actorLabel, requireAdmin, requireAuditor } from '../core/actor.ts';
import { pruneAudit } from '../ops/retention.ts';
import { DomainError } from '../core/errors.ts';

function progressPrinter(enabled: boolean): (msg: string) => void {
  return enabled ? (msg) => process.stderr.write(`  ${msg}\n`) : () => {};
}

function firstAccountHint(dataDir: string): string {
  const d = dataDir === `${process.cwd()}/data` ? '' : ` --data ${dataDir}`;
  return [
    'No accounts yet. Create a domain and the first admin (a password is generated and shown once):',
    `  npx bulwark${d} domain add example.org`,
    `  npx bulwark${d} account add admin@example.org --role admin,user`,
  ].join('\n');
}

export function registerOps(program: Command): void {
  program.command('serve').description('run the server')
    .option('--init-if-missing', 'initialise the data directory first if it has no configuration')
    .action(async (o: { initIfMissing?: boolean }, cmd: Command) => {
      const dataDir = dataDirOf(cmd);
      if (o.initIfMissing && !fs.existsSync(`${dataDir}/${CONFIG_FILE}`)) {
        await initInstallation({ dataDir });
        process.stderr.write(`initialised ${dataDir} (configuration ${dataDir}/${CONFIG_FILE}, self-signed TLS certificate, SQLite store)\n`);
      }
      const { config } = loadConfig(dataDir, process.env, { requireFile: true });
      const log = createLogger({ level: config.log.level });
      process.on('unhandledRejection', (err) => log.error({ err }, 'process.unhandled_rejection'));
      process.on('uncaughtException', (err) => log.error({ err }, 'process.uncaught_exception'));
      if (process.getuid?.() === 0) process.stderr.write('warning: running as root; run bulwark as an unprivileged user (see docs/admin-guide.md)\n');
      const running = await startServer(dataDir, { log, print: (l) => process.stderr.write(`${l}\n`) });
      const accounts = await running.app.directory.partitionCounts();
      if (Object.values(accounts).every((n) => n === 0)) process.stderr.write(`${firstAccountHint(dataDir)}\n`);
      process.stderr.write(`bulwark is running (data ${dataDir}); stop with Ctrl-C or SIGTERM\n`);
      let signalled = false;
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        process.on(sig, () => {
          if (signalled) return;
          signalled = true;
          running.stop(sig).then(() => {
            log.flush?.();
            process.exit(0);
          }, (err) => {
            log.error({ err }, 'service.stop_failed');
            process.exit(1);
          });
        });
      }
    });

  program.command('init').description('create a new installation in an empty data directory')
    .option('--domain <domain>', 'first mail domain; its admin account gets a generated password, shown once')
    .option('--hostname <name>', 'host name of this server (default: mail.<domain>)')
    .option('--admin <local part>', 'local part of the first admin address', 'admin')
    .action(async (o: { domain?: string; hostname?: string; admin: string }, cmd: Command) => {
      const dataDir = dataDirOf(cmd);
      const r = await initInstallation({ dataDir, domain: o.domain, hostname: o.hostname, adminLocal: o.admin });
      out(`initialised ${r.dataDir}`);
      out(`configuration: ${r.configFile} (commented; check with: bulwark config check)`);
      if (r.admin) {
        out(`domain: ${r.domain}`);
        out(`admin account: ${r.admin.address}`);
        out(`admin password: ${r.admin.password}`);
        out('(shown once: it is stored only as an argon2id hash; change it with: bulwark account passwd)');
      } else {
        out(firstAccountHint(dataDir));
      }
      out('start the server with: bulwark serve');
    });

  const config = program.command('config').description('configuration');
  config.command('check').description('validate the configuration (file and BULWARK_* environment) without starting')
    .action(async (_o, cmd: Command) => {
      const dataDir = dataDirOf(cmd);
      const loaded = loadConfig(dataDir, process.env, { requireFile: true });
      const c = loaded.config;
      if (c.listen.https) loadTls(dataPath(dataDir, c.tls.cert), dataPath(dataDir, c.tls.key));
      if (!c.server.secret) throw new DomainError('CONFIG_INVALID', 'server.secret: missing; bulwark init generates one');
      out(`configuration OK: ${loaded.file}`);
      for (const [k, v] of Object.entries(c.listen)) out(`  listen.${k} = ${v || '(off)'}`);
      out(`  partitions: ${Object.keys(c.partitions).join(', ')}`);
    });

  program.command('migrate').description('apply pending schema migrations (the server also does this at start)')
    .option('--dry-run', 'only show what would run')
    .action(async (o: { dryRun?: boolean }, cmd: Command) => {
      const dataDir = dataDirOf(cmd);
      const { config } = loadConfig(dataDir, process.env, { requireFile: true });
      const stores = await Stores.open(storeSettings(config, dataDir), { migrate: false });
      const extra: Engine[] = [];
      try {
        const targets: { label: string; engine: typeof stores.directoryEngine; schema: 'directory' | 'partition' }[] = [
          { label: 'directory', engine: stores.directoryEngine, schema: 'directory' },
        ];
        for (const p of stores.partitions.values()) {
          let eng = p.url === stores.settings.directoryUrl ? stores.directoryEngine : undefined;
          if (!eng) {
            eng = openEngine(p.url, dataDir, { poolSize: 1, connectTimeoutMs: config.store.connect_timeout_ms });
            extra.push(eng);
          }
          targets.push({ label: `partition ${p.name}`, engine: eng, schema: 'partition' });
        }
        let total = 0;
        for (const t of targets) {
          const pending = await pendingMigrations(t.engine, t.schema);
          total += pending.length;
          out(`${t.label} (${t.engine.label}): ${pending.length ? pending.join(', ') : 'up to date'}`);
          if (!o.dryRun && pending.length) {
            const done = await migrate(t.engine, t.schema);
            out(`  applied ${done.join(', ')}`);
          }
        }
        out(o.dryRun ? `${total} migration(s) would run` : `${total} migration(s) applied`);
      } finally {
        await Promise.allSettled(extra.map((e) => e.close()));
        await stores.close();
      }
    });

  const backup = program.command('backup').description('consistent online backup (S 6.90, GW-BAK-1); "backup verify DIR" checks one')
    .argument('[dir]', 'an empty or new directory for the backup')
    .action(async (dir: string | undefined, _o, cmd: Command) => {
      if (!dir) throw new DomainError('INVALID_INPUT', 'backup needs a target directory: bulwark backup DIR');
      const dataDir = dataDirOf(cmd);
      const { config } = loadConfig(dataDir, process.env, { requireFile: true });
      const { createBackup } = await import('../ops/backup/backup.ts');
      const m = await createBackup({ dataDir, config, dest: dir, progress: progressPrinter(config.backup.progress) });
      out(`backup written to ${dir}: ${m.files.length} files; verify it with: bulwark backup verify ${dir}`);
    });
  backup.command('verify <dir>').description('restore into a scratch location and check every hash, row count and blob reference')
    .action(async (dir: string, _o, cmd: Command) => {
      const dataDir = dataDirOf(cmd);
      const live = fs.existsSync(`${dataDir}/${CONFIG_FILE}`) ? dataDir : undefined;
      const { verifyBackup } = await import('../ops/backup/verify.ts');
      const r = await verifyBackup({ src: dir, dataDir: live, progress: progressPrinter(true) });
      for (const p of r.problems) out(`problem: ${p}`);
      out(`${r.ok ? 'VERIFIED' : 'FAILED'}: ${dir}: ${r.files} files, ${r.rows} rows, ${r.blobs} blobs checked in ${(r.durationMs / 1000).toFixed(1)} s${r.ok ? '' : `, ${r.problems.length} problem(s)`}`);
      if (!r.ok) process.exitCode = 1;
    });

  program.command('restore <dir>').description('restore a backup into an empty data directory (given with --data)')
    .option('--keep-urls', 'restore into the PostgreSQL/SQLite databases named in the backed-up configuration (they must be empty) instead of an embedded SQLite layout')
    .action(async (dir: string, o: { keepUrls?: boolean }, cmd: Command) => {
      const opts = cmd.optsWithGlobals() as { data?: string };
      if (!opts.data) throw new DomainError('INVALID_INPUT', 'restore needs the new location: bulwark restore DIR --data NEWDIR');
      const dataDir = dataDirOf(cmd);
      const { restoreBackup } = await import('../ops/backup/restore.ts');
      await restoreBackup({ src: dir, dataDir, keepUrls: !!o.keepUrls, progress: progressPrinter(true) });
      // Keys are not part of a backup (GW-BAK-1: they go to a separately protected artefact).
      const { config } = loadConfig(dataDir, process.env, { requireFile: true });
      const cert = dataPath(dataDir, config.tls.cert);
      const key = dataPath(dataDir, config.tls.key);
      if (!fs.existsSync(cert) && !fs.existsSync(key)) {
        await makeSelfSigned(cert, key, config.server.hostname);
        out(`note: TLS keys are not in backups; made a self-signed certificate at ${cert}; put the real one there`);
      }
      out(`restored ${dir} into ${dataDir}; check it with: bulwark --data ${dataDir} config check`);
    });

  const audit = program.command('audit').description('the security audit trail');
  audit.command('list').description('show audit entries').option('--event <id>', 'only this event').option('--since <iso date>', 'only entries since')
    .option('--limit <n>', 'at most n entries', '100').option('--json', 'machine-readable output')
    .action(async (o: { event?: string; since?: string; limit: string; json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      requireAuditor(actor, 'reading the audit trail');
      const since = o.since ? Date.parse(o.since) : undefined;
      if (o.since && Number.isNaN(since)) throw new DomainError('INVALID_INPUT', `--since "${o.since}" is not a date`);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new DomainError('INVALID_INPUT', '--limit must be a positive whole number');
      const rows = await readAudit(app.stores.directory, { event: o.event, since, limit });
      if (o.json) return printJson(rows);
      printTable(['ID', 'TIME', 'EVENT', 'ACTOR', 'SOURCE', 'OBJECT'], rows.map((r) => [r.id, new Date(r.ts).toISOString(), r.event, r.actor, r.source, r.object]));
    }));
  audit.command('prune').description('delete audit entries older than the retention (log.audit_retention_days); the server does this daily')
    .option('--days <n>', 'keep this many days instead of the configured retention')
    .action(async (o: { days?: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      requireAdmin(actor, 'pruning the audit trail');
      const days = o.days === undefined ? app.config.log.audit_retention_days : Number(o.days);
      if (!Number.isInteger(days) || days < 1) throw new DomainError('INVALID_INPUT', '--days must be a whole number of at least 1');
      const r = await pruneAudit(app.stores.directory, days, { actor: actorLabel(actor) });
      out(`pruned ${r.deleted} audit entries older than ${new Date(r.cutoff).toISOString()}`);
    }));
  audit.command('verify').description('check the hash chain of the audit trail')
    .action(async (_o, cmd: Command) => withApp(cmd, async (app, actor) => {
      requireAuditor(actor, 'verifying the audit trail');
      const r = await verifyAuditChain(app.stores.directory);
      if (r.ok) out(`audit trail intact: ${r.entries} entries`);
      else {
        out(`audit trail BROKEN at entry ${r.brokenAt} (of ${r.entries})`);
        process.exitCode = 1;
      }
    }));
}
