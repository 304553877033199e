/**
 * SLERP on the GPU: the dot product and norms by a GPU reduction (float32 workgroup sums, float64
 * across them), the coefficients on the host by the CPU's own slerpFromSums, then one pass.
 */
import code from './slerp.wgsl?raw';
import { slerpFromSums } from '../../core/operators/slerp.cpu.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { wgslStruct } from '../wgsl-struct.ts';
import type { GpuKernel } from './types.ts';

export class SlerpStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'slerp', code);
  }
}

export class SlerpDotsStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'slerp dots', code, 'reduce', true);
  }
}

export const SlerpParams = wgslStruct('SlerpParams', { s0: 'f32', s1: 'f32' });

export const slerpGpu: GpuKernel = {
  id: 'slerp',
  async run(k, src, params, _ctx, _op, sink) {
    if (src.parents !== 2) throw new Error(`slerp takes 2 parents, got ${src.parents}`);
    const job = new TensorJob(k, 'slerp', src);
    try {
      const sums = await job.reduce(k.stage(SlerpDotsStage), job.params(SlerpParams, { s0: 0, s1: 0 }), { slabs: 2 });
      const { s0, s1 } = slerpFromSums(sums[0], sums[2], sums[3], num(params, 't'));
      return await job.elementwise(k.stage(SlerpStage), job.params(SlerpParams, { s0, s1 }), { sink });
    } finally {
      job.dispose();
    }
  },
};
