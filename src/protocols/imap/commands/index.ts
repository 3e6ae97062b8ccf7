/**
 * The command table: every IMAP command Bulwark answers, with the states that allow it.
 * A command missing here is answered BAD; the session dispatches through this table only.
 */
import type { CommandSpec, CommandTable } from '../context.ts';
import type { CommandName } from '../types.ts';
import { SESSION_COMMANDS } from './session.ts';
import { MAILBOX_COMMANDS } from './mailbox.ts';
import { MESSAGE_COMMANDS } from './messages.ts';
import { FETCH_COMMANDS } from './fetch.ts';
import { SEARCH_COMMANDS } from './search.ts';
import { ADMIN_COMMANDS } from './admin.ts';

function table(specs: readonly CommandSpec<any>[]): CommandTable {
  const t: Partial<Record<CommandName, CommandSpec<any>>> = {};
  for (const s of specs) {
    if (t[s.name as CommandName]) throw new Error(`IMAP command ${s.name} defined twice`);
    t[s.name as CommandName] = s;
  }
  return t as CommandTable;
}

export const COMMANDS: CommandTable = table([...SESSION_COMMANDS, ...MAILBOX_COMMANDS, ...MESSAGE_COMMANDS, ...FETCH_COMMANDS, ...SEARCH_COMMANDS, ...ADMIN_COMMANDS]);
