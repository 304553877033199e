/**
 * Deterministic crossover: every element (or row, or the whole tensor) is taken from one parent,
 * chosen by a seeded draw.
 *
 *   key = tensorKey(seed, tensorName); u = randomUnit(key, g, 0)
 *   g = element index i (granularity "element"), row index floor(i / rowLength) ("row"; a row is
 *       one slice along the first dimension, rowLength = n / shape[0], so a 1-D tensor has rows of
 *       one element), or 0 ("tensor").
 *   The parent is the first p with u < c_p, where c_p = fround(Σ_{q ≤ p} w_q / Σ w) (float64 sums,
 *   rounded to float32 once; the last c is forced to 1). u is a multiple of 2^-24, so the float32
 *   comparison is exact on CPU and GPU. Weights default to equal.
 */
import { streamKey, tensorKey, unitAt } from './prng.ts';
import { weightsOf } from './params.ts';
import type { ParamValues, TensorContext } from './types.ts';

export const CROSSOVER_GRANULARITIES = Object.freeze(['element', 'row', 'tensor'] as const);
export type CrossoverGranularity = (typeof CROSSOVER_GRANULARITIES)[number];

/** The cumulative float32 thresholds c_p (see the header). */
export function crossoverThresholds(weights: readonly number[]): Float32Array {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (!(sum > 0) || weights.some((w) => w < 0))
    throw new Error(`crossover: weights must be non-negative with a positive sum, got [${weights.join(', ')}]`);
  const c = new Float32Array(weights.length);
  let acc = 0;
  for (let p = 0; p < weights.length; p++) {
    acc += weights[p];
    c[p] = acc / sum;
  }
  c[weights.length - 1] = 1;
  return c;
}

export function crossoverPick(u: number, thresholds: Float32Array): number {
  for (let p = 0; p < thresholds.length - 1; p++) if (u < thresholds[p]) return p;
  return thresholds.length - 1;
}

/** Elements per draw unit: 1 (element), the row length (row) or Infinity (tensor). */
export function crossoverUnit(granularity: string, shape: readonly number[]): number {
  switch (granularity) {
    case 'element':
      return 1;
    case 'row': {
      const n = shape.reduce((a, b) => a * b, 1);
      return shape.length >= 2 && shape[0] > 0 ? n / shape[0] : 1;
    }
    case 'tensor':
      return Infinity;
    default:
      throw new Error(`crossover: granularity "${granularity}"; valid: ${CROSSOVER_GRANULARITIES.join(', ')}`);
  }
}

/** Which parent each element (offset + i, i < n) comes from. */
export function crossoverSource(params: ParamValues, ctx: TensorContext, parents: number, n: number): Uint8Array {
  const c = crossoverThresholds(weightsOf(params, 'weights', parents, 1));
  const unit = crossoverUnit(String(params.granularity ?? 'element'), ctx.shape);
  const sk = streamKey(tensorKey(ctx.seed, ctx.name), 0);
  const offset = ctx.offset ?? 0;
  const out = new Uint8Array(n);
  let lastG = -1;
  let pick = 0;
  for (let i = 0; i < n; i++) {
    const g = unit === Infinity ? 0 : unit === 1 ? offset + i : Math.floor((offset + i) / unit);
    if (g !== lastG) {
      pick = crossoverPick(unitAt(sk, g), c);
      lastG = g;
    }
    out[i] = pick;
  }
  return out;
}

export function crossoverCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  const n = inputs[0].length;
  const src = crossoverSource(params, ctx, inputs.length, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = inputs[src[i]][i];
  return out;
}
