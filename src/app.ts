/**
 * Wires one installation together: configuration, stores, core services. The CLI and the
 * server both start here, so they see the same directory through the same rules.
 */
import type { Logger } from 'pino';
import { loadConfig, type LoadedConfig } from './ops/config/load.ts';
import type { Config } from './ops/config/schema.ts';
import { Stores, storeSettings } from './store/stores.ts';
import { MailStore } from './core/mail/mailstore.ts';
import { Directory } from './core/directory/directory.ts';
import { silentLogger } from './ops/log.ts';
import { ChangeBus } from './core/changes/bus.ts';
import { DeliveryPipeline } from './core/mail/delivery/pipeline.ts';
import { Reception } from './core/mail/reception.ts';
import { AuthThrottle } from './security/auth-throttle.ts';

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
  const pipeline = new DeliveryPipeline({
    mail, bus, log,
    hooks: { contentChecks: [], filters: [] },
    hostname: loaded.config.server.hostname,
    maxMessageSize: loaded.config.limits.max_message_size,
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
    reception: new Reception(directory, mail, pipeline),
    throttle: new AuthThrottle(),
    close: () => stores.close(),
  };
}
