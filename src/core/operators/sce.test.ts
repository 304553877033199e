import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32 } from './catalog-test-helpers.ts';
import { sceSelection, sceVariance } from './sce.cpu.ts';
import { randomValues, tiedValues } from './test-data.ts';

describe('sce (mergekit "sce")', () => {
  const base = f32([0, 0, 0]);
  const x1 = f32([1, -2, 0.5]);
  const x2 = f32([1, 2, -0.5]);

  it('hand-worked, selectTopk 1: equal weights, the + sign elected on a zero sum, the agreeing deltas averaged', () => {
    // w = mean(τ²) = 1.75 each → 0.5; e0: both agree → 1; e1: only +2 → 2; e2: only +0.5 → 0.5
    expect(Array.from(runOp('sce', [base, x1, x2]))).toEqual([1, 2, 0.5]);
  });

  it('hand-worked, selectTopk 0.5: int(2 non-zero variances · 0.5) = 1 element kept, the most varying', () => {
    expect(Array.from(sceVariance([x1, x2]))).toEqual([0, 4, 0.25]);
    expect(Array.from(runOp('sce', [base, x1, x2], { selectTopk: 0.5 }))).toEqual([0, 2, 0]);
    // nothing kept: the base
    expect(Array.from(runOp('sce', [base, x1, x2], { selectTopk: 0 }))).toEqual([0, 0, 0]);
  });

  it('ties at the variance cutoff go to the lower index', () => {
    const tv = [f32([1, 1, 1, 0]), f32([-1, -1, -1, 0])];
    const sel = sceSelection(tv, 0.67)!; // 3 non-zero variances, int(3·0.67) = 2 kept: elements 0 and 1
    expect(sel.cutoff).toEqual({ bits: new Uint32Array(f32([1]).buffer)[0], index: 2 });
  });

  it('identical models give the model; the output stays within the deltas’ range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(1, 0.3, 0.8),
        (seed, n, p, k) => {
          const b = randomValues(seed, n);
          const x = randomValues(seed + 1, n);
          const same = runOp('sce', [b, ...Array.from({ length: p }, () => x)]);
          for (let e = 0; e < n; e++) expect(Math.abs(same[e] - x[e])).toBeLessThanOrEqual(1e-6 * (Math.abs(b[e]) + Math.abs(x[e])));
          const xs = Array.from({ length: p }, (_, i) => tiedValues(seed + 2 + i, n, 3));
          const zero = new Float32Array(n);
          const out = runOp('sce', [zero, ...xs], { selectTopk: k });
          for (let e = 0; e < n; e++) {
            expect(out[e]).toBeGreaterThanOrEqual(Math.min(0, ...xs.map((x) => x[e])) - 1e-5);
            expect(out[e]).toBeLessThanOrEqual(Math.max(0, ...xs.map((x) => x[e])) + 1e-5);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
