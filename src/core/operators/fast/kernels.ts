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
import { num, weightsOf } from '../params.ts';
import { selectCount } from '../select.ts';
import { streamedThreshold } from './stream-select.ts';

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
  /** Compute out[start, end). May return per-range counts (e.g. signConflicts) that the pool sums into ctx.stats. */
  run(inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, ctx: TensorContext, start: number, end: number): void | Record<string, number>;
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

/**
 * TIES (task-arithmetic, magnitude trim + sign election, task-arithmetic.cpu.ts) on a range, given
 * each parent's top-k cutoff (trimBits/trimIndex, from prepare or from the caller, in the
 * coordinates of trimOffset + i). Per element, the same float32 operations in the same order as
 * the reference: d = fround(x − base); trimmed to 0 unless kept; × fround(1/density) for
 * rescale "inverse"; wd = fround(w·d); sum and sign flags in parent order; the disjoint mean;
 * out = fround(base + fround(λ·merged)).
 */
function tiesUnsupported(params: ParamValues): string | null {
  if (params.rescale === 'l1') return 'rescale "l1" needs whole-tensor norms';
  if (typeof params.clipNorm === 'number' && params.clipNorm > 0) return 'clipping needs whole-tensor norms';
  return null;
}

function tiesPrepare(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): ParamValues {
  // Cutoffs from a model-wide pre-pass (or a streaming driver) are in tensor coordinates from ctx.offset.
  if (Array.isArray(params.trimBits) && Array.isArray(params.trimIndex)) return { trimOffset: ctx.offset ?? 0 };
  const base = inputs[0];
  const n = base.length;
  const k = selectCount(num(params, 'density'), n);
  const scratch = new Float32Array(Math.min(n, 1 << 16));
  const trimBits: number[] = [];
  const trimIndex: number[] = [];
  for (let p = 1; p < inputs.length; p++) {
    const x = inputs[p];
    const cut = streamedThreshold(n, k, (s, e) => {
      const d = scratch.subarray(0, e - s);
      for (let j = 0; j < d.length; j++) d[j] = x[s + j] - base[s + j];
      return d;
    });
    trimBits.push(cut.bits);
    trimIndex.push(cut.index);
  }
  return { trimBits, trimIndex, trimOffset: 0 };
}

function tiesRange(inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, _c: TensorContext, start: number, end: number): Record<string, number> {
  const P = inputs.length - 1;
  const w = weightsOf(params, 'weights', P, 1).map((x) => f(x));
  const lambda = f(num(params, 'lambda', 1));
  const normalize = params.normalize === true;
  const density = num(params, 'density');
  const factor = params.rescale === 'inverse' && density > 0 ? 1 / density : 1;
  const rescale = factor !== 1;
  const rf = f(factor);
  const bits = params.trimBits as number[];
  const index = params.trimIndex as number[];
  const toff = typeof params.trimOffset === 'number' ? params.trimOffset : 0;
  if (!Array.isArray(bits) || !Array.isArray(index) || bits.length !== P) throw new Error('ties range kernel: trimBits/trimIndex missing (prepare runs first)');
  // A cutoff as a float32 value where its bits are a number's; NaN patterns (and KEEP_NONE) compare by bits.
  const u = new Uint32Array(1);
  const fv = new Float32Array(u.buffer);
  const cutVal = bits.map((b) => {
    u[0] = b;
    return b <= 0x7f800000 ? fv[0] : NaN;
  });
  const xs = inputs.slice(1);
  const base = inputs[0];
  const wd = new Float64Array(P);
  let conflicts = 0;
  for (let i = start; i < end; i++) {
    const b = base[i];
    let sum = 0;
    let pos = false;
    let neg = false;
    for (let p = 0; p < P; p++) {
      let d = f(xs[p][i] - b);
      const c = cutVal[p];
      let kept: boolean;
      if (d !== d || c !== c) {
        fv[0] = d;
        const m = u[0] & 0x7fffffff;
        kept = m > bits[p] || (m === bits[p] && toff + i < index[p]);
      } else {
        const a = Math.abs(d);
        kept = a > c || (a === c && toff + i < index[p]);
      }
      if (!kept) d = 0;
      if (rescale) d = f(d * rf);
      const v = f(w[p] * d);
      wd[p] = v;
      sum = f(sum + v);
      if (v > 0) pos = true;
      else if (v < 0) neg = true;
    }
    if (pos && neg) conflicts++;
    let merged = 0;
    if (sum > 0 || sum < 0) {
      const up = sum > 0;
      let m = 0;
      let den = 0;
      for (let p = 0; p < P; p++) {
        const v = wd[p];
        if (up ? v > 0 : v < 0) {
          m = f(m + v);
          den = f(den + w[p]);
        }
      }
      merged = normalize ? (den !== 0 ? f(m / den) : 0) : m;
    }
    out[i] = f(b + f(lambda * merged));
  }
  return { signConflicts: conflicts };
}

const elementwise = (inputs: number) => 4 * (inputs + 1);

export const FAST_KERNELS = Object.freeze({
  /** Not an operator: the memory-bandwidth yardstick (read one array, write one). */
  copy: { id: 'copy', bytesPerElement: elementwise, run: copyRange },
  blend: { id: 'blend', bytesPerElement: elementwise, run: blendRange },
  ties: { id: 'ties', bytesPerElement: elementwise, unsupported: tiesUnsupported, prepare: tiesPrepare, run: tiesRange },
} as const satisfies Record<string, RangeKernel>);

export type FastKernelId = keyof typeof FAST_KERNELS;

export function hasFastKernel(id: string): id is FastKernelId {
  return Object.prototype.hasOwnProperty.call(FAST_KERNELS, id);
}

export function getFastKernel(id: string): RangeKernel {
  if (!hasFastKernel(id)) throw new Error(`no fast CPU kernel "${id}"; valid: ${Object.keys(FAST_KERNELS).join(', ')}`);
  return FAST_KERNELS[id];
}
