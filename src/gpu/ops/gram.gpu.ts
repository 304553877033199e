/**
 * What the spherical merges share on the GPU (model_stock, multislerp, karcher, nuslerp): the Gram
 * matrix of the models (or their deltas from a base) by one GPU reduction (float32 workgroup sums,
 * float64 across them; the CPU sums in float64 in element order: src/core/operators/gram.ts), and
 * the pass out = Σ fround(βₖ)·vₖ (+ base) once the host has the coefficients βₖ.
 */
import code from './gram.wgsl?raw';
import { gramFromPairs, gramPairs } from '../../core/operators/gram.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import type { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct } from '../wgsl-struct.ts';
import type { ChunkSink } from '../source.ts';

export class GramStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'gram combine', code);
  }
}

export class GramReduceStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'gram reduction', code, 'reduce', true);
  }
}

export const GramItem = wgslStruct('GramItem', { beta: 'f32', first: 'u32', second: 'u32' });
export const GramParams = wgslStruct('GramParams', { withBase: 'u32', vectors: 'u32', pairCount: 'u32', items: arrayOf(GramItem) });

/** The K×K Gram matrix of the job's vectors (the slabs, or the slabs after the first minus the first). */
export async function gpuGram(k: KernelContext, job: TensorJob, vectors: number, withBase: boolean): Promise<Float64Array> {
  const pairs = gramPairs(vectors);
  const buf = job.params(GramParams, {
    withBase: withBase ? 1 : 0,
    vectors,
    pairCount: pairs.length,
    items: pairs.map(([first, second]) => ({ beta: 0, first, second })),
  });
  const sums = await job.reduce(k.stage(GramReduceStage), buf, { slabs: Math.ceil(pairs.length / 2) });
  return gramFromPairs(vectors, sums.subarray(0, pairs.length));
}

/** out = Σₖ fround(βₖ)·vₖ (+ base): the last pass of every spherical merge. */
export function gpuCombine(
  k: KernelContext,
  job: TensorJob,
  beta: readonly number[],
  withBase: boolean,
  sink?: ChunkSink,
): Promise<Float32Array | null> {
  const buf = job.params(GramParams, {
    withBase: withBase ? 1 : 0,
    vectors: beta.length,
    pairCount: 0,
    items: beta.map((b) => ({ beta: b, first: 0, second: 0 })),
  });
  return job.elementwise(k.stage(GramStage), buf, { sink });
}
