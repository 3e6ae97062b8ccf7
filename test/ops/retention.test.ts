/**
 * Foundation issue, point 8 (GW-LOG-3): audit retention is enforced by a prune job whose
 * runs are recorded; logs never carry secrets; addresses in operational logs can be
 * pseudonymised or left out.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stores } from '../../src/store/stores.ts';
import { appendAudit, readAudit, verifyAuditChain } from '../../src/security/audit.ts';
import { pruneAudit } from '../../src/ops/retention.ts';
import { createLogger, logPrivacy } from '../../src/ops/log.ts';
import { tempDir } from '../harness/tmp.ts';

const DAY = 86_400_000;

describe('GW-LOG-3: audit retention', () => {
  const tmp = tempDir();
  let stores: Stores;
  beforeAll(async () => {
    stores = await Stores.open({ dataDir: tmp.dir, directoryUrl: 'sqlite:bulwark.db', partitions: { main: 'sqlite:bulwark.db' }, blobBackend: 'auto', poolSize: 1, connectTimeoutMs: 1000, retryAfterMs: 1000 });
  });
  afterAll(async () => {
    await stores.close();
    tmp.cleanup();
  });

  it('with a 30-day retention, entries older than 30 days are gone after the prune and a prune record exists', async () => {
    const now = Date.UTC(2026, 10, 23);
    for (const age of [90, 45, 31, 29, 1]) {
      await stores.directory.transaction().execute((trx) => appendAudit(trx, { event: 'domain.create', actor: 'system:test', object: `d${age}.example` }, now - age * DAY));
    }
    const r = await pruneAudit(stores.directory, 30, { now });
    expect(r.deleted).toBe(3);
    const left = await readAudit(stores.directory);
    expect(left.map((e) => e.object)).toEqual(['d29.example', 'd1.example', 'audit']);
    const rec = left.at(-1)!;
    expect(rec.event).toBe('audit.prune');
    expect(rec.detail).toMatchObject({ deleted: 3, retentionDays: 30 });
    expect((await verifyAuditChain(stores.directory)).ok).toBe(true);
    // a second run deletes nothing and says so
    expect((await pruneAudit(stores.directory, 30, { now })).deleted).toBe(0);
  });
});

describe('GW-LOG-3: logs', () => {
  function capture() {
    const lines: string[] = [];
    const dest = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } });
    return { log: createLogger({ level: 'debug', destination: dest as any }), lines };
  }

  it('password, token, secret, cookie and body fields are redacted wherever they appear', () => {
    const { log, lines } = capture();
    log.info({ password: 'hunter2-canary', token: 'tok-canary', nested: { secret: 's-canary', pass: 'p-canary' }, headers: { authorization: 'Basic canary' }, body: 'body-canary' }, 'test.event');
    const text = lines.join('');
    expect(text).toContain('test.event');
    expect(text).not.toMatch(/canary/);
    expect(text).toContain('[redacted]');
  });

  it('addresses can be logged plain, pseudonymised (stable per address) or not at all; subjects are off by default', () => {
    const plain = logPrivacy({ addresses: 'plain', subjects: 'off' });
    expect(plain.address('alice@example.org')).toBe('alice@example.org');
    expect(plain.subject('Salary review')).toBeUndefined();
    const pseudo = logPrivacy({ addresses: 'pseudonymised', subjects: 'plain', secret: 'k'.repeat(40) });
    const a = pseudo.address('alice@example.org');
    expect(a).toMatch(/^anon:[0-9a-f]{16}$/);
    expect(pseudo.address('Alice@example.org')).toBe(a);
    expect(pseudo.address('bob@example.org')).not.toBe(a);
    expect(pseudo.subject('Salary review')).toBe('Salary review');
    expect(logPrivacy({ addresses: 'off', subjects: 'off' }).address('alice@example.org')).toBe('[address]');
  });
});
