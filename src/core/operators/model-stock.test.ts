import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32 } from './catalog-test-helpers.ts';
import { randomValues } from './test-data.ts';

const f = Math.fround;

describe('model_stock (mergekit "model_stock")', () => {
  it('hand-worked: orthogonal offsets give t = 0 (the base); at 45° t = 2(√2 − 1)', () => {
    const base = f32([0, 0]);
    expect(Array.from(runOp('model-stock', [base, f32([1, 0]), f32([0, 1])]))).toEqual([0, 0]);
    const t = f(2 * (Math.SQRT2 - 1));
    // avg = [1, 0.5]; out = t·avg + (1 − t)·0
    expect(Array.from(runOp('model-stock', [base, f32([1, 0]), f32([1, 1])]))).toEqual([f(t * 1) + 0, f(t * 0.5) + 0]);
  });

  it('three models: cos θ is the mean of the pairwise cosines', () => {
    const base = f32([1, 1, 1]);
    const xs = [f32([2, 1, 1]), f32([1, 2, 1]), f32([2, 2, 1])];
    // offsets e1, e2, e1+e2: cosines 0, 1/√2, 1/√2 → mean √2/3
    const c = Math.SQRT2 / 3;
    const t = f((3 * c) / (1 + 2 * c));
    const avg = [f(f(f(2 + 1) + 2) / 3), f(f(f(1 + 2) + 2) / 3), 1];
    expect(Array.from(runOp('model-stock', [base, ...xs]))).toEqual(avg.map((a) => f(t * a) + f(f(1 - t) * 1)));
  });

  it('filterWise: one ratio per row of the last dimension', () => {
    const base = f32([0, 0, 0, 0]);
    const x1 = f32([1, 0, 1, 0]);
    const x2 = f32([0, 1, 1, 0]);
    // row 0: orthogonal (t = 0); row 1: identical offsets (t = 1)
    const out = runOp('model-stock', [base, x1, x2], { filterWise: true }, { shape: [2, 2] });
    expect(Array.from(out)).toEqual([0, 0, 1, 0]);
    // without filterWise one ratio for the whole tensor: cos = 1/2 → t = 2/3
    const whole = runOp('model-stock', [base, x1, x2], {}, { shape: [2, 2] });
    expect(whole[2]).toBe(f(f(2 / 3) * 1));
  });

  it('identical models give the model; refuses offsets whose t is infinite', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 2, max: 200 }), fc.integer({ min: 2, max: 5 }), (seed, n, p) => {
        const b = randomValues(seed, n);
        const x = randomValues(seed + 1, n);
        const out = runOp('model-stock', [b, ...Array.from({ length: p }, () => x)]);
        for (let i = 0; i < n; i++) expect(Math.abs(out[i] - x[i])).toBeLessThanOrEqual(4e-7 * Math.max(1, Math.abs(x[i])));
      }),
      { numRuns: 30 },
    );
    expect(() => runOp('model-stock', [f32([0, 0]), f32([1, 0]), f32([-1, 0])])).toThrow(/opposed.*infinite/);
  });
});
