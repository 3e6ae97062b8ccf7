#!/usr/bin/env node
// Mailbox filler for the IMAP bench (issue 4 point 7): APPENDs messages over several parallel
// IMAP connections (imapflow). With the defaults, message i is exactly the one
// ../shared/bench/load/imap-fill.mjs appends (same generator, same seed, same flags and dates),
// so a mailbox filled here is the shared tool's mailbox.
//   --profile text   text mail only (no attachments: sizes above 30 KB are folded into
//                    6-30 KB), for the full-text mailbox
//   --rare-words N   N words of a Zipf-distributed synthetic vocabulary per message (in the
//                    text), so searches can pick words of known frequency; --freq-out FILE
//                    writes each word's document frequency over messages 0..count-1
//   --ensure         append only what is missing to reach --count (continues the sequence)
//   --create         create the mailbox first if it does not exist (--create-only: and nothing else)
// Bounded: at most --count messages and --max-seconds; loopback only.
import { ImapFlow } from 'imapflow';
import { lib, fillMessage, writeFrequencies } from './imap-common.mjs';

const { args, assertLoopback, Recorder, cpuMeter, writeJson, machineInfo, fmtOps } = lib;
const USAGE = `usage: node bench/imap-fill.mjs [--host 127.0.0.1 --port 10143] [--user user1@example.test] [--password secret]
       [--mailbox INBOX] [--create] [--count 10000] [--concurrency 4] [--ensure] [--profile realistic|text]
       [--rare-words 0] [--freq-out FILE]`;
const o = args({
  host: '127.0.0.1', port: 10143, user: 'user1@example.test', password: 'secret', mailbox: 'INBOX', create: false, 'create-only': false,
  count: 10000, concurrency: 4, seed: 42, ensure: false, profile: 'realistic', 'rare-words': 0, 'freq-out': '',
  'max-seconds': 1200, label: '',
}, USAGE);
if (o.count < 1 || o.count > 200000) throw new Error('--count must be 1..200000');
if (o.concurrency < 1 || o.concurrency > 32) throw new Error('--concurrency must be 1..32');
if (!['realistic', 'text'].includes(o.profile)) throw new Error('--profile must be realistic or text');

const fillOpts = { seed: o.seed, count: o.count, user: o.user, profile: o.profile, rareWords: o['rare-words'] };
const message = (i) => fillMessage(fillOpts, i);

async function client() {
  const c = new ImapFlow({
    host: o.host, port: o.port, secure: false, doSTARTTLS: false, logger: false, auth: { user: o.user, pass: o.password },
    disableAutoIdle: true, disableCompression: true, connectionTimeout: 30000, socketTimeout: 300000,
  });
  c.on('error', () => {});
  await c.connect();
  return c;
}

function writeFreq() {
  if (!o['freq-out'] || o['rare-words'] <= 0) return;
  const n = writeFrequencies(o['freq-out'], fillOpts);
  console.log(`document frequencies of ${n} rare words written to ${o['freq-out']}`);
}

async function main() {
  assertLoopback(o.host, '--host');
  const c0 = await client();
  if (o.create || o['create-only']) {
    const list = await c0.list();
    if (!list.some((b) => b.path === o.mailbox)) await c0.mailboxCreate(o.mailbox);
    if (o['create-only']) { console.log(`${o.user}/${o.mailbox} exists`); await c0.logout(); return; }
  }
  const st = await c0.status(o.mailbox, { messages: true });
  let from = 0;
  if (o.ensure) from = Math.min(st.messages, o.count);
  if (from >= o.count) {
    console.log(`${o.user}/${o.mailbox} already has ${st.messages} >= ${o.count} messages; nothing to append`);
    await c0.logout();
    writeFreq();
    writeJson(o.json, { tool: 'bench/imap-fill', label: o.label, appended: 0, mailbox_messages_after: st.messages });
    return;
  }
  const todo = o.count - from;
  console.log(`appending ${todo} messages to ${o.user}/${o.mailbox} (has ${st.messages}) over ${o.concurrency} connections, profile ${o.profile}, rare words ${o['rare-words']}`);
  const clients = [c0];
  for (let k = 1; k < o.concurrency; k++) clients.push(await client());
  const rec = new Recorder();
  const cpu = cpuMeter();
  const t0 = performance.now();
  const stopAt = Date.now() + o['max-seconds'] * 1000;
  let next = from, bytes = 0, done = 0;
  await Promise.all(clients.map(async (c) => {
    while (next < o.count && Date.now() < stopAt) {
      const i = next++;
      const m = message(i);
      try {
        await rec.time('append', () => c.append(o.mailbox, m.raw, m.flags, m.date));
        bytes += m.raw.length; done++;
        if (done % 5000 === 0) console.log(`  ${done}/${todo} (${(done / ((performance.now() - t0) / 1000)).toFixed(0)}/s)`);
      } catch { /* recorded */ }
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const end = await c0.status(o.mailbox, { messages: true });
  for (const c of clients) await c.logout().catch(() => {});
  const sum = rec.summary(wall);
  const result = {
    tool: 'bench/imap-fill', label: o.label, machine: machineInfo(),
    params: { host: o.host, port: o.port, user: o.user, mailbox: o.mailbox, count: o.count, concurrency: o.concurrency, seed: o.seed, profile: o.profile, rare_words: o['rare-words'] },
    appended: done, errors: rec.errorList(), wall_s: Math.round(wall * 100) / 100,
    appends_per_s: Math.round((done / wall) * 10) / 10, mbytes: Math.round(bytes / 1e5) / 10,
    mean_msg_bytes: done ? Math.round(bytes / done) : null, latency: sum.append, cpu: cpu(),
    mailbox_messages_after: end.messages,
  };
  console.log(`APPEND: ${done} msgs, ${result.mbytes} MB in ${wall.toFixed(1)} s = ${result.appends_per_s}/s (mean ${result.mean_msg_bytes} B)\n${fmtOps(sum)}\nmailbox now ${end.messages} messages`);
  if (rec.errorCount) console.log('errors:', rec.errorList());
  writeFreq();
  writeJson(o.json, result);
  process.exit(rec.errorCount ? 1 : 0);
}
main().catch((e) => { console.error('imap-fill failed:', e); process.exit(1); });
