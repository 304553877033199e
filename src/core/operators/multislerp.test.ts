import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32 } from './catalog-test-helpers.ts';
import { randomValues } from './test-data.ts';

/** mergekit's multislerp, step by step on whole vectors in float64 (the restatement the Gram form is checked against). */
function mergekitMultislerp(xs: Float64Array[], weights: number[], normalize = true, eps = 1e-8): Float64Array {
  const n = xs[0].length;
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  const sw = weights.reduce((a, b) => a + b, 0);
  const w = normalize ? weights.map((x) => x / sw) : weights;
  const norms = xs.map((x) => Math.sqrt(dot(x, x)));
  const units = xs.map((x, i) => x.map((v) => v / (norms[i] + eps)));
  const mean = new Float64Array(n);
  units.forEach((u, i) => u.forEach((v, e) => (mean[e] += v * w[i])));
  const mn = Math.sqrt(dot(mean, mean));
  const m = mean.map((v) => v / mn);
  const tangent = new Float64Array(n);
  units.forEach((u, i) => {
    const d = dot(u, m);
    u.forEach((v, e) => (tangent[e] += w[i] * (v - d * m[e])));
  });
  const tn = Math.sqrt(dot(tangent, tangent)) + eps;
  const avg = norms.reduce((s, x, i) => s + x * w[i], 0);
  return m.map((v, e) => (v * Math.cos(tn) + tangent[e] * (Math.sin(tn) / tn)) * avg);
}

describe('multislerp (mergekit "multislerp")', () => {
  it('hand-worked: two orthogonal unit vectors, equal weights, give the midpoint on the arc', () => {
    const h = Math.SQRT1_2;
    const out = runOp('multislerp', [f32([1, 0]), f32([0, 1])]);
    expect(out[0]).toBeCloseTo(h, 7);
    expect(out[1]).toBeCloseTo(h, 7);
  });

  it('equals mergekit’s step-by-step algorithm (float64 restatement) to float32 precision, with and without a base', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 2, max: 100 }),
        fc.integer({ min: 2, max: 5 }),
        fc.boolean(),
        (seed, n, p, norm) => {
          const xs = Array.from({ length: p }, (_, i) => randomValues(seed + i, n));
          const w = Array.from({ length: p }, (_, i) => 0.5 + ((seed + i) % 7) / 4);
          const ref = mergekitMultislerp(
            xs.map((x) => Float64Array.from(x)),
            w,
            norm,
          );
          const out = runOp('multislerp', xs, { weights: w, normalizeWeights: norm });
          const scale = Math.max(...ref.map(Math.abs));
          for (let e = 0; e < n; e++) expect(Math.abs(out[e] - ref[e])).toBeLessThanOrEqual(1e-5 * scale);
          const base = randomValues(seed + 99, n);
          const ds = xs.map((x) => Float64Array.from(x, (v, e) => Math.fround(v - base[e])));
          const refB = mergekitMultislerp(ds, w, norm).map((v, e) => v + base[e]);
          const outB = runOp('multislerp-base', [base, ...xs], { weights: w, normalizeWeights: norm });
          const scaleB = Math.max(...refB.map(Math.abs));
          for (let e = 0; e < n; e++) expect(Math.abs(outB[e] - refB[e])).toBeLessThanOrEqual(1e-5 * scaleB);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('identical models give the model; antipodal ones fall back to the line (2 models) or are refused (3)', () => {
    const x = randomValues(3, 50);
    const out = runOp('multislerp', [x, x, x]);
    for (let e = 0; e < 50; e++) expect(out[e]).toBeCloseTo(x[e], 6);
    const neg = Float32Array.from(x, (v) => -v);
    expect(Array.from(runOp('multislerp', [x, neg]))).toEqual(
      Array.from(x, (v, e) => Math.fround(Math.fround(0.5 * v) + Math.fround(0.5 * neg[e]))),
    );
    expect(() => runOp('multislerp', [x, neg, x, neg])).toThrow(/weighted sum of the unit vectors is zero/);
  });
});
