/**
 * RAM and RAM+ on the GPU (one kernel: ram is r = 0). RAM+ counts each model's shared and unique
 * changes by a reduction (exact: whole counts), λ on the host by the CPU's own ramLambdas, then one pass.
 */
import code from './ram.wgsl?raw';
import { ramLambdas } from '../../core/operators/ram.cpu.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import type { GpuKernel } from './types.ts';

export class RamStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'ram', code);
  }
}

export class RamCountsStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'ram counts', code, 'reduce', true);
  }
}

export const ramGpu: GpuKernel = {
  id: 'ram',
  async run(k, src, params, ctx, _op, sink) {
    const P = src.parents - 1;
    if (P < 1) throw new Error('ram needs a base and at least one model');
    const epsilon = num(params, 'epsilon', 1e-5);
    const r = num(params, 'r', 0);
    const words = new Uint32Array(4 + P);
    words.set([f32Bits(epsilon), P]);
    words.fill(f32Bits(1), 4);
    const job = k.job(`ram "${ctx.name}"`, src, 0);
    try {
      if (r !== 0) {
        const sums = await job.reduce(k.stage(RamCountsStage), job.params('ram count params', words), P);
        const shared = Array.from({ length: P }, (_, p) => sums[2 * p]);
        const unique = Array.from({ length: P }, (_, p) => sums[2 * p + 1]);
        ramLambdas(shared, unique, r, num(params, 'alpha', 0.2), epsilon).forEach((l, p) => (words[4 + p] = f32Bits(l)));
      }
      return await job.elementwise(k.stage(RamStage), job.params('ram params', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
