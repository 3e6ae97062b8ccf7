/**
 * `bulwark domain|account|alias|list ...`: thin wrappers over core/directory. Every check
 * (address syntax, permissions, uniqueness) happens in core; these only parse arguments and
 * print. Listings take --json.
 */
import type { Command } from 'commander';
import { collect, formatBytes, out, parseBool, parseQuota, printJson, printTable, readStdin, withApp } from './util.ts';
import { generatePassword } from '../security/passwords.ts';
import { moveAccount } from '../core/mail/move.ts';
import { displayAddress } from '../lib/address.ts';
import type { AccountInfo, AccountKind, ListInfo, AliasInfo, PostPolicy } from '../core/directory/directory.ts';
import { DomainError } from '../core/errors.ts';
import { actorLabel, requireAdmin, requireDomainAdmin, type Role } from '../core/actor.ts';
import { recordAudit } from '../security/audit.ts';
import { DirectoryLockStore } from '../security/auth-locks.ts';
import type { DkimKeyInfo } from '../security/dkim.ts';

function dkimView(k: DkimKeyInfo) {
  return {
    domain: k.domain, selector: k.selector, algorithm: k.algorithm, bits: k.bits, active: k.active, created: new Date(k.createdAt).toISOString(),
    name: k.name, value: k.value, strings: k.strings, record: k.record,
  };
}

function accountView(a: AccountInfo) {
  return {
    address: a.address, display: a.displayAddress, name: a.displayName, roles: a.roles, enabled: a.enabled,
    quota: a.quota_bytes, partition: a.partition, created: new Date(a.createdAt).toISOString(),
  };
}

function aliasView(a: AliasInfo) {
  return { address: a.address, display: a.catchAll ? a.address : displayAddress(a.address), catchAll: a.catchAll, targets: a.targets };
}

function listView(l: ListInfo) {
  return { address: l.address, display: displayAddress(l.address), description: l.description, postPolicy: l.postPolicy, public: l.public, members: l.members, senders: l.senders };
}

async function passwordFrom(opts: { passwordStdin?: boolean }): Promise<{ password: string; generated: boolean }> {
  if (opts.passwordStdin) {
    const password = await readStdin();
    if (!password) throw new DomainError('INVALID_INPUT', 'no password on standard input');
    return { password, generated: false };
  }
  return { password: generatePassword(), generated: true };
}

export function registerDirectory(program: Command): void {
  // ------------------------------------------------------------ domain
  const domain = program.command('domain').description('manage mail domains');
  domain.command('add <name>').description('add a domain (IDN allowed; stored as punycode)')
    .action(async (name: string, _o, cmd: Command) => withApp(cmd, async (app, actor) => {
      const d = await app.directory.addDomain(actor, name);
      out(`domain ${d.display} added${d.display !== d.name ? ` (${d.name})` : ''}`);
    }));
  domain.command('list').description('list domains').option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const ds = await app.directory.listDomains(actor);
      if (o.json) return printJson(ds.map((d) => ({ name: d.name, display: d.display, enabled: d.enabled })));
      printTable(['DOMAIN', 'ASCII', 'ENABLED'], ds.map((d) => [d.display, d.name, d.enabled ? 'yes' : 'no']));
    }));
  domain.command('show <name>').description('show a domain').option('--json', 'machine-readable output')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const d = await app.directory.getDomain(actor, name);
      const v = { name: d.name, display: d.display, enabled: d.enabled, accounts: d.accounts, aliases: d.aliases, lists: d.lists, created: new Date(d.createdAt).toISOString() };
      if (o.json) return printJson(v);
      for (const [k, val] of Object.entries(v)) out(`${k.padEnd(9)} ${val}`);
    }));
  domain.command('update <name>').description('change a domain').requiredOption('--enabled <bool>', 'accept mail and logins for it (true/false)')
    .action(async (name: string, o: { enabled: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const d = await app.directory.updateDomain(actor, name, { enabled: parseBool(o.enabled, '--enabled') });
      out(`domain ${d.display} ${d.enabled ? 'enabled' : 'disabled'}`);
    }));
  domain.command('remove <name>').description('remove an empty domain')
    .action(async (name: string, _o, cmd: Command) => withApp(cmd, async (app, actor) => {
      await app.directory.removeDomain(actor, name);
      out(`domain ${name} removed`);
    }));
  const dkim = domain.command('dkim').description('DKIM signing keys of a domain (RFC 6376, RFC 8463)');
  dkim.command('generate <domain>').description('generate a signing key and make it the active one; prints the DNS TXT record to publish')
    .option('--selector <selector>', 'DNS selector (default: bw<YYYYMMDD>)')
    .option('--algorithm <algorithm>', 'rsa or ed25519', 'rsa')
    .option('--bits <bits>', 'RSA key size: 2048, 3072 or 4096 (default 2048)')
    .action(async (name: string, o: { selector?: string; algorithm: string; bits?: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      if (o.bits !== undefined && !/^[0-9]+$/.test(o.bits)) throw new DomainError('INVALID_INPUT', `--bits "${o.bits}" is not a number`);
      const k = await app.dkim.generate(actor, name, { selector: o.selector, algorithm: o.algorithm, bits: o.bits === undefined ? undefined : Number(o.bits) });
      process.stderr.write(`DKIM key ${k.selector} (${k.algorithm === 'rsa' ? `rsa-${k.bits}` : k.algorithm}) generated for ${k.domain}; outbound mail from it is signed with this key from now on.\n`
        + 'Publish this TXT record in DNS:\n');
      out(k.record);
    }));
  dkim.command('show <domain>').description("show a domain's DKIM keys and their DNS TXT records").option('--json', 'machine-readable output')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const ks = await app.dkim.list(actor, name);
      if (o.json) return printJson(ks.map(dkimView));
      if (ks.length === 0) return out(`(no DKIM keys for ${name}; mail from it is not signed)`);
      ks.forEach((k, i) => {
        if (i > 0) out();
        out(`selector   ${k.selector}${k.active ? ' (active)' : ''}`);
        out(`algorithm  ${k.algorithm === 'rsa' ? `rsa-${k.bits}` : k.algorithm}`);
        out(`created    ${new Date(k.createdAt).toISOString()}`);
        out(k.record);
      });
    }));
  dkim.command('remove <domain>').description('remove a DKIM key (removing the active key stops signing for the domain)')
    .requiredOption('--selector <selector>', 'the selector of the key to remove')
    .action(async (name: string, o: { selector: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const k = await app.dkim.remove(actor, name, o.selector);
      out(`DKIM key ${k.selector} of ${k.domain} removed${k.active ? '; it was the active key: mail from the domain is no longer signed' : ''}`);
    }));

  // ------------------------------------------------------------ account
  const account = program.command('account').description('manage accounts');
  account.command('add <address>').description('add an account; without --password-stdin a password is generated and shown once')
    .option('--password-stdin', 'read the password from standard input')
    .option('--name <display name>', 'display name')
    .option('--quota <size>', 'storage quota, e.g. 2G (default: limits.default_quota)')
    .option('--role <roles>', 'roles: user, domain-admin, admin, auditor (comma-separated or repeated)', collect)
    .option('--partition <name>', 'place in this partition instead of by policy')
    .option('--kind <kind>', 'individual (default), room or resource: rooms and resources accept invitations when free and decline on a conflict')
    .action(async (address: string, o: { passwordStdin?: boolean; name?: string; quota?: string; role?: string[]; partition?: string; kind?: string }, cmd: Command) => {
      const { password, generated } = await passwordFrom(o);
      await withApp(cmd, async (app, actor) => {
        const a = await app.directory.addAccount(actor, {
          address, password, displayName: o.name, quota: o.quota === undefined ? undefined : parseQuota(o.quota), roles: o.role as Role[] | undefined, partition: o.partition,
          kind: o.kind as AccountKind | undefined,
        });
        out(`account ${a.displayAddress} added (partition ${a.partition}, roles ${a.roles.join(',')}${a.kind !== 'individual' ? `, ${a.kind}` : ''})`);
        if (generated) out(`password: ${password}\n(shown once; it is stored only as an argon2id hash)`);
      });
    });
  account.command('list').description('list accounts').option('--domain <domain>', 'only this domain').option('--json', 'machine-readable output')
    .action(async (o: { domain?: string; json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const as = await app.directory.listAccounts(actor, { domain: o.domain });
      if (o.json) return printJson(as.map(accountView));
      printTable(['ADDRESS', 'NAME', 'ROLES', 'ENABLED', 'QUOTA', 'PARTITION'],
        as.map((a) => [a.displayAddress, a.displayName, a.roles.join(','), a.enabled ? 'yes' : 'no', formatBytes(a.quota_bytes), a.partition]));
    }));
  account.command('show <address>').description('show an account and its storage use').option('--json', 'machine-readable output')
    .action(async (address: string, o: { json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const a = await app.directory.getAccount(actor, address);
      let usage: Record<string, unknown> = { storage: 'unavailable (partition down)' };
      try {
        const st = await app.mail.state(a);
        usage = { used: st.used_bytes, messages: st.used_messages, modseq: st.modseq };
      } catch (e) {
        if (!(e instanceof DomainError && e.temporary)) throw e;
      }
      const v = { ...accountView(a), ...usage };
      if (o.json) return printJson(v);
      for (const [k, val] of Object.entries(v)) out(`${k.padEnd(10)} ${Array.isArray(val) ? val.join(',') : val}`);
    }));
  account.command('update <address>').description('change display name, quota or roles')
    .option('--name <display name>', 'display name')
    .option('--quota <size>', 'storage quota')
    .option('--role <roles>', 'replace the roles', collect)
    .action(async (address: string, o: { name?: string; quota?: string; role?: string[] }, cmd: Command) => withApp(cmd, async (app, actor) => {
      if (o.name === undefined && o.quota === undefined && o.role === undefined) throw new DomainError('INVALID_INPUT', 'nothing to change: give --name, --quota or --role');
      const a = await app.directory.updateAccount(actor, address, { displayName: o.name, quota: o.quota === undefined ? undefined : parseQuota(o.quota), roles: o.role as Role[] | undefined });
      out(`account ${a.displayAddress} updated`);
    }));
  account.command('passwd <address>').description('set a new password (generated and shown once without --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (address: string, o: { passwordStdin?: boolean }, cmd: Command) => {
      const { password, generated } = await passwordFrom(o);
      await withApp(cmd, async (app, actor) => {
        await app.directory.setPassword(actor, address, password);
        out(`password of ${address} changed`);
        if (generated) out(`password: ${password}\n(shown once)`);
      });
    });
  for (const [verb, enabled] of [['disable', false], ['enable', true]] as const) {
    account.command(`${verb} <address>`).description(`${verb} logins and delivery for an account`)
      .action(async (address: string, _o, cmd: Command) => withApp(cmd, async (app, actor) => {
        const a = await app.directory.setEnabled(actor, address, enabled);
        out(`account ${a.displayAddress} ${enabled ? 'enabled' : 'disabled'}`);
      }));
  }
  account.command('unlock <address>').description('lift the login lockout of an account (all client addresses, or one)')
    .option('--ip <address>', 'only the lock for this client address')
    .action(async (address: string, o: { ip?: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const a = await app.directory.getAccount(actor, address);
      requireDomainAdmin(actor, a.domainId, 'unlocking an account');
      const n = await app.throttle.unlock(a.address, o.ip);
      await recordAudit(app.stores.directory, { event: 'auth.unlock', actor: actorLabel(actor), object: a.address, detail: { ip: o.ip ?? 'all', locks: n } });
      out(`${a.address}: ${n} lock(s) lifted`);
    }));
  account.command('locks').description('list current login lockouts (account, client address, until)').option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      requireAdmin(actor, 'listing lockouts');
      const locks = await new DirectoryLockStore(app.stores).list();
      if (o.json) return printJson(locks.map((l) => ({ ...l, lockedUntil: new Date(l.lockedUntil).toISOString() })));
      printTable(['LOGIN', 'CLIENT', 'UNTIL'], locks.map((l) => [l.login, l.ip, new Date(l.lockedUntil).toISOString()]));
    }));
  account.command('remove <address>').description('remove an account and all its data')
    .action(async (address: string, _o, cmd: Command) => withApp(cmd, async (app, actor) => {
      await app.directory.removeAccount(actor, address);
      out(`account ${address} removed`);
    }));
  account.command('move <address>').description('move an account to another partition: copy, verify, switch, delete')
    .requiredOption('--to <partition>', 'target partition')
    .action(async (address: string, o: { to: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const r = await moveAccount(app.stores, app.directory, actor, address, o.to, (m) => process.stderr.write(`move: ${m}\n`));
      if (r.resumed) out(`account ${r.account}: finished the interrupted move into ${r.to}${r.from ? ` (old data removed from ${r.from})` : ''}`);
      else out(`account ${r.account} moved from ${r.from} to ${r.to}: ${r.rows.messages} messages, ${r.rows.mailboxes} mailboxes, ${r.blobs} blobs (${formatBytes(r.bytes)}) verified`);
    }));

  // ------------------------------------------------------------ alias
  const alias = program.command('alias').description('manage aliases (local@domain, or @domain for a catch-all)');
  alias.command('add <address> <targets...>').description('add an alias delivering to one or more addresses')
    .action(async (address: string, targets: string[], _o, cmd: Command) => withApp(cmd, async (app, actor) => {
      const a = await app.directory.addAlias(actor, address, targets.flatMap((t) => t.split(',')).filter(Boolean));
      out(`alias ${aliasView(a).display} -> ${a.targets.join(', ')} added`);
    }));
  alias.command('list').description('list aliases').option('--domain <domain>', 'only this domain').option('--json', 'machine-readable output')
    .action(async (o: { domain?: string; json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const as = await app.directory.listAliases(actor, { domain: o.domain });
      if (o.json) return printJson(as.map(aliasView));
      printTable(['ALIAS', 'TARGETS'], as.map((a) => [aliasView(a).display, a.targets.join(', ')]));
    }));
  alias.command('show <address>').description('show an alias').option('--json', 'machine-readable output')
    .action(async (address: string, o: { json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const a = aliasView(await app.directory.getAlias(actor, address));
      if (o.json) return printJson(a);
      out(`alias    ${a.display}`);
      out(`targets  ${a.targets.join(', ')}`);
    }));
  alias.command('update <address>').description('change the targets of an alias')
    .option('--set <targets>', 'replace all targets', collect)
    .option('--add <targets>', 'add targets', collect)
    .option('--remove <targets>', 'remove targets', collect)
    .action(async (address: string, o: { set?: string[]; add?: string[]; remove?: string[] }, cmd: Command) => withApp(cmd, async (app, actor) => {
      if (!o.set && !o.add && !o.remove) throw new DomainError('INVALID_INPUT', 'nothing to change: give --set, --add or --remove');
      const a = await app.directory.updateAlias(actor, address, { targets: o.set, add: o.add, remove: o.remove });
      out(`alias ${aliasView(a).display} -> ${a.targets.join(', ')}`);
    }));
  alias.command('remove <address>').description('remove an alias')
    .action(async (address: string, _o, cmd: Command) => withApp(cmd, async (app, actor) => {
      await app.directory.removeAlias(actor, address);
      out(`alias ${address} removed`);
    }));

  // ------------------------------------------------------------ list
  const list = program.command('list').description('manage distribution lists');
  const policyHelp = 'who may post: anyone, members, domain (own domain) or senders (named with --sender)';
  list.command('add <address>').description('add a distribution list')
    .option('--member <addresses>', 'members: accounts, other lists or external addresses', collect)
    .option('--policy <policy>', policyHelp, 'members')
    .option('--sender <addresses>', 'allowed senders for --policy senders', collect)
    .option('--public', 'members of the organisation may read its membership')
    .option('--description <text>', 'what the list is for')
    .action(async (address: string, o: { member?: string[]; policy: string; sender?: string[]; public?: boolean; description?: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const l = await app.directory.addList(actor, {
        address, members: o.member, postPolicy: o.policy as PostPolicy, senders: o.sender, public: !!o.public, description: o.description,
      });
      out(`list ${displayAddress(l.address)} added with ${l.members.length} members (posting: ${l.postPolicy})`);
    }));
  list.command('list').description('list distribution lists').option('--domain <domain>', 'only this domain').option('--json', 'machine-readable output')
    .action(async (o: { domain?: string; json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const ls = await app.directory.listLists(actor, { domain: o.domain });
      if (o.json) return printJson(ls.map(listView));
      printTable(['LIST', 'POLICY', 'PUBLIC', 'MEMBERS', 'DESCRIPTION'], ls.map((l) => [displayAddress(l.address), l.postPolicy, l.public ? 'yes' : 'no', l.members.length, l.description]));
    }));
  list.command('show <address>').description('show a list and its members').option('--json', 'machine-readable output')
    .option('--expand', 'also show who receives mail sent to it')
    .action(async (address: string, o: { json?: boolean; expand?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      const l = listView(await app.directory.getList(actor, address));
      const expansion = o.expand ? await app.directory.expand(l.address) : undefined;
      const v = { ...l, ...(expansion ? { recipients: [...expansion.accounts.map((a) => a.address), ...expansion.external] } : {}) };
      if (o.json) return printJson(v);
      out(`list         ${l.display}`);
      out(`description  ${l.description}`);
      out(`posting      ${l.postPolicy}${l.senders.length ? ` (${l.senders.join(', ')})` : ''}`);
      out(`public       ${l.public ? 'yes' : 'no'}`);
      out(`members      ${l.members.join(', ') || '(none)'}`);
      if (expansion) out(`recipients   ${v.recipients!.join(', ') || '(none)'}`);
    }));
  list.command('update <address>').description('change a list')
    .option('--set-members <addresses>', 'replace all members', collect)
    .option('--add-member <addresses>', 'add members', collect)
    .option('--remove-member <addresses>', 'remove members', collect)
    .option('--policy <policy>', policyHelp)
    .option('--senders <addresses>', 'replace the allowed senders', collect)
    .option('--public <bool>', 'membership readable by the organisation')
    .option('--description <text>', 'what the list is for')
    .action(async (address: string, o: { setMembers?: string[]; addMember?: string[]; removeMember?: string[]; policy?: string; senders?: string[]; public?: string; description?: string }, cmd: Command) => withApp(cmd, async (app, actor) => {
      if (Object.values(o).every((v) => v === undefined)) throw new DomainError('INVALID_INPUT', 'nothing to change; see bulwark list update --help');
      const l = await app.directory.updateList(actor, address, {
        members: o.setMembers, addMembers: o.addMember, removeMembers: o.removeMember, postPolicy: o.policy as PostPolicy | undefined,
        senders: o.senders, public: o.public === undefined ? undefined : parseBool(o.public, '--public'), description: o.description,
      });
      out(`list ${displayAddress(l.address)} updated: ${l.members.length} members, posting ${l.postPolicy}`);
    }));
  list.command('remove <address>').description('remove a list')
    .action(async (address: string, _o, cmd: Command) => withApp(cmd, async (app, actor) => {
      await app.directory.removeList(actor, address);
      out(`list ${address} removed`);
    }));
}
