import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32, ulps } from './catalog-test-helpers.ts';
import { nuslerpT } from './nuslerp.cpu.ts';
import { randomValues } from './test-data.ts';

const f = Math.fround;

describe('nuslerp (mergekit "nuslerp")', () => {
  it('t = w₁ / (w₀ + w₁), 0.5 when the weights cancel', () => {
    expect(nuslerpT([1, 3])).toBe(0.75);
    expect(nuslerpT([1, -1])).toBe(0.5);
  });

  it('hand-worked: orthogonal unit vectors at t = 0.75', () => {
    const A = f(Math.sin(0.25 * (Math.PI / 2)));
    const B = f(Math.sin(0.75 * (Math.PI / 2)));
    const S = f(Math.sin(Math.PI / 2));
    const out = runOp('nuslerp', [f32([1, 0]), f32([0, 1])], { weights: [1, 3] });
    expect(Array.from(out)).toEqual([f(f(A * 1) / S), f(f(B * 1) / S)]);
    expect(out[0]).toBeCloseTo(Math.cos(0.75 * (Math.PI / 2)), 6);
  });

  it('per vector: along the last dimension, or along the first with nuslerpRowWise', () => {
    // v0 = [[1, 0], [0, 1]], v1 = [[0, 1], [0, 1]]
    const v0 = f32([1, 0, 0, 1]);
    const v1 = f32([0, 1, 0, 1]);
    const h = f(Math.SQRT1_2);
    // rows: row 0 orthogonal (t = 0.5 → [h, h]), row 1 identical (colinear → itself)
    const rows = runOp('nuslerp', [v0, v1], { nuslerpFlatten: false }, { shape: [2, 2] });
    expect(Array.from(rows)).toEqual([h, h, 0, 1]);
    // columns: column 0 = [1, 0] vs [0, 0] (a zero vector: θ = π/2), column 1 = [0, 1] vs [1, 1]
    const cols = runOp('nuslerp', [v0, v1], { nuslerpFlatten: false, nuslerpRowWise: true }, { shape: [2, 2] });
    const theta = Math.PI / 4;
    const a = f(Math.sin(0.5 * theta));
    const s = f(Math.sin(theta));
    expect(cols[0]).toBe(f(f(h * 1) / 1));
    expect(cols[2]).toBe(0);
    expect(cols[1]).toBe(f(f(a * 0 + f(a * 1)) / s));
    expect(cols[3]).toBe(f(f(f(a * 1) + f(a * 1)) / s));
  });

  it('with a base: the deltas are interpolated and added back', () => {
    const base = f32([1, 1]);
    const out = runOp('nuslerp-base', [base, f32([2, 1]), f32([1, 2])]);
    const h = f(f(Math.SQRT1_2) / 1);
    expect(Array.from(out)).toEqual([f(1 + h), f(1 + h)]);
  });

  it('identical models give the model (within 2 ULP: cos θ from float64 sums is 1 − δ, so sin θ may pass 1e-8)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 200 }), fc.boolean(), (seed, n, flatten) => {
        const x = randomValues(seed, n);
        const same = runOp('nuslerp', [x, x], { weights: [1, 1], nuslerpFlatten: flatten }, { shape: [n] });
        for (let i = 0; i < n; i++) expect(ulps(same[i], x[i])).toBeLessThanOrEqual(2);
        const b = randomValues(seed + 1, n);
        const out = runOp('nuslerp-base', [b, x, x]);
        // the delta within 2 ULP, so the sum within 2 ULP of the larger of base and delta
        for (let i = 0; i < n; i++)
          expect(Math.abs(out[i] - x[i])).toBeLessThanOrEqual(2.5e-7 * (Math.abs(b[i]) + Math.abs(x[i] - b[i])) + 1e-45);
      }),
      { numRuns: 30 },
    );
  });
});
