/**
 * iMIP (RFC 6047): an iTIP message as e-mail, for attendees and organizers outside this
 * server. A multipart/alternative with a short text for people and the text/calendar part
 * (with the METHOD as a parameter, §2.4) for their calendar program; base64, so that any
 * UTF-8 in the calendar data travels unharmed.
 */
import crypto from 'node:crypto';

const SUBJECT: Record<string, string> = {
  REQUEST: 'Invitation', REPLY: 'Answer', CANCEL: 'Cancelled', COUNTER: 'Counter-proposal', REFRESH: 'Refresh',
};

/** A header value as RFC 2047 encoded words when it is not plain ASCII. */
function headerText(s: string): string {
  const clean = s.replace(/[\r\n]+/g, ' ').slice(0, 200);
  return /^[\x20-\x7e]*$/.test(clean) ? clean : `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}

function base64Lines(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64').replace(/.{1,76}/g, '$&\r\n');
}

export function imipMessage(opts: { from: string; fromName?: string; to: string; method: string; ical: string; summary: string; hostname: string; date?: Date }): Buffer {
  const boundary = `=_bulwark_${crypto.randomBytes(12).toString('hex')}`;
  const what = SUBJECT[opts.method] ?? opts.method;
  const subject = `${what}: ${opts.summary || '(no title)'}`;
  const from = opts.fromName ? `${headerText(opts.fromName)} <${opts.from}>` : `<${opts.from}>`;
  const text = `${what}: ${opts.summary || '(no title)'}\r\n\r\nThis message carries calendar data (${opts.method}) for your calendar program.\r\n`;
  const lines = [
    `From: ${from}`,
    `To: <${opts.to}>`,
    `Subject: ${headerText(subject)}`,
    `Date: ${(opts.date ?? new Date()).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <imip.${crypto.randomUUID()}@${opts.hostname}>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    base64Lines(text),
    `--${boundary}`,
    `Content-Type: text/calendar; charset=utf-8; method=${opts.method}`,
    'Content-Transfer-Encoding: base64',
    '',
    base64Lines(opts.ical),
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}
