/**
 * Sharing calendars, task lists and address books (issue 5 point 6): with an account or a
 * list, read-only or read-write, in CalendarServer's and the resource-sharing draft's request
 * forms; what is shared appears in the sharee's home with the access granted, is checked on
 * every method, and what is not shared stays invisible (404).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, davClient, hrefs, responses, startDavServer, vcard, vevent, DOMAIN, type DavClient, type DavTestServer } from './harness.ts';
import { systemActor } from '../../../src/core/actor.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';

let ts: DavTestServer;
let alice: AccountInfo;
let bob: AccountInfo;
let carol: AccountInfo;
let dave: AccountInfo;
let a: DavClient;
let b: DavClient;
let c: DavClient;
let d: DavClient;
let mount: string;

beforeAll(async () => {
  ts = await startDavServer();
  alice = await addAccount(ts.app, 'alice');
  bob = await addAccount(ts.app, 'bob');
  carol = await addAccount(ts.app, 'carol');
  dave = await addAccount(ts.app, 'dave');
  await ts.app.directory.addList(systemActor('test'), { address: `team@${DOMAIN}`, description: 'Team', members: [carol.address] });
  [a, b, c, d] = [alice, bob, carol, dave].map((u) => davClient(ts, u));
  const coll = await ts.app.dav.collection(alice, 'calendars', 'calendar');
  mount = `shared-${alice.id}-${coll!.id}`;
}, 60_000);
afterAll(async () => ts?.cleanup());

const home = (u: AccountInfo, h = 'calendars') => `/dav/${h}/${u.address}/`;
const share = (body: string) => a.req('POST', `${home(alice)}calendar/`, { body });

describe('sharing collections', () => {
  it('the owner shares with an account read-only (CS:share) and with a list read-write (DAV:share-resource); the grants are audited and listed in CS:invite', async () => {
    expect((await a.put(`${home(alice)}calendar/e1.ics`, vevent('share-e1', { summary: 'Offsite' }))).status).toBe(201);
    const r1 = await share(`<cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${bob.address}</d:href><cs:read/></cs:set></cs:share>`);
    expect(r1.status).toBe(200);
    const r2 = await share(`<d:share-resource xmlns:d="DAV:"><d:sharee><d:href>mailto:team@${DOMAIN}</d:href><d:share-access><d:read-write/></d:share-access></d:sharee></d:share-resource>`);
    expect(r2.status).toBe(200);
    const p = await a.propfind(`${home(alice)}calendar/`, ['<d:resourcetype/>', '<cs:invite/>', '<cs:allowed-sharing-modes/>'], '0');
    expect(p.body).toContain('<cs:shared-owner/>');
    expect(p.body).toContain('<cs:can-be-shared/>');
    expect(p.body).toMatch(new RegExp(`mailto:${bob.address}</d:href><cs:invite-accepted/><cs:access><cs:read/>`));
    expect(p.body).toMatch(new RegExp(`mailto:team@${DOMAIN}</d:href><cs:invite-accepted/><cs:access><cs:read-write/>`));
    const audit = await ts.app.stores.directory.selectFrom('audit').select(['event', 'detail']).where('event', '=', 'dav.share').execute();
    expect(audit.length).toBe(2);
    // Unknown sharees and the owner itself are refused.
    expect((await share(`<cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:nobody@${DOMAIN}</d:href><cs:read/></cs:set></cs:share>`)).status).toBe(404);
    expect((await share(`<cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${alice.address}</d:href><cs:read/></cs:set></cs:share>`)).status).toBe(403);
  });

  it('a read-only sharee sees the calendar in its home and reads it, but cannot change it', async () => {
    const h = await b.propfind(home(bob), ['<d:displayname/>', '<d:resourcetype/>', '<d:current-user-privilege-set/>'], '1');
    const rs = responses(h.body);
    const mine = rs.get(`${home(bob)}${mount}/`);
    expect(mine).toBeTruthy();
    expect(mine).toContain('<cs:shared/>');
    expect(mine).toContain('Calendar (');
    expect(mine).not.toContain('<d:write/>');
    const q = await b.report(`${home(bob)}${mount}/`, `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>`);
    expect(q.status).toBe(207);
    expect(q.body).toContain('SUMMARY:Offsite');
    expect(hrefs(q.body)).toEqual([`${home(bob)}${mount}/e1.ics`]);
    expect((await b.req('GET', `${home(bob)}${mount}/e1.ics`)).body).toContain('UID:share-e1');
    const put = await b.put(`${home(bob)}${mount}/b.ics`, vevent('bob-writes'));
    expect(put.status).toBe(403);
    expect(put.body).toContain('need-privileges');
    expect((await b.req('DELETE', `${home(bob)}${mount}/e1.ics`)).status).toBe(403);
    expect((await b.req('PROPPATCH', `${home(bob)}${mount}/`, { body: '<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>Mine</d:displayname></d:prop></d:set></d:propertyupdate>' })).body).toContain('403');
    // A sharee cannot pass the calendar on.
    expect((await b.req('POST', `${home(bob)}${mount}/`, { body: `<cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${dave.address}</d:href><cs:read/></cs:set></cs:share>` })).status).toBe(403);
    expect((await a.req('GET', `${home(alice)}calendar/b.ics`)).status).toBe(404);
  });

  it('a list member with read-write access changes it, and the owner sees the change; sync works through the share', async () => {
    const sync0 = await c.report(`${home(carol)}${mount}/`, `<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, '0');
    const token = /<d:sync-token>([^<]+)<\/d:sync-token>/.exec(sync0.body)![1];
    expect((await c.put(`${home(carol)}${mount}/c.ics`, vevent('carol-adds', { summary: 'Added by Carol' }))).status).toBe(201);
    expect((await a.req('GET', `${home(alice)}calendar/c.ics`)).body).toContain('Added by Carol');
    const sync1 = await c.report(`${home(carol)}${mount}/`, `<d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`, '0');
    expect(hrefs(sync1.body)).toEqual([`${home(carol)}${mount}/c.ics`]);
    expect((await c.req('DELETE', `${home(carol)}${mount}/c.ics`)).status).toBe(204);
    expect((await a.req('GET', `${home(alice)}calendar/c.ics`)).status).toBe(404);
  });

  it('what is not shared stays invisible: 404 for others, and again after the owner stops sharing', async () => {
    expect((await d.propfind(`${home(dave)}${mount}/`, ['<d:displayname/>'], '0')).status).toBe(404);
    expect((await d.req('GET', `${home(dave)}${mount}/e1.ics`)).status).toBe(404);
    expect(hrefs((await d.propfind(home(dave), ['<d:displayname/>'], '1')).body).some((h) => h.includes('shared-'))).toBe(false);
    // The owner's own path stays the owner's.
    expect((await b.propfind(`${home(alice)}calendar/`, ['<d:displayname/>'], '0')).status).toBe(404);
    expect((await share(`<cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:remove><d:href>mailto:${bob.address}</d:href></cs:remove></cs:share>`)).status).toBe(200);
    expect((await b.req('GET', `${home(bob)}${mount}/e1.ics`)).status).toBe(404);
    expect((await c.req('GET', `${home(carol)}${mount}/e1.ics`)).status).toBe(200);
    expect((await ts.app.stores.directory.selectFrom('audit').select('event').where('event', '=', 'dav.unshare').execute()).length).toBe(1);
  });

  it('address books are shared the same way', async () => {
    expect((await a.put(`${home(alice, 'addressbooks')}contacts/x.vcf`, vcard('shared-card', 'Shared Person'))).status).toBe(201);
    const book = await ts.app.dav.collection(alice, 'addressbooks', 'contacts');
    expect((await a.req('POST', `${home(alice, 'addressbooks')}contacts/`, { body: `<cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${dave.address}</d:href><cs:read/></cs:set></cs:share>` })).status).toBe(200);
    const path = `${home(dave, 'addressbooks')}shared-${alice.id}-${book!.id}/x.vcf`;
    expect((await d.req('GET', path)).body).toContain('FN:Shared Person');
    expect((await d.put(path, vcard('shared-card', 'Changed'))).status).toBe(403);
  });
});
