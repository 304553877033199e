/** Multi-SLERP on the GPU: the Gram matrix by a reduction, the coefficients on the host by the CPU's own multislerpCoefficients, then one pass. */
import { multislerpCoefficients } from '../../core/operators/multislerp.cpu.ts';
import { num, weightsOf } from '../../core/operators/params.ts';
import { gpuCombine, gpuGram } from './gram.gpu.ts';
import { TensorJob } from '../tensor-job.ts';
import type { GpuKernel } from './types.ts';

export const multislerpGpu: GpuKernel = {
  id: 'multislerp',
  async run(k, src, params, ctx, op, sink) {
    const withBase = op.needsBase;
    const K = src.parents - (withBase ? 1 : 0);
    if (K < 2) throw new Error(`multislerp needs at least two models${withBase ? ' besides the base' : ''}`);
    const job = new TensorJob(k, `multislerp "${ctx.name}"`, src);
    try {
      const g = await gpuGram(k, job, K, withBase);
      const { beta } = multislerpCoefficients(
        g,
        weightsOf(params, 'weights', K, 1),
        params.normalizeWeights !== false,
        num(params, 'eps', 1e-8),
      );
      return await gpuCombine(k, job, beta, withBase, sink);
    } finally {
      job.dispose();
    }
  },
};
