/**
 * SCE on the GPU. The selection by variance (selectTopk < 1) is made on the host by the CPU's own
 * sceSelection (float64 variances, exact top-k) and passed as a bitmap, so the kept elements are the
 * CPU's bit for bit; the models' mean squared deltas by a reduction, the weights by the CPU's
 * sceWeights, then one pass for the sign election and the agreeing mean.
 */
import code from './sce.wgsl?raw';
import { sceKeepBits, sceSelection, sceWeights } from '../../core/operators/sce.cpu.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, f32Bits, wgslStruct } from '../wgsl-struct.ts';
import { readWhole } from '../source.ts';
import type { GpuKernel } from './types.ts';

export class SceStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'sce', code);
  }
}

export class SceSquaresStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'sce squares', code, 'reduce', true);
  }
}

export const SceParams = wgslStruct('SceParams', { models: 'u32', masked: 'u32', data: arrayOf('u32') });

/** SceParams.data: the weights' bits, then the keep bitmap. */
function sceData(weights: readonly number[], bitmap: Uint32Array): Uint32Array {
  const data = new Uint32Array(weights.length + bitmap.length);
  data.set(weights.map(f32Bits));
  data.set(bitmap, weights.length);
  return data;
}

export const sceGpu: GpuKernel = {
  id: 'sce',
  async run(k, src, params, ctx, _op, sink) {
    const P = src.parents - 1;
    if (P < 1) throw new Error('sce needs a base and at least one model');
    const selectTopk = num(params, 'selectTopk', 1);
    let bitmap: Uint32Array = new Uint32Array(0);
    if (selectTopk < 1) {
      const [base, ...xs] = await readWhole(src);
      const sel = sceSelection(
        xs.map((x) => Float32Array.from(x, (v, j) => v - base[j])),
        selectTopk,
      )!;
      bitmap = sceKeepBits(sel);
    }
    const masked = selectTopk < 1 ? 1 : 0;
    const job = new TensorJob(k, `sce "${ctx.name}"`, src);
    try {
      const squares = job.params(SceParams, { models: P, masked, data: sceData(new Array<number>(P).fill(0), bitmap) });
      const sums = await job.reduce(k.stage(SceSquaresStage), squares, { slabs: P });
      const weights = sceWeights(
        Array.from({ length: P }, (_, p) => sums[2 * p]),
        src.length,
      );
      return await job.elementwise(k.stage(SceStage), job.params(SceParams, { models: P, masked, data: sceData(weights, bitmap) }), {
        sink,
      });
    } finally {
      job.dispose();
    }
  },
};
