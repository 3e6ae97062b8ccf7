/**
 * A fresh installation for core tests, on either engine: a temporary data directory with a
 * bulwark.toml whose primary store and partition "main" are one SQLite file or one new
 * PostgreSQL database (dropped again by close()).
 */
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'smol-toml';
import { expect } from 'vitest';
import { openApp, type App } from '../../src/app.ts';
import { DomainError, type ErrorCode } from '../../src/core/errors.ts';
import { createTestDatabase } from './pg.ts';
import { tempDir } from './tmp.ts';

export type EngineName = 'sqlite' | 'postgres';

export async function openTestApp(engine: EngineName, prefix = 'bwapp'): Promise<{ app: App; close(): Promise<void> }> {
  const tmp = tempDir(`bulwark-${prefix}-`);
  const drops: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const d of drops) await d().catch(() => {});
    tmp.cleanup();
  };
  try {
    let url = 'sqlite:bulwark.db';
    if (engine === 'postgres') {
      const db = await createTestDatabase(prefix);
      drops.push(db.drop);
      url = db.url;
    }
    fs.writeFileSync(path.join(tmp.dir, 'bulwark.toml'), stringify({ server: { hostname: 'mx.test.example' }, store: { url }, partitions: { main: url } }));
    const app = await openApp(tmp.dir, { env: {} });
    drops.unshift(() => app.close());
    expect(app.stores.directoryEngine.kind).toBe(engine);
    return { app, close: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Awaits p and checks that it failed with this catalogue code. */
export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(code);
}
