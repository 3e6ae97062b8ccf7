/**
 * Row types of the two schemas. Times are epoch milliseconds, booleans 0/1 and lists JSON
 * text, so that both engines store the same values (backup files are engine-neutral).
 * Partition rows are keyed by (account_id, id): ids count per account, so an account moves
 * between partitions with its ids, UIDs and modseqs unchanged.
 */
import type { Generated } from 'kysely';

import type { BlockRulesTables } from './migrations/0003-block-rules.ts';
import type { DkimKeysTables } from './migrations/0004-dkim-keys.ts';
import type { AuthLocksTables } from './migrations/0005-auth-locks.ts';
import type { MailboxAclTables } from './migrations/0006-mailbox-acl.ts';
import type { PartitionImapTables } from './migrations/0004-partition-imap.ts';
import type { PartitionDavTables } from './migrations/0005-partition-dav.ts';
import type { AccountKind } from './migrations/0007-account-kind.ts';
import type { DavSharesTables } from './migrations/0008-dav-shares.ts';

export interface DirectoryDB extends BlockRulesTables, DkimKeysTables, AuthLocksTables, MailboxAclTables, DavSharesTables {
  domains: { id: Generated<number>; name: string; enabled: number; created_at: number; updated_at: number };
  accounts: {
    id: Generated<number>;
    domain_id: number;
    local_part: string;
    address: string;
    display_name: string;
    password_hash: string;
    quota_bytes: number;
    roles: string; // JSON array of Role
    enabled: number;
    partition: string;
    created_at: number;
    updated_at: number;
    password_changed_at: number;
    kind: Generated<AccountKind>;
  };
  /** One row per address in use, whatever owns it: keeps the namespace unique under races. */
  addresses: { address: string; kind: 'account' | 'alias' | 'list'; domain_id: number };
  aliases: { id: Generated<number>; domain_id: number; address: string; created_at: number; updated_at: number };
  alias_targets: { alias_id: number; target: string };
  lists: {
    id: Generated<number>;
    domain_id: number;
    address: string;
    description: string;
    post_policy: 'anyone' | 'members' | 'domain' | 'senders';
    public: number;
    created_at: number;
    updated_at: number;
  };
  list_members: { list_id: number; member: string };
  list_senders: { list_id: number; sender: string };
  audit: {
    id: Generated<number>;
    ts: number;
    event: string;
    actor: string;
    source: string;
    object: string;
    detail: string; // JSON
    prev_hash: string;
    hash: string;
  };
  audit_head: { id: number; last_id: number; last_hash: string };
  queue_messages: {
    id: string;
    created_at: number;
    sender: string;
    body: Uint8Array;
    size: number;
    envid: string | null;
    ret: 'FULL' | 'HDRS' | null;
    smtputf8: number;
    origin: 'submission' | 'forward' | 'dsn' | 'local-retry';
    account_id: number | null;
    is_dsn: number;
  };
  queue_recipients: {
    queue_id: string;
    address: string;
    domain: string;
    /** Set for a local recipient (delivered through the pipeline, not SMTP). */
    account_id: number | null;
    status: 'pending' | 'delivered' | 'failed' | 'held';
    attempts: number;
    next_attempt_at: number;
    last_attempt_at: number | null;
    last_code: number | null;
    last_enhanced: string | null;
    last_error: string | null;
    remote_mta: string | null;
    notify: string | null;
    orcpt: string | null;
    delay_notified: number;
    lease_owner: string | null;
    lease_until: number | null;
    updated_at: number;
  };
}

export interface PartitionDB extends PartitionImapTables, PartitionDavTables {
  account_state: {
    account_id: number;
    modseq: number;
    next_id: number;
    used_bytes: number;
    used_messages: number;
    status: 'active' | 'frozen' | 'moved';
    updated_at: number;
    uidvalidity_last: Generated<number>;
  };
  mailboxes: {
    account_id: number;
    id: number;
    name: string;
    special_use: string | null;
    uidvalidity: number;
    uidnext: number;
    modseq: number;
    created_at: number;
  };
  messages: {
    account_id: number;
    id: number;
    mailbox_id: number;
    uid: number;
    blob_hash: string;
    size: number;
    flags: string; // JSON array
    internal_date: number;
    modseq: number;
    subject: string | null;
    from_addr: string | null;
    to_addr: string | null;
    sent_date: number | null;
    message_id: string | null;
    has_attachment: Generated<number>;
    savedate: number | null;
    email_id: number | null;
    thread_id: number | null;
    text_indexed: Generated<number>;
  };
  /** The change log: one row per change, destroy rows are the tombstones. */
  changes: {
    account_id: number;
    modseq: number;
    object_type: string;
    object_id: number;
    op: 'create' | 'update' | 'destroy';
  };
  /** seg, seg_off, seg_len: where a body kept in a segment file is (null otherwise). */
  blob_refs: { hash: string; size: number; refcount: number; zero_since: number | null; meta: string | null; seg: string | null; seg_off: number | null; seg_len: number | null };
  blobs: { hash: string; data: Uint8Array };
}

import type { Selectable } from 'kysely';
/** A row as read back (generated columns filled in). */
export type DirRow<T extends keyof DirectoryDB> = Selectable<DirectoryDB[T]>;
export type PartRow<T extends keyof PartitionDB> = Selectable<PartitionDB[T]>;
