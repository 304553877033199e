/**
 * Range kernels of the element-wise operators beyond blend and the task-arithmetic family:
 * crossover, bounded mutation and SLERP. Each is bit-identical to its reference (the oracle in
 * ../*.cpu.ts): the same float32 operations in the same order per element, and the per-tensor
 * sums the reference takes in element order (mutation's spread, SLERP's dot product and norms)
 * taken in element order by one worker (`split: 'whole'`), never split by range; SLERP's first by
 * range in any order, with a rounding bound that certifies the reference's float32 coefficients
 * (slerpCertified), the ordered pass only where the bound leaves them open.
 */
import type { ParamValues, TensorContext } from '../types.ts';
import type { RangeKernel } from './kernels.ts';
import { reduceLocally, type ReducePlan } from './reduce.ts';
import { num, weightsOf } from '../params.ts';
import { streamKey, tensorKey, unitAt } from '../prng.ts';
import { crossoverPick, crossoverThresholds, crossoverUnit } from '../crossover.cpu.ts';
import { tensorStd } from '../mutate.cpu.ts';
import { SLERP_DOT_THRESHOLD, slerpCoefficients, slerpFromSums } from '../slerp.cpu.ts';
import { nearswapWeight } from '../nearswap.cpu.ts';
import { layout, QUANT_SCHEMES, quantScheme } from '../quantize.cpu.ts';
import { gramFromPairs, gramPairs } from '../gram.ts';
import { modelStockRatio, modelStockRatios, modelStockRowLength } from '../model-stock.cpu.ts';
import { multislerpCoefficients } from '../multislerp.cpu.ts';
import { karcherCoefficients } from '../karcher.cpu.ts';
import { nuslerpLayout, nuslerpT, nuslerpTable, vectorOf } from '../nuslerp.cpu.ts';
import type { ReducePart } from './reduce.ts';
import { ramLambdas } from '../ram.cpu.ts';
import { sceSelection, sceWeights } from '../sce.cpu.ts';
import { isKept, magnitudeBits } from '../select.ts';

const f = Math.fround;
/** 1.5·2²³: float32 x + this − this rounds x (|x| < 2²²) to an integer, half to even. */
const RNE_MAGIC = 12582912;
const elementwise = (inputs: number) => 4 * (inputs + 1);

/** A one-pass reduction over the whole tensor by one worker: `sum` gives the derived parameters, or null when none are needed. */
function wholeTensorPlan(
  needed: (params: ParamValues) => boolean,
  sum: (inputs: readonly Float32Array[], params: ParamValues) => ParamValues,
): ReducePlan {
  return {
    start: (_inputs, params) => (needed(params) ? { carry: null, split: 'whole' } : { params: {} }),
    partial: (_pass, _carry, inputs, params) => sum(inputs, params),
    merge: (_pass, _carry, partials) => ({ params: partials[0] as ParamValues }),
  };
}

function withPrepare(k: Omit<RangeKernel, 'prepare'> & { reduce: ReducePlan }): RangeKernel {
  return { ...k, prepare: (inputs, params, ctx) => reduceLocally(k.reduce, inputs, params, ctx) };
}

/** Crossover: each element from the parent its seeded draw picks (crossover.cpu.ts), element, row or tensor at a time. */
function crossoverRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
): void {
  const c = crossoverThresholds(weightsOf(params, 'weights', inputs.length, 1));
  const unit = crossoverUnit(String(params.granularity ?? 'element'), ctx.shape);
  const sk = streamKey(tensorKey(ctx.seed, ctx.name), 0);
  const offset = ctx.offset ?? 0;
  if (unit === 1) {
    for (let i = start; i < end; i++) out[i] = inputs[crossoverPick(unitAt(sk, offset + i), c)][i];
    return;
  }
  let lastG = -1;
  let pick = 0;
  for (let i = start; i < end; i++) {
    const g = unit === Infinity ? 0 : Math.floor((offset + i) / unit);
    if (g !== lastG) {
      pick = crossoverPick(unitAt(sk, g), c);
      lastG = g;
    }
    out[i] = inputs[pick][i];
  }
}

/** Bounded mutation (mutate.cpu.ts) given the tensor's spread `std` (from breed's pre-pass, or the reduce plan). */
function mutateRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
): void {
  const x = inputs[0];
  if (typeof params.std !== 'number') throw new Error('mutate range kernel: std missing (the reduce plan runs first)');
  const amp = f(num(params, 'strength') * params.std * Math.sqrt(3));
  const eps = f(num(params, 'epsilon'));
  const rate = f(num(params, 'rate', 1));
  const key = tensorKey(ctx.seed, ctx.name);
  const noiseKey = streamKey(key, 0);
  const rateKey = streamKey(key, 1);
  const offset = ctx.offset ?? 0;
  for (let i = start; i < end; i++) {
    if (rate < 1 && unitAt(rateKey, offset + i) >= rate) {
      out[i] = x[i];
      continue;
    }
    const z = 2 * unitAt(noiseKey, offset + i) - 1;
    let noise = f(amp * z);
    if (noise > eps) noise = eps;
    else if (noise < -eps) noise = -eps;
    out[i] = x[i] + noise;
  }
}

/** SLERP (slerp.cpu.ts) given its coefficients: out = fround(fround(s₀)·v₀) + fround(fround(s₁)·v₁). */
function slerpRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  _ctx: TensorContext,
  start: number,
  end: number,
): void {
  const [v0, v1] = inputs;
  if (typeof params.slerpS0 !== 'number' || typeof params.slerpS1 !== 'number')
    throw new Error('slerp range kernel: coefficients missing (the reduce plan runs first)');
  const a = f(params.slerpS0);
  const b = f(params.slerpS1);
  for (let i = start; i < end; i++) out[i] = f(a * v0[i]) + f(b * v1[i]);
}

/**
 * Loops a worker lends SLERP's reduce passes for one job (src/cpu/simd-elementwise.ts: WebAssembly
 * SIMD on the pool's arena): `lanes`, the bound pass's three sums (d, a, b) over [start, end) in any order;
 * `ordered`, the reference's three sums in element order over the whole tensor.
 */
export interface SlerpLoops {
  lanes(x0: Float32Array, x1: Float32Array, start: number, end: number): [number, number, number];
  ordered(x0: Float32Array, x1: Float32Array): [number, number, number];
}
let lent: { inputs: readonly Float32Array[]; loops: SlerpLoops } | null = null;
/**
 * Lend `loops` to the one reduce pass that runs next on `inputs` (this very array of views: a
 * job's own, so loops lent for arena arrays never serve another job's arrays).
 */
export function lendSlerpLoops(inputs: readonly Float32Array[], loops: SlerpLoops | null): void {
  lent = loops ? { inputs, loops } : null;
}
/** The loops lent for `inputs`, taken (a later pass needs a fresh loan), or null. */
function lentTo(inputs: readonly Float32Array[]): SlerpLoops | null {
  const loops = lent && lent.inputs === inputs ? lent.loops : null;
  lent = null;
  return loops;
}

/** SLERP's coefficients (as float32 values) from its sums in float64, in element order (slerpCoefficients, as the reference). */
function slerpSums(inputs: readonly Float32Array[], params: ParamValues): ParamValues {
  const [x0, x1] = inputs;
  const loops = lentTo(inputs);
  const t = num(params, 't');
  const { s0, s1 } = loops ? slerpFromSums(...loops.ordered(x0, x1), t) : slerpCoefficients(x0, x1, t);
  return { slerpS0: f(s0), slerpS1: f(s1) };
}

/** Elements per block of SLERP's bound pass (the weights of its bound are per block). */
export const SLERP_BLOCK = 1 << 16;

/**
 * Pads each block's √(Σ x₀²)·√(Σ x₁²) (the two roots and their product correctly rounded, the sums
 * each within γ of its at most 2¹⁷ additions, < 2⁻³⁵, of the exact one) to at least the exact
 * Cauchy–Schwarz bound.
 */
const CS_PAD = 1 + 2 ** -30;

/**
 * One range's part of SLERP's bound pass: the sums Σ x₀x₁, Σ x₀², Σ x₁², t (per block an upper
 * bound of Σ |x₀x₁|: Cauchy–Schwarz, √(Σ x₀²·Σ x₁²), from the block's own sums, so no fourth sum
 * runs; at least Σ |x₀x₁|, equal where |x₁| ∝ |x₀|, about 1.33× it for independent uniform
 * parents) and their block-weighted forms.
 */
export interface SlerpPart {
  d: number;
  a: number;
  b: number;
  t: number;
  /** Σ over blocks j of (n − sⱼ)·(block j's sum), sⱼ its first element: bounds Σₖ of the reference's prefix sums. */
  wa: number;
  wb: number;
  wt: number;
  blocks: number;
}

/** The bound pass over [start, end): per block of SLERP_BLOCK the three sums (lent lanes, or one JavaScript chain each) and t's bound. */
export function slerpPart(inputs: readonly Float32Array[], start: number, end: number): SlerpPart {
  const [x0, x1] = inputs;
  const n = x0.length;
  const loops = lentTo(inputs);
  const part: SlerpPart = { d: 0, a: 0, b: 0, t: 0, wa: 0, wb: 0, wt: 0, blocks: 0 };
  for (let s = start; s < end; s += SLERP_BLOCK) {
    const e = Math.min(end, s + SLERP_BLOCK);
    let d = 0,
      a = 0,
      b = 0;
    if (loops) [d, a, b] = loops.lanes(x0, x1, s, e);
    else
      for (let i = s; i < e; i++) {
        d += x0[i] * x1[i];
        a += x0[i] * x0[i];
        b += x1[i] * x1[i];
      }
    const t = Math.sqrt(a) * Math.sqrt(b) * CS_PAD;
    const w = n - s;
    part.d += d;
    part.a += a;
    part.b += b;
    part.t += t;
    part.wa += w * a;
    part.wb += w * b;
    part.wt += w * t;
    part.blocks++;
  }
  return part;
}

const UNIT = 2 ** -53;
const gamma = (k: number) => (k * UNIT) / (1 - k * UNIT);
/** Covers every (1 + γ) factor below (each under 1 + 2⁻²², for tensors under 2³⁰ elements) and the bound's own rounding. */
const PAD = 1 + 2 ** -16;
/**
 * Math.acos and Math.sin are taken to be within this relative error of the true functions (V8's
 * fdlibm ports and glibc's: under one ulp, 2⁻⁵²; this allows 2¹² ulps).
 */
const RHO = 2 ** -40;

/**
 * Intervals [lo, hi] that hold the reference's ordered float64 sums d = Σ x₀x₁, a = Σ x₀², b = Σ x₁²
 * (slerpCertified says why), from the bound pass's parts; 'zero' where a or b is +0 for every
 * order, null where the sums are not all finite (or the tensor is too long for the bound's factors).
 */
export function slerpBox(parts: readonly SlerpPart[], n: number): [number, number][] | 'zero' | null {
  let d = 0,
    a = 0,
    b = 0,
    tt = 0,
    wa = 0,
    wb = 0,
    wt = 0,
    blocks = 0;
  for (const p of parts) {
    d += p.d;
    a += p.a;
    b += p.b;
    tt += p.t;
    wa += p.wa;
    wb += p.wb;
    wt += p.wt;
    blocks += p.blocks;
  }
  if (![d, a, b, tt, wa, wb, wt].every(Number.isFinite) || n >= 2 ** 30) return null;
  // A sum of squares is +0 only when every term is (no product of float32 values underflows in
  // float64, and adding non-negative terms never lowers a sum): the reference's denominator is 0, linear.
  if (a === 0 || b === 0) return 'zero';
  const g = gamma(SLERP_BLOCK + blocks + 8);
  const around = (w: number, abs: number, sum: number): [number, number] => {
    const dl = (UNIT * w + g * abs) * PAD;
    const width = dl + (Math.abs(sum) + dl) * 2 ** -50;
    return [sum - width, sum + width];
  };
  return [around(wt, tt, d), around(wa, a, a), around(wb, b, b)];
}

/**
 * SLERP's float32 coefficients for every float64 sums the reference's ordered pass can have, given
 * the bound pass's parts (in range order) over a tensor of n elements; null where the bound leaves
 * them open (then the ordered pass decides).
 *
 * Why it holds. Each product x₀x₁, x₀², x₁² of float32 values is exact in float64, and each float64
 * addition errs by at most u·|its exact result|, u = 2⁻⁵³. The reference adds the n terms pₖ in
 * order from +0, so |ref − S| ≤ u·Σₖ|ŝₖ₋₁ + pₖ| ≤ u(1 + γₙ)·Σₖ Qₖ, S the exact sum and Qₖ = Σ_{i≤k} |pᵢ|;
 * Σₖ Qₖ = Σᵢ |pᵢ|·(n − i) (i from 0) ≤ Σⱼ (n − sⱼ)·(block j's Σ|pᵢ|) = w (for d, block j's Σ|x₀x₁|
 * ≤ its tⱼ: Cauchy–Schwarz, SlerpPart). The bound pass adds each term
 * through at most m = SLERP_BLOCK + blocks + 8 additions (lanes or chain within its block, the blocks,
 * the ranges), so |ours − S| ≤ γₘ·Σ|pᵢ|. Hence ref ∈ ours ± (u·w + γₘ·Σ|pᵢ|), widened by PAD and
 * for the rounding of the ends. From there the reference's steps (slerpFromSums): √a·√b, d / denom
 * are correctly rounded and monotone in each argument, so the corners bound dot; the linear test
 * either holds at all of them or at none; acos, then (1 − t)·θ and t·θ (monotone), then sin on
 * [0, π] (its minimum at an end, its maximum at one or at π/2), each transcendental step within
 * RHO; the quotients are monotone. Where fround gives the same float32 at both ends of each
 * coefficient's interval, it gives it for every sums in the box: the reference's.
 */
export function slerpCertified(parts: readonly SlerpPart[], n: number, t: number): { s0: number; s1: number } | null {
  if (!(t >= 0 && t <= 1)) return null;
  const box = slerpBox(parts, n);
  if (box === 'zero') return { s0: f(1 - t), s1: f(t) };
  if (!box) return null;
  const [[dL, dH], [aL, aH], [bL, bH]] = box;
  if (!(aL > 0 && bL > 0)) return null;
  const denomL = Math.sqrt(aL) * Math.sqrt(bL);
  const denomH = Math.sqrt(aH) * Math.sqrt(bH);
  const corners = [dL / denomL, dL / denomH, dH / denomL, dH / denomH];
  const dotL = Math.min(...corners);
  const dotH = Math.max(...corners);
  if (dotL > SLERP_DOT_THRESHOLD || dotH < -SLERP_DOT_THRESHOLD) return { s0: f(1 - t), s1: f(t) };
  if (!(dotL >= -SLERP_DOT_THRESHOLD && dotH <= SLERP_DOT_THRESHOLD)) return null;
  const thL = Math.acos(dotH) * (1 - 3 * RHO);
  const thH = Math.acos(dotL) * (1 + 3 * RHO);
  // The true sin over [lo, hi] ⊂ [0, π] (its least value at an end, its greatest at π/2 when inside), then within RHO.
  const sinOf = (lo: number, hi: number): [number, number] | null => {
    if (!(lo >= 0 && hi < 3.14)) return null;
    const sl = Math.sin(lo),
      sh = Math.sin(hi);
    const top = lo <= (Math.PI / 2) * (1 + 2 ** -50) && hi >= (Math.PI / 2) * (1 - 2 ** -50) ? 1 : Math.max(sl, sh);
    return [Math.min(sl, sh) * (1 - 4 * RHO), top * (1 + 4 * RHO)];
  };
  const sinT = sinOf(thL, thH);
  const c0 = 1 - t;
  const sin0 = sinOf(c0 * thL, c0 * thH);
  const sin1 = sinOf(t * thL, t * thH);
  if (!sinT || !sin0 || !sin1 || !(sinT[0] > 0)) return null;
  const s0L = f(sin0[0] / sinT[1]),
    s0H = f(sin0[1] / sinT[0]);
  const s1L = f(sin1[0] / sinT[1]),
    s1H = f(sin1[1] / sinT[0]);
  return s0L === s0H && s1L === s1H ? { s0: s0L, s1: s1L } : null;
}

/**
 * SLERP's reduce plan on the pool: the bound pass by range (both workers, lanes where lent), then
 * the certified coefficients, or where the bound leaves them open the ordered pass by one worker.
 */
const SLERP_REDUCE: ReducePlan = {
  start: () => ({ carry: 'bound', split: 'ranges' }),
  partial: (_pass, carry, inputs, params, _ctx, start, end) =>
    carry === 'bound' ? slerpPart(inputs, start, end) : slerpSums(inputs, params),
  merge: (_pass, carry, partials, _ranges, inputs, params) => {
    if (carry !== 'bound') return { params: partials[0] as ParamValues };
    const c = slerpCertified(partials as SlerpPart[], inputs[0].length, num(params, 't'));
    return c ? { params: { slerpS0: c.s0, slerpS1: c.s1 } } : { carry: 'ordered', split: 'whole' };
  },
};

/**
 * Fake quantization (quantize.cpu.ts: quantize then dequantize) of out[start, end): each block
 * that the range touches gets its largest magnitude from the whole block (read beyond the range
 * where the block crosses its ends), then the reference's per-element steps; q through the same
 * int8 conversion as its Int8Array (NaN to 0).
 */
function quantizeRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
): void {
  const x = inputs[0];
  const B = Number(params.blockSize);
  const { qmax } = QUANT_SCHEMES[quantScheme(params.scheme)];
  const { rows, cols } = layout(ctx.shape, B);
  if (x.length !== rows * cols) throw new Error(`quantize: ${x.length} values for shape [${ctx.shape}]`);
  let r = Math.floor(start / cols);
  let rowStart = r * cols;
  for (let i = start; i < end;) {
    while (i >= rowStart + cols) {
      r++;
      rowStart += cols;
    }
    const bs = rowStart + Math.floor((i - rowStart) / B) * B;
    const be = Math.min(rowStart + cols, bs + B);
    // The block's largest magnitude as Math.max over Math.abs takes it (a NaN makes it NaN).
    let m = 0;
    let nan = false;
    for (let j = bs; j < be; j++) {
      const v = x[j];
      const a = v < 0 ? -v : v;
      if (a > m) m = a;
      else if (a !== a) nan = true;
    }
    const s = f((nan ? NaN : m) / qmax);
    const stop = be < end ? be : end;
    if (s === 0) {
      for (; i < stop; i++) out[i] = 0;
      continue;
    }
    for (; i < stop; i++) {
      // Clamp then round (the same: qmax is an integer and rounding is monotone); rounding half
      // to even as float32 addition of 1.5·2²³ does for |c| ≤ qmax; a NaN stays NaN and | 0 makes it 0.
      const y = f(x[i] / s);
      const c = y > qmax ? qmax : y < -qmax ? -qmax : y;
      out[i] = (f(f(c + RNE_MAGIC) - RNE_MAGIC) | 0) * s;
    }
  }
}

/** NearSwap (nearswap.cpu.ts) of out[start, end): the reference's per-element steps. */
function nearswapRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  _c: TensorContext,
  start: number,
  end: number,
): void {
  const [a, b] = inputs;
  const t = f(num(params, 't'));
  for (let i = start; i < end; i++) {
    const w = nearswapWeight(Math.abs(f(a[i] - b[i])), t);
    out[i] = f(w * b[i]) + f(f(1 - w) * a[i]);
  }
}

/** Elements per block of the Gram pass: the vectors' blocks stay in L1/L2 across the pairs. */
const GRAM_BLOCK = 4096;

/**
 * The Gram sums (gram.ts's gramMatrix: each pair's float64 sum in element order) of the vectors
 * xs[i] − base (fround, as gram.ts's deltas) or xs[i], for the pairs this part takes (pair k of
 * gramPairs order when k mod part.count = part.index): one worker per share of the pairs, so
 * every sum keeps its order.
 */
function gramPartial(xs: readonly Float32Array[], base: Float32Array | null, part: ReducePart): Record<number, number> {
  const P = xs.length;
  const n = xs[0]?.length ?? 0;
  const pairs = gramPairs(P)
    .map((pair, k) => [k, ...pair] as const)
    .filter(([k]) => k % part.count === part.index);
  const sums = pairs.map(() => 0);
  const dot = (a: Float32Array, b: Float32Array, len: number, q: number) => {
    let acc = sums[q];
    for (let e = 0; e < len; e++) acc += a[e] * b[e];
    sums[q] = acc;
  };
  if (!base) {
    // The vectors themselves: each pair's sum over the whole tensor, as gramMatrix takes it.
    pairs.forEach(([, i, j], q) => dot(xs[i], xs[j], n, q));
    return Object.fromEntries(pairs.map(([k], q) => [k, sums[q]]));
  }
  const used = [...new Set(pairs.flatMap(([, i, j]) => [i, j]))];
  const D = new Map(used.map((i) => [i, new Float32Array(GRAM_BLOCK)]));
  for (let s = 0; s < n; s += GRAM_BLOCK) {
    const len = Math.min(GRAM_BLOCK, n - s);
    for (const i of used) {
      const d = D.get(i)!,
        x = xs[i];
      for (let e = 0; e < len; e++) d[e] = x[s + e] - base[s + e];
    }
    pairs.forEach(([, i, j], q) => dot(D.get(i)!, D.get(j)!, len, q));
  }
  return Object.fromEntries(pairs.map(([k], q) => [k, sums[q]]));
}

/** A reduce plan of one Gram pass split by pairs across the workers, then `derive` from the Gram matrix (null: none needed). */
function gramPlan(
  needed: (inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext) => boolean,
  vectors: (inputs: readonly Float32Array[]) => { xs: readonly Float32Array[]; base: Float32Array | null },
  derive: (g: Float64Array, P: number, params: ParamValues, ctx: TensorContext) => ParamValues,
): ReducePlan {
  return {
    start: (inputs, params, ctx) => (needed(inputs, params, ctx) ? { carry: null, split: 'parents' } : { params: {} }),
    partial: (_pass, _carry, inputs, _params, _ctx, _s, _e, part) => {
      const { xs, base } = vectors(inputs);
      return gramPartial(xs, base, part);
    },
    merge: (_pass, _carry, partials, _ranges, inputs, params, ctx) => {
      const P = vectors(inputs).xs.length;
      const all: Record<number, number> = Object.assign({}, ...(partials as Record<number, number>[]));
      return {
        params: derive(
          gramFromPairs(
            P,
            gramPairs(P).map((_, k) => all[k]),
          ),
          P,
          params,
          ctx,
        ),
      };
    },
  };
}

/**
 * Model Stock (model-stock.cpu.ts): t per row from the offsets' Gram matrix, then
 * out = fround(t·avg) + fround(fround(1 − t)·w₀). Over the whole tensor the Gram pass is the
 * reduce plan's (pairs across the workers); per row (`filterWise`) each range computes the ratios
 * of the rows it touches from those whole rows, as the reference does row by row.
 */
function modelStockLen(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): number {
  if (inputs.length < 3) throw new Error(`model_stock needs a base and at least two models, got ${inputs.length} inputs`);
  return modelStockRowLength(ctx.shape, inputs[0].length, params.filterWise === true);
}

function modelStockRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
): void {
  const base = inputs[0];
  const N = inputs.length - 1;
  const len = modelStockLen(inputs, params, ctx);
  let t: ArrayLike<number>;
  let row0 = 0;
  if (len >= base.length) {
    if (typeof params.modelStockT !== 'number') throw new Error('model_stock range kernel: t missing (the reduce plan runs first)');
    t = [params.modelStockT];
  } else {
    row0 = Math.floor(start / len);
    const rowEnd = Math.min(base.length, Math.ceil(end / len) * len);
    t = modelStockRatios(
      inputs.map((x) => x.subarray(row0 * len, rowEnd)),
      len,
      ctx.name,
    );
  }
  for (let e = start; e < end; e++) {
    let acc = 0;
    for (let i = 1; i <= N; i++) acc = f(acc + inputs[i][e]);
    const avg = f(acc / N);
    const te = t[Math.floor(e / len) - row0];
    out[e] = f(te * avg) + f(f(1 - te) * base[e]);
  }
}

/**
 * gram.ts's combine given the coefficients in params[key] (Multi-SLERP, Karcher): Σ fround(fround(βₖ)·xₖ)
 * from +0 in order (+ base, xₖ then the deltas).
 */
function combineRange(withBase: boolean, key = 'multislerpBeta') {
  return (inputs: readonly Float32Array[], out: Float32Array, params: ParamValues, _c: TensorContext, start: number, end: number): void => {
    const beta = params[key];
    if (!Array.isArray(beta)) throw new Error(`${key} missing: the range kernel's reduce plan runs first`);
    const b = beta.map((x) => f(x));
    const base = withBase ? inputs[0] : null;
    const xs = inputs.slice(withBase ? 1 : 0);
    for (let e = start; e < end; e++) {
      let acc = 0;
      if (base) {
        const be = base[e];
        for (let k = 0; k < xs.length; k++) acc = f(acc + f(b[k] * f(xs[k][e] - be)));
        out[e] = be + acc;
      } else {
        for (let k = 0; k < xs.length; k++) acc = f(acc + f(b[k] * xs[k][e]));
        out[e] = acc;
      }
    }
  };
}

function multislerpKernel(id: string, withBase: boolean): RangeKernel {
  const vectors = (inputs: readonly Float32Array[]) => {
    const xs = inputs.slice(withBase ? 1 : 0);
    if (xs.length < 2) throw new Error(`multislerp needs at least two models${withBase ? ' besides the base' : ''}`);
    return { xs, base: withBase ? inputs[0] : null };
  };
  return withPrepare({
    id,
    bytesPerElement: elementwise,
    reduce: gramPlan(
      () => true,
      vectors,
      (g, P, params) => ({
        multislerpBeta: multislerpCoefficients(
          g,
          weightsOf(params, 'weights', P, 1),
          params.normalizeWeights !== false,
          num(params, 'eps', 1e-8),
        ).beta,
      }),
    ),
    run: combineRange(withBase),
  });
}

/**
 * NuSLERP (nuslerp.cpu.ts): each vector's sums in float64, element order, by one worker (the
 * vectors of the last or first dimension, or the whole tensor), the scalar table from them, then
 * fround(fround(fround(A·v₀) + fround(B·v₁)) / S) (+ base) per element.
 */
function nuslerpKernel(id: string, withBase: boolean): RangeKernel {
  const vectors = (inputs: readonly Float32Array[]) => {
    const need = withBase ? 3 : 2;
    if (inputs.length !== need) throw new Error(`nuslerp${withBase ? ' with a base' : ''} takes ${need} inputs, got ${inputs.length}`);
    const [x0, x1] = inputs.slice(withBase ? 1 : 0);
    return { x0, x1, base: withBase ? inputs[0] : null };
  };
  return withPrepare({
    id,
    bytesPerElement: elementwise,
    reduce: {
      start: () => ({ carry: null, split: 'whole' }),
      partial: (_pass, _carry, inputs, params, ctx) => {
        const { x0, x1, base } = vectors(inputs);
        const l = nuslerpLayout(ctx.shape, x0.length, params);
        const sums = new Float64Array(3 * l.count);
        for (let e = 0; e < x0.length; e++) {
          const a = base ? f(x0[e] - base[e]) : x0[e];
          const b = base ? f(x1[e] - base[e]) : x1[e];
          const k = 3 * vectorOf(l, e);
          sums[k] += a * b;
          sums[k + 1] += a * a;
          sums[k + 2] += b * b;
        }
        return { nuslerpTable: Array.from(nuslerpTable(sums, l.count, nuslerpT(weightsOf(params, 'weights', 2, 1)))) };
      },
      merge: (_pass, _carry, partials) => ({ params: partials[0] as ParamValues }),
    },
    run: (inputs, out, params, ctx, start, end) => {
      const table = params.nuslerpTable;
      if (!Array.isArray(table)) throw new Error('nuslerp range kernel: scalars missing (the reduce plan runs first)');
      const { x0, x1, base } = vectors(inputs);
      const l = nuslerpLayout(ctx.shape, x0.length, params);
      for (let e = start; e < end; e++) {
        const k = 4 * vectorOf(l, e);
        const v0 = base ? f(x0[e] - base[e]) : x0[e];
        const v1 = base ? f(x1[e] - base[e]) : x1[e];
        const mixed = f(f(table[k] * v0) + f(table[k + 1] * v1));
        const r = table[k + 3] === 1 ? mixed : f(mixed / table[k + 2]);
        out[e] = base ? base[e] + r : r;
      }
    },
  });
}

/** RAM's changed-element test per parent: |fround(x − b)| > fround(ε), and how many parents pass it. */
function ramChanged(inputs: readonly Float32Array[], e: number, eps: number, d: Float64Array): number {
  const b = inputs[0][e];
  let c = 0;
  for (let i = 1; i < inputs.length; i++) {
    const v = f(inputs[i][e] - b);
    d[i - 1] = v;
    if (Math.abs(v) > eps) c++;
  }
  return c;
}

/**
 * RAM and RAM+ (ram.cpu.ts): with r ≠ 0 the shared and unique counts per parent (integers, so
 * any split by range sums to the reference's counts), then λ and the element-wise pass.
 */
const RAM_KERNEL = withPrepare({
  id: 'ram',
  bytesPerElement: elementwise,
  reduce: {
    start: (inputs, params) => {
      if (inputs.length < 2) throw new Error('ram needs a base and at least one model');
      return num(params, 'r', 0) !== 0 ? { carry: null } : { params: {} };
    },
    partial: (_pass, _carry, inputs, params, _ctx, start, end) => {
      const P = inputs.length - 1;
      const eps = f(num(params, 'epsilon', 1e-5));
      const shared = new Array<number>(P).fill(0);
      const unique = new Array<number>(P).fill(0);
      const d = new Float64Array(P);
      for (let e = start; e < end; e++) {
        const c = ramChanged(inputs, e, eps, d);
        if (c === 0) continue;
        for (let i = 0; i < P; i++) if (Math.abs(d[i]) > eps) (c === 1 ? unique : shared)[i]++;
      }
      return { shared, unique };
    },
    merge: (_pass, _carry, partials, _ranges, inputs, params) => {
      const P = inputs.length - 1;
      const shared = new Array<number>(P).fill(0);
      const unique = new Array<number>(P).fill(0);
      for (const part of partials as { shared: number[]; unique: number[] }[])
        for (let i = 0; i < P; i++) {
          shared[i] += part.shared[i];
          unique[i] += part.unique[i];
        }
      const epsilon = num(params, 'epsilon', 1e-5);
      return { params: { ramLambda: ramLambdas(shared, unique, num(params, 'r', 0), num(params, 'alpha', 0.2), epsilon) } };
    },
  },
  run: (inputs, out, params, _ctx, start, end) => {
    const P = inputs.length - 1;
    const r = num(params, 'r', 0);
    const lambda = r !== 0 ? params.ramLambda : new Array<number>(P).fill(1);
    if (!Array.isArray(lambda)) throw new Error('ram range kernel: λ missing (the reduce plan runs first)');
    const eps = f(num(params, 'epsilon', 1e-5));
    const base = inputs[0];
    const d = new Float64Array(P);
    for (let e = start; e < end; e++) {
      const c = ramChanged(inputs, e, eps, d);
      const uniq = c === 1 ? 1 : 0,
        over = c > 1 ? 1 : 0,
        div = Math.max(c, 1);
      let acc = 0;
      for (let i = 0; i < P; i++) {
        const t = d[i];
        const z = Math.abs(t) > eps ? t : 0 * t;
        acc = f(acc + f(f(f(z * uniq) * lambda[i]) + f(f(z * over) / div)));
      }
      out[e] = base[e] + acc;
    }
  },
});

const SCE_DEN_FLOOR = f(1e-6);

/**
 * SCE (sce.cpu.ts): the selection by variance (an exact top-k over the whole tensor) and the
 * model weights (each parent's float64 sum of squares in element order) by one worker, as the
 * reference takes them; then each range recomputes an element's variance the same way to test
 * it against the cutoff, and erases and combines as sceCombine.
 */
const SCE_KERNEL = withPrepare({
  id: 'sce',
  bytesPerElement: elementwise,
  reduce: wholeTensorPlan(
    () => true,
    (inputs, params) => {
      const base = inputs[0];
      if (inputs.length < 2) throw new Error('sce needs a base and at least one model');
      const P = inputs.length - 1;
      const tv = Array.from({ length: P }, (_, i) => Float32Array.from(inputs[i + 1], (v, j) => v - base[j]));
      const sel = sceSelection(tv, num(params, 'selectTopk', 1));
      const vb = sel ? magnitudeBits(sel.variance) : null;
      // Each parent's Σ v² in element order over its selected deltas (an erased one is 0·d, as the reference zeroes it).
      const squares = tv.map((d) => {
        let acc = 0;
        for (let e = 0; e < d.length; e++) {
          const v = vb && !isKept(vb[e] & 0x7fffffff, e, sel!.cutoff) ? 0 * d[e] : d[e];
          acc += v * v;
        }
        return acc;
      });
      return {
        sceW: sceWeights(squares, base.length),
        sceCut: sel ? [sel.cutoff.bits, sel.cutoff.index] : [],
      };
    },
  ),
  run: (inputs, out, params, _ctx, start, end) => {
    const w = params.sceW,
      cut = params.sceCut;
    if (!Array.isArray(w) || !Array.isArray(cut)) throw new Error('sce range kernel: weights missing (the reduce plan runs first)');
    const base = inputs[0];
    const P = inputs.length - 1;
    const cutoff = cut.length ? { bits: cut[0], index: cut[1] } : null;
    const d = new Float32Array(P);
    const v = new Float32Array(1);
    const vb = new Uint32Array(v.buffer);
    for (let e = start; e < end; e++) {
      for (let i = 0; i < P; i++) d[i] = inputs[i + 1][e] - base[e];
      if (cutoff) {
        // sceVariance's float64 mean and population variance of the deltas, rounded to float32.
        let m = 0;
        for (let i = 0; i < P; i++) m += d[i];
        m /= P;
        let q = 0;
        for (let i = 0; i < P; i++) q += (d[i] - m) ** 2;
        v[0] = q / P;
        if (!isKept(vb[0] & 0x7fffffff, e, cutoff)) for (let i = 0; i < P; i++) d[i] = 0 * d[i];
      }
      let sum = 0;
      for (let i = 0; i < P; i++) sum = f(sum + d[i]);
      const up = sum >= 0;
      let acc = 0;
      let den = 0;
      for (let i = 0; i < P; i++) {
        const x = d[i];
        const ew = (up && x > 0) || (!up && x < 0) ? w[i] : 0;
        acc = f(acc + f(x * ew));
        den = f(den + ew);
      }
      out[e] = base[e] + f(acc / Math.max(den, SCE_DEN_FLOOR));
    }
  },
});

/**
 * Karcher mean (karcher.cpu.ts): its iteration runs on the Gram matrix of the models (each pair's
 * float64 sum in element order: the reduce plan's pass, pairs across the workers), so the
 * coefficients are the reference's; then the combine pass per element. The merge sets
 * ctx.stats.iterations, as the reference does.
 */
const KARCHER_KERNEL = withPrepare({
  id: 'karcher',
  bytesPerElement: elementwise,
  reduce: gramPlan(
    (inputs) => {
      if (inputs.length < 2) throw new Error(`karcher needs at least two models, got ${inputs.length}`);
      return true;
    },
    (inputs) => ({ xs: inputs, base: null }),
    (g, P, params, ctx) => {
      const { beta, iterations } = karcherCoefficients(g, P, num(params, 'maxIter', 10), num(params, 'tol', 1e-5));
      if (ctx.stats) ctx.stats.iterations = iterations;
      return { karcherBeta: beta };
    },
  ),
  run: combineRange(false, 'karcherBeta'),
});

export const ELEMENTWISE_KERNELS = Object.freeze({
  crossover: { id: 'crossover', bytesPerElement: elementwise, run: crossoverRange } satisfies RangeKernel,
  mutate: withPrepare({
    id: 'mutate',
    bytesPerElement: elementwise,
    reduce: wholeTensorPlan(
      (p) => typeof p.std !== 'number',
      (inputs) => ({ std: tensorStd(inputs[0]) }),
    ),
    run: mutateRange,
  }),
  nearswap: { id: 'nearswap', bytesPerElement: elementwise, run: nearswapRange } satisfies RangeKernel,
  quantize: { id: 'quantize', bytesPerElement: elementwise, run: quantizeRange } satisfies RangeKernel,
  // On one thread the ordered sums at once (a bound pass would only add one); on the pool the bound pass first.
  slerp: { id: 'slerp', bytesPerElement: elementwise, reduce: SLERP_REDUCE, prepare: slerpSums, run: slerpRange } satisfies RangeKernel,
  'model-stock': withPrepare({
    id: 'model-stock',
    bytesPerElement: elementwise,
    // Over the whole tensor: the offsets' Gram pass (pairs across the workers), then t; per row, each range's own rows.
    reduce: gramPlan(
      (inputs, params, ctx) => modelStockLen(inputs, params, ctx) >= inputs[0].length,
      (inputs) => ({ xs: inputs.slice(1), base: inputs[0] }),
      (g, P, _params, ctx) => ({ modelStockT: f(modelStockRatio(g, P, ctx.name)) }),
    ),
    run: modelStockRange,
  }),
  nuslerp: nuslerpKernel('nuslerp', false),
  'nuslerp-base': nuslerpKernel('nuslerp-base', true),
  multislerp: multislerpKernel('multislerp', false),
  'multislerp-base': multislerpKernel('multislerp-base', true),
  karcher: KARCHER_KERNEL,
  ram: RAM_KERNEL,
  'ramplus-tl': { ...RAM_KERNEL, id: 'ramplus-tl' },
  sce: SCE_KERNEL,
} as const);
