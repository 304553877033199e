/**
 * Crossover on the GPU: the same counter-based draw per element, row or tensor as crossoverCpu,
 * with the CPU's float32 cumulative thresholds, so the output bytes are identical.
 */
import code from './crossover.wgsl?raw';
import { crossoverThresholds, crossoverUnit } from '../../core/operators/crossover.cpu.ts';
import { weightsOf } from '../../core/operators/params.ts';
import { tensorKey } from '../../core/operators/prng.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct } from '../wgsl-struct.ts';
import type { GpuKernel } from './types.ts';

export class CrossoverStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'crossover', code);
  }
}

export const CrossoverParams = wgslStruct('CrossoverParams', { granularity: 'u32', rowLength: 'u32', thresholds: arrayOf('f32') });

export const crossoverGpu: GpuKernel = {
  id: 'crossover',
  async run(k, src, params, ctx, _op, sink) {
    const c = crossoverThresholds(weightsOf(params, 'weights', src.parents, 1));
    const unit = crossoverUnit(String(params.granularity ?? 'element'), ctx.shape);
    const job = new TensorJob(k, 'crossover', src, { key: tensorKey(ctx.seed, ctx.name), indexBase: ctx.offset ?? 0 });
    try {
      const granularity = unit === Infinity ? 2 : unit === 1 ? 0 : 1;
      const buf = job.params(CrossoverParams, { granularity, rowLength: unit === Infinity ? 1 : unit, thresholds: c });
      return await job.elementwise(k.stage(CrossoverStage), buf, { sink });
    } finally {
      job.dispose();
    }
  },
};
