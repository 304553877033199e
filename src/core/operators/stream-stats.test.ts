import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StatsAccumulator } from './stream.ts';

/** The statistics by their definition: changed unless Object.is-equal or both zeros; zeros of the output; the delta norm in element order. */
function definition(before: Float32Array, after: Float32Array) {
  let changed = 0;
  let zeros = 0;
  let sq = 0;
  for (let i = 0; i < after.length; i++) {
    if (!Object.is(after[i], before[i]) && !(after[i] === 0 && before[i] === 0)) changed++;
    if (after[i] === 0) zeros++;
    sq += (after[i] - before[i]) * (after[i] - before[i]);
  }
  const n = Math.max(1, after.length);
  return { changedFraction: changed / n, sparsity: zeros / n, deltaNorm: Math.sqrt(sq) };
}

const special = fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.5, 1e30);
const value = fc.oneof(special, fc.float({ noDefaultInfinity: false }));

describe('StatsAccumulator', () => {
  it('gives the definition over chunks in element order: NaN pairs and ±0 unchanged, the float64 sum of squares in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(value, value), { maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 4 }), (pairs, cuts) => {
        const before = Float32Array.from(pairs, (p) => p[0]);
        const after = Float32Array.from(pairs, (p) => p[1]);
        const acc = new StatsAccumulator();
        const bounds = [0, ...cuts.map((c) => c % (pairs.length + 1)).sort((a, b) => a - b), pairs.length];
        for (let k = 1; k < bounds.length; k++)
          acc.add(before.subarray(bounds[k - 1], bounds[k]), after.subarray(bounds[k - 1], bounds[k]));
        expect(acc.result()).toEqual(definition(before, after));
      }),
      { numRuns: 500 },
    );
  });
});
