/**
 * SMTP command parsing (src/protocols/smtp/parser.ts): every verb, the MAIL/RCPT parameters
 * of SIZE, 8BITMIME, BINARYMIME, SMTPUTF8, DSN and AUTH, paths (quoted local parts, source
 * routes, null path, Postmaster, address literals), and the exact reply and enhanced code of
 * every refusal, since the session sends them as they are.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatReply, parseCommand, SmtpSyntaxError, xtextDecode, xtextEncode, type SmtpCommand } from '../../../src/protocols/smtp/parser.ts';

function refusal(line: string, opts?: { smtputf8?: boolean }): string {
  try {
    const c = parseCommand(line, opts);
    return `accepted: ${JSON.stringify(c)}`;
  } catch (e) {
    if (e instanceof SmtpSyntaxError) return `${e.reply} ${e.enhanced}`;
    return `not an SmtpSyntaxError: ${String(e)}`;
  }
}

const long = (n: number, c = 'a') => c.repeat(n);

describe('parseCommand: verbs', () => {
  it.each<[string, SmtpCommand]>([
    ['EHLO mail.example.org', { verb: 'EHLO', domain: 'mail.example.org' }],
    ['ehlo Mail.Example.ORG', { verb: 'EHLO', domain: 'Mail.Example.ORG' }],
    ['EHLO localhost', { verb: 'EHLO', domain: 'localhost' }],
    ['EHLO [192.0.2.1]', { verb: 'EHLO', domain: '[192.0.2.1]' }],
    ['EHLO [IPv6:2001:db8::1]', { verb: 'EHLO', domain: '[IPv6:2001:db8::1]' }],
    ['EHLO [ipv6:::ffff:192.0.2.1]', { verb: 'EHLO', domain: '[ipv6:::ffff:192.0.2.1]' }],
    ['EHLO xn--bcher-kva.example', { verb: 'EHLO', domain: 'xn--bcher-kva.example' }],
    ['EHLO MY_PC', { verb: 'EHLO', domain: 'MY_PC' }], // tolerated: Windows host names
    ['EHLO  mail.example.org  ', { verb: 'EHLO', domain: 'mail.example.org' }],
    ['HELO mail.example.org', { verb: 'HELO', domain: 'mail.example.org' }],
    ['HeLo [192.0.2.1]', { verb: 'HELO', domain: '[192.0.2.1]' }],
    ['DATA', { verb: 'DATA' }],
    ['data', { verb: 'DATA' }],
    ['DATA ', { verb: 'DATA' }], // trailing space tolerated
    ['RSET', { verb: 'RSET' }],
    ['NOOP', { verb: 'NOOP' }],
    ['NOOP anything at all', { verb: 'NOOP' }],
    ['QUIT', { verb: 'QUIT' }],
    ['StartTLS', { verb: 'STARTTLS' }],
    ['HELP', { verb: 'HELP' }],
    ['HELP MAIL', { verb: 'HELP' }],
    ['VRFY postmaster', { verb: 'VRFY', arg: 'postmaster' }],
    ['VRFY John Smith', { verb: 'VRFY', arg: 'John Smith' }],
    ['VRFY <jo@example.org>', { verb: 'VRFY', arg: '<jo@example.org>' }],
    ['VRFY jöran SMTPUTF8', { verb: 'VRFY', arg: 'jöran', smtputf8: true }], // RFC 6531 §3.7.4.2
    ['EXPN staff', { verb: 'EXPN', arg: 'staff' }],
    ['expn staff smtputf8', { verb: 'EXPN', arg: 'staff', smtputf8: true }],
    ['AUTH PLAIN', { verb: 'AUTH', mechanism: 'PLAIN' }],
    ['auth plain AGFsaWNlAHNlY3JldA==', { verb: 'AUTH', mechanism: 'PLAIN', initial: 'AGFsaWNlAHNlY3JldA==' }],
    ['AUTH PLAIN =', { verb: 'AUTH', mechanism: 'PLAIN', initial: '=' }], // RFC 4954 §4: "=" is an empty response
    ['AUTH SCRAM-SHA-256', { verb: 'AUTH', mechanism: 'SCRAM-SHA-256' }],
    ['AUTH XOAUTH2 dXNlcj1h', { verb: 'AUTH', mechanism: 'XOAUTH2', initial: 'dXNlcj1h' }],
    ['AUTH FOO_BAR', { verb: 'AUTH', mechanism: 'FOO_BAR' }], // unsupported mechanisms are the session's 504
    ['BDAT 1000', { verb: 'BDAT', size: 1000, last: false }],
    ['BDAT 0 LAST', { verb: 'BDAT', size: 0, last: true }],
    ['bdat 42 last', { verb: 'BDAT', size: 42, last: true }],
    ['BDAT 9007199254740991', { verb: 'BDAT', size: Number.MAX_SAFE_INTEGER, last: false }],
    ['BDAT 00000000000000000007', { verb: 'BDAT', size: 7, last: false }],
    ['MAIL FROM:<alice@example.org>', { verb: 'MAIL', from: 'alice@example.org', params: {} }],
    ['RCPT TO:<bob@example.org>', { verb: 'RCPT', to: 'bob@example.org', params: {} }],
  ])('%j', (line, want) => {
    expect(parseCommand(line)).toEqual(want);
  });

  it.each<[string, string, string]>([
    ['', '500 5.5.2', 'empty line'],
    ['   ', '500 5.5.2', 'blank line'],
    [' EHLO x.example', '500 5.5.2', 'leading space'],
    ['FOO', '500 5.5.2', 'unknown verb'],
    ['TURN', '500 5.5.2', 'obsolete verb'],
    ['GET / HTTP/1.1', '500 5.5.2', 'HTTP request'],
    ['MAIL1 FROM:<a@b.example>', '500 5.5.2', 'verb with a digit'],
    ['maiſ FROM:<a@b.example>', '500 5.5.2', 'long s upper-cases to S; not MAIL'],
    ['ſtarttls', '500 5.5.2', 'long s in STARTTLS'],
    ['DÄTA', '500 5.5.2', 'non-ASCII verb'],
    ['NOOP\u0000', '501 5.5.2', 'NUL'],
    ['NOOP\ttab', '501 5.5.2', 'tab'],
    ['MAIL FROM:<a@b.example>\rRCPT TO:<c@d.example>', '501 5.5.2', 'bare CR'],
    ['MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>', '501 5.5.2', 'bare LF'],
    ['NOOP \u007f', '501 5.5.2', 'DEL'],
    ['NOOP \u0085', '501 5.5.2', 'C1 control (NEL)'],
    ['NOOP \ud800', '501 5.5.2', 'lone surrogate'],
    ['EHLO', '501 5.5.4', 'EHLO without domain'],
    ['HELO', '501 5.5.4', 'HELO without domain'],
    ['EHLO a.example b.example', '501 5.5.4', 'two arguments'],
    ['EHLO -bad.example', '501 5.5.4', 'label starts with hyphen'],
    ['EHLO bad-.example', '501 5.5.4', 'label ends with hyphen'],
    ['EHLO a..example', '501 5.5.4', 'empty label'],
    ['EHLO mail.example.org.', '501 5.5.4', 'trailing dot'],
    ['EHLO bücher.example', '501 5.5.4', 'U-label: RFC 6531 §3.7.1 asks for ASCII'],
    ['EHLO [192.0.2.256]', '501 5.5.4', 'octet above 255'],
    ['EHLO [192.0.2]', '501 5.5.4', 'three octets'],
    ['EHLO [IPv6:2001:db8::g]', '501 5.5.4', 'bad IPv6'],
    ['EHLO [IPv6:fe80::1%eth0]', '501 5.5.4', 'IPv6 zone'],
    ['EHLO [x400:abc]', '501 5.5.4', 'general literal with an unregistered tag'],
    ['EHLO 192.0.2.1]', '501 5.5.4', 'half a literal'],
    [`EHLO ${long(64)}.example`, '501 5.5.4', 'label longer than 63'],
    ['DATA now', '501 5.5.4', 'DATA with an argument'],
    ['RSET x', '501 5.5.4', 'RSET with an argument'],
    ['QUIT now', '501 5.5.4', 'QUIT with an argument'],
    ['STARTTLS x', '501 5.5.4', 'RFC 3207 §4: no parameters allowed'],
    ['VRFY', '501 5.5.4', 'VRFY without argument'],
    ['EXPN', '501 5.5.4', 'EXPN without argument'],
    ['AUTH', '501 5.5.4', 'AUTH without mechanism'],
    ['AUTH PLAIN a b', '501 5.5.4', 'three arguments'],
    ['AUTH PL@IN', '501 5.5.4', 'bad mechanism character'],
    [`AUTH ${long(21, 'A')}`, '501 5.5.4', 'mechanism longer than 20'],
    ['AUTH PLAIN AGFsaWNl*', '501 5.5.2', 'RFC 4954 §4: undecodable base64 is 501 5.5.2'],
    ['AUTH PLAIN AGF', '501 5.5.2', 'base64 with a missing quartet'],
    ['AUTH PLAIN AG=F', '501 5.5.2', 'padding inside'],
    ['AUTH PLAIN ==', '501 5.5.2', 'just padding'],
    ['BDAT', '501 5.5.4', 'BDAT without size'],
    ['BDAT x', '501 5.5.4', 'BDAT size not a number'],
    ['BDAT -1', '501 5.5.4', 'negative'],
    ['BDAT 10 FIRST', '501 5.5.4', 'unknown end marker'],
    ['BDAT 10 LAST x', '501 5.5.4', 'trailing text'],
    [`BDAT ${long(21, '9')}`, '501 5.5.4', 'more than 20 digits'],
    ['BDAT 9007199254740992', '501 5.5.4', 'beyond Number.MAX_SAFE_INTEGER: the size would be rounded'],
    ['BDAT ١٢', '501 5.5.4', 'non-ASCII digits'],
  ])('%j -> %s (%s)', (line, want) => {
    expect(refusal(line)).toBe(want);
  });
});

describe('parseCommand: MAIL', () => {
  it.each<[string, string, object]>([
    ['MAIL FROM:<alice@example.org>', 'alice@example.org', {}],
    ['mail from:<alice@example.org>', 'alice@example.org', {}],
    ['MAIL FROM: <alice@example.org>', 'alice@example.org', {}], // tolerated, as Postfix does
    ['MAIL FROM:   <alice@example.org>', 'alice@example.org', {}],
    ['MAIL  FROM:<alice@example.org>', 'alice@example.org', {}],
    ['MAIL FROM:<Alice.Smith+tag@Example.ORG>', 'Alice.Smith+tag@Example.ORG', {}], // not normalised
    ['MAIL FROM:<>', '', {}], // RFC 5321 §4.5.5 null reverse-path
    ['MAIL FROM:<> SIZE=1000', '', { size: 1000 }],
    ['MAIL FROM:<"john doe"@example.org>', '"john doe"@example.org', {}],
    ['MAIL FROM:<"a\\"b"@example.org>', '"a\\"b"@example.org', {}],
    ['MAIL FROM:<"a>b"@example.org>', '"a>b"@example.org', {}], // ">" inside quotes does not end the path
    ['MAIL FROM:<"a@b"@example.org>', '"a@b"@example.org', {}],
    ['MAIL FROM:<""@example.org>', '""@example.org', {}],
    ['MAIL FROM:<@relay.example:alice@example.org>', 'alice@example.org', {}], // RFC 5321 §4.1.2/Appendix C
    ['MAIL FROM:<@a.example,@b.example:alice@example.org>', 'alice@example.org', {}],
    ['MAIL FROM:<alice@[192.0.2.1]>', 'alice@[192.0.2.1]', {}],
    ['MAIL FROM:<alice@[IPv6:2001:db8::1]>', 'alice@[IPv6:2001:db8::1]', {}],
    ["MAIL FROM:<!#$%&'*+/=?^_`{|}~-@example.org>", "!#$%&'*+/=?^_`{|}~-@example.org", {}],
    ['MAIL FROM:<a@localhost>', 'a@localhost', {}],
    [`MAIL FROM:<${long(64)}@example.org>`, `${long(64)}@example.org`, {}],
    ['MAIL FROM:<alice@example.org> SIZE=0', 'alice@example.org', { size: 0 }],
    ['MAIL FROM:<alice@example.org> size=12345', 'alice@example.org', { size: 12345 }],
    [`MAIL FROM:<a@example.org> SIZE=${long(20, '9')}`, 'a@example.org', { size: 1e20 }],
    ['MAIL FROM:<a@example.org> BODY=7BIT', 'a@example.org', { body: '7BIT' }],
    ['MAIL FROM:<a@example.org> BODY=8bitmime', 'a@example.org', { body: '8BITMIME' }],
    ['MAIL FROM:<a@example.org> BODY=BINARYMIME', 'a@example.org', { body: 'BINARYMIME' }],
    ['MAIL FROM:<a@example.org> SMTPUTF8', 'a@example.org', { smtputf8: true }],
    ['MAIL FROM:<a@example.org> smtputf8', 'a@example.org', { smtputf8: true }],
    ['MAIL FROM:<a@example.org> RET=FULL', 'a@example.org', { ret: 'FULL' }],
    ['MAIL FROM:<a@example.org> RET=hdrs', 'a@example.org', { ret: 'HDRS' }],
    ['MAIL FROM:<a@example.org> ENVID=QQ314159', 'a@example.org', { envid: 'QQ314159' }],
    ['MAIL FROM:<a@example.org> ENVID=a+2Bb+3Dc+20d', 'a@example.org', { envid: 'a+b=c d' }], // RFC 3461 §4 xtext
    ['MAIL FROM:<a@example.org> AUTH=<>', 'a@example.org', { auth: '<>' }], // RFC 4954 §5
    ['MAIL FROM:<a@example.org> AUTH=e+2Bf@example.org', 'a@example.org', { auth: 'e+f@example.org' }],
    [
      'MAIL FROM:<a@example.org>  SIZE=10   BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<> ',
      'a@example.org',
      { size: 10, body: '8BITMIME', smtputf8: true, ret: 'HDRS', envid: 'x', auth: '<>' },
    ],
    // RFC 6531 §3.4: MAIL's own SMTPUTF8 parameter allows a non-ASCII reverse-path.
    ['MAIL FROM:<jöran@bücher.example> SMTPUTF8', 'jöran@bücher.example', { smtputf8: true }],
    ['MAIL FROM:<"jö ran"@example.org> SMTPUTF8', '"jö ran"@example.org', { smtputf8: true }],
    ['MAIL FROM:<用户@例え.テスト> SMTPUTF8', '用户@例え.テスト', { smtputf8: true }],
  ])('%j', (line, from, params) => {
    expect(parseCommand(line)).toEqual({ verb: 'MAIL', from, params });
  });

  it('allows non-ASCII when the transaction has SMTPUTF8 (opts)', () => {
    expect(parseCommand('MAIL FROM:<jöran@example.org>', { smtputf8: true })).toEqual({ verb: 'MAIL', from: 'jöran@example.org', params: {} });
  });

  it('a path of exactly 256 octets passes, 257 does not (RFC 5321 §4.5.3.1.3)', () => {
    // '<' + 64 + '@' + domain + '>' = 256 -> domain of 189 octets
    const domain = `${long(63)}.${long(63)}.${long(61)}`;
    expect(`<${long(64)}@${domain}>`.length).toBe(256);
    expect(parseCommand(`MAIL FROM:<${long(64)}@${domain}>`)).toMatchObject({ from: `${long(64)}@${domain}` });
    expect(refusal(`MAIL FROM:<${long(64)}@${domain}a>`)).toBe('501 5.1.7');
  });

  it.each<[string, string, string]>([
    ['MAIL', '501 5.5.4', 'no FROM:'],
    ['MAIL TO:<a@example.org>', '501 5.5.4', 'TO instead of FROM'],
    ['MAIL FROM <a@example.org>', '501 5.5.4', 'no colon'],
    ['MAIL FROM :<a@example.org>', '501 5.5.4', 'space before colon'],
    ['MAIL FROM:', '501 5.1.7', 'no path'],
    ['MAIL FROM:a@example.org', '501 5.1.7', 'no angle brackets'],
    ['MAIL FROM:<a@example.org', '501 5.1.7', 'no closing bracket'],
    ['MAIL FROM:<a@example.org>>', '501 5.1.7', 'two closing brackets'],
    ['MAIL FROM:<a@example.org>SIZE=1', '501 5.1.7', 'no space before parameters'],
    ['MAIL FROM:<a>', '501 5.1.7', 'no domain'],
    ['MAIL FROM:<postmaster>', '501 5.1.7', 'postmaster without domain is for RCPT only'],
    ['MAIL FROM:<@example.org>', '501 5.1.7', 'empty local part'],
    ['MAIL FROM:<a@>', '501 5.1.7', 'empty domain'],
    ['MAIL FROM:<a@@example.org>', '501 5.1.7', 'two at signs'],
    ['MAIL FROM:<a b@example.org>', '501 5.1.7', 'space in local part'],
    ['MAIL FROM:<a(b)@example.org>', '501 5.1.7', 'parenthesis in local part'],
    ['MAIL FROM:<a,b@example.org>', '501 5.1.7', 'comma in local part'],
    ['MAIL FROM:<.a@example.org>', '501 5.1.7', 'leading dot'],
    ['MAIL FROM:<a.@example.org>', '501 5.1.7', 'trailing dot'],
    ['MAIL FROM:<a..b@example.org>', '501 5.1.7', 'double dot'],
    ['MAIL FROM:<"a@example.org>', '501 5.1.7', 'unterminated quote'],
    ['MAIL FROM:<"a"b@example.org>', '501 5.1.7', 'text after quoted string'],
    ['MAIL FROM:<"a\\é"@example.org> SMTPUTF8', '501 5.1.7', 'quoted-pairSMTP is ASCII only'],
    ['MAIL FROM:<a@exa mple.org>', '501 5.1.7', 'space in domain'],
    ['MAIL FROM:<a@-example.org>', '501 5.1.7', 'hyphen at label start'],
    ['MAIL FROM:<a@example.org.>', '501 5.1.7', 'trailing dot in domain'],
    ['MAIL FROM:<a@exa_mple.org>', '501 5.1.7', 'underscore in domain'],
    ['MAIL FROM:<a@ex%41mple.org>', '501 5.1.7', 'percent in domain'],
    ['MAIL FROM:<a@[300.0.0.1]>', '501 5.1.7', 'bad IPv4 literal'],
    ['MAIL FROM:<a@[IPv6:::g]>', '501 5.1.7', 'bad IPv6 literal'],
    ['MAIL FROM:<a@[192.0.2.1>', '501 5.1.7', 'unclosed literal'],
    ['MAIL FROM:<a@[192.0.2.1]x>', '501 5.1.7', 'text after literal'],
    ['MAIL FROM:<@relay.example,alice@example.org>', '501 5.1.7', 'source route without colon'],
    ['MAIL FROM:<@:alice@example.org>', '501 5.1.7', 'empty source route domain'],
    ['MAIL FROM:<@relay.example:>', '501 5.1.7', 'source route without mailbox'],
    [`MAIL FROM:<${long(65)}@example.org>`, '501 5.1.7', 'local part of 65 octets'],
    [`MAIL FROM:<${'é'.repeat(33)}@example.org> SMTPUTF8`, '501 5.1.7', 'local part of 66 octets in UTF-8'],
    [`MAIL FROM:<a@${`${long(63)}.`.repeat(4)}org>`, '501 5.1.7', 'domain over 255 octets'],
    ['MAIL FROM:<a@b\u3002example> SMTPUTF8', '501 5.1.7', 'ideographic full stop inside a label'],
    // RFC 6531 §3.5: MAIL needing SMTPUTF8 -> 550 X.6.7
    ['MAIL FROM:<jöran@example.org>', '550 5.6.7', 'non-ASCII local part without SMTPUTF8'],
    ['MAIL FROM:<a@bücher.example>', '550 5.6.7', 'U-label without SMTPUTF8'],
    ['MAIL FROM:<"jö"@example.org>', '550 5.6.7', 'non-ASCII quoted local part without SMTPUTF8'],
    // parameters
    ['MAIL FROM:<a@example.org> FOO=bar', '555 5.5.4', 'unknown parameter'],
    ['MAIL FROM:<a@example.org> NOTIFY=NEVER', '555 5.5.4', 'RCPT parameter on MAIL'],
    ['MAIL FROM:<a@example.org> X-FOO', '555 5.5.4', 'unknown parameter without value'],
    ['MAIL FROM:<a@example.org> SIZE=1 SIZE=2', '501 5.5.4', 'duplicate keyword'],
    ['MAIL FROM:<a@example.org> SIZE=1 size=1', '501 5.5.4', 'duplicate keyword, other case'],
    ['MAIL FROM:<a@example.org> SMTPUTF8 SMTPUTF8', '501 5.5.4', 'duplicate SMTPUTF8'],
    ['MAIL FROM:<a@example.org> -SIZE=1', '501 5.5.4', 'bad keyword syntax'],
    ['MAIL FROM:<a@example.org> SIZE', '501 5.5.4', 'SIZE without value'],
    ['MAIL FROM:<a@example.org> SIZE=', '501 5.5.4', 'empty value'],
    ['MAIL FROM:<a@example.org> SIZE=1k', '501 5.5.4', 'SIZE not digits'],
    ['MAIL FROM:<a@example.org> SIZE=-1', '501 5.5.4', 'negative SIZE'],
    [`MAIL FROM:<a@example.org> SIZE=${long(21, '1')}`, '501 5.5.4', 'SIZE of 21 digits'],
    ['MAIL FROM:<a@example.org> SIZE=1=2', '501 5.5.4', '"=" in value'],
    ['MAIL FROM:<a@example.org> BODY=8BIT', '501 5.5.4', 'unknown BODY'],
    ['MAIL FROM:<a@example.org> BODY', '501 5.5.4', 'BODY without value'],
    ['MAIL FROM:<a@example.org> SMTPUTF8=yes', '501 5.5.4', 'RFC 6531 §3.4: SMTPUTF8 takes no value'],
    ['MAIL FROM:<a@example.org> RET=ALL', '501 5.5.4', 'unknown RET'],
    ['MAIL FROM:<a@example.org> ENVID=a+2b', '501 5.5.4', 'lower-case hexchar'],
    ['MAIL FROM:<a@example.org> ENVID=a+2', '501 5.5.4', 'truncated hexchar'],
    ['MAIL FROM:<a@example.org> ENVID=a+0Ab', '501 5.5.4', 'ENVID decodes to a control character'],
    ['MAIL FROM:<a@example.org> ENVID=+C3+A9', '501 5.5.4', 'ENVID decodes to non-ASCII'],
    [`MAIL FROM:<a@example.org> ENVID=${long(101)}`, '501 5.5.4', 'ENVID longer than 100 (RFC 3461 §4.4)'],
    ['MAIL FROM:<a@example.org> ENVID=é SMTPUTF8', '501 5.5.4', 'raw non-ASCII is no xtext'],
    ['MAIL FROM:<a@example.org> AUTH=+FF', '501 5.5.4', 'AUTH xtext not UTF-8'],
    ['MAIL FROM:<a@example.org> AUTH', '501 5.5.4', 'AUTH without value'],
  ])('%j -> %s (%s)', (line, want) => {
    expect(refusal(line)).toBe(want);
  });

  it('accepts a maximal ENVID of 100 characters', () => {
    expect(parseCommand(`MAIL FROM:<a@example.org> ENVID=${long(100)}`)).toMatchObject({ params: { envid: long(100) } });
  });

  it('reports a bad path before a bad parameter, and a bad parameter before the SMTPUTF8 policy', () => {
    expect(refusal('MAIL FROM:<a b@example.org> FOO=1')).toBe('501 5.1.7');
    expect(refusal('MAIL FROM:<jö@example.org> FOO=1')).toBe('555 5.5.4');
  });
});

describe('parseCommand: RCPT', () => {
  it.each<[string, string, object]>([
    ['RCPT TO:<bob@example.org>', 'bob@example.org', {}],
    ['rcpt to:<bob@example.org>', 'bob@example.org', {}],
    ['RCPT TO: <bob@example.org>', 'bob@example.org', {}],
    ['RCPT TO:<Postmaster>', 'postmaster', {}], // RFC 5321 §4.1.1.3
    ['RCPT TO:<postmaster>', 'postmaster', {}],
    ['RCPT TO:<POSTMASTER>', 'postmaster', {}],
    ['RCPT TO:<Postmaster@example.org>', 'Postmaster@example.org', {}],
    ['RCPT TO:<@hosta.example,@hostb.example:bob@example.org>', 'bob@example.org', {}],
    ['RCPT TO:<"bob smith"@example.org>', '"bob smith"@example.org', {}],
    ['RCPT TO:<bob@[192.0.2.7]>', 'bob@[192.0.2.7]', {}],
    ['RCPT TO:<bob@example.org> NOTIFY=NEVER', 'bob@example.org', { notify: ['NEVER'] }],
    ['RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE', 'bob@example.org', { notify: ['SUCCESS', 'FAILURE'] }],
    ['RCPT TO:<bob@example.org> notify=delay,success,failure', 'bob@example.org', { notify: ['DELAY', 'SUCCESS', 'FAILURE'] }],
    ['RCPT TO:<bob@example.org> ORCPT=rfc822;bob@example.org', 'bob@example.org', { orcpt: { type: 'rfc822', address: 'bob@example.org' } }],
    [
      'RCPT TO:<bob@example.org> ORCPT=rfc822;Bob+2BSmith+20x@example.org NOTIFY=FAILURE',
      'bob@example.org',
      { orcpt: { type: 'rfc822', address: 'Bob+Smith x@example.org' }, notify: ['FAILURE'] },
    ],
    ['RCPT TO:<bob@example.org> ORCPT=x-local;+3Dodd', 'bob@example.org', { orcpt: { type: 'x-local', address: '=odd' } }],
  ])('%j', (line, to, params) => {
    expect(parseCommand(line)).toEqual({ verb: 'RCPT', to, params });
  });

  it('allows non-ASCII only when the transaction has SMTPUTF8 (RFC 6531 §3.5)', () => {
    expect(parseCommand('RCPT TO:<jöran@bücher.example>', { smtputf8: true })).toEqual({ verb: 'RCPT', to: 'jöran@bücher.example', params: {} });
    expect(parseCommand('RCPT TO:<用户@例え.テスト>', { smtputf8: true })).toMatchObject({ to: '用户@例え.テスト' });
    expect(refusal('RCPT TO:<jöran@example.org>')).toBe('553 5.6.7');
    expect(refusal('RCPT TO:<a@bücher.example>')).toBe('553 5.6.7');
    expect(refusal('RCPT TO:<jöran@example.org>', { smtputf8: false })).toBe('553 5.6.7');
    // RFC 6531 §3.4: SMTPUTF8 is a MAIL parameter; on RCPT it is unknown.
    expect(refusal('RCPT TO:<jöran@example.org> SMTPUTF8')).toBe('555 5.5.4');
  });

  it.each<[string, string, string]>([
    ['RCPT', '501 5.5.4', 'no TO:'],
    ['RCPT FROM:<a@example.org>', '501 5.5.4', 'FROM instead of TO'],
    ['RCPT TO:<>', '501 5.1.3', 'null path'],
    ['RCPT TO:', '501 5.1.3', 'no path'],
    ['RCPT TO:bob@example.org', '501 5.1.3', 'no brackets'],
    ['RCPT TO:<bob>', '501 5.1.3', 'no domain'],
    ['RCPT TO:<"postmaster">', '501 5.1.3', 'quoted postmaster without domain'],
    ['RCPT TO:<@relay.example:postmaster>', '501 5.1.3', 'routed postmaster without domain'],
    ['RCPT TO:<postmaster.x>', '501 5.1.3', 'not postmaster'],
    ['RCPT TO:<bob@example.org> foo', '555 5.5.4', 'unknown parameter'],
    ['RCPT TO:<bob@example.org> SIZE=1', '555 5.5.4', 'MAIL parameter on RCPT'],
    ['RCPT TO:<bob@example.org> NOTIFY=NEVER,SUCCESS', '501 5.5.4', 'NEVER with others'],
    ['RCPT TO:<bob@example.org> NOTIFY=SUCCESS,SUCCESS', '501 5.5.4', 'repeated NOTIFY value'],
    ['RCPT TO:<bob@example.org> NOTIFY=SOMETIMES', '501 5.5.4', 'unknown NOTIFY value'],
    ['RCPT TO:<bob@example.org> NOTIFY=SUCCESS,', '501 5.5.4', 'empty list element'],
    ['RCPT TO:<bob@example.org> NOTIFY', '501 5.5.4', 'NOTIFY without value'],
    ['RCPT TO:<bob@example.org> NOTIFY=NEVER NOTIFY=NEVER', '501 5.5.4', 'duplicate NOTIFY'],
    ['RCPT TO:<bob@example.org> ORCPT=bob@example.org', '501 5.5.4', 'ORCPT without addr-type'],
    ['RCPT TO:<bob@example.org> ORCPT=;bob@example.org', '501 5.5.4', 'empty addr-type'],
    ['RCPT TO:<bob@example.org> ORCPT=rfc822;', '501 5.5.4', 'empty ORCPT address'],
    ['RCPT TO:<bob@example.org> ORCPT=rfc822;a+2x', '501 5.5.4', 'bad xtext'],
    ['RCPT TO:<bob@example.org> ORCPT=rfc822;a+0D+0Ab', '501 5.5.4', 'ORCPT decoding to CRLF'],
    [`RCPT TO:<bob@example.org> ORCPT=rfc822;${long(494)}`, '501 5.5.4', 'ORCPT longer than 500 (RFC 3461 §4.2)'],
    ['RCPT TO:<bob@example.org>NOTIFY=NEVER', '501 5.1.3', 'no space before parameters'],
  ])('%j -> %s (%s)', (line, want) => {
    expect(refusal(line)).toBe(want);
  });

  it('accepts an ORCPT of exactly 500 characters', () => {
    expect(parseCommand(`RCPT TO:<bob@example.org> ORCPT=rfc822;${long(493)}`)).toMatchObject({ params: { orcpt: { type: 'rfc822', address: long(493) } } });
  });
});

describe('SmtpSyntaxError', () => {
  it('is an Error with reply, enhanced code and a message fit for the reply text', () => {
    try {
      parseCommand('MAIL FROM:<a@example.org> FOO=1');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      expect(e).toBeInstanceOf(SmtpSyntaxError);
      const err = e as SmtpSyntaxError;
      expect(err.name).toBe('SmtpSyntaxError');
      expect([err.reply, err.enhanced]).toEqual([555, '5.5.4']);
      expect(err.message).toMatch(/FOO/);
      expect(err.message).not.toMatch(/[\r\n]/);
    }
  });

  it('only SmtpSyntaxError comes out of any input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom('', 'MAIL FROM:', 'RCPT TO:', 'EHLO ', 'AUTH ', 'BDAT '), fc.boolean(), (s, prefix, smtputf8) => {
        try {
          parseCommand(prefix + s, { smtputf8 });
        } catch (e) {
          if (!(e instanceof SmtpSyntaxError)) throw e;
          expect([500, 501, 550, 553, 555]).toContain(e.reply);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatReply', () => {
  it.each<[number, string | null, string | string[], string]>([
    [250, '2.0.0', 'OK', '250 2.0.0 OK\r\n'],
    [250, null, 'OK', '250 OK\r\n'],
    [354, null, 'End data with <CR><LF>.<CR><LF>', '354 End data with <CR><LF>.<CR><LF>\r\n'],
    [250, null, ['mail.example.org', 'PIPELINING', 'SIZE 10240000', 'SMTPUTF8'], '250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 SMTPUTF8\r\n'],
    [550, '5.1.1', ['no such user', 'try again'], '550-5.1.1 no such user\r\n550 5.1.1 try again\r\n'],
    [250, null, [], '250\r\n'],
    [250, null, '', '250\r\n'],
    [250, null, ['a', ''], '250-a\r\n250\r\n'],
    [221, '2.0.0', 'bye', '221 2.0.0 bye\r\n'],
    // a line break in a text cannot forge a reply line
    [550, '5.1.1', 'no such user\r\n250 2.0.0 OK', '550-5.1.1 no such user\r\n550 5.1.1 250 2.0.0 OK\r\n'],
    [550, null, 'a\nb\rc', '550-a\r\n550-b\r\n550 c\r\n'],
    [550, null, 'nul\u0000 and tab\t', '550 nul? and tab?\r\n'],
  ])('%i %s %j', (code, enhanced, text, want) => {
    expect(formatReply(code, enhanced, text)).toBe(want);
  });

  it.each<[number, string | null]>([
    [250, '5.0.0'], // class must match the reply (RFC 3463 §2)
    [550, '2.0.0'],
    [250, '3.0.0'],
    [250, '2.0'],
    [250, 'x'],
    [99, null],
    [600, null],
    [250.5, null],
  ])('refuses %i %s', (code, enhanced) => {
    expect(() => formatReply(code, enhanced, 'x')).toThrow(RangeError);
  });
});

describe('xtext (RFC 3461 §4)', () => {
  it.each([
    ['abc', 'abc'],
    ['a+b', 'a+2Bb'],
    ['a=b', 'a+3Db'],
    ['a b', 'a+20b'],
    ['é', '+C3+A9'],
    ['\r\n', '+0D+0A'],
    ['~!', '~!'],
    ['', ''],
  ])('%j <-> %j', (plain, encoded) => {
    expect(xtextEncode(plain)).toBe(encoded);
    expect(xtextDecode(encoded)).toBe(plain);
  });

  it('decodes hexchars of characters that need none', () => {
    expect(xtextDecode('+41+42C')).toBe('ABC');
  });

  it.each(['a b', 'a=b', 'a+', 'a+4', 'a+4g', 'a+4a', '+ZZ', 'é', '+C3', '\u0001'])('refuses %j with 501 5.5.4', (bad) => {
    try {
      xtextDecode(bad);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SmtpSyntaxError);
      expect([(e as SmtpSyntaxError).reply, (e as SmtpSyntaxError).enhanced]).toEqual([501, '5.5.4']);
    }
  });

  it('round-trips any string and always yields a valid esmtp-value charset (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const enc = xtextEncode(s);
        expect(enc).toMatch(/^[\x21-\x2a\x2c-\x3c\x3e-\x7e+]*$/);
        expect(xtextDecode(enc)).toBe(s);
      }),
    );
  });
});
