/**
 * Turns engine errors into catalogue errors at the store edge. Connection trouble, a busy
 * or full database and I/O errors are temporary (UNAVAILABLE), so protocols answer with a
 * temporary error (SMTP 4xx, IMAP NO [UNAVAILABLE]) and senders retry; a transaction that
 * lost a race (PostgreSQL serialization failure or deadlock) is CONFLICT, also temporary,
 * but says nothing about the database being down; unique-key violations become
 * ALREADY_EXISTS.
 */
import { DomainError } from '../core/errors.ts';

// connection, invalid authorization, unknown database, resources, operator intervention, system:
// an operator fixes them and the same call then works, so senders should retry.
const PG_TEMPORARY_CLASSES = ['08', '28', '3D', '53', '57', '58'];
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** The disk under a database is full: SQLITE_FULL (13), PostgreSQL disk_full (53100), ENOSPC/EDQUOT from a file. */
export function isStorageFullError(e: any): boolean {
  if (!e) return false;
  const code = String(e.code ?? '');
  if (code === '53100' || code === 'ENOSPC' || code === 'EDQUOT') return true;
  return code === 'ERR_SQLITE_ERROR' && (Number(e.errcode ?? -1) & 0xff) === 13;
}

export function isTemporaryDbError(e: any): boolean {
  if (!e) return false;
  if (e instanceof DomainError) return e.temporary;
  const code = String(e.code ?? '');
  if (NET_CODES.has(code)) return true;
  if (/^[0-9A-Z]{5}$/.test(code) && PG_TEMPORARY_CLASSES.includes(code.slice(0, 2))) return true;
  if (code === '40001' || code === '40P01') return true; // serialization failure, deadlock
  const msg = String(e.message ?? '');
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection timeout|Query read timeout/i.test(msg)) return true;
  if (code === 'ERR_SQLITE_ERROR') {
    const errcode = Number(e.errcode ?? -1) & 0xff;
    // SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_NOMEM 7, SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14, SQLITE_PROTOCOL 15
    if ([5, 6, 7, 10, 13, 14, 15].includes(errcode)) return true;
  }
  return false;
}

export function isUniqueViolation(e: any): boolean {
  if (!e) return false;
  if (e.code === '23505') return true;
  if (e.code === 'ERR_SQLITE_ERROR' && (e.errcode === 2067 || e.errcode === 1555)) return true;
  return /UNIQUE constraint failed/.test(String(e.message ?? ''));
}

/** Serialization failure or deadlock: retry the transaction; the database itself is fine. */
export function isConflictDbError(e: any): boolean {
  const code = String(e?.code ?? '');
  return code === '40001' || code === '40P01';
}

/** Wraps an engine error; DomainErrors pass through untouched. */
/** SQLITE_CORRUPT (11) and SQLITE_NOTADB (26): the file is damaged or not a database. */
export function isCorruptionError(e: any): boolean {
  return e?.code === 'ERR_SQLITE_ERROR' && [11, 26].includes(Number(e.errcode ?? -1) & 0xff);
}

export function mapDbError(e: unknown, what: string): unknown {
  if (e instanceof DomainError) return e;
  if (isConflictDbError(e)) return new DomainError('CONFLICT', what, { cause: e });
  if (isStorageFullError(e)) return new DomainError('STORAGE_FULL', what, { cause: e });
  if (isTemporaryDbError(e)) return new DomainError('UNAVAILABLE', what, { cause: e });
  if (isUniqueViolation(e)) return new DomainError('ALREADY_EXISTS', what, { cause: e });
  if (isCorruptionError(e)) return new DomainError('INTEGRITY', `${what}: ${(e as Error).message}`, { cause: e });
  return e;
}
