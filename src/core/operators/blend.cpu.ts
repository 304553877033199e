/**
 * blend (mergekit "linear"): out = Σ wᵢ·xᵢ / Σ wᵢ when `normalize` (the default), else Σ wᵢ·xᵢ.
 * As mergekit computes it: the products and the sum in float32 in parent order, then one
 * division by the float32 sum of the weights (not a sum with pre-normalised weights, which is
 * up to hundreds of ULP away). The GPU kernel accumulates in the same order; its division and a
 * fused multiply-add may differ by a few ULP (docs/OPERATORS.md states the bound).
 */
import type { BlendWeights, ParamValues } from './types.ts';

/** The weights (default 1 each) and the divisor of a blend of `parents` parents. */
export function blendWeights(params: ParamValues, parents: number): BlendWeights {
  const raw = params.weights;
  const w = Array.isArray(raw) ? raw : new Array<number>(parents).fill(1);
  if (w.length !== parents) throw new Error(`blend: ${w.length} weights for ${parents} parents`);
  const weights = Float32Array.from(w);
  if (params.normalize === false) return { weights, divisor: 1 };
  let sum = 0;
  for (const x of weights) sum = Math.fround(sum + x);
  if (sum === 0) throw new Error('blend: weights sum to zero and cannot be normalised');
  return { weights, divisor: sum };
}

/** out[start, end) = fround(Σₚ fround(wₚ·xₚ)) / divisor, the reference order of operations. */
export function blendRangeRef(inputs: readonly Float32Array[], bw: BlendWeights, out: Float32Array, start: number, end: number): void {
  const { weights: w, divisor } = bw;
  for (let i = start; i < end; i++) {
    let acc = 0;
    for (let p = 0; p < inputs.length; p++) acc = Math.fround(acc + Math.fround(w[p] * inputs[p][i]));
    out[i] = divisor === 1 ? acc : acc / divisor;
  }
}

export function blendCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  const out = new Float32Array(inputs[0].length);
  blendRangeRef(inputs, blendWeights(params, inputs.length), out, 0, out.length);
  return out;
}
