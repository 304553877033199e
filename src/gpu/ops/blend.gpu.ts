/**
 * blend on the GPU: out = Σ wₚ·xₚ in parent order, weights from the CPU's blendWeights so both
 * sides multiply by the same f32 weights. Differs from blendCpu only where the shader compiler
 * fuses a multiply-add (at most one rounding per parent).
 */
import code from './blend.wgsl?raw';
import { blendWeights } from '../../core/operators/blend.cpu.ts';
import { tensorKey } from '../../core/operators/prng.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import type { GpuOperator } from './types.ts';

export class BlendStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'blend', code);
  }
}

export const blendGpu: GpuOperator = {
  id: 'blend',
  async run(k, src, params, ctx, _op, sink) {
    const w = blendWeights(params, src.parents);
    const job = k.job('blend', src, tensorKey(ctx.seed, ctx.name));
    try {
      const words = Uint32Array.from(w, f32Bits);
      return await job.elementwise(k.stage(BlendStage), job.params('blend weights', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
