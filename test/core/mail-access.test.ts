/**
 * Issue 4 groundwork in core, on both engines: mailboxes (create with parents and special
 * use, rename with children and INBOX, delete), message views, flag changes with modseqs,
 * expunge tombstones, copy and move with UIDs, the per-mailbox change feed, the full-text
 * index and search criteria, sharing grants. The protocols build on exactly these.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { systemActor } from '../../src/core/actor.ts';
import type { AccountInfo } from '../../src/core/directory/directory.ts';
import { search } from '../../src/core/mail/search.ts';
import { expectCode, openTestApp, type EngineName } from '../harness/app.ts';

const actor = systemActor('test');

function raw(subject: string, body: string, extra: string[] = []): Buffer {
  return Buffer.from([`From: Sender <s@example.net>`, `To: a@example.org`, `Subject: ${subject}`, 'Date: Tue, 1 Dec 2026 10:00:00 +0100', ...extra, '', body, ''].join('\r\n'));
}

for (const engine of ['sqlite', 'postgres'] as EngineName[]) {
  describe(`mail access in core: ${engine}`, () => {
    let app: App;
    let close: () => Promise<void>;
    let alice: AccountInfo;
    let bob: AccountInfo;
    beforeAll(async () => {
      ({ app, close } = await openTestApp(engine, 'bwaccess'));
      await app.directory.addDomain(actor, 'example.org');
      alice = await app.directory.addAccount(actor, { address: 'alice@example.org', password: 'correct horse battery' });
      bob = await app.directory.addAccount(actor, { address: 'bob@example.org', password: 'correct horse battery' });
    });
    afterAll(async () => close?.());

    async function put(account: AccountInfo, mailbox: string, subject: string, body: string, flags: string[] = []) {
      const mb = await app.mailboxes.get(account, mailbox);
      const [m] = await app.pipeline.append([{ id: 't', account, mailboxId: mb.id, raw: raw(subject, body), flags }]);
      return { mb, m };
    }

    it('RFC 6154: a new account has INBOX, Drafts, Sent, Junk, Trash and Archive with special-use, all subscribed', async () => {
      const list = await app.mailboxes.list(alice);
      expect(list.map((m) => [m.name, m.specialUse])).toEqual([
        ['INBOX', null], ['Drafts', '\\Drafts'], ['Sent', '\\Sent'], ['Junk', '\\Junk'], ['Trash', '\\Trash'], ['Archive', '\\Archive'],
      ]);
      expect(await app.mailboxes.subscriptions(alice)).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
      expect(new Set(list.map((m) => m.uidvalidity)).size).toBe(list.length);
    });

    it('RFC 9051 §6.3.3: CREATE makes missing parents; an existing name is ALREADY_EXISTS; special use is kept', async () => {
      const c = await app.mailboxes.create(alice, 'Projects/2026/Q4', ['\\Archive']);
      expect(c.specialUse).toBe('\\Archive');
      const names = (await app.mailboxes.list(alice)).map((m) => m.name);
      expect(names).toEqual(expect.arrayContaining(['Projects', 'Projects/2026', 'Projects/2026/Q4']));
      await expectCode(app.mailboxes.create(alice, 'Projects/2026'), 'ALREADY_EXISTS');
      await expectCode(app.mailboxes.create(alice, 'inbox'), 'ALREADY_EXISTS');
      await expectCode(app.mailboxes.create(alice, 'Bad//Name'), 'INVALID_INPUT');
      await expectCode(app.mailboxes.create(alice, 'Star*'), 'INVALID_INPUT');
      await expectCode(app.mailboxes.create(alice, 'X', ['\\Flagged']), 'INVALID_INPUT');
    });

    it('RFC 9051 §2.3.1.1: a mailbox deleted and created again gets a new UIDVALIDITY, even within the same second', async () => {
      const a = await app.mailboxes.create(alice, 'Again');
      await app.mailboxes.delete(alice, 'Again');
      const b = await app.mailboxes.create(alice, 'Again');
      expect(b.uidvalidity).toBeGreaterThan(a.uidvalidity);
      expect(b.id).not.toBe(a.id);
    });

    it('RFC 9051 §6.3.4: DELETE refuses INBOX and a mailbox with children (HAS_CHILDREN); deletes its messages and frees the quota', async () => {
      await expectCode(app.mailboxes.delete(alice, 'INBOX'), 'FORBIDDEN');
      await expectCode(app.mailboxes.delete(alice, 'Projects'), 'HAS_CHILDREN');
      await app.mailboxes.create(alice, 'Doomed');
      const before = (await app.messages.quota(alice)).usedBytes;
      await put(alice, 'Doomed', 'gone', 'soon');
      expect((await app.messages.quota(alice)).usedBytes).toBeGreaterThan(before);
      await app.mailboxes.delete(alice, 'Doomed');
      expect((await app.messages.quota(alice)).usedBytes).toBe(before);
      await expectCode(app.mailboxes.delete(alice, 'Doomed'), 'NOT_FOUND');
    });

    it('RFC 9051 §6.3.6: RENAME moves children along and keeps id and UIDVALIDITY; renaming INBOX moves its messages and leaves it empty', async () => {
      const before = await app.mailboxes.get(alice, 'Projects/2026');
      await app.mailboxes.rename(alice, 'Projects', 'Work/Projects');
      const after = await app.mailboxes.get(alice, 'Work/Projects/2026');
      expect([after.id, after.uidvalidity]).toEqual([before.id, before.uidvalidity]);
      expect(await app.mailboxes.find(alice, 'Work/Projects/2026/Q4')).not.toBeNull();
      expect(await app.mailboxes.find(alice, 'Work')).not.toBeNull(); // the new parent
      await expectCode(app.mailboxes.rename(alice, 'Work', 'Work/Projects/Inside'), 'INVALID_INPUT');

      await put(alice, 'INBOX', 'one', 'x');
      await put(alice, 'INBOX', 'two', 'y');
      const inbox = await app.mailboxes.get(alice, 'INBOX');
      const v0 = await app.messages.view(alice, inbox.id);
      await app.mailboxes.rename(alice, 'INBOX', 'Old Inbox');
      const old = await app.mailboxes.get(alice, 'Old Inbox');
      expect([...(await app.messages.view(alice, old.id)).uids]).toEqual([...v0.uids]);
      const v1 = await app.messages.view(alice, inbox.id);
      expect(v1.uids.length).toBe(0);
      expect(v1.uidvalidity).toBe(v0.uidvalidity);
      expect(v1.uidnext).toBe(v0.uidnext);
      expect(await app.messages.expungedSince(alice, inbox.id, v0.modseq)).toEqual([...v0.uids]);
    });

    it('RFC 7162: STORE changes flags and modseq only where something changed; UNCHANGEDSINCE refuses newer ones; the feed reports both', async () => {
      await app.mailboxes.create(alice, 'Flags');
      const { mb } = await put(alice, 'Flags', 'f1', 'a');
      await put(alice, 'Flags', 'f2', 'b', ['\\Seen']);
      const v = await app.messages.view(alice, mb.id);
      const [u1, u2] = v.uids;
      const r = await app.messages.store(alice, mb.id, [[u1, u2]], 'add', ['\\seen', '$Work']);
      expect(r.changed.map((c) => [c.uid, c.flags])).toEqual([[u1, ['\\Seen', '$Work']], [u2, ['\\Seen', '$Work']]]);
      const again = await app.messages.store(alice, mb.id, [[u1, u2]], 'add', ['\\Seen']);
      expect(again.changed).toEqual([]);
      expect(again.unchanged.map((c) => c.uid)).toEqual([u1, u2]);
      const rows = await app.messages.rows(alice, mb.id, [[u1, u2]]);
      expect(rows.map((x) => x.modseq)).toEqual([r.modseq, r.modseq]);
      const cond = await app.messages.store(alice, mb.id, [[u1, u1]], 'remove', ['$Work'], { unchangedSince: r.modseq - 1 });
      expect(cond.conflicts).toEqual([u1]);
      expect(cond.changed).toEqual([]);
      const feed = await app.messages.changes(alice, mb.id, v.modseq);
      expect(feed.changed.map((c) => c.uid)).toEqual([u1, u2]);
      expect(feed.modseq).toBe(r.modseq);
      // Only the rights the caller has: \Deleted may not be set, $Work may.
      const limited = await app.messages.store(alice, mb.id, [[u1, u1]], 'add', ['\\Deleted', '$Other'], { allowed: (f) => f !== '\\Deleted' });
      expect(limited.changed[0].flags).toEqual(['\\Seen', '$Work', '$Other']);
      await expectCode(app.messages.store(alice, mb.id, [[u1, u1]], 'add', ['bad flag']), 'INVALID_INPUT');
    });

    it('RFC 9051 §6.4.3 / RFC 4315: EXPUNGE removes only \\Deleted messages (within a UID set), leaves tombstones, frees the quota', async () => {
      await app.mailboxes.create(alice, 'Exp');
      const { mb } = await put(alice, 'Exp', 'e1', 'a', ['\\Deleted']);
      await put(alice, 'Exp', 'e2', 'b', ['\\Deleted']);
      await put(alice, 'Exp', 'e3', 'c');
      const v = await app.messages.view(alice, mb.id);
      const q0 = await app.messages.quota(alice);
      const first = await app.messages.expunge(alice, mb.id, [[v.uids[1], v.uids[2]]]);
      expect(first.uids).toEqual([v.uids[1]]);
      const rest = await app.messages.expunge(alice, mb.id);
      expect(rest.uids).toEqual([v.uids[0]]);
      expect([...(await app.messages.view(alice, mb.id)).uids]).toEqual([v.uids[2]]);
      expect(await app.messages.expungedSince(alice, mb.id, v.modseq)).toEqual([v.uids[0], v.uids[1]]);
      const feed = await app.messages.changes(alice, mb.id, v.modseq);
      expect(feed.expunged).toEqual([v.uids[0], v.uids[1]]);
      expect((await app.messages.quota(alice)).usedMessages).toBe(q0.usedMessages - 2);
    });

    it('RFC 4315 COPYUID / RFC 6851 MOVE: copies get new UIDs in order and keep EMAILID; a move keeps the message id and leaves a tombstone', async () => {
      await app.mailboxes.create(alice, 'Src');
      await app.mailboxes.create(alice, 'Dst');
      const { mb: src } = await put(alice, 'Src', 'c1', 'a');
      await put(alice, 'Src', 'c2', 'b');
      const dst = await app.mailboxes.get(alice, 'Dst');
      const v = await app.messages.view(alice, src.id);
      const copied = await app.messages.copy(alice, src.id, [[v.uids[0], v.uids[1]]], alice, dst.id);
      expect(copied.pairs).toEqual([[v.uids[0], 1], [v.uids[1], 2]]);
      expect(copied.uidvalidity).toBe(dst.uidvalidity);
      const [orig] = await app.messages.rows(alice, src.id, [[v.uids[0], v.uids[0]]]);
      const [copy] = await app.messages.rows(alice, dst.id, [[1, 1]]);
      expect(copy.emailId).toBe(orig.emailId);
      expect(copy.id).not.toBe(orig.id);
      expect(await app.messages.body(alice, copy.blobHash)).toEqual(await app.messages.body(alice, orig.blobHash));
      const moved = await app.messages.move(alice, src.id, [[v.uids[1], v.uids[1]]], alice, dst.id);
      expect(moved.pairs).toEqual([[v.uids[1], 3]]);
      expect(moved.expunged).toEqual([v.uids[1]]);
      const [m] = await app.messages.rows(alice, dst.id, [[3, 3]]);
      const [before] = (await app.messages.rows(alice, dst.id, [[2, 2]]));
      expect(m.emailId).toBe(before.emailId);
      expect(await app.messages.expungedSince(alice, src.id, v.modseq)).toEqual([v.uids[1]]);
    });

    it('copy to another account (shared mailbox) counts against the target quota; QUOTA_EXCEEDED stores nothing', async () => {
      const carol = await app.directory.addAccount(actor, { address: 'carol@example.org', password: 'correct horse battery', quota: 200 });
      const { mb } = await put(alice, 'INBOX', 'big', 'x'.repeat(500));
      const v = await app.messages.view(alice, mb.id);
      const cInbox = await app.mailboxes.get(carol, 'INBOX');
      await expectCode(app.messages.copy(alice, mb.id, [[v.uids[v.uids.length - 1], v.uids[v.uids.length - 1]]], carol, cInbox.id), 'QUOTA_EXCEEDED');
      expect((await app.messages.view(carol, cInbox.id)).uids.length).toBe(0);
      const bInbox = await app.mailboxes.get(bob, 'INBOX');
      const r = await app.messages.copy(alice, mb.id, [[v.uids[v.uids.length - 1], v.uids[v.uids.length - 1]]], bob, bInbox.id);
      expect(r.pairs).toHaveLength(1);
      const [c] = await app.messages.rows(bob, bInbox.id, [[1, 1]]);
      expect((await app.messages.body(bob, c.blobHash)).toString()).toContain('x'.repeat(500));
    });

    it('full-text index: BODY and TEXT find words by prefix after the indexer ran, never another account\'s mail; HEADER, FROM and SUBJECT are substrings', async () => {
      await app.mailboxes.create(alice, 'Fts');
      const { mb } = await put(alice, 'Fts', 'Quarterly numbers', 'The Zwölfte report about Überlingen budgets');
      await put(alice, 'Fts', 'Lunch', 'See you at noon', []);
      await put(bob, 'INBOX', 'Quarterly numbers', 'Zwölfte report');
      const deps = { mail: app.mail, catchUp: (a: AccountInfo, id: number) => app.indexer.catchUp(a, id), structures: app.messages.structures.bind(app.messages), body: app.messages.body.bind(app.messages) };
      const uids = async (c: Parameters<typeof search>[3]) => (await search(deps, alice, mb.id, c)).rows.map((r) => r.uid);
      expect(await uids({ k: 'text', where: 'body', value: 'zwolf' })).toEqual([1]); // folded, prefix
      expect(await uids({ k: 'text', where: 'body', value: 'report budget' })).toEqual([1]); // all words
      expect(await uids({ k: 'text', where: 'body', value: 'eport' })).toEqual([]); // index semantics: word prefixes only
      expect(await uids({ k: 'text', where: 'body', value: 'quarterly' })).toEqual([]); // the subject is no body text
      expect(await uids({ k: 'text', where: 'text', value: 'quarterly' })).toEqual([1]);
      expect(await uids({ k: 'text', where: 'text', value: '' })).toEqual([1, 2]);
      expect(await uids({ k: 'subject', value: 'ARTERLY NUM' })).toEqual([1]);
      expect(await uids({ k: 'address', field: 'from', value: 'sender <s@' })).toEqual([1, 2]);
      expect(await uids({ k: 'header', field: 'subject', value: 'lunch' })).toEqual([2]);
      expect(await uids({ k: 'not', of: { k: 'text', where: 'body', value: 'noon' } })).toEqual([1]);
      expect(await uids({ k: 'or', of: [{ k: 'uids', ranges: [[2, 2]] }, { k: 'size', cmp: 'gt', n: 1_000_000 }] })).toEqual([2]);
      const rows = await app.stores.partition(alice.partition).run('count', (db) => db.selectFrom('messages').select('text_indexed').where('account_id', '=', alice.id).where('mailbox_id', '=', mb.id).execute());
      expect(rows.every((r) => r.text_indexed === 1)).toBe(true);
    });

    it('GW-ACC-3: grants are private by default, audited, and visible to the grantee only with "l"; the owner holds every right', async () => {
      const inbox = await app.mailboxes.get(alice, 'INBOX');
      expect(await app.sharing.sharedWith(bob)).toEqual([]);
      const owner = { account: alice, address: alice.address };
      await app.sharing.setRights({ address: alice.address, rights: 'lrswipkxtea' }, owner, { id: inbox.id, name: 'INBOX' }, 'bob@example.org', 'lr');
      expect(await app.sharing.sharedWith(bob)).toEqual([{ ownerId: alice.id, mailboxId: inbox.id, rights: 'lr' }]);
      await app.sharing.setRights({ address: alice.address, rights: 'lrswipkxtea' }, owner, { id: inbox.id, name: 'INBOX' }, 'bob@example.org', 'sw', 'add');
      expect(await app.sharing.rightsOf(bob.address, alice.id, inbox.id)).toBe('lrsw');
      await expectCode(app.sharing.setRights({ address: bob.address, rights: 'lrsw' }, owner, { id: inbox.id, name: 'INBOX' }, 'bob@example.org', 'lrswa'), 'FORBIDDEN');
      await expectCode(app.sharing.setRights({ address: alice.address, rights: 'lrswipkxtea' }, owner, { id: inbox.id, name: 'INBOX' }, 'nobody@example.org', 'l'), 'INVALID_INPUT');
      await app.sharing.setRights({ address: alice.address, rights: 'lrswipkxtea' }, owner, { id: inbox.id, name: 'INBOX' }, 'bob@example.org', 'l', 'remove');
      expect(await app.sharing.sharedWith(bob)).toEqual([]); // "rsw" without "l": not listed
      await app.sharing.deleteRights({ address: alice.address, rights: 'lrswipkxtea' }, owner, { id: inbox.id, name: 'INBOX' }, 'bob@example.org');
      expect(await app.sharing.acl(alice.address, alice.id, inbox.id)).toEqual([{ identifier: alice.address, rights: 'lrswipkxtea' }]);
      const events = await app.stores.directory.selectFrom('audit').select(['event', 'detail']).where('event', 'in', ['mailbox.share', 'mailbox.unshare']).orderBy('id').execute();
      expect(events.map((e) => e.event)).toEqual(['mailbox.share', 'mailbox.share', 'mailbox.share', 'mailbox.unshare']);
    });
  });
}
