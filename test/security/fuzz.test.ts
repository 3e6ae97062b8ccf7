/**
 * Bad input at scale (issue 6 point 3): every parser that reads what a client or a remote
 * server sends, fed tens of thousands of arbitrary, token-soup and mutated inputs each
 * (test/security/fuzz/targets.ts): the IMAP command parser and framer, SMTP commands and a
 * whole session's input with DATA and BDAT, POP3 commands, the MIME parser (truncated, deeply
 * nested, wrongly encoded), address parsing, iCalendar validation and what queries do with it
 * (time ranges, expand, free/busy), vCard validation, and the WebDAV XML parser.
 *
 * Each target runs in a worker thread (fuzz/worker.ts) with a heap limit, and the test watches
 * it: an error other than the parser's own refusal fails the test with the input; so does a
 * case that runs longer than FUZZ_CASE_SECONDS (a hang, not a speed test: the bound is far above
 * what any case takes) or a heap over FUZZ_HEAP_MB (unbounded memory). FUZZ_RUNS (cases per
 * target, default 20000) and FUZZ_SEED (default fixed, so CI is repeatable; "random" for a new
 * one) make the longer runs of docs/reliability.md. A failure found becomes a regression test
 * next to the parser's own tests.
 */
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SELF_CHECKS, TARGETS } from './fuzz/targets.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 20_000);
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED ?? 20261203);
const CASE_SECONDS = Number(process.env.FUZZ_CASE_SECONDS ?? 20);
const HEAP_MB = Number(process.env.FUZZ_HEAP_MB ?? 512);

interface Outcome {
  numRuns: number;
  failed: boolean;
  /** Why it failed, with the input (base64) when known. */
  finding?: string;
}

/** The input of case n: fast-check makes the same values again from the seed. */
function inputOf(name: string, n: number): string {
  const [value] = fc.sample((TARGETS[name] ?? SELF_CHECKS[name]).arbitrary, { seed: SEED, numRuns: n + 1 }).slice(n);
  return value ? Buffer.from(value).toString('base64') : '(unknown)';
}

function fuzz(name: string, { runs = RUNS, caseSeconds = CASE_SECONDS, heapMb = HEAP_MB } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./fuzz/worker.ts', import.meta.url), {
      workerData: { name, runs, seed: SEED },
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 32 },
    });
    let current = -1;
    let last = Date.now();
    let settled = false;
    const finish = (o: Outcome) => { if (!settled) { settled = true; clearInterval(watch); resolve(o); } };
    const watch = setInterval(() => {
      if (Date.now() - last < caseSeconds * 1000) return;
      void worker.terminate();
      finish({ numRuns: current, failed: true, finding: `case ${current} ran over ${caseSeconds} s (a hang); input (base64, seed ${SEED}): ${inputOf(name, current)}` });
    }, 500);
    worker.on('message', (m: { type: string; n?: number; numRuns?: number; failed?: boolean; counterexample?: string[] | null; error?: string | null }) => {
      last = Date.now();
      if (m.type === 'case') { current = m.n!; return; }
      finish({ numRuns: m.numRuns!, failed: m.failed!, ...(m.failed ? { finding: `${m.error}\ninput (base64, seed ${SEED}): ${m.counterexample?.join(' ')}` } : {}) });
      void worker.terminate();
    });
    worker.on('error', (e) => {
      const why = (e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ? `heap over ${heapMb} MiB (unbounded memory)` : String(e);
      finish({ numRuns: current, failed: true, finding: `case ${current}: ${why}; input (base64, seed ${SEED}): ${current >= 0 ? inputOf(name, current) : '(none)'}` });
    });
    worker.on('exit', (code) => { if (!settled) reject(new Error(`the fuzz worker for ${name} exited (${code}) without an outcome`)); });
  });
}

describe(`fuzzing the parsers: ${RUNS} cases each, seed ${SEED}`, () => {
  for (const name of Object.keys(TARGETS)) {
    it(`${name}: no error but a refusal, no hang, bounded memory`, async () => {
      const o = await fuzz(name);
      expect(o.finding ?? null).toBeNull();
      expect(o.failed).toBe(false);
      expect(o.numRuns).toBe(RUNS);
    }, Math.max(120_000, RUNS * 20));
  }
});

describe('the fuzz harness catches what it is for', () => {
  it('an error that is not a refusal, with the input', async () => {
    const o = await fuzz('self-check-crash', { runs: 200 });
    expect(o.failed).toBe(true);
    expect(o.finding).toContain('planted crash');
    expect(o.finding).toMatch(/input \(base64, seed \d+\): \S+/);
  });

  it('a hang: the watchdog stops the worker and names the case', async () => {
    const o = await fuzz('self-check-hang', { runs: 200, caseSeconds: 2 });
    expect(o.failed).toBe(true);
    const m = /case \d+ ran over 2 s \(a hang\); input \(base64, seed \d+\): (\S+)/.exec(o.finding ?? '');
    expect(m).not.toBeNull();
    // the input named is the one that hung (made again from the seed): its first byte is a multiple of 4
    expect(Buffer.from(m![1], 'base64')[0] % 4).toBe(0);
  });

  it('unbounded memory: the heap limit stops the worker', async () => {
    const o = await fuzz('self-check-memory', { runs: 200, heapMb: 64 });
    expect(o.failed).toBe(true);
    expect(o.finding).toContain('unbounded memory');
  });
});
