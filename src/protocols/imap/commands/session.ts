/**
 * Commands about the session itself: CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS,
 * LOGIN, AUTHENTICATE, COMPRESS and IDLE.
 */
import { passwordLogin } from '../../../security/login.ts';
import { ANY, AUTHED, NOT_AUTHED, bad, command, no, ok, type Outcome, type Session } from '../context.ts';
import type { ImapSession } from '../session.ts';
import { quote } from '../wire.ts';

/** RFC 2971 §3.3: what we say about ourselves (nothing that helps an attacker beyond the name). */
function idResponse(s: Session): string {
  return `* ID (${['name', 'Bulwark', 'vendor', 'Bulwark', 'support-url', `https://${s.settings.hostname}/`].map((x) => quote(x)).join(' ')})`;
}

const capability = command({
  name: 'CAPABILITY', states: ANY,
  async run(s) {
    await s.send(`* CAPABILITY ${s.capabilities().join(' ')}`);
    return ok('CAPABILITY completed');
  },
});

const noop = command({
  name: 'NOOP', states: ANY,
  // The session looks for changes of the selected mailbox after every NOOP (FORCE_REFRESH).
  async run() {
    return ok('NOOP completed');
  },
});

const logout = command({
  name: 'LOGOUT', states: ANY,
  async run(s) {
    await s.send('* BYE Logging out');
    s.state = 'logout';
    return ok('LOGOUT completed');
  },
});

const id = command({
  name: 'ID', states: ANY,
  async run(s, c) {
    if (c.params) {
      const client = Object.fromEntries(c.params.filter(([k]) => ['name', 'version', 'os', 'vendor'].includes(k.toLowerCase())).map(([k, v]) => [k.toLowerCase(), v?.slice(0, 64) ?? null]));
      s.note('debug', { client }, 'imap.id');
    }
    await s.send(idResponse(s));
    return ok('ID completed');
  },
});

/** RFC 5161 ENABLE; RFC 9051 §6.3.1 for IMAP4rev2. */
const ENABLEABLE = new Set(['IMAP4REV2', 'CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT']);
const enable = command({
  name: 'ENABLE', states: ['authenticated'],
  async run(s, c) {
    const done: string[] = [];
    for (const raw of c.capabilities) {
      const cap = raw.toUpperCase();
      if (!ENABLEABLE.has(cap) || s.enabled.has(cap)) continue;
      s.enable(cap);
      // RFC 7162 §3.2.3: enabling QRESYNC enables CONDSTORE as well.
      if (cap === 'QRESYNC') s.enable('CONDSTORE');
      done.push(cap === 'IMAP4REV2' ? 'IMAP4rev2' : cap);
    }
    await s.send(`* ENABLED${done.map((d) => ` ${d}`).join('')}`);
    return ok('ENABLE completed');
  },
});

const starttls = command({
  name: 'STARTTLS', states: NOT_AUTHED,
  async run(s) {
    const session = s as ImapSession;
    if (s.tls) {
      s.resumeInput();
      return bad('TLS is active already');
    }
    if (!s.settings.secureContext) {
      s.resumeInput();
      return no('TLS is not available');
    }
    // The OK must leave in clear before the handshake starts (RFC 9051 §6.2.1).
    await s.send(`${s.tag} OK Begin TLS negotiation now`);
    await session.startTls();
    return { status: 'OK', text: '', sent: true };
  },
});

async function afterLogin(s: Session, account: NonNullable<Session['user']>): Promise<Outcome> {
  const session = s as ImapSession;
  if (!session.takeAccountSlot(account.id)) {
    s.note('info', { account: account.id }, 'imap.account_sessions_exceeded');
    return no('Too many sessions for this account', 'LIMIT');
  }
  s.user = account;
  s.state = 'authenticated';
  s.bind('account', s.settings.privacy ? s.settings.privacy.address(account.address) : account.address);
  session.rearm();
  s.note('info', {}, 'imap.login');
  return ok('Logged in', `CAPABILITY ${s.capabilities().join(' ')}`);
}

async function checkPassword(s: Session, login: string, password: string): Promise<Outcome> {
  const session = s as ImapSession;
  const r = await passwordLogin({ directory: s.deps.directory, throttle: s.deps.throttle, audit: s.deps.audit }, login, password,
    { protocol: 'imap', remote: s.remote, closed: () => session.closed });
  if (!r.ok && r.reason === 'unavailable') {
    s.log.warn({ err: r.error.message }, 'imap.auth_unavailable');
    return no('Authentication temporarily unavailable', 'UNAVAILABLE');
  }
  if (!r.ok) {
    if (r.lockedNow) s.note('info', {}, 'imap.auth_locked');
    // Same answer for every failure (GW-DOS-5): the client learns nothing about why.
    return no('Authentication failed', 'AUTHENTICATIONFAILED');
  }
  return afterLogin(s, r.account);
}

function tlsRequired(s: Session): Outcome | null {
  // RFC 9051 §6.2.3, GW-CRY-1: no credentials in clear.
  if (!s.tls && s.settings.requireTls) return no('Log in only after STARTTLS', 'PRIVACYREQUIRED');
  return null;
}

const login = command({
  name: 'LOGIN', states: NOT_AUTHED,
  async run(s, c) {
    return tlsRequired(s) ?? checkPassword(s, c.user, c.password);
  },
});

/** RFC 4616 PLAIN message: authzid NUL authcid NUL passwd. */
function parsePlain(b64: string): { authzid: string; authcid: string; passwd: string } | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return null;
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\u0000');
  if (parts.length !== 3) return null;
  return { authzid: parts[0], authcid: parts[1], passwd: parts[2] };
}

const authenticate = command({
  name: 'AUTHENTICATE', states: NOT_AUTHED,
  async run(s, c) {
    const refused = tlsRequired(s);
    if (refused) {
      s.resumeInput();
      return refused;
    }
    const mech = c.mechanism.toUpperCase();
    // The client's responses are single lines: line mode until the exchange is over.
    s.lineMode(true);
    s.resumeInput();
    try {
      const step = async (challenge: string): Promise<string | null> => {
        await s.send(`+ ${challenge}`);
        const line = await s.readLine();
        if (line === null) return null;
        return line.trim();
      };
      // RFC 9051 §6.2.2: "*" cancels; RFC 4959 §3: "=" is an empty initial response.
      const cancelled = () => bad('Authentication cancelled');
      if (mech === 'PLAIN') {
        let resp = c.initial === undefined ? await step('') : c.initial === '=' ? '' : c.initial;
        if (resp === null) return bad('Connection closed');
        if (resp === '*') return cancelled();
        resp = resp.trim();
        const p = parsePlain(resp);
        if (!p) return bad('Malformed PLAIN response');
        if (p.authzid !== '' && p.authzid.toLowerCase() !== p.authcid.toLowerCase()) {
          // Acting as someone else (RFC 4616 authzid) is not offered.
          return no('Authentication failed', 'AUTHENTICATIONFAILED');
        }
        s.lineMode(false);
        return await checkPassword(s, p.authcid, p.passwd);
      }
      if (mech === 'LOGIN') {
        // The draft-murchison-sasl-login exchange: "Username:" and "Password:" in base64.
        const u = c.initial !== undefined && c.initial !== '=' ? c.initial : await step(Buffer.from('Username:').toString('base64'));
        if (u === null) return bad('Connection closed');
        if (u === '*') return cancelled();
        const pw = await step(Buffer.from('Password:').toString('base64'));
        if (pw === null) return bad('Connection closed');
        if (pw === '*') return cancelled();
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(u) || !/^[A-Za-z0-9+/]*={0,2}$/.test(pw)) return bad('Malformed LOGIN response');
        s.lineMode(false);
        return await checkPassword(s, Buffer.from(u, 'base64').toString('utf8'), Buffer.from(pw, 'base64').toString('utf8'));
      }
      return no(`Mechanism ${mech.slice(0, 20)} is not supported`, 'CANNOT');
    } finally {
      s.lineMode(false);
      s.resumeInput();
    }
  },
});

const compress = command({
  name: 'COMPRESS', states: AUTHED,
  async run(s, c) {
    const session = s as ImapSession;
    if (c.mechanism.toUpperCase() !== 'DEFLATE') {
      s.resumeInput();
      return bad('Only DEFLATE is supported');
    }
    if (!s.capabilities().includes('COMPRESS=DEFLATE')) {
      s.resumeInput();
      return no('Compression is active already', 'COMPRESSIONACTIVE');
    }
    // RFC 4978 §3: the tagged OK is the last uncompressed octets.
    await s.send(`${s.tag} OK DEFLATE active`);
    session.startCompression();
    return { status: 'OK', text: '', sent: true };
  },
});

/** RFC 2177 IDLE: updates as they happen until the client sends DONE (session.ts startIdle). */
const idle = command({
  name: 'IDLE', states: AUTHED,
  async run(s) {
    await (s as ImapSession).startIdle();
    // The tagged response comes when the client ends IDLE.
    return { status: 'OK', text: '', sent: true };
  },
});

export const SESSION_COMMANDS = [capability, noop, logout, id, enable, starttls, login, authenticate, compress, idle];
