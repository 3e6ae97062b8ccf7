/**
 * Mutations of valid inputs for property tests and fuzzing: up to maxOps of replace, insert,
 * delete, duplicate, truncate, or insert one of the grammar's tokens, at random places.
 * Erasable TypeScript only (the fuzz worker loads it without a build).
 */
import fc from 'fast-check';

export function mutations(bases: readonly Buffer[], tokens: readonly Buffer[], opts: { maxLen?: number; maxOps?: number } = {}): fc.Arbitrary<Buffer> {
  return fc.tuple(
    fc.constantFrom(...bases),
    fc.array(fc.tuple(fc.nat(5), fc.nat(), fc.nat(opts.maxLen ?? 64), fc.uint8Array({ minLength: 1, maxLength: 8 })), { minLength: 1, maxLength: opts.maxOps ?? 6 }),
  ).map(([base, ops]) => {
    let b = Buffer.from(base);
    for (const [op, at, len, bytes] of ops) {
      const i = b.length === 0 ? 0 : at % (b.length + 1);
      const chunk = Buffer.from(bytes);
      if (op === 0) b = Buffer.concat([b.subarray(0, i), chunk, b.subarray(Math.min(b.length, i + chunk.length))]);
      else if (op === 1) b = Buffer.concat([b.subarray(0, i), chunk, b.subarray(i)]);
      else if (op === 2) b = Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + len))]);
      else if (op === 3) b = Buffer.concat([b.subarray(0, i), b.subarray(i, i + len), b.subarray(i)]);
      else if (op === 4) b = b.subarray(0, i);
      else b = Buffer.concat([b.subarray(0, i), tokens[len % tokens.length], b.subarray(i)]);
    }
    return b;
  });
}
