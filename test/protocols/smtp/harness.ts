/**
 * Test helpers for the SMTP reception and submission suites: an in-process server (startServer
 * on a fresh installation, every listener on loopback with a kernel-chosen port), a tiny
 * raw-socket SMTP client that reads complete (multi-line) replies, and helpers to look at what
 * was stored.
 */
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { initInstallation } from '../../../src/ops/init.ts';
import { startServer, type RunningServer } from '../../../src/ops/lifecycle.ts';
import { silentLogger } from '../../../src/ops/log.ts';
import { systemActor } from '../../../src/core/actor.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import type { App } from '../../../src/app.ts';
import { readAudit } from '../../../src/security/audit.ts';
import { LOOPBACK_LISTENERS } from '../../harness/cli.ts';
import { tempDir } from '../../harness/tmp.ts';

export const PASSWORD = 'tr0ub4dor-and-3-staples';
export const DOMAIN = 'example.org';
export const HOSTNAME = `mail.${DOMAIN}`;
export const actor = systemActor('test');

export interface TestServer {
  dataDir: string;
  running: RunningServer;
  app: App;
  port: { smtp: number; submission: number; submissions: number };
  /** Stops the server (idempotent) and starts it again on the same data directory. */
  restart(env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
  /** Stops the server and removes the data directory. */
  cleanup(): Promise<void>;
}

/** A new installation for DOMAIN, served in-process with the given environment overrides. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const tmp = tempDir('bulwark-smtp-');
  const dataDir = path.join(tmp.dir, 'data');
  await initInstallation({ dataDir, domain: DOMAIN, hostname: HOSTNAME, env: {} });
  // Sender authentication (SPF/DKIM/DMARC) is off: it has its own tests, and here every
  // stored byte is to be accounted for (Return-Path and Received, nothing else prepended).
  const fullEnv = (extra: Record<string, string>) => ({
    ...LOOPBACK_LISTENERS, BULWARK_SERVER_SHUTDOWN_GRACE_SECONDS: '2', BULWARK_SMTP_VERIFY_SENDER_AUTH: 'false', ...env, ...extra,
  });
  const ts = { dataDir } as TestServer;
  const boot = async (extra: Record<string, string>) => {
    const running = await startServer(dataDir, { env: fullEnv(extra), log: silentLogger() });
    const port = (name: string) => running.listening.find((l) => l.name === name)!.port;
    ts.running = running;
    ts.app = running.app;
    ts.port = { smtp: port('smtp'), submission: port('submission'), submissions: port('submissions') };
  };
  await boot({});
  ts.stop = () => ts.running.stop('test');
  ts.restart = async (extra = {}) => {
    await ts.stop();
    await boot(extra);
  };
  ts.cleanup = async () => {
    try {
      await ts.stop();
    } finally {
      tmp.cleanup();
    }
  };
  return ts;
}

/**
 * Keeps listener ports that a protocol's suite reads off the running server up to date across
 * restarts (the ports are 0 in the configuration: each start gets new ones).
 */
export function trackPorts<T extends TestServer>(ts: T, read: (ts: T) => void): T {
  read(ts);
  const restart = ts.restart;
  ts.restart = async (extra) => {
    await restart(extra);
    read(ts);
  };
  return ts;
}

export async function addAccount(app: App, local: string, opts: { quota?: number; partition?: string } = {}): Promise<AccountInfo> {
  return app.directory.addAccount(actor, { address: `${local}@${DOMAIN}`, password: PASSWORD, ...opts });
}

export async function inbox(app: App, account: AccountInfo) {
  return app.mail.listMessages(account, 'INBOX');
}

/** Stored messages of the INBOX with their bytes, oldest first. */
export async function inboxMessages(app: App, account: AccountInfo): Promise<{ row: Awaited<ReturnType<App['mail']['listMessages']>>[number]; raw: Buffer }[]> {
  const rows = await inbox(app, account);
  return Promise.all(rows.map(async (row) => ({ row, raw: await app.mail.readMessage(account, row.id) })));
}

/** Row counts of a partition that a refused message must leave unchanged (GW-DOS-1). */
export async function storeCounts(app: App, partition = 'main'): Promise<{ messages: number; blobRefs: number; blobFiles: number; blobRows: number }> {
  const part = app.stores.partition(partition);
  const count = (table: 'messages' | 'blob_refs' | 'blobs') => part.run('count', async (db) =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n));
  let blobFiles = 0;
  for await (const _ of part.blobs.list()) blobFiles++;
  return { messages: await count('messages'), blobRefs: await count('blob_refs'), blobFiles, blobRows: await count('blobs') };
}

export async function auditEvents(app: App, event: string) {
  return readAudit(app.stores.directory, { event });
}

/** A stored message split into the trace header block the server prepended and the rest. */
export function splitTrace(raw: Buffer): { returnPath: string; received: string; rest: Buffer } {
  const text = raw.toString('latin1');
  const rp = /^Return-Path: (<[^\r\n]*>)\r\n/.exec(text);
  if (!rp) throw new Error(`no Return-Path first: ${JSON.stringify(text.slice(0, 200))}`);
  let i = rp[0].length;
  if (!text.startsWith('Received: ', i)) throw new Error('no Received after Return-Path');
  const start = i;
  // The Received field ends at the first CRLF not followed by folding white space.
  for (;;) {
    const crlf = text.indexOf('\r\n', i);
    if (crlf === -1) throw new Error('unterminated Received');
    i = crlf + 2;
    if (text[i] !== ' ' && text[i] !== '\t') break;
  }
  return { returnPath: rp[1], received: text.slice(start, i), rest: raw.subarray(i) };
}

// ---------------------------------------------------------------------------------------
// The raw client

export interface Reply {
  code: number;
  /** The enhanced status code of the last line, or null. */
  enhanced: string | null;
  /** Text of every line, without code, separator and enhanced code. */
  lines: string[];
  /** The reply as received. */
  raw: string;
}

const LAST_LINE = /^(\d{3})(?: (.*))?$/;
const MID_LINE = /^(\d{3})-(.*)$/;

function parseReply(rawLines: string[]): Reply {
  const last = LAST_LINE.exec(rawLines[rawLines.length - 1])!;
  const code = Number(last[1]);
  const texts = rawLines.map((l) => l.slice(4));
  const enh = /^([245]\.\d{1,3}\.\d{1,3}) /.exec(`${texts[texts.length - 1]} `);
  return {
    code,
    enhanced: enh ? enh[1] : null,
    lines: texts.map((t) => (enh ? t.replace(/^[245]\.\d{1,3}\.\d{1,3} ?/, '') : t)),
    raw: rawLines.map((l) => `${l}\r\n`).join(''),
  };
}

export class SmtpClient {
  socket: net.Socket | tls.TLSSocket;
  #buf = '';
  /** Replies not read yet: #replies[#head] onwards (a queue that stays linear under a flood). */
  #replies: Reply[] = [];
  #head = 0;
  #waiters: ((r: Reply | null) => void)[] = [];
  #ended = false;
  /** Resolves when the server closed the connection (or it failed). */
  closed: Promise<void>;
  #resolveClosed!: () => void;
  /** Everything the server sent, in order. */
  transcript = '';
  /** The 220 greeting (set by connect). */
  greeting!: Reply;
  /** The reply to the EHLO that ehloClient sent. */
  ehlo!: Reply;

  private constructor(socket: net.Socket | tls.TLSSocket) {
    this.socket = socket;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#attach(socket);
  }

  /** Connects and reads the greeting (returned as `greeting`). */
  static async connect(port: number, opts: { tls?: boolean; localAddress?: string } = {}): Promise<SmtpClient> {
    let socket: net.Socket | tls.TLSSocket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress }, () => resolve(s));
      s.once('error', reject);
    });
    if (opts.tls) {
      const plain = socket;
      socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
        s.once('error', reject);
      });
    }
    const c = new SmtpClient(socket);
    const g = await c.read();
    if (!g) throw new Error('connection closed before the greeting');
    c.greeting = g;
    return c;
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', this.#onData);
    socket.on('error', () => {});
    socket.on('close', this.#onClose);
  }

  #detach(socket: net.Socket | tls.TLSSocket): void {
    socket.off('data', this.#onData);
    socket.off('close', this.#onClose);
  }

  #onData = (d: string): void => {
    this.transcript += d;
    this.#buf += d;
    // A reply is complete at a line "ddd" or "ddd text"; "ddd-text" lines continue it. All
    // complete replies of the buffer are taken in one pass (a flood of replies stays linear).
    let pos = 0;
    let lines: string[] = [];
    let consumed = 0;
    for (;;) {
      const nl = this.#buf.indexOf('\r\n', pos);
      if (nl === -1) break;
      const line = this.#buf.slice(pos, nl);
      pos = nl + 2;
      lines.push(line);
      if (MID_LINE.test(line)) continue;
      if (!LAST_LINE.test(line)) throw new Error(`malformed reply line ${JSON.stringify(line)}`);
      const reply = parseReply(lines);
      lines = [];
      consumed = pos;
      const w = this.#waiters.shift();
      if (w) w(reply);
      else this.#replies.push(reply);
    }
    this.#buf = this.#buf.slice(consumed);
  };

  #onClose = (): void => {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w(null);
    this.#resolveClosed();
  };

  get ended(): boolean {
    return this.#ended;
  }

  /** Writes bytes as they are (no CRLF added). */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Next complete reply; null when the connection closed first. */
  read(): Promise<Reply | null> {
    if (this.#head < this.#replies.length) {
      const r = this.#replies[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#replies.length) {
        this.#replies = this.#replies.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve(r);
    }
    if (this.#ended) return Promise.resolve(null);
    return new Promise((res) => this.#waiters.push(res));
  }

  /** Next reply, which must exist. */
  async reply(): Promise<Reply> {
    const r = await this.read();
    if (!r) throw new Error(`connection closed; transcript:\n${this.transcript}`);
    return r;
  }

  async replies(n: number): Promise<Reply[]> {
    const out: Reply[] = [];
    for (let i = 0; i < n; i++) out.push(await this.reply());
    return out;
  }

  /** Replies already received and not read yet (without waiting). */
  get buffered(): number {
    return this.#replies.length - this.#head;
  }

  /** Sends one command line (CRLF added) and reads its reply. */
  async cmd(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** MAIL, RCPTs, DATA and the body (dot-stuffed here), one step at a time; returns the final reply. */
  async send(from: string, to: string[], body: string | Buffer, mailParams = ''): Promise<Reply> {
    const m = await this.cmd(`MAIL FROM:<${from}>${mailParams ? ` ${mailParams}` : ''}`);
    if (m.code !== 250) return m;
    let ok = 0;
    let lastBad: Reply | null = null;
    for (const t of to) {
      const r = await this.cmd(`RCPT TO:<${t}>`);
      if (r.code === 250) ok++;
      else lastBad = r;
    }
    if (ok === 0) {
      await this.cmd('RSET');
      return lastBad!;
    }
    const d = await this.cmd('DATA');
    if (d.code !== 354) return d;
    this.write(Buffer.concat([dotStuff(body), Buffer.from('.\r\n')]));
    return this.reply();
  }

  /** STARTTLS, then the TLS handshake on the same connection. */
  async starttls(): Promise<Reply> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) return r;
    await this.upgrade();
    return r;
  }

  /** The TLS handshake on the current connection (after a 220 to STARTTLS). */
  async upgrade(): Promise<void> {
    const plain = this.socket;
    this.#detach(plain);
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain as net.Socket, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.#buf = '';
    this.socket = secure;
    this.#attach(secure);
  }

  /** Waits for the server to close the connection. */
  async waitClosed(): Promise<void> {
    await this.closed;
  }

  close(): void {
    this.socket.destroy();
  }

  /** QUIT, then waits for the close. */
  async quit(): Promise<void> {
    if (this.#ended) return;
    this.write('QUIT\r\n');
    await this.closed;
  }
}

/** RFC 5321 §4.5.2 transparency, and a final CRLF when the body has none. */
export function dotStuff(body: string | Buffer): Buffer {
  let s = typeof body === 'string' ? Buffer.from(body, 'utf8').toString('latin1') : body.toString('latin1');
  if (!s.endsWith('\r\n')) s += '\r\n';
  return Buffer.from(s.replace(/^\./gm, '..'), 'latin1');
}

/** Connects, says EHLO, returns the client and the EHLO reply. */
export async function ehloClient(port: number, opts: { tls?: boolean; helo?: string; localAddress?: string } = {}): Promise<SmtpClient> {
  const c = await SmtpClient.connect(port, opts);
  c.ehlo = await c.cmd(`EHLO ${opts.helo ?? 'client.example.net'}`);
  return c;
}

export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A message with CRLF line ends. */
export function message(lines: string[]): string {
  return lines.join('\r\n') + '\r\n';
}
