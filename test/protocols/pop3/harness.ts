/**
 * Test helpers for the POP3 suites: a real server in-process (the SMTP harness's
 * startTestServer: src/ops/lifecycle.ts, every listener on loopback, port 0), a listener of
 * our own on the same installation for settings the configuration does not reach (short
 * idle timeouts, faulty core services, collected logs), a tiny raw POP3 client that reads
 * single-line and multi-line responses byte-exact, and a runner for Python's poplib as an
 * independent real client.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { createSecureContext } from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, addAccount, auditEvents, PASSWORD, DOMAIN, type TestServer } from '../smtp/harness.ts';
import { Pop3Listener } from '../../../src/protocols/pop3/server.ts';
import type { Pop3Deps, Pop3Settings } from '../../../src/protocols/pop3/session.ts';
import { ConnectionLimiter } from '../../../src/protocols/connection-limiter.ts';
import { createLogger, silentLogger } from '../../../src/ops/log.ts';
import { recordAudit } from '../../../src/security/audit.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

export { addAccount, auditEvents, PASSWORD, DOMAIN };

export interface Pop3TestServer extends TestServer {
  pop3Port: number;
  pop3sPort: number;
}

export async function startPop3Server(env: Record<string, string> = {}): Promise<Pop3TestServer> {
  const ts = (await startTestServer(env)) as Pop3TestServer;
  ts.pop3Port = ts.running.listening.find((l) => l.name === 'pop3')!.port;
  ts.pop3sPort = ts.running.listening.find((l) => l.name === 'pop3s')!.port;
  return ts;
}

/** A message with CRLF line ends. */
export function message(lines: string[]): string {
  return lines.join('\r\n') + '\r\n';
}

export async function deliver(ts: TestServer, account: AccountInfo, raw: string | Buffer) {
  return ts.app.mail.appendMessage(account, 'INBOX', typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw);
}

export async function inboxId(ts: TestServer, account: AccountInfo): Promise<number> {
  return (await ts.app.mailboxes.get(account, 'INBOX')).id;
}

/** A POP3 listener of our own on the installation of `ts`, with settings and deps as given. */
export async function ownListener(ts: TestServer, opts: {
  settings?: Partial<Pop3Settings>;
  deps?: Partial<Pop3Deps>;
  limiter?: ConnectionLimiter;
  /** Collects the log lines (JSON, level trace). */
  logLines?: string[];
  implicitTls?: boolean;
} = {}): Promise<{ listener: Pop3Listener; port: number }> {
  const log = opts.logLines
    ? createLogger({ level: 'trace', destination: new Writable({ write(chunk, _e, cb) { opts.logLines!.push(String(chunk)); cb(); } }) as never })
    : silentLogger();
  const secureContext = createSecureContext({
    cert: fs.readFileSync(path.join(ts.dataDir, 'tls/cert.pem')),
    key: fs.readFileSync(path.join(ts.dataDir, 'tls/key.pem')),
    minVersion: 'TLSv1.2',
  });
  const settings: Pop3Settings = { hostname: 'mail.example.org', requireTls: false, idleTimeoutMs: 600_000, maxErrors: 20, secureContext, ...opts.settings };
  const deps: Pop3Deps = {
    directory: ts.app.directory, mailboxes: ts.app.mailboxes, messages: ts.app.messages, throttle: ts.app.throttle,
    audit: (e) => recordAudit(ts.app.stores.directory, e), log, ...opts.deps,
  };
  const listener = new Pop3Listener({ settings, deps, limiter: opts.limiter ?? new ConnectionLimiter(100, 100), implicitTls: opts.implicitTls ? secureContext : undefined });
  const addr = await listener.listen('127.0.0.1', 0);
  return { listener, port: addr.port };
}

const DOT_CRLF = Buffer.from('.\r\n');
const TERMINATOR = Buffer.from('\r\n.\r\n');

export interface Multi {
  status: string;
  /** The lines between the status line and the terminator, dot-unstuffed. */
  lines: string[];
  /** The octets between the status line and the terminating ".CRLF", as sent (latin1). */
  raw: string;
}

/** A raw POP3 client: one connection; responses are read in order, as the server sent them. */
export class Pop3Client {
  socket: net.Socket | tls.TLSSocket;
  #buf: Buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #ended = false;
  closed: Promise<void>;
  #resolveClosed!: () => void;
  greeting = '';

  private constructor(socket: net.Socket | tls.TLSSocket) {
    this.socket = socket;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#attach(socket);
  }

  static async connect(port: number, opts: { tls?: boolean; localAddress?: string } = {}): Promise<Pop3Client> {
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
    const c = new Pop3Client(socket);
    c.greeting = await c.line();
    return c;
  }

  #onData = (d: Buffer): void => {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    for (const w of this.#waiters.splice(0)) w();
  };

  #onClose = (): void => {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w();
    this.#resolveClosed();
  };

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', this.#onData);
    socket.on('error', () => {});
    socket.on('close', this.#onClose);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Everything received and not read yet. */
  get buffered(): Buffer {
    return this.#buf;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  async #more(): Promise<void> {
    if (this.#ended) throw new Error(`connection closed; unread: ${JSON.stringify(this.#buf.toString('latin1').slice(0, 300))}`);
    await new Promise<void>((r) => this.#waiters.push(r));
  }

  /** The next line, without its CRLF (latin1). */
  async line(): Promise<string> {
    for (;;) {
      const i = this.#buf.indexOf('\r\n');
      if (i !== -1) {
        const l = this.#buf.subarray(0, i).toString('latin1');
        this.#buf = this.#buf.subarray(i + 2);
        return l;
      }
      await this.#more();
    }
  }

  /** The next line, or null when the connection closed first. */
  async lineOrNull(): Promise<string | null> {
    try {
      return await this.line();
    } catch {
      return null;
    }
  }

  /** Sends a command (CRLF added) and reads a one-line response. */
  async cmd(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.line();
  }

  /** Reads a multi-line response whose status line is +OK (a -ERR comes back as status only). */
  async readMulti(): Promise<Multi> {
    const status = await this.line();
    if (!status.startsWith('+OK')) return { status, lines: [], raw: '' };
    let from = 0;
    for (;;) {
      const end = this.#buf.subarray(0, 3).equals(DOT_CRLF) ? 0 : this.#buf.indexOf(TERMINATOR, from);
      if (end === -1) from = Math.max(0, this.#buf.length - 4);
      if (end !== -1) {
        const raw = end === 0 ? '' : this.#buf.subarray(0, end + 2).toString('latin1');
        this.#buf = this.#buf.subarray(end === 0 ? 3 : end + 5);
        const lines = raw === '' ? [] : raw.slice(0, -2).split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l));
        return { status, lines, raw };
      }
      await this.#more();
    }
  }

  async multi(line: string): Promise<Multi> {
    this.write(`${line}\r\n`);
    return this.readMulti();
  }

  async login(user: string, password = PASSWORD): Promise<string> {
    const u = await this.cmd(`USER ${user}`);
    if (!u.startsWith('+OK')) return u;
    return this.cmd(`PASS ${password}`);
  }

  /** STLS, then the TLS handshake on the same connection. */
  async stls(): Promise<string> {
    const r = await this.cmd('STLS');
    if (!r.startsWith('+OK')) return r;
    await this.upgrade();
    return r;
  }

  /** The TLS handshake on the current connection (after the +OK to STLS was read). */
  async upgrade(): Promise<void> {
    const plain = this.socket;
    plain.off('data', this.#onData);
    plain.off('close', this.#onClose);
    this.#buf = Buffer.alloc(0);
    this.socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain as net.Socket, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.#attach(this.socket);
  }

  async quit(): Promise<string | null> {
    if (this.#ended) return null;
    this.write('QUIT\r\n');
    const r = await this.lineOrNull();
    await this.closed;
    return r;
  }

  close(): void {
    this.socket.destroy();
  }
}

export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** Runs a Python script with python3; `args` arrive as JSON in sys.argv[1]; stdout is parsed as JSON. */
export function runPython<T = unknown>(script: string, args: unknown): Promise<T> {
  // Asynchronous on purpose: the server runs in this process, so a synchronous spawn would
  // stop it from answering.
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', script, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errText = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (errText += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python3 exited with ${code}: ${errText}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch (e) {
        reject(new Error(`bad output from python3: ${out}\n${errText} (${(e as Error).message})`));
      }
    });
  });
}
