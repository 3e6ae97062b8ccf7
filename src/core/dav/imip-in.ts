/**
 * iMIP that arrives by e-mail (RFC 6047): the text/calendar part of a delivered message, for
 * the scheduler to apply to the recipient's calendar (a REPLY from an external attendee
 * updates the organizer's event; a REQUEST or CANCEL from an external organizer updates the
 * attendee's copy). The mail itself is delivered as usual either way.
 */
import { decodeBody, decodeCharset, parseMessage, type MimePart } from '../../lib/mime/index.ts';
import type { StoredHook } from '../mail/delivery/types.ts';
import type { Scheduler } from './scheduling.ts';

const MAX_CALENDAR_BYTES = 1024 * 1024;

/** The first text/calendar part with a METHOD parameter, decoded; null when there is none. */
export function calendarPart(raw: Uint8Array): { method: string; text: string; from: string | null } | null {
  const parsed = parseMessage(raw);
  const from = parsed.from[0] ?? null;
  const stack: MimePart[] = [parsed.part];
  let seen = 0;
  while (stack.length && seen++ < 200) {
    const p = stack.shift()!;
    if (p.type === 'multipart') { stack.push(...p.parts); continue; }
    if (p.type !== 'text' || p.subtype !== 'calendar' || !p.params.method) continue;
    if (p.bodyEnd - p.headerEnd > MAX_CALENDAR_BYTES) return null;
    const text = decodeCharset(decodeBody(raw.subarray(p.headerEnd, p.bodyEnd), p.encoding), p.params.charset ?? 'utf-8');
    return { method: p.params.method.toUpperCase(), text, from };
  }
  return null;
}

/**
 * The delivery hook (given the scheduler lazily: the scheduler is built on the reception, which
 * is built on the pipeline that holds this hook): for each local recipient that stored the message, hand its calendar part
 * to the scheduler. Mail whose DMARC evaluation failed is not believed (its From may be forged).
 */
export function imipHook(scheduler: () => Scheduler): StoredHook {
  return {
    name: 'imip',
    async after(ctx) {
      if (ctx.req.source.protocol === 'local') return; // the server's own notices and DSNs
      if (ctx.authResults && /\bdmarc=fail\b/i.test(ctx.authResults)) return;
      const cal = calendarPart(ctx.req.raw);
      if (!cal || !cal.from) return;
      for (const r of ctx.results) {
        if (r.status !== 'stored') continue;
        const rcpt = ctx.req.recipients.find((x) => x.account.id === r.accountId);
        if (rcpt) await scheduler().fromMail(rcpt.account, cal.from, cal.method, cal.text);
      }
    },
  };
}
