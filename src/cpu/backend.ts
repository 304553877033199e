/**
 * The optimized CPU backend: operators with a range kernel run split across a CpuPool on shared
 * memory; the others run their single-threaded reference. Same KernelBackend interface as the
 * reference and WebGPU backends, and bit-identical results to the reference.
 */
import type { KernelBackend } from '../core/operators/backend.ts';
import { getFastKernel, hasFastKernel } from '../core/operators/fast/kernels.ts';
import type { OperatorDef, ParamValues, TensorContext } from '../core/operators/types.ts';
import { isShared, type CpuPool } from './pool.ts';

export function createFastCpuBackend(pool: CpuPool): KernelBackend {
  const fast = (op: OperatorDef, params: ParamValues) => hasFastKernel(op.id) && !getFastKernel(op.id).unsupported?.(params);
  /**
   * The kernel on the pool with its output in the pool's memory. Inputs already there (a file
   * source's reads into the arena) are used in place; the others are copied in, skipping the zero
   * fill (the copy overwrites them whole), and freed after. The output skips it too: every range
   * kernel writes each element of its range (the bench checks each kernel against the reference in
   * one output array reused from operator to operator; the kernel tests fill theirs with NaN).
   */
  const runPooled = async (op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext) => {
    const copies: Float32Array[] = [];
    const ins = inputs.map((x) => {
      if (pool.arena?.has(x)) return x;
      const a = pool.alloc(x.length, false);
      a.set(x);
      copies.push(a);
      return a;
    });
    const out = pool.alloc(inputs[0].length, false);
    try {
      await pool.run(op.id, ins, out, params, ctx);
      return out;
    } catch (e) {
      pool.free(out);
      throw e;
    } finally {
      for (const a of copies) pool.free(a);
    }
  };
  return Object.freeze({
    kind: 'cpu' as const,
    adapter: `CPU fast path (${pool.threads} workers on shared memory${pool.arena ? ', WebAssembly SIMD in place' : ''})`,
    software: false,
    async run(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Promise<Float32Array> {
      if (!fast(op, params)) return op.cpu(inputs, params, ctx);
      // The output is copied out, so the caller owns a plain array and the pool's memory is reused tensor after tensor.
      const out = await runPooled(op, inputs, params, ctx);
      try {
        return out.slice();
      } finally {
        pool.free(out);
      }
    },
    chunkStats(before: Float32Array, after: Float32Array, sq: number) {
      return isShared(before) && isShared(after) ? pool.stats(before, after, sq) : null;
    },
    async runLent(op: OperatorDef, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext) {
      if (!fast(op, params)) return { out: op.cpu(inputs, params, ctx), give: () => undefined };
      const out = await runPooled(op, inputs, params, ctx);
      let given = false;
      return {
        out,
        give: () => {
          if (given) return;
          given = true;
          pool.free(out);
        },
      };
    },
  });
}
