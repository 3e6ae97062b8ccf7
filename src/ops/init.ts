/**
 * `bulwark init`: a new installation in an empty data directory — the commented config with
 * a generated server secret (GW-INS-1: no secret is ever a default), a self-signed TLS
 * certificate, the migrated store, and optionally the first domain and its first admin with
 * a generated password that is shown once and stored only as an argon2id hash.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_FILE, loadConfig, dataPath } from './config/load.ts';
import { renderConfig } from './config/template.ts';
import { makeSelfSigned } from '../security/tls.ts';
import { generatePassword } from '../security/passwords.ts';
import { openApp } from '../app.ts';
import { systemActor } from '../core/actor.ts';
import { DomainError } from '../core/errors.ts';
import { normaliseDomain } from '../lib/address.ts';

export interface InitResult {
  dataDir: string;
  configFile: string;
  domain?: string;
  admin?: { address: string; password: string };
}

export function generateSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export async function initInstallation(opts: { dataDir: string; domain?: string; hostname?: string; adminLocal?: string; env?: NodeJS.ProcessEnv }): Promise<InitResult> {
  const { dataDir } = opts;
  const configFile = path.join(dataDir, CONFIG_FILE);
  if (fs.existsSync(configFile)) throw new DomainError('INVALID_INPUT', `${configFile} exists already; this data directory is initialised`);
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) {
    throw new DomainError('INVALID_INPUT', `${dataDir} is not empty; init wants an empty or new directory`);
  }
  const domain = opts.domain === undefined ? undefined : normaliseDomain(opts.domain);
  const hostname = opts.hostname ?? (domain ? `mail.${domain}` : os.hostname() || 'localhost');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dataDir, 0o700);
  const text = renderConfig({ server: { hostname, secret: generateSecret() } });
  fs.writeFileSync(configFile, text, { mode: 0o600, flag: 'wx' });
  try {
    const loaded = loadConfig(dataDir, opts.env ?? process.env, { requireFile: true });
    const cert = dataPath(dataDir, loaded.config.tls.cert);
    const key = dataPath(dataDir, loaded.config.tls.key);
    if (!fs.existsSync(cert) && !fs.existsSync(key)) await makeSelfSigned(cert, key, hostname);
    const app = await openApp(dataDir, { loaded });
    try {
      await app.stores.openPartitions();
      const result: InitResult = { dataDir, configFile };
      if (domain) {
        const actor = systemActor('init');
        await app.directory.addDomain(actor, domain);
        const password = generatePassword();
        const address = `${opts.adminLocal ?? 'admin'}@${domain}`;
        await app.directory.addAccount(actor, { address, password, displayName: 'Administrator', roles: ['admin', 'user'] });
        result.domain = domain;
        result.admin = { address, password };
      }
      return result;
    } finally {
      await app.close();
    }
  } catch (e) {
    // Leave nothing half-initialised behind: the directory was empty, so a re-run must work.
    for (const f of fs.readdirSync(dataDir)) fs.rmSync(path.join(dataDir, f), { recursive: true, force: true });
    throw e;
  }
}
