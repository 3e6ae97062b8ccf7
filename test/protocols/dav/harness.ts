/**
 * Test helpers for the DAV suites: a real server in-process (the SMTP harness's
 * startTestServer, every listener on loopback) and a small raw HTTP client, so tests see the
 * exact status, headers and body a CalDAV/CardDAV client sees. `dav.req('PROPFIND', path,
 * { body, headers })` authenticates as the given account with HTTP Basic.
 */
import http from 'node:http';
import https from 'node:https';
import { startTestServer, addAccount, trackPorts, PASSWORD, DOMAIN, type TestServer } from '../smtp/harness.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

export { PASSWORD, DOMAIN, addAccount };

export interface DavTestServer extends TestServer {
  httpPort: number;
  httpsPort: number;
}

/** A server whose HTTP listener accepts logins without TLS (auth.require_tls off), unless env says otherwise. */
export async function startDavServer(env: Record<string, string> = {}): Promise<DavTestServer> {
  const ts = (await startTestServer({ BULWARK_AUTH_REQUIRE_TLS: 'false', ...env })) as DavTestServer;
  return trackPorts(ts, (t) => {
    t.httpPort = t.running.listening.find((l) => l.name === 'http')!.port;
    t.httpsPort = t.running.listening.find((l) => l.name === 'https')!.port;
  });
}

export interface DavResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface ReqOpts {
  body?: string;
  headers?: Record<string, string>;
  /** false: no Authorization header; a pair: these credentials. */
  auth?: false | { user: string; password: string };
}

export class DavClient {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly secure: boolean;
  constructor(port: number, user: string, password = PASSWORD, secure = false) {
    this.port = port;
    this.user = user;
    this.password = password;
    this.secure = secure;
  }

  get base(): string {
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  req(method: string, path: string, opts: ReqOpts = {}): Promise<DavResponse> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const auth = opts.auth === undefined ? { user: this.user, password: this.password } : opts.auth;
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    if (opts.body !== undefined) {
      headers['content-length'] = String(Buffer.byteLength(opts.body));
      headers['content-type'] ??= 'application/xml; charset=utf-8';
    }
    const lib = this.secure ? https : http;
    return new Promise((resolve, reject) => {
      const r = lib.request({ host: '127.0.0.1', port: this.port, method, path, headers, rejectUnauthorized: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      r.on('error', reject);
      if (opts.body !== undefined) r.write(opts.body);
      r.end();
    });
  }

  propfind(path: string, props: string[] | 'allprop', depth: '0' | '1' = '0', extraNs = ''): Promise<DavResponse> {
    const inner = props === 'allprop' ? '<d:allprop/>' : `<d:prop>${props.join('')}</d:prop>`;
    return this.req('PROPFIND', path, {
      headers: { depth },
      body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/" xmlns:a="http://apple.com/ns/ical/"${extraNs}>${inner}</d:propfind>`,
    });
  }

  report(path: string, body: string, depth: '0' | '1' = '1'): Promise<DavResponse> {
    return this.req('REPORT', path, { headers: { depth }, body });
  }

  put(path: string, data: string, headers: Record<string, string> = {}): Promise<DavResponse> {
    return this.req('PUT', path, { body: data, headers: { 'content-type': path.endsWith('.vcf') ? 'text/vcard; charset=utf-8' : 'text/calendar; charset=utf-8', ...headers } });
  }
}

export function davClient(ts: DavTestServer, account: AccountInfo | string, opts: { secure?: boolean; password?: string } = {}): DavClient {
  const user = typeof account === 'string' ? account : account.address;
  return new DavClient(opts.secure ? ts.httpsPort : ts.httpPort, user, opts.password ?? PASSWORD, opts.secure ?? false);
}

/** The hrefs of a multistatus, in order. */
export function hrefs(xml: string): string[] {
  return [...xml.matchAll(/<d:href>([^<]*)<\/d:href>/g)].map((m) => m[1]);
}

/** The DAV:response elements of a multistatus, each as its XML text, keyed by href. */
export function responses(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of xml.matchAll(/<d:response>([\s\S]*?)<\/d:response>/g)) {
    const h = /<d:href>([^<]*)<\/d:href>/.exec(m[1]);
    if (h) out.set(h[1], m[1]);
  }
  return out;
}

/** A simple VEVENT calendar object. */
export function vevent(uid: string, opts: { start?: string; end?: string; summary?: string; rrule?: string; extra?: string[] } = {}): string {
  return [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bulwark tests//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20260101T000000Z',
    `DTSTART:${opts.start ?? '20261201T100000Z'}`, `DTEND:${opts.end ?? '20261201T110000Z'}`, `SUMMARY:${opts.summary ?? 'Meeting'}`,
    ...(opts.rrule ? [`RRULE:${opts.rrule}`] : []), ...(opts.extra ?? []), 'END:VEVENT', 'END:VCALENDAR', '',
  ].join('\r\n');
}

export function vtodo(uid: string, opts: { due?: string; summary?: string; status?: string } = {}): string {
  return [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bulwark tests//EN', 'BEGIN:VTODO', `UID:${uid}`, 'DTSTAMP:20260101T000000Z',
    `DUE:${opts.due ?? '20261210T170000Z'}`, `SUMMARY:${opts.summary ?? 'Task'}`, `STATUS:${opts.status ?? 'NEEDS-ACTION'}`, 'END:VTODO', 'END:VCALENDAR', '',
  ].join('\r\n');
}

export function vcard(uid: string, fn: string, opts: { email?: string; version?: '3.0' | '4.0' } = {}): string {
  return ['BEGIN:VCARD', `VERSION:${opts.version ?? '3.0'}`, `UID:${uid}`, `FN:${fn}`, `N:${fn.split(' ').reverse().join(';')};;;`,
    ...(opts.email ? [`EMAIL;TYPE=INTERNET:${opts.email}`] : []), 'END:VCARD', ''].join('\r\n');
}
