/**
 * blend: out = Σ wᵢ·xᵢ, with weights divided by their sum when `normalize` is set.
 * Accumulates in float32 in parent order, the same order as the WGSL kernel, so results agree
 * to within one rounding per parent (fused multiply-add may differ on the GPU).
 */
import type { ParamValues } from './types.ts';

export function blendWeights(params: ParamValues, parents: number): Float32Array {
  const raw = params.weights;
  const w = Array.isArray(raw) ? raw : new Array<number>(parents).fill(1 / parents);
  if (w.length !== parents) throw new Error(`blend: ${w.length} weights for ${parents} parents`);
  if (params.normalize !== false) {
    const sum = w.reduce((a, b) => a + b, 0);
    if (sum === 0) throw new Error('blend: weights sum to zero and cannot be normalised');
    return Float32Array.from(w, (x) => x / sum);
  }
  return Float32Array.from(w);
}

export function blendCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  const w = blendWeights(params, inputs.length);
  const n = inputs[0].length;
  const out = new Float32Array(n);
  for (let p = 0; p < inputs.length; p++) {
    const x = inputs[p];
    const wp = w[p];
    for (let i = 0; i < n; i++) out[i] = Math.fround(out[i] + Math.fround(wp * x[i]));
  }
  return out;
}
