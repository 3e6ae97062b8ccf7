/**
 * GW-LOG-3: addresses in operational logs follow log.addresses (plain, pseudonymised, off);
 * passwords never appear.
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../../src/ops/lifecycle.ts';
import { initInstallation } from '../../../src/ops/init.ts';
import { createLogger } from '../../../src/ops/log.ts';
import { LOOPBACK_LISTENERS } from '../../harness/cli.ts';
import { tempDir } from '../../harness/tmp.ts';
import { ehloClient } from './harness.ts';

const servers: RunningServer[] = [];
const tmp = tempDir();
afterAll(async () => {
  for (const r of servers) await r.stop();
  tmp.cleanup();
});

/** A fresh installation served in-process, its log lines collected. */
async function loggedServer(name: string, env: Record<string, string>): Promise<{ running: RunningServer; lines: string[]; smtpPort: number }> {
  const data = path.join(tmp.dir, name);
  await initInstallation({ dataDir: data, domain: 'example.org', env: {} });
  const lines: string[] = [];
  const dest = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } });
  const running = await startServer(data, {
    env: { ...LOOPBACK_LISTENERS, BULWARK_SMTP_VERIFY_SENDER_AUTH: 'false', ...env },
    log: createLogger({ level: 'debug', destination: dest as never }),
  });
  servers.push(running);
  return { running, lines, smtpPort: running.listening.find((l) => l.name === 'smtp')!.port };
}

describe('GW-LOG-3: addresses in SMTP logs', () => {
  it('pseudonymised: a refused recipient is logged without the plain address', async () => {
    const { lines, smtpPort } = await loggedServer('pseudo', { BULWARK_LOG_ADDRESSES: 'pseudonymised', BULWARK_LOG_LEVEL: 'debug' });
    const c = await ehloClient(smtpPort);
    expect((await c.cmd('MAIL FROM:<someone@remote.example>')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<secret.person@example.org>')).code).toBe(550);
    await c.quit();
    await new Promise((r) => setTimeout(r, 50));
    const log = lines.join('');
    expect(log).toContain('smtp.rcpt_refused');
    expect(log).toMatch(/"rcpt":"anon:[0-9a-f]{16}"/);
    expect(log).toContain('"reason":"NOT_FOUND"');
    expect(log).not.toContain('secret.person');
  });
});

describe('GW-DOS-2: notices switched off', () => {
  it('with notices off the recipient gets nothing, and the refusal is still logged', async () => {
    const { running, lines, smtpPort } = await loggedServer('quiet', { BULWARK_LIMITS_NOTIFY_RECIPIENTS_OVERSIZE: 'false', BULWARK_LIMITS_MAX_MESSAGE_SIZE: '2048' });
    const admin = (await running.app.directory.listAccounts({ kind: 'system', name: 'test' }))[0];
    const c = await ehloClient(smtpPort);
    const r = await c.send('big@remote.example', [admin.address], `Subject: big\r\n\r\n${'x'.repeat(3000)}\r\n`);
    expect([r.code, r.enhanced]).toEqual([552, '5.3.4']);
    await c.quit();
    expect(await running.app.mail.listMessages(admin, 'INBOX')).toEqual([]);
    await new Promise((res) => setTimeout(res, 50));
    expect(lines.join('')).toContain('smtp.message_too_big');
  });
});
