/**
 * The error catalogue. Core throws DomainError(code, detail) and knows no protocol;
 * each protocol maps a code once at its edge (SMTP 4xx/5xx, IMAP NO [CODE], HTTP status).
 * docs/errors.md lists every code with its protocol mappings; test/core/errors.test.ts keeps
 * the two in step.
 */
export const ERROR_CODES = {
  INVALID_INPUT: { temporary: false, http: 400, text: 'the input is not valid' },
  NOT_FOUND: { temporary: false, http: 404, text: 'no such object' },
  ALREADY_EXISTS: { temporary: false, http: 409, text: 'the object exists already' },
  HAS_CHILDREN: { temporary: false, http: 409, text: 'the mailbox has child mailboxes' },
  PRECONDITION_FAILED: { temporary: false, http: 412, text: 'a condition the request set does not hold' },
  FORBIDDEN: { temporary: false, http: 403, text: 'the actor may not do this' },
  RELAY_DENIED: { temporary: false, http: 403, text: 'relaying denied: the domain is not served here' },
  SENDER_DENIED: { temporary: false, http: 403, text: 'the sender address is not one this account may use' },
  AUTH_FAILED: { temporary: false, http: 401, text: 'authentication failed' },
  ACCOUNT_DISABLED: { temporary: false, http: 403, text: 'the account is disabled' },
  QUOTA_EXCEEDED: { temporary: true, http: 507, text: 'the storage quota is exhausted' },
  LIMIT_EXCEEDED: { temporary: false, http: 413, text: 'a configured limit was exceeded' },
  LOOP_DETECTED: { temporary: false, http: 508, text: 'expansion loops or nests too deeply' },
  UNAVAILABLE: { temporary: true, http: 503, text: 'storage is unavailable; try again later' },
  STORAGE_FULL: { temporary: true, http: 507, text: 'the server is out of storage space; try again later' },
  CONFLICT: { temporary: true, http: 409, text: 'a concurrent change interfered; try again' },
  CONFIG_INVALID: { temporary: false, http: 500, text: 'the configuration is not valid' },
  INTEGRITY: { temporary: false, http: 500, text: 'stored data failed an integrity check' },
  INTERNAL: { temporary: true, http: 500, text: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${ERROR_CODES[code].text}: ${detail}` : ERROR_CODES[code].text, options);
    this.name = 'DomainError';
    this.code = code;
    this.detail = detail ?? '';
  }
  /** Temporary errors map to SMTP 4xx / IMAP NO [UNAVAILABLE]: the client should retry. */
  get temporary(): boolean {
    return ERROR_CODES[this.code].temporary;
  }
}

export function isDomainError(e: unknown, code?: ErrorCode): e is DomainError {
  return e instanceof DomainError && (code === undefined || e.code === code);
}

export function invalid(detail: string): DomainError {
  return new DomainError('INVALID_INPUT', detail);
}
