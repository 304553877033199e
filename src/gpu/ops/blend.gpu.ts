/**
 * The blend kernel: out = Σ wₚ·xₚ in parent order. The weights come from the operator's
 * declaration (`blendWeights`: blend's normalised weights, soup's uniform/weighted/seeded ones),
 * the same f32 weights the CPU reference multiplies by. Differs from the CPU only where the
 * shader compiler fuses a multiply-add (at most one rounding per parent).
 */
import code from './blend.wgsl?raw';
import { tensorKey } from '../../core/operators/prng.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import type { GpuKernel } from './types.ts';

export class BlendStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'blend', code);
  }
}

export const blendGpu: GpuKernel = {
  id: 'blend',
  async run(k, src, params, ctx, op, sink) {
    if (!op.blendWeights) throw new Error(`${op.id}: the operator declares no blendWeights for the blend kernel`);
    const w = op.blendWeights(params, src.parents, ctx.seed);
    const job = k.job(op.id, src, tensorKey(ctx.seed, ctx.name));
    try {
      const words = Uint32Array.from(w, f32Bits);
      return await job.elementwise(k.stage(BlendStage), job.params('blend weights', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
