/**
 * Per-tensor reductions of the range kernels, in passes that a CpuPool splits across its workers
 * (src/cpu/pool.ts) or that run on one thread (reduceLocally).
 */
import type { ParamValues, TensorContext } from '../types.ts';

/**
 * A per-tensor reduction in passes: start, then (partial per part → merge) until merge gives
 * parameters. A pass is split by range (each part one contiguous range) or, for sums that must
 * run in element order to stay exact, by parent (`split: 'parents'`: each part the whole tensor
 * for parents index, index + count, …).
 */
export interface ReducePlan {
  start(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): ReduceStep;
  /** One part's partial result of pass `pass` (structured-cloneable). */
  partial(
    pass: number,
    carry: unknown,
    inputs: readonly Float32Array[],
    params: ParamValues,
    ctx: TensorContext,
    start: number,
    end: number,
    part: ReducePart,
  ): unknown;
  /** Combine the partials of pass `pass`, given in part order with their ranges. */
  merge(
    pass: number,
    carry: unknown,
    partials: unknown[],
    ranges: readonly (readonly [number, number])[],
    inputs: readonly Float32Array[],
    params: ParamValues,
    ctx: TensorContext,
  ): ReduceStep;
}
/** How the next pass is split: by range (the default), by parent, or not at all (one worker, the whole tensor in order). */
export type ReduceStep = { carry: unknown; split?: 'ranges' | 'parents' | 'whole' } | { params: ParamValues };
export interface ReducePart {
  index: number;
  count: number;
}

/** A reduce plan run on the calling thread, as one part: the parameters it derives. */
export function reduceLocally(plan: ReducePlan, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): ParamValues {
  const n = inputs[0]?.length ?? 0;
  let step = plan.start(inputs, params, ctx);
  for (let pass = 0; 'carry' in step; pass++) {
    const partial = plan.partial(pass, step.carry, inputs, params, ctx, 0, n, { index: 0, count: 1 });
    step = plan.merge(pass, step.carry, [partial], [[0, n]], inputs, params, ctx);
  }
  return step.params;
}
