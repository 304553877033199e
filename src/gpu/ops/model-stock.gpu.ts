/**
 * Model Stock on the GPU: over the whole tensor, the Gram matrix of the offsets by a reduction and
 * t on the host by the CPU's own modelStockRatio; with filterWise, the per-row ratios on the host
 * (modelStockRatios, the CPU's float64 sums). Then one pass.
 */
import code from './model-stock.wgsl?raw';
import { modelStockRatio, modelStockRatios, modelStockRowLength } from '../../core/operators/model-stock.cpu.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct } from '../wgsl-struct.ts';
import { readWhole } from '../source.ts';
import { gpuGram } from './gram.gpu.ts';
import type { GpuKernel } from './types.ts';

export class ModelStockStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'model stock', code);
  }
}

export const ModelStockParams = wgslStruct('ModelStockParams', { rowLength: 'u32', ratios: arrayOf('f32') });

export const modelStockGpu: GpuKernel = {
  id: 'model-stock',
  async run(k, src, params, ctx, _op, sink) {
    const N = src.parents - 1;
    if (N < 2) throw new Error(`model_stock needs a base and at least two models, got ${src.parents} inputs`);
    const len = modelStockRowLength(ctx.shape, src.length, params.filterWise === true);
    const job = new TensorJob(k, `model stock "${ctx.name}"`, src);
    try {
      const t =
        len >= src.length
          ? Float32Array.of(modelStockRatio(await gpuGram(k, job, N, true), N, ctx.name))
          : modelStockRatios(await readWhole(src), len, ctx.name);
      const buf = job.params(ModelStockParams, { rowLength: len, ratios: t });
      return await job.elementwise(k.stage(ModelStockStage), buf, { sink });
    } finally {
      job.dispose();
    }
  },
};
