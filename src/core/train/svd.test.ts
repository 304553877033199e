import { describe, expect, it } from 'vitest';
import { svd, truncationError } from './svd.ts';
import { randoms } from './test-helpers.ts';

function reconstruct(r: ReturnType<typeof svd>, rank = r.k): Float64Array {
  const out = new Float64Array(r.m * r.n);
  for (let i = 0; i < r.m; i++)
    for (let j = 0; j < r.n; j++) for (let c = 0; c < rank; c++) out[i * r.n + j] += r.u[i * r.k + c] * r.s[c] * r.vt[c * r.n + j];
  return out;
}

describe('one-sided Jacobi SVD', () => {
  for (const [m, n] of [
    [7, 4],
    [4, 7],
    [5, 5],
    [1, 6],
  ]) {
    it(`[${m}, ${n}]: U·S·Vᵀ rebuilds M, U and V orthonormal, S descending`, () => {
      const a = randoms(m * n, m * 10 + n);
      const r = svd(a, m, n);
      const back = reconstruct(r);
      for (let i = 0; i < a.length; i++) expect(back[i]).toBeCloseTo(a[i], 12);
      for (let c = 1; c < r.k; c++) expect(r.s[c]).toBeLessThanOrEqual(r.s[c - 1]);
      for (let c = 0; c < r.k; c++) {
        for (let d = 0; d < r.k; d++) {
          let uu = 0;
          let vv = 0;
          for (let i = 0; i < m; i++) uu += r.u[i * r.k + c] * r.u[i * r.k + d];
          for (let j = 0; j < n; j++) vv += r.vt[c * n + j] * r.vt[d * n + j];
          if (r.s[c] > 1e-12 && r.s[d] > 1e-12) expect(uu).toBeCloseTo(c === d ? 1 : 0, 12);
          expect(vv).toBeCloseTo(c === d ? 1 : 0, 12);
        }
      }
    });
  }

  it('finds known singular values and is deterministic to the byte', () => {
    // diag(3, 5, 1) permuted and rotated by nothing: singular values 5, 3, 1.
    const a = [0, 3, 0, 5, 0, 0, 0, 0, 1];
    const r = svd(a, 3, 3);
    expect([...r.s].map((x) => +x.toFixed(12))).toEqual([5, 3, 1]);
    const x = randoms(40 * 9, 3);
    expect(svd(x, 40, 9).vt).toEqual(svd(x, 40, 9).vt);
  });

  it('truncationError is the Frobenius residual of the rank-r reconstruction', () => {
    const a = randoms(12 * 6, 5);
    const r = svd(a, 12, 6);
    for (const rank of [1, 3, 6]) {
      const back = reconstruct(r, rank);
      let res = 0;
      let all = 0;
      for (let i = 0; i < a.length; i++) {
        res += (a[i] - back[i]) ** 2;
        all += a[i] ** 2;
      }
      expect(truncationError(r.s, rank)).toBeCloseTo(Math.sqrt(res / all), 12);
    }
  });
});
