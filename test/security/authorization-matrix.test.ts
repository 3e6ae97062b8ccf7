/**
 * The authorization matrix (issue 6 point 4), table-driven. Account A probes account B's data
 * over each protocol with every method that could read, change, delete or reveal it: each
 * probe must get exactly the answer it gets for an account that does not exist (so nothing is
 * learnt, not even existence), and B's data must be unchanged afterwards. Then what B shares
 * read-only is readable and nothing more. Last, administration by role: a user cannot
 * administer, a domain-admin only its own domain, an admin everything.
 * (Revocation of sessions: revocation.test.ts; the IMAP ACL and DAV sharing in detail: their
 * protocol tests.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actor as system, addAccount, b64, ehloClient, startTestServer, PASSWORD, type TestServer } from '../protocols/smtp/harness.ts';
import { ImapTestClient, message } from '../protocols/imap/harness.ts';
import { Pop3Client } from '../protocols/pop3/harness.ts';
import { DavClient, vcard, vevent, vtodo } from '../protocols/dav/harness.ts';
import { DomainError } from '../../src/core/errors.ts';
import type { Actor } from '../../src/core/actor.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

let ts: TestServer;
let a: AccountInfo;
let b: AccountInfo;
const NOBODY = 'nobody@example.org';
const port = (name: string) => ts.running.listening.find((l) => l.name === name)!.port;

beforeAll(async () => {
  ts = await startTestServer({ BULWARK_AUTH_REQUIRE_TLS: 'false' });
  a = await addAccount(ts.app, 'alice');
  b = await addAccount(ts.app, 'bob');
  // B's data: mail, a calendar event, a task, a contact.
  const c = await ImapTestClient.login(port('imap'), b);
  await c.ok('CREATE Private');
  for (const box of ['INBOX', 'Private']) {
    const lit = message({ subject: `b's ${box}` });
    await c.ok(`APPEND ${box} (\\Flagged) {${Buffer.byteLength(lit)}+}\r\n${lit}`);
  }
  await c.close();
  const d = new DavClient(port('http'), b.address);
  expect((await d.put(`/dav/calendars/${b.address}/calendar/e.ics`, vevent('b-event'))).status).toBe(201);
  expect((await d.put(`/dav/calendars/${b.address}/tasks/t.ics`, vtodo('b-task'))).status).toBe(201);
  expect((await d.put(`/dav/addressbooks/${b.address}/contacts/c.vcf`, vcard('b-card', 'Bob Card'))).status).toBe(201);
}, 60_000);
afterAll(async () => ts?.cleanup());

/** B's data as B sees it: mailboxes with their messages and flags, DAV resources with ETags. */
async function stateOfB(): Promise<string> {
  const c = await ImapTestClient.login(port('imap'), b);
  const out: string[] = [(await c.ok('LIST "" "*"')).lines.sort().join('|')];
  for (const box of ['INBOX', 'Private']) {
    await c.ok(`SELECT ${box}`);
    out.push((await c.ok('FETCH 1:* (UID FLAGS RFC822.SIZE)')).lines.join('|'));
  }
  await c.close();
  const d = new DavClient(port('http'), b.address);
  for (const coll of ['calendars/%s/calendar/', 'calendars/%s/tasks/', 'addressbooks/%s/contacts/']) {
    const r = await d.req('PROPFIND', `/dav/${coll.replace('%s', b.address)}`, { headers: { depth: '1' }, body: '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>' });
    out.push(r.body.replace(/<\?xml[^>]*>/, ''));
  }
  return out.join('\n');
}

describe('account A cannot read, change, delete or learn of account B\'s data', () => {
  it('IMAP: every command on B\'s mailboxes answers as for an account that does not exist', async () => {
    const before = await stateOfB();
    const c = await ImapTestClient.login(port('imap'), a);
    const lit = message({ subject: 'from a' });
    const mine = `{${Buffer.byteLength(lit)}+}\r\n${lit}`;
    await c.ok(`APPEND INBOX ${mine}`);
    await c.ok('SELECT INBOX');
    const probes = (owner: string) => [`SELECT "Shared/${owner}/INBOX"`, `EXAMINE "Shared/${owner}/Private"`, `STATUS "Shared/${owner}/INBOX" (MESSAGES UIDNEXT)`,
      `DELETE "Shared/${owner}/Private"`, `RENAME "Shared/${owner}/Private" Mine`, `GETACL "Shared/${owner}/INBOX"`, `MYRIGHTS "Shared/${owner}/INBOX"`,
      `SETACL "Shared/${owner}/INBOX" ${a.address} lrswipkxtea`, `LISTRIGHTS "Shared/${owner}/INBOX" ${a.address}`, `GETQUOTAROOT "Shared/${owner}/INBOX"`,
      `APPEND "Shared/${owner}/INBOX" ${mine}`, `COPY 1 "Shared/${owner}/INBOX"`, `MOVE 1 "Shared/${owner}/Private"`, `SUBSCRIBE "Shared/${owner}/INBOX"`,
      `LIST "Shared/${owner}/" "*"`, `LIST "" "Shared/${owner}*"`];
    // Each probe from the same state: A's own INBOX selected (a failed SELECT closes it, with * OK [CLOSED]).
    const answer = async (cmd: string) => {
      await c.ok('SELECT INBOX');
      const r = await c.cmd(cmd);
      return `${r.tagged.replace(/^\S+ /, '')} ${r.lines.filter((l) => !/^\* OK \[CLOSED\]/.test(l)).join('|')}`;
    };
    const real = probes(b.address);
    const ghost = probes(NOBODY);
    for (let i = 0; i < real.length; i++) {
      const got = await answer(real[i]);
      expect(got, real[i]).toBe((await answer(ghost[i])).replaceAll(NOBODY, b.address));
      // LIST answers OK with nothing listed; everything else is refused.
      if (real[i].startsWith('LIST ')) expect(got, real[i]).toBe('OK LIST completed ');
      else expect(got, real[i]).toMatch(/^(NO|BAD) /);
    }
    await c.close();
    expect(await stateOfB()).toBe(before);
  });

  it('CalDAV/CardDAV: every method on B\'s calendars, tasks and contacts answers as for an account that does not exist', async () => {
    const before = await stateOfB();
    const d = new DavClient(port('http'), a.address);
    const paths = (owner: string) => [`/dav/calendars/${owner}/`, `/dav/calendars/${owner}/calendar/`, `/dav/calendars/${owner}/calendar/e.ics`,
      `/dav/calendars/${owner}/tasks/t.ics`, `/dav/addressbooks/${owner}/contacts/`, `/dav/addressbooks/${owner}/contacts/c.vcf`, `/dav/calendars/${owner}/inbox/`];
    const methods: [string, (p: string) => Promise<{ status: number }>][] = [
      ['PROPFIND 0', (p) => d.req('PROPFIND', p, { headers: { depth: '0' } })],
      ['PROPFIND 1', (p) => d.req('PROPFIND', p, { headers: { depth: '1' } })],
      ['GET', (p) => d.req('GET', p)],
      ['PUT', (p) => d.put(p.endsWith('/') ? `${p}new.ics` : p, vevent('from-a'))],
      ['DELETE', (p) => d.req('DELETE', p)],
      ['PROPPATCH', (p) => d.req('PROPPATCH', p, { body: '<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>mine</d:displayname></d:prop></d:set></d:propertyupdate>' })],
      ['MKCALENDAR', (p) => d.req('MKCALENDAR', `${p.replace(/[^/]*$/, '')}made-by-a/`)],
      ['MOVE', (p) => d.req('MOVE', p, { headers: { destination: `/dav/calendars/${a.address}/calendar/moved.ics` } })],
      ['COPY', (p) => d.req('COPY', p, { headers: { destination: `/dav/calendars/${a.address}/calendar/copied.ics` } })],
      ['REPORT sync', (p) => d.report(p, '<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>', '0')],
      ['REPORT query', (p) => d.report(p, '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>')],
      ['POST share', (p) => d.req('POST', p, { headers: { 'content-type': 'application/xml' }, body: `<cs:share xmlns:cs="http://calendarserver.org/ns/" xmlns:d="DAV:"><cs:set><d:href>mailto:${a.address}</d:href><cs:read-write/></cs:set></cs:share>` })],
    ];
    const real = paths(b.address);
    const ghost = paths(NOBODY);
    for (const [name, run] of methods) {
      for (let i = 0; i < real.length; i++) {
        const got = (await run(real[i])).status;
        expect(got, `${name} ${real[i]}`).toBe((await run(ghost[i])).status);
        expect(got, `${name} ${real[i]}`).toBeGreaterThanOrEqual(400);
      }
    }
    // Named in a multiget on A's own calendar, B's resources are 404 too, never their data.
    const mg = await d.report(`/dav/calendars/${a.address}/calendar/`, `<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><d:href>/dav/calendars/${b.address}/calendar/e.ics</d:href></c:calendar-multiget>`);
    expect(mg.body).toContain('404 Not Found');
    expect(mg.body).not.toContain('b-event');
    // A's principal search finds B (the directory of the domain is for all), but no data of B's.
    expect(await stateOfB()).toBe(before);
  });

  it('POP3 and SMTP submission: A\'s password opens nothing of B\'s, and A cannot send as B', async () => {
    const p = await Pop3Client.connect(port('pop3'));
    const asB = await p.login(b.address, `${PASSWORD}`.replace(/.$/, 'X'));
    await p.quit();
    const p2 = await Pop3Client.connect(port('pop3'));
    expect(await p2.login(NOBODY, `${PASSWORD}`.replace(/.$/, 'X'))).toBe(asB);
    await p2.quit();
    const s = await ehloClient(port('submissions'), { tls: true });
    expect((await s.cmd(`AUTH PLAIN ${b64(`\0${a.address}\0${PASSWORD}`)}`)).code).toBe(235);
    const r = await s.cmd(`MAIL FROM:<${b.address}>`);
    expect(`${r.code} ${r.enhanced}`).toBe('553 5.7.1');
    await s.quit();
  });
});

describe('what B shares read-only, A reads and cannot change', () => {
  it('IMAP (ACL lr) and CalDAV (read-only share): reads answer, every change is refused, B\'s data is unchanged', async () => {
    const cb = await ImapTestClient.login(port('imap'), b);
    await cb.ok(`SETACL Private ${a.address} lr`);
    await cb.close();
    const db = new DavClient(port('http'), b.address);
    const share = await db.req('POST', `/dav/calendars/${b.address}/calendar/`, { headers: { 'content-type': 'application/xml' },
      body: `<cs:share xmlns:cs="http://calendarserver.org/ns/" xmlns:d="DAV:"><cs:set><d:href>mailto:${a.address}</d:href><cs:summary>x</cs:summary></cs:set></cs:share>` });
    expect(share.status).toBeLessThan(300);
    const before = await stateOfB();

    const c = await ImapTestClient.login(port('imap'), a);
    await c.ok(`EXAMINE "Shared/${b.address}/Private"`);
    await c.ok('FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
    await c.ok(`SELECT "Shared/${b.address}/Private"`);
    for (const cmd of ['STORE 1 +FLAGS (\\Deleted)', 'STORE 1 -FLAGS (\\Flagged)', 'EXPUNGE', 'MOVE 1 INBOX']) {
      const r = await c.cmd(cmd);
      // Read-only: the change is refused, or (STORE on a read-only mailbox) has no effect; nothing changes for B.
      expect(r.tagged, cmd).not.toMatch(/^\S+ BAD/);
    }
    await c.no(`SETACL "Shared/${b.address}/Private" ${a.address} lrswi`, 'NOPERM');
    await c.no(`DELETE "Shared/${b.address}/Private"`, 'NOPERM');
    const lit = message({ subject: 'into b' });
    await c.no(`APPEND "Shared/${b.address}/Private" {${Buffer.byteLength(lit)}+}\r\n${lit}`, 'NOPERM');
    await c.close();

    const d = new DavClient(port('http'), a.address);
    const mount = (await d.req('PROPFIND', `/dav/calendars/${a.address}/`, { headers: { depth: '1' } })).body.match(/\/dav\/calendars\/[^<]*\/(shared-[^/<]+)\//)?.[1];
    expect(mount).toBeTruthy();
    const base = `/dav/calendars/${a.address}/${mount}/`;
    expect((await d.req('GET', `${base}e.ics`)).status).toBe(200);
    expect((await d.put(`${base}e.ics`, vevent('b-event', { summary: 'changed by a' }))).status).toBe(403);
    expect((await d.put(`${base}new.ics`, vevent('from-a-2'))).status).toBe(403);
    expect((await d.req('DELETE', `${base}e.ics`)).status).toBe(403);
    // PROPPATCH answers 207 with the refusal per property (RFC 4918 §9.2)
    const pp = await d.req('PROPPATCH', base, { body: '<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>mine</d:displayname></d:prop></d:set></d:propertyupdate>' });
    expect(pp.status === 207 ? pp.body : String(pp.status)).toMatch(/403/);
    expect(await stateOfB()).toBe(before);
  });
});

describe('administration by role', () => {
  it('a user cannot administer; a domain-admin only its own domain; an admin everything', async () => {
    const dir = ts.app.directory;
    await dir.addDomain(system, 'other.example');
    const other = await dir.addAccount(system, { address: 'olga@other.example', password: PASSWORD });
    const dadmin = await dir.addAccount(system, { address: 'dora@example.org', password: PASSWORD, roles: ['user', 'domain-admin'] });
    const admin = await dir.addAccount(system, { address: 'root@example.org', password: PASSWORD, roles: ['user', 'admin'] });
    const actorOf = (x: AccountInfo): Actor => ({ kind: 'account', id: x.id, address: x.address, domainId: x.domainId, roles: x.roles });
    const ops: [string, (who: Actor, target: AccountInfo) => Promise<unknown>][] = [
      ['set a password', (who, t) => dir.setPassword(who, t.address, 'another good password 7')],
      ['disable', (who, t) => dir.setEnabled(who, t.address, false)],
      ['change the quota', (who, t) => dir.updateAccount(who, t.address, { quota: 1000 })],
      ['add an account', (who, t) => dir.addAccount(who, { address: `new-${Date.now()}-${Math.random().toString(36).slice(2, 6)}@${t.address.split('@')[1]}`, password: PASSWORD })],
      ['add an alias', (who, t) => dir.addAlias(who, `alias-${Math.random().toString(36).slice(2, 8)}@${t.address.split('@')[1]}`, [t.address])],
      ['grant admin', (who, t) => dir.updateAccount(who, t.address, { roles: ['user', 'admin'] })],
    ];
    const outcome = async (who: Actor, t: AccountInfo, op: (w: Actor, t: AccountInfo) => Promise<unknown>) => {
      try {
        await op(who, t);
        return 'ok';
      } catch (e) {
        if (e instanceof DomainError) return e.code;
        throw e;
      }
    };
    for (const [name, op] of ops) {
      expect(await outcome(actorOf(a), b, op), `user: ${name} in own domain`).toBe('FORBIDDEN');
      expect(await outcome(actorOf(a), other, op), `user: ${name} in another domain`).toBe('FORBIDDEN');
      expect(await outcome(actorOf(dadmin), other, op), `domain-admin: ${name} in another domain`).toBe('FORBIDDEN');
      if (name === 'grant admin') expect(await outcome(actorOf(dadmin), b, op), 'domain-admin: grant admin').toBe('FORBIDDEN');
      else expect(await outcome(actorOf(dadmin), b, op), `domain-admin: ${name} in own domain`).toBe('ok');
      expect(await outcome(actorOf(admin), other, op), `admin: ${name}`).toBe('ok');
      await dir.setEnabled(system, b.address, true);
      await dir.setEnabled(system, other.address, true);
    }
  });
});
