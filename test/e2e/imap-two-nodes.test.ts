/**
 * Issue 4 point 3: live updates across nodes. Two bulwark processes share one PostgreSQL; an
 * IMAP IDLE session on node 1 sees a message delivered through node 2's SMTP listener, and a
 * flag change and an expunge made by an IMAP session on node 2 (LISTEN/NOTIFY,
 * core/changes/relay.ts).
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
import { ImapTestClient, message } from '../protocols/imap/harness.ts';
import { ehloClient } from '../protocols/smtp/harness.ts';

const PASSWORD = 'correct horse battery staple';
const port = (url: string) => Number(new URL(url).port);

describe('IMAP across two nodes on one PostgreSQL', () => {
  const tmp = tempDir();
  const cleanups: (() => Promise<void>)[] = [];
  const nodes: ServerProcess[] = [];
  const clients: ImapTestClient[] = [];
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const n of nodes) await n.stop().catch(() => {});
    for (const c of cleanups) await c().catch(() => {});
    tmp.cleanup();
  });

  it('an IDLE session on node 1 sees a delivery through node 2, and node 2\'s flag change and expunge', async () => {
    const primary = await createTestDatabase('bwimap2');
    cleanups.push(primary.drop);
    const secret = generateSecret();
    const dirs = ['n1', 'n2'].map((n) => path.join(tmp.dir, n));
    for (const d of dirs) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'bulwark.toml'), renderConfig({
        server: { hostname: 'mail.example.org', secret },
        store: { url: primary.url },
        partitions: { main: primary.url },
      }));
      await makeSelfSigned(path.join(d, 'tls/cert.pem'), path.join(d, 'tls/key.pem'), 'mail.example.org');
    }
    nodes.push(...(await Promise.all(dirs.map((d) => startServerProcess(d, { BULWARK_SMTP_VERIFY_SENDER_AUTH: 'false' })))));
    expect((await bulwark(['--data', dirs[0], 'domain', 'add', 'example.org'])).code).toBe(0);
    expect((await bulwark(['--data', dirs[0], 'account', 'add', 'alice@example.org', '--password-stdin'], { input: `${PASSWORD}\n` })).code).toBe(0);

    const [n1, n2] = nodes;
    const login = async (n: ServerProcess) => {
      const c = await ImapTestClient.connect(port(n.addresses.imaps), { tls: true });
      await c.ok(`LOGIN alice@example.org "${PASSWORD}"`);
      clients.push(c);
      return c;
    };
    const a = await login(n1);
    await a.ok('SELECT INBOX');
    a.write('idle IDLE\r\n');
    expect(await a.line()).toBe('+ idling');

    const smtp = await ehloClient(port(n2.addresses.smtp));
    const sent = Date.now();
    expect((await smtp.send('someone@example.net', ['alice@example.org'], message({ subject: 'through node 2' }))).code).toBe(250);
    await smtp.quit();
    expect(await a.waitFor(/EXISTS$/, 15_000)).toBe('* 1 EXISTS');
    // For the record (not asserted: no timings in tests), how long the cross-node wake-up took.
    console.log(`cross-node IDLE wake-up after the SMTP 250: ${Date.now() - sent} ms`);

    const b = await login(n2);
    await b.ok('SELECT INBOX');
    await b.ok('STORE 1 +FLAGS (\\Flagged)');
    expect(await a.waitFor(/FETCH/, 15_000)).toBe('* 1 FETCH (UID 1 FLAGS (\\Flagged))');
    await b.ok('STORE 1 +FLAGS.SILENT (\\Deleted)');
    await b.ok('EXPUNGE');
    expect(await a.waitFor(/EXPUNGE$/, 15_000)).toBe('* 1 EXPUNGE');
    a.write('DONE\r\n');
    expect(await a.waitFor(/^idle /)).toMatch(/^idle OK/);
  });
});
