/** NearSwap on the GPU: one element-wise pass (nearswap.wgsl), the twin of nearswapCpu. */
import code from './nearswap.wgsl?raw';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { wgslStruct } from '../wgsl-struct.ts';
import type { GpuKernel } from './types.ts';

export class NearswapStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'nearswap', code);
  }
}

export const NearswapParams = wgslStruct('NearswapParams', { t: 'f32' });

export const nearswapGpu: GpuKernel = {
  id: 'nearswap',
  async run(k, src, params, ctx, _op, sink) {
    if (src.parents !== 2) throw new Error(`nearswap takes a base and one model, got ${src.parents} inputs`);
    const job = new TensorJob(k, `nearswap "${ctx.name}"`, src);
    try {
      return await job.elementwise(k.stage(NearswapStage), job.params(NearswapParams, { t: num(params, 't') }), { sink });
    } finally {
      job.dispose();
    }
  },
};
