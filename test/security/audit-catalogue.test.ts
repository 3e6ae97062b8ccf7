/**
 * GW-LOG-1: the audit event catalogue in code (AUDIT_EVENTS) and its documentation
 * (docs/audit-events.md) list the same stable event ids.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS } from '../../src/security/audit.ts';

const DOC = path.resolve(import.meta.dirname, '../../docs/audit-events.md');

/** Event ids of the "Events" table: rows whose first cell is a backquoted id. */
function documentedIds(): string[] {
  const text = fs.readFileSync(DOC, 'utf8');
  const section = text.slice(text.indexOf('## Events'));
  const ids: string[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    const cells = m[2].split('|').map((c) => c.trim());
    expect(cells.every((c) => c.length > 0), `docs/audit-events.md: the row for ${m[1]} has an empty cell`).toBe(true);
    ids.push(m[1]);
  }
  return ids;
}

const CODE_IDS = Object.keys(AUDIT_EVENTS);

describe('GW-LOG-1: audit event catalogue', () => {
  it('docs/audit-events.md has an Events table', () => {
    expect(fs.readFileSync(DOC, 'utf8')).toContain('## Events');
    expect(documentedIds().length).toBeGreaterThan(0);
  });

  it('GW-LOG-1: every event id in AUDIT_EVENTS is documented', () => {
    const doc = new Set(documentedIds());
    expect(CODE_IDS.filter((id) => !doc.has(id)), 'event ids missing from docs/audit-events.md').toEqual([]);
  });

  it('GW-LOG-1: every documented event id exists in AUDIT_EVENTS, once', () => {
    const ids = documentedIds();
    expect(ids.filter((id) => !(id in AUDIT_EVENTS)), 'unknown event ids in docs/audit-events.md').toEqual([]);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i), 'event ids documented twice').toEqual([]);
  });

  it('GW-LOG-1: event ids are stable dotted lower-case names with a description', () => {
    for (const [id, description] of Object.entries(AUDIT_EVENTS)) {
      expect(id).toMatch(/^[a-z]+(\.[a-z]+)+$/);
      expect(description.length, id).toBeGreaterThan(10);
    }
  });
});
