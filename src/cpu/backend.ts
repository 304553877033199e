/**
 * The optimized CPU backend: operators with a range kernel run split across a CpuPool on shared
 * memory; the others run their single-threaded reference. Same KernelBackend interface as the
 * reference and WebGPU backends, and bit-identical results to the reference.
 */
import type { KernelBackend } from '../core/operators/backend.ts';
import { getFastKernel, hasFastKernel } from '../core/operators/fast/kernels.ts';
import type { OperatorDef, ParamValues, TensorContext } from '../core/operators/types.ts';
import type { CpuPool } from './pool.ts';

export function createFastCpuBackend(pool: CpuPool): KernelBackend {
  return Object.freeze({
    kind: 'cpu' as const,
    adapter: `CPU fast path (${pool.threads} workers on shared memory${pool.arena ? ', WebAssembly SIMD in place' : ''})`,
    software: false,
    async run(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Promise<Float32Array> {
      if (!hasFastKernel(op.id) || getFastKernel(op.id).unsupported?.(params)) return op.cpu(inputs, params, ctx);
      // Inputs are copied into the pool's memory (the arena when it has one) and the output copied
      // out, so the caller owns a plain array and the pool's memory is reused tensor after tensor.
      // The inputs are overwritten whole by the copy, so they skip the zero fill; the output keeps it.
      const ins = inputs.map((x) => {
        const a = pool.alloc(x.length, false);
        a.set(x);
        return a;
      });
      const out = pool.alloc(inputs[0].length);
      try {
        await pool.run(op.id, ins, out, params, ctx);
        return out.slice();
      } finally {
        for (const a of [...ins, out]) pool.free(a);
      }
    },
  });
}
