/**
 * `bulwark queue list|show|retry|delete|hold|release`: the outbound queue as an operator
 * sees it. Works on the primary store directly, beside running servers.
 */
import type { Command } from 'commander';
import { formatBytes, out, printJson, printTable, withApp } from './util.ts';
import { requireAdmin } from '../core/actor.ts';
import { DomainError } from '../core/errors.ts';

const STATUSES = ['pending', 'held', 'delivered', 'failed'] as const;

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('the outbound mail queue');
  queue.command('list').description('list queued messages').option('--status <status>', `only recipients in this state: ${STATUSES.join(', ')}`).option('--json', 'machine-readable output')
    .action(async (o: { status?: string; json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      requireAdmin(actor, 'reading the queue');
      if (o.status && !STATUSES.includes(o.status as (typeof STATUSES)[number])) throw new DomainError('INVALID_INPUT', `--status must be one of ${STATUSES.join(', ')}`);
      const entries = await app.queue.list({ status: o.status as (typeof STATUSES)[number] | undefined });
      if (o.json) return printJson(entries);
      printTable(['ID', 'QUEUED', 'SIZE', 'SENDER', 'RECIPIENT', 'STATUS', 'TRIES', 'LAST ERROR'],
        entries.flatMap((e) => e.recipients.map((r) => [e.id, new Date(e.createdAt).toISOString(), formatBytes(e.size), e.sender || '<>', r.address, r.status, r.attempts, (r.lastError ?? '').slice(0, 60)])));
    }));
  queue.command('show <id>').description('show one queued message: recipients, state and headers').option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => withApp(cmd, async (app, actor) => {
      requireAdmin(actor, 'reading the queue');
      const e = await app.queue.show(id);
      if (o.json) return printJson(e);
      out(`id        ${e.id}`);
      out(`queued    ${new Date(e.createdAt).toISOString()} (${e.origin})`);
      out(`sender    ${e.sender || '<>'}`);
      out(`size      ${e.size}`);
      for (const r of e.recipients) out(`rcpt      ${r.address} ${r.status} tries=${r.attempts} next=${new Date(r.nextAttemptAt).toISOString()}${r.lastError ? ` last: ${r.lastError}` : ''}`);
      out('');
      out(e.headers);
    }));
  const verbs: [string, string, (q: import('../core/mail/queue/queue.ts').MailQueue, id: string) => Promise<unknown>][] = [
    ['retry', 'try the pending recipients of a message now', (q, id) => q.retry(id)],
    ['hold', 'stop delivery attempts for a message until it is released', (q, id) => q.hold(id)],
    ['release', 'resume delivery of a held message', (q, id) => q.release(id)],
    ['delete', 'remove a message from the queue without delivering it (no DSN is sent)', (q, id) => q.remove(id)],
  ];
  for (const [verb, description, fn] of verbs) {
    queue.command(`${verb} <id>`).description(description)
      .action(async (id: string, _o, cmd: Command) => withApp(cmd, async (app, actor) => {
        requireAdmin(actor, `${verb} in the queue`);
        await fn(app.queue, id);
        out(`${verb}: ${id}`);
      }));
  }
}
