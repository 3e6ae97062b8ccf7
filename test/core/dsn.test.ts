/**
 * Issue 3 (mail transport): the DSN builder (src/core/mail/dsn.ts) against RFC 3464 (the
 * message/delivery-status format), RFC 6522 (multipart/report), RFC 3461 §4.3 and §6 (what
 * a DSN returns and which fields it carries) and RFC 6533 (internationalised reports).
 * Pure: no store involved; the queue tests (test/core/queue.test.ts) check when DSNs are
 * sent, on both engines.
 */
import { describe, expect, it } from 'vitest';
import { buildDsn, type DsnInput, type DsnRecipient } from '../../src/core/mail/dsn.ts';
import { parseMessage, type MimePart } from '../../src/lib/mime/index.ts';

const HOST = 'mx.test.example';
const NOW = Date.UTC(2024, 4, 6, 12, 30, 15);
const ARRIVED = Date.UTC(2024, 4, 1, 8, 0, 0);

function original(opts: { body?: string; extraHeaders?: string[] } = {}): Buffer {
  return Buffer.from([
    'Received: from client.example by mx.test.example; Wed, 1 May 2024 08:00:00 +0000',
    'From: Alice <alice@a.example>',
    'To: bob@remote.example',
    'Subject: Quarterly figures',
    'Message-ID: <orig-1@a.example>',
    ...(opts.extraHeaders ?? []),
    '',
    opts.body ?? 'The figures are attached in spirit.',
    '',
  ].join('\r\n'));
}

const failed = (over: Partial<DsnRecipient> = {}): DsnRecipient => ({
  address: 'bob@remote.example', action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 <bob@remote.example>: no such user', remoteMta: 'mx.remote.example', ...over,
});

function build(over: Partial<DsnInput> = {}): Buffer {
  return buildDsn({ reportingMta: HOST, to: 'alice@a.example', arrivalDate: ARRIVED, recipients: [failed()], original: original(), now: NOW, ...over });
}

const text = (raw: Buffer, p: MimePart) => raw.subarray(p.headerEnd, p.bodyEnd).toString('utf8');

function fields(block: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    if (!l) continue;
    const i = l.indexOf(':');
    expect(i, `a field line: ${l}`).toBeGreaterThan(0);
    const name = l.slice(0, i).toLowerCase();
    expect(m.has(name), `field ${name} once per block`).toBe(false);
    m.set(name, l.slice(i + 1).trim());
  }
  return m;
}

function dissect(raw: Buffer) {
  const m = parseMessage(raw);
  expect(`${m.part.type}/${m.part.subtype}`).toBe('multipart/report');
  expect(m.part.params['report-type']).toBe('delivery-status');
  expect(m.part.parts).toHaveLength(3);
  const [human, status, returned] = m.part.parts;
  const blocks = text(raw, status).split(/\r\n\r\n/).filter((b) => b.trim() !== '');
  return {
    m,
    human: text(raw, human),
    humanType: `${human.type}/${human.subtype}`,
    statusType: `${status.type}/${status.subtype}`,
    perMessage: fields(blocks[0]),
    perRecipient: blocks.slice(1).map(fields),
    returnedType: `${returned.type}/${returned.subtype}`,
    returned: raw.subarray(returned.headerEnd, returned.bodyEnd),
  };
}

describe('buildDsn', () => {
  it('RFC 6522/3464: a multipart/report (report-type=delivery-status) of text/plain, message/delivery-status and the returned message', () => {
    const raw = build();
    const d = dissect(raw);
    expect(d.humanType).toBe('text/plain');
    expect(d.statusType).toBe('message/delivery-status');
    expect(d.returnedType).toBe('message/rfc822');
    const h = d.m.part.headers;
    const get = (n: string) => h.find((x) => x.name.toLowerCase() === n)?.value;
    expect(get('from')).toBe(`Mail Delivery System <MAILER-DAEMON@${HOST}>`);
    expect(get('to')).toBe('<alice@a.example>');
    expect(get('subject')).toBe('Undelivered Mail Returned to Sender');
    expect(get('auto-submitted')).toBe('auto-replied'); // RFC 3834 §5
    expect(get('mime-version')).toBe('1.0');
    expect(get('date')).toBe('Mon, 6 May 2024 12:30:15 +0000');
    expect(get('message-id')).toMatch(new RegExp(`^<[0-9a-f]+@${HOST.replace(/\./g, '\\.')}>$`));
    expect(d.human).toContain('<bob@remote.example>: failed (550 5.1.1 <bob@remote.example>: no such user)');
  });

  it('RFC 5322 §2.3: CRLF line ends only; every report has its own Message-ID and a valid boundary', () => {
    const a = build();
    const b = build();
    for (const raw of [a, b]) {
      const s = raw.toString('latin1');
      expect(s.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      const boundary = parseMessage(raw).part.params.boundary;
      // RFC 2046 §5.1.1: 1 to 70 bchars, not ending in a space.
      expect(boundary).toMatch(/^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/);
      expect(s.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
    }
    const id = (raw: Buffer) => parseMessage(raw).messageId;
    expect(id(a)).not.toBe(id(b));
    expect(parseMessage(a).part.params.boundary).not.toBe(parseMessage(b).part.params.boundary);
  });

  it('RFC 3464 §2.2 / RFC 3461 §6.3: per-message fields Reporting-MTA, Original-Envelope-Id (decoded ENVID) and Arrival-Date', () => {
    const d = dissect(build({ envid: 'QQ+314159' }));
    expect([...d.perMessage.keys()]).toEqual(['reporting-mta', 'original-envelope-id', 'arrival-date']);
    expect(d.perMessage.get('reporting-mta')).toBe(`dns; ${HOST}`);
    expect(d.perMessage.get('original-envelope-id')).toBe('QQ+314159');
    expect(d.perMessage.get('arrival-date')).toBe('Wed, 1 May 2024 08:00:00 +0000');
    expect(dissect(build({ envid: null })).perMessage.has('original-envelope-id')).toBe(false);
  });

  it('RFC 3464 §2.3 / RFC 3461 §6.3: per-recipient fields; Original-Recipient exactly when ORCPT was given', () => {
    const d = dissect(build({
      recipients: [
        failed({ orcpt: 'rfc822;Bob@Remote.example' }),
        failed({ address: 'carol@remote.example', status: '5.2.2', diagnostic: '552 5.2.2 mailbox full', remoteMta: null }),
      ],
    }));
    expect(d.perRecipient).toHaveLength(2);
    const [bob, carol] = d.perRecipient;
    expect(Object.fromEntries(bob)).toEqual({
      'original-recipient': 'rfc822; Bob@Remote.example',
      'final-recipient': 'rfc822; bob@remote.example',
      action: 'failed',
      status: '5.1.1',
      'remote-mta': 'dns; mx.remote.example',
      'diagnostic-code': 'smtp; 550 5.1.1 <bob@remote.example>: no such user',
      'last-attempt-date': 'Mon, 6 May 2024 12:30:15 +0000',
    });
    expect(carol.has('original-recipient')).toBe(false);
    expect(carol.has('remote-mta')).toBe(false);
    expect(carol.get('status')).toBe('5.2.2');
  });

  it('a "delayed" report says so, carries Will-Retry-Until and returns only the headers', () => {
    const until = ARRIVED + 120 * 3_600_000;
    const raw = build({ ret: 'FULL', recipients: [failed({ action: 'delayed', status: '4.4.1', diagnostic: '451 4.4.1 try later', willRetryUntil: until })] });
    const d = dissect(raw);
    expect(d.m.subject).toBe('Delayed Mail (still being retried)');
    expect(d.perRecipient[0].get('action')).toBe('delayed');
    expect(d.perRecipient[0].get('will-retry-until')).toBe('Mon, 6 May 2024 08:00:00 +0000');
    expect(d.human).toMatch(/keep trying/);
    expect(d.human).toContain('will retry until Mon, 6 May 2024 08:00:00 +0000');
    expect(d.returnedType).toBe('text/rfc822-headers');
  });

  it('a success report ("relayed"/"delivered") says delivered, not "not delivered yet", and returns only the headers', () => {
    for (const action of ['relayed', 'delivered'] as const) {
      const d = dissect(build({ recipients: [failed({ action, status: '2.0.0', diagnostic: '250 2.0.0 ok' })] }));
      expect(d.m.subject).toBe('Successful Mail Delivery Report');
      expect(d.human).not.toMatch(/not been delivered|could not be delivered/);
      expect(d.human).toMatch(/delivered/);
      expect(d.returnedType).toBe('text/rfc822-headers');
      expect(d.returned.toString()).not.toContain('The figures');
    }
  });

  it('RFC 3461 §4.3: RET=HDRS returns the header section only; RET=FULL and no RET return the whole message', () => {
    const orig = original();
    const hdrs = dissect(build({ ret: 'HDRS' }));
    expect(hdrs.returnedType).toBe('text/rfc822-headers');
    // The header section; its last CRLF belongs to the closing delimiter (RFC 2046 §5.1.1).
    expect(hdrs.returned.toString()).toBe(orig.subarray(0, orig.indexOf('\r\n\r\n')).toString());
    expect(hdrs.returned.toString()).not.toContain('The figures');
    for (const ret of ['FULL', null] as const) {
      const full = dissect(build({ ret }));
      expect(full.returnedType).toBe('message/rfc822');
      // Byte for byte (the CRLF before the closing delimiter belongs to the delimiter).
      expect(full.returned.equals(orig.subarray(0, -2))).toBe(true);
      expect(full.m.part.parts[2].message?.envelope.subject).toBe('Quarterly figures');
    }
  });

  it('without RET a large original comes back as headers only; RET=FULL returns it whole', () => {
    const big = original({ body: 'x'.repeat(300 * 1024) });
    expect(dissect(build({ original: big })).returnedType).toBe('text/rfc822-headers');
    const full = dissect(build({ original: big, ret: 'FULL' }));
    expect(full.returnedType).toBe('message/rfc822');
    expect(full.returned.byteLength).toBe(big.byteLength - 2);
  });

  it('an original without a final CRLF, or without a body, still gives a well-formed report', () => {
    for (const orig of [Buffer.from('Subject: no newline\r\n\r\nbody without end'), Buffer.from('Subject: header only\r\n')]) {
      const raw = build({ original: orig });
      const d = dissect(raw);
      expect(d.returned.toString()).toContain('Subject:');
      expect(raw.toString('latin1').replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    }
  });

  it('a remote reply cannot add fields: CR and LF in values stay on one line', () => {
    const raw = build({
      envid: 'E1\r\nX-Injected-Envid: 1',
      recipients: [failed({ diagnostic: '550 5.1.1 bad\r\nAction: delivered\r\n\r\nX-Injected: yes', remoteMta: 'mx.remote.example\r\nX-Host: 1' })],
    });
    const d = dissect(raw);
    expect(d.perRecipient).toHaveLength(1);
    expect(d.perRecipient[0].get('action')).toBe('failed');
    expect(d.perRecipient[0].has('x-injected')).toBe(false);
    expect(d.perMessage.has('x-injected-envid')).toBe(false);
    expect(raw.toString()).not.toMatch(/^X-(Injected|Host)/m);
  });

  it('message/delivery-status is US-ASCII (RFC 3464 §2.1.1): without SMTPUTF8, non-ASCII is replaced', () => {
    const d = dissect(build({ recipients: [failed({ address: 'jörg@remote.example', diagnostic: '550 5.1.1 unbekannt: jörg' })] }));
    expect(d.statusType).toBe('message/delivery-status');
    expect(d.perRecipient[0].get('final-recipient')).toBe('rfc822; j?rg@remote.example');
    expect(d.perRecipient[0].get('diagnostic-code')).toBe('smtp; 550 5.1.1 unbekannt: j?rg');
  });

  it('RFC 6533: with SMTPUTF8 and an internationalised address, message/global-delivery-status with address type utf-8', () => {
    const orig = Buffer.from('From: jörg@a.example\r\nTo: zoë@remote.example\r\nSubject: grüße\r\n\r\nHallo\r\n');
    const d = dissect(build({ smtputf8: true, to: 'jörg@a.example', original: orig, recipients: [failed({ address: 'zoë@remote.example', orcpt: 'utf-8;zoë@remote.example' })] }));
    expect(d.statusType).toBe('message/global-delivery-status');
    expect(d.perRecipient[0].get('final-recipient')).toBe('utf-8; zoë@remote.example');
    expect(d.perRecipient[0].get('original-recipient')).toBe('utf-8; zoë@remote.example');
    expect(d.returnedType).toBe('message/global');
    expect(d.returned.toString()).toContain('Subject: grüße');
    // An ASCII-only report stays message/delivery-status even under SMTPUTF8.
    expect(dissect(build({ smtputf8: true })).statusType).toBe('message/delivery-status');
  });
});
