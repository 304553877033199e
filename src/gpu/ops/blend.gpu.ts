/**
 * The blend kernel: out = Σ wₚ·xₚ / divisor in parent order. The weights and divisor come from
 * the operator's declaration (`kernel.weights`: blend's weights and their sum, soup's
 * uniform/weighted/seeded ones), the same f32 values the CPU reference uses. Differs from the CPU
 * only where the shader compiler fuses a multiply-add or WGSL's division (2.5 ULP) rounds apart.
 */
import code from './blend.wgsl?raw';
import { tensorKey } from '../../core/operators/prng.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct } from '../wgsl-struct.ts';
import type { GpuKernel } from './types.ts';

export class BlendStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'blend', code);
  }
}

export const BlendParams = wgslStruct('BlendParams', { divisor: 'f32', weights: arrayOf('f32') });

export const blendGpu: GpuKernel = {
  id: 'blend',
  async run(k, src, params, ctx, op, sink) {
    if (op.kernel?.id !== 'blend') throw new Error(`${op.id}: the operator declares no blend weights for the blend kernel`);
    const { weights, divisor } = op.kernel.weights(params, src.parents, ctx.seed);
    const job = new TensorJob(k, op.id, src, { key: tensorKey(ctx.seed, ctx.name) });
    try {
      return await job.elementwise(k.stage(BlendStage), job.params(BlendParams, { divisor, weights }), { sink });
    } finally {
      job.dispose();
    }
  },
};
