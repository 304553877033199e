/**
 * Crossover on the GPU: the same counter-based draw per element, row or tensor as crossoverCpu,
 * with the CPU's float32 cumulative thresholds, so the output bytes are identical.
 */
import code from './crossover.wgsl?raw';
import { crossoverThresholds, crossoverUnit } from '../../core/operators/crossover.cpu.ts';
import { weightsOf } from '../../core/operators/params.ts';
import { tensorKey } from '../../core/operators/prng.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import type { GpuKernel } from './types.ts';

export class CrossoverStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'crossover', code);
  }
}

export const crossoverGpu: GpuKernel = {
  id: 'crossover',
  async run(k, src, params, ctx, _op, sink) {
    const c = crossoverThresholds(weightsOf(params, 'weights', src.parents, 1));
    const unit = crossoverUnit(String(params.granularity ?? 'element'), ctx.shape);
    const mode = unit === Infinity ? 2 : unit === 1 ? 0 : 1;
    const job = k.job('crossover', src, tensorKey(ctx.seed, ctx.name), 1, ctx.offset ?? 0);
    try {
      const words = new Uint32Array([mode, unit === Infinity ? 1 : unit, ...Array.from(c, f32Bits)]);
      return await job.elementwise(k.stage(CrossoverStage), job.params('crossover thresholds', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
