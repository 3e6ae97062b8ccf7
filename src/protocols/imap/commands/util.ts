/**
 * Small pieces several command groups share: object ids (RFC 8474), charset decoding of
 * search strings (RFC 9051 §6.4.4 CHARSET), and the IMAP view of sequence sets.
 */
import { DomainError } from '../../../core/errors.ts';
import type { Box } from '../boxes.ts';
import type { Session } from '../context.ts';
import type { SeqSet } from '../types.ts';

/**
 * RFC 8474 object ids: "F", "M" or "T", the owner's account id, "_", the object's id. The
 * owner is part of the id so that mailboxes and messages shared by other accounts never
 * collide with one's own, and everyone sees the same id for the same object.
 */
export function mailboxId(box: Box): string {
  return `F${box.owner.id}_${box.info.id}`;
}
export function emailId(box: Box, id: number): string {
  return `M${box.owner.id}_${id}`;
}
export function threadId(box: Box, id: number): string {
  return `T${box.owner.id}_${id}`;
}
/** The object id in `id` if it belongs to the box's owner, else null. */
export function parseObjectId(box: Box, prefix: 'M' | 'T', id: string): number | null {
  const m = /^([MT])(\d{1,15})_(\d{1,15})$/.exec(id);
  if (!m || m[1] !== prefix || Number(m[2]) !== box.owner.id) return null;
  return Number(m[3]);
}

/** RFC 9051 §6.4.4: UTF-8 must be supported; US-ASCII is its subset. */
export const CHARSETS = ['UTF-8', 'US-ASCII'];

export function decodeSearchString(b: Buffer, charset: string | null): string {
  const cs = (charset ?? 'UTF-8').toUpperCase();
  if (cs === 'UTF-8' || cs === 'UTF8' || cs === 'US-ASCII') return b.toString('utf8');
  throw new DomainError('INVALID_INPUT', 'BADCHARSET');
}

/** UIDs of a sequence set in the selected mailbox, ascending. */
export function uidsOf(s: Session, set: SeqSet, uid: boolean): number[] {
  return s.selected!.resolve(set, uid, s.savedResult);
}
