/**
 * SLERP on the GPU: the dot product and norms by a GPU reduction (float32 workgroup sums, float64
 * across them), the coefficients on the host with the CPU's formula, then one pass.
 */
import code from './slerp.wgsl?raw';
import { SLERP_DOT_THRESHOLD } from '../../core/operators/slerp.cpu.ts';
import { num } from '../../core/operators/params.ts';
import { ElementwiseStage, f32Bits, type KernelContext } from '../kernel-context.ts';
import type { GpuOperator } from './types.ts';

export class SlerpStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'slerp', code);
  }
}

export class SlerpDotsStage extends ElementwiseStage {
  constructor(k: KernelContext) {
    super(k, 'slerp dots', code, 'reduce', true);
  }
}

/** slerpCoefficients (slerp.cpu.ts) from the sums d = Σv0·v1, a = Σv0², b = Σv1². */
export function slerpFromSums(d: number, a: number, b: number, t: number): { s0: number; s1: number } {
  const denom = Math.sqrt(a) * Math.sqrt(b);
  const dot = denom > 0 ? d / denom : 1;
  if (!(denom > 0) || Math.abs(dot) > SLERP_DOT_THRESHOLD) return { s0: 1 - t, s1: t };
  const theta = Math.acos(dot);
  const sin = Math.sin(theta);
  return { s0: Math.sin((1 - t) * theta) / sin, s1: Math.sin(t * theta) / sin };
}

export const slerpGpu: GpuOperator = {
  id: 'slerp',
  async run(k, src, params, _ctx, _op, sink) {
    if (src.parents !== 2) throw new Error(`slerp takes 2 parents, got ${src.parents}`);
    const job = k.job('slerp', src, 0);
    try {
      const sums = await job.reduce(k.stage(SlerpDotsStage), job.params('slerp none', new Uint32Array(4)), 2);
      const { s0, s1 } = slerpFromSums(sums[0], sums[2], sums[3], num(params, 't'));
      return await job.elementwise(k.stage(SlerpStage), job.params('slerp coefficients', new Uint32Array([f32Bits(s0), f32Bits(s1)])), 0, 0, undefined, sink);
    } finally {
      job.dispose();
    }
  },
};
