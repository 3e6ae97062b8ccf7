#!/usr/bin/env node
// IMAP mixed load for the bench (issue 4 point 7), built like ../shared/bench/load/imap-load.mjs
// (imapflow clients, the same cycle) with SEARCH TEXT added: C concurrent clients, each running
// --rounds cycles of
//   connect+LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS), N x UID FETCH <uid> BODY.PEEK[],
//   N x UID STORE <uid> +FLAGS (\Seen), S x UID SEARCH SUBJECT <word>, T x UID SEARCH TEXT <word>, LOGOUT
// (the TEXT words occur in message bodies), then optionally an IDLE phase: C clients IDLE on the
// mailbox while D messages are delivered one at a time (SMTP, or LMTP); wake-up latency =
// delivery acknowledged (250) -> EXISTS seen by the client.
// Reports ops/s and p50/p99 per operation; --json FILE for the machine-readable result.
// Bounded by --rounds / --idle-deliveries and by --max-seconds; loopback only.
import { randomBytes } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { lib, smtpClient } from './imap-common.mjs';

const { args, assertLoopback, Recorder, cpuMeter, sleep, writeJson, machineInfo, rng, buildMessage, fmtOps, SEARCH_WORDS, parseRange, userName } = lib;
const { deliverOnce } = smtpClient;

const USAGE = `usage: node bench/imap-load.mjs [--host 127.0.0.1 --port 10143] [--user user1@example.test | --users 1-4]
       [--password secret] [--clients 10] [--rounds 3] [--fetch-bodies 50] [--stores 50] [--searches 5] [--text-searches 5]
       [--idle-deliveries 0] [--idle-clients N] [--idle-via smtp|lmtp|none] [--smtp-port 10025] [--lmtp-port 10024]`;
const o = args({
  host: '127.0.0.1', port: 10143, user: 'user1@example.test', users: '', 'user-template': 'user%d@example.test',
  password: 'secret', mailbox: 'INBOX', clients: 10, rounds: 3, 'fetch-bodies': 50, stores: 50, searches: 5,
  'text-searches': 5, 'search-words': SEARCH_WORDS.join(','), 'text-words': 'invoice,schedule,migration,postmortem,vacation',
  'min-messages': 10000,
  'idle-deliveries': 0, 'idle-clients': 0, 'idle-via': 'smtp', 'smtp-host': '127.0.0.1', 'smtp-port': 10025, 'lmtp-port': 10024,
  'idle-timeout': 30, 'idle-gap-ms': 300, 'max-seconds': 600, seed: 7, label: '',
}, USAGE);
assertLoopback(o.host, '--host');
assertLoopback(o['smtp-host'], '--smtp-host');
if (o.clients < 1 || o.clients > 200) throw new Error('--clients must be 1..200');
const idleClients = o['idle-clients'] || o.clients;
if (idleClients > 500) throw new Error('--idle-clients must be at most 500');
if (o['idle-deliveries'] > 1000) throw new Error('--idle-deliveries must be at most 1000');
const users = o.users ? parseRange(o.users).map((i) => userName(o['user-template'], i)) : [o.user];
const words = o['search-words'].split(',').filter(Boolean);
const textWords = o['text-words'].split(',').filter(Boolean);
const stopAt = Date.now() + o['max-seconds'] * 1000;
const timeLeft = () => Date.now() < stopAt;

function newClient(user) {
  const c = new ImapFlow({
    host: o.host, port: o.port, secure: false, doSTARTTLS: false, logger: false, auth: { user, pass: o.password },
    disableAutoIdle: true, disableCompression: true, connectionTimeout: 30000, greetingTimeout: 30000,
    socketTimeout: 300000,
  });
  c.on('error', () => {});
  return c;
}

async function cycle(rec, user, r, tally, offset) {
  const c = newClient(user);
  await rec.time('login', () => c.connect());
  const box = await rec.time('select', () => c.mailboxOpen(o.mailbox));
  const uids = [];
  await rec.time('fetch_all_flags', async () => {
    for await (const m of c.fetch('1:*', { flags: true, uid: true })) uids.push(m.uid);
  });
  tally.fetched_flags += uids.length;
  if (uids.length !== box.exists) tally.notes.add(`FETCH 1:* returned ${uids.length} of ${box.exists}`);
  const pick = [];
  for (let k = 0; k < o['fetch-bodies'] && uids.length; k++) pick.push(uids[Math.floor(r() * uids.length)]);
  for (const uid of pick) {
    if (!timeLeft()) break;
    const m = await rec.time('uid_fetch_body', () => c.fetchOne(String(uid), { source: true }, { uid: true }));
    tally.body_bytes += m?.source?.length || 0;
  }
  for (const uid of pick.slice(0, o.stores)) {
    if (!timeLeft()) break;
    await rec.time('uid_store_seen', () => c.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true }));
  }
  for (let k = 0; k < o.searches && timeLeft(); k++) {
    const w = words[(k + offset) % words.length];
    const res = await rec.time('search_subject', () => c.search({ subject: w }, { uid: true }));
    tally.search_hits += res?.length || 0;
  }
  for (let k = 0; k < o['text-searches'] && timeLeft(); k++) {
    const w = textWords[(k + offset) % textWords.length];
    const res = await rec.time('search_text', () => c.search({ text: w }, { uid: true }));
    tally.text_hits[w] = res?.length || 0;
  }
  await rec.time('logout', () => c.logout());
}

async function idlePhase(rec, user) {
  if (o['idle-via'] === 'none' || o['idle-deliveries'] <= 0) return null;
  const lmtp = o['idle-via'] === 'lmtp';
  const port = lmtp ? o['lmtp-port'] : o['smtp-port'];
  const clients = [];
  for (let k = 0; k < idleClients; k++) {
    const c = newClient(user);
    await c.connect();
    const box = await c.mailboxOpen(o.mailbox);
    const st = { c, count: box.exists, waiters: [] };
    c.on('exists', (ev) => {
      st.count = ev.count;
      for (const w of st.waiters.splice(0)) if (ev.count >= w.target) w.resolve(performance.now()); else st.waiters.push(w);
    });
    clients.push(st);
    c.idle().catch(() => {});
  }
  await sleep(1000);
  const r = rng(99);
  const runId = randomBytes(3).toString('hex');
  let missed = 0, done = 0;
  for (let d = 0; d < o['idle-deliveries'] && timeLeft(); d++) {
    const targets = clients.map((st) => st.count + 1);
    const timers = [];
    const seen = clients.map((st, k) => new Promise((resolve) => {
      if (st.count >= targets[k]) return resolve(performance.now());
      st.waiters.push({ target: targets[k], resolve });
      timers.push(setTimeout(() => resolve(null), o['idle-timeout'] * 1000));
    }));
    const raw = buildMessage({ r, size: 4000, to: user, subject: `idle probe ${runId} ${d}`, kind: 'plain' }).raw;
    const tSend = performance.now();
    await deliverOnce({ host: o['smtp-host'], port, lmtp, from: 'idle-probe@example.org', rcpt: user, raw });
    const tAck = performance.now();
    rec.add(lmtp ? 'idle_lmtp_delivery' : 'idle_smtp_accept', tAck - tSend);
    const times = await Promise.all(seen);
    for (const t of timers) clearTimeout(t);
    for (const t of times) {
      if (t == null) { missed++; continue; }
      rec.add('idle_wakeup_from_ack', Math.max(0, t - tAck));
      // signed: negative when the EXISTS reached the client before the 250 did
      rec.add('idle_exists_minus_ack', t - tAck);
      rec.add('idle_wakeup_from_send', t - tSend);
    }
    done++;
    await sleep(o['idle-gap-ms']);
  }
  for (const st of clients) await st.c.logout().catch(() => {});
  return { via: o['idle-via'], port, deliveries: done, idle_clients: clients.length, missed };
}

async function main() {
  const pc = newClient(users[0]);
  await pc.connect();
  const st = await pc.status(o.mailbox, { messages: true });
  await pc.logout();
  console.log(`bench/imap-load: ${o.clients} clients x ${o.rounds} rounds on ${users.join(',')}/${o.mailbox} (${st.messages} msgs) at ${o.host}:${o.port}`);
  if (o.rounds > 0 && st.messages < o['min-messages']) console.log(`WARNING: mailbox has ${st.messages} < ${o['min-messages']} messages`);

  const rec = new Recorder();
  const tally = { fetched_flags: 0, body_bytes: 0, search_hits: 0, text_hits: {}, notes: new Set() };
  const cpu = cpuMeter();
  const t0 = performance.now();
  let cycles = 0, failedCycles = 0;
  await Promise.all(Array.from({ length: o.rounds > 0 ? o.clients : 0 }, async (_, k) => {
    const r = rng(o.seed * 1000 + k);
    for (let i = 0; i < o.rounds && timeLeft(); i++) {
      try { await cycle(rec, users[k % users.length], r, tally, k + i); cycles++; } catch (e) { failedCycles++; rec.err('cycle', e); }
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const cpuMain = cpu();
  const sum = rec.summary(wall);
  let totalOps = 0;
  for (const s of Object.values(sum)) totalOps += s.n;
  if (o.rounds > 0) {
    console.log(`MAIN: ${cycles} cycles (${failedCycles} failed), ${totalOps} ops in ${wall.toFixed(2)} s = ${(totalOps / wall).toFixed(1)} ops/s; cpu ${JSON.stringify(cpuMain)}`);
    console.log(fmtOps(sum));
    console.log('SEARCH TEXT hits per word:', JSON.stringify(tally.text_hits));
  }

  const irec = new Recorder();
  const icpu = cpuMeter();
  let idle = null;
  try { idle = await idlePhase(irec, users[0]); } catch (e) { irec.err('idle', e); }
  const isum = irec.summary();
  if (idle) {
    console.log(`IDLE: ${idle.idle_clients} idling clients, ${idle.deliveries} deliveries via ${idle.via}:${idle.port}, missed ${idle.missed}`);
    console.log(fmtOps(isum));
  }
  if (rec.errorCount || irec.errorCount) console.log('errors:', { ...rec.errorList(), ...irec.errorList() });
  const result = {
    tool: 'bench/imap-load', label: o.label, machine: machineInfo(),
    params: { host: o.host, port: o.port, users, mailbox: o.mailbox, mailbox_messages: st.messages, clients: o.clients,
      rounds: o.rounds, fetch_bodies: o['fetch-bodies'], stores: o.stores, searches: o.searches, search_words: words,
      text_searches: o['text-searches'], text_words: textWords },
    main: o.rounds <= 0 ? null : { cycles, failed_cycles: failedCycles, wall_s: Math.round(wall * 100) / 100, total_ops: totalOps,
      ops_per_s: Math.round((totalOps / wall) * 10) / 10, ops: sum, cpu: cpuMain,
      fetched_flag_rows: tally.fetched_flags, body_mbytes: Math.round(tally.body_bytes / 1e5) / 10,
      search_hits: tally.search_hits, text_hits: tally.text_hits, notes: [...tally.notes] },
    idle: idle && { ...idle, ops: isum, cpu: icpu() },
    errors: { ...rec.errorList(), ...irec.errorList() },
  };
  writeJson(o.json, result);
  process.exit(rec.errorCount || irec.errorCount || (idle && idle.missed) ? 1 : 0);
}
main().catch((e) => { console.error('bench/imap-load failed:', e); process.exit(1); });
