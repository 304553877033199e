/**
 * SCE on the GPU. The selection by variance (selectTopk < 1) is made on the host by the CPU's own
 * sceSelection (float64 variances, exact top-k) and passed as a bitmap, so the kept elements are the
 * CPU's bit for bit; the models' mean squared deltas by a reduction, the weights by the CPU's
 * sceWeights, then one pass for the sign election and the agreeing mean.
 */
import code from './sce.wgsl?raw';
import { sceKeepBits, sceSelection, sceWeights } from '../../core/operators/sce.cpu.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
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
    const words = new Uint32Array(4 + P + bitmap.length);
    words.set([P, selectTopk < 1 ? 1 : 0]);
    words.set(bitmap, 4 + P);
    const job = k.job(`sce "${ctx.name}"`, src, 0);
    try {
      const sums = await job.reduce(k.stage(SceSquaresStage), job.params('sce square params', words), P);
      sceWeights(
        Array.from({ length: P }, (_, p) => sums[2 * p]),
        src.length,
      ).forEach((w, p) => (words[4 + p] = f32Bits(w)));
      return await job.elementwise(k.stage(SceStage), job.params('sce params', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
