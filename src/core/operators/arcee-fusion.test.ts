import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runOp, f32 } from './catalog-test-helpers.ts';
import { fusionKl, fusionThreshold } from './arcee-fusion.cpu.ts';
import { randomValues } from './test-data.ts';

describe('arcee_fusion (mergekit "arcee_fusion")', () => {
  it('hand-worked: one row; threshold = median + 1.5·IQR at sorted[int(q·7)]: only the change of 5 reaches it', () => {
    const base = new Float32Array(8);
    const x = f32([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 5]);
    // importance = |d|·K: median sorted[3] = 0.4K, q1 sorted[1] = 0.2K, q3 sorted[5] = 0.6K → threshold ≈ K
    expect(Array.from(runOp('arcee-fusion', [base, x]))).toEqual([0, 0, 0, 0, 0, 0, 0, 5]);
    const kl = fusionKl(base, x, 8)[0];
    const p = Array.from(x, (v) => Math.exp(v)).map((v, _, a) => v / a.reduce((s, y) => s + y, 0) + 1e-8);
    const want = p.reduce((s, pi) => s + pi * Math.log(pi / (1 / 8 + 1e-8)), 0);
    expect(kl).toBe(Math.fround(want));
  });

  it('the threshold uses int(q·(n − 1)) indices of the ascending sort', () => {
    // n = 5: median sorted[2], q1 sorted[1], q3 sorted[3]
    expect(fusionThreshold(f32([5, 1, 4, 2, 3]))).toBe(Math.fround(3 + 1.5 * (4 - 2)));
    // n = 8: int(3.5) = 3, int(1.75) = 1, int(5.25) = 5 (truncated, not rounded): 4 + 1.5·(6 − 2)
    expect(fusionThreshold(f32([8, 7, 6, 5, 4, 3, 2, 1]))).toBe(10);
  });

  it('per row of the last dimension: a row where the softmaxes agree keeps nothing but a zero importance', () => {
    const base = f32([0, 0, 0, 0, 0, 0]);
    // row 0 shifted by a constant: same softmax, KL = 0, importance 0
    const x = f32([1, 1, 1, 0, 0, 3]);
    const kl = fusionKl(base, x, 3);
    expect(kl[0]).toBeCloseTo(0, 7);
    expect(kl[1]).toBeGreaterThan(0.1);
  });

  it('identical models give the model; every output element is the base’s or the model’s', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 4 }), (seed, cols, rows) => {
        const n = rows * cols;
        const b = randomValues(seed, n);
        const x = randomValues(seed + 1, n);
        const same = runOp('arcee-fusion', [b, x.map((v, e) => v * 0 + b[e])], {}, { shape: [rows, cols] });
        expect(same).toEqual(b);
        const out = runOp('arcee-fusion', [b, x], {}, { shape: [rows, cols] });
        for (let e = 0; e < n; e++) expect([b[e], Math.fround(b[e] + Math.fround(x[e] - b[e]))]).toContain(out[e]);
      }),
      { numRuns: 40 },
    );
  });
});
