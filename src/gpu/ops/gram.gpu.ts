/**
 * What the spherical merges share on the GPU (model_stock, multislerp, karcher, nuslerp): the Gram
 * matrix of the models (or their deltas from a base) by one GPU reduction (float32 workgroup sums,
 * float64 across them; the CPU sums in float64 in element order: src/core/operators/gram.ts), and
 * the pass out = Σ fround(βₖ)·vₖ (+ base) once the host has the coefficients βₖ.
 */
import code from './gram.wgsl?raw';
import { gramFromPairs, gramPairs } from '../../core/operators/gram.ts';
import { ElementwiseStage, f32Bits, type KernelContext, type TensorJob } from '../kernel-context.ts';
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

/** The K×K Gram matrix of the job's vectors (the slabs, or the slabs after the first minus the first). */
export async function gpuGram(k: KernelContext, job: TensorJob, vectors: number, withBase: boolean): Promise<Float64Array> {
  const pairs = gramPairs(vectors);
  const words = new Uint32Array(4 + 2 * pairs.length);
  words.set([withBase ? 1 : 0, vectors, pairs.length]);
  pairs.forEach(([i, j], m) => words.set([i, j], 4 + 2 * m));
  const sums = await job.reduce(k.stage(GramReduceStage), job.params('gram pairs', words), Math.ceil(pairs.length / 2));
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
  const words = new Uint32Array(4 + beta.length);
  words.set([withBase ? 1 : 0, beta.length]);
  beta.forEach((b, i) => (words[4 + i] = f32Bits(b)));
  return job.elementwise(k.stage(GramStage), job.params('gram coefficients', words), 0, 0, undefined, sink);
}
