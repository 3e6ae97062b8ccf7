#!/usr/bin/env node
// Writes the messages of bench/imap-fill.mjs (the same fillMessage(i), so the same mailbox) as
// maildir files straight into a Dovecot maildir folder, for the large full-text mailbox:
// APPEND into a Dovecot maildir slows down as the folder grows (each APPEND rewrites the
// dovecot-uidlist: about 150/s at the start, 22/s at 25,000 messages on this machine, over 1 or
// 8 connections), so 100,000 messages by APPEND would take hours. Dovecot takes the files up
// (assigns UIDs in file-name order, builds its index) on the first access to the folder.
// Each file: written to tmp/ and renamed into cur/ (no fsync: a fill, not a delivery) with the
// maildir info flags (:2,FRS) and S=<size>; its mtime is the message date (the internal date).
// The folder must exist (create it over IMAP first). Ownership is set to --uid/--gid.
//   node bench/maildir-fill.mjs --dir /var/tmp/bench-peers/dovecot/mail/example.test/user50/Maildir/.FTS \
//     --user user50@example.test --count 100000 --profile text --rare-words 20 --uid 999 --gid 995
import fs from 'node:fs';
import path from 'node:path';
import { lib, fillMessage, writeFrequencies } from './imap-common.mjs';

const { args, writeJson, machineInfo } = lib;
const USAGE = 'usage: node bench/maildir-fill.mjs --dir MAILDIR_FOLDER --user ADDRESS [--count 100000] [--profile text] [--rare-words 20] [--uid N --gid N] [--freq-out FILE]';
const o = args({
  dir: '', user: 'user50@example.test', count: 100000, seed: 42, profile: 'text', 'rare-words': 20, uid: -1, gid: -1,
  'freq-out': '', 'max-seconds': 1800, label: '',
}, USAGE);
if (!o.dir.startsWith('/var/tmp/')) { console.error('--dir must be under /var/tmp'); process.exit(2); }
if (o.count < 1 || o.count > 200000) throw new Error('--count must be 1..200000');
for (const d of ['cur', 'new', 'tmp']) if (!fs.existsSync(path.join(o.dir, d))) { console.error(`${o.dir} is not a maildir folder (no ${d}/); create the mailbox over IMAP first`); process.exit(2); }
const have = fs.readdirSync(path.join(o.dir, 'cur')).length + fs.readdirSync(path.join(o.dir, 'new')).length;
if (have > 0) { console.error(`${o.dir} already holds ${have} messages; refusing to add a second sequence`); process.exit(2); }

const opts = { seed: o.seed, count: o.count, user: o.user, profile: o.profile, rareWords: o['rare-words'] };
const stopAt = Date.now() + o['max-seconds'] * 1000;
const t0 = performance.now();
let bytes = 0, done = 0;
for (let i = 0; i < o.count && Date.now() < stopAt; i++) {
  const m = fillMessage(opts, i);
  const raw = Buffer.from(m.raw, 'latin1');
  const info = [m.flags.includes('\\Flagged') ? 'F' : '', m.flags.includes('\\Answered') ? 'R' : '', m.flags.includes('\\Seen') ? 'S' : ''].join('');
  // base + i keeps the names in message order (ten digits for any count here), so Dovecot's UIDs follow i
  const base = `${1_700_000_000 + i}.M0P${process.pid}Q${i}.bench-fill,S=${raw.length}`;
  const tmp = path.join(o.dir, 'tmp', base);
  fs.writeFileSync(tmp, raw);
  const secs = m.date.getTime() / 1000;
  fs.utimesSync(tmp, secs, secs);
  if (o.uid >= 0) fs.chownSync(tmp, o.uid, o.gid);
  fs.renameSync(tmp, path.join(o.dir, 'cur', `${base}:2,${info}`));
  bytes += raw.length; done++;
  if (done % 20000 === 0) console.log(`  ${done}/${o.count}`);
}
const wall = (performance.now() - t0) / 1000;
console.log(`maildir: ${done} messages, ${(bytes / 1e6).toFixed(1)} MB written to ${o.dir}/cur in ${wall.toFixed(1)} s`);
if (o['freq-out'] && o['rare-words'] > 0) console.log(`document frequencies of ${writeFrequencies(o['freq-out'], opts)} rare words written to ${o['freq-out']}`);
writeJson(o.json, {
  tool: 'bench/maildir-fill', label: o.label, machine: machineInfo(), params: { dir: o.dir, user: o.user, count: o.count, seed: o.seed, profile: o.profile, rare_words: o['rare-words'] },
  appended: done, wall_s: Math.round(wall * 100) / 100, appends_per_s: Math.round((done / wall) * 10) / 10,
  mbytes: Math.round(bytes / 1e5) / 10, mean_msg_bytes: done ? Math.round(bytes / done) : null, method: 'maildir files',
});
