/**
 * Test helpers for the IMAP suites: a real server in-process (the SMTP harness's
 * startTestServer: src/ops/lifecycle.ts with every listener on loopback, port 0) and a tiny
 * raw IMAP client that reads whole responses (literals included), so tests can assert the
 * exact bytes a client sees: `c.ok('SELECT INBOX')` returns the untagged lines and the
 * tagged one, and fails the test unless the tag came back OK.
 */
import net from 'node:net';
import tls from 'node:tls';
import { expect } from 'vitest';
import { startTestServer, addAccount, ehloClient, trackPorts, PASSWORD, DOMAIN, type TestServer } from '../smtp/harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

export { PASSWORD, DOMAIN, addAccount };

export interface ImapTestServer extends TestServer {
  imapPort: number;
  imapsPort: number;
}

/** A server whose IMAP accepts logins without TLS (as a bench or a loopback deployment may), unless env says otherwise. */
export async function startImapServer(env: Record<string, string> = {}): Promise<ImapTestServer> {
  const ts = (await startTestServer({ BULWARK_AUTH_REQUIRE_TLS: 'false', ...env })) as ImapTestServer;
  return trackPorts(ts, (t) => {
    t.imapPort = t.running.listening.find((l) => l.name === 'imap')!.port;
    t.imapsPort = t.running.listening.find((l) => l.name === 'imaps')!.port;
  });
}

export interface Response {
  /** Untagged and continuation lines, literals inline as text (UTF-8). */
  lines: string[];
  /** The tagged line. */
  tagged: string;
  status: 'OK' | 'NO' | 'BAD';
}

let tagCounter = 0;

/** A raw IMAP client: one connection, one command at a time unless told otherwise. */
export class ImapTestClient {
  socket: net.Socket | tls.TLSSocket;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  /** Every complete response line received, in order (literals inline, UTF-8 decoded). */
  readonly received: string[] = [];
  /** The bytes of every literal received, in order (for byte-exact checks). */
  readonly literals: Buffer[] = [];
  #consumed = 0;
  closed = false;

  private constructor(socket: net.Socket | tls.TLSSocket) {
    this.socket = socket;
    this.#attach(socket);
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#parse();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, opts: { tls?: boolean; localAddress?: string; noGreeting?: boolean } = {}): Promise<ImapTestClient> {
    const socket = await new Promise<net.Socket | tls.TLSSocket>((resolve, reject) => {
      const s = opts.tls
        ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () => resolve(s))
        : net.connect({ host: '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new ImapTestClient(socket);
    if (!opts.noGreeting) await c.line(); // greeting
    return c;
  }

  /** Connects and logs in as the account. */
  static async login(port: number, account: AccountInfo | string, opts: { tls?: boolean; localAddress?: string } = {}): Promise<ImapTestClient> {
    const c = await ImapTestClient.connect(port, opts);
    await c.ok(`LOGIN ${typeof account === 'string' ? account : account.address} ${PASSWORD}`);
    return c;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  #parse(): void {
    for (;;) {
      // A line, with any literals it announces (" {n}" at its end) read as part of it.
      let pos = 0;
      let text = '';
      for (;;) {
        const nl = this.#buf.indexOf('\r\n', pos);
        if (nl === -1) return;
        const piece = this.#buf.subarray(pos, nl).toString('utf8');
        const m = /\{(\d+)\}$/.exec(piece);
        if (!m) {
          text += piece;
          pos = nl + 2;
          break;
        }
        const n = Number(m[1]);
        if (this.#buf.length < nl + 2 + n) return;
        const lit = this.#buf.subarray(nl + 2, nl + 2 + n);
        this.literals.push(Buffer.from(lit));
        text += piece + '\r\n' + lit.toString('utf8');
        pos = nl + 2 + n;
      }
      this.#buf = this.#buf.subarray(pos);
      this.received.push(text);
      this.#wake();
    }
  }

  /** The next line not yet consumed. */
  async line(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.#consumed >= this.received.length) {
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('timeout waiting for a line');
      await new Promise<void>((res) => {
        this.#waiters.push(res);
        setTimeout(res, 100);
      });
    }
    return this.received[this.#consumed++];
  }

  /** Waits for a line matching re (skipping others); returns it. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = await this.line(Math.max(1, deadline - Date.now()));
      if (re.test(l)) return l;
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a command (a tag is added) and reads through its tagged response. */
  async cmd(command: string | Buffer, timeoutMs = 20_000): Promise<Response> {
    const tag = `T${++tagCounter}`;
    this.write(typeof command === 'string' ? `${tag} ${command}\r\n` : Buffer.concat([Buffer.from(`${tag} `), command, Buffer.from('\r\n')]));
    return this.until(tag, timeoutMs);
  }

  /** Reads lines until the tagged response of `tag`. */
  async until(tag: string, timeoutMs = 20_000): Promise<Response> {
    const lines: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = await this.line(Math.max(1, deadline - Date.now()));
      if (l.startsWith(`${tag} `)) {
        const status = l.slice(tag.length + 1).split(' ')[0] as Response['status'];
        return { lines, tagged: l, status };
      }
      lines.push(l);
    }
  }

  async ok(command: string | Buffer): Promise<Response> {
    const r = await this.cmd(command);
    expect(r.tagged, `${typeof command === 'string' ? command.slice(0, 200) : 'command'}: ${[...r.lines.slice(-3), r.tagged].join(' | ')}`).toMatch(/^\S+ OK/);
    return r;
  }

  async no(command: string | Buffer, code?: string): Promise<Response> {
    const r = await this.cmd(command);
    expect(r.tagged).toMatch(/^\S+ NO/);
    if (code) expect(r.tagged).toContain(`[${code}`);
    return r;
  }

  async bad(command: string | Buffer): Promise<Response> {
    const r = await this.cmd(command);
    expect(r.tagged).toMatch(/^\S+ BAD/);
    return r;
  }

  /** Starts TLS on the same connection (after a STARTTLS OK). */
  async upgrade(): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.#attach(secure);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.end();
    this.socket.destroy();
  }
}

/** A small RFC 5322 message. */
export function message(opts: { subject?: string; from?: string; to?: string; body?: string; date?: string; messageId?: string; headers?: string[] } = {}): string {
  return [
    `From: ${opts.from ?? 'Sender <sender@example.net>'}`,
    `To: ${opts.to ?? `alice@${DOMAIN}`}`,
    `Subject: ${opts.subject ?? 'Test message'}`,
    `Date: ${opts.date ?? 'Tue, 1 Dec 2026 10:00:00 +0100'}`,
    `Message-ID: ${opts.messageId ?? `<${Math.random().toString(36).slice(2)}@example.net>`}`,
    ...(opts.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? 'Hello there.',
    '',
  ].join('\r\n');
}

/** APPEND with a synchronising literal, the way most clients do it. */
export async function append(c: ImapTestClient, mailbox: string, raw: string | Buffer, flags = ''): Promise<Response> {
  const data = typeof raw === 'string' ? Buffer.from(raw) : raw;
  return c.ok(Buffer.concat([Buffer.from(`APPEND ${mailbox} ${flags ? `(${flags}) ` : ''}{${data.length}+}\r\n`), data]));
}

export type { TestServer };

/** Delivers a message over SMTP (the MX listener); resolves once it was accepted (250). */
export async function deliver(ts: TestServer, to: string, raw: string | Buffer, from = 'sender@example.net'): Promise<void> {
  const s = await ehloClient(ts.port.smtp);
  const r = await s.send(from, [to], raw);
  await s.quit();
  if (r.code !== 250) throw new Error(`delivery refused: ${r.code} ${r.lines.join(' ')}`);
}
