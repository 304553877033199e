/**
 * Range kernels: the optimized CPU path. Each computes out[start, end) of one operator from its
 * inputs, so a tensor can be split across workers that share its memory (SharedArrayBuffer).
 * A range kernel must give results bit-identical to the operator's CPU reference (the oracle in
 * src/core/operators/*.cpu.ts); src/cpu/fast.test.ts checks this on seeded random inputs.
 *
 * Only operators whose output element i depends on input element i alone (or on its row, as
 * DELLA's ranks), given parameters computed once per tensor (TIES's top-k cutoffs: `prepare` on
 * one thread, or `reduce` in passes across the pool), get a range kernel; the rest run their
 * reference on the whole tensor.
 */
import type { ParamValues, TensorContext } from '../types.ts';
import { blendWeights } from '../blend.cpu.ts';
import { listOperators } from '../registry.ts';
import { FAST_SPARSIFY, taskArithmeticKernel } from './task-arithmetic.ts';
import { ELEMENTWISE_KERNELS } from './elementwise.ts';
import { PRUNE_KERNEL } from './prune.ts';
import { ARCEE_FUSION_KERNEL } from './fusion.ts';
import { soupWeights } from '../soup.cpu.ts';
import type { ReducePlan } from './reduce.ts';

export { reduceLocally, type ReducePart, type ReducePlan, type ReduceStep } from './reduce.ts';

export interface RangeKernel {
  readonly id: string;
  /** Bytes moved per output element, per input (reads) plus the output (write), for bandwidth figures. */
  bytesPerElement(inputs: number): number;
  /** Why these parameters need the reference instead (null: the range kernel handles them). */
  unsupported?(params: ParamValues): string | null;
  /**
   * Per-tensor work done once on the calling thread before the tensor is split (e.g. TIES's exact
   * top-k cutoffs); its values are merged over the parameters every range receives.
   */
  prepare?(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): ParamValues;
  /**
   * The same work as prepare, split across the pool's workers in passes (each worker reduces its
   * range, the calling thread merges): used for tensors large enough to split.
   */
  reduce?: ReducePlan;
  /** Compute out[start, end). May return per-range counts (e.g. signConflicts) that the pool sums into ctx.stats. */
  run(
    inputs: readonly Float32Array[],
    out: Float32Array,
    params: ParamValues,
    ctx: TensorContext,
    start: number,
    end: number,
  ): void | Record<string, number>;
}

const f = Math.fround;
/** Elements per block in the general N-parent loop: the output block stays in L1/L2 across parents. */
const BLOCK = 8192;

function copyRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  _p: ParamValues,
  _c: TensorContext,
  start: number,
  end: number,
): void {
  out.set(inputs[0].subarray(start, end), start);
}

/**
 * blend, one pass over memory: the reference accumulates fround(acc + fround(wₚ·xₚ)) parent by
 * parent starting from +0 and divides once by the divisor (x / 1 is x); this does the same
 * operations in the same order per element, so the bits agree (including −0 becoming +0).
 */
function blendRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  _c: TensorContext,
  start: number,
  end: number,
): void {
  const { weights: w, divisor: dv } = blendWeights(params, inputs.length);
  switch (inputs.length) {
    case 2: {
      const a = inputs[0],
        b = inputs[1];
      const wa = w[0],
        wb = w[1];
      for (let i = start; i < end; i++) out[i] = f(f(0 + f(wa * a[i])) + f(wb * b[i])) / dv;
      return;
    }
    case 3: {
      const a = inputs[0],
        b = inputs[1],
        c = inputs[2];
      const wa = w[0],
        wb = w[1],
        wc = w[2];
      for (let i = start; i < end; i++) out[i] = f(f(f(0 + f(wa * a[i])) + f(wb * b[i])) + f(wc * c[i])) / dv;
      return;
    }
    case 4: {
      const a = inputs[0],
        b = inputs[1],
        c = inputs[2],
        d = inputs[3];
      const wa = w[0],
        wb = w[1],
        wc = w[2],
        wd = w[3];
      for (let i = start; i < end; i++) out[i] = f(f(f(f(0 + f(wa * a[i])) + f(wb * b[i])) + f(wc * c[i])) + f(wd * d[i])) / dv;
      return;
    }
    default: {
      for (let s = start; s < end; s += BLOCK) {
        const e = Math.min(end, s + BLOCK);
        const x0 = inputs[0],
          w0 = w[0];
        for (let i = s; i < e; i++) out[i] = f(0 + f(w0 * x0[i]));
        for (let p = 1; p < inputs.length; p++) {
          const x = inputs[p],
            wp = w[p];
          for (let i = s; i < e; i++) out[i] = f(out[i] + f(wp * x[i]));
        }
        if (dv !== 1) for (let i = s; i < e; i++) out[i] = out[i] / dv;
      }
    }
  }
}

const elementwise = (inputs: number) => 4 * (inputs + 1);

/** The blend parameters a soup runs with. */
export function soupAsBlend(params: ParamValues, parents: number, seed: number): ParamValues {
  return { weights: soupWeights(params, parents, seed), normalize: true };
}

export const FAST_KERNELS = Object.freeze({
  /** Not an operator: the memory-bandwidth yardstick (read one array, write one). */
  copy: { id: 'copy', bytesPerElement: elementwise, run: copyRange },
  blend: { id: 'blend', bytesPerElement: elementwise, run: blendRange },
  // A soup is a blend with the soup's weights (soup.cpu.ts), so the blend loops (and SIMD) serve it.
  soup: {
    id: 'soup',
    bytesPerElement: elementwise,
    run: (inputs, out, params, ctx, start, end) => blendRange(inputs, out, soupAsBlend(params, inputs.length, ctx.seed), ctx, start, end),
  },
  ...ELEMENTWISE_KERNELS,
  prune: PRUNE_KERNEL,
  'arcee-fusion': ARCEE_FUSION_KERNEL,
  // One kernel per member of the task-arithmetic family, configured from the registry.
  ...Object.fromEntries(
    listOperators().flatMap((op) =>
      op.kernel?.id === 'task-arithmetic' && FAST_SPARSIFY.includes(op.kernel.cfg.sparsify)
        ? [[op.id, taskArithmeticKernel(op.id, op.kernel.cfg)]]
        : [],
    ),
  ),
} as const satisfies Record<string, RangeKernel>) as Readonly<Record<string, RangeKernel>>;

export type FastKernelId = string;

export function hasFastKernel(id: string): id is FastKernelId {
  return Object.prototype.hasOwnProperty.call(FAST_KERNELS, id);
}

export function getFastKernel(id: string): RangeKernel {
  if (!hasFastKernel(id)) throw new Error(`no fast CPU kernel "${id}"; valid: ${Object.keys(FAST_KERNELS).join(', ')}`);
  return FAST_KERNELS[id];
}
