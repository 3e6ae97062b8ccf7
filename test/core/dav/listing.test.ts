// Issue 5 point 9 (speed without giving up correctness): the in-memory collection listing
// (src/core/dav/listing.ts) that calendar-query, multiget and PROPFIND answer from. It must
// never show a state older than the collection row the request read: creates, updates,
// deletes and a delete followed by a re-create under the same name all show at once, also
// when another node (a second DavStore on the same database) made them. On SQLite and on
// PostgreSQL, whose union of changed rows and tombstones is one statement.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stores, type StoreSettings } from '../../../src/store/stores.ts';
import { MailStore, type AccountRef } from '../../../src/core/mail/mailstore.ts';
import { ChangeBus } from '../../../src/core/changes/bus.ts';
import { DavStore, type CollectionInfo } from '../../../src/core/dav/store.ts';
import { davValidators } from '../../../src/core/dav/resources.ts';
import { Lru } from '../../../src/lib/lru.ts';
import { createTestDatabase } from '../../harness/pg.ts';
import { tempDir } from '../../harness/tmp.ts';

const LIMITS = { maxResourceBytes: 1 << 20, maxResourcesPerCollection: 1000, maxCollections: 50 };

function settings(dataDir: string, directoryUrl: string, p1: string): StoreSettings {
  return { dataDir, directoryUrl, partitions: { p1 }, blobBackend: 'auto', poolSize: 5, connectTimeoutMs: 3000, retryAfterMs: 500 };
}

const ics = (uid: string, summary: string, day = 10) => [
  'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20260101T000000Z',
  `DTSTART:202603${String(day).padStart(2, '0')}T100000Z`, `DTEND:202603${String(day).padStart(2, '0')}T110000Z`, `SUMMARY:${summary}`,
  'END:VEVENT', 'END:VCALENDAR', '',
].join('\r\n');

interface Env {
  /** Two nodes: each its own stores, mail store and DAV store (and so its own listing cache). */
  a: DavStore;
  b: DavStore;
  close(): Promise<void>;
}

async function sqliteEnv(): Promise<Env> {
  const tmp = tempDir('bulwark-listing-');
  const open = async () => {
    const stores = await Stores.open(settings(tmp.dir, 'sqlite:directory.db', 'sqlite:p1.db'));
    return { stores, dav: new DavStore(new MailStore(stores), new ChangeBus(), davValidators(), LIMITS) };
  };
  const [x, y] = [await open(), await open()];
  return { a: x.dav, b: y.dav, async close() { await x.stores.close(); await y.stores.close(); tmp.cleanup(); } };
}

async function postgresEnv(): Promise<Env> {
  const tmp = tempDir('bulwark-listing-');
  const [dir, p1] = await Promise.all([createTestDatabase('bwlist'), createTestDatabase('bwlist')]);
  const open = async () => {
    const stores = await Stores.open(settings(tmp.dir, dir.url, p1.url));
    return { stores, dav: new DavStore(new MailStore(stores), new ChangeBus(), davValidators(), LIMITS) };
  };
  const x = await open();
  const y = await open();
  return {
    a: x.dav, b: y.dav,
    async close() {
      await Promise.allSettled([x.stores.close(), y.stores.close()]);
      await Promise.allSettled([dir.drop(), p1.drop()]);
      tmp.cleanup();
    },
  };
}

describe.each([['sqlite', sqliteEnv], ['postgres', postgresEnv]] as const)('DAV collection listing: %s', (_kind, make) => {
  let env: Env;
  const account: AccountRef = { id: 4242, partition: 'p1', quota_bytes: 0 };
  let coll: CollectionInfo;
  /** The collection as a request on node `on` reads it, then that node's listing: name -> ETag. */
  const listed = async (on: DavStore) => {
    const c = (await on.collection(account, 'calendars', coll.name))!;
    const l = await on.listing(account, c);
    return new Map([...l.byName].map(([n, o]) => [n, o.etag]));
  };
  const truth = async (on: DavStore) => new Map((await on.objects(account, coll.id)).map((o) => [o.name, o.etag]));

  beforeAll(async () => {
    env = await make();
    coll = await env.a.createCollection(account, 'calendars', 'work', 'calendar', { components: ['VEVENT'] });
  });
  afterAll(async () => env?.close());

  it('answers from memory while the collection is unchanged, and follows every kind of change at once', async () => {
    for (let i = 0; i < 5; i++) await env.a.put(account, coll, `e${i}.ics`, ics(`u${i}`, `event ${i}`, 10 + i));
    const first = await listed(env.a);
    expect([...first.keys()].sort()).toEqual(['e0.ics', 'e1.ics', 'e2.ics', 'e3.ics', 'e4.ics']);
    // unchanged: the same listing object comes back (no read)
    const c = (await env.a.collection(account, 'calendars', 'work'))!;
    expect(await env.a.listing(account, c)).toBe(await env.a.listing(account, c));

    // changes made on the other node: an update, a delete, a create, a delete and re-create
    await env.b.put(account, coll, 'e1.ics', ics('u1', 'event 1 moved', 20));
    await env.b.delete(account, coll.id, 'e2.ics');
    await env.b.put(account, coll, 'e5.ics', ics('u5', 'event 5'));
    await env.b.delete(account, coll.id, 'e3.ics');
    await env.b.put(account, coll, 'e3.ics', ics('u3', 'event 3 again', 25));
    const after = await listed(env.a);
    expect(after).toEqual(await truth(env.b));
    expect(after.has('e2.ics')).toBe(false);
    expect(after.get('e3.ics')).not.toBe(first.get('e3.ics'));
    expect(after.get('e1.ics')).not.toBe(first.get('e1.ics'));
    expect(after.get('e0.ics')).toBe(first.get('e0.ics'));
    // the bounds come with the new version (a query prefilters on them)
    const l = await env.a.listing(account, (await env.a.collection(account, 'calendars', 'work'))!);
    expect(l.byName.get('e1.ics')!.firstStart).toBe(Date.UTC(2026, 2, 20, 10) - 1);
  });

  it('a stale collection read gets a listing at least as new, never an older one', async () => {
    const stale = (await env.a.collection(account, 'calendars', 'work'))!;
    await env.a.put(account, coll, 'e6.ics', ics('u6', 'event 6'));
    expect((await listed(env.a)).has('e6.ics')).toBe(true);
    // a request that read the collection before the change is still answered with the newer listing
    expect((await env.a.listing(account, stale)).byName.has('e6.ics')).toBe(true);
  });

  it('a deleted collection leaves nothing behind under a new one of the same name', async () => {
    await env.b.deleteCollection(account, coll.id);
    coll = await env.b.createCollection(account, 'calendars', 'work', 'calendar', { components: ['VEVENT'] });
    expect((await listed(env.a)).size).toBe(0);
    await env.b.put(account, coll, 'n.ics', ics('n1', 'new'));
    expect([...(await listed(env.a)).keys()]).toEqual(['n.ics']);
  });
});

describe('Lru', () => {
  it('keeps the costs within its budget, and a used entry over one not used since', () => {
    const l = new Lru<string, string>(10, (v) => v.length);
    l.set('a', 'xxxx');
    l.set('b', 'yyyy');
    expect(l.get('a')).toBe('xxxx'); // a used: b is the one to go
    l.set('c', 'zzzz');
    expect(l.get('b')).toBeUndefined();
    expect(l.get('a')).toBe('xxxx');
    expect(l.get('c')).toBe('zzzz');
    expect(l.total).toBeLessThanOrEqual(10);
    l.set('big', 'x'.repeat(11)); // more than the whole budget: not kept, nothing else lost
    expect(l.get('big')).toBeUndefined();
    expect(l.size).toBe(2);
    l.set('a', 'xx'); // replacing updates the cost
    expect(l.total).toBe(6);
  });

  it('ends eviction when every entry was used (each pass clears a mark)', () => {
    const l = new Lru<number, number>(3);
    for (let i = 0; i < 3; i++) l.set(i, i);
    for (let i = 0; i < 3; i++) l.get(i);
    l.set(3, 3);
    expect(l.size).toBe(3);
    expect(l.get(3)).toBe(3);
  });
});
