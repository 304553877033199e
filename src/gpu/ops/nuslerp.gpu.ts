/**
 * NuSLERP on the GPU: over the whole tensor (nuslerpFlatten) the three sums by the Gram reduction;
 * per vector the sums on the host (nuslerpSums, the CPU's float64). The scalars come from the CPU's
 * own nuslerpTable, then one pass.
 */
import code from './nuslerp.wgsl?raw';
import { nuslerpLayout, nuslerpSums, nuslerpT, nuslerpTable } from '../../core/operators/nuslerp.cpu.ts';
import { weightsOf } from '../../core/operators/params.ts';
import { ElementwiseStage, type KernelContext } from '../context.ts';
import { readWhole } from '../source.ts';
import { gpuGram } from './gram.gpu.ts';
import type { GpuKernel } from './types.ts';
import { TensorJob } from '../tensor-job.ts';
import { arrayOf, wgslStruct } from '../wgsl-struct.ts';

export class NuslerpStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'nuslerp', code);
  }
}

export const NuslerpVector = wgslStruct('NuslerpVector', { a: 'f32', b: 'f32', s: 'f32', linear: 'f32' });
export const NuslerpParams = wgslStruct('NuslerpParams', { mode: 'u32', len: 'u32', withBase: 'u32', vectors: arrayOf(NuslerpVector) });

export const nuslerpGpu: GpuKernel = {
  id: 'nuslerp',
  async run(k, src, params, ctx, op, sink) {
    const withBase = op.needsBase;
    if (src.parents !== (withBase ? 3 : 2))
      throw new Error(`nuslerp${withBase ? ' with a base' : ''} takes ${withBase ? 3 : 2} inputs, got ${src.parents}`);
    const t = nuslerpT(weightsOf(params, 'weights', 2, 1));
    const l = nuslerpLayout(ctx.shape, src.length, params);
    const job = new TensorJob(k, `nuslerp "${ctx.name}"`, src);
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
      const vectors = Array.from({ length: l.count }, (_, v) => ({
        a: table[4 * v],
        b: table[4 * v + 1],
        s: table[4 * v + 2],
        linear: table[4 * v + 3],
      }));
      const buf = job.params(NuslerpParams, { mode: l.mode, len: l.len, withBase: withBase ? 1 : 0, vectors });
      return await job.elementwise(k.stage(NuslerpStage), buf, { sink });
    } finally {
      job.dispose();
    }
  },
};
