/**
 * POP3 command grammar (RFC 1939 §3, RFC 2449, RFC 2595, RFC 5034), pure: one line in, a
 * parsed command out, or a Pop3SyntaxError whose message is the text of the -ERR reply.
 * Which state allows a command is the session's business (STATES there), not the parser's.
 *
 * - Keywords are case-insensitive (RFC 1939 §3); arguments are separated by spaces. We take
 *   runs of spaces (and trailing ones) as one separator: clients that send "LIST  1" or
 *   "STAT " mean nothing else.
 * - PASS takes the rest of the line verbatim: RFC 1939 §7 lets a server treat spaces in
 *   the argument as part of the password, since PASS has exactly one argument.
 * - APOP is not offered (it needs the plaintext password on the server), so it is an
 *   unknown command like any other.
 * - Error texts never echo the line: it may be a password typed into the wrong field.
 */

export type Pop3Command =
  | { verb: 'USER'; name: string }
  | { verb: 'PASS'; password: string }
  /** mechanism null: "AUTH" alone (the RFC 1734 mechanism listing); initial null: no initial response. */
  | { verb: 'AUTH'; mechanism: string | null; initial: string | null }
  | { verb: 'CAPA' | 'STLS' | 'QUIT' | 'STAT' | 'NOOP' | 'RSET' }
  | { verb: 'LIST' | 'UIDL'; msg: number | null }
  | { verb: 'RETR' | 'DELE'; msg: number }
  | { verb: 'TOP'; msg: number; lines: number };

export type Verb = Pop3Command['verb'];

export const VERBS: readonly Verb[] = ['USER', 'PASS', 'AUTH', 'CAPA', 'STLS', 'QUIT', 'STAT', 'NOOP', 'RSET', 'LIST', 'UIDL', 'RETR', 'DELE', 'TOP'];

export class Pop3SyntaxError extends Error {
  /** The command's keyword when it was a known one. */
  readonly verb: Verb | null;
  constructor(message: string, verb: Verb | null) {
    super(message);
    this.name = 'Pop3SyntaxError';
    this.verb = verb;
  }
}

/** A message number or line count: decimal digits only (RFC 1939 §3 "msg"), at most 10. */
const NUMBER = /^[0-9]{1,10}$/;
/** A SASL mechanism name (RFC 4422 §3.1: up to 20 of A-Z 0-9 - _). */
const MECHANISM = /^[A-Za-z0-9_-]{1,20}$/;

function number(s: string, verb: Verb, what: string): number {
  if (!NUMBER.test(s)) throw new Pop3SyntaxError(`${verb}: ${what} must be a number`, verb);
  return Number(s);
}

export function parseCommand(line: string): Pop3Command {
  const sp = line.indexOf(' ');
  const keyword = (sp === -1 ? line : line.slice(0, sp)).toUpperCase();
  const rest = sp === -1 ? null : line.slice(sp + 1);
  if (!(VERBS as readonly string[]).includes(keyword)) throw new Pop3SyntaxError('Unknown command', null);
  const verb = keyword as Verb;
  if (verb === 'PASS') {
    if (rest === null) throw new Pop3SyntaxError('PASS needs a password', verb);
    return { verb, password: rest };
  }
  const args = rest === null ? [] : rest.split(' ').filter((a) => a !== '');
  const count = (min: number, max: number) => {
    if (args.length < min || args.length > max) {
      throw new Pop3SyntaxError(max === 0 ? `${verb} takes no arguments` : min === max ? `${verb} needs ${min === 1 ? 'one argument' : `${min} arguments`}` : `${verb} takes at most ${max} argument${max === 1 ? '' : 's'}`, verb);
    }
  };
  switch (verb) {
    case 'USER':
      count(1, 1);
      return { verb, name: args[0] };
    case 'AUTH': {
      count(0, 2);
      if (args.length === 0) return { verb, mechanism: null, initial: null };
      if (!MECHANISM.test(args[0])) throw new Pop3SyntaxError('AUTH: malformed mechanism name', verb);
      return { verb, mechanism: args[0].toUpperCase(), initial: args[1] ?? null };
    }
    case 'CAPA':
    case 'STLS':
    case 'QUIT':
    case 'STAT':
    case 'NOOP':
    case 'RSET':
      count(0, 0);
      return { verb };
    case 'LIST':
    case 'UIDL':
      count(0, 1);
      return { verb, msg: args.length ? number(args[0], verb, 'the message number') : null };
    case 'RETR':
    case 'DELE':
      count(1, 1);
      return { verb, msg: number(args[0], verb, 'the message number') };
    case 'TOP':
      count(2, 2);
      return { verb, msg: number(args[0], verb, 'the message number'), lines: number(args[1], verb, 'the line count') };
  }
}
