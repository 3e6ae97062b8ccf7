/**
 * Loads bulwark.toml from the data directory, applies BULWARK_<SECTION>_<KEY> environment
 * overrides and validates the result against the schema. A bad value gives one line naming
 * the key, what was wrong and what is allowed; the caller refuses to start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { configSchema, type Config } from './schema.ts';
import { DomainError } from '../../core/errors.ts';

export const CONFIG_FILE = 'bulwark.toml';

export interface LoadedConfig {
  config: Config;
  dataDir: string;
  file: string | null;
}

type Raw = Record<string, Record<string, unknown>>;

function sectionKeys(): Map<string, Set<string> | 'record'> {
  const out = new Map<string, Set<string> | 'record'>();
  for (const [name, field] of Object.entries(configSchema.shape)) {
    let inner: any = field;
    while (inner?._zod?.def?.innerType) inner = inner._zod.def.innerType;
    if (inner._zod.def.type === 'record') out.set(name, 'record');
    else out.set(name, new Set(Object.keys(inner.shape)));
  }
  return out;
}

/** Applies environment overrides; returns the names of the variables used. */
export function applyEnv(raw: Raw, env: NodeJS.ProcessEnv): string[] {
  const used: string[] = [];
  const sections = sectionKeys();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('BULWARK_') || value === undefined) continue;
    const rest = name.slice('BULWARK_'.length);
    if (rest === 'DATA') continue;
    let matched = false;
    for (const [section, keys] of sections) {
      const prefix = section.toUpperCase() + '_';
      if (!rest.startsWith(prefix)) continue;
      const key = rest.slice(prefix.length).toLowerCase();
      if (keys !== 'record' && !keys.has(key)) continue;
      raw[section] ??= {};
      raw[section][key] = value;
      used.push(name);
      matched = true;
    }
    if (!matched) throw new DomainError('CONFIG_INVALID', `environment variable ${name} names no configuration key`);
  }
  return used;
}

export function formatIssue(issue: { path: PropertyKey[]; message: string; code?: string; keys?: string[] }, sources: Map<string, string>): string {
  const key = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    const where = key ? `[${key}]` : 'the top level';
    return `unknown key ${issue.keys.map((k) => (key ? `${key}.${k}` : k)).join(', ')} in ${where}; see docs/config.md for the keys allowed`;
  }
  const src = sources.get(key);
  return `${key || '(top level)'}: ${issue.message}${src ? ` (from ${src})` : ''}`;
}

export function validateConfig(raw: unknown, sources = new Map<string, string>()): Config {
  const res = configSchema.safeParse(raw);
  if (!res.success) {
    const lines = res.error.issues.map((i) => formatIssue(i as any, sources));
    throw new DomainError('CONFIG_INVALID', lines.join('\n'));
  }
  return res.data;
}

export function resolveDataDir(opt?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(opt ?? env.BULWARK_DATA ?? 'data');
}

export function loadConfig(dataDir: string, env: NodeJS.ProcessEnv = process.env, opts: { requireFile?: boolean } = {}): LoadedConfig {
  const file = path.join(dataDir, CONFIG_FILE);
  let raw: Raw = {};
  let exists = false;
  try {
    const text = fs.readFileSync(file, 'utf8');
    exists = true;
    try {
      raw = parseToml(text) as Raw;
    } catch (e) {
      throw new DomainError('CONFIG_INVALID', `${file}: not valid TOML: ${(e as Error).message.split('\n')[0]}`);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (opts.requireFile) {
      throw new DomainError('CONFIG_INVALID', `${file} does not exist; run "bulwark init --data ${dataDir} --domain YOUR.DOMAIN" first`);
    }
  }
  const sources = new Map<string, string>();
  for (const [section, keys] of Object.entries(raw)) {
    if (keys && typeof keys === 'object') for (const k of Object.keys(keys)) sources.set(`${section}.${k}`, file);
  }
  for (const name of applyEnv(raw, env)) {
    const rest = name.slice('BULWARK_'.length);
    const i = rest.indexOf('_');
    sources.set(`${rest.slice(0, i).toLowerCase()}.${rest.slice(i + 1).toLowerCase()}`, `environment variable ${name}`);
  }
  return { config: validateConfig(raw, sources), dataDir, file: exists ? file : null };
}

/** Resolves a path from the config against the data directory. */
export function dataPath(dataDir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.join(dataDir, p);
}
