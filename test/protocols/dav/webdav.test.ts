/**
 * WebDAV, CalDAV and CardDAV on a real server over loopback HTTP (issue 5 points 1, 2, 5, 7):
 * discovery, PROPFIND/PROPPATCH, MKCALENDAR and extended MKCOL, PUT/GET/DELETE with ETags and
 * preconditions, MOVE/COPY, the reports, sync-collection from the change log, validation
 * failures with their preconditions, safe XML, and that another account's data is 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, davClient, hrefs, responses, startDavServer, vcard, vevent, vtodo, DOMAIN, type DavClient, type DavTestServer } from './harness.ts';
import { systemActor } from '../../../src/core/actor.ts';

const actor = systemActor('test');
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

let ts: DavTestServer;
let alice: AccountInfo;
let bob: AccountInfo;
let a: DavClient;
let b: DavClient;
const cal = (user: AccountInfo, c = 'calendar') => `/dav/calendars/${user.address}/${c}/`;
const book = (user: AccountInfo, c = 'contacts') => `/dav/addressbooks/${user.address}/${c}/`;

beforeAll(async () => {
  ts = await startDavServer();
  alice = await addAccount(ts.app, 'alice');
  bob = await addAccount(ts.app, 'bob');
  a = davClient(ts, alice);
  b = davClient(ts, bob);
}, 60_000);
afterAll(async () => ts?.cleanup());

describe('discovery and authentication', () => {
  it('OPTIONS names the DAV classes; /.well-known/caldav and carddav redirect to /dav/', async () => {
    const o = await a.req('OPTIONS', '/dav/', { auth: false });
    expect(o.status).toBe(200);
    expect(o.headers.dav).toContain('calendar-access');
    expect(o.headers.dav).toContain('addressbook');
    expect(o.headers.dav).toContain('extended-mkcol');
    expect(o.headers.allow).toContain('REPORT');
    for (const wk of ['caldav', 'carddav']) {
      const r = await a.req('PROPFIND', `/.well-known/${wk}`, { auth: false });
      expect(r.status).toBe(301);
      expect(r.headers.location).toBe('/dav/');
      // Regression (vdirsyncer's discovery): a PROPFIND with its XML body (application/xml) is
      // redirected too, not refused 415 by the HTTP server's body parsers.
      const withBody = await a.req('PROPFIND', `/.well-known/${wk}`, { headers: { depth: '0' }, body: '<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>' });
      expect(withBody.status).toBe(301);
      expect(withBody.headers.location).toBe('/dav/');
    }
  });

  it('asks for credentials (401 with WWW-Authenticate) and refuses wrong ones', async () => {
    const none = await a.propfind('/dav/', ['<d:current-user-principal/>'], '0');
    expect(none.status).toBe(207);
    const anon = await a.req('PROPFIND', '/dav/', { auth: false, headers: { depth: '0' } });
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/^Basic realm="Bulwark"/);
    const wrong = await a.req('PROPFIND', '/dav/', { auth: { user: alice.address, password: 'not-the-password' }, headers: { depth: '0' } });
    expect(wrong.status).toBe(401);
  });

  it('walks current-user-principal -> calendar-home-set -> the default collections', async () => {
    const root = await a.propfind('/dav/', ['<d:current-user-principal/>'], '0');
    const principal = hrefs(root.body).find((h) => h.startsWith('/dav/principals/'))!;
    expect(principal).toBe(`/dav/principals/${alice.address}/`);
    const p = await a.propfind(principal, ['<c:calendar-home-set/>', '<card:addressbook-home-set/>', '<c:calendar-user-address-set/>', '<c:schedule-inbox-URL/>', '<d:displayname/>'], '0');
    expect(p.status).toBe(207);
    expect(p.body).toContain(`<d:href>/dav/calendars/${alice.address}/</d:href>`);
    expect(p.body).toContain(`<d:href>/dav/addressbooks/${alice.address}/</d:href>`);
    expect(p.body).toContain(`<d:href>mailto:${alice.address}</d:href>`);
    expect(p.body).toContain(`<d:href>/dav/calendars/${alice.address}/inbox/</d:href>`);
    const home = await a.propfind(`/dav/calendars/${alice.address}/`, ['<d:resourcetype/>', '<d:displayname/>', '<c:supported-calendar-component-set/>', '<cs:getctag/>'], '1');
    const rs = responses(home.body);
    expect([...rs.keys()].sort()).toEqual([`/dav/calendars/${alice.address}/`, cal(alice), cal(alice, 'inbox'), cal(alice, 'outbox'), cal(alice, 'tasks')].sort());
    expect(rs.get(cal(alice))).toContain('<cal:calendar/>');
    expect(rs.get(cal(alice))).toContain('<cal:comp name="VEVENT"/>');
    expect(rs.get(cal(alice, 'tasks'))).toContain('<cal:comp name="VTODO"/>');
    expect(rs.get(cal(alice, 'inbox'))).toContain('<cal:schedule-inbox/>');
    const books = await a.propfind(`/dav/addressbooks/${alice.address}/`, ['<d:resourcetype/>'], '1');
    expect(responses(books.body).get(book(alice))).toContain('<card:addressbook/>');
  });

  it('an unknown property is 404 in its own propstat; propname lists names only', async () => {
    const r = await a.propfind(cal(alice), ['<d:displayname/>', '<d:nonexistent-prop/>'], '0');
    expect(r.body).toMatch(/<d:propstat><d:prop><d:displayname>Calendar<\/d:displayname><\/d:prop><d:status>HTTP\/1.1 200 OK<\/d:status><\/d:propstat>/);
    expect(r.body).toMatch(/<d:propstat><d:prop><d:nonexistent-prop\/><\/d:prop><d:status>HTTP\/1.1 404 Not Found<\/d:status><\/d:propstat>/);
    const names = await a.req('PROPFIND', cal(alice), { headers: { depth: '0' }, body: '<propfind xmlns="DAV:"><propname/></propfind>' });
    expect(names.body).toContain('<d:sync-token/>');
    expect(names.body).not.toContain('urn:bulwark:sync');
  });

  it("another account's principal, homes, collections and resources are 404, not 403", async () => {
    await a.put(`${cal(alice)}secret.ics`, vevent('secret-1'));
    for (const path of [`/dav/principals/${alice.address}/`, `/dav/calendars/${alice.address}/`, cal(alice), `${cal(alice)}secret.ics`, book(alice)]) {
      const r = await b.propfind(path, ['<d:getetag/>'], '0');
      expect(r.status, path).toBe(404);
      expect((await b.req('GET', path)).status, path).toBe(404);
    }
    expect((await b.req('DELETE', `${cal(alice)}secret.ics`)).status).toBe(404);
    expect((await b.put(`${cal(alice)}intrude.ics`, vevent('intrude'))).status).toBe(404);
    expect((await a.req('GET', `${cal(alice)}secret.ics`)).status).toBe(200);
  });
});

describe('collections', () => {
  it('MKCALENDAR with properties, then PROPPATCH of live and dead properties', async () => {
    const mk = await a.req('MKCALENDAR', cal(alice, 'work'), {
      body: `<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="http://apple.com/ns/ical/">
        <d:set><d:prop><d:displayname>Work</d:displayname><c:supported-calendar-component-set><c:comp name="VEVENT"/><c:comp name="VTODO"/></c:supported-calendar-component-set>
        <a:calendar-color>#ff0000</a:calendar-color></d:prop></d:set></c:mkcalendar>`,
    });
    expect(mk.status).toBe(201);
    expect((await a.req('MKCALENDAR', cal(alice, 'work'))).status).toBe(405);
    const pp = await a.req('PROPPATCH', cal(alice, 'work'), {
      body: `<d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example:custom"><d:set><d:prop><d:displayname>Work 2</d:displayname><x:mine attr="1">kept <x:inner>as is</x:inner></x:mine></d:prop></d:set></d:propertyupdate>`,
    });
    expect(pp.status).toBe(207);
    expect(pp.body).toContain('200 OK');
    const r = await a.propfind(cal(alice, 'work'), ['<d:displayname/>', '<a:calendar-color/>', '<x:mine/>', '<c:supported-calendar-component-set/>'], '0', ' xmlns:x="urn:example:custom"');
    expect(r.body).toContain('<d:displayname>Work 2</d:displayname>');
    expect(r.body).toContain('<ical:calendar-color>#ff0000</ical:calendar-color>');
    expect(r.body).toMatch(/<x0:mine attr="1">kept <x0:inner>as is<\/x0:inner><\/x0:mine>/);
    expect(r.body).toContain('<cal:comp name="VTODO"/>');
    // A protected property fails the whole PROPPATCH: 403 for it, 424 for the rest, nothing applied.
    const bad = await a.req('PROPPATCH', cal(alice, 'work'), {
      body: `<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>Never</d:displayname><d:getetag>"x"</d:getetag></d:prop></d:set></d:propertyupdate>`,
    });
    expect(bad.status).toBe(207);
    expect(bad.body).toContain('403 Forbidden');
    expect(bad.body).toContain('424 Failed Dependency');
    expect((await a.propfind(cal(alice, 'work'), ['<d:displayname/>'], '0')).body).toContain('Work 2');
    // remove
    await a.req('PROPPATCH', cal(alice, 'work'), { body: `<d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example:custom"><d:remove><d:prop><x:mine/></d:prop></d:remove></d:propertyupdate>` });
    expect((await a.propfind(cal(alice, 'work'), ['<x:mine/>'], '0', ' xmlns:x="urn:example:custom"')).body).toContain('404 Not Found');
  });

  it('extended MKCOL makes an address book (RFC 5689); a plain collection in the calendar home is refused', async () => {
    const mk = await a.req('MKCOL', book(alice, 'team'), {
      body: `<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype><d:displayname>Team</d:displayname></d:prop></d:set></d:mkcol>`,
    });
    expect(mk.status).toBe(201);
    const r = await a.propfind(book(alice, 'team'), ['<d:resourcetype/>', '<d:displayname/>'], '0');
    expect(r.body).toContain('<card:addressbook/>');
    expect(r.body).toContain('Team');
    const plain = await a.req('MKCOL', cal(alice, 'plain'));
    expect(plain.status).toBe(403);
    expect(plain.body).toContain('valid-resourcetype');
  });

  it('DELETE of a collection removes it and its resources', async () => {
    await a.req('MKCALENDAR', cal(alice, 'temp'));
    expect((await a.put(`${cal(alice, 'temp')}e.ics`, vevent('temp-1'))).status).toBe(201);
    expect((await a.req('DELETE', cal(alice, 'temp'))).status).toBe(204);
    expect((await a.req('GET', `${cal(alice, 'temp')}e.ics`)).status).toBe(404);
    expect((await a.propfind(cal(alice, 'temp'), ['<d:displayname/>'], '0')).status).toBe(404);
    expect((await a.req('DELETE', cal(alice, 'inbox'))).status).toBe(403);
  });
});

describe('resources', () => {
  it('PUT creates (201 with a strong ETag), GET returns the same bytes, PUT again replaces (204, new ETag)', async () => {
    const data = vevent('put-1', { summary: 'First' });
    const p = await a.put(`${cal(alice)}put-1.ics`, data);
    expect(p.status).toBe(201);
    expect(p.headers.etag).toMatch(/^"[^"]+"$/);
    const g = await a.req('GET', `${cal(alice)}put-1.ics`);
    expect(g.status).toBe(200);
    expect(g.body).toBe(data);
    expect(g.headers.etag).toBe(p.headers.etag);
    expect(g.headers['content-type']).toMatch(/^text\/calendar/);
    const p2 = await a.put(`${cal(alice)}put-1.ics`, vevent('put-1', { summary: 'Second' }), { 'if-match': p.headers.etag! });
    expect(p2.status).toBe(204);
    expect(p2.headers.etag).not.toBe(p.headers.etag);
    expect((await a.req('GET', `${cal(alice)}put-1.ics`, { headers: { 'if-none-match': p2.headers.etag! } })).status).toBe(304);
    // the stale ETag and If-None-Match: * fail with 412 and change nothing
    expect((await a.put(`${cal(alice)}put-1.ics`, vevent('put-1', { summary: 'Stale' }), { 'if-match': p.headers.etag! })).status).toBe(412);
    expect((await a.put(`${cal(alice)}put-1.ics`, vevent('put-1', { summary: 'Create only' }), { 'if-none-match': '*' })).status).toBe(412);
    expect((await a.req('GET', `${cal(alice)}put-1.ics`)).body).toContain('SUMMARY:Second');
    expect((await a.put(`${cal(alice)}nonexistent.ics`, vevent('put-x'), { 'if-match': '*' })).status).toBe(412);
  });

  it('refuses bad calendar data with the CalDAV precondition, storing nothing', async () => {
    const cases: [string, string, string][] = [
      ['garbage.ics', 'this is not a calendar', 'valid-calendar-data'],
      ['method.ics', vevent('m-1').replace('VERSION:2.0', 'VERSION:2.0\r\nMETHOD:REQUEST'), 'valid-calendar-object-resource'],
      ['todo.ics', vtodo('t-in-events'), 'supported-calendar-component'],
      ['dup.ics', vevent('put-1'), 'no-uid-conflict'],
    ];
    for (const [name, data, condition] of cases) {
      const r = await a.put(`${cal(alice)}${name}`, data);
      expect(r.status, name).toBe(403);
      expect(r.body, name).toContain(`<cal:${condition}`);
      expect((await a.req('GET', `${cal(alice)}${name}`)).status, name).toBe(404);
    }
    const big = vevent('big-1', { extra: [`DESCRIPTION:${'x'.repeat(1_100_000)}`] });
    const r = await a.put(`${cal(alice)}big.ics`, big);
    expect([403, 413]).toContain(r.status);
    expect((await a.req('GET', `${cal(alice)}big.ics`)).status).toBe(404);
    const wrongType = await a.put(`${cal(alice)}json.ics`, vevent('json-1'), { 'content-type': 'application/json' });
    expect(wrongType.status).toBe(415);
    expect((await a.put(`/dav/calendars/${alice.address}/missing/x.ics`, vevent('nocoll'))).status).toBe(409);
  });

  it('DELETE honours If-Match; MOVE and COPY between calendars keep the data', async () => {
    const p = await a.put(`${cal(alice)}del-1.ics`, vevent('del-1'));
    expect((await a.req('DELETE', `${cal(alice)}del-1.ics`, { headers: { 'if-match': '"wrong"' } })).status).toBe(412);
    expect((await a.req('DELETE', `${cal(alice)}del-1.ics`, { headers: { 'if-match': p.headers.etag! } })).status).toBe(204);
    expect((await a.req('DELETE', `${cal(alice)}del-1.ics`)).status).toBe(404);
    await a.req('MKCALENDAR', cal(alice, 'other'));
    await a.put(`${cal(alice)}mv-1.ics`, vevent('mv-1'));
    const mv = await a.req('MOVE', `${cal(alice)}mv-1.ics`, { headers: { destination: `http://127.0.0.1${cal(alice, 'other')}moved.ics` } });
    expect(mv.status).toBe(201);
    expect((await a.req('GET', `${cal(alice)}mv-1.ics`)).status).toBe(404);
    expect((await a.req('GET', `${cal(alice, 'other')}moved.ics`)).body).toContain('UID:mv-1');
    const cp = await a.req('COPY', `${cal(alice, 'other')}moved.ics`, { headers: { destination: `${cal(alice, 'work')}copy.ics` } });
    expect(cp.status).toBe(201);
    expect((await a.req('COPY', `${cal(alice, 'other')}moved.ics`, { headers: { destination: `${cal(alice, 'work')}copy.ics`, overwrite: 'F' } })).status).toBe(412);
    // a task cannot go into an events-only calendar
    await a.put(`${cal(alice, 'tasks')}t1.ics`, vtodo('task-1'));
    const bad = await a.req('MOVE', `${cal(alice, 'tasks')}t1.ics`, { headers: { destination: `${cal(alice)}t1.ics` } });
    expect(bad.status).toBe(403);
    expect((await a.req('GET', `${cal(alice, 'tasks')}t1.ics`)).status).toBe(200);
  });

  it('vCards: PUT, GET, validation of version and FN', async () => {
    const v = vcard('card-1', 'Carol Example', { email: 'carol@example.net' });
    expect((await a.put(`${book(alice)}carol.vcf`, v)).status).toBe(201);
    expect((await a.req('GET', `${book(alice)}carol.vcf`)).body).toBe(v);
    expect((await a.put(`${book(alice)}v4.vcf`, vcard('card-4', 'Dan Four', { version: '4.0' }))).status).toBe(201);
    const noFn = await a.put(`${book(alice)}nofn.vcf`, 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nEND:VCARD\r\n');
    expect(noFn.status).toBe(403);
    expect(noFn.body).toContain('<card:valid-address-data');
    const v2 = await a.put(`${book(alice)}v2.vcf`, 'BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Old\r\nEND:VCARD\r\n');
    expect(v2.status).toBe(403);
    expect(v2.body).toContain('supported-address-data');
    expect((await a.put(`${book(alice)}event.vcf`, vevent('ev-in-book'), { 'content-type': 'text/calendar' })).status).toBe(415);
  });
});

describe('reports', () => {
  it('calendar-multiget returns data and ETags, 404 for a missing href', async () => {
    await a.put(`${cal(alice)}mg-1.ics`, vevent('mg-1'));
    const r = await a.report(cal(alice), `<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>
      <d:href>${cal(alice)}mg-1.ics</d:href><d:href>${cal(alice)}missing.ics</d:href></c:calendar-multiget>`);
    expect(r.status).toBe(207);
    const rs = responses(r.body);
    expect(rs.get(`${cal(alice)}mg-1.ics`)).toContain('UID:mg-1');
    expect(rs.get(`${cal(alice)}mg-1.ics`)).toContain('<d:getetag>"');
    expect(rs.get(`${cal(alice)}missing.ics`)).toContain('404 Not Found');
  });

  it('calendar-query with a time-range finds single and recurring events by their instances', async () => {
    await a.req('MKCALENDAR', cal(alice, 'q'));
    await a.put(`${cal(alice, 'q')}jan.ics`, vevent('q-jan', { start: '20270115T090000Z', end: '20270115T100000Z' }));
    await a.put(`${cal(alice, 'q')}mar.ics`, vevent('q-mar', { start: '20270310T090000Z', end: '20270310T100000Z' }));
    await a.put(`${cal(alice, 'q')}weekly.ics`, vevent('q-weekly', { start: '20261105T090000Z', end: '20261105T100000Z', rrule: 'FREQ=WEEKLY;COUNT=20' }));
    await a.put(`${cal(alice, 'q')}old.ics`, vevent('q-old', { start: '20250105T090000Z', end: '20250105T100000Z', rrule: 'FREQ=DAILY;COUNT=3' }));
    const query = (start: string, end: string) => a.report(cal(alice, 'q'), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="${start}" end="${end}"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    const jan = hrefs((await query('20270101T000000Z', '20270201T000000Z')).body).map((h) => h.split('/').pop()).sort();
    expect(jan).toEqual(['jan.ics', 'weekly.ics']);
    const april = hrefs((await query('20270401T000000Z', '20270501T000000Z')).body);
    expect(april).toEqual([]);
    const text = await a.report(cal(alice, 'q'), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match>Q-MAR</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    expect(hrefs(text.body).map((h) => h.split('/').pop())).toEqual(['mar.ics']);
    const badColl = await a.report(cal(alice, 'q'), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match collation="i;klingon">x</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    expect(badColl.status).toBe(403);
    expect(badColl.body).toContain('supported-collation');
  });

  it('answers asked again follow every change: listing, kept calendar data and kept filter results are never stale', async () => {
    // The same multiget and queries before and after changes: an all-day event (no instance
    // index: its filter result is kept), a timed one (instance index), data kept escaped.
    await a.req('MKCALENDAR', cal(alice, 'again'));
    const c = cal(alice, 'again');
    const allDay = (uid: string, day: string, summary: string) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//EN', 'BEGIN:VEVENT', `UID:${uid}`,
      'DTSTAMP:20260101T000000Z', `DTSTART;VALUE=DATE:${day}`, `SUMMARY:${summary}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    await a.put(`${c}day.ics`, allDay('again-day', '20270305', 'Holiday & <rest>'));
    await a.put(`${c}timed.ics`, vevent('again-timed', { start: '20270310T090000Z', end: '20270310T100000Z' }));
    const march = () => a.report(c, `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20270301T000000Z" end="20270401T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    const names = async () => hrefs((await march()).body).map((h) => h.split('/').pop()).sort();
    const multiget = async () => responses((await a.report(c, `<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>
      <d:href>${c}day.ics</d:href><d:href>${c}timed.ics</d:href></c:calendar-multiget>`)).body);
    for (let i = 0; i < 2; i++) {
      expect(await names()).toEqual(['day.ics', 'timed.ics']);
      const mg = await multiget();
      expect(mg.get(`${c}day.ics`)).toContain('SUMMARY:Holiday &amp; &lt;rest&gt;&#13;');
    }
    // moved out of March, renamed, one deleted, one new under the deleted name's place
    await a.put(`${c}day.ics`, allDay('again-day', '20270405', 'Moved'));
    expect(await names()).toEqual(['timed.ics']);
    const mg = await multiget();
    expect(mg.get(`${c}day.ics`)).toContain('SUMMARY:Moved&#13;');
    expect(mg.get(`${c}day.ics`)).not.toContain('Holiday');
    await a.req('DELETE', `${c}timed.ics`);
    expect(await names()).toEqual([]);
    expect((await multiget()).get(`${c}timed.ics`)).toContain('404 Not Found');
    await a.put(`${c}timed.ics`, vevent('again-timed-2', { start: '20270320T090000Z', end: '20270320T100000Z' }));
    expect(await names()).toEqual(['timed.ics']);
    expect((await multiget()).get(`${c}timed.ics`)).toContain('UID:again-timed-2');
    // PROPFIND Depth 1 lists from the same listing
    const pf = await a.req('PROPFIND', c, { headers: { depth: '1' }, body: '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>' });
    expect(hrefs(pf.body).filter((h) => h !== c).map((h) => h.split('/').pop()).sort()).toEqual(['day.ics', 'timed.ics']);
  });

  it('calendar-data with expand returns the instances in the range in UTC; limit-recurrence-set keeps the master; a param-filter matches', async () => {
    await a.req('MKCALENDAR', cal(alice, 'x'));
    const tz = ['BEGIN:VTIMEZONE', 'TZID:Europe/Berlin', 'BEGIN:STANDARD', 'DTSTART:19701025T030000', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'END:STANDARD',
      'BEGIN:DAYLIGHT', 'DTSTART:19700329T020000', 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'END:DAYLIGHT', 'END:VTIMEZONE'];
    const weekly = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//EN', ...tz, 'BEGIN:VEVENT', 'UID:exp-1', 'DTSTAMP:20260101T000000Z', 'DTSTART;TZID=Europe/Berlin:20270318T090000',
      'DURATION:PT1H', 'RRULE:FREQ=WEEKLY;COUNT=4', 'SUMMARY:Weekly', 'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:x@example.net', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    expect((await a.put(`${cal(alice, 'x')}w.ics`, weekly)).status).toBe(201);
    const r = await a.report(cal(alice, 'x'), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data><c:expand start="20270301T000000Z" end="20270410T000000Z"/></c:calendar-data></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20270301T000000Z" end="20270410T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    const data = /<cal:calendar-data>([\s\S]*?)<\/cal:calendar-data>/.exec(r.body)![1];
    // 18 and 25 March in winter time (08:00Z), 1 and 8 April in summer time (07:00Z), no RRULE left, no VTIMEZONE.
    expect([...data.matchAll(/RECURRENCE-ID:(\d{8}T\d{6}Z)/g)].map((m) => m[1])).toEqual(['20270318T080000Z', '20270325T080000Z', '20270401T070000Z', '20270408T070000Z']);
    expect(data).not.toContain('RRULE');
    expect(data).not.toContain('VTIMEZONE');
    const limited = await a.report(cal(alice, 'x'), `<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data><c:limit-recurrence-set start="20270301T000000Z" end="20270410T000000Z"/></c:calendar-data></d:prop><d:href>${cal(alice, 'x')}w.ics</d:href></c:calendar-multiget>`);
    expect(limited.body).toContain('RRULE:FREQ=WEEKLY;COUNT=4');
    const pf = (role: string) => a.report(cal(alice, 'x'), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="ATTENDEE"><c:param-filter name="ROLE"><c:text-match>${role}</c:text-match></c:param-filter></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    expect(hrefs((await pf('REQ-PARTICIPANT')).body)).toEqual([`${cal(alice, 'x')}w.ics`]);
    expect(hrefs((await pf('CHAIR')).body)).toEqual([]);
  });

  it('free-busy-query answers the busy periods of a calendar (transparent and cancelled events left out)', async () => {
    await a.req('MKCALENDAR', cal(alice, 'fb'));
    await a.put(`${cal(alice, 'fb')}1.ics`, vevent('fb-1', { start: '20270301T090000Z', end: '20270301T100000Z' }));
    await a.put(`${cal(alice, 'fb')}2.ics`, vevent('fb-2', { start: '20270301T093000Z', end: '20270301T110000Z' }));
    await a.put(`${cal(alice, 'fb')}3.ics`, vevent('fb-3', { start: '20270301T140000Z', end: '20270301T150000Z', extra: ['TRANSP:TRANSPARENT'] }));
    await a.put(`${cal(alice, 'fb')}4.ics`, vevent('fb-4', { start: '20270301T160000Z', end: '20270301T170000Z', extra: ['STATUS:CANCELLED'] }));
    const r = await a.report(cal(alice, 'fb'), `<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="20270301T000000Z" end="20270302T000000Z"/></c:free-busy-query>`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/calendar/);
    const body = r.body.replace(/\r\n[ \t]/g, '');
    expect(body).toContain('BEGIN:VFREEBUSY');
    expect(body).toMatch(/FREEBUSY;FBTYPE=BUSY:20270301T090000Z\/20270301T110000Z\r\n/);
    expect(body).not.toContain('20270301T140000Z');
    expect(body).not.toContain('20270301T160000Z');
    expect((await a.report(cal(alice, 'fb'), `<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"/>`)).status).toBe(400);
  });

  it('sync-collection: everything first, then only what changed and what was removed; a foreign token is refused', async () => {
    await a.req('MKCALENDAR', cal(alice, 'sync'));
    await a.put(`${cal(alice, 'sync')}1.ics`, vevent('s-1'));
    await a.put(`${cal(alice, 'sync')}2.ics`, vevent('s-2'));
    const sync = (token: string) => a.report(cal(alice, 'sync'), `<d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, '0');
    const first = await sync('');
    expect(first.status).toBe(207);
    expect(hrefs(first.body).map((h) => h.split('/').pop()).sort()).toEqual(['1.ics', '2.ics']);
    const token = /<d:sync-token>([^<]+)<\/d:sync-token>/.exec(first.body)![1];
    const again = await sync(token);
    expect(hrefs(again.body)).toEqual([]);
    await a.put(`${cal(alice, 'sync')}2.ics`, vevent('s-2', { summary: 'changed' }));
    await a.put(`${cal(alice, 'sync')}3.ics`, vevent('s-3'));
    await a.req('DELETE', `${cal(alice, 'sync')}1.ics`);
    const delta = await sync(token);
    const rs = responses(delta.body);
    expect([...rs.keys()].map((h) => h.split('/').pop()).sort()).toEqual(['1.ics', '2.ics', '3.ics']);
    expect(rs.get(`${cal(alice, 'sync')}1.ics`)).toContain('404 Not Found');
    expect(rs.get(`${cal(alice, 'sync')}2.ics`)).toContain('<d:getetag>');
    const token2 = /<d:sync-token>([^<]+)<\/d:sync-token>/.exec(delta.body)![1];
    expect(token2).not.toBe(token);
    const ctag = await a.propfind(cal(alice, 'sync'), ['<cs:getctag/>', '<d:sync-token/>'], '0');
    expect(ctag.body).toContain(token2);
    const foreign = await a.report(cal(alice), `<d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop/></d:sync-collection>`, '0');
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('valid-sync-token');
    // a limit cuts the answer and gives a token to continue from
    const limited = await a.report(cal(alice, 'sync'), `<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:limit><d:nresults>1</d:nresults></d:limit><d:prop><d:getetag/></d:prop></d:sync-collection>`, '0');
    expect(limited.body).toContain('507');
  });

  it('addressbook-query with text-match and a limit; addressbook-multiget', async () => {
    await a.put(`${book(alice)}erin.vcf`, vcard('card-erin', 'Erin Smith', { email: 'erin@example.net' }));
    await a.put(`${book(alice)}frank.vcf`, vcard('card-frank', 'Frank Smithers'));
    const q = (match: string, extra = '') => a.report(book(alice), `<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop>
      <card:filter><card:prop-filter name="FN"><card:text-match match-type="starts-with">${match}</card:text-match></card:prop-filter></card:filter>${extra}</card:addressbook-query>`);
    expect(hrefs((await q('erin')).body).map((h) => h.split('/').pop())).toEqual(['erin.vcf']);
    expect((await q('erin')).body).toContain('FN:Erin Smith');
    const email = await a.report(book(alice), `<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop>
      <card:filter><card:prop-filter name="EMAIL"><card:text-match>ERIN@</card:text-match></card:prop-filter></card:filter></card:addressbook-query>`);
    expect(hrefs(email.body).map((h) => h.split('/').pop())).toEqual(['erin.vcf']);
    const limited = await a.report(book(alice), `<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><card:limit><card:nresults>1</card:nresults></card:limit></card:addressbook-query>`);
    expect(limited.body).toContain('number-of-matches-within-limits');
    const mg = await a.report(book(alice), `<card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:address-data/></d:prop><d:href>${book(alice)}frank.vcf</d:href></card:addressbook-multiget>`);
    expect(mg.body).toContain('FN:Frank Smithers');
  });

  it('principal-property-search finds accounts of the domain by name', async () => {
    const r = await a.report('/dav/principals/', `<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop><d:displayname/></d:prop><d:match>bob</d:match></d:property-search><d:prop><d:displayname/></d:prop></d:principal-property-search>`, '0');
    expect(r.status).toBe(207);
    expect(hrefs(r.body)).toEqual([`/dav/principals/${bob.address}/`]);
  });
});

describe('bad input', () => {
  it('XML with a DOCTYPE (XXE, entity expansion) is refused with 400 and the server goes on', async () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&x;</d:displayname></d:prop></d:propfind>`;
    expect((await a.req('PROPFIND', cal(alice), { body: xxe, headers: { depth: '0' } })).status).toBe(400);
    const laughs = `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&c;</d:displayname></d:prop></d:propfind>`;
    expect((await a.req('PROPFIND', cal(alice), { body: laughs, headers: { depth: '0' } })).status).toBe(400);
    expect((await a.req('PROPFIND', cal(alice), { body: '<d:propfind xmlns:d="DAV:"><d:prop>', headers: { depth: '0' } })).status).toBe(400);
    expect((await a.req('REPORT', cal(alice), { body: '<x:unknown xmlns:x="urn:x"/>' })).status).toBe(403);
    expect((await a.req('PROPFIND', '/dav/calendars/%ZZ/', { headers: { depth: '0' } })).status).toBe(400);
    expect((await a.propfind(cal(alice), ['<d:displayname/>'], '0')).status).toBe(207);
  });

  it('a request body over dav.max_request_bytes is 413', async () => {
    const r = await a.put(`${cal(alice)}huge.ics`, 'x'.repeat(5 * 1024 * 1024));
    expect(r.status).toBe(413);
  });
});

describe('quota (RFC 4331)', () => {
  it('reports used and available bytes, and a full quota refuses a PUT with 507 quota-not-exceeded', async () => {
    const carl = await addAccount(ts.app, 'carl', { quota: 4000 });
    const c = davClient(ts, carl);
    const home = `/dav/calendars/${carl.address}/`;
    const before = await c.propfind(home, ['<d:quota-used-bytes/>', '<d:quota-available-bytes/>'], '0');
    expect(before.body).toContain('<d:quota-used-bytes>0</d:quota-used-bytes>');
    expect(before.body).toContain('<d:quota-available-bytes>4000</d:quota-available-bytes>');
    const ev = vevent('q-1', { extra: [`DESCRIPTION:${'d'.repeat(1500)}`] });
    expect((await c.put(`${home}calendar/q1.ics`, ev)).status).toBe(201);
    const after = await c.propfind(home, ['<d:quota-used-bytes/>'], '0');
    expect(after.body).toContain(`<d:quota-used-bytes>${Buffer.byteLength(ev)}</d:quota-used-bytes>`);
    expect((await c.put(`${home}calendar/q2.ics`, vevent('q-2', { extra: [`DESCRIPTION:${'d'.repeat(1500)}`] }))).status).toBe(201);
    const full = await c.put(`${home}calendar/q3.ics`, vevent('q-3', { extra: [`DESCRIPTION:${'d'.repeat(1500)}`] }));
    expect(full.status).toBe(507);
    expect(full.body).toContain('<d:quota-not-exceeded/>');
    expect((await c.req('GET', `${home}calendar/q3.ics`)).status).toBe(404);
    // deleting frees the space again
    expect((await c.req('DELETE', `${home}calendar/q1.ics`)).status).toBe(204);
    expect((await c.put(`${home}calendar/q3.ics`, vevent('q-3', { extra: [`DESCRIPTION:${'d'.repeat(1500)}`] }))).status).toBe(201);
  });
});

describe('TLS before authentication (auth.require_tls on)', () => {
  let tls: DavTestServer;
  let dora: AccountInfo;
  beforeAll(async () => {
    tls = await startDavServer({ BULWARK_AUTH_REQUIRE_TLS: 'true' });
    dora = await addAccount(tls.app, 'dora');
  }, 60_000);
  afterAll(async () => tls?.cleanup());

  it('plain HTTP never asks for credentials and refuses them; HTTPS serves the same request', async () => {
    const plain = davClient(tls, dora);
    const anon = await plain.req('PROPFIND', '/dav/', { auth: false, headers: { depth: '0' } });
    expect(anon.status).toBe(403);
    expect(anon.headers['www-authenticate']).toBeUndefined();
    const withPw = await plain.propfind('/dav/', ['<d:current-user-principal/>'], '0');
    expect(withPw.status).toBe(403);
    const secure = davClient(tls, dora, { secure: true });
    const ok = await secure.propfind('/dav/', ['<d:current-user-principal/>'], '0');
    expect(ok.status).toBe(207);
    expect(ok.body).toContain(`/dav/principals/${dora.address}/`);
  });
});

describe('the global address list (issue 5 point 5)', () => {
  it('lists every enabled account and public list of the domain, follows the directory, and is read-only', async () => {
    const gal = `/dav/addressbooks/${alice.address}/gal/`;
    const cards = async () => {
      const r = await a.report(gal, `<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:address-data/></d:prop></card:addressbook-query>`);
      expect(r.status).toBe(207);
      return r.body;
    };
    const first = await cards();
    expect(first).toContain(`EMAIL;TYPE=INTERNET,WORK:${alice.address}`);
    expect(first).toContain(`EMAIL;TYPE=INTERNET,WORK:${bob.address}`);
    const props = await a.propfind(gal, ['<d:current-user-privilege-set/>', '<d:sync-token/>', '<d:displayname/>'], '0');
    expect(props.body).toContain('Global address list');
    expect(props.body).not.toContain('<d:write/>');
    const token = /<d:sync-token>([^<]+)<\/d:sync-token>/.exec(props.body)![1];
    // The directory changes: a new account and a public list appear, a private list does not.
    await addAccount(ts.app, 'erin');
    await ts.app.directory.addList(actor, { address: `team@${DOMAIN}`, description: 'The team', public: true, members: [alice.address] });
    await ts.app.directory.addList(actor, { address: `secret@${DOMAIN}`, description: 'Hidden', public: false, members: [alice.address] });
    const after = await cards();
    expect(after).toContain(`erin@${DOMAIN}`);
    expect(after).toContain(`EMAIL;TYPE=INTERNET:team@${DOMAIN}`);
    expect(after).toContain('X-ADDRESSBOOKSERVER-KIND:group');
    expect(after).not.toContain(`secret@${DOMAIN}`);
    // The old token no longer answers: the client syncs afresh.
    const stale = await a.report(gal, `<d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, '0');
    expect(stale.status).toBe(403);
    expect(stale.body).toContain('valid-sync-token');
    const fresh = await a.report(gal, `<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, '0');
    expect(hrefs(fresh.body)).toContain(`${gal}erin@${DOMAIN}.vcf`);
    // Read-only.
    expect((await a.put(`${gal}x.vcf`, vcard('x-1', 'Not Allowed'))).status).toBe(403);
    expect((await a.req('DELETE', `${gal}${bob.address}.vcf`)).status).toBe(403);
    expect((await a.req('MKCOL', gal)).status).toBe(405);
  });
});
