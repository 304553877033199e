/**
 * SLERP: spherical interpolation between two parents, tensor by tensor (mergekit's "slerp").
 *
 *   dot = Σ v0·v1 / (‖v0‖·‖v1‖)     (float64)
 *   if either norm is 0 or |dot| > 0.9995: linear, s0 = 1 − t, s1 = t
 *   else θ = acos(dot), s0 = sin((1 − t)·θ) / sin θ, s1 = sin(t·θ) / sin θ
 *   out = fround(fround(s0)·v0 + fround(s1)·v1)   (each product rounded to float32)
 * t = 0 gives the first parent, t = 1 the second. t may be a layer gradient.
 */
import { num } from './params.ts';
import type { ParamValues } from './types.ts';

export const SLERP_DOT_THRESHOLD = 0.9995;

/**
 * The SLERP coefficients from the sums d = Σ v0·v1, a = Σ v0², b = Σ v1² (the one formula: the
 * CPU reference and the GPU kernel, whose sums come from a reduction, both call it).
 */
export function slerpFromSums(d: number, a: number, b: number, t: number): { s0: number; s1: number; linear: boolean } {
  const denom = Math.sqrt(a) * Math.sqrt(b);
  const dot = denom > 0 ? d / denom : 1;
  if (!(denom > 0) || Math.abs(dot) > SLERP_DOT_THRESHOLD) return { s0: 1 - t, s1: t, linear: true };
  const theta = Math.acos(dot);
  const sin = Math.sin(theta);
  return { s0: Math.sin((1 - t) * theta) / sin, s1: Math.sin(t * theta) / sin, linear: false };
}

/**
 * SLERP's three float64 sums (v0·v1, |v0|², |v1|²) over elements [from, to), added in element order
 * to the running sums given: the one definition the range kernels' exact paths follow.
 */
export function addSlerpSums(
  v0: Float32Array,
  v1: Float32Array,
  from: number,
  to: number,
  sums: readonly [number, number, number] = [0, 0, 0],
): [number, number, number] {
  let [d, a, b] = sums;
  for (let i = from; i < to; i++) {
    d += v0[i] * v1[i];
    a += v0[i] * v0[i];
    b += v1[i] * v1[i];
  }
  return [d, a, b];
}

/** The SLERP coefficients of two tensors: their sums in float64, element order, then slerpFromSums. */
export function slerpCoefficients(v0: Float32Array, v1: Float32Array, t: number): { s0: number; s1: number; linear: boolean } {
  const [d, a, b] = addSlerpSums(v0, v1, 0, v0.length);
  return slerpFromSums(d, a, b, t);
}

export function slerpCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  const [v0, v1] = inputs;
  const { s0, s1 } = slerpCoefficients(v0, v1, num(params, 't'));
  const a = Math.fround(s0);
  const b = Math.fround(s1);
  const out = new Float32Array(v0.length);
  for (let i = 0; i < v0.length; i++) out[i] = Math.fround(a * v0[i]) + Math.fround(b * v1[i]);
  return out;
}
