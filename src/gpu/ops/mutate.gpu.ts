/**
 * Bounded mutation on the GPU. With the `std` the model pre-pass supplies, the output bytes
 * equal mutateCpu's (same draws, same float32 operations). Without it the spread comes from a
 * GPU reduction (float32 workgroup sums, float64 across them), which can move the noise
 * amplitude by an ULP.
 */
import code from './mutate.wgsl?raw';
import { num } from '../../core/operators/params.ts';
import { tensorKey } from '../../core/operators/prng.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import { firstParents } from '../source.ts';
import type { GpuOperator } from './types.ts';

export class MutateStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'mutate', code);
  }
}

export class MutateMomentsStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'mutate moments', code, 'reduce', true);
  }
}

export const mutateGpu: GpuOperator = {
  id: 'mutate',
  async run(k, src, params, ctx, _op, sink) {
    const job = k.job('mutate', firstParents(src, 1), tensorKey(ctx.seed, ctx.name), 1, ctx.offset ?? 0);
    try {
      const n = job.plan.total;
      let std: number;
      if (typeof params.std === 'number') std = params.std;
      else if (n === 0) std = 0;
      else {
        const stage = k.stage(MutateMomentsStage);
        const [sum] = await job.reduce(stage, job.params('mutate mean', new Uint32Array(4)), 1);
        const mean = sum / n;
        const [, sq] = await job.reduce(stage, job.params('mutate mean', new Uint32Array([0, 0, 0, f32Bits(mean)])), 1);
        std = Math.sqrt(sq / n);
      }
      const amp = Math.fround(num(params, 'strength') * std * Math.sqrt(3));
      const words = new Uint32Array([f32Bits(amp), f32Bits(num(params, 'epsilon')), f32Bits(num(params, 'rate', 1))]);
      return await job.elementwise(k.stage(MutateStage), job.params('mutate params', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
