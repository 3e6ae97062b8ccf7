/**
 * `bulwark block add|list|remove`: sender block rules (GW-FLT-1), thin over core/mail/blocks.
 * Rules are read by the server at every RCPT, so one added here applies at once.
 *
 *   bulwark block add --global|--domain D|--account A (--address X | --sender-domain D [--subdomains] | --ip CIDR)
 *                     [--expires ISO | --for 7d] [--note TEXT]
 *   bulwark block list [--global|--domain D|--account A] [--json]
 *   bulwark block remove ID
 */
import type { Command } from 'commander';
import { out, printJson, printTable, withApp } from './util.ts';
import { BlockRules, type BlockKind, type BlockRule, type BlockScopeRef } from '../core/mail/blocks.ts';
import { DomainError } from '../core/errors.ts';
import { displayAddress, displayDomain } from '../lib/address.ts';

interface ScopeOpts {
  global?: boolean;
  domain?: string;
  account?: string;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "90s", "30m", "12h", "7d", "2w" in milliseconds. */
export function parseDuration(v: string): number {
  const m = /^\s*([0-9]{1,9})\s*([smhdw])\s*$/i.exec(v);
  if (!m || Number(m[1]) === 0) throw new DomainError('INVALID_INPUT', `"${v}" is not a duration (e.g. 12h, 7d, 2w)`);
  return Number(m[1]) * UNITS[m[2].toLowerCase()];
}

/** An ISO 8601 date or date-time ("2030-01-31", "2030-01-31T12:00:00Z") in epoch ms. */
export function parseInstant(v: string): number {
  const t = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim()) ? Date.parse(v.trim()) : NaN;
  if (!Number.isFinite(t)) throw new DomainError('INVALID_INPUT', `"${v}" is not an ISO 8601 date or time (e.g. 2030-01-31 or 2030-01-31T12:00:00Z)`);
  return t;
}

function scopeOf(o: ScopeOpts, required: boolean): BlockScopeRef | undefined {
  const given = [o.global ? 'global' : null, o.domain !== undefined ? 'domain' : null, o.account !== undefined ? 'account' : null].filter(Boolean);
  if (given.length > 1) throw new DomainError('INVALID_INPUT', 'give one of --global, --domain or --account');
  if (given.length === 0) {
    if (required) throw new DomainError('INVALID_INPUT', 'give the scope: --global, --domain <domain> or --account <address>');
    return undefined;
  }
  if (o.global) return { scope: 'global' };
  if (o.domain !== undefined) return { scope: 'domain', domain: o.domain };
  return { scope: 'account', account: o.account! };
}

function targetOf(r: BlockRule): string {
  if (r.scope === 'global') return '(global)';
  return r.scope === 'domain' ? displayDomain(r.target) : displayAddress(r.target);
}

function describeMatch(r: BlockRule): string {
  if (r.kind === 'address') return `sender ${displayAddress(r.value)}`;
  if (r.kind === 'domain') return `sender domain ${displayDomain(r.value)}${r.subdomains ? ' and its subdomains' : ''}`;
  return `client ${r.value}`;
}

function ruleView(r: BlockRule) {
  return {
    id: r.id, scope: r.scope, target: r.target, kind: r.kind, value: r.value, subdomains: r.subdomains,
    expires: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(), expired: r.expired,
    createdBy: r.createdBy, created: new Date(r.createdAt).toISOString(), note: r.note,
  };
}

export function registerBlocks(program: Command): void {
  const block = program.command('block').description('block individual senders: by address, sender domain or client IP network (GW-FLT-1)');
  block.command('add').description('add a block rule; the sender is refused at RCPT (550 5.7.1) for the recipients in its scope')
    .option('--global', 'for every recipient on this server')
    .option('--domain <domain>', 'for the recipients of this domain')
    .option('--account <address>', 'for this account only')
    .option('--address <address>', 'block this envelope sender address')
    .option('--sender-domain <domain>', 'block envelope senders of this domain')
    .option('--subdomains', 'with --sender-domain: its subdomains too')
    .option('--ip <cidr>', 'block clients in this IPv4 or IPv6 network (an address or CIDR)')
    .option('--expires <iso>', 'the rule stops applying at this date or time (ISO 8601)')
    .option('--for <duration>', 'the rule stops applying after this long (e.g. 12h, 7d, 2w)')
    .option('--note <text>', 'why (kept with the rule)')
    .action(async (o: ScopeOpts & { address?: string; senderDomain?: string; subdomains?: boolean; ip?: string; expires?: string; for?: string; note?: string }, cmd: Command) => {
      const scope = scopeOf(o, true)!;
      const matches: [BlockKind, string | undefined][] = [['address', o.address], ['domain', o.senderDomain], ['ip', o.ip]];
      const given = matches.filter(([, v]) => v !== undefined);
      if (given.length !== 1) throw new DomainError('INVALID_INPUT', 'give one of --address, --sender-domain or --ip');
      const [kind, value] = given[0] as [BlockKind, string];
      if (o.subdomains && kind !== 'domain') throw new DomainError('INVALID_INPUT', '--subdomains goes with --sender-domain');
      if (o.expires !== undefined && o.for !== undefined) throw new DomainError('INVALID_INPUT', 'give --expires or --for, not both');
      const expiresAt = o.expires !== undefined ? parseInstant(o.expires) : o.for !== undefined ? Date.now() + parseDuration(o.for) : null;
      await withApp(cmd, async (app, actor) => {
        const r = await new BlockRules(app.stores, app.directory).add(actor, scope, { kind, value, subdomains: o.subdomains, expiresAt, note: o.note });
        out(`block rule ${r.id} added: ${describeMatch(r)} for ${targetOf(r)}${r.expiresAt === null ? '' : `, until ${new Date(r.expiresAt).toISOString()}`}`);
      });
    });
  block.command('list').description('list block rules (all, or those of one scope)')
    .option('--global', 'only the global rules')
    .option('--domain <domain>', 'only the rules of this domain')
    .option('--account <address>', 'only the rules of this account')
    .option('--json', 'machine-readable output')
    .action(async (o: ScopeOpts & { json?: boolean }, cmd: Command) => {
      const scope = scopeOf(o, false);
      await withApp(cmd, async (app, actor) => {
        const rules = await new BlockRules(app.stores, app.directory).list(actor, scope);
        if (o.json) return printJson(rules.map(ruleView));
        printTable(['ID', 'SCOPE', 'FOR', 'BLOCKS', 'EXPIRES', 'CREATED BY', 'NOTE'], rules.map((r) => [
          r.id, r.scope, targetOf(r), describeMatch(r),
          r.expiresAt === null ? 'never' : `${new Date(r.expiresAt).toISOString()}${r.expired ? ' (expired)' : ''}`, r.createdBy, r.note,
        ]));
      });
    });
  block.command('remove <id>').description('remove a block rule')
    .action(async (id: string, _o, cmd: Command) => {
      if (!/^[0-9]{1,15}$/.test(id.trim())) throw new DomainError('INVALID_INPUT', `"${id}" is not a block rule id`);
      await withApp(cmd, async (app, actor) => {
        const r = await new BlockRules(app.stores, app.directory).remove(actor, Number(id.trim()));
        out(`block rule ${r.id} removed (${describeMatch(r)} for ${targetOf(r)})`);
      });
    });
}
