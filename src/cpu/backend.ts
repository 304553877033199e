/**
 * The optimized CPU backend: operators with a range kernel run split across a CpuPool on shared
 * memory; the others run their single-threaded reference. Same KernelBackend interface as the
 * reference and WebGPU backends, and bit-identical results to the reference.
 */
import type { KernelBackend } from '../core/operators/backend.ts';
import { hasFastKernel } from '../core/operators/fast/kernels.ts';
import type { OperatorDef, ParamValues, TensorContext } from '../core/operators/types.ts';
import { sharedF32, toShared, type CpuPool } from './pool.ts';

export function createFastCpuBackend(pool: CpuPool): KernelBackend {
  return Object.freeze({
    kind: 'cpu' as const,
    adapter: `CPU fast path (JavaScript, ${pool.threads} workers, SharedArrayBuffer)`,
    software: false,
    async run(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Promise<Float32Array> {
      if (!hasFastKernel(op.id)) return op.cpu(inputs, params, ctx);
      const out = sharedF32(inputs[0].length);
      await pool.run(op.id, inputs.map(toShared), out, params, ctx);
      return out;
    },
  });
}
