/**
 * A deterministic thin SVD, M = U·diag(S)·Vᵀ, by one-sided Jacobi (Hestenes) rotations in float64:
 * sweeps over column pairs (p, q) in a fixed order until every pair is orthogonal to a relative
 * tolerance. No random start, so the same matrix gives the same bytes on every run. Singular
 * values come out descending (ties keep column order); each pair (u, v) is signed so that the
 * entry of v largest in magnitude (lowest index first) is positive, which pins the sign torch
 * leaves free.
 */

export interface Svd {
  /** [m, k] row-major, k = min(m, n) */
  u: Float64Array;
  s: Float64Array;
  /** Vᵀ: [k, n] row-major */
  vt: Float64Array;
  m: number;
  n: number;
  k: number;
  sweeps: number;
}

const TOL = 1e-15;
const MAX_SWEEPS = 60;

/** SVD of a [m, n] row-major matrix. */
export function svd(a: ArrayLike<number>, m: number, n: number): Svd {
  if (a.length !== m * n) throw new Error(`svd: ${a.length} numbers for [${m}, ${n}]`);
  if (m < n) {
    // Factor the transpose: Mᵀ = U'·S·V'ᵀ gives M = V'·S·U'ᵀ.
    const t = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
    const r = svdTall(t, n, m);
    // u = V' [m, k] (V'ᵀ is r.vt [k, m]); vt = U'ᵀ [k, n]
    const k = r.k;
    const u = new Float64Array(m * k);
    for (let c = 0; c < k; c++) for (let i = 0; i < m; i++) u[i * k + c] = r.vt[c * m + i];
    const vt = new Float64Array(k * n);
    for (let c = 0; c < k; c++) for (let j = 0; j < n; j++) vt[c * n + j] = r.u[j * k + c];
    return fixSigns({ u, s: r.s, vt, m, n, k, sweeps: r.sweeps });
  }
  return fixSigns(svdTall(Float64Array.from(a), m, n));
}

/** m ≥ n. Works on the columns of a copy of M (column-major for locality). */
function svdTall(a: Float64Array, m: number, n: number): Svd {
  const cols = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) cols[j * m + i] = a[i * n + j];
  const v = new Float64Array(n * n);
  for (let j = 0; j < n; j++) v[j * n + j] = 1;
  let sweeps = 0;
  for (; sweeps < MAX_SWEEPS; sweeps++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        const po = p * m;
        const qo = q * m;
        for (let i = 0; i < m; i++) {
          const x = cols[po + i];
          const y = cols[qo + i];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= TOL * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = cols[po + i];
          const y = cols[qo + i];
          cols[po + i] = c * x - s * y;
          cols[qo + i] = s * x + c * y;
        }
        for (let i = 0; i < n; i++) {
          const x = v[i * n + p];
          const y = v[i * n + q];
          v[i * n + p] = c * x - s * y;
          v[i * n + q] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let ss = 0;
    for (let i = 0; i < m; i++) ss += cols[j * m + i] ** 2;
    norms[j] = Math.sqrt(ss);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => norms[y] - norms[x] || x - y);
  const k = n;
  const u = new Float64Array(m * k);
  const s = new Float64Array(k);
  const vt = new Float64Array(k * n);
  order.forEach((j, c) => {
    s[c] = norms[j];
    const inv = norms[j] > 0 ? 1 / norms[j] : 0;
    for (let i = 0; i < m; i++) u[i * k + c] = cols[j * m + i] * inv;
    for (let i = 0; i < n; i++) vt[c * n + i] = v[i * n + j];
  });
  return { u, s, vt, m, n, k, sweeps };
}

function fixSigns(r: Svd): Svd {
  for (let c = 0; c < r.k; c++) {
    let best = 0;
    for (let j = 1; j < r.n; j++) if (Math.abs(r.vt[c * r.n + j]) > Math.abs(r.vt[c * r.n + best])) best = j;
    if (r.vt[c * r.n + best] < 0) {
      for (let j = 0; j < r.n; j++) r.vt[c * r.n + j] = -r.vt[c * r.n + j];
      for (let i = 0; i < r.m; i++) r.u[i * r.k + c] = -r.u[i * r.k + c];
    }
  }
  return r;
}

/** ‖M − U_r·S_r·V_rᵀ‖_F / ‖M‖_F from the singular values alone: √(Σ_{i≥r} s²) / √(Σ s²). */
export function truncationError(s: ArrayLike<number>, rank: number): number {
  let tail = 0;
  let all = 0;
  for (let i = 0; i < s.length; i++) {
    all += s[i] * s[i];
    if (i >= rank) tail += s[i] * s[i];
  }
  return all > 0 ? Math.sqrt(tail / all) : 0;
}
