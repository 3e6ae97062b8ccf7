/**
 * GW-FLT-1 over SMTP, in-process: a sender blocked by one recipient is refused at RCPT with
 * 550 5.7.1 for exactly that recipient while the others get the message; a global IP rule
 * refuses every recipient; every refusal is logged ('smtp.rcpt_blocked') with the rule id and
 * the client is not told the rule; expired rules no longer match; a rule added or removed
 * with the `bulwark block` CLI (another process) applies to the running server at once.
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initInstallation } from '../../../src/ops/init.ts';
import { startServer, type RunningServer } from '../../../src/ops/lifecycle.ts';
import { createLogger } from '../../../src/ops/log.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { BlockRules } from '../../../src/core/mail/blocks.ts';
import { bulwark, LOOPBACK_LISTENERS } from '../../harness/cli.ts';
import { tempDir } from '../../harness/tmp.ts';
import { actor, addAccount, ehloClient, inbox, message, DOMAIN, HOSTNAME, type SmtpClient } from './harness.ts';

interface LogLine {
  msg: string;
  ruleId?: number;
  [k: string]: unknown;
}

describe('GW-FLT-1: sender blocks at RCPT (SMTP)', () => {
  const tmp = tempDir('bulwark-smtp-blocks-');
  const dataDir = path.join(tmp.dir, 'data');
  const logs: LogLine[] = [];
  let running: RunningServer;
  let port: number;
  let blocks: BlockRules;
  let b: AccountInfo;
  let c: AccountInfo;

  beforeAll(async () => {
    await initInstallation({ dataDir, domain: DOMAIN, hostname: HOSTNAME, env: {} });
    let partial = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        partial += chunk.toString('utf8');
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          if (line.trim()) logs.push(JSON.parse(line) as LogLine);
        }
        done();
      },
    });
    running = await startServer(dataDir, {
      env: { ...LOOPBACK_LISTENERS, BULWARK_SERVER_SHUTDOWN_GRACE_SECONDS: '2', BULWARK_SMTP_VERIFY_SENDER_AUTH: 'false' },
      log: createLogger({ level: 'info', destination: sink }),
    });
    port = running.listening.find((l) => l.name === 'smtp')!.port;
    blocks = new BlockRules(running.app.stores, running.app.directory);
    [b, c] = [await addAccount(running.app, 'b'), await addAccount(running.app, 'c')];
    await running.app.directory.addList(actor, { address: `both@${DOMAIN}`, postPolicy: 'anyone', members: [b.address, c.address] });
  });
  afterAll(async () => {
    try {
      await running?.stop('test');
    } finally {
      tmp.cleanup();
    }
  });

  const blockedLines = () => logs.filter((l) => l.msg === 'smtp.rcpt_blocked');
  const count = async (a: AccountInfo) => (await inbox(running.app, a)).length;

  async function transaction(from: string): Promise<SmtpClient> {
    const cl = await ehloClient(port);
    expect((await cl.cmd(`MAIL FROM:<${from}>`)).code).toBe(250);
    return cl;
  }

  async function data(cl: SmtpClient, subject: string): Promise<number> {
    expect((await cl.cmd('DATA')).code).toBe(354);
    cl.write(message([`From: sender@remote.example`, `Subject: ${subject}`, '', 'hello']) + '.\r\n');
    return (await cl.reply()).code;
  }

  it('GW-FLT-1: only B blocks the sender: RCPT B gets 550 5.7.1, RCPT C 250, and C receives the message', async () => {
    const rule = await blocks.add(actor, { scope: 'account', account: b.address }, { kind: 'address', value: 'pest@remote.example', note: 'b does not want it' });
    try {
      const [bBefore, cBefore, logBefore] = [await count(b), await count(c), blockedLines().length];
      const cl = await transaction('pest@remote.example');
      const rb = await cl.cmd(`RCPT TO:<${b.address}>`);
      expect([rb.code, rb.enhanced]).toEqual([550, '5.7.1']);
      expect(rb.lines.join(' ')).toBe('sender blocked by recipient policy');
      expect(rb.raw).not.toMatch(/rule|b does not want|pest/i); // nothing of the rule
      const rc = await cl.cmd(`RCPT TO:<${c.address}>`);
      expect([rc.code, rc.enhanced]).toEqual([250, '2.1.5']);
      expect(await data(cl, 'blocked for b')).toBe(250);
      await cl.quit();
      expect(await count(c)).toBe(cBefore + 1);
      expect(await count(b)).toBe(bBefore);
      // The refusal is logged with the rule id (and only B's RCPT was).
      const lines = blockedLines().slice(logBefore);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ ruleId: rule.id, scope: 'account', rcpt: b.address, from: 'pest@remote.example', remote: '127.0.0.1' });
      // Another sender still reaches B.
      const ok = await transaction('friend@remote.example');
      expect((await ok.cmd(`RCPT TO:<${b.address}>`)).code).toBe(250);
      await ok.quit();
    } finally {
      await blocks.remove(actor, rule.id);
    }
  });

  it('GW-FLT-1: through a list, a member that blocks the sender is skipped and the others get the message', async () => {
    const rule = await blocks.add(actor, { scope: 'account', account: b.address }, { kind: 'domain', value: 'remote.example' });
    try {
      const [bBefore, cBefore, logBefore] = [await count(b), await count(c), blockedLines().length];
      const cl = await transaction('pest@remote.example');
      expect((await cl.cmd(`RCPT TO:<both@${DOMAIN}>`)).code).toBe(250);
      expect(await data(cl, 'to the list')).toBe(250);
      await cl.quit();
      expect(await count(c)).toBe(cBefore + 1);
      expect(await count(b)).toBe(bBefore);
      expect(blockedLines().slice(logBefore)).toEqual([expect.objectContaining({ ruleId: rule.id, rcpt: `both@${DOMAIN}`, member: b.address })]);
    } finally {
      await blocks.remove(actor, rule.id);
    }
  });

  it('GW-FLT-1: a global IP rule refuses every recipient, each refusal logged with the rule id', async () => {
    const rule = await blocks.add(actor, { scope: 'global' }, { kind: 'ip', value: '127.0.0.0/8' });
    try {
      const logBefore = blockedLines().length;
      const cl = await transaction('anyone@remote.example');
      for (const to of [b.address, c.address, `both@${DOMAIN}`]) {
        const r = await cl.cmd(`RCPT TO:<${to}>`);
        expect([r.code, r.enhanced], to).toEqual([550, '5.7.1']);
      }
      expect((await cl.cmd('DATA')).code).toBe(554); // no valid recipients
      await cl.quit();
      const lines = blockedLines().slice(logBefore);
      expect(lines).toHaveLength(3);
      for (const l of lines) expect(l).toMatchObject({ ruleId: rule.id, scope: 'global', remote: '127.0.0.1' });
    } finally {
      await blocks.remove(actor, rule.id);
    }
    // Removed: applies at once.
    const cl = await transaction('anyone@remote.example');
    expect((await cl.cmd(`RCPT TO:<${c.address}>`)).code).toBe(250);
    await cl.quit();
  });

  it('GW-FLT-1: an expired rule no longer matches', async () => {
    const rule = await blocks.add(actor, { scope: 'account', account: c.address }, { kind: 'address', value: 'brief@remote.example', expiresAt: Date.now() + 1500 });
    try {
      const first = await transaction('brief@remote.example');
      expect((await first.cmd(`RCPT TO:<${c.address}>`)).code).toBe(550);
      await first.quit();
      await new Promise((r) => setTimeout(r, Math.max(0, rule.expiresAt! - Date.now()) + 50));
      const cBefore = await count(c);
      const logBefore = blockedLines().length;
      const later = await transaction('brief@remote.example');
      expect((await later.cmd(`RCPT TO:<${c.address}>`)).code).toBe(250);
      expect(await data(later, 'after expiry')).toBe(250);
      await later.quit();
      expect(await count(c)).toBe(cBefore + 1);
      expect(blockedLines().slice(logBefore)).toEqual([]);
    } finally {
      await blocks.remove(actor, rule.id);
    }
  });

  it('GW-FLT-1: a rule added with `bulwark block add` applies to the running server at once, and `block remove` lifts it', async () => {
    const add = await bulwark(['--data', dataDir, 'block', 'add', '--account', c.address, '--sender-domain', 'remote.example', '--subdomains', '--for', '7d', '--note', 'via cli']);
    expect(add.code, add.stderr).toBe(0);
    const id = Number(/block rule (\d+) added/.exec(add.stdout)![1]);
    const cl = await transaction('x@mx.remote.example');
    expect((await cl.cmd(`RCPT TO:<${c.address}>`)).code).toBe(550);
    expect((await cl.cmd(`RCPT TO:<${b.address}>`)).code).toBe(250);
    await cl.quit();
    expect(blockedLines().at(-1)).toMatchObject({ ruleId: id, rcpt: c.address });
    const list = await bulwark(['--data', dataDir, 'block', 'list', '--account', c.address, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const rules = JSON.parse(list.stdout) as { id: number; kind: string; value: string; subdomains: boolean; note: string; expires: string; createdBy: string }[];
    expect(rules).toEqual([expect.objectContaining({ id, kind: 'domain', value: 'remote.example', subdomains: true, note: 'via cli' })]);
    expect(Date.parse(rules[0].expires) - Date.now()).toBeGreaterThan(6 * 86_400_000);
    expect(rules[0].createdBy).toMatch(/^system:cli:/);
    const rm = await bulwark(['--data', dataDir, 'block', 'remove', String(id)]);
    expect(rm.code, rm.stderr).toBe(0);
    const after = await transaction('x@mx.remote.example');
    expect((await after.cmd(`RCPT TO:<${c.address}>`)).code).toBe(250);
    await after.quit();
    // Usage errors exit 2 and change nothing.
    const bad = await bulwark(['--data', dataDir, 'block', 'add', '--global', '--address', 'a@b.example', '--ip', '10.0.0.1']);
    expect(bad.code).toBe(2);
    expect(await blocks.list(actor)).toEqual([]);
  });
});
