// Turns one bench/smtp.sh run into a Markdown section for bench/RESULTS.md.
// Bulwark answers 250 only after the message is committed in the mailbox, so its accepted
// rate is its durable delivery rate; Postfix answers 250 when the message is in its queue,
// so the comparable figure for Postfix+Dovecot is the end-to-end rate (all messages visible
// in the mailboxes over IMAP). Both are shown.
import fs from 'node:fs';
import path from 'node:path';

const [dir, stored, expected, rss] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const lines = [`\n## SMTP delivery, ${new Date().toISOString().slice(0, 16)}Z (${path.basename(dir)})\n`];
lines.push('| size | Postfix 250/s | Postfix+Dovecot in mailbox/s | Bulwark durable 250/s | ratio (Bulwark / Postfix+Dovecot in mailbox) | Bulwark p50 / p99 ms | Postfix p50 / p99 ms |');
lines.push('| --- | --- | --- | --- | --- | --- | --- |');
for (const size of [10240, 204800]) {
  const p = read(`peers-${size}.json`);
  const b = read(`bulwark-${size}.json`);
  const pMailbox = p.verify?.end_to_end_msgs_per_s ?? null;
  const ratio = pMailbox ? (b.smtp.msgs_per_s / pMailbox).toFixed(2) : 'n/a';
  lines.push(`| ${size / 1024} KiB | ${p.smtp.msgs_per_s} | ${pMailbox ?? 'n/a'} | ${b.smtp.msgs_per_s} | ${ratio} | ${b.smtp.latency?.p50_ms} / ${b.smtp.latency?.p99_ms} | ${p.smtp.latency?.p50_ms} / ${p.smtp.latency?.p99_ms} |`);
}
lines.push('', `Bulwark stored ${stored} of ${expected} messages (checked in its store after the run); server resident memory at the end ${Math.round(Number(rss) / 1024)} MiB. Each 250 from Bulwark followed the fsync of the commit that holds the message (the WAL fsynced before the commit returns; bodies up to 64 KiB inside the partition database, larger ones appended to segment files that are fsynced before the commit).`);
console.log(lines.join('\n'));
