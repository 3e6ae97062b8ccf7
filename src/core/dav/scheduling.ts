/**
 * Implicit scheduling (RFC 6638 §3.2): what the server does after a calendar object changed
 * in an account's calendar, so that invitations, answers and cancellations reach everyone
 * without the client sending mail itself.
 *
 * - The organizer creates or changes a meeting: every attendee the server schedules for
 *   (SCHEDULE-AGENT=SERVER, the default) gets a REQUEST; attendees taken off get a CANCEL.
 *   Local attendees find the REQUEST in their scheduling inbox and the meeting in their
 *   calendar (their own answer kept while the meeting's SEQUENCE is unchanged); external
 *   ones get it by e-mail (iMIP, RFC 6047) through the outbound queue. The organizer's copy
 *   then carries a SCHEDULE-STATUS per attendee (1.2 delivered, 1.1 sent by mail, 3.7 no
 *   such local user, 5.1 could not be delivered).
 * - The organizer deletes it: CANCEL to every attendee.
 * - An attendee answers (a new PARTSTAT in their copy) or deletes their copy (DECLINED): a
 *   REPLY to the organizer, applied to a local organizer's copy (PARTSTAT, SCHEDULE-STATUS
 *   2.0) and put into their inbox, or mailed to an external one.
 * Each delivery is its own transaction in the receiver's partition; the organizer's change is
 * committed before any is made. A failed delivery is logged and shown in SCHEDULE-STATUS; it
 * never undoes the organizer's change.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { AccountInfo } from '../directory/directory.ts';
import type { CollectionInfo, DavStore } from './store.ts';
import {
  answersOf, applyReply, attendeeCopy, cancelledCopy, organizerMessage, replyMessage, scheduleDigest, schedulingInfo, withPartstat, withScheduleStatus,
  type SchedulingInfo,
} from './itip.ts';
import { freeBusy, parseCalendarObject, type BusyPeriod } from './icalendar.ts';

/** Where an address leads: a local account, an external address, or a local address with no account. */
export type Recipient = { kind: 'local'; account: AccountInfo } | { kind: 'external'; address: string } | { kind: 'unknown' };

export interface SchedulingDeps {
  dav: DavStore;
  resolve(address: string): Promise<Recipient>;
  /** Whether the account may act as this organizer address (its own address or one it may send as). */
  isOwnAddress(account: AccountInfo, address: string): Promise<boolean>;
  /** Sends an iTIP message by e-mail (iMIP) from the account; resolves once it is queued durably. */
  sendImip(from: AccountInfo, to: string, method: string, ical: string, summary: string): Promise<void>;
  log: Logger;
}

export interface ScheduleOutcome {
  /** The organizer's copy was rewritten (SCHEDULE-STATUS): the client must re-read it. */
  rewritten: boolean;
}

const randomName = () => `${crypto.randomUUID()}.ics`;

export class Scheduler {
  readonly #d: SchedulingDeps;
  constructor(deps: SchedulingDeps) {
    this.#d = deps;
  }

  /** Whether the account may act as this calendar user address (its own, or one it may send as). */
  isOwn(account: AccountInfo, address: string): Promise<boolean> {
    return this.#d.isOwnAddress(account, address.toLowerCase());
  }

  /** After a PUT of `after` (replacing `before`, or new) into one of the account's calendars. */
  async afterPut(user: AccountInfo, coll: CollectionInfo, name: string, before: string | null, after: string): Promise<ScheduleOutcome> {
    if (coll.kind !== 'calendar') return { rewritten: false };
    const info = safeInfo(after);
    if (!info || !info.organizer) return { rewritten: false };
    if (await this.#d.isOwnAddress(user, info.organizer)) return this.#organizerChanged(user, coll, name, before, after, info);
    const me = await this.#myAddress(user, info);
    if (me) await this.#attendeeChanged(user, me, before, after, info);
    return { rewritten: false };
  }

  /** After a DELETE of `before` from one of the account's calendars. */
  async afterDelete(user: AccountInfo, coll: CollectionInfo, before: string): Promise<void> {
    if (coll.kind !== 'calendar') return;
    const info = safeInfo(before);
    if (!info || !info.organizer) return;
    if (await this.#d.isOwnAddress(user, info.organizer)) {
      if (info.status === 'CANCELLED') return;
      const cancel = organizerMessage(before, 'CANCEL');
      for (const a of info.attendees.values()) {
        if (a.agent !== 'SERVER' || (await this.#d.isOwnAddress(user, a.address))) continue;
        await this.#deliver(user, a.address, 'CANCEL', cancel, info);
      }
      return;
    }
    const me = await this.#myAddress(user, info);
    if (!me || info.attendees.get(me)!.partstat === 'DECLINED' || info.status === 'CANCELLED') return;
    await this.#sendReply(user, me, replyMessage(before, me, 'DECLINED'), info);
  }

  /**
   * An iTIP message that arrived by e-mail for a local account, from `sender` (the From
   * address). Only what the sender may say is applied: a REPLY only for the sender as
   * attendee of a meeting the account organises; a REQUEST or CANCEL only from the organizer
   * of the meeting, for a meeting the account attends (and not one another organizer owns).
   */
  async fromMail(account: AccountInfo, sender: string, method: string, text: string): Promise<void> {
    const from = sender.toLowerCase();
    let info: SchedulingInfo | null;
    try {
      info = schedulingInfo(text);
    } catch {
      return;
    }
    if (!info || !info.uid) return;
    await this.#d.dav.provision(account);
    const found = await this.#d.dav.findCalendarObject(account, info.uid);
    if (method === 'REPLY') {
      if (!info.attendees.has(from) || !found) return;
      const mine = safeInfo(found.object.data);
      if (!mine?.organizer || !(await this.#d.isOwnAddress(account, mine.organizer)) || !mine.attendees.has(from)) return;
      const updated = applyReply(found.object.data, replyMessage(text, from));
      if (updated) await this.#d.dav.put(account, found.collection, found.object.name, updated);
      await this.#toInbox(account, text);
      return;
    }
    if (method !== 'REQUEST' && method !== 'CANCEL') {
      if (method === 'COUNTER' && found) await this.#toInbox(account, text);
      return;
    }
    if (info.organizer !== from) return;
    const me = await this.#myAddress(account, info);
    if (!me) return;
    if (found) {
      const theirs = safeInfo(found.object.data);
      if (theirs?.organizer !== from) return;
    }
    if (method === 'REQUEST') {
      const copy = attendeeCopy(text, me, found?.object.data ?? null);
      if (found) await this.#d.dav.put(account, found.collection, found.object.name, copy);
      else {
        const target = await this.#defaultCalendar(account, info.component);
        if (target) await this.#d.dav.put(account, target, randomName(), copy);
      }
    } else if (found) {
      await this.#d.dav.put(account, found.collection, found.object.name, cancelledCopy(found.object.data));
    }
    await this.#toInbox(account, text);
  }

  /**
   * Busy time of a calendar user for scheduling (RFC 6638 §5): the periods of every calendar
   * of a local account, busy times only (no titles, no details); null when the address is no
   * local account (request-status 3.7) .
   */
  async busyTimes(address: string, range: { start: number; end: number }, excludeUid?: string): Promise<BusyPeriod[] | null> {
    const to = await this.#d.resolve(address.toLowerCase());
    if (to.kind !== 'local') return null;
    return this.#busyOf(to.account, range, excludeUid);
  }

  async #busyOf(account: AccountInfo, range: { start: number; end: number }, excludeUid?: string): Promise<BusyPeriod[]> {
    const texts: string[] = [];
    for (const c of await this.#d.dav.collections(account, 'calendars')) {
      if (c.kind !== 'calendar') continue;
      for (const o of await this.#d.dav.objects(account, c.id, { withData: true, range })) if (o.uid !== excludeUid) texts.push(o.data);
    }
    return freeBusy(texts, range);
  }

  async #myAddress(account: AccountInfo, info: SchedulingInfo): Promise<string | null> {
    for (const a of info.attendees.keys()) if (await this.#d.isOwnAddress(account, a)) return a;
    return null;
  }

  async #organizerChanged(user: AccountInfo, coll: CollectionInfo, name: string, before: string | null, after: string, info: SchedulingInfo): Promise<ScheduleOutcome> {
    const prev = before ? safeInfo(before) : null;
    const wasOrganizer = prev?.organizer ? await this.#d.isOwnAddress(user, prev.organizer) : false;
    const changed = !before || !wasOrganizer || scheduleDigest(before) !== scheduleDigest(after);
    const status = new Map<string, string>();
    if (changed) {
      const request = organizerMessage(after, 'REQUEST');
      for (const a of info.attendees.values()) {
        if (a.agent !== 'SERVER' || (await this.#d.isOwnAddress(user, a.address))) continue;
        status.set(a.address, await this.#deliver(user, a.address, 'REQUEST', request, info));
      }
    }
    // Attendees taken off the meeting hear that it is cancelled for them.
    if (prev && wasOrganizer) {
      const gone = [...prev.attendees.values()].filter((a) => !info.attendees.has(a.address) && a.agent === 'SERVER');
      if (gone.length) {
        const cancel = organizerMessage(before!, 'CANCEL', new Set(gone.map((g) => g.address)));
        for (const g of gone) if (!(await this.#d.isOwnAddress(user, g.address))) await this.#deliver(user, g.address, 'CANCEL', cancel, prev);
      }
    }
    if (status.size === 0) return { rewritten: false };
    // On the copy as it is now (a room's answer may have updated it already), and only if the
    // organizer has not changed it again meanwhile.
    const current = await this.#d.dav.object(user, coll.id, name);
    if (!current) return { rewritten: false };
    const stored = withScheduleStatus(current.data, status);
    if (stored === current.data) return { rewritten: current.data !== after };
    try {
      await this.#d.dav.put(user, coll, name, stored, { ifMatch: current.etag });
      return { rewritten: true };
    } catch (e) {
      // The organizer changed it again meanwhile: their newer copy stands.
      this.#d.log.warn({ err: (e as Error).message, uid: info.uid }, 'dav.schedule.status_not_saved');
      return { rewritten: false };
    }
  }

  async #attendeeChanged(user: AccountInfo, me: string, before: string | null, after: string, info: SchedulingInfo): Promise<void> {
    const now = answersOf(after, me);
    const then = before ? answersOf(before, me) : new Map<string, string>();
    const changed = [...now].some(([rid, ps]) => then.get(rid) !== ps && !(then.get(rid) === undefined && ps === 'NEEDS-ACTION'));
    if (!changed || info.organizerAgent !== 'SERVER') return;
    await this.#sendReply(user, me, replyMessage(after, me), info);
  }

  async #sendReply(user: AccountInfo, me: string, reply: string, info: SchedulingInfo): Promise<void> {
    const to = await this.#d.resolve(info.organizer!);
    try {
      if (to.kind === 'local') {
        await this.#d.dav.provision(to.account);
        const found = await this.#d.dav.findCalendarObject(to.account, info.uid);
        if (found) {
          const updated = applyReply(found.object.data, reply);
          if (updated) await this.#d.dav.put(to.account, found.collection, found.object.name, updated);
        }
        await this.#toInbox(to.account, reply);
      } else if (to.kind === 'external') {
        await this.#d.sendImip(user, to.address, 'REPLY', reply, info.summary);
      }
    } catch (e) {
      this.#d.log.warn({ err: (e as Error).message, uid: info.uid, from: me }, 'dav.schedule.reply_failed');
    }
  }

  /** Delivers an organizer's REQUEST or CANCEL to one attendee; returns the SCHEDULE-STATUS. */
  async #deliver(user: AccountInfo, attendee: string, method: 'REQUEST' | 'CANCEL', message: string, info: SchedulingInfo): Promise<string> {
    try {
      const to = await this.#d.resolve(attendee);
      if (to.kind === 'unknown') return '3.7';
      if (to.kind === 'external') {
        await this.#d.sendImip(user, to.address, method, message, info.summary);
        return '1.1';
      }
      const a = to.account;
      await this.#d.dav.provision(a);
      const found = await this.#d.dav.findCalendarObject(a, info.uid);
      if (method === 'REQUEST' && a.kind !== 'individual') return await this.#roomAnswers(a, attendee, message, found, info);
      if (method === 'REQUEST') {
        const copy = attendeeCopy(message, attendee, found?.object.data ?? null);
        if (found) await this.#d.dav.put(a, found.collection, found.object.name, copy);
        else {
          const target = await this.#defaultCalendar(a, info.component);
          if (target) await this.#d.dav.put(a, target, randomName(), copy);
        }
      } else if (found) {
        await this.#d.dav.put(a, found.collection, found.object.name, cancelledCopy(found.object.data));
      }
      await this.#toInbox(a, message);
      return '1.2';
    } catch (e) {
      this.#d.log.warn({ err: (e as Error).message, uid: info.uid, method }, 'dav.schedule.delivery_failed');
      return '5.1';
    }
  }

  /**
   * A room or resource answers an invitation itself: ACCEPTED when none of the meeting's
   * instances overlaps its other bookings, DECLINED otherwise. An accepted meeting is booked
   * into its calendar; the answer goes back to the organizer like any attendee's.
   */
  async #roomAnswers(room: AccountInfo, address: string, request: string, found: { collection: CollectionInfo; object: { name: string; data: string } } | null, info: SchedulingInfo): Promise<string> {
    const mine = meetingPeriods(request);
    let conflict = false;
    if (mine.length) {
      const range = { start: mine[0].start, end: Math.max(...mine.map((p) => p.end)) };
      const busy = await this.#busyOf(room, range, info.uid);
      conflict = mine.some((m) => busy.some((b) => b.start < m.end && m.start < b.end));
    }
    const partstat = conflict ? 'DECLINED' : 'ACCEPTED';
    const copy = withPartstat(attendeeCopy(request, address, null), address, partstat);
    if (partstat === 'ACCEPTED') {
      if (found) await this.#d.dav.put(room, found.collection, found.object.name, copy);
      else {
        const target = await this.#defaultCalendar(room, info.component);
        if (target) await this.#d.dav.put(room, target, randomName(), copy);
      }
    } else if (found) {
      await this.#d.dav.delete(room, found.collection.id, found.object.name);
    }
    await this.#sendReply(room, address, replyMessage(copy, address, partstat), info);
    return '2.0';
  }

  async #toInbox(account: AccountInfo, message: string): Promise<void> {
    const inbox = await this.#d.dav.collection(account, 'calendars', 'inbox');
    if (inbox) await this.#d.dav.put(account, inbox, randomName(), message);
  }

  /** Where new meetings land: the calendar named "calendar" (or "tasks" for to-dos), else the first that takes the component. */
  async #defaultCalendar(account: AccountInfo, component: string): Promise<CollectionInfo | null> {
    const cals = (await this.#d.dav.collections(account, 'calendars')).filter((c) => c.kind === 'calendar' && c.components.includes(component));
    const preferred = component === 'VTODO' ? 'tasks' : 'calendar';
    return cals.find((c) => c.name === preferred) ?? cals[0] ?? null;
  }
}

/** The busy instances of a meeting itself, within a year from its first one (an endless rule is cut there). */
function meetingPeriods(text: string): BusyPeriod[] {
  try {
    const o = parseCalendarObject(text, { maxBytes: Number.MAX_SAFE_INTEGER, allowMethod: true });
    if (o.firstStart === null) return [];
    const end = o.lastEnd === null ? o.firstStart + 366 * 86_400_000 : Math.min(o.lastEnd, o.firstStart + 366 * 86_400_000);
    return freeBusy([text], { start: o.firstStart, end: Math.max(end, o.firstStart + 1) });
  } catch {
    return [];
  }
}

function safeInfo(text: string): SchedulingInfo | null {
  try {
    return schedulingInfo(text);
  } catch {
    return null;
  }
}
