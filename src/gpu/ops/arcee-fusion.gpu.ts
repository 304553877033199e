/**
 * Arcee Fusion on the GPU: the per-row KL divergences and the threshold (a sort of every importance)
 * on the host by the CPU's own functions; the importances recomputed in the pass (one float32
 * product, so the mask equals the CPU's), then the masked delta added to the base.
 */
import code from './arcee-fusion.wgsl?raw';
import { fusionImportance, fusionKl, fusionRowLength, fusionThreshold } from '../../core/operators/arcee-fusion.cpu.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct } from '../wgsl-struct.ts';
import { readWhole } from '../source.ts';
import type { GpuKernel } from './types.ts';

export class ArceeFusionStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'arcee fusion', code);
  }
}

export const ArceeFusionParams = wgslStruct('ArceeFusionParams', { rowLength: 'u32', threshold: 'f32', kl: arrayOf('f32') });

export const arceeFusionGpu: GpuKernel = {
  id: 'arcee-fusion',
  async run(k, src, _params, ctx, _op, sink) {
    if (src.parents !== 2) throw new Error(`arcee_fusion takes a base and one model, got ${src.parents} inputs`);
    const len = fusionRowLength(ctx.shape, src.length);
    const [base, x] = await readWhole(src);
    const kl = fusionKl(base, x, len);
    const threshold = src.length ? fusionThreshold(fusionImportance(base, x, kl, len)) : 0;
    const job = new TensorJob(k, `arcee fusion "${ctx.name}"`, src);
    try {
      const buf = job.params(ArceeFusionParams, { rowLength: len, threshold, kl });
      return await job.elementwise(k.stage(ArceeFusionStage), buf, { sink });
    } finally {
      job.dispose();
    }
  },
};
