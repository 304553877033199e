import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32 } from './catalog-test-helpers.ts';
import { randomValues } from './test-data.ts';
import { breed } from './breed.ts';
import { cpuBackend } from './backend.ts';
import { fromFloat32, toFloat32 } from '../tensor.ts';

/** mergekit's karcher_merge_tensors, step by step on whole vectors in float64. */
function mergekitKarcher(xs: Float64Array[], maxIter = 10, tol = 1e-5): { out: Float64Array; iterations: number } {
  const n = xs[0].length;
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  const alphas = xs.map(() => 1 / xs.length);
  const norms = xs.map((x) => Math.sqrt(dot(x, x)));
  const units = xs.map((x, i) => (norms[i] === 0 ? new Float64Array(n) : x.map((v) => v / norms[i])));
  const valid = norms.flatMap((x, i) => (x > tol ? [i] : []));
  const va = valid.map((i) => alphas[i]);
  const sa = va.reduce((a, b) => a + b, 0);
  const na = va.map((a) => a / sa);
  const vu = valid.map((i) => units[i]);
  let u = new Float64Array(n);
  vu.forEach((ui, k) => ui.forEach((v, e) => (u[e] += na[k] * v)));
  const nu = Math.sqrt(dot(u, u));
  u = nu < tol ? Float64Array.from(vu[0]) : u.map((v) => v / nu);
  let iterations = 0;
  for (let it = 0; it < maxIter; it++) {
    const T = new Float64Array(n);
    vu.forEach((ui, k) => {
      const d = Math.min(Math.max(dot(u, ui), -1), 1);
      const theta = Math.acos(d);
      if (theta < tol) return;
      ui.forEach((v, e) => (T[e] += na[k] * (theta / Math.sin(theta)) * (v - d * u[e])));
    });
    const nT = Math.sqrt(dot(T, T));
    if (nT < tol) break;
    u = u.map((v, e) => Math.cos(nT) * v + Math.sin(nT) * (T[e] / nT));
    iterations++;
    const un = Math.sqrt(dot(u, u));
    if (un > tol) u = u.map((v) => v / un);
  }
  const s = alphas.reduce((acc, a, i) => acc + a * norms[i], 0);
  return { out: u.map((v) => s * v), iterations };
}

describe('karcher (mergekit "karcher")', () => {
  it('hand-worked: two orthogonal unit vectors: the first guess is the mean, T = 0, no iteration', () => {
    const stats: Record<string, number> = {};
    const out = runOp('karcher', [f32([1, 0]), f32([0, 1])], {}, { stats });
    expect(out[0]).toBeCloseTo(Math.SQRT1_2, 7);
    expect(out[1]).toBeCloseTo(Math.SQRT1_2, 7);
    expect(stats.iterations).toBe(0);
  });

  it('equals mergekit’s step-by-step algorithm (float64 restatement), iterations included', () => {
    let iterated = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 2, max: 80 }),
        fc.integer({ min: 3, max: 5 }),
        fc.integer({ min: 0, max: 12 }),
        (seed, n, p, maxIter) => {
          // Different norms and a shared component, so the mean is not the first guess.
          const common = randomValues(seed, n);
          const xs = Array.from({ length: p }, (_, i) =>
            Float32Array.from(randomValues(seed + i + 1, n), (v, e) => (1 + i) * (v + common[e])),
          );
          const ref = mergekitKarcher(
            xs.map((x) => Float64Array.from(x)),
            maxIter,
          );
          const stats: Record<string, number> = {};
          const out = runOp('karcher', xs, { maxIter: maxIter }, { stats });
          const scale = Math.max(...ref.out.map(Math.abs));
          for (let e = 0; e < n; e++) expect(Math.abs(out[e] - ref.out[e])).toBeLessThanOrEqual(1e-5 * scale);
          expect(stats.iterations).toBe(ref.iterations);
          if (ref.iterations > 0) iterated++;
        },
      ),
      { numRuns: 30 },
    );
    expect(iterated, 'some cases took iterations').toBeGreaterThan(5);
  });

  it('identical models give the model; all-zero models give zeros', () => {
    const x = randomValues(5, 40);
    const out = runOp('karcher', [x, x, x]);
    for (let e = 0; e < 40; e++) expect(out[e]).toBeCloseTo(x[e], 6);
    expect(Array.from(runOp('karcher', [new Float32Array(3), new Float32Array(3)]))).toEqual([0, 0, 0]);
  });

  it('breed() puts each tensor’s iterations in its statistics (the receipt)', async () => {
    const model = (seed: number) => [
      fromFloat32(
        'layers.0.weight',
        [4, 5],
        Float32Array.from(randomValues(seed, 20), (v, e) => v + (e % 3)),
      ),
      fromFloat32('layers.1.weight', [3], f32([1, 0, 0])),
    ];
    const r = await breed({ operator: 'karcher', params: { maxIter: 7 }, seed: 1, parents: [model(1), model(2), model(3)] }, cpuBackend);
    const direct: Record<string, number> = {};
    runOp(
      'karcher',
      [1, 2, 3].map((s) => toFloat32(model(s)[0])),
      { maxIter: 7 },
      { stats: direct },
    );
    expect(r.stats[0].iterations).toBe(direct.iterations);
    expect(r.stats[0].iterations).toBeGreaterThan(0);
    expect(r.stats.every((s) => typeof s.iterations === 'number')).toBe(true);
  });
});
