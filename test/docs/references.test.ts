/**
 * The documents that map standards and requirements to code and tests (docs/rfc-support.md,
 * docs/requirements.md, docs/architecture.md) name files that exist: a renamed or removed test
 * or module fails here instead of leaving the tables pointing at nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function cited(doc: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(/`((?:src|test|bench|scripts|bin)\/[A-Za-z0-9_./-]+?\.(?:ts|mjs|js|sh|md))`/g)) out.add(m[1]);
  return [...out];
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(e.name);
  }
  return out;
}

describe('docs cite files that exist', () => {
  it('docs/rfc-support.md: every test file named without its folder exists under test/', () => {
    const text = fs.readFileSync(path.join(ROOT, 'docs/rfc-support.md'), 'utf8');
    const bare = [...new Set([...text.matchAll(/`([a-z0-9-]+\.test\.ts)`/g)].map((m) => m[1]))];
    const names = new Set(walk(path.join(ROOT, 'test')));
    expect(bare.length).toBeGreaterThan(0);
    expect(bare.filter((b) => !names.has(b))).toEqual([]);
  });

  for (const doc of ['docs/rfc-support.md', 'docs/requirements.md', 'docs/architecture.md', 'docs/admin-guide.md']) {
    it(`${doc}: every src/, test/, bench/ path it names exists`, () => {
      const paths = cited(doc);
      expect(paths.length).toBeGreaterThan(0);
      expect(paths.filter((p) => !fs.existsSync(path.join(ROOT, p)))).toEqual([]);
    });
  }
});
