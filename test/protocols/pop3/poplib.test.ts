/**
 * Interop with an independent real client: Python's poplib, over STLS on the pop3 port and
 * over implicit TLS (POP3_SSL) on the pop3s port, against a server started as `bulwark serve`
 * starts it (auth.require_tls on, its default).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { addAccount, deliver, message, runPython, startPop3Server, DOMAIN, PASSWORD, type Pop3TestServer } from './harness.ts';

/** A poplib session as a script: each step's result goes into `out`, printed as JSON. */
const SESSION = String.raw`
import json, poplib, ssl, sys
a = json.loads(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the test installation's certificate is self-signed
out = {}
def dec(lines): return [l.decode('latin1') for l in lines]
def login(tag):
    if a['ssl']:
        p = poplib.POP3_SSL('127.0.0.1', a['port'], context=ctx, timeout=30)
    else:
        p = poplib.POP3('127.0.0.1', a['port'], timeout=30)
        out[tag + '_capa_plain'] = p.capa()
        p.stls(ctx)
    out[tag + '_welcome'] = p.getwelcome().decode()
    out[tag + '_capa'] = p.capa()
    out[tag + '_user'] = p.user(a['user']).decode()
    out[tag + '_pass'] = p.pass_(a['password']).decode()
    return p
p = login('s1')
out['stat'] = list(p.stat())
resp, lst, _ = p.list(); out['list'] = [resp.decode()] + dec(lst)
resp, lst, _ = p.uidl(); out['uidl'] = dec(lst)
out['uidl2'] = p.uidl(2).decode()
resp, lines, octets = p.retr(1); out['retr1'] = {'resp': resp.decode(), 'lines': dec(lines), 'octets': octets}
resp, lines, octets = p.top(2, 1); out['top2'] = {'resp': resp.decode(), 'lines': dec(lines)}
if a['dele']:
    out['dele'] = p.dele(1).decode()
    try:
        p.retr(1)
        out['retr_deleted'] = 'no error'
    except poplib.error_proto as e:
        out['retr_deleted'] = e.args[0].decode()
out['quit'] = p.quit().decode()
p = login('s2')
out['stat_after'] = list(p.stat())
resp, lst, _ = p.uidl(); out['uidl_after'] = dec(lst)
p.quit()
print(json.dumps(out))
`;

interface Result {
  s1_capa_plain?: Record<string, string[]>;
  s1_capa: Record<string, string[]>;
  s1_welcome: string;
  s1_user: string;
  s1_pass: string;
  stat: [number, number];
  list: string[];
  uidl: string[];
  uidl2: string;
  retr1: { resp: string; lines: string[]; octets: number };
  top2: { resp: string; lines: string[] };
  dele?: string;
  retr_deleted?: string;
  quit: string;
  stat_after: [number, number];
  uidl_after: string[];
}

describe("Python's poplib as the client", () => {
  let ts: Pop3TestServer;
  let alice: AccountInfo;
  let bob: AccountInfo;
  const m1 = message(['From: carol@example.net', 'Subject: one', '', 'first body', '.starts with a dot', 'last']);
  const m2 = message(['From: carol@example.net', 'Subject: two', '', 'line 1', 'line 2', 'line 3']);
  const m3 = message(['Subject: three', '', 'x']);

  beforeAll(async () => {
    ts = await startPop3Server();
    alice = await addAccount(ts.app, 'alice');
    bob = await addAccount(ts.app, 'bob');
    for (const a of [alice, bob]) for (const m of [m1, m2, m3]) await deliver(ts, a, m);
  });
  afterAll(async () => {
    await ts?.cleanup();
  });

  it('RFC 1939 §5-§7, RFC 2595 §4: STLS, CAPA, USER/PASS, STAT, LIST, UIDL, RETR, TOP, DELE, QUIT; a new session no longer sees the deleted message', async () => {
    const inbox = await ts.app.mailboxes.get(alice, 'INBOX');
    const rows = await ts.app.messages.rows(alice, inbox.id, [[1, 0xffffffff]]);
    const r = await runPython<Result>(SESSION, { port: ts.pop3Port, ssl: false, dele: true, user: `alice@${DOMAIN}`, password: PASSWORD });

    // GW-CRY-1: before STLS no way to log in is offered; after it, USER and SASL PLAIN.
    expect(Object.keys(r.s1_capa_plain!)).toContain('STLS');
    expect(Object.keys(r.s1_capa_plain!)).not.toContain('USER');
    expect(Object.keys(r.s1_capa_plain!)).not.toContain('SASL');
    expect(r.s1_capa).toMatchObject({ TOP: [], UIDL: [], USER: [], SASL: ['PLAIN'], 'RESP-CODES': [], 'AUTH-RESP-CODE': [], PIPELINING: [], IMPLEMENTATION: ['Bulwark'], EXPIRE: ['NEVER'], 'LOGIN-DELAY': ['0'] });
    expect(r.s1_capa).not.toHaveProperty('STLS');
    expect(r.s1_capa).not.toHaveProperty('APOP');
    expect(r.s1_welcome).toMatch(/^\+OK /);
    expect(r.s1_pass).toMatch(/^\+OK/);

    const sizes = [m1, m2, m3].map((m) => Buffer.byteLength(m));
    expect(r.stat).toEqual([3, sizes[0] + sizes[1] + sizes[2]]);
    expect(r.list.slice(1)).toEqual(sizes.map((s, i) => `${i + 1} ${s}`));
    expect(r.uidl).toEqual(rows.map((row, i) => `${i + 1} ${inbox.uidvalidity}.${row.uid}`));
    expect(r.uidl2).toBe(`+OK 2 ${inbox.uidvalidity}.${rows[1].uid}`);

    // RETR: the stored message, unstuffed by the client; octets counted with CRLF (RFC 1939 §11).
    expect(r.retr1.resp).toBe(`+OK ${sizes[0]} octets`);
    expect(r.retr1.lines).toEqual(['From: carol@example.net', 'Subject: one', '', 'first body', '.starts with a dot', 'last']);
    expect(r.retr1.octets).toBe(sizes[0]); // poplib counts the lines with CRLF, the stuffed dot not
    expect(r.top2.lines).toEqual(['From: carol@example.net', 'Subject: two', '', 'line 1']);

    expect(r.dele).toMatch(/^\+OK/);
    expect(r.retr_deleted).toMatch(/^-ERR/);
    expect(r.quit).toMatch(/^\+OK/);

    // RFC 1939 §6: UPDATE removed message 1; the others are numbered from 1 again, same UIDs.
    expect(r.stat_after).toEqual([2, sizes[1] + sizes[2]]);
    expect(r.uidl_after).toEqual(rows.slice(1).map((row, i) => `${i + 1} ${inbox.uidvalidity}.${row.uid}`));
    const left = await ts.app.messages.rows(alice, inbox.id, [[1, 0xffffffff]]);
    expect(left.map((x) => x.uid)).toEqual(rows.slice(1).map((x) => x.uid));
    // What RETR sent and QUIT kept got \Seen; TOP does not count as reading.
    expect(left[0].flags).not.toContain('\\Seen');
  });

  it('RFC 8314: POP3_SSL on the pop3s port: login, STAT, LIST, UIDL, RETR, TOP, QUIT; RETR marks \\Seen at QUIT', async () => {
    const r = await runPython<Result>(SESSION, { port: ts.pop3sPort, ssl: true, dele: false, user: `bob@${DOMAIN}`, password: PASSWORD });
    expect(r.s1_capa).toMatchObject({ USER: [], SASL: ['PLAIN'] });
    expect(r.s1_capa).not.toHaveProperty('STLS');
    expect(r.stat[0]).toBe(3);
    expect(r.retr1.lines[1]).toBe('Subject: one');
    expect(r.stat_after[0]).toBe(3);
    const inbox = await ts.app.mailboxes.get(bob, 'INBOX');
    const rows = await ts.app.messages.rows(bob, inbox.id, [[1, 0xffffffff]]);
    expect(rows.map((x) => x.flags.includes('\\Seen'))).toEqual([true, false, false]);
  });
});
