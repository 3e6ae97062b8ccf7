/**
 * POP3 command grammar (src/protocols/pop3/parser.ts), table-driven: RFC 1939 §3 keywords
 * and arguments, RFC 1939 §7 PASS with spaces, RFC 5034 §4 AUTH forms, and refusals.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseCommand, Pop3SyntaxError } from '../../../src/protocols/pop3/parser.ts';

describe('parseCommand', () => {
  it.each([
    ['USER alice@example.org', { verb: 'USER', name: 'alice@example.org' }],
    ['user alice@example.org ', { verb: 'USER', name: 'alice@example.org' }],
    ['PASS secret', { verb: 'PASS', password: 'secret' }],
    ['PASS  two words ', { verb: 'PASS', password: ' two words ' }],
    ['PASS ', { verb: 'PASS', password: '' }],
    ['AUTH', { verb: 'AUTH', mechanism: null, initial: null }],
    ['auth plain', { verb: 'AUTH', mechanism: 'PLAIN', initial: null }],
    ['AUTH PLAIN AGFsaWNlAHB3', { verb: 'AUTH', mechanism: 'PLAIN', initial: 'AGFsaWNlAHB3' }],
    ['AUTH PLAIN =', { verb: 'AUTH', mechanism: 'PLAIN', initial: '=' }],
    ['CAPA', { verb: 'CAPA' }],
    ['stls', { verb: 'STLS' }],
    ['STAT ', { verb: 'STAT' }],
    ['LIST', { verb: 'LIST', msg: null }],
    ['LIST 3', { verb: 'LIST', msg: 3 }],
    ['list  12', { verb: 'LIST', msg: 12 }],
    ['UIDL 1', { verb: 'UIDL', msg: 1 }],
    ['RETR 1', { verb: 'RETR', msg: 1 }],
    ['DELE 0', { verb: 'DELE', msg: 0 }],
    ['TOP 2 0', { verb: 'TOP', msg: 2, lines: 0 }],
    ['NOOP', { verb: 'NOOP' }],
    ['RSET', { verb: 'RSET' }],
    ['QUIT', { verb: 'QUIT' }],
  ])('%j', (line, expected) => {
    expect(parseCommand(line)).toEqual(expected);
  });

  it.each([
    ['FOO', 'Unknown command'],
    ['APOP alice 0123456789abcdef0123456789abcdef', 'Unknown command'],
    ['STATX', 'Unknown command'],
    ['USER', 'USER needs one argument'],
    ['USER a b', 'USER needs one argument'],
    ['PASS', 'PASS needs a password'],
    ['STAT 1', 'STAT takes no arguments'],
    ['LIST 1 2', 'LIST takes at most 1 argument'],
    ['RETR', 'RETR needs one argument'],
    ['RETR x', 'RETR: the message number must be a number'],
    ['RETR -1', 'RETR: the message number must be a number'],
    ['RETR 12345678901', 'RETR: the message number must be a number'],
    ['TOP 1', 'TOP needs 2 arguments'],
    ['TOP 1 x', 'TOP: the line count must be a number'],
    ['AUTH PL@IN', 'AUTH: malformed mechanism name'],
    ['AUTH PLAIN a b', 'AUTH takes at most 2 arguments'],
  ])('refuses %j: %s', (line, message) => {
    let thrown: unknown;
    try {
      parseCommand(line);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Pop3SyntaxError);
    expect((thrown as Error).message).toBe(message);
  });

  it('never echoes the line in an error (it may be a password typed as a command)', () => {
    fc.assert(fc.property(fc.string({ minLength: 6, maxLength: 60 }), (s) => {
      try {
        parseCommand(s);
      } catch (e) {
        expect(e).toBeInstanceOf(Pop3SyntaxError);
        const arg = s.split(' ').slice(1).join(' ');
        if (arg.length >= 6) expect((e as Error).message).not.toContain(arg);
      }
    }));
  });
});
