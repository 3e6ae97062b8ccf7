/**
 * The outbound SMTP transport (src/protocols/smtp/outbound*.ts) against real servers on
 * 127.0.0.1: smtp-server as the sink that behaves (STARTTLS with a self-signed certificate,
 * DSN, AUTH), a scripted server of our own for the ones that do not (421 greetings, resets,
 * stalls, floods), and the test DNS server (test/harness/dns.ts) for MX, null MX, NXDOMAIN
 * and SERVFAIL. Also the pure parts: reply reading, dot-stuffing, ORCPT, MX ordering.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pino from 'pino';
import { generate } from 'selfsigned';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession, type SMTPServerAddress } from 'smtp-server';
import { createResolver, type DnsResolver } from '../../../src/lib/dns.ts';
import { SmtpTransport, type OutboundAttempt, type SmtpTransportOptions } from '../../../src/protocols/smtp/outbound.ts';
import { routeFor } from '../../../src/protocols/smtp/outbound-route.ts';
import { ReplyReader, SmtpConnectionError, encodeData, formatOrcpt, parseCapabilities, rcptCommand, mailCommand } from '../../../src/protocols/smtp/outbound-wire.ts';
import type { OutboundTransport as QueuePort } from '../../../src/core/mail/queue/transport.ts';
import { startDns, respond, type TestDns, type Zone } from '../../harness/dns.ts';

const log = pino({ level: 'silent' });
const OUR_NAME = 'out.bulwark.test';

const zone: Zone = {
  'example.net': { MX: [{ exchange: 'mx.example.net', priority: 10 }] },
  'mx.example.net': { A: ['127.0.0.1'] },
  'null.example': { MX: [{ exchange: '.', priority: 0 }] },
  'servfail.example': { fail: 'servfail' },
  'silent.example': { fail: 'silent' },
  'implicit.example': { A: ['127.0.0.1'] },
  'two.example': { MX: [{ exchange: 'mx1.two.example', priority: 10 }, { exchange: 'mx2.two.example', priority: 20 }] },
  'mx1.two.example': { A: ['127.0.0.1'] },
  'mx2.two.example': { A: ['127.0.0.1'] },
  'loop.example': { MX: [{ exchange: OUR_NAME, priority: 10 }] },
  'dangling.example': { MX: [{ exchange: 'gone.dangling.example', priority: 10 }] },
  'relay.example': { A: ['127.0.0.1'] },
};

let dns: TestDns;
let resolver: DnsResolver;
let tlsKey: string;
let tlsCert: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  dns = await startDns(zone);
  resolver = createResolver({ servers: [dns.server], timeoutMs: 200, tries: 1 });
  const pems = await generate([{ name: 'commonName', value: 'mx.example.net' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
  tlsKey = pems.private;
  tlsCert = pems.cert;
});

afterAll(async () => {
  await dns?.close();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function transport(port: number, o: Partial<SmtpTransportOptions> = {}): SmtpTransport {
  const t = new SmtpTransport({ hostname: OUR_NAME, resolver, port, connectTimeoutMs: 2000, commandTimeoutMs: 5000, dataTimeoutMs: 5000, log, ...o });
  cleanups.push(() => t.close());
  return t;
}

const attempt = (o: Partial<OutboundAttempt> = {}): OutboundAttempt => ({
  domain: 'example.net',
  from: 'alice@bulwark.test',
  recipients: [{ address: 'bob@example.net' }],
  body: Buffer.from('Subject: hi\r\n\r\nhello\r\n'),
  ...o,
});

// ---------------------------------------------------------------------------------------
// The well-behaved sink: smtp-server.

interface Received {
  from: SMTPServerAddress;
  to: SMTPServerAddress[];
  body: Buffer;
  secure: boolean;
  dsn: SMTPServerSession['envelope']['dsn'];
  user: unknown;
}

interface Sink {
  port: number;
  messages: Received[];
  connections: number;
  closed: number;
}

async function sink(o: Partial<SMTPServerOptions> = {}): Promise<Sink> {
  const s: Sink = { port: 0, messages: [], connections: 0, closed: 0 };
  const server = new SMTPServer({
    key: tlsKey,
    cert: tlsCert,
    logger: false,
    hideDSN: false,
    authOptional: true,
    disabledCommands: ['AUTH'],
    onConnect(_session, cb) {
      s.connections++;
      cb();
    },
    onClose() {
      s.closed++;
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        s.messages.push({ from: session.envelope.mailFrom as SMTPServerAddress, to: session.envelope.rcptTo, body: Buffer.concat(chunks), secure: session.secure, dsn: session.envelope.dsn, user: session.user });
        cb();
      });
    },
    ...o,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  s.port = (server.server.address() as net.AddressInfo).port;
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return s;
}

const smtpError = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });

// ---------------------------------------------------------------------------------------
// The scripted server: answers by default like a plain SMTP server without extensions
// (no PIPELINING, so the client's one-command-at-a-time path runs), unless told otherwise.

/** A reply; 'stall': none; 'reset': a TCP reset; "close:" + reply: the reply, then the end. */
type Answer = string | 'stall' | 'reset' | undefined;

interface Scripted {
  port: number;
  connections: number;
  lines: string[];
  /** The data as it came, dot-stuffed, terminator included. */
  data: Buffer[];
}

async function scripted(answer: (line: string, conn: number) => Answer = () => undefined, o: { greeting?: (conn: number) => Answer; ehlo?: string[] } = {}): Promise<Scripted> {
  const s: Scripted = { port: 0, connections: 0, lines: [], data: [] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const n = ++s.connections;
    const act = (a: Answer, fallback: string) => {
      if (a === 'stall') return;
      if (a === 'reset') return socket.resetAndDestroy();
      if (a?.startsWith('close:')) return socket.end(`${a.slice(6)}\r\n`);
      socket.write(`${a ?? fallback}\r\n`);
    };
    act(o.greeting?.(n), '220 scripted ESMTP');
    let buf = Buffer.alloc(0);
    let inData = false;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          const at = buf.subarray(0, 3).equals(Buffer.from('.\r\n')) ? 0 : end === -1 ? -1 : end + 2;
          if (at === -1) return;
          s.data.push(buf.subarray(0, at + 3));
          buf = buf.subarray(at + 3);
          inData = false;
          act(answer('.', n), '250 2.0.0 queued');
          continue;
        }
        const lf = buf.indexOf('\r\n');
        if (lf === -1) return;
        const line = buf.toString('utf8', 0, lf);
        buf = buf.subarray(lf + 2);
        s.lines.push(line);
        const verb = line.split(' ')[0].toUpperCase();
        const a = answer(line, n);
        if (a === undefined && verb === 'DATA') inData = true;
        act(a, defaultReply(verb, o.ehlo ?? ['8BITMIME', 'SIZE 1000000']));
        if (verb === 'QUIT' && a === undefined) socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  s.port = (server.address() as net.AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const so of sockets) so.destroy();
        server.close(() => resolve());
      }),
  );
  return s;
}

function defaultReply(verb: string, ehlo: string[]): string {
  switch (verb) {
    case 'EHLO':
      return ['scripted', ...ehlo].map((l, i, all) => `250${i === all.length - 1 ? ' ' : '-'}${l}`).join('\r\n');
    case 'DATA':
      return '354 go ahead';
    case 'QUIT':
      return '221 bye';
    default:
      return '250 ok';
  }
}

/** The message as the receiver reads it: dot-unstuffed, without the terminator. */
function unstuff(data: Buffer): Buffer {
  const text = data.toString('latin1');
  expect(text.endsWith('\r\n.\r\n') || text === '.\r\n').toBe(true);
  const body = text === '.\r\n' ? '' : text.slice(0, -3);
  return Buffer.from(body.split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n'), 'latin1');
}

// ---------------------------------------------------------------------------------------

describe('delivery to the MX (RFC 5321 §5.1, §3.3)', () => {
  it('delivers byte for byte, with envelope and DSN parameters, over STARTTLS (RFC 3461, RFC 3207)', async () => {
    const s = await sink();
    const t = transport(s.port);
    const body = Buffer.from('Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nmiddle\r\n. space\r\nend\r\n', 'latin1');
    const out = await t.send(
      attempt({
        recipients: [
          { address: 'bob@example.net', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;bob+tag@example.net' },
          { address: 'carol@example.net', notify: ['NEVER'] },
        ],
        body,
        envid: 'Q1=abc+def',
        ret: 'HDRS',
      }),
    );
    expect(out).toEqual([
      expect.objectContaining({ address: 'bob@example.net', status: 'delivered', code: 250, remoteMta: 'mx.example.net' }),
      expect.objectContaining({ address: 'carol@example.net', status: 'delivered', code: 250, remoteMta: 'mx.example.net' }),
    ]);
    expect(s.messages).toHaveLength(1);
    const m = s.messages[0];
    expect(m.body.equals(body)).toBe(true);
    expect(m.secure).toBe(true);
    expect(m.from.address).toBe('alice@bulwark.test');
    expect(m.to.map((r) => r.address)).toEqual(['bob@example.net', 'carol@example.net']);
    expect(m.dsn).toEqual(expect.objectContaining({ ret: 'HDRS', envid: 'Q1=abc+def' }));
    expect(m.to[0].dsn).toEqual({ notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;bob+tag@example.net' });
    expect(m.to[1].dsn).toEqual({ notify: ['NEVER'] });
    // RFC 1870 §6: the SIZE parameter when SIZE is offered (smtp-server offers it with a limit).
  });

  it('sends the null sender, SIZE and BODY=8BITMIME when offered (RFC 1870, RFC 6152)', async () => {
    const s = await sink({ size: 100_000 });
    const t = transport(s.port);
    const body = Buffer.from('Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n', 'latin1');
    const out = await t.send(attempt({ from: '', body }));
    expect(out[0].status).toBe('delivered');
    const m = s.messages[0];
    expect(m.from.address).toBe('');
    expect(m.from.args).toEqual(expect.objectContaining({ SIZE: String(body.length), BODY: '8BITMIME' }));
    expect(m.body.equals(body)).toBe(true);
  });

  it('uses STARTTLS when offered, and clear text when not (RFC 3207 §4, RFC 7435)', async () => {
    const withTls = await sink();
    const without = await sink({ hideSTARTTLS: true });
    expect((await transport(withTls.port).send(attempt()))[0].status).toBe('delivered');
    expect((await transport(without.port).send(attempt()))[0].status).toBe('delivered');
    expect(withTls.messages[0].secure).toBe(true);
    expect(without.messages[0].secure).toBe(false);
  });

  it('requireTls: a server without STARTTLS gets nothing (temporary 4.7.4)', async () => {
    const s = await sink({ hideSTARTTLS: true });
    const out = await transport(s.port, { requireTls: true }).send(attempt());
    expect(out[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.7.4', remoteMta: 'mx.example.net' });
    expect(s.messages).toHaveLength(0);
  });

  it('a failed TLS handshake falls back to clear text on a new connection (RFC 7435 §1.3)', async () => {
    // The scripted server says "220" to STARTTLS but speaks no TLS: the handshake fails (on the
    // timeout, or on a garbage answer), and the client reconnects without STARTTLS.
    const s = await scripted((line) => (line === 'STARTTLS' ? '220 2.0.0 go ahead' : undefined), { ehlo: ['STARTTLS'] });
    const out = await transport(s.port, { commandTimeoutMs: 300 }).send(attempt());
    expect(out[0]).toMatchObject({ status: 'delivered', remoteMta: 'mx.example.net' });
    expect(s.connections).toBe(2);
    expect(s.lines.filter((l) => l === 'STARTTLS')).toHaveLength(1);
  });

  it('takes the implicit MX when the domain has no MX records (RFC 5321 §5.1)', async () => {
    const s = await sink();
    const out = await transport(s.port).send(attempt({ domain: 'implicit.example', recipients: [{ address: 'x@implicit.example' }] }));
    expect(out[0]).toMatchObject({ status: 'delivered', remoteMta: 'implicit.example' });
  });

  it('is the queue port (src/core/mail/queue/transport.ts)', () => {
    const port: QueuePort = transport(1);
    expect(typeof port.send).toBe('function');
  });
});

describe('per-recipient replies (RFC 5321 §4.2.5, §4.1.1.4)', () => {
  it('550 and 450 at RCPT are per recipient; the others are delivered', async () => {
    const s = await sink({
      onRcptTo(addr, _session, cb) {
        if (addr.address.startsWith('gone')) return cb(smtpError(550, '5.1.1 No such user'));
        if (addr.address.startsWith('busy')) return cb(smtpError(450, '4.2.1 Try later'));
        cb();
      },
    });
    const out = await transport(s.port).send(attempt({ recipients: [{ address: 'gone@example.net' }, { address: 'ok@example.net' }, { address: 'busy@example.net' }] }));
    expect(out.map((o) => [o.address, o.status, o.code])).toEqual([
      ['gone@example.net', 'permanent', 550],
      ['ok@example.net', 'delivered', 250],
      ['busy@example.net', 'temporary', 450],
    ]);
    expect([out[0].enhanced, out[2].enhanced]).toEqual(['5.1.1', '4.2.1']);
    expect(out[0].message).toBe('No such user');
    expect(s.messages[0].to.map((r) => r.address)).toEqual(['ok@example.net']);
  });

  it('no recipient accepted: no DATA, the connection is kept', async () => {
    const s = await sink({ onRcptTo: (_a, _s, cb) => cb(smtpError(550, '5.1.1 No such user')) });
    const t = transport(s.port);
    const out = await t.send(attempt());
    expect(out[0]).toMatchObject({ status: 'permanent', code: 550 });
    expect(s.messages).toHaveLength(0);
    expect((await t.send(attempt()))[0].status).toBe('permanent');
    expect(s.connections).toBe(1);
  });

  it('452 after the data applies to every accepted recipient', async () => {
    const s = await sink({
      onRcptTo: (addr, _s, cb) => cb(addr.address.startsWith('gone') ? smtpError(550, 'No such user') : undefined),
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => cb(smtpError(452, '4.3.1 Insufficient system storage')));
      },
    });
    const out = await transport(s.port).send(attempt({ recipients: [{ address: 'a@example.net' }, { address: 'gone@example.net' }, { address: 'b@example.net' }] }));
    expect(out.map((o) => [o.status, o.code])).toEqual([
      ['temporary', 452],
      ['permanent', 550],
      ['temporary', 452],
    ]);
    expect(out[0].enhanced).toBe('4.3.1');
  });

  it('452 to the DATA command itself, and 554 after the data', async () => {
    const s = await scripted((line, conn) => (line === 'DATA' && conn === 1 ? '452 4.3.1 no room' : line === '.' ? '554 5.6.0 rejected content' : undefined));
    const t = transport(s.port);
    const first = await t.send(attempt({ recipients: [{ address: 'a@example.net' }, { address: 'b@example.net' }] }));
    expect(first.map((o) => [o.status, o.code, o.enhanced, o.message])).toEqual([
      ['temporary', 452, '4.3.1', 'no room'],
      ['temporary', 452, '4.3.1', 'no room'],
    ]);
    const second = await transport(s.port, { maxIdleMs: 0 }).send(attempt());
    expect(second[0]).toMatchObject({ status: 'permanent', code: 554, enhanced: '5.6.0' });
  });

  it('a 5xx to MAIL is permanent for all, a 4xx temporary', async () => {
    const s = await scripted((line, conn) => (line.startsWith('MAIL') ? (conn === 1 ? '553 5.7.1 sender refused' : '451 4.7.1 greylisted') : undefined));
    const a = await transport(s.port, { maxIdleMs: 0 }).send(attempt({ recipients: [{ address: 'a@example.net' }, { address: 'b@example.net' }] }));
    expect(a.map((o) => [o.status, o.code])).toEqual([
      ['permanent', 553],
      ['permanent', 553],
    ]);
    const b = await transport(s.port, { maxIdleMs: 0 }).send(attempt());
    expect(b[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.7.1', message: 'greylisted' });
  });

  it('dot-stuffs and ends lines for a server without PIPELINING, one command at a time', async () => {
    const s = await scripted();
    const body = Buffer.from('.\r\n..\r\nbare\nlf and a last line without CRLF', 'latin1');
    const out = await transport(s.port).send(attempt({ body }));
    expect(out[0].status).toBe('delivered');
    expect(s.data[0].toString('latin1')).toBe('..\r\n...\r\nbare\r\nlf and a last line without CRLF\r\n.\r\n');
    expect(s.lines.slice(0, 4)).toEqual([`EHLO ${OUR_NAME}`, 'MAIL FROM:<alice@bulwark.test> SIZE=43', 'RCPT TO:<bob@example.net>', 'DATA']);
  });

  it('leaves out DSN parameters when DSN is not offered (RFC 3461 §4)', async () => {
    const s = await scripted();
    await transport(s.port).send(attempt({ envid: 'x', ret: 'FULL', recipients: [{ address: 'bob@example.net', notify: ['SUCCESS'], orcpt: 'bob@example.net' }] }));
    expect(s.lines.find((l) => l.startsWith('MAIL'))).toBe('MAIL FROM:<alice@bulwark.test> SIZE=22');
    expect(s.lines.find((l) => l.startsWith('RCPT'))).toBe('RCPT TO:<bob@example.net>');
  });

  it('falls back to HELO when EHLO is not known (RFC 5321 §3.2)', async () => {
    const s = await scripted((line) => (line.startsWith('EHLO') ? '502 5.5.1 what?' : undefined));
    const out = await transport(s.port).send(attempt({ envid: 'x' }));
    expect(out[0].status).toBe('delivered');
    expect(s.lines.slice(0, 3)).toEqual([`EHLO ${OUR_NAME}`, `HELO ${OUR_NAME}`, 'MAIL FROM:<alice@bulwark.test>']);
  });
});

describe('what the extensions allow (RFC 6531, RFC 1870)', () => {
  it('SMTPUTF8 needed but not offered: permanent 553 5.6.7, nothing sent', async () => {
    const s = await sink({ hideSMTPUTF8: true });
    const out = await transport(s.port).send(attempt({ recipients: [{ address: 'josé@example.net' }] }));
    expect(out[0]).toMatchObject({ status: 'permanent', code: 553, enhanced: '5.6.7' });
    expect(s.messages).toHaveLength(0);
  });

  it('SMTPUTF8 offered: the parameter goes with MAIL', async () => {
    const s = await sink();
    const out = await transport(s.port).send(attempt({ smtputf8: true, recipients: [{ address: 'josé@example.net' }] }));
    expect(out[0].status).toBe('delivered');
    expect(s.messages[0].from.args).toEqual(expect.objectContaining({ SMTPUTF8: true, BODY: '8BITMIME' }));
    expect(s.messages[0].to[0].address).toBe('josé@example.net');
  });

  it('a message over the advertised SIZE is not sent: permanent 552 5.3.4 (RFC 1870 §6.1)', async () => {
    const s = await sink({ size: 10 });
    const out = await transport(s.port).send(attempt());
    expect(out[0]).toMatchObject({ status: 'permanent', code: 552, enhanced: '5.3.4' });
    expect(s.messages).toHaveLength(0);
  });
});

describe('routing (RFC 5321 §5.1, RFC 7505)', () => {
  it('null MX: permanent 556 5.1.10, no address looked up', async () => {
    const before = dns.queries.length;
    const out = await transport(1).send(attempt({ domain: 'null.example', recipients: [{ address: 'a@null.example' }, { address: 'b@null.example' }] }));
    expect(out.map((o) => [o.status, o.code, o.enhanced])).toEqual([
      ['permanent', 556, '5.1.10'],
      ['permanent', 556, '5.1.10'],
    ]);
    expect(dns.queries.slice(before)).toEqual(['null.example MX']);
  });

  it('NXDOMAIN: permanent 550 5.1.2', async () => {
    const out = await transport(1).send(attempt({ domain: 'nowhere.example', recipients: [{ address: 'a@nowhere.example' }] }));
    expect(out[0]).toMatchObject({ status: 'permanent', code: 550, enhanced: '5.1.2', remoteMta: null });
  });

  it('SERVFAIL and a silent DNS server: temporary 451 4.4.3', async () => {
    const t = transport(1);
    expect((await t.send(attempt({ domain: 'servfail.example' })))[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.4.3' });
    expect((await t.send(attempt({ domain: 'silent.example' })))[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.4.3' });
  });

  it('MX hosts without addresses: permanent 550 5.4.4', async () => {
    const out = await transport(1).send(attempt({ domain: 'dangling.example' }));
    expect(out[0]).toMatchObject({ status: 'permanent', code: 550, enhanced: '5.4.4' });
  });

  it('an MX pointing back to us: permanent 5.4.6 (mail loops back to myself)', async () => {
    const out = await transport(1).send(attempt({ domain: 'loop.example' }));
    expect(out[0]).toMatchObject({ status: 'permanent', enhanced: '5.4.6' });
  });

  it('nobody listening: temporary 451 4.4.1', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const out = await transport(closedPort).send(attempt());
    expect(out[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.4.1', remoteMta: 'mx.example.net' });
  });

  it('the first MX resets the connection: the second MX gets the message', async () => {
    const s = await scripted(undefined, { greeting: (n) => (n === 1 ? 'reset' : undefined) });
    const out = await transport(s.port).send(attempt({ domain: 'two.example', recipients: [{ address: 'a@two.example' }] }));
    expect(out[0]).toMatchObject({ status: 'delivered', remoteMta: 'mx2.two.example' });
    expect(s.connections).toBe(2);
    expect(s.data).toHaveLength(1);
  });

  it('a 421 greeting: the next host is tried (RFC 5321 §5.1)', async () => {
    const s = await scripted(undefined, { greeting: (n) => (n === 1 ? '421 4.3.2 too busy' : undefined) });
    const out = await transport(s.port).send(attempt({ domain: 'two.example', recipients: [{ address: 'a@two.example' }] }));
    expect(out[0]).toMatchObject({ status: 'delivered', remoteMta: 'mx2.two.example' });
    expect(s.lines[0]).toBe('QUIT'); // RFC 5321 §3.1: the refused session is ended politely
  });

  it('every host refuses the greeting: temporary, with the last refusal', async () => {
    const s = await scripted(undefined, { greeting: () => '554 5.7.1 no service' });
    const out = await transport(s.port).send(attempt({ domain: 'two.example', recipients: [{ address: 'a@two.example' }] }));
    expect(out[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.7.1', remoteMta: 'mx2.two.example' });
    expect(out[0].message).toContain('554 5.7.1 no service');
    expect(s.connections).toBe(2);
  });

  it('orders MX hosts by preference and shuffles equal ones', async () => {
    const r: DnsResolver = {
      mx: async () => [
        { exchange: 'c', priority: 20 },
        { exchange: 'a', priority: 10 },
        { exchange: 'b', priority: 10 },
      ],
      addresses: async () => [],
    };
    const names = async (rand: () => number) => {
      const route = await routeFor('x.example', r, OUR_NAME, rand);
      return 'hosts' in route ? route.hosts.map((h) => h.name) : route;
    };
    let i = 0;
    expect(await names(() => [0.1, 0.9, 0.5][i++ % 3])).toEqual(['b', 'a', 'c']);
    i = 0;
    expect(await names(() => [0.9, 0.1, 0.5][i++ % 3])).toEqual(['a', 'b', 'c']);
    const literal = await routeFor('[127.0.0.1]', r, OUR_NAME);
    expect(literal).toEqual({ hosts: [{ name: '[127.0.0.1]', addresses: ['127.0.0.1'] }] });
  });
});

describe('connections', () => {
  it('reuses an idle connection to the same host with RSET; close() quits it', async () => {
    const s = await scripted(undefined, { ehlo: ['PIPELINING', '8BITMIME'] });
    const t = transport(s.port);
    expect((await t.send(attempt()))[0].status).toBe('delivered');
    expect((await t.send(attempt({ recipients: [{ address: 'carol@example.net' }] })))[0].status).toBe('delivered');
    expect(s.connections).toBe(1);
    expect(s.data).toHaveLength(2);
    expect(s.lines.filter((l) => /^(EHLO|RSET|MAIL|QUIT)/.test(l)).map((l) => l.split(' ')[0])).toEqual(['EHLO', 'MAIL', 'RSET', 'MAIL']);
    await t.close();
    expect(s.lines.at(-1)).toBe('QUIT');
  });

  it('reuses with smtp-server too: two sends, one TCP connection at the sink', async () => {
    const s = await sink();
    const t = transport(s.port);
    await t.send(attempt());
    await t.send(attempt());
    expect(s.messages).toHaveLength(2);
    expect(s.connections).toBe(1);
  });

  it('maxMessagesPerConnection and maxIdleMs 0 open new connections', async () => {
    const s = await scripted();
    const t = transport(s.port, { maxMessagesPerConnection: 1 });
    await t.send(attempt());
    await t.send(attempt());
    expect(s.connections).toBe(2);
    const u = await scripted();
    const t2 = transport(u.port, { maxIdleMs: 0 });
    await t2.send(attempt());
    await t2.send(attempt());
    expect(u.connections).toBe(2);
  });

  it('a connection the server dropped while idle is replaced', async () => {
    const s = await scripted((line, conn) => (line === 'RSET' && conn === 1 ? '421 4.4.2 idle too long' : undefined));
    const t = transport(s.port);
    await t.send(attempt());
    const out = await t.send(attempt());
    expect(out[0].status).toBe('delivered');
    expect(s.connections).toBe(2);
  });

  it('runs concurrent sends on separate connections, never two transactions on one', async () => {
    // The sink answers no data until three messages are in flight at once: three transactions
    // at the same time, which only three connections can carry.
    const held: (() => void)[] = [];
    const s = await sink({
      onData(stream, session, cb) {
        stream.resume();
        stream.on('end', () => {
          s.messages.push({ from: session.envelope.mailFrom as SMTPServerAddress, to: session.envelope.rcptTo, body: Buffer.alloc(0), secure: session.secure, dsn: undefined, user: undefined });
          held.push(() => cb());
          if (held.length === 3) for (const release of held) release();
        });
      },
    });
    const t = transport(s.port);
    const outs = await Promise.all([t.send(attempt()), t.send(attempt()), t.send(attempt())]);
    expect(outs.map((o) => o[0].status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(s.messages).toHaveLength(3);
    expect(s.connections).toBe(3);
  });

  it('a send after close() is temporary', async () => {
    const t = transport(1);
    await t.close();
    expect((await t.send(attempt()))[0]).toMatchObject({ status: 'temporary', enhanced: '4.3.2' });
  });
});

describe('servers that misbehave', () => {
  it('no greeting: temporary after the timeout', async () => {
    const s = await scripted(undefined, { greeting: () => 'stall' });
    const out = await transport(s.port, { commandTimeoutMs: 100 }).send(attempt());
    expect(out[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.4.2', remoteMta: 'mx.example.net' });
    expect(out[0].message).toContain('greeting');
  });

  it('no reply to RCPT: temporary for every recipient', async () => {
    const s = await scripted((line) => (line.startsWith('RCPT TO:<b') ? 'stall' : undefined));
    const out = await transport(s.port, { commandTimeoutMs: 100 }).send(attempt({ recipients: [{ address: 'a@example.net' }, { address: 'b@example.net' }] }));
    expect(out.map((o) => [o.status, o.enhanced])).toEqual([
      ['temporary', '4.4.2'],
      ['temporary', '4.4.2'],
    ]);
    expect(out[1].message).toContain('RCPT');
  });

  it('no reply after the data: temporary after the data timeout', async () => {
    const s = await scripted((line) => (line === '.' ? 'stall' : undefined));
    const out = await transport(s.port, { dataTimeoutMs: 100 }).send(attempt());
    expect(out[0]).toMatchObject({ status: 'temporary', enhanced: '4.4.2' });
    expect(s.data).toHaveLength(1);
  });

  it('the connection dropped mid-transaction: temporary for the recipients not yet answered', async () => {
    const s = await scripted((line) => (line.startsWith('RCPT TO:<gone') ? '550 5.1.1 no' : line === 'DATA' ? 'reset' : undefined));
    const out = await transport(s.port).send(attempt({ recipients: [{ address: 'gone@example.net' }, { address: 'b@example.net' }] }));
    expect(out.map((o) => [o.status, o.code])).toEqual([
      ['permanent', 550],
      ['temporary', 451],
    ]);
  });

  it('a refusal in the middle of the data, then the end of the connection: the refusal counts', async () => {
    const s = await scripted((line) => (line === 'DATA' ? 'close:354 go ahead\r\n552 5.3.4 message too big' : undefined), { ehlo: ['8BITMIME'] });
    const body = Buffer.alloc(8 * 1024 * 1024, 'abcdefgh\r\n');
    const out = await transport(s.port).send(attempt({ body }));
    expect(out[0]).toMatchObject({ status: 'permanent', code: 552, enhanced: '5.3.4', message: 'message too big' });
  });

  it('a reply line without end: a protocol error, not unbounded memory', async () => {
    const s = await scripted((line) => (line.startsWith('MAIL') ? `250-${'x'.repeat(100_000)}` : undefined));
    const out = await transport(s.port).send(attempt());
    expect(out[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.5.0' });
  });

  it('a reply of endless continuation lines: a protocol error', async () => {
    const s = await scripted((line) => (line.startsWith('EHLO') ? Array.from({ length: 500 }, () => '250-X').join('\r\n') : undefined));
    const out = await transport(s.port).send(attempt());
    expect(out[0]).toMatchObject({ status: 'temporary', enhanced: '4.5.0' });
  });

  it('an envelope with CR LF is refused before any command (no SMTP command injection)', async () => {
    const s = await scripted();
    const out = await transport(s.port).send(attempt({ recipients: [{ address: 'a@example.net>\r\nRCPT TO:<evil@example.net' }, { address: 'ok@example.net' }] }));
    expect(out[0]).toMatchObject({ status: 'permanent', code: 501, enhanced: '5.1.3' });
    expect(out[1].status).toBe('delivered');
    expect(s.lines.filter((l) => l.startsWith('RCPT'))).toEqual(['RCPT TO:<ok@example.net>']);
    const bad = await transport(s.port).send(attempt({ from: 'x\r\nDATA' }));
    expect(bad[0]).toMatchObject({ status: 'permanent', enhanced: '5.1.7' });
  });
});

describe('smarthost (RFC 8314, RFC 4954)', () => {
  async function authSink(secure: boolean) {
    const auths: { user?: string; pass?: string | null; method: string }[] = [];
    const s = await sink({
      secure,
      disabledCommands: [],
      authOptional: false,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        auths.push({ user: auth.username, pass: auth.password, method: auth.method });
        if (auth.username === 'relay' && auth.password === 'sekret') return cb(null, { user: 'relay' });
        cb(smtpError(535, '5.7.8 Authentication credentials invalid'));
      },
    });
    return { s, auths };
  }

  it('implicit TLS and AUTH PLAIN; no MX lookup', async () => {
    const { s, auths } = await authSink(true);
    const before = dns.queries.length;
    const t = transport(9, { smarthost: { host: '127.0.0.1', port: s.port, secure: true, auth: { user: 'relay', pass: 'sekret' } } });
    const out = await t.send(attempt({ domain: 'far-away.example', recipients: [{ address: 'x@far-away.example' }] }));
    expect(out[0]).toMatchObject({ status: 'delivered', remoteMta: '127.0.0.1' });
    expect(auths).toEqual([{ user: 'relay', pass: 'sekret', method: 'PLAIN' }]);
    expect(s.messages[0]).toMatchObject({ secure: true, user: 'relay' });
    expect(dns.queries.length).toBe(before);
  });

  it('STARTTLS then AUTH, by host name', async () => {
    const { s, auths } = await authSink(false);
    const t = transport(9, { smarthost: { host: 'relay.example', port: s.port, secure: false, auth: { user: 'relay', pass: 'sekret' } } });
    const out = await t.send(attempt());
    expect(out[0]).toMatchObject({ status: 'delivered', remoteMta: 'relay.example' });
    expect(auths).toHaveLength(1);
    expect(s.messages[0].secure).toBe(true);
  });

  it('a verified smarthost: its certificate is checked against the configured CA; an untrusted one is refused without falling back to clear text', async () => {
    const { s } = await authSink(false);
    // The sink's certificate names mx.example.net, which the test DNS points at 127.0.0.1.
    const good = transport(9, { smarthost: { host: 'mx.example.net', port: s.port, secure: false, auth: { user: 'relay', pass: 'sekret' }, verify: { ca: tlsCert } } });
    const ok = await good.send(attempt());
    expect(ok[0]).toMatchObject({ status: 'delivered' });
    expect(s.messages[0].secure).toBe(true);
    const untrusted = transport(9, { smarthost: { host: 'mx.example.net', port: s.port, secure: false, auth: { user: 'relay', pass: 'sekret' }, verify: {} } });
    const no = await untrusted.send(attempt());
    expect(no[0].status).toBe('temporary');
    expect(s.messages).toHaveLength(1); // nothing sent without a trusted TLS session
    const wrongName = transport(9, { smarthost: { host: 'relay.example', port: s.port, secure: false, auth: { user: 'relay', pass: 'sekret' }, verify: { ca: tlsCert } } });
    expect((await wrongName.send(attempt()))[0].status).toBe('temporary');
    expect(s.messages).toHaveLength(1);
  });

  it('refused credentials: temporary, the mail stays queued', async () => {
    const { s } = await authSink(true);
    const t = transport(9, { smarthost: { host: '127.0.0.1', port: s.port, secure: true, auth: { user: 'relay', pass: 'wrong' } } });
    const out = await t.send(attempt());
    expect(out[0]).toMatchObject({ status: 'temporary', code: 451, enhanced: '4.7.8' });
    expect(out[0].message).toContain('535');
    expect(s.messages).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------
// The pure parts.

describe('outbound-wire', () => {
  const EMPTY = Buffer.alloc(0);

  it('reads multi-line replies, enhanced codes, split chunks and bare LF', () => {
    const r = new ReplyReader();
    expect(r.push(Buffer.from('250-mx.example.net hi\r\n250-SIZE 1000\r'))).toEqual([]);
    expect(r.push(Buffer.from('\n250 8BITMIME\r\n550 5.1.1 No such user\n250\r\n'))).toEqual([
      { code: 250, enhanced: null, lines: ['mx.example.net hi', 'SIZE 1000', '8BITMIME'] },
      { code: 550, enhanced: '5.1.1', lines: ['No such user'] },
      { code: 250, enhanced: null, lines: [''] },
    ]);
    expect(r.push(EMPTY)).toEqual([]);
    // RFC 3463 §2: an enhanced code of another class is just text.
    expect(new ReplyReader().push(Buffer.from('550 2.0.0 odd\r\n'))[0]).toEqual({ code: 550, enhanced: null, lines: ['2.0.0 odd'] });
  });

  it('refuses malformed, mixed-code and overlong replies', () => {
    for (const bad of ['hello\r\n', '250-a\r\n251 b\r\n', '999 x\r\n', `250 ${'x'.repeat(5000)}\r\n`]) {
      expect(() => new ReplyReader().push(Buffer.from(bad))).toThrow(SmtpConnectionError);
    }
    expect(() => new ReplyReader(100).push(Buffer.from('2'.repeat(101)))).toThrow(SmtpConnectionError);
  });

  it('parses EHLO keywords', () => {
    const caps = parseCapabilities({ code: 250, enhanced: null, lines: ['mx hello', 'SIZE 35882577', 'auth PLAIN LOGIN', 'AUTH=LOGIN', 'STARTTLS'] });
    expect([...caps]).toEqual([
      ['SIZE', '35882577'],
      ['AUTH', 'PLAIN LOGIN'],
      ['STARTTLS', ''],
    ]);
  });

  it('formats MAIL and RCPT with xtext (RFC 3461 §4)', () => {
    expect(mailCommand('', { size: 10, eightBitMime: true, smtputf8: true, ret: 'FULL', envid: 'a+b=c d' })).toBe('MAIL FROM:<> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=a+2Bb+3Dc+20d');
    expect(rcptCommand('b@x', { notify: ['DELAY', 'NEVER'], orcpt: 'b@x' })).toBe('RCPT TO:<b@x> NOTIFY=NEVER ORCPT=rfc822;b@x');
    expect(formatOrcpt('rfc822; a+b@x')).toBe('rfc822;a+2Bb@x');
    // RFC 6533 §3: utf-8-addr-xtext.
    expect(formatOrcpt('josé+x@example.net')).toBe('utf-8;jos\\x{E9}\\x{2B}x@example.net');
  });

  it('dot-stuffs: the receiver reads the message back, and it cannot end early (RFC 5321 §4.5.2)', () => {
    expect(encodeData(EMPTY).toString()).toBe('.\r\n');
    expect(encodeData(Buffer.from('.')).toString()).toBe('..\r\n.\r\n');
    expect(encodeData(Buffer.from('a\r\n.\r\nb\r\n')).toString()).toBe('a\r\n..\r\nb\r\n.\r\n');
    fc.assert(
      fc.property(fc.array(fc.constantFrom('.', '\r', '\n', '\r\n', 'a', '..', '\xe9'), { maxLength: 40 }), (parts) => {
        const body = Buffer.from(parts.join(''), 'latin1');
        const wire = encodeData(body);
        const text = wire.toString('latin1');
        // The terminator appears once, at the end; every CR is followed by LF and every LF preceded by CR.
        expect(text.indexOf('\r\n.\r\n') === -1 || text.indexOf('\r\n.\r\n') === text.length - 5).toBe(true);
        expect(/\r(?!\n)|(?<!\r)\n/.test(text)).toBe(false);
        // What the receiver reads is the body with its line ends made CRLF and the last line ended.
        let normalised = body.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
        if (normalised !== '' && !normalised.endsWith('\r\n')) normalised += '\r\n';
        expect(unstuff(wire).toString('latin1')).toBe(normalised);
      }),
    );
  });
});

describe('test DNS server (RFC 1035 §4.1)', () => {
  it('answers FORMERR to a truncated question and stays silent for a response', () => {
    const q = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x61]);
    const r = respond({}, q)!;
    expect(r.readUInt16BE(0)).toBe(0x1234);
    expect(r.readUInt16BE(2) & 0xf).toBe(1);
    expect(respond({}, Buffer.from([0, 0, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0]))).toBeNull();
  });

  it('resolves AAAA through node:dns', async () => {
    const local = await startDns({ 'v6.example': { AAAA: ['2001:db8::1', '::ffff:192.0.2.1'] } });
    cleanups.push(() => local.close());
    const r = createResolver({ servers: [local.server], timeoutMs: 500, tries: 1 });
    expect(await r.addresses('v6.example')).toEqual(['2001:db8::1', '::ffff:192.0.2.1']);
    expect(await r.addresses('none.example')).toBe('nxdomain');
    expect(await r.addresses('192.0.2.7')).toEqual(['192.0.2.7']);
  });
});
