/**
 * Issue 3, point 3: the queue survives restarts and crashes. A message queued by one server
 * process is delivered by the next one; an attempt cut off by a crash (its lease never
 * released) is taken up again once the lease has run out. Both engines.
 */
import { describe, expect, it } from 'vitest';
import { openApp } from '../../src/app.ts';
import type { OutboundAttempt, OutboundTransport, RecipientOutcome } from '../../src/core/mail/queue/transport.ts';
import { openTestApp, type EngineName } from '../harness/app.ts';

class Recorder implements OutboundTransport {
  attempts: OutboundAttempt[] = [];
  readonly outcome: RecipientOutcome['status'];
  constructor(outcome: RecipientOutcome['status']) {
    this.outcome = outcome;
  }
  async send(a: OutboundAttempt): Promise<RecipientOutcome[]> {
    this.attempts.push(a);
    return a.recipients.map((r) => ({ address: r.address, status: this.outcome, code: this.outcome === 'delivered' ? 250 : 451, enhanced: null, message: 'test', remoteMta: 'mx.test' }));
  }
  async close(): Promise<void> {}
}

const body = Buffer.from('From: a@example.org\r\nTo: b@remote.example\r\nSubject: kept\r\n\r\nhello\r\n');

describe.each(['sqlite', 'postgres'] as EngineName[])('queue across restarts on %s', (engine) => {
  it('a queued message is delivered by the next process; a crashed attempt is retried after its lease', async () => {
    const env = await openTestApp(engine, 'bwqr');
    try {
      const first = env.app;
      first.queue.setTransport(new Recorder('temporary'));
      const id = await first.queue.enqueue({ from: 'a@example.org', body, recipients: [{ address: 'b@remote.example' }], origin: 'submission' });
      const crashed = await first.queue.enqueue({ from: 'a@example.org', body, recipients: [{ address: 'c@remote.example' }], origin: 'submission' });
      // The second one is being worked on when the process dies: its lease is never released.
      await first.stores.directory.updateTable('queue_recipients').set({ lease_owner: 'dead-node', lease_until: Date.now() + 60_000 }).where('queue_id', '=', crashed).execute();
      await first.queue.stop();
      await first.stores.close();

      const next = await openApp(first.dataDir, { env: {} });
      try {
        const ok = new Recorder('delivered');
        next.queue.setTransport(ok);
        expect((await next.queue.list()).map((e) => e.id).sort()).toEqual([id, crashed].sort());
        await next.queue.runOnce();
        expect(ok.attempts.map((a) => a.recipients[0].address)).toEqual(['b@remote.example']);
        expect(ok.attempts[0].body.equals(body)).toBe(true);
        // After the dead node's lease: taken up again, delivered once.
        await next.queue.runOnce(Date.now() + 61_000);
        expect(ok.attempts.map((a) => a.recipients[0].address)).toEqual(['b@remote.example', 'c@remote.example']);
        expect(await next.queue.list()).toEqual([]);
      } finally {
        await next.close();
      }
    } finally {
      await env.close();
    }
  });
});
