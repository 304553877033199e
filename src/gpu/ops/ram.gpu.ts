/**
 * RAM and RAM+ on the GPU (one kernel: ram is r = 0). RAM+ counts each model's shared and unique
 * changes by a reduction (exact: whole counts), λ on the host by the CPU's own ramLambdas, then one pass.
 */
import code from './ram.wgsl?raw';
import { ramLambdas } from '../../core/operators/ram.cpu.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct } from '../wgsl-struct.ts';
import type { GpuKernel } from './types.ts';

export class RamStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'ram', code);
  }
}

export class RamCountsStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'ram counts', code, 'reduce', true);
  }
}

export const RamParams = wgslStruct('RamParams', { epsilon: 'f32', models: 'u32', lambda: arrayOf('f32') });

export const ramGpu: GpuKernel = {
  id: 'ram',
  async run(k, src, params, ctx, _op, sink) {
    const P = src.parents - 1;
    if (P < 1) throw new Error('ram needs a base and at least one model');
    const epsilon = num(params, 'epsilon', 1e-5);
    const r = num(params, 'r', 0);
    let lambda: readonly number[] = new Array<number>(P).fill(1);
    const job = new TensorJob(k, `ram "${ctx.name}"`, src);
    try {
      if (r !== 0) {
        const counts = job.params(RamParams, { epsilon, models: P, lambda });
        const sums = await job.reduce(k.stage(RamCountsStage), counts, { slabs: P });
        const shared = Array.from({ length: P }, (_, p) => sums[2 * p]);
        const unique = Array.from({ length: P }, (_, p) => sums[2 * p + 1]);
        lambda = ramLambdas(shared, unique, r, num(params, 'alpha', 0.2), epsilon);
      }
      return await job.elementwise(k.stage(RamStage), job.params(RamParams, { epsilon, models: P, lambda }), { sink });
    } finally {
      job.dispose();
    }
  },
};
