/**
 * Arcee Fusion's range kernel (arcee-fusion.cpu.ts): a reduce plan in passes by range, then the
 * element-wise pass.
 *
 *   KL      each row's KL as the reference computes it (float64 softmaxes, sums in element order).
 *           Short rows: by the part the row starts in, whole (past the range's end if it runs on).
 *           Long rows (few of them, a 1-D tensor's one): the maxima by range (exact in any split),
 *           the exponentials by range into shared float64 scratch, their sums per row in element
 *           order by the merge, then p·log(p/q) by range into the scratch, summed likewise;
 *   hi      with every row's KL carried, the importances of the range and a histogram of the high
 *           16 bits of their sort keys; the merge places the three quantile ranks in buckets;
 *   lo      a histogram of the low 16 bits of the keys in those buckets (at most three), which
 *           gives the three exact order statistics, and so the reference's threshold.
 *
 * The sort key orders float32 values as Float32Array.prototype.sort does: ascending, −0 before +0,
 * every NaN last whatever its sign or payload (all NaNs share one key: their bits never matter, as
 * a NaN quantile makes the threshold NaN). Counts are integers, so any split sums to the same.
 * The element-wise pass recomputes importance from the carried KL, as the reference computes it.
 */
import type { ParamValues, TensorContext } from '../types.ts';
import type { RangeKernel } from './kernels.ts';
import { reduceLocally, type ReducePlan } from './reduce.ts';
import { fusionRowLength } from '../arcee-fusion.cpu.ts';

const f = Math.fround;
/** Elements per block of importances (their bits read through a Uint32Array view). */
const BLOCK = 4096;
const BUCKETS = 1 << 16;
const NAN_KEY = 0xffffffff;
/** The quantiles of the threshold, in the reference's order of use. */
const QUANTILES = [0.25, 0.5, 0.75] as const;

/** The sort key of float32 bits u: unsigned keys order as Float32Array sort orders the values. */
export function fusionKey(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return NAN_KEY;
  return u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
}

/** The float32 value of a sort key (NaN for the NaN key). */
export function fusionKeyValue(key: number): number {
  if (key === NAN_KEY) return NaN;
  const u = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  const v = new Uint32Array([u]);
  return new Float32Array(v.buffer)[0];
}

/** The ranks of the three quantiles, as the reference indexes its sorted importances. */
export function fusionRanks(n: number): number[] {
  return QUANTILES.map((q) => Math.trunc(f(f(q) * (n - 1))));
}

/**
 * KL(p ‖ q) of the row [lo, hi): the reference's fusionKl for one row, op for op (float64
 * softmaxes with 1e-8 added, the sums in element order), rounded to float32. sx, sb: scratch of
 * at least hi − lo.
 */
function rowKl(base: Float32Array, x: Float32Array, lo: number, hi: number, sx: Float64Array, sb: Float64Array): number {
  const softmax = (v: Float32Array, s: Float64Array) => {
    let max = -Infinity;
    for (let e = lo; e < hi; e++) max = Math.max(max, v[e]);
    let sum = 0;
    for (let e = lo; e < hi; e++) sum += s[e - lo] = Math.exp(v[e] - max);
    for (let e = 0; e < hi - lo; e++) s[e] = s[e] / sum + 1e-8;
  };
  softmax(x, sx);
  softmax(base, sb);
  let kl = 0;
  for (let e = 0; e < hi - lo; e++) kl += sx[e] * Math.log(sx[e] / sb[e]);
  return f(kl);
}

interface Layout {
  len: number;
  rows: number;
}

function layoutOf(inputs: readonly Float32Array[], ctx: TensorContext): Layout {
  if (inputs.length !== 2) throw new Error(`arcee_fusion takes a base and one model, got ${inputs.length} inputs`);
  const n = inputs[0].length;
  const len = fusionRowLength(ctx.shape, n);
  return { len, rows: Math.ceil(n / len) };
}

/**
 * For each block of importances in [start, end) (KL per row in kl): visit(keys, count), keys the
 * block's sort keys. imp/bitsOf: a Float32Array of BLOCK and its Uint32Array view.
 */
function forKeys(
  inputs: readonly Float32Array[],
  kl: ArrayLike<number>,
  len: number,
  start: number,
  end: number,
  visit: (keys: Uint32Array, count: number) => void,
): void {
  const [base, x] = inputs;
  const imp = new Float32Array(BLOCK);
  const u = new Uint32Array(imp.buffer);
  for (let s = start; s < end; s += BLOCK) {
    const e = Math.min(end, s + BLOCK);
    let row = Math.floor(s / len);
    let rowEnd = (row + 1) * len;
    let k = kl[row];
    for (let i = s; i < e; i++) {
      if (i >= rowEnd) {
        row++;
        rowEnd += len;
        k = kl[row];
      }
      imp[i - s] = Math.abs(f(x[i] - base[i])) * k;
    }
    const c = e - s;
    for (let j = 0; j < c; j++) u[j] = fusionKey(u[j]);
    visit(u, c);
  }
}

interface Target {
  bucket: number;
  /** The rank within its bucket; -1 when the rank lies past the end (the reference reads undefined: NaN). */
  rank: number;
}
/**
 * The reduce state between passes. `stage` names the next pass: 'kl' each row's KL by the part
 * it starts in; for long rows 'max' (segment maxima), 'exp' (the exponentials into shared
 * scratch, the merge summing them per row in element order) and 'term' (p·log(p/q) into the
 * scratch, the merge summing those); then 'hi' and 'lo', the two digits of the sort keys.
 */
type Carry =
  | { stage: 'kl' }
  | { stage: 'max' }
  | { stage: 'exp'; mx: Float64Array; mb: Float64Array; ex: Float64Array; eb: Float64Array }
  | { stage: 'term'; sx: Float64Array; sb: Float64Array; ex: Float64Array; eb: Float64Array }
  | { stage: 'hi'; kl: Float32Array }
  | { stage: 'lo'; kl: Float32Array; targets: Target[]; buckets: number[] };

/** Rows of [start, end) each part touches: [first, last). */
const touched = (len: number, rows: number, start: number, end: number) =>
  [Math.floor(start / len), Math.min(rows, Math.ceil(end / len))] as const;

/** Each row's float64 sum of s[lo, hi) in element order. */
function rowSums(s: Float64Array, len: number, rows: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let e = r * len, hi = Math.min(s.length, e + len); e < hi; e++) sum += s[e];
    out[r] = sum;
  }
  return out;
}

/**
 * Arcee Fusion's reduce plan. Rows of at least `longRow` elements (when there are under 64 of
 * them, so row ownership alone would leave workers idle) take the long-row passes, with two
 * float64 scratch arrays of the tensor's length in shared memory (where there is some); the
 * others the one KL pass by row. Both give each row's KL exactly as the reference does.
 */
export function fusionPlan(longRow: number): ReducePlan {
  return {
    start: (inputs, _params, ctx) => {
      const { len, rows } = layoutOf(inputs, ctx);
      if (inputs[0].length === 0) return { params: {} };
      const long = len >= longRow && rows < 64 && typeof SharedArrayBuffer !== 'undefined';
      return { carry: { stage: long ? 'max' : 'kl' } satisfies Carry };
    },
    partial: (_pass, carry, inputs, _params, ctx, start, end) => {
      const { len, rows } = layoutOf(inputs, ctx);
      const c = carry as Carry;
      const [base, x] = inputs;
      const n = base.length;
      switch (c.stage) {
        case 'kl': {
          // The rows that start in [start, end), each whole.
          const first = Math.ceil(start / len);
          const last = Math.min(rows, Math.ceil(end / len));
          const kl = new Float32Array(Math.max(0, last - first));
          if (kl.length) {
            const w = Math.min(len, n);
            const sx = new Float64Array(w),
              sb = new Float64Array(w);
            for (let r = first; r < last; r++) kl[r - first] = rowKl(base, x, r * len, Math.min(n, (r + 1) * len), sx, sb);
          }
          return { first, kl };
        }
        case 'max': {
          // Math.max over any split of a row is its maximum (NaN if any is NaN, +0 above −0).
          const [first, last] = touched(len, rows, start, end);
          const mx = new Float64Array(last - first).fill(-Infinity),
            mb = new Float64Array(last - first).fill(-Infinity);
          for (let r = first; r < last; r++) {
            const hi = Math.min(end, (r + 1) * len);
            let a = -Infinity,
              b = -Infinity;
            for (let e = Math.max(start, r * len); e < hi; e++) {
              a = Math.max(a, x[e]);
              b = Math.max(b, base[e]);
            }
            mx[r - first] = a;
            mb[r - first] = b;
          }
          return { first, mx, mb };
        }
        case 'exp': {
          const { mx, mb, ex, eb } = c;
          for (let r = Math.floor(start / len); r * len < end; r++) {
            const hi = Math.min(end, (r + 1) * len);
            const a = mx[r],
              b = mb[r];
            for (let e = Math.max(start, r * len); e < hi; e++) {
              ex[e] = Math.exp(x[e] - a);
              eb[e] = Math.exp(base[e] - b);
            }
          }
          return null;
        }
        case 'term': {
          const { sx, sb, ex, eb } = c;
          for (let r = Math.floor(start / len); r * len < end; r++) {
            const hi = Math.min(end, (r + 1) * len);
            const a = sx[r],
              b = sb[r];
            for (let e = Math.max(start, r * len); e < hi; e++) {
              const p = ex[e] / a + 1e-8;
              const q = eb[e] / b + 1e-8;
              ex[e] = p * Math.log(p / q);
            }
          }
          return null;
        }
        case 'hi': {
          const hist = new Uint32Array(BUCKETS);
          forKeys(inputs, c.kl, len, start, end, (keys, count) => {
            for (let j = 0; j < count; j++) hist[keys[j] >>> 16]++;
          });
          return hist;
        }
        case 'lo': {
          const buckets = c.buckets;
          const hists = buckets.map(() => new Uint32Array(BUCKETS));
          const [b0, b1, b2] = [buckets[0], buckets[1] ?? -1, buckets[2] ?? -1];
          const [h0, h1, h2] = [hists[0], hists[1] ?? hists[0], hists[2] ?? hists[0]];
          forKeys(inputs, c.kl, len, start, end, (keys, count) => {
            for (let j = 0; j < count; j++) {
              const key = keys[j];
              const hi = key >>> 16;
              if (hi === b0) h0[key & 0xffff]++;
              else if (hi === b1) h1[key & 0xffff]++;
              else if (hi === b2) h2[key & 0xffff]++;
            }
          });
          return hists;
        }
      }
    },
    merge: (_pass, carry, partials, _ranges, inputs, _params, ctx) => {
      const n = inputs[0].length;
      const { len, rows } = layoutOf(inputs, ctx);
      const c = carry as Carry;
      switch (c.stage) {
        case 'kl': {
          const kl = new Float32Array(rows);
          for (const p of partials as { first: number; kl: Float32Array }[]) kl.set(p.kl, p.first);
          return { carry: { stage: 'hi', kl } satisfies Carry };
        }
        case 'max': {
          const mx = new Float64Array(rows).fill(-Infinity),
            mb = new Float64Array(rows).fill(-Infinity);
          for (const p of partials as { first: number; mx: Float64Array; mb: Float64Array }[])
            for (let i = 0; i < p.mx.length; i++) {
              mx[p.first + i] = Math.max(mx[p.first + i], p.mx[i]);
              mb[p.first + i] = Math.max(mb[p.first + i], p.mb[i]);
            }
          const scratch = () => new Float64Array(new SharedArrayBuffer(8 * n));
          return { carry: { stage: 'exp', mx, mb, ex: scratch(), eb: scratch() } satisfies Carry };
        }
        case 'exp':
          return {
            carry: { stage: 'term', sx: rowSums(c.ex, len, rows), sb: rowSums(c.eb, len, rows), ex: c.ex, eb: c.eb } satisfies Carry,
          };
        case 'term': {
          const kl = Float32Array.from(rowSums(c.ex, len, rows));
          return { carry: { stage: 'hi', kl } satisfies Carry };
        }
        case 'hi': {
          const hist = new Uint32Array(BUCKETS);
          for (const h of partials as Uint32Array[]) for (let b = 0; b < BUCKETS; b++) hist[b] += h[b];
          const targets = fusionRanks(n).map((k): Target => {
            if (!(k < n)) return { bucket: -1, rank: -1 };
            let below = 0;
            for (let b = 0; b < BUCKETS; b++) {
              if (below + hist[b] > k) return { bucket: b, rank: k - below };
              below += hist[b];
            }
            throw new Error(`arcee-fusion: rank ${k} past the ${below} importances counted`);
          });
          const buckets = [...new Set(targets.filter((t) => t.bucket >= 0).map((t) => t.bucket))];
          return { carry: { stage: 'lo', kl: c.kl, targets, buckets } satisfies Carry };
        }
        case 'lo': {
          const buckets = c.buckets;
          const hists = buckets.map(() => new Uint32Array(BUCKETS));
          for (const part of partials as Uint32Array[][])
            for (let i = 0; i < buckets.length; i++) for (let b = 0; b < BUCKETS; b++) hists[i][b] += part[i][b];
          const [v25, v50, v75] = c.targets.map((t) => {
            if (t.bucket < 0) return NaN;
            const h = hists[buckets.indexOf(t.bucket)];
            let below = 0;
            for (let low = 0; low < BUCKETS; low++) {
              if (below + h[low] > t.rank) return fusionKeyValue(((t.bucket << 16) | low) >>> 0);
              below += h[low];
            }
            throw new Error(`arcee-fusion: rank ${t.rank} past the ${below} importances of bucket ${t.bucket}`);
          });
          const threshold = f(v50 + f(1.5 * f(v75 - v25)));
          return { params: { fusionKl: Array.from(c.kl), fusionThreshold: threshold } };
        }
      }
    },
  };
}

/** Rows of 2¹⁴ elements or more (under 64 of them) take the long-row passes. */
export const ARCEE_FUSION_REDUCE: ReducePlan = fusionPlan(1 << 14);

function fusionRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
): void {
  if (start >= end) return;
  const kl = params.fusionKl;
  const threshold = params.fusionThreshold;
  if (!Array.isArray(kl) || typeof threshold !== 'number')
    throw new Error('arcee-fusion range kernel: threshold missing (the reduce plan runs first)');
  const { len } = layoutOf(inputs, ctx);
  const [base, x] = inputs;
  let row = Math.floor(start / len);
  let rowEnd = (row + 1) * len;
  let k = kl[row];
  for (let e = start; e < end; e++) {
    if (e >= rowEnd) {
      row++;
      rowEnd += len;
      k = kl[row];
    }
    const d = f(x[e] - base[e]);
    const importance = f(Math.abs(d) * k);
    out[e] = base[e] + d * (importance >= threshold ? 1 : 0);
  }
}

export const ARCEE_FUSION_KERNEL: RangeKernel = {
  id: 'arcee-fusion',
  bytesPerElement: (inputs) => 4 * (inputs + 1),
  reduce: ARCEE_FUSION_REDUCE,
  prepare: (inputs, params, ctx) => reduceLocally(ARCEE_FUSION_REDUCE, inputs, params, ctx),
  run: fusionRange,
};
