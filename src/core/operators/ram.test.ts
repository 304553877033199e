import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32 } from './catalog-test-helpers.ts';
import { ramCounts, ramLambdas } from './ram.cpu.ts';
import { randomValues } from './test-data.ts';

const f = Math.fround;

describe('ram and ramplus_tl (mergekit "ram", "ramplus_tl")', () => {
  const base = f32([0, 0, 0, 0]);
  // element 0: only model 0 changed it; 1: both (mean); 2: neither; 3: model 0's change is below ε, model 1's unique.
  const x0 = f32([1, 1, 0, 1e-6]);
  const x1 = f32([0, 3, 0, 0.5]);

  it('ram: a unique change is taken whole, a shared one averaged, changes ≤ ε ignored', () => {
    expect(Array.from(runOp('ram', [base, x0, x1], { epsilon: 1e-5 }))).toEqual([1, 2, 0, 0.5]);
  });

  it('ramplus_tl: each model’s unique changes scaled by 1 + r·clamp(shared/unique, 0, α)', () => {
    const tv = [x0, x1];
    expect(ramCounts(tv, 1e-5)).toEqual({ shared: [1, 1], unique: [1, 1] });
    // ρ = 1 for both, clamped to α = 0.2: λ = 1 + 0.1·0.2
    const lambda = f(1 + f(f(0.1) * f(0.2)));
    expect(ramLambdas([1, 1], [1, 1], 0.1, 0.2, 1e-5)).toEqual([lambda, lambda]);
    expect(Array.from(runOp('ramplus-tl', [base, x0, x1], {}))).toEqual([f(1 * lambda), 2, 0, f(f(0.5) * lambda)]);
    // No unique changes: ρ = shared / ε, clamped to α.
    expect(ramLambdas([3], [0], 0.5, 0.25, 1e-5)).toEqual([f(1 + f(0.5 * 0.25))]);
  });

  it('ram is ramplus_tl with r = 0, bit for bit; identical parents give the parent where the change exceeds ε', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 4 }), (seed, n, p) => {
        const b = randomValues(seed, n);
        const xs = Array.from({ length: p }, (_, i) => randomValues(seed + 10 + i, n));
        expect(runOp('ramplus-tl', [b, ...xs], { r: 0 })).toEqual(runOp('ram', [b, ...xs]));
        const x = xs[0];
        const same = runOp('ram', [b, ...xs.map(() => x)]);
        for (let i = 0; i < n; i++) {
          const d = f(x[i] - b[i]);
          // the mean of p equal changes, d/p summed p times, is d up to float32 rounding
          if (Math.abs(d) > f(1e-5)) expect(same[i]).toBeCloseTo(x[i], 5);
          else expect(same[i]).toBe(b[i]);
        }
      }),
      { numRuns: 40 },
    );
  });
});
