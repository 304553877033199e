/**
 * Magnitude pruning on the GPU: the exact bottom-m cutoff by radix select (radix-select.ts), then
 * one pass that zeroes the pruned elements. A selection only, so the bytes equal pruneCpu's.
 */
import code from './prune.wgsl?raw';
import { pruneCount } from '../../core/operators/select.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { TensorJob } from '../tensor-job.ts';
import { wgslStruct } from '../wgsl-struct.ts';
import { radixSelect } from '../radix-select.ts';
import { firstParents } from '../source.ts';
import type { GpuKernel } from './types.ts';

export class PruneStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'prune', code);
  }
}

export const PruneParams = wgslStruct('PruneParams', { cutoffBits: 'u32', cutoffIndex: 'u32' });

export const pruneGpu: GpuKernel = {
  id: 'prune',
  async run(k, src, params, _ctx, _op, sink) {
    const job = new TensorJob(k, 'prune', firstParents(src, 1));
    try {
      const m = pruneCount(num(params, 'fraction'), job.plan.total);
      const [c] = await radixSelect(job, [{ parent: 0, k: m, order: 'bottom' }]);
      const buf = job.params(PruneParams, { cutoffBits: c.bits, cutoffIndex: c.index });
      return await job.elementwise(k.stage(PruneStage), buf, { sink });
    } finally {
      job.dispose();
    }
  },
};
