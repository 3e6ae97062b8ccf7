/**
 * Runs one fuzz target (targets.ts) in a worker thread for fuzz.test.ts: fast-check with the
 * given seed and number of cases, posting the number of each case before it runs, so that the
 * parent can tell a hang (no message for too long) and name the input; then the outcome.
 * Erasable TypeScript only (Node loads it without a build).
 */
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { SELF_CHECKS, TARGETS } from './targets.ts';

const { name, runs, seed } = workerData as { name: string; runs: number; seed: number };
const target = TARGETS[name] ?? SELF_CHECKS[name];
let n = 0;
const details = fc.check(fc.property(target.arbitrary, (input) => {
  parentPort!.postMessage({ type: 'case', n: n++ });
  target.run(input);
}), { numRuns: runs, seed, endOnFailure: true });
parentPort!.postMessage({
  type: 'done',
  numRuns: details.numRuns,
  failed: details.failed,
  counterexample: details.counterexample ? details.counterexample.map((b) => Buffer.from(b as Buffer).toString('base64')) : null,
  error: details.errorInstance ? String((details.errorInstance as Error).stack ?? details.errorInstance) : null,
});
