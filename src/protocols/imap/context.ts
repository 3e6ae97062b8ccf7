/**
 * What an IMAP session is given (settings and core services) and what a command handler
 * sees of the session. Commands live in commands/*.ts, one module per group, each a table of
 * descriptors with the states that allow it (STYLE.md: mox's command table).
 */
import type { SessionGuard } from '../../core/sessions.ts';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { AccountInfo, Directory } from '../../core/directory/directory.ts';
import type { Mailboxes } from '../../core/mail/mailboxes.ts';
import type { Messages } from '../../core/mail/messages.ts';
import type { Sharing } from '../../core/mail/sharing.ts';
import type { DeliveryPipeline } from '../../core/mail/delivery/pipeline.ts';
import type { TextIndexer } from '../../core/mail/indexer.ts';
import type { ChangeBus } from '../../core/changes/bus.ts';
import type { MailStore } from '../../core/mail/mailstore.ts';
import type { AuthThrottle } from '../../security/auth-throttle.ts';
import type { AuditEntry } from '../../security/audit.ts';
import type { LogPrivacy } from '../../ops/log.ts';
import type { InputLimits } from './input.ts';
import type { Command, CommandName } from './types.ts';
import type { Part } from './wire.ts';
import type { SelectedMailbox } from './selected.ts';

export interface ImapSettings {
  hostname: string;
  version: string;
  maxMessageSize: number;
  /** Refuse LOGIN/AUTHENTICATE before TLS (auth.require_tls). */
  requireTls: boolean;
  idleTimeoutMs: number;
  loginTimeoutMs: number;
  maxErrors: number;
  limits: InputLimits;
  secureContext?: tls.SecureContext;
  privacy?: LogPrivacy;
}

/** Sessions per account on this node (GW-DOS-4). */
export class AccountSessions {
  readonly #n = new Map<number, number>();
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  acquire(accountId: number): boolean {
    const n = this.#n.get(accountId) ?? 0;
    if (n >= this.max) return false;
    this.#n.set(accountId, n + 1);
    return true;
  }
  release(accountId: number): void {
    const n = (this.#n.get(accountId) ?? 1) - 1;
    if (n <= 0) this.#n.delete(accountId);
    else this.#n.set(accountId, n);
  }
  count(accountId: number): number {
    return this.#n.get(accountId) ?? 0;
  }
}

export interface ImapDeps {
  directory: Directory;
  mail: MailStore;
  mailboxes: Mailboxes;
  messages: Messages;
  sharing: Sharing;
  pipeline: DeliveryPipeline;
  indexer: TextIndexer;
  bus: ChangeBus;
  throttle: AuthThrottle;
  audit: (entry: AuditEntry) => Promise<void>;
  accountSessions: AccountSessions;
  /** Ends logged-in sessions whose account is disabled or given a new password (optional in tests). */
  sessions?: SessionGuard;
  log: Logger;
}

export type ImapState = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

/** The tagged answer a handler returns; the session writes it after any untagged updates. */
export interface Outcome {
  status: 'OK' | 'NO' | 'BAD';
  /** A response code without brackets, e.g. "READ-WRITE" or "COPYUID 1 2 3". */
  code?: string;
  text: string;
  /** The handler wrote the tagged response itself (STARTTLS and COMPRESS answer before switching). */
  sent?: boolean;
}

export const ok = (text: string, code?: string): Outcome => ({ status: 'OK', text, code });
export const no = (text: string, code?: string): Outcome => ({ status: 'NO', text, code });
export const bad = (text: string, code?: string): Outcome => ({ status: 'BAD', text, code });

/** The session as command handlers see it. */
export interface Session {
  readonly id: string;
  readonly deps: ImapDeps;
  readonly settings: ImapSettings;
  /** The session's logger (made on first use). */
  readonly log: Logger;
  /** Adds a field to the session's later log lines. */
  bind(key: string, value: string): void;
  /** A log line with the session's fields that keeps no child logger alive. */
  note(level: 'info' | 'warn' | 'debug', obj: Record<string, unknown>, msg: string): void;
  readonly remote: string;
  /** The tag of the command being run. */
  readonly tag: string;
  state: ImapState;
  user: AccountInfo | null;
  selected: SelectedMailbox | null;
  readonly tls: boolean;
  /** Extensions the client enabled (ENABLE, or implicitly: CONDSTORE by its first use). */
  readonly enabled: Set<string>;
  /** UTF-8 on the wire for names and strings (UTF8=ACCEPT or IMAP4rev2 enabled). */
  readonly utf8: boolean;
  readonly rev2: boolean;
  readonly condstore: boolean;
  readonly qresync: boolean;
  /** SEARCHRES (RFC 5182): UIDs of the last SEARCH ... RETURN (SAVE). */
  savedResult: number[] | null;
  /** Writes one untagged or continuation response (CRLF added); waits when the client reads slowly. */
  send(line: string | readonly Part[]): Promise<void>;
  /** Reads one line in line mode (AUTHENTICATE responses, IDLE's DONE); null when the session ends. */
  readLine(): Promise<string | null>;
  /** Lets the framer go on after a held command (STARTTLS, COMPRESS, AUTHENTICATE, IDLE). */
  resumeInput(): void;
  lineMode(on: boolean): void;
  startTls(): Promise<void>;
  startCompression(): void;
  capabilities(): string[];
  /** Untagged updates of the selected mailbox (other sessions, deliveries). */
  refresh(opts: { allowExpunge: boolean; force?: boolean }): Promise<void>;
  /** Closes the selected mailbox's watch and forgets it. */
  deselect(): void;
  /** Marks the selected mailbox dirty when its account changes (bus), and wakes IDLE. */
  watch(ownerId: number): () => void;
  enable(cap: string): void;
  closeSoon(): void;
  /** True while IDLE waits for DONE. */
  idling: boolean;
  /** Makes a stopped session end (server shutdown) once the current command is answered. */
  readonly stopping: boolean;
}

/** The parsed form of command N (members whose name is a union, like SELECT | EXAMINE, included). */
type Dist<C, N> = C extends { name: infer M } ? (N extends M ? C : never) : never;
export type CommandOf<N extends CommandName> = Dist<Command, N>;

export interface CommandSpec<N extends CommandName = CommandName> {
  name: N;
  states: readonly ImapState[];
  run(s: Session, cmd: CommandOf<N>): Promise<Outcome>;
}

export type CommandTable = { [N in CommandName]?: CommandSpec<N> };

export function command<N extends CommandName>(spec: CommandSpec<N>): CommandSpec<N> {
  return spec;
}

export const ANY: readonly ImapState[] = ['not-authenticated', 'authenticated', 'selected'];
export const AUTHED: readonly ImapState[] = ['authenticated', 'selected'];
export const SELECTED: readonly ImapState[] = ['selected'];
export const NOT_AUTHED: readonly ImapState[] = ['not-authenticated'];
