/**
 * Magnitude pruning on the GPU: the exact bottom-m cutoff by radix select (KernelContext), then
 * one pass that zeroes the pruned elements. A selection only, so the bytes equal pruneCpu's.
 */
import code from './prune.wgsl?raw';
import { pruneCount } from '../../core/operators/select.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../kernel-context.ts';
import { firstParents } from '../source.ts';
import type { GpuKernel } from './types.ts';

export class PruneStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'prune', code);
  }
}

export const pruneGpu: GpuKernel = {
  id: 'prune',
  async run(k, src, params, _ctx, _op, sink) {
    const job = k.job('prune', firstParents(src, 1), 0);
    try {
      const m = pruneCount(num(params, 'fraction'), job.plan.total);
      const [c] = await job.select([{ parent: 0, k: m, order: 'bottom' }]);
      return await job.elementwise(
        k.stage(PruneStage),
        job.params('prune cutoff', new Uint32Array([c.bits, c.index])),
        0,
        0,
        undefined,
        sink,
      );
    } finally {
      job.dispose();
    }
  },
};
