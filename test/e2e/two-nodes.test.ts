/**
 * Foundation issue, point 9: a second node started against the same PostgreSQL runs beside
 * the first. Both start at once (migrations are serialised by the migration lock), both are
 * ready, both see the same directory, and each stops cleanly on SIGTERM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../harness/pg.ts';
import { tempDir } from '../harness/tmp.ts';
import { bulwark } from '../harness/cli.ts';
import { startServerProcess, type ServerProcess } from '../harness/server.ts';
import { renderConfig } from '../../src/ops/config/template.ts';
import { generateSecret } from '../../src/ops/init.ts';
import { makeSelfSigned } from '../../src/security/tls.ts';

describe('two nodes on one PostgreSQL', () => {
  const tmp = tempDir();
  const cleanups: (() => Promise<void>)[] = [];
  const nodes: ServerProcess[] = [];
  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => {});
    for (const c of cleanups) await c().catch(() => {});
    tmp.cleanup();
  });

  it('both start together against fresh databases, are ready and share one directory', async () => {
    const primary = await createTestDatabase('bwnode');
    const p2 = await createTestDatabase('bwnode');
    cleanups.push(primary.drop, p2.drop);
    const secret = generateSecret();
    const dirs = ['n1', 'n2'].map((n) => path.join(tmp.dir, n));
    for (const d of dirs) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'bulwark.toml'), renderConfig({
        server: { hostname: 'mail.example.org', secret },
        store: { url: primary.url },
        partitions: { main: primary.url, p2: p2.url },
      }));
      await makeSelfSigned(path.join(d, 'tls/cert.pem'), path.join(d, 'tls/key.pem'), 'mail.example.org');
    }
    nodes.push(...(await Promise.all(dirs.map((d) => startServerProcess(d)))));
    for (const n of nodes) {
      const r = await fetch(`${n.addresses.http}/readyz`);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ ready: true, directory: 'up', partitions: { main: 'up', p2: 'up' } });
    }
    // A change made through one node's configuration is seen through the other's.
    expect((await bulwark(['--data', dirs[0], 'domain', 'add', 'example.org'])).code).toBe(0);
    const seen = await bulwark(['--data', dirs[1], 'domain', 'list', '--json']);
    expect(JSON.parse(seen.stdout)).toEqual([expect.objectContaining({ name: 'example.org' })]);

    const codes = await Promise.all(nodes.map((n) => n.stop()));
    expect(codes).toEqual([0, 0]);
    const audit = JSON.parse((await bulwark(['--data', dirs[0], 'audit', 'list', '--json', '--event', 'service.stop'])).stdout);
    expect(audit).toHaveLength(2);
    expect((await bulwark(['--data', dirs[1], 'audit', 'verify'])).stdout).toMatch(/intact/);
  });
});
