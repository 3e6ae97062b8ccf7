/**
 * Writes the commented bulwark.toml and docs/config.md from the schema's descriptions and
 * defaults, so neither can drift from what the server accepts (test/config.test.ts checks
 * docs/config.md is current).
 */
import { stringify } from 'smol-toml';
import { configSchema } from './schema.ts';

interface FieldDoc { key: string; description: string; default: unknown; }
interface SectionDoc { name: string; description: string; record: boolean; fields: FieldDoc[]; default: unknown; }

function unwrap(f: any): any {
  while (f?._zod?.def?.innerType) f = f._zod.def.innerType;
  return f;
}

export function describeSchema(): SectionDoc[] {
  const defaults = configSchema.parse({}) as Record<string, any>;
  const out: SectionDoc[] = [];
  for (const [name, sec] of Object.entries(configSchema.shape) as [string, any][]) {
    const inner = unwrap(sec);
    const record = inner._zod.def.type === 'record';
    const fields: FieldDoc[] = record ? [] : Object.entries(inner.shape as Record<string, any>).map(([key, f]) => ({
      key, description: f.description ?? '', default: defaults[name]?.[key],
    }));
    out.push({ name, description: sec.description ?? '', record, fields, default: defaults[name] });
  }
  return out;
}

function tomlValue(v: unknown): string {
  return stringify({ v }).replace(/^v = /, '').trim();
}

/** The commented configuration file; `values` fills in what init decided (secrets, domain). */
export function renderConfig(values: Record<string, Record<string, unknown>> = {}): string {
  const lines: string[] = [
    '# Bulwark configuration. Every key can be overridden by an environment variable',
    '# BULWARK_<SECTION>_<KEY>, e.g. BULWARK_LISTEN_HTTP=127.0.0.1:8080. Sizes take K, M, G.',
    '# Keys left commented out have the default shown. Check with: bulwark config check',
    '',
  ];
  for (const s of describeSchema()) {
    lines.push(`# ${s.description}`, `[${s.name}]`);
    if (s.record) {
      const v = (values[s.name] ?? s.default) as Record<string, unknown>;
      for (const [k, val] of Object.entries(v)) lines.push(`${k} = ${tomlValue(val)}`);
    } else {
      for (const f of s.fields) {
        lines.push(`# ${f.description}`);
        const set = values[s.name]?.[f.key];
        if (set !== undefined) lines.push(`${f.key} = ${tomlValue(set)}`);
        else if (f.default !== undefined) lines.push(`#${f.key} = ${tomlValue(f.default)}`);
        else lines.push(`#${f.key} =`);
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function renderConfigDoc(): string {
  const lines = ['# Configuration reference', '',
    'Generated from `src/ops/config/schema.ts` (run `npm run gen-docs`); a test fails when it is stale.', '',
    'The file is `bulwark.toml` in the data directory (`--data DIR` or `BULWARK_DATA`). Every key can be',
    'overridden by an environment variable `BULWARK_<SECTION>_<KEY>`. `bulwark config check` validates',
    'without starting; the server refuses to start on any invalid key and names it.', ''];
  for (const s of describeSchema()) {
    lines.push(`## [${s.name}]`, '', s.description, '');
    if (s.record) {
      lines.push(`Default: \`${JSON.stringify(s.default)}\``, '');
      continue;
    }
    lines.push('| key | default | environment | meaning |', '| --- | --- | --- | --- |');
    for (const f of s.fields) {
      const def = f.default === undefined ? '(none)' : `\`${tomlValue(f.default)}\``;
      lines.push(`| ${f.key} | ${def} | BULWARK_${s.name.toUpperCase()}_${f.key.toUpperCase()} | ${f.description} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
