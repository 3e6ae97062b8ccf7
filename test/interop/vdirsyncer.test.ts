/**
 * Issue 5 point 8: interop with Debian's vdirsyncer, a two-way synchroniser between CalDAV /
 * CardDAV collections and local directories of .ics and .vcf files (khal, khard and todoman
 * read those). It is the client that notices what a casual one never checks: ETags that stay
 * put until the resource changes, If-Match / If-None-Match on every write, an ETag on a PUT
 * only when the bytes were stored as sent (RFC 7231 §4.3.4: vdirsyncer then reads the item
 * again), deletions with If-Match, and discovery by three different routes.
 *
 * One account with its default collections and three pairs, each a `filesystem` storage
 * against a `caldav` / `carddav` one:
 * - calendar: the calendar `calendar`, found from /dav/ through current-user-principal and
 *   calendar-home-set; listed with PROPFIND Depth 1, read with calendar-multiget;
 * - tasks: the task list `tasks` given by its collection URL (collections = null), listed with a
 *   calendar-query for VTODOs (item_types);
 * - contacts: the address book `contacts`, found from the bare host through
 *   /.well-known/carddav (RFC 6764), read with addressbook-multiget.
 * The tests run in order, each building on the last: discover, changes made on the server come
 * down, local files go up, changes on both sides, deletions on both sides, and a last sync
 * with nothing left to do (no request that changes anything, the same sync tokens, the same
 * files).
 *
 * vdirsyncer runs as a child process (asynchronously: the server runs in this process), only
 * against 127.0.0.1, with a bounded time, a private HOME and its debug trace in every failure
 * message. It must be installed (.ci/run installs Debian's package): the suite fails otherwise.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, addAccount, davClient, hrefs, responses, startDavServer, vcard, vevent, vtodo, type DavClient, type DavTestServer } from '../protocols/dav/harness.ts';
import { tempDir } from '../harness/tmp.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import type { DavHome } from '../../src/core/dav/store.ts';

const VDIRSYNCER = '/usr/bin/vdirsyncer';
const STEP_MS = 120_000;

interface Run {
  code: number;
  /** stdout and stderr with the debug trace (-v debug). */
  out: string;
  /** What vdirsyncer did to an item: its "Copying ..." and "Deleting ..." lines. */
  actions: string[];
  /** The requests it sent, as "METHOD URL". */
  requests: string[];
  /** The hrefs it read with calendar-multiget or addressbook-multiget (it reads an item only when its ETag is new). */
  fetched: string[];
}

/** A resource as one side holds it, keyed by UID. */
interface Item {
  name: string;
  data: string;
}

interface LocalItem extends Item {
  file: string;
  /** mtime and inode: vdirsyncer's own "ETag" of a local file. */
  stamp: string;
}

/** The first value of a property (unfolded text, parameters skipped). */
const prop = (data: string, name: string) => new RegExp(`^${name}(?:;[^:\\r\\n]*)?:(.*?)\\r?$`, 'm').exec(data)?.[1];
const uidOf = (data: string) => prop(data, 'UID')!;
const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');

/**
 * Writes a local file as an editor saves it: a new file renamed over the old one. vdirsyncer
 * tells local changes by mtime and inode; a new inode shows the change even where the file
 * system's timestamps are coarse.
 */
function save(file: string, data: string): void {
  fs.writeFileSync(`${file}.tmp`, data);
  fs.renameSync(`${file}.tmp`, file);
}

/** The weekly stand-up: a recurring event in a named time zone, one instance moved. */
function standup(summary: string): string {
  return crlf(`BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Bulwark tests//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:standup-2027
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20270104T093000
DTEND;TZID=Europe/Berlin:20270104T094500
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10
SUMMARY:${summary}
END:VEVENT
BEGIN:VEVENT
UID:standup-2027
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20270111T093000
DTSTART;TZID=Europe/Berlin:20270111T110000
DTEND;TZID=Europe/Berlin:20270111T111500
SUMMARY:Stand-up (moved to 11:00)
END:VEVENT
END:VCALENDAR
`);
}

describe('vdirsyncer against Bulwark (issue 5 point 8)', () => {
  let ts: DavTestServer;
  let alice: AccountInfo;
  let dav: DavClient;
  let tmp: { dir: string; cleanup: () => void };
  let config: string;
  /** The local collections (directories of files), as vdirsyncer makes them. */
  let local: { calendar: string; tasks: string; contacts: string };
  let url: { calendar: string; tasks: string; contacts: string };

  /** Runs vdirsyncer with the given arguments (and answers for its prompts on stdin). */
  function vdirsyncer(args: string[], input = ''): Promise<Run> {
    return new Promise((resolve, reject) => {
      // A private HOME and no proxy settings: the configuration names 127.0.0.1 only.
      const env = { PATH: '/usr/bin:/bin', HOME: tmp.dir, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
      const child = spawn(VDIRSYNCER, ['-v', 'debug', '-c', config, ...args], { env, timeout: 60_000, stdio: ['pipe', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', reject);
      child.stdin.on('error', () => { /* it may exit before reading its answers */ });
      child.on('close', (code, signal) => {
        const out = Buffer.concat(chunks).toString('utf8');
        const lines = out.split('\n');
        resolve({
          code: code ?? (signal ? -1 : 0),
          out,
          actions: lines.filter((l) => /^(Copying|Deleting) /.test(l)).sort(),
          requests: lines.flatMap((l) => { const m = /^debug: ([A-Z]+) (https?:\/\/\S+)$/.exec(l); return m ? [`${m[1]} ${m[2]}`] : []; }),
          // The trace shows each request body on one line (a Python bytes literal).
          fetched: lines.filter((l) => l.startsWith("debug: b'") && l.includes('-multiget ')).flatMap((l) => [...l.matchAll(/<href>([^<]+)<\/href>/g)].map((m) => m[1])).sort(),
        });
      });
      child.stdin.end(input);
    });
  }

  const why = (r: Run) => `vdirsyncer exited ${r.code}:\n${r.out.split('\n').slice(-150).join('\n')}`;

  /**
   * `vdirsyncer sync`: must exit 0 with no error and no warning but one: vdirsyncer 0.19 logs
   * "Deleting an item with no etag." when it deletes *with* an ETag (its test is inverted).
   * (Its debug log also prints a "--- Logging error ---" traceback for every response without
   * a body, PUT and DELETE: aiohttp's EmptyStreamReader cannot be printed. Harmless.)
   */
  async function sync(): Promise<Run> {
    const r = await vdirsyncer(['sync']);
    expect(r.code, why(r)).toBe(0);
    const complaints = r.out.split('\n').filter((l) => /^(error|critical|warning):/.test(l) && l !== 'warning: Deleting an item with no etag.');
    expect(complaints, why(r)).toEqual([]);
    return r;
  }

  /** The files of a local collection, keyed by UID. */
  function localItems(dir: string): Map<string, LocalItem> {
    const out = new Map<string, LocalItem>();
    for (const name of fs.readdirSync(dir).sort()) {
      if (!/\.(ics|vcf)$/.test(name)) continue;
      const file = path.join(dir, name);
      const data = fs.readFileSync(file, 'utf8');
      const st = fs.statSync(file, { bigint: true });
      out.set(uidOf(data), { name, file, data, stamp: `${st.mtimeNs};${st.ino}` });
    }
    return out;
  }

  /** The resources of a collection as the server stores them, keyed by UID. */
  async function serverItems(home: DavHome, collection: string): Promise<Map<string, Item>> {
    const coll = (await ts.app.dav.collection(alice, home, collection))!;
    const objs = await ts.app.dav.objects(alice, coll.id, { withData: true });
    return new Map(objs.map((o) => [o.uid, { name: o.name, data: o.data }]));
  }

  /** getctag and sync-token of the three collections (PROPFIND, as a client reads them). */
  async function tokens(): Promise<Record<'calendar' | 'tasks' | 'contacts', { ctag: string; syncToken: string }>> {
    const one = async (u: string) => {
      const r = await dav.propfind(new URL(u).pathname, ['<cs:getctag/>', '<d:sync-token/>'], '0');
      expect(r.status).toBe(207);
      const ctag = /<cs:getctag>([^<]+)</.exec(r.body)?.[1];
      const syncToken = /<d:sync-token>([^<]+)</.exec(r.body)?.[1];
      expect(ctag && syncToken, r.body).toBeTruthy();
      return { ctag: ctag!, syncToken: syncToken! };
    };
    const home = `http://127.0.0.1:${ts.httpPort}/dav/`;
    return {
      calendar: await one(`${home}calendars/${alice.address}/calendar/`),
      tasks: await one(url.tasks),
      contacts: await one(`${home}addressbooks/${alice.address}/contacts/`),
    };
  }

  const localSnapshot = () => [local.calendar, local.tasks, local.contacts].map((d) => [...localItems(d).values()].map((i) => `${i.name} ${i.stamp} ${i.data}`));

  beforeAll(async () => {
    if (!fs.existsSync(VDIRSYNCER)) throw new Error(`${VDIRSYNCER} is missing: install Debian's vdirsyncer package (.ci/run does)`);
    tmp = tempDir('bulwark-vdirsyncer-');
    ts = await startDavServer();
    alice = await addAccount(ts.app, 'alice');
    dav = davClient(ts, alice);
    const base = `http://127.0.0.1:${ts.httpPort}`;
    url = {
      calendar: `${base}/dav/`,
      tasks: `${base}/dav/calendars/${alice.address}/tasks/`,
      contacts: `${base}/`,
    };
    const root = path.join(tmp.dir, 'dav');
    local = { calendar: path.join(root, 'calendars', 'calendar'), tasks: path.join(root, 'tasks'), contacts: path.join(root, 'contacts', 'contacts') };
    const remote = (type: string, u: string, extra: string[] = []) => [`type = "${type}"`, `url = "${u}"`, `username = "${alice.address}"`, `password = "${PASSWORD}"`, ...extra];
    const section = (head: string, lines: string[]) => [`[${head}]`, ...lines, ''];
    config = path.join(tmp.dir, 'config');
    fs.writeFileSync(config, [
      ...section('general', [`status_path = "${path.join(tmp.dir, 'status')}/"`]),
      ...section('pair calendar', ['a = "calendar_local"', 'b = "calendar_remote"', 'collections = ["calendar"]']),
      ...section('storage calendar_local', ['type = "filesystem"', `path = "${path.join(root, 'calendars')}/"`, 'fileext = ".ics"']),
      ...section('storage calendar_remote', remote('caldav', url.calendar)),
      ...section('pair tasks', ['a = "tasks_local"', 'b = "tasks_remote"', 'collections = null']),
      ...section('storage tasks_local', ['type = "filesystem"', `path = "${local.tasks}/"`, 'fileext = ".ics"']),
      ...section('storage tasks_remote', remote('caldav', url.tasks, ['item_types = ["VTODO"]'])),
      ...section('pair contacts', ['a = "contacts_local"', 'b = "contacts_remote"', 'collections = ["contacts"]']),
      ...section('storage contacts_local', ['type = "filesystem"', `path = "${path.join(root, 'contacts')}/"`, 'fileext = ".vcf"']),
      ...section('storage contacts_remote', remote('carddav', url.contacts)),
    ].join('\n'));
  }, 60_000);
  afterAll(async () => {
    await ts?.cleanup();
    tmp?.cleanup();
  });

  it('discover: finds the calendars from the principal, the address book through /.well-known/carddav, the task list by its URL', async () => {
    // The local collections do not exist yet: vdirsyncer asks whether to make them (yes).
    const r = await vdirsyncer(['discover'], 'y\n'.repeat(6));
    expect(r.code, why(r)).toBe(0);
    expect(r.out).toContain('Saved for calendar: collections = ["calendar"]');
    expect(r.out).toContain('Saved for tasks: collections = null');
    expect(r.out).toContain('Saved for contacts: collections = ["contacts"]');
    // The calendar home lists both calendars by their display names, not the scheduling inbox and outbox.
    expect(r.out).toContain('- "calendar" ("Calendar")');
    expect(r.out).toContain('- "tasks" ("Tasks")');
    expect(r.out).toContain('- "contacts" ("Contacts")');
    expect(r.out).not.toMatch(/- "(inbox|outbox)"/);
    // From the bare host: / is not DAV, so /.well-known/carddav (answering a PROPFIND with its
    // XML body), then current-user-principal, addressbook-home-set and the home's members.
    const port = ts.httpPort;
    const wk = r.requests.indexOf(`PROPFIND http://127.0.0.1:${port}/.well-known/carddav`);
    expect(wk, why(r)).toBeGreaterThanOrEqual(0);
    expect(r.requests.slice(wk + 1)).toContain(`PROPFIND http://127.0.0.1:${port}/dav/principals/${alice.address}/`);
    expect(r.requests.slice(wk + 1)).toContain(`PROPFIND http://127.0.0.1:${port}/dav/addressbooks/${alice.address}/`);
    expect(r.requests).toContain(`PROPFIND http://127.0.0.1:${port}/dav/calendars/${alice.address}/`);
    for (const d of Object.values(local)) expect(fs.statSync(d).isDirectory()).toBe(true);
    // Nothing on either side yet: a first sync has nothing to copy.
    const first = await sync();
    expect(first.actions).toEqual([]);
    expect(first.out).toContain('Syncing calendar/calendar');
    expect(first.out).toContain('Syncing contacts/contacts');
  }, STEP_MS);

  it('(1) events, tasks and vCards created on the server come down, byte for byte', async () => {
    const cal = `/dav/calendars/${alice.address}/calendar/`;
    const tasks = `/dav/calendars/${alice.address}/tasks/`;
    const book = `/dav/addressbooks/${alice.address}/contacts/`;
    for (const [p, data] of [
      [`${cal}standup.ics`, standup('Weekly stand-up')],
      [`${cal}review.ics`, vevent('review-2027', { summary: 'Quarterly review', start: '20270115T140000Z', end: '20270115T160000Z' })],
      [`${tasks}report.ics`, vtodo('task-report', { summary: 'Write the report' })],
      [`${tasks}backup.ics`, vtodo('task-backup', { summary: 'Check the backups', due: '20261220T170000Z' })],
      [`${book}ada.vcf`, vcard('card-ada', 'Ada Lovelace', { email: 'ada@example.net' })],
      [`${book}grace.vcf`, vcard('card-grace', 'Grace Hopper', { email: 'grace@example.net' })],
    ]) expect((await dav.put(p, data, { 'if-none-match': '*' })).status).toBe(201);

    const r = await sync();
    expect(r.actions, why(r)).toEqual([
      'Copying (uploading) item card-ada to contacts_local/contacts',
      'Copying (uploading) item card-grace to contacts_local/contacts',
      'Copying (uploading) item review-2027 to calendar_local/calendar',
      'Copying (uploading) item standup-2027 to calendar_local/calendar',
      'Copying (uploading) item task-backup to tasks_local',
      'Copying (uploading) item task-report to tasks_local',
    ]);
    // The task list was listed with a calendar-query for VTODOs (item_types), the others with
    // PROPFIND Depth 1; everything was then read with one multiget per collection.
    expect(r.out).toMatch(/^debug: b'.*<C:calendar-query .*<C:comp-filter name="VTODO">/m);
    expect(r.requests).toContain(`PROPFIND http://127.0.0.1:${ts.httpPort}/dav/calendars/${alice.address}/calendar/`);
    expect(r.fetched).toEqual([`${book}ada.vcf`, `${book}grace.vcf`, `${cal}review.ics`, `${cal}standup.ics`, `${tasks}backup.ics`, `${tasks}report.ics`]);

    for (const [dir, home, coll] of [[local.calendar, 'calendars', 'calendar'], [local.tasks, 'calendars', 'tasks'], [local.contacts, 'addressbooks', 'contacts']] as const) {
      const here = localItems(dir);
      const there = await serverItems(home, coll);
      expect([...here.keys()].sort()).toEqual([...there.keys()].sort());
      for (const [uid, s] of there) {
        expect(here.get(uid)!.data, uid).toBe(s.data);
        expect(here.get(uid)!.name).toBe(`${uid}${coll === 'contacts' ? '.vcf' : '.ics'}`);
      }
    }
    // The recurring event keeps its time zone and its moved instance (one resource, two VEVENTs).
    const su = localItems(local.calendar).get('standup-2027')!.data;
    expect(su.match(/^BEGIN:VEVENT\r$/gm)).toHaveLength(2);
    expect(su).toContain('RECURRENCE-ID;TZID=Europe/Berlin:20270111T093000\r\n');
    expect(su).toContain('BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n');
    expect(prop(localItems(local.contacts).get('card-ada')!.data, 'VERSION')).toBe('3.0');
  }, STEP_MS);

  it('(2) files created locally go up, with the same UID, If-None-Match: * and a GETtable ETag', async () => {
    // An event as a plain-text editor writes it (LF line ends; the UID is not URL-safe, so
    // vdirsyncer names the resource with a fresh UUID), a task and a vCard 3.0 with CRLF.
    const lunch = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//local editor//EN', 'BEGIN:VEVENT', 'UID:lunch-4f2a@example.net', 'DTSTAMP:20261101T120000Z',
      'DTSTART:20261204T120000Z', 'DTEND:20261204T130000Z', 'SUMMARY:Lunch with Bob', 'LOCATION:Canteen', 'END:VEVENT', 'END:VCALENDAR', ''].join('\n');
    save(path.join(local.calendar, 'lunch.ics'), lunch);
    save(path.join(local.tasks, 'groceries.ics'), vtodo('task-groceries', { summary: 'Buy groceries', due: '20261205T180000Z' }));
    save(path.join(local.contacts, 'alan.vcf'), crlf(['BEGIN:VCARD', 'VERSION:3.0', 'UID:card-alan', 'FN:Alan Turing', 'N:Turing;Alan;;;',
      'EMAIL;TYPE=INTERNET:alan@example.net', 'TEL;TYPE=WORK,VOICE:+44 20 7946 0000', 'END:VCARD', ''].join('\n')));

    const r = await sync();
    expect(r.actions, why(r)).toEqual([
      'Copying (uploading) item card-alan to contacts_remote/contacts',
      'Copying (uploading) item lunch-4f2a@example.net to calendar_remote/calendar',
      'Copying (uploading) item task-groceries to tasks_remote',
    ]);
    expect(r.out).toMatch(/'If-None-Match': '\*'/);

    const cal = await serverItems('calendars', 'calendar');
    const up = cal.get('lunch-4f2a@example.net')!;
    expect(up.name).toMatch(/^[0-9a-f-]{36}\.ics$/);
    expect(up.data).toBe(crlf(lunch)); // stored with CRLF line ends, nothing else changed
    const tasks = await serverItems('calendars', 'tasks');
    expect(tasks.get('task-groceries')).toEqual({ name: 'task-groceries.ics', data: fs.readFileSync(path.join(local.tasks, 'groceries.ics'), 'utf8') });
    const book = await serverItems('addressbooks', 'contacts');
    expect(book.get('card-alan')!.name).toBe('card-alan.vcf');
    expect(book.get('card-alan')!.data).toBe(fs.readFileSync(path.join(local.contacts, 'alan.vcf'), 'utf8'));
    // Over HTTP too: each is there under the name vdirsyncer chose, with an ETag.
    const get = await dav.req('GET', `/dav/calendars/${alice.address}/calendar/${up.name}`);
    expect(get.status).toBe(200);
    expect(get.headers.etag).toMatch(/^"[0-9a-z]+"$/);
    expect(prop(get.body, 'SUMMARY')).toBe('Lunch with Bob');
    const card = await dav.req('GET', `/dav/addressbooks/${alice.address}/contacts/card-alan.vcf`);
    expect(prop(card.body, 'FN')).toBe('Alan Turing');

    // The stored bytes differ from the LF file, so that PUT got no ETag (RFC 4791 §5.3.4,
    // RFC 9110 §9.3.4); vdirsyncer reads that item once more on the next sync, finds the same
    // content and changes nothing. The task and the vCard were stored as sent: their ETags
    // came with the PUT and are still the listed ones, so they are not read again.
    const again = await sync();
    expect(again.actions, why(again)).toEqual([]);
    expect(again.fetched).toEqual([`/dav/calendars/${alice.address}/calendar/${up.name}`]);
    expect(localItems(local.calendar).get('lunch-4f2a@example.net')!.data).toBe(lunch);
  }, STEP_MS);

  it('(3) a change on the server and another made locally both propagate on the next sync (If-Match on the way up)', async () => {
    const cal = `/dav/calendars/${alice.address}/calendar/`;
    // On the server: the stand-up's series gets a new SUMMARY, a task and a vCard change.
    const etagOf = async (p: string) => (await dav.req('GET', p)).headers.etag as string;
    for (const [p, data] of [
      [`${cal}standup.ics`, standup('Weekly stand-up (team A)')],
      [`/dav/calendars/${alice.address}/tasks/backup.ics`, vtodo('task-backup', { summary: 'Check the backups and the restore', due: '20261220T170000Z' })],
      [`/dav/addressbooks/${alice.address}/contacts/ada.vcf`, vcard('card-ada', 'Ada King', { email: 'ada@example.net' })],
    ]) expect((await dav.put(p, data, { 'if-match': await etagOf(p) })).status).toBe(204);
    // Locally: the review moves and is renamed, the report is done, Grace gets a phone number.
    const review = localItems(local.calendar).get('review-2027')!;
    save(review.file, review.data.replace('SUMMARY:Quarterly review', 'SUMMARY:Quarterly review (room 2)').replace('DTSTART:20270115T140000Z', 'DTSTART:20270115T150000Z').replace('DTEND:20270115T160000Z', 'DTEND:20270115T170000Z'));
    const report = localItems(local.tasks).get('task-report')!;
    save(report.file, report.data.replace('STATUS:NEEDS-ACTION\r\n', 'STATUS:COMPLETED\r\nCOMPLETED:20261202T160000Z\r\nPERCENT-COMPLETE:100\r\n'));
    const grace = localItems(local.contacts).get('card-grace')!;
    save(grace.file, grace.data.replace('FN:Grace Hopper\r\n', 'FN:Grace Brewster Hopper\r\n').replace('END:VCARD', 'TEL;TYPE=CELL:+1 555 0100\r\nEND:VCARD'));

    const r = await sync();
    expect(r.actions, why(r)).toEqual([
      'Copying (updating) item card-ada to contacts_local/contacts',
      'Copying (updating) item card-grace to contacts_remote/contacts',
      'Copying (updating) item review-2027 to calendar_remote/calendar',
      'Copying (updating) item standup-2027 to calendar_local/calendar',
      'Copying (updating) item task-backup to tasks_local',
      'Copying (updating) item task-report to tasks_remote',
    ]);
    expect(r.out).toMatch(/'If-Match': '"[0-9a-z]+"'/);

    // Down: the local files are the server's new bytes.
    const serverCal = await serverItems('calendars', 'calendar');
    const localCal = localItems(local.calendar);
    expect(localCal.get('standup-2027')!.data).toBe(serverCal.get('standup-2027')!.data);
    expect(prop(localCal.get('standup-2027')!.data, 'SUMMARY')).toBe('Weekly stand-up (team A)');
    expect(localCal.get('standup-2027')!.data).toContain('SUMMARY:Stand-up (moved to 11:00)\r\n'); // the moved instance is still there
    expect(prop(localItems(local.tasks).get('task-backup')!.data, 'SUMMARY')).toBe('Check the backups and the restore');
    expect(prop(localItems(local.contacts).get('card-ada')!.data, 'FN')).toBe('Ada King');
    // Up: the server holds the local edits under the same names.
    expect(serverCal.get('review-2027')).toEqual({ name: 'review.ics', data: localCal.get('review-2027')!.data });
    expect(prop(serverCal.get('review-2027')!.data, 'DTSTART')).toBe('20270115T150000Z');
    const task = (await serverItems('calendars', 'tasks')).get('task-report')!;
    expect(task.name).toBe('report.ics');
    expect(prop(task.data, 'STATUS')).toBe('COMPLETED');
    expect(prop(task.data, 'PERCENT-COMPLETE')).toBe('100');
    const card = (await serverItems('addressbooks', 'contacts')).get('card-grace')!;
    expect(prop(card.data, 'FN')).toBe('Grace Brewster Hopper');
    expect(prop(card.data, 'TEL')).toBe('+1 555 0100');
    // The server indexes what came up: a calendar-query for completed tasks finds the report only.
    const done = await dav.report(`/dav/calendars/${alice.address}/tasks/`, `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
      <d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VTODO"><c:prop-filter name="STATUS"><c:text-match>COMPLETED</c:text-match>
      </c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`);
    expect(done.status).toBe(207);
    expect(hrefs(done.body)).toEqual([`/dav/calendars/${alice.address}/tasks/report.ics`]);
  }, STEP_MS);

  it('(4) deletions on either side propagate (DELETE with If-Match on the way up)', async () => {
    const before = await tokens();
    // On the server: the review, the backup task and Grace.
    for (const p of [`/dav/calendars/${alice.address}/calendar/review.ics`, `/dav/calendars/${alice.address}/tasks/backup.ics`, `/dav/addressbooks/${alice.address}/contacts/grace.vcf`]) {
      expect((await dav.req('DELETE', p)).status).toBe(204);
    }
    // Locally: the lunch, the groceries and Alan.
    fs.rmSync(localItems(local.calendar).get('lunch-4f2a@example.net')!.file);
    fs.rmSync(localItems(local.tasks).get('task-groceries')!.file);
    fs.rmSync(localItems(local.contacts).get('card-alan')!.file);
    const lunchName = (await serverItems('calendars', 'calendar')).get('lunch-4f2a@example.net')!.name;

    const r = await sync();
    expect(r.actions, why(r)).toEqual([
      'Deleting item card-alan from contacts_remote/contacts',
      'Deleting item card-grace from contacts_local/contacts',
      'Deleting item lunch-4f2a@example.net from calendar_remote/calendar',
      'Deleting item review-2027 from calendar_local/calendar',
      'Deleting item task-backup from tasks_local',
      'Deleting item task-groceries from tasks_remote',
    ]);
    expect(r.requests).toContain(`DELETE ${url.tasks}task-groceries.ics`);
    expect(r.out).toMatch(/DELETE [^\n]*\ndebug: \{[^\n]*'If-Match': '"[0-9a-z]+"'/);

    const want = { calendar: ['standup-2027'], tasks: ['task-report'], contacts: ['card-ada'] };
    expect([...localItems(local.calendar).keys()]).toEqual(want.calendar);
    expect([...localItems(local.tasks).keys()]).toEqual(want.tasks);
    expect([...localItems(local.contacts).keys()]).toEqual(want.contacts);
    expect([...(await serverItems('calendars', 'calendar')).keys()]).toEqual(want.calendar);
    expect([...(await serverItems('calendars', 'tasks')).keys()]).toEqual(want.tasks);
    expect([...(await serverItems('addressbooks', 'contacts')).keys()]).toEqual(want.contacts);
    expect((await dav.req('GET', `/dav/calendars/${alice.address}/calendar/${lunchName}`)).status).toBe(404);
    expect((await dav.req('GET', `/dav/addressbooks/${alice.address}/contacts/card-alan.vcf`)).status).toBe(404);
    // A client syncing by token (RFC 6578) learns of vdirsyncer's deletions as removals.
    const oldToken = before.calendar.syncToken;
    const delta = await dav.report(`/dav/calendars/${alice.address}/calendar/`, `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${oldToken}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`);
    expect(delta.status).toBe(207);
    const rs = responses(delta.body);
    expect(rs.get(`/dav/calendars/${alice.address}/calendar/${lunchName}`)).toContain('404');
    expect(rs.get(`/dav/calendars/${alice.address}/calendar/review.ics`)).toContain('404');
  }, STEP_MS);

  it('(5) a last sync has nothing to do: no writes, the same sync tokens, the same files', async () => {
    const tokensBefore = await tokens();
    const filesBefore = localSnapshot();
    const r = await sync();
    expect(r.actions, why(r)).toEqual([]);
    expect(r.requests.filter((q) => !/^(PROPFIND|REPORT) /.test(q)), why(r)).toEqual([]);
    expect(r.fetched, why(r)).toEqual([]); // every ETag vdirsyncer holds is still the server's
    expect(await tokens()).toEqual(tokensBefore);
    expect(localSnapshot()).toEqual(filesBefore);
    // Both sides hold the same items, byte for byte.
    for (const [dir, home, coll] of [[local.calendar, 'calendars', 'calendar'], [local.tasks, 'calendars', 'tasks'], [local.contacts, 'addressbooks', 'contacts']] as const) {
      const there = await serverItems(home, coll);
      expect(new Map([...localItems(dir)].map(([uid, i]) => [uid, i.data]))).toEqual(new Map([...there].map(([uid, i]) => [uid, i.data])));
    }
  }, STEP_MS);
});
