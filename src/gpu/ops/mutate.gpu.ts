/**
 * Bounded mutation on the GPU. The tensor's spread is a required prepared parameter: `std`, as
 * the model pre-pass computes it on the host (tensorStd, float64 in element order; breed always
 * runs that pre-pass). With it the output bytes equal mutateCpu's (same draws, same float32
 * operations). The kernel never estimates std itself: a GPU reduction's sum order differs from
 * the CPU's, and a 1-ULP change in std moves the noise amplitude, which where x + noise nearly
 * cancels is an unbounded number of ULPs in the output.
 */
import code from './mutate.wgsl?raw';
import { num } from '../../core/operators/params.ts';
import { tensorKey } from '../../core/operators/prng.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { wgslStruct } from '../wgsl-struct.ts';
import { firstParents } from '../source.ts';
import type { GpuKernel } from './types.ts';

export class MutateStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'mutate', code);
  }
}

/** The `std` a GPU mutation needs, or a one-line error naming what is missing. */
export function preparedStd(params: Readonly<Record<string, unknown>>, tensor: string): number {
  const std = params.std;
  if (typeof std !== 'number' || !Number.isFinite(std) || std < 0) {
    throw new Error(
      `mutate on the GPU needs the prepared parameter std for "${tensor}" (got ${std === undefined ? 'none' : JSON.stringify(std)}): ` +
        'run it through breed (the model pre-pass computes it) or pass tensorStd(x) from mutate.cpu.ts',
    );
  }
  return std;
}

export const MutateParams = wgslStruct('MutateParams', { amplitude: 'f32', epsilon: 'f32', rate: 'f32' });

export const mutateGpu: GpuKernel = {
  id: 'mutate',
  async run(k, src, params, ctx, _op, sink) {
    const std = preparedStd(params, ctx.name);
    const job = new TensorJob(k, 'mutate', firstParents(src, 1), { key: tensorKey(ctx.seed, ctx.name), indexBase: ctx.offset ?? 0 });
    try {
      const buf = job.params(MutateParams, {
        amplitude: Math.fround(num(params, 'strength') * std * Math.sqrt(3)),
        epsilon: num(params, 'epsilon'),
        rate: num(params, 'rate', 1),
      });
      return await job.elementwise(k.stage(MutateStage), buf, { sink });
    } finally {
      job.dispose();
    }
  },
};
