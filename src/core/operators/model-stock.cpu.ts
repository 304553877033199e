/**
 * Model Stock (mergekit "model_stock", Jang et al. 2024): move from the base w₀ towards the average
 * of the N fine-tuned models by a ratio set by how aligned their offsets are.
 *
 *   oᵢ = wᵢ − w₀                       cos θ = mean over pairs i < j of  oᵢ·oⱼ / max(‖oᵢ‖‖oⱼ‖, 1e-6), clamped to [−1, 1]
 *   t = N·cos θ / (1 + (N − 1)·cos θ)   out = t·avg + (1 − t)·w₀,  avg = Σ wᵢ / N
 *
 * Over the whole tensor, or per row along the last dimension with `filterWise` (a 1-D tensor is
 * one row). The dot products and norms are float64 in element order and t is computed in float64
 * (mergekit: float32 torch ops), then rounded once; the blend is float32 as torch evaluates it:
 * avg = fround(fround(Σ wᵢ) / N) (the sum in parent order), out = fround(fround(t·avg) + fround(fround(1 − t)·w₀)).
 * A cos θ of exactly −1/(N − 1) makes t infinite in mergekit; it is refused here, naming the tensor.
 */
import { gramMatrix } from './gram.ts';
import type { ParamValues, TensorContext } from './types.ts';

const NORM_FLOOR = 1e-6;

/** t from the Gram matrix of the N offsets (float64), before rounding. Throws where it is infinite. */
export function modelStockRatio(g: Float64Array, n: number, what: string): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const norm = Math.sqrt(g[i * n + i]) * Math.sqrt(g[j * n + j]);
      const c = g[i * n + j] / Math.max(norm, NORM_FLOOR);
      sum += Math.min(Math.max(c, -1), 1);
      pairs++;
    }
  }
  const cos = sum / pairs;
  const den = 1 + (n - 1) * cos;
  if (den === 0)
    throw new Error(`model_stock: the offsets of "${what}" are opposed (cos θ = ${cos}), so t = N·cos θ / (1 + (N − 1)·cos θ) is infinite`);
  return (n * cos) / den;
}

/** The row length model_stock works on: the whole tensor, or the last dimension with filterWise. */
export function modelStockRowLength(shape: readonly number[], total: number, filterWise: boolean): number {
  if (!filterWise || shape.length < 2) return Math.max(1, total);
  return Math.max(1, shape[shape.length - 1]);
}

/** One float32 ratio per row (of length `len`) from the inputs [w₀, w₁ … w_N]. */
export function modelStockRatios(inputs: readonly Float32Array[], len: number, what: string): Float32Array {
  const base = inputs[0];
  const n = inputs.length - 1;
  const rows = Math.ceil(base.length / len);
  const t = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const lo = r * len;
    const hi = Math.min(base.length, lo + len);
    const offsets = inputs.slice(1).map((x) => Float32Array.from({ length: hi - lo }, (_, e) => x[lo + e] - base[lo + e]));
    t[r] = modelStockRatio(gramMatrix(offsets), n, what);
  }
  return t;
}

/** out = fround(t·avg) + fround((1 − t)·w₀) with t per row. */
export function modelStockApply(inputs: readonly Float32Array[], t: Float32Array, len: number): Float32Array {
  const f = Math.fround;
  const base = inputs[0];
  const n = inputs.length - 1;
  const out = new Float32Array(base.length);
  for (let e = 0; e < base.length; e++) {
    let acc = 0;
    for (let i = 1; i <= n; i++) acc = f(acc + inputs[i][e]);
    const avg = f(acc / n);
    const te = t[Math.floor(e / len)];
    out[e] = f(te * avg) + f(f(1 - te) * base[e]);
  }
  return out;
}

export function modelStockCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  if (inputs.length < 3) throw new Error(`model_stock needs a base and at least two models, got ${inputs.length} inputs`);
  const len = modelStockRowLength(ctx.shape, inputs[0].length, params.filterWise === true);
  return modelStockApply(inputs, modelStockRatios(inputs, len, ctx.name), len);
}
