/**
 * Foundation issue, point 2: one commented TOML file validated against the schema, with
 * BULWARK_<SECTION>_<KEY> overrides; a bad value names the key, what was wrong and what is
 * allowed; defaults are the secure ones; secrets are never placeholders (GW-INS-1).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { loadConfig, validateConfig } from '../../src/ops/config/load.ts';
import { renderConfig, renderConfigDoc } from '../../src/ops/config/template.ts';
import { configSchema } from '../../src/ops/config/schema.ts';
import { DomainError } from '../../src/core/errors.ts';
import { generateSecret } from '../../src/ops/init.ts';
import { tempDir } from '../harness/tmp.ts';
import { ROOT } from '../harness/cli.ts';

function withFile(text: string, env: NodeJS.ProcessEnv = {}) {
  const t = tempDir();
  fs.writeFileSync(path.join(t.dir, 'bulwark.toml'), text);
  try {
    return loadConfig(t.dir, env, { requireFile: true });
  } finally {
    t.cleanup();
  }
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    expect((e as DomainError).code).toBe('CONFIG_INVALID');
    return (e as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('defaults are the secure ones: admin HTTP on loopback, TLS required for auth, limits on', () => {
    const c = configSchema.parse({});
    expect(c.listen.http).toBe('127.0.0.1:8080');
    expect(c.auth.require_tls).toBe(true);
    expect(c.limits.max_message_size).toBeGreaterThan(0);
    expect(c.limits.default_quota).toBeGreaterThan(0);
    expect(c.store.url).toBe('sqlite:bulwark.db');
    expect(c.partitions).toEqual({ main: 'sqlite:bulwark.db' });
  });

  it('the commented file written by init parses back to the same values', () => {
    const secret = generateSecret();
    const text = renderConfig({ server: { hostname: 'mail.example.org', secret } });
    expect(text).toMatch(/^# /m);
    const c = validateConfig(parse(text));
    expect(c.server.secret).toBe(secret);
    expect(c.server.hostname).toBe('mail.example.org');
    expect(c).toEqual(configSchema.parse({ server: { hostname: 'mail.example.org', secret } }));
  });

  it.each([
    ['[listen]\nhttp = "nonsense"', 'listen.http', /host:port/],
    ['[listen]\nhttps = "1.2.3.4:99999"', 'listen.https', /host:port/],
    ['[limits]\nmax_message_size = "huge"', 'limits.max_message_size', /size/],
    ['[limits]\nmax_list_depth = 0', 'limits.max_list_depth', /at least 1/],
    ['[log]\nlevel = "loud"', 'log.level', /fatal|error|info/],
    ['[store]\nurl = "mysql://x"', 'store.url', /sqlite:PATH|postgres/],
    ['[partitions]\n"Bad_Name" = "sqlite:x.db"', 'partitions', /lower-case/],
  ])('a bad value is refused with one line naming the key: %s', (text, key, allowed) => {
    const msg = errorOf(() => withFile(text));
    expect(msg).toContain(`not valid: ${key}`);
    expect(msg).toMatch(allowed);
    expect(msg.split('\n')).toHaveLength(1);
  });

  it('an unknown key or section is refused by name', () => {
    expect(errorOf(() => withFile('[listen]\nsmpt = "127.0.0.1:25"'))).toMatch(/unknown key listen\.smpt/);
    expect(errorOf(() => withFile('[nonsense]\na = 1'))).toMatch(/unknown key nonsense/);
  });

  it('broken TOML is refused with the file name', () => {
    expect(errorOf(() => withFile('[listen\nhttp = '))).toMatch(/bulwark\.toml: not valid TOML/);
  });

  it('BULWARK_<SECTION>_<KEY> overrides the file, and the error names the variable', () => {
    const c = withFile('[listen]\nhttp = "127.0.0.1:8080"', { BULWARK_LISTEN_HTTP: '127.0.0.1:2525', BULWARK_LIMITS_MAX_MESSAGE_SIZE: '10M', BULWARK_AUTH_REQUIRE_TLS: 'true' });
    expect(c.config.listen.http).toBe('127.0.0.1:2525');
    expect(c.config.limits.max_message_size).toBe(10 * 2 ** 20);
    const msg = errorOf(() => withFile('', { BULWARK_LISTEN_HTTPS: 'bad' }));
    expect(msg).toContain('listen.https');
    expect(msg).toContain('environment variable BULWARK_LISTEN_HTTPS');
    expect(errorOf(() => withFile('', { BULWARK_LISTEN_SMTPX: '1' }))).toMatch(/BULWARK_LISTEN_SMTPX names no configuration key/);
  });

  it('an empty listener value turns it off', () => {
    expect(withFile('', { BULWARK_LISTEN_HTTPS: '' }).config.listen.https).toBe('');
  });

  it('partitions can be added through the environment', () => {
    const c = withFile('', { BULWARK_PARTITIONS_P2: 'postgres://bulwark@db2.internal/bulwark_p2' });
    expect(c.config.partitions.p2).toBe('postgres://bulwark@db2.internal/bulwark_p2');
  });

  it.each(['changeme', 'password', 'secret', 'short-but-random-9f2', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'])(
    'GW-INS-1: a placeholder or weak server secret (%s) is refused naming server.secret', (secret) => {
      const msg = errorOf(() => withFile(`[server]\nsecret = "${secret}"`));
      expect(msg).toContain('not valid: server.secret');
    });

  it('GW-INS-1: a placeholder database password is refused', () => {
    expect(errorOf(() => withFile('[store]\nurl = "postgres://bulwark:changeme@127.0.0.1/bulwark"'))).toMatch(/store\.url: the database password is a known placeholder/);
    expect(errorOf(() => withFile('[store]\nurl = "postgres://bulwark:Password123!x@127.0.0.1/bulwark"'))).toMatch(/known placeholder/);
    expect(errorOf(() => withFile('[partitions]\nmain = "postgres://bulwark:Xk29aq@db/p"'))).toMatch(/partitions\.main: the database password is shorter than 12/);
    expect(errorOf(() => withFile('[store]\nurl = "postgres://127.0.0.1:5432/bulwark"'))).toMatch(/store\.url: needs a user name/);
    expect(errorOf(() => withFile('[store]\nurl = "postgres://bulwark@127.0.0.1:5432"'))).toMatch(/store\.url: needs a database name/);
    expect(withFile('[store]\nurl = "postgres://bulwark:8Qz-rT4mWp2vLx9@127.0.0.1/bulwark"').config.store.url).toContain('8Qz');
  });

  it('GW-INS-1: generated secrets differ and pass the check', () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a).not.toBe(b);
    expect(validateConfig({ server: { secret: a } }).server.secret).toBe(a);
  });

  it('docs/config.md is generated from the schema and current (npm run gen-docs)', () => {
    expect(fs.readFileSync(path.join(ROOT, 'docs/config.md'), 'utf8')).toBe(renderConfigDoc());
  });

  it('every key has a description', () => {
    const doc = renderConfigDoc();
    expect(doc).not.toMatch(/\|\s*\|\s*$/m);
  });
});
