/**
 * Parent-pool soup on the GPU: the soup's weights (uniform, weighted or seeded, soup.cpu.ts)
 * normalised as blend normalises them, then the blend kernel.
 */
import { blendWeights } from '../../core/operators/blend.cpu.ts';
import { soupWeights } from '../../core/operators/soup.cpu.ts';
import { f32Bits } from '../kernel-context.ts';
import { BlendStage } from './blend.gpu.ts';
import type { GpuOperator } from './types.ts';

export const soupGpu: GpuOperator = {
  id: 'soup',
  async run(k, src, params, ctx, _op, sink) {
    const w = blendWeights({ weights: soupWeights(params, src.parents, ctx.seed), normalize: true }, src.parents);
    const job = k.job('soup', src, 0);
    try {
      return await job.elementwise(k.stage(BlendStage), job.params('soup weights', Uint32Array.from(w, f32Bits)), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
