import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32 } from './catalog-test-helpers.ts';
import { nearswapWeight } from './nearswap.cpu.ts';
import { randomValues } from './test-data.ts';

describe('nearswap (mergekit "nearswap")', () => {
  it('a hand-worked case: w = clamp(t/|a − b|, 0, 1), out = w·b + (1 − w)·a', () => {
    const a = f32([0, 0, 0, 1, -3]);
    const b = f32([0.125, 0.5, 2, 1, 1]);
    // |d| = 0.125 → w = 2 → 1: b. 0.5 → 0.5: 0.25. 2 → 0.125: 0.25. 0 → 1/1e-6·t → 1: b. 4 → 1/16: 1/16 + 15/16·(−3).
    expect(Array.from(runOp('nearswap', [a, b], { t: 0.25 }))).toEqual([0.125, 0.25, 0.25, 1, 0.0625 - (15 / 16) * 3]);
    // |a − b| is floored at 1e-6: a difference of 1e-8 with t = 1e-7 gives w = 0.1, not 1; equal values with t = 0 give w = 0, not 0·∞
    const w = Math.fround(Math.fround(1 / Math.fround(1e-6)) * Math.fround(1e-7));
    expect(runOp('nearswap', [f32([0]), f32([1e-8])], { t: 1e-7 })[0]).toBe(Math.fround(w * Math.fround(1e-8)));
    expect(Array.from(runOp('nearswap', [f32([2, -1]), f32([2, -1])], { t: 0 }))).toEqual([2, -1]);
  });

  it('t / |a − b| is computed as torch does, reciprocal first: fround(fround(1/d)·t)', () => {
    // Find a difference where the two roundings disagree, and check the reciprocal form is taken.
    const t = Math.fround(0.3);
    let found = false;
    for (let k = 1; k < 5000 && !found; k++) {
      const d = Math.fround(0.3 + k * 1e-4);
      const recip = Math.fround(Math.fround(1 / d) * t);
      const div = Math.fround(t / d);
      if (recip === div) continue;
      found = true;
      expect(nearswapWeight(d, t)).toBe(recip);
      // and the operator uses that weight: out = w·b + (1 − w)·a with a = 1, b = 1 + d
      const a = f32([1]);
      const b = f32([1 + d]);
      const dd = Math.abs(Math.fround(a[0] - b[0]));
      const w = nearswapWeight(dd, t);
      expect(runOp('nearswap', [a, b], { t: 0.3 })[0]).toBe(Math.fround(Math.fround(w * b[0]) + Math.fround(Math.fround(1 - w) * a[0])));
    }
    expect(found).toBe(true);
  });

  it('identical parents give the parent; t = 0 gives the base; a huge t gives the other model', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 200 }), (seed, n) => {
        const a = randomValues(seed, n);
        const b = randomValues(seed + 1, n);
        expect(runOp('nearswap', [a, a], { t: 0.01 })).toEqual(a);
        expect(runOp('nearswap', [a, b], { t: 0 })).toEqual(a);
        expect(runOp('nearswap', [a, b], { t: 1e9 })).toEqual(b);
        // Every output lies between the two inputs.
        const out = runOp('nearswap', [a, b], { t: 0.5 });
        for (let i = 0; i < n; i++) {
          expect(out[i]).toBeGreaterThanOrEqual(Math.min(a[i], b[i]) - 1e-6);
          expect(out[i]).toBeLessThanOrEqual(Math.max(a[i], b[i]) + 1e-6);
        }
      }),
      { numRuns: 40 },
    );
  });
});
