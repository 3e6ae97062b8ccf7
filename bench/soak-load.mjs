#!/usr/bin/env node
// Load soak (issue 6 point 6): many concurrent mixed connections against one Bulwark for a
// bounded time, from many loopback source addresses (as clients of a network would come):
//   idle      IMAP sessions in IDLE on INBOX, counting the EXISTS each delivery brings
//   fetch     IMAP sessions in a loop: NOOP, FETCH 1:* (FLAGS), UID FETCH of the newest message's body
//   smtp      SMTP clients delivering 2 KiB messages to random accounts, one transaction after another
//   dav       CalDAV clients: PUT a new event, GET it, calendar-query of a day
// Every few seconds it samples the server's resident memory and open file descriptors
// (/proc/PID), so that leveling off can be judged; at the end: per operation ops/s, p50/p99,
// errors (a refusal by a configured limit is counted apart), and the samples. --json FILE.
// Loopback only; bounded by --seconds.
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i < 0 ? dflt : argv[i + 1]; };
const IMAP = Number(opt('imap-port', 0)), SMTP = Number(opt('smtp-port', 0)), HTTP = Number(opt('http-port', 0));
const ACCOUNTS = opt('accounts', '').split(',').filter(Boolean);
const PASSWORD = opt('password', '');
const N = { idle: Number(opt('idle', 300)), fetch: Number(opt('fetch', 100)), smtp: Number(opt('smtp', 50)), dav: Number(opt('dav', 50)) };
const SECONDS = Number(opt('seconds', 120));
const PID = Number(opt('server-pid', 0));
const JSON_OUT = opt('json', '');
if (!IMAP || !SMTP || !HTTP || !ACCOUNTS.length || !PASSWORD) { console.error('usage: soak-load.mjs --imap-port P --smtp-port P --http-port P --accounts a,b,... --password PW [--idle 300 --fetch 100 --smtp 50 --dav 50] [--seconds 120] [--server-pid PID] [--json FILE]'); process.exit(2); }

const stopAt = Date.now() + SECONDS * 1000;
const running = () => Date.now() < stopAt;
const lat = {};       // op -> [ms]
const errors = {};    // op -> { reason: n }
const note = (op, ms) => (lat[op] ??= []).push(ms);
const fail = (op, why) => { const e = (errors[op] ??= {}); const k = String(why).slice(0, 80); e[k] = (e[k] ?? 0) + 1; };
let exists = 0;
let nextAddr = 0;
const source = () => `127.0.${1 + Math.floor(nextAddr / 250) % 200}.${1 + (nextAddr++ % 250)}`; // one loopback address per connection
const acct = (i) => ACCOUNTS[i % ACCOUNTS.length];

/** A line-oriented client on one socket: send a line, wait for a line matching a pattern. */
function lineClient(port, localAddress) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(c));
    let buf = '';
    const waiters = [];
    const c = {
      s, onLine: null,
      send: (l) => s.write(`${l}\r\n`),
      wait: (re, ms = 30000) => new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`timeout waiting for ${re}`)), ms);
        waiters.push({ re, res: (l) => { clearTimeout(t); res(l); }, rej });
      }),
      close: () => s.destroy(),
    };
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        c.onLine?.(line);
        const w = waiters.findIndex((x) => x.re.test(line));
        if (w >= 0) waiters.splice(w, 1)[0].res(line);
      }
    });
    s.on('error', (e) => { for (const w of waiters.splice(0)) w.rej(e); reject(e); });
    s.on('close', () => { for (const w of waiters.splice(0)) w.rej(new Error('closed')); });
  });
}

async function imapLogin(i, onLine = null) {
  const c = await lineClient(IMAP, source());
  c.onLine = onLine;
  await c.wait(/^\* OK/);
  let tag = 0;
  c.cmd = async (command) => {
    const t = `t${++tag}`;
    c.send(`${t} ${command}`);
    const line = await c.wait(new RegExp(`^${t} `));
    if (!line.startsWith(`${t} OK`)) throw new Error(line.slice(t.length + 1, 80));
    return line;
  };
  await c.cmd(`LOGIN ${acct(i)} "${PASSWORD}"`);
  await c.cmd('SELECT INBOX');
  return c;
}

async function idler(i) {
  try {
    const c = await imapLogin(i);
    c.onLine = (l) => { if (/^\* \d+ EXISTS/.test(l)) exists++; };
    c.send('i IDLE');
    await c.wait(/^\+ /);
    while (running()) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    c.send('DONE');
    await c.wait(/^i /).catch(() => {});
    c.close();
  } catch (e) { fail('idle', e.message); }
}

async function fetcher(i) {
  let c;
  let n = 0; // the mailbox size as this session was told (from SELECT on)
  try { c = await imapLogin(i, (l) => { const m = /^\* (\d+) EXISTS/.exec(l); if (m) n = Number(m[1]); }); } catch (e) { fail('fetch', e.message); return; }
  while (running()) {
    // (RFC 9051 §9: "1:*" in an empty mailbox is an error, so only once there is a message)
    for (const command of ['NOOP', n > 0 ? 'FETCH 1:* (FLAGS)' : 'NOOP', n > 0 ? `FETCH ${n} (BODY.PEEK[])` : 'NOOP']) {
      const t0 = performance.now();
      try { await c.cmd(command); note(command.split(' ')[0] === 'FETCH' && command.includes('BODY') ? 'imap_body' : command === 'NOOP' ? 'imap_noop' : 'imap_flags', performance.now() - t0); }
      catch (e) { fail('fetch', e.message); if (c.s.destroyed) return; }
    }
  }
  c.close();
}

async function smtpClient(i) {
  let c;
  try { c = await lineClient(SMTP, source()); await c.wait(/^220 /); c.send('EHLO soak.example'); await c.wait(/^250 /); }
  catch (e) { fail('smtp', e.message); return; }
  while (running()) {
    const to = acct(Math.floor(Math.random() * ACCOUNTS.length));
    const t0 = performance.now();
    try {
      c.send('MAIL FROM:<soak@remote.example>'); let r = await c.wait(/^\d{3} /); if (!r.startsWith('250')) throw new Error(r);
      c.send(`RCPT TO:<${to}>`); r = await c.wait(/^\d{3} /); if (!r.startsWith('250')) throw new Error(r);
      c.send('DATA'); r = await c.wait(/^\d{3} /); if (!r.startsWith('354')) throw new Error(r);
      c.s.write(`From: soak@remote.example\r\nTo: ${to}\r\nSubject: soak ${crypto.randomBytes(4).toString('hex')}\r\n\r\n${'soak line of text\r\n'.repeat(110)}.\r\n`);
      r = await c.wait(/^\d{3} /); if (!r.startsWith('250')) throw new Error(r);
      note('smtp_deliver', performance.now() - t0);
    } catch (e) { fail('smtp', e.message); if (c.s.destroyed) return; }
  }
  c.send('QUIT');
  c.close();
}

async function davClient(i) {
  const user = acct(i);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: source() });
  const auth = 'Basic ' + Buffer.from(`${user}:${PASSWORD}`).toString('base64');
  const req = (method, path, body, headers = {}) => new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: HTTP, method, path, agent, headers: { authorization: auth, ...headers } }, (res) => {
      const chunks = []; res.on('data', (d) => chunks.push(d)); res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    r.on('error', reject);
    r.end(body);
  });
  let k = 0;
  while (running()) {
    const uid = `soak-${i}-${k++}`;
    const day = String(1 + (k % 28)).padStart(2, '0');
    const ics = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//soak//EN', 'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20260101T000000Z',
      `DTSTART:202604${day}T090000Z`, `DTEND:202604${day}T100000Z`, `SUMMARY:${uid}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    const path = `/dav/calendars/${user}/calendar/${uid}.ics`;
    try {
      let t0 = performance.now();
      let r = await req('PUT', path, ics, { 'content-type': 'text/calendar', 'if-none-match': '*' });
      if (r.status !== 201) throw new Error(`PUT ${r.status}`);
      note('dav_put', performance.now() - t0);
      t0 = performance.now();
      r = await req('GET', path);
      if (r.status !== 200 || !r.body.includes(uid)) throw new Error(`GET ${r.status}`);
      note('dav_get', performance.now() - t0);
      t0 = performance.now();
      r = await req('REPORT', `/dav/calendars/${user}/calendar/`, `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="202604${day}T000000Z" end="202604${day}T235959Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`, { depth: '1', 'content-type': 'application/xml' });
      if (r.status !== 207 || !r.body.includes(uid)) throw new Error(`REPORT ${r.status}`);
      note('dav_query', performance.now() - t0);
    } catch (e) { fail('dav', e.message); }
  }
  agent.destroy();
}

// ---------- sampling the server ----------
const samples = [];
function sample() {
  if (!PID) return;
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'))[1]) / 1024;
    const fds = fs.readdirSync(`/proc/${PID}/fd`).length;
    const st = fs.readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
    samples.push({ t: Math.round((Date.now() - started) / 1000), rss_mib: Math.round(rss * 10) / 10, fds, cpu_s: (Number(st[11]) + Number(st[12])) / 100 });
  } catch { /* gone */ }
}
const started = Date.now();
const timer = setInterval(sample, 5000);
sample();

const pct = (a, p) => { if (!a.length) return null; const s = [...a].sort((x, y) => x - y); return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 100) / 100; };
const tasks = [];
// The IDLE sessions first (they are the long-lived part), ramped, then the active clients.
for (let i = 0; i < N.idle; i++) { tasks.push(idler(i)); if (i % 25 === 24) await new Promise((r) => setTimeout(r, 50)); }
for (let i = 0; i < N.fetch; i++) tasks.push(fetcher(i));
for (let i = 0; i < N.smtp; i++) tasks.push(smtpClient(i));
for (let i = 0; i < N.dav; i++) tasks.push(davClient(i));
const connections = N.idle + N.fetch + N.smtp + N.dav;
console.log(`soak: ${connections} connections (idle ${N.idle}, fetch ${N.fetch}, smtp ${N.smtp}, dav ${N.dav}), ${SECONDS} s`);
await Promise.allSettled(tasks);
clearInterval(timer);
sample();
const wall = (Date.now() - started) / 1000;
const ops = Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, { n: v.length, per_s: Math.round((v.length / wall) * 10) / 10, p50_ms: pct(v, 50), p99_ms: pct(v, 99) }]));
// Leveling off: the mean of the last quarter of the run against the quarter before it.
const q = (from, to) => samples.filter((s) => s.t >= wall * from && s.t < wall * to);
const mean = (a, k) => (a.length ? a.reduce((x, s) => x + s[k], 0) / a.length : null);
const level = (k) => { const a = mean(q(0.5, 0.75), k), b = mean(q(0.75, 1.01), k); return a && b ? Math.round(((b - a) / a) * 1000) / 10 : null; };
const result = { tool: 'soak-load', connections, mix: N, seconds: SECONDS, wall_s: wall, ops, errors, idle_exists_seen: exists, samples,
  growth_last_quarter_pct: { rss: level('rss_mib'), fds: level('fds') } };
for (const [k, v] of Object.entries(ops)) console.log(`  ${k.padEnd(14)} n=${String(v.n).padStart(7)}  ${String(v.per_s).padStart(8)}/s  p50=${v.p50_ms}ms  p99=${v.p99_ms}ms`);
console.log(`errors: ${JSON.stringify(errors)}; IDLE EXISTS seen: ${exists}; RSS/fd growth over the last quarter: ${result.growth_last_quarter_pct.rss}% / ${result.growth_last_quarter_pct.fds}%`);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(result, null, 1));
process.exit(0);
