/**
 * NearSwap (mergekit "nearswap"): take the other model's value where it is near the base's, keep
 * the base's where they are far apart. With a the base, b the other model:
 *
 *   w   = clamp(t / max(|a − b|, 1e-6), 0, 1)
 *   out = w·b + (1 − w)·a
 *
 * As torch evaluates it in float32: t / x is `x.reciprocal() * t` (Tensor.__rtruediv__), so
 * w = fround(fround(1 / max(fround(|a − b|), fround(1e-6))) · fround(t)), then the two products and
 * the sum each rounded to float32. Element-wise.
 */
import { num } from './params.ts';
import type { ParamValues } from './types.ts';

export const NEARSWAP_MIN_DIFF = Math.fround(1e-6);

/** The weight of the other model for a float32 |a − b| = d and t = fround(t). */
export function nearswapWeight(d: number, t: number): number {
  const w = Math.fround(Math.fround(1 / Math.max(d, NEARSWAP_MIN_DIFF)) * t);
  return Math.min(Math.max(w, 0), 1);
}

export function nearswapCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  if (inputs.length !== 2) throw new Error(`nearswap takes a base and one model, got ${inputs.length} inputs`);
  const [a, b] = inputs;
  const t = Math.fround(num(params, 't'));
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(Math.fround(a[i] - b[i]));
    const w = nearswapWeight(d, t);
    out[i] = Math.fround(w * b[i]) + Math.fround(Math.fround(1 - w) * a[i]);
  }
  return out;
}
