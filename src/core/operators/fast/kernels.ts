/**
 * Range kernels: the optimized CPU path. Each computes out[start, end) of one operator from its
 * inputs, so a tensor can be split across workers that share its memory (SharedArrayBuffer).
 * A range kernel must give results bit-identical to the operator's CPU reference (the oracle in
 * src/core/operators/*.cpu.ts); src/cpu/fast.test.ts checks this on seeded random inputs.
 *
 * Only operators whose output element i depends on input element i alone, given parameters
 * computed once per tensor (TIES's top-k cutoffs: `prepare` on one thread, or `reduce` in passes
 * across the pool), get a range kernel; the rest run their reference on the whole tensor.
 */
import type { ParamValues, TensorContext } from '../types.ts';
import { blendWeights } from '../blend.cpu.ts';
import { num, weightsOf } from '../params.ts';
import { KEEP_NONE, selectCount } from '../select.ts';
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
  /**
   * The same work as prepare, split across the pool's workers in passes (each worker reduces its
   * range, the calling thread merges): used for tensors large enough to split.
   */
  reduce?: ReducePlan;
  /** Compute out[start, end). May return per-range counts (e.g. signConflicts) that the pool sums into ctx.stats. */
  run(inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, ctx: TensorContext, start: number, end: number): void | Record<string, number>;
}

/** A per-tensor reduction in passes over ranges: start, then (partial per range → merge) until merge gives parameters. */
export interface ReducePlan {
  start(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): ReduceStep;
  /** One range's partial result of pass `pass` (structured-cloneable). */
  partial(pass: number, carry: unknown, inputs: readonly Float32Array[], params: ParamValues, start: number, end: number): unknown;
  /** Combine the partials of pass `pass`, given in range order with their ranges. */
  merge(pass: number, carry: unknown, partials: unknown[], ranges: readonly (readonly [number, number])[], inputs: readonly Float32Array[]): ReduceStep;
}
export type ReduceStep = { carry: unknown } | { params: ParamValues };

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

const HIGH = 1 << 16;
const LOW = 1 << 15;
/** Positions of the first equal elements a range reports, so the index is usually found without another scan. */
const EQUAL_POSITIONS = 64;

/** The deltas x − base of [start, end), block by block, through a scratch buffer. */
function eachDelta(base: Float32Array, x: Float32Array, start: number, end: number, fn: (m: Uint32Array, at: number) => void): void {
  if (end <= start) return;
  const scratch = new Float32Array(Math.min(end - start, 1 << 14));
  const u = new Uint32Array(scratch.buffer);
  for (let s = start; s < end; s += scratch.length) {
    const len = Math.min(scratch.length, end - s);
    for (let j = 0; j < len; j++) scratch[j] = x[s + j] - base[s + j];
    fn(len === u.length ? u : u.subarray(0, len), s);
  }
}

interface TiesCarry {
  k: number;
  prefix?: number[];
  remaining?: number[];
  bits?: number[];
}

function descendHist(h: Uint32Array, remaining: number): [number, number] {
  for (let d = h.length - 1; d >= 0; d--) {
    if (h[d] >= remaining) return [d, remaining];
    remaining -= h[d];
  }
  throw new Error('ties selection lost its place (internal error)');
}

/** TIES's exact per-parent top-k cutoffs (select.ts semantics), computed across the pool: high digits, low digits, then the index. */
const tiesReduce: ReducePlan = {
  start(inputs, params, ctx): ReduceStep {
    if (Array.isArray(params.trimBits) && Array.isArray(params.trimIndex)) return { params: { trimOffset: ctx.offset ?? 0 } };
    const P = inputs.length - 1;
    const k = selectCount(num(params, 'density'), inputs[0].length);
    if (k === 0) return { params: { trimBits: new Array(P).fill(KEEP_NONE.bits), trimIndex: new Array(P).fill(0), trimOffset: 0 } };
    return { carry: { k } satisfies TiesCarry };
  },
  partial(pass, carry, inputs, _params, start, end) {
    const c = carry as TiesCarry;
    const base = inputs[0];
    return inputs.slice(1).map((x, p) => {
      if (pass === 0) {
        const h = new Uint32Array(HIGH);
        eachDelta(base, x, start, end, (m) => {
          for (let j = 0; j < m.length; j++) h[(m[j] & 0x7fffffff) >>> 15]++;
        });
        return h;
      }
      if (pass === 1) {
        const h = new Uint32Array(LOW);
        const want = c.prefix![p];
        eachDelta(base, x, start, end, (m) => {
          for (let j = 0; j < m.length; j++) {
            const v = m[j] & 0x7fffffff;
            if (v >>> 15 === want) h[v & (LOW - 1)]++;
          }
        });
        return h;
      }
      // pass 2: how many elements equal the cutoff, and where the first few are.
      const want = c.bits![p];
      let count = 0;
      const at: number[] = [];
      eachDelta(base, x, start, end, (m, s) => {
        for (let j = 0; j < m.length; j++) {
          if ((m[j] & 0x7fffffff) === want) {
            if (at.length < EQUAL_POSITIONS) at.push(s + j);
            count++;
          }
        }
      });
      return { count, at };
    });
  },
  merge(pass, carry, partials, ranges, inputs) {
    const c = carry as TiesCarry;
    const P = inputs.length - 1;
    const per = partials as unknown[][];
    if (pass < 2) {
      const prefix: number[] = [];
      const remaining: number[] = [];
      const bits: number[] = [];
      for (let p = 0; p < P; p++) {
        const h = new Uint32Array(pass === 0 ? HIGH : LOW);
        for (const part of per) {
          const x = part[p] as Uint32Array;
          for (let d = 0; d < h.length; d++) h[d] += x[d];
        }
        const [d, r] = descendHist(h, pass === 0 ? c.k : c.remaining![p]);
        if (pass === 0) prefix.push(d);
        else bits.push(((c.prefix![p] << 15) | d) >>> 0);
        remaining.push(r);
      }
      return { carry: pass === 0 ? { k: c.k, prefix, remaining } : { k: c.k, remaining, bits } };
    }
    const trimIndex: number[] = [];
    for (let p = 0; p < P; p++) {
      let r = c.remaining![p];
      let index = -1;
      for (let t = 0; t < per.length && index < 0; t++) {
        const { count, at } = per[t][p] as { count: number; at: number[] };
        if (count < r) {
          r -= count;
          continue;
        }
        if (r <= at.length) index = at[r - 1] + 1;
        else {
          // Beyond the positions the range reported: find the r-th equal element by scanning it.
          const [s, e] = ranges[t];
          eachDelta(inputs[0], inputs[p + 1], s, e, (m, s0) => {
            for (let j = 0; j < m.length && index < 0; j++) if ((m[j] & 0x7fffffff) === c.bits![p] && --r === 0) index = s0 + j + 1;
          });
        }
      }
      if (index < 0) throw new Error('ties selection: fewer equal elements than counted (internal error)');
      trimIndex.push(index);
    }
    return { params: { trimBits: c.bits!, trimIndex, trimOffset: 0 } };
  },
};

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
  ties: { id: 'ties', bytesPerElement: elementwise, unsupported: tiesUnsupported, prepare: tiesPrepare, reduce: tiesReduce, run: tiesRange },
} as const satisfies Record<string, RangeKernel>);

export type FastKernelId = keyof typeof FAST_KERNELS;

export function hasFastKernel(id: string): id is FastKernelId {
  return Object.prototype.hasOwnProperty.call(FAST_KERNELS, id);
}

export function getFastKernel(id: string): RangeKernel {
  if (!hasFastKernel(id)) throw new Error(`no fast CPU kernel "${id}"; valid: ${Object.keys(FAST_KERNELS).join(', ')}`);
  return FAST_KERNELS[id];
}
