/**
 * Implicit scheduling (RFC 6638) between local accounts and to an external address through
 * the outbound queue (issue 5 points 3 and 4): invitations land in each local attendee's
 * inbox and calendar, answers update the organizer's copy, updates and cancellations
 * propagate, tasks assigned to a colleague appear in their list and their answer flows back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, davClient, hrefs, startDavServer, PASSWORD, DOMAIN, type DavClient, type DavTestServer } from './harness.ts';
import { systemActor } from '../../../src/core/actor.ts';
import type { AccountInfo } from '../../../src/core/directory/directory.ts';
import { deliver } from '../imap/harness.ts';
import { imipMessage } from '../../../src/core/dav/imip.ts';

let ts: DavTestServer;
let alice: AccountInfo;
let bob: AccountInfo;
let carol: AccountInfo;
let a: DavClient;
let b: DavClient;
let c: DavClient;
const EXTERNAL = 'guest@partner.example.net';

beforeAll(async () => {
  ts = await startDavServer();
  alice = await addAccount(ts.app, 'alice');
  bob = await addAccount(ts.app, 'bob');
  carol = await addAccount(ts.app, 'carol');
  a = davClient(ts, alice);
  b = davClient(ts, bob);
  c = davClient(ts, carol);
}, 60_000);
afterAll(async () => ts?.cleanup());

function meeting(uid: string, opts: { seq?: number; start?: string; attendees?: [string, string][]; component?: 'VEVENT' | 'VTODO'; summary?: string; status?: string } = {}): string {
  const comp = opts.component ?? 'VEVENT';
  const attendees = opts.attendees ?? [[bob.address, 'NEEDS-ACTION'], [carol.address, 'NEEDS-ACTION'], [EXTERNAL, 'NEEDS-ACTION']];
  return [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bulwark tests//EN', `BEGIN:${comp}`, `UID:${uid}`, 'DTSTAMP:20261101T000000Z',
    `SEQUENCE:${opts.seq ?? 0}`, `SUMMARY:${opts.summary ?? 'Planning'}`,
    ...(comp === 'VEVENT' ? [`DTSTART:${opts.start ?? '20270110T090000Z'}`, 'DURATION:PT1H'] : [`DUE:${opts.start ?? '20270110T170000Z'}`, `STATUS:${opts.status ?? 'NEEDS-ACTION'}`]),
    `ORGANIZER;CN=Alice:mailto:${alice.address}`,
    `ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:${alice.address}`,
    ...attendees.map(([addr, ps]) => `ATTENDEE;PARTSTAT=${ps};RSVP=TRUE:mailto:${addr}`),
    `END:${comp}`, 'END:VCALENDAR', '',
  ].join('\r\n');
}

/** All calendar data of a collection, via calendar-query without filter on the component. */
async function collectionData(cl: DavClient, path: string, comp = 'VEVENT'): Promise<string[]> {
  const r = await cl.report(path, `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop>
    <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="${comp}"/></c:comp-filter></c:filter></c:calendar-query>`);
  expect(r.status).toBe(207);
  return [...r.body.matchAll(/<cal:calendar-data>([\s\S]*?)<\/cal:calendar-data>/g)].map((m) => m[1].replace(/&#13;/g, '\r'));
}

/** Bodies of the queued messages for one recipient, oldest first. */
async function queuedFor(address: string): Promise<string[]> {
  const rows = await ts.app.stores.directory.selectFrom('queue_messages').innerJoin('queue_recipients', 'queue_recipients.queue_id', 'queue_messages.id')
    .select(['queue_messages.body', 'queue_messages.created_at']).where('queue_recipients.address', '=', address).orderBy('queue_messages.created_at').execute();
  return rows.map((r) => Buffer.from(r.body).toString('utf8'));
}

const unfold = (s: string) => s.replace(/\r\n[ \t]/g, '');
const attendeeLine = (data: string, addr: string) => unfold(data).split('\r\n').find((l) => l.startsWith('ATTENDEE') && l.toLowerCase().endsWith(`mailto:${addr}`)) ?? '';
const cal = (u: AccountInfo, coll = 'calendar') => `/dav/calendars/${u.address}/${coll}/`;

describe('implicit scheduling between local accounts and by iMIP', () => {
  it('advertises calendar-auto-schedule and the scheduling inbox and outbox', async () => {
    const o = await a.req('OPTIONS', '/dav/', { auth: false });
    expect(o.headers.dav).toContain('calendar-auto-schedule');
    const p = await a.propfind(`/dav/principals/${alice.address}/`, ['<c:schedule-inbox-URL/>', '<c:schedule-outbox-URL/>'], '0');
    expect(p.body).toContain(`${cal(alice, 'inbox')}`);
    expect(p.body).toContain(`${cal(alice, 'outbox')}`);
  });

  it('an invitation reaches every attendee: local inbox and calendar, external by mail through the queue; the organizer sees SCHEDULE-STATUS', async () => {
    const put = await a.put(`${cal(alice)}plan.ics`, meeting('plan-1'));
    expect(put.status).toBe(201);
    expect(put.headers.etag).toBeUndefined(); // the stored copy now carries SCHEDULE-STATUS
    for (const [cl, who] of [[b, bob], [c, carol]] as const) {
      const events = await collectionData(cl, cal(who));
      const copy = events.find((e) => e.includes('UID:plan-1'));
      expect(copy, who.address).toBeTruthy();
      expect(copy).not.toContain('METHOD:');
      expect(attendeeLine(copy!, who.address)).toContain('PARTSTAT=NEEDS-ACTION');
      const inbox = await collectionData(cl, cal(who, 'inbox'));
      expect(inbox.some((m) => m.includes('METHOD:REQUEST') && m.includes('UID:plan-1'))).toBe(true);
    }
    const mine = (await a.req('GET', `${cal(alice)}plan.ics`)).body;
    expect(attendeeLine(mine, bob.address)).toContain('SCHEDULE-STATUS=1.2');
    expect(attendeeLine(mine, EXTERNAL)).toContain('SCHEDULE-STATUS=1.1');
    const imip = await queuedFor(EXTERNAL);
    expect(imip.length).toBe(1);
    const raw = imip[0];
    expect(raw).toMatch(/Content-Type: text\/calendar; charset=utf-8; method=REQUEST/);
    const b64 = /method=REQUEST\r\nContent-Transfer-Encoding: base64\r\n\r\n([\s\S]*?)\r\n--/.exec(raw)![1];
    const ics = Buffer.from(b64.replace(/\r\n/g, ''), 'base64').toString('utf8');
    expect(ics).toContain('METHOD:REQUEST');
    expect(ics).toContain('UID:plan-1');
    expect(ics).not.toContain('SCHEDULE-STATUS');
  });

  it("an attendee's answer updates the organizer's copy and lands in the organizer's inbox; re-saving the organizer's copy sends nothing new", async () => {
    const events = await collectionData(b, cal(bob));
    const copy = events.find((e) => e.includes('UID:plan-1'))!;
    const name = hrefs((await b.report(cal(bob), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match collation="i;octet" match-type="equals">plan-1</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`)).body)[0];
    const accepted = unfold(copy).replace(`ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${bob.address}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${bob.address}`);
    expect(accepted).toContain('PARTSTAT=ACCEPTED');
    expect((await b.put(name, accepted)).status).toBe(204);
    const mine = (await a.req('GET', `${cal(alice)}plan.ics`)).body;
    expect(attendeeLine(mine, bob.address)).toContain('PARTSTAT=ACCEPTED');
    expect(attendeeLine(mine, bob.address)).toContain('SCHEDULE-STATUS=2.0');
    const inbox = await collectionData(a, cal(alice, 'inbox'));
    expect(inbox.some((m) => m.includes('METHOD:REPLY') && attendeeLine(m, bob.address).includes('PARTSTAT=ACCEPTED'))).toBe(true);
    // The organizer's client saves its copy again (it saw the answer): no new invitation.
    const bobInboxBefore = (await collectionData(b, cal(bob, 'inbox'))).length;
    expect((await a.put(`${cal(alice)}plan.ics`, mine)).status).toBe(204);
    expect((await collectionData(b, cal(bob, 'inbox'))).length).toBe(bobInboxBefore);
  });

  it('an attendee deleting the meeting declines it', async () => {
    const r = await c.report(cal(carol), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>`);
    for (const h of hrefs(r.body)) expect((await c.req('DELETE', h)).status).toBe(204);
    const mine = (await a.req('GET', `${cal(alice)}plan.ics`)).body;
    expect(attendeeLine(mine, carol.address)).toContain('PARTSTAT=DECLINED');
  });

  it("the organizer's update moves the meeting for the attendees; an attendee taken off gets a CANCEL; deleting cancels it for everyone", async () => {
    const moved = meeting('plan-1', { seq: 1, start: '20270111T140000Z', attendees: [[bob.address, 'ACCEPTED'], [EXTERNAL, 'NEEDS-ACTION']] });
    expect((await a.put(`${cal(alice)}plan.ics`, moved)).status).toBe(204);
    const bobCopy = (await collectionData(b, cal(bob))).find((e) => e.includes('UID:plan-1'))!;
    expect(bobCopy).toContain('DTSTART:20270111T140000Z');
    expect(bobCopy).toContain('SEQUENCE:1');
    const carolInbox = await collectionData(c, cal(carol, 'inbox'));
    expect(carolInbox.some((m) => m.includes('METHOD:CANCEL') && m.includes('UID:plan-1'))).toBe(true);
    expect((await a.req('DELETE', `${cal(alice)}plan.ics`)).status).toBe(204);
    const cancelled = (await collectionData(b, cal(bob))).find((e) => e.includes('UID:plan-1'))!;
    expect(cancelled).toContain('STATUS:CANCELLED');
    expect((await collectionData(b, cal(bob, 'inbox'))).some((m) => m.includes('METHOD:CANCEL'))).toBe(true);
    const external = await queuedFor(EXTERNAL);
    expect(external.length).toBe(3); // the invitation, the update, the cancellation
    expect(external.map((m) => /method=(\w+)/.exec(m)![1])).toEqual(['REQUEST', 'REQUEST', 'CANCEL']);
  });

  it('a task assigned to a colleague appears in their task list, and their progress flows back', async () => {
    const task = meeting('task-1', { component: 'VTODO', attendees: [[bob.address, 'NEEDS-ACTION']], summary: 'Write the report' });
    expect((await a.put(`${cal(alice, 'tasks')}task.ics`, task)).status).toBe(201);
    const todos = await collectionData(b, cal(bob, 'tasks'), 'VTODO');
    const copy = todos.find((t) => t.includes('UID:task-1'));
    expect(copy).toBeTruthy();
    const r = await b.report(cal(bob, 'tasks'), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VTODO"/></c:comp-filter></c:filter></c:calendar-query>`);
    const done = unfold(copy!).replace('STATUS:NEEDS-ACTION', 'STATUS:COMPLETED')
      .replace(`ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${bob.address}`, `ATTENDEE;PARTSTAT=COMPLETED:mailto:${bob.address}`);
    expect((await b.put(hrefs(r.body)[0], done)).status).toBe(204);
    const mine = (await a.req('GET', `${cal(alice, 'tasks')}task.ics`)).body;
    expect(attendeeLine(mine, bob.address)).toContain('PARTSTAT=COMPLETED');
  });

  it('iMIP by e-mail: an external attendee\'s REPLY updates the organizer\'s event; a forged one does not; an external REQUEST lands in the attendee\'s calendar', async () => {
    expect((await a.put(`${cal(alice)}ext.ics`, meeting('ext-1', { attendees: [[EXTERNAL, 'NEEDS-ACTION']] }))).status).toBe(201);
    const replyIcs = (who: string, ps: string) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Partner//EN', 'METHOD:REPLY', 'BEGIN:VEVENT', 'UID:ext-1',
      'DTSTAMP:20261102T000000Z', 'SEQUENCE:0', 'DTSTART:20270110T090000Z', `ORGANIZER:mailto:${alice.address}`, `ATTENDEE;PARTSTAT=${ps}:mailto:${who}`,
      'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    // Someone else cannot answer for the guest: From and ATTENDEE must be the same address.
    const forged = imipMessage({ from: 'mallory@evil.example.org', to: alice.address, method: 'REPLY', ical: replyIcs(EXTERNAL, 'DECLINED'), summary: 'Planning', hostname: 'evil.example.org' });
    await deliver(ts, alice.address, forged, 'mallory@evil.example.org');
    expect(attendeeLine((await a.req('GET', `${cal(alice)}ext.ics`)).body, EXTERNAL)).not.toContain('DECLINED');
    const reply = imipMessage({ from: EXTERNAL, to: alice.address, method: 'REPLY', ical: replyIcs(EXTERNAL, 'ACCEPTED'), summary: 'Planning', hostname: 'partner.example.net' });
    await deliver(ts, alice.address, reply, EXTERNAL);
    const mine = (await a.req('GET', `${cal(alice)}ext.ics`)).body;
    expect(attendeeLine(mine, EXTERNAL)).toContain('PARTSTAT=ACCEPTED');
    // An invitation from an external organizer: into the attendee's calendar, awaiting an answer.
    const request = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Partner//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'UID:partner-1', 'DTSTAMP:20261102T000000Z',
      'SEQUENCE:0', 'DTSTART:20270120T130000Z', 'DURATION:PT30M', 'SUMMARY:Partner call', `ORGANIZER:mailto:${EXTERNAL}`,
      `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${bob.address}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    await deliver(ts, bob.address, imipMessage({ from: EXTERNAL, to: bob.address, method: 'REQUEST', ical: request, summary: 'Partner call', hostname: 'partner.example.net' }), EXTERNAL);
    const copy = (await collectionData(b, cal(bob))).find((e) => e.includes('UID:partner-1'));
    expect(copy).toBeTruthy();
    expect(attendeeLine(copy!, bob.address)).toContain('PARTSTAT=NEEDS-ACTION');
    // Bob accepts in his client: the REPLY goes back to the external organizer by mail.
    const r = await b.report(cal(bob), `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="UID"><c:text-match collation="i;octet" match-type="equals">partner-1</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    const before = (await queuedFor(EXTERNAL)).length;
    expect((await b.put(hrefs(r.body)[0], unfold(copy!).replace('PARTSTAT=NEEDS-ACTION;RSVP=TRUE', 'PARTSTAT=ACCEPTED'))).status).toBe(204);
    const sent = await queuedFor(EXTERNAL);
    expect(sent.length).toBe(before + 1);
    expect(sent.at(-1)).toMatch(/method=REPLY/);
  });

  it('a room accepts when it is free and declines a conflicting booking; its principal says ROOM', async () => {
    const room = await ts.app.directory.addAccount(systemActor('test'), { address: `room-101@${DOMAIN}`, password: PASSWORD, displayName: 'Room 101', kind: 'room' });
    const p = await a.propfind(`/dav/principals/${alice.address}/`, ['<c:calendar-user-type/>'], '0');
    expect(p.body).toContain('<cal:calendar-user-type>INDIVIDUAL</cal:calendar-user-type>');
    const rp = await davClient(ts, room).propfind(`/dav/principals/${room.address}/`, ['<c:calendar-user-type/>'], '0');
    expect(rp.body).toContain('<cal:calendar-user-type>ROOM</cal:calendar-user-type>');
    const booking = (uid: string, start: string) => meeting(uid, { start, attendees: [[room.address, 'NEEDS-ACTION']], summary: 'Board meeting' });
    expect((await a.put(`${cal(alice)}board.ics`, booking('board-1', '20270201T100000Z'))).status).toBe(201);
    const mine = (await a.req('GET', `${cal(alice)}board.ics`)).body;
    expect(attendeeLine(mine, room.address)).toContain('PARTSTAT=ACCEPTED');
    expect(attendeeLine(mine, room.address)).toContain('SCHEDULE-STATUS=2.0');
    // Bob wants the room half an hour later, overlapping: declined, and the room keeps one booking.
    const bobs = meeting('board-2', { start: '20270201T103000Z', attendees: [[room.address, 'NEEDS-ACTION']] }).replaceAll(`mailto:${alice.address}`, `mailto:${bob.address}`);
    expect((await b.put(`${cal(bob)}room.ics`, bobs)).status).toBe(201);
    expect(attendeeLine((await b.req('GET', `${cal(bob)}room.ics`)).body, room.address)).toContain('PARTSTAT=DECLINED');
    // After the first meeting ends the room is free again.
    const later = meeting('board-3', { start: '20270201T110000Z', attendees: [[room.address, 'NEEDS-ACTION']] }).replaceAll(`mailto:${alice.address}`, `mailto:${bob.address}`);
    expect((await b.put(`${cal(bob)}room2.ics`, later)).status).toBe(201);
    expect(attendeeLine((await b.req('GET', `${cal(bob)}room2.ics`)).body, room.address)).toContain('PARTSTAT=ACCEPTED');
    const roomCal = await collectionData(davClient(ts, room), cal(room));
    expect(roomCal.map((e) => /UID:(\S+)/.exec(e)![1]).sort()).toEqual(['board-1', 'board-3']);

    // Free/busy of others through the outbox: busy times only, 3.7 for an unknown user.
    const fbReq = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Bulwark tests//EN', 'METHOD:REQUEST', 'BEGIN:VFREEBUSY', 'UID:fb-1', 'DTSTAMP:20261101T000000Z',
      'DTSTART:20270201T000000Z', 'DTEND:20270202T000000Z', `ORGANIZER:mailto:${alice.address}`, `ATTENDEE:mailto:${room.address}`, `ATTENDEE:mailto:nobody@${DOMAIN}`,
      'END:VFREEBUSY', 'END:VCALENDAR', ''].join('\r\n');
    const fb = await a.req('POST', cal(alice, 'outbox'), { body: fbReq, headers: { 'content-type': 'text/calendar; charset=utf-8' } });
    expect(fb.status).toBe(200);
    expect(fb.body).toMatch(/<cal:schedule-response[ >]/);
    const roomPart = /<cal:response><cal:recipient><d:href>mailto:room-101@[^<]+<\/d:href><\/cal:recipient><cal:request-status>2.0;Success<\/cal:request-status><cal:calendar-data>([\s\S]*?)<\/cal:calendar-data>/.exec(fb.body);
    expect(roomPart).toBeTruthy();
    const fbData = unfold(roomPart![1].replace(/&#13;/g, '\r'));
    expect(fbData).toContain('METHOD:REPLY');
    expect(fbData).toMatch(/FREEBUSY;FBTYPE=BUSY:20270201T100000Z\/20270201T110000Z,20270201T110000Z\/20270201T120000Z|FREEBUSY;FBTYPE=BUSY:20270201T100000Z\/20270201T120000Z/);
    expect(fbData).not.toContain('Board meeting');
    expect(fb.body).toMatch(/mailto:nobody@[^<]+<\/d:href><\/cal:recipient><cal:request-status>3.7/);
    // Only as oneself.
    const asBob = fbReq.replace(`ORGANIZER:mailto:${alice.address}`, `ORGANIZER:mailto:${bob.address}`);
    const refused = await a.req('POST', cal(alice, 'outbox'), { body: asBob, headers: { 'content-type': 'text/calendar' } });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('organizer-allowed');
  });

  it('deleting a whole calendar cancels its meetings for the attendees', async () => {
    expect((await a.req('MKCALENDAR', cal(alice, 'project'))).status).toBe(201);
    expect((await a.put(`${cal(alice, 'project')}kickoff.ics`, meeting('kickoff-1', { attendees: [[bob.address, 'NEEDS-ACTION']], start: '20270301T090000Z' }))).status).toBe(201);
    expect((await collectionData(b, cal(bob))).find((e) => e.includes('UID:kickoff-1'))).not.toContain('STATUS:CANCELLED');
    expect((await a.req('DELETE', cal(alice, 'project'))).status).toBe(204);
    expect((await collectionData(b, cal(bob))).find((e) => e.includes('UID:kickoff-1'))).toContain('STATUS:CANCELLED');
  });
});
