/**
 * Limits, faults and shutdown of the POP3 session and listener (GW-DOS-4): bad commands and
 * the error limit, command line length (RFC 2449 §4), a flood without line end, connection
 * limits before a session exists, the autologout (RFC 1939 §3), a store that fails in UPDATE
 * (nothing lost), a fault (logged with its stack, -ERR [SYS/TEMP], the session goes on), a
 * graceful close, and what the log may contain (GW-LOG-3).
 *
 * The listener tests that need settings the configuration does not reach (a short idle
 * timeout, faulty core services) run a Pop3Listener of their own on the same installation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import type { Messages } from '../../../src/core/mail/messages.ts';
import { DomainError } from '../../../src/core/errors.ts';
import { ConnectionLimiter } from '../../../src/protocols/connection-limiter.ts';
import { logPrivacy } from '../../../src/ops/log.ts';
import { addAccount, b64, deliver, inboxId, message, ownListener, Pop3Client, startPop3Server, DOMAIN, PASSWORD, type Pop3TestServer } from './harness.ts';

const MAX_ERRORS = 4;
const PER_IP = 3;

describe('POP3 limits and faults', () => {
  let ts: Pop3TestServer;
  let alice: AccountInfo;
  const ALICE = `alice@${DOMAIN}`;
  const M = message(['Subject: m', '', 'body']);

  beforeAll(async () => {
    ts = await startPop3Server({
      BULWARK_AUTH_REQUIRE_TLS: 'false',
      BULWARK_POP3_MAX_ERRORS: String(MAX_ERRORS),
      BULWARK_POP3_MAX_CONNECTIONS_PER_IP: String(PER_IP),
    });
    alice = await addAccount(ts.app, 'alice');
    await deliver(ts, alice, M);
    await deliver(ts, alice, M);
  });
  afterAll(async () => {
    await ts?.cleanup();
  });

  /** A Messages that delegates to the real one, with some methods replaced. */
  const messagesWith = (over: Partial<Record<'rows' | 'body' | 'remove' | 'store', (...a: never[]) => unknown>>): Messages => {
    const m = ts.app.messages;
    return {
      rows: (...a: Parameters<Messages['rows']>) => m.rows(...a),
      body: (...a: Parameters<Messages['body']>) => m.body(...a),
      remove: (...a: Parameters<Messages['remove']>) => m.remove(...a),
      store: (...a: Parameters<Messages['store']>) => m.store(...a),
      ...over,
    } as unknown as Messages;
  };

  it('GW-DOS-4: every bad command gets -ERR and the session goes on; the max_errors-th closes the connection', async () => {
    const c = await Pop3Client.connect(ts.pop3Port);
    expect(await c.cmd('FOO')).toBe('-ERR Unknown command');
    expect(await c.cmd('RETR x')).toBe('-ERR RETR: the message number must be a number');
    expect(await c.cmd('NOOP')).toBe('-ERR NOOP is allowed only after login'); // RFC 1939: NOOP only in TRANSACTION
    // Not counted: an empty line is no command, and a question about a message is no bad command.
    c.write('\r\n');
    expect((await c.multi('CAPA')).status).toBe('+OK Capability list follows');
    expect(await c.cmd('BAR')).toBe('-ERR Unknown command; too many errors, closing connection');
    await c.closed;
    expect(c.ended).toBe(true);
  });

  it('RFC 2449 §4, GW-DOS-4: a command line of 255 octets is read, a longer one gets -ERR and the session goes on', async () => {
    const c = await Pop3Client.connect(ts.pop3Port);
    const name = `${'a'.repeat(255 - 'USER @example.org'.length)}@example.org`;
    expect(`USER ${name}`.length).toBe(255);
    expect(await c.cmd(`USER ${name}`)).toBe('+OK Send PASS');
    expect(await c.cmd(`USER x${name}`)).toBe('-ERR Line too long (at most 255 octets)');
    // Longer than anything the framer keeps: dropped as it arrives, answered at its end.
    expect(await c.cmd(`NOOP ${'n'.repeat(10_000)}`)).toBe('-ERR Line too long');
    expect(await c.login(ALICE)).toMatch(/^\+OK Logged in/);
    await c.quit();
  });

  it('GW-DOS-4: a flood of bytes without a line end is cut', async () => {
    const c = await Pop3Client.connect(ts.pop3Port);
    const junk = Buffer.alloc(16 * 1024, 0x41);
    for (let i = 0; i < 8 && !c.ended; i++) c.write(junk);
    expect(await c.line()).toBe('-ERR Line too long; closing connection');
    await c.closed;
  });

  it('GW-DOS-4: more connections from one address than allowed get -ERR [SYS/TEMP] before a session exists; pop3 and pop3s share the limit; a slot comes back when a session ends', async () => {
    const open = [await Pop3Client.connect(ts.pop3Port), await Pop3Client.connect(ts.pop3sPort, { tls: true }), await Pop3Client.connect(ts.pop3Port)];
    for (const c of open) expect(c.greeting).toMatch(/^\+OK/);
    const refused = await Pop3Client.connect(ts.pop3Port);
    expect(refused.greeting).toBe('-ERR [SYS/TEMP] Too many connections from your address; try again later');
    await refused.closed;
    const refusedTls = await Pop3Client.connect(ts.pop3sPort, { tls: true });
    expect(refusedTls.greeting).toMatch(/^-ERR \[SYS\/TEMP\] Too many connections/);
    await refusedTls.closed;
    // The open sessions work meanwhile.
    expect(await open[0].login(ALICE)).toMatch(/^\+OK Logged in/);
    await open[0].quit();
    let next: Pop3Client | null = null;
    for (let i = 0; i < 50; i++) {
      next = await Pop3Client.connect(ts.pop3Port);
      if (next.greeting.startsWith('+OK')) break;
      await next.closed;
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(next!.greeting).toMatch(/^\+OK/);
    for (const c of [next!, open[1], open[2]]) await c.quit();
  });

  it('RFC 1939 §3, GW-DOS-4: an idle session is autologged out with -ERR, in AUTHORIZATION and in TRANSACTION, and nothing is deleted', async () => {
    const { listener, port } = await ownListener(ts, { settings: { idleTimeoutMs: 300 } });
    try {
      const idle = await Pop3Client.connect(port);
      expect(await idle.line()).toBe('-ERR Autologout; idle for too long');
      await idle.closed;

      const c = await Pop3Client.connect(port);
      expect(await c.login(ALICE)).toMatch(/^\+OK Logged in; 2 messages/);
      expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
      expect(await c.line()).toBe('-ERR Autologout; idle for too long');
      await c.closed;
      expect((await ts.app.messages.rows(alice, await inboxId(ts, alice), [[1, 0xffffffff]])).length).toBe(2);
    } finally {
      await listener.close(0);
    }
  });

  it('RFC 1939 §6: when the removal in UPDATE fails, QUIT gets -ERR [SYS/TEMP] and nothing is lost', async () => {
    let calls = 0;
    const messages = messagesWith({
      remove: async () => {
        calls++;
        throw new DomainError('UNAVAILABLE', 'partition main is down');
      },
    });
    const { listener, port } = await ownListener(ts, { deps: { messages } });
    try {
      const c = await Pop3Client.connect(port);
      expect(await c.login(ALICE)).toMatch(/^\+OK Logged in; 2 messages/);
      expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
      expect(await c.cmd('DELE 2')).toMatch(/^\+OK/);
      expect(await c.quit()).toBe('-ERR [SYS/TEMP] Deleted messages were not removed; nothing was changed, try again later');
      expect(calls).toBe(1); // one call for all of them
      expect((await ts.app.messages.rows(alice, await inboxId(ts, alice), [[1, 0xffffffff]])).length).toBe(2);
    } finally {
      await listener.close(0);
    }
  });

  it('RFC 3206 §4: store trouble at login gets -ERR [SYS/TEMP]; the session stays in AUTHORIZATION and may try again', async () => {
    let fail = true;
    const messages = messagesWith({
      rows: async (...a: Parameters<Messages['rows']>) => {
        if (fail) throw new DomainError('UNAVAILABLE', 'down');
        return ts.app.messages.rows(...a);
      },
    });
    const { listener, port } = await ownListener(ts, { deps: { messages } });
    try {
      const c = await Pop3Client.connect(port);
      expect(await c.login(ALICE)).toBe('-ERR [SYS/TEMP] Storage temporarily unavailable; try again later');
      fail = false;
      expect(await c.login(ALICE)).toMatch(/^\+OK Logged in/); // and the lock was given back
      await c.quit();
    } finally {
      await listener.close(0);
    }
  });

  it('a fault is logged with its stack and answered -ERR [SYS/TEMP]; the session goes on', async () => {
    const logLines: string[] = [];
    const messages = messagesWith({
      body: async () => {
        throw new TypeError('boom in the blob store');
      },
    });
    const { listener, port } = await ownListener(ts, { deps: { messages }, logLines });
    try {
      const c = await Pop3Client.connect(port);
      expect(await c.login(ALICE)).toMatch(/^\+OK Logged in/);
      expect(await c.cmd('RETR 1')).toBe('-ERR [SYS/TEMP] Internal error; try again later');
      expect(await c.cmd('STAT')).toMatch(/^\+OK 2 /);
      await c.quit();
      const fault = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'pop3.command_failed');
      expect(fault).toMatchObject({ level: 'error', command: 'RETR', proto: 'pop3' });
      expect(fault.err.stack).toContain('boom in the blob store');
      expect(fault.err.stack).toMatch(/\n\s+at /);
    } finally {
      await listener.close(0);
    }
  });

  it('close(): an idle session gets -ERR [SYS/TEMP] shutting down at once; a busy one finishes its command first; neither enters UPDATE', async () => {
    let gate!: () => void;
    let entered!: () => void;
    const inRows = new Promise<void>((r) => (entered = r));
    const opened = new Promise<void>((r) => (gate = r));
    let first = true;
    const messages = messagesWith({
      rows: async (...a: Parameters<Messages['rows']>) => {
        // The second login's maildrop read waits until the test lets it go.
        if (!first) {
          entered();
          await opened;
        }
        first = false;
        return ts.app.messages.rows(...a);
      },
    });
    const { listener, port } = await ownListener(ts, { deps: { messages } });
    const bob = await addAccount(ts.app, 'bob');
    await deliver(ts, bob, M);
    const idle = await Pop3Client.connect(port);
    expect(await idle.login(ALICE)).toMatch(/^\+OK Logged in/);
    expect(await idle.cmd('DELE 1')).toMatch(/^\+OK/);
    const busy = await Pop3Client.connect(port);
    busy.write(`USER bob@${DOMAIN}\r\nPASS ${PASSWORD}\r\n`);
    expect(await busy.line()).toBe('+OK Send PASS');
    await inRows;
    const closing = listener.close(10_000);
    expect(await idle.line()).toBe('-ERR [SYS/TEMP] mail.example.org shutting down; try again later');
    await idle.closed;
    gate();
    expect(await busy.line()).toMatch(/^\+OK Logged in; 1 messages/);
    expect(await busy.line()).toBe('-ERR [SYS/TEMP] mail.example.org shutting down; try again later');
    await busy.closed;
    await closing;
    expect((await ts.app.messages.rows(alice, await inboxId(ts, alice), [[1, 0xffffffff]])).length).toBe(2);
  });

  it('GW-LOG-3: one child logger per session (cid, proto pop3, remote); addresses through log privacy; no password or AUTH payload in any line, at trace level', async () => {
    const logLines: string[] = [];
    const privacy = logPrivacy({ addresses: 'pseudonymised', subjects: 'off', secret: 'k'.repeat(32) });
    const { listener, port } = await ownListener(ts, { settings: { privacy }, logLines });
    try {
      const c = await Pop3Client.connect(port);
      expect(await c.login(ALICE, 'Wrong-Secret-1')).toBe('-ERR [AUTH] Authentication failed');
      expect(await c.cmd('Wrong-Secret-2')).toBe('-ERR Unknown command'); // a password typed as a command
      const payload = b64(`\u0000${ALICE}\u0000${PASSWORD}`);
      expect(await c.cmd('AUTH PLAIN')).toBe('+ ');
      expect(await c.cmd(payload)).toMatch(/^\+OK Logged in/);
      expect(await c.cmd('STAT')).toMatch(/^\+OK/);
      await c.quit();
      const text = logLines.join('');
      for (const secret of ['Wrong-Secret-1', 'Wrong-Secret-2', PASSWORD, payload, 'alice@']) expect(text).not.toContain(secret);
      const lines = logLines.map((l) => JSON.parse(l));
      const session = lines.filter((l) => l.proto === 'pop3');
      expect(session.length).toBeGreaterThan(3);
      expect(new Set(session.map((l) => l.cid)).size).toBe(1);
      expect(session.every((l) => l.remote === '127.0.0.1')).toBe(true);
      expect(lines.find((l) => l.msg === 'pop3.login')?.account).toMatch(/^anon:[0-9a-f]{16}$/);
    } finally {
      await listener.close(0);
    }
  });

  it('RFC 8314: the implicit-TLS listener of our own serves a session from the first byte', async () => {
    const { listener, port } = await ownListener(ts, { implicitTls: true, settings: { requireTls: true }, limiter: new ConnectionLimiter(10, 10) });
    try {
      const c = await Pop3Client.connect(port, { tls: true });
      expect((await c.multi('CAPA')).lines).toEqual(expect.arrayContaining(['USER', 'SASL PLAIN']));
      expect(await c.login(ALICE)).toMatch(/^\+OK Logged in/);
      await c.quit();
    } finally {
      await listener.close(0);
    }
  });
});
