/**
 * The error catalogue (src/core/errors.ts) and its documentation (docs/errors.md) stay in
 * step: every code is documented with its temporary flag, HTTP status and protocol mappings,
 * and the document names no code that does not exist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DomainError, ERROR_CODES, invalid, isDomainError, type ErrorCode } from '../../src/core/errors.ts';

const DOC = path.resolve(import.meta.dirname, '../../docs/errors.md');

interface DocRow {
  code: string;
  temporary: string;
  http: string;
  meaning: string;
  smtp: string;
  imap: string;
  httpMapping: string;
}

function docRows(): DocRow[] {
  const rows: DocRow[] = [];
  for (const line of fs.readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\|\s*`([A-Za-z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    const cells = m[2].split('|').map((c) => c.trim());
    expect(cells, `docs/errors.md row for ${m[1]} needs 7 columns`).toHaveLength(6);
    const [temporary, http, meaning, smtp, imap, httpMapping] = cells;
    rows.push({ code: m[1], temporary, http, meaning, smtp, imap, httpMapping });
  }
  return rows;
}

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

describe('docs/errors.md', () => {
  const rows = docRows();

  it('documents every code of ERROR_CODES', () => {
    const documented = new Set(rows.map((r) => r.code));
    expect(CODES.filter((c) => !documented.has(c)), 'codes missing from docs/errors.md').toEqual([]);
  });

  it('documents no code that ERROR_CODES does not have, and each only once', () => {
    expect(rows.map((r) => r.code).filter((c) => !(c in ERROR_CODES)), 'unknown codes in docs/errors.md').toEqual([]);
    expect(rows.map((r) => r.code).filter((c, i, all) => all.indexOf(c) !== i), 'codes documented twice').toEqual([]);
  });

  it.each(CODES)('%s: temporary flag and HTTP status match the catalogue, and every protocol mapping is filled in', (code) => {
    const row = rows.find((r) => r.code === code);
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    expect(row!.temporary).toBe(ERROR_CODES[code].temporary ? 'yes' : 'no');
    expect(Number(row!.http)).toBe(ERROR_CODES[code].http);
    for (const [col, v] of [['meaning', row!.meaning], ['SMTP', row!.smtp], ['IMAP', row!.imap], ['HTTP', row!.httpMapping]] as const) {
      expect(v.length, `${code}: the ${col} column is empty`).toBeGreaterThan(0);
    }
    // Temporary codes map to a temporary SMTP reply (4xx), so senders retry.
    if (ERROR_CODES[code].temporary) expect(row!.smtp).toMatch(/`4\d\d 4\.\d+\.\d+`/);
  });
});

describe('DomainError', () => {
  it.each(CODES)('%s carries its code, catalogue text and temporary flag', (code) => {
    const e = new DomainError(code, 'some detail');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('DomainError');
    expect(e.code).toBe(code);
    expect(e.detail).toBe('some detail');
    expect(e.message).toBe(`${ERROR_CODES[code].text}: some detail`);
    expect(e.temporary).toBe(ERROR_CODES[code].temporary);
    expect(new DomainError(code).message).toBe(ERROR_CODES[code].text);
    expect(isDomainError(e)).toBe(true);
    expect(isDomainError(e, code)).toBe(true);
  });

  it('isDomainError tells codes and foreign errors apart', () => {
    expect(isDomainError(new DomainError('NOT_FOUND'), 'FORBIDDEN')).toBe(false);
    expect(isDomainError(new Error('x'))).toBe(false);
    expect(isDomainError({ code: 'NOT_FOUND' })).toBe(false);
    const i = invalid('bad');
    expect(i.code).toBe('INVALID_INPUT');
    expect(i.temporary).toBe(false);
  });

  it('keeps the cause', () => {
    const cause = new Error('socket closed');
    expect(new DomainError('UNAVAILABLE', 'partition main', { cause }).cause).toBe(cause);
  });
});
