/** NearSwap on the GPU: one element-wise pass (nearswap.wgsl), the twin of nearswapCpu. */
import code from './nearswap.wgsl?raw';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import type { GpuKernel } from './types.ts';

export class NearswapStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'nearswap', code);
  }
}

export const nearswapGpu: GpuKernel = {
  id: 'nearswap',
  async run(k, src, params, ctx, _op, sink) {
    if (src.parents !== 2) throw new Error(`nearswap takes a base and one model, got ${src.parents} inputs`);
    const job = k.job(`nearswap "${ctx.name}"`, src, 0);
    try {
      return await job.elementwise(
        k.stage(NearswapStage),
        job.params('nearswap t', new Uint32Array([f32Bits(num(params, 't'))])),
        0,
        0,
        undefined,
        sink,
      );
    } finally {
      job.dispose();
    }
  },
};
