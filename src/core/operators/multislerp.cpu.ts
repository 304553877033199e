/**
 * Multi-SLERP (mergekit "multislerp"): barycentric interpolation of N ≥ 2 models on the sphere.
 * With the models xᵢ (or their deltas from a base, `multislerp-base`) and weights wᵢ (divided by
 * their sum with `normalizeWeights`, the default):
 *
 *   uᵢ = xᵢ / (‖xᵢ‖ + eps)                 m = Σ wᵢuᵢ;  ‖m‖ < eps → 2 models: w₀x₀ + w₁x₁, else refused
 *   m̂ = m / ‖m‖                            τ = Σ wᵢ (uᵢ − (uᵢ·m̂) m̂)       (the tangent at m̂)
 *   ‖τ‖' = ‖τ‖ + eps                       out = (m̂ cos ‖τ‖' + τ sin ‖τ‖' / ‖τ‖') · Σ wᵢ‖xᵢ‖
 *
 * Every vector above lies in the span of the xᵢ, so the garden computes the whole chain on the
 * Gram matrix Gᵢⱼ = xᵢ·xⱼ (float64, element order) as coefficients βₖ with out = Σ βₖxₖ, then one
 * float32 pass Σ fround(fround(βₖ)·xₖ) (+ base) — the same algebra as mergekit's float32 vector
 * steps, without their per-step roundings. The GPU reduces the same Gram sums and runs the same pass.
 */
import { combine, deltas, gramMatrix, quad } from './gram.ts';
import { num, weightsOf } from './params.ts';
import type { ParamValues } from './types.ts';

/** The result's coefficients βₖ on the inputs xₖ, or `linear` for mergekit's two-model fallback. */
export function multislerpCoefficients(
  g: Float64Array,
  weights: readonly number[],
  normalize: boolean,
  eps: number,
): { beta: number[]; linear: boolean } {
  const p = weights.length;
  const sw = weights.reduce((a, b) => a + b, 0);
  const w = normalize ? weights.map((x) => x / sw) : [...weights];
  const norms = w.map((_, i) => Math.sqrt(Math.max(0, g[i * p + i])));
  const a = norms.map((x) => 1 / (x + eps));
  const m = w.map((wi, i) => wi * a[i]);
  const mn = Math.sqrt(Math.max(0, quad(g, m)));
  if (mn < eps) {
    if (p === 2) return { beta: w, linear: true };
    throw new Error(
      'multislerp: the weighted sum of the unit vectors is zero (antipodal models with balancing weights); try other weights',
    );
  }
  const c = m.map((x) => x / mn);
  // uᵢ·m̂ = aᵢ Σⱼ cⱼ Gᵢⱼ; τ = Σᵢ wᵢaᵢxᵢ − (Σᵢ wᵢ(uᵢ·m̂)) m̂
  const dots = a.map((ai, i) => ai * c.reduce((s, cj, j) => s + cj * g[i * p + j], 0));
  const dsum = w.reduce((s, wi, i) => s + wi * dots[i], 0);
  const tau = w.map((wi, k) => wi * a[k] - dsum * c[k]);
  const tn = Math.sqrt(Math.max(0, quad(g, tau))) + eps;
  const avgNorm = norms.reduce((s, x, i) => s + x * w[i], 0);
  const cos = Math.cos(tn);
  const sin = Math.sin(tn) / tn;
  return { beta: c.map((ck, k) => (ck * cos + tau[k] * sin) * avgNorm), linear: false };
}

export function multislerpCpu(inputs: readonly Float32Array[], params: ParamValues, withBase: boolean): Float32Array {
  const base = withBase ? inputs[0] : undefined;
  const raw = inputs.slice(withBase ? 1 : 0);
  if (raw.length < 2) throw new Error(`multislerp needs at least two models${withBase ? ' besides the base' : ''}`);
  const xs = base ? deltas(base, raw) : raw;
  const w = weightsOf(params, 'weights', xs.length, 1);
  const { beta } = multislerpCoefficients(gramMatrix(xs), w, params.normalizeWeights !== false, num(params, 'eps', 1e-8));
  return combine(xs, beta, base);
}
