/**
 * Model Stock on the GPU: over the whole tensor, the Gram matrix of the offsets by a reduction and
 * t on the host by the CPU's own modelStockRatio; with filterWise, the per-row ratios on the host
 * (modelStockRatios, the CPU's float64 sums). Then one pass.
 */
import code from './model-stock.wgsl?raw';
import { modelStockRatio, modelStockRatios, modelStockRowLength } from '../../core/operators/model-stock.cpu.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import { readWhole } from '../source.ts';
import { gpuGram } from './gram.gpu.ts';
import type { GpuKernel } from './types.ts';

export class ModelStockStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'model stock', code);
  }
}

export const modelStockGpu: GpuKernel = {
  id: 'model-stock',
  async run(k, src, params, ctx, _op, sink) {
    const N = src.parents - 1;
    if (N < 2) throw new Error(`model_stock needs a base and at least two models, got ${src.parents} inputs`);
    const len = modelStockRowLength(ctx.shape, src.length, params.filterWise === true);
    const job = k.job(`model stock "${ctx.name}"`, src, 0);
    try {
      const t =
        len >= src.length
          ? Float32Array.of(modelStockRatio(await gpuGram(k, job, N, true), N, ctx.name))
          : modelStockRatios(await readWhole(src), len, ctx.name);
      const words = new Uint32Array(4 + t.length);
      words[0] = len;
      t.forEach((x, r) => (words[4 + r] = f32Bits(x)));
      return await job.elementwise(k.stage(ModelStockStage), job.params('model stock ratios', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
