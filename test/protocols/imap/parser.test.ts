/**
 * IMAP command parsing (src/protocols/imap/parser.ts): every command of types.ts per RFC
 * 9051 §9, RFC 3501 §9 and the extensions, as tables of valid forms with the AST expected
 * and invalid forms with the BAD they get (message and tag). Bounds (nesting, ranges, list
 * items, ID pairs) and the shape of error messages at the end.
 */
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, MAX_ITEMS, MAX_RANGES, parseCommand, tagOf } from '../../../src/protocols/imap/parser.ts';
import { ImapSyntaxError, STAR, type Command, type FetchAtt, type SearchKey, type SeqSet } from '../../../src/protocols/imap/types.ts';

/** A command as the framer delivers it: a string gets its CRLF appended, a Buffer is taken as it is. */
const wire = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(`${s}\r\n`, 'utf8') : s);
const parse = (s: string | Buffer): Command => parseCommand(wire(s));
const B = (s: string, enc: BufferEncoding = 'utf8') => Buffer.from(s, enc);
const set = (...ranges: ([number, number] | number)[]): SeqSet => ({ kind: 'set', ranges: ranges.map((r) => (typeof r === 'number' ? [r, r] : r)) });
const SAVED: SeqSet = { kind: 'saved' };

function refusal(s: string | Buffer): { tag: string | null; message: string } {
  try {
    const c = parseCommand(wire(s));
    throw new Error(`accepted: ${JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  } catch (e) {
    if (!(e instanceof ImapSyntaxError)) throw e;
    return { tag: e.tag, message: e.message };
  }
}

type Valid = [title: string, input: string | Buffer, expected: Command];
type Invalid = [title: string, input: string | Buffer, message: string | RegExp];

function valid(table: Valid[]) {
  it.each(table)('%s', (_title, input, expected) => {
    expect(parse(input)).toEqual(expected);
  });
}

/** Each invalid form: an ImapSyntaxError with the tag ("t") and a message containing the text. */
function invalid(table: Invalid[], tag: string | null = 't') {
  it.each(table)('%s', (_title, input, message) => {
    const r = refusal(input);
    expect(r.tag).toBe(tag);
    if (typeof message === 'string') expect(r.message).toContain(message);
    else expect(r.message).toMatch(message);
  });
}

// ---------------------------------------------------------------------------------------

describe('tags and command names (RFC 9051 §9 tag, command)', () => {
  valid([
    ['RFC 9051 §9: a tag of ASTRING-CHARs, "]" included', 'a]1.x NOOP', { tag: 'a]1.x', name: 'NOOP' }],
    ['RFC 9051 §9: command names are case-insensitive', 'A001 nOoP', { tag: 'A001', name: 'NOOP' }],
    ['RFC 9051 §9: a bare LF ends the command too (input.ts accepts it)', B('x CAPABILITY\n'), { tag: 'x', name: 'CAPABILITY' }],
    ['no final line end at all (convenience)', Buffer.from('x LOGOUT'), { tag: 'x', name: 'LOGOUT' }],
  ]);

  it.each([
    ['RFC 9051 §9: "+" is not a tag character', '+1 NOOP'],
    ['RFC 9051 §9: "*" is not a tag character', '* NOOP'],
    ['RFC 9051 §9: nor "(", "{", "%", "\\" or DQUOTE', 'a(1 NOOP'],
    ['RFC 9051 §9: an empty line has no tag', '\r\n'],
    ['RFC 9051 §9: 8-bit octets are not tag characters', 'tä NOOP'],
  ])('%s: untagged BAD', (_t, input) => {
    expect(refusal(input).tag).toBeNull();
  });

  invalid([
    ['RFC 9051 §9: a tag alone', 't', 'Missing command name'],
    ['RFC 9051 §9: a tag and a space', 't ', 'Missing command name'],
    ['RFC 9051 §9: two spaces after the tag', 't  NOOP', 'Invalid command name'],
    ['RFC 9051 §9: an unknown command', 't BOGUS 1 2', 'Unknown command BOGUS'],
    ['RFC 9051 §9: "UID" needs a command', 't UID', 'Missing command after UID'],
    ['RFC 9051 §6.4.9: UID takes only COPY/MOVE/FETCH/SEARCH/STORE/EXPUNGE/SORT/THREAD', 't UID NOOP', 'Unknown UID command NOOP'],
    ['RFC 9051 §9: trailing text after a complete command', 't NOOP now', 'Unexpected text after the command: " now"'],
    ['RFC 9051 §9: trailing space', 't NOOP ', 'Unexpected text after the command'],
    ['RFC 9051 §9: a CR inside the line', 't NO\rOP', 'Unknown command NO?OP'],
    ['RFC 9051 §9: a lone CR before the LF is not CRLF', B('t NOOP\r\r\n'), 'Unexpected text after the command'],
  ]);

  it('tagOf: the tag when one can be echoed, else null', () => {
    expect(tagOf(B('a1 NOOP\r\n'))).toBe('a1');
    expect(tagOf(B('a1\r\n'))).toBe('a1');
    expect(tagOf(B('a1'))).toBe('a1');
    expect(tagOf(B('a1\tNOOP'))).toBeNull();
    expect(tagOf(B('+ NOOP'))).toBeNull();
    expect(tagOf(B(''))).toBeNull();
    expect(tagOf(B(' a1 NOOP'))).toBeNull();
  });
});

describe('any state (RFC 9051 §6.1, RFC 2971 ID)', () => {
  valid([
    ['RFC 9051 §6.1.1: CAPABILITY', 't CAPABILITY', { tag: 't', name: 'CAPABILITY' }],
    ['RFC 9051 §6.1.2: NOOP', 't noop', { tag: 't', name: 'NOOP' }],
    ['RFC 9051 §6.1.3: LOGOUT', 't LOGOUT', { tag: 't', name: 'LOGOUT' }],
    ['RFC 2971 §3.1: ID with pairs', 't ID ("name" "sodr" "version" "19.34")', { tag: 't', name: 'ID', params: [['name', 'sodr'], ['version', '19.34']] }],
    ['RFC 2971 §3.1: ID NIL', 't ID nil', { tag: 't', name: 'ID', params: null }],
    ['RFC 2971 §3.1: ID with a NIL value and a literal', 't ID ("os" NIL {7}\r\nversion "1.0")', { tag: 't', name: 'ID', params: [['os', null], ['version', '1.0']] }],
    ['RFC 2971 §3.1: ID ()', 't ID ()', { tag: 't', name: 'ID', params: [] }],
    ['RFC 2971 §3.3: 30 pairs, field of 30 octets, value of 1024', `t ID (${Array.from({ length: 29 }, (_, i) => `"f${i}" "v"`).join(' ')} "${'f'.repeat(30)}" "${'v'.repeat(1024)}")`, {
      tag: 't',
      name: 'ID',
      params: [...Array.from({ length: 29 }, (_, i): [string, string] => [`f${i}`, 'v']), ['f'.repeat(30), 'v'.repeat(1024)]],
    }],
  ]);
  invalid([
    ['RFC 2971 §4: ID without parameters', 't ID', 'Missing ID parameter list'],
    ['RFC 2971 §4: a field must be a string, not an atom', 't ID (name "x")', 'Expected a quoted string or literal for ID field name'],
    ['RFC 2971 §4: a field without a value', 't ID ("name")', 'Missing ID field value'],
    ['RFC 2971 §3.3: more than 30 pairs', `t ID (${Array.from({ length: 31 }, (_, i) => `"f${i}" "v"`).join(' ')})`, 'Too many ID parameters'],
    ['RFC 2971 §3.3: a field over 30 octets', `t ID ("${'f'.repeat(31)}" "v")`, 'ID field name longer than 30 octets'],
    ['RFC 2971 §3.3: a value over 1024 octets', `t ID ("f" "${'v'.repeat(1025)}")`, 'ID field value longer than 1024 octets'],
    ['RFC 2971 §4: unterminated list', 't ID ("a" "b"', 'missing ")"'],
    ['RFC 9051 §6.1.1: CAPABILITY takes no arguments', 't CAPABILITY IMAP4rev2', 'Unexpected text after the command'],
  ]);
});

describe('not authenticated (RFC 9051 §6.2, RFC 4959 SASL-IR)', () => {
  valid([
    ['RFC 9051 §6.2.1: STARTTLS', 't STARTTLS', { tag: 't', name: 'STARTTLS' }],
    ['RFC 9051 §6.2.2: AUTHENTICATE without initial response', 't AUTHENTICATE plain', { tag: 't', name: 'AUTHENTICATE', mechanism: 'PLAIN' }],
    ['RFC 4959 §3: AUTHENTICATE with an initial response', 't AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=', { tag: 't', name: 'AUTHENTICATE', mechanism: 'PLAIN', initial: 'AGJvYgBzZWNyZXQ=' }],
    ['RFC 4959 §3: "=" is an empty initial response', 't AUTHENTICATE EXTERNAL =', { tag: 't', name: 'AUTHENTICATE', mechanism: 'EXTERNAL', initial: '=' }],
    ['RFC 9051 §6.2.2: SCRAM mechanism names with dashes', 't AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=', {
      tag: 't', name: 'AUTHENTICATE', mechanism: 'SCRAM-SHA-256', initial: 'biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=',
    }],
    ['RFC 9051 §6.2.3: LOGIN with atoms', 't LOGIN bob secret', { tag: 't', name: 'LOGIN', user: 'bob', password: 'secret' }],
    ['RFC 9051 §6.2.3: LOGIN with quoted strings and escapes', 't login "bob smith" "se\\"cr\\\\et"', { tag: 't', name: 'LOGIN', user: 'bob smith', password: 'se"cr\\et' }],
    ['RFC 9051 §6.2.3: LOGIN with literals', 't LOGIN {3}\r\nbob {8+}\r\nsp ce"\\x', { tag: 't', name: 'LOGIN', user: 'bob', password: 'sp ce"\\x' }],
    ['RFC 9051 §6.2.3: LOGIN with UTF-8 in a quoted string', 't LOGIN "jörg" "pässwörd"', { tag: 't', name: 'LOGIN', user: 'jörg', password: 'pässwörd' }],
    ['RFC 9051 §6.2.3: LOGIN with an empty password', 't LOGIN bob ""', { tag: 't', name: 'LOGIN', user: 'bob', password: '' }],
    ['RFC 9051 §9: "]" is an ASTRING-CHAR', 't LOGIN b]b x]', { tag: 't', name: 'LOGIN', user: 'b]b', password: 'x]' }],
    ['RFC 9051 §4.3: a literal header ended by a bare LF', 't LOGIN {3}\nbob x', { tag: 't', name: 'LOGIN', user: 'bob', password: 'x' }],
  ]);
  invalid([
    ['RFC 9051 §6.2.2: AUTHENTICATE without mechanism', 't AUTHENTICATE', 'Missing SASL mechanism'],
    ['RFC 4959 §7: an initial response that is not base64', 't AUTHENTICATE PLAIN abc', 'not base64'],
    ['RFC 4959 §7: "=" inside base64', 't AUTHENTICATE PLAIN ab=c', 'not base64'],
    ['RFC 4959 §7: three padding characters', 't AUTHENTICATE PLAIN a===', 'not base64'],
    ['RFC 9051 §6.2.3: LOGIN without password', 't LOGIN bob', 'Missing password'],
    ['RFC 9051 §6.2.3: LOGIN without arguments', 't LOGIN', 'Missing user name'],
    ['RFC 9051 §9: an unterminated quoted string', 't LOGIN bob "secret', 'Unterminated quoted string'],
    ['RFC 9051 §9: only \\" and \\\\ are escapes', 't LOGIN bob "se\\cret"', 'Invalid escape'],
    ['RFC 9051 §9: NUL is not allowed in a quoted string', B('t LOGIN bob "a\0b"\r\n', 'latin1'), 'CR, LF or NUL'],
    ['RFC 9051 §9: a quoted string must be UTF-8', B('t LOGIN bob "\xe4"\r\n', 'latin1'), 'Password is not valid UTF-8'],
    ['RFC 9051 §9: a literal that is not UTF-8 where a string is needed', B('t LOGIN bob {1}\r\n\xff\r\n', 'latin1'), 'Password is not valid UTF-8'],
    ['RFC 9051 §9: CHAR8 excludes NUL', B('t LOGIN bob {3}\r\na\0b\r\n', 'latin1'), 'NUL octet in a literal'],
    ['RFC 3516 §6: literal8 only where the grammar allows it', 't LOGIN bob ~{3}\r\nabc', 'literal8 (~{n}) is not allowed for password'],
    ['RFC 9051 §9: a literal longer than the command', 't LOGIN bob {10}\r\nabc', 'Literal runs past the end of the command'],
    ['RFC 9051 §9: a literal header not at the line end', 't LOGIN bob {3} abc', '"}" must end the line'],
    ['RFC 9051 §9: a literal without a length', 't LOGIN bob {}\r\n', 'no length'],
    ['RFC 9051 §9: a literal length over 32 bits', 't LOGIN bob {4294967296}\r\n', 'length too large'],
    ['RFC 9051 §9: "(" is not an ASTRING-CHAR', 't LOGIN bob (x)', 'Invalid password "(x"'],
    ['RFC 9051 §9: two spaces between arguments', 't LOGIN  bob x', 'Invalid user name a second space'],
  ]);
});

describe('authenticated: mailboxes (RFC 9051 §6.3)', () => {
  valid([
    ['RFC 5161 §3.1: ENABLE', 't ENABLE CONDSTORE utf8=accept', { tag: 't', name: 'ENABLE', capabilities: ['CONDSTORE', 'UTF8=ACCEPT'] }],
    ['RFC 9051 §6.3.2: SELECT', 't SELECT Sent', { tag: 't', name: 'SELECT', mailbox: { raw: 'Sent' }, condstore: false }],
    ['RFC 9051 §5.1: "INBOX" in any case is INBOX', 't select iNbOx', { tag: 't', name: 'SELECT', mailbox: { raw: 'INBOX' }, condstore: false }],
    ['RFC 9051 §5.1: a quoted inbox too', 't SELECT "inbox"', { tag: 't', name: 'SELECT', mailbox: { raw: 'INBOX' }, condstore: false }],
    ['RFC 9051 §5.1: only INBOX itself, not INBOX/x', 't SELECT inbox/Sub', { tag: 't', name: 'SELECT', mailbox: { raw: 'inbox/Sub' }, condstore: false }],
    ['RFC 9051 §5.1: "ınbox" (dotless i) is not INBOX', 't SELECT "ınbox"', { tag: 't', name: 'SELECT', mailbox: { raw: 'ınbox' }, condstore: false }],
    ['RFC 9051 §5.1: mailbox names as sent (modified UTF-7)', 't SELECT &AMQ-rger', { tag: 't', name: 'SELECT', mailbox: { raw: '&AMQ-rger' }, condstore: false }],
    ['RFC 6855 §3: mailbox names in UTF-8', 't SELECT "Ärger"', { tag: 't', name: 'SELECT', mailbox: { raw: 'Ärger' }, condstore: false }],
    ['RFC 9051 §6.3.2: a mailbox as a literal', 't SELECT {4+}\r\na b)', { tag: 't', name: 'SELECT', mailbox: { raw: 'a b)' }, condstore: false }],
    ['RFC 7162 §3.1.8: SELECT (CONDSTORE)', 't SELECT INBOX (condstore)', { tag: 't', name: 'SELECT', mailbox: { raw: 'INBOX' }, condstore: true }],
    ['RFC 7162 §3.2.5: SELECT (QRESYNC (uidvalidity modseq))', 't EXAMINE INBOX (QRESYNC (67890007 90060115194045000))', {
      tag: 't', name: 'EXAMINE', mailbox: { raw: 'INBOX' }, condstore: false, qresync: { uidValidity: 67890007, modseq: 90060115194045000n },
    }],
    ['RFC 7162 §3.2.5: QRESYNC with known-uids and seq-match-data', 't SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:2,4 5:7,9)))', {
      tag: 't', name: 'SELECT', mailbox: { raw: 'INBOX' }, condstore: false,
      qresync: { uidValidity: 67890007, modseq: 90060115194045000n, knownUids: set([41, 211], [214, 541]), seqMatch: { seqs: set([1, 2], 4), uids: set([5, 7], 9) } },
    }],
    ['RFC 7162 §3.2.5: QRESYNC with seq-match-data only', 't SELECT INBOX (QRESYNC (1 2 (1 5)) CONDSTORE)', {
      tag: 't', name: 'SELECT', mailbox: { raw: 'INBOX' }, condstore: true, qresync: { uidValidity: 1, modseq: 2n, seqMatch: { seqs: set(1), uids: set(5) } },
    }],
    ['RFC 9051 §6.3.4: CREATE', 't CREATE owatagusiam/', { tag: 't', name: 'CREATE', mailbox: { raw: 'owatagusiam/' }, specialUse: [] }],
    ['RFC 6154 §3: CREATE (USE (\\Drafts ...)), canonical case', 't CREATE MyDrafts (USE (\\drafts \\ARCHIVE \\X-Extra))', {
      tag: 't', name: 'CREATE', mailbox: { raw: 'MyDrafts' }, specialUse: ['\\Drafts', '\\Archive', '\\X-Extra'],
    }],
    ['RFC 6154 §3: CREATE (USE ())', 't CREATE x (USE ())', { tag: 't', name: 'CREATE', mailbox: { raw: 'x' }, specialUse: [] }],
    ['RFC 9051 §6.3.5: DELETE', 't DELETE blurdybloop', { tag: 't', name: 'DELETE', mailbox: { raw: 'blurdybloop' } }],
    ['RFC 9051 §6.3.6: RENAME', 't RENAME "old name" {8}\r\nnew name', { tag: 't', name: 'RENAME', from: { raw: 'old name' }, to: { raw: 'new name' } }],
    ['RFC 9051 §6.3.6: RENAME INBOX', 't RENAME inbox old-mail', { tag: 't', name: 'RENAME', from: { raw: 'INBOX' }, to: { raw: 'old-mail' } }],
    ['RFC 9051 §6.3.7: SUBSCRIBE', 't SUBSCRIBE #news.comp.mail.mime', { tag: 't', name: 'SUBSCRIBE', mailbox: { raw: '#news.comp.mail.mime' } }],
    ['RFC 9051 §6.3.8: UNSUBSCRIBE', 't UNSUBSCRIBE ""', { tag: 't', name: 'UNSUBSCRIBE', mailbox: { raw: '' } }],
    ['RFC 9051 §6.3.10: NAMESPACE', 't NAMESPACE', { tag: 't', name: 'NAMESPACE' }],
    ['RFC 9051 §6.3.11: STATUS', 't STATUS blurdybloop (UIDNEXT MESSAGES)', { tag: 't', name: 'STATUS', mailbox: { raw: 'blurdybloop' }, items: ['UIDNEXT', 'MESSAGES'] }],
    ['RFC 9051 §6.3.11: every STATUS item of the extensions', 't STATUS INBOX (messages uidnext uidvalidity unseen deleted size recent highestmodseq appendlimit mailboxid deleted-storage)', {
      tag: 't', name: 'STATUS', mailbox: { raw: 'INBOX' },
      items: ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT', 'HIGHESTMODSEQ', 'APPENDLIMIT', 'MAILBOXID', 'DELETED-STORAGE'],
    }],
    ['RFC 2177: IDLE', 't IDLE', { tag: 't', name: 'IDLE' }],
    ['RFC 4978 §3: COMPRESS DEFLATE', 't COMPRESS deflate', { tag: 't', name: 'COMPRESS', mechanism: 'DEFLATE' }],
  ]);
  invalid([
    ['RFC 5161 §4: ENABLE needs a capability', 't ENABLE', 'Missing capability to enable'],
    ['RFC 9051 §6.3.2: SELECT without mailbox', 't SELECT', 'Missing mailbox name'],
    ['RFC 9051 §6.3.2: SELECT with a space and no mailbox', 't SELECT ', 'Missing mailbox name'],
    ['RFC 4466 §2.1: empty SELECT parameters', 't SELECT INBOX ()', 'Empty SELECT parameters'],
    ['RFC 4466 §2.1: unknown SELECT parameter', 't SELECT INBOX (FOO)', 'Unknown SELECT parameter FOO'],
    ['RFC 4466 §2.1: SELECT parameters without parentheses', 't SELECT INBOX CONDSTORE', 'Expected "(" to open the SELECT parameters'],
    ['RFC 7162 §7: "*" is not allowed in known-uids', 't SELECT INBOX (QRESYNC (1 2 1:*))', '"*" is not allowed here'],
    ['RFC 7162 §7: "$" is not allowed in known-uids', 't SELECT INBOX (QRESYNC (1 2 $))', '"$" is not allowed here'],
    ['RFC 7162 §7: uidvalidity is an nz-number', 't SELECT INBOX (QRESYNC (0 2))', 'Invalid UIDVALIDITY 0'],
    ['RFC 7162 §7: QRESYNC without modseq', 't SELECT INBOX (QRESYNC (1))', 'Missing mod-sequence'],
    ['RFC 7162 §7: mod-sequence over 2^63-1', 't SELECT INBOX (QRESYNC (1 9223372036854775808))', 'larger than 2^63-1'],
    ['RFC 7162 §7: QRESYNC twice', 't SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))', 'QRESYNC given twice'],
    ['RFC 6154 §6: USE attributes start with "\\"', 't CREATE x (USE (Drafts))', 'must start with "\\"'],
    ['RFC 6154 §6: "\\*" is no use-attr', 't CREATE x (USE (\\*))', 'Invalid flag "\\*"'],
    ['RFC 4466 §2.2: unknown CREATE parameter', 't CREATE x (FOO)', 'Unknown CREATE parameter FOO'],
    ['RFC 9051 §6.3.6: RENAME needs two names', 't RENAME a', 'Missing new mailbox name'],
    ['RFC 9051 §6.3.11: STATUS needs items', 't STATUS INBOX ()', 'Empty status items'],
    ['RFC 9051 §6.3.11: STATUS items in parentheses', 't STATUS INBOX MESSAGES', 'Expected "(" to open the status items'],
    ['RFC 9051 §6.3.11: unknown STATUS item', 't STATUS INBOX (MESSAGES BOGUS)', 'Unknown status item BOGUS'],
    ['RFC 9051 §6.3.11: unterminated STATUS items', 't STATUS INBOX (MESSAGES', 'missing ")"'],
    ['RFC 9051 §6.3.11: a stray space in the list', 't STATUS INBOX (MESSAGES )', 'stray space'],
    ['RFC 4978 §4: COMPRESS needs a mechanism', 't COMPRESS', 'Missing compression mechanism'],
    ['RFC 2177: IDLE takes no arguments', 't IDLE 5', 'Unexpected text after the command'],
  ]);
});

describe('authenticated: LIST and LSUB (RFC 9051 §6.3.9, RFC 5258, RFC 5819, RFC 6154)', () => {
  valid([
    ['RFC 9051 §6.3.9: basic LIST', 't LIST "" *', { tag: 't', name: 'LIST', reference: '', patterns: ['*'], select: [], ret: {}, extended: false }],
    ['RFC 9051 §6.3.9: LIST with an atom reference and %', 't LIST ~/Mail/ %', { tag: 't', name: 'LIST', reference: '~/Mail/', patterns: ['%'], select: [], ret: {}, extended: false }],
    ['RFC 9051 §6.3.9: LIST "" "" (the hierarchy delimiter)', 't LIST "" ""', { tag: 't', name: 'LIST', reference: '', patterns: [''], select: [], ret: {}, extended: false }],
    ['RFC 9051 §9: list-mailbox with "]" and wildcards', 't LIST "" a]%*b', { tag: 't', name: 'LIST', reference: '', patterns: ['a]%*b'], select: [], ret: {}, extended: false }],
    ['RFC 5258 §3: selection options', 't LIST (subscribed RECURSIVEMATCH) "" %', {
      tag: 't', name: 'LIST', reference: '', patterns: ['%'], select: ['SUBSCRIBED', 'RECURSIVEMATCH'], ret: {}, extended: true,
    }],
    ['RFC 5258 §3: empty selection options are still extended', 't LIST () "" %', { tag: 't', name: 'LIST', reference: '', patterns: ['%'], select: [], ret: {}, extended: true }],
    ['RFC 5258 §3: REMOTE', 't LIST (REMOTE) "" *', { tag: 't', name: 'LIST', reference: '', patterns: ['*'], select: ['REMOTE'], ret: {}, extended: true }],
    ['RFC 5258 §3: several patterns', 't LIST "" (INBOX "Sent Items" {3}\r\na b)', {
      tag: 't', name: 'LIST', reference: '', patterns: ['INBOX', 'Sent Items', 'a b'], select: [], ret: {}, extended: true,
    }],
    ['RFC 5258 §3: RETURN (CHILDREN SUBSCRIBED)', 't LIST "" % RETURN (CHILDREN subscribed)', {
      tag: 't', name: 'LIST', reference: '', patterns: ['%'], select: [], ret: { children: true, subscribed: true }, extended: true,
    }],
    ['RFC 5258 §3: RETURN ()', 't LIST "" % RETURN ()', { tag: 't', name: 'LIST', reference: '', patterns: ['%'], select: [], ret: {}, extended: true }],
    ['RFC 5819 §2: RETURN (STATUS (...))', 't LIST "" % RETURN (STATUS (MESSAGES UNSEEN SIZE))', {
      tag: 't', name: 'LIST', reference: '', patterns: ['%'], select: [], ret: { status: ['MESSAGES', 'UNSEEN', 'SIZE'] }, extended: true,
    }],
    ['RFC 6154 §2: LIST (SPECIAL-USE) with RETURN (SPECIAL-USE)', 't LIST (SPECIAL-USE RECURSIVEMATCH) "" * RETURN (SPECIAL-USE STATUS (MESSAGES))', {
      tag: 't', name: 'LIST', reference: '', patterns: ['*'], select: ['SPECIAL-USE', 'RECURSIVEMATCH'], ret: { specialUse: true, status: ['MESSAGES'] }, extended: true,
    }],
    ['RFC 3501 §6.3.9: LSUB', 't LSUB "#news." "comp.mail.*"', { tag: 't', name: 'LSUB', reference: '#news.', pattern: 'comp.mail.*' }],
  ]);
  invalid([
    ['RFC 9051 §6.3.9: LIST without pattern', 't LIST ""', 'Missing mailbox pattern'],
    ['RFC 9051 §6.3.9: LIST without arguments', 't LIST', 'Missing reference name'],
    ['RFC 5258 §3: RECURSIVEMATCH alone', 't LIST (RECURSIVEMATCH) "" *', 'RECURSIVEMATCH needs another selection option'],
    ['RFC 5258 §3: RECURSIVEMATCH with REMOTE only', 't LIST (REMOTE RECURSIVEMATCH) "" *', 'RECURSIVEMATCH needs another selection option'],
    ['RFC 5258 §3: unknown selection option', 't LIST (FOO) "" *', 'Unknown LIST selection option FOO'],
    ['RFC 5258 §3: unknown return option', 't LIST "" * RETURN (FOO)', 'Unknown LIST return option FOO'],
    ['RFC 5258 §3: empty pattern list', 't LIST "" ()', 'Empty mailbox patterns'],
    ['RFC 5258 §3: something other than RETURN after the patterns', 't LIST "" * (CHILDREN)', 'Invalid RETURN'],
    ['RFC 5819 §4: STATUS return option needs items', 't LIST "" * RETURN (STATUS)', 'Missing status items'],
    ['RFC 9051 §9: "(" is not a list-char', 't LIST "" a(b', 'Unexpected text after the command: "(b"'],
    ['RFC 3501 §6.3.9: LSUB without pattern', 't LSUB ""', 'Missing mailbox pattern'],
  ]);
});

describe('authenticated: APPEND (RFC 9051 §6.3.12, RFC 3502, RFC 3516, RFC 6855)', () => {
  const msg = 'From: a\r\n\r\nhi\r\n';
  valid([
    ['RFC 9051 §6.3.12: APPEND with a literal', `t APPEND saved-messages {${msg.length}}\r\n${msg}`, {
      tag: 't', name: 'APPEND', mailbox: { raw: 'saved-messages' }, messages: [{ flags: [], data: B(msg), binary: false, utf8: false }],
    }],
    ['RFC 9051 §6.3.12: APPEND with flags and date-time', `t APPEND INBOX (\\Seen $Forwarded) "05-Jul-2024 10:11:12 -0700" {${msg.length}+}\r\n${msg}`, {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' },
      messages: [{ flags: ['\\Seen', '$Forwarded'], date: Date.UTC(2024, 6, 5, 17, 11, 12), data: B(msg), binary: false, utf8: false }],
    }],
    ['RFC 9051 §9: date-day-fixed with a space', 't APPEND INBOX " 5-jul-2024 00:00:00 +0000" {1}\r\nx', {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: [], date: Date.UTC(2024, 6, 5), data: B('x'), binary: false, utf8: false }],
    }],
    ['RFC 9051 §9: a one-digit day without the space (lenient)', 't APPEND INBOX "5-Jul-2024 00:00:00 +0130" {1}\r\nx', {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: [], date: Date.UTC(2024, 6, 4, 22, 30), data: B('x'), binary: false, utf8: false }],
    }],
    ['RFC 9051 §6.3.12: an empty flag list and an empty literal', 't APPEND INBOX () {0}\r\n', {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: [], data: B(''), binary: false, utf8: false }],
    }],
    ['RFC 3502 §6: MULTIAPPEND', 't APPEND foo (\\Seen) {3}\r\nabc (\\Draft) "01-Jan-2000 00:00:00 +0000" {2+}\r\nde {1}\r\nf', {
      tag: 't', name: 'APPEND', mailbox: { raw: 'foo' }, messages: [
        { flags: ['\\Seen'], data: B('abc'), binary: false, utf8: false },
        { flags: ['\\Draft'], date: Date.UTC(2000, 0, 1), data: B('de'), binary: false, utf8: false },
        { flags: [], data: B('f'), binary: false, utf8: false },
      ],
    }],
    ['RFC 3516 §4.4: APPEND with a literal8 holding NUL', B('t APPEND INBOX ~{3}\r\na\0b\r\n', 'latin1'), {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: [], data: B('a\0b', 'latin1'), binary: true, utf8: false }],
    }],
    ['RFC 6855 §4: APPEND UTF8 (literal8)', 't APPEND INBOX (\\Seen) UTF8 (~{6+}\r\nGrüß)', {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: ['\\Seen'], data: B('Grüß'), binary: true, utf8: true }],
    }],
    ['RFC 6855 §4: UTF8 (literal) accepted too (lenient)', 't APPEND INBOX utf8 ({2}\r\nab)', {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: [], data: B('ab'), binary: true, utf8: true }],
    }],
    ['RFC 9051 §6.3.12: a literal ending in CR, then a bare LF as the final line end', B('t APPEND INBOX {1}\r\n\r\n'), {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: [], data: B('\r'), binary: false, utf8: false }],
    }],
    ['RFC 9051 §6.3.12: a literal holding CRLF and "{5}"', 't APPEND INBOX {10}\r\n{5}\r\nx\r\n\r\n', {
      tag: 't', name: 'APPEND', mailbox: { raw: 'INBOX' }, messages: [{ flags: [], data: B('{5}\r\nx\r\n\r\n'), binary: false, utf8: false }],
    }],
  ]);
  invalid([
    ['RFC 9051 §6.3.12: APPEND without message', 't APPEND INBOX', 'Missing message literal'],
    ['RFC 9051 §6.3.12: APPEND with flags and no message', 't APPEND INBOX (\\Seen)', 'Missing message literal'],
    ['RFC 9051 §6.3.12: a message that is not a literal', 't APPEND INBOX "hello"', 'Invalid date-time'],
    ['RFC 9051 §6.3.12: an atom instead of a literal', 't APPEND INBOX hello', 'Expected a message literal, found "hello"'],
    ['RFC 9051 §9: "\\*" is not a flag to APPEND', 't APPEND INBOX (\\*) {1}\r\nx', 'Invalid flag "\\*"'],
    ['RFC 9051 §9: a lone "\\" is not a flag', 't APPEND INBOX (\\) {1}\r\nx', 'Invalid flag'],
    ['RFC 9051 §9: date-time without zone', 't APPEND INBOX "05-Jul-2024 10:11:12" {1}\r\nx', 'Invalid date-time'],
    ['RFC 9051 §9: date-time with a bad month', 't APPEND INBOX "05-Jux-2024 10:11:12 +0000" {1}\r\nx', 'Invalid date-time'],
    ['RFC 9051 §9: date-time of a day that does not exist', 't APPEND INBOX "31-Feb-2024 10:11:12 +0000" {1}\r\nx', 'day 31 does not exist'],
    ['RFC 9051 §9: date-time with hour 24', 't APPEND INBOX "01-Feb-2024 24:00:00 +0000" {1}\r\nx', 'time out of range'],
    ['RFC 9051 §9: CHAR8 excludes NUL in a plain literal', B('t APPEND INBOX {3}\r\na\0b\r\n', 'latin1'), 'only a literal8 may hold NUL'],
    ['RFC 6855 §4: UTF8 without parentheses', 't APPEND INBOX UTF8 ~{1}\r\nx', 'Expected "(" before the UTF8 message literal'],
    ['RFC 6855 §4: UTF8 ( unterminated', 't APPEND INBOX UTF8 (~{1}\r\nx', 'Expected ")" after the UTF8 message literal'],
    ['RFC 3502 §6: garbage after the last message', 't APPEND INBOX {1}\r\nx y', 'Expected a message literal, found "y"'],
    ['RFC 3502 §6: a space after the last message', 't APPEND INBOX {1}\r\nx ', 'Missing message literal'],
  ]);
});

describe('authenticated: QUOTA (RFC 9208) and ACL (RFC 4314)', () => {
  valid([
    ['RFC 9208 §4.2: GETQUOTA', 't GETQUOTA ""', { tag: 't', name: 'GETQUOTA', root: '' }],
    ['RFC 9208 §4.3: GETQUOTAROOT', 't GETQUOTAROOT inbox', { tag: 't', name: 'GETQUOTAROOT', mailbox: { raw: 'INBOX' } }],
    ['RFC 9208 §4.1: SETQUOTA', 't SETQUOTA "" (storage 512 MESSAGE 9223372036854775807)', {
      tag: 't', name: 'SETQUOTA', root: '', limits: [['STORAGE', 512n], ['MESSAGE', 9223372036854775807n]],
    }],
    ['RFC 9208 §4.1: SETQUOTA () removes all limits', 't SETQUOTA user.bob ()', { tag: 't', name: 'SETQUOTA', root: 'user.bob', limits: [] }],
    ['RFC 4314 §3.1: SETACL', 't SETACL INBOX bob lrswipkxtecda', { tag: 't', name: 'SETACL', mailbox: { raw: 'INBOX' }, identifier: 'bob', rights: 'lrswipkxtecda' }],
    ['RFC 4314 §3.1: SETACL adding rights with "+"', 't SETACL INBOX "anyone" +lr', { tag: 't', name: 'SETACL', mailbox: { raw: 'INBOX' }, identifier: 'anyone', rights: '+lr' }],
    ['RFC 4314 §3.1: SETACL removing rights with "-"', 't SETACL Shared -bob -w', { tag: 't', name: 'SETACL', mailbox: { raw: 'Shared' }, identifier: '-bob', rights: '-w' }],
    ['RFC 4314 §3.1: SETACL with no rights', 't SETACL x bob ""', { tag: 't', name: 'SETACL', mailbox: { raw: 'x' }, identifier: 'bob', rights: '' }],
    ['RFC 4314 §3.2: DELETEACL', 't DELETEACL INBOX bob', { tag: 't', name: 'DELETEACL', mailbox: { raw: 'INBOX' }, identifier: 'bob' }],
    ['RFC 4314 §3.3: GETACL', 't GETACL INBOX', { tag: 't', name: 'GETACL', mailbox: { raw: 'INBOX' } }],
    ['RFC 4314 §3.4: LISTRIGHTS', 't LISTRIGHTS ~/Mail/saved smith', { tag: 't', name: 'LISTRIGHTS', mailbox: { raw: '~/Mail/saved' }, identifier: 'smith' }],
    ['RFC 4314 §3.5: MYRIGHTS', 't MYRIGHTS INBOX', { tag: 't', name: 'MYRIGHTS', mailbox: { raw: 'INBOX' } }],
  ]);
  invalid([
    ['RFC 9208 §4.1: a resource without limit', 't SETQUOTA "" (STORAGE)', 'Missing quota limit'],
    ['RFC 9208 §4.1: a negative limit', 't SETQUOTA "" (STORAGE -1)', 'Invalid quota limit'],
    ['RFC 9208 §4.1: a limit over number64', 't SETQUOTA "" (STORAGE 9223372036854775808)', 'larger than 2^63-1'],
    ['RFC 9208 §4.1: limits in parentheses', 't SETQUOTA "" STORAGE 1', 'Expected "(" to open the quota limits'],
    ['RFC 4314 §4: rights are lower-case letters and digits', 't SETACL INBOX bob LRS', 'Invalid rights "LRS"'],
    ['RFC 4314 §4: SETACL without rights', 't SETACL INBOX bob', 'Missing rights'],
    ['RFC 4314 §4: DELETEACL without identifier', 't DELETEACL INBOX', 'Missing identifier'],
    ['RFC 4314 §4: MYRIGHTS without mailbox', 't MYRIGHTS', 'Missing mailbox name'],
  ]);
});

describe('selected: CHECK, CLOSE, UNSELECT, EXPUNGE, COPY, MOVE (RFC 9051 §6.4, RFC 3691, RFC 4315, RFC 6851)', () => {
  valid([
    ['RFC 3501 §6.4.1: CHECK', 't CHECK', { tag: 't', name: 'CHECK' }],
    ['RFC 9051 §6.4.1: CLOSE', 't CLOSE', { tag: 't', name: 'CLOSE' }],
    ['RFC 3691 §2: UNSELECT', 't unselect', { tag: 't', name: 'UNSELECT' }],
    ['RFC 9051 §6.4.3: EXPUNGE', 't EXPUNGE', { tag: 't', name: 'EXPUNGE' }],
    ['RFC 4315 §2.1: UID EXPUNGE', 't UID EXPUNGE 3000:3002,3005', { tag: 't', name: 'UID EXPUNGE', set: set([3000, 3002], 3005) }],
    ['RFC 9051 §6.4.7: COPY', 't COPY 2:4 MEETING', { tag: 't', name: 'COPY', uid: false, set: set([2, 4]), mailbox: { raw: 'MEETING' } }],
    ['RFC 9051 §6.4.8: UID MOVE', 't UID MOVE 42:69,* "Archive/2024"', { tag: 't', name: 'MOVE', uid: true, set: set([42, 69], [STAR, STAR]), mailbox: { raw: 'Archive/2024' } }],
    ['RFC 5182 §2: COPY $', 't COPY $ Trash', { tag: 't', name: 'COPY', uid: false, set: SAVED, mailbox: { raw: 'Trash' } }],
  ]);
  invalid([
    ['RFC 4315 §2.1: UID EXPUNGE needs a set', 't UID EXPUNGE', 'Missing UID set'],
    ['RFC 9051 §6.4.7: COPY without mailbox', 't COPY 1:2', 'Missing mailbox name'],
    ['RFC 9051 §6.4.1: CLOSE takes no arguments', 't CLOSE INBOX', 'Unexpected text after the command'],
  ]);
});

describe('sequence sets (RFC 9051 §9 sequence-set, RFC 5182 "$")', () => {
  const fetchSet = (s: string) => (parse(`t FETCH ${s} FLAGS`) as { set: SeqSet }).set;
  it.each<[string, string, SeqSet]>([
    ['RFC 9051 §9: a number', '1', set(1)],
    ['RFC 9051 §9: the largest nz-number', '4294967295', set(4294967295)],
    ['RFC 9051 §9: a range', '2:4', set([2, 4])],
    ['RFC 9051 §9: ranges are kept as sent, unordered', '5:2', set([5, 2])],
    ['RFC 9051 §9: "*"', '*', set([STAR, STAR])],
    ['RFC 9051 §9: n:*', '1:*', set([1, STAR])],
    ['RFC 9051 §9: *:n', '*:4', set([STAR, 4])],
    ['RFC 9051 §9: a list', '1,3:5,7:*,9', set(1, [3, 5], [7, STAR], 9)],
    ['RFC 5182 §2: "$"', '$', SAVED],
  ])('%s: %s', (_t, s, expected) => {
    expect(fetchSet(s)).toEqual(expected);
  });

  invalid([
    ['RFC 9051 §9: 0 is not an nz-number', 't FETCH 0 FLAGS', 'Invalid sequence set "0": message numbers start at 1'],
    ['RFC 9051 §9: 0 in a range', 't FETCH 1:0 FLAGS', 'message numbers start at 1'],
    ['RFC 9051 §9: leading zero', 't FETCH 01 FLAGS', 'leading zero'],
    ['RFC 9051 §9: over 2^32-1', 't FETCH 4294967296 FLAGS', 'number larger than 4294967295'],
    ['RFC 9051 §9: a very long number', `t FETCH ${'9'.repeat(50)} FLAGS`, 'number larger than 4294967295'],
    ['RFC 9051 §9: an open range', 't FETCH 1: FLAGS', 'expected a number or "*"'],
    ['RFC 9051 §9: an empty list element', 't FETCH 1,,2 FLAGS', 'expected a number or "*"'],
    ['RFC 9051 §9: a trailing comma', 't FETCH 1, FLAGS', 'expected a number or "*"'],
    ['RFC 9051 §9: a range of three', 't FETCH 1:2:3 FLAGS', 'unexpected character'],
    ['RFC 9051 §9: a quoted set', 't FETCH "1" FLAGS', 'Invalid sequence set'],
    ['RFC 5182 §2: "$" stands alone', 't FETCH $,1 FLAGS', '"$" stands alone'],
    ['RFC 9051 §9: missing set', 't FETCH', 'Missing sequence set'],
  ]);

  it(`RFC 9051 §9: up to ${MAX_RANGES} ranges, not more`, () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => i * 2 + 1).join(',');
    expect((parse(`t UID FETCH ${many(MAX_RANGES)} UID`) as { set: { ranges: unknown[] } }).set.ranges).toHaveLength(MAX_RANGES);
    expect(refusal(`t UID FETCH ${many(MAX_RANGES + 1)} UID`).message).toContain(`more than ${MAX_RANGES} ranges`);
  });
});

describe('FETCH (RFC 9051 §6.4.5, RFC 3516, RFC 7162, RFC 8474, RFC 8514, RFC 8970)', () => {
  const fetch = (atts: FetchAtt[], extra: Partial<Extract<Command, { name: 'FETCH' }>> = {}): Command => ({
    tag: 't', name: 'FETCH', uid: false, set: set(1), atts, modifiers: {}, ...extra,
  });
  const body = (peek: boolean, part: number[], text: null | 'HEADER' | 'TEXT' | 'MIME' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' = null, fields?: string[], partial?: { offset: number; length: number }): FetchAtt => {
    const section = fields === undefined ? { part, text } : { part, text, fields };
    return partial === undefined ? { a: 'BODY[]', peek, section } : { a: 'BODY[]', peek, section, partial };
  };
  valid([
    ['RFC 9051 §6.4.5: FETCH ALL (macro)', 't FETCH 1 ALL', fetch([{ a: 'FLAGS' }, { a: 'INTERNALDATE' }, { a: 'RFC822.SIZE' }, { a: 'ENVELOPE' }], { macro: 'ALL' })],
    ['RFC 9051 §6.4.5: FETCH FAST (macro)', 't FETCH 1 fast', fetch([{ a: 'FLAGS' }, { a: 'INTERNALDATE' }, { a: 'RFC822.SIZE' }], { macro: 'FAST' })],
    ['RFC 9051 §6.4.5: FETCH FULL (macro)', 't FETCH 1 FULL', fetch([{ a: 'FLAGS' }, { a: 'INTERNALDATE' }, { a: 'RFC822.SIZE' }, { a: 'ENVELOPE' }, { a: 'BODY' }], { macro: 'FULL' })],
    ['RFC 9051 §6.4.5: one attribute without parentheses', 't FETCH 1 flags', fetch([{ a: 'FLAGS' }])],
    ['RFC 9051 §6.4.5: the simple attributes', 't FETCH 1 (ENVELOPE FLAGS INTERNALDATE RFC822.SIZE UID BODYSTRUCTURE BODY)', fetch([
      { a: 'ENVELOPE' }, { a: 'FLAGS' }, { a: 'INTERNALDATE' }, { a: 'RFC822.SIZE' }, { a: 'UID' }, { a: 'BODYSTRUCTURE' }, { a: 'BODY' },
    ])],
    ['RFC 3501 §6.4.5: RFC822, RFC822.HEADER, RFC822.TEXT', 't FETCH 1 (RFC822 rfc822.header RFC822.TEXT)', fetch([{ a: 'RFC822' }, { a: 'RFC822.HEADER' }, { a: 'RFC822.TEXT' }])],
    ['RFC 9051 §6.4.5: BODY[]', 't FETCH 1 BODY[]', fetch([body(false, [])])],
    ['RFC 9051 §6.4.5: BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100>', 't FETCH 1 (BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100>)', fetch([body(true, [1, 2], 'HEADER.FIELDS', ['From', 'To'], { offset: 0, length: 100 })])],
    ['RFC 9051 §6.4.5: BODY[HEADER.FIELDS.NOT (...)] with quoted and literal names', 't FETCH 1 body[header.fields.not ("Received" {3}\r\nX-Y)]', fetch([body(false, [], 'HEADER.FIELDS.NOT', ['Received', 'X-Y'])])],
    ['RFC 9051 §6.4.5: BODY[HEADER], BODY[TEXT], BODY[1], BODY[1.MIME], BODY[3.2.TEXT]', 't FETCH 1 (BODY[HEADER] BODY[TEXT] BODY[1] BODY[1.MIME] BODY[3.2.TEXT])', fetch([
      body(false, [], 'HEADER'), body(false, [], 'TEXT'), body(false, [1]), body(false, [1], 'MIME'), body(false, [3, 2], 'TEXT'),
    ])],
    ['RFC 9051 §6.4.5: a partial of a large offset', 't FETCH 1 BODY[]<4294967296.1>', fetch([body(false, [], null, undefined, { offset: 4294967296, length: 1 })])],
    ['RFC 3516 §4.2: BINARY[1]<0.10>, BINARY.PEEK[], BINARY.SIZE[1.2]', 't FETCH 1 (BINARY[1]<0.10> BINARY.PEEK[] BINARY.SIZE[1.2])', fetch([
      { a: 'BINARY[]', peek: false, section: { part: [1], text: null }, partial: { offset: 0, length: 10 } },
      { a: 'BINARY[]', peek: true, section: { part: [], text: null } },
      { a: 'BINARY.SIZE', section: { part: [1, 2], text: null } },
    ])],
    ['RFC 7162 §3.1.4.1 MODSEQ, RFC 8474 EMAILID THREADID, RFC 8514 SAVEDATE', 't FETCH 1 (MODSEQ EMAILID THREADID SAVEDATE)', fetch([{ a: 'MODSEQ' }, { a: 'EMAILID' }, { a: 'THREADID' }, { a: 'SAVEDATE' }])],
    ['RFC 8970 §3: PREVIEW and PREVIEW (LAZY)', 't FETCH 1 (PREVIEW UID PREVIEW (LAZY))', fetch([{ a: 'PREVIEW', lazy: false }, { a: 'UID' }, { a: 'PREVIEW', lazy: true }])],
    ['RFC 8970 §3: PREVIEW (LAZY) as the only attribute', 't FETCH 1 PREVIEW (lazy)', fetch([{ a: 'PREVIEW', lazy: true }])],
    ['RFC 8970 §3: bare PREVIEW followed by FETCH modifiers', 't FETCH 1 PREVIEW (CHANGEDSINCE 5)', fetch([{ a: 'PREVIEW', lazy: false }], { modifiers: { changedSince: 5n } })],
    ['RFC 7162 §3.1.4.1: CHANGEDSINCE', 't FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)', fetch([{ a: 'FLAGS' }], { set: set([1, STAR]), modifiers: { changedSince: 12345n } })],
    ['RFC 7162 §3.2.6: UID FETCH with CHANGEDSINCE and VANISHED', 't UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 9223372036854775807 VANISHED)', {
      tag: 't', name: 'FETCH', uid: true, set: set([300, 500]), atts: [{ a: 'FLAGS' }], modifiers: { changedSince: 9223372036854775807n, vanished: true },
    }],
    ['RFC 5182 §2: FETCH $', 't FETCH $ UID', fetch([{ a: 'UID' }], { set: SAVED })],
  ]);
  invalid([
    ['RFC 9051 §6.4.5: unknown attribute', 't FETCH 1 BODYX', 'Unknown FETCH attribute BODYX'],
    ['RFC 9051 §6.4.5: unknown attribute in a list', 't FETCH 1 (FLAGS BOGUS)', 'Unknown FETCH attribute BOGUS'],
    ['RFC 9051 §6.4.5: a macro inside parentheses', 't FETCH 1 (ALL)', 'Unknown FETCH attribute ALL'],
    ['RFC 9051 §6.4.5: an empty list', 't FETCH 1 ()', 'Empty FETCH attributes'],
    ['RFC 9051 §6.4.5: no attributes', 't FETCH 1', 'Missing FETCH attributes'],
    ['RFC 9051 §6.4.5: MIME without part number', 't FETCH 1 BODY[MIME]', 'MIME needs a part number'],
    ['RFC 9051 §6.4.5: unknown section text', 't FETCH 1 BODY[1.FOO]', 'Unknown section text FOO'],
    ['RFC 9051 §6.4.5: section part 0', 't FETCH 1 BODY[1.0]', 'Invalid section part number 0'],
    ['RFC 9051 §6.4.5: a trailing dot in the part', 't FETCH 1 BODY[1.]', 'Missing section text after the part number'],
    ['RFC 9051 §6.4.5: HEADER.FIELDS without list', 't FETCH 1 BODY[HEADER.FIELDS]', 'Missing header field list'],
    ['RFC 9051 §6.4.5: HEADER.FIELDS with an empty list', 't FETCH 1 BODY[HEADER.FIELDS ()]', 'Empty header field list'],
    ['RFC 9051 §6.4.5: unterminated section', 't FETCH 1 BODY[TEXT', 'Expected "]" to close the section'],
    ['RFC 9051 §6.4.5: BODY.PEEK without section', 't FETCH 1 BODY.PEEK', 'BODY.PEEK needs a section'],
    ['RFC 9051 §6.4.5: partial length 0', 't FETCH 1 BODY[]<0.0>', 'Invalid partial length 0'],
    ['RFC 9051 §6.4.5: partial without length', 't FETCH 1 BODY[]<0>', 'Expected "." in the partial range'],
    ['RFC 9051 §6.4.5: partial unterminated', 't FETCH 1 BODY[]<0.5', 'Expected ">" to close the partial range'],
    ['RFC 9051 §6.4.5: a partial on BODY without section', 't FETCH 1 BODY<0.5>', 'Unknown FETCH attribute BODY<0.5>'],
    ['RFC 3516 §6: BINARY sections are part numbers only', 't FETCH 1 BINARY[TEXT]', 'only part numbers are allowed'],
    ['RFC 3516 §6: BINARY.SIZE has no partial', 't FETCH 1 BINARY.SIZE[1]<0.1>', 'Unknown FETCH attribute BINARY.SIZE'],
    ['RFC 3516 §6: BINARY without section', 't FETCH 1 BINARY', 'BINARY needs a section'],
    ['RFC 7162 §3.2.6: VANISHED only in UID FETCH', 't FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)', 'VANISHED is only allowed in UID FETCH'],
    ['RFC 7162 §3.2.6: VANISHED needs CHANGEDSINCE', 't UID FETCH 1 FLAGS (VANISHED)', 'VANISHED needs CHANGEDSINCE'],
    ['RFC 4466 §2.4: unknown FETCH modifier', 't FETCH 1 FLAGS (FOO)', 'Unknown FETCH modifier FOO'],
    ['RFC 7162 §3.1.4.1: CHANGEDSINCE without value', 't FETCH 1 FLAGS (CHANGEDSINCE)', 'Missing mod-sequence'],
    ['RFC 8970 §7: unknown PREVIEW modifier', 't FETCH 1 (PREVIEW (LAZY FUZZY))', 'Unknown PREVIEW modifier'],
    ['RFC 9051 §6.4.5: unterminated list', 't FETCH 1 (FLAGS', 'missing ")"'],
    ['RFC 9051 §6.4.5: two spaces in the list', 't FETCH 1 (FLAGS  UID)', 'stray space'],
  ]);
});

describe('STORE (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE)', () => {
  valid([
    ['RFC 9051 §6.4.6: +FLAGS (\\Deleted)', 't STORE 2:4 +FLAGS (\\Deleted)', { tag: 't', name: 'STORE', uid: false, set: set([2, 4]), action: { op: 'add', silent: false, flags: ['\\Deleted'] } }],
    ['RFC 9051 §6.4.6: -FLAGS.SILENT with bare flags, case kept', 't STORE 1 -flags.silent \\seen $Junk NonJunk', {
      tag: 't', name: 'STORE', uid: false, set: set(1), action: { op: 'remove', silent: true, flags: ['\\seen', '$Junk', 'NonJunk'] },
    }],
    ['RFC 9051 §6.4.6: FLAGS () clears the flags', 't STORE 1 FLAGS ()', { tag: 't', name: 'STORE', uid: false, set: set(1), action: { op: 'set', silent: false, flags: [] } }],
    ['RFC 9051 §9: \\Recent is syntactically a flag-extension', 't STORE 1 FLAGS (\\Recent \\X-Custom)', {
      tag: 't', name: 'STORE', uid: false, set: set(1), action: { op: 'set', silent: false, flags: ['\\Recent', '\\X-Custom'] },
    }],
    ['RFC 7162 §3.1.3: UID STORE (UNCHANGEDSINCE n)', 't UID STORE 1,3 (UNCHANGEDSINCE 12345) FLAGS.SILENT (\\Seen)', {
      tag: 't', name: 'STORE', uid: true, set: set(1, 3), unchangedSince: 12345n, action: { op: 'set', silent: true, flags: ['\\Seen'] },
    }],
    ['RFC 7162 §3.1.3: UNCHANGEDSINCE 0 (mod-sequence-valzer)', 't STORE 1 (unchangedsince 0) +FLAGS x', {
      tag: 't', name: 'STORE', uid: false, set: set(1), unchangedSince: 0n, action: { op: 'add', silent: false, flags: ['x'] },
    }],
  ]);
  invalid([
    ['RFC 9051 §9: "\\*" is not a flag to STORE', 't STORE 1 +FLAGS (\\*)', 'Invalid flag "\\*"'],
    ['RFC 9051 §9: bare "\\*"', 't STORE 1 +FLAGS \\*', 'Invalid flag "\\*"'],
    ['RFC 9051 §6.4.6: unknown data item', 't STORE 1 FLAGZ x', 'Unknown STORE data item FLAGZ'],
    ['RFC 9051 §6.4.6: FLAGS without flags', 't STORE 1 +FLAGS', 'Missing flags'],
    ['RFC 9051 §6.4.6: no data item', 't STORE 1', 'Missing STORE data item'],
    ['RFC 9051 §9: a quoted flag', 't STORE 1 FLAGS "x"', 'Invalid flag'],
    ['RFC 9051 §9: "]" is not an ATOM-CHAR', 't STORE 1 FLAGS (a]b)', 'Invalid flag list'],
    ['RFC 4466 §2.5: unknown STORE modifier', 't STORE 1 (FOO 1) FLAGS x', 'Unknown STORE modifier FOO'],
    ['RFC 7162 §3.1.3: UNCHANGEDSINCE over 2^63-1', 't STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS x', 'larger than 2^63-1'],
  ]);
});

describe('SEARCH (RFC 9051 §6.4.4, RFC 4731, RFC 5182, RFC 7162, RFC 8474, RFC 8514, RFC 5032)', () => {
  const search = (key: SearchKey, extra: Partial<Extract<Command, { name: 'SEARCH' }>> = {}): Command => ({
    tag: 't', name: 'SEARCH', uid: false, charset: null, ret: null, key, ...extra,
  });
  const day = (year: number, month: number, d: number) => ({ year, month, day: d });
  valid([
    ['RFC 9051 §6.4.4: ALL', 't SEARCH ALL', search({ k: 'all' })],
    ['RFC 9051 §6.4.4: implicit AND of several keys', 't SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"', search({
      k: 'and', keys: [{ k: 'flag', flag: '\\Flagged', set: true }, { k: 'date', field: 'internal', cmp: 'since', day: day(1994, 2, 1) }, { k: 'not', key: { k: 'envelope', field: 'from', value: B('Smith') } }],
    })],
    ['RFC 9051 §6.4.4: CHARSET and UID SEARCH', 't UID SEARCH CHARSET utf-8 TEXT "grüß"', search({ k: 'text', where: 'text', value: B('grüß') }, { uid: true, charset: 'UTF-8' })],
    ['RFC 9051 §9: CHARSET as a quoted string', 't SEARCH CHARSET "us-ascii" ALL', search({ k: 'all' }, { charset: 'US-ASCII' })],
    ['RFC 9051 §6.4.4: every flag key', 't SEARCH ANSWERED DELETED DRAFT FLAGGED SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN', search({
      k: 'and', keys: [
        ...['\\Answered', '\\Deleted', '\\Draft', '\\Flagged', '\\Seen'].map((flag): SearchKey => ({ k: 'flag', flag, set: true })),
        ...['\\Answered', '\\Deleted', '\\Draft', '\\Flagged', '\\Seen'].map((flag): SearchKey => ({ k: 'flag', flag, set: false })),
      ],
    })],
    ['RFC 9051 §6.4.4: KEYWORD and UNKEYWORD', 't SEARCH KEYWORD $Forwarded UNKEYWORD Junk', search({
      k: 'and', keys: [{ k: 'flag', flag: '$Forwarded', set: true }, { k: 'flag', flag: 'Junk', set: false }],
    })],
    ['RFC 3501 §6.4.4: NEW, OLD, RECENT', 't SEARCH NEW OLD RECENT', search({ k: 'and', keys: [{ k: 'recent', which: 'new' }, { k: 'recent', which: 'old' }, { k: 'recent', which: 'recent' }] })],
    ['RFC 9051 §6.4.4: envelope keys with atom, quoted and literal strings', 't SEARCH BCC a CC "b c" TO {3}\r\nd e SUBJECT ""', search({
      k: 'and', keys: [
        { k: 'envelope', field: 'bcc', value: B('a') }, { k: 'envelope', field: 'cc', value: B('b c') },
        { k: 'envelope', field: 'to', value: B('d e') }, { k: 'envelope', field: 'subject', value: B('') },
      ],
    })],
    ['RFC 9051 §6.4.4: a search string in a legacy charset, 8-bit in a quoted string (lenient)', B('t SEARCH CHARSET ISO-8859-1 SUBJECT "\xe4"\r\n', 'latin1'), search(
      { k: 'envelope', field: 'subject', value: B('\xe4', 'latin1') }, { charset: 'ISO-8859-1' },
    )],
    ['RFC 9051 §6.4.4: BODY and TEXT', 't SEARCH BODY x TEXT y', search({ k: 'and', keys: [{ k: 'text', where: 'body', value: B('x') }, { k: 'text', where: 'text', value: B('y') }] })],
    ['RFC 9051 §6.4.4: HEADER', 't SEARCH HEADER Message-ID "<x@y>"', search({ k: 'header', field: 'Message-ID', value: B('<x@y>') })],
    ['RFC 9051 §6.4.4: HEADER with an empty string', 't SEARCH HEADER X-Spam ""', search({ k: 'header', field: 'X-Spam', value: B('') })],
    ['RFC 9051 §6.4.4: LARGER and SMALLER (number64)', 't SEARCH LARGER 9007199254740991 SMALLER 0', search({ k: 'and', keys: [{ k: 'larger', n: 9007199254740991 }, { k: 'smaller', n: 0 }] })],
    ['RFC 9051 §6.4.4: every date key, dates quoted or not, any case, one or two digits', 't SEARCH BEFORE 1-jan-2024 ON "02-FEB-2024" SINCE 3-Mar-2024 SENTBEFORE 4-Apr-2024 SENTON 5-May-2024 SENTSINCE 29-Feb-2024', search({
      k: 'and', keys: [
        { k: 'date', field: 'internal', cmp: 'before', day: day(2024, 1, 1) }, { k: 'date', field: 'internal', cmp: 'on', day: day(2024, 2, 2) },
        { k: 'date', field: 'internal', cmp: 'since', day: day(2024, 3, 3) }, { k: 'date', field: 'sent', cmp: 'before', day: day(2024, 4, 4) },
        { k: 'date', field: 'sent', cmp: 'on', day: day(2024, 5, 5) }, { k: 'date', field: 'sent', cmp: 'since', day: day(2024, 2, 29) },
      ],
    })],
    ['RFC 8514 §4.2: SAVEDBEFORE, SAVEDON, SAVEDSINCE, SAVEDATESUPPORTED', 't SEARCH SAVEDBEFORE 1-Jan-2024 SAVEDON 1-Jan-2024 SAVEDSINCE 1-Jan-2024 SAVEDATESUPPORTED', search({
      k: 'and', keys: [
        { k: 'date', field: 'saved', cmp: 'before', day: day(2024, 1, 1) }, { k: 'date', field: 'saved', cmp: 'on', day: day(2024, 1, 1) },
        { k: 'date', field: 'saved', cmp: 'since', day: day(2024, 1, 1) }, { k: 'savedatesupported' },
      ],
    })],
    ['RFC 5032 §3: OLDER and YOUNGER', 't SEARCH OLDER 3600 YOUNGER 60', search({ k: 'and', keys: [{ k: 'age', cmp: 'older', seconds: 3600 }, { k: 'age', cmp: 'younger', seconds: 60 }] })],
    ['RFC 9051 §6.4.4: sequence sets and UID sets', 't SEARCH 1:5,* UID 100:*', search({ k: 'and', keys: [{ k: 'seq', set: set([1, 5], [STAR, STAR]) }, { k: 'uid', set: set([100, STAR]) }] })],
    ['RFC 5182 §2: "$" as a sequence set and a UID set', 't UID SEARCH UID $ $', search({ k: 'and', keys: [{ k: 'uid', set: SAVED }, { k: 'seq', set: SAVED }] }, { uid: true })],
    ['RFC 9051 §6.4.4: OR and NOT nesting', 't SEARCH OR NOT SEEN OR DRAFT (DELETED 1)', search({
      k: 'or', a: { k: 'not', key: { k: 'flag', flag: '\\Seen', set: true } },
      b: { k: 'or', a: { k: 'flag', flag: '\\Draft', set: true }, b: { k: 'and', keys: [{ k: 'flag', flag: '\\Deleted', set: true }, { k: 'seq', set: set(1) }] } },
    })],
    ['RFC 9051 §6.4.4: a parenthesised single key stays a list', 't SEARCH (SEEN)', search({ k: 'and', keys: [{ k: 'flag', flag: '\\Seen', set: true }] })],
    ['RFC 9051 §6.4.4: nested parentheses', 't SEARCH ((SEEN) (1:2 UNSEEN))', search({
      k: 'and', keys: [{ k: 'and', keys: [{ k: 'flag', flag: '\\Seen', set: true }] }, { k: 'and', keys: [{ k: 'seq', set: set([1, 2]) }, { k: 'flag', flag: '\\Seen', set: false }] }],
    })],
    ['RFC 7162 §3.1.5: MODSEQ n', 't SEARCH MODSEQ 620162338', search({ k: 'modseq', n: 620162338n })],
    ['RFC 7162 §3.1.5: MODSEQ "/flags/\\\\draft" all n', 't SEARCH MODSEQ "/flags/\\\\draft" all 620162338', search({ k: 'modseq', n: 620162338n, entry: { name: '/flags/\\draft', type: 'all' } })],
    ['RFC 7162 §3.1.5: MODSEQ with a keyword entry, priv and shared', 't SEARCH MODSEQ "/flags/$Junk" PRIV 0 MODSEQ "/flags/x" shared 9223372036854775807', search({
      k: 'and', keys: [{ k: 'modseq', n: 0n, entry: { name: '/flags/$Junk', type: 'priv' } }, { k: 'modseq', n: 9223372036854775807n, entry: { name: '/flags/x', type: 'shared' } }],
    })],
    ['RFC 8474 §6: EMAILID and THREADID', 't SEARCH EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9_-', search({
      k: 'and', keys: [{ k: 'emailid', id: 'M6d99ac3275bb4e' }, { k: 'threadid', id: 'T64b478a75b7ea9_-' }],
    })],
    ['RFC 4731 §3.1: SEARCH RETURN (MIN MAX COUNT)', 't SEARCH RETURN (MIN max COUNT) UNSEEN', search({ k: 'flag', flag: '\\Seen', set: false }, { ret: ['MIN', 'MAX', 'COUNT'] })],
    ['RFC 4731 §3.1: RETURN () means ALL', 't SEARCH RETURN () ALL', search({ k: 'all' }, { ret: ['ALL'] })],
    ['RFC 5182 §2: RETURN (SAVE) with CHARSET', 't UID SEARCH RETURN (SAVE ALL SAVE) CHARSET UTF-8 SEEN', search({ k: 'flag', flag: '\\Seen', set: true }, { uid: true, ret: ['SAVE', 'ALL'], charset: 'UTF-8' })],
  ]);
  invalid([
    ['RFC 9051 §6.4.4: SEARCH without keys', 't SEARCH', 'Missing search key'],
    ['RFC 9051 §6.4.4: an unknown key', 't SEARCH SEEN FOO', 'Unknown search key FOO'],
    ['RFC 9051 §6.4.4: SINCE without date', 't SEARCH SINCE', 'Missing date after SINCE'],
    ['RFC 9051 §9: a day that does not exist', 't SEARCH SINCE 31-Feb-2024', 'day 31 does not exist'],
    ['RFC 9051 §9: 29 February of a common year', 't SEARCH SINCE 29-Feb-2023', 'day 29 does not exist'],
    ['RFC 9051 §9: an unknown month', 't SEARCH SINCE 1-Foo-2024', 'Invalid date after SINCE "1-Foo-2024"'],
    ['RFC 9051 §9: a two-digit year', 't SEARCH SINCE 1-Jan-24', 'Invalid date after SINCE'],
    ['RFC 9051 §9: an unterminated quoted date', 't SEARCH SINCE "1-Jan-2024', 'Invalid date after SINCE'],
    ['RFC 9051 §9: LARGER beyond Number.MAX_SAFE_INTEGER', 't SEARCH LARGER 9007199254740992', 'Invalid size after LARGER'],
    ['RFC 9051 §9: LARGER without number', 't SEARCH LARGER x', 'expected a number'],
    ['RFC 7162 §3.1.5: MODSEQ over 2^63-1', 't SEARCH MODSEQ 9223372036854775808', 'larger than 2^63-1'],
    ['RFC 7162 §3.1.5: MODSEQ entry that is not /flags/', 't SEARCH MODSEQ "/x" all 1', 'Invalid MODSEQ entry name'],
    ['RFC 7162 §3.1.5: MODSEQ entry type', 't SEARCH MODSEQ "/flags/x" any 1', 'Invalid MODSEQ entry type any'],
    ['RFC 9051 §9: UID 0', 't SEARCH UID 0', 'Invalid UID set "0"'],
    ['RFC 9051 §9: a number over 2^32-1', 't SEARCH 4294967296', 'number larger than 4294967295'],
    ['RFC 9051 §6.4.4: OR with one key', 't SEARCH OR SEEN', 'Missing second search key of OR'],
    ['RFC 9051 §6.4.4: NOT alone', 't SEARCH NOT', 'Missing search key after NOT'],
    ['RFC 9051 §6.4.4: an unterminated list', 't SEARCH (SEEN', 'missing ")"'],
    ['RFC 9051 §6.4.4: an empty list', 't SEARCH ()', 'Invalid search key ")"'],
    ['RFC 9051 §6.4.4: a stray ")"', 't SEARCH SEEN)', 'Unexpected text after the command: ")"'],
    ['RFC 9051 §6.4.4: KEYWORD with a system flag', 't SEARCH KEYWORD \\Seen', 'Invalid keyword after KEYWORD'],
    ['RFC 9051 §6.4.4: CHARSET without keys', 't SEARCH CHARSET UTF-8', 'Missing search key'],
    ['RFC 4731 §3.1: unknown RETURN option', 't SEARCH RETURN (FOO) ALL', 'Unknown RETURN option FOO'],
    ['RFC 4731 §3.1: RETURN without list', 't SEARCH RETURN ALL', 'Expected "(" to open the RETURN options'],
    ['RFC 5032 §4: OLDER 0', 't SEARCH OLDER 0', 'Invalid seconds after OLDER 0'],
    ['RFC 8474 §7: an object id is not a quoted string', 't SEARCH EMAILID "M1"', 'Invalid object id after EMAILID'],
    ['RFC 8474 §7: an object id of 256 characters', `t SEARCH THREADID ${'a'.repeat(256)}`, 'Invalid object id after THREADID'],
    ['RFC 8474 §7: an object id with a dot', 't SEARCH EMAILID a.b', 'Invalid object id after EMAILID'],
    ['RFC 9051 §6.4.4: HEADER without value', 't SEARCH HEADER Subject', 'Missing string after the header field name'],
  ]);

  it(`RFC 9051 §6.4.4: nesting up to ${MAX_DEPTH - 1} levels, ${MAX_DEPTH} is refused`, () => {
    expect(parse(`t SEARCH ${'NOT '.repeat(MAX_DEPTH - 1)}ALL`)).toMatchObject({ name: 'SEARCH' });
    expect(refusal(`t SEARCH ${'NOT '.repeat(MAX_DEPTH)}ALL`).message).toContain('nested too deeply');
    expect(parse(`t SEARCH ${'('.repeat(MAX_DEPTH - 1)}ALL${')'.repeat(MAX_DEPTH - 1)}`)).toMatchObject({ name: 'SEARCH' });
    expect(refusal(`t SEARCH ${'('.repeat(MAX_DEPTH)}ALL${')'.repeat(MAX_DEPTH)}`).message).toContain('nested too deeply');
    expect(refusal(`t SEARCH ${'OR ALL '.repeat(MAX_DEPTH)}ALL`).message).toContain('nested too deeply');
  });

  it('RFC 9051 §6.4.4: 200,000 parentheses or NOTs are a syntax error, never a stack overflow', () => {
    expect(refusal(`t SEARCH ${'('.repeat(200_000)}`).message).toContain('nested too deeply');
    expect(refusal(`t SEARCH ${'NOT '.repeat(200_000)}ALL`).message).toContain('nested too deeply');
  });
});

describe('SORT and THREAD (RFC 5256, RFC 5267 ESORT, RFC 5957)', () => {
  valid([
    ['RFC 5256 §3: SORT', 't SORT (SUBJECT REVERSE DATE) UTF-8 ALL', {
      tag: 't', name: 'SORT', uid: false, criteria: [{ key: 'SUBJECT', reverse: false }, { key: 'DATE', reverse: true }], charset: 'UTF-8', key: { k: 'all' }, ret: null,
    }],
    ['RFC 5256 §3: UID SORT with several search keys', 't UID SORT (reverse ARRIVAL cc from size to) us-ascii SINCE 1-Feb-1994 SEEN', {
      tag: 't', name: 'SORT', uid: true,
      criteria: [{ key: 'ARRIVAL', reverse: true }, { key: 'CC', reverse: false }, { key: 'FROM', reverse: false }, { key: 'SIZE', reverse: false }, { key: 'TO', reverse: false }],
      charset: 'US-ASCII', key: { k: 'and', keys: [{ k: 'date', field: 'internal', cmp: 'since', day: { year: 1994, month: 2, day: 1 } }, { k: 'flag', flag: '\\Seen', set: true }] }, ret: null,
    }],
    ['RFC 5957 §3: DISPLAYFROM and DISPLAYTO', 't SORT (DISPLAYFROM DISPLAYTO) UTF-8 ALL', {
      tag: 't', name: 'SORT', uid: false, criteria: [{ key: 'DISPLAYFROM', reverse: false }, { key: 'DISPLAYTO', reverse: false }], charset: 'UTF-8', key: { k: 'all' }, ret: null,
    }],
    ['RFC 5267 §3.2: SORT RETURN (...)', 't UID SORT RETURN (MIN COUNT) (DATE) UTF-8 UNSEEN', {
      tag: 't', name: 'SORT', uid: true, criteria: [{ key: 'DATE', reverse: false }], charset: 'UTF-8', key: { k: 'flag', flag: '\\Seen', set: false }, ret: ['MIN', 'COUNT'],
    }],
    ['RFC 5256 §3: THREAD REFERENCES', 't THREAD REFERENCES UTF-8 ALL', { tag: 't', name: 'THREAD', uid: false, algorithm: 'REFERENCES', charset: 'UTF-8', key: { k: 'all' } }],
    ['RFC 5256 §3: UID THREAD ORDEREDSUBJECT with a quoted charset', 't UID THREAD orderedsubject "UTF-8" SINCE 5-MAR-2000 1:*', {
      tag: 't', name: 'THREAD', uid: true, algorithm: 'ORDEREDSUBJECT', charset: 'UTF-8',
      key: { k: 'and', keys: [{ k: 'date', field: 'internal', cmp: 'since', day: { year: 2000, month: 3, day: 5 } }, { k: 'seq', set: set([1, STAR]) }] },
    }],
  ]);
  invalid([
    ['RFC 5256 §5: unknown sort key', 't SORT (FOO) UTF-8 ALL', 'Unknown sort key FOO'],
    ['RFC 5256 §5: empty sort criteria', 't SORT () UTF-8 ALL', 'Empty sort criteria'],
    ['RFC 5256 §5: REVERSE without key', 't SORT (REVERSE) UTF-8 ALL', 'Missing sort key after REVERSE'],
    ['RFC 5256 §5: SORT needs a charset', 't SORT (DATE) ALL', 'Missing search key'],
    ['RFC 5256 §5: criteria in parentheses', 't SORT DATE UTF-8 ALL', 'Expected "(" to open the sort criteria'],
    ['RFC 5256 §5: unknown threading algorithm', 't THREAD FOO UTF-8 ALL', 'Unknown threading algorithm FOO'],
    ['RFC 5256 §5: THREAD without search keys', 't THREAD REFERENCES UTF-8', 'Missing search key'],
  ]);
});

describe('bounds and error messages', () => {
  it(`RFC 9051 §6.4.5: up to ${MAX_ITEMS} list items, not more`, () => {
    expect((parse(`t FETCH 1 (${Array(MAX_ITEMS).fill('UID').join(' ')})`) as { atts: unknown[] }).atts).toHaveLength(MAX_ITEMS);
    expect(refusal(`t FETCH 1 (${Array(MAX_ITEMS + 1).fill('UID').join(' ')})`).message).toContain(`more than ${MAX_ITEMS}`);
    expect(refusal(`t STORE 1 FLAGS ${Array(MAX_ITEMS + 1).fill('x').join(' ')}`).message).toContain(`more than ${MAX_ITEMS}`);
    expect(refusal(`t SEARCH ${Array(MAX_ITEMS + 1).fill('SEEN').join(' ')}`).message).toContain(`more than ${MAX_ITEMS}`);
  });

  it('never echoes more than a short excerpt of client input', () => {
    const long = 'X'.repeat(10_000);
    for (const input of [`t ${long}`, `t FETCH 1 ${long}`, `t SEARCH ${long}`, `t FETCH 1:${long} FLAGS`, `t NOOP ${long}`, `t STORE 1 FLAGS (${long}`, `${long}"`]) {
      const r = refusal(input);
      expect(r.message.length).toBeLessThan(160);
    }
  });

  it('replaces non-printable octets in excerpts', () => {
    expect(refusal(B('t BO\x01\xffGUS\r\n', 'latin1')).message).toBe('Unknown command BO??GUS');
  });

  it('throws only ImapSyntaxError, with the tag once it is read', () => {
    const e = refusal('abc FETCH 1 BODYX');
    expect(e).toEqual({ tag: 'abc', message: 'Unknown FETCH attribute BODYX' });
  });
});
