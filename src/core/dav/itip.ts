/**
 * iTIP (RFC 5546) messages from and into calendar object resources, for implicit scheduling
 * (RFC 6638): who organises and who attends, the REQUEST / CANCEL an organizer's change
 * sends, the REPLY an attendee's answer sends, and how each is applied to the receiver's copy.
 * Pure functions over iCalendar text (ical.js); no I/O.
 */
import ICAL from 'ical.js';

export type ItipMethod = 'REQUEST' | 'REPLY' | 'CANCEL' | 'COUNTER';
export const SCHEDULABLE = ['vevent', 'vtodo'];

/** An address from a calendar user property: "mailto:" stripped, lower case; null if it is not mail. */
export function calAddress(v: unknown): string | null {
  const s = String(v ?? '').trim();
  const m = /^mailto:(.+)$/i.exec(s);
  return m ? m[1].trim().toLowerCase() : null;
}

function parse(text: string): any {
  return new ICAL.Component(ICAL.parse(text) as any);
}

function components(vcal: any): any[] {
  return vcal.getAllSubcomponents().filter((c: any) => SCHEDULABLE.includes(c.name));
}

const ridOf = (c: any): string => {
  const p = c.getFirstProperty('recurrence-id');
  return p ? String(p.getFirstValue()) : '';
};

export interface AttendeeInfo {
  address: string;
  partstat: string;
  /** SCHEDULE-AGENT: SERVER (the default) means the server delivers; CLIENT and NONE: it does not. */
  agent: string;
  cn?: string;
}

export interface SchedulingInfo {
  uid: string;
  component: 'VEVENT' | 'VTODO';
  organizer: string | null;
  organizerAgent: string;
  /** Per attendee address: the answer on the master (or the first component naming them). */
  attendees: Map<string, AttendeeInfo>;
  sequence: number;
  summary: string;
  status: string;
}

/** The scheduling view of a calendar object; null when it is not a scheduling object (no ORGANIZER or no ATTENDEE). */
export function schedulingInfo(text: string): SchedulingInfo | null {
  const vcal = parse(text);
  const comps = components(vcal);
  if (comps.length === 0) return null;
  const master = comps.find((c) => !c.hasProperty('recurrence-id')) ?? comps[0];
  const orgProp = master.getFirstProperty('organizer');
  const organizer = orgProp ? calAddress(orgProp.getFirstValue()) : null;
  const attendees = new Map<string, AttendeeInfo>();
  for (const c of [master, ...comps.filter((x) => x !== master)]) {
    for (const p of c.getAllProperties('attendee')) {
      const a = calAddress(p.getFirstValue());
      if (!a || attendees.has(a)) continue;
      attendees.set(a, {
        address: a,
        partstat: String(p.getParameter('partstat') ?? 'NEEDS-ACTION').toUpperCase(),
        agent: String(p.getParameter('schedule-agent') ?? 'SERVER').toUpperCase(),
        ...(p.getParameter('cn') ? { cn: String(p.getParameter('cn')) } : {}),
      });
    }
  }
  if (!organizer || attendees.size === 0) return null;
  return {
    uid: String(master.getFirstPropertyValue('uid') ?? ''),
    component: master.name.toUpperCase() as 'VEVENT' | 'VTODO',
    organizer,
    organizerAgent: String(orgProp.getParameter('schedule-agent') ?? 'SERVER').toUpperCase(),
    attendees,
    sequence: Number(master.getFirstPropertyValue('sequence') ?? 0) || 0,
    summary: String(master.getFirstPropertyValue('summary') ?? ''),
    status: String(master.getFirstPropertyValue('status') ?? '').toUpperCase(),
  };
}

/** What an attendee sees of an organizer's change: the data without what only concerns the organizer. */
const PRIVATE_PARAMS = ['schedule-status', 'schedule-force-send'];

function stripForDelivery(vcal: any): void {
  vcal.removeAllProperties('method');
  for (const c of components(vcal)) {
    for (const a of c.getAllSubcomponents('valarm')) c.removeSubcomponent(a);
    for (const name of ['attendee', 'organizer']) {
      for (const p of c.getAllProperties(name)) for (const prm of PRIVATE_PARAMS) p.removeParameter(prm);
    }
  }
}

const nowUtc = () => ICAL.Time.fromJSDate(new Date(), true);

/**
 * The significant content of an organizer's copy, for deciding whether attendees must hear of
 * a change: without DTSTAMP, LAST-MODIFIED, alarms, answers (PARTSTAT, RSVP) and schedule
 * status, which change without the meeting changing.
 */
export function scheduleDigest(text: string): string {
  const vcal = parse(text);
  stripForDelivery(vcal);
  for (const c of components(vcal)) {
    c.removeAllProperties('dtstamp');
    c.removeAllProperties('last-modified');
    for (const p of c.getAllProperties('attendee')) { p.removeParameter('partstat'); p.removeParameter('rsvp'); }
  }
  return vcal.toString();
}

/** REQUEST (or CANCEL) from the organizer's copy, for the given attendees (all when omitted). */
export function organizerMessage(text: string, method: 'REQUEST' | 'CANCEL', only?: Set<string>): string {
  const vcal = parse(text);
  stripForDelivery(vcal);
  vcal.addPropertyWithValue('method', method);
  for (const c of components(vcal)) {
    c.updatePropertyWithValue('dtstamp', nowUtc());
    if (method === 'CANCEL') {
      c.updatePropertyWithValue('status', 'CANCELLED');
      if (only) for (const p of c.getAllProperties('attendee')) if (!only.has(calAddress(p.getFirstValue()) ?? '')) c.removeProperty(p);
    }
  }
  return vcal.toString();
}

/** The attendee's own copy of an organizer's REQUEST, keeping the attendee's answer when the meeting did not change (same SEQUENCE). */
export function attendeeCopy(request: string, attendee: string, previous: string | null): string {
  const vcal = parse(request);
  stripForDelivery(vcal);
  let keep: Map<string, string> | null = null;
  if (previous) {
    const prev = parse(previous);
    const seqOf = (v: any) => Number(components(v)[0]?.getFirstPropertyValue('sequence') ?? 0) || 0;
    if (seqOf(prev) === seqOf(vcal)) {
      keep = new Map();
      for (const c of components(prev)) {
        for (const p of c.getAllProperties('attendee')) if (calAddress(p.getFirstValue()) === attendee) keep.set(ridOf(c), String(p.getParameter('partstat') ?? 'NEEDS-ACTION'));
      }
    }
  }
  if (keep) {
    for (const c of components(vcal)) {
      const ps = keep.get(ridOf(c)) ?? keep.get('');
      if (!ps) continue;
      for (const p of c.getAllProperties('attendee')) if (calAddress(p.getFirstValue()) === attendee) p.setParameter('partstat', ps);
    }
  }
  return vcal.toString();
}

/** The attendee's copy after a CANCEL: kept, marked cancelled (clients show it struck through). */
export function cancelledCopy(copy: string): string {
  const vcal = parse(copy);
  for (const c of components(vcal)) {
    c.updatePropertyWithValue('status', 'CANCELLED');
    const seq = Number(c.getFirstPropertyValue('sequence') ?? 0) || 0;
    c.updatePropertyWithValue('sequence', seq);
  }
  return vcal.toString();
}

/** The answers of one attendee per component (RECURRENCE-ID '' for the master). */
export function answersOf(text: string, attendee: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of components(parse(text))) {
    for (const p of c.getAllProperties('attendee')) {
      if (calAddress(p.getFirstValue()) === attendee) out.set(ridOf(c), String(p.getParameter('partstat') ?? 'NEEDS-ACTION').toUpperCase());
    }
  }
  return out;
}

/** A REPLY from an attendee's copy: each component with only this attendee, and the given answer when set. */
export function replyMessage(copy: string, attendee: string, partstat?: string): string {
  const vcal = parse(copy);
  stripForDelivery(vcal);
  vcal.addPropertyWithValue('method', 'REPLY');
  for (const c of components(vcal)) {
    c.updatePropertyWithValue('dtstamp', nowUtc());
    for (const p of c.getAllProperties('attendee')) {
      if (calAddress(p.getFirstValue()) !== attendee) c.removeProperty(p);
      else if (partstat) p.setParameter('partstat', partstat);
    }
    for (const name of ['description', 'location', 'rrule', 'rdate', 'exdate', 'categories']) c.removeAllProperties(name);
  }
  return vcal.toString();
}

/**
 * Applies a REPLY to the organizer's copy: the attendee's PARTSTAT per instance (an answer for
 * an instance the organizer has no override for goes onto the master when it is the master's
 * answer), and SCHEDULE-STATUS 2.0. Returns null when the reply names no attendee of the copy.
 */
export function applyReply(organizerCopy: string, reply: string): string | null {
  const vcal = parse(organizerCopy);
  const rep = parse(reply);
  let changed = false;
  const targets = components(vcal);
  for (const rc of components(rep)) {
    const p = rc.getFirstProperty('attendee');
    const who = p ? calAddress(p.getFirstValue()) : null;
    if (!who) continue;
    const ps = String(p.getParameter('partstat') ?? 'NEEDS-ACTION').toUpperCase();
    const rid = ridOf(rc);
    const target = targets.find((c) => ridOf(c) === rid) ?? (rid === '' ? targets.find((c) => ridOf(c) === '') : undefined);
    if (!target) continue;
    for (const ap of target.getAllProperties('attendee')) {
      if (calAddress(ap.getFirstValue()) !== who) continue;
      ap.setParameter('partstat', ps);
      ap.setParameter('schedule-status', '2.0');
      ap.removeParameter('rsvp');
      changed = true;
    }
  }
  return changed ? vcal.toString() : null;
}

/** The organizer's copy with a SCHEDULE-STATUS per attendee (RFC 6638 §3.2.9). */
export function withScheduleStatus(organizerCopy: string, status: Map<string, string>): string {
  const vcal = parse(organizerCopy);
  for (const c of components(vcal)) {
    for (const p of c.getAllProperties('attendee')) {
      const s = status.get(calAddress(p.getFirstValue()) ?? '');
      if (s) p.setParameter('schedule-status', s);
    }
  }
  return vcal.toString();
}

/** The method of an iTIP message (METHOD property), upper case, or ''. */
export function methodOf(text: string): string {
  return String(parse(text).getFirstPropertyValue('method') ?? '').toUpperCase();
}

/** A free/busy request POSTed to the scheduling outbox (RFC 6638 §5.1): METHOD:REQUEST with one VFREEBUSY. */
export interface FreeBusyRequest {
  uid: string;
  organizer: string;
  attendees: string[];
  start: number;
  end: number;
}

export function parseFreeBusyRequest(text: string): FreeBusyRequest {
  let vcal: any;
  try {
    vcal = parse(text);
  } catch (e) {
    throw new TypeError(`not iCalendar: ${(e as Error).message.slice(0, 120)}`);
  }
  if (String(vcal.getFirstPropertyValue('method') ?? '').toUpperCase() !== 'REQUEST') throw new TypeError('METHOD must be REQUEST');
  const fbs = vcal.getAllSubcomponents('vfreebusy');
  if (fbs.length !== 1) throw new TypeError('exactly one VFREEBUSY is needed');
  const fb = fbs[0];
  const organizer = calAddress(fb.getFirstPropertyValue('organizer'));
  const start = fb.getFirstPropertyValue('dtstart');
  const end = fb.getFirstPropertyValue('dtend');
  if (!organizer || !start || !end) throw new TypeError('VFREEBUSY needs ORGANIZER, DTSTART and DTEND');
  const attendees = fb.getAllProperties('attendee').map((p: any) => calAddress(p.getFirstValue())).filter((a: string | null): a is string => !!a);
  if (attendees.length === 0 || attendees.length > 100) throw new TypeError('1 to 100 ATTENDEEs are needed');
  const s = start.toJSDate().getTime();
  const e = end.toJSDate().getTime();
  if (!(e > s) || e - s > 400 * 86_400_000) throw new TypeError('the range must end after it starts and span at most 400 days');
  return { uid: String(fb.getFirstPropertyValue('uid') ?? ''), organizer, attendees, start: s, end: e };
}

/** The copy with one attendee's PARTSTAT set on every component. */
export function withPartstat(text: string, attendee: string, partstat: string): string {
  const vcal = parse(text);
  for (const c of components(vcal)) {
    for (const p of c.getAllProperties('attendee')) if (calAddress(p.getFirstValue()) === attendee) { p.setParameter('partstat', partstat); p.removeParameter('rsvp'); }
  }
  return vcal.toString();
}
