/**
 * Arcee Fusion (mergekit "arcee_fusion"): keep the other model's changes only where they matter,
 * judged by a dynamic threshold. With base b and model x (rows along the last dimension; a 1-D
 * tensor is one row):
 *
 *   KL(row) = Σ p·log(p/q),  p = softmax(x_row) + 1e-8, q = softmax(b_row) + 1e-8
 *   importance[e] = |x[e] − b[e]| · KL(row of e)
 *   threshold = median + 1.5·(q₃ − q₁), each quantile sorted[int(q·(n − 1))] of the importances
 *   out = b + (x − b)·[importance ≥ threshold]
 *
 * The softmaxes and KL are float64 per row (mergekit: float32 torch), rounded once; importance =
 * fround(|fround(x − b)|·fround(KL)) and the threshold fround(median + fround(1.5·fround(q₃ − q₁)))
 * as torch rounds them. Deliberate difference: mergekit sorts a random sample of 10⁶ importances of
 * a larger tensor (torch.randperm, unseeded, so not reproducible); the garden always sorts them all.
 */
import type { TensorContext } from './types.ts';

/** KL(p ‖ q) of each row, float64 softmaxes, rounded to float32. */
export function fusionKl(base: Float32Array, x: Float32Array, len: number): Float32Array {
  const rows = Math.ceil(base.length / len);
  const out = new Float32Array(rows);
  const softmax = (v: Float32Array, lo: number, hi: number): Float64Array => {
    let max = -Infinity;
    for (let e = lo; e < hi; e++) max = Math.max(max, v[e]);
    const s = new Float64Array(hi - lo);
    let sum = 0;
    for (let e = lo; e < hi; e++) sum += s[e - lo] = Math.exp(v[e] - max);
    for (let e = 0; e < s.length; e++) s[e] = s[e] / sum + 1e-8;
    return s;
  };
  for (let r = 0; r < rows; r++) {
    const lo = r * len;
    const hi = Math.min(base.length, lo + len);
    const p = softmax(x, lo, hi);
    const q = softmax(base, lo, hi);
    let kl = 0;
    for (let e = 0; e < p.length; e++) kl += p[e] * Math.log(p[e] / q[e]);
    out[r] = kl;
  }
  return out;
}

export function fusionImportance(base: Float32Array, x: Float32Array, kl: Float32Array, len: number): Float32Array {
  return Float32Array.from(base, (b, e) => Math.fround(Math.abs(Math.fround(x[e] - b)) * kl[Math.floor(e / len)]));
}

/** median + 1.5·IQR of the values, quantiles at int(fround(q)·(n − 1)) of the ascending sort. */
export function fusionThreshold(importance: Float32Array): number {
  const f = Math.fround;
  const sorted = Float32Array.from(importance).sort();
  const at = (q: number) => sorted[Math.trunc(f(f(q) * (sorted.length - 1)))];
  return f(at(0.5) + f(1.5 * f(at(0.75) - at(0.25))));
}

export function fusionRowLength(shape: readonly number[], total: number): number {
  return shape.length < 2 ? Math.max(1, total) : Math.max(1, shape[shape.length - 1]);
}

export function arceeFusionCpu(inputs: readonly Float32Array[], ctx: TensorContext): Float32Array {
  if (inputs.length !== 2) throw new Error(`arcee_fusion takes a base and one model, got ${inputs.length} inputs`);
  const [base, x] = inputs;
  if (base.length === 0) return new Float32Array(0);
  const len = fusionRowLength(ctx.shape, base.length);
  const kl = fusionKl(base, x, len);
  const importance = fusionImportance(base, x, kl, len);
  const threshold = fusionThreshold(importance);
  const out = new Float32Array(base.length);
  for (let e = 0; e < base.length; e++) out[e] = base[e] + Math.fround(x[e] - base[e]) * (importance[e] >= threshold ? 1 : 0);
  return out;
}
