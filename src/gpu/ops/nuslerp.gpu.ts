/**
 * NuSLERP on the GPU: over the whole tensor (nuslerpFlatten) the three sums by the Gram reduction;
 * per vector the sums on the host (nuslerpSums, the CPU's float64). The scalars come from the CPU's
 * own nuslerpTable, then one pass.
 */
import code from './nuslerp.wgsl?raw';
import { nuslerpLayout, nuslerpSums, nuslerpT, nuslerpTable } from '../../core/operators/nuslerp.cpu.ts';
import { weightsOf } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../kernel-context.ts';
import { readWhole } from '../source.ts';
import { gpuGram } from './gram.gpu.ts';
import type { GpuKernel } from './types.ts';

export class NuslerpStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'nuslerp', code);
  }
}

export const nuslerpGpu: GpuKernel = {
  id: 'nuslerp',
  async run(k, src, params, ctx, op, sink) {
    const withBase = op.needsBase;
    if (src.parents !== (withBase ? 3 : 2))
      throw new Error(`nuslerp${withBase ? ' with a base' : ''} takes ${withBase ? 3 : 2} inputs, got ${src.parents}`);
    const t = nuslerpT(weightsOf(params, 'weights', 2, 1));
    const l = nuslerpLayout(ctx.shape, src.length, params);
    const job = k.job(`nuslerp "${ctx.name}"`, src, 0);
    try {
      let sums: ArrayLike<number>;
      if (l.mode === 0) {
        const g = await gpuGram(k, job, 2, withBase);
        sums = [g[1], g[0], g[3]];
      } else {
        const xs = await readWhole(src);
        const base = withBase ? xs[0] : undefined;
        const [v0, v1] = xs.slice(withBase ? 1 : 0).map((x) => (base ? Float32Array.from(x, (v, j) => v - base[j]) : x));
        sums = nuslerpSums(v0, v1, l);
      }
      const table = nuslerpTable(sums, l.count, t);
      const words = new Uint32Array(4 + table.length);
      words.set([l.mode, l.len, withBase ? 1 : 0]);
      words.set(new Uint32Array(table.buffer), 4);
      return await job.elementwise(k.stage(NuslerpStage), job.params('nuslerp scalars', words), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
