/** The Karcher mean on the GPU: the Gram matrix by a reduction, every iteration on the host by the CPU's own karcherCoefficients, then one pass. */
import { karcherCoefficients } from '../../core/operators/karcher.cpu.ts';
import { num } from '../../core/operators/params.ts';
import { gpuCombine, gpuGram } from './gram.gpu.ts';
import { TensorJob } from '../tensor-job.ts';
import type { GpuKernel } from './types.ts';

export const karcherGpu: GpuKernel = {
  id: 'karcher',
  async run(k, src, params, ctx, _op, sink) {
    const K = src.parents;
    if (K < 2) throw new Error(`karcher needs at least two models, got ${K}`);
    const job = new TensorJob(k, `karcher "${ctx.name}"`, src);
    try {
      const g = await gpuGram(k, job, K, false);
      const { beta, iterations } = karcherCoefficients(g, K, num(params, 'maxIter', 10), num(params, 'tol', 1e-5));
      if (ctx.stats) ctx.stats.iterations = iterations;
      return await gpuCombine(k, job, beta, false, sink);
    } finally {
      job.dispose();
    }
  },
};
