/**
 * Range kernels: the optimized CPU path. Each computes out[start, end) of one operator from its
 * inputs, so a tensor can be split across workers that share its memory (SharedArrayBuffer).
 * A range kernel must give results bit-identical to the operator's CPU reference (the oracle in
 * src/core/operators/*.cpu.ts); src/cpu/fast.test.ts checks this on seeded random inputs.
 *
 * Only operators whose output element i depends on input element i alone (and on parameters
 * computed once per tensor) get a range kernel; the rest run their reference on the whole tensor.
 */
import type { ParamValues, TensorContext } from '../types.ts';
import { blendWeights } from '../blend.cpu.ts';

export interface RangeKernel {
  readonly id: string;
  /** Bytes moved per output element, per input (reads) plus the output (write), for bandwidth figures. */
  bytesPerElement(inputs: number): number;
  run(inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, ctx: TensorContext, start: number, end: number): void;
}

const f = Math.fround;
/** Elements per block in the general N-parent loop: the output block stays in L1/L2 across parents. */
const BLOCK = 8192;

function copyRange(inputs: readonly Float32Array[], out: Float32Array, _p: ParamValues, _c: TensorContext, start: number, end: number): void {
  out.set(inputs[0].subarray(start, end), start);
}

/**
 * blend, one pass over memory: the reference accumulates out = fround(out + fround(wₚ·xₚ)) parent
 * by parent starting from +0; this does the same operations in the same order per element, so the
 * bits agree (including −0 becoming +0 through the first addition).
 */
function blendRange(inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, _c: TensorContext, start: number, end: number): void {
  const w = blendWeights(params, inputs.length);
  switch (inputs.length) {
    case 2: {
      const a = inputs[0], b = inputs[1];
      const wa = w[0], wb = w[1];
      for (let i = start; i < end; i++) out[i] = f(f(0 + f(wa * a[i])) + f(wb * b[i]));
      return;
    }
    case 3: {
      const a = inputs[0], b = inputs[1], c = inputs[2];
      const wa = w[0], wb = w[1], wc = w[2];
      for (let i = start; i < end; i++) out[i] = f(f(f(0 + f(wa * a[i])) + f(wb * b[i])) + f(wc * c[i]));
      return;
    }
    case 4: {
      const a = inputs[0], b = inputs[1], c = inputs[2], d = inputs[3];
      const wa = w[0], wb = w[1], wc = w[2], wd = w[3];
      for (let i = start; i < end; i++) out[i] = f(f(f(f(0 + f(wa * a[i])) + f(wb * b[i])) + f(wc * c[i])) + f(wd * d[i]));
      return;
    }
    default: {
      for (let s = start; s < end; s += BLOCK) {
        const e = Math.min(end, s + BLOCK);
        const x0 = inputs[0], w0 = w[0];
        for (let i = s; i < e; i++) out[i] = f(0 + f(w0 * x0[i]));
        for (let p = 1; p < inputs.length; p++) {
          const x = inputs[p], wp = w[p];
          for (let i = s; i < e; i++) out[i] = f(out[i] + f(wp * x[i]));
        }
      }
    }
  }
}

const elementwise = (inputs: number) => 4 * (inputs + 1);

export const FAST_KERNELS = Object.freeze({
  /** Not an operator: the memory-bandwidth yardstick (read one array, write one). */
  copy: { id: 'copy', bytesPerElement: elementwise, run: copyRange },
  blend: { id: 'blend', bytesPerElement: elementwise, run: blendRange },
} as const satisfies Record<string, RangeKernel>);

export type FastKernelId = keyof typeof FAST_KERNELS;

export function hasFastKernel(id: string): id is FastKernelId {
  return Object.prototype.hasOwnProperty.call(FAST_KERNELS, id);
}

export function getFastKernel(id: string): RangeKernel {
  if (!hasFastKernel(id)) throw new Error(`no fast CPU kernel "${id}"; valid: ${Object.keys(FAST_KERNELS).join(', ')}`);
  return FAST_KERNELS[id];
}
