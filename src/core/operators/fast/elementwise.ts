/**
 * Range kernels of the element-wise operators beyond blend and the task-arithmetic family:
 * crossover, bounded mutation and SLERP. Each is bit-identical to its reference (the oracle in
 * ../*.cpu.ts): the same float32 operations in the same order per element, and the per-tensor
 * sums the reference takes in element order (mutation's spread, SLERP's dot product and norms)
 * taken in element order by one worker (`split: 'whole'`), never split by range.
 */
import type { ParamValues, TensorContext } from '../types.ts';
import type { RangeKernel } from './kernels.ts';
import { reduceLocally, type ReducePlan } from './reduce.ts';
import { num, weightsOf } from '../params.ts';
import { streamKey, tensorKey, unitAt } from '../prng.ts';
import { crossoverPick, crossoverThresholds, crossoverUnit } from '../crossover.cpu.ts';
import { tensorStd } from '../mutate.cpu.ts';
import { slerpFromSums } from '../slerp.cpu.ts';
import { nearswapWeight } from '../nearswap.cpu.ts';
import { layout, QUANT_SCHEMES, quantScheme, roundHalfEven } from '../quantize.cpu.ts';

const f = Math.fround;
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

/** SLERP's sums in float64, element order (as slerpCoefficients), then its coefficients. */
function slerpSums(inputs: readonly Float32Array[], params: ParamValues): ParamValues {
  const [v0, v1] = inputs;
  let d = 0;
  let a = 0;
  let b = 0;
  for (let i = 0; i < v0.length; i++) {
    d += v0[i] * v1[i];
    a += v0[i] * v0[i];
    b += v1[i] * v1[i];
  }
  const { s0, s1 } = slerpFromSums(d, a, b, num(params, 't'));
  return { slerpS0: s0, slerpS1: s1 };
}

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
  for (let i = start; i < end;) {
    const r = Math.floor(i / cols);
    const b = Math.floor((i - r * cols) / B);
    const bs = r * cols + b * B;
    const be = r * cols + Math.min(cols, (b + 1) * B);
    let m = 0;
    for (let j = bs; j < be; j++) m = Math.max(m, Math.abs(x[j]));
    const s = f(m / qmax);
    const stop = Math.min(be, end);
    for (; i < stop; i++) {
      if (s === 0) {
        out[i] = 0;
        continue;
      }
      const v = roundHalfEven(f(x[i] / s));
      out[i] = ((v > qmax ? qmax : v < -qmax ? -qmax : v) | 0) * s;
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
  slerp: withPrepare({ id: 'slerp', bytesPerElement: elementwise, reduce: wholeTensorPlan(() => true, slerpSums), run: slerpRange }),
} as const);
