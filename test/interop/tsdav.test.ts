/**
 * tsdav (a CalDAV/CardDAV client library used by web and Node clients) against a real server
 * on loopback (issue 5 point 8): service discovery from /.well-known, calendars and address
 * books, create / fetch by time range / update / delete, and a sync by ctag and sync-token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAVClient } from 'tsdav';
import { addAccount, PASSWORD, startDavServer, vcard, vevent, vtodo, type DavTestServer } from '../protocols/dav/harness.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';

let ts: DavTestServer;
let alice: AccountInfo;

beforeAll(async () => {
  ts = await startDavServer();
  alice = await addAccount(ts.app, 'alice');
}, 60_000);
afterAll(async () => ts?.cleanup());

function client(type: 'caldav' | 'carddav') {
  return new DAVClient({
    serverUrl: `http://127.0.0.1:${ts.httpPort}`,
    credentials: { username: alice.address, password: PASSWORD },
    authMethod: 'Basic',
    defaultAccountType: type,
  });
}

describe('tsdav as a CalDAV client', () => {
  it('discovers the calendars, creates, queries, updates, deletes and syncs events', async () => {
    const c = client('caldav');
    await c.login();
    const calendars = await c.fetchCalendars();
    const names = calendars.map((x) => x.url.split('/').filter(Boolean).pop()).sort();
    expect(names).toEqual(['calendar', 'tasks']);
    const cal = calendars.find((x) => x.url.endsWith('/calendar/'))!;
    expect(cal.components).toContain('VEVENT');
    expect(cal.ctag).toBeTruthy();

    const created = await c.createCalendarObject({ calendar: cal, filename: 'standup.ics', iCalString: vevent('tsdav-1', { summary: 'Standup', start: '20270105T090000Z', end: '20270105T091500Z', rrule: 'FREQ=DAILY;COUNT=5' }) });
    expect(created.status).toBe(201);
    await c.createCalendarObject({ calendar: cal, filename: 'later.ics', iCalString: vevent('tsdav-2', { start: '20270601T090000Z', end: '20270601T100000Z' }) });

    const jan = await c.fetchCalendarObjects({ calendar: cal, timeRange: { start: '2027-01-01T00:00:00Z', end: '2027-02-01T00:00:00Z' } });
    expect(jan.map((o) => o.url.split('/').pop())).toEqual(['standup.ics']);
    expect(jan[0].data).toContain('SUMMARY:Standup');
    expect(jan[0].etag).toBeTruthy();

    const all = await c.fetchCalendarObjects({ calendar: cal });
    expect(all.map((o) => o.url.split('/').pop()).sort()).toEqual(['later.ics', 'standup.ics']);

    const upd = await c.updateCalendarObject({ calendarObject: { ...jan[0], data: jan[0].data.replace('SUMMARY:Standup', 'SUMMARY:Daily standup') } });
    expect(upd.ok).toBe(true);
    const again = await c.fetchCalendarObjects({ calendar: cal, objectUrls: [jan[0].url] });
    expect(again[0].data).toContain('SUMMARY:Daily standup');
    expect(again[0].etag).not.toBe(jan[0].etag);

    // A stale ETag is refused (If-Match), so a client cannot overwrite a newer version.
    const stale = await c.updateCalendarObject({ calendarObject: { ...jan[0], data: jan[0].data } });
    expect(stale.status).toBe(412);

    const later = all.find((o) => o.url.endsWith('later.ics'))!;
    expect((await c.deleteCalendarObject({ calendarObject: later })).ok).toBe(true);

    // Sync: the calendar's ctag moved; the sync-token delta names what was updated and deleted.
    const dirty = await c.syncCalendarsDetailed({ oldCalendars: [cal] });
    expect(dirty.updated.map((x) => x.url)).toEqual([cal.url]);
    const delta = await c.smartCollectionSyncDetailed({ collection: { ...cal, objects: all, objectMultiGet: (p) => c.calendarMultiGet(p) }, method: 'webdav' });
    expect(delta.objects.updated.map((o) => o.url.split('/').pop())).toContain('standup.ics');
    expect(delta.objects.deleted.map((o) => o.url.split('/').pop())).toEqual(['later.ics']);
    expect(delta.objects.created).toEqual([]);
  });

  it('task lists hold VTODOs', async () => {
    const c = client('caldav');
    await c.login();
    const tasks = (await c.fetchCalendars()).find((x) => x.url.endsWith('/tasks/'))!;
    expect(tasks.components).toEqual(['VTODO']);
    expect((await c.createCalendarObject({ calendar: tasks, filename: 'todo.ics', iCalString: vtodo('tsdav-todo', { summary: 'Write report' }) })).status).toBe(201);
    // tsdav's default filter asks for VEVENTs: a task list is queried for VTODOs.
    const objs = await c.fetchCalendarObjects({ calendar: tasks, filters: [{ 'comp-filter': { _attributes: { name: 'VCALENDAR' }, 'comp-filter': { _attributes: { name: 'VTODO' } } } }] });
    expect(objs).toHaveLength(1);
    expect(objs.map((o) => o.data).join('')).toContain('SUMMARY:Write report');
  });
});

describe('tsdav as a CardDAV client', () => {
  it('finds the address book, creates and fetches vCards', async () => {
    const c = client('carddav');
    await c.login();
    const books = await c.fetchAddressBooks();
    expect(books.map((b) => b.url.split('/').filter(Boolean).pop()).sort()).toEqual(['contacts', 'gal']);
    const contacts = books.find((b) => b.url.endsWith('/contacts/'))!;
    const r = await c.createVCard({ addressBook: contacts, filename: 'grace.vcf', vCardString: vcard('tsdav-card', 'Grace Hopper', { email: 'grace@example.net' }) });
    expect(r.status).toBe(201);
    const cards = await c.fetchVCards({ addressBook: contacts });
    expect(cards.map((x) => x.url.split('/').pop())).toEqual(['grace.vcf']);
    expect(cards[0].data).toContain('FN:Grace Hopper');
  });

  it('the global address list lists the accounts of the domain and is read-only', async () => {
    const c = client('carddav');
    await c.login();
    const gal = (await c.fetchAddressBooks()).find((b) => b.url.endsWith('/gal/'))!;
    const cards = await c.fetchVCards({ addressBook: gal });
    expect(cards.map((x) => x.data).join('')).toContain(`EMAIL;TYPE=INTERNET,WORK:${alice.address}`);
    const r = await c.createVCard({ addressBook: gal, filename: 'x.vcf', vCardString: vcard('x', 'Intruder') });
    expect(r.status).toBe(403);
  });
});
