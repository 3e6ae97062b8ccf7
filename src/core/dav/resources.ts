/**
 * What each kind of collection accepts: the validators DavStore runs before anything is
 * stored. Calendars take calendar object resources of their supported components (RFC 4791
 * §4.1, §5.3.2.1); the scheduling inbox takes any schedulable component; address books take
 * one vCard 3.0 or 4.0 each (RFC 6352 §5.1).
 */
import ICAL from 'ical.js';
import { parseCalendarObject, CalendarDataError } from './icalendar.ts';
import { encodeIndex, instanceIndex } from './instances.ts';
import { ResourceError, type DavKind, type Validator } from './store.ts';
import { parseVCard } from './vcard.ts';

function calendar(text: string, allowed: string[], maxBytes: number, allowMethod = false) {
  try {
    const o = parseCalendarObject(text, { maxBytes, allowedComponents: allowed, allowMethod });
    let instances: string | null = null;
    try {
      const ix = o.unresolvedTzids.length ? null : instanceIndex(new ICAL.Component(ICAL.parse(o.text) as any));
      instances = ix ? encodeIndex(ix, o.firstStart, o.lastEnd) : null;
    } catch { /* evaluated in full then */ }
    return { uid: o.uid, component: o.component, text: o.text, firstStart: o.firstStart, lastEnd: o.lastEnd, instances };
  } catch (e) {
    if (e instanceof CalendarDataError) throw new ResourceError(e.condition, e.message, e.condition === 'max-resource-size' ? { code: 'LIMIT_EXCEEDED' } : {});
    throw e;
  }
}

export function davValidators(): Partial<Record<DavKind, Validator>> {
  return {
    calendar: (text, coll) => calendar(text, coll.components, Number.MAX_SAFE_INTEGER),
    // Scheduling messages carry their METHOD (RFC 6638 §3.2.1), and several of them (a REQUEST,
    // its update, a CANCEL) share a UID: in the inbox the resource name keeps them apart.
    inbox: (text, coll, name) => {
      const m = calendar(text, coll.components, Number.MAX_SAFE_INTEGER, true);
      return { ...m, uid: `${m.uid}\u0000${name}` };
    },
    addressbook: (text, _coll, name) => parseVCard(text, name).meta,
  };
}
